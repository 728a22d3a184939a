// capnpc-hills: a Cap'n Proto compiler plugin that writes, for each schema
// file foo.capnp, the record header foo.hills.h (see emit.cc for its shape).
//
//   capnp compile -I <hills schemas> -o c++:OUT -o capnpc-hills:OUT foo.capnp
//
// capnp runs the plugin with OUT as its working directory and the
// CodeGeneratorRequest on stdin. On a schema error the plugin prints one
// message naming the file, struct and field, writes nothing for that file
// (and removes what an earlier run wrote), and exits with status 1.
#include <capnp/schema-loader.h>
#include <capnp/schema.capnp.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "emit.h"
#include "model.h"
#include "names.h"

namespace {

namespace fs = std::filesystem;

void writeFile(const std::string& path, const std::string& text) {
  fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  // Written aside and renamed, so that a crash never leaves half a header.
  fs::path tmp = p;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::rename(tmp, p);
}

int run() {
  capnp::ReaderOptions options;
  // The request holds every schema node of the file and its imports; it is
  // our own compiler's output, so there is nothing to guard against.
  options.traversalLimitInWords = std::uint64_t{1} << 40;
  options.nestingLimit = 1024;
  capnp::StreamFdMessageReader message(STDIN_FILENO, options);
  auto request = message.getRoot<capnp::schema::CodeGeneratorRequest>();

  capnp::SchemaLoader loader;
  for (auto node : request.getNodes()) loader.load(node);

  std::vector<std::string> outputs;
  for (auto requested : request.getRequestedFiles()) {
    outputs.push_back(hills::codegen::stripCapnpExtension(requested.getFilename().cStr()) + ".hills.h");
  }
  try {
    hills::codegen::RequestModel model(loader, request);
    // Every file is checked before any is written: one bad file fails the run.
    std::vector<hills::codegen::File> files;
    for (auto requested : request.getRequestedFiles()) files.push_back(model.build(requested));
    for (const auto& file : files) writeFile(file.output, hills::codegen::emitHeader(file));
    return 0;
  } catch (const hills::codegen::SchemaError& e) {
    // A header left from an earlier, good run would let the build go on
    // with stale records.
    for (const auto& out : outputs) {
      std::error_code ignored;
      fs::remove(out, ignored);
    }
    std::cerr << e.what() << std::endl;
    return 1;
  }
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const kj::Exception& e) {
    std::cerr << "capnpc-hills: " << e.getDescription().cStr() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "capnpc-hills: " << e.what() << std::endl;
  }
  return 1;
}

// What capnpc-hills generates for one schema file, worked out from the
// CodeGeneratorRequest: the aggregates, their fields and C++ types, the
// trees. Everything the emitter needs is decided here, and every schema
// error is found here, before a byte of output is written.
#pragma once

#include <capnp/schema-loader.h>
#include <capnp/schema.capnp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace hills::codegen {

// A schema that capnpc-hills cannot turn into records. what() is the message
// for the user: it names the file, the struct and the field, and says what
// to change.
class SchemaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class TypeKind {
  kScalar,  // bool, integers, floats
  kEnum,
  kText,
  kData,
  kStruct,  // a generated aggregate
  kKey,     // Hills.Ref with $Hills.ref: hills::Key<Target>
  kList,
};

struct FieldType {
  TypeKind kind = TypeKind::kScalar;
  std::string cpp;                           // the aggregate member's C++ type
  std::uint64_t structId = 0;                // kStruct: the struct's node id
  std::shared_ptr<const FieldType> element;  // kList: the element type
};

struct Field {
  std::string schemaName;  // as written in the schema (RecordTraits::fieldNames)
  std::string member;      // the aggregate's member
  std::string accessor;    // capnp's accessor suffix: get<accessor>(), set<accessor>()...
  FieldType type;
  // The default member initialiser, without '=' ("{}", "= -40"), or empty
  // for class types whose default is empty.
  std::string initializer;
  // A pointer field (text, data, list, key) whose schema default is empty: an
  // empty value is stored as a null pointer.
  bool nullWhenEmpty = false;
};

// `using <name> = <capnp>;` for an enum declared in a struct or file.
struct EnumAlias {
  std::string name;
  std::string capnp;
};

struct Struct {
  std::uint64_t id = 0;
  std::string name;       // C++ name inside its scope: "Line"
  std::string scoped;     // schema name inside its file: "Bom.Line"
  std::string aggregate;  // "::plm::Bom::Line"
  std::string capnp;      // "::plm::capnp::Bom::Line"
  std::optional<std::string> tree;
  bool versioned = true;
  std::vector<EnumAlias> enums;
  std::vector<Struct> nested;  // in an order where each is complete before use
  std::vector<Field> fields;   // in the schema's declaration (code) order
};

// A struct of the file that is not generated, and why (a union, say). Only
// structs that no tree uses may be skipped; the header says so in a comment.
struct Skipped {
  std::string scoped;
  std::string reason;
};

struct File {
  std::string displayName;  // "plm.capnp", as capnp names it
  std::string output;       // "plm.hills.h", relative to the output directory
  std::string capnpHeader;  // "plm.capnp.h", next to the output
  std::vector<std::string> namespaceParts;  // of the aggregates; empty: nothing to generate
  std::vector<std::string> includes;        // record headers of imports: "\"a.hills.h\"", "<x/a.hills.h>"
  std::vector<EnumAlias> enums;             // top-level enums
  std::vector<Struct> structs;              // top-level structs, in dependency order
  std::vector<Skipped> skipped;
};

// The request as a whole: it resolves tree names across files and checks
// that they are unique. It sees what capnp passes: every node of the
// requested files, but of imported files only the nodes used as types (and
// their scopes); a tree of an imported file is therefore found only when
// that file is requested in the same run.
class RequestModel {
 public:
  using Request = capnp::schema::CodeGeneratorRequest;

  // Loads nothing: `loader` must hold every node of `request`. Throws
  // SchemaError when two structs declare the same tree.
  RequestModel(const capnp::SchemaLoader& loader, Request::Reader request);

  // The model of one requested file. Throws SchemaError naming file, struct
  // and field when the file cannot be generated.
  File build(Request::RequestedFile::Reader requested);

 private:
  enum class State { kChecking, kOk, kUnsupported };
  struct Verdict {
    State state = State::kChecking;
    std::string reason;
  };

  // Names.
  capnp::Schema fileOf(capnp::Schema node) const;
  std::string scopedName(capnp::Schema node) const;
  std::string where(capnp::StructSchema s, const capnp::StructSchema::Field& f) const;
  std::string cxxName(capnp::Schema node) const;
  std::string capnpName(capnp::Schema node) const;
  std::string aggregateName(capnp::Schema node);
  // The aggregates' namespace of a file, checked; empty when it has none.
  std::vector<std::string> hillsNamespace(capnp::Schema file);

  // Support checks. unsupported() is the reason a struct cannot become an
  // aggregate (empty if it can); hills-specific mistakes (a Ref without
  // $Hills.ref...) throw SchemaError instead, wherever they are.
  const std::string& unsupported(capnp::StructSchema s);
  std::string fieldUnsupported(capnp::StructSchema s, const capnp::StructSchema::Field& f);
  std::string typeUnsupported(capnp::Type type, capnp::StructSchema s, const capnp::StructSchema::Field& f);
  bool isRef(capnp::Type type) const;

  // Building.
  Struct buildStruct(capnp::StructSchema s, File& file);
  Field buildField(capnp::StructSchema s, const capnp::StructSchema::Field& f, File& file);
  FieldType buildType(capnp::Type type, capnp::StructSchema s, const capnp::StructSchema::Field& f, File& file);
  void walkScope(capnp::Schema scope, std::vector<Struct>& structs, std::vector<EnumAlias>& enums, File& file);
  void useFile(capnp::Schema used, capnp::StructSchema s, const capnp::StructSchema::Field& f, File& file);
  capnp::StructSchema treeTarget(capnp::StructSchema s, const capnp::StructSchema::Field& f);

  const capnp::SchemaLoader& loader_;
  std::map<std::string, std::uint64_t> trees_;  // tree name -> struct id, whole request
  std::uint64_t refId_ = 0;                     // hills.capnp's Ref, if imported
  std::unordered_map<std::uint64_t, Verdict> verdicts_;
  // Per build(): the file being generated, and what its imports are called.
  std::uint64_t fileId_ = 0;
  std::map<std::uint64_t, std::string> imports_;
  std::set<std::uint64_t> included_;
};

// Puts `structs` (one scope) and, recursively, their nested structs in an
// order where every struct held by value is defined before its holder.
// Throws SchemaError for structs that hold each other (or their enclosing
// struct) by value: no plain aggregate can.
void orderForDefinition(std::vector<Struct>& structs, const std::string& fileName);

}  // namespace hills::codegen

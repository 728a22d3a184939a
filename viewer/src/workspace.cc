#include "workspace.h"

#include <algorithm>
#include <filesystem>

#include "hills/generic.h"
#include "hills/inspect.h"
#include "value_text.h"

namespace hills::viewer {

namespace {

Options localOptions(bool writable) {
  Options o;
  o.readOnly = !writable;
  o.maxTables = 4096;
  o.author = "hills-viewer";
  // The borrows a replica mirrors or a server keeps, to show their holders.
  o.hooks.push_back(protocol::borrowTableReader());
  return o;
}

Role roleIn(const Database& db) {
  return db.read([](const ReadTxn& txn) {
    Role role = Role::kPlain;
    for (const auto& t : tableStats(txn)) {
      if (t.name == "_grants") return Role::kSyncServer;
      if (t.name == "_outbox") role = Role::kSyncClient;
    }
    return role;
  });
}

}  // namespace

std::optional<Role> roleOf(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "data.mdb", ec)) return std::nullopt;
  Database db(dir, localOptions(false));
  return roleIn(db);
}

std::unique_ptr<Workspace> Workspace::openLocal(const std::string& dir, bool writable) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "data.mdb", ec)) {
    throw Error(ErrorCode::kIo, "no hills database in " + dir + " (no data.mdb there)");
  }
  std::unique_ptr<Workspace> ws(new Workspace);
  ws->dir_ = dir;
  ws->db_ = std::make_unique<Database>(dir, localOptions(false));
  ws->role_ = roleIn(*ws->db_);
  if (writable && ws->role_ == Role::kPlain) {
    ws->db_.reset();
    ws->db_ = std::make_unique<Database>(dir, localOptions(true));
    ws->readOnly_ = false;
  }
  ws->start();
  return ws;
}

std::unique_ptr<Workspace> Workspace::openClient(const std::string& dir, const std::string& server,
                                                 const std::string& name,
                                                 const std::string& token, bool plaintext,
                                                 ClientTls tls, std::vector<std::string> trees) {
  std::unique_ptr<Workspace> ws(new Workspace);
  ws->dir_ = dir;
  ClientOptions o;
  o.name = name;
  o.token = token;
  o.server = server;
  o.plaintext = plaintext;
  o.tls = std::move(tls);
  o.replicate = trees;
  ws->trees_ = std::move(trees);
  o.database.maxTables = 4096;
  ws->client_ = std::make_unique<Client>(dir, std::move(o));
  ws->role_ = Role::kSyncClient;
  ws->readOnly_ = false;
  ws->start();
  return ws;
}

Workspace::~Workspace() = default;

void Workspace::start() {
  version_ = db().read([](const ReadTxn& txn) { return txn.version(); });
  refreshBorrows();
  connect(&timer_, &QTimer::timeout, this, &Workspace::poll);
  timer_.start(kPollIntervalMs);
}

void Workspace::refreshBorrows() {
  if (role_ == Role::kPlain) return;
  borrows_ = db().read([](const ReadTxn& txn) {
    try {
      return protocol::listBorrows(txn);
    } catch (const Error&) {
      // A database whose borrow table was never made has no borrows.
      return std::vector<BorrowInfo>{};
    }
  });
}

std::optional<BorrowInfo> Workspace::borrowOf(const OpaqueKey& key) const {
  for (const auto& b : borrows_) {
    if (b.key.id == key.id && b.key.revision == key.revision && b.key.tree == key.tree) return b;
  }
  return std::nullopt;
}

bool Workspace::holds(std::string_view tree) const {
  if (!client_) return true;
  return trees_.empty() || std::find(trees_.begin(), trees_.end(), tree) != trees_.end();
}

std::optional<Workspace::FetchedJson> Workspace::fetchJson(const OpaqueKey& key) {
  auto record = client_->fetch(key);
  if (!record) return std::nullopt;
  // Checked against the tree's schema before the client handed it over.
  detail::ValueReader message(kj::arrayPtr(record->value.data(), record->value.size()));
  auto schema = db().storedSchema(key.tree);
  FetchedJson out;
  out.fromCache = record->fromCache;
  JsonWriter(schema).append(
      out.json, message.getRoot<wire::Envelope>().getBody().getAs<capnp::DynamicStruct>(schema));
  return out;
}

void Workspace::poll() {
  auto version = db().read([](const ReadTxn& txn) { return txn.version(); });
  if (version == version_) return;
  version_ = version;
  refreshBorrows();
  emit changed();
}

void Workspace::edit(const std::function<void(WriteTxn&)>& fn) {
  if (readOnly_) {
    throw Error(ErrorCode::kInvalidArgument,
                role_ == Role::kPlain
                    ? "the database " + dir_ + " is open read-only: open it with --write to edit"
                    : "the database " + dir_ +
                          " belongs to a sync client or server: connect with --server, --name "
                          "and --token to edit through the server");
  }
  db().write([&](WriteTxn& txn) { fn(txn); });
  poll();
}

QString Workspace::statusLine() const {
  std::string line = dir_;
  if (client_) {
    auto s = client_->status();
    line += s.connected ? "  ·  connected" : "  ·  offline";
    if (!s.lastError.empty() && !s.connected) line += " (" + s.lastError + ")";
    line += "  ·  applied " + withThousands(s.lastApplied) + " of " +
            withThousands(s.serverSequence);
    line += "  ·  outbox " + withThousands(s.outbox);
    std::uint64_t ids = 0;
    for (const auto& [tree, left] : s.idsLeft) ids += left;
    line += "  ·  ids left " + withThousands(ids);
    if (s.quarantined > 0) line += "  ·  quarantined " + withThousands(s.quarantined);
  } else {
    line += readOnly_ ? "  ·  read-only" : "  ·  writable";
    if (role_ == Role::kSyncClient) line += "  ·  a sync client's replica";
    if (role_ == Role::kSyncServer) line += "  ·  a sync server's database";
  }
  auto last = db().read([](const ReadTxn& txn) {
    try {
      return txn.lastSequence();
    } catch (const Error&) {
      return std::uint64_t{0};
    }
  });
  if (last > 0) line += "  ·  last change " + withThousands(last);
  return QString::fromStdString(line);
}

}  // namespace hills::viewer

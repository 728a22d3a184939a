// The database the viewer shows: a local directory opened read-only
// alongside the programs that use it (or writable, for a plain database),
// or a replica that syncs with a hills-server, to edit with borrows. It
// notices every commit, by any process, and says so (changed()).
#pragma once

#include <QObject>
#include <QString>
#include <QTimer>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hills/client.h"
#include "hills/database.h"
#include "hills/protocol.h"

namespace hills::viewer {

// How a database directory is used by the programs that made it.
enum class Role { kPlain, kSyncClient, kSyncServer };

class Workspace : public QObject {
  Q_OBJECT

 public:
  // Opens the database in `dir` with no compiled types. Read-only unless
  // `writable`; a sync replica or server database is always opened
  // read-only (its edits must go through sync). Throws Error(kIo) when
  // `dir` holds no database, and what Database's constructor throws.
  static std::unique_ptr<Workspace> openLocal(const std::string& dir, bool writable);

  // Opens (creating) the replica in `dir` as the sync client `name` of
  // `server` ("host:port"), and starts syncing: over TLS verified as `tls`
  // says, or plain TCP with `plaintext` (ClientOptions). It replicates
  // `trees` only (ClientOptions::replicate; empty: every tree), as an
  // account limited to some trees must. Throws what Client's constructor
  // throws.
  static std::unique_ptr<Workspace> openClient(const std::string& dir, const std::string& server,
                                               const std::string& name, const std::string& token,
                                               bool plaintext = false, ClientTls tls = {},
                                               std::vector<std::string> trees = {});

  ~Workspace() override;

  Database& db() { return client_ ? client_->db() : *db_; }
  const Database& db() const { return client_ ? client_->db() : *db_; }
  // The sync client; null for a local database.
  Client* client() { return client_.get(); }
  Role role() const { return role_; }
  // Whether edits are refused (read-only open of a local database).
  bool readOnly() const { return readOnly_; }
  const std::string& dir() const { return dir_; }

  // The holder of each borrowed record (the server's borrows as the
  // replica mirrors them, or those a server database keeps); empty
  // elsewhere. Refreshed on every change.
  const std::vector<BorrowInfo>& borrows() const { return borrows_; }
  std::optional<BorrowInfo> borrowOf(const OpaqueKey& key) const;

  // Whether the records of `tree` are here: false for a tree a sync
  // client does not replicate (its records are fetched from the server).
  bool holds(std::string_view tree) const;
  // A record of a tree this replica does not hold, from the server (or
  // its read cache: offline, or a released record it holds) as JSON; empty
  // when the server has none. Throws what Client::fetch throws (kOffline,
  // kDenied).
  struct FetchedJson {
    std::string json;
    bool fromCache = false;
  };
  std::optional<FetchedJson> fetchJson(const OpaqueKey& key);

  // A line for the status bar: the connection, the last change applied,
  // the outbox, the ids left.
  QString statusLine() const;

  // Checks at once whether the database changed (a timer does it every
  // `pollInterval` too).
  void poll();

  // Runs fn in one write transaction of the database (a replica's write
  // hook then asks for borrows as for any program), and checks for changes
  // at once. Throws Error(kInvalidArgument) naming how to edit when the
  // workspace is read-only, and what fn or the commit throws (nothing of
  // fn is kept then).
  void edit(const std::function<void(WriteTxn&)>& fn);

  static constexpr int kPollIntervalMs = 250;

 signals:
  // The database changed since the last check (a commit of any process,
  // or the sync client applied the server's changes).
  void changed();

 private:
  Workspace() = default;
  void start();
  void refreshBorrows();

  std::string dir_;
  Role role_ = Role::kPlain;
  bool readOnly_ = true;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Client> client_;
  std::vector<std::string> trees_;  // a sync client's replicated trees; empty: every tree
  std::uint64_t version_ = 0;
  std::vector<BorrowInfo> borrows_;
  QTimer timer_;
};

// The role of the database in `dir` (told by the tables sync keeps), or
// empty when the directory holds no hills database.
std::optional<Role> roleOf(const std::string& dir);

}  // namespace hills::viewer

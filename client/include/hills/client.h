// A local replica kept in sync with a hills-server.
//
// hills::Client owns a Database (a replica) and a sync thread. The
// application reads and writes the database as usual, at once and offline
// too: records it creates take ids from ranges the server granted (or, on
// a replica that never reached its server yet, from a block it claimed:
// see ClientOptions::idBlock) and wait in the outbox until the server has
// them. Editing an existing record needs a borrow: checkOut() it, edit it
// locally, checkIn() it. Changes of other clients arrive by themselves and
// yield the same events as local ones, with the other client's name as
// origin.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hills/database.h"
#include "hills/protocol.h"

namespace hills {

// A local change of a replica that its server has not acknowledged yet.
struct OutboxItem {
  enum class Kind : std::uint8_t { kCreate, kCheckIn };
  Kind kind = Kind::kCreate;
  OpaqueKey key;
  bool sent = false;          // pushed since the database was opened
  bool keepBorrow = false;    // kCheckIn: keep the borrow afterwards
  std::uint64_t serial = 0;   // grows with every entry queued: tells requeued entries apart
  std::uint64_t fencing = 0;  // kCheckIn: of the borrow it returns (as it was when queued)
};

// A replica's own edit that the server did not take: its borrow was broken,
// its create was refused, or the server's change overtook it.
struct ConflictCopy {
  OpaqueKey key;
  std::string brokenBy;       // who broke the borrow, or why the server refused the edit
  std::uint64_t fencing = 0;  // of the broken borrow (0: none)
  std::chrono::system_clock::time_point time;  // when it was kept, for people to read
  std::vector<capnp::word> value;  // the stored value as edited; empty: it was removed
};

// A change of the server's log that this replica could not apply: its
// value does not read as a record of the tree (a client with a bug or a
// different schema pushed it), or an indexer of this program refused it
// (two clients gave two records the same unique name while offline). The
// replica goes on following the log past it; the change waits here and is
// applied again when the program opens the replica (a new version that
// reads it), when a later change of the same record arrives (the record
// was renamed on the server), and on Client::retryQuarantine() (after the
// application renamed its own record, or rebuilt an index). A change
// that a later change of its record has overtaken leaves the quarantine
// without being applied.
struct QuarantinedChange {
  std::uint64_t sequence = 0;  // in the server's log
  OpaqueKey key;
  std::string kind;            // "created", "updated", "removed"...
  std::string origin;          // the client that made the change
  ErrorCode code = ErrorCode::kCorrupt;  // why it was refused here
  std::string reason;          // the refusal's message
  std::chrono::system_clock::time_point since;  // first refused
  std::uint32_t tries = 0;     // applications tried, the first included
};

// A record of a tree, as Client::fetch returns it.
struct FetchedRecord {
  OpaqueKey key;  // for fetchNewest, the newest revision found
  // The stored value: the words of a single-segment Cap'n Proto message
  // (without a segment table, as a database stores it: read it with
  // hills::detail::ValueReader) whose root is the record envelope
  // (hills/record.capnp), the record its body; decoded with the tree's
  // stored schema (Database::storedSchema) or, typed, by Client::fetch<T>.
  std::vector<capnp::word> value;
  std::string origin;      // the client that made the record as it is
  bool fromCache = false;  // read from the read cache, not from the server now
};

// How a client verifies its server over TLS (docs/ARCHITECTURE.md, "TLS").
// With none of these set, the client trusts the certificate the server
// presents at first contact (it must be self-signed, as the ones the
// hills-server package and scripts/demo.sh make are), pins it in the
// replica with the server's uuid, and from then on talks only to a server
// that presents exactly that certificate.
struct ClientTls {
  // PEM certificates of the authorities that issue the server's
  // certificate: the server's chain must lead to one of them, and its
  // certificate must hold serverName (or the host of ClientOptions::server,
  // which must then be a name, not an IP address). Nothing is pinned.
  std::string caFile;
  // The host name checked against the certificate. Empty: see caFile; when
  // pinning, the certificate itself is the identity and a name it holds is
  // used.
  std::string serverName;
  // The SHA-256 fingerprint of the server's (self-signed) certificate,
  // "sha256:" and 64 hex digits as hills-server prints it at start (colons
  // and upper case are taken too). A server presenting another certificate
  // is refused from the first contact on. It wins over the certificate
  // pinned in the replica, which it replaces after the next hello: the way
  // to follow a server whose certificate was replaced on purpose.
  std::string fingerprint;
};

struct ClientOptions {
  // The name and token the server's configuration lists for this client.
  // The name is also the author of this client's records.
  std::string name;
  std::string token;

  // "host:port" of the hills-server. Empty: no server yet (offline only).
  //
  // "discover:NAME" finds the server whose configuration says
  // "discovery": {"name": "NAME"} on the LAN, before every connection
  // attempt (a server that moved is found again): a query on UDP multicast
  // (239.255.74.20:7420; "discover:NAME@GROUP:PORT" names another group
  // and port), answered with the server's uuid, address and certificate
  // fingerprint. A reply is not trusted: one whose uuid is not the
  // replica's pinned server, or whose fingerprint is not tls.fingerprint
  // (else the pinned one), is ignored, and the connection is verified as
  // with an address given (TLS, pinned uuid). With tls.caFile, set
  // tls.serverName unless the server advertises a host name (its
  // discovery.advertise): the address found is an IP address. When no server
  // answers within discoveryTimeout, status().lastError says so ('no
  // hills-server named "NAME" answered on 239.255.74.20:7420 within
  // 1000 ms', and which replies were ignored) and the client tries again
  // with backoff. The Client constructor and connectTo() throw
  // Error(kInvalidArgument) for a malformed one (no name, a group that is
  // not IPv4 multicast, a bad port). Queries do not leave the link
  // (TTL 1): the server must be on the client's network segment.
  std::string server;
  // How long a discovery waits for its reply.
  std::chrono::milliseconds discoveryTimeout = protocol::kDiscoveryTimeout;

  // The connection is TLS, verified as `tls` says, unless plaintext is set:
  // then it is plain TCP, neither encrypted nor verified, for a server
  // whose configuration says "plaintext": true on a network you trust.
  // Either way the token is sent only after the server is verified (TLS)
  // or chosen so (plaintext).
  bool plaintext = false;
  ClientTls tls;

  // The trees this replica follows: the server sends changes, snapshots and
  // borrows of these only, and the replica creates, edits and borrows
  // records of these only (a write to another tree throws
  // Error(kWrongTree) naming it). Records of the others are read with
  // fetch(). Empty (the default): every tree. The server refuses the
  // client (kDenied, ClientStatus::refusedBy) when it may not read one of
  // them, or when this is empty and it may not read every tree; kUnknownTree
  // for a tree the server does not hold. A replica opened again with more
  // trees takes a snapshot of the added ones at its next connection; with
  // fewer, the constructor throws Error(kInvalidArgument) (their records
  // here would go stale): docs/ARCHITECTURE.md, "Partial replicas".
  std::vector<std::string> replicate;

  // The most records fetch() keeps in the read cache (records of trees
  // this replica does not follow). Past it, the record fetched from the
  // server longest ago goes (a fetch that the cache answers does not count
  // as one). 0: no limit.
  std::size_t readCacheRecords = 100000;

  // How the local database is opened (trees, indexers, hooks,
  // durability...). Client sets ids = IdSource::kRanges and author = name,
  // and adds the replica's write hook.
  Options database;

  // How a batch of the server's changes applied here, or a commit of a
  // snapshot's parts while the replica starts, commits when
  // database.durable is set (hills/txn.h, CommitSync). kData, the default:
  // one sync instead of two. A batch and the cursor that counts it commit
  // together, so an operating-system crash or power loss can take back at
  // most the last batches applied, which the replica pulls again from the
  // server at its next session; it never damages the database. The
  // outbox entries the server has answered leave the outbox in the same
  // commit (or in one of their own, synced the same way when the client
  // runs): one lost is pushed again, and the server knows it. The replica's own commits
  // (local edits and their outbox entries, id ranges, the pinned server)
  // stay kFull, and each of them makes the batches applied before it
  // durable with itself. kFull: every batch synced as they are.
  CommitSync appliedChanges = CommitSync::kData;

  // Reconnection: the first retry waits minBackoff, each next one twice as
  // long, up to maxBackoff.
  std::chrono::milliseconds minBackoff{100};
  std::chrono::milliseconds maxBackoff{5000};

  // How long a call that needs the server (checkOut, release...) waits for
  // its answer, and for the change it made to arrive here.
  std::chrono::milliseconds callTimeout{10000};

  // Called with the opened database before the sync thread starts: what it
  // subscribes sees every change the first catch-up applies.
  std::function<void(Database&)> onOpen;

  // Ids asked for at a time per tree, and the count below which more are
  // asked for while online. A replica that has never reached its server
  // claims idBlock ids of each of its trees when it opens, at a place drawn
  // at random among the claimable ids (hills::kClaimableIds up), and
  // creates from them offline at once; at first contact the server
  // confirms each claim (keep idBlock at most the server's, which bounds
  // claims as it bounds grants). Should the server refuse one (another
  // client claimed some of the ids: for two replicas a chance of
  // 2 * idBlock / (3 * 2^62), under 10^-15 with the default), the records
  // made from it move to ids the server grants, and this replica's
  // references to them follow (ClientStatus::renumbered counts them; the
  // events name the old key removed and the new one created).
  std::uint64_t idBlock = 4096;
  std::uint64_t idLowWater = 1024;

  // Where those claims start instead of a random place: for tests that make
  // two replicas claim the same ids. Must lie in [hills::kClaimableIds,
  // UINT64_MAX - idBlock]; leave it unset otherwise.
  std::optional<std::uint64_t> claimStart;
};

// What the sync engine is doing, for a status line or a health check.
struct ClientStatus {
  bool connected = false;                        // a session with the server is open
  std::string serverUuid;                        // the pinned server; empty before first contact
  std::uint64_t lastApplied = 0;                 // sequence of the last server change applied here
  std::uint64_t serverSequence = 0;              // newest server sequence this client has heard of
  std::size_t outbox = 0;                        // local changes the server has not acknowledged
  std::map<std::string, std::uint64_t> idsLeft;  // per tree
  std::uint64_t refused = 0;                     // outbox entries the server refused
  std::uint64_t renumbered = 0;                  // records moved off a claim the server refused
  std::uint64_t reconnects = 0;                  // sessions opened after the first
  std::size_t quarantined = 0;                   // server changes that could not apply here
  std::string lastError;                         // why the last connection or push failed
  // "host:port" of the last connection attempt: ClientOptions::server, or
  // the address discovery found for a "discover:NAME".
  std::string serverAddress;
  // The server refused this client for good (kDenied: unknown name, wrong
  // token, no permission; kWrongServer: another server, or one restored
  // from an older backup, or a TLS certificate that is not the pinned or
  // expected one or that tls.caFile does not vouch for (lastError names the
  // fingerprints); kProtocol: another protocol version;
  // kSchemaMismatch: incompatible record types; kDenied and kUnknownTree
  // also for ClientOptions::replicate naming a tree the client may not read
  // or the server does not hold). The client does not try
  // again until connectTo() says where and with what; lastError says why.
  std::optional<ErrorCode> refusedBy;
};

// The calls that wait for the server (waitConnected, sync, flush, checkOut,
// release, newRevision, setLifecycle, breakBorrow) throw
// Error(kInvalidArgument) when called on the sync thread, that is from an
// event subscriber while it handles a change applied from the server; call
// them from another thread. Do not call them inside a read() or write() of
// the client's database either: the sync thread may need that database to
// answer.
class Client {
 public:
  // Opens (creating) the replica in `path` and starts syncing in the
  // background; the database is usable at once, whether or not the server
  // answers, and a replica that never reached its server claims its first
  // ids (ClientOptions::idBlock). Throws what Database's constructor
  // throws, and Error(kInvalidArgument) for an empty name, an idBlock of 0
  // (or above 2^62), a claimStart outside the claimable ids, a
  // tls.fingerprint that is not one, tls set with plaintext, or a
  // malformed "discover:" server.
  Client(const std::string& path, ClientOptions options);

  // Stops the sync thread. Everything written locally stays in the database
  // and its outbox, and is pushed by the next Client on the same path.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The local replica. Thread-safe, as Database is. On it, update() and
  // remove() need a borrow this client holds (or a record created here and
  // not pushed yet) and throw Error(kNotBorrowed) otherwise; release, new
  // revision and lifecycle go through the Client calls below.
  Database& db();

  ClientStatus status() const;

  // Waits until a session with the server is open; false at the timeout.
  // Throws the server's refusal (ClientStatus::refusedBy) as an Error.
  bool waitConnected(std::chrono::milliseconds timeout);

  // Ends the session with the current server (if any) and connects to
  // `server` ("host:port", or "discover:NAME" as ClientOptions::server;
  // empty: stay offline) with `token`, clearing a refusal. Throws
  // Error(kInvalidArgument) for a malformed "discover:", changing
  // nothing. The replica stays pinned: a server with another uuid is
  // still refused (kWrongServer).
  void connectTo(const std::string& server, const std::string& token);

  // Waits until the outbox is empty: everything written here has been
  // acknowledged by the server (durable there). False at the timeout.
  bool flush(std::chrono::milliseconds timeout);

  // Waits until the outbox is empty and every change the server had
  // committed when the call began (it asks the server) is applied here;
  // false at the timeout (or offline).
  bool sync(std::chrono::milliseconds timeout);

  // Makes sure `tree` holds at least `count` ids for new records, asking
  // the server for more ranges when it holds fewer (the server grants at
  // most its idBlock at a time; several grants are asked for in turn).
  // Call it before a transaction that creates more records than
  // status().idsLeft holds, such as an import: ranges are otherwise topped
  // up between transactions, and a create finding none left throws
  // kNoIds. Returns the ids left. Throws kOffline when it must ask and the
  // client is not connected, kDenied without the write permission, kWrongTree for a tree this
  // replica does not follow, kUnknownTree, kInvalidArgument for a count
  // of 0 or over kMaxReservedIds.
  static constexpr std::uint64_t kMaxReservedIds = std::uint64_t{1} << 24;
  std::uint64_t reserveIds(std::string_view tree, std::uint64_t count);
  template <TreeRecord T>
  std::uint64_t reserveIds(std::uint64_t count) {
    return reserveIds(RecordTraits<T>::tree, count);
  }

  // Borrows a record from the server. Returns the borrow when granted;
  // when the call returns, the local record is the server's newest. Throws
  // Error(kBorrowed) naming the holder, kOffline when not connected,
  // kNotFound, kReleased (make a new revision), kDenied without the write
  // permission.
  BorrowInfo checkOut(const OpaqueKey& key);
  template <TreeRecord T>
  BorrowInfo checkOut(Key<T> key) {
    return checkOut(opaque(key));
  }

  // Returns a borrow with the record as it is now here: queued in the
  // outbox at once (durable, offline too) and pushed when online; sync()
  // waits for the server's acknowledgement. The overload with a WriteTxn
  // queues it in a transaction of the application's own (of db()), which
  // may also hold the edit. `keepBorrow`: store the edit
  // and keep editing. Throws Error(kNotBorrowed) when this client does not
  // hold the borrow. A check-in the server refuses (its borrow was broken)
  // is counted in status().refused; the edit is kept as a conflict copy.
  void checkIn(const OpaqueKey& key, bool keepBorrow = false);
  template <TreeRecord T>
  void checkIn(Key<T> key, bool keepBorrow = false) {
    checkIn(opaque(key), keepBorrow);
  }
  void checkIn(WriteTxn& txn, const OpaqueKey& key, bool keepBorrow = false);
  template <TreeRecord T>
  void checkIn(WriteTxn& txn, Key<T> key, bool keepBorrow = false) {
    checkIn(txn, opaque(key), keepBorrow);
  }

  // Releases a draft on the server (checking in this client's edits
  // first when it holds the borrow). Returns when the change is applied
  // here. Throws kOffline, kBorrowed (another client holds it), kReleased,
  // kNotFound, kUnversioned, kDenied.
  void release(const OpaqueKey& key);
  template <TreeRecord T>
  void release(Key<T> key) {
    release(opaque(key));
  }

  // Makes the draft revision + 1 of a released record on the server, checked
  // out to this client, and returns its revision when it is here. Throws
  // kOffline, kNotReleased, kNotLatest, kNotFound, kDenied.
  std::uint32_t newRevision(const OpaqueKey& key);
  template <TreeRecord T>
  Key<T> newRevision(Key<T> key) {
    return Key<T>{key.id, newRevision(opaque(key))};
  }

  // Sets the lifecycle number of a record on the server (checking in this
  // client's edits first when it holds the borrow), and returns when the
  // change is applied here. Throws kOffline, kBorrowed, kNotFound, kDenied.
  void setLifecycle(const OpaqueKey& key, std::uint32_t lifecycle);
  template <TreeRecord T>
  void setLifecycle(Key<T> key, std::uint32_t lifecycle) {
    setLifecycle(opaque(key), lifecycle);
  }

  // Administrators only: takes a borrow away from its holder (whose check-in
  // will be refused and whose edit its client keeps as a conflict copy).
  // Returns the broken borrow. Throws kOffline, kNotBorrowed, kDenied.
  BorrowInfo breakBorrow(const OpaqueKey& key);
  template <TreeRecord T>
  BorrowInfo breakBorrow(Key<T> key) {
    return breakBorrow(opaque(key));
  }

  // Reads a record of any tree the client may read. Of a tree this replica
  // follows (ClientOptions::replicate), the local record (fromCache
  // false), or empty when there is none. Of another tree: from the server
  // when connected, stored in the replica's read cache (checked against
  // the tree's schema first), and empty when the server has no such record
  // (dropped from the cache then); a released record already in the cache
  // is answered from it without asking (it never changes); offline, or
  // when the server does not answer within callTimeout, the cached copy
  // (fromCache true), which for a draft may be older than the server's.
  // The cache is never edited locally: it changes only with what the
  // server sends. Throws Error(kOffline) offline for a record not in the
  // cache, kDenied when the client may not read the tree, kUnknownTree
  // for a tree the server does not hold, kWrongTree (typed) for a record
  // of another type, kCorrupt for a value that does not read as a record
  // of the tree. Not on the sync thread (kInvalidArgument).
  std::optional<FetchedRecord> fetch(const OpaqueKey& key);
  // The same for many records at once, one answer per key in order: what
  // the server is asked for goes in one round trip and one commit of the
  // cache per sync::MAX_FETCH (1,024) keys, as when following every line
  // of a bom into a tree this replica does not hold. Offline, or without
  // an answer in time, the cache answers, and kOffline names the first
  // record it does not hold. A refusal is the whole call's: kDenied or
  // kUnknownTree when one key's tree may not be read, kCorrupt for one
  // value that does not check (what earlier batches brought stays cached).
  std::vector<std::optional<FetchedRecord>> fetch(const std::vector<OpaqueKey>& keys);
  // The same for the newest revision of `id` in `tree` (a reference that
  // names an id), from the server when connected (a newer revision may
  // have been made), else the newest in the cache.
  std::optional<FetchedRecord> fetchNewest(std::string_view tree, std::uint64_t id);
  // Typed: an owned copy of the record, or empty.
  //   std::optional<plm::Bom> bom = client.fetch(hills::Key<plm::Bom>{id, 0});
  template <TreeRecord T>
  std::optional<T> fetch(Key<T> key) {
    auto record = fetch(opaque(key));
    if (!record) return std::nullopt;
    return decodeFetched<T>(*record);
  }
  template <TreeRecord T>
  std::vector<std::optional<T>> fetch(const std::vector<Key<T>>& keys) {
    std::vector<OpaqueKey> opaqueKeys;
    opaqueKeys.reserve(keys.size());
    for (const auto& key : keys) opaqueKeys.push_back(opaque(key));
    auto records = fetch(opaqueKeys);
    std::vector<std::optional<T>> out;
    out.reserve(records.size());
    for (const auto& record : records) {
      out.push_back(record ? std::optional<T>(decodeFetched<T>(*record)) : std::nullopt);
    }
    return out;
  }
  template <TreeRecord T>
  std::optional<std::pair<Key<T>, T>> fetchNewest(std::uint64_t id) {
    auto record = fetchNewest(RecordTraits<T>::tree, id);
    if (!record) return std::nullopt;
    return std::pair<Key<T>, T>{Key<T>{id, record->key.revision}, decodeFetched<T>(*record)};
  }

  // Every borrow, as this replica knows them (the server's, as of the last
  // change applied here).
  std::vector<BorrowInfo> borrows() const;

  // This client's edits the server did not take, kept for the application.
  std::vector<ConflictCopy> conflicts() const;

  // Drops the conflict copies of `key` once the application has dealt with
  // them.
  void dropConflicts(const OpaqueKey& key);

  // The outbox: local changes the server has not acknowledged yet.
  std::vector<OutboxItem> outbox() const;

  // The server's changes this replica could not apply, in the order of the
  // server's log (see QuarantinedChange).
  std::vector<QuarantinedChange> quarantine() const;

  // Applies the quarantined changes again, in log order, each in its own
  // transaction; those that apply, or that a later change of their record
  // overtook, leave the quarantine. Returns how many are left.
  std::size_t retryQuarantine();

  struct Impl;

 private:
  template <TreeRecord T>
  static T decodeFetched(const FetchedRecord& record) {
    T out{};
    try {
      detail::ValueReader reader(kj::arrayPtr(record.value.data(), record.value.size()));
      auto envelope = reader.getRoot<wire::Envelope>();
      if (envelope.getTypeId() != RecordTraits<T>::typeId) {
        throw Error(ErrorCode::kWrongTree,
                    describe(record.key) + " holds a record of another type than the one asked for");
      }
      RecordTraits<T>::read(envelope.getBody().getAs<typename RecordTraits<T>::Capnp>(), out);
    } catch (const kj::Exception& e) {
      throw Error(ErrorCode::kCorrupt,
                  describe(record.key) + " does not decode: " + e.getDescription().cStr());
    }
    return out;
  }

  std::unique_ptr<Impl> impl_;
};

}  // namespace hills

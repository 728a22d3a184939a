# The hills sync protocol: Cap'n Proto RPC between hills-server and its
# clients. A client connects, takes the Gate (the bootstrap capability) and
# says hello; everything else goes through the Session the hello returns.
@0x917e1616d467eaba;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("hills::sync");

using Record = import "/hills/record.capnp";
using Meta = import "/hills/meta.capnp";

const protocolVersion :UInt32 = 4;
# 3: the change log may have gaps (compaction): Listener.changes says where
#    its batch starts; Session.snapshot starts a fresh replica.
# 4: partial replicas: Hello.trees names the trees a session follows, and
#    Session.fetch reads records of the others. A server speaking 4 still
#    serves clients speaking 3 (they follow every tree, as before).
const oldestProtocol :UInt32 = 3;  # the oldest client protocol a server serves

# The change-log entries the server adds about borrows: kinds of a write hook
# (record.capnp's ChangeKind from 6 on). Their Change.note names the client
# that holds (or held) the borrow, Change.number is its fencing number.
const borrowedKind :UInt16 = 6;
const checkedInKind :UInt16 = 7;
const borrowBrokenKind :UInt16 = 8;   # Change.value: the record as the server holds it

enum ErrorCode {
  # hills::ErrorCode on the wire. The numbers are the protocol: a new code
  # is added at the end, and none is ever renumbered.
  unknown @0;
  notFound @1;
  alreadyExists @2;
  wrongTree @3;
  released @4;
  notReleased @5;
  unversioned @6;
  notLatest @7;
  corrupt @8;
  schemaMismatch @9;
  schemaVersion @10;
  unknownTree @11;
  noIds @12;
  mapFull @13;
  alreadyOpen @14;
  io @15;
  invalidArgument @16;
  storage @17;
  borrowed @18;
  notBorrowed @19;
  staleBorrow @20;
  denied @21;
  offline @22;
  wrongServer @23;
  protocol @24;
}

# A call refused as a whole fails with an exception whose description is
# "hills error <ErrorCode number>: <message>" (hills/protocol.h reads it).

interface Gate {
  # All a client can reach before it is known. The server reads messages
  # with tight size limits until a hello succeeds.
  hello @0 (hello :Hello) -> (session :Session, server :ServerInfo);
}

struct Hello {
  client @0 :Text;            # the client's name, as the server's config lists it
  token @1 :Text;
  pinnedServer @2 :Text;      # uuid of the server this replica belongs to; empty at first contact
  protocol @3 :UInt32;        # protocolVersion of the client
  schemas @4 :List(Meta.TreeSchema);  # the trees the client uses
  trees @5 :List(Text);
  # The trees this replica follows (a partial replica); empty: every tree.
  # Each must be a tree the server holds and the client may read, or the
  # hello is refused (denied, unknownTree). Pull, subscribe, snapshot and
  # listBorrows then carry these trees only; ids, push, check-out, release,
  # new revision and lifecycle of another tree are refused (wrongTree).
}

struct ServerInfo {
  uuid @0 :Text;              # the server database's uuid, for the client to pin
  protocol @1 :UInt32;
  lastSequence @2 :UInt64;    # the newest change-log entry when the session began
  permissions @3 :Permissions;
  schemas @4 :List(Meta.TreeSchema);  # every tree the server holds, for a full replica
}

struct Permissions {
  read @0 :Bool;              # pull, subscribe, list borrows
  write @1 :Bool;             # ids, push, check out, release, new revision, lifecycle
  admin @2 :Bool;             # break borrows
}

struct Key {
  tree @0 :Text;
  id @1 :UInt64;
  revision @2 :UInt32;
}

struct Push {
  # One outbox entry of a client.
  key @0 :Key;
  union {
    create @1 :Data;          # a record created offline: its stored value
    checkIn :group {
      fencing @2 :UInt64;
      value @3 :Data;         # the record as edited; empty: unchanged
      removed @4 :Bool;       # the holder removed the draft
      keepBorrow @5 :Bool;
    }
  }
}

struct Outcome {
  # The answer to one request of a batch.
  sequence @0 :UInt64;        # the server's change-log position after it; 0 when refused
  error @1 :Text;             # empty: done; else the refusal's message, for people
  code @2 :ErrorCode;         # what a program reads when refused
}

struct Borrow {
  key @0 :Key;
  holder @1 :Text;
  fencing @2 :UInt64;
  since @3 :Int64;            # nanoseconds since the Unix epoch
}

interface Session {
  grantIds @0 (tree :Text, count :UInt64) -> (start :UInt64, end :UInt64);
  # A fresh id range of the tree for this client. Needs write.

  pull @1 (after :UInt64, limit :UInt32) -> (changes :List(Record.Change), last :UInt64,
                                             through :UInt64);
  # Change-log entries after `after`, at most `limit`; `last` is the newest
  # sequence the server has. Sequence numbers between two entries are
  # missing where compaction dropped entries that later ones superseded,
  # and, in a partial session, where entries of trees it does not follow
  # were left out. `through`: the answer covers the log up to there (a
  # pull goes on after it; 0 from a server speaking protocol 3: after the
  # last entry). Needs read.

  subscribe @2 (after :UInt64, listener :Listener) -> (subscription :Subscription);
  # Calls listener.changes with every entry after `after`, then with every
  # new one, in order, waiting for each call to return before the next
  # (flow control). Dropping the subscription ends it. Needs read.

  push @3 (items :List(Push)) -> (outcomes :List(Outcome));
  # Records created offline and check-ins, each stored or refused on its
  # own, all committed durably before the answer. Needs write.

  checkOut @4 (keys :List(Key)) -> (borrows :List(Borrow), outcomes :List(Outcome));
  # Borrows for the client; a refusal of one key names its holder. Needs write.

  release @5 (key :Key) -> (outcome :Outcome);
  newRevision @6 (key :Key) -> (revision :UInt32, fencing :UInt64, outcome :Outcome);
  # The new draft revision is checked out to the caller.
  setLifecycle @7 (key :Key, lifecycle :UInt32) -> (outcome :Outcome);
  # Need write; refused while another client holds the record.

  listBorrows @8 () -> (borrows :List(Borrow));
  # Needs read.

  breakBorrow @9 (key :Key) -> (borrow :Borrow, outcome :Outcome);
  # Needs admin: logged, and an event on every client.

  lastSequence @10 () -> (last :UInt64);
  # The newest change-log entry the server has committed. Needs read.

  claimIds @11 (tree :Text, start :UInt64, end :UInt64) -> (outcome :Outcome);
  # Asks the server to confirm ids [start, end) of the tree, which a replica
  # claimed at random before it had ever reached the server (ids from
  # hills::kClaimableIds = 2^62 up, at most the server's idBlock of them),
  # as granted to this client. The same claim by the same client is
  # confirmed again (an answer may be lost). Refused in the outcome:
  # alreadyExists when any of the ids was granted before, invalidArgument
  # for a range outside the claimable ids or too large. Needs write.

  snapshot @12 () -> (snapshot :Snapshot, sequence :UInt64, records :UInt64);
  # Every record of every tree and every borrow as the server held them
  # after change `sequence`, read in one read transaction: how a fresh
  # replica starts, before it subscribes after `sequence`. One at a time
  # per session. Needs read. A partial session gets its trees only.

  fetch @13 (wanted :List(Wanted)) -> (records :List(Fetched), last :UInt64);
  # Reads records of any tree the client may read, whether the session
  # follows it or not: what a partial replica does to follow a reference
  # into a tree it does not hold. One Fetched per Wanted, in order; `last`
  # is the server's sequence when it read them. Refused as a whole (denied)
  # when a tree is one the client may not read, unknownTree when the server
  # has no such tree, invalidArgument past maxFetch keys. Needs read.
}

const maxFetch :UInt32 = 1024;  # the most records one Session.fetch asks for

struct Wanted {
  key @0 :Key;
  newest @1 :Bool;            # the newest revision of key.id (key.revision unused)
}

struct Fetched {
  key @0 :Key;                # the record's key (for `newest`, the revision found)
  found @1 :Bool;             # false: no such record (value and origin empty)
  value @2 :Data;             # the stored value
  origin @3 :Text;            # the client that made it as it is
}

interface Snapshot {
  next @0 () -> (part :Data, done :Bool);
  # The next part of the snapshot: a SnapshotPart message in Cap'n Proto's
  # standard framing, as the server spooled it (sent as bytes, so the
  # server copies it once); `done` (with no part) after the last.
}

struct SnapshotPart {
  # Records of one tree (about 1 MiB of them), or borrows.
  tree @0 :Text;
  records @1 :List(SnapshotRecord);
  borrows @2 :List(Borrow);
}

struct SnapshotRecord {
  id @0 :UInt64;
  revision @1 :UInt32;
  value @2 :Data;             # the stored value
  origin @3 :Text;            # the client that made it as it is (its author)
}

interface Listener {
  changes @0 (changes :List(Record.Change), last :UInt64, after :UInt64, through :UInt64) -> ();
  # Every entry the log keeps after `after` up to `through`, in order (of
  # the session's trees); the numbers between that are missing were dropped
  # by compaction or are of trees a partial session does not follow. The
  # replica's cursor moves to `through` (0 from a server speaking protocol
  # 3: to the last entry). Returns once the client has applied them.
}

interface Subscription {}

# The internal tables sync keeps in a database, beside its trees: on the
# server _borrows and _grants, on a client _borrows (its mirror of the
# server's), _outbox and _conflicts. Keys name a record (hills::recordKey).
@0xc967c915bc0ad54a;

using Cxx = import "/capnp/c++.capnp";
using Record = import "/hills/record.capnp";
$Cxx.namespace("hills::sync");

struct StoredBorrow {
  # A record checked out to one client (_borrows on the server, and the
  # mirror every client keeps of it).
  holder @0 :Text;     # the client's name
  fencing @1 :UInt64;  # grows with every grant; a check-in must carry it
  since @2 :Int64;     # nanoseconds since the Unix epoch
  returning @3 :Bool;  # client side: a check-in of it waits in the outbox
}

struct Grant {
  # An id range the server granted a client (_grants, server side).
  start @0 :UInt64;
  end @1 :UInt64;      # one past the last id
  grantee @2 :Text;
}

struct OutboxEntry {
  # A local change the server has not acknowledged yet (_outbox, client side).
  kind @0 :Kind;
  enum Kind {
    create @0;         # a record created here; its current value is pushed
    checkIn @1;        # a borrow being returned, with the record as it is now
  }
  sent @1 :Bool;       # unused: pushes are marked in memory
  keepBorrow @2 :Bool; # checkIn: keep the borrow after the check-in
  queued @3 :Int64;    # unused since entries are told apart by `serial`
  fencing @4 :UInt64;  # checkIn: the fencing number of the borrow it returns
  serial @5 :UInt64;   # grows with every entry the replica queues
}

struct Conflict {
  # A local edit kept when the server did not take it (_conflicts, client
  # side). The key is the record's followed by the copy's serial number.
  value @0 :Data;      # the record as this client had edited it; empty: removed
  brokenBy @1 :Text;   # who broke the borrow, or why the server refused it
  time @2 :Int64;      # nanoseconds since the Unix epoch, for people to read
  fencing @3 :UInt64;  # of the broken borrow
}

struct Quarantined {
  # A change of the server's log that this replica could not apply
  # (_quarantine, client side): its value did not decode as a record of the
  # tree, or an indexer of this program refused it. The key is the record's
  # followed by the change's sequence number (8 bytes, big-endian). It is
  # applied again when the program opens the replica, when a later change
  # of the same record arrives, and on Client::retryQuarantine().
  change @0 :Record.Change;
  code @1 :UInt16;     # the hills::ErrorCode of the refusal
  reason @2 :Text;     # its message
  since @3 :Int64;     # nanoseconds since the Unix epoch: first refused
  tries @4 :UInt32;    # applications tried, the first included
}

struct LogHead {
  # The newest change-log entry of one record (_logHeads, server side; the
  # key is a stream byte, "d" for the record's data or "b" for its borrows,
  # then the record's key), and in _superseded (keyed by an older entry's
  # sequence, 8 bytes big-endian) the entry that made it useless.
  sequence @0 :UInt64;
  kind @1 :UInt16;     # the entry's record.capnp ChangeKind (or sync.capnp's borrow kinds)
}

# Contents of the _meta DBI.
@0xe1a76048801ae2d7;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("hills::wire");

using Schema = import "/capnp/schema.capnp";

struct TreeSchema {
  # The schema of one tree, complete enough to decode its records without
  # compiled types: the record struct and every struct and enum it uses.
  tree @0 :Text;
  typeId @1 :UInt64;
  versioned @2 :Bool;
  nodes @3 :List(Schema.Node);
}

struct IdRange {
  next @0 :UInt64;     # next id to hand out
  end @1 :UInt64;      # one past the last id of the range
}

struct IdRanges {
  ranges @0 :List(IdRange);   # used in order; empty ones are dropped
}

struct Borrow {
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
  sent @1 :Bool;       # unused: pushes are kept in memory (WriteTxn::markSent)
  keepBorrow @2 :Bool; # checkIn: keep the borrow after the check-in
  queued @3 :Int64;    # nanoseconds since the Unix epoch
  fencing @4 :UInt64;  # checkIn: the fencing number of the borrow it returns
}

struct Conflict {
  # A local edit kept when its borrow was broken (_conflicts, client side).
  value @0 :Data;      # the record as this client had edited it; empty: removed
  brokenBy @1 :Text;   # who broke the borrow
  time @2 :Int64;      # nanoseconds since the Unix epoch
  fencing @3 :UInt64;  # of the broken borrow
}

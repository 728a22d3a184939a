# How hills stores a record: one single-segment message per LMDB value.
@0x8eb7814ef70f98e5;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("hills::wire");

enum State {
  draft @0;      # may be updated and removed
  released @1;   # frozen: data never changes again, cannot be removed
}

struct Envelope {
  state @0 :State;
  lifecycle @1 :UInt32;        # application state of a released record
  typeId @2 :UInt64;           # Cap'n Proto type id of the body
  created @3 :Int64;           # nanoseconds since the Unix epoch
  modified @4 :Int64;          # nanoseconds since the Unix epoch
  author @5 :Text;
  dataIteration @6 :UInt32;    # bumped on every change of the body
  metaIteration @7 :UInt32;    # bumped on every change of state or lifecycle
  body @8 :AnyPointer;         # the record struct
}

enum ChangeKind {
  # What a change did; the same kinds as hills::EventKind. Values from 6 up
  # are kinds of write hooks (entries they add about a record they did not
  # change); the sync protocol's are listed in sync.capnp (SyncKind).
  created @0;
  updated @1;
  removed @2;
  released @3;
  newRevision @4;
  lifecycleChanged @5;
}

struct Change {
  # One entry of the change log (_log): a committed change of one record.
  sequence @0 :UInt64;         # the entry's key: increases by one per change
  kind @1 :ChangeKind;
  tree @2 :Text;
  id @3 :UInt64;
  revision @4 :UInt32;
  origin @5 :Text;             # empty: this database; else the client it came from
  time @6 :Int64;              # nanoseconds since the Unix epoch
  value @7 :Data;              # the stored value after the change; empty for a removal
  note @8 :Text;               # a hook's kind: what the entry says beyond the record
  number @9 :UInt64;           # a hook's kind: a number it carries
}

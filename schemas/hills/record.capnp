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

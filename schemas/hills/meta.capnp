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

# Version 2 of the record type of evolve_v1.capnp: fields added at the end.
@0xcf10b9fbeb21909b;
using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("evolve::capnp");
$Hills.namespace("evolve");

struct Item $Hills.tree("items") {
  name @0 :Text;
  count @1 :UInt32;
  note @2 :Text;
  weight @3 :Float64;
  priority @4 :UInt16;   # fits in the padding of v1's data word: the struct does not grow
}

struct Tag $Hills.tree("tags") {
  label @0 :Text;
  level @1 :UInt8;
  code @2 :UInt16;   # only padding of v1's data word: the struct keeps its size
}

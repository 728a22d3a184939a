# An incompatible version of evolve_v1.capnp: the type of `count` changed.
@0xcf10b9fbeb21909b;
using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("evolve::capnp");
$Hills.namespace("evolve");

struct Item $Hills.tree("items") {
  name @0 :Text;
  count @1 :Text;
}

struct Tag $Hills.tree("tags") {
  label @0 :Text;
  level @1 :UInt8;
}

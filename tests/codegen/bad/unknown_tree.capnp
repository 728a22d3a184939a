# A Ref into a tree that no struct declares.
@0xb1263a81505010ec;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("bad::capnp");
$Hills.namespace("bad");

struct Item $Hills.tree("items") {
  owner @0 :List(Hills.Ref) $Hills.ref("partz");
}

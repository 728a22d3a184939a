# A tree with a group.
@0x94b1387b3cd2e48c;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("bad::capnp");
$Hills.namespace("bad");

struct Part $Hills.tree("parts") {
  size :group {
    width @0 :Float32;
    height @1 :Float32;
  }
}

# A tree with an AnyPointer.
@0xe3e35184fca12060;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("bad::capnp");
$Hills.namespace("bad");

struct Part $Hills.tree("parts") {
  extra @0 :AnyPointer;
}

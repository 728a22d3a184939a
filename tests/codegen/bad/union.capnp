# A tree with a named union.
@0x8ac5f55fc75d49e2;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("bad::capnp");
$Hills.namespace("bad");

struct Part $Hills.tree("parts") {
  number @0 :Text;
  shape :union {
    circle @1 :Float32;
    square @2 :Float32;
  }
}

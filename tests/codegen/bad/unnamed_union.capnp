# A tree with an unnamed union.
@0xa1b89465f0d5ae5d;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("bad::capnp");
$Hills.namespace("bad");

struct Part $Hills.tree("parts") {
  number @0 :Text;
  union {
    circle @1 :Float32;
    square @2 :Float32;
  }
}

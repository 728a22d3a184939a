# A tree that holds a struct with a union.
@0xb4fd0f865a4e9fca;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("bad::capnp");
$Hills.namespace("bad");

struct Shape {
  union {
    circle @0 :Float32;
    square @1 :Float32;
  }
}

struct Part $Hills.tree("parts") {
  shapes @0 :List(Shape);
}

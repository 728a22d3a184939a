# Imported by kinds.capnp: a struct used by value across files, and a tree
# that kinds.capnp refers to.
@0xdbcd9b22660e7640;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("shared::capnp");
$Hills.namespace("shared");

struct Point {
  x @0 :Float64;
  y @1 :Float64;
}

struct Owner $Hills.tree("owners") {
  name @0 :Text;
}

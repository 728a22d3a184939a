# A struct that holds itself by value.
@0x82f7fdcdf5c779d7;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("bad::capnp");
$Hills.namespace("bad");

struct Node $Hills.tree("nodes") {
  name @0 :Text;
  next @1 :Node;
}

# The record structs' namespace is Cap'n Proto's.
@0xe1e62b618fa9303c;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("bad::capnp");
$Hills.namespace("bad::capnp");

struct Part $Hills.tree("parts") {
  name @0 :Text;
}

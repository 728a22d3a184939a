# Two structs in one tree.
@0xce33eac3e6699705;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("bad::capnp");
$Hills.namespace("bad");

struct Part $Hills.tree("parts") {
  name @0 :Text;
}

struct OtherPart $Hills.tree("parts") {
  name @0 :Text;
}

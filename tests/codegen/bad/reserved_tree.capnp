# A tree name reserved for hills.
@0xaf0613e136ab6fb4;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("bad::capnp");
$Hills.namespace("bad");

struct Meta $Hills.tree("_meta") {
  name @0 :Text;
}

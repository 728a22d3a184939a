# A Ref that does not say which tree it points into.
@0xf1e4ea4ec697abc9;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("bad::capnp");
$Hills.namespace("bad");

struct Part $Hills.tree("parts") {
  name @0 :Text;
}

struct Item $Hills.tree("items") {
  owner @0 :Hills.Ref;
}

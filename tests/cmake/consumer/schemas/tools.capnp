@0xf238e354852dce6e;
using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("shop::capnp");
$Hills.namespace("shop");

struct Tool $Hills.tree("tools") {
  name @0 :Text;
  slot @1 :UInt32;
}

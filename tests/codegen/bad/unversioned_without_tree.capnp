# Unversioned without a tree.
@0xcf562109fd386c40;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("bad::capnp");
$Hills.namespace("bad");

struct Level $Hills.unversioned {
  count @0 :UInt32;
}

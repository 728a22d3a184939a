# Trees, but no namespace for the record structs.
@0xfef60573a9f07f6a;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("bad::capnp");

struct Part $Hills.tree("parts") {
  name @0 :Text;
}

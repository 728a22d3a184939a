# A tree with a capability.
@0xeae2535f54ebacbf;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("bad::capnp");
$Hills.namespace("bad");

interface Notifier {
  notify @0 ();
}

struct Part $Hills.tree("parts") {
  notifier @0 :Notifier;
}

# Annotations that turn Cap'n Proto structs into hills record types.
#
#   using Hills = import "/hills/hills.capnp";
#   $Hills.namespace("plm");                    # C++ namespace of the record structs
#   struct Part $Hills.tree("parts") { ... }    # one tree per record type
#   struct Stock $Hills.tree("stock") $Hills.unversioned { ... }
#   struct Bom $Hills.tree("boms") {
#     assembly @0 :Hills.Ref $Hills.ref("parts");   # typed hills::Key<Part>
#   }
@0xc912d10be7aab699;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("hills::schema");

annotation tree @0xc241038c4b0d87b6 (struct) :Text;
# Marks a struct as a record type stored in the tree of that name. Tree names
# are unique in a database; names starting with '_' are reserved.

annotation unversioned @0xfb9c09074cfc5476 (struct) :Void;
# The tree keeps one revision (0) per id, edited in place and never released:
# stock levels, machine state and the like.

annotation ref @0xa6b1e0c58c9c0a93 (field) :Text;
# On a field of type Ref or List(Ref): the tree the reference points into.
# The generated field is hills::Key<Target> (or a vector of them).

annotation namespace @0xbd8e76badbd42c1a (file) :Text;
# C++ namespace of the generated record structs. It must differ from the
# file's $Cxx.namespace, which holds Cap'n Proto's own generated classes.

struct Ref {
  # A reference to a record of another tree; id 0 means "no record".
  id @0 :UInt64;
  revision @1 :UInt32;
}

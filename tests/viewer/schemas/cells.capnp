# Lists of every element type, and pointers with defaults of their own
# (also inside a group and a union), for the tests of hills-viewer's cell
# text and the cell fuzz target. Not a tree: cells are written from a
# schema, not from a database.
@0xa3df6e9b513bf37a;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
$Cxx.namespace("cells");

struct Cells {
  voids @0 :List(Void);
  bools @1 :List(Bool);
  i8 @2 :List(Int8);
  i16 @3 :List(Int16);
  i32 @4 :List(Int32);
  i64 @5 :List(Int64);
  u8 @6 :List(UInt8);
  u16 @7 :List(UInt16);
  u32 @8 :List(UInt32);
  u64 @9 :List(UInt64);
  f32 @10 :List(Float32);
  f64 @11 :List(Float64);
  texts @12 :List(Text);
  datas @13 :List(Data);
  colours @14 :List(Colour);
  inners @15 :List(Inner);
  refs @16 :List(Hills.Ref) $Hills.ref("parts");
  grid @17 :List(List(Int16));

  defaultInner @18 :Inner = (a = 7, b = "seven");
  defaultRef @19 :Hills.Ref = (id = 42, revision = 1) $Hills.ref("parts");
  defaultInners @20 :List(Inner) = [(a = 1), (b = "two")];
  defaultData @21 :Data = 0x"ca fe";
  defaultFloats @22 :List(Float64) = [0.5, -1e20];

  group :group {
    xs @23 :List(Float32) = [1.5];
    label @24 :Text = "in a group";
  }
  union {
    none @25 :Void;
    picked @26 :List(UInt16) = [1, 2];
  }

  enum Colour {
    red @0;
    green @1;
  }

  struct Inner {
    a @0 :UInt16;
    b @1 :Text;
  }
}

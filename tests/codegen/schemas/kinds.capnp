# Every field kind capnpc-hills supports, with non-zero defaults of every
# kind that can have one, names that are C++ keywords, $Cxx.name, fields
# declared out of ordinal order, structs used before they are declared, and a
# struct with a union that no tree uses (skipped).
@0xbc3534fb6137bc0d;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";
using Shared = import "shared.capnp";
$Cxx.namespace("kinds::capnp");
$Hills.namespace("kinds::records");

enum Colour {
  red @0;
  green @1;
  blue @2;
}

struct Sample $Hills.tree("samples") {
  flag @0 :Bool = true;
  i8 @1 :Int8 = -128;
  i16 @2 :Int16 = -32768;
  i32 @3 :Int32 = -2147483648;
  i64 @4 :Int64 = -9223372036854775808;
  u8 @5 :UInt8 = 255;
  u16 @6 :UInt16 = 65535;
  u32 @7 :UInt32 = 4294967295;
  u64 @8 :UInt64 = 18446744073709551615;
  f32 @9 :Float32 = 1.5;
  f64 @10 :Float64 = -0.1;
  huge @11 :Float64 = inf;
  colour @12 :Colour = blue;
  label @13 :Text = "say \"hi\"\n";
  blob @14 :Data = 0x"01 02 ff";
  numbers @15 :List(Int32) = [1, -2, 3];
  words @16 :List(Text) = ["a", "b"];
  colours @17 :List(Colour) = [green, red];
  flags @18 :List(Bool);
  blobs @19 :List(Data);
  bytes @20 :List(UInt8);
  byteLists @21 :List(List(UInt8));
  grid @22 :List(List(Text));
  cube @23 :List(List(List(Int16)));
  inner @24 :Inner;
  inners @25 :List(Inner);
  point @26 :Shared.Point;
  owner @27 :Hills.Ref $Hills.ref("owners");
  previous @28 :Hills.Ref $Hills.ref("samples");
  class @29 :Text;
  renamed @30 :UInt32 $Cxx.name("renamedInCxx");
  late @32 :Int32;
  early @31 :Int32;
  notANumber @33 :Float32 = nan;
  holder @34 :Holder;
  owners @35 :List(Hills.Ref) $Hills.ref("owners");

  struct Inner {
    children @0 :List(Inner);
    mode @1 :Mode = onDemand;
    enum Mode {
      off @0;
      onDemand @1;
    }
  }
}

struct Holder {
  # Holds Later by value although Later is declared after it.
  later @0 :Later;
}

struct Later {
  value @0 :UInt8 = 7;
}

struct Message {
  # A union, but no tree uses it: the header only mentions it.
  union {
    empty @0 :Void;
    text @1 :Text;
  }
}

# Every kind of field JSON has to write, for the tests that compare hills'
# JSON with Cap'n Proto's JSON codec. A plain Cap'n Proto schema (records
# of hills have no unions or groups; stored schemas of other programs may).
@0xc3a81e5f7b2d9e41;

struct Shapes {
  nothing @0 :Void;
  flag @1 :Bool = true;
  i8 @2 :Int8 = -3;
  i16 @3 :Int16;
  i32 @4 :Int32 = 100000;
  i64 @5 :Int64 = -7;
  u8 @6 :UInt8;
  u16 @7 :UInt16 = 65535;
  u32 @8 :UInt32;
  u64 @9 :UInt64 = 12345678901234567890;
  f32 @10 :Float32 = 1.5;
  f64 @11 :Float64;
  text @12 :Text;
  data @13 :Data;
  color @14 :Color = green;
  inner @15 :Inner;
  texts @16 :List(Text);
  datas @17 :List(Data);
  inners @18 :List(Inner);
  matrix @19 :List(List(Float64));
  colors @20 :List(Color);
  bools @21 :List(Bool);
  voids @22 :List(Void);
  bigs @23 :List(UInt64);
  smalls @24 :List(Int8);
  floats @25 :List(Float32);
  nested @26 :List(List(Inner));
  choice :union {
    none @27 :Void;
    label @28 :Text;
    count @29 :UInt32;
    detail @30 :Inner;
    box :group {
      width @31 :Float32;
      height @32 :Float32;
    }
  }
  place :group {
    x @33 :Int32;
    y @34 :Int32 = -1;
    name @35 :Text;
  }
  union {
    first @36 :Text;
    second @37 :Int16;
    third @38 :List(Int32);
  }
  self @39 :Shapes;
  words @40 :List(List(Text));

  enum Color {
    red @0;
    green @1;
    blue @2;
  }

  struct Inner {
    a @0 :UInt16;
    b @1 :Text;
    c @2 :List(Inner);
  }
}

struct WithAny {
  # A field JSON cannot write: the codec refuses it when it is set.
  n @0 :UInt8;
  any @1 :AnyPointer;
}

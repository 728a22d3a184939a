# The example schema of hills: a small product-lifecycle (PLM) data model,
# used by the tests, the demo and the benchmark. Between them its structs use
# every field kind that capnpc-hills supports.
@0x9a918d7d4b3f4eba;

using Cxx = import "/capnp/c++.capnp";
using Hills = import "/hills/hills.capnp";

$Cxx.namespace("plm::capnp");   # Cap'n Proto's classes: plm::capnp::Part
$Hills.namespace("plm");        # hills' record structs:  plm::Part

struct Part $Hills.tree("parts") {
  # An item that can be bought, made or assembled.

  number @0 :Text;              # the part number, e.g. "P-000042"
  name @1 :Text;
  description @2 :Text;
  kind @3 :Kind;
  mass @4 :Float64;             # kilograms
  unitCost @5 :Float32;         # in the company's currency
  leadTimeDays @6 :UInt16;
  makeable @7 :Bool;            # the factory can make it itself
  dimensions @8 :Dimensions;
  tags @9 :List(Text);
  drawing @10 :Data;            # a thumbnail of the drawing
  minTemperature @11 :Int8 = -40;   # operating range, degrees Celsius
  maxTemperature @12 :Int16 = 85;
  toleranceMicrons @13 :Int32;
  introducedAt @14 :Int64;      # unix milliseconds
  moistureLevel @15 :UInt8;     # moisture sensitivity level of electronic parts (0: none)
  minOrderQuantity @16 :UInt32 = 1;
  gtin @17 :UInt64;             # global trade item number (barcode), 0 if none
  supplierIds @18 :List(UInt32);
  compliance @19 :List(Compliance);

  enum Kind {
    purchased @0;
    manufactured @1;
    assembly @2;
    software @3;
  }

  enum Compliance {
    rohs @0;
    reach @1;
    ul @2;
    ce @3;
  }

  struct Dimensions {
    # Bounding box, millimetres.
    length @0 :Float32;
    width @1 :Float32;
    height @2 :Float32;
  }
}

struct Bom $Hills.tree("boms") {
  # The bill of materials of an assembly: what goes into it, and how many.

  assembly @0 :Hills.Ref $Hills.ref("parts");
  lines @1 :List(Line);
  notes @2 :Text;
  interchangeable @3 :List(List(Hills.Ref)) $Hills.ref("parts");
  # Groups of parts that may replace each other anywhere in this assembly.

  struct Line {
    part @0 :Hills.Ref $Hills.ref("parts");
    quantity @1 :Float64;
    designators @2 :List(Text);   # reference designators: "R1", "C12"...
  }
}

struct StockItem $Hills.tree("stock") $Hills.unversioned {
  # How many of a part lie at one storage location. Edited in place.

  part @0 :Hills.Ref $Hills.ref("parts");
  location @1 :Text;            # e.g. "A-03-2"
  quantity @2 :Int64;
  serials @3 :List(Text);
  alternates @4 :List(Hills.Ref) $Hills.ref("parts");
  lastCounted @5 :Int64;        # unix milliseconds
  inspection @6 :List(Bool);    # results of the incoming inspection steps
  photos @7 :List(Data);        # photos of the labels
}

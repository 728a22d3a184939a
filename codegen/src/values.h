// Schema default values as C++ expressions, for the aggregates' default
// member initialisers.
#pragma once

#include <capnp/dynamic.h>
#include <capnp/schema.capnp.h>
#include <capnp/schema.h>

#include <functional>
#include <string>

namespace hills::codegen {

// The default value of a field of `type` (scalar, enum, text, data, list),
// as the dynamic API sees it. Valid as long as the schema is loaded.
capnp::DynamicValue::Reader defaultValue(capnp::Type type, capnp::schema::Value::Reader value);

// Whether `value` is what a value-initialised C++ member holds: 0, false,
// the first enumerant, empty text, data or list. Such defaults need no
// initialiser, and a null pointer stands for them.
bool isZero(capnp::Type type, capnp::DynamicValue::Reader value);

// `value` as a C++ expression that initialises a member of the generated
// type: -40, 1.5f, "text", {1, 2}, ::plm::capnp::Part::Kind::ASSEMBLY.
// capnpName names an enum's generated class. Lists of structs or lists of
// lists are not handled (the model refuses their defaults).
std::string valueText(capnp::Type type, capnp::DynamicValue::Reader value,
                      const std::function<std::string(capnp::Schema)>& capnpName);

}  // namespace hills::codegen

// Writing Cap'n Proto values as JSON: the encoding of Cap'n Proto's JSON
// codec (capnp-json, no handlers, compact), written straight into a string
// instead of through the codec's JsonValue tree.
#pragma once

#include <capnp/any.h>
#include <capnp/schema.h>

#include <memory>
#include <string>

namespace hills::detail {

struct JsonPlans;

// How values of a struct type are written, worked out once from its schema
// (kept in TreeState::json, next to the schema).
std::shared_ptr<const JsonPlans> planJson(capnp::StructSchema schema);

// The schema the plans were made from.
capnp::StructSchema jsonSchema(const JsonPlans& plans);

// Appends `value`, a struct of the plans' schema, as JSON: what
// capnp::JsonCodec().encode(value) returns. Throws kj::Exception when the
// value does not decode, as the codec does.
void writeJson(std::string& out, const JsonPlans& plans, capnp::AnyStruct::Reader value);

// Appends the bytes as a JSON string, quotes included, escaped as the codec
// escapes Text.
void writeJsonString(std::string& out, const char* text, std::size_t size);

// Appends the value of one field of `value` (the field's index in the
// schema's fields) as the JSON of the whole struct holds it after the
// field's name; `null` for a pointer field that is null or a union member
// that is not the active one.
void writeJsonField(std::string& out, const JsonPlans& plans, capnp::AnyStruct::Reader value,
                    unsigned fieldIndex);

}  // namespace hills::detail

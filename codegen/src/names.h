// C++ spelling of schema names and values, as Cap'n Proto's C++ generator
// spells them (so that our code calls the accessors it generated).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hills::codegen {

// A name made safe to declare in C++: keywords get a trailing '_', as
// capnpc-c++ does for its own identifiers.
std::string safeIdentifier(std::string_view name);

// "leadTimeDays" -> "LeadTimeDays": the suffix of capnp's getX/setX/initX.
std::string titleCase(std::string_view name);

// "makeToOrder" -> "MAKE_TO_ORDER": capnp's C++ enumerant names.
std::string upperCase(std::string_view name);

// Splits "a::b::c" (a leading "::" is allowed) into its parts. Returns an
// empty vector when the text is not a valid C++ namespace name.
std::vector<std::string> splitNamespace(std::string_view ns);

// A C++ string literal holding exactly `text`.
std::string stringLiteral(std::string_view text);

// "x.capnp" -> "x", so that the record header is "x.hills.h".
std::string stripCapnpExtension(std::string_view path);

// The last component of a '/'-separated path.
std::string baseName(std::string_view path);

// "0x9a918d7d4b3f4ebaull".
std::string hexId(std::uint64_t id);

}  // namespace hills::codegen

// Included first in every file of a clang build (the fuzz targets):
// Cap'n Proto 0.9's capnp/common.h makes capnp::word non-copyable under
// clang but copyable under gcc 8 and later, and hills copies words
// (std::vector<capnp::word>) as gcc allows. This includes that header with
// the compiler seen as gcc for the definition of word only: what it
// includes is included first, as it is, and its #pragma once keeps later
// includes from reading it again.
#pragma once

#include <inttypes.h>
#include <kj/memory.h>
#include <kj/string.h>
#include <kj/units.h>
#include <kj/windows-sanity.h>

#pragma push_macro("__clang__")
#pragma push_macro("__GNUC__")
#undef __clang__
#undef __GNUC__
#define __GNUC__ 12
#include <capnp/common.h>
#pragma pop_macro("__GNUC__")
#pragma pop_macro("__clang__")

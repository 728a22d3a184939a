// The binding between a record struct and its tree, written by capnpc-hills.
#pragma once

#include <array>
#include <concepts>
#include <cstdint>
#include <string_view>

namespace hills {

// Specialised by generated headers (<schema>.hills.h) for every struct marked
// $Hills.tree. A specialisation provides:
//
//   using Record  = plm::Part;                  // the plain aggregate
//   using Capnp   = plm::capnp::Part;           // Cap'n Proto's generated class
//   using Reader  = Capnp::Reader;
//   using Builder = Capnp::Builder;
//   static constexpr std::string_view tree = "parts";
//   static constexpr bool versioned = true;     // false for $Hills.unversioned
//   static constexpr std::uint64_t typeId = 0x...;   // Cap'n Proto type id
//   static constexpr std::array<std::string_view, N> fieldNames = {...};
//       // in the aggregate's member order (the schema's declaration order)
//   static void read(Reader in, Record& out);   // replaces every field of out
//   static void write(const Record& in, Builder out);  // sets every field
//
// The primary template is left undefined: a type without a tree is not a record.
template <class T>
struct RecordTraits;

template <class T>
concept TreeRecord = requires {
  { RecordTraits<T>::tree } -> std::convertible_to<std::string_view>;
  { RecordTraits<T>::typeId } -> std::convertible_to<std::uint64_t>;
  { RecordTraits<T>::versioned } -> std::convertible_to<bool>;
  typename RecordTraits<T>::Reader;
  typename RecordTraits<T>::Builder;
};

}  // namespace hills

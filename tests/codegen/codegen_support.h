// Helpers for the code generator's tests: round trips through Cap'n Proto
// and field-by-field comparison of generated aggregates.
#pragma once

#include <capnp/message.h>

#include <boost/pfr.hpp>
#include <catch2/catch.hpp>
#include <cstddef>
#include <string>
#include <utility>

#include "hills/codec.h"
#include "hills/record_traits.h"

namespace hills::test {

// Writes `in` into a fresh message and reads it back into a new aggregate.
template <class T>
T roundTrip(const T& in) {
  capnp::MallocMessageBuilder message;
  Codec<T>::write(in, message.initRoot<typename T::Capnp>());
  T out{};
  Codec<T>::read(message.getRoot<typename T::Capnp>().asReader(), out);
  return out;
}

template <class T>
std::string fieldName(std::size_t i) {
  if constexpr (TreeRecord<T>) {
    return std::string(RecordTraits<T>::fieldNames[i]);
  } else {
    return "#" + std::to_string(i);
  }
}

template <std::size_t I, class T>
void checkField(const T& actual, const T& expected) {
  INFO("field " << fieldName<T>(I));
  CHECK((boost::pfr::get<I>(actual) == boost::pfr::get<I>(expected)));
}

template <class T, std::size_t... I>
void checkFields(const T& actual, const T& expected, std::index_sequence<I...>) {
  (checkField<I>(actual, expected), ...);
}

// Checks every field of two aggregates (Boost.PFR), naming each that differs.
template <class T>
void checkSameFields(const T& actual, const T& expected) {
  checkFields(actual, expected, std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
  CHECK(boost::pfr::eq(actual, expected));
}

}  // namespace hills::test

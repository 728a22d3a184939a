// Conversions between record aggregates and Cap'n Proto, used by the headers
// that capnpc-hills generates (<schema>.hills.h). Application code calls
// hills::RecordTraits<T>::read/write, or these directly for nested structs.
//
// Mapping (schema type -> aggregate member):
//   Bool, Int8..UInt64, Float32/64 -> bool, std::int8_t..std::uint64_t, float, double
//   enum                           -> Cap'n Proto's generated enum class
//   Text                           -> std::string
//   Data                           -> std::vector<std::uint8_t>
//   struct                         -> its generated aggregate
//   Hills.Ref $Hills.ref("tree")   -> hills::Key<Record of that tree>
//   List(X)                        -> std::vector<X'> (std::vector<bool> for List(Bool))
#pragma once

#include <capnp/blob.h>
#include <capnp/list.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "hills/error.h"
#include "hills/key.h"
#include "hills/ref.h"

namespace hills {

// Converts the generated aggregate T from and to its Cap'n Proto struct.
// Generated headers specialise it for every aggregate they define:
//
//   static void read(typename T::Reader in, T& out);
//       Replaces every field of out with the value in `in` (absent pointer
//       fields read as their schema defaults). Throws kj::Exception when the
//       message is malformed, as Cap'n Proto's accessors do.
//   static void write(const T& in, typename T::Builder out);
//       Sets every field of `out` that T knows. Fields that T does not know
//       (written by a newer schema and copied into `out`) are left as they
//       are, at the top level and inside nested struct fields; lists are
//       always written afresh, so unknown fields inside list elements are not
//       kept. Empty text, data, lists and null keys of fields without a
//       schema default, and nested structs that hold their defaults (unless
//       already present), are stored as null pointers, which read back as
//       those values.
//       Throws Error(kInvalidArgument) for a list longer than Cap'n Proto
//       allows, kj::Exception for other limits (text over 512 MiB).
//
// The primary template is undefined.
template <class T>
struct Codec;

namespace codec {

// A generated aggregate: it names its Cap'n Proto class.
template <class T>
concept Aggregate = requires {
  typename T::Capnp;
  typename T::Reader;
  typename T::Builder;
};

template <class T>
inline constexpr bool isVector = false;
template <class E, class A>
inline constexpr bool isVector<std::vector<E, A>> = true;

template <class T>
inline constexpr bool isKey = false;
template <class T>
inline constexpr bool isKey<Key<T>> = true;

// Views for Cap'n Proto setters; valid while the argument lives unchanged.
inline ::capnp::Text::Reader text(const std::string& s) {
  return ::capnp::Text::Reader(s.data(), s.size());
}
inline ::capnp::Data::Reader data(const std::vector<std::uint8_t>& v) {
  return ::capnp::Data::Reader(v.data(), v.size());
}

// The element count of a list to write. Cap'n Proto counts list elements in
// 29 bits; a longer vector would silently wrap, so it is refused here.
template <class E, class A>
unsigned listSize(const std::vector<E, A>& v) {
  constexpr std::size_t kMax = (std::size_t{1} << 29) - 1;
  if (v.size() > kMax) {
    throw Error(ErrorCode::kInvalidArgument, "a list of " + std::to_string(v.size()) +
                                                 " elements is longer than Cap'n Proto allows (" +
                                                 std::to_string(kMax) + ")");
  }
  return static_cast<unsigned>(v.size());
}

// Whether a pointer field holding this value can be left null: Cap'n Proto
// reads a null pointer back as the empty value (for fields without a default).
inline bool isEmpty(const std::string& s) { return s.empty(); }
template <class E, class A>
bool isEmpty(const std::vector<E, A>& v) {
  return v.empty();
}
template <class T>
bool isEmpty(const Key<T>& k) {
  return k.id == 0 && k.revision == 0;
}

// Whether a nested aggregate holds its schema defaults, as a null struct
// pointer reads (struct fields cannot have defaults of their own in hills).
template <Aggregate T>
bool isDefault(const T& v) {
  return v == T{};
}

// ---- reading: read(reader value, aggregate member) -------------------------
// Every overload replaces `out` entirely.

template <class V>
requires std::is_arithmetic_v<V> || std::is_enum_v<V>
void read(V in, V& out) { out = in; }

inline void read(::capnp::Text::Reader in, std::string& out) { out.assign(in.cStr(), in.size()); }

inline void read(::capnp::Data::Reader in, std::vector<std::uint8_t>& out) {
  out.assign(in.begin(), in.end());
}

// A Hills.Ref struct (id, revision) read as a typed key.
template <class T>
void read(schema::Ref::Reader in, Key<T>& out) {
  out = keyFrom<T>(in);
}

template <Aggregate T>
void read(typename T::Reader in, T& out) {
  Codec<T>::read(in, out);
}

// Any Cap'n Proto list; elements go through the overloads above (or this one,
// for lists of lists). Declared last so that it sees all of them.
template <class R, class E, class A>
requires requires(R r) {
  r.size();
  r[0u];
}
void read(R in, std::vector<E, A>& out) {
  const unsigned n = in.size();
  out.resize(n);
  for (unsigned i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<E, bool>) {
      out[i] = in[i];  // std::vector<bool> hands out proxies, not bool&
    } else {
      read(in[i], out[i]);
    }
  }
}

// ---- writing: write(aggregate member, builder) -----------------------------
// Scalars, text and data are set by the generated code with the field's own
// setter (setX(v), setX(text(v)), setX(data(v))); these cover what needs a
// builder of its own.

template <Aggregate T>
void write(const T& in, typename T::Builder out) {
  Codec<T>::write(in, out);
}

// A typed key into a Hills.Ref struct builder.
template <class T, class B>
requires requires(B b) {
  b.setId(std::uint64_t{});
  b.setRevision(std::uint32_t{});
}
void write(const Key<T>& in, B out) {
  out.setId(in.id);
  out.setRevision(in.revision);
}

// Fills a list builder that has in.size() elements (from initX(listSize(in))).
template <class E, class A, class B>
void writeList(const std::vector<E, A>& in, B out) {
  const unsigned n = out.size();
  for (unsigned i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<B, ::capnp::List<::capnp::Text>::Builder>) {
      out.set(i, text(in[i]));
    } else if constexpr (std::is_same_v<B, ::capnp::List<::capnp::Data>::Builder>) {
      out.set(i, data(in[i]));  // List(Data) and List(List(UInt8)) share the C++ type
    } else if constexpr (isVector<E>) {
      writeList(in[i], out.init(i, listSize(in[i])));
    } else if constexpr (std::is_arithmetic_v<E> || std::is_enum_v<E>) {
      out.set(i, in[i]);
    } else {
      write(in[i], out[i]);  // aggregates and keys are written in place
    }
  }
}

}  // namespace codec
}  // namespace hills

// The order in which aggregates are defined. C++ needs a struct complete
// before another holds it by value, and nested aggregates are defined inside
// their enclosing one, so each scope is sorted on its own: a struct that a
// sibling's subtree holds by value comes first. Lists need no order
// (std::vector accepts an incomplete element type), nor do keys (hills::Key
// only names its record type), except that a nested record type can only be
// named once its enclosing struct is defined.
#include <map>
#include <set>

#include "model.h"

namespace hills::codegen {

namespace {

struct Index {
  std::map<std::uint64_t, const Struct*> byId;
  std::map<std::uint64_t, std::uint64_t> parent;  // nested struct -> enclosing struct
};

void index(const Struct& s, std::uint64_t parent, Index& out) {
  out.byId[s.id] = &s;
  if (parent != 0) out.parent[s.id] = parent;
  for (const auto& n : s.nested) index(n, s.id, out);
}

// Struct ids that `s` (with its nested structs) needs complete or declared.
void needs(const Struct& s, const Index& idx, std::set<std::uint64_t>& out) {
  for (const auto& f : s.fields) {
    if (f.type.kind == TypeKind::kStruct) out.insert(f.type.structId);
    for (const FieldType* t = &f.type; t; t = t->element.get()) {
      if (t->kind != TypeKind::kKey) continue;
      if (auto it = idx.parent.find(t->structId); it != idx.parent.end()) out.insert(it->second);
    }
  }
  for (const auto& n : s.nested) needs(n, idx, out);
}

void subtreeIds(const Struct& s, std::set<std::uint64_t>& out) {
  out.insert(s.id);
  for (const auto& n : s.nested) subtreeIds(n, out);
}

// A struct can hold neither itself nor a struct it is declared in by value:
// that one is still incomplete inside it.
void checkHeldByValue(const Struct& s, std::set<std::uint64_t>& enclosing, const std::string& fileName) {
  enclosing.insert(s.id);
  for (const auto& f : s.fields) {
    if (f.type.kind == TypeKind::kStruct && enclosing.count(f.type.structId) > 0) {
      throw SchemaError(fileName + ": " + s.scoped + "." + f.schemaName +
                        ": a struct that holds itself or a struct it is declared in cannot be a plain "
                        "aggregate; make the field a List");
    }
  }
  for (const auto& n : s.nested) checkHeldByValue(n, enclosing, fileName);
  enclosing.erase(s.id);
}

void orderScope(std::vector<Struct>& structs, const Index& idx, const std::string& fileName) {
  const std::size_t n = structs.size();
  std::map<std::uint64_t, std::size_t> owner;  // any struct of a subtree -> its root's index here
  for (std::size_t i = 0; i < n; ++i) {
    std::set<std::uint64_t> ids;
    subtreeIds(structs[i], ids);
    for (auto id : ids) owner[id] = i;
  }
  std::vector<std::set<std::size_t>> before(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::set<std::uint64_t> deps;
    needs(structs[i], idx, deps);
    for (auto id : deps) {
      auto it = owner.find(id);
      if (it != owner.end() && it->second != i) before[i].insert(it->second);
    }
  }

  // Kahn's algorithm, taking the earliest declared struct that is ready, so
  // that the header follows the schema wherever it can.
  std::vector<bool> placed(n, false);
  std::vector<Struct> ordered;
  for (std::size_t round = 0; round < n; ++round) {
    std::size_t pick = n;
    for (std::size_t i = 0; i < n && pick == n; ++i) {
      if (placed[i]) continue;
      bool ready = true;
      for (auto b : before[i]) ready = ready && placed[b];
      if (ready) pick = i;
    }
    if (pick == n) {
      std::string names;
      for (std::size_t i = 0; i < n; ++i) {
        if (!placed[i]) names += (names.empty() ? "" : ", ") + structs[i].scoped;
      }
      throw SchemaError(fileName + ": " + names +
                        " hold each other by value, which plain aggregates cannot; make one of the fields a List");
    }
    placed[pick] = true;
    ordered.push_back(std::move(structs[pick]));
  }
  structs = std::move(ordered);
  for (auto& s : structs) orderScope(s.nested, idx, fileName);
}

}  // namespace

void orderForDefinition(std::vector<Struct>& structs, const std::string& fileName) {
  Index idx;
  for (const auto& s : structs) index(s, 0, idx);
  std::set<std::uint64_t> enclosing;
  for (const auto& s : structs) checkHeldByValue(s, enclosing, fileName);
  orderScope(structs, idx, fileName);
}

}  // namespace hills::codegen

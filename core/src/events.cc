#include "hills/events.h"

#include <capnp/any.h>
#include <capnp/schema.h>

#include <algorithm>
#include <utility>

#include "event_hub.h"

namespace hills {

std::string_view toString(EventKind kind) {
  switch (kind) {
    case EventKind::kCreated:
      return "created";
    case EventKind::kUpdated:
      return "updated";
    case EventKind::kRemoved:
      return "removed";
    case EventKind::kReleased:
      return "released";
    case EventKind::kNewRevision:
      return "new revision";
    case EventKind::kLifecycleChanged:
      return "lifecycle changed";
  }
  return "hook entry";
}

bool EventFilter::matches(const Event& e) const {
  if (!trees.empty() && std::find(trees.begin(), trees.end(), e.key.tree) == trees.end())
    return false;
  return kinds.empty() || std::find(kinds.begin(), kinds.end(), e.kind) != kinds.end();
}

// --- Subscription --------------------------------------------------------

Subscription::Subscription(Subscription&& other) noexcept
    : hub_(std::move(other.hub_)), id_(std::exchange(other.id_, 0)) {}

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    cancel();
    hub_ = std::move(other.hub_);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

Subscription::~Subscription() { cancel(); }

void Subscription::cancel() {
  if (id_ == 0) return;
  if (auto hub = hub_.lock()) hub->remove(id_);
  id_ = 0;
  hub_.reset();
}

// --- EventQueue ----------------------------------------------------------

void detail::QueueState::push(const Event& e) {
  std::function<void()> wake;
  {
    std::lock_guard lock(mutex);
    if (events.empty()) wake = wakeup;
    events.push_back(e);
  }
  ready.notify_one();
  if (wake) wake();
}

std::optional<Event> EventQueue::tryPop() {
  std::lock_guard lock(state_->mutex);
  if (state_->events.empty()) return std::nullopt;
  Event e = std::move(state_->events.front());
  state_->events.pop_front();
  return e;
}

std::optional<Event> EventQueue::waitPop(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mutex);
  if (!state_->ready.wait_for(lock, timeout, [&] { return !state_->events.empty(); })) {
    return std::nullopt;
  }
  Event e = std::move(state_->events.front());
  state_->events.pop_front();
  return e;
}

std::vector<Event> EventQueue::drain() {
  std::lock_guard lock(state_->mutex);
  std::vector<Event> out(std::make_move_iterator(state_->events.begin()),
                         std::make_move_iterator(state_->events.end()));
  state_->events.clear();
  return out;
}

std::size_t EventQueue::size() const {
  std::lock_guard lock(state_->mutex);
  return state_->events.size();
}

void EventQueue::setWakeup(std::function<void()> wakeup) {
  std::lock_guard lock(state_->mutex);
  state_->wakeup = std::move(wakeup);
}

namespace detail {

// --- EventHub ------------------------------------------------------------

std::uint64_t EventHub::add(EventFilter filter, std::function<void(const Event&)> fn) {
  std::lock_guard lock(mutex_);
  auto list = std::make_shared<List>(*list_);
  std::uint64_t id = nextId_++;
  auto subscriber = std::make_shared<Subscriber>();
  subscriber->id = id;
  subscriber->filter = std::move(filter);
  subscriber->fn = std::move(fn);
  list->push_back(std::move(subscriber));
  list_ = std::move(list);
  subscribers_.fetch_add(1, std::memory_order_release);
  return id;
}

void EventHub::remove(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  auto list = std::make_shared<List>(*list_);
  auto it = std::find_if(list->begin(), list->end(), [&](const auto& s) { return s->id == id; });
  if (it == list->end()) return;
  (*it)->live.store(false, std::memory_order_release);
  list->erase(it);
  list_ = std::move(list);
  subscribers_.fetch_sub(1, std::memory_order_release);
}

namespace {

// Deliveries this thread holds back: of commits made by a subscriber's
// callback while this thread delivers, or inside a transaction of another
// database. They wait until the thread is in neither, so a subscriber never
// runs inside a transaction and never waits for a turn the thread holds.
struct Deferred {
  std::shared_ptr<EventHub> hub;
  std::uint64_t ticket;
  std::vector<Event> events;
};
thread_local int deliveringDepth = 0;
thread_local std::deque<Deferred> deferred;

bool mustDefer() { return deliveringDepth > 0 || insideTransaction(); }

}  // namespace

void EventHub::deliver(std::uint64_t ticket, std::vector<Event> events) {
  if (mustDefer()) {
    deferred.push_back({shared_from_this(), ticket, std::move(events)});
    return;
  }
  deliverInTurn(ticket, events);
  flushDeferred();
}

void EventHub::flushDeferred() {
  while (!deferred.empty() && !mustDefer()) {
    Deferred next = std::move(deferred.front());
    deferred.pop_front();
    next.hub->deliverInTurn(next.ticket, next.events);
  }
}

void EventHub::deliverInTurn(std::uint64_t ticket, std::vector<Event>& events) {
  std::unique_lock lock(turnMutex_);
  turn_.wait(lock, [&] { return nextTurn_ == ticket; });
  lock.unlock();

  std::shared_ptr<const List> list;
  {
    std::lock_guard guard(mutex_);
    list = list_;
  }
  ++deliveringDepth;
  for (auto& e : events) {
    e.sequence = nextSequence_++;
    for (const auto& s : *list) {
      if (!s->live.load(std::memory_order_acquire) || !s->filter.matches(e)) continue;
      try {
        s->fn(e);
      } catch (...) {
        // A subscriber's failure is its own: the others still get the event
        // and the commit stands.
        errors_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  --deliveringDepth;

  lock.lock();
  ++nextTurn_;
  lock.unlock();
  turn_.notify_all();
}

// --- changed fields ------------------------------------------------------

namespace {

bool sameBits(kj::ArrayPtr<const kj::byte> a, kj::ArrayPtr<const kj::byte> b, std::size_t bitOffset,
              std::size_t bits) {
  auto bit = [](kj::ArrayPtr<const kj::byte> d, std::size_t i) {
    return i / 8 < d.size() && ((d[i / 8] >> (i % 8)) & 1) != 0;
  };
  if (bits == 1) return bit(a, bitOffset) == bit(b, bitOffset);
  std::size_t from = bitOffset / 8, n = bits / 8;
  for (std::size_t i = from; i < from + n; ++i) {
    kj::byte x = i < a.size() ? a[i] : 0;
    kj::byte y = i < b.size() ? b[i] : 0;
    if (x != y) return false;
  }
  return true;
}

std::size_t dataBits(capnp::schema::Type::Which which) {
  using W = capnp::schema::Type;
  switch (which) {
    case W::BOOL:
      return 1;
    case W::INT8:
    case W::UINT8:
      return 8;
    case W::INT16:
    case W::UINT16:
    case W::ENUM:
      return 16;
    case W::INT32:
    case W::UINT32:
    case W::FLOAT32:
      return 32;
    case W::INT64:
    case W::UINT64:
    case W::FLOAT64:
      return 64;
    default:
      return 0;  // void, or a pointer
  }
}

bool fieldChanged(capnp::StructSchema::Field field, capnp::AnyStruct::Reader before,
                  capnp::AnyStruct::Reader after) {
  auto proto = field.getProto();
  if (proto.isGroup()) {
    auto group = field.getType().asStruct();
    for (auto f : group.getFields()) {
      if (fieldChanged(f, before, after)) return true;
    }
    return false;
  }
  auto slot = proto.getSlot();
  auto which = slot.getType().which();
  if (which == capnp::schema::Type::VOID) return false;
  if (std::size_t bits = dataBits(which)) {
    return !sameBits(before.getDataSection(), after.getDataSection(), slot.getOffset() * bits,
                     bits);
  }
  auto a = before.getPointerSection();
  auto b = after.getPointerSection();
  auto i = slot.getOffset();
  capnp::AnyPointer::Reader pa = i < a.size() ? a[i] : capnp::AnyPointer::Reader();
  capnp::AnyPointer::Reader pb = i < b.size() ? b[i] : capnp::AnyPointer::Reader();
  return pa.equals(pb) != capnp::Equality::EQUAL;
}

}  // namespace

std::vector<std::string> changedFields(capnp::StructSchema schema, capnp::AnyStruct::Reader before,
                                       capnp::AnyStruct::Reader after) {
  std::vector<std::string> out;
  for (auto field : schema.getFields()) {
    if (fieldChanged(field, before, after)) out.emplace_back(field.getProto().getName().cStr());
  }
  return out;
}

}  // namespace detail
}  // namespace hills

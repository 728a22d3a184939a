// Change events: what happened to which record, delivered after commit.
//
//   auto sub = db.subscribe<plm::Part>([](const hills::Event& e, hills::Key<plm::Part> k) {
//     if (e.kind == hills::EventKind::kUpdated) refresh(k, e.changedFields);
//   });
//   hills::EventQueue queue = db.queue();      // for another thread, or a GUI
//   queue.setWakeup([&] { QMetaObject::invokeMethod(&w, "drain", Qt::QueuedConnection); });
//   while (auto e = queue.tryPop()) show(*e);
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hills/key.h"

namespace hills {

enum class EventKind : std::uint8_t {
  kCreated,           // a new record (id, 0)
  kUpdated,           // a draft's data changed; changedFields says which fields
  kRemoved,           // a draft was removed
  kReleased,          // a draft was frozen
  kNewRevision,       // a draft (id, r + 1) was made from the released (id, r)
  kLifecycleChanged,  // the lifecycle number changed
};

// Kinds from this one up belong to write hooks (hills/write_hook.h): entries
// they add to the change log for a record they did not change. Extensions
// name their own.
inline constexpr EventKind kFirstHookKind = EventKind{6};

// Names hills' own kinds ("created"...); a write hook's kind is "hook entry".
std::string_view toString(EventKind kind);

// One change of one record, as committed.
struct Event {
  EventKind kind = EventKind::kCreated;
  OpaqueKey key;
  // Empty for a change made by this process; for a change another database
  // made (GenericTree::applyChange) or made for someone (WriteTxn::setOrigin),
  // who made it.
  std::string origin;
  std::uint32_t dataIteration = 0;  // the record's counters after the change
  std::uint32_t metaIteration = 0;  // (those it had, for kRemoved)
  // kUpdated: the schema names of the fields whose stored value changed, in
  // schema order. Empty for other kinds.
  std::vector<std::string> changedFields;
  // Increases by one with every event this Database object delivers, in
  // commit order.
  std::uint64_t sequence = 0;

  bool local() const { return origin.empty(); }
};

// Which events a subscriber wants: some trees (none listed: every tree) and
// some kinds (none listed: every kind).
struct EventFilter {
  std::vector<std::string> trees;
  std::vector<EventKind> kinds;

  bool matches(const Event& e) const;
};

namespace detail {
class EventHub;
struct QueueState;
}  // namespace detail

// Keeps a subscription alive; dropping it (or cancel()) unsubscribes. After
// cancel() returns, the callback is not called again, except by a delivery
// running on another thread that is inside the callback at that moment.
// Move-only. May outlive the Database.
class Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription&& other) noexcept;
  Subscription& operator=(Subscription&& other) noexcept;
  ~Subscription();

  void cancel();
  bool active() const { return id_ != 0; }

 private:
  friend class Database;
  Subscription(std::weak_ptr<detail::EventHub> hub, std::uint64_t id)
      : hub_(std::move(hub)), id_(id) {}

  std::weak_ptr<detail::EventHub> hub_;
  std::uint64_t id_ = 0;
};

// Events waiting for a thread to take them: a GUI's, or a worker's. Filled in
// commit order by the committing threads; all member functions are
// thread-safe. Dropping the queue unsubscribes. Move-only; a moved-from queue
// may only be assigned to or destroyed.
class EventQueue {
 public:
  EventQueue(EventQueue&&) noexcept = default;
  EventQueue& operator=(EventQueue&&) noexcept = default;
  ~EventQueue() = default;

  // The oldest event, or empty when there is none.
  std::optional<Event> tryPop();
  // The oldest event, waiting up to `timeout` for one.
  std::optional<Event> waitPop(std::chrono::milliseconds timeout);
  // Every waiting event, oldest first.
  std::vector<Event> drain();
  std::size_t size() const;

  // Called on the committing thread whenever events arrive in an empty
  // queue, so an event loop can schedule a drain on its own thread (a Qt
  // application posts a queued call). Must be quick and must not throw.
  void setWakeup(std::function<void()> wakeup);

 private:
  friend class Database;
  EventQueue(std::shared_ptr<detail::QueueState> state, Subscription subscription)
      : state_(std::move(state)), subscription_(std::move(subscription)) {}

  std::shared_ptr<detail::QueueState> state_;
  Subscription subscription_;
};

}  // namespace hills

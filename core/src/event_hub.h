// Subscribers of one database and the delivery of committed events to them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "hills/events.h"

namespace hills::detail {

struct QueueState {
  mutable std::mutex mutex;
  std::condition_variable ready;
  std::deque<Event> events;
  std::function<void()> wakeup;

  void push(const Event& e);
};

// Delivery order: a write transaction with events takes a ticket while it
// still holds LMDB's writer lock, so tickets follow commit order; after the
// commit, deliveries wait for their ticket's turn.
class EventHub : public std::enable_shared_from_this<EventHub> {
 public:
  std::uint64_t add(EventFilter filter, std::function<void(const Event&)> fn);
  void remove(std::uint64_t id);

  // Whether anyone listens: when not, writes collect no events at all.
  bool active() const { return subscribers_.load(std::memory_order_acquire) > 0; }

  // Under the writer lock, before commit.
  std::uint64_t takeTicket() { return nextTicket_.fetch_add(1, std::memory_order_relaxed); }
  // After the commit: delivers `events` in the ticket's turn. An empty list
  // (the commit failed) just passes the turn on.
  void deliver(std::uint64_t ticket, std::vector<Event> events);

  std::uint64_t subscriberErrors() const { return errors_.load(std::memory_order_relaxed); }

  // Delivers what this thread had to hold back (events of writes made inside
  // a delivery, or inside a transaction of another database), once it is in
  // neither. Cheap when there is nothing.
  static void flushDeferred();

 private:
  struct Subscriber {
    std::uint64_t id;
    EventFilter filter;
    std::function<void(const Event&)> fn;
    // Cleared by remove(): a delivery in progress skips it from then on.
    mutable std::atomic<bool> live{true};
  };
  using List = std::vector<std::shared_ptr<Subscriber>>;

  void deliverInTurn(std::uint64_t ticket, std::vector<Event>& events);

  std::mutex mutex_;  // guards list_ and nextId_
  std::shared_ptr<const List> list_ = std::make_shared<List>();
  std::uint64_t nextId_ = 1;
  std::atomic<std::size_t> subscribers_{0};

  std::atomic<std::uint64_t> nextTicket_{0};
  std::mutex turnMutex_;
  std::condition_variable turn_;
  std::uint64_t nextTurn_ = 0;      // guarded by turnMutex_
  std::uint64_t nextSequence_ = 1;  // used by the thread whose turn it is

  std::atomic<std::uint64_t> errors_{0};
};

// Whether this thread is inside a read() or write() of any database.
bool insideTransaction();

// The names of the fields whose stored value differs between two versions
// of a struct, in schema order. Compares the encoded data and pointers, so it
// needs no decoding; a field missing from a shorter (older) struct reads as
// its default.
std::vector<std::string> changedFields(capnp::StructSchema schema, capnp::AnyStruct::Reader before,
                                       capnp::AnyStruct::Reader after);

}  // namespace hills::detail

// The sync engine's pushes: the outbox (records created here, check-ins)
// sent to the server in batches, and each outcome settled. On the sync
// thread.
#include "client_impl.h"
#include "quarantine.h"

namespace hills {

namespace {

// What one push carries at most.
constexpr std::size_t kPushItems = 1024;
constexpr std::size_t kPushBytes = 4 << 20;

}  // namespace

kj::Promise<void> SyncEngine::pushLoop() {
  // Without the write permission the outbox waits for a server that allows it.
  if (!mayWrite_) return kj::NEVER_DONE;
  return pushOnce().then([this](bool pushed) -> kj::Promise<void> {
    if (pushed) return pushLoop();
    return client_.nextWake().then([this]() { return pushLoop(); });
  });
}

kj::Promise<bool> SyncEngine::pushOnce() {
  auto request = session().pushRequest();
  // As read before this push marked them: `sent` says pushed before.
  auto batch = kj::heap<std::vector<OutboxItem>>();
  bool creates = false;
  auto& replica = *client_.replica;
  protocol::translated([&] {
    // One write transaction: the values pushed and the marks that stop
    // further local edits of pushed creates are taken together.
    client_.db.write([&](WriteTxn& txn) {
      batch->clear();
      creates = false;
      std::vector<OutboxItem> toMark;
      std::size_t bytes = 0;
      struct Pick {
        OutboxItem item;
        kj::ArrayPtr<const capnp::word> value;
      };
      std::vector<Pick> picks;
      std::vector<OutboxItem> gone;
      for (auto& item : replica.outbox(txn, kPushItems)) {
        auto tree = txn.tree(item.key.tree);
        auto rec = tree.find(item.key.id, item.key.revision);
        bool create = item.kind == OutboxItem::Kind::kCreate;
        // A create removed here before the server saw it, or a check-in
        // whose borrow was broken meanwhile (the edit is a conflict copy).
        if (create ? !rec : !protocol::findBorrow(txn, item.key)) {
          gone.push_back(item);
          continue;
        }
        if (bytes > kPushBytes) break;
        bytes += rec ? rec.value().size() * sizeof(capnp::word) : 0;
        picks.push_back(Pick{item, rec ? rec.value() : nullptr});
        if (!item.sent) toMark.push_back(item);
      }
      for (auto& item : gone) replica.settle(txn, item);
      auto list = request.initItems(static_cast<unsigned>(picks.size()));
      for (unsigned i = 0; i < picks.size(); ++i) {
        auto& p = picks[i];
        auto out = list[i];
        protocol::setKey(out.initKey(), p.item.key);
        if (p.item.kind == OutboxItem::Kind::kCreate) {
          out.setCreate(p.value.asBytes());
          creates = true;
        } else {
          auto in = out.initCheckIn();
          // The borrow it was queued under: should the record have been
          // checked out again since, the server refuses this one as stale.
          in.setFencing(p.item.fencing);
          if (p.value.size() == 0) {
            in.setRemoved(true);
          } else {
            in.setValue(p.value.asBytes());
          }
          in.setKeepBorrow(p.item.keepBorrow);
        }
        batch->push_back(p.item);
      }
      replica.markSent(txn, toMark);
    });
  });
  if (batch->empty()) return false;
  auto& sent = *batch;
  return timed(request.send().then([this, &sent, &replica, creates](auto&& response) {
           // The answers are noted here and settled in the commit that
           // applies the server's next batch (this push's changes come
           // right behind the answer), or at the end of this turn.
           auto outcomes = response.getOutcomes();
           std::uint64_t acked = 0, refused = 0;
           std::string lastRefusal;
           for (unsigned i = 0; i < sent.size() && i < outcomes.size(); ++i) {
             auto outcome = outcomes[i];
             const auto& item = sent[i];
             acked = std::max(acked, outcome.getSequence());
             std::string error = outcome.getError();
             auto code = protocol::refusal(outcome);
             // A check-in pushed again after a lost answer finds its
             // borrow returned already: it was stored.
             bool done = !code || (item.sent && item.kind == OutboxItem::Kind::kCheckIn &&
                                   *code == ErrorCode::kNotBorrowed);
             replica.answered(item, done ? std::string() : error);
             if (!done) {
               ++refused;
               lastRefusal = error;
             }
           }
           {
             std::lock_guard lock(client_.mutex);
             client_.lastAcked = std::max(client_.lastAcked, acked);
             client_.state.refused += refused;
             if (!lastRefusal.empty()) client_.state.lastError = lastRefusal;
           }
           client_.changed.notify_all();
           auto settled = kj::evalLast([this] { settleAnswers(); });
           if (!creates) return settled;
           return settled.then([this] { return topUp(); });
         }))
      .then([]() { return true; })
      .attach(kj::mv(batch));
}

void SyncEngine::settleAnswers() {
  if (!client_.replica->hasAnswers()) return;
  std::size_t settled = protocol::translated([&] {
    return client_.db.write([&](WriteTxn& txn) {
      // Lost in a crash, the entries are pushed again, and the server
      // knows them.
      txn.setCommitSync(client_.options.appliedChanges);
      return client_.replica->settleAnswered(txn);
    });
  });
  answersSettled(settled);
}

void SyncEngine::answersSettled(std::size_t settled) {
  if (settled == 0) return;
  client_.changed.notify_all();  // flush() waits for the outbox to empty
  // What this client just changed (a record renamed) may let a
  // quarantined change apply.
  protocol::translated([&] { client::retryQuarantined(client_.db); });
}

}  // namespace hills

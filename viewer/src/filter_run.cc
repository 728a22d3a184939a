#include "filter_run.h"

#include <QMetaObject>

namespace hills::viewer {

std::vector<RowKey> matching(const Database& db, const std::string& tree, const Filter& filter,
                             const std::atomic<bool>* cancel,
                             std::atomic<std::uint64_t>* progress, std::uint64_t* undecodable,
                             std::size_t chunk) {
  std::vector<RowKey> out;
  RowKey from{0, 0};
  bool done = false;
  while (!done && !(cancel && *cancel)) {
    done = true;
    db.read([&](const ReadTxn& txn) {
      std::size_t read = 0;
      txn.tree(tree).scan(from.id, UINT64_MAX, [&](const StoredRecord& rec) {
        RowKey key{rec.id(), rec.revision()};
        if (key < from) return true;
        if (read == chunk || (cancel && *cancel)) {
          from = key;  // the next chunk starts here
          done = false;
          return false;
        }
        ++read;
        try {
          if (filter.matches(rec)) out.push_back(key);
        } catch (const Error&) {
          if (undecodable) ++*undecodable;
        }
        if (progress) ++*progress;
        return true;
      });
    });
  }
  return out;
}

FilterRun::FilterRun(const Database& db, std::string tree, Filter filter, QObject* parent)
    : QObject(parent) {
  total_ = db.read([&](const ReadTxn& txn) { return txn.tree(tree).size(); });
  thread_ = std::thread([this, &db, tree = std::move(tree), filter = std::move(filter)] {
    auto keys = std::make_shared<std::vector<RowKey>>();
    std::uint64_t undecodable = 0;
    QString error;
    try {
      *keys = matching(db, tree, filter, &cancel_, &progress_, &undecodable);
    } catch (const std::exception& e) {
      error = QString::fromUtf8(e.what());
    }
    bool cancelled = cancel_;
    QMetaObject::invokeMethod(
        this,
        [this, keys = std::shared_ptr<const std::vector<RowKey>>(std::move(keys)), undecodable,
         cancelled, error] { emit finished(keys, undecodable, cancelled, error); },
        Qt::QueuedConnection);
  });
}

FilterRun::~FilterRun() {
  cancel_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace hills::viewer

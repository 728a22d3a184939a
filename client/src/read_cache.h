// The read cache of a partial replica: records of trees it does not follow,
// as the server sent them (Client::fetch), in an internal table of the
// replica that nothing but those answers changes.
#pragma once

#include <optional>

#include "hills/client.h"
#include "hills/table.h"

namespace hills::client {

inline constexpr char kReadCache[] = "_readCache";
// The order the cached records came in: "s" + a stamp (8 bytes, big-endian)
// + the record's key, empty; "k" + the record's key -> its stamp; "n" -> the
// next stamp (stamps as Data roots of 8 bytes).
inline constexpr char kReadCacheOrder[] = "_readCacheOrder";

// Stores `record` (a record of a tree the replica does not follow, as the
// server sent it) in the cache, replacing what was there, as the newest.
// Then, past `limit` records (0: no limit), drops the ones stored longest
// ago. Its value is checked as a record of the tree first:
// Error(kWrongTree) for another type, kCorrupt for one that does not read
// with the tree's schema, and nothing is stored.
void cacheRecord(WriteTxn& txn, const FetchedRecord& record, std::size_t limit);

// Drops `key` from the cache (the server has no such record); false when
// it was not there.
bool uncacheRecord(WriteTxn& txn, const OpaqueKey& key);

// The cached record of `key`, or with `newest` the cached record of
// key.id with the highest revision; empty when there is none.
std::optional<FetchedRecord> cachedRecord(const ReadTxn& txn, const OpaqueKey& key, bool newest);

// The record of a tree the replica follows, read from the replica.
std::optional<FetchedRecord> localRecord(const ReadTxn& txn, const OpaqueKey& key, bool newest);

// Whether `record` is released (and so never changes again).
bool isReleased(const FetchedRecord& record);

}  // namespace hills::client

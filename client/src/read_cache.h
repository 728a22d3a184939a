// The read cache of a partial replica: records of trees it does not follow,
// as the server sent them (Client::fetch), in an internal table of the
// replica that nothing but those answers changes.
#pragma once

#include <optional>

#include "hills/client.h"
#include "hills/table.h"

namespace hills::client {

inline constexpr char kReadCache[] = "_readCache";

// Stores `record` (a record of a tree the replica does not follow, as the
// server sent it) in the cache, replacing what was there. Its value is
// checked as a record of the tree first: Error(kWrongTree) for another
// type, kCorrupt for one that does not read with the tree's schema, and
// nothing is stored.
void cacheRecord(WriteTxn& txn, const FetchedRecord& record);

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

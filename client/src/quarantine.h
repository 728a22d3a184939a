// The quarantine of a replica: the server's changes that could not be
// applied here, kept so that following the log never stops at one change
// and nothing the server sent is lost (see QuarantinedChange).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "hills/client.h"
#include "hills/record.capnp.h"

namespace hills::client {

inline constexpr char kQuarantine[] = "_quarantine";

// Whether a change refused with `code` waits in the quarantine. The
// failures of the disk, the map and LMDB (kIo, kMapFull, kStorage) are this
// replica's, not the change's: they end the session, and the change comes
// again with the next.
bool quarantinable(ErrorCode code);

// Keeps `change` in the quarantine with the reason it was refused.
void quarantine(WriteTxn& txn, wire::Change::Reader change, const Error& refusal);

// Drops the quarantined changes of `key` older than `sequence` that a
// change of kind `kind` supersedes (sync::supersedes: of the same history,
// data or borrow, never a broken borrow): the change `sequence` of the
// same record was applied and overtook them. A borrow entry waits on
// through a later value.
void dropOvertaken(WriteTxn& txn, const OpaqueKey& key, std::uint64_t sequence,
                   std::uint16_t kind);

// Why the change `sequence` of `key` must wait in the quarantine too: a
// broken borrow of the same record, older, waits there. Applied, a broken
// borrow of this replica's own borrow keeps the edit made here as a
// conflict copy and puts the server's value back; a later change of the
// record applied before it would meet that edit instead, or be rolled
// back by it. The error names that change and carries its code; nullopt
// when there is none.
std::optional<Error> behindBrokenBorrow(const ReadTxn& txn, const OpaqueKey& key,
                                        std::uint64_t sequence);

// The quarantine in the order of the server's log.
std::vector<QuarantinedChange> quarantined(const ReadTxn& txn);

// Applies the quarantined changes again, in log order, each in its own
// transaction; one that applies takes the older ones of its record with
// it. Returns how many are left. Throws what is not quarantinable.
std::size_t retryQuarantined(Database& db);

}  // namespace hills::client

# The smallest RPC: what the sync benchmark measures hills against.
@0xb093c5da5f3d9e8c;

interface Echo {
  ping @0 (n :UInt64) -> (n :UInt64);
}

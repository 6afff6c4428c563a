//! Integration tests of chaintrace-ingest. Tests named `live_` start a real anvil node (from
//! `CHAINTRACE_ANVIL` or the repo's `.tools/`, installed by scripts/setup-tools.sh).

mod rpc;

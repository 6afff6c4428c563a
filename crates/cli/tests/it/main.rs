//! Integration tests of the `chaintrace` binary, run as a real process. Tests named `live_` start a
//! real anvil node (from `CHAINTRACE_ANVIL` or the repo's `.tools/`, see scripts/setup-tools.sh).

mod bridges_cmd;
mod cluster_link_cmd;
mod data_cmds;
mod graph_update_cmd;
mod ingest_rpc;
mod investigate_cmd;
mod labels_cmd;
mod mixer_report;
mod sim_cmd;
mod trace_cmd;

//! Ingest stages of chaintrace: fetch -> decode -> write, each write advancing a checkpoint in the same
//! store transaction. Sources: EVM JSON-RPC nodes ([`rpc`]), ethereum-etl CSV exports ([`etl`]) and
//! plain transfer CSV files ([`csv_transfers`]). Not here: decoding node formats (chain adapters),
//! SQL (store), printing (cli).

#![warn(missing_docs)]

pub mod csv_transfers;
pub mod etl;
pub mod rpc;

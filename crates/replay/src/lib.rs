//! A CoinEx-style incident replayed on five real local chains (anvil nodes with chain ids 1, 56, 137,
//! 42161 and 10): the world builder behind `crates/replay/tests` and `scripts/replay.sh`.
//!
//! [`world::build`] deploys the replay contracts (contracts/src/replay: ERC-20s, a WETH9-style wrapper,
//! a Uniswap-V2-style pair and router, a relayed lock-and-mint bridge, a Tornado-style mixer stand-in)
//! on each chain and sends the scenario's transactions: an exchange with hot wallets and deposit
//! addresses, background users, an earlier incident by an FBI-attributed actor, then the new drain and
//! its laundering. It records the [`truth::GroundTruth`] from what it sent and the receipts. [`cache`]
//! keeps each node's state (`anvil_dumpState`) so later runs start anvil with `--load-state`, and writes
//! the investigator's inputs (labels CSV, bridges CSV, incident TOML). See docs/replay.md.
//!
//! Not here: anything chaintrace itself runs. This crate never reads chaintrace's store or output; the
//! live test drives the real `chaintrace` binary and compares it with the ground truth. Tron (part of the
//! real CoinEx case) is not EVM and cannot run on anvil, so it is left out.

#![warn(missing_docs)]

pub mod cache;
pub mod contracts;
mod error;
pub mod node;
pub mod truth;
pub mod world;

pub use cache::{WorldFiles, build_into, cache_key, ensure_world};
pub use error::ReplayError;
pub use truth::GroundTruth;

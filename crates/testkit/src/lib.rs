//! Test-only helpers of chaintrace: a real anvil node started on loopback and killed on drop
//! ([`Anvil`]), a small JSON-RPC client for anvil's dev accounts ([`DevRpc`]), the compiled test
//! contracts ([`contracts`]) and scenario drivers that send known transactions and compute, from what
//! they sent and the receipts they got back, the exact transfers an ingest must store ([`scenario`]).
//!
//! Not here: anything a chaintrace binary runs in production. This crate is `publish = false` and is
//! only ever a dev-dependency (plus the `chaintrace-scenario` driver used by scripts/demo.sh and
//! scripts/bench-ingest.sh).

#![warn(missing_docs)]

pub mod abi;
mod anvil;
pub mod contracts;
mod error;
mod rpc;
pub mod scenario;

pub use anvil::{Anvil, anvil_path, require_anvil};
pub use error::TestkitError;
pub use rpc::{BlockHeader, DevRpc, Log, Receipt, TxRequest};

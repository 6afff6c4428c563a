//! Domain values of chaintrace: chains, addresses, assets, amounts, transfers, labels and actors.
//!
//! This crate is pure data: no I/O, no node access, no storage. Every other crate speaks in these types.
//! Amounts are 256-bit integers in the asset's raw units; floating point never appears here.

#![warn(missing_docs)]

mod address;
mod chain;
mod error;
mod event;
mod label;
mod transfer;

pub use address::{Address, TxHash};
pub use alloy_primitives::U256;
pub use chain::Chain;
pub use error::CoreError;
pub use event::RawLog;
pub use label::{Actor, ActorId, Category, Confidence, Label, LabelIndex};
pub use transfer::{Asset, BlockRecord, Position, Transfer, TransferKind};

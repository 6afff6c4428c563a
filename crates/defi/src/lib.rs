//! DeFi understanding of chaintrace: what a swap, a wrap, a bridge hop or a mixer deposit means for the
//! flow of value, so that tracing can continue through them.
//!
//! - [`swap`]: Uniswap V2/V3 `Swap` logs, WETH-style `Deposit`/`Withdrawal` and the transfers-only router
//!   pattern become [`swap::Conversion`]s (asset A in, asset B out, for one owner, one per transaction).
//! - [`bridge`]: a [`bridge::BridgeRegistry`] of bridge contracts, decoders for the canonical Optimism and
//!   Arbitrum bridges, Multichain, Stargate and chaintrace's own generic test bridge, and a matcher pairing
//!   deposits on one chain with releases on another (by message id, else by a scored heuristic that
//!   reports every candidate).
//! - [`mixer`]: Tornado-style pool deposits (exits) and withdrawals, and heuristic candidate links between
//!   them, never certainties.
//!
//! This crate is pure: it never calls a node, reads a file or prints. Callers hand it
//! [`chaintrace_core::RawLog`]s and [`chaintrace_core::Transfer`]s already fetched; text inputs (CSV
//! registries) are passed in as strings. Which logs the store should keep is [`topics_of_interest`].

#![warn(missing_docs)]

mod abi;
pub mod bridge;
mod error;
pub mod mixer;
mod registry_csv;
pub mod swap;
mod topics;
mod txkey;

pub use error::DefiError;
pub use topics::{KnownEvent, is_topic_of_interest, topics_of_interest};

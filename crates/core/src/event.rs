use crate::{Address, Chain, TxHash};

/// A raw event log kept for later decoding (DEX swaps, WETH wrap/unwrap, bridge deposits and releases, mixer
/// deposits and withdrawals). Only logs whose first topic an analysis knows are kept; ERC-20 `Transfer` logs
/// become [`crate::Transfer`]s instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLog {
    /// Chain it was emitted on.
    pub chain: Chain,
    /// Block number.
    pub block: u64,
    /// Block timestamp, unix seconds.
    pub timestamp: u64,
    /// Transaction that emitted it.
    pub tx_hash: TxHash,
    /// Index of the log in its block.
    pub log_index: u32,
    /// Contract that emitted it.
    pub address: Address,
    /// Indexed topics, topic 0 first (the event signature hash).
    pub topics: Vec<[u8; 32]>,
    /// Non-indexed data.
    pub data: Vec<u8>,
    /// The transaction's signer.
    pub tx_from: Address,
}

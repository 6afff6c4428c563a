//! Bridges: which contracts are bridges ([`BridgeRegistry`]), what their logs and transfers say
//! ([`decode_bridge_events`] -> [`BridgeEvent`]s: deposits on one chain, releases on another), and which
//! release pays out which deposit ([`match_bridge_events`]). Design and event contracts: docs/bridges.md.

mod decode;
mod matching;
mod registry;

use chaintrace_core::{Address, Asset, Chain, Position, TxHash, U256};

use crate::KnownEvent;

pub use decode::decode_bridge_events;
pub use matching::{
    DepositMatch, MatchCandidate, MatchConfig, MatchProfile, MatchVerdict, match_bridge_events,
};
pub use registry::{BridgeEntry, BridgeRegistry, BridgeRole};

/// Which end of a bridge transfer an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BridgeSide {
    /// Value entered the bridge on the source chain.
    Deposit,
    /// Value left the bridge on the destination chain.
    Release,
}

/// Where a bridge event was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BridgeEvidence {
    /// A decoded log of a known bridge event.
    Log(KnownEvent),
    /// A plain transfer into (deposit) or out of (release) a registered bridge address.
    Transfer,
}

/// An identifier the bridge itself carries on both sides, in a namespace so that ids of different
/// bridges never collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId {
    /// `multichain`, `arbitrum-outbox`, `arbitrum-exit`, or the registry's bridge name (generic bridge).
    pub namespace: String,
    /// The id (a source tx hash, a sequence number as a big-endian word, a hash...).
    pub id: [u8; 32],
}

/// One end of a bridge transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeEvent {
    /// Deposit or release.
    pub side: BridgeSide,
    /// Bridge name from the registry (the same on both chains).
    pub bridge: String,
    /// Chain it happened on.
    pub chain: Chain,
    /// Block number.
    pub block: u64,
    /// Block timestamp, unix seconds.
    pub timestamp: u64,
    /// Transaction.
    pub tx_hash: TxHash,
    /// The log (or the transfer's position) it was read from.
    pub position: Position,
    /// The bridge contract that emitted the log or received/sent the transfer.
    pub contract: Address,
    /// Who deposited (deposit) or who deposited on the other side, when the release says so.
    pub from: Option<Address>,
    /// Who is paid on the destination chain, when known.
    pub recipient: Option<Address>,
    /// The transaction's signer.
    pub tx_from: Address,
    /// The asset on this event's own chain.
    pub asset: Asset,
    /// Amount in the asset's raw units (Stargate: shared-decimals units on both sides).
    pub amount: U256,
    /// The other chain (destination of a deposit, source of a release), when known.
    pub counterpart_chain: Option<Chain>,
    /// The bridge's own message id, when the bridge has one visible on both sides.
    pub message_id: Option<MessageId>,
    /// Where it was read from.
    pub evidence: BridgeEvidence,
}

/// Splits events into (deposits, releases), keeping their relative order.
pub fn split_sides(events: Vec<BridgeEvent>) -> (Vec<BridgeEvent>, Vec<BridgeEvent>) {
    events.into_iter().partition(|e| e.side == BridgeSide::Deposit)
}

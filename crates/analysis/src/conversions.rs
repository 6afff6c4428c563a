//! Conversion edges: where value changes asset (a DEX swap, a wrap) or chain (a bridge) while staying with
//! the same owner or going to a named recipient, so that tracing can continue through it.
//!
//! [`build_conversions`] turns the store's raw logs and transfers into [`ConversionEdge`]s using the pure
//! decoders of `chaintrace-defi`: swaps and wraps ([`chaintrace_defi::swap::detect_conversions`]) and
//! matched bridge deposits/releases ([`chaintrace_defi::bridge::match_bridge_events`]). A bridge deposit
//! whose release is ambiguous (or only weakly supported) gives one edge per candidate release, flagged
//! [`ConversionEdge::is_candidate`]; the tracer follows those only when asked (see
//! `crate::trace::ConversionOptions::follow_candidates` and docs/tracing.md, "Conversions").
//!
//! Pure: the caller reads logs and transfers from the store ([`ConversionInputs`] says which transfers
//! are needed) and passes the bridge registry (built-in plus user entries) in.

use std::collections::HashSet;

use chaintrace_core::{Address, Asset, Chain, Position, RawLog, Transfer, TxHash, U256};
use chaintrace_defi::bridge::{
    self, BridgeEvent, BridgeRegistry, MatchConfig, MatchVerdict, decode_bridge_events, match_bridge_events,
};
use chaintrace_defi::swap::{self, Conversion, ConversionKind, DexRegistry};

/// What kind of conversion an edge is.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversionDetail {
    /// A swap, wrap or unwrap inside one transaction on one chain.
    Swap {
        /// How it was recognised (`swap_v2`, `swap_v3`, `router`, `wrap`, `unwrap`).
        kind: ConversionKind,
    },
    /// A bridge deposit on one chain paid out by a release on another.
    Bridge {
        /// Bridge name (from the registry).
        bridge: String,
        /// The matcher's verdict for the deposit (`Matched`, or `Ambiguous` / `Weak` for candidates).
        verdict: MatchVerdict,
        /// Match confidence of this (deposit, release) pair, 0..=1.
        confidence: f64,
        /// Why the pair was matched, in words.
        reason: String,
    },
}

// Confidence is a finite number in 0..=1 (the matcher never produces NaN), so equality is an equivalence
// and trace results holding conversion edges can stay `Eq`.
impl Eq for ConversionDetail {}

/// Value of `asset_in` that left `owner` on `from_chain` reappears as `asset_out` at `recipient` on
/// `to_chain` (the same chain for swaps).
#[derive(Debug, Clone, PartialEq)]
pub struct ConversionEdge {
    /// Chain of the input side.
    pub from_chain: Chain,
    /// Transaction of the input side (the swap, or the bridge deposit).
    pub from_tx: TxHash,
    /// Block of the input side.
    pub from_block: u64,
    /// Time of the input side, unix seconds.
    pub from_time: u64,
    /// Whose `asset_in` was converted (swap owner, bridge depositor).
    pub owner: Address,
    /// Asset given up.
    pub asset_in: Asset,
    /// Amount given up, raw units.
    pub amount_in: U256,
    /// Chain of the output side.
    pub to_chain: Chain,
    /// Transaction of the output side (the swap itself, or the bridge release).
    pub to_tx: TxHash,
    /// Block of the output side.
    pub to_block: u64,
    /// Time of the output side, unix seconds.
    pub to_time: u64,
    /// Who got `asset_out` (the owner, a swap-and-send recipient, the bridge release's recipient).
    pub recipient: Address,
    /// Asset obtained.
    pub asset_out: Asset,
    /// Amount obtained, raw units (after any bridge fee).
    pub amount_out: U256,
    /// Pools, wrappers or bridge contracts the value went through (not destinations).
    pub via: Vec<Address>,
    /// Log indexes the edge rests on: swap/wrap/transfer logs of the swap; for bridges the deposit's
    /// log (input side) and the release's log (output side), when they are logs.
    pub evidence: Vec<u32>,
    /// Swap or bridge, with its specifics.
    pub detail: ConversionDetail,
    /// True for a bridge release that is only one candidate of an ambiguous or weak match.
    pub is_candidate: bool,
}

impl Eq for ConversionEdge {}

impl ConversionEdge {
    /// `amount_out / amount_in` as a float, for display only (tracing uses exact integer arithmetic).
    pub fn rate(&self) -> f64 {
        let f = |x: U256| -> f64 { x.to_string().parse::<f64>().unwrap_or(f64::INFINITY) };
        if self.amount_in.is_zero() {
            return 0.0;
        }
        f(self.amount_out) / f(self.amount_in)
    }

    /// `"swap"` or `"bridge"`: the kind of path step it becomes.
    pub fn step_kind(&self) -> &'static str {
        match self.detail {
            ConversionDetail::Swap { .. } => "swap",
            ConversionDetail::Bridge { .. } => "bridge",
        }
    }

    /// Weight when one input is split among several candidate edges (bridge confidence; 1 for swaps).
    pub fn weight(&self) -> f64 {
        match &self.detail {
            ConversionDetail::Swap { .. } => 1.0,
            ConversionDetail::Bridge { confidence, .. } => confidence.clamp(0.0, 1.0),
        }
    }
}

/// Counts of what [`build_conversions`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConversionStats {
    /// Swap, wrap and unwrap edges.
    pub swaps: usize,
    /// Bridge deposits decoded.
    pub bridge_deposits: usize,
    /// Bridge releases decoded.
    pub bridge_releases: usize,
    /// Deposits matched to exactly one release (one edge each).
    pub bridge_matched: usize,
    /// Deposits with only ambiguous or weak candidates.
    pub bridge_ambiguous: usize,
    /// Candidate edges of those deposits.
    pub bridge_candidate_edges: usize,
    /// Deposits without any release in the data.
    pub bridge_unmatched: usize,
    /// Matched pairs dropped because a side had no usable recipient or amount.
    pub bridge_unusable: usize,
}

/// Every conversion edge found, and counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversionSet {
    /// The edges: swaps first (in transaction order of the input), then bridge edges by deposit.
    pub edges: Vec<ConversionEdge>,
    /// Counts.
    pub stats: ConversionStats,
}

/// Registries and matching settings used to recognise conversions.
#[derive(Debug, Clone)]
pub struct ConversionConfig {
    /// Known pools and native wrappers.
    pub dex: DexRegistry,
    /// Bridge contracts (built-in plus the user's entries).
    pub bridges: BridgeRegistry,
    /// Bridge matching windows and tolerances.
    pub matching: MatchConfig,
}

impl Default for ConversionConfig {
    fn default() -> ConversionConfig {
        ConversionConfig {
            dex: DexRegistry::builtin(),
            bridges: BridgeRegistry::builtin(),
            matching: MatchConfig::default(),
        }
    }
}

/// Which transfers [`build_conversions`] needs: those of transactions that emitted a kept log, and those
/// into or out of a registered bridge address (transfers-only bridges). Reading only these keeps the
/// router rule (a swap recognised from transfers alone) out of tracing: without a swap, wrap or bridge log
/// it would turn ordinary "paid A, got B" transactions into conversions.
#[derive(Debug, Clone, Default)]
pub struct ConversionInputs {
    txs: HashSet<(Chain, TxHash)>,
    bridge_addresses: HashSet<(Chain, Address)>,
}

impl ConversionInputs {
    /// From the raw logs that will be passed to [`build_conversions`] and the bridge registry.
    pub fn new(logs: &[RawLog], bridges: &BridgeRegistry) -> ConversionInputs {
        ConversionInputs {
            txs: logs.iter().map(|l| (l.chain, l.tx_hash)).collect(),
            bridge_addresses: bridges.entries().map(|e| (e.chain, e.address)).collect(),
        }
    }

    /// Whether `t` must be passed to [`build_conversions`].
    pub fn wants(&self, t: &Transfer) -> bool {
        self.txs.contains(&(t.chain, t.tx_hash))
            || self.bridge_addresses.contains(&(t.chain, t.from))
            || self.bridge_addresses.contains(&(t.chain, t.to))
    }
}

/// Finds every conversion edge in `logs` and `transfers` (any mix of chains).
pub fn build_conversions(logs: &[RawLog], transfers: &[Transfer], cfg: &ConversionConfig) -> ConversionSet {
    let mut set = ConversionSet::default();
    let mut swaps = swap::detect_conversions(logs, transfers, &cfg.dex);
    swaps.sort_by_key(|c| (c.chain, c.block, c.tx_hash, c.evidence.first().copied()));
    for c in swaps {
        if let Some(e) = swap_edge(c) {
            set.edges.push(e);
            set.stats.swaps += 1;
        }
    }

    let events = decode_bridge_events(logs, transfers, &cfg.bridges);
    let (deposits, releases) = bridge::split_sides(events);
    set.stats.bridge_deposits = deposits.len();
    set.stats.bridge_releases = releases.len();
    for m in match_bridge_events(&deposits, &releases, &cfg.matching) {
        let dep = &deposits[m.deposit];
        match m.verdict {
            MatchVerdict::Unmatched => {
                set.stats.bridge_unmatched += 1;
                continue;
            }
            MatchVerdict::Matched => set.stats.bridge_matched += 1,
            MatchVerdict::Ambiguous | MatchVerdict::Weak => set.stats.bridge_ambiguous += 1,
        }
        let is_candidate = m.verdict != MatchVerdict::Matched;
        let take = if is_candidate { m.candidates.len() } else { 1 };
        for c in m.candidates.iter().take(take) {
            let rel = &releases[c.release];
            match bridge_edge(dep, rel, m.verdict, c.confidence, &c.reason, is_candidate) {
                Some(e) => {
                    if is_candidate {
                        set.stats.bridge_candidate_edges += 1;
                    }
                    set.edges.push(e);
                }
                None => set.stats.bridge_unusable += 1,
            }
        }
    }
    set
}

fn swap_edge(c: Conversion) -> Option<ConversionEdge> {
    if c.amount_in.is_zero() || c.amount_out.is_zero() || c.asset_in == c.asset_out {
        return None;
    }
    Some(ConversionEdge {
        from_chain: c.chain,
        from_tx: c.tx_hash,
        from_block: c.block,
        from_time: c.timestamp,
        owner: c.owner,
        asset_in: c.asset_in,
        amount_in: c.amount_in,
        to_chain: c.chain,
        to_tx: c.tx_hash,
        to_block: c.block,
        to_time: c.timestamp,
        recipient: c.recipient,
        asset_out: c.asset_out,
        amount_out: c.amount_out,
        via: c.pools,
        evidence: c.evidence,
        detail: ConversionDetail::Swap { kind: c.kind },
        is_candidate: false,
    })
}

fn bridge_edge(
    dep: &BridgeEvent,
    rel: &BridgeEvent,
    verdict: MatchVerdict,
    confidence: f64,
    reason: &str,
    is_candidate: bool,
) -> Option<ConversionEdge> {
    let recipient = rel.recipient?;
    if dep.amount.is_zero() || rel.amount.is_zero() {
        return None;
    }
    let log_of = |p: &Position| match p {
        Position::Log(i) => Some(*i),
        _ => None,
    };
    let mut via = vec![dep.contract];
    if rel.contract != dep.contract {
        via.push(rel.contract);
    }
    Some(ConversionEdge {
        from_chain: dep.chain,
        from_tx: dep.tx_hash,
        from_block: dep.block,
        from_time: dep.timestamp,
        owner: dep.from.unwrap_or(dep.tx_from),
        asset_in: dep.asset,
        amount_in: dep.amount,
        to_chain: rel.chain,
        to_tx: rel.tx_hash,
        to_block: rel.block,
        to_time: rel.timestamp,
        recipient,
        asset_out: rel.asset,
        amount_out: rel.amount,
        via,
        evidence: log_of(&dep.position)
            .into_iter()
            .chain(log_of(&rel.position))
            .collect(),
        detail: ConversionDetail::Bridge {
            bridge: dep.bridge.clone(),
            verdict,
            confidence,
            reason: reason.to_string(),
        },
        is_candidate,
    })
}

/// Lowercase name of a verdict, for output.
pub fn verdict_name(v: MatchVerdict) -> &'static str {
    match v {
        MatchVerdict::Matched => "matched",
        MatchVerdict::Ambiguous => "ambiguous",
        MatchVerdict::Weak => "weak",
        MatchVerdict::Unmatched => "unmatched",
    }
}

//! Fund tracing over the temporal transfer graph under a taint model (poison, haircut, fifo).
//!
//! [`trace`] follows funds forward (where they went) or backward (where they came from) from start
//! addresses, respecting time, and reports where the tainted value ended: addresses still holding it, labeled
//! exits (exchanges, mixers, bridges, sanctioned addresses) and what was cut off by limits. Pure: no I/O.
//! See `docs/tracing.md` for the models, the time rule and the stop rules, with worked examples.
//!
//! Design for later conversion edges (swaps, bridges): taint is tracked per `(chain, asset)` run; a
//! conversion edge kind would hand a run's outflow to another run's inflow (`engine::Run::deliver` is the
//! single place where value enters an address).

mod engine;
mod models;

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use chaintrace_core::{Address, Asset, Chain, TxHash, U256};
use chaintrace_graph::{EdgeId, Graph};

/// Which way to follow funds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Where the funds went: along transfers, forward in time.
    Forward,
    /// Where the funds came from: against transfers, backward in time (the forward model on the
    /// time-reversed graph).
    Backward,
}

impl Direction {
    /// Lowercase name used in output.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        }
    }
}

/// How taint spreads through an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    /// Every outflow after taint arrives is tainted in full; amounts are amounts moved, not taint.
    Poison,
    /// Each outflow carries taint in proportion to the tainted share of the balance at that moment.
    Haircut,
    /// Coins leave in the order they arrived; tainted and clean lots queue per address and asset.
    Fifo,
}

impl Model {
    /// Lowercase name used in output.
    pub fn name(self) -> &'static str {
        match self {
            Model::Poison => "poison",
            Model::Haircut => "haircut",
            Model::Fifo => "fifo",
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Kind of a labeled exit where tracing stops.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExitCategory {
    /// Centralized exchange deposit or hot wallet.
    Exchange,
    /// Mixer (e.g. Tornado Cash pools).
    Mixer,
    /// Cross-chain bridge.
    Bridge,
    /// Sanctioned address.
    Sanctioned,
    /// Anything else the labels call an exit.
    Other(String),
}

impl ExitCategory {
    /// Lowercase name used in output.
    pub fn name(&self) -> &str {
        match self {
            ExitCategory::Exchange => "exchange",
            ExitCategory::Mixer => "mixer",
            ExitCategory::Bridge => "bridge",
            ExitCategory::Sanctioned => "sanctioned",
            ExitCategory::Other(s) => s,
        }
    }
}

/// Label of an exit address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExitInfo {
    /// Category.
    pub category: ExitCategory,
    /// Human name, e.g. "Binance 14".
    pub name: String,
}

/// Answers "does tracing stop at this address, and why". Labels come from elsewhere; this is the seam.
pub trait ExitOracle {
    /// The exit label of `address` on `chain`, if tracing should stop there.
    fn exit(&self, chain: Chain, address: Address) -> Option<ExitInfo>;
}

/// An oracle that knows no exits.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoExits;

impl ExitOracle for NoExits {
    fn exit(&self, _chain: Chain, _address: Address) -> Option<ExitInfo> {
        None
    }
}

impl ExitOracle for HashMap<(Chain, Address), ExitInfo> {
    fn exit(&self, chain: Chain, address: Address) -> Option<ExitInfo> {
        self.get(&(chain, address)).cloned()
    }
}

/// What to trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRequest {
    /// Start addresses (the taint sources).
    pub starts: Vec<(Chain, Address)>,
    /// Forward or backward.
    pub direction: Direction,
    /// Taint model.
    pub model: Model,
    /// Largest number of transfers between a start and a reached address (at least 1).
    pub max_hops: u32,
    /// Only transfers at or after this unix time.
    pub since: Option<u64>,
    /// Only transfers at or before this unix time.
    pub until: Option<u64>,
    /// Transfers whose tainted amount (raw units) is below this are not followed.
    pub min_amount: U256,
    /// Only this asset (else every asset the starts moved).
    pub asset: Option<Asset>,
    /// Most tainted outflows followed per address before the address is cut off (reported).
    pub fan_out_cap: u32,
}

/// Default hop limit.
pub const DEFAULT_MAX_HOPS: u32 = 10;
/// Default fan-out cap.
pub const DEFAULT_FAN_OUT_CAP: u32 = 1000;

impl TraceRequest {
    /// A forward poison trace from `starts` with default limits.
    pub fn new(starts: Vec<(Chain, Address)>) -> TraceRequest {
        TraceRequest {
            starts,
            direction: Direction::Forward,
            model: Model::Poison,
            max_hops: DEFAULT_MAX_HOPS,
            since: None,
            until: None,
            min_amount: U256::ZERO,
            asset: None,
            fan_out_cap: DEFAULT_FAN_OUT_CAP,
        }
    }
}

/// Errors of a trace request.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TraceError {
    /// No start address.
    #[error("no start address given")]
    NoStart,
    /// A start address that appears in no transfer.
    #[error("address {address} has no transfers on {chain} in the graph")]
    UnknownAddress {
        /// Chain.
        chain: Chain,
        /// Address.
        address: Address,
    },
    /// `since` after `until`.
    #[error("time window is empty: since {since} is after until {until}")]
    EmptyWindow {
        /// Start.
        since: u64,
        /// End.
        until: u64,
    },
    /// `max_hops` of zero.
    #[error("max hops must be at least 1")]
    ZeroHops,
    /// `fan_out_cap` of zero.
    #[error("fan-out cap must be at least 1")]
    ZeroFanOut,
}

/// One transfer on a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStep {
    /// Transaction hash.
    pub tx_hash: TxHash,
    /// Sender.
    pub from: Address,
    /// Receiver.
    pub to: Address,
    /// Amount the transfer moved (raw units).
    pub amount: U256,
    /// Block.
    pub block: u64,
    /// Block time, unix seconds.
    pub time: u64,
    /// Global order rank in the graph (time order: larger is later).
    pub seq: u32,
}

/// An address the taint reached (gross: everything that arrived, including what moved on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Model that produced `amount`.
    pub model: Model,
    /// Chain.
    pub chain: Chain,
    /// Address.
    pub address: Address,
    /// Asset.
    pub asset: Asset,
    /// Tainted amount that arrived in total (poison: amount moved by tainted transfers).
    pub amount: U256,
    /// Fewest transfers from a start.
    pub hops: u32,
    /// Transfers from a start to here (backward: from the start back to here), in trace order.
    pub path: Vec<PathStep>,
    /// Whether the address is a labeled exit.
    pub is_exit: bool,
}

/// Why tainted value rests at an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldReason {
    /// It had not moved on by the end of the window (or the end of the data).
    NotMoved,
    /// It arrived at the hop limit; what happened next was not followed.
    HopLimit,
    /// The address exceeded the fan-out cap; its remaining taint was not followed.
    FanOutCap,
}

impl HoldReason {
    /// Lowercase name used in output.
    pub fn name(self) -> &'static str {
        match self {
            HoldReason::NotMoved => "not_moved",
            HoldReason::HopLimit => "hop_limit",
            HoldReason::FanOutCap => "fan_out_cap",
        }
    }
}

/// Tainted value resting at an address when tracing ended (net, unlike [`Destination`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// Model that produced `amount`.
    pub model: Model,
    /// Chain.
    pub chain: Chain,
    /// Address.
    pub address: Address,
    /// Asset.
    pub asset: Asset,
    /// Tainted amount resting there (poison: amount received, as poison has no balance).
    pub amount: U256,
    /// Why it rests there.
    pub reason: HoldReason,
    /// Fewest transfers from a start.
    pub hops: u32,
}

/// Tainted value that reached a labeled exit; tracing stops there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Model that produced `amount`.
    pub model: Model,
    /// Chain.
    pub chain: Chain,
    /// Address.
    pub address: Address,
    /// Asset.
    pub asset: Asset,
    /// Tainted amount received.
    pub amount: U256,
    /// Label.
    pub info: ExitInfo,
    /// Fewest transfers from a start.
    pub hops: u32,
    /// Transfers from a start to the exit.
    pub path: Vec<PathStep>,
}

/// An address whose outflows were not all followed (never silent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// Chain.
    pub chain: Chain,
    /// Address.
    pub address: Address,
    /// Asset.
    pub asset: Asset,
    /// Tainted outflows followed before the cut.
    pub outflows_followed: u32,
    /// Outflows of the asset in the window not looked at.
    pub outflows_skipped: u64,
    /// Taint left unfollowed at the address (also listed in holdings; poison: 0).
    pub amount_held: U256,
}

/// Per `(chain, asset)` accounting. For haircut and fifo:
/// `emitted == holding + exits + dropped + returned` exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetSummary {
    /// Model.
    pub model: Model,
    /// Chain.
    pub chain: Chain,
    /// Asset.
    pub asset: Asset,
    /// What left the starts (backward: what entered them) in the window.
    pub emitted: U256,
    /// Sum of holdings.
    pub holding: U256,
    /// Sum of exits.
    pub exits: U256,
    /// Taint on transfers below `min_amount`, not followed.
    pub dropped: U256,
    /// Taint that came back to a start address.
    pub returned: U256,
}

/// Everything a trace found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceResult {
    /// Model used.
    pub model: Model,
    /// Direction used.
    pub direction: Direction,
    /// Every address reached, gross amounts.
    pub destinations: Vec<Destination>,
    /// Where tainted value rests, net amounts.
    pub holding: Vec<Holding>,
    /// Labeled exits reached.
    pub exits: Vec<Exit>,
    /// Addresses cut off by the fan-out cap.
    pub truncated: Vec<Truncation>,
    /// Accounting per asset.
    pub summary: Vec<AssetSummary>,
}

/// Traces funds from the request's start addresses.
pub fn trace(graph: &Graph, req: &TraceRequest, oracle: &dyn ExitOracle) -> Result<TraceResult, TraceError> {
    if req.starts.is_empty() {
        return Err(TraceError::NoStart);
    }
    if req.max_hops == 0 {
        return Err(TraceError::ZeroHops);
    }
    if req.fan_out_cap == 0 {
        return Err(TraceError::ZeroFanOut);
    }
    if let (Some(since), Some(until)) = (req.since, req.until)
        && since > until
    {
        return Err(TraceError::EmptyWindow { since, until });
    }
    let mut by_chain: Vec<(Chain, Vec<u32>)> = Vec::new();
    for &(chain, address) in &req.starts {
        let node = graph
            .node(chain, address)
            .ok_or(TraceError::UnknownAddress { chain, address })?;
        match by_chain.iter_mut().find(|(c, _)| *c == chain) {
            Some((_, v)) => v.push(node),
            None => by_chain.push((chain, vec![node])),
        }
    }
    let mut result = TraceResult {
        model: req.model,
        direction: req.direction,
        destinations: Vec::new(),
        holding: Vec::new(),
        exits: Vec::new(),
        truncated: Vec::new(),
        summary: Vec::new(),
    };
    for (chain, mut sources) in by_chain {
        sources.sort_unstable();
        sources.dedup();
        let window = graph.seqs_in_time(chain, req.since, req.until);
        let assets: BTreeSet<u32> = match req.asset {
            Some(a) => graph.asset_id(chain, a).into_iter().collect(),
            None => sources
                .iter()
                .flat_map(|&s| start_edges(graph, req.direction, s))
                .filter(|&e| window.contains(&graph.edge_seq(e)))
                .map(|e| graph.edge_asset(e))
                .collect(),
        };
        for asset in assets {
            let ctx = engine::Ctx {
                g: graph,
                dir: req.direction,
                model: req.model,
                asset,
                window: window.clone(),
                max_hops: req.max_hops,
                min_amount: req.min_amount,
                cap: req.fan_out_cap,
                oracle,
                sources: &sources,
            };
            let out = match req.model {
                Model::Poison => engine::run::<models::Poison>(&ctx),
                Model::Haircut => engine::run::<models::Haircut>(&ctx),
                Model::Fifo => engine::run::<models::Fifo>(&ctx),
            };
            out.append_to(&ctx, &mut result);
        }
    }
    result
        .destinations
        .sort_by(|a, b| (a.chain, a.asset, a.hops, b.amount).cmp(&(b.chain, b.asset, b.hops, a.amount)));
    result.holding.sort_by(|a, b| {
        (a.chain, a.asset, b.amount, a.address).cmp(&(b.chain, b.asset, a.amount, b.address))
    });
    result.exits.sort_by(|a, b| {
        (a.chain, a.asset, b.amount, a.address).cmp(&(b.chain, b.asset, a.amount, b.address))
    });
    Ok(result)
}

fn start_edges(g: &Graph, dir: Direction, n: u32) -> Vec<EdgeId> {
    match dir {
        Direction::Forward => g.out_edges(n).collect(),
        Direction::Backward => g.in_edges(n).collect(),
    }
}

#[cfg(test)]
mod tests;

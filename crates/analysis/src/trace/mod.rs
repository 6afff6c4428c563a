//! Fund tracing over the temporal transfer graph under a taint model (poison, haircut, fifo).
//!
//! [`trace`] follows funds forward (where they went) or backward (where they came from) from start
//! addresses, respecting time, and reports where the tainted value ended: addresses still holding it, labeled
//! exits (exchanges, mixers, bridges, sanctioned addresses) and what was cut off by limits. Pure: no I/O.
//! See `docs/tracing.md` for the models, the time rule and the stop rules, with worked examples.
//!
//! Conversions (swaps, wraps, bridges; [`crate::conversions`]): taint is tracked per `(chain, asset)` run;
//! [`trace_with_conversions`] marks each conversion's input transfers so that their taint is handed to the
//! conversion instead of the pool or bridge, and re-runs the target `(chain, asset)` with the converted taint
//! arriving at the recipient (on the output transfer, or virtually when there is none), until nothing
//! changes. Paths then carry [`TraceStep::Conversion`] steps.

mod balance_index;
mod engine;
mod fx;
mod models;
mod par;
mod reach;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use chaintrace_core::{Address, Asset, Chain, TxHash, U256};
use chaintrace_graph::{AssetId, EdgeId, Graph, NodeId};

use crate::conversions::ConversionEdge;
pub use balance_index::{BalanceIndex, DEFAULT_SPACING, IN_GROUP_MIN};
use engine::{Arena, EXT, GStep, Handoff, RunConv, RunOutput, VirtualInflow};
use models::{Route, mul_div_floor};

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
pub trait ExitOracle: Sync {
    /// The exit label of `address` on `chain`, if tracing should stop there.
    fn exit(&self, chain: Chain, address: Address) -> Option<ExitInfo>;

    /// Every `(chain, address)` for which [`ExitOracle::exit`] answers `Some`, when the oracle can list them
    /// cheaply (an optional speed-up: the poison engine then looks a reached address up in a sorted list of
    /// node ids instead of asking `exit` for every address it reaches). `None` (the default): ask per address.
    fn exits_listed(&self) -> Option<Vec<(Chain, Address)>> {
        None
    }
}

/// An oracle that knows no exits.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoExits;

impl ExitOracle for NoExits {
    fn exit(&self, _chain: Chain, _address: Address) -> Option<ExitInfo> {
        None
    }

    fn exits_listed(&self) -> Option<Vec<(Chain, Address)>> {
        Some(Vec::new())
    }
}

impl ExitOracle for HashMap<(Chain, Address), ExitInfo> {
    fn exit(&self, chain: Chain, address: Address) -> Option<ExitInfo> {
        self.get(&(chain, address)).cloned()
    }

    fn exits_listed(&self) -> Option<Vec<(Chain, Address)>> {
        Some(self.keys().copied().collect())
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

/// One step of a path: a transfer, or a conversion (swap, wrap, bridge) the taint went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceStep {
    /// A transfer.
    Transfer {
        /// Chain of the transfer.
        chain: Chain,
        /// Asset moved.
        asset: Asset,
        /// The transfer.
        step: PathStep,
    },
    /// A conversion: the taint changed asset (swap, wrap) or chain (bridge) here.
    Conversion(Box<ConversionEdge>),
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
    /// The conversions on `path` (see [`PathSegment`]); empty when the path is all transfers of this
    /// destination's chain and asset. [`Destination::steps`] gives the path with its conversions.
    pub segments: Vec<PathSegment>,
    /// Whether the address is a labeled exit.
    pub is_exit: bool,
}

impl Destination {
    /// The path with the conversions it went through, in trace order (the transfers of `path` when there
    /// were none).
    pub fn steps(&self) -> Vec<TraceStep> {
        path_steps(&self.path, &self.segments, self.chain, self.asset)
    }
}

/// A stretch of a path: some of its transfers, all of one chain and asset, then the conversion (if any)
/// that moved the taint to the next stretch's asset or chain. A path with conversions is a list of these
/// covering its transfers in order; one without is stored as no segments at all (every result has
/// thousands of paths and few conversions, so the transfers are not stored twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathSegment {
    /// Number of the path's transfers in this stretch.
    pub transfers: u32,
    /// Chain of those transfers.
    pub chain: Chain,
    /// Asset of those transfers.
    pub asset: Asset,
    /// The conversion after them (none: the path ends here, or the next stretch simply continues).
    pub conversion: Option<Box<ConversionEdge>>,
}

/// The steps of a path stored as transfers plus segments (see [`PathSegment`]).
fn path_steps(path: &[PathStep], segments: &[PathSegment], chain: Chain, asset: Asset) -> Vec<TraceStep> {
    if segments.is_empty() {
        return path
            .iter()
            .map(|s| TraceStep::Transfer {
                chain,
                asset,
                step: s.clone(),
            })
            .collect();
    }
    let mut out = Vec::with_capacity(path.len() + segments.len());
    let mut rest = path.iter();
    for seg in segments {
        for s in rest.by_ref().take(seg.transfers as usize) {
            out.push(TraceStep::Transfer {
                chain: seg.chain,
                asset: seg.asset,
                step: s.clone(),
            });
        }
        if let Some(c) = &seg.conversion {
            out.push(TraceStep::Conversion(c.clone()));
        }
    }
    // Segments always cover the whole path; transfers past them (none) would be the destination's own.
    out.extend(rest.map(|s| TraceStep::Transfer {
        chain,
        asset,
        step: s.clone(),
    }));
    out
}

/// Builds a path's segments step by step (the result-building side of [`PathSegment`]).
#[derive(Debug, Default)]
pub(crate) struct SegmentBuilder {
    segments: Vec<PathSegment>,
    open: Option<(u32, Chain, Asset)>,
    converted: bool,
}

impl SegmentBuilder {
    /// A transfer of `chain` and `asset`.
    pub(crate) fn transfer(&mut self, chain: Chain, asset: Asset) {
        match &mut self.open {
            Some((n, c, a)) if *c == chain && *a == asset => *n += 1,
            _ => {
                self.close(None);
                self.open = Some((1, chain, asset));
            }
        }
    }

    /// A conversion after the transfers so far.
    pub(crate) fn conversion(&mut self, edge: &ConversionEdge) {
        self.converted = true;
        self.close(Some(Box::new(edge.clone())));
    }

    fn close(&mut self, conversion: Option<Box<ConversionEdge>>) {
        let (transfers, chain, asset) = match self.open.take() {
            Some(o) => o,
            // A conversion before any transfer: a segment of no transfers (of its input side) carries it.
            None => match &conversion {
                Some(c) => (0, c.from_chain, c.asset_in),
                None => return,
            },
        };
        self.segments.push(PathSegment {
            transfers,
            chain,
            asset,
            conversion,
        });
    }

    /// The segments of a path ending at a destination of `chain` and `asset` (none when the whole path is
    /// transfers of that chain and asset).
    pub(crate) fn finish(mut self, chain: Chain, asset: Asset) -> Vec<PathSegment> {
        if !self.converted
            && self.segments.is_empty()
            && self.open.is_none_or(|o| (o.1, o.2) == (chain, asset))
        {
            return Vec::new();
        }
        self.close(None);
        self.segments
    }
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
    /// The conversions on `path` (see [`PathSegment`]); [`Exit::steps`] gives the path with them.
    pub segments: Vec<PathSegment>,
}

impl Exit {
    /// The path with the conversions it went through, in trace order.
    pub fn steps(&self) -> Vec<TraceStep> {
        path_steps(&self.path, &self.segments, self.chain, self.asset)
    }
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
/// `emitted + converted_in == holding + exits + dropped + returned + converted_out` exactly.
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
    /// Taint that arrived through conversions into this asset (0 without conversions).
    pub converted_in: U256,
    /// Taint handed to conversions out of this asset (0 without conversions).
    pub converted_out: U256,
}

/// A conversion the taint went through, with the taint that entered and left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionUse {
    /// The conversion edge.
    pub edge: ConversionEdge,
    /// Index of the edge in the slice given to [`trace_with_conversions`].
    pub index: usize,
    /// Tainted amount of `asset_in` handed to it (its share, for one of several bridge candidates).
    pub taint_in: U256,
    /// Tainted amount of `asset_out` it passed on: `floor(min(taint_in, amount_in) * amount_out / amount_in)`.
    pub taint_out: U256,
    /// Fewest transfers from a start to the conversion.
    pub hops: u32,
}

/// How a trace uses conversion edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConversionOptions {
    /// Also follow bridge releases that are only candidates of an ambiguous or weak match; the deposit's
    /// taint is then split among its candidates in proportion to their confidence (rounding down, the
    /// remainder to the best candidate), so nothing is counted twice. Off: candidates are not followed and
    /// the deposit stays a transfer into the bridge.
    pub follow_candidates: bool,
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
    /// Conversions the taint went through (empty without conversion edges).
    pub conversions: Vec<ConversionUse>,
}

impl TraceResult {
    /// A result with nothing in it yet.
    pub(crate) fn empty(model: Model, direction: Direction) -> TraceResult {
        TraceResult {
            model,
            direction,
            destinations: Vec::new(),
            holding: Vec::new(),
            exits: Vec::new(),
            truncated: Vec::new(),
            summary: Vec::new(),
            conversions: Vec::new(),
        }
    }

    /// Appends another run's entries after this one's (the caller sorts at the end).
    pub(crate) fn absorb(&mut self, part: TraceResult) {
        self.destinations.extend(part.destinations);
        self.holding.extend(part.holding);
        self.exits.extend(part.exits);
        self.truncated.extend(part.truncated);
        self.summary.extend(part.summary);
        self.conversions.extend(part.conversions);
    }
}

/// Traces funds from the request's start addresses (no conversions: every `(chain, asset)` on its own).
pub fn trace(graph: &Graph, req: &TraceRequest, oracle: &dyn ExitOracle) -> Result<TraceResult, TraceError> {
    trace_with_conversions(graph, req, oracle, &[], ConversionOptions::default())
}

/// The "same question" the peers of the benchmark answer: the `(node, asset)` pairs a forward or backward
/// poison trace of `req` reaches (exactly the nodes and assets of [`trace`]'s destinations for the request
/// with `model` set to poison: exits included, starts excluded), sorted, without amounts, holdings or paths.
/// `req.model` is ignored. Cheaper than [`trace`] when only reachability matters (no result building).
pub fn reach_set(
    graph: &Graph,
    req: &TraceRequest,
    oracle: &dyn ExitOracle,
) -> Result<Vec<(NodeId, AssetId)>, TraceError> {
    let mut req = req.clone();
    req.model = Model::Poison;
    if let Some(set) = reach::reach_set_poison(graph, &req, oracle) {
        return set;
    }
    // A fan-out cap binds: the time-ordered engine decides who is cut off.
    let r = trace(graph, &req, oracle)?;
    let mut set: Vec<(NodeId, AssetId)> = r
        .destinations
        .iter()
        .filter_map(|d| Some((graph.node(d.chain, d.address)?, graph.asset_id(d.chain, d.asset)?)))
        .collect();
    set.sort_unstable();
    set.dedup();
    Ok(set)
}

/// Most `(chain, asset)` runs of one trace (re-runs included); a bound on conversion cycles.
const MAX_RUNS: usize = 4096;

/// A conversion edge placed on the graph.
struct Placed {
    index: usize,
    /// The conversion (a copy: placed conversions are few, and a by-owner source hands out owned edges).
    edge: ConversionEdge,
    to_asset: AssetId,
    weight: f64,
    out_edges: Vec<(EdgeId, U256)>,
    virtual_target: Option<(NodeId, u32, u32, u32, U256)>,
}

/// What one run hands to one conversion, summed over its input edges.
#[derive(Clone, PartialEq, Eq)]
struct Feed {
    placed: usize,
    taint_in: U256,
    hops: u32,
    rec: u32,
}

/// Traces funds through transfers and, forward, through conversion edges (swaps, wraps, bridges; see
/// [`crate::conversions`] and docs/tracing.md "Conversions"). Backward traces ignore conversions.
///
/// A conversion whose owner passes taint to one of its input transfers (transfers of `asset_in` from the
/// owner in the input transaction) takes that taint instead of the pool or bridge; it reappears as
/// `floor(min(taint_in, amount_in) * amount_out / amount_in)` of `asset_out` at the recipient, on the
/// output transfers (of `asset_out` to the recipient in the output transaction) or, without one, as a
/// virtual inflow at that time. A conversion counts one hop for the input and one for the output.
pub fn trace_with_conversions(
    graph: &Graph,
    req: &TraceRequest,
    oracle: &dyn ExitOracle,
    conversions: &[ConversionEdge],
    opts: ConversionOptions,
) -> Result<TraceResult, TraceError> {
    trace_indexed(graph, req, oracle, conversions, opts, None)
}

/// Conversion edges looked up by owner, for a source that does not hold every edge in memory (the CLI's
/// conversions cache file, where a trace reads only the few conversions of the addresses it meets).
pub trait ConversionSource: Sync {
    /// Whether the source has no conversion at all.
    fn is_empty(&self) -> bool;
    /// The conversions whose owner is `owner` on `chain`, as `(index, edge)`, ascending by index. The index
    /// is the edge's position in the whole set (what [`ConversionUse::index`] reports).
    fn owned_by(&self, chain: Chain, owner: Address) -> Vec<(u32, ConversionEdge)>;
}

/// The conversion edges a trace may cross.
#[derive(Clone, Copy)]
pub enum Conversions<'a> {
    /// Every edge, in memory; indices are positions in the slice.
    All(&'a [ConversionEdge]),
    /// Edges fetched by owner when a trace meets the owner passing taint on.
    ByOwner(&'a dyn ConversionSource),
}

impl Conversions<'_> {
    fn is_empty(&self) -> bool {
        match self {
            Conversions::All(c) => c.is_empty(),
            Conversions::ByOwner(s) => s.is_empty(),
        }
    }
}

/// [`trace_with_conversions`] with a [`BalanceIndex`] of `graph` (built by [`BalanceIndex::build`], or read
/// back from a cache of it): the same result, faster for haircut and fifo on addresses with long histories.
/// An index that does not fit the graph ([`BalanceIndex::fits`]) is not used.
pub fn trace_indexed(
    graph: &Graph,
    req: &TraceRequest,
    oracle: &dyn ExitOracle,
    conversions: &[ConversionEdge],
    opts: ConversionOptions,
    index: Option<&BalanceIndex>,
) -> Result<TraceResult, TraceError> {
    trace_from(graph, req, oracle, Conversions::All(conversions), opts, index)
}

/// [`trace_indexed`] with the conversions from any [`Conversions`] source: the same result for the same
/// edges, whether they are all in memory or fetched by owner.
pub fn trace_from(
    graph: &Graph,
    req: &TraceRequest,
    oracle: &dyn ExitOracle,
    conversions: Conversions<'_>,
    opts: ConversionOptions,
    index: Option<&BalanceIndex>,
) -> Result<TraceResult, TraceError> {
    let index = index.filter(|ix| ix.fits(graph));
    // Poison without conversions: the hop-layered engine (same result; it declines when a fan-out cap binds).
    if req.model == Model::Poison
        && conversions.is_empty()
        && let Some(result) = reach::trace_poison(graph, req, oracle)
    {
        return result;
    }
    let by_chain = check_request(graph, req)?;
    let mut result = TraceResult::empty(req.model, req.direction);
    // Initial runs: every asset the starts moved in the window (or the one asked for), per chain.
    let mut sources_of: HashMap<Chain, Vec<NodeId>> = HashMap::new();
    let mut initial: BTreeSet<AssetId> = BTreeSet::new();
    for (chain, sources) in by_chain {
        initial.extend(start_assets(graph, req, chain, &sources));
        sources_of.insert(chain, sources);
    }

    let use_conversions = req.direction == Direction::Forward && !conversions.is_empty();
    let mut placement = Placement::new(
        graph,
        if use_conversions {
            conversions
        } else {
            Conversions::All(&[])
        },
        opts,
    );

    let mut arena = Arena::default();
    if !use_conversions {
        // No conversion joins two runs: each asset's run is independent (see `par`); parts join in asset order.
        let assets: Vec<AssetId> = initial.iter().copied().collect();
        let no_conv = RunConv::default();
        let parts = par::map(assets.len(), |i| {
            let asset = assets[i];
            let chain = graph.asset(asset).0;
            let sources = sources_of.get(&chain).map_or(&[][..], Vec::as_slice);
            let mut ctx = ctx_for(graph, req, oracle, asset, sources, &no_conv);
            ctx.index = index;
            let out = run_model(&ctx);
            let mut part = TraceResult::empty(req.model, req.direction);
            out.append_to(&ctx, &arena, &placement, &mut part);
            part
        });
        for part in parts {
            result.absorb(part);
        }
        sort_result(&mut result);
        return Ok(result);
    }
    #[cfg(test)]
    LAST_RUNS.with(|r| r.set(0));
    let mut outputs: BTreeMap<AssetId, RunOutput> = BTreeMap::new();
    let mut used: HashMap<AssetId, Vec<Feed>> = HashMap::new();
    let mut dirty: BTreeSet<AssetId> = initial.clone();
    let mut runs = 0usize;
    let empty_sources: Vec<NodeId> = Vec::new();
    while let Some(asset) = dirty.pop_first() {
        runs += 1;
        if runs > MAX_RUNS {
            break;
        }
        let chain = graph.asset(asset).0;
        let feeds = feeds_into(asset, &outputs, &placement.placed, &placement.inputs);
        let mut conv = RunConv::default();
        place_feeds(&feeds, &placement.placed, &mut arena, &mut conv);
        let sources = if initial.contains(&asset) {
            sources_of.get(&chain).unwrap_or(&empty_sources)
        } else {
            &empty_sources
        };
        // Conversions are placed when their owner first passes taint on in their input asset (placing all of
        // them costs seconds at 10^7); if one placed after a run had an input the run tainted, the run is
        // repeated with it, which gives what placing everything up front gives.
        let mut out = loop {
            conv.inputs = placement.inputs_of_asset.remove(&asset).unwrap_or_default();
            let mut ctx = ctx_for(graph, req, oracle, asset, sources, &conv);
            ctx.index = index;
            let out = run_model(&ctx);
            #[cfg(test)]
            LAST_RUNS.with(|r| r.set(r.get() + 1));
            placement
                .inputs_of_asset
                .insert(asset, std::mem::take(&mut conv.inputs));
            if !placement.place_after(graph, asset, &out) {
                break out;
            }
            runs += 1;
            if runs > MAX_RUNS {
                break out;
            }
        };
        // Handoff records become arena ids, so other runs can continue their paths.
        let mut memo = HashMap::new();
        let mut handoffs = std::mem::take(&mut out.handoffs);
        for h in &mut handoffs {
            h.rec = out.globalize(h.rec, &mut arena, &mut memo);
        }
        out.handoffs = handoffs;
        used.insert(asset, feeds);
        let targets: BTreeSet<AssetId> = out
            .handoffs
            .iter()
            .flat_map(|h| placement.inputs.get(&h.edge).into_iter().flatten())
            .map(|&p| placement.placed[p].to_asset)
            .collect();
        outputs.insert(asset, out);
        for t in targets {
            let now = feeds_into(t, &outputs, &placement.placed, &placement.inputs);
            if used.get(&t).is_none_or(|u| *u != now) {
                dirty.insert(t);
            }
        }
    }

    for (asset, out) in outputs {
        let chain = graph.asset(asset).0;
        let sources = if initial.contains(&asset) {
            sources_of.get(&chain).unwrap_or(&empty_sources)
        } else {
            &empty_sources
        };
        let conv = RunConv::default();
        let ctx = ctx_for(graph, req, oracle, asset, sources, &conv);
        out.append_to(&ctx, &arena, &placement, &mut result);
    }
    for feeds in used.values() {
        for f in feeds {
            let p = &placement.placed[f.placed];
            let edge = &p.edge;
            result.conversions.push(ConversionUse {
                edge: edge.clone(),
                index: p.index,
                taint_in: f.taint_in,
                taint_out: converted(edge, f.taint_in),
                hops: f.hops,
            });
        }
    }
    result.conversions.sort_by_key(|u| (u.hops, u.index));
    sort_result(&mut result);
    Ok(result)
}

/// The result's final order: by chain and asset, then destinations by hops and amount (descending), holdings
/// and exits by amount (descending) and address. Stable: ties keep the engines' order.
pub(crate) fn sort_result(result: &mut TraceResult) {
    result
        .destinations
        .sort_by(|a, b| (a.chain, a.asset, a.hops, b.amount).cmp(&(b.chain, b.asset, b.hops, a.amount)));
    result.holding.sort_by(|a, b| {
        (a.chain, a.asset, b.amount, a.address).cmp(&(b.chain, b.asset, a.amount, b.address))
    });
    result.exits.sort_by(|a, b| {
        (a.chain, a.asset, b.amount, a.address).cmp(&(b.chain, b.asset, a.amount, b.address))
    });
}

/// One engine run under the context's model.
fn run_model(ctx: &engine::Ctx<'_>) -> RunOutput {
    match ctx.model {
        Model::Poison => engine::run::<models::Poison>(ctx),
        Model::Haircut => engine::run::<models::Haircut>(ctx),
        Model::Fifo => engine::run::<models::Fifo>(ctx),
    }
}

fn ctx_for<'a>(
    graph: &'a Graph,
    req: &TraceRequest,
    oracle: &'a dyn ExitOracle,
    asset: AssetId,
    sources: &'a [NodeId],
    conv: &'a RunConv,
) -> engine::Ctx<'a> {
    let chain = graph.asset(asset).0;
    engine::Ctx {
        g: graph,
        dir: req.direction,
        model: req.model,
        asset,
        window: graph.seqs_in_time(chain, req.since, req.until),
        max_hops: req.max_hops,
        min_amount: req.min_amount,
        cap: req.fan_out_cap,
        oracle,
        sources,
        conv,
        index: None,
    }
}

/// `floor(min(taint_in, amount_in) * amount_out / amount_in)`: never more than the conversion paid out.
fn converted(edge: &ConversionEdge, taint_in: U256) -> U256 {
    if edge.amount_in.is_zero() {
        return U256::ZERO;
    }
    mul_div_floor(taint_in.min(edge.amount_in), edge.amount_out, edge.amount_in)
}

/// Edges of `node` (outgoing or incoming) of `asset` in transaction `tx` of block `block` of `chain`: a binary
/// search by seq in the node's time-sorted list, then the block's few edges (a hub's list is never copied).
fn edges_in_tx(
    g: &Graph,
    chain: Chain,
    node: NodeId,
    outgoing: bool,
    asset: AssetId,
    block: u64,
    tx: TxHash,
) -> Vec<EdgeId> {
    let seqs = g.seqs_in_block(chain, block);
    if seqs.is_empty() {
        return Vec::new();
    }
    // Positions in the node's list: out-edges are a range of ids, in-edges a range of the in-permutation.
    let list = if outgoing {
        g.out_edges(node)
    } else {
        g.in_edge_slots(node)
    };
    let len = list.end - list.start;
    let at = |i: u32| {
        if outgoing {
            list.start + i
        } else {
            g.in_edge_at(list.start + i)
        }
    };
    // First position whose seq is at or after the block's first seq.
    let (mut lo, mut hi) = (0u32, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if g.edge_seq(at(mid)) < seqs.start {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    (lo..len)
        .map(&at)
        .take_while(|&e| g.edge_seq(e) < seqs.end)
        .filter(|&e| g.edge_asset(e) == asset && g.tx_hash(g.tx_index(g.edge_seq(e))) == tx)
        .collect()
}

/// Places one conversion edge on the graph: its input transfers (by edge id) and where its output lands. `None`
/// when it cannot be placed (owner or assets absent, no input transfer, recipient unknown on the output chain):
/// its input stays an ordinary transfer.
fn place_one(g: &Graph, c: &ConversionEdge, index: usize) -> Option<(Placed, Vec<EdgeId>)> {
    let (Some(from_asset), Some(to_asset), Some(owner), Some(recipient)) = (
        g.asset_id(c.from_chain, c.asset_in),
        g.asset_id(c.to_chain, c.asset_out),
        g.node(c.from_chain, c.owner),
        g.node(c.to_chain, c.recipient),
    ) else {
        return None;
    };
    let all_in = edges_in_tx(g, c.from_chain, owner, true, from_asset, c.from_block, c.from_tx);
    let to_via: Vec<EdgeId> = all_in
        .iter()
        .copied()
        .filter(|&e| {
            let to = g.node_key(g.edge_dst(e)).1;
            to == Address::ZERO || c.via.contains(&to)
        })
        .collect();
    let input = if to_via.is_empty() { all_in } else { to_via };
    if input.is_empty() {
        return None;
    }
    let out_edges: Vec<(EdgeId, U256)> =
        edges_in_tx(g, c.to_chain, recipient, false, to_asset, c.to_block, c.to_tx)
            .into_iter()
            .filter(|&e| g.edge_src(e) != recipient)
            .map(|e| (e, g.edge_amount(e)))
            .collect();
    let covered = out_edges
        .iter()
        .fold(U256::ZERO, |s, (_, a)| s.saturating_add(*a));
    let virtual_target = if covered >= c.amount_out {
        None
    } else {
        let key = if c.from_chain == c.to_chain && c.from_tx == c.to_tx {
            input.iter().map(|&e| g.edge_seq(e)).max()
        } else {
            let s = g.seqs_in_time(c.to_chain, Some(c.to_time), None);
            (!s.is_empty()).then_some(s.start)
        };
        key.map(|k| {
            let same_tx = c.from_chain == c.to_chain && c.from_tx == c.to_tx;
            let tx = if same_tx { g.tx_index(k) } else { u32::MAX };
            (recipient, k, g.block_index(k), tx, c.amount_out - covered)
        })
    };
    if out_edges.is_empty() && virtual_target.is_none() {
        return None;
    }
    let placed = Placed {
        index,
        edge: c.clone(),
        to_asset,
        weight: c.weight(),
        out_edges,
        virtual_target,
    };
    Some((placed, input))
}

/// The conversion of an index, for building paths (which name conversions by index).
pub(crate) trait ConversionLookup {
    fn conversion(&self, index: u32) -> Option<&ConversionEdge>;
}

impl ConversionLookup for Placement<'_> {
    fn conversion(&self, index: u32) -> Option<&ConversionEdge> {
        self.by_index.get(&index).map(|&p| &self.placed[p].edge)
    }
}

/// `(chain, address)` as integers that order like the pair (chain, then the address bytes): sorting the
/// ~10^6 conversions of a 10^7-transfer store by owner compares integers instead of calling `memcmp`
/// (about 0.2 s -> a few tens of ms at 971k conversions).
type OwnerKey = (u128, u64);

fn owner_key(chain: Chain, address: Address) -> OwnerKey {
    let b = address.as_bytes();
    let mut hi = [0u8; 16];
    hi[0] = chain as u8;
    hi[1..].copy_from_slice(&b[..15]);
    let mut lo = [0u8; 8];
    lo[3..].copy_from_slice(&b[15..]);
    (u128::from_be_bytes(hi), u64::from_be_bytes(lo))
}

/// The conversion edges placed on the graph so far. A conversion only matters once its owner passes taint on
/// in its input asset, so each is placed when a run first sees its owner do that (`place_after`), not up
/// front: a trace that meets a few swaps does not place the other hundreds of thousands.
struct Placement<'c> {
    conversions: Conversions<'c>,
    opts: ConversionOptions,
    /// Placed conversion by conversion index (for paths, which name conversions by index).
    by_index: HashMap<u32, usize>,
    /// A by-owner source's answers so far (an owner is asked once, whatever the assets it passes on).
    fetched: HashMap<NodeId, Vec<(u32, ConversionEdge)>>,
    /// Indices of the conversions that may be placed (candidates only when followed), by `(chain, owner)`
    /// (as [`owner_key`]).
    by_owner: Vec<(OwnerKey, u32)>,
    /// `(owner, input asset)` pairs whose conversions are placed.
    done: HashSet<(NodeId, AssetId)>,
    placed: Vec<Placed>,
    /// Input edge -> placed conversions it feeds, in conversion order.
    inputs: HashMap<EdgeId, Vec<usize>>,
    inputs_of_asset: HashMap<AssetId, HashSet<EdgeId>>,
}

impl<'c> Placement<'c> {
    fn new(g: &Graph, conversions: Conversions<'c>, opts: ConversionOptions) -> Placement<'c> {
        // A by-owner source has its own index; a slice gets one here.
        let all = match conversions {
            Conversions::All(c) => c,
            Conversions::ByOwner(_) => &[],
        };
        let mut by_owner: Vec<(OwnerKey, u32)> = all
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_candidate || opts.follow_candidates)
            .map(|(i, c)| (owner_key(c.from_chain, c.owner), i as u32))
            .collect();
        by_owner.sort_unstable();
        let mut p = Placement {
            conversions,
            opts,
            by_index: HashMap::new(),
            fetched: HashMap::new(),
            by_owner,
            done: HashSet::new(),
            placed: Vec::new(),
            inputs: HashMap::new(),
            inputs_of_asset: HashMap::new(),
        };
        if eager_placement() {
            let owners: Vec<(Chain, Address)> = p
                .by_owner
                .iter()
                .map(|&(_, i)| (all[i as usize].from_chain, all[i as usize].owner))
                .collect();
            for (chain, address) in owners {
                if let Some(n) = g.node(chain, address) {
                    for asset in 0..g.asset_count() {
                        p.place_owner(g, n, asset);
                    }
                }
            }
        }
        p
    }

    /// Places the conversions of `owner` whose input asset is `asset` (once per pair); returns the input
    /// edges of those placed now.
    fn place_owner(&mut self, g: &Graph, owner: NodeId, asset: AssetId) -> Vec<EdgeId> {
        if !self.done.insert((owner, asset)) {
            return Vec::new();
        }
        let (chain, address) = g.node_key(owner);
        let owned: Vec<(u32, std::borrow::Cow<'_, ConversionEdge>)> = match self.conversions {
            Conversions::All(all) => {
                let key = owner_key(chain, address);
                let lo = self.by_owner.partition_point(|&(k, _)| k < key);
                self.by_owner[lo..]
                    .iter()
                    .take_while(|&&(k, _)| k == key)
                    .map(|&(_, i)| (i, std::borrow::Cow::Borrowed(&all[i as usize])))
                    .collect()
            }
            Conversions::ByOwner(src) => {
                let follow = self.opts.follow_candidates;
                self.fetched
                    .entry(owner)
                    .or_insert_with(|| {
                        let mut owned = src.owned_by(chain, address);
                        owned.retain(|(_, c)| !c.is_candidate || follow);
                        owned
                    })
                    .iter()
                    .map(|(i, c)| (*i, std::borrow::Cow::Owned(c.clone())))
                    .collect()
            }
        };
        let mut new_inputs = Vec::new();
        for (index, conv) in owned {
            if g.asset_id(conv.from_chain, conv.asset_in) != Some(asset) {
                continue;
            }
            let Some((placed, input)) = place_one(g, &conv, index as usize) else {
                continue;
            };
            let p = self.placed.len();
            self.by_index.insert(index, p);
            self.placed.push(placed);
            for e in input {
                self.inputs.entry(e).or_default().push(p);
                self.inputs_of_asset.entry(g.edge_asset(e)).or_default().insert(e);
                new_inputs.push(e);
            }
        }
        new_inputs
    }

    /// After a run of `asset`: places the conversions of every address that passed taint on in it. True when
    /// one placed now has an input transfer the run tainted (the run must then be repeated).
    fn place_after(&mut self, g: &Graph, asset: AssetId, out: &RunOutput) -> bool {
        let nothing_to_place = match self.conversions {
            // A slice's placeable conversions are indexed in `by_owner` (candidates left out unless followed).
            Conversions::All(_) => self.by_owner.is_empty(),
            Conversions::ByOwner(src) => src.is_empty(),
        };
        if nothing_to_place {
            return false;
        }
        let mut senders: Vec<NodeId> = out.tainted_edges().map(|e| g.edge_src(e)).collect();
        senders.sort_unstable();
        senders.dedup();
        let mut placed_now: HashSet<EdgeId> = HashSet::new();
        for n in senders {
            placed_now.extend(self.place_owner(g, n, asset));
        }
        !placed_now.is_empty() && out.tainted_edges().any(|e| placed_now.contains(&e))
    }
}

#[cfg(test)]
thread_local! {
    /// Tests: place every conversion up front (the reference the lazy placement is compared with).
    pub(crate) static EAGER_PLACEMENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Tests: engine runs of the last trace through conversions on this thread.
    pub(crate) static LAST_RUNS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn eager_placement() -> bool {
    #[cfg(test)]
    {
        EAGER_PLACEMENT.with(|c| c.get())
    }
    #[cfg(not(test))]
    {
        false
    }
}

/// Taint every finished run hands to conversions into `target`, per placed conversion.
fn feeds_into(
    target: AssetId,
    outputs: &BTreeMap<AssetId, RunOutput>,
    placed: &[Placed],
    inputs: &HashMap<EdgeId, Vec<usize>>,
) -> Vec<Feed> {
    // By conversion index, so the order does not depend on when each conversion was placed.
    let mut by_placed: BTreeMap<usize, Feed> = BTreeMap::new();
    for out in outputs.values() {
        for h in &out.handoffs {
            let Some(ps) = inputs.get(&h.edge) else { continue };
            for (p, share) in split(h, ps, placed) {
                if placed[p].to_asset != target || share.is_zero() {
                    continue;
                }
                let f = by_placed.entry(placed[p].index).or_insert(Feed {
                    placed: p,
                    taint_in: U256::ZERO,
                    hops: h.hops,
                    rec: h.rec,
                });
                f.taint_in = f.taint_in.saturating_add(share);
                if h.hops < f.hops {
                    f.hops = h.hops;
                    f.rec = h.rec;
                }
            }
        }
    }
    by_placed.into_values().collect()
}

/// Splits a handoff among the conversions sharing its input edge, by weight, rounding down; the remainder
/// goes to the first (best) one. One conversion takes everything.
fn split(h: &Handoff, ps: &[usize], placed: &[Placed]) -> Vec<(usize, U256)> {
    if ps.len() == 1 {
        return vec![(ps[0], h.taint)];
    }
    let w: Vec<U256> = ps
        .iter()
        .map(|&p| U256::from((placed[p].weight * 1_000_000.0).round().max(1.0) as u64))
        .collect();
    let total = w.iter().fold(U256::ZERO, |s, x| s.saturating_add(*x));
    let mut shares: Vec<(usize, U256)> = ps
        .iter()
        .zip(&w)
        .map(|(&p, &wi)| (p, mul_div_floor(h.taint, wi, total)))
        .collect();
    let given = shares.iter().fold(U256::ZERO, |s, x| s.saturating_add(x.1));
    let best = (0..shares.len())
        .max_by(|&a, &b| {
            placed[ps[a]]
                .weight
                .total_cmp(&placed[ps[b]].weight)
                .then(b.cmp(&a))
        })
        .unwrap_or(0);
    shares[best].1 = shares[best].1.saturating_add(h.taint - given);
    shares
}

/// Turns feeds into the target run's inflows: the converted taint spread over the output transfers (each
/// up to its amount), the rest as a virtual inflow. Each conversion becomes an arena step.
fn place_feeds(feeds: &[Feed], placed: &[Placed], arena: &mut Arena, conv: &mut RunConv) {
    for f in feeds {
        let p = &placed[f.placed];
        let mut left = converted(&p.edge, f.taint_in);
        if left.is_zero() {
            continue;
        }
        let id = arena.intern(GStep::Conv(p.index as u32), f.rec);
        let route = Route {
            hops: f.hops,
            rec: EXT | id,
        };
        for &(e, amount) in &p.out_edges {
            if left.is_zero() {
                break;
            }
            let t = left.min(amount);
            conv.edge_inj.push((e, t, route));
            left -= t;
        }
        if !left.is_zero()
            && let Some((node, key, block, tx, balance)) = p.virtual_target
        {
            conv.virt_inj.push(VirtualInflow {
                node,
                key,
                block,
                tx,
                balance,
                taint: left.min(balance),
                route,
            });
        }
    }
}

/// Checks a request's options and resolves its start addresses: per chain (in first-seen order), the start
/// nodes sorted and without duplicates. Both engines start here.
pub(crate) fn check_request(
    graph: &Graph,
    req: &TraceRequest,
) -> Result<Vec<(Chain, Vec<NodeId>)>, TraceError> {
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
    let mut by_chain: Vec<(Chain, Vec<NodeId>)> = Vec::new();
    for &(chain, address) in &req.starts {
        let node = graph
            .node(chain, address)
            .ok_or(TraceError::UnknownAddress { chain, address })?;
        match by_chain.iter_mut().find(|(c, _)| *c == chain) {
            Some((_, v)) => v.push(node),
            None => by_chain.push((chain, vec![node])),
        }
    }
    for (_, sources) in &mut by_chain {
        sources.sort_unstable();
        sources.dedup();
    }
    Ok(by_chain)
}

/// The assets a trace starts with on `chain`: the one the request names, or every asset `sources` moved in
/// the request's window and direction (out-edges forward, in-edges backward).
pub(crate) fn start_assets(
    graph: &Graph,
    req: &TraceRequest,
    chain: Chain,
    sources: &[NodeId],
) -> BTreeSet<AssetId> {
    if let Some(a) = req.asset {
        return graph.asset_id(chain, a).into_iter().collect();
    }
    let window = graph.seqs_in_time(chain, req.since, req.until);
    let in_window = |e: &EdgeId| window.contains(&graph.edge_seq(*e));
    let mut assets = BTreeSet::new();
    for &s in sources {
        match req.direction {
            Direction::Forward => {
                assets.extend(graph.out_edges(s).filter(in_window).map(|e| graph.edge_asset(e)))
            }
            Direction::Backward => {
                assets.extend(graph.in_edges(s).filter(in_window).map(|e| graph.edge_asset(e)))
            }
        }
    }
    assets
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod conv_tests;

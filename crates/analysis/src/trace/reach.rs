//! A fast engine for the poison model: a hop-layered earliest-arrival search, no per-edge heap.
//!
//! Same meaning as the time-ordered engine (`engine.rs`) for poison (docs/tracing.md), same
//! [`TraceResult`], paths included. Under poison an outflow of an address is tainted when some tainted
//! arrival qualifies for it under the time rule (an earlier block, or the same transaction at an earlier
//! position); its hop count is one more than the fewest hops among the qualifying arrivals. So the search
//! goes by hop level: the arrivals of level `h` (sorted by time) extend each address's "qualifying state"
//! (its first tainted block, plus the earliest arrival per transaction of that block) and every out-edge
//! that newly qualifies is emitted once, at level `h + 1`. Each tainted edge is touched once.
//!
//! The hop limit keeps the engine's rule: an address starts passing taint on at its first arrival (in time)
//! with fewer than `max_hops` hops; arrivals before that are held at the hop limit, later ones all count.
//!
//! Not here: the fan-out cap's cut-offs depend on the time order of a hub's outflows, so when a cap would
//! bind (some address has more tainted outflows than the cap) [`trace_poison`] answers `None` and the
//! caller uses the time-ordered engine. Conversions are not handled here either.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ops::Range;

use chaintrace_core::{Chain, U256};
use chaintrace_graph::{AssetId, EdgeId, Graph, NodeId, Seq};

use super::engine::Locator;
use super::{
    AssetSummary, Destination, Direction, Exit, ExitInfo, ExitOracle, HoldReason, Holding, Model, PathStep,
    TraceError, TraceRequest, TraceResult, TraceStep,
};

const NONE: u32 = u32::MAX;
const FAR: u64 = u64::MAX;

/// Checks a request and splits it into runs: one per asset, each with its chain's sources (sorted), in
/// asset order (as the engine does).
/// A request's runs: `(asset, sources)`.
type Runs = Vec<(AssetId, Vec<NodeId>)>;

fn plan<'g>(graph: &'g Graph, req: &TraceRequest) -> Result<(View<'g>, Runs), TraceError> {
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
    let view = View {
        g: graph,
        dir: req.direction,
    };
    let mut runs: Runs = Vec::new();
    for (chain, mut sources) in by_chain {
        sources.sort_unstable();
        sources.dedup();
        let window = graph.seqs_in_time(chain, req.since, req.until);
        let assets: BTreeSet<AssetId> = match req.asset {
            Some(a) => graph.asset_id(chain, a).into_iter().collect(),
            None => sources
                .iter()
                .flat_map(|&s| (0..view.out_len(s)).map(move |i| view.out_at(s, i)))
                .filter(|&e| window.contains(&graph.edge_seq(e)))
                .map(|e| graph.edge_asset(e))
                .collect(),
        };
        runs.extend(assets.into_iter().map(|a| (a, sources.clone())));
    }
    runs.sort_unstable_by_key(|r| r.0);
    Ok((view, runs))
}

/// Traces a poison request without conversions. `None` when the fan-out cap would cut an address off
/// (the time-ordered engine handles that); otherwise exactly what the time-ordered engine returns.
pub(crate) fn trace_poison(
    graph: &Graph,
    req: &TraceRequest,
    oracle: &dyn ExitOracle,
) -> Option<Result<TraceResult, TraceError>> {
    let (view, runs) = match plan(graph, req) {
        Ok(p) => p,
        Err(e) => return Some(Err(e)),
    };
    let mut result = TraceResult {
        model: Model::Poison,
        direction: req.direction,
        destinations: Vec::new(),
        holding: Vec::new(),
        exits: Vec::new(),
        truncated: Vec::new(),
        summary: Vec::new(),
        conversions: Vec::new(),
    };
    for (asset, sources) in &runs {
        let chain = graph.asset(*asset).0;
        let window = graph.seqs_in_time(chain, req.since, req.until);
        let mut run = Run::new(view, req, oracle, *asset, &window, sources);
        run.search()?;
        run.append_to(&mut result);
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
    Some(Ok(result))
}

/// The `(node, asset)` pairs a poison trace of `req` reaches (the nodes and assets of its destinations,
/// exits included, starts excluded), sorted, without amounts, holdings or paths. `None` when the fan-out
/// cap would cut an address off (the caller then asks the time-ordered engine).
pub(crate) fn reach_set_poison(
    graph: &Graph,
    req: &TraceRequest,
    oracle: &dyn ExitOracle,
) -> Option<Result<Vec<(NodeId, AssetId)>, TraceError>> {
    let (view, runs) = match plan(graph, req) {
        Ok(p) => p,
        Err(e) => return Some(Err(e)),
    };
    let mut out = Vec::new();
    for (asset, sources) in &runs {
        let chain = graph.asset(*asset).0;
        let window = graph.seqs_in_time(chain, req.since, req.until);
        let mut run = Run::new(view, req, oracle, *asset, &window, sources);
        run.amounts = false;
        run.search()?;
        out.extend(run.nodes.iter().filter(|n| n.reached()).map(|n| (n.id, *asset)));
    }
    out.sort_unstable();
    out.dedup();
    Some(Ok(out))
}

/// A run's tables, reused across runs on one thread: a small trace then pays neither for allocating and
/// zeroing one slot per graph node nor for growing its vectors again.
#[derive(Default)]
struct Scratch {
    /// Node id -> 1 + index into `nodes`; all zero between runs.
    slot: Vec<u32>,
    /// Empty between runs (capacity kept).
    nodes: Vec<NodeState>,
    recs: Vec<Rec>,
    next: Vec<Arrival>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The graph seen in the trace's direction: forward, out-edges in seq order; backward, in-edges in
/// reverse seq order (key `u32::MAX - seq`), so "later" is always "larger key".
#[derive(Clone, Copy)]
struct View<'a> {
    g: &'a Graph,
    dir: Direction,
}

impl View<'_> {
    #[inline]
    fn key(&self, e: EdgeId) -> u32 {
        let s = self.g.edge_seq(e);
        match self.dir {
            Direction::Forward => s,
            Direction::Backward => u32::MAX - s,
        }
    }
    #[inline]
    fn seq_of(&self, key: u64) -> Seq {
        match self.dir {
            Direction::Forward => key as u32,
            Direction::Backward => u32::MAX - key as u32,
        }
    }
    /// Keys of a seq range, as a half-open key range.
    fn keys(&self, r: Range<Seq>) -> Range<u64> {
        if r.is_empty() {
            return 0..0;
        }
        match self.dir {
            Direction::Forward => u64::from(r.start)..u64::from(r.end),
            Direction::Backward => u64::from(u32::MAX - (r.end - 1))..u64::from(u32::MAX - r.start) + 1,
        }
    }
    fn out_len(&self, n: NodeId) -> u32 {
        match self.dir {
            Direction::Forward => self.g.out_edges(n).len() as u32,
            Direction::Backward => self.g.in_edge_slots(n).len() as u32,
        }
    }
    #[inline]
    fn out_at(&self, n: NodeId, i: u32) -> EdgeId {
        match self.dir {
            Direction::Forward => self.g.out_edges(n).start + i,
            Direction::Backward => self.g.in_edge_at(self.g.in_edge_slots(n).end - 1 - i),
        }
    }
    fn receiver(&self, e: EdgeId) -> NodeId {
        match self.dir {
            Direction::Forward => self.g.edge_dst(e),
            Direction::Backward => self.g.edge_src(e),
        }
    }
    /// First view-out index of `n` whose key is `>= key`.
    fn lower_bound(&self, n: NodeId, key: u64) -> u32 {
        let (mut lo, mut hi) = (0u32, self.out_len(n));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if u64::from(self.key(self.out_at(n, mid))) < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Source,
    Exit,
    Plain,
}

/// One tainted transfer: the edge, the record of the arrival its taint came from (`NONE`: a start's
/// outflow), and its view sender and receiver.
#[derive(Clone, Copy)]
struct Rec {
    edge: EdgeId,
    parent: u32,
    sender: NodeId,
    receiver: NodeId,
}

#[derive(Clone, Copy)]
struct Arrival {
    key: u32,
    rec: u32,
}

/// What the search knows about one address.
struct NodeState {
    id: NodeId,
    kind: Kind,
    exit: Option<ExitInfo>,
    received: U256,
    hops: u32,
    rec: u32,
    frontier: U256,
    /// Key of the first arrival (in time) with fewer than `max_hops` hops: from then on it passes taint on.
    act: u64,
    /// Every out-edge with a key at or after this qualifies (the end of the first tainted block).
    qual_from: u64,
    /// The first tainted block (meaningful when `qual_from != FAR`).
    first_block: u32,
    /// In the first tainted block: (transaction index, its end key, earliest arrival key in it).
    txs: Vec<(u32, u64, u64)>,
    followed: u32,
    emitted_taint: bool,
}

impl NodeState {
    /// Whether the address is a destination: reached by a tainted transfer and not a start.
    fn reached(&self) -> bool {
        self.kind != Kind::Source && self.rec != NONE && !self.received.is_zero()
    }
}

/// The fan-out cap would cut an address off.
struct Capped;

struct Run<'a> {
    view: View<'a>,
    oracle: &'a dyn ExitOracle,
    asset: AssetId,
    window: Range<u64>,
    sources: &'a [NodeId],
    max_hops: u32,
    min_amount: U256,
    cap: u32,
    /// Node id -> 1 + index into `nodes` (0: not seen).
    slot: Vec<u32>,
    nodes: Vec<NodeState>,
    recs: Vec<Rec>,
    next: Vec<Arrival>,
    level: u32,
    /// Whether amounts are summed (a full result); a reach set needs none.
    amounts: bool,
    /// Block and transaction of the last arrival looked at (arrivals of a level come in time order).
    loc: Locator,
    emitted: U256,
    dropped: U256,
    returned: U256,
}

impl<'a> Run<'a> {
    fn new(
        view: View<'a>,
        req: &TraceRequest,
        oracle: &'a dyn ExitOracle,
        asset: AssetId,
        window: &Range<Seq>,
        sources: &'a [NodeId],
    ) -> Run<'a> {
        let Scratch {
            mut slot,
            nodes,
            recs,
            next,
        } = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        let n = view.g.node_count() as usize;
        if slot.len() < n {
            slot.resize(n, 0);
        }
        Run {
            view,
            oracle,
            asset,
            window: view.keys(window.clone()),
            sources,
            max_hops: req.max_hops,
            min_amount: req.min_amount,
            cap: req.fan_out_cap,
            slot,
            nodes,
            recs,
            next,
            amounts: true,
            level: 0,
            loc: Locator::default(),
            emitted: U256::ZERO,
            dropped: U256::ZERO,
            returned: U256::ZERO,
        }
    }

    fn node(&mut self, n: NodeId) -> usize {
        let s = self.slot[n as usize];
        if s != 0 {
            return s as usize - 1;
        }
        let is_source = self.sources.binary_search(&n).is_ok();
        let exit = if is_source {
            None
        } else {
            let (chain, address) = self.view.g.node_key(n);
            self.oracle.exit(chain, address)
        };
        let kind = if is_source {
            Kind::Source
        } else if exit.is_some() {
            Kind::Exit
        } else {
            Kind::Plain
        };
        self.nodes.push(NodeState {
            id: n,
            kind,
            exit,
            received: U256::ZERO,
            hops: u32::MAX,
            rec: NONE,
            frontier: U256::ZERO,
            act: FAR,
            qual_from: FAR,
            first_block: 0,
            txs: Vec::new(),
            followed: 0,
            emitted_taint: false,
        });
        self.slot[n as usize] = self.nodes.len() as u32;
        self.nodes.len() - 1
    }

    fn search(&mut self) -> Option<()> {
        if self.window.is_empty() {
            return Some(());
        }
        self.search_inner().ok()
    }

    fn search_inner(&mut self) -> Result<(), Capped> {
        let (view, asset) = (self.view, self.asset);
        // Level 0: a start's outflows in the window are all tainted.
        for &s in self.sources {
            self.node(s);
            let len = view.out_len(s);
            let mut count = 0u32;
            for i in view.lower_bound(s, self.window.start)..len {
                let e = view.out_at(s, i);
                if u64::from(view.key(e)) >= self.window.end {
                    break;
                }
                if view.g.edge_asset(e) != asset {
                    continue;
                }
                count += 1;
                if count > self.cap {
                    return Err(Capped);
                }
                let amount = view.g.edge_amount(e);
                self.emitted = self.emitted.saturating_add(amount);
                if !amount.is_zero() {
                    self.send(s, e, amount, NONE);
                }
            }
        }
        while !self.next.is_empty() {
            self.level += 1;
            let mut cur = std::mem::take(&mut self.next);
            cur.sort_unstable_by_key(|a| a.key);
            for a in &cur {
                self.arrive(*a)?;
            }
        }
        Ok(())
    }

    /// A tainted transfer leaves `sender`: dropped below the minimum, else an arrival one level up.
    fn send(&mut self, sender: NodeId, e: EdgeId, amount: U256, parent: u32) {
        if amount < self.min_amount {
            self.dropped = self.dropped.saturating_add(amount);
            return;
        }
        self.recs.push(Rec {
            edge: e,
            parent,
            sender,
            receiver: self.view.receiver(e),
        });
        self.next.push(Arrival {
            key: self.view.key(e),
            rec: (self.recs.len() - 1) as u32,
        });
    }

    /// An arrival of the current level (arrivals of one level come in time order).
    fn arrive(&mut self, a: Arrival) -> Result<(), Capped> {
        let h = self.level;
        let r = self.recs[a.rec as usize];
        // Without amounts (a reach set), any non-zero stand-in marks the address as reached.
        let amount = if self.amounts {
            self.view.g.edge_amount(r.edge)
        } else {
            U256::from(1u8)
        };
        let i = self.node(r.receiver);
        let n = &mut self.nodes[i];
        if n.kind == Kind::Source {
            self.returned = self.returned.saturating_add(amount);
            return Ok(());
        }
        n.received = n.received.saturating_add(amount);
        if h < n.hops {
            n.hops = h;
            n.rec = a.rec;
        }
        if n.kind == Kind::Exit {
            return Ok(());
        }
        let k = u64::from(a.key);
        if h < self.max_hops {
            n.act = n.act.min(k);
        } else if k < n.act {
            // Every level below the limit is done, so `act` is final: this arrived before the address
            // started passing taint on.
            n.frontier = n.frontier.saturating_add(amount);
            return Ok(());
        }
        self.absorb(i, k, a.rec)
    }

    /// Adds a qualifying arrival at key `k` to node `i`'s state and emits the out-edges that now qualify.
    fn absorb(&mut self, i: usize, k: u64, rec: u32) -> Result<(), Capped> {
        let view = self.view;
        if k >= self.nodes[i].qual_from {
            return Ok(()); // everything it could qualify already does
        }
        let seq = view.seq_of(k);
        let (block, tx) = self.loc.block_tx(view.g, seq);
        let n = &mut self.nodes[i];
        if n.qual_from != FAR && block == n.first_block {
            let range = match n.txs.iter_mut().find(|t| t.0 == tx) {
                Some(t) if t.2 <= k => return Ok(()),
                Some(t) => {
                    let hi = t.2 + 1;
                    t.2 = k;
                    k + 1..hi
                }
                None => {
                    let end = view.keys(view.g.tx_seqs(tx)).end;
                    n.txs.push((tx, end, k));
                    k + 1..end
                }
            };
            return self.emit_range(i, range, rec, &[]);
        }
        // A new, earlier first block.
        let old_qual = n.qual_from;
        let old_block = n.first_block;
        let old_txs = std::mem::take(&mut n.txs);
        let new_qual = view.keys(view.g.block_seqs(block)).end;
        let tx_end = view.keys(view.g.tx_seqs(tx)).end;
        n.qual_from = new_qual;
        n.first_block = block;
        n.txs.push((tx, tx_end, k));
        self.emit_range(i, k + 1..tx_end, rec, &[])?;
        if old_qual == FAR {
            self.emit_range(i, new_qual..FAR, rec, &[])
        } else {
            let old_start = view.keys(view.g.block_seqs(old_block)).start;
            self.emit_range(i, new_qual..old_start, rec, &[])?;
            self.emit_range(i, old_start..old_qual, rec, &old_txs)
        }
    }

    /// Emits node `i`'s out-edges of the asset with keys in `keys` (within the window), except those
    /// already emitted through one of `done` (transaction entries of an earlier state).
    fn emit_range(
        &mut self,
        i: usize,
        keys: Range<u64>,
        rec: u32,
        done: &[(u32, u64, u64)],
    ) -> Result<(), Capped> {
        let (lo, hi) = (keys.start.max(self.window.start), keys.end.min(self.window.end));
        if lo >= hi {
            return Ok(());
        }
        let view = self.view;
        let n = self.nodes[i].id;
        let len = view.out_len(n);
        let mut j = view.lower_bound(n, lo);
        while j < len {
            let e = view.out_at(n, j);
            j += 1;
            let k = u64::from(view.key(e));
            if k >= hi {
                break;
            }
            if view.g.edge_asset(e) != self.asset || done.iter().any(|t| k > t.2 && k < t.1) {
                continue;
            }
            let amount = view.g.edge_amount(e);
            if amount.is_zero() {
                continue;
            }
            let st = &mut self.nodes[i];
            st.followed += 1;
            if st.followed > self.cap {
                return Err(Capped);
            }
            st.emitted_taint = true;
            self.send(n, e, amount, rec);
        }
        Ok(())
    }

    /// The path of record `rec`, from a start, with each record's step built once.
    fn path(&self, rec: u32, memo: &mut [u32], built: &mut Vec<PathStep>) -> Vec<PathStep> {
        let mut chain = Vec::new();
        let mut r = rec;
        while r != NONE {
            chain.push(r);
            r = self.recs[r as usize].parent;
        }
        chain
            .iter()
            .rev()
            .map(|&r| {
                if memo[r as usize] == NONE {
                    built.push(self.step(self.recs[r as usize]));
                    memo[r as usize] = (built.len() - 1) as u32;
                }
                built[memo[r as usize] as usize].clone()
            })
            .collect()
    }

    fn step(&self, r: Rec) -> PathStep {
        let g = self.view.g;
        let seq = g.edge_seq(r.edge);
        let bi = g.block_index(seq);
        let (from, to) = match self.view.dir {
            Direction::Forward => (r.sender, r.receiver),
            Direction::Backward => (r.receiver, r.sender),
        };
        PathStep {
            tx_hash: g.tx_hash(g.tx_index(seq)),
            from: g.node_key(from).1,
            to: g.node_key(to).1,
            amount: g.edge_amount(r.edge),
            block: g.block_number(bi),
            time: g.block_time(bi),
            seq,
        }
    }

    /// Result entries, in the engine's order (by node id, then the caller sorts).
    fn append_to(self, result: &mut TraceResult) {
        let g = self.view.g;
        let (chain, asset) = g.asset(self.asset);
        let model = Model::Poison;
        let mut summary = AssetSummary {
            model,
            chain,
            asset,
            emitted: self.emitted,
            holding: U256::ZERO,
            exits: U256::ZERO,
            dropped: self.dropped,
            returned: self.returned,
            converted_in: U256::ZERO,
            converted_out: U256::ZERO,
        };
        let mut reached: Vec<&NodeState> = self.nodes.iter().filter(|n| n.reached()).collect();
        reached.sort_unstable_by_key(|n| n.id);
        let mut memo = vec![NONE; self.recs.len()];
        let mut built = Vec::new();
        for n in reached {
            let address = g.node_key(n.id).1;
            let path = self.path(n.rec, &mut memo, &mut built);
            let steps: Vec<TraceStep> = path
                .iter()
                .map(|s| TraceStep::Transfer {
                    chain,
                    asset,
                    step: s.clone(),
                })
                .collect();
            if let Some(info) = &n.exit {
                summary.exits = summary.exits.saturating_add(n.received);
                result.exits.push(Exit {
                    model,
                    chain,
                    address,
                    asset,
                    amount: n.received,
                    info: info.clone(),
                    hops: n.hops,
                    path: path.clone(),
                    steps: steps.clone(),
                });
            } else {
                // Poison has no balance: an address that never passed taint on holds what it received
                // after it started passing taint on; what came before that rests at the hop limit.
                let active = n.act != FAR;
                let not_moved = if n.emitted_taint || !active {
                    U256::ZERO
                } else {
                    n.received.saturating_sub(n.frontier)
                };
                for (amount, reason) in [
                    (not_moved, HoldReason::NotMoved),
                    (n.frontier, HoldReason::HopLimit),
                ] {
                    if amount.is_zero() {
                        continue;
                    }
                    summary.holding = summary.holding.saturating_add(amount);
                    result.holding.push(Holding {
                        model,
                        chain,
                        address,
                        asset,
                        amount,
                        reason,
                        hops: n.hops,
                    });
                }
            }
            result.destinations.push(Destination {
                model,
                chain,
                address,
                asset,
                amount: n.received,
                hops: n.hops,
                path,
                steps,
                is_exit: n.exit.is_some(),
            });
        }
        result.summary.push(summary);
    }
}

impl Drop for Run<'_> {
    /// Clears the slots this run used and hands the table back for the next run on this thread.
    fn drop(&mut self) {
        let mut slot = std::mem::take(&mut self.slot);
        for n in &self.nodes {
            slot[n.id as usize] = 0;
        }
        let mut nodes = std::mem::take(&mut self.nodes);
        let mut recs = std::mem::take(&mut self.recs);
        let mut next = std::mem::take(&mut self.next);
        nodes.clear();
        recs.clear();
        next.clear();
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            if s.slot.len() < slot.len() {
                *s = Scratch {
                    slot,
                    nodes,
                    recs,
                    next,
                };
            }
        });
    }
}

#[cfg(test)]
#[path = "reach_tests.rs"]
mod tests;

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
//! Memory: at 10^7 transfers the search is bound by cache misses (each arrival lands on an address
//! scattered over the node and edge tables). A level's arrivals are radix-sorted by key, each carries its
//! receiver, and the loop prefetches the slot, offsets, state and last out-edge of arrivals 8-16 ahead.
//! The zero-amount check reads only the 8-byte amount slot, and an arrival after an address's last
//! out-edge needs no block or transaction lookup. Paths (full results only) are built once per record on
//! some destination's path, in seq order, so block, transaction and hash tables are read forward.
//!
//! The reach set alone ([`reach_set_poison`], the benchmark's "same question") has its own engine laid out
//! for reachability only, in `reach_set.rs` (module `set`).
//!
//! Not here: the fan-out cap's cut-offs depend on the time order of a hub's outflows, so when a cap would
//! bind (some address has more tainted outflows than the cap) [`trace_poison`] answers `None` and the
//! caller uses the time-ordered engine. Conversions are not handled here either.

use std::cell::RefCell;
use std::ops::Range;

use chaintrace_core::{Address, U256};
use chaintrace_graph::{AssetId, EdgeId, Graph, NodeId, Seq, prefetch};

use super::engine::Locator;
use super::{
    AssetSummary, Destination, Direction, Exit, ExitInfo, ExitOracle, HoldReason, Holding, Model, PathStep,
    TraceError, TraceRequest, TraceResult, check_request, start_assets,
};

const NONE: u32 = u32::MAX;
const FAR: u64 = u64::MAX;
/// Tag of a `Run::rec_amount` entry whose amount is 2^63 or more (never a narrow amount): the low bits
/// index `Run::wide_amounts`.
const WIDE: u64 = 1 << 63;

/// A request's runs: `(asset, sources)`.
type Runs = Vec<(AssetId, Vec<NodeId>)>;

/// Checks a request and splits it into runs: one per asset, each with its chain's sources (sorted), in
/// asset order (as the engine does).
fn plan<'g>(graph: &'g Graph, req: &TraceRequest) -> Result<(View<'g>, Runs), TraceError> {
    let by_chain = check_request(graph, req)?;
    let view = View {
        g: graph,
        dir: req.direction,
    };
    let mut runs: Runs = Vec::new();
    for (chain, sources) in by_chain {
        let assets = start_assets(graph, req, chain, &sources);
        runs.extend(assets.into_iter().map(|a| (a, sources.clone())));
    }
    runs.sort_unstable_by_key(|r| r.0);
    Ok((view, runs))
}

/// The node ids of the oracle's exits in `graph`, sorted, when the oracle lists them.
fn exit_nodes(graph: &Graph, oracle: &dyn ExitOracle) -> Option<Vec<NodeId>> {
    let mut v: Vec<NodeId> = oracle
        .exits_listed()?
        .into_iter()
        .filter_map(|(c, a)| graph.node(c, a))
        .collect();
    v.sort_unstable();
    v.dedup();
    Some(v)
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
    let exits = exit_nodes(graph, oracle);
    let mut result = TraceResult::empty(Model::Poison, req.direction);
    // Runs of different assets share nothing: they go to different cores; their parts join in run order.
    let parts = super::par::map(runs.len(), |i| {
        let (asset, sources) = &runs[i];
        let chain = graph.asset(*asset).0;
        let window = graph.seqs_in_time(chain, req.since, req.until);
        let mut run = Run::new(view, req, oracle, exits.as_deref(), *asset, &window, sources);
        run.search()?;
        let mut part = TraceResult::empty(Model::Poison, req.direction);
        run.append_to(&mut part);
        Some(part)
    });
    for part in parts {
        result.absorb(part?);
    }
    super::sort_result(&mut result);
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
    let exits = exit_nodes(graph, oracle);
    let mut out = Vec::new();
    for (asset, sources) in &runs {
        set::run(view.g, req, oracle, exits.as_deref(), *asset, sources, &mut out)?;
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
    /// Empty transaction lists with capacity, for `NodeState::txs` (one allocation per list ever, not one
    /// per address per run).
    tx_pool: Vec<Vec<TxEntry>>,
}

/// A transaction of an address's first tainted block: (transaction index, its end key, earliest arrival
/// key in it).
type TxEntry = (u32, u64, u64);

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

/// An arrival of the next level: its key, record and (copied from the record, so the level's loop reads
/// no record) receiver.
#[derive(Clone, Copy)]
struct Arrival {
    key: u32,
    rec: u32,
    receiver: NodeId,
}

/// Sorts arrivals by key (unstable order among equal keys is fine: equal keys are one transfer): a
/// comparison sort for small levels, else an LSD radix sort in three passes of 11 bits through `buf`.
fn sort_by_key(v: &mut Vec<Arrival>, buf: &mut Vec<Arrival>) {
    if v.len() < 4096 {
        v.sort_unstable_by_key(|a| a.key);
        return;
    }
    const BITS: u32 = 11;
    const BUCKETS: usize = 1 << BITS;
    buf.clear();
    buf.resize(
        v.len(),
        Arrival {
            key: 0,
            rec: 0,
            receiver: 0,
        },
    );
    let (mut src, mut dst) = (std::mem::take(v), std::mem::take(buf));
    for pass in 0..3 {
        let shift = pass * BITS;
        let digit = |a: &Arrival| ((a.key >> shift) as usize) & (BUCKETS - 1);
        let mut count = vec![0usize; BUCKETS];
        for a in &src {
            count[digit(a)] += 1;
        }
        if count.contains(&src.len()) {
            continue; // every key has the same digit: this pass moves nothing
        }
        let mut at = 0;
        for c in count.iter_mut() {
            let n = *c;
            *c = at;
            at += n;
        }
        for a in &src {
            let d = digit(a);
            dst[count[d]] = *a;
            count[d] += 1;
        }
        std::mem::swap(&mut src, &mut dst);
    }
    *v = src;
    *buf = dst;
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
    txs: Vec<TxEntry>,
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
    /// The oracle's exits as sorted node ids, when it lists them (else it is asked per new address).
    exits: Option<&'a [NodeId]>,
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
    tx_pool: Vec<Vec<TxEntry>>,
    /// Each record's amount when below 2^63, else `WIDE` | index into `wide_amounts`. Filled
    /// while the edge's amount slot is in cache (just checked for zero), so an arrival reads 8 bytes here
    /// (and a wide amount from `wide_amounts`) instead of the edge's slot and the graph's wide table at
    /// random.
    rec_amount: Vec<u64>,
    /// The amounts of 2^63 and more of records (read once, when the record is made), by `rec_amount`'s index.
    wide_amounts: Vec<U256>,
    next: Vec<Arrival>,
    /// Scratch of the radix sort.
    sort_buf: Vec<Arrival>,
    level: u32,
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
        exits: Option<&'a [NodeId]>,
        asset: AssetId,
        window: &Range<Seq>,
        sources: &'a [NodeId],
    ) -> Run<'a> {
        let Scratch {
            mut slot,
            nodes,
            recs,
            next,
            tx_pool,
        } = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        let n = view.g.node_count() as usize;
        if slot.len() < n {
            slot.resize(n, 0);
        }
        Run {
            view,
            oracle,
            exits,
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
            tx_pool,
            rec_amount: Vec::new(),
            wide_amounts: Vec::new(),
            sort_buf: Vec::new(),
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
        let exit = if is_source || self.exits.is_some_and(|x| x.binary_search(&n).is_err()) {
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
                self.emitted = self.emitted.saturating_add(view.g.edge_amount(e));
                if !view.g.edge_amount_is_zero(e) {
                    self.send(s, e, NONE);
                }
            }
        }
        while !self.next.is_empty() {
            self.level += 1;
            let mut cur = std::mem::take(&mut self.next);
            sort_by_key(&mut cur, &mut self.sort_buf);
            // The arrivals land on addresses scattered over the tables: hint the cache lines of later
            // arrivals (their slot and offsets, then their state and last out-edge) while this one runs.
            const AHEAD: usize = 16;
            for j in 0..cur.len() {
                if let Some(f) = cur.get(j + AHEAD) {
                    prefetch(&self.slot, f.receiver as usize);
                    view.g.prefetch_node(f.receiver, view.dir == Direction::Backward);
                }
                if let Some(f) = cur.get(j + AHEAD / 2) {
                    prefetch(&self.rec_amount, f.rec as usize);
                    let s = self.slot[f.receiver as usize];
                    if s != 0 {
                        prefetch(&self.nodes, s as usize - 1);
                    }
                    if view.dir == Direction::Forward {
                        let out = view.g.out_edges(f.receiver);
                        if !out.is_empty() {
                            view.g.prefetch_edge(out.end - 1);
                        }
                    }
                }
                self.arrive(cur[j])?;
            }
        }
        Ok(())
    }

    /// A tainted transfer (of a non-zero amount) leaves `sender`: dropped below the minimum, else an
    /// arrival one level up.
    fn send(&mut self, sender: NodeId, e: EdgeId, parent: u32) {
        let g = self.view.g;
        if !self.min_amount.is_zero() && g.edge_amount_below(e, self.min_amount) {
            self.dropped = self.dropped.saturating_add(g.edge_amount(e));
            return;
        }
        let receiver = self.view.receiver(e);
        let slot = match g.edge_amount_narrow(e) {
            Some(v) => v,
            None => {
                self.wide_amounts.push(g.edge_amount(e));
                WIDE | (self.wide_amounts.len() - 1) as u64
            }
        };
        self.rec_amount.push(slot);
        self.recs.push(Rec {
            edge: e,
            parent,
            sender,
            receiver,
        });
        self.next.push(Arrival {
            key: self.view.key(e),
            rec: (self.recs.len() - 1) as u32,
            receiver,
        });
    }

    /// The amount of record `rec`.
    #[inline]
    fn rec_amount_of(&self, rec: u32) -> U256 {
        match self.rec_amount[rec as usize] {
            v if v & WIDE != 0 => self.wide_amounts[(v & !WIDE) as usize],
            v => U256::from(v),
        }
    }

    /// An arrival of the current level (arrivals of one level come in time order).
    fn arrive(&mut self, a: Arrival) -> Result<(), Capped> {
        let h = self.level;
        let amount = self.rec_amount_of(a.rec);
        let i = self.node(a.receiver);
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
        // An arrival after the address's last out-edge qualifies nothing and leaves the state as it is
        // (the state only matters through the out-edges it qualifies): no block or transaction lookup.
        let id = self.nodes[i].id;
        let len = view.out_len(id);
        if len == 0 || u64::from(view.key(view.out_at(id, len - 1))) <= k {
            return Ok(());
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
                    let end = view.keys(self.loc.tx_seqs()).end;
                    n.txs.push((tx, end, k));
                    k + 1..end
                }
            };
            return self.emit_range(i, range, rec, &[]);
        }
        // A new, earlier first block.
        let old_qual = n.qual_from;
        let old_block = n.first_block;
        let mut fresh = self.tx_pool.pop().unwrap_or_default();
        let new_qual = view.keys(view.g.block_seqs(block)).end;
        let tx_end = view.keys(self.loc.tx_seqs()).end;
        fresh.push((tx, tx_end, k));
        let n = &mut self.nodes[i];
        let mut old_txs = std::mem::replace(&mut n.txs, fresh);
        n.qual_from = new_qual;
        n.first_block = block;
        self.emit_range(i, k + 1..tx_end, rec, &[])?;
        let res = if old_qual == FAR {
            self.emit_range(i, new_qual..FAR, rec, &[])
        } else {
            let old_start = view.keys(view.g.block_seqs(old_block)).start;
            self.emit_range(i, new_qual..old_start, rec, &[])
                .and_then(|()| self.emit_range(i, old_start..old_qual, rec, &old_txs))
        };
        if old_txs.capacity() > 0 {
            old_txs.clear();
            self.tx_pool.push(old_txs);
        }
        res
    }

    /// Emits node `i`'s out-edges of the asset with keys in `keys` (within the window), except those
    /// already emitted through one of `done` (transaction entries of an earlier state).
    fn emit_range(&mut self, i: usize, keys: Range<u64>, rec: u32, done: &[TxEntry]) -> Result<(), Capped> {
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
            // The 8-byte slot says whether the amount is zero; no wide-amount read.
            if view.g.edge_amount_is_zero(e) {
                continue;
            }
            let st = &mut self.nodes[i];
            st.followed += 1;
            if st.followed > self.cap {
                return Err(Capped);
            }
            st.emitted_taint = true;
            self.send(n, e, rec);
        }
        Ok(())
    }

    /// The path of record `rec`, from a start: clones of the steps `steps_of` built (`memo`: record ->
    /// index into `built`). `chain` is scratch.
    fn path(&self, rec: u32, memo: &[u32], built: &[PathStep], chain: &mut Vec<u32>) -> Vec<PathStep> {
        chain.clear();
        let mut r = rec;
        while r != NONE {
            chain.push(r);
            r = self.recs[r as usize].parent;
        }
        chain
            .iter()
            .rev()
            .map(|&r| built[memo[r as usize] as usize].clone())
            .collect()
    }

    /// Builds the step of every record on the path of one of `reached`, once each, in seq order (so block,
    /// transaction and hash lookups walk their tables forward; the hashes are read in file order). Returns
    /// `(memo, built)`: record -> index into `built` (`NONE` for records on no such path).
    fn steps_of(&self, reached: &[&NodeState], addr: &[Address]) -> (Vec<u32>, Vec<PathStep>) {
        const MARKED: u32 = NONE - 1;
        let g = self.view.g;
        let mut memo = vec![NONE; self.recs.len()];
        let mut need: Vec<(Seq, u32)> = Vec::new();
        for n in reached {
            let mut r = n.rec;
            while r != NONE && memo[r as usize] == NONE {
                memo[r as usize] = MARKED;
                let rec = &self.recs[r as usize];
                need.push((g.edge_seq(rec.edge), r));
                r = rec.parent;
            }
        }
        need.sort_unstable();
        let mut loc = Locator::default();
        let at: Vec<(u32, u32)> = need.iter().map(|&(seq, _)| loc.block_tx(g, seq)).collect();
        // One batch, in ascending order: the hashes are read from the snapshot file (see `Graph::tx_hashes`).
        let hashes = g.tx_hashes(&at.iter().map(|&(_, ti)| ti).collect::<Vec<_>>());
        let mut built = Vec::with_capacity(need.len());
        for ((&(seq, r), &(bi, _)), tx_hash) in need.iter().zip(&at).zip(hashes) {
            memo[r as usize] = built.len() as u32;
            let rec = self.recs[r as usize];
            let (from, to) = match self.view.dir {
                Direction::Forward => (rec.sender, rec.receiver),
                Direction::Backward => (rec.receiver, rec.sender),
            };
            built.push(PathStep {
                tx_hash,
                from: addr[self.slot[from as usize] as usize - 1],
                to: addr[self.slot[to as usize] as usize - 1],
                amount: self.rec_amount_of(r),
                block: g.block_number(bi),
                time: g.block_time(bi),
                seq,
            });
        }
        (memo, built)
    }

    /// The address of every start and reached node, by index into `nodes` (others: zero), read in node id
    /// order (the node table forward, not at random).
    fn addresses(&self) -> Vec<Address> {
        let g = self.view.g;
        let mut ids: Vec<(NodeId, u32)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.kind == Kind::Source || n.reached())
            .map(|(i, n)| (n.id, i as u32))
            .collect();
        ids.sort_unstable();
        let mut addr = vec![Address([0; 20]); self.nodes.len()];
        for (id, i) in ids {
            addr[i as usize] = g.node_key(id).1;
        }
        addr
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
        // In the caller's final order (hops, then amount descending, then address = node id), so its stable
        // sort finds the destinations already sorted.
        let mut reached: Vec<&NodeState> = self.nodes.iter().filter(|n| n.reached()).collect();
        reached.sort_unstable_by(|a, b| (a.hops, b.received, a.id).cmp(&(b.hops, a.received, b.id)));
        let addr = self.addresses();
        let (memo, built) = self.steps_of(&reached, &addr);
        let mut chain_scratch = Vec::new();
        result.destinations.reserve(reached.len());
        for n in reached {
            let address = addr[self.slot[n.id as usize] as usize - 1];
            let path = self.path(n.rec, &memo, &built, &mut chain_scratch);
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
                    segments: Vec::new(),
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
                segments: Vec::new(),
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
        let mut tx_pool = std::mem::take(&mut self.tx_pool);
        for n in &mut self.nodes {
            slot[n.id as usize] = 0;
            if n.txs.capacity() > 0 {
                let mut t = std::mem::take(&mut n.txs);
                t.clear();
                tx_pool.push(t);
            }
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
                    tx_pool,
                };
            }
        });
    }
}

#[path = "reach_set.rs"]
mod set;

#[cfg(test)]
#[path = "reach_tests.rs"]
mod tests;

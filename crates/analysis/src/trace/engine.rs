//! The time-ordered propagation engine shared by all models and both directions.
//!
//! One run covers one `(chain, asset)`. Edges are processed in global time order (a heap keyed by each active
//! address's next event), so every address sees its transfers in order and a transfer's tainted part is known
//! before the receiver uses it. Backward runs use the same code on the time-reversed view: in-edges become
//! out-edges and the order key is `u32::MAX - seq`.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use chaintrace_core::{Asset, Chain, U256};
use chaintrace_graph::{AssetId, EdgeId, Graph, NodeId, Seq, prefetch};

use super::balance_index::{BalanceIndex, PairView};
use super::fx::{FxHashMap, FxHashSet};
use super::models::{Pools, Route, TaintModel, better};
use super::{
    AssetSummary, ConversionLookup, Destination, Direction, Exit, ExitInfo, ExitOracle, HoldReason, Holding,
    Model, PathSegment, PathStep, SegmentBuilder, TraceResult, Truncation,
};

pub(crate) const NO_REC: u32 = u32::MAX;
/// Flag on a record id: the id points into the trace-wide arena (steps of earlier runs and conversion
/// steps), not into the run's own records.
pub(crate) const EXT: u32 = 1 << 31;

/// One step of the trace-wide path arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum GStep {
    /// A transfer.
    Edge(EdgeId),
    /// A conversion, by index into the caller's conversion edges.
    Conv(u32),
}

/// The trace-wide arena of path steps: (step, parent id or `NO_REC`), each distinct pair stored once, so a run
/// repeated with the same outcome gives its handoffs the same ids as before (the conversion loop then sees
/// that nothing changed instead of repeating runs that feed each other until its run limit).
#[derive(Debug, Default)]
pub(crate) struct Arena {
    steps: Vec<(GStep, u32)>,
    ids: HashMap<(GStep, u32), u32>,
}

impl Arena {
    /// The id of `(step, parent)`, added if new.
    pub(crate) fn intern(&mut self, step: GStep, parent: u32) -> u32 {
        let next = self.steps.len() as u32;
        let id = *self.ids.entry((step, parent)).or_insert(next);
        if id == next {
            self.steps.push((step, parent));
        }
        id
    }

    fn get(&self, id: u32) -> (GStep, u32) {
        self.steps[id as usize]
    }
}

/// Taint that enters a run through a conversion without a transfer of the run's asset to carry it (a wrap
/// minted without a `Transfer` event, a bridge release seen only as a log).
#[derive(Debug, Clone)]
pub(crate) struct VirtualInflow {
    pub(crate) node: NodeId,
    pub(crate) key: u32,
    pub(crate) block: u32,
    pub(crate) tx: u32,
    pub(crate) balance: U256,
    pub(crate) taint: U256,
    pub(crate) route: Route,
}

/// What conversions mean for one run: edges whose taint goes into a conversion instead of to their
/// receiver, and taint arriving from conversions (on a transfer of this asset, or virtually).
#[derive(Debug, Default)]
pub(crate) struct RunConv {
    pub(crate) inputs: HashSet<EdgeId>,
    pub(crate) edge_inj: Vec<(EdgeId, U256, Route)>,
    pub(crate) virt_inj: Vec<VirtualInflow>,
}

/// Taint a run handed to a conversion on one of its input edges.
#[derive(Debug, Clone)]
pub(crate) struct Handoff {
    pub(crate) edge: EdgeId,
    pub(crate) taint: U256,
    pub(crate) hops: u32,
    pub(crate) rec: u32,
}

pub(crate) struct Ctx<'a> {
    pub(crate) g: &'a Graph,
    pub(crate) dir: Direction,
    pub(crate) model: Model,
    pub(crate) asset: AssetId,
    pub(crate) window: Range<Seq>,
    pub(crate) max_hops: u32,
    pub(crate) min_amount: U256,
    pub(crate) cap: u32,
    pub(crate) oracle: &'a dyn ExitOracle,
    pub(crate) sources: &'a [NodeId],
    pub(crate) conv: &'a RunConv,
    /// Clean-balance checkpoints (forward balance models only; see [`BalanceIndex`]).
    pub(crate) index: Option<&'a BalanceIndex>,
}

impl Ctx<'_> {
    fn key(&self, e: EdgeId) -> u32 {
        let s = self.g.edge_seq(e);
        match self.dir {
            Direction::Forward => s,
            Direction::Backward => u32::MAX - s,
        }
    }
    /// Length of a node's view-out list (forward: out-edges; backward: in-edges).
    fn out_len(&self, n: NodeId) -> u32 {
        match self.dir {
            Direction::Forward => self.g.out_edges(n).len() as u32,
            Direction::Backward => self.g.in_edge_slots(n).len() as u32,
        }
    }
    fn out_at(&self, n: NodeId, i: u32) -> EdgeId {
        match self.dir {
            Direction::Forward => self.g.out_edges(n).start + i,
            Direction::Backward => self.g.in_edge_at(self.g.in_edge_slots(n).end - 1 - i),
        }
    }
    fn in_len(&self, n: NodeId) -> u32 {
        match self.dir {
            Direction::Forward => self.g.in_edge_slots(n).len() as u32,
            Direction::Backward => self.g.out_edges(n).len() as u32,
        }
    }
    fn in_at(&self, n: NodeId, i: u32) -> EdgeId {
        match self.dir {
            Direction::Forward => self.g.in_edge_at(self.g.in_edge_slots(n).start + i),
            Direction::Backward => self.g.out_edges(n).end - 1 - i,
        }
    }
    fn sender(&self, e: EdgeId) -> NodeId {
        match self.dir {
            Direction::Forward => self.g.edge_src(e),
            Direction::Backward => self.g.edge_dst(e),
        }
    }
    fn receiver(&self, e: EdgeId) -> NodeId {
        match self.dir {
            Direction::Forward => self.g.edge_dst(e),
            Direction::Backward => self.g.edge_src(e),
        }
    }
    /// First view-out index whose key is `>= key`.
    fn out_lower_bound(&self, n: NodeId, key: u32) -> u32 {
        crate::cluster::partition(self.out_len(n), |i| self.key(self.out_at(n, i)) < key)
    }
    fn window_start_key(&self) -> u32 {
        match self.dir {
            Direction::Forward => self.window.start,
            Direction::Backward => u32::MAX - (self.window.end.max(1) - 1),
        }
    }
}

/// Finds the block and transaction index of a seq. The block: a galloping search from its previous answer,
/// cheap when successive seqs are close (events in time order; one address's history in order), where
/// [`Graph::block_index`] searches the whole table each time. The transaction: [`Graph::tx_at`] (a rank in
/// the transaction-start bitmap; a gallop would need a select per probe). Both ranges are kept, so a seq of
/// the same block or transaction needs no lookup. Same answers.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Locator {
    block: u32,
    block_seqs: (Seq, Seq),
    tx: u32,
    tx_seqs: (Seq, Seq),
}

impl Locator {
    /// `(block index, transaction index)` of `seq`.
    #[inline]
    pub(crate) fn block_tx(&mut self, g: &Graph, seq: Seq) -> (u32, u32) {
        if !(self.tx_seqs.0 <= seq && seq < self.tx_seqs.1) {
            let (t, r) = g.tx_at(seq);
            self.tx = t;
            self.tx_seqs = (r.start, r.end);
        }
        if !(self.block_seqs.0 <= seq && seq < self.block_seqs.1) {
            self.block = gallop(|i| g.block_seqs(i).start, self.block, seq);
            let r = g.block_seqs(self.block);
            self.block_seqs = (r.start, r.end);
        }
        (self.block, self.tx)
    }

    /// Seq range of the transaction of the last [`Locator::block_tx`] answer.
    #[inline]
    pub(crate) fn tx_seqs(&self) -> std::ops::Range<Seq> {
        self.tx_seqs.0..self.tx_seqs.1
    }
}

/// The last index `i` with `start_of(i) <= s` (0 if none), searching outward from `hint`. `start_of` must
/// be non-decreasing and larger than any seq past the end of its table (as the graph's range accessors are).
fn gallop(start_of: impl Fn(u32) -> Seq, hint: u32, s: Seq) -> u32 {
    // Invariant once found: start_of(lo) <= s < start_of(hi) (or lo == 0).
    let (mut lo, mut hi);
    let mut step = 1u32;
    if start_of(hint) <= s {
        lo = hint;
        loop {
            let h = lo.saturating_add(step);
            if h == lo || start_of(h) > s {
                hi = h;
                break;
            }
            lo = h;
            step = step.saturating_mul(2);
        }
    } else {
        hi = hint;
        loop {
            let l = hi.saturating_sub(step);
            if l == 0 || start_of(l) <= s {
                lo = l;
                break;
            }
            hi = l;
            step = step.saturating_mul(2);
        }
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if start_of(mid) <= s {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

enum Role {
    Source,
    Active,
    /// Cut off by the fan-out cap; its taint is frozen.
    Stopped,
}

struct NodeState<M: TaintModel> {
    role: Role,
    out_i: u32,
    /// First view-in edge not yet applied to `pools` (models that use inflows).
    in_i: u32,
    followed: u32,
    pools: Pools<M>,
    /// Block and transaction lookups of this node's transfers (they come in time order).
    loc: Locator,
    /// Seq of the transfer behind the pending entry whose transaction is not looked up yet (`UNRESOLVED`).
    unresolved: Seq,
    /// Seq of a transfer in the block `loc.block` names when blocks are run-length ids (see
    /// [`NodeState::block_of`]); `None` before the first.
    anchor: Option<Seq>,
    /// The first taint, waiting for the history replay (see [`NodeState::replay`]).
    deferred: Option<Deferred<M>>,
    /// What `ctx.index` holds for the node and this run's asset (checkpoints, in-edge group).
    ix: PairView,
    /// The node's view-out list as [`Ranges::of`] locates it (no offset-table read per event).
    out: (u32, u32),
    /// The node's view-in list likewise (the asset's group when there is one).
    inl: (u32, u32),
}

/// Where a node's view lists are, read once when its state is made.
struct Ranges;

impl Ranges {
    /// `(out, in)`: view-out list as (forward: first out-edge; backward: one past its last in-slot, length),
    /// view-in list as (forward: first in-slot, or its start in the index's group list; backward: one past
    /// its last out-edge, length).
    fn of(ctx: &Ctx<'_>, n: NodeId, pv: PairView) -> ((u32, u32), (u32, u32)) {
        let g = ctx.g;
        let (o, i) = (g.out_edges(n), g.in_edge_slots(n));
        let (o_len, i_len) = (o.len() as u32, i.len() as u32);
        let out = match ctx.dir {
            Direction::Forward => (o.start, o_len),
            Direction::Backward => (i.end, i_len),
        };
        let inl = match (ctx.index, pv.group) {
            (Some(_), Some(gr)) => gr,
            _ => match ctx.dir {
                Direction::Forward => (i.start, i_len),
                Direction::Backward => (o.end, o_len),
            },
        };
        (out, inl)
    }
}

/// The view-out edge at index `i` of a list located by [`Ranges::of`] (same as [`Ctx::out_at`]).
#[inline]
fn out_edge(ctx: &Ctx<'_>, out: (u32, u32), i: u32) -> EdgeId {
    match ctx.dir {
        Direction::Forward => out.0 + i,
        Direction::Backward => ctx.g.in_edge_at(out.0 - 1 - i),
    }
}

/// An address's first taint, received once its balance is rebuilt.
struct Deferred<M: TaintModel> {
    /// The node's view-out edges before it (the history to replay, with its view-in edges of smaller key).
    out_end: u32,
    /// Order key of the first taint.
    key: u32,
    at: Arrival,
    flow: M::Flow,
    route: Route,
}

/// How many view-in edges ahead the in-edge loops ask for an edge's data (in-edges are scattered in memory).
const PREFETCH: u32 = 8;
/// The in-edge loops read the key of every this-many-th edge of another asset they skip (to stop near the
/// end of their key range without reading every key).
const KEY_CHECK: u32 = 4;

/// A node's view-in list, located once (for the loops over it).
#[derive(Clone, Copy)]
struct InList<'x> {
    forward: bool,
    /// Forward: first in-permutation slot; backward: one past the last out-edge.
    base: u32,
    len: u32,
    /// The in-edges of the run's asset alone, `(seq, edge)` in time order (forward, from the balance
    /// index): then positions are positions in this group.
    group: Option<&'x [(u32, u32)]>,
}

impl<'x> InList<'x> {
    /// A node's view-in list, from what its state keeps of it ([`Ranges::of`]; no offset-table read).
    #[inline]
    fn of_state<M: TaintModel>(ctx: &Ctx<'x>, st: &NodeState<M>) -> InList<'x> {
        let (base, len) = st.inl;
        if let (Some(ix), Some(_)) = (ctx.index, st.ix.group) {
            return InList {
                forward: true,
                base: 0,
                len,
                group: ix.in_list.get(base as usize..(base + len) as usize),
            };
        }
        InList {
            forward: ctx.dir == Direction::Forward,
            base,
            len,
            group: None,
        }
    }

    /// Hint for the cache line of entry `i` of the list (no effect on any answer).
    #[inline]
    fn prefetch_entry(self, ctx: &Ctx<'_>, i: u32) {
        if let Some(gr) = self.group {
            prefetch(gr, i as usize);
        } else if self.forward && i < self.len {
            ctx.g.prefetch_in_slot(self.base + i);
        }
    }

    /// Same as [`Ctx::in_at`] (in the group, when there is one).
    #[inline]
    fn at(self, g: &Graph, i: u32) -> EdgeId {
        if let Some(gr) = self.group {
            return gr[i as usize].1;
        }
        if self.forward {
            g.in_edge_at(self.base + i)
        } else {
            self.base - 1 - i
        }
    }

    /// Cache hint for the edge `PREFETCH` places after `i` (no effect on any answer).
    #[inline]
    fn prefetch(self, g: &Graph, i: u32) {
        if i + PREFETCH < self.len {
            g.prefetch_edge(self.at(g, i + PREFETCH));
        }
    }
}

/// Transaction of a pending entry not looked up yet: its transfer was alone in its block so far, where the
/// transaction does not matter. Looked up (see [`NodeState::position`]) only when another transfer of the
/// address comes in the same block. Never a transaction index (`u32::MAX` is "no transaction").
const UNRESOLVED: u32 = u32::MAX - 1;

impl<M: TaintModel> NodeState<M> {
    /// Block and transaction of the node's transfer at `seq` for its pools. The transaction is looked up
    /// only when the pools hold value pending in that block; otherwise the pools settle everything pending
    /// first and the transaction only names a new pending entry, so it is left `UNRESOLVED` until needed.
    fn position(&mut self, ctx: &Ctx<'_>, seq: Seq) -> (u32, u32) {
        let g = ctx.g;
        let block = self.block_of(ctx, seq);
        if lazy_inflows() && !self.pools.pending_in(block) {
            self.unresolved = seq;
            return (block, UNRESOLVED);
        }
        self.resolve(g, block);
        let loc = &mut self.loc;
        if !(loc.tx_seqs.0 <= seq && seq < loc.tx_seqs.1) {
            let (t, r) = g.tx_at(seq);
            loc.tx = t;
            loc.tx_seqs = (r.start, r.end);
        }
        (block, loc.tx)
    }

    /// The block of the node's transfer at `seq`, as the pools see it. Without virtual inflows (which name
    /// real block indices) the pools only compare the blocks of this node's transfers, which come in time
    /// order: then the block is a run-length id (equal for consecutive transfers of one block, one more at
    /// each new block), and [`blocks_differ_by_hint`] mostly tells blocks apart without searching the block
    /// table. Otherwise the block index.
    fn block_of(&mut self, ctx: &Ctx<'_>, seq: Seq) -> u32 {
        let (g, loc) = (ctx.g, &mut self.loc);
        if loc.block_seqs.0 <= seq && seq < loc.block_seqs.1 {
            return loc.block;
        }
        if lazy_inflows() && ctx.conv.virt_inj.is_empty() {
            let same = match self.anchor {
                Some(a) if !blocks_differ_by_hint(g, a, seq) => {
                    // Look the block up, and keep its range for the next transfers.
                    let r = g.block_seqs(g.block_index(seq));
                    loc.block_seqs = (r.start, r.end);
                    r.contains(&a)
                }
                Some(_) => {
                    loc.block_seqs = (0, 0);
                    false
                }
                None => false,
            };
            if !same {
                self.anchor = Some(seq);
                loc.block = loc.block.wrapping_add(1);
            }
            return loc.block;
        }
        loc.block = g.block_index(seq);
        let r = g.block_seqs(loc.block);
        loc.block_seqs = (r.start, r.end);
        loc.block
    }

    /// Looks up the transaction of the `UNRESOLVED` pending entry, if one is pending in `block`.
    fn resolve(&mut self, g: &Graph, block: u32) {
        if self.pools.pending_in(block) && self.pools.has_tx(UNRESOLVED) {
            self.pools.rename_tx(UNRESOLVED, g.tx_index(self.unresolved));
        }
    }

    /// Rebuilds the pools at the node's first taint from all earlier transfers of the asset, then receives
    /// the first taint. Deferred until the pools are first used (many reached addresses never send again):
    /// the sequence of pool operations is the same.
    fn replay(&mut self, ctx: &Ctx<'_>) {
        let Some(d) = self.deferred.take() else { return };
        if M::USES_INFLOWS {
            // History replay, merging the two time-sorted lists (edges of other assets skipped). The view-in
            // list is read up to its first edge of the asset with key `d.key` or more, or a little past the
            // last edge (any asset) before it, which gives `in_i` (edges of other assets skipped are skipped
            // for good: only the asset's edges are ever used).
            let g = ctx.g;
            let (out_end, upto) = (d.out_end, d.key);
            let il = InList::of_state(ctx, self);
            let out = self.out;
            let (mut i, mut j) = (0u32, 0u32);
            // Start at the last checkpoint before the first taint: the history before it is its balance.
            if let Some(ix) = ctx.index
                && self.ix.cps.0 < self.ix.cps.1
            {
                let (lo, hi) = self.ix.cps;
                let c = lo + crate::cluster::partition(hi - lo, |x| ix.key[(lo + x) as usize] < upto);
                if c > lo {
                    let c = (c - 1) as usize;
                    let balance = match ctx.model {
                        super::Model::Fifo => ix.balance_fifo[c],
                        _ => ix.balance[c],
                    };
                    self.pools = Pools::restored(balance);
                    (i, j) = (ix.out_cur[c], ix.in_cur[c]);
                }
            }
            let next_out = |i: &mut u32| {
                while *i < out_end {
                    let e = out_edge(ctx, out, *i);
                    *i += 1;
                    if g.edge_asset(e) == ctx.asset {
                        return Some((ctx.key(e), e));
                    }
                }
                None
            };
            let mut skipped = 0u32;
            let mut next_in = |j: &mut u32| {
                if let Some(gr) = il.group {
                    // One asset, time order (forward: key = seq).
                    let &(k, e) = gr.get(*j as usize)?;
                    if k >= upto {
                        return None;
                    }
                    *j += 1;
                    return Some((k, e));
                }
                while *j < il.len {
                    il.prefetch(g, *j);
                    let e = il.at(g, *j);
                    if g.edge_asset(e) != ctx.asset {
                        skipped += 1;
                        if skipped.is_multiple_of(KEY_CHECK) && ctx.key(e) >= upto {
                            break;
                        }
                        *j += 1;
                        continue;
                    }
                    let k = ctx.key(e);
                    if k >= upto {
                        break;
                    }
                    *j += 1;
                    return Some((k, e));
                }
                None
            };
            let (mut ho, mut hi) = (next_out(&mut i), next_in(&mut j));
            loop {
                let (take_out, h) = match (ho, hi) {
                    (None, None) => break,
                    (Some((_, e)), None) => (true, e),
                    (None, Some((_, e))) => (false, e),
                    (Some((ko, eo)), Some((ki, ei))) => {
                        if ko < ki {
                            (true, eo)
                        } else {
                            (false, ei)
                        }
                    }
                };
                let a = g.edge_amount(h);
                if take_out {
                    ho = next_out(&mut i);
                    // Without pending inflows the outflow's block and transaction do not matter.
                    let (b, t) = if self.pools.has_pending() {
                        self.position(ctx, g.edge_seq(h))
                    } else {
                        (0, 0)
                    };
                    self.pools.prepare_out(b, t);
                    let _ = self.pools.take(a);
                } else {
                    hi = next_in(&mut j);
                    let (b, t) = self.position(ctx, g.edge_seq(h));
                    self.pools.inflow(b, t, M::clean(a), None);
                }
            }
            // Past the edge of the first taint, if it came on one.
            self.in_i = j + u32::from(matches!(d.at, Arrival::Edge(_)));
        }
        let (block, tx) = match d.at {
            Arrival::Edge(e) => self.position(ctx, ctx.g.edge_seq(e)),
            Arrival::Virtual { block, tx } => {
                self.resolve(ctx.g, block);
                (block, tx)
            }
        };
        self.pools.inflow(block, tx, d.flow, Some(d.route));
    }

    /// Taint the node holds.
    fn held(&self) -> U256 {
        match &self.deferred {
            // Its history is clean: it holds what the first taint alone would give.
            Some(d) => {
                let mut pool = M::Pool::default();
                M::add(&mut pool, d.flow.clone());
                M::held(&pool)
            }
            None => self.pools.held(),
        }
    }

    /// Applies the node's inflows of the asset with key below `upto` that no event delivered: they are all
    /// clean. (A tainted inflow comes from a source or an active sender, whose event at its key ran before
    /// any event of key `upto`, and was delivered, and so applied, then.) So clean inflows need no events:
    /// they are folded in, in time order, just before the node's next event that uses its pools.
    fn fold(&mut self, ctx: &Ctx<'_>, upto: u32) {
        self.replay(ctx);
        if !M::USES_INFLOWS || !matches!(self.role, Role::Active) || !lazy_inflows() {
            return;
        }
        let il = InList::of_state(ctx, self);
        if let Some(gr) = il.group {
            // One asset, time order (forward: key = seq).
            while self.in_i < il.len {
                let (seq, h) = gr[self.in_i as usize];
                if seq >= upto {
                    break;
                }
                if let Some(&(_, ahead)) = gr.get((self.in_i + PREFETCH) as usize) {
                    ctx.g.prefetch_edge(ahead);
                }
                self.in_i += 1;
                let (b, t) = self.position(ctx, seq);
                self.pools.inflow(b, t, M::clean(ctx.g.edge_amount(h)), None);
            }
            return;
        }
        let mut skipped = 0u32;
        while self.in_i < il.len {
            il.prefetch(ctx.g, self.in_i);
            let h = il.at(ctx.g, self.in_i);
            // Edges of other assets are never used: skipped whatever their key, which is read only now and
            // then, to stop soon after `upto`.
            if ctx.g.edge_asset(h) != ctx.asset {
                skipped += 1;
                if skipped.is_multiple_of(KEY_CHECK) && ctx.key(h) >= upto {
                    break;
                }
                self.in_i += 1;
                continue;
            }
            if ctx.key(h) >= upto {
                break;
            }
            self.in_i += 1;
            let (b, t) = self.position(ctx, ctx.g.edge_seq(h));
            self.pools.inflow(b, t, M::clean(ctx.g.edge_amount(h)), None);
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Test switch: schedule every inflow as an event, as the engine did before clean inflows were folded
    /// lazily (the reference the equality tests compare against).
    pub(crate) static EAGER_INFLOWS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether clean inflows are folded lazily (always, outside the reference mode of the tests).
#[inline]
fn lazy_inflows() -> bool {
    #[cfg(test)]
    {
        !EAGER_INFLOWS.with(|c| c.get())
    }
    #[cfg(not(test))]
    {
        true
    }
}

thread_local! {
    /// Node id -> indexes into a run's node states and reached entries (`FREE`: none); all `FREE` between
    /// runs, kept for the next run on the thread (no table of the graph's size per run).
    static SLOTS: std::cell::RefCell<Vec<[u32; 2]>> = const { std::cell::RefCell::new(Vec::new()) };
}

const FREE: u32 = u32::MAX;

/// A run's node states and reached entries: dense vectors, found through the thread's slot table (a hash
/// map costs more here).
struct Nodes<M: TaintModel> {
    slot: Vec<[u32; 2]>,
    states: Vec<(NodeId, NodeState<M>)>,
    reach: Vec<(NodeId, Reach)>,
}

impl<M: TaintModel> Nodes<M> {
    fn new(node_count: u32) -> Self {
        let mut slot = SLOTS.with(|s| std::mem::take(&mut *s.borrow_mut()));
        if slot.len() < node_count as usize {
            slot.resize(node_count as usize, [FREE; 2]);
        }
        Nodes {
            slot,
            states: Vec::new(),
            reach: Vec::new(),
        }
    }

    /// Index of `n`'s state in `states`.
    #[inline]
    fn index(&self, n: NodeId) -> Option<u32> {
        let i = self.slot.get(n as usize)?[0];
        (i != FREE).then_some(i)
    }

    #[inline]
    fn get(&self, n: &NodeId) -> Option<&NodeState<M>> {
        let i = self.slot.get(*n as usize)?[0];
        self.states.get(i as usize).map(|s| &s.1)
    }

    #[inline]
    fn get_mut(&mut self, n: &NodeId) -> Option<&mut NodeState<M>> {
        let i = self.slot.get(*n as usize)?[0];
        self.states.get_mut(i as usize).map(|s| &mut s.1)
    }

    fn grow(&mut self, n: NodeId) {
        if self.slot.len() <= n as usize {
            self.slot.resize(n as usize + 1, [FREE; 2]);
        }
    }

    fn insert(&mut self, n: NodeId, st: NodeState<M>) {
        self.grow(n);
        match self.slot[n as usize][0] {
            FREE => {
                self.slot[n as usize][0] = self.states.len() as u32;
                self.states.push((n, st));
            }
            i => self.states[i as usize].1 = st,
        }
    }

    /// The reached entry of `n`, if it has one.
    #[inline]
    fn reach_get(&self, n: NodeId) -> Option<&Reach> {
        let i = self.slot.get(n as usize)?[1];
        self.reach.get(i as usize).map(|r| &r.1)
    }

    /// The reached entry of `n`, created empty if it has none.
    fn reach(&mut self, n: NodeId) -> &mut Reach {
        self.grow(n);
        let i = match self.slot[n as usize][1] {
            FREE => {
                let i = self.reach.len();
                self.slot[n as usize][1] = i as u32;
                self.reach.push((
                    n,
                    Reach {
                        received: U256::ZERO,
                        hops: u32::MAX,
                        rec: NO_REC,
                        frontier: U256::ZERO,
                        stopped_held: U256::ZERO,
                        exit: None,
                        emitted_taint: false,
                    },
                ));
                i
            }
            i => i as usize,
        };
        &mut self.reach[i].1
    }

    /// Removes the reached entry of `n`, if any.
    fn remove_reach(&mut self, n: NodeId) {
        let Some(&[_, i]) = self.slot.get(n as usize) else {
            return;
        };
        if i == FREE {
            return;
        }
        self.slot[n as usize][1] = FREE;
        self.reach.swap_remove(i as usize);
        if let Some(&(moved, _)) = self.reach.get(i as usize) {
            self.slot[moved as usize][1] = i;
        }
    }

    /// Hands the reached entries over (their slots freed).
    fn take_reach(&mut self) -> Vec<(NodeId, Reach)> {
        for &(n, _) in &self.reach {
            self.slot[n as usize][1] = FREE;
        }
        std::mem::take(&mut self.reach)
    }
}

impl<M: TaintModel> Drop for Nodes<M> {
    /// Frees the slots this run used and hands the table back for the next run on this thread.
    fn drop(&mut self) {
        for &(n, _) in &self.states {
            self.slot[n as usize][0] = FREE;
        }
        for &(n, _) in &self.reach {
            self.slot[n as usize][1] = FREE;
        }
        let slot = std::mem::take(&mut self.slot);
        SLOTS.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < slot.len() {
                *s = slot;
            }
        });
    }
}

thread_local! {
    /// The run's block hints: entry `k` is the block of seq `k << HINT_SHIFT`, looked up on first use
    /// (`FREE`: not yet). Reset at the start of each run (see [`reset_block_hints`]).
    static BLOCK_HINTS: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Seqs per block hint (as a shift).
const HINT_SHIFT: u32 = 10;

pub(crate) fn reset_block_hints(g: &Graph) {
    let len = (g.edge_count() >> HINT_SHIFT) as usize + 2;
    BLOCK_HINTS.with(|h| {
        let mut h = h.borrow_mut();
        h.clear();
        h.resize(len, FREE);
    });
}

/// Whether the transfers of rank `a` and `b` are surely in different blocks, judged from the blocks of two
/// hint seqs between them (each looked up once per run): `block(lo) <= block(hint after lo)` and
/// `block(hi) >= block(hint at or before hi)`. `false` means "not known". Most of one address's transfers
/// are far enough apart to be told apart here, without a search of the block table.
pub(crate) fn blocks_differ_by_hint(g: &Graph, a: Seq, b: Seq) -> bool {
    let (lo, hi) = (a.min(b), a.max(b));
    let (ka, kb) = ((lo >> HINT_SHIFT) as usize, (hi >> HINT_SHIFT) as usize);
    if kb <= ka + 1 {
        return false;
    }
    BLOCK_HINTS.with(|h| {
        let mut h = h.borrow_mut();
        let mut block_at = |k: usize| -> Option<u32> {
            let v = *h.get(k)?;
            if v != FREE {
                return Some(v);
            }
            let v = g.block_index((k as u32) << HINT_SHIFT);
            h[k] = v;
            Some(v)
        };
        match (block_at(kb), block_at(ka + 1)) {
            (Some(x), Some(y)) => x > y,
            _ => false,
        }
    })
}

/// What a run learned about one reached address.
struct Reach {
    received: U256,
    hops: u32,
    rec: u32,
    frontier: U256,
    stopped_held: U256,
    exit: Option<ExitInfo>,
    emitted_taint: bool,
}

/// How the first taint reaches an address.
#[derive(Clone, Copy)]
enum Arrival {
    /// On this in-edge.
    Edge(EdgeId),
    /// Virtually (a conversion), in this block and transaction.
    Virtual { block: u32, tx: u32 },
}

struct Truncated {
    node: NodeId,
    followed: u32,
    skipped: u64,
    held: U256,
}

pub(crate) struct RunOutput {
    /// Reached addresses (in no particular order).
    reach: Vec<(NodeId, Reach)>,
    held: Vec<(NodeId, U256)>,
    truncated: Vec<Truncated>,
    records: Vec<(EdgeId, u32)>,
    /// The real sender (`from`) of each record's transfer, for paths without a sender lookup.
    rec_from: Vec<NodeId>,
    emitted: U256,
    dropped: U256,
    returned: U256,
    pub(crate) handoffs: Vec<Handoff>,
    converted_in: U256,
    converted_out: U256,
}

struct Run<'c, 'a, M: TaintModel> {
    ctx: &'c Ctx<'a>,
    nodes: Nodes<M>,
    /// Waiting events, `key << 96 | node << 64 | state << 32 | edge` (the order of `(key, node)`; the state
    /// index and the edge ride along, so that the loop can hint the next events' data into the cache).
    heap: Events,
    out: RunOutput,
    exit_cache: FxHashMap<NodeId, Option<ExitInfo>>,
    inj_edges: FxHashMap<EdgeId, (U256, Route)>,
    /// The node whose events the main loop is running: `schedule` leaves it to the loop.
    current: Option<NodeId>,
}

/// A heap entry: the order of `(key, node)` as one integer, with the node's state index and the event's
/// edge in the low bits (fixed by `(key, node)`, so they do not change the order).
fn event(key: u32, n: NodeId, state: u32, e: EdgeId) -> u128 {
    (u128::from(key) << 96) | (u128::from(n) << 64) | (u128::from(state) << 32) | u128::from(e)
}

/// A run's waiting events (entries of [`event`]): a radix heap over the order key. Keys never go below the
/// last one popped (an event only schedules later events), so entries sit in buckets by the highest bit in
/// which their key differs from it, and a pop only sorts out the lowest bucket; pushes and most pops touch
/// the ends of short vectors, where a binary heap of many entries walks a cache-missing path to a leaf.
/// Pops come in the order of a min-heap of the entries (key, then node, state and edge).
struct Events {
    /// Key of the last pop (bucket 0 holds the entries of this key).
    last: u32,
    /// Bucket `b > 0`: entries whose key's highest bit differing from `last` is bit `b - 1`.
    buckets: [Vec<u128>; 33],
    /// Bit `b` set: bucket `b` is not empty.
    nonempty: u64,
    /// The smallest entry, when known.
    min: Option<u128>,
}

impl Events {
    fn new() -> Self {
        Events {
            last: 0,
            buckets: std::array::from_fn(|_| Vec::new()),
            nonempty: 0,
            min: None,
        }
    }

    #[inline]
    fn bucket(&self, k: u32) -> usize {
        (32 - (k ^ self.last).leading_zeros()) as usize
    }

    #[inline]
    fn push(&mut self, x: u128) {
        let k = (x >> 96) as u32;
        if k < self.last {
            self.rebase(k);
        }
        let b = self.bucket(k);
        self.buckets[b].push(x);
        self.nonempty |= 1 << b;
        if let Some(m) = self.min
            && x < m
        {
            self.min = Some(x);
        }
    }

    /// Re-buckets every entry around a smaller `last` (never needed by the engine, whose events only
    /// schedule later ones; kept so that an earlier key is still popped in order).
    #[cold]
    fn rebase(&mut self, k: u32) {
        let mut all = Vec::new();
        for b in &mut self.buckets {
            all.append(b);
        }
        self.nonempty = 0;
        self.last = k;
        for x in all {
            let b = self.bucket((x >> 96) as u32);
            self.buckets[b].push(x);
            self.nonempty |= 1 << b;
        }
    }

    /// The smallest entry.
    #[inline]
    fn peek(&mut self) -> Option<u128> {
        if self.min.is_none() && self.nonempty != 0 {
            let b = self.nonempty.trailing_zeros() as usize;
            self.min = self.buckets[b].iter().copied().min();
        }
        self.min
    }

    /// Removes and returns the smallest entry.
    fn pop(&mut self) -> Option<u128> {
        let m = self.peek()?;
        self.min = None;
        let b = self.nonempty.trailing_zeros() as usize;
        if b != 0 {
            // The lowest bucket spreads out around its smallest key: every entry goes to a lower bucket.
            self.last = (m >> 96) as u32;
            let mut v = std::mem::take(&mut self.buckets[b]);
            self.nonempty &= !(1 << b);
            for x in v.drain(..) {
                let nb = self.bucket((x >> 96) as u32);
                self.buckets[nb].push(x);
                self.nonempty |= 1 << nb;
            }
            self.buckets[b] = v;
        }
        let b0 = &mut self.buckets[0];
        let i = b0
            .iter()
            .position(|&x| x == m)
            .expect("the smallest entry is in bucket 0 once its key is `last`");
        b0.swap_remove(i);
        if b0.is_empty() {
            self.nonempty &= !1;
        }
        Some(m)
    }

    /// Up to `n` entries of the lowest bucket (events coming soon; for cache hints).
    #[inline]
    fn near(&self, n: usize) -> impl Iterator<Item = &u128> {
        let b = self.nonempty.trailing_zeros() as usize;
        self.buckets.get(b).into_iter().flatten().take(n)
    }
}

/// Key, node, state index and edge of a heap entry.
#[inline]
fn unpack(x: u128) -> (u32, NodeId, u32, EdgeId) {
    ((x >> 96) as u32, (x >> 64) as u32, (x >> 32) as u32, x as u32)
}

pub(crate) fn run<M: TaintModel>(ctx: &Ctx<'_>) -> RunOutput {
    let mut r = Run::<M> {
        ctx,
        nodes: Nodes::new(ctx.g.node_count()),
        heap: Events::new(),
        out: RunOutput {
            reach: Vec::new(),
            held: Vec::new(),
            truncated: Vec::new(),
            records: Vec::new(),
            rec_from: Vec::new(),
            emitted: U256::ZERO,
            dropped: U256::ZERO,
            returned: U256::ZERO,
            handoffs: Vec::new(),
            converted_in: U256::ZERO,
            converted_out: U256::ZERO,
        },
        exit_cache: FxHashMap::default(),
        inj_edges: FxHashMap::default(),
        current: None,
    };
    if ctx.window.is_empty() {
        return r.out;
    }
    reset_block_hints(ctx.g);
    let start = ctx.window_start_key();
    for &s in ctx.sources {
        let out_i = ctx.out_lower_bound(s, start);
        let (out, inl) = Ranges::of(ctx, s, PairView::default());
        r.nodes.insert(
            s,
            NodeState {
                role: Role::Source,
                out_i,
                in_i: 0,
                followed: 0,
                pools: Pools::default(),
                loc: Locator::default(),
                unresolved: 0,
                anchor: None,
                deferred: None,
                ix: PairView::default(),
                out,
                inl,
            },
        );
        r.schedule(s);
    }
    // Conversion inflows, merged into the time order: (key, is virtual, edge or index).
    for &(e, t, route) in &ctx.conv.edge_inj {
        let slot = r.inj_edges.entry(e).or_insert((U256::ZERO, route));
        slot.0 = slot.0.saturating_add(t);
        slot.1 = better(Some(slot.1), Some(route)).unwrap_or(route);
    }
    let mut queue: Vec<(u32, bool, u32)> = r.inj_edges.keys().map(|&e| (ctx.key(e), false, e)).collect();
    queue.extend(
        ctx.conv
            .virt_inj
            .iter()
            .enumerate()
            .map(|(i, v)| (v.key, true, i as u32)),
    );
    queue.sort_unstable();
    let mut qi = 0;
    loop {
        let top = r.heap.peek().map(|x| (x >> 96) as u32);
        if let Some(&(k, is_virtual, id)) = queue.get(qi)
            && top.is_none_or(|t| k <= t)
        {
            qi += 1;
            if is_virtual {
                r.inject_virtual(id as usize);
            } else if r.inj_edges.contains_key(&id) && r.in_window(id) {
                r.process(id, None);
            }
            continue;
        }
        let Some(x) = r.heap.pop() else {
            break;
        };
        let (key, n, si, e) = unpack(x);
        r.prefetch_next(e, si);
        // A stale entry (the node moved on or stopped) does nothing.
        let mut ev = r.next_event_at(si).filter(|ev| ev.0 == key);
        while let Some((_, e, is_out)) = ev {
            r.current = Some(n);
            r.process(e, is_out.then_some((n, si)));
            r.current = None;
            ev = r.next_event_at(si);
            if let Some((k, e, _)) = ev {
                // The node's next event comes before everything else waiting: run it without a heap round
                // trip (keys of live entries are distinct, so the order is the same).
                let first = lazy_inflows()
                    && r.heap.peek().is_none_or(|t| k < (t >> 96) as u32)
                    && queue.get(qi).is_none_or(|q| k < q.0);
                if !first {
                    r.heap.push(event(k, n, si, e));
                    ev = None;
                }
            }
        }
    }
    r.finish()
}

impl<M: TaintModel> Run<'_, '_, M> {
    fn in_window(&self, e: EdgeId) -> bool {
        self.ctx.window.contains(&self.ctx.g.edge_seq(e))
    }

    /// The node's next event of this run's asset inside the window: (key, edge, whether it is one of the
    /// node's view-out edges). Skips other assets.
    fn next_event_at(&mut self, si: u32) -> Option<(u32, EdgeId, bool)> {
        let ctx = self.ctx;
        let asset = ctx.asset;
        let (n, st) = self.nodes.states.get_mut(si as usize)?;
        let n = *n;
        let uses_in = match st.role {
            Role::Source => false,
            Role::Active => M::USES_INFLOWS && !lazy_inflows(),
            Role::Stopped => return None,
        };
        let out_len = st.out.1;
        while st.out_i < out_len && ctx.g.edge_asset(out_edge(ctx, st.out, st.out_i)) != asset {
            st.out_i += 1;
        }
        let mut best: Option<(u32, EdgeId, bool)> = None;
        if st.out_i < out_len {
            let e = out_edge(ctx, st.out, st.out_i);
            best = Some((ctx.key(e), e, true));
        }
        if uses_in {
            let in_len = ctx.in_len(n);
            while st.in_i < in_len && ctx.g.edge_asset(ctx.in_at(n, st.in_i)) != asset {
                st.in_i += 1;
            }
            if st.in_i < in_len {
                let e = ctx.in_at(n, st.in_i);
                let k = ctx.key(e);
                if best.is_none_or(|b| k < b.0) {
                    best = Some((k, e, false));
                }
            }
        }
        best.filter(|&(_, e, _)| self.in_window(e))
    }

    fn schedule(&mut self, n: NodeId) {
        if self.current == Some(n) {
            return;
        }
        let Some(si) = self.nodes.index(n) else { return };
        if let Some((k, e, _)) = self.next_event_at(si) {
            self.heap.push(event(k, n, si, e));
        }
    }

    /// Hints the data of the events that come next into the cache, as a pipeline over the heap's next
    /// entries: the edges of the two entries after the top (one of them is on top next time), the top
    /// entry's state, edge and receiver's slot (its edge was hinted last time), and, for the event about to
    /// run, its receiver's state, reached entry and in-list (its slot was hinted last time). Only hints: no
    /// effect on any answer.
    #[inline]
    fn prefetch_next(&mut self, now: EdgeId, now_state: u32) {
        let ctx = self.ctx;
        let g = ctx.g;
        let forward = ctx.dir == Direction::Forward;
        let folds = M::USES_INFLOWS && lazy_inflows();
        // The in-edge the sender folds first (its list entry was hinted when the event was on top).
        if folds
            && let Some((_, st)) = self.nodes.states.get(now_state as usize)
            && matches!(st.role, Role::Active)
            && st.in_i < st.inl.1
        {
            g.prefetch_edge(InList::of_state(ctx, st).at(g, st.in_i));
        }
        if forward {
            let d = g.edge_dst(now);
            if let Some(&[a, b]) = self.nodes.slot.get(d as usize) {
                if a != FREE {
                    prefetch(&self.nodes.states, a as usize);
                }
                if b != FREE {
                    prefetch(&self.nodes.reach, b as usize);
                }
                g.prefetch_node(d, true);
            }
        }
        if let Some(t) = self.heap.peek() {
            let (_, _, si, e) = unpack(t);
            prefetch(&self.nodes.states, si as usize);
            g.prefetch_edge(e);
            if forward {
                let d = g.edge_dst(e);
                prefetch(&self.nodes.slot, d as usize);
                // What an activation of the receiver reads first (its out-list bounds, its index pairs).
                g.prefetch_node(d, false);
                if let Some(ix) = ctx.index
                    && folds
                {
                    prefetch(&ix.node_pairs, d as usize);
                }
            }
            if folds
                && let Some((_, st)) = self.nodes.states.get(si as usize)
                && matches!(st.role, Role::Active)
            {
                InList::of_state(ctx, st).prefetch_entry(ctx, st.in_i);
            }
        }
        for t in self.heap.near(3) {
            let (_, _, si, e) = unpack(*t);
            g.prefetch_edge(e);
            prefetch(&self.nodes.states, si as usize);
        }
    }

    /// Whether `n` is an exit; its exit info goes into its reached entry (looked up and cloned once: an
    /// exit receives many transfers).
    fn mark_exit(&mut self, n: NodeId) -> bool {
        if self.nodes.reach_get(n).is_some_and(|rc| rc.exit.is_some()) {
            return true;
        }
        match self.exit_of(n) {
            Some(info) => {
                self.reach(n).exit = Some(info);
                true
            }
            None => false,
        }
    }

    fn exit_of(&mut self, n: NodeId) -> Option<ExitInfo> {
        let ctx = self.ctx;
        self.exit_cache
            .entry(n)
            .or_insert_with(|| {
                let (chain, addr) = ctx.g.node_key(n);
                ctx.oracle.exit(chain, addr)
            })
            .clone()
    }

    fn reach(&mut self, n: NodeId) -> &mut Reach {
        self.nodes.reach(n)
    }

    /// Processes one edge for both endpoints (`sender`: its view sender and state index, when the caller
    /// knows them).
    fn process(&mut self, e: EdgeId, sender: Option<(NodeId, u32)>) {
        let ctx = self.ctx;
        let (sender, ssi) = match sender {
            Some((n, si)) => (n, Some(si)),
            None => {
                let n = ctx.sender(e);
                (n, self.nodes.index(n))
            }
        };
        let receiver = ctx.receiver(e);
        let amount = ctx.g.edge_amount(e);
        let key = ctx.key(e);

        // Sender side: what the transfer carries.
        let mut flow = M::clean(amount);
        let mut route: Option<Route> = None;
        if let Some(st) = ssi
            .and_then(|si| self.nodes.states.get_mut(si as usize))
            .map(|s| &mut s.1)
            && st.out_i < st.out.1
            && out_edge(ctx, st.out, st.out_i) == e
        {
            match st.role {
                Role::Source => {
                    if st.followed >= ctx.cap {
                        self.stop(sender);
                    } else {
                        st.out_i += 1;
                        st.followed += 1;
                        flow = M::full(amount);
                        route = Some(Route { hops: 0, rec: NO_REC });
                        self.out.emitted = self.out.emitted.saturating_add(amount);
                    }
                }
                Role::Active => {
                    st.fold(ctx, key);
                    // Without pending inflows the outflow's block and transaction do not matter.
                    let (block, tx) = if st.pools.has_pending() {
                        st.position(ctx, ctx.g.edge_seq(e))
                    } else {
                        (0, 0)
                    };
                    st.pools.prepare_out(block, tx);
                    if st.followed >= ctx.cap && !st.pools.peek(amount).is_zero() {
                        // Cut off: the transfer is delivered clean (unless a conversion feeds it).
                        self.stop(sender);
                    } else {
                        st.out_i += 1;
                        let (f, r) = st.pools.take(amount);
                        if !M::taint(&f).is_zero() {
                            st.followed += 1;
                            route = r;
                            self.reach(sender).emitted_taint = true;
                        }
                        flow = f;
                    }
                }
                Role::Stopped => {}
            }
        }
        // A conversion's input leg: the taint goes into the conversion, not to the pool or bridge.
        if let Some(r) = route
            && ctx.conv.inputs.contains(&e)
        {
            let taint = M::taint(&flow);
            if !taint.is_zero() && taint >= ctx.min_amount {
                self.out.push_record(e, r.rec, self.ctx.dir, sender, receiver);
                let rec = (self.out.records.len() - 1) as u32;
                self.out.handoffs.push(Handoff {
                    edge: e,
                    taint,
                    hops: r.hops.saturating_add(1),
                    rec,
                });
                self.out.converted_out = self.out.converted_out.saturating_add(taint);
                flow = M::clean(amount);
                route = None;
            }
        }
        // A conversion's output leg: the converted taint rides on this transfer.
        if let Some((t, r)) = self.inj_edges.remove(&e) {
            let total = M::taint(&flow).saturating_add(t);
            let capped = total.min(amount);
            self.out.converted_in = self.out.converted_in.saturating_add(t);
            if M::USES_INFLOWS {
                self.out.dropped = self.out.dropped.saturating_add(total - capped);
            }
            flow = M::mixed(amount, capped);
            route = better(route, Some(r));
        }
        self.deliver(e, sender, receiver, amount, flow, route);
    }

    /// Taint arriving from a conversion without a transfer of this asset to carry it.
    fn inject_virtual(&mut self, i: usize) {
        let ctx = self.ctx;
        let v = &ctx.conv.virt_inj[i];
        if !ctx.window.contains(&v.key) || v.taint.is_zero() {
            return;
        }
        let n = v.node;
        self.out.converted_in = self.out.converted_in.saturating_add(v.taint);
        if v.taint < ctx.min_amount {
            self.out.dropped = self.out.dropped.saturating_add(v.taint);
            return;
        }
        let arrival = Route {
            hops: v.route.hops.saturating_add(1),
            rec: v.route.rec,
        };
        let flow = M::mixed(v.balance, v.taint);
        let rc = self.reach(n);
        rc.received = rc.received.saturating_add(v.taint);
        if arrival.hops < rc.hops {
            rc.hops = arrival.hops;
            rc.rec = arrival.rec;
        }
        let role = self.nodes.get(&n).map(|s| match s.role {
            Role::Source => 0,
            Role::Active => 1,
            Role::Stopped => 2,
        });
        match role {
            Some(0) => {
                self.out.returned = self.out.returned.saturating_add(v.taint);
                self.nodes.remove_reach(n);
            }
            Some(1) => {
                let st = self.nodes.get_mut(&n).expect("role looked up above");
                st.fold(ctx, v.key);
                st.resolve(ctx.g, v.block);
                st.pools.inflow(v.block, v.tx, flow, Some(arrival));
            }
            Some(_) => {
                let rc = self.reach(n);
                rc.stopped_held = rc.stopped_held.saturating_add(v.taint);
            }
            None => {
                if self.mark_exit(n) {
                    // An exit: its reached entry says so.
                } else if arrival.hops < ctx.max_hops {
                    self.activate(
                        n,
                        v.key,
                        Arrival::Virtual {
                            block: v.block,
                            tx: v.tx,
                        },
                        flow,
                        arrival,
                    );
                } else {
                    let rc = self.reach(n);
                    rc.frontier = rc.frontier.saturating_add(v.taint);
                }
            }
        }
        self.schedule(n);
    }

    /// Receiver side: the single place where value enters an address.
    #[allow(clippy::too_many_arguments)] // one call site per side; a struct would only rename these
    fn deliver(
        &mut self,
        e: EdgeId,
        sender: NodeId,
        receiver: NodeId,
        amount: U256,
        mut flow: M::Flow,
        route: Option<Route>,
    ) {
        let ctx = self.ctx;
        let mut taint = M::taint(&flow);
        if !taint.is_zero() && taint < ctx.min_amount {
            self.out.dropped = self.out.dropped.saturating_add(taint);
            flow = M::clean(amount);
            taint = U256::ZERO;
        }
        let arrival = match (route, taint.is_zero()) {
            (Some(r), false) => {
                self.out.push_record(e, r.rec, ctx.dir, sender, receiver);
                Some(Route {
                    hops: r.hops.saturating_add(1),
                    rec: (self.out.records.len() - 1) as u32,
                })
            }
            _ => None,
        };
        if let Some(a) = arrival {
            let rc = self.reach(receiver);
            rc.received = rc.received.saturating_add(taint);
            if a.hops < rc.hops {
                rc.hops = a.hops;
                rc.rec = a.rec;
            }
        }
        let role = self.nodes.get(&receiver).map(|s| match s.role {
            Role::Source => 0,
            Role::Active => 1,
            Role::Stopped => 2,
        });
        match role {
            Some(0) => {
                self.out.returned = self.out.returned.saturating_add(taint);
                // Sources count everything as tainted already; nothing to record.
                self.nodes.remove_reach(receiver);
            }
            Some(1) => {
                let st = self.nodes.get_mut(&receiver).expect("role looked up above");
                st.fold(ctx, ctx.key(e));
                if M::USES_INFLOWS {
                    let il = InList::of_state(ctx, st);
                    if st.in_i < il.len && il.at(ctx.g, st.in_i) == e {
                        st.in_i += 1;
                    }
                }
                let (block, tx) = st.position(ctx, ctx.g.edge_seq(e));
                st.pools.inflow(block, tx, flow, arrival);
                if lazy_inflows() {
                    // Its next event (an outflow) did not change.
                    self.schedule(sender);
                    return;
                }
            }
            Some(_) => {
                if !taint.is_zero() {
                    let rc = self.reach(receiver);
                    rc.stopped_held = rc.stopped_held.saturating_add(taint);
                }
            }
            None => {
                let Some(a) = arrival else {
                    self.schedule(sender);
                    return;
                };
                if self.mark_exit(receiver) {
                    // An exit: its reached entry says so.
                } else if a.hops < ctx.max_hops {
                    self.activate(receiver, ctx.key(e), Arrival::Edge(e), flow, a);
                } else {
                    let rc = self.reach(receiver);
                    rc.frontier = rc.frontier.saturating_add(taint);
                }
            }
        }
        for n in [sender, receiver] {
            self.schedule(n);
        }
    }

    /// First taint at `n` at order key `k` (on `n`'s in-edge of key `k`, or a virtual inflow ordered before
    /// any transfer of key `k`):
    /// rebuild its balance from all earlier transfers of the asset, then receive the flow.
    fn activate(&mut self, n: NodeId, k: u32, at: Arrival, flow: M::Flow, arrival: Route) {
        let ctx = self.ctx;
        // Out-edges of key below `k`, and those after the arrival (a self-transfer is both in and out).
        let (out_end, out_i) = match at {
            Arrival::Edge(_) => {
                let out_i = ctx.out_lower_bound(n, k.saturating_add(1));
                let out_end = if out_i > 0 && ctx.key(ctx.out_at(n, out_i - 1)) >= k {
                    out_i - 1
                } else {
                    out_i
                };
                (out_end, out_i)
            }
            Arrival::Virtual { .. } => {
                let out_end = ctx.out_lower_bound(n, k);
                (out_end, out_end)
            }
        };
        // (The eager reference mode of the tests schedules inflows from the graph's in-list.)
        let ix = match ctx.index {
            Some(ix) if M::USES_INFLOWS && ctx.dir == Direction::Forward && lazy_inflows() => {
                ix.pair(n, ctx.asset)
            }
            _ => PairView::default(),
        };
        let (out, inl) = Ranges::of(ctx, n, ix);
        let mut st = NodeState {
            role: Role::Active,
            out_i,
            // Set by the replay (the view-in edges before the first taint are history).
            in_i: 0,
            followed: 0,
            pools: Pools::default(),
            loc: Locator::default(),
            unresolved: 0,
            anchor: None,
            deferred: Some(Deferred {
                out_end,
                key: k,
                at,
                flow,
                route: arrival,
            }),
            ix,
            out,
            inl,
        };
        if !lazy_inflows() {
            st.replay(ctx);
        }
        self.nodes.insert(n, st);
    }

    fn stop(&mut self, n: NodeId) {
        let ctx = self.ctx;
        let Some(st) = self.nodes.get_mut(&n) else { return };
        let held = st.held();
        let followed = st.followed;
        let mut skipped = 0u64;
        let len = ctx.out_len(n);
        for i in st.out_i..len {
            let e = ctx.out_at(n, i);
            if !ctx.window.contains(&ctx.g.edge_seq(e)) {
                break;
            }
            if ctx.g.edge_asset(e) == ctx.asset {
                skipped += 1;
            }
        }
        let was_source = matches!(st.role, Role::Source);
        st.role = Role::Stopped;
        self.out.truncated.push(Truncated {
            node: n,
            followed,
            skipped,
            held,
        });
        if !was_source {
            let rc = self.reach(n);
            rc.stopped_held = rc.stopped_held.saturating_add(held);
        }
    }

    fn finish(mut self) -> RunOutput {
        let mut held = Vec::new();
        for (n, st) in &self.nodes.states {
            if let Role::Active = st.role {
                held.push((*n, st.held()));
            }
        }
        held.sort_unstable_by_key(|h| h.0);
        self.out.reach = self.nodes.take_reach();
        self.out.held = held;
        self.out
    }
}

impl RunOutput {
    /// Copies the record chain ending at local record `rec` into the arena; returns its arena id.
    pub(crate) fn globalize(&self, rec: u32, arena: &mut Arena, memo: &mut HashMap<u32, u32>) -> u32 {
        let mut local = Vec::new();
        let mut r = rec;
        let base = loop {
            if r == NO_REC {
                break NO_REC;
            }
            if r & EXT != 0 {
                break r & !EXT;
            }
            if let Some(&g) = memo.get(&r) {
                break g;
            }
            local.push(r);
            r = self.records[r as usize].1;
        };
        let mut parent = base;
        for &l in local.iter().rev() {
            parent = arena.intern(GStep::Edge(self.records[l as usize].0), parent);
            memo.insert(l, parent);
        }
        parent
    }

    /// Records a tainted transfer `e` whose taint came through record `parent`.
    /// The transfers this run passed taint on (each record's edge, once per record).
    pub(crate) fn tainted_edges(&self) -> impl Iterator<Item = EdgeId> + '_ {
        self.records.iter().map(|&(e, _)| e)
    }

    fn push_record(&mut self, e: EdgeId, parent: u32, dir: Direction, sender: NodeId, receiver: NodeId) {
        self.records.push((e, parent));
        self.rec_from.push(match dir {
            Direction::Forward => sender,
            Direction::Backward => receiver,
        });
    }

    /// The steps from a start to record `rec`, following run records then the arena; each with its run
    /// record id (`NO_REC` for arena steps).
    fn chain(&self, arena: &Arena, mut rec: u32) -> Vec<(GStep, u32)> {
        let mut out = Vec::new();
        let mut local = true;
        while rec != NO_REC {
            if local && rec & EXT != 0 {
                local = false;
                rec &= !EXT;
                continue;
            }
            let (step, parent, id) = if local {
                let (e, p) = self.records[rec as usize];
                (GStep::Edge(e), p, rec)
            } else {
                let (s, p) = arena.get(rec);
                (s, p, NO_REC)
            };
            out.push((step, id));
            rec = parent;
        }
        out.reverse();
        out
    }

    /// Builds the path step of every run record on the path of one of `reached`, once each, in seq order
    /// (block and transaction lookups then walk their tables forward). Returns `(memo, built)`: run record ->
    /// index into `built` (`NO_REC` for records on no such path).
    fn steps_of(&self, ctx: &Ctx<'_>, reached: &[(NodeId, &Reach)]) -> (Vec<u32>, Vec<PathStep>) {
        const MARKED: u32 = NO_REC - 1;
        let g = ctx.g;
        let mut memo = vec![NO_REC; self.records.len()];
        let mut need: Vec<(Seq, u32)> = Vec::new();
        for (_, rc) in reached {
            let mut r = rc.rec;
            while r != NO_REC && r & EXT == 0 && memo[r as usize] == NO_REC {
                memo[r as usize] = MARKED;
                let (e, parent) = self.records[r as usize];
                need.push((g.edge_seq(e), r));
                r = parent;
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
            let (e, _) = self.records[r as usize];
            built.push(PathStep {
                tx_hash,
                from: g.node_key(self.rec_from[r as usize]).1,
                to: g.node_key(g.edge_dst(e)).1,
                amount: g.edge_amount(e),
                block: g.block_number(bi),
                time: g.block_time(bi),
                seq,
            });
        }
        (memo, built)
    }

    /// Path (transfers) and its segments (where conversions happened; see [`PathSegment`]) to `rec`.
    fn path(
        &self,
        ctx: &Ctx<'_>,
        arena: &Arena,
        convs: &dyn ConversionLookup,
        rec: u32,
        (memo, built): (&[u32], &[PathStep]),
        foreign: &mut FxHashMap<EdgeId, (PathStep, Chain, Asset)>,
    ) -> (Vec<PathStep>, Vec<PathSegment>) {
        let (run_chain, run_asset) = ctx.g.asset(ctx.asset);
        let mut path = Vec::new();
        let mut segments = SegmentBuilder::default();
        for (s, id) in self.chain(arena, rec) {
            match s {
                GStep::Edge(_) if id != NO_REC => {
                    path.push(built[memo[id as usize] as usize].clone());
                    segments.transfer(run_chain, run_asset);
                }
                GStep::Edge(e) => {
                    // A transfer of an earlier run (before a conversion): described once per run, since
                    // every path through that conversion shares it (its tx hash is a read from the file).
                    let (step, chain, asset) = foreign.entry(e).or_insert_with(|| {
                        let i = ctx.g.edge_info(e);
                        let step = PathStep {
                            tx_hash: i.tx_hash,
                            from: i.from,
                            to: i.to,
                            amount: i.amount,
                            block: i.block,
                            time: i.time,
                            seq: i.seq,
                        };
                        (step, i.chain, i.asset)
                    });
                    path.push(step.clone());
                    segments.transfer(*chain, *asset);
                }
                GStep::Conv(c) => {
                    if let Some(edge) = convs.conversion(c) {
                        segments.conversion(edge);
                    }
                }
            }
        }
        (path, segments.finish(run_chain, run_asset))
    }

    /// Turns a run's raw findings into result entries.
    pub(crate) fn append_to(
        self,
        ctx: &Ctx<'_>,
        arena: &Arena,
        convs: &dyn ConversionLookup,
        result: &mut TraceResult,
    ) {
        let (chain, asset) = ctx.g.asset(ctx.asset);
        let model = ctx.model;
        let poison = model == Model::Poison;
        let mut summary = AssetSummary {
            model,
            chain,
            asset,
            emitted: self.emitted,
            holding: U256::ZERO,
            exits: U256::ZERO,
            dropped: self.dropped,
            returned: self.returned,
            converted_in: self.converted_in,
            converted_out: self.converted_out,
        };
        let mut push_holding = |result: &mut TraceResult, n: NodeId, amount: U256, reason, hops| {
            if amount.is_zero() {
                return;
            }
            summary.holding = summary.holding.saturating_add(amount);
            result.holding.push(Holding {
                model,
                chain,
                address: ctx.g.node_key(n).1,
                asset,
                amount,
                reason,
                hops,
            });
        };
        let cut: FxHashSet<NodeId> = self.truncated.iter().map(|t| t.node).collect();
        let held_at: FxHashMap<NodeId, U256> = self.held.iter().copied().collect();
        // In the caller's final order within the run (hops, then amount descending, then node id), so that its
        // stable sort finds the destinations already sorted (ties keep node id order, as before).
        let mut reached: Vec<(NodeId, &Reach)> = self
            .reach
            .iter()
            .filter(|(_, rc)| rc.rec != NO_REC && !rc.received.is_zero())
            .map(|(n, rc)| (*n, rc))
            .collect();
        reached.sort_unstable_by(|a, b| (a.1.hops, b.1.received, a.0).cmp(&(b.1.hops, a.1.received, b.0)));
        let (memo, built) = self.steps_of(ctx, &reached);
        let mut foreign = FxHashMap::default();
        result.destinations.reserve(reached.len());
        for &(n, rc) in &reached {
            let address = ctx.g.node_key(n).1;
            let (path, segments) = self.path(ctx, arena, convs, rc.rec, (&memo, &built), &mut foreign);
            if let Some(info) = &rc.exit {
                summary.exits = summary.exits.saturating_add(rc.received);
                result.exits.push(Exit {
                    model,
                    chain,
                    address,
                    asset,
                    amount: rc.received,
                    info: info.clone(),
                    hops: rc.hops,
                    path: path.clone(),
                    segments: segments.clone(),
                });
            } else {
                let not_moved = if poison {
                    // Poison has no balance: an address that never passed taint on holds what it received.
                    if rc.emitted_taint || !held_at.contains_key(&n) || cut.contains(&n) {
                        U256::ZERO
                    } else {
                        rc.received
                            .saturating_sub(rc.frontier)
                            .saturating_sub(rc.stopped_held)
                    }
                } else {
                    held_at.get(&n).copied().unwrap_or(U256::ZERO)
                };
                push_holding(result, n, not_moved, HoldReason::NotMoved, rc.hops);
                push_holding(result, n, rc.frontier, HoldReason::HopLimit, rc.hops);
                let stopped = if poison && cut.contains(&n) {
                    rc.received.saturating_sub(rc.frontier)
                } else {
                    rc.stopped_held
                };
                push_holding(result, n, stopped, HoldReason::FanOutCap, rc.hops);
            }
            result.destinations.push(Destination {
                model,
                chain,
                address,
                asset,
                amount: rc.received,
                hops: rc.hops,
                path,
                segments,
                is_exit: rc.exit.is_some(),
            });
        }
        for t in self.truncated {
            result.truncated.push(Truncation {
                chain,
                address: ctx.g.node_key(t.node).1,
                asset,
                outflows_followed: t.followed,
                outflows_skipped: t.skipped,
                amount_held: if poison { U256::ZERO } else { t.held },
            });
        }
        result.summary.push(summary);
    }
}

#[cfg(test)]
mod events_tests {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    use proptest::prelude::*;

    use super::{Events, event};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The radix heap pops in the order of a binary min-heap of the same entries, with pushes of keys
        /// at or after the last pop (as the engine makes them), duplicates and equal keys of other nodes
        /// included, and peeks in between.
        #[test]
        fn events_pop_in_min_heap_order(
            ops in prop::collection::vec((0u8..4, 0u32..40, 0u32..3, 0u32..4), 1..400),
            spread in prop::sample::select(vec![1u32, 7, 1 << 12, 1 << 30]),
        ) {
            let mut ev = Events::new();
            let mut reference: BinaryHeap<Reverse<u128>> = BinaryHeap::new();
            let mut last = 0u32;
            for (op, dk, node, state) in ops {
                if op == 0 {
                    let got = ev.pop();
                    let want = reference.pop().map(|Reverse(x)| x);
                    prop_assert_eq!(got, want);
                    if let Some(x) = got {
                        last = (x >> 96) as u32;
                    }
                } else {
                    let k = last.saturating_add(dk.saturating_mul(spread));
                    let x = event(k, node, state, k ^ node);
                    ev.push(x);
                    reference.push(Reverse(x));
                }
                prop_assert_eq!(ev.peek(), reference.peek().map(|&Reverse(x)| x));
            }
            while let Some(Reverse(want)) = reference.pop() {
                prop_assert_eq!(ev.pop(), Some(want));
            }
            prop_assert_eq!(ev.pop(), None);
        }

        /// A push below the last pop (which the engine never makes) still comes out in order.
        #[test]
        fn events_accept_an_earlier_key(keys in prop::collection::vec(0u32..1000, 1..50), early in 0u32..1000) {
            let mut ev = Events::new();
            let mut reference: BinaryHeap<Reverse<u128>> = BinaryHeap::new();
            for (i, &k) in keys.iter().enumerate() {
                let x = event(k, i as u32, 0, 0);
                ev.push(x);
                reference.push(Reverse(x));
            }
            prop_assert_eq!(ev.pop(), reference.pop().map(|Reverse(x)| x));
            let x = event(early, u32::MAX, 0, 0);
            ev.push(x);
            reference.push(Reverse(x));
            while let Some(Reverse(want)) = reference.pop() {
                prop_assert_eq!(ev.pop(), Some(want));
            }
        }
    }
}

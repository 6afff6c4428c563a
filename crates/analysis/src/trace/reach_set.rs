//! The reach-set engine: the poison model's reachable `(node, asset)` set alone (no amounts, hops, holdings
//! or paths), the "same question" of the benchmark.
//!
//! Same search as [`super::Run`] (hop levels; per address its first tainted block, the earliest arrival per
//! transaction of that block, and `act`, the first arrival with fewer than `max_hops` hops), laid out for
//! reachability only:
//!
//! - State in dense tables indexed by node id: a flag byte (seen, reached, cold record set), a `u32` limit
//!   (arrivals at keys `>= lim` cannot qualify anything new: the end of the first tainted block, or the last
//!   out-edge; 0 for starts and exits; `u32::MAX` for an address not seen), and a cold record (`act`, first
//!   block, transaction list, fan-out count) read only when an arrival can still qualify something. Reset
//!   through the lists of touched nodes.
//! - An arrival at or past its receiver's limit is dropped as it is emitted (the receiver is already reached,
//!   and limits only go down).
//! - A level's arrivals are handled grouped by receiver in node-id order (a radix sort by receiver), not in
//!   time order: the state does not depend on the order, and in node order the node tables and the CSR edge
//!   arrays are swept forward instead of hit at random. Each receiver's earliest arrival goes first (it fixes
//!   the first block, so the others mostly fall past the limit and are skipped); the blocks of a level's
//!   surviving arrivals are found in one pass in time order (neighbouring entries of the block table), and
//!   a transaction is looked up only when the address has an out-edge in that block.
//! - Cache hints: the receivers' flags, limits, out-offsets and last out-edge a little ahead in the sorted
//!   arrivals, and the cold records and first out-edges of the candidates ahead.
//! - The common emit (the rest of an out-list, no cap, no minimum amount) checks the asset first (one read
//!   for another asset's transfer; 56% of the transfers scanned at 10^7) and the receiver's coarse limit
//!   before the amount.
//! - The reached nodes are radix-sorted and merged into the caller's list, so the caller's final sort finds
//!   it in order (its comparison sort of the whole set cost ~7% of an answer).
//! - Node ids are split in two halves, alternate chunks of 256 ids each, with their own flags, cold records
//!   and buffers; a level's arrivals go to their receiver's half. Within a level the halves are independent
//!   (an address's state changes only through its own arrivals; the limits both read only go down), so on
//!   a machine with two cores a large level runs its halves on two threads (only when the oracle lists its
//!   exits: the oracle itself is not shared across threads). The second half goes to whichever thread
//!   claims it first, and after a level where the helper got no core in time the next few runs stay on
//!   one thread (on a busy machine each level would otherwise end waiting for the helper to be scheduled).
//!   A split by id range left nearly all the work in the first half (ids follow first appearance, so the
//!   active addresses come first: at 10^7 the helper did 5 ms of a 4.9 s run, and 95% of the arrivals
//!   stayed in one half even with the range split where the out-lists hold half the transfers); a split by
//!   parity balanced it (54/46) but cost ~15% more CPU on one thread (neighbouring ids in different
//!   halves: the node and edge tables swept twice); chunks keep the neighbours together.
//! - Keys are `u32`: seq forward, `edge_count - 1 - seq` backward, so every key and exclusive end fits and
//!   `u32::MAX` is free as "none".
//!
//! Why dropping arrivals at or past the limit keeps the set exact: such an arrival qualifies no out-edge that
//! is not already emitted (or that does not exist), and leaving `act` above it changes no later decision (a
//! later arrival that could still qualify something lies below the limit, so below the dropped key too).

use std::cell::RefCell;
use std::ops::Range;
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

use chaintrace_core::U256;
use chaintrace_graph::{AssetId, EdgeId, Graph, NodeId, Seq, prefetch};

use super::super::{Direction, ExitOracle, TraceRequest};
use super::Capped;

/// "None" for keys and indices (keys are below `edge_count <= u32::MAX - 1`).
const FAR: u32 = u32::MAX;

/// Flag bits per node.
const SEEN: u8 = 1;
const REACHED: u8 = 2;
const COLD: u8 = 4;

/// Fewest arrivals in each half of a level for the halves to run on two threads (below, spawning the
/// helper costs more than it saves). Tiny in tests, so the small random graphs take the threaded path.
const PARALLEL_MIN: usize = if cfg!(test) { 4 } else { 4096 };

/// Shortest vector the radix sort sorts by passes (shorter: a comparison sort). Tiny in tests, so the
/// small random graphs take the radix path.
const RADIX_MIN: usize = if cfg!(test) { 8 } else { 2048 };

/// A transaction of an address's first tainted block: (transaction index, its end key, earliest arrival
/// key in it).
type Tx = (u32, u32, u32);

/// What an address needs once an arrival can still qualify something.
#[derive(Clone, Copy, Default)]
struct Cold {
    act: u32,
    /// End key of the first tainted block (`FAR`: none yet).
    qual_from: u32,
    /// Start key of the first tainted block.
    first_start: u32,
    first_block: u32,
    /// Index into `Part::lists` (`FAR`: no list; the first block holds no out-edge of the address).
    txs: u32,
    followed: u32,
}

/// The block an arrival's key lies in: its index and key range.
#[derive(Clone, Copy, Default)]
struct Where {
    block: u32,
    block_keys: (u32, u32),
}

/// The buffers of one half of the node ids (all empty between runs, capacity kept).
#[derive(Default)]
struct Part {
    touched: Vec<NodeId>,
    lists: Vec<Vec<Tx>>,
    /// Lists of `lists` in use.
    nlists: usize,
    /// This level's arrivals at the half's nodes, `receiver << 32 | key`.
    cur: Vec<u64>,
    /// Next level's arrivals this half emitted, by the receiver's half.
    out: [Vec<u64>; 2],
    buf: Vec<u64>,
    /// A level's arrivals that can still qualify something (one per receiver, its earliest), node order.
    cand: Vec<u64>,
    /// The other arrivals below the limit of a receiver.
    rest: Vec<u64>,
    /// `key << 32 | index into cand`, sorted by key to find blocks in time order.
    order: Vec<u64>,
    /// The block of each candidate.
    info: Vec<Where>,
    /// The transaction list of a first block being replaced (emitted through already).
    done: Vec<Tx>,
}

/// Tables reused across runs on one thread: node-indexed flags (zero between runs), limits (`FAR`
/// between runs) and cold records, and the two halves' buffers.
#[derive(Default)]
struct Scratch {
    flags: Vec<u8>,
    lim: Vec<AtomicU32>,
    coarse: Vec<AtomicU16>,
    cold: Vec<Cold>,
    parts: [Part; 2],
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The graph in the trace's direction, with `u32` keys ("later" = larger key).
#[derive(Clone, Copy)]
struct View<'a> {
    g: &'a Graph,
    fwd: bool,
    /// `edge_count - 1`.
    last: u32,
}

impl View<'_> {
    #[inline]
    fn key(&self, e: EdgeId) -> u32 {
        let s = self.g.edge_seq(e);
        if self.fwd { s } else { self.last - s }
    }
    #[inline]
    fn seq_of(&self, k: u32) -> Seq {
        if self.fwd { k } else { self.last - k }
    }
    /// Keys of a seq range (inside `0..=edge_count`), as a half-open key range.
    #[inline]
    fn keys(&self, r: Range<Seq>) -> Range<u32> {
        if r.is_empty() {
            0..0
        } else if self.fwd {
            r
        } else {
            (self.last + 1 - r.end)..(self.last + 1 - r.start)
        }
    }
    /// The node's view-out list: out-edge ids forward, in-permutation slots backward.
    #[inline]
    fn outs(&self, n: NodeId) -> Range<u32> {
        if self.fwd {
            self.g.out_edges(n)
        } else {
            self.g.in_edge_slots(n)
        }
    }
    /// The `j`-th view-out edge of a node whose list is `outs` (backward: latest first).
    #[inline]
    fn at(&self, outs: &Range<u32>, j: u32) -> EdgeId {
        if self.fwd {
            outs.start + j
        } else {
            self.g.in_edge_at(outs.end - 1 - j)
        }
    }
    #[inline]
    fn receiver(&self, e: EdgeId) -> NodeId {
        if self.fwd {
            self.g.edge_dst(e)
        } else {
            self.g.edge_src(e)
        }
    }
    /// First index of `outs` whose key is `>= key`.
    fn lower_bound(&self, outs: &Range<u32>, key: u32) -> u32 {
        let (mut lo, mut hi) = (0u32, outs.end - outs.start);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.key(self.at(outs, mid)) < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// Sorts `v` by bits `lo..lo + bits` (LSD radix, 11 bits a pass); the order among equal digits is kept.
/// Short vectors are sorted whole (the order among equal digits then follows the other bits). `buf` is
/// scratch (grown, never cleared: every pass writes what it reads).
fn radix_sort(v: &mut Vec<u64>, buf: &mut Vec<u64>, lo: u32, bits: u32) {
    if v.len() < RADIX_MIN {
        v.sort_unstable();
        return;
    }
    let n = v.len();
    if buf.len() < n {
        buf.resize(n, 0);
    }
    let mut in_v = true;
    let mut shift = lo;
    while shift < lo + bits {
        let moved = if in_v {
            radix_pass(v, &mut buf[..n], shift)
        } else {
            radix_pass(&buf[..n], v, shift)
        };
        in_v ^= moved;
        shift += RADIX_BITS;
    }
    if !in_v {
        std::mem::swap(v, buf);
        v.truncate(n);
    }
}

/// Digit width of [`radix_sort`].
const RADIX_BITS: u32 = 11;

/// One pass of [`radix_sort`]: `src` into `dst` by the digit at `shift`; `false` (nothing written) when every
/// item has the same digit.
fn radix_pass(src: &[u64], dst: &mut [u64], shift: u32) -> bool {
    const BUCKETS: usize = 1 << RADIX_BITS;
    let digit = |a: u64| ((a >> shift) as usize) & (BUCKETS - 1);
    let mut count = [0usize; BUCKETS];
    for &a in src {
        count[digit(a)] += 1;
    }
    if count.contains(&src.len()) {
        return false;
    }
    let mut at = 0;
    for c in count.iter_mut() {
        let n = *c;
        *c = at;
        at += n;
    }
    for &a in src {
        let d = digit(a);
        dst[count[d]] = a;
        count[d] += 1;
    }
    true
}

/// Moves `(idx, range)` (an entry of a block or transaction table and its seq range) to the entry holding
/// `seq`: a few steps through neighbouring entries when it is near (candidates come in time order, so it
/// usually is), else `jump` (the graph's hinted search). Entries are read with `seqs_of`.
#[inline]
fn step_to(
    seq: Seq,
    idx: &mut u32,
    range: &mut Range<Seq>,
    seqs_of: impl Fn(u32) -> Range<Seq>,
    jump: impl Fn(Seq) -> u32,
) {
    if range.contains(&seq) {
        return;
    }
    let (mut i, mut r) = (*idx, range.clone());
    for _ in 0..8 {
        if seq >= r.end {
            i = i.saturating_add(1);
        } else if seq < r.start && i > 0 {
            i -= 1;
        } else {
            break;
        }
        r = seqs_of(i);
        if r.contains(&seq) {
            *idx = i;
            *range = r;
            return;
        }
    }
    *idx = jump(seq);
    *range = seqs_of(*idx);
}

/// What both halves of a run read.
struct Shared<'a> {
    view: View<'a>,
    exits: Option<&'a [NodeId]>,
    asset: AssetId,
    window: Range<u32>,
    sources: &'a [NodeId],
    max_hops: u32,
    min_amount: U256,
    cap: u32,
    /// Per node: arrivals at keys `>= lim` cannot qualify anything new (`FAR`: not seen). Written only by
    /// the node's half; read by both (to drop arrivals as they are emitted): a stale read keeps an arrival
    /// that is useless, never drops a useful one (limits only go down).
    lim: &'a [AtomicU32],
    /// `lim >> shift` per node (`u16::MAX` when not seen): half the bytes of `lim`, so the check of every
    /// emitted transfer's receiver stays in the core's cache. An arrival with `k >> shift` above it is past
    /// the limit; the few in the same bucket are kept (harmless).
    coarse: &'a [AtomicU16],
    shift: u32,
    node_bits: u32,
}

impl Shared<'_> {
    /// Sets a node's limit (by its half only).
    #[inline]
    fn set_lim(&self, n: NodeId, lim: u32) {
        self.lim[n as usize].store(lim, Relaxed);
        self.coarse[n as usize].store((lim >> self.shift).min(u32::from(u16::MAX)) as u16, Relaxed);
    }
}

/// Node ids go to the halves in alternating chunks of `2^CHUNK_BITS` ids. Chunks of 2 in tests, so the small
/// random graphs use both halves.
const CHUNK_BITS: u32 = if cfg!(test) { 1 } else { 8 };

/// The half of a node id (its chunk's parity).
#[inline]
fn half_of(n: NodeId) -> usize {
    ((n >> CHUNK_BITS) & 1) as usize
}

/// A node's index in its half's `flags` and `cold`.
#[inline]
fn local(n: NodeId) -> usize {
    (((n >> (CHUNK_BITS + 1)) << CHUNK_BITS) | (n & ((1 << CHUNK_BITS) - 1))) as usize
}

/// Entries per half for `nodes` node ids (every id's [`local`] index is below it).
fn half_len(nodes: u32) -> usize {
    (((nodes >> (CHUNK_BITS + 1)) + 1) << CHUNK_BITS) as usize
}

/// One half of the node ids of a run (alternate chunks of ids): its nodes' flags and cold records
/// (indexed by [`local`]), and its buffers.
struct Half<'s, 'a> {
    sh: &'s Shared<'a>,
    flags: &'s mut [u8],
    cold: &'s mut [Cold],
    p: &'s mut Part,
    level: u32,
}

/// One `(asset, sources)` run of a reach-set request: appends the reached `(node, asset)` pairs to `out`;
/// `None` when the fan-out cap would cut an address off.
pub(super) fn run(
    g: &Graph,
    req: &TraceRequest,
    oracle: &dyn ExitOracle,
    exits: Option<&[NodeId]>,
    asset: AssetId,
    sources: &[NodeId],
    out: &mut Vec<(NodeId, AssetId)>,
) -> Option<()> {
    let window = g.seqs_in_time(g.asset(asset).0, req.since, req.until);
    let view = View {
        g,
        fwd: req.direction == Direction::Forward,
        last: g.edge_count().saturating_sub(1),
    };
    let window = if g.edge_count() == 0 {
        0..0
    } else {
        view.keys(window)
    };
    if window.is_empty() {
        return Some(());
    }
    let mut s = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let split = half_len(g.node_count());
    let n = 2 * split;
    if s.flags.len() < n {
        s.flags.resize(n, 0);
        s.lim.resize_with(n, || AtomicU32::new(FAR));
        s.coarse.resize_with(n, || AtomicU16::new(u16::MAX));
        s.cold.resize(n, Cold::default());
    }
    let sh = Shared {
        view,
        exits,
        asset,
        window,
        sources,
        max_hops: req.max_hops,
        min_amount: req.min_amount,
        cap: req.fan_out_cap,
        lim: &s.lim,
        coarse: &s.coarse,
        shift: (32 - g.edge_count().leading_zeros()).saturating_sub(16),
        node_bits: 32 - g.node_count().leading_zeros(),
    };
    let (f0, f1) = s.flags.split_at_mut(split);
    let (c0, c1) = s.cold.split_at_mut(split);
    let [p0, p1] = &mut s.parts;
    let mut a = Half {
        sh: &sh,
        flags: f0,
        cold: c0,
        p: p0,
        level: 0,
    };
    let mut b = Half {
        sh: &sh,
        flags: f1,
        cold: c1,
        p: p1,
        level: 0,
    };
    let res = search(&mut a, &mut b, oracle);
    if res.is_ok() {
        // The reached nodes in id order (a radix sort), merged into `out` (sorted by the earlier runs): the
        // caller's sort then finds the result in order.
        let mut found = std::mem::take(&mut a.p.order);
        found.clear();
        for h in [&a, &b] {
            found.extend(
                h.p.touched
                    .iter()
                    .filter(|&&n| h.flags[local(n)] & REACHED != 0)
                    .map(|&n| u64::from(n)),
            );
        }
        radix_sort(&mut found, &mut a.p.buf, 0, sh.node_bits);
        merge_into(out, &found, asset);
        a.p.order = found;
    }
    for h in [&mut a, &mut b] {
        // Clear what this run set, for the next run on this thread.
        for &n in &h.p.touched {
            h.flags[local(n)] = 0;
            sh.lim[n as usize].store(FAR, Relaxed);
            sh.coarse[n as usize].store(u16::MAX, Relaxed);
        }
        h.p.touched.clear();
        h.p.nlists = 0;
        h.p.cur.clear();
        h.p.out.iter_mut().for_each(Vec::clear);
    }
    SCRATCH.with(|x| {
        let mut x = x.borrow_mut();
        if x.flags.len() <= s.flags.len() {
            *x = s;
        }
    });
    res.ok()
}

/// Merges the pairs `(n, asset)` of the sorted node ids `nodes` into `out` (sorted, or the merge only keeps
/// `out`'s own order).
fn merge_into(out: &mut Vec<(NodeId, AssetId)>, nodes: &[u64], asset: AssetId) {
    let pair = |n: u64| (n as NodeId, asset);
    match (out.last(), nodes.first()) {
        (_, None) => return,
        (Some(&last), Some(&first)) if last >= pair(first) => {}
        _ => {
            out.extend(nodes.iter().map(|&n| pair(n)));
            return;
        }
    }
    let old = std::mem::take(out);
    out.reserve(old.len() + nodes.len());
    let (mut i, mut j) = (0, 0);
    while i < old.len() && j < nodes.len() {
        if old[i] <= pair(nodes[j]) {
            out.push(old[i]);
            i += 1;
        } else {
            out.push(pair(nodes[j]));
            j += 1;
        }
    }
    out.extend_from_slice(&old[i..]);
    out.extend(nodes[j..].iter().map(|&n| pair(n)));
}

/// The level-by-level search over both halves: each level's arrivals go to their receiver's half; the
/// halves of a large level run on two threads (when the exits are listed: the oracle is not shared).
fn search(a: &mut Half<'_, '_>, b: &mut Half<'_, '_>, oracle: &dyn ExitOracle) -> Result<(), Capped> {
    // Level 0: a start's outflows in the window are all tainted.
    for &src in a.sh.sources {
        if half_of(src) == 0 {
            a.source(src, Some(oracle))?;
        } else {
            b.source(src, Some(oracle))?;
        }
    }
    let mut parallel = a.sh.exits.is_some() && two_cores() && !serial_for_now();
    let mut level = 0;
    loop {
        std::mem::swap(&mut a.p.cur, &mut a.p.out[0]);
        std::mem::swap(&mut b.p.cur, &mut b.p.out[1]);
        a.p.cur.append(&mut b.p.out[0]);
        b.p.cur.append(&mut a.p.out[1]);
        if a.p.cur.is_empty() && b.p.cur.is_empty() {
            return Ok(());
        }
        level += 1;
        a.level = level;
        b.level = level;
        if parallel && a.p.cur.len() >= PARALLEL_MIN && b.p.cur.len() >= PARALLEL_MIN {
            // The second half goes to whichever thread claims it first: the helper when it gets a core
            // while this thread does the first half, else this thread afterwards (on a busy machine the
            // level then costs what it costs on one thread, not a wait for the helper).
            let claim = Mutex::new(Some(&mut *b));
            let claimed = |wait: bool| {
                let guard = if wait {
                    Some(claim.lock().unwrap_or_else(PoisonError::into_inner))
                } else {
                    claim.try_lock().ok()
                };
                guard.and_then(|mut g| g.take().map(|h| h.step(None)))
            };
            let (ra, rb, rh) = std::thread::scope(|sc| {
                let helper = sc.spawn(|| claimed(false));
                let ra = a.step(Some(oracle));
                let rb = claimed(true);
                (ra, rb, helper.join())
            });
            if rb.is_some() {
                // The helper got no core in time (and the scope still waited for it to start): this run
                // and the next few stay on one thread.
                parallel = false;
                SERIAL_RUNS.store(SERIAL_AFTER_MISS, Relaxed);
            }
            ra?;
            match rh {
                Ok(rh) => rb.or(rh).unwrap_or(Ok(()))?,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        } else {
            a.step(Some(oracle))?;
            b.step(Some(oracle))?;
        }
    }
}

/// Runs to keep on one thread after the helper missed a level (see [`serial_for_now`]).
const SERIAL_AFTER_MISS: u32 = 8;

/// Runs left on one thread (process-wide).
static SERIAL_RUNS: AtomicU32 = AtomicU32::new(0);

/// Whether this run stays on one thread because the helper recently got no core in time (a busy machine:
/// there each two-thread level would end waiting for the helper to be scheduled). Counts the run down.
fn serial_for_now() -> bool {
    SERIAL_RUNS
        .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
        .is_ok()
}

/// Whether this machine runs two threads at once (asked once per process).
fn two_cores() -> bool {
    static TWO: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TWO.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2))
}

impl Half<'_, '_> {
    /// A start's outflows (level 0).
    fn source(&mut self, src: NodeId, oracle: Option<&dyn ExitOracle>) -> Result<(), Capped> {
        let sh = self.sh;
        let view = sh.view;
        self.touch(src, oracle);
        let outs = view.outs(src);
        let len = outs.end - outs.start;
        let mut count = 0u32;
        for j in view.lower_bound(&outs, sh.window.start)..len {
            let e = view.at(&outs, j);
            let k = view.key(e);
            if k >= sh.window.end {
                break;
            }
            if view.g.edge_asset(e) != sh.asset {
                continue;
            }
            count += 1;
            if count > sh.cap {
                return Err(Capped);
            }
            if !view.g.edge_amount_is_zero(e) {
                self.send(e, k);
            }
        }
        Ok(())
    }

    /// This level's arrivals at the half's nodes (in `p.cur`, consumed).
    fn step(&mut self, oracle: Option<&dyn ExitOracle>) -> Result<(), Capped> {
        let mut cur = std::mem::take(&mut self.p.cur);
        radix_sort(&mut cur, &mut self.p.buf, 32, self.sh.node_bits);
        let res = self.level_step(&cur, oracle);
        cur.clear();
        self.p.cur = cur;
        res
    }

    /// Marks a node of the half seen (on first sight: its kind and limit) and returns its flags. Exits come
    /// from the sorted list when the oracle lists them, else from `oracle` (always given then).
    #[inline]
    fn touch(&mut self, n: NodeId, oracle: Option<&dyn ExitOracle>) -> u8 {
        let i = local(n);
        let f = self.flags[i];
        if f & SEEN != 0 {
            return f;
        }
        let sh = self.sh;
        let is_source = sh.sources.binary_search(&n).is_ok();
        let is_exit = !is_source
            && match (sh.exits, oracle) {
                (Some(x), _) => x.binary_search(&n).is_ok(),
                (None, Some(o)) => {
                    let (chain, address) = sh.view.g.node_key(n);
                    o.exit(chain, address).is_some()
                }
                (None, None) => false,
            };
        let f = if is_source { SEEN } else { SEEN | REACHED };
        let lim = if is_source || is_exit {
            0
        } else {
            let outs = sh.view.outs(n);
            if outs.is_empty() {
                0
            } else {
                sh.view.key(sh.view.at(&outs, outs.end - outs.start - 1))
            }
        };
        self.flags[i] = f;
        sh.set_lim(n, lim);
        self.p.touched.push(n);
        f
    }

    /// Cache hints for the receivers of the arrivals a little after `cur[i]`: their flags, limits and
    /// out-offsets further ahead; nearer, the last out-edge of those not seen yet (which `touch` reads).
    #[inline]
    fn prefetch_arrivals(&self, cur: &[u64], i: usize) {
        const AHEAD: usize = 32;
        let view = self.sh.view;
        if let Some(&a) = cur.get(i + AHEAD) {
            let r = (a >> 32) as NodeId;
            prefetch(self.flags, local(r));
            prefetch(self.sh.lim, r as usize);
            view.g.prefetch_node(r, !view.fwd);
        }
        if let Some(&a) = cur.get(i + AHEAD / 2) {
            let r = (a >> 32) as NodeId;
            if self.flags[local(r)] & SEEN == 0 {
                let outs = view.outs(r);
                if !outs.is_empty() {
                    view.g.prefetch_edge(view.at(&outs, outs.end - outs.start - 1));
                }
            }
        }
    }

    /// Processes one level's arrivals, sorted by receiver: keeps those that can still qualify something
    /// (node order), finds their blocks and transactions (time order), then absorbs them (node order).
    fn level_step(&mut self, cur: &[u64], oracle: Option<&dyn ExitOracle>) -> Result<(), Capped> {
        self.p.cand.clear();
        self.p.rest.clear();
        let late = self.level >= self.sh.max_hops;
        let mut i = 0;
        while i < cur.len() {
            self.prefetch_arrivals(cur, i);
            let r = (cur[i] >> 32) as NodeId;
            let mut j = i + 1;
            while j < cur.len() && (cur[j] >> 32) as NodeId == r {
                j += 1;
            }
            let group = &cur[i..j];
            i = j;
            // A start takes no taint back (not reached, not followed).
            let f = self.touch(r, oracle);
            if f & REACHED == 0 {
                continue;
            }
            let lim = self.sh.lim[r as usize].load(Relaxed);
            // At the hop limit only arrivals at or after `act` count (earlier ones rest there).
            let floor = match (late, f & COLD != 0) {
                (false, _) => 0,
                (true, true) => self.cold[local(r)].act,
                (true, false) => FAR,
            };
            let useful = |a: &u64| (floor..lim).contains(&(*a as u32));
            let Some(min) = group.iter().filter(|a| useful(a)).min_by_key(|&&a| a as u32) else {
                continue;
            };
            // The earliest first (it fixes the first block, so most others then fall past the limit);
            // the others once every earliest one is in.
            self.p.cand.push(*min);
            if group.len() > 1 {
                let min = *min;
                self.p
                    .rest
                    .extend(group.iter().filter(|&&a| a != min && useful(&a)));
            }
        }
        self.absorb_cands()?;
        if self.p.rest.is_empty() {
            return Ok(());
        }
        let mut rest = std::mem::take(&mut self.p.rest);
        let lim = self.sh.lim;
        rest.retain(|&a| (a as u32) < lim[(a >> 32) as usize].load(Relaxed));
        std::mem::swap(&mut self.p.cand, &mut rest);
        let res = self.absorb_cands();
        rest.clear();
        self.p.rest = rest;
        res
    }

    /// Absorbs the arrivals of `cand` (in node order) still below their receiver's limit.
    fn absorb_cands(&mut self) -> Result<(), Capped> {
        if self.p.cand.is_empty() {
            return Ok(());
        }
        self.resolve();
        let cand = std::mem::take(&mut self.p.cand);
        let mut res = Ok(());
        // Cache hints: the cold records and out-offsets further ahead, the first out-edges nearer.
        const AHEAD: usize = 8;
        let view = self.sh.view;
        for (idx, &c) in cand.iter().enumerate() {
            if let Some(&a) = cand.get(idx + AHEAD) {
                let r = (a >> 32) as NodeId;
                prefetch(self.cold, local(r));
                view.g.prefetch_node(r, !view.fwd);
            }
            if let Some(&a) = cand.get(idx + AHEAD / 2) {
                let outs = view.outs((a >> 32) as NodeId);
                if !outs.is_empty() {
                    view.g.prefetch_edge(view.at(&outs, 0));
                }
            }
            let (r, k) = ((c >> 32) as NodeId, c as u32);
            if k < self.sh.lim[r as usize].load(Relaxed) {
                res = self.arrive(r, k, self.p.info[idx]);
                if res.is_err() {
                    break;
                }
            }
        }
        self.p.cand = cand;
        res
    }

    /// Fills `info` for every candidate, walking the block table in time order.
    fn resolve(&mut self) {
        let s = &mut *self.p;
        s.order.clear();
        s.order.extend(
            s.cand
                .iter()
                .enumerate()
                .map(|(i, &c)| (u64::from(c as u32) << 32) | i as u64),
        );
        radix_sort(&mut s.order, &mut s.buf, 32, 32);
        s.info.clear();
        s.info.resize(s.cand.len(), Where::default());
        let (view, g) = (self.sh.view, self.sh.view.g);
        let first = s.order.first().map_or(0, |&o| view.seq_of((o >> 32) as u32));
        let mut block = g.block_index(first);
        let mut block_seqs = g.block_seqs(block);
        for &o in &s.order {
            let seq = view.seq_of((o >> 32) as u32);
            step_to(
                seq,
                &mut block,
                &mut block_seqs,
                |i| g.block_seqs(i),
                |s| g.block_index(s),
            );
            let bk = view.keys(block_seqs.clone());
            s.info[o as u32 as usize] = Where {
                block,
                block_keys: (bk.start, bk.end),
            };
        }
    }

    /// The transaction of key `k`: its index and end key.
    fn tx_of(&self, k: u32) -> (u32, u32) {
        let view = self.sh.view;
        let (tx, seqs) = view.g.tx_at(view.seq_of(k));
        (tx, view.keys(seqs).end)
    }

    /// An arrival at `k`, below the receiver's limit (`w`: where `k` lies).
    fn arrive(&mut self, r: NodeId, k: u32, w: Where) -> Result<(), Capped> {
        let ri = local(r);
        if self.flags[ri] & COLD == 0 {
            self.flags[ri] |= COLD;
            self.cold[ri] = Cold {
                act: FAR,
                qual_from: FAR,
                first_start: 0,
                first_block: 0,
                txs: FAR,
                followed: 0,
            };
        }
        let c = &mut self.cold[ri];
        if self.level < self.sh.max_hops {
            c.act = c.act.min(k);
        } else if k < c.act {
            return Ok(()); // arrived at the hop limit before the address started passing taint on
        }
        self.absorb(r, k, w)
    }

    /// Adds a qualifying arrival at `k` to `r`'s state and emits the out-edges that now qualify.
    ///
    /// The transaction list of the first block is kept only when the address has out-edges in that block
    /// (`txs == FAR` otherwise: arrivals in it then qualify nothing more), so most arrivals need no
    /// transaction lookup.
    fn absorb(&mut self, r: NodeId, k: u32, w: Where) -> Result<(), Capped> {
        let ri = local(r);
        let c = self.cold[ri];
        let view = self.sh.view;
        let outs = view.outs(r);
        let len = outs.end - outs.start;
        // The first out-edge after `k`.
        let after = view.lower_bound(&outs, k + 1);
        if c.qual_from != FAR && w.block == c.first_block {
            if c.txs == FAR || after == len || view.key(view.at(&outs, after)) >= c.qual_from {
                // No out-edge after `k` in the first block: nothing to emit now, and what the list would
                // learn from `k` only ever concerns keys where the address has no out-edge.
                return Ok(());
            }
            let (tx, tx_end) = self.tx_of(k);
            let list = &mut self.p.lists[c.txs as usize];
            for t in list.iter_mut().filter(|t| t.0 == FAR) {
                // An entry made without a lookup (no out-edge after it in the block then, nor now).
                let (ti, seqs) = view.g.tx_at(view.seq_of(t.2));
                *t = (ti, view.keys(seqs).end, t.2);
            }
            let range = match list.iter_mut().find(|t| t.0 == tx) {
                Some(t) if t.2 <= k => return Ok(()),
                Some(t) => {
                    let hi = t.2 + 1;
                    t.2 = k;
                    k + 1..hi
                }
                None => {
                    list.push((tx, tx_end, k));
                    k + 1..tx_end
                }
            };
            return self.emit(r, range, false);
        }
        // A new, earlier first block. The transaction of `k` matters only when the address has an out-edge
        // after `k` in the block (looked up now) or before it (an entry without lookup, `(FAR, 0, k)`:
        // it marks no key as emitted, and is looked up if a later arrival in the block needs it).
        let (new_start, new_qual) = w.block_keys;
        let later = after < len && view.key(view.at(&outs, after)) < new_qual;
        let in_block = later || (after > 0 && view.key(view.at(&outs, after - 1)) >= new_start);
        self.p.done.clear();
        if c.txs != FAR {
            self.p.done.extend_from_slice(&self.p.lists[c.txs as usize]);
        }
        let mut tx_end = k + 1;
        let li = if in_block {
            let entry = if later {
                let (tx, end) = self.tx_of(k);
                tx_end = end;
                (tx, end, k)
            } else {
                (FAR, 0, k)
            };
            let li = if c.txs == FAR {
                if self.p.nlists == self.p.lists.len() {
                    self.p.lists.push(Vec::new());
                }
                self.p.nlists += 1;
                (self.p.nlists - 1) as u32
            } else {
                c.txs
            };
            let list = &mut self.p.lists[li as usize];
            list.clear();
            list.push(entry);
            li
        } else {
            FAR
        };
        let cm = &mut self.cold[ri];
        cm.qual_from = new_qual;
        cm.first_start = new_start;
        cm.first_block = w.block;
        cm.txs = li;
        let lim = self.sh.lim[r as usize].load(Relaxed);
        self.sh.set_lim(r, lim.min(new_qual));
        if later {
            self.emit(r, k + 1..tx_end, false)?;
        }
        match (c.qual_from == FAR, in_block) {
            // Out-edges after `k` all lie past the block: emit on from there, no search.
            (true, false) => self.emit_at(r, &outs, after, self.sh.window.end, false),
            (true, true) => self.emit(r, new_qual..FAR, false),
            (false, _) => {
                self.emit(r, new_qual..c.first_start, false)?;
                if c.txs == FAR {
                    return Ok(()); // no out-edge in the old first block
                }
                self.emit(r, c.first_start..c.qual_from, true)
            }
        }
    }

    /// Emits `r`'s out-edges of the asset with keys in `keys` (within the window), except (`skip_done`)
    /// those already emitted through a transaction of `self.p.done`.
    fn emit(&mut self, r: NodeId, keys: Range<u32>, skip_done: bool) -> Result<(), Capped> {
        let w = &self.sh.window;
        let (lo, hi) = (keys.start.max(w.start), keys.end.min(w.end));
        if lo >= hi {
            return Ok(());
        }
        let outs = self.sh.view.outs(r);
        let j = self.sh.view.lower_bound(&outs, lo);
        self.emit_at(r, &outs, j, hi, skip_done)
    }

    /// Emits `r`'s out-edges of the asset from index `j` of its view-out list `outs` up to key `hi`, as
    /// [`SetRun::emit`] (the caller knows `j` is at or past the range's start).
    fn emit_at(
        &mut self,
        r: NodeId,
        outs: &Range<u32>,
        mut j: u32,
        hi: u32,
        skip_done: bool,
    ) -> Result<(), Capped> {
        let sh = self.sh;
        let (view, g) = (sh.view, sh.view.g);
        let len = outs.end - outs.start;
        if j < len
            && !skip_done
            && sh.cap == u32::MAX
            && sh.min_amount.is_zero()
            && view.key(view.at(outs, len - 1)) < hi
        {
            // The common case (the rest of the list, no cap, no minimum): no key check per edge, and an
            // edge of another asset costs one read. The cheap drop (past the receiver's limit) before the
            // amount read.
            for j in j..len {
                let e = view.at(outs, j);
                if g.edge_asset(e) != sh.asset {
                    continue;
                }
                let (to, k) = (view.receiver(e), view.key(e));
                if k >> sh.shift > u32::from(sh.coarse[to as usize].load(Relaxed)) || g.edge_amount_is_zero(e)
                {
                    continue;
                }
                self.p.out[half_of(to)].push((u64::from(to) << 32) | u64::from(k));
            }
            return Ok(());
        }
        while j < len {
            let e = view.at(outs, j);
            j += 1;
            let k = view.key(e);
            if k >= hi {
                break;
            }
            if g.edge_asset(e) != sh.asset
                || (skip_done && self.p.done.iter().any(|t| k > t.2 && k < t.1))
                || g.edge_amount_is_zero(e)
            {
                continue;
            }
            if sh.cap != u32::MAX {
                let c = &mut self.cold[local(r)];
                c.followed += 1;
                if c.followed > sh.cap {
                    return Err(Capped);
                }
            }
            self.send(e, k);
        }
        Ok(())
    }

    /// A tainted transfer (of a non-zero amount): dropped below the minimum, or when its receiver was
    /// already seen and `k` is past its limit (by the coarse limit); else an arrival one level up.
    #[inline]
    fn send(&mut self, e: EdgeId, k: u32) {
        let sh = self.sh;
        if !sh.min_amount.is_zero() && sh.view.g.edge_amount_below(e, sh.min_amount) {
            return;
        }
        let to = sh.view.receiver(e);
        if k >> sh.shift > u32::from(sh.coarse[to as usize].load(Relaxed)) {
            return;
        }
        self.p.out[half_of(to)].push((u64::from(to) << 32) | u64::from(k));
    }
}

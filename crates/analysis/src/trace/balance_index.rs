//! A derived index of clean balances and per-asset in-lists, for the balance models (haircut, fifo) of
//! forward traces.
//!
//! Under haircut and fifo an address's transfers before its first taint are all clean, so all they
//! contribute is its balance of the asset at that moment. Without help the engine rebuilds it by replaying
//! the whole history (every earlier transfer of the address), and it reads an address's in-edges through the
//! graph's in-permutation, skipping those of other assets one by one. For addresses with long histories
//! both cost memory traffic (in-edges are scattered, and most are other assets).
//!
//! The index keeps
//! - per `(address, asset)` with at least `2 * spacing` transfers, a **checkpoint** every `spacing`
//!   transfers of the asset (at the first block change at or after that many): the order key (seq) of the
//!   next transfer `X` of the asset, the address's out- and in-list positions before `X`, and the balance
//!   the history replay holds before `X` once what is pending settles (which `X`, in a new block, always
//!   does), once per model (haircut and fifo split a same-transaction remainder differently, so a later
//!   outflow can clamp under one and not the other). A replay starts at the last checkpoint before the
//!   first taint instead of at the beginning.
//! - for addresses with at least [`IN_GROUP_MIN`] in-edges of more than one asset, their in-edges grouped
//!   by asset (`(seq, edge)` in time order), so the engine reads only the run's asset (positions, and the
//!   checkpoints' in-list positions, are then positions in the group).
//!
//! Exact: traces with and without the index are equal (tests compare them). Built once per graph, from the
//! graph alone ([`BalanceIndex::build`]); forward view only (backward traces do not use it). Not here: I/O
//! (a caller may cache [`BalanceIndex::to_bytes`] next to the snapshot, keyed by the graph's stamp).

use chaintrace_core::U256;
use chaintrace_graph::{AssetId, Graph, NodeId};

use super::models::{Fifo, Haircut, Pools, TaintModel};

/// Transfers of one asset between two checkpoints of an address (at least).
pub const DEFAULT_SPACING: u32 = 32;

/// Addresses with at least this many in-edges, of more than one asset, get their in-edges grouped by asset.
pub const IN_GROUP_MIN: u32 = 16;

/// Magic and version of [`BalanceIndex::to_bytes`].
const MAGIC: &[u8; 8] = b"CTBIDX04";

/// Bytes per checkpoint.
const CP_BYTES: usize = 3 * 4 + 2 * 32;

/// No in-list group (the pair's in-edges are read from the graph's in-list, other assets skipped).
const NO_GROUP: u32 = u32::MAX;

/// Checkpoints of clean balances per `(address, asset)`, and in-lists grouped by asset (see the module
/// docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceIndex {
    node_count: u32,
    edge_count: u32,
    spacing: u32,
    /// Per node, its first pair (`node_count + 1` entries; a node's pairs are sorted by asset).
    pub(crate) node_pairs: Vec<u32>,
    /// Per pair: asset.
    pair_asset: Vec<u32>,
    /// Per pair: end of its checkpoints (the start is the previous pair's end).
    pair_cp_end: Vec<u32>,
    /// Per pair: start of its in-edges in `in_list`, or `NO_GROUP`.
    pair_in_start: Vec<u32>,
    /// Per pair: number of its in-edges in `in_list`.
    pair_in_len: Vec<u32>,
    /// In-edges of grouped addresses, `(seq, edge)`, per pair in time order.
    pub(crate) in_list: Vec<(u32, u32)>,
    /// Per checkpoint: order key (seq) of the next transfer of the asset.
    pub(crate) key: Vec<u32>,
    /// Per checkpoint: out-list position (all assets) before that transfer.
    pub(crate) out_cur: Vec<u32>,
    /// Per checkpoint: in-list position before that transfer (in the pair's group when it has one, else
    /// in the address's in-list, all assets).
    pub(crate) in_cur: Vec<u32>,
    /// Per checkpoint: the settled clean balance before that transfer under haircut.
    pub(crate) balance: Vec<U256>,
    /// The same under fifo (it differs after an outflow that draws on value pending in its own transaction
    /// and a later one that does not: the models split the remainder differently, so one clamps).
    pub(crate) balance_fifo: Vec<U256>,
}

/// What the engine uses of one `(address, asset)` pair.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PairView {
    /// Checkpoint ids.
    pub(crate) cps: (u32, u32),
    /// In-edges of the asset in `in_list` (start, len), when the address's in-edges are grouped.
    pub(crate) group: Option<(u32, u32)>,
}

/// One asset's replay at one address while building.
struct PairBuild {
    asset: AssetId,
    pools: Pools<Haircut>,
    fifo: Pools<Fifo>,
    since: u32,
    ins: u32,
    prev_block: Option<u32>,
    cps: Vec<(u32, u32, u32, [U256; 2])>,
    group: Option<(u32, u32)>,
}

impl PairBuild {
    fn new(asset: AssetId) -> PairBuild {
        PairBuild {
            asset,
            pools: Pools::default(),
            fifo: Pools::default(),
            since: 0,
            ins: 0,
            prev_block: None,
            cps: Vec::new(),
            group: None,
        }
    }
}

impl BalanceIndex {
    /// Builds the index of `g` with the default spacing.
    pub fn build(g: &Graph) -> BalanceIndex {
        Self::build_with_spacing(g, DEFAULT_SPACING)
    }

    /// Builds the index of `g` with a checkpoint at least every `spacing` transfers of an asset (at least 1;
    /// only pairs with at least twice that many transfers get checkpoints).
    pub fn build_with_spacing(g: &Graph, spacing: u32) -> BalanceIndex {
        let spacing = spacing.max(1);
        let mut ix = BalanceIndex {
            node_count: g.node_count(),
            edge_count: g.edge_count(),
            spacing,
            node_pairs: Vec::with_capacity(g.node_count() as usize + 1),
            pair_asset: Vec::new(),
            pair_cp_end: Vec::new(),
            pair_in_start: Vec::new(),
            pair_in_len: Vec::new(),
            in_list: Vec::new(),
            key: Vec::new(),
            out_cur: Vec::new(),
            in_cur: Vec::new(),
            balance: Vec::new(),
            balance_fifo: Vec::new(),
        };
        // Block and transaction of every seq (two sweeps of their tables; the replays below then look them
        // up with one read each instead of searching tables far from each other).
        let e = g.edge_count();
        let mut block_tx = vec![(0u32, 0u32); e as usize];
        let mut i = 0u32;
        loop {
            let r = g.block_seqs(i);
            if r.start >= e {
                break;
            }
            for s in r {
                block_tx[s as usize].0 = i;
            }
            i += 1;
        }
        // Transactions: one `tx_at` per transaction (a rank and the neighbouring bits of the transaction-start
        // bitmap), not a select per index.
        let mut s = 0u32;
        while s < e {
            let (t, r) = g.tx_at(s);
            for x in r.clone() {
                block_tx[x as usize].1 = t;
            }
            s = r.end.max(s + 1);
        }
        let mut states: Vec<PairBuild> = Vec::new();
        let mut ins_by_asset: Vec<(AssetId, u32, u32)> = Vec::new();
        for n in 0..g.node_count() {
            ix.node_pairs.push(ix.pair_asset.len() as u32);
            let outs = g.out_edges(n);
            let ins = g.in_edge_slots(n);
            states.clear();
            // In-edges grouped by asset (stable: time order within an asset).
            if ins.len() >= IN_GROUP_MIN as usize {
                ins_by_asset.clear();
                ins_by_asset.extend(ins.clone().map(|s| {
                    let e = g.in_edge_at(s);
                    (g.edge_asset(e), g.edge_seq(e), e)
                }));
                let first = ins_by_asset[0].0;
                if ins_by_asset.iter().any(|x| x.0 != first) {
                    ins_by_asset.sort_by_key(|x| (x.0, x.1));
                    for &(a, seq, e) in &ins_by_asset {
                        if states.last().is_none_or(|s| s.asset != a) {
                            let mut st = PairBuild::new(a);
                            st.group = Some((ix.in_list.len() as u32, 0));
                            states.push(st);
                        }
                        let st = states.last_mut().expect("pushed above");
                        if let Some(gr) = &mut st.group {
                            gr.1 += 1;
                        }
                        ix.in_list.push((seq, e));
                    }
                }
            }
            let grouped = !states.is_empty();
            if outs.len() + ins.len() >= 2 * spacing as usize {
                Self::checkpoints(g, &block_tx, n, spacing, grouped, &mut states);
            }
            states.sort_by_key(|s| s.asset);
            for s in &states {
                let cps = &s.cps[..];
                if cps.is_empty() && s.group.is_none() && !grouped {
                    continue;
                }
                for &(key, o, i, [bal, bal_fifo]) in cps {
                    ix.key.push(key);
                    ix.out_cur.push(o);
                    ix.in_cur.push(i);
                    ix.balance.push(bal);
                    ix.balance_fifo.push(bal_fifo);
                }
                ix.pair_asset.push(s.asset);
                ix.pair_cp_end.push(ix.key.len() as u32);
                let (start, len) = s.group.unwrap_or((NO_GROUP, 0));
                // A grouped address's asset without in-edges: an empty group.
                let start = if grouped && start == NO_GROUP { 0 } else { start };
                ix.pair_in_start.push(start);
                ix.pair_in_len.push(len);
            }
        }
        ix.node_pairs.push(ix.pair_asset.len() as u32);
        ix
    }

    /// Replays the history of `n` (all assets at once, in time order) and records each asset's checkpoints.
    fn checkpoints(
        g: &Graph,
        block_tx: &[(u32, u32)],
        n: NodeId,
        spacing: u32,
        grouped: bool,
        states: &mut Vec<PairBuild>,
    ) {
        let outs = g.out_edges(n);
        let ins = g.in_edge_slots(n);
        let (out_len, in_len) = (outs.len() as u32, ins.len() as u32);
        let (mut oi, mut ii) = (0u32, 0u32);
        loop {
            let out_e = (oi < out_len).then(|| outs.start + oi);
            let in_e = (ii < in_len).then(|| g.in_edge_at(ins.start + ii));
            // Time order; a self-transfer is received before it is sent (as the replay merges).
            let (e, is_out) = match (out_e, in_e) {
                (Some(o), Some(i)) if g.edge_seq(o) < g.edge_seq(i) => (o, true),
                (Some(o), None) => (o, true),
                (_, Some(i)) => (i, false),
                (None, None) => break,
            };
            let seq = g.edge_seq(e);
            let asset = g.edge_asset(e);
            let k = match states.iter().position(|s| s.asset == asset) {
                Some(k) => k,
                None => {
                    states.push(PairBuild::new(asset));
                    states.len() - 1
                }
            };
            let st = &mut states[k];
            let (b, t) = block_tx[seq as usize];
            if st.since >= spacing && st.prev_block.is_some_and(|p| p != b) {
                let i = if grouped { st.ins } else { ii };
                let bals = [st.pools.settled_balance(), st.fifo.settled_balance()];
                st.cps.push((seq, oi, i, bals));
                st.since = 0;
            }
            let amount = g.edge_amount(e);
            if is_out {
                // As the replay: without pending inflows the outflow's block and transaction do not matter.
                let (b, t) = if st.pools.has_pending() { (b, t) } else { (0, 0) };
                st.pools.prepare_out(b, t);
                let _ = st.pools.take(amount);
                let (b, t) = if st.fifo.has_pending() {
                    block_tx[seq as usize]
                } else {
                    (0, 0)
                };
                st.fifo.prepare_out(b, t);
                let _ = st.fifo.take(amount);
                oi += 1;
            } else {
                st.pools.inflow(b, t, Haircut::clean(amount), None);
                st.fifo.inflow(b, t, Fifo::clean(amount), None);
                st.ins += 1;
                ii += 1;
            }
            st.prev_block = Some(b);
            st.since += 1;
        }
    }

    /// Whether the index was built from a graph of `g`'s shape (node and edge counts; a caller caching it
    /// on disk keys it by the snapshot's stamp as well).
    pub fn fits(&self, g: &Graph) -> bool {
        self.node_count == g.node_count() && self.edge_count == g.edge_count()
    }

    /// Number of indexed `(address, asset)` pairs.
    pub fn pair_count(&self) -> usize {
        self.pair_asset.len()
    }

    /// Number of checkpoints.
    pub fn checkpoint_count(&self) -> usize {
        self.key.len()
    }

    /// Number of in-edges in asset groups.
    pub fn grouped_in_edges(&self) -> usize {
        self.in_list.len()
    }

    /// Transfers of one asset between two checkpoints (at least).
    pub fn spacing(&self) -> u32 {
        self.spacing
    }

    /// Bytes the index holds in memory (its tables).
    pub fn bytes(&self) -> usize {
        self.node_pairs.len() * 4
            + self.pair_asset.len() * 16
            + self.in_list.len() * 8
            + self.key.len() * CP_BYTES
    }

    /// What the index holds for `(n, asset)`.
    pub(crate) fn pair(&self, n: NodeId, asset: AssetId) -> PairView {
        let (Some(&lo), Some(&hi)) = (
            self.node_pairs.get(n as usize),
            self.node_pairs.get(n as usize + 1),
        ) else {
            return PairView::default();
        };
        for p in lo as usize..(hi as usize).min(self.pair_asset.len()) {
            if self.pair_asset[p] == asset {
                let start = if p == 0 { 0 } else { self.pair_cp_end[p - 1] };
                let group =
                    (self.pair_in_start[p] != NO_GROUP).then(|| (self.pair_in_start[p], self.pair_in_len[p]));
                return PairView {
                    cps: (start, self.pair_cp_end[p]),
                    group,
                };
            }
        }
        PairView::default()
    }

    /// The index as bytes (little endian; for a cache file).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes() + 64);
        out.extend_from_slice(MAGIC);
        for v in [self.node_count, self.edge_count, self.spacing] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for len in [self.pair_asset.len(), self.in_list.len(), self.key.len()] {
            out.extend_from_slice(&(len as u64).to_le_bytes());
        }
        for t in [
            &self.node_pairs,
            &self.pair_asset,
            &self.pair_cp_end,
            &self.pair_in_start,
            &self.pair_in_len,
        ] {
            for &v in t.iter() {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        for &(s, e) in &self.in_list {
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&e.to_le_bytes());
        }
        for t in [&self.key, &self.out_cur, &self.in_cur] {
            for &v in t.iter() {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        for t in [&self.balance, &self.balance_fifo] {
            for v in t.iter() {
                out.extend_from_slice(&v.to_le_bytes::<32>());
            }
        }
        out
    }

    /// Reads [`BalanceIndex::to_bytes`]; `None` if the bytes are not a whole, consistent index.
    pub fn from_bytes(b: &[u8]) -> Option<BalanceIndex> {
        let mut r = Reader { b, at: 0 };
        if r.take(8)? != MAGIC {
            return None;
        }
        let (node_count, edge_count, spacing) = (r.u32()?, r.u32()?, r.u32()?);
        let pairs = usize::try_from(r.u64()?).ok()?;
        let grouped = usize::try_from(r.u64()?).ok()?;
        let cps = usize::try_from(r.u64()?).ok()?;
        let nodes = node_count as usize + 1;
        // Sizes must fit the bytes before anything is allocated.
        let need = nodes
            .checked_mul(4)?
            .checked_add(pairs.checked_mul(16)?)?
            .checked_add(grouped.checked_mul(8)?)?
            .checked_add(cps.checked_mul(CP_BYTES)?)?;
        if b.len().checked_sub(r.at)? != need || spacing == 0 {
            return None;
        }
        let mut u32s = |len: usize| (0..len).map(|_| r.u32()).collect::<Option<Vec<u32>>>();
        let node_pairs = u32s(nodes)?;
        let (pair_asset, pair_cp_end) = (u32s(pairs)?, u32s(pairs)?);
        let (pair_in_start, pair_in_len) = (u32s(pairs)?, u32s(pairs)?);
        let in_list = (0..grouped)
            .map(|_| Some((r.u32()?, r.u32()?)))
            .collect::<Option<Vec<_>>>()?;
        let mut u32s = |len: usize| (0..len).map(|_| r.u32()).collect::<Option<Vec<u32>>>();
        let (key, out_cur, in_cur) = (u32s(cps)?, u32s(cps)?, u32s(cps)?);
        let mut wides = || (0..cps).map(|_| r.u256()).collect::<Option<Vec<U256>>>();
        let (balance, balance_fifo) = (wides()?, wides()?);
        // Tables must be consistent with each other (the engine indexes them without checks).
        let ok = node_pairs.windows(2).all(|w| w[0] <= w[1])
            && node_pairs.last().is_some_and(|&p| p as usize == pairs)
            && pair_cp_end.windows(2).all(|w| w[0] <= w[1])
            && pair_cp_end.last().is_none_or(|&e| e as usize == cps)
            && pair_in_start.iter().zip(&pair_in_len).all(|(&s, &l)| {
                s == NO_GROUP || (s as usize).checked_add(l as usize).is_some_and(|e| e <= grouped)
            });
        if !ok {
            return None;
        }
        Some(BalanceIndex {
            node_count,
            edge_count,
            spacing,
            node_pairs,
            pair_asset,
            pair_cp_end,
            pair_in_start,
            pair_in_len,
            in_list,
            key,
            out_cur,
            in_cur,
            balance,
            balance_fifo,
        })
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u256(&mut self) -> Option<U256> {
        Some(U256::from_le_bytes::<32>(self.take(32)?.try_into().ok()?))
    }
}

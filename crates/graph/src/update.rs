//! Incremental update: the graph of a store that only grew, from the old graph plus the new transfers,
//! without reading the old transfers back.
//!
//! The result is the graph a full build would give (same bytes: same node, edge, asset, block and
//! transaction ids), because both go through the one layout function with the same inputs: node and asset
//! keys sorted, transfers in `(chain, block, tx hash, position key, store order)` order. The old graph already
//! holds its transfers in that order (seqs), so the new ones are sorted among themselves and merged in; no
//! global sort, no hashing of old rows. A new transfer that belongs to a transaction the old graph already
//! holds is refused (`None`): the graph does not keep positions, so it could not be placed among that
//! transaction's old transfers.

use std::collections::HashMap;

use chaintrace_core::{Address, Chain, Transfer, U256};
use chaintrace_store::{StoreError, TransferReader};

use crate::build::{self, SeqRows, Tables, position_key};
use crate::format::{self, ADDR_LEN, AMOUNT_OVERFLOW, AMOUNT_WIDE, ASSET_LEN, CHAINS, rd_u32, rd_u64};
use crate::{Graph, GraphError, StoreStamp, chain_index, transfer_digest};

/// Largest number of transfers (and addresses) a graph holds (as in the builder).
const MAX_ITEMS: u64 = u32::MAX as u64 - 1;

/// What [`Graph::updated`] found.
#[derive(Debug)]
pub enum Update {
    /// The graph's stamp equals the store's: nothing to do.
    Current,
    /// The store only grew: the new graph (equal to a full rebuild) and what was merged in.
    Appended {
        /// The updated graph, in memory (save it to replace the snapshot).
        graph: Box<Graph>,
        /// Transfers read from the store and merged.
        added: u64,
    },
    /// The store did not provably only grow (or the new rows cannot be merged): rebuild in full.
    Rebuild {
        /// Why, for the log.
        reason: String,
    },
}

/// Short name of an [`Update`] outcome, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// [`Update::Current`].
    Current,
    /// [`Update::Appended`].
    Appended,
    /// [`Update::Rebuild`].
    Rebuild,
}

impl Update {
    /// The outcome without its payload.
    pub fn outcome(&self) -> UpdateOutcome {
        match self {
            Update::Current => UpdateOutcome::Current,
            Update::Appended { .. } => UpdateOutcome::Appended,
            Update::Rebuild { .. } => UpdateOutcome::Rebuild,
        }
    }
}

/// A new transfer, reduced to what the layout needs, with final ids.
struct NewRow {
    block_key: u64,
    tx: [u8; 32],
    /// Index in the input (store order): the last tie-break, as the builder's staging index.
    idx: u32,
    src: u32,
    dst: u32,
    asset: u32,
    amount: u128,
    time: u64,
    /// First row (in sorted order) of this row's transaction: the transaction's identity in the merge.
    tx_group: u32,
}

/// The merged transfers in seq order: `from[seq]` is an old seq (`< n_old`) or `n_old + ` a rank in `new`.
struct Merged<'a> {
    g: &'a Graph,
    from: Vec<u32>,
    n_old: u32,
    old_edge: Vec<u32>,
    old_src: Vec<u32>,
    node_map: Vec<u32>,
    asset_map: Vec<u32>,
    new: Vec<NewRow>,
    big: &'a [(u32, U256)],
}

impl Merged<'_> {
    #[inline]
    fn side(&self, seq: usize) -> Result<usize, usize> {
        let f = self.from[seq];
        if f < self.n_old {
            Ok(f as usize)
        } else {
            Err((f - self.n_old) as usize)
        }
    }
}

impl SeqRows for Merged<'_> {
    #[inline]
    fn src(&self, seq: usize) -> u32 {
        match self.side(seq) {
            Ok(s) => self.node_map[self.old_src[s] as usize],
            Err(r) => self.new[r].src,
        }
    }
    #[inline]
    fn dst(&self, seq: usize) -> u32 {
        match self.side(seq) {
            Ok(s) => self.node_map[self.g.edge_dst(self.old_edge[s]) as usize],
            Err(r) => self.new[r].dst,
        }
    }
    #[inline]
    fn asset(&self, seq: usize) -> u32 {
        match self.side(seq) {
            Ok(s) => self.asset_map[self.g.edge_asset(self.old_edge[s]) as usize],
            Err(r) => self.new[r].asset,
        }
    }
    #[inline]
    fn amount(&self, seq: usize) -> u128 {
        match self.side(seq) {
            Ok(s) => {
                let e = self.old_edge[s];
                match self.g.edge_amount_narrow(e) {
                    Some(v) => u128::from(v),
                    None => narrow_amount(self.g.edge_amount(e)),
                }
            }
            Err(r) => self.new[r].amount,
        }
    }
    fn big(&self, seq: usize) -> U256 {
        match self.side(seq) {
            Ok(s) => self.g.edge_amount(self.old_edge[s]),
            Err(r) => {
                let i = self.big.partition_point(|b| b.0 < self.new[r].idx);
                self.big.get(i).map_or(U256::from(AMOUNT_OVERFLOW), |b| b.1)
            }
        }
    }
    fn tx(&self, seq: usize) -> [u8; 32] {
        match self.side(seq) {
            Ok(s) => self.g.tx_hash_in_image(self.g.tx_index(s as u32)),
            Err(r) => self.new[r].tx,
        }
    }
}

/// The builder's amount slot of a value: the value below 2^128 - 1, else [`AMOUNT_OVERFLOW`].
fn narrow_amount(v: U256) -> u128 {
    if v >= U256::from(AMOUNT_OVERFLOW) {
        AMOUNT_OVERFLOW
    } else {
        v.to::<u128>()
    }
}

impl Graph {
    /// Brings the graph up to date with `reader`, the store it was built from, reading only the transfers
    /// written since it was built.
    ///
    /// The store provably only grew when (1) the transfer at the graph's high-water mark
    /// ([`StoreStamp::high_water`]) is still there under the same id with the same digest, so every transfer
    /// written since has a larger id and no id at or below it was reused, (2) for every chain the transfers
    /// stored now equal the graph's count plus the new transfers (ids above the mark) of that chain, so none at
    /// or below the mark was removed, and (3) no new transfer belongs to a transaction the graph holds. Then
    /// the result is [`Update::Appended`], byte-identical to [`Graph::from_reader`] on the store. Anything
    /// else (an unwind, a snapshot without a mark, a store written while it was read) is
    /// [`Update::Rebuild`] with the reason; so is growth by more transfers than the graph holds (a full build
    /// then costs no more, measured, and needs less memory). The one case this cannot tell from growth: the
    /// transfer at the mark removed and then written again identically (same id, every field equal) while
    /// other transfers below the mark were replaced by as many others per chain.
    pub fn updated(&self, reader: &dyn TransferReader) -> Result<Update, GraphError> {
        let old = self.stamp();
        let now = StoreStamp::of_reader(reader)?;
        if now == old {
            return Ok(Update::Current);
        }
        let rebuild = |reason: String| Ok(Update::Rebuild { reason });
        if old.high_water == 0 {
            return rebuild("the graph records no store high-water mark".into());
        }
        if now.high_water < old.high_water {
            return rebuild(format!(
                "the store's last transfer id went down from {} to {} (transfers removed)",
                old.high_water, now.high_water
            ));
        }
        // Measured: merging as many new transfers as the graph holds costs about what a full build costs,
        // with more memory (the new rows are held decoded); beyond that a full build is the better deal.
        let grown = now.total_transfers().saturating_sub(old.total_transfers());
        if grown > u64::from(self.edge_count()) {
            return rebuild(format!(
                "{grown} new transfers, more than the {} the graph holds: a full build costs no more",
                self.edge_count()
            ));
        }
        let mut mark_seen = false;
        let mut new: Vec<Transfer> = Vec::new();
        let mut per_chain = [0u64; CHAINS];
        let mut failed: Option<GraphError> = None;
        let res = reader.for_each_transfer_after(old.high_water - 1, &mut |id, t| {
            if id == old.high_water {
                mark_seen = transfer_digest(&t) == old.high_water_digest;
                return Ok(());
            }
            // Rows written after `now` was read are left for the next update.
            if id > now.high_water {
                return Ok(());
            }
            if new.len() as u64 >= MAX_ITEMS {
                failed = Some(GraphError::TooLarge {
                    what: "transfers",
                    limit: MAX_ITEMS,
                });
                return Err(StoreError::Callback("too many new transfers".into()));
            }
            per_chain[chain_index(t.chain)] += 1;
            new.push(t);
            Ok(())
        });
        if let Some(e) = failed {
            return Err(e);
        }
        res?;
        if !mark_seen {
            return rebuild(format!(
                "the transfer at the graph's high-water mark (id {}) was removed or changed",
                old.high_water
            ));
        }
        for (c, (o, n)) in old.chains.iter().zip(&now.chains).enumerate() {
            if o.transfers + per_chain[c] != n.transfers {
                return rebuild(format!(
                    "{}: the store holds {} transfers, the graph {} plus {} new (transfers removed or written \
                     while reading)",
                    chaintrace_core::Chain::ALL[c],
                    n.transfers,
                    o.transfers,
                    per_chain[c]
                ));
            }
        }
        let added = new.len() as u64;
        match self.with_transfers(&new, now)? {
            Some(graph) => Ok(Update::Appended {
                graph: Box::new(graph),
                added,
            }),
            None => rebuild("a new transfer belongs to a transaction the graph already holds".into()),
        }
    }

    /// The graph of this graph's transfers plus `new` (any order), stamped `stamp`: byte-identical to a full
    /// build that pushes this graph's transfers (in the order they were pushed) and then `new` in the given
    /// order. `None` when a new transfer belongs to a transaction (chain, block, hash) this graph already holds
    /// (its place among that transaction's transfers is unknown: positions are not stored).
    ///
    /// Cost: linear in the old graph (one pass over each array, no sort, no hashing) plus
    /// `O(k log k + k log n)` for `k` new transfers; memory about 12 bytes per old transfer beside the images.
    pub fn with_transfers(&self, new: &[Transfer], stamp: StoreStamp) -> Result<Option<Graph>, GraphError> {
        let n_old = self.edge_count() as usize;
        let total = n_old as u64 + new.len() as u64;
        if total > MAX_ITEMS {
            return Err(GraphError::TooLarge {
                what: "transfers",
                limit: MAX_ITEMS,
            });
        }

        // Keys of the new transfers, sorted as the builder sorts (one compact array: no indirection while
        // sorting).
        let mut keys: Vec<(u64, [u8; 32], u64, u32)> = Vec::with_capacity(new.len());
        for (j, t) in new.iter().enumerate() {
            keys.push((
                build::block_key(t)?,
                t.tx_hash.0,
                position_key(&t.position),
                j as u32,
            ));
        }
        keys.sort_unstable();

        // Nodes: the old ones (sorted) merged with the new ones (sorted, deduplicated). Each distinct endpoint
        // of the new transfers is looked up once; the rows then find their ids in a hash map.
        let mut node_ids: HashMap<(u8, [u8; ADDR_LEN]), u32> = HashMap::new();
        for t in new {
            let ci = chain_index(t.chain) as u8;
            for a in [t.from, t.to] {
                node_ids.entry((ci, a.0)).or_insert(u32::MAX);
            }
        }
        let mut fresh: Vec<(u8, [u8; ADDR_LEN])> = Vec::new();
        for (key, id) in node_ids.iter_mut() {
            match self.node(Chain::ALL[key.0 as usize], Address(key.1)) {
                Some(old) => *id = old,
                None => fresh.push(*key),
            }
        }
        fresh.sort_unstable();
        let n_nodes_old = self.node_count() as usize;
        if (n_nodes_old + fresh.len()) as u64 > MAX_ITEMS {
            return Err(GraphError::TooLarge {
                what: "addresses",
                limit: MAX_ITEMS,
            });
        }
        let b = self.b();
        let node_chain_start: Vec<u32> = (0..=CHAINS)
            .map(|c| rd_u32(b, self.l.chain_node_start, c))
            .collect();
        let mut ci = 0usize;
        let old_nodes = (0..n_nodes_old).map(|n| {
            while ci + 1 < CHAINS && node_chain_start[ci + 1] as usize <= n {
                ci += 1;
            }
            let mut a = [0u8; ADDR_LEN];
            a.copy_from_slice(self.addr_bytes(n as u32));
            (ci as u8, a)
        });
        let (nodes, node_map, fresh_ids) = merge_sorted(old_nodes, n_nodes_old, &fresh);
        for id in node_ids.values_mut() {
            if *id != u32::MAX {
                *id = node_map[*id as usize];
            }
        }
        for (key, id) in fresh.iter().zip(fresh_ids) {
            node_ids.insert(*key, id);
        }
        drop(fresh);

        // Assets, the same way.
        let mut asset_ids: HashMap<[u8; ASSET_LEN], u32> = HashMap::new();
        for t in new {
            asset_ids
                .entry(format::asset_record(chain_index(t.chain), t.asset))
                .or_insert(u32::MAX);
        }
        let n_assets_old = self.asset_count() as usize;
        let mut fresh_assets: Vec<[u8; ASSET_LEN]> = Vec::new();
        for (rec, id) in asset_ids.iter_mut() {
            match self.asset_id_of(rec) {
                Some(old) => *id = old,
                None => fresh_assets.push(*rec),
            }
        }
        fresh_assets.sort_unstable();
        let old_assets = (0..n_assets_old).map(|i| {
            let mut r = [0u8; ASSET_LEN];
            r.copy_from_slice(self.asset_bytes(i as u32));
            r
        });
        let (assets, asset_map, fresh_asset_ids) = merge_sorted(old_assets, n_assets_old, &fresh_assets);
        for id in asset_ids.values_mut() {
            if *id != u32::MAX {
                *id = asset_map[*id as usize];
            }
        }
        for (rec, id) in fresh_assets.iter().zip(fresh_asset_ids) {
            asset_ids.insert(*rec, id);
        }
        drop(fresh_assets);

        // New rows with final ids, in sorted order.
        let node_id = |ci: usize, a: &[u8; ADDR_LEN]| -> u32 {
            *node_ids
                .get(&(ci as u8, *a))
                .expect("every endpoint of a new transfer was interned above")
        };
        let mut big: Vec<(u32, U256)> = Vec::new();
        let mut wide = self.l.counts.wide;
        let mut rows: Vec<NewRow> = Vec::with_capacity(new.len());
        for (i, &(block_key, tx, _, j)) in keys.iter().enumerate() {
            let t = &new[j as usize];
            let ci = chain_index(t.chain);
            let rec = format::asset_record(ci, t.asset);
            let amount = narrow_amount(t.amount);
            if amount == AMOUNT_OVERFLOW {
                big.push((j, t.amount));
            }
            if amount >= u128::from(AMOUNT_WIDE) {
                wide += 1;
            }
            let tx_group = match rows.last() {
                Some(p) if p.block_key == block_key && p.tx == tx => p.tx_group,
                _ => i as u32,
            };
            rows.push(NewRow {
                block_key,
                tx,
                idx: j,
                src: node_id(ci, &t.from.0),
                dst: node_id(ci, &t.to.0),
                asset: *asset_ids
                    .get(&rec)
                    .expect("every asset of a new transfer was interned above"),
                amount,
                time: t.timestamp,
                tx_group,
            });
        }
        drop(keys);
        big.sort_unstable_by_key(|b| b.0);
        let overflow = self.l.counts.overflow + big.len() as u64;

        // Old transfers by seq: their edge and sender.
        let mut old_edge = vec![0u32; n_old];
        let mut old_src = vec![0u32; n_old];
        for n in 0..self.node_count() {
            for e in self.out_edges(n) {
                let s = self.edge_seq(e) as usize;
                old_edge[s] = e;
                old_src[s] = n;
            }
        }

        // The merge, filling the block and transaction tables on the way.
        let mut tables = Tables::default();
        let mut from: Vec<u32> = Vec::with_capacity(total as usize);
        let n_blocks = self.l.counts.blocks as usize;
        let block_chain_start: Vec<u32> = (0..=CHAINS)
            .map(|c| rd_u32(b, self.l.chain_block_start, c))
            .collect();
        let first_seq = |table: usize, len: usize, i: usize| -> usize {
            if i < len {
                rd_u32(b, table, i) as usize
            } else {
                usize::MAX
            }
        };
        let (mut s, mut r) = (0usize, 0usize);
        let (mut bi, mut ti, mut bci) = (0usize, 0usize, 0usize);
        while bci + 1 < CHAINS && block_chain_start[bci + 1] as usize <= bi {
            bci += 1;
        }
        let mut next_block = first_seq(self.l.block_first_seq, n_blocks, 1);
        // Previous emitted row: block key and transaction identity (old tx index, or !new tx group).
        let mut prev: Option<(u64, u64)> = None;
        let old_block_key =
            |bi: usize, bci: usize| -> u64 { ((bci as u64) << 58) | rd_u64(b, self.l.block_number, bi) };
        while s < n_old || r < rows.len() {
            let take_old = if s >= n_old {
                false
            } else if r >= rows.len() {
                true
            } else {
                // Advance the old cursors to seq s.
                let ko = old_block_key(bi, bci);
                let nr = &rows[r];
                match ko.cmp(&nr.block_key) {
                    std::cmp::Ordering::Less => true,
                    std::cmp::Ordering::Greater => false,
                    std::cmp::Ordering::Equal => {
                        let p = self.l.tx_hash + 32 * ti;
                        match b[p..p + 32].cmp(&nr.tx[..]) {
                            std::cmp::Ordering::Less => true,
                            std::cmp::Ordering::Greater => false,
                            // A new transfer of a transaction the graph holds. Every such transaction is
                            // met here: its old rows are the first old rows not below the new one.
                            std::cmp::Ordering::Equal => return Ok(None),
                        }
                    }
                }
            };
            let seq = from.len();
            if take_old {
                let key = old_block_key(bi, bci);
                let id = (key, ti as u64);
                let new_block = prev.is_none_or(|p| p.0 != key);
                let new_tx = new_block || prev.is_none_or(|p| p != id);
                tables.push(seq, key, new_block, new_tx, || rd_u64(b, self.l.block_time, bi));
                prev = Some(id);
                from.push(s as u32);
                s += 1;
                if s == next_block {
                    bi += 1;
                    next_block = first_seq(self.l.block_first_seq, n_blocks, bi + 1);
                    while bci + 1 < CHAINS && block_chain_start[bci + 1] as usize <= bi {
                        bci += 1;
                    }
                }
                if self.is_tx_start(s as u32) {
                    ti += 1;
                }
            } else {
                let nr = &rows[r];
                let id = (nr.block_key, !u64::from(nr.tx_group));
                let new_block = prev.is_none_or(|p| p.0 != nr.block_key);
                let new_tx = new_block || prev.is_none_or(|p| p != id);
                tables.push(seq, nr.block_key, new_block, new_tx, || nr.time);
                prev = Some(id);
                from.push((n_old + r) as u32);
                r += 1;
            }
        }
        let merged = Merged {
            g: self,
            from,
            n_old: n_old as u32,
            old_edge,
            old_src,
            node_map,
            asset_map,
            new: rows,
            big: &big,
        };
        build::layout(
            &merged,
            total as usize,
            &nodes,
            &assets,
            tables,
            overflow,
            wide,
            stamp,
        )
        .map(Some)
    }

    /// The id of an asset record, if the graph holds it.
    fn asset_id_of(&self, rec: &[u8; ASSET_LEN]) -> Option<u32> {
        let i = crate::partition_point(self.asset_count(), |i| self.asset_bytes(i) < &rec[..]);
        (i < self.asset_count() && self.asset_bytes(i) == &rec[..]).then_some(i)
    }
}

/// Merges sorted, distinct old keys (`n_old` of them) with sorted, distinct fresh keys (none equal to an old
/// one): the merged list, the map old index -> merged index and the merged index of each fresh key.
fn merge_sorted<K: Ord + Copy>(
    old: impl Iterator<Item = K>,
    n_old: usize,
    fresh: &[K],
) -> (Vec<K>, Vec<u32>, Vec<u32>) {
    let mut out = Vec::with_capacity(n_old + fresh.len());
    let mut map = Vec::with_capacity(n_old);
    let mut fresh_ids = Vec::with_capacity(fresh.len());
    let mut f = 0;
    for k in old {
        while f < fresh.len() && fresh[f] < k {
            fresh_ids.push(out.len() as u32);
            out.push(fresh[f]);
            f += 1;
        }
        map.push(out.len() as u32);
        out.push(k);
    }
    for k in &fresh[f..] {
        fresh_ids.push(out.len() as u32);
        out.push(*k);
    }
    (out, map, fresh_ids)
}

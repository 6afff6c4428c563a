//! Building a graph image from transfers: intern, sort once on packed keys, lay out with counting sorts.

use std::collections::HashMap;

use chaintrace_core::{Position, Transfer, U256};

use crate::format::{
    self, ADDR_LEN, AMOUNT_OVERFLOW, AMOUNT_WIDE, ASSET_LEN, CHAINS, Counts, Layout, OVERFLOW_LEN, wr_u32,
    wr_u64, wr_u128,
};
use crate::{Graph, GraphError, StoreStamp, chain_index};

/// Largest number of transfers (and addresses) a graph holds: ids are `u32`.
const MAX_ITEMS: u64 = u32::MAX as u64 - 1;

/// Sort key: (chain << 58 | block, first 8 bytes of tx hash, position key, staging index).
type SortKey = (u64, u64, u64, u32);

/// Collects transfers, then lays out a [`Graph`].
///
/// Memory while building is about 120 bytes per transfer (staging columns plus the sort keys); the finished
/// image is about 24 bytes per transfer (plus 16 per amount of 2^63 and more) plus per-node, per-block and
/// per-transaction tables.
#[derive(Default)]
pub struct GraphBuilder {
    nodes: HashMap<(u8, [u8; ADDR_LEN]), u32>,
    assets: HashMap<[u8; ASSET_LEN], u32>,
    src: Vec<u32>,
    dst: Vec<u32>,
    asset: Vec<u32>,
    amount: Vec<u128>,
    big: HashMap<u32, U256>,
    keys: Vec<SortKey>,
    tx: Vec<[u8; 32]>,
    time: Vec<u64>,
}

/// `chain << 58 | block`: a transfer's block in the order of the sort key (chain slot, then block number);
/// refuses blocks that do not fit.
pub(crate) fn block_key(t: &Transfer) -> Result<u64, GraphError> {
    if t.block >= 1 << 58 {
        return Err(GraphError::BadTransfer {
            chain: t.chain,
            tx_hash: t.tx_hash,
            block: t.block,
            reason: "block number above 2^58",
        });
    }
    Ok(((chain_index(t.chain) as u64) << 58) | t.block)
}

/// Orders positions inside one transaction: the transaction's own value first, then token events by log
/// index, then internal calls by trace address (pre-order = execution order). Trace addresses deeper than six
/// levels or with child indices above 1022 saturate (their relative order is then approximate).
pub(crate) fn position_key(p: &Position) -> u64 {
    match p {
        Position::Tx => 0,
        Position::Log(i) => (1 << 62) | u64::from(*i),
        Position::Trace(path) => {
            let mut k = 0u64;
            for level in 0..6 {
                let digit = path.get(level).map_or(0, |&i| u64::from(i.min(1022)) + 1);
                k = (k << 10) | digit;
            }
            (2 << 62) | k
        }
    }
}

impl GraphBuilder {
    /// An empty builder.
    pub fn new() -> GraphBuilder {
        GraphBuilder::default()
    }

    /// Number of transfers pushed so far.
    pub fn len(&self) -> usize {
        self.src.len()
    }

    /// Whether no transfer was pushed.
    pub fn is_empty(&self) -> bool {
        self.src.is_empty()
    }

    fn intern_node(&mut self, chain: u8, addr: [u8; ADDR_LEN]) -> Result<u32, GraphError> {
        let next = self.nodes.len() as u64;
        if next >= MAX_ITEMS && !self.nodes.contains_key(&(chain, addr)) {
            return Err(GraphError::TooLarge {
                what: "addresses",
                limit: MAX_ITEMS,
            });
        }
        Ok(*self.nodes.entry((chain, addr)).or_insert(next as u32))
    }

    /// Adds one transfer.
    pub fn push(&mut self, t: &Transfer) -> Result<(), GraphError> {
        if self.src.len() as u64 >= MAX_ITEMS {
            return Err(GraphError::TooLarge {
                what: "transfers",
                limit: MAX_ITEMS,
            });
        }
        let block_key = block_key(t)?;
        let ci = chain_index(t.chain);
        let s = self.intern_node(ci as u8, t.from.0)?;
        let d = self.intern_node(ci as u8, t.to.0)?;
        let rec = format::asset_record(ci, t.asset);
        let next_asset = self.assets.len() as u32;
        let a = *self.assets.entry(rec).or_insert(next_asset);
        let idx = self.src.len() as u32;
        self.src.push(s);
        self.dst.push(d);
        self.asset.push(a);
        if t.amount >= U256::from(AMOUNT_OVERFLOW) {
            self.amount.push(AMOUNT_OVERFLOW);
            self.big.insert(idx, t.amount);
        } else {
            self.amount.push(t.amount.to::<u128>());
        }
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&t.tx_hash.0[..8]);
        self.keys.push((
            block_key,
            u64::from_be_bytes(prefix),
            position_key(&t.position),
            idx,
        ));
        self.tx.push(t.tx_hash.0);
        self.time.push(t.timestamp);
        Ok(())
    }

    /// Lays out the graph.
    pub fn finish(self, stamp: StoreStamp) -> Result<Graph, GraphError> {
        let GraphBuilder {
            nodes,
            assets,
            src,
            dst,
            asset,
            amount,
            big,
            mut keys,
            tx,
            time,
        } = self;
        let n_edges = src.len();

        // Nodes sorted by (chain, address): lookups become binary searches.
        let mut node_list: Vec<((u8, [u8; ADDR_LEN]), u32)> = nodes.into_iter().collect();
        node_list.sort_unstable();
        let mut node_final = vec![0u32; node_list.len()];
        for (rank, (_, tmp)) in node_list.iter().enumerate() {
            node_final[*tmp as usize] = rank as u32;
        }
        let mut asset_list: Vec<([u8; ASSET_LEN], u32)> = assets.into_iter().collect();
        asset_list.sort_unstable();
        let mut asset_final = vec![0u32; asset_list.len()];
        for (rank, (_, tmp)) in asset_list.iter().enumerate() {
            asset_final[*tmp as usize] = rank as u32;
        }

        // The one comparison sort, on packed keys. Ties on the 8-byte hash prefix within a block are
        // resolved on the full hash.
        keys.sort_unstable();
        let mut i = 0;
        while i < keys.len() {
            let mut j = i + 1;
            while j < keys.len() && keys[j].0 == keys[i].0 && keys[j].1 == keys[i].1 {
                j += 1;
            }
            let run = &mut keys[i..j];
            if run.iter().any(|k| tx[k.3 as usize] != tx[run[0].3 as usize]) {
                run.sort_unstable_by(|a, b| (tx[a.3 as usize], a.2, a.3).cmp(&(tx[b.3 as usize], b.2, b.3)));
            }
            i = j;
        }

        // Block and transaction tables, per-chain seq ranges.
        let mut tables = Tables::default();
        for (seq, k) in keys.iter().enumerate() {
            let new_block = seq == 0 || keys[seq - 1].0 != k.0;
            let new_tx = new_block || tx[keys[seq - 1].3 as usize] != tx[k.3 as usize];
            tables.push(seq, k.0, new_block, new_tx, || time[k.3 as usize]);
        }
        let order: Vec<u32> = keys.iter().map(|k| k.3).collect();
        drop(keys);
        let node_keys: Vec<(u8, [u8; ADDR_LEN])> = node_list.into_iter().map(|(k, _)| k).collect();
        let asset_keys: Vec<[u8; ASSET_LEN]> = asset_list.into_iter().map(|(k, _)| k).collect();
        let wide = amount.iter().filter(|&&v| v >= u128::from(AMOUNT_WIDE)).count() as u64;
        let rows = Staged {
            order: &order,
            node_final: &node_final,
            asset_final: &asset_final,
            src: &src,
            dst: &dst,
            asset: &asset,
            amount: &amount,
            big: &big,
            tx: &tx,
        };
        let overflow = big.len() as u64;
        layout(
            &rows,
            n_edges,
            &node_keys,
            &asset_keys,
            tables,
            overflow,
            wide,
            stamp,
        )
    }
}

/// The block and transaction tables and the per-chain ranges, filled seq by seq in order.
#[derive(Default)]
pub(crate) struct Tables {
    block_first: Vec<u32>,
    block_num: Vec<u64>,
    block_time: Vec<u64>,
    /// Transaction-start bitmap (bit `seq` set at the first transfer of each transaction), grown on demand.
    tx_bits: Vec<u64>,
    txs: u64,
    chain_seq: [u32; CHAINS + 1],
    chain_block: [u32; CHAINS + 1],
}

impl Tables {
    /// Records the transfer of rank `seq` (called for every seq, ascending): `block_key` is
    /// `chain << 58 | block`; `time` is asked for only at the first transfer of a block.
    #[inline]
    pub(crate) fn push(
        &mut self,
        seq: usize,
        block_key: u64,
        new_block: bool,
        new_tx: bool,
        time: impl FnOnce() -> u64,
    ) {
        if new_block {
            self.block_first.push(seq as u32);
            self.block_num.push(block_key & ((1 << 58) - 1));
            self.block_time.push(time());
            self.chain_block[(block_key >> 58) as usize + 1] += 1;
        }
        if new_tx {
            let w = seq >> 6;
            if self.tx_bits.len() <= w {
                self.tx_bits.resize(w + 1, 0);
            }
            self.tx_bits[w] |= 1 << (seq & 63);
            self.txs += 1;
        }
        self.chain_seq[(block_key >> 58) as usize + 1] += 1;
    }
}

/// The transfers in seq order, as the layout reads them: final node and asset ids, amounts and hashes.
pub(crate) trait SeqRows {
    /// Sender's node id.
    fn src(&self, seq: usize) -> u32;
    /// Receiver's node id.
    fn dst(&self, seq: usize) -> u32;
    /// Asset id.
    fn asset(&self, seq: usize) -> u32;
    /// Amount, [`AMOUNT_OVERFLOW`] for 2^128 - 1 and more.
    fn amount(&self, seq: usize) -> u128;
    /// The full amount when [`SeqRows::amount`] is [`AMOUNT_OVERFLOW`].
    fn big(&self, seq: usize) -> U256;
    /// Transaction hash (asked for at the first transfer of each transaction).
    fn tx(&self, seq: usize) -> [u8; 32];
}

/// The builder's staging columns seen through the sort order.
struct Staged<'a> {
    order: &'a [u32],
    node_final: &'a [u32],
    asset_final: &'a [u32],
    src: &'a [u32],
    dst: &'a [u32],
    asset: &'a [u32],
    amount: &'a [u128],
    big: &'a HashMap<u32, U256>,
    tx: &'a [[u8; 32]],
}

impl SeqRows for Staged<'_> {
    #[inline]
    fn src(&self, seq: usize) -> u32 {
        self.node_final[self.src[self.order[seq] as usize] as usize]
    }
    #[inline]
    fn dst(&self, seq: usize) -> u32 {
        self.node_final[self.dst[self.order[seq] as usize] as usize]
    }
    #[inline]
    fn asset(&self, seq: usize) -> u32 {
        self.asset_final[self.asset[self.order[seq] as usize] as usize]
    }
    #[inline]
    fn amount(&self, seq: usize) -> u128 {
        self.amount[self.order[seq] as usize]
    }
    fn big(&self, seq: usize) -> U256 {
        let idx = self.order[seq];
        *self
            .big
            .get(&idx)
            .expect("every overflow amount of the staging columns has its full value")
    }
    fn tx(&self, seq: usize) -> [u8; 32] {
        self.tx[self.order[seq] as usize]
    }
}

/// Lays out the image of `n_edges` transfers given in seq order, over sorted node keys `(chain, address)`
/// and sorted asset records. `overflow` and `wide` count the amounts of 2^128 - 1 and more and of 2^63 and
/// more. The one layout code path of full builds and incremental updates: equal inputs give equal bytes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn layout<R: SeqRows>(
    rows: &R,
    n_edges: usize,
    node_list: &[(u8, [u8; ADDR_LEN])],
    asset_list: &[[u8; ASSET_LEN]],
    tables: Tables,
    overflow: u64,
    wide: u64,
    stamp: StoreStamp,
) -> Result<Graph, GraphError> {
    let Tables {
        block_first,
        block_num,
        block_time,
        mut tx_bits,
        txs,
        mut chain_seq,
        mut chain_block,
    } = tables;
    for c in 0..CHAINS {
        chain_seq[c + 1] += chain_seq[c];
        chain_block[c + 1] += chain_block[c];
    }
    let counts = Counts {
        nodes: node_list.len() as u64,
        edges: n_edges as u64,
        assets: asset_list.len() as u64,
        blocks: block_first.len() as u64,
        txs,
        overflow,
        wide,
    };
    let l = Layout::new(counts).ok_or(GraphError::TooLarge {
        what: "transfers",
        limit: MAX_ITEMS,
    })?;
    let mut img = vec![0u8; l.total];
    let b = &mut img[..];

    let mut chain_node = [0u32; CHAINS + 1];
    for (c, _) in node_list {
        chain_node[*c as usize + 1] += 1;
    }
    for c in 0..CHAINS {
        chain_node[c + 1] += chain_node[c];
    }
    for c in 0..=CHAINS {
        wr_u32(b, l.chain_node_start, c, chain_node[c]);
        wr_u32(b, l.chain_seq_start, c, chain_seq[c]);
        wr_u32(b, l.chain_block_start, c, chain_block[c]);
    }
    format::write_stamp(b, &l, &stamp);
    for (rank, (_, addr)) in node_list.iter().enumerate() {
        b[l.node_addr + rank * ADDR_LEN..l.node_addr + (rank + 1) * ADDR_LEN].copy_from_slice(addr);
    }
    for (rank, rec) in asset_list.iter().enumerate() {
        b[l.assets + rank * ASSET_LEN..l.assets + (rank + 1) * ASSET_LEN].copy_from_slice(rec);
    }

    // Out-edges: counting sort by source; visiting seqs in ascending order keeps each list sorted.
    let n_nodes = node_list.len();
    let mut cursor = vec![0u32; n_nodes + 1];
    let mut srcs = vec![0u32; n_edges];
    for (seq, s) in srcs.iter_mut().enumerate() {
        *s = rows.src(seq);
        cursor[*s as usize + 1] += 1;
    }
    for v in 0..n_nodes {
        cursor[v + 1] += cursor[v];
    }
    for (v, off) in cursor.iter().enumerate() {
        wr_u32(b, l.out_offsets, v, *off);
    }
    let mut edge_of_seq = vec![0u32; n_edges];
    let mut overflow: Vec<(u32, U256)> = Vec::with_capacity(overflow as usize);
    let mut wide: Vec<(u32, u128)> = Vec::with_capacity(l.counts.wide as usize);
    let mut dsts = vec![0u32; n_edges];
    for (seq, eos) in edge_of_seq.iter_mut().enumerate() {
        let s = srcs[seq] as usize;
        let e = cursor[s];
        cursor[s] += 1;
        let eu = e as usize;
        let d = rows.dst(seq);
        dsts[seq] = d;
        wr_u32(b, l.edge_dst, eu, d);
        wr_u32(b, l.edge_seq, eu, seq as u32);
        wr_u32(b, l.edge_asset, eu, rows.asset(seq));
        let amount = rows.amount(seq);
        if amount < u128::from(AMOUNT_WIDE) {
            wr_u64(b, l.edge_amount, eu, amount as u64);
        } else {
            wide.push((e, amount));
            if amount == AMOUNT_OVERFLOW {
                overflow.push((e, rows.big(seq)));
            }
        }
        *eos = e;
    }
    drop(srcs);
    if wide.len() as u64 != l.counts.wide || overflow.len() as u64 != l.counts.overflow {
        return Err(GraphError::CorruptSnapshot {
            path: "memory".to_string(),
            detail: format!(
                "builder counted {} wide and {} overflow amounts, found {} and {}",
                l.counts.wide,
                l.counts.overflow,
                wide.len(),
                overflow.len()
            ),
        });
    }
    // Wide amounts in edge order: a node's out-edges (contiguous) find theirs side by side.
    wide.sort_unstable_by_key(|w| w.0);
    for (k, (e, v)) in wide.iter().enumerate() {
        wr_u64(b, l.edge_amount, *e as usize, AMOUNT_WIDE | k as u64);
        wr_u128(b, l.wide, k, *v);
    }
    drop(wide);
    overflow.sort_unstable_by_key(|o| o.0);
    for (k, (e, v)) in overflow.iter().enumerate() {
        let p = l.overflow + k * OVERFLOW_LEN;
        wr_u32(b, p, 0, *e);
        b[p + 4..p + OVERFLOW_LEN].copy_from_slice(&v.to_be_bytes::<32>());
    }

    // In-permutation: counting sort by receiver, seqs ascending.
    cursor.iter_mut().for_each(|c| *c = 0);
    for &d in &dsts {
        cursor[d as usize + 1] += 1;
    }
    for v in 0..n_nodes {
        cursor[v + 1] += cursor[v];
    }
    for (v, off) in cursor.iter().enumerate() {
        wr_u32(b, l.in_offsets, v, *off);
    }
    for (seq, &d) in dsts.iter().enumerate() {
        let d = d as usize;
        wr_u32(b, l.in_perm, cursor[d] as usize, edge_of_seq[seq]);
        cursor[d] += 1;
    }
    drop(dsts);

    for (k, ((f, n), t)) in block_first.iter().zip(&block_num).zip(&block_time).enumerate() {
        wr_u32(b, l.block_first_seq, k, *f);
        wr_u64(b, l.block_number, k, *n);
        wr_u64(b, l.block_time, k, *t);
    }
    for (k, h) in format::hint_values(
        block_first.len(),
        |i| block_first[i],
        counts.edges,
        format::BLOCK_HINT_SHIFT,
    )
    .into_iter()
    .enumerate()
    {
        wr_u32(b, l.block_hint, k, h);
    }
    // Transaction starts: the bitmap, its rank and select tables, and the hash of each transaction.
    tx_bits.resize(format::tx_bit_words(counts.edges) as usize, 0);
    let (rank, select) = format::tx_rank_select(tx_bits.len(), |w| tx_bits[w], txs);
    for (w, x) in tx_bits.iter().enumerate() {
        wr_u64(b, l.tx_bits, w, *x);
    }
    for (d, r) in rank.iter().enumerate() {
        wr_u64(b, l.tx_rank, d, *r);
    }
    for (k, v) in select.iter().enumerate() {
        wr_u32(b, l.tx_select, k, *v);
    }
    let mut k = 0usize;
    for (w, &x) in tx_bits.iter().enumerate() {
        let mut x = x;
        while x != 0 {
            let seq = w * 64 + x.trailing_zeros() as usize;
            x &= x - 1;
            b[l.tx_hash + 32 * k..l.tx_hash + 32 * (k + 1)].copy_from_slice(&rows.tx(seq));
            k += 1;
        }
    }
    format::write_header(b, &l);
    Graph::from_image(img)
}

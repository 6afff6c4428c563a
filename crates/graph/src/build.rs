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
        if t.block >= 1 << 58 {
            return Err(GraphError::BadTransfer {
                chain: t.chain,
                tx_hash: t.tx_hash,
                block: t.block,
                reason: "block number above 2^58",
            });
        }
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
            ((ci as u64) << 58) | t.block,
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
        let mut block_first = Vec::new();
        let mut block_num = Vec::new();
        let mut block_time = Vec::new();
        let mut tx_first = Vec::new();
        let mut chain_seq = [0u32; CHAINS + 1];
        let mut chain_block = [0u32; CHAINS + 1];
        for (seq, k) in keys.iter().enumerate() {
            let new_block = seq == 0 || keys[seq - 1].0 != k.0;
            let new_tx = new_block || tx[keys[seq - 1].3 as usize] != tx[k.3 as usize];
            if new_block {
                block_first.push(seq as u32);
                block_num.push(k.0 & ((1 << 58) - 1));
                block_time.push(time[k.3 as usize]);
                chain_block[(k.0 >> 58) as usize + 1] += 1;
            }
            if new_tx {
                tx_first.push(seq as u32);
            }
            chain_seq[(k.0 >> 58) as usize + 1] += 1;
        }
        for c in 0..CHAINS {
            chain_seq[c + 1] += chain_seq[c];
            chain_block[c + 1] += chain_block[c];
        }
        let order: Vec<u32> = keys.iter().map(|k| k.3).collect();
        drop(keys);

        let counts = Counts {
            nodes: node_list.len() as u64,
            edges: n_edges as u64,
            assets: asset_list.len() as u64,
            blocks: block_first.len() as u64,
            txs: tx_first.len() as u64,
            overflow: big.len() as u64,
            wide: amount.iter().filter(|&&v| v >= u128::from(AMOUNT_WIDE)).count() as u64,
        };
        let l = Layout::new(counts).ok_or(GraphError::TooLarge {
            what: "transfers",
            limit: MAX_ITEMS,
        })?;
        let mut img = vec![0u8; l.total];
        let b = &mut img[..];

        let mut chain_node = [0u32; CHAINS + 1];
        for ((c, _), _) in &node_list {
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
        for (c, s) in stamp.chains.iter().enumerate() {
            wr_u64(b, l.stamp, 3 * c, s.transfers);
            wr_u64(b, l.stamp, 3 * c + 1, s.max_block);
        }
        for (rank, ((_, addr), _)) in node_list.iter().enumerate() {
            b[l.node_addr + rank * ADDR_LEN..l.node_addr + (rank + 1) * ADDR_LEN].copy_from_slice(addr);
        }
        drop(node_list);
        for (rank, (rec, _)) in asset_list.iter().enumerate() {
            b[l.assets + rank * ASSET_LEN..l.assets + (rank + 1) * ASSET_LEN].copy_from_slice(rec);
        }

        // Out-edges: counting sort by source; visiting seqs in ascending order keeps each list sorted.
        let n_nodes = node_final.len();
        let mut cursor = vec![0u32; n_nodes + 1];
        for &s in &src {
            cursor[node_final[s as usize] as usize + 1] += 1;
        }
        for v in 0..n_nodes {
            cursor[v + 1] += cursor[v];
        }
        for (v, off) in cursor.iter().enumerate() {
            wr_u32(b, l.out_offsets, v, *off);
        }
        let mut edge_of_seq = vec![0u32; n_edges];
        let mut overflow: Vec<(u32, U256)> = Vec::with_capacity(big.len());
        let mut wide: Vec<(u32, u128)> = Vec::with_capacity(l.counts.wide as usize);
        for (seq, &idx) in order.iter().enumerate() {
            let i = idx as usize;
            let s = node_final[src[i] as usize] as usize;
            let e = cursor[s];
            cursor[s] += 1;
            let eu = e as usize;
            wr_u32(b, l.edge_dst, eu, node_final[dst[i] as usize]);
            wr_u32(b, l.edge_seq, eu, seq as u32);
            wr_u32(b, l.edge_asset, eu, asset_final[asset[i] as usize]);
            if amount[i] < u128::from(AMOUNT_WIDE) {
                wr_u64(b, l.edge_amount, eu, amount[i] as u64);
            } else {
                wide.push((e, amount[i]));
            }
            if let Some(v) = big.get(&idx) {
                overflow.push((e, *v));
            }
            edge_of_seq[seq] = e;
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
        for &d in &dst {
            cursor[node_final[d as usize] as usize + 1] += 1;
        }
        for v in 0..n_nodes {
            cursor[v + 1] += cursor[v];
        }
        for (v, off) in cursor.iter().enumerate() {
            wr_u32(b, l.in_offsets, v, *off);
        }
        for (seq, &idx) in order.iter().enumerate() {
            let d = node_final[dst[idx as usize] as usize] as usize;
            wr_u32(b, l.in_perm, cursor[d] as usize, edge_of_seq[seq]);
            cursor[d] += 1;
        }

        for (k, ((f, n), t)) in block_first.iter().zip(&block_num).zip(&block_time).enumerate() {
            wr_u32(b, l.block_first_seq, k, *f);
            wr_u64(b, l.block_number, k, *n);
            wr_u64(b, l.block_time, k, *t);
        }
        let hints = [
            (l.block_hint, &block_first, format::BLOCK_HINT_SHIFT),
            (l.tx_hint, &tx_first, format::TX_HINT_SHIFT),
        ];
        for (off, first, shift) in hints {
            for (k, h) in format::hint_values(first.len(), |i| first[i], counts.edges, shift)
                .into_iter()
                .enumerate()
            {
                wr_u32(b, off, k, h);
            }
        }
        for (k, f) in tx_first.iter().enumerate() {
            wr_u32(b, l.tx_first_seq, k, *f);
            let h = &tx[order[*f as usize] as usize];
            b[l.tx_hash + 32 * k..l.tx_hash + 32 * (k + 1)].copy_from_slice(h);
        }
        format::write_header(b, &l);
        Graph::from_image(img)
    }
}

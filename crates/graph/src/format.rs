//! Byte layout of a graph image. The same layout is used in memory (after a build) and on disk (the snapshot),
//! so there is one reading code path, exercised by every test.
//!
//! All integers are little-endian. The image is a fixed header followed by sections whose sizes follow from
//! the counts in the header; each section starts 8-byte aligned. Reads go through `from_le_bytes` on
//! bounds-checked slices, never through pointer casts.

use crate::GraphError;

/// Magic at offset 0.
pub(crate) const MAGIC: [u8; 8] = *b"CTGRAPH\0";
/// Layout version; bump on any change.
pub(crate) const VERSION: u32 = 1;
/// Header size in bytes.
pub(crate) const HEADER_LEN: usize = 128;
/// Number of chain slots (`Chain::ALL.len()`).
pub(crate) const CHAINS: usize = 6;
/// Bytes per node address.
pub(crate) const ADDR_LEN: usize = 20;
/// Bytes per asset record: chain u8, kind u8, 2 pad, address 20.
pub(crate) const ASSET_LEN: usize = 24;
/// Bytes per overflow record: edge u32, amount 32 bytes big-endian.
pub(crate) const OVERFLOW_LEN: usize = 36;
/// Amount slot value meaning "look the amount up in the overflow table".
pub(crate) const AMOUNT_OVERFLOW: u128 = u128::MAX;

/// Counts that determine the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counts {
    pub(crate) nodes: u64,
    pub(crate) edges: u64,
    pub(crate) assets: u64,
    pub(crate) blocks: u64,
    pub(crate) txs: u64,
    pub(crate) overflow: u64,
}

/// Byte offsets of every section.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Layout {
    pub(crate) counts: Counts,
    pub(crate) chain_node_start: usize,
    pub(crate) chain_seq_start: usize,
    pub(crate) chain_block_start: usize,
    pub(crate) stamp: usize,
    pub(crate) node_addr: usize,
    pub(crate) out_offsets: usize,
    pub(crate) in_offsets: usize,
    pub(crate) edge_dst: usize,
    pub(crate) edge_seq: usize,
    pub(crate) edge_asset: usize,
    pub(crate) edge_amount: usize,
    pub(crate) in_perm: usize,
    pub(crate) overflow: usize,
    pub(crate) assets: usize,
    pub(crate) block_first_seq: usize,
    pub(crate) block_number: usize,
    pub(crate) block_time: usize,
    pub(crate) tx_first_seq: usize,
    pub(crate) tx_hash: usize,
    pub(crate) total: usize,
}

/// Named sizes of the sections, for the bytes-per-transfer report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionSizes {
    /// Per-edge arrays touched by traces: dst, seq, asset, amount, in-permutation.
    pub edges: u64,
    /// Per-node arrays: addresses and the two CSR offset arrays.
    pub nodes: u64,
    /// Block table (first seq, number, time) and the per-transaction first-seq array.
    pub blocks_and_txs: u64,
    /// Transaction hashes: touched only when paths are printed.
    pub tx_hashes: u64,
    /// Everything else: header, per-chain tables, assets, amounts of 2^128 and more.
    pub other: u64,
    /// Whole image.
    pub total: u64,
}

/// The byte record of an asset; records sort in asset-id order.
pub(crate) fn asset_record(chain_index: usize, asset: chaintrace_core::Asset) -> [u8; ASSET_LEN] {
    let mut r = [0u8; ASSET_LEN];
    r[0] = chain_index as u8;
    if let chaintrace_core::Asset::Token(a) = asset {
        r[1] = 1;
        r[4..24].copy_from_slice(&a.0);
    }
    r
}

fn align8(x: usize) -> usize {
    (x + 7) & !7
}

impl Layout {
    /// Computes the layout; `None` when the sizes overflow `usize` (a corrupt header).
    pub(crate) fn new(c: Counts) -> Option<Layout> {
        let n = usize::try_from(c.nodes).ok()?;
        let e = usize::try_from(c.edges).ok()?;
        let a = usize::try_from(c.assets).ok()?;
        let b = usize::try_from(c.blocks).ok()?;
        let t = usize::try_from(c.txs).ok()?;
        let o = usize::try_from(c.overflow).ok()?;
        let mut at = HEADER_LEN;
        let mut take = |len: Option<usize>| -> Option<usize> {
            let start = at;
            at = align8(at.checked_add(len?)?);
            Some(start)
        };
        let mul = |x: usize, y: usize| x.checked_mul(y);
        let n1 = n.checked_add(1)?;
        let chain_node_start = take(Some((CHAINS + 1) * 4))?;
        let chain_seq_start = take(Some((CHAINS + 1) * 4))?;
        let chain_block_start = take(Some((CHAINS + 1) * 4))?;
        let stamp = take(Some(CHAINS * 24))?;
        let node_addr = take(mul(n, ADDR_LEN))?;
        let out_offsets = take(mul(n1, 4))?;
        let in_offsets = take(mul(n1, 4))?;
        let edge_dst = take(mul(e, 4))?;
        let edge_seq = take(mul(e, 4))?;
        let edge_asset = take(mul(e, 4))?;
        let edge_amount = take(mul(e, 16))?;
        let in_perm = take(mul(e, 4))?;
        let overflow = take(mul(o, OVERFLOW_LEN))?;
        let assets = take(mul(a, ASSET_LEN))?;
        let block_first_seq = take(mul(b, 4))?;
        let block_number = take(mul(b, 8))?;
        let block_time = take(mul(b, 8))?;
        let tx_first_seq = take(mul(t, 4))?;
        let tx_hash = take(mul(t, 32))?;
        let total = at;
        Some(Layout {
            counts: c,
            chain_node_start,
            chain_seq_start,
            chain_block_start,
            stamp,
            node_addr,
            out_offsets,
            in_offsets,
            edge_dst,
            edge_seq,
            edge_asset,
            edge_amount,
            in_perm,
            overflow,
            assets,
            block_first_seq,
            block_number,
            block_time,
            tx_first_seq,
            tx_hash,
            total,
        })
    }

    pub(crate) fn sizes(&self) -> SectionSizes {
        let s = |from: usize, to: usize| (to - from) as u64;
        let edges = s(self.edge_dst, self.overflow);
        let nodes = s(self.node_addr, self.edge_dst);
        let blocks_and_txs = s(self.block_first_seq, self.tx_hash);
        let tx_hashes = s(self.tx_hash, self.total);
        let total = self.total as u64;
        SectionSizes {
            edges,
            nodes,
            blocks_and_txs,
            tx_hashes,
            other: total - edges - nodes - blocks_and_txs - tx_hashes,
            total,
        }
    }
}

// ---- little-endian reads and writes on byte slices ----

#[inline]
pub(crate) fn rd_u32(b: &[u8], off: usize, i: usize) -> u32 {
    let p = off + 4 * i;
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[p..p + 4]);
    u32::from_le_bytes(a)
}

#[inline]
pub(crate) fn rd_u64(b: &[u8], off: usize, i: usize) -> u64 {
    let p = off + 8 * i;
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[p..p + 8]);
    u64::from_le_bytes(a)
}

#[inline]
pub(crate) fn rd_u128(b: &[u8], off: usize, i: usize) -> u128 {
    let p = off + 16 * i;
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[p..p + 16]);
    u128::from_le_bytes(a)
}

#[inline]
pub(crate) fn wr_u32(b: &mut [u8], off: usize, i: usize, v: u32) {
    let p = off + 4 * i;
    b[p..p + 4].copy_from_slice(&v.to_le_bytes());
}

#[inline]
pub(crate) fn wr_u64(b: &mut [u8], off: usize, i: usize, v: u64) {
    let p = off + 8 * i;
    b[p..p + 8].copy_from_slice(&v.to_le_bytes());
}

#[inline]
pub(crate) fn wr_u128(b: &mut [u8], off: usize, i: usize, v: u128) {
    let p = off + 16 * i;
    b[p..p + 16].copy_from_slice(&v.to_le_bytes());
}

// ---- header ----

/// Header fields: magic(8) version(4) reserved(4) counts(6 x 8) checksum(8) total_len(8).
const OFF_VERSION: usize = 8;
const OFF_COUNTS: usize = 16;
const OFF_CHECKSUM: usize = 64;
const OFF_TOTAL: usize = 72;

pub(crate) fn write_header(b: &mut [u8], l: &Layout) {
    b[..8].copy_from_slice(&MAGIC);
    wr_u32(b, OFF_VERSION, 0, VERSION);
    let c = l.counts;
    for (i, v) in [c.nodes, c.edges, c.assets, c.blocks, c.txs, c.overflow]
        .into_iter()
        .enumerate()
    {
        wr_u64(b, OFF_COUNTS, i, v);
    }
    wr_u64(b, OFF_TOTAL, 0, l.total as u64);
    let sum = checksum(&b[HEADER_LEN..]) ^ checksum(&b[..OFF_CHECKSUM]);
    wr_u64(b, OFF_CHECKSUM, 0, sum);
}

/// Reads and checks the header; returns the layout. `what` names the source for errors.
pub(crate) fn read_header(b: &[u8], what: &str, verify_checksum: bool) -> Result<Layout, GraphError> {
    let corrupt = |detail: String| GraphError::CorruptSnapshot {
        path: what.to_string(),
        detail,
    };
    if b.len() < HEADER_LEN {
        return Err(corrupt(format!(
            "{} bytes, shorter than the {HEADER_LEN}-byte header",
            b.len()
        )));
    }
    if b[..8] != MAGIC {
        return Err(corrupt("bad magic (not a chaintrace graph snapshot)".into()));
    }
    let version = rd_u32(b, OFF_VERSION, 0);
    if version != VERSION {
        return Err(GraphError::SnapshotVersion {
            path: what.to_string(),
            found: version,
            expected: VERSION,
        });
    }
    let r = |i| rd_u64(b, OFF_COUNTS, i);
    let counts = Counts {
        nodes: r(0),
        edges: r(1),
        assets: r(2),
        blocks: r(3),
        txs: r(4),
        overflow: r(5),
    };
    if counts.edges > u64::from(u32::MAX) || counts.nodes > u64::from(u32::MAX - 1) {
        return Err(corrupt(format!("counts out of range: {counts:?}")));
    }
    let layout = Layout::new(counts).ok_or_else(|| corrupt(format!("counts overflow: {counts:?}")))?;
    let total = rd_u64(b, OFF_TOTAL, 0);
    if total != layout.total as u64 || b.len() != layout.total {
        return Err(corrupt(format!(
            "length mismatch: file has {} bytes, header says {total}, counts imply {}",
            b.len(),
            layout.total
        )));
    }
    if verify_checksum {
        let want = rd_u64(b, OFF_CHECKSUM, 0);
        let got = checksum(&b[HEADER_LEN..]) ^ checksum(&b[..OFF_CHECKSUM]);
        if want != got {
            return Err(corrupt(format!(
                "checksum mismatch (stored {want:#018x}, computed {got:#018x})"
            )));
        }
    }
    Ok(layout)
}

/// A fast 64-bit checksum (four independent multiply-rotate lanes). Detects corruption, not tampering.
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    const K: [u64; 4] = [
        0x9E37_79B9_7F4A_7C15,
        0xC2B2_AE3D_27D4_EB4F,
        0x1656_67B1_9E37_79F9,
        0xD6E8_FEB8_6659_FD93,
    ];
    let mut h: [u64; 4] = [K[1], K[2], K[3], K[0]];
    let mut chunks = bytes.chunks_exact(32);
    for c in &mut chunks {
        for (lane, hv) in h.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&c[8 * lane..8 * lane + 8]);
            *hv = (*hv ^ u64::from_le_bytes(w))
                .wrapping_mul(K[lane])
                .rotate_left(29);
        }
    }
    let rem = chunks.remainder();
    let mut tail = [0u8; 32];
    tail[..rem.len()].copy_from_slice(rem);
    for (lane, hv) in h.iter_mut().enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&tail[8 * lane..8 * lane + 8]);
        *hv = (*hv ^ u64::from_le_bytes(w))
            .wrapping_mul(K[lane])
            .rotate_left(29);
    }
    let mut out = bytes.len() as u64;
    for (lane, hv) in h.iter().enumerate() {
        out = (out ^ hv.rotate_left(lane as u32 * 16)).wrapping_mul(K[0]);
    }
    out ^ (out >> 31)
}

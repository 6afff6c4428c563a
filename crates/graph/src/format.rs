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
pub(crate) const VERSION: u32 = 5;
/// Bytes of the store stamp: per chain slot transfers, max block and a reserved word (3 x u64), then the
/// transfer high-water mark and its row digest (2 x u64, since version 4).
pub(crate) const STAMP_LEN: usize = CHAINS * 24 + 16;
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
/// Wide-table value meaning "look the amount up in the overflow table".
pub(crate) const AMOUNT_OVERFLOW: u128 = u128::MAX;
/// Seqs per entry of the block hint table (as a shift): entry k is the block holding seq `k << shift`.
pub(crate) const BLOCK_HINT_SHIFT: u32 = 10;
/// Bitmap words per entry of the transaction rank directory (256 seqs per entry).
pub(crate) const TX_RANK_WORDS: usize = 4;
/// Transactions per entry of the transaction select table (as a shift): entry k is the rank-directory entry
/// holding the start of transaction `k << shift`.
pub(crate) const TX_SELECT_SHIFT: u32 = 8;

/// Entries of a hint table over `edges` seqs: one per `1 << shift` seqs plus one (0 without edges).
pub(crate) fn hint_len(edges: u64, shift: u32) -> u64 {
    if edges == 0 { 0 } else { ((edges - 1) >> shift) + 2 }
}

/// The hint table of a first-seq table (`first(i)` for `i < len`, ascending from 0): entry k is the index
/// of the last entry whose first seq is <= `min(k << shift, edges - 1)`.
pub(crate) fn hint_values(len: usize, first: impl Fn(usize) -> u32, edges: u64, shift: u32) -> Vec<u32> {
    let nh = hint_len(edges, shift) as usize;
    let mut out = Vec::with_capacity(nh);
    let mut j = 0usize;
    for k in 0..nh {
        let s = ((k as u64) << shift).min(edges - 1);
        while j + 1 < len && u64::from(first(j + 1)) <= s {
            j += 1;
        }
        out.push(j as u32);
    }
    out
}

/// Words of the transaction-start bitmap over `edges` seqs.
pub(crate) fn tx_bit_words(edges: u64) -> u64 {
    edges.div_ceil(64)
}

/// Entries of the transaction rank directory over `edges` seqs.
pub(crate) fn tx_rank_len(edges: u64) -> u64 {
    tx_bit_words(edges).div_ceil(TX_RANK_WORDS as u64)
}

/// The rank directory and the select table of a transaction-start bitmap (`word(w)` for `w < words`; `txs`
/// set bits in all). Rank entry d covers words `4d..4d + 4`: its low 32 bits count the set bits before the
/// entry's first word, byte 3 + j (j = 1, 2, 3) the set bits of its words before word j (at most 192, so a
/// byte holds it; for a word past the end of the bitmap, the entry's total); the top byte is 0. Select entry k is the rank entry holding set bit number
/// `min(k << TX_SELECT_SHIFT, txs - 1)` (counting from 0), or the last rank entry when there are fewer set
/// bits (a damaged bitmap: then the directory check fails anyway).
pub(crate) fn tx_rank_select(words: usize, word: impl Fn(usize) -> u64, txs: u64) -> (Vec<u64>, Vec<u32>) {
    let nd = words.div_ceil(TX_RANK_WORDS);
    let ns = hint_len(txs, TX_SELECT_SHIFT) as usize;
    let mut rank = Vec::with_capacity(nd);
    let mut select = Vec::with_capacity(ns);
    let mut ones = 0u64;
    for d in 0..nd {
        let mut entry = ones & 0xffff_ffff;
        let mut rel = 0u64;
        for j in 0..TX_RANK_WORDS {
            let w = d * TX_RANK_WORDS + j;
            if j > 0 {
                // Past the last word: the entry's total, so no select lands in a missing word.
                entry |= rel << (24 + 8 * j);
            }
            if w >= words {
                continue;
            }
            let c = u64::from(word(w).count_ones());
            // Select entries whose bit lies in this word.
            while select.len() < ns {
                let want = ((select.len() as u64) << TX_SELECT_SHIFT).min(txs - 1);
                if want >= ones + c {
                    break;
                }
                select.push(d as u32);
            }
            rel += c;
            ones += c;
        }
        rank.push(entry);
    }
    select.resize(ns, nd.saturating_sub(1) as u32);
    (rank, select)
}

/// `SELECT_IN_BYTE[b][r]`: position of set bit number `r` of byte `b` (8 when there is none).
const SELECT_IN_BYTE: [[u8; 8]; 256] = {
    let mut t = [[8u8; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let (mut r, mut i) = (0, 0);
        while i < 8 {
            if (b >> i) & 1 == 1 {
                t[b][r] = i as u8;
                r += 1;
            }
            i += 1;
        }
        b += 1;
    }
    t
};

/// Position (0..64) of set bit number `r` (from 0) of `x`; 64 when `x` has `r` or fewer set bits.
/// Branch-free apart from that check: byte-wise popcounts, their prefix sums by one multiplication, a
/// byte-parallel compare for the byte, and a table for the bit inside it.
#[inline]
pub(crate) fn select_in_word(x: u64, r: u32) -> u32 {
    const L: u64 = 0x0101_0101_0101_0101;
    const H: u64 = 0x8080_8080_8080_8080;
    let mut b = x - ((x >> 1) & 0x5555_5555_5555_5555);
    b = (b & 0x3333_3333_3333_3333) + ((b >> 2) & 0x3333_3333_3333_3333);
    b = (b + (b >> 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    let cum = b.wrapping_mul(L); // byte i: set bits in bytes 0..=i
    if u64::from(r) >= cum >> 56 {
        return 64;
    }
    // Byte i of `le` has its top bit set iff cum_i <= r (r < 64 and cum_i <= 64: no borrow between bytes).
    let le = (((u64::from(r) * L) | H) - cum) & H;
    let byte = (((le >> 7).wrapping_mul(L)) >> 56) as u32; // bytes wholly before the bit
    let before = (((cum << 8) >> (8 * byte)) & 0xff) as u32;
    let in_byte = ((x >> (8 * byte)) & 0xff) as usize;
    8 * byte + u32::from(SELECT_IN_BYTE[in_byte][(r - before) as usize])
}

/// Top bit of an amount slot: the low 63 bits are an index into the wide table (amounts of 2^63 and more).
pub(crate) const AMOUNT_WIDE: u64 = 1 << 63;

/// Counts that determine the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counts {
    pub(crate) nodes: u64,
    pub(crate) edges: u64,
    pub(crate) assets: u64,
    pub(crate) blocks: u64,
    pub(crate) txs: u64,
    pub(crate) overflow: u64,
    /// Amounts of 2^63 and more (entries of the wide table).
    pub(crate) wide: u64,
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
    pub(crate) wide: usize,
    pub(crate) overflow: usize,
    pub(crate) assets: usize,
    pub(crate) block_first_seq: usize,
    pub(crate) block_number: usize,
    pub(crate) block_time: usize,
    pub(crate) block_hint: usize,
    /// Transaction-start bitmap: bit `s` (word `s / 64`, bit `s % 64`) is set iff seq `s` is the first
    /// transfer of its transaction.
    pub(crate) tx_bits: usize,
    /// Rank directory of the bitmap (u64 per [`TX_RANK_WORDS`] words, see [`tx_rank_select`]).
    pub(crate) tx_rank: usize,
    /// Select table (u32 per `1 << TX_SELECT_SHIFT` transactions, see [`tx_rank_select`]).
    pub(crate) tx_select: usize,
    pub(crate) tx_hash: usize,
    pub(crate) total: usize,
}

/// Named sizes of the sections, for the bytes-per-transfer report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionSizes {
    /// Per-edge arrays touched by traces: dst, seq, asset, amount, in-permutation (24 bytes per edge), plus
    /// the wide-amount table (16 bytes per amount of 2^63 and more).
    pub edges: u64,
    /// Per-node arrays: addresses and the two CSR offset arrays.
    pub nodes: u64,
    /// Block table (first seq, number, time, hints) and the transaction-start bitmap with its rank and select
    /// tables.
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
        let w = usize::try_from(c.wide).ok()?;
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
        let stamp = take(Some(STAMP_LEN))?;
        let node_addr = take(mul(n, ADDR_LEN))?;
        let out_offsets = take(mul(n1, 4))?;
        let in_offsets = take(mul(n1, 4))?;
        let edge_dst = take(mul(e, 4))?;
        let edge_seq = take(mul(e, 4))?;
        let edge_asset = take(mul(e, 4))?;
        let edge_amount = take(mul(e, 8))?;
        let in_perm = take(mul(e, 4))?;
        let wide = take(mul(w, 16))?;
        let overflow = take(mul(o, OVERFLOW_LEN))?;
        let assets = take(mul(a, ASSET_LEN))?;
        let block_first_seq = take(mul(b, 4))?;
        let block_number = take(mul(b, 8))?;
        let block_time = take(mul(b, 8))?;
        let block_hint = take(mul(usize::try_from(hint_len(c.edges, BLOCK_HINT_SHIFT)).ok()?, 4))?;
        let tx_bits = take(mul(usize::try_from(tx_bit_words(c.edges)).ok()?, 8))?;
        let tx_rank = take(mul(usize::try_from(tx_rank_len(c.edges)).ok()?, 8))?;
        let tx_select = take(mul(usize::try_from(hint_len(c.txs, TX_SELECT_SHIFT)).ok()?, 4))?;
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
            wide,
            overflow,
            assets,
            block_first_seq,
            block_number,
            block_time,
            block_hint,
            tx_bits,
            tx_rank,
            tx_select,
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

// ---- store stamp ----

/// Writes the store stamp into its section.
pub(crate) fn write_stamp(b: &mut [u8], l: &Layout, stamp: &crate::StoreStamp) {
    for (c, s) in stamp.chains.iter().enumerate() {
        wr_u64(b, l.stamp, 3 * c, s.transfers);
        wr_u64(b, l.stamp, 3 * c + 1, s.max_block);
    }
    wr_u64(b, l.stamp, 3 * CHAINS, stamp.high_water);
    wr_u64(b, l.stamp, 3 * CHAINS + 1, stamp.high_water_digest);
}

/// Reads the store stamp from its section.
pub(crate) fn read_stamp(b: &[u8], l: &Layout) -> crate::StoreStamp {
    let mut s = crate::StoreStamp::default();
    for (i, c) in s.chains.iter_mut().enumerate() {
        c.transfers = rd_u64(b, l.stamp, 3 * i);
        c.max_block = rd_u64(b, l.stamp, 3 * i + 1);
    }
    s.high_water = rd_u64(b, l.stamp, 3 * CHAINS);
    s.high_water_digest = rd_u64(b, l.stamp, 3 * CHAINS + 1);
    s
}

// ---- header ----

/// Header fields: magic(8) version(4) reserved(4) counts(6 x 8) meta checksum(8) total_len(8), then one
/// checksum per big section (see [`SECTIONS`]), then the wide-amount count (8).
const OFF_VERSION: usize = 8;
const OFF_COUNTS: usize = 16;
const OFF_META_SUM: usize = 64;
const OFF_TOTAL: usize = 72;
const OFF_SECTION_SUMS: usize = 80;
const OFF_WIDE: usize = 120;

/// The big sections, each with its own checksum in the header, verified by [`verify_sections`] (not at
/// open). Everything before the first one (header and per-chain tables) is the "meta" region, checked at
/// open.
pub(crate) const SECTIONS: [&str; 5] = [
    "node table",
    "edge arrays",
    "amount overflow and asset tables",
    "block and transaction tables",
    "transaction hashes",
];

impl Layout {
    /// Byte ranges of [`SECTIONS`], in order; together they cover `meta_end()..total`.
    pub(crate) fn section_ranges(&self) -> [std::ops::Range<usize>; 5] {
        [
            self.node_addr..self.edge_dst,
            self.edge_dst..self.overflow,
            self.overflow..self.block_first_seq,
            self.block_first_seq..self.tx_hash,
            self.tx_hash..self.total,
        ]
    }

    /// End of the meta region (header plus per-chain tables and the store stamp).
    pub(crate) fn meta_end(&self) -> usize {
        self.node_addr
    }
}

fn meta_checksum(b: &[u8], l: &Layout) -> u64 {
    checksum(&b[..OFF_META_SUM]) ^ checksum(&b[OFF_TOTAL..l.meta_end()]).rotate_left(17)
}

/// Writes the header, with the checksum of every section; the sections must be filled in already.
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
    wr_u64(b, OFF_WIDE, 0, c.wide);
    for (i, r) in l.section_ranges().into_iter().enumerate() {
        let sum = checksum(&b[r]);
        wr_u64(b, OFF_SECTION_SUMS, i, sum);
    }
    let sum = meta_checksum(b, l);
    wr_u64(b, OFF_META_SUM, 0, sum);
}

/// Reads and checks the header and the meta region: magic, version, counts, the length the counts imply, the
/// meta checksum and the per-chain tables. Touches only the first few hundred bytes, whatever the image size.
/// `what` names the source for errors.
pub(crate) fn read_header(b: &[u8], what: &str) -> Result<Layout, GraphError> {
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
        wide: rd_u64(b, OFF_WIDE, 0),
    };
    if counts.edges > u64::from(u32::MAX - 1)
        || counts.nodes > u64::from(u32::MAX - 1)
        || counts.assets > u64::from(u32::MAX - 1)
        || counts.blocks > counts.edges
        || counts.txs > counts.edges
        || counts.overflow > counts.edges
        || counts.wide > counts.edges
        || (counts.edges > 0
            && (counts.nodes == 0 || counts.assets == 0 || counts.blocks == 0 || counts.txs == 0))
    {
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
    let want = rd_u64(b, OFF_META_SUM, 0);
    let got = meta_checksum(b, &layout);
    if want != got {
        return Err(corrupt(format!(
            "header checksum mismatch (stored {want:#018x}, computed {got:#018x})"
        )));
    }
    let monotone = |off: usize, last: u64, name: &str| -> Result<(), GraphError> {
        let mut prev = 0u32;
        for i in 0..=CHAINS {
            let v = rd_u32(b, off, i);
            if v < prev || (i == 0 && v != 0) {
                return Err(corrupt(format!("{name} not ascending from 0 at {i}")));
            }
            prev = v;
        }
        if u64::from(prev) != last {
            return Err(corrupt(format!("{name} ends at {prev}, expected {last}")));
        }
        Ok(())
    };
    monotone(layout.chain_node_start, counts.nodes, "chain node table")?;
    monotone(layout.chain_seq_start, counts.edges, "chain seq table")?;
    monotone(layout.chain_block_start, counts.blocks, "chain block table")?;
    Ok(layout)
}

/// Checks the stored checksum of every big section (reads the whole image).
pub(crate) fn verify_sections(b: &[u8], l: &Layout, what: &str) -> Result<(), GraphError> {
    for (i, r) in l.section_ranges().into_iter().enumerate() {
        let want = rd_u64(b, OFF_SECTION_SUMS, i);
        let got = checksum(&b[r.clone()]);
        if want != got {
            return Err(GraphError::CorruptSnapshot {
                path: what.to_string(),
                detail: format!(
                    "checksum mismatch in the {} (bytes {}..{}; stored {want:#018x}, computed {got:#018x})",
                    SECTIONS[i], r.start, r.end
                ),
            });
        }
    }
    Ok(())
}

/// A fast 64-bit checksum (four independent multiply-rotate lanes). Detects corruption, not tampering. Also
/// used by the CLI's derived-data caches.
pub fn checksum(bytes: &[u8]) -> u64 {
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

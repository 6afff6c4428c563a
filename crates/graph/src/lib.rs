//! The in-memory temporal transfer graph of chaintrace, and its memory-mapped snapshot.
//!
//! Nodes are `(chain, address)` pairs interned to dense `u32` ids (sorted by chain, then address, so a lookup is
//! a binary search and needs no hash table at open time). Every transfer is one edge. Edges carry a global
//! sequence number `seq`: the rank of the transfer in the order `(chain, block, tx hash, position)`, so "later"
//! on one chain is "larger seq". Out-edges of a node are contiguous and sorted by seq (CSR layout); in-edges are
//! an index permutation, also sorted by seq. Per edge the hot data is dst (u32), seq (u32), asset (u32), amount
//! (u64 slot) and the in-permutation entry (u32): 24 bytes. An amount of 2^63 or more takes a slot with the top
//! bit set whose low bits index a wide table of u128 values (16 more bytes; rare for native coins and
//! stablecoins, about a quarter of real 18-decimal token transfers); amounts of 2^128 and more go one step
//! further, to an overflow table of full 256-bit values keyed by edge.
//! Block numbers, timestamps and first seqs live in a per-block table; a small hint table (one u32 per 1024
//! seqs) turns "which block holds this seq" into a search over a few neighbouring entries. Transactions are
//! a bitmap with one bit per seq, set at the first transfer of each transaction (0.125 bytes per transfer,
//! where a u32 first seq per transaction took ~2.9 at sim densities), plus two small tables: a rank
//! directory (one u64 per 256 seqs: the set bits before it and, in bytes, before each of its 4 words; 0.031
//! bytes per transfer) and a select table (one u32 per 256 transactions: the directory entry holding that
//! transaction's start). [`Graph::tx_index`] is then one directory entry, one word and a popcount;
//! [`Graph::tx_seqs`] a short search between two select entries, an in-word select, and the next set bit.
//! Transaction hashes (32 bytes per transaction, the largest table) are the last section of the image, after
//! everything a trace reads: only building a path touches them.
//!
//! The graph is one byte image. A build produces it in memory; [`Graph::save`] writes it to a file and
//! [`Graph::open`] memory-maps it back. There is one reading code path for both, with one exception: a
//! snapshot's transaction hashes are not part of the resident graph. They are read from the file with
//! positioned reads when a path or an evidence list needs them ([`Graph::tx_hashes`], in 4 KiB windows),
//! never through the mapping, so what a process keeps resident is the structure alone (under 32 bytes per
//! transfer), however many paths it prints. The kernel's page cache may keep the windows read; the process
//! does not map them.
//!
//! # Corrupt snapshots: what is checked where
//!
//! Opening must not cost a pass over the file (a cold start at 10^7 transfers would read ~600 MB before the
//! first answer), so integrity is checked in two tiers:
//!
//! - [`Graph::open`] (cost independent of size): magic, layout version, counts (ranges and consistency), that
//!   the file length is exactly what the counts imply, a checksum over the header and the per-chain tables
//!   (counts, section checksums, store stamp), and those tables' monotonicity. Truncation, a wrong or older
//!   file, or a damaged header is an error here; callers (the CLI) then rebuild from the store.
//! - [`Graph::verify`] (reads everything, ~0.2 s per 10^7 transfers from the page cache): a checksum per big
//!   section (node table, edge arrays, amount overflow and assets, block and transaction tables, transaction
//!   hashes), then every stored index and ordering. [`Graph::save`] runs it on the file it wrote before
//!   renaming it into place, so a snapshot that ever replaced another one verified once;
//!   [`Graph::open_verified`] is open + verify for callers that prefer the old full check.
//!
//! Between the two, damage inside a big section (a flipped bit on disk, a hostile file) is not detected by
//! `open`, and memory safety does not depend on it: every read is a bounds-checked slice read inside the
//! mapping (whose length `open` checked), never a pointer cast, and every id or range an accessor hands out is
//! clamped into range (node ids `< node_count`, edge ids and seqs `< edge_count`, asset ids `< asset_count`,
//! seq ranges inside `0..=edge_count`, and inside the chain's range for [`Graph::seqs_in_time`]). So a
//! damaged snapshot can give wrong answers until verified, but no accessor, and no caller indexing arrays by
//! the ids it got, panics. Orderings (edges sorted by seq, sorted addresses) are guaranteed only for verified
//! images. The clamps cost one `min` per read; on a verified image they never change a value.
//!
//! # Following a growing store
//!
//! A stale snapshot (its [`StoreStamp`] differs from the store's) is brought up to date by
//! [`Graph::updated`] when the store provably only grew: only the new transfers are read and merged in
//! ([`Graph::with_transfers`]), through the same layout code as a full build, so the image is byte-identical
//! to [`Graph::from_reader`] on the store. Anything else (an unwind, an older snapshot) asks the caller to
//! rebuild in full.
//!
//! Not here: any analysis (see `chaintrace-analysis`), any printing, any store writes.

#![warn(missing_docs)]

mod build;
mod format;
mod mmap;
mod prefetch;
mod update;

use std::fs::File;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chaintrace_core::{Address, Asset, Chain, TxHash, U256};
use chaintrace_store::{StoreError, TransferReader};

pub use build::GraphBuilder;
pub use format::{SectionSizes, checksum};
pub use prefetch::prefetch;
pub use update::{Update, UpdateOutcome};

use format::{
    ADDR_LEN, AMOUNT_OVERFLOW, AMOUNT_WIDE, ASSET_LEN, CHAINS, Layout, OVERFLOW_LEN, rd_u32, rd_u64, rd_u128,
};

/// Dense id of a `(chain, address)` node.
pub type NodeId = u32;
/// Id of an edge: its index in the out-edge array (edges of one node are contiguous).
pub type EdgeId = u32;
/// Dense id of a `(chain, asset)` pair.
pub type AssetId = u32;
/// Global rank of a transfer in `(chain, block, tx hash, position)` order.
pub type Seq = u32;

/// Errors of the graph crate.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Reading transfers from the store failed.
    #[error("reading transfers from the store: {0}")]
    Store(#[from] StoreError),
    /// The snapshot file could not be read or written.
    #[error("graph snapshot {path}: {source}")]
    Io {
        /// Snapshot path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The snapshot file is damaged or not a snapshot.
    #[error("graph snapshot {path} is corrupt: {detail}")]
    CorruptSnapshot {
        /// Snapshot path (or "memory" for an in-memory image).
        path: String,
        /// What check failed.
        detail: String,
    },
    /// The snapshot was written by another layout version.
    #[error("graph snapshot {path} has layout version {found}, this build reads version {expected}")]
    SnapshotVersion {
        /// Snapshot path.
        path: String,
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// More transfers or addresses than the 32-bit ids can hold.
    #[error("too many {what} for the graph's 32-bit ids (limit {limit})")]
    TooLarge {
        /// "transfers" or "addresses".
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A transfer the graph cannot represent.
    #[error("transfer {chain} tx {tx_hash} block {block}: {reason}")]
    BadTransfer {
        /// Chain.
        chain: Chain,
        /// Transaction.
        tx_hash: TxHash,
        /// Block.
        block: u64,
        /// Why.
        reason: &'static str,
    },
}

/// What the store held when the graph was built, per chain; compared against the store to decide whether a
/// snapshot is stale, and (the high-water mark) whether the store only grew since (see [`Graph::updated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStamp {
    /// Per chain slot (order of `Chain::ALL`): transfers stored and highest covered block.
    pub chains: [ChainStamp; CHAINS],
    /// Largest transfer id of the store ([`TransferReader::last_transfer`]); 0 when the store held no
    /// transfer or does not number them.
    pub high_water: u64,
    /// [`transfer_digest`] of the transfer holding `high_water` (0 when `high_water` is 0).
    pub high_water_digest: u64,
}

/// One chain's part of a [`StoreStamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChainStamp {
    /// Transfers the store held for the chain.
    pub transfers: u64,
    /// Highest block the store covered for the chain (0 if none).
    pub max_block: u64,
}

impl StoreStamp {
    /// Reads the stamp of a store: transfer counts and highest covered block per chain, and the high-water
    /// mark (largest transfer id and a digest of that transfer).
    pub fn of_reader(reader: &dyn TransferReader) -> Result<StoreStamp, GraphError> {
        let mut stamp = StoreStamp::default();
        for (chain, transfers, max_block) in reader.chain_totals()? {
            let slot = &mut stamp.chains[chain_index(chain)];
            slot.transfers = transfers;
            slot.max_block = max_block;
        }
        if let Some((id, t)) = reader.last_transfer()? {
            stamp.high_water = id;
            stamp.high_water_digest = transfer_digest(&t);
        }
        Ok(stamp)
    }

    /// A 64-bit digest of every field (per-chain counts and blocks, and the high-water mark): the key of
    /// data derived from the store, so a store unwound and regrown to the same counts gets another key.
    pub fn digest(&self) -> u64 {
        let mut k: Vec<u8> = Vec::with_capacity(CHAINS * 16 + 16);
        for c in &self.chains {
            k.extend_from_slice(&c.transfers.to_le_bytes());
            k.extend_from_slice(&c.max_block.to_le_bytes());
        }
        k.extend_from_slice(&self.high_water.to_le_bytes());
        k.extend_from_slice(&self.high_water_digest.to_le_bytes());
        checksum(&k)
    }

    /// Total transfers over all chains.
    pub fn total_transfers(&self) -> u64 {
        self.chains.iter().map(|c| c.transfers).sum()
    }
}

/// A 64-bit digest of every field of a transfer (identifies the row at a store's high-water mark).
pub fn transfer_digest(t: &chaintrace_core::Transfer) -> u64 {
    let mut k: Vec<u8> = Vec::with_capacity(256);
    k.extend_from_slice(&t.chain.chain_id().to_le_bytes());
    k.extend_from_slice(&t.block.to_le_bytes());
    k.extend_from_slice(&t.timestamp.to_le_bytes());
    k.extend_from_slice(&t.tx_hash.0);
    let pos = t.position.to_string();
    k.extend_from_slice(&(pos.len() as u64).to_le_bytes());
    k.extend_from_slice(pos.as_bytes());
    k.extend_from_slice(&t.from.0);
    k.extend_from_slice(&t.to.0);
    k.extend_from_slice(&format::asset_record(chain_index(t.chain), t.asset));
    k.extend_from_slice(&t.amount.to_be_bytes::<32>());
    k.extend_from_slice(t.kind.to_string().as_bytes());
    k.extend_from_slice(&t.tx_from.0);
    k.extend_from_slice(&t.tx_fee.to_be_bytes::<32>());
    k.extend_from_slice(&t.gas_price.to_be_bytes::<32>());
    checksum(&k)
}

pub(crate) fn chain_index(c: Chain) -> usize {
    Chain::ALL
        .iter()
        .position(|x| *x == c)
        .expect("Chain::ALL lists every chain")
}

/// Everything about one edge, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeInfo {
    /// Chain.
    pub chain: Chain,
    /// Sender.
    pub from: Address,
    /// Receiver.
    pub to: Address,
    /// Asset moved.
    pub asset: Asset,
    /// Raw amount.
    pub amount: U256,
    /// Block number.
    pub block: u64,
    /// Block timestamp, unix seconds.
    pub time: u64,
    /// Transaction hash.
    pub tx_hash: TxHash,
    /// Global order rank.
    pub seq: Seq,
}

enum Bytes {
    Owned(Vec<u8>),
    /// A snapshot: the mapping (through which everything but the transaction hashes is read) and the open
    /// file (from which the transaction hashes are read, see [`Graph::tx_hashes`]).
    Mapped {
        map: std::sync::Arc<memmap2::Mmap>,
        file: File,
    },
}

/// The temporal transfer graph (see the crate docs for the layout).
pub struct Graph {
    bytes: Bytes,
    l: Layout,
    /// Source named in errors: the snapshot path, or "memory".
    what: String,
    /// Reads of the transaction-hash table from the snapshot file: (read calls, bytes).
    hash_reads: (AtomicU64, AtomicU64),
}

/// What reading transaction hashes from a snapshot file cost so far (see [`Graph::tx_hash_reads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashReads {
    /// Read calls (one per window of the table a lookup needed).
    pub calls: u64,
    /// Bytes read.
    pub bytes: u64,
}

/// Reads exactly `buf.len()` bytes at `off` without moving a file cursor (safe to share between threads).
#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, off)
}

/// Reads exactly `buf.len()` bytes at `off` (Windows: positioned reads until the buffer is full).
#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut off: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, off)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                off += n as u64;
            }
        }
    }
    Ok(())
}

/// `MemAvailable` from /proc/meminfo, in bytes (None where it cannot be read).
fn mem_available_bytes() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib.saturating_mul(1024))
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("nodes", &self.node_count())
            .field("edges", &self.edge_count())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

impl Graph {
    /// Builds a graph from transfers (any order). `stamp` records what the source store held.
    pub fn from_transfers<I>(transfers: I, stamp: StoreStamp) -> Result<Graph, GraphError>
    where
        I: IntoIterator<Item = chaintrace_core::Transfer>,
    {
        let mut b = GraphBuilder::new();
        for t in transfers {
            b.push(&t)?;
        }
        b.finish(stamp)
    }

    /// Builds a graph from every transfer of a store (all chains), stamped with the store's counts.
    pub fn from_reader(reader: &dyn TransferReader) -> Result<Graph, GraphError> {
        let stamp = StoreStamp::of_reader(reader)?;
        let mut b = GraphBuilder::new();
        let mut failed: Option<GraphError> = None;
        let res = reader.for_each_transfer(None, &mut |t| {
            b.push(&t).map_err(|e| {
                let msg = e.to_string();
                failed = Some(e);
                StoreError::Callback(msg)
            })
        });
        if let Some(e) = failed {
            return Err(e);
        }
        res?;
        b.finish(stamp)
    }

    /// Wraps a built image (the builder's output). Checks the header; debug builds also run the full
    /// [`Graph::verify`] (a builder bug would show up in every test).
    pub(crate) fn from_image(image: Vec<u8>) -> Result<Graph, GraphError> {
        let l = format::read_header(&image, "memory")?;
        let g = Graph {
            bytes: Bytes::Owned(image),
            l,
            what: "memory".to_string(),
            hash_reads: Default::default(),
        };
        if cfg!(debug_assertions) {
            g.verify()?;
        }
        Ok(g)
    }

    /// Memory-maps a snapshot written by [`Graph::save`]. Cost is independent of the graph size: it checks
    /// magic, version, the counts, that the file length is exactly what the counts imply (so every section
    /// lies inside the mapping), the header checksum and the small per-chain tables, and reads nothing else.
    /// Damage inside the big sections is not detected here; every accessor stays memory-safe and panic-free on
    /// any file content (see "Corrupt snapshots" in the crate docs), and [`Graph::verify`] detects it.
    ///
    /// Pages are then read on first touch, with the kernel's normal read-around; callers that are about to trace
    /// ask for read-ahead with [`Graph::prefetch_in_background`] (`MADV_RANDOM` made the first trace 3x slower).
    pub fn open(path: &Path) -> Result<Graph, GraphError> {
        let io = |source| GraphError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let what = path.display().to_string();
        if len < format::HEADER_LEN as u64 {
            return Err(GraphError::CorruptSnapshot {
                path: what,
                detail: format!("{len} bytes, shorter than the header"),
            });
        }
        let map = mmap::map_readonly(&file).map_err(io)?;
        let l = format::read_header(&map, &what)?;
        Ok(Graph {
            bytes: Bytes::Mapped {
                map: std::sync::Arc::new(map),
                file,
            },
            l,
            what,
            hash_reads: Default::default(),
        })
    }

    /// [`Graph::open`] followed by [`Graph::verify`]: reads the whole file once.
    pub fn open_verified(path: &Path) -> Result<Graph, GraphError> {
        let g = Graph::open(path)?;
        g.verify()?;
        Ok(g)
    }

    /// Full integrity check: the checksum of every section, then every stored index and ordering the
    /// accessors' documented guarantees rely on (ascending CSR offsets, strictly sorted node addresses, edge
    /// endpoints, seqs, assets and in-permutation entries in range, ascending block first-seq table, the
    /// transaction-start bitmap against the transaction count and the block starts, and its rank and select
    /// tables recomputed). Reads the whole image: about 0.2 s per 10^7 transfers when in the page cache.
    /// [`Graph::save`] runs it on the file it wrote before renaming it into place; [`Graph::open`] does not.
    pub fn verify(&self) -> Result<(), GraphError> {
        format::verify_sections(self.b(), &self.l, &self.what)?;
        self.validate(&self.what)
    }

    /// Writes the image to `path` atomically (temporary file in the same directory, then rename), so a mapped
    /// snapshot is never modified in place.
    pub fn save(&self, path: &Path) -> Result<(), GraphError> {
        let io = |source| GraphError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(self.b())?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        // Verify what was written (from the page cache) before it can replace a good snapshot.
        if let Err(e) = Graph::open_verified(&tmp) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }

    #[inline]
    fn b(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Owned(v) => v,
            Bytes::Mapped { map, .. } => map,
        }
    }

    /// Checks every index and ordering the accessors' documented guarantees rely on (part of `verify`).
    fn validate(&self, what: &str) -> Result<(), GraphError> {
        let b = self.b();
        let l = &self.l;
        let c = l.counts;
        let (n, e, a, nb, nt, no) = (c.nodes, c.edges, c.assets, c.blocks, c.txs, c.overflow);
        let bad = |detail: String| {
            Err(GraphError::CorruptSnapshot {
                path: what.to_string(),
                detail,
            })
        };
        let monotone = |off: usize, len: usize, last: u64, name: &str| -> Result<(), GraphError> {
            let mut prev = 0u32;
            for i in 0..len {
                let v = rd_u32(b, off, i);
                if v < prev || (i == 0 && v != 0) {
                    return bad(format!("{name} not ascending from 0 at {i}"));
                }
                prev = v;
            }
            if u64::from(prev) != last {
                return bad(format!("{name} ends at {prev}, expected {last}"));
            }
            Ok(())
        };
        monotone(l.out_offsets, n as usize + 1, e, "out offsets")?;
        monotone(l.in_offsets, n as usize + 1, e, "in offsets")?;
        for ch in 0..CHAINS {
            let r =
                rd_u32(b, l.chain_node_start, ch) as usize..rd_u32(b, l.chain_node_start, ch + 1) as usize;
            for i in r.start + 1..r.end {
                if self.addr_bytes(i as u32 - 1) >= self.addr_bytes(i as u32) {
                    return bad(format!("node addresses not strictly sorted at node {i}"));
                }
            }
        }
        for i in 0..e as usize {
            if u64::from(rd_u32(b, l.edge_dst, i)) >= n
                || u64::from(rd_u32(b, l.edge_seq, i)) >= e
                || u64::from(rd_u32(b, l.edge_asset, i)) >= a
                || u64::from(rd_u32(b, l.in_perm, i)) >= e
            {
                return bad(format!("edge {i} has an index out of range"));
            }
            let slot = rd_u64(b, l.edge_amount, i);
            if slot & AMOUNT_WIDE != 0 && slot & !AMOUNT_WIDE >= c.wide {
                return bad(format!("edge {i} has a wide-amount index out of range"));
            }
        }
        let mut prev_edge = None;
        for i in 0..no as usize {
            let edge = rd_u32(b, l.overflow, i * OVERFLOW_LEN / 4);
            if u64::from(edge) >= e || prev_edge.is_some_and(|p| p >= edge) {
                return bad(format!("overflow entry {i} out of range or order"));
            }
            prev_edge = Some(edge);
        }
        for i in 0..a as usize {
            let p = l.assets + i * ASSET_LEN;
            if b[p] as usize >= CHAINS || b[p + 1] > 1 {
                return bad(format!("asset record {i} malformed"));
            }
        }
        let firsts = |off: usize, len: u64, name: &str| -> Result<(), GraphError> {
            if (len == 0) != (e == 0) {
                return bad(format!("{name} table empty/non-empty mismatch with edges"));
            }
            let mut prev = None;
            for i in 0..len as usize {
                let v = rd_u32(b, off, i);
                let ok = match prev {
                    None => v == 0,
                    Some(p) => v > p && u64::from(v) < e,
                };
                if !ok {
                    return bad(format!("{name} first-seq table broken at {i}"));
                }
                prev = Some(v);
            }
            Ok(())
        };
        firsts(l.block_first_seq, nb, "block")?;
        let want = format::hint_values(
            nb as usize,
            |i| rd_u32(b, l.block_first_seq, i),
            e,
            format::BLOCK_HINT_SHIFT,
        );
        if let Some(k) = (0..want.len()).find(|&k| rd_u32(b, l.block_hint, k) != want[k]) {
            return bad(format!("block hint table wrong at entry {k}"));
        }
        // The transaction-start bitmap and its rank and select tables.
        let words = format::tx_bit_words(e) as usize;
        let word = |w: usize| rd_u64(b, l.tx_bits, w);
        if e > 0 && word(0) & 1 == 0 {
            return bad("tx start bitmap: seq 0 is not a transaction start".into());
        }
        if e % 64 != 0 && word(words - 1) >> (e % 64) != 0 {
            return bad("tx start bitmap has bits past the last seq".into());
        }
        let ones: u64 = (0..words).map(|w| u64::from(word(w).count_ones())).sum();
        if ones != nt {
            return bad(format!(
                "tx start bitmap marks {ones} transaction starts, the header counts {nt} transactions"
            ));
        }
        let (rank, select) = format::tx_rank_select(words, word, nt);
        if let Some(d) = (0..rank.len()).find(|&d| rd_u64(b, l.tx_rank, d) != rank[d]) {
            return bad(format!("tx rank directory wrong at entry {d}"));
        }
        if let Some(k) = (0..select.len()).find(|&k| rd_u32(b, l.tx_select, k) != select[k]) {
            return bad(format!("tx select table wrong at entry {k}"));
        }
        // A transaction never spans two blocks: every block starts a transaction.
        if let Some(i) = (0..nb as usize).find(|&i| !self.is_tx_start(rd_u32(b, l.block_first_seq, i))) {
            return bad(format!(
                "tx start bitmap: block {i} does not start a transaction (a transaction spans two blocks)"
            ));
        }
        Ok(())
    }

    // ---- sizes ----

    /// Number of nodes.
    pub fn node_count(&self) -> u32 {
        self.l.counts.nodes as u32
    }
    /// Number of edges (transfers).
    pub fn edge_count(&self) -> u32 {
        self.l.counts.edges as u32
    }
    /// Number of distinct `(chain, asset)` pairs.
    pub fn asset_count(&self) -> u32 {
        self.l.counts.assets as u32
    }
    /// Byte sizes of the image's sections.
    pub fn section_sizes(&self) -> SectionSizes {
        self.l.sizes()
    }
    /// Asks the kernel, from a short-lived background thread, to start reading a mapped snapshot's pages into
    /// the page cache (`MADV_WILLNEED`): the edge arrays first, then the node tables, the block and transaction
    /// tables and the transaction hashes, up to half of the memory the kernel reports available (the advice
    /// fills the page cache and maps nothing: the hashes, read with [`Graph::tx_hashes`], then come from the
    /// cache instead of one disk read per window, and stay out of the process's memory). Returns at
    /// once; the first trace then finds pages read ahead in large sequential requests instead of faulting them
    /// in one read-around at a time. Does nothing for an in-memory graph, or where the advice is not supported.
    ///
    /// Measured at 10^7 transfers, snapshot evicted, first 5-hop trace from the bench's first start (141,574
    /// destinations): median 0.91 -> 0.78 s to the first answer over 6 interleaved runs each (BENCHMARKS.md).
    /// Populating page tables too (`MADV_POPULATE_READ`) was no better, and mapped ~370 MB more.
    /// The thread holds the mapping until it has issued its requests; dropping the graph does not wait for it.
    pub fn prefetch_in_background(&self) -> Option<std::thread::JoinHandle<()>> {
        let Bytes::Mapped { map, .. } = &self.bytes else {
            return None;
        };
        let map = std::sync::Arc::clone(map);
        let l = &self.l;
        let ranges = [
            l.edge_dst..l.overflow,
            l.node_addr..l.edge_dst,
            l.block_first_seq..l.tx_hash,
            l.overflow..l.block_first_seq,
            l.tx_hash..l.total,
        ];
        let budget = mem_available_bytes().map_or(0, |m| m / 2);
        std::thread::Builder::new()
            .name("snapshot-prefetch".into())
            .spawn(move || {
                const PAGE: usize = 4096;
                let mut left = budget;
                for r in ranges {
                    let start = r.start / PAGE * PAGE;
                    let len = (r.end.min(map.len()) - start).min(left);
                    if len == 0 || map.advise_range(memmap2::Advice::WillNeed, start, len).is_err() {
                        return;
                    }
                    left -= len;
                }
            })
            .ok()
    }

    /// Whether this graph reads a memory-mapped file.
    pub fn is_mapped(&self) -> bool {
        matches!(self.bytes, Bytes::Mapped { .. })
    }
    /// What the store held when this graph was built.
    pub fn stamp(&self) -> StoreStamp {
        format::read_stamp(self.b(), &self.l)
    }

    // ---- nodes ----

    fn addr_bytes(&self, n: NodeId) -> &[u8] {
        let p = self.l.node_addr + n as usize * ADDR_LEN;
        &self.b()[p..p + ADDR_LEN]
    }

    /// The node of `(chain, address)`, if the address appears in any transfer on that chain.
    pub fn node(&self, chain: Chain, address: Address) -> Option<NodeId> {
        let ci = chain_index(chain);
        let (mut lo, mut hi) = (
            rd_u32(self.b(), self.l.chain_node_start, ci),
            rd_u32(self.b(), self.l.chain_node_start, ci + 1),
        );
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.addr_bytes(mid).cmp(&address.0[..]) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Chain and address of a node.
    pub fn node_key(&self, n: NodeId) -> (Chain, Address) {
        let mut a = [0u8; 20];
        a.copy_from_slice(self.addr_bytes(n));
        (self.node_chain(n), Address(a))
    }

    /// Chain of a node.
    pub fn node_chain(&self, n: NodeId) -> Chain {
        let mut ci = 0;
        while ci + 1 < CHAINS && rd_u32(self.b(), self.l.chain_node_start, ci + 1) <= n {
            ci += 1;
        }
        Chain::ALL[ci]
    }

    /// A range read from an offset table, clamped into `0..=edge_count` with `start <= end` (a no-op on a
    /// verified image; keeps every id handed out in range on a damaged one).
    #[inline]
    fn edge_range(&self, table: usize, n: NodeId) -> Range<u32> {
        let e = self.edge_count();
        let start = rd_u32(self.b(), table, n as usize).min(e);
        let end = rd_u32(self.b(), table, n as usize + 1).min(e);
        start..end.max(start)
    }

    /// Largest valid id given `count` items (0 when there are none; ids are then never asked for).
    #[inline]
    fn last_id(count: u64) -> u32 {
        count.saturating_sub(1) as u32
    }

    /// Out-edges of a node: a contiguous id range, sorted by seq.
    #[inline]
    pub fn out_edges(&self, n: NodeId) -> Range<EdgeId> {
        self.edge_range(self.l.out_offsets, n)
    }

    /// Positions of a node's in-edges in the in-permutation (use [`Graph::in_edge_at`]), sorted by seq.
    #[inline]
    pub fn in_edge_slots(&self, n: NodeId) -> Range<u32> {
        self.edge_range(self.l.in_offsets, n)
    }

    /// The edge at a position of the in-permutation.
    #[inline]
    pub fn in_edge_at(&self, slot: u32) -> EdgeId {
        rd_u32(self.b(), self.l.in_perm, slot as usize).min(Self::last_id(self.l.counts.edges))
    }

    /// In-edges of a node, sorted by seq.
    pub fn in_edges(&self, n: NodeId) -> impl DoubleEndedIterator<Item = EdgeId> + ExactSizeIterator + '_ {
        self.in_edge_slots(n).map(move |s| self.in_edge_at(s))
    }

    // ---- edges ----

    /// Receiver of an edge.
    #[inline]
    pub fn edge_dst(&self, e: EdgeId) -> NodeId {
        rd_u32(self.b(), self.l.edge_dst, e as usize).min(Self::last_id(self.l.counts.nodes))
    }

    /// Sender of an edge (binary search over the out-offsets).
    pub fn edge_src(&self, e: EdgeId) -> NodeId {
        // The last node whose out-offset is <= e: nodes with empty out-lists before it share its offset,
        // those after it have offsets > e. Always in range, whatever the table holds.
        partition_point(self.node_count(), |i| {
            rd_u32(self.b(), self.l.out_offsets, i as usize) <= e
        })
        .saturating_sub(1)
    }

    /// Global order rank of an edge.
    #[inline]
    pub fn edge_seq(&self, e: EdgeId) -> Seq {
        rd_u32(self.b(), self.l.edge_seq, e as usize).min(Self::last_id(self.l.counts.edges))
    }

    /// Asset of an edge.
    #[inline]
    pub fn edge_asset(&self, e: EdgeId) -> AssetId {
        rd_u32(self.b(), self.l.edge_asset, e as usize).min(Self::last_id(self.l.counts.assets))
    }

    /// Raw amount of an edge.
    pub fn edge_amount(&self, e: EdgeId) -> U256 {
        let slot = rd_u64(self.b(), self.l.edge_amount, e as usize);
        if slot & AMOUNT_WIDE == 0 {
            return U256::from(slot);
        }
        let wi = slot & !AMOUNT_WIDE;
        if wi >= self.l.counts.wide {
            // Only in a damaged image (verify refuses it): some value, no panic.
            return U256::from(slot);
        }
        let v = rd_u128(self.b(), self.l.wide, wi as usize);
        if v != AMOUNT_OVERFLOW {
            return U256::from(v);
        }
        let (mut lo, mut hi) = (0usize, self.l.counts.overflow as usize);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let p = self.l.overflow + mid * OVERFLOW_LEN;
            let edge = rd_u32(self.b(), p, 0);
            match edge.cmp(&e) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    return U256::from_be_slice(&self.b()[p + 4..p + OVERFLOW_LEN]);
                }
            }
        }
        // Validation guarantees u128::MAX appears only with an overflow entry, except a genuine amount of
        // exactly u128::MAX, which the builder also routes through the table. Unreachable for valid images.
        U256::from(v)
    }

    /// Whether an edge's amount is zero, from the 8-byte amount slot alone (no wide or overflow table read:
    /// wide amounts are at least 2^63). Equal to `edge_amount(e).is_zero()` on a verified image.
    #[inline]
    pub fn edge_amount_is_zero(&self, e: EdgeId) -> bool {
        rd_u64(self.b(), self.l.edge_amount, e as usize) == 0
    }

    /// An edge's amount when it is below 2^63 (read from the 8-byte slot alone), else `None` (then use
    /// [`Graph::edge_amount`]). Equal to `edge_amount(e)` whenever it is `Some` on a verified image.
    #[inline]
    pub fn edge_amount_narrow(&self, e: EdgeId) -> Option<u64> {
        let slot = rd_u64(self.b(), self.l.edge_amount, e as usize);
        (slot & AMOUNT_WIDE == 0).then_some(slot)
    }

    /// Whether an edge's amount is below `min`, reading the wide or overflow table only when the 8-byte slot
    /// cannot decide. Equal to `edge_amount(e) < min` on a verified image.
    #[inline]
    pub fn edge_amount_below(&self, e: EdgeId, min: U256) -> bool {
        let slot = rd_u64(self.b(), self.l.edge_amount, e as usize);
        if slot & AMOUNT_WIDE == 0 {
            return U256::from(slot) < min;
        }
        if min <= U256::from(AMOUNT_WIDE) {
            return false; // a wide amount is at least 2^63
        }
        self.edge_amount(e) < min
    }

    /// Hints that the node's out-offset entries ([`Graph::out_edges`]; `in_edges`: the in-offsets,
    /// [`Graph::in_edge_slots`]) will be read soon. Only a cache hint: no effect on any answer.
    #[inline]
    pub fn prefetch_node(&self, n: NodeId, in_edges: bool) {
        let table = if in_edges {
            self.l.in_offsets
        } else {
            self.l.out_offsets
        };
        prefetch::prefetch_byte(self.b(), table + n as usize * 4);
    }

    /// Hints that the in-permutation entry at `slot` ([`Graph::in_edge_at`]) will be read soon. Only a cache
    /// hint: no effect on any answer.
    #[inline]
    pub fn prefetch_in_slot(&self, slot: u32) {
        prefetch::prefetch_byte(self.b(), self.l.in_perm + slot as usize * 4);
    }

    /// Hints that the edge's seq, asset, amount slot and receiver will be read soon. Only a cache hint.
    #[inline]
    pub fn prefetch_edge(&self, e: EdgeId) {
        let (b, e) = (self.b(), e as usize);
        prefetch::prefetch_byte(b, self.l.edge_seq + e * 4);
        prefetch::prefetch_byte(b, self.l.edge_asset + e * 4);
        prefetch::prefetch_byte(b, self.l.edge_amount + e * 8);
        prefetch::prefetch_byte(b, self.l.edge_dst + e * 4);
    }

    /// Everything about an edge (touches the cold transaction-hash table).
    pub fn edge_info(&self, e: EdgeId) -> EdgeInfo {
        let seq = self.edge_seq(e);
        let bi = self.block_index(seq);
        let (chain, from) = self.node_key(self.edge_src(e));
        let (_, to) = self.node_key(self.edge_dst(e));
        EdgeInfo {
            chain,
            from,
            to,
            asset: self.asset(self.edge_asset(e)).1,
            amount: self.edge_amount(e),
            block: self.block_number(bi),
            time: self.block_time(bi),
            tx_hash: self.tx_hash(self.tx_index(seq)),
            seq,
        }
    }

    // ---- assets ----

    /// The id of `(chain, asset)`, if any transfer moved it.
    pub fn asset_id(&self, chain: Chain, asset: Asset) -> Option<AssetId> {
        let key = format::asset_record(chain_index(chain), asset);
        let i = partition_point(self.asset_count(), |i| self.asset_bytes(i) < &key[..]);
        (i < self.asset_count() && self.asset_bytes(i) == &key[..]).then_some(i)
    }

    fn asset_bytes(&self, id: AssetId) -> &[u8] {
        let p = self.l.assets + id as usize * ASSET_LEN;
        &self.b()[p..p + ASSET_LEN]
    }

    /// Chain and asset of an asset id.
    pub fn asset(&self, id: AssetId) -> (Chain, Asset) {
        let b = self.asset_bytes(id);
        // Verified images hold a valid chain slot; a damaged byte maps to the last slot instead of panicking.
        let chain = Chain::ALL[(b[0] as usize).min(CHAINS - 1)];
        if b[1] == 0 {
            (chain, Asset::Native)
        } else {
            let mut a = [0u8; 20];
            a.copy_from_slice(&b[4..24]);
            (chain, Asset::Token(Address(a)))
        }
    }

    // ---- time ----

    /// Index of the block holding the transfer of rank `seq`.
    pub fn block_index(&self, seq: Seq) -> u32 {
        self.hinted_index(
            self.l.block_first_seq,
            self.l.counts.blocks,
            self.l.block_hint,
            format::BLOCK_HINT_SHIFT,
            seq,
        )
    }

    /// The last entry of a first-seq table whose first seq is <= `seq`, searched between the two hint entries
    /// around `seq` (a few entries, one or two cache lines) instead of over the whole table. Always in
    /// `0..count` (0 when empty), whatever the tables hold.
    #[inline]
    fn hinted_index(&self, first: usize, count: u64, hint: usize, shift: u32, seq: Seq) -> u32 {
        let b = self.b();
        let count = count as u32;
        let k = (seq >> shift) as u64;
        let (lo, hi) = if k + 1 < format::hint_len(self.l.counts.edges, shift) {
            let last = count.saturating_sub(1);
            let lo = rd_u32(b, hint, k as usize).min(last);
            let hi = rd_u32(b, hint, k as usize + 1).min(last) + 1;
            (lo, hi.max(lo))
        } else {
            (0, count)
        };
        (lo + partition_point(hi - lo, |i| rd_u32(b, first, (lo + i) as usize) <= seq)).saturating_sub(1)
    }

    /// Block number of a block index.
    pub fn block_number(&self, bi: u32) -> u64 {
        rd_u64(self.b(), self.l.block_number, bi as usize)
    }

    /// Timestamp of a block index.
    pub fn block_time(&self, bi: u32) -> u64 {
        rd_u64(self.b(), self.l.block_time, bi as usize)
    }

    /// Index of the transaction holding the transfer of rank `seq` (the last transaction for a seq past the
    /// end; 0 without transactions): the set bits of the transaction-start bitmap up to `seq`, minus one. One
    /// rank-directory entry, one bitmap word and a popcount. Always in `0..txs` (0 when empty), whatever the
    /// tables hold.
    #[inline]
    pub fn tx_index(&self, seq: Seq) -> u32 {
        let (e, nt) = (self.l.counts.edges, self.l.counts.txs);
        if nt == 0 || e == 0 {
            return 0;
        }
        let s = u64::from(seq).min(e - 1);
        let w = (s >> 6) as usize;
        let b = self.b();
        let d = rd_u64(b, self.l.tx_rank, w / format::TX_RANK_WORDS);
        // Bytes 1..4 of `rel` hold the counts before words 1..4 of the entry; byte 0 is word 0's (none).
        let rel = ((d >> 32) << 8) >> (8 * (w % format::TX_RANK_WORDS));
        let bits = rd_u64(b, self.l.tx_bits, w) & (u64::MAX >> (63 - (s & 63)));
        let ones = (d & 0xffff_ffff) + (rel & 0xff) + u64::from(bits.count_ones());
        ones.saturating_sub(1).min(nt - 1) as u32
    }

    /// The first seq of transaction `ti` (`ti < txs`): the select table narrows the rank directory to a few
    /// entries, a binary search finds the entry, its relative counts the word, and an in-word select the
    /// bit. At most `edge_count`, whatever the tables hold.
    fn tx_start(&self, ti: u32) -> Seq {
        let (b, l) = (self.b(), &self.l);
        let e = self.edge_count();
        let last = (format::tx_rank_len(l.counts.edges) as u32).saturating_sub(1);
        let k = (ti >> format::TX_SELECT_SHIFT) as usize;
        if (k + 1) as u64 >= format::hint_len(l.counts.txs, format::TX_SELECT_SHIFT) {
            return e; // only for ti >= txs, which callers exclude
        }
        let lo = rd_u32(b, l.tx_select, k).min(last);
        let hi = rd_u32(b, l.tx_select, k + 1).min(last).max(lo);
        let before = |d: u32| rd_u64(b, l.tx_rank, d as usize) as u32;
        let d = lo + partition_point(hi - lo, |i| before(lo + 1 + i) <= ti);
        let entry = rd_u64(b, l.tx_rank, d as usize);
        let r = ti.saturating_sub(entry as u32);
        // The word: how many of the entry's counts before words 1..4 are <= r (ascending counts).
        let rel = (entry >> 32) << 8; // byte j: set bits before word j of the entry (byte 0: none)
        let count = |j: usize| ((rel >> (8 * j)) & 0xff) as u32;
        let j = (1..format::TX_RANK_WORDS)
            .map(|j| usize::from(count(j) <= r))
            .sum::<usize>();
        let in_word = r.saturating_sub(count(j));
        let w = d as usize * format::TX_RANK_WORDS + j;
        if w as u64 >= format::tx_bit_words(l.counts.edges) {
            return e;
        }
        let at = format::select_in_word(rd_u64(b, l.tx_bits, w), in_word);
        if at >= 64 {
            return e;
        }
        ((w as u64) * 64 + u64::from(at)).min(u64::from(e)) as Seq
    }

    /// The first seq after `start` that starts a transaction, where `start` starts transaction `next - 1`:
    /// the next set bit within the two words after `start`, else the select of `next`. `edge_count` when
    /// `next` is past the last transaction.
    fn next_tx_start(&self, start: Seq, next: u32) -> Seq {
        let e = self.edge_count();
        if u64::from(next) >= self.l.counts.txs {
            return e;
        }
        let s = u64::from(start) + 1;
        let words = format::tx_bit_words(self.l.counts.edges);
        let w = s >> 6;
        for (k, mask) in [(w, u64::MAX << (s & 63)), (w + 1, u64::MAX)] {
            if k >= words {
                break;
            }
            let x = rd_u64(self.b(), self.l.tx_bits, k as usize) & mask;
            if x != 0 {
                return (k * 64 + u64::from(x.trailing_zeros())).min(u64::from(e)) as Seq;
            }
        }
        self.tx_start(next)
    }

    /// The transaction holding the transfer of rank `seq` and its seq range: `(tx_index(seq),
    /// tx_seqs(tx_index(seq)))`, cheaper than that pair: the range comes from the set bits next to `seq` in
    /// the bitmap (the words holding and neighbouring it; a select only for transactions longer than that).
    /// For a seq past the end, the last transaction; without transactions, `(0, e..e)`.
    #[inline]
    pub fn tx_at(&self, seq: Seq) -> (u32, Range<Seq>) {
        let e = self.edge_count();
        if self.l.counts.txs == 0 || e == 0 {
            return (0, e..e);
        }
        let ti = self.tx_index(seq);
        let s = seq.min(e - 1);
        let w = (s >> 6) as usize;
        let b = self.b();
        let mut start = None;
        let mask = u64::MAX >> (63 - (s & 63));
        for (k, m) in [(w, mask), (w.wrapping_sub(1), u64::MAX)] {
            if k == usize::MAX {
                break;
            }
            let x = rd_u64(b, self.l.tx_bits, k) & m;
            if x != 0 {
                start = Some((k as u32) * 64 + 63 - x.leading_zeros());
                break;
            }
        }
        let start = start.unwrap_or_else(|| self.tx_start(ti)).min(s);
        (ti, start..self.next_tx_start(s, ti + 1).max(start))
    }

    /// Whether the transfer of rank `seq` is the first of its transaction (false past the end).
    #[inline]
    pub(crate) fn is_tx_start(&self, seq: Seq) -> bool {
        u64::from(seq) < self.l.counts.edges
            && (rd_u64(self.b(), self.l.tx_bits, (seq >> 6) as usize) >> (seq & 63)) & 1 == 1
    }

    /// Seq range of the transfers of a block index (empty for an index out of range).
    pub fn block_seqs(&self, bi: u32) -> Range<Seq> {
        self.first_seq_range(self.l.block_first_seq, self.l.counts.blocks, bi)
    }

    /// Seq range of the transfers of a transaction index (empty for an index out of range). A transaction
    /// never spans two blocks.
    pub fn tx_seqs(&self, ti: u32) -> Range<Seq> {
        let e = self.edge_count();
        if u64::from(ti) >= self.l.counts.txs {
            return e..e;
        }
        let start = self.tx_start(ti);
        start..self.next_tx_start(start, ti + 1).max(start)
    }

    fn first_seq_range(&self, table: usize, len: u64, i: u32) -> Range<Seq> {
        let e = self.edge_count();
        if u64::from(i) >= len {
            return e..e;
        }
        let start = rd_u32(self.b(), table, i as usize).min(e);
        let end = if u64::from(i) + 1 < len {
            rd_u32(self.b(), table, i as usize + 1).min(e)
        } else {
            e
        };
        start..end.max(start)
    }

    /// Hash of a transaction index (`ti < tx_count()`). For a snapshot this is one read from the file (see
    /// [`Graph::tx_hashes`]); prefer that for many hashes.
    pub fn tx_hash(&self, ti: u32) -> TxHash {
        match &self.bytes {
            Bytes::Owned(_) => TxHash(self.tx_hash_in_image(ti)),
            Bytes::Mapped { file, .. } => {
                let mut h = [0u8; 32];
                self.read_hashes(file, self.l.tx_hash + 32 * ti as usize, &mut h);
                TxHash(h)
            }
        }
    }

    /// Hashes of transaction indices (each `< tx_count()`), in the order given.
    ///
    /// The transaction-hash table (32 bytes per transaction, the largest table) is not part of the resident
    /// graph: a snapshot's hashes are read from the file (positioned reads, through the page cache) when a
    /// caller asks for them, and never mapped, so they take no memory of the process however many paths are
    /// printed. Indices are read one 4 KiB window at a time (one read per window in which a wanted hash
    /// starts, for ascending indices: a path's transactions sorted by seq share windows). An in-memory graph (after a build) reads its image.
    ///
    /// # Panics
    /// When the snapshot file cannot be read any more after [`Graph::open`] checked its length (an I/O error
    /// of the disk, or the file truncated in place by hand). This is the contract of the mapped part too
    /// (see the `mmap` module): there the same failure ends the process with `SIGBUS`; here the panic names
    /// the file and offset. chaintrace itself never modifies a snapshot in place.
    pub fn tx_hashes(&self, tis: &[u32]) -> Vec<TxHash> {
        let Bytes::Mapped { file, .. } = &self.bytes else {
            return tis.iter().map(|&ti| TxHash(self.tx_hash_in_image(ti))).collect();
        };
        const WINDOW: usize = 4096;
        let mut buf = Vec::with_capacity(WINDOW + 32);
        let mut at = 0usize;
        let mut out = Vec::with_capacity(tis.len());
        for &ti in tis {
            let off = self.l.tx_hash + 32 * ti as usize;
            if off < at || off + 32 > at + buf.len() {
                // The window holding the hash's first byte, plus the rest of a hash that starts in it.
                at = off / WINDOW * WINDOW;
                let end = (at + WINDOW + 32).min(self.l.total.max(off + 32));
                buf.resize(end - at, 0);
                self.read_hashes(file, at, &mut buf);
            }
            let mut h = [0u8; 32];
            h.copy_from_slice(&buf[off - at..off - at + 32]);
            out.push(TxHash(h));
        }
        out
    }

    /// Reads `buf.len()` bytes of the snapshot file at `off`, counting the read (see [`Graph::tx_hashes`] for
    /// why a failure panics).
    fn read_hashes(&self, file: &File, off: usize, buf: &mut [u8]) {
        if let Err(e) = read_exact_at(file, buf, off as u64) {
            panic!(
                "reading transaction hashes from the graph snapshot {} at byte {off}: {e} (the file must stay \
                 readable and unchanged while it is open)",
                self.what
            );
        }
        self.hash_reads.0.fetch_add(1, Ordering::Relaxed);
        self.hash_reads.1.fetch_add(buf.len() as u64, Ordering::Relaxed);
    }

    /// What reading transaction hashes from the snapshot file cost so far (zero for an in-memory graph).
    pub fn tx_hash_reads(&self) -> HashReads {
        HashReads {
            calls: self.hash_reads.0.load(Ordering::Relaxed),
            bytes: self.hash_reads.1.load(Ordering::Relaxed),
        }
    }

    /// The hash of a transaction index read from the image itself (through the mapping for a snapshot): for
    /// rebuilds that read every hash anyway.
    pub(crate) fn tx_hash_in_image(&self, ti: u32) -> [u8; 32] {
        let p = self.l.tx_hash + ti as usize * 32;
        let mut h = [0u8; 32];
        h.copy_from_slice(&self.b()[p..p + 32]);
        h
    }

    /// Seq range of a chain's transfers.
    pub fn chain_seqs(&self, chain: Chain) -> Range<Seq> {
        let ci = chain_index(chain);
        rd_u32(self.b(), self.l.chain_seq_start, ci)..rd_u32(self.b(), self.l.chain_seq_start, ci + 1)
    }

    /// Chains with at least one transfer.
    pub fn chains(&self) -> Vec<Chain> {
        Chain::ALL
            .into_iter()
            .filter(|c| !self.chain_seqs(*c).is_empty())
            .collect()
    }

    /// Block indexes of a chain's blocks (empty for a chain without any).
    fn chain_blocks(&self, chain: Chain) -> Range<u32> {
        let ci = chain_index(chain);
        let lo = rd_u32(self.b(), self.l.chain_block_start, ci);
        lo..rd_u32(self.b(), self.l.chain_block_start, ci + 1).max(lo)
    }

    /// Seq range of the transfers of block `number` of `chain` (empty when the graph holds none of that block).
    /// A binary search over the chain's block numbers.
    pub fn seqs_in_block(&self, chain: Chain, number: u64) -> Range<Seq> {
        let Range { start: bl, end: bh } = self.chain_blocks(chain);
        let bi = bl + partition_point(bh - bl, |i| self.block_number(bl + i) < number);
        if bi >= bh || self.block_number(bi) != number {
            let e = self.edge_count();
            return e..e;
        }
        let seqs = self.chain_seqs(chain);
        let r = self.block_seqs(bi);
        let clamp = |s: Seq| s.clamp(seqs.start, seqs.end.max(seqs.start));
        clamp(r.start)..clamp(r.end).max(clamp(r.start))
    }

    /// Seq range of a chain's transfers whose block time lies in `[since, until]` (both optional, inclusive).
    /// Assumes block times never decrease along a chain.
    pub fn seqs_in_time(&self, chain: Chain, since: Option<u64>, until: Option<u64>) -> Range<Seq> {
        let b = self.b();
        let Range { start: bl, end: bh } = self.chain_blocks(chain);
        let seqs = self.chain_seqs(chain);
        let first_seq_of = |bi: u32| {
            if bi >= bh {
                seqs.end
            } else {
                rd_u32(b, self.l.block_first_seq, bi as usize)
            }
        };
        let lo = match since {
            None => bl,
            Some(t) => bl + partition_point(bh - bl, |i| self.block_time(bl + i) < t),
        };
        let hi = match until {
            None => bh,
            Some(t) => bl + partition_point(bh - bl, |i| self.block_time(bl + i) <= t),
        };
        let clamp = |s: Seq| s.clamp(seqs.start, seqs.end);
        let (s, e) = (clamp(first_seq_of(lo)), clamp(first_seq_of(hi)));
        s..e.max(s)
    }
}

/// First index in `0..len` where `pred` is false (pred must be true then false).
pub(crate) fn partition_point(len: u32, mut pred: impl FnMut(u32) -> bool) -> u32 {
    let (mut lo, mut hi) = (0u32, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tx_bits_tests;
#[cfg(test)]
mod update_tests;

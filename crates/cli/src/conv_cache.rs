//! A cache of the conversion edges (swaps, wraps, bridge matches) next to the graph snapshot.
//!
//! Finding conversions reads every raw log and the transfers of the transactions that have one; on a
//! 10^7-transfer store that takes tens of seconds, so `trace` would spend them before its first answer on
//! every run. The edges are derived data, like the graph snapshot: they depend only on the stored rows, the
//! registries and this build. The cache file records a key made of the store's stamp (transfers and highest
//! block per chain, and the high-water mark: the same stamp the graph snapshot is checked against), the
//! contents of the user's bridge registry file, and the identity of the running executable (size and
//! modification time), so a rebuilt binary with other built-in registries or matching rules never reads an
//! older cache. Anything that does not match, fails its checksum or does not parse is ignored with a warning
//! and rebuilt; the file is written to a temporary file, synced and renamed into place.
//!
//! Layout (version 3), little-endian: magic (8), key (8), head length (8), the head, a checksum of everything
//! before it (8), then the edge records. The head holds the statistics and the edge count, an owner index
//! (one 28-byte entry per edge: chain id byte, owner, 3 pad bytes, edge index; sorted by chain, owner and
//! index) and, per edge, its record's offset and checksum. A trace opens the cache with [`open_lazy`]: it reads
//! the head only (43 MB for 971k edges) and then the records of the owners it meets, each checked against
//! its checksum, instead of decoding every edge (1.0-1.3 s at 10^7 transfers before). [`read`] decodes all.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chaintrace_analysis::conversions::{ConversionDetail, ConversionEdge, ConversionSet, ConversionStats};
use chaintrace_analysis::trace::ConversionSource;
use chaintrace_core::{Address, Asset, Chain, TxHash, U256};
use chaintrace_defi::bridge::MatchVerdict;
use chaintrace_defi::swap::ConversionKind;
use chaintrace_graph::{StoreStamp, checksum};

/// File name inside the data directory.
pub(crate) const CONVERSIONS_CACHE: &str = "conversions.cache";

const MAGIC: &[u8; 8] = b"CTCONV\x00\x03";
/// Bytes per owner index entry.
const OWNER_LEN: usize = 28;
/// Bytes before the head: magic, key, head length.
const PRE: usize = 24;

/// The cache key: store stamp, user registry file contents and the running executable.
pub(crate) fn cache_key(stamp: &StoreStamp, dir: &Path) -> u64 {
    let mut k: Vec<u8> = Vec::new();
    put_u64(&mut k, stamp.digest());
    match fs::read(dir.join(crate::cmd::bridges::BRIDGES_FILE)) {
        Ok(bytes) => {
            put_u64(&mut k, bytes.len() as u64);
            k.extend_from_slice(&bytes);
        }
        Err(_) => put_u64(&mut k, u64::MAX),
    }
    let now_nanos = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    };
    match std::env::current_exe().and_then(fs::metadata) {
        Ok(m) => {
            put_u64(&mut k, m.len());
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as u64);
            put_u64(&mut k, mtime);
        }
        // Without a known executable identity a cache could outlive a change of rules: never match.
        Err(_) => put_u64(&mut k, now_nanos()),
    }
    checksum(&k)
}

/// The head of a cache file: statistics, edge count, owner index and record table (see the module docs).
struct Head {
    stats: ConversionStats,
    n: usize,
    /// The head's bytes (the index and table are read in place).
    bytes: Vec<u8>,
    index_at: usize,
    table_at: usize,
    /// File offset of the first record.
    records_at: u64,
}

impl Head {
    fn u64_at(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().expect("8 bytes"))
    }
    /// Byte range of record `i` relative to the first record, and its checksum.
    fn record(&self, i: usize) -> (u64, u64, u64) {
        let off = self.table_at + 8 * i;
        let sums = self.table_at + 8 * (self.n + 1);
        (self.u64_at(off), self.u64_at(off + 8), self.u64_at(sums + 8 * i))
    }
    /// Bytes of all records: the end offset of the last (the table has `n + 1` offsets).
    fn records_len(&self) -> u64 {
        self.u64_at(self.table_at + 8 * self.n)
    }
    /// The owner index, one entry per edge.
    fn owners(&self) -> &[[u8; OWNER_LEN]] {
        self.bytes[self.index_at..self.table_at].as_chunks().0
    }
}

/// Reads and checks the head of the cache at `path`: `Ok(None)` when there is no file or it was made for
/// another key; `Err` says why it is not usable.
fn read_head(file: &mut File, path: &Path, key: u64, len: u64) -> Result<Option<Head>, String> {
    let bad = |what: &str| format!("{} {what}", path.display());
    let mut pre = [0u8; PRE];
    file.read_exact(&mut pre).map_err(|_| bad("is truncated"))?;
    if &pre[..8] != MAGIC {
        return Err(bad("is not a conversions cache of this version"));
    }
    if pre[8..16] != key.to_le_bytes() {
        return Ok(None);
    }
    let head_len = u64::from_le_bytes(pre[16..24].try_into().expect("8 bytes"));
    if head_len < 9 * 8 || head_len > len.saturating_sub(PRE as u64 + 8) {
        return Err(bad("is truncated"));
    }
    let mut bytes = vec![0u8; head_len as usize + 8];
    file.read_exact(&mut bytes).map_err(|_| bad("is truncated"))?;
    let sum = bytes.split_off(head_len as usize);
    let mut all = pre.to_vec();
    all.extend_from_slice(&bytes);
    if checksum(&all).to_le_bytes()[..] != sum[..] {
        return Err(bad("fails its checksum"));
    }
    let mut r = Reader { b: &bytes, at: 0 };
    let stats = ConversionStats {
        swaps: r.usize()?,
        bridge_deposits: r.usize()?,
        bridge_releases: r.usize()?,
        bridge_matched: r.usize()?,
        bridge_ambiguous: r.usize()?,
        bridge_candidate_edges: r.usize()?,
        bridge_unmatched: r.usize()?,
        bridge_unusable: r.usize()?,
    };
    let n = r.usize()?;
    let index_at = r.at;
    let table_at = n
        .checked_mul(OWNER_LEN)
        .and_then(|x| x.checked_add(index_at))
        .ok_or_else(|| bad("has a bad edge count"))?;
    let want = n.checked_mul(16).and_then(|x| x.checked_add(table_at + 8));
    if want != Some(bytes.len()) {
        return Err(bad("has a head of the wrong size"));
    }
    let records_at = PRE as u64 + head_len + 8;
    let head = Head {
        stats,
        n,
        bytes,
        index_at,
        table_at,
        records_at,
    };
    // The records must fill the rest of the file exactly.
    if records_at.checked_add(head.records_len()) != Some(len) {
        return Err(bad("is truncated or has trailing bytes"));
    }
    Ok(Some(head))
}

fn open(path: &Path) -> Result<Option<(File, u64)>, String> {
    match File::open(path) {
        Ok(f) => {
            let len = f
                .metadata()
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                .len();
            Ok(Some((f, len)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Decodes record `i` from its bytes, checking its checksum.
fn decode_record(head: &Head, i: usize, bytes: &[u8], path: &Path) -> Result<ConversionEdge, String> {
    let (_, _, sum) = head.record(i);
    if checksum(bytes) != sum {
        return Err(format!(
            "{} fails its checksum in edge record {i}",
            path.display()
        ));
    }
    let mut r = Reader { b: bytes, at: 0 };
    let e = r
        .edge()
        .map_err(|e| format!("{}: edge record {i}: {e}", path.display()))?;
    if r.at != bytes.len() {
        return Err(format!("{}: edge record {i} has trailing bytes", path.display()));
    }
    Ok(e)
}

/// Reads the whole cached set when the file exists and its key matches; `Err` carries why it was not usable
/// (missing file is `Ok(None)`). Tests compare it with what was written; traces use [`open_lazy`].
#[cfg(test)]
pub(crate) fn read(dir: &Path, key: u64) -> Result<Option<ConversionSet>, String> {
    let path = dir.join(CONVERSIONS_CACHE);
    let Some((mut file, len)) = open(&path)? else {
        return Ok(None);
    };
    let Some(head) = read_head(&mut file, &path, key, len)? else {
        return Ok(None);
    };
    let mut records = Vec::new();
    file.read_to_end(&mut records)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut edges = Vec::with_capacity(head.n);
    for i in 0..head.n {
        let (from, to, _) = head.record(i);
        let bytes = usize::try_from(from)
            .ok()
            .zip(usize::try_from(to).ok())
            .and_then(|(f, t)| records.get(f..t))
            .ok_or_else(|| format!("{}: edge record {i} out of range", path.display()))?;
        edges.push(decode_record(&head, i, bytes, &path)?);
    }
    Ok(Some(ConversionSet {
        edges,
        stats: head.stats,
    }))
}

/// A cache opened for a trace: the head in memory, each owner's records read from the file when asked for
/// ([`ConversionSource`]). A damaged record is not handed out; it is remembered ([`LazyConversions::damage`])
/// and the caller must not use a trace that ran while any was found.
pub(crate) struct LazyConversions {
    file: Mutex<File>,
    path: PathBuf,
    head: Head,
    damage: Mutex<Option<String>>,
}

/// Opens the cache for lookups by owner when the file exists and its key matches (reads the head only).
pub(crate) fn open_lazy(dir: &Path, key: u64) -> Result<Option<LazyConversions>, String> {
    let path = dir.join(CONVERSIONS_CACHE);
    let Some((mut file, len)) = open(&path)? else {
        return Ok(None);
    };
    Ok(
        read_head(&mut file, &path, key, len)?.map(|head| LazyConversions {
            file: Mutex::new(file),
            path,
            head,
            damage: Mutex::new(None),
        }),
    )
}

impl LazyConversions {
    /// Number of edges.
    pub(crate) fn len(&self) -> usize {
        self.head.n
    }

    /// What the conversion search found when the cache was written.
    pub(crate) fn stats(&self) -> &ConversionStats {
        &self.head.stats
    }

    /// Remembers the first damage a lookup met.
    fn note(&self, what: String) {
        if let Ok(mut d) = self.damage.lock() {
            d.get_or_insert(what);
        }
    }

    /// The first damaged record met by a lookup, if any.
    pub(crate) fn damage(&self) -> Option<String> {
        self.damage
            .lock()
            .map_or_else(|p| p.into_inner().clone(), |d| d.clone())
    }

    fn record(&self, i: usize) -> Result<ConversionEdge, String> {
        use std::io::{Seek, SeekFrom};
        let (from, to, _) = self.head.record(i);
        // Offsets come from a head that passed its checksum; still, never size a buffer from a bad one.
        if from > to || to > self.head.records_len() {
            return Err(format!("{}: edge record {i} out of range", self.path.display()));
        }
        let len = usize::try_from(to - from).map_err(|_| "record too large".to_string())?;
        let mut bytes = vec![0u8; len];
        let io = |e: std::io::Error| format!("cannot read {}: {e}", self.path.display());
        let mut file = self
            .file
            .lock()
            .map_err(|_| "conversions cache file lock poisoned".to_string())?;
        file.seek(SeekFrom::Start(self.head.records_at + from))
            .map_err(io)?;
        file.read_exact(&mut bytes).map_err(io)?;
        decode_record(&self.head, i, &bytes, &self.path)
    }
}

impl ConversionSource for LazyConversions {
    fn is_empty(&self) -> bool {
        self.head.n == 0
    }

    fn owned_by(&self, chain: Chain, owner: Address) -> Vec<(u32, ConversionEdge)> {
        let mut key = [0u8; 21];
        key[0] = chain_byte(chain);
        key[1..].copy_from_slice(owner.as_bytes());
        let h = &self.head;
        let owners = h.owners();
        let lo = owners.partition_point(|e| e[..21] < key[..]);
        let mut out = Vec::new();
        for (k, entry) in owners.iter().enumerate().skip(lo) {
            if entry[..21] != key[..] {
                break;
            }
            let i = u32::from_le_bytes(entry[24..28].try_into().expect("4 bytes"));
            let record = if (i as usize) < h.n {
                self.record(i as usize)
            } else {
                Err(format!(
                    "{}: owner index entry {k} out of range",
                    self.path.display()
                ))
            };
            match record {
                Ok(e) if (e.from_chain, e.owner) == (chain, owner) => out.push((i, e)),
                Ok(_) => self.note(format!(
                    "{}: owner index entry {k} names another owner",
                    self.path.display()
                )),
                Err(e) => self.note(e),
            }
        }
        out
    }
}

/// The index's chain byte: the chain's position in [`Chain::ALL`] (sorts like `Chain`).
fn chain_byte(chain: Chain) -> u8 {
    Chain::ALL
        .iter()
        .position(|&c| c == chain)
        .unwrap_or(Chain::ALL.len()) as u8
}

/// Writes the set under `key` (temporary file, synced, renamed into place). Errors are returned for the
/// caller to report as a warning: a cache that cannot be written only costs time.
pub(crate) fn write(dir: &Path, key: u64, set: &ConversionSet) -> std::io::Result<()> {
    let path = dir.join(CONVERSIONS_CACHE);
    let n = set.edges.len();
    let mut records = Vec::with_capacity(n * 256);
    let mut offsets = Vec::with_capacity(n + 1);
    let mut sums = Vec::with_capacity(n);
    for e in &set.edges {
        let from = records.len();
        offsets.push(from as u64);
        put_edge(&mut records, e);
        sums.push(checksum(&records[from..]));
    }
    offsets.push(records.len() as u64);
    let mut owners: Vec<([u8; 21], u32)> = set
        .edges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut k = [0u8; 21];
            k[0] = chain_byte(e.from_chain);
            k[1..].copy_from_slice(e.owner.as_bytes());
            (k, i as u32)
        })
        .collect();
    owners.sort_unstable();
    let mut head = Vec::with_capacity(9 * 8 + n * (OWNER_LEN + 24) + 8);
    let st = &set.stats;
    for v in [
        st.swaps,
        st.bridge_deposits,
        st.bridge_releases,
        st.bridge_matched,
        st.bridge_ambiguous,
        st.bridge_candidate_edges,
        st.bridge_unmatched,
        st.bridge_unusable,
        n,
    ] {
        put_u64(&mut head, v as u64);
    }
    for (k, i) in &owners {
        head.extend_from_slice(k);
        head.extend_from_slice(&[0u8; 3]);
        put_u32(&mut head, *i);
    }
    for v in offsets.iter().chain(&sums) {
        put_u64(&mut head, *v);
    }
    let mut pre = Vec::with_capacity(PRE + head.len() + 8);
    pre.extend_from_slice(MAGIC);
    pre.extend_from_slice(&key.to_le_bytes());
    put_u64(&mut pre, head.len() as u64);
    pre.extend_from_slice(&head);
    let sum = checksum(&pre);
    pre.extend_from_slice(&sum.to_le_bytes());
    let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&pre)?;
        f.write_all(&records)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

fn put_u64(w: &mut Vec<u8>, v: u64) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_asset(w: &mut Vec<u8>, a: &Asset) {
    match a {
        Asset::Native => w.push(0),
        Asset::Token(t) => {
            w.push(1);
            w.extend_from_slice(t.as_bytes());
        }
    }
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    put_u32(w, s.len() as u32);
    w.extend_from_slice(s.as_bytes());
}

fn put_edge(w: &mut Vec<u8>, e: &ConversionEdge) {
    put_u64(w, e.from_chain.chain_id());
    w.extend_from_slice(&e.from_tx.0);
    put_u64(w, e.from_block);
    put_u64(w, e.from_time);
    w.extend_from_slice(e.owner.as_bytes());
    put_asset(w, &e.asset_in);
    w.extend_from_slice(&e.amount_in.to_be_bytes::<32>());
    put_u64(w, e.to_chain.chain_id());
    w.extend_from_slice(&e.to_tx.0);
    put_u64(w, e.to_block);
    put_u64(w, e.to_time);
    w.extend_from_slice(e.recipient.as_bytes());
    put_asset(w, &e.asset_out);
    w.extend_from_slice(&e.amount_out.to_be_bytes::<32>());
    put_u32(w, e.via.len() as u32);
    for a in &e.via {
        w.extend_from_slice(a.as_bytes());
    }
    put_u32(w, e.evidence.len() as u32);
    for i in &e.evidence {
        put_u32(w, *i);
    }
    match &e.detail {
        ConversionDetail::Swap { kind } => {
            w.push(0);
            w.push(match kind {
                ConversionKind::SwapV2 => 0,
                ConversionKind::SwapV3 => 1,
                ConversionKind::Router => 2,
                ConversionKind::Wrap => 3,
                ConversionKind::Unwrap => 4,
            });
        }
        ConversionDetail::Bridge {
            bridge,
            verdict,
            confidence,
            reason,
        } => {
            w.push(1);
            put_str(w, bridge);
            w.push(match verdict {
                MatchVerdict::Matched => 0,
                MatchVerdict::Ambiguous => 1,
                MatchVerdict::Weak => 2,
                MatchVerdict::Unmatched => 3,
            });
            w.extend_from_slice(&confidence.to_bits().to_le_bytes());
            put_str(w, reason);
        }
    }
    w.push(u8::from(e.is_candidate));
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| format!("truncated at byte {}", self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes(s.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let s = self.take(8)?;
        Ok(u64::from_le_bytes(s.try_into().expect("8 bytes")))
    }

    fn usize(&mut self) -> Result<usize, String> {
        usize::try_from(self.u64()?).map_err(|_| format!("count too large at byte {}", self.at))
    }

    fn chain(&mut self) -> Result<Chain, String> {
        let id = self.u64()?;
        Chain::from_chain_id(id).ok_or_else(|| format!("unknown chain id {id} at byte {}", self.at))
    }

    fn address(&mut self) -> Result<Address, String> {
        Ok(Address::from_slice(self.take(20)?).expect("20 bytes"))
    }

    fn tx(&mut self) -> Result<TxHash, String> {
        Ok(TxHash::from_slice(self.take(32)?).expect("32 bytes"))
    }

    fn amount(&mut self) -> Result<U256, String> {
        Ok(U256::from_be_slice(self.take(32)?))
    }

    fn asset(&mut self) -> Result<Asset, String> {
        match self.u8()? {
            0 => Ok(Asset::Native),
            1 => Ok(Asset::Token(self.address()?)),
            t => Err(format!("bad asset tag {t} at byte {}", self.at)),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        let at = self.at;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| format!("bad text at byte {at}"))
    }

    fn edge(&mut self) -> Result<ConversionEdge, String> {
        let from_chain = self.chain()?;
        let from_tx = self.tx()?;
        let from_block = self.u64()?;
        let from_time = self.u64()?;
        let owner = self.address()?;
        let asset_in = self.asset()?;
        let amount_in = self.amount()?;
        let to_chain = self.chain()?;
        let to_tx = self.tx()?;
        let to_block = self.u64()?;
        let to_time = self.u64()?;
        let recipient = self.address()?;
        let asset_out = self.asset()?;
        let amount_out = self.amount()?;
        let nvia = self.u32()? as usize;
        let mut via = Vec::with_capacity(nvia.min(64));
        for _ in 0..nvia {
            via.push(self.address()?);
        }
        let nev = self.u32()? as usize;
        let mut evidence = Vec::with_capacity(nev.min(64));
        for _ in 0..nev {
            evidence.push(self.u32()?);
        }
        let detail = match self.u8()? {
            0 => ConversionDetail::Swap {
                kind: match self.u8()? {
                    0 => ConversionKind::SwapV2,
                    1 => ConversionKind::SwapV3,
                    2 => ConversionKind::Router,
                    3 => ConversionKind::Wrap,
                    4 => ConversionKind::Unwrap,
                    k => return Err(format!("bad swap kind {k} at byte {}", self.at)),
                },
            },
            1 => {
                let bridge = self.string()?;
                let verdict = match self.u8()? {
                    0 => MatchVerdict::Matched,
                    1 => MatchVerdict::Ambiguous,
                    2 => MatchVerdict::Weak,
                    3 => MatchVerdict::Unmatched,
                    v => return Err(format!("bad verdict {v} at byte {}", self.at)),
                };
                let confidence = f64::from_bits(self.u64()?);
                let reason = self.string()?;
                ConversionDetail::Bridge {
                    bridge,
                    verdict,
                    confidence,
                    reason,
                }
            }
            t => return Err(format!("bad detail tag {t} at byte {}", self.at)),
        };
        let is_candidate = match self.u8()? {
            0 => false,
            1 => true,
            v => return Err(format!("bad flag {v} at byte {}", self.at)),
        };
        Ok(ConversionEdge {
            from_chain,
            from_tx,
            from_block,
            from_time,
            owner,
            asset_in,
            amount_in,
            to_chain,
            to_tx,
            to_block,
            to_time,
            recipient,
            asset_out,
            amount_out,
            via,
            evidence,
            detail,
            is_candidate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(i: u8, bridge: bool) -> ConversionEdge {
        ConversionEdge {
            from_chain: Chain::Ethereum,
            from_tx: TxHash([i; 32]),
            from_block: 100 + u64::from(i),
            from_time: 1_700_000_000,
            owner: Address([i; 20]),
            asset_in: Asset::Native,
            amount_in: U256::from(10u64).pow(U256::from(30u64)) + U256::from(i),
            to_chain: if bridge { Chain::Bsc } else { Chain::Ethereum },
            to_tx: TxHash([i.wrapping_add(1); 32]),
            to_block: 7,
            to_time: 1_700_000_100,
            recipient: Address([9; 20]),
            asset_out: Asset::Token(Address([3; 20])),
            amount_out: U256::MAX,
            via: vec![Address([5; 20]), Address([6; 20])],
            evidence: vec![1, 2, u32::MAX],
            detail: if bridge {
                ConversionDetail::Bridge {
                    bridge: "multichain".to_string(),
                    verdict: MatchVerdict::Ambiguous,
                    confidence: 0.625,
                    reason: "amount and time window ✓".to_string(),
                }
            } else {
                ConversionDetail::Swap {
                    kind: ConversionKind::SwapV3,
                }
            },
            is_candidate: bridge,
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let dir = tempfile::tempdir().expect("tempdir");
        let set = ConversionSet {
            edges: (0..50).map(|i| edge(i, i % 3 == 0)).collect(),
            stats: ConversionStats {
                swaps: 33,
                bridge_deposits: 17,
                bridge_matched: 4,
                ..ConversionStats::default()
            },
        };
        write(dir.path(), 42, &set).expect("write");
        assert_eq!(read(dir.path(), 42).expect("read"), Some(set.clone()));
        // Another key (store changed, registry changed, new binary): not used.
        assert_eq!(read(dir.path(), 43).expect("read"), None);
        assert!(open_lazy(dir.path(), 43).expect("open").is_none());
        // Missing file: nothing, no error.
        let empty = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(empty.path(), 42).expect("read"), None);
        assert!(open_lazy(empty.path(), 42).expect("open").is_none());
        // Opened for a trace: each owner's edges, with their indices, and nothing for other addresses.
        let lazy = open_lazy(dir.path(), 42).expect("open").expect("key matches");
        assert_eq!(lazy.len(), set.edges.len());
        assert_eq!(lazy.stats(), &set.stats);
        for e in &set.edges {
            let want: Vec<(u32, ConversionEdge)> = (set.edges.iter().enumerate())
                .filter(|(_, x)| (x.from_chain, x.owner) == (e.from_chain, e.owner))
                .map(|(i, x)| (i as u32, x.clone()))
                .collect();
            assert_eq!(lazy.owned_by(e.from_chain, e.owner), want);
            assert!(
                lazy.owned_by(Chain::Bsc, e.owner).is_empty(),
                "owner on another chain"
            );
        }
        assert!(lazy.owned_by(Chain::Ethereum, Address([0xee; 20])).is_empty());
        assert_eq!(lazy.damage(), None);
        drop(lazy);
        let path = dir.path().join(CONVERSIONS_CACHE);
        let good = fs::read(&path).expect("read back");
        // A flipped byte in the head fails its checksum at open; a wrong magic is another format.
        let head_len = u64::from_le_bytes(good[16..24].try_into().expect("8 bytes")) as usize;
        for at in [16, PRE, PRE + 40, PRE + head_len / 2, PRE + head_len + 3] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            fs::write(&path, &bad).expect("write bad");
            let err = read(dir.path(), 42).expect_err("corrupt cache must be refused");
            assert!(err.contains("checksum"), "{err}");
            assert!(open_lazy(dir.path(), 42).is_err());
        }
        let mut bad = good.clone();
        bad[0] ^= 0x40;
        fs::write(&path, &bad).expect("write bad");
        assert!(read(dir.path(), 42).expect_err("wrong magic").contains("version"));
        // A flipped byte in the last record: `read` refuses the file; a trace opening it gets the other
        // owners' edges and is told of the damage when it asks for that owner.
        let mut bad = good.clone();
        let last = bad.len() - 2;
        bad[last] ^= 0x40;
        fs::write(&path, &bad).expect("write bad");
        let err = read(dir.path(), 42).expect_err("a damaged record must be refused");
        assert!(err.contains("checksum in edge record 49"), "{err}");
        let lazy = open_lazy(dir.path(), 42)
            .expect("open")
            .expect("the head is intact");
        let e0 = &set.edges[0];
        assert!(!lazy.owned_by(e0.from_chain, e0.owner).is_empty());
        assert_eq!(lazy.damage(), None);
        let e49 = &set.edges[49];
        assert!(lazy.owned_by(e49.from_chain, e49.owner).is_empty());
        assert!(lazy.damage().expect("damage noted").contains("edge record 49"));
        // Truncated or extended: refused at open.
        fs::write(&path, &good[..good.len() - 1]).expect("write truncated");
        assert!(read(dir.path(), 42).is_err());
        assert!(open_lazy(dir.path(), 42).is_err());
        let mut longer = good.clone();
        longer.push(0);
        fs::write(&path, &longer).expect("write longer");
        assert!(open_lazy(dir.path(), 42).is_err());
        fs::write(&path, &good[..good.len() / 3]).expect("write truncated");
        assert!(read(dir.path(), 42).is_err());
        // An empty set round-trips too.
        write(dir.path(), 42, &ConversionSet::default()).expect("write");
        assert_eq!(
            read(dir.path(), 42).expect("read"),
            Some(ConversionSet::default())
        );
        assert!(
            open_lazy(dir.path(), 42)
                .expect("open")
                .expect("matches")
                .is_empty()
        );
    }

    #[test]
    fn key_follows_stamp_and_registry_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut stamp = StoreStamp::default();
        let k0 = cache_key(&stamp, dir.path());
        assert_eq!(k0, cache_key(&stamp, dir.path()), "same inputs, same key");
        stamp.chains[0].transfers = 1;
        let k1 = cache_key(&stamp, dir.path());
        assert_ne!(k0, k1);
        // An unwind regrown to the same counts and blocks differs only in the row at the high-water mark.
        let mut regrown = stamp;
        regrown.high_water_digest ^= 1;
        assert_ne!(
            k1,
            cache_key(&regrown, dir.path()),
            "the high-water mark is part of the key"
        );
        fs::write(
            dir.path().join(crate::cmd::bridges::BRIDGES_FILE),
            "chain,address\n",
        )
        .expect("write");
        assert_ne!(k1, cache_key(&stamp, dir.path()));
    }
}

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
//! and rebuilt; the file is written to a temp file and renamed into place (`cache_file`).

use std::fs;
use std::path::Path;

use chaintrace_analysis::conversions::{ConversionDetail, ConversionEdge, ConversionSet, ConversionStats};
use chaintrace_core::{Address, Asset, Chain, TxHash, U256};
use chaintrace_defi::bridge::MatchVerdict;
use chaintrace_defi::swap::ConversionKind;
use chaintrace_graph::{StoreStamp, checksum};

use crate::cache_file;

/// File name inside the data directory.
pub(crate) const CONVERSIONS_CACHE: &str = "conversions.cache";

const MAGIC: &[u8; 8] = b"CTCONV\x00\x02";

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

/// Reads the cached set when the file exists and its key matches; `Err` carries why it was not usable
/// (missing file is `Ok(None)`).
pub(crate) fn read(dir: &Path, key: u64) -> Result<Option<ConversionSet>, String> {
    cache_file::read(
        &dir.join(CONVERSIONS_CACHE),
        MAGIC,
        "conversions cache",
        key,
        |payload| {
            let mut r = Reader { b: payload, at: 0 };
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
            let mut edges = Vec::with_capacity(n.min(payload.len() / 100));
            for _ in 0..n {
                edges.push(r.edge()?);
            }
            if r.at != payload.len() {
                return Err("trailing bytes".to_string());
            }
            Ok(ConversionSet { edges, stats })
        },
    )
}

/// Writes the set under `key` (temp file + rename). Errors are returned for the caller to report as a
/// warning: a cache that cannot be written only costs time.
pub(crate) fn write(dir: &Path, key: u64, set: &ConversionSet) -> std::io::Result<()> {
    let path = dir.join(CONVERSIONS_CACHE);
    cache_file::write(&path, MAGIC, key, 64 + set.edges.len() * 256, |w| {
        let s = &set.stats;
        for v in [
            s.swaps,
            s.bridge_deposits,
            s.bridge_releases,
            s.bridge_matched,
            s.bridge_ambiguous,
            s.bridge_candidate_edges,
            s.bridge_unmatched,
            s.bridge_unusable,
            set.edges.len(),
        ] {
            put_u64(w, v as u64);
        }
        for e in &set.edges {
            put_edge(w, e);
        }
    })
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
        // Missing file: nothing, no error.
        let empty = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(empty.path(), 42).expect("read"), None);
        // A flipped byte anywhere fails the checksum; a truncated file is reported.
        let path = dir.path().join(CONVERSIONS_CACHE);
        let good = fs::read(&path).expect("read back");
        for at in [0, 9, good.len() / 2, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            fs::write(&path, &bad).expect("write bad");
            let err = read(dir.path(), 42).expect_err("corrupt cache must be refused");
            assert!(err.contains("checksum"), "{err}");
        }
        fs::write(&path, &good[..good.len() / 3]).expect("write truncated");
        assert!(read(dir.path(), 42).is_err());
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

//! The transaction-start bitmap with its rank directory and select table: `tx_index` / `tx_seqs` against a
//! plain vector of first seqs, at sizes around word (64), rank-entry (256), select-entry (256 transactions)
//! and larger boundaries; damage to the bitmap or its tables is refused by `verify` and never panics.

use chaintrace_core::{Asset, Chain, Position, TxHash, U256};
use proptest::prelude::*;

use super::*;
use crate::tests::transfer;

/// A graph of one chain whose transactions have the given sizes, in order: transaction `i` has hash `i`
/// (big-endian, so hash order is creation order) and a new block starts every `per_block` transactions.
/// Returns the graph and the first seq of every transaction.
fn graph_of(sizes: &[u32], per_block: usize) -> (Graph, Vec<u32>) {
    let mut ts = Vec::new();
    let mut firsts = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        firsts.push(ts.len() as u32);
        let mut hash = [0u8; 32];
        hash[..4].copy_from_slice(&(i as u32).to_be_bytes());
        let block = 1 + (i / per_block.max(1)) as u64;
        for p in 0..n {
            let from = (i % 7) as u8;
            let to = (p % 5) as u8 + 10;
            let mut t = transfer(
                Chain::Ethereum,
                block,
                0,
                Position::Log(p),
                from,
                to,
                Asset::Native,
                U256::from(1u64),
            );
            t.tx_hash = TxHash(hash);
            ts.push(t);
        }
    }
    let g = Graph::from_transfers(ts, StoreStamp::default()).expect("build");
    (g, firsts)
}

/// Checks every seq and transaction index (and a few past the ends) against the plain first-seq vector.
fn check_against_plain(g: &Graph, firsts: &[u32]) {
    let e = g.edge_count();
    assert_eq!(g.l.counts.txs, firsts.len() as u64, "transaction count");
    for seq in 0..e + 3 {
        let s = seq.min(e.saturating_sub(1));
        let want = firsts.partition_point(|&f| f <= s).saturating_sub(1) as u32;
        assert_eq!(g.tx_index(seq), want, "tx_index({seq}) of {e} seqs");
        let range = match firsts.get(want as usize) {
            Some(&f) => f..firsts.get(want as usize + 1).copied().unwrap_or(e),
            None => e..e,
        };
        assert_eq!(g.tx_at(seq), (want, range), "tx_at({seq}) of {e} seqs");
        assert_eq!(
            g.is_tx_start(seq),
            firsts.binary_search(&seq).is_ok(),
            "start bit {seq}"
        );
    }
    assert_eq!(g.tx_index(u32::MAX), (firsts.len() as u32).saturating_sub(1));
    assert_eq!(g.tx_at(u32::MAX).0, g.tx_index(u32::MAX));
    for ti in 0..firsts.len() as u32 + 3 {
        let want = match firsts.get(ti as usize) {
            Some(&f) => f..firsts.get(ti as usize + 1).copied().unwrap_or(e),
            None => e..e,
        };
        assert_eq!(g.tx_seqs(ti), want, "tx_seqs({ti}) of {} txs", firsts.len());
    }
    assert_eq!(g.tx_seqs(u32::MAX), e..e);
}

/// Transaction sizes: `txs` transactions whose sizes come from `pattern` (cycled), 0 meaning "long" (70, over
/// a word).
fn sizes(txs: usize, pattern: &[u32]) -> Vec<u32> {
    (0..txs)
        .map(|i| match pattern[i % pattern.len()] {
            0 => 70,
            n => n,
        })
        .collect()
}

#[test]
fn tx_tables_match_a_plain_vector_at_word_and_directory_boundaries() {
    // One transfer per transaction: every bit set, so the edge count and the transaction count both sit
    // on the boundary.
    for n in [
        1usize, 2, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513, 767, 768, 769, 1025,
    ] {
        let (g, firsts) = graph_of(&sizes(n, &[1]), 3);
        check_against_plain(&g, &firsts);
        assert!(g.verify().is_ok());
    }
    // Edge counts on word and directory boundaries with transactions of mixed sizes, and transactions longer
    // than a word or a whole rank entry.
    for (n, pattern) in [
        (64u32, &[1u32, 2, 3][..]),
        (256, &[2, 1, 5, 1]),
        (512, &[0, 1, 1, 3]),
        (513, &[300, 1, 2]),
        (1024, &[63, 64, 65, 1]),
    ] {
        for extra in [-1i64, 0, 1] {
            let target = (i64::from(n) + extra) as u32;
            let mut s = Vec::new();
            let mut total = 0;
            let mut i = 0;
            while total < target {
                let x = match pattern[i % pattern.len()] {
                    0 => 70,
                    x => x,
                }
                .min(target - total);
                s.push(x);
                total += x;
                i += 1;
            }
            let (g, firsts) = graph_of(&s, 4);
            assert_eq!(g.edge_count(), target);
            check_against_plain(&g, &firsts);
        }
    }
    // No transfers at all.
    let (g, firsts) = graph_of(&[], 1);
    check_against_plain(&g, &firsts);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn tx_index_and_tx_seqs_match_a_plain_vector(
        txs in prop_oneof![
            Just(63usize), Just(64), Just(65), Just(255), Just(256), Just(257), Just(511), Just(512), Just(513),
            1usize..1_200,
        ],
        pattern in prop::collection::vec(prop_oneof![4 => 1u32..4, 1 => 60u32..70, 1 => Just(257u32)], 1..8),
        per_block in 1usize..40,
    ) {
        let s = sizes(txs, &pattern);
        let (g, firsts) = graph_of(&s, per_block);
        check_against_plain(&g, &firsts);
    }
}

#[test]
fn select_in_word_finds_every_set_bit() {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..200 {
        let mut pos = Vec::new();
        for i in 0..64 {
            if x >> i & 1 == 1 {
                pos.push(i);
            }
        }
        for (r, &p) in pos.iter().enumerate() {
            assert_eq!(format::select_in_word(x, r as u32), p, "bit {r} of {x:#x}");
        }
        assert_eq!(format::select_in_word(x, pos.len() as u32), 64);
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x &= x.rotate_left(17) | x.rotate_left(5); // vary the density
    }
    assert_eq!(format::select_in_word(u64::MAX, 63), 63);
    assert_eq!(format::select_in_word(0, 0), 64);
}

/// Every transaction accessor on every seq and index, on a possibly damaged image: stays in range.
fn sweep_tx(g: &Graph) {
    let (e, nt) = (g.edge_count(), g.l.counts.txs as u32);
    for seq in 0..e + 2 {
        let ti = g.tx_index(seq);
        assert!(ti < nt.max(1));
        let (tj, r) = g.tx_at(seq);
        assert!(tj < nt.max(1) && r.start <= r.end && r.end <= e, "{tj} {r:?}");
        let r = g.tx_seqs(ti);
        assert!(r.start <= r.end && r.end <= e, "{r:?}");
    }
    for ti in 0..nt + 2 {
        let r = g.tx_seqs(ti);
        assert!(r.start <= r.end && r.end <= e, "{r:?}");
    }
}

#[test]
fn damaged_tx_bitmap_or_tables_are_refused_by_verify_and_never_panic() {
    let (g, _) = graph_of(&sizes(900, &[1, 2, 0, 1, 3]), 5);
    let good = match &g.bytes {
        Bytes::Owned(v) => v.clone(),
        Bytes::Mapped { .. } => unreachable!("a built graph is in memory"),
    };
    let l = g.l;
    let words = format::tx_bit_words(l.counts.edges) as usize;
    assert!(words > 8 && format::tx_rank_len(l.counts.edges) > 2 && l.counts.txs > 512);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("graph.snapshot");
    let check = |edit: &dyn Fn(&mut Vec<u8>), needle: &str| {
        let mut b = good.clone();
        edit(&mut b);
        format::write_header(&mut b, &l); // valid checksums: only the structural checks can see it
        std::fs::write(&path, &b).expect("write");
        let g = Graph::open(&path).expect("checksums are valid");
        sweep_tx(&g);
        let err = g.verify().expect_err("damage must be seen").to_string();
        assert!(err.contains(needle), "error {err:?} should mention {needle:?}");
    };
    let word = |b: &[u8], w: usize| format::rd_u64(b, l.tx_bits, w);
    // One bitmap word changed (bit count off): the count check.
    for w in [0, 1, words / 2, words - 1] {
        check(
            &|b| {
                let x = word(b, w);
                format::wr_u64(b, l.tx_bits, w, x ^ 0x10)
            },
            "transaction starts",
        );
    }
    // Seq 0 not a start.
    check(
        &|b| {
            let x = word(b, 0);
            format::wr_u64(b, l.tx_bits, 0, x & !1);
            let y = word(b, 3);
            format::wr_u64(b, l.tx_bits, 3, y | (1 << 40) | (1 << 41));
        },
        "seq 0",
    );
    // A bit past the last seq.
    let tail = (l.counts.edges % 64) as u32;
    assert!(tail != 0, "the test graph must end inside a word");
    check(
        &|b| {
            let x = word(b, words - 1);
            format::wr_u64(b, l.tx_bits, words - 1, x | (1 << 63));
        },
        "past the last seq",
    );
    // A start moved to another word (same count): the rank directory no longer matches.
    check(
        &|b| {
            let (x, y) = (word(b, 1), word(b, 6));
            let set = x & x.wrapping_neg(); // lowest set bit of word 1
            let unset = !y & (!y).wrapping_neg(); // lowest clear bit of word 6
            assert!(set != 0 && unset != 0);
            format::wr_u64(b, l.tx_bits, 1, x & !set);
            format::wr_u64(b, l.tx_bits, 6, y | unset);
        },
        "rank directory",
    );
    // A block's first transfer no longer a start, its bit moved within the word (count and directory
    // unchanged): the transaction would span two blocks.
    let f = format::rd_u32(&good, l.block_first_seq, 3) as usize;
    check(
        &|b| {
            let w = f / 64;
            let x = word(b, w) & !(1u64 << (f % 64));
            let free = (0..64)
                .find(|&i| x >> i & 1 == 0 && i != f % 64)
                .expect("a clear bit");
            format::wr_u64(b, l.tx_bits, w, x | (1 << free));
        },
        "spans two blocks",
    );
    // A rank directory entry changed: absolute count, a relative count, the top byte.
    for (d, delta) in [(1usize, 1u64), (2, 1 << 32), (2, 1 << 48), (1, 1 << 60)] {
        check(
            &|b| {
                let x = format::rd_u64(b, l.tx_rank, d);
                format::wr_u64(b, l.tx_rank, d, x ^ delta);
            },
            "rank directory",
        );
    }
    check(&|b| format::wr_u64(b, l.tx_rank, 1, u64::MAX), "rank directory");
    // A select entry changed.
    for (k, v) in [(1usize, 0u32), (2, u32::MAX), (0, 1)] {
        check(&|b| format::wr_u32(b, l.tx_select, k, v), "select table");
    }
}

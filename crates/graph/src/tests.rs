use chaintrace_core::{Address, Asset, Chain, Position, Transfer, TransferKind, TxHash, U256};
use proptest::prelude::*;

use std::ops::Range;

use super::*;

fn addr(i: u8) -> Address {
    Address([i; 20])
}

fn tx(i: u8) -> TxHash {
    TxHash([i; 32])
}

/// A transfer of addresses `from`/`to` (`[i; 20]`) in transaction `[txi; 32]` (also used by `tx_bits_tests`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn transfer(
    chain: Chain,
    block: u64,
    txi: u8,
    pos: Position,
    from: u8,
    to: u8,
    asset: Asset,
    amount: U256,
) -> Transfer {
    Transfer {
        chain,
        block,
        timestamp: 1_000 + block * 10,
        tx_hash: tx(txi),
        position: pos,
        from: addr(from),
        to: addr(to),
        asset,
        amount,
        kind: TransferKind::Native,
        tx_from: addr(from),
        tx_fee: U256::ZERO,
        gas_price: U256::ZERO,
    }
}

fn sample() -> Vec<Transfer> {
    let token = Asset::Token(addr(99));
    vec![
        transfer(
            Chain::Ethereum,
            5,
            2,
            Position::Tx,
            1,
            2,
            Asset::Native,
            U256::from(10u64),
        ),
        transfer(
            Chain::Ethereum,
            3,
            1,
            Position::Tx,
            1,
            3,
            Asset::Native,
            U256::from(7u64),
        ),
        transfer(
            Chain::Ethereum,
            5,
            2,
            Position::Trace(vec![0]),
            2,
            3,
            Asset::Native,
            U256::from(4u64),
        ),
        transfer(Chain::Ethereum, 6, 3, Position::Log(4), 3, 1, token, U256::MAX),
        transfer(
            Chain::Bsc,
            6,
            4,
            Position::Tx,
            1,
            2,
            Asset::Native,
            U256::from(1u64) << 200,
        ),
    ]
}

fn build(ts: Vec<Transfer>) -> Graph {
    Graph::from_transfers(ts, StoreStamp::default()).expect("build")
}

/// An edge as compared in these tests: chain, from, to, asset, amount, block, time, tx hash.
type EdgeRow = (Chain, Address, Address, Asset, U256, u64, u64, TxHash);

fn edge_set(g: &Graph) -> Vec<EdgeRow> {
    let mut v: Vec<_> = (0..g.edge_count())
        .map(|e| {
            let i = g.edge_info(e);
            (
                i.chain, i.from, i.to, i.asset, i.amount, i.block, i.time, i.tx_hash,
            )
        })
        .collect();
    v.sort();
    v
}

fn input_set(ts: &[Transfer]) -> Vec<EdgeRow> {
    let mut v: Vec<_> = ts
        .iter()
        .map(|t| {
            (
                t.chain,
                t.from,
                t.to,
                t.asset,
                t.amount,
                t.block,
                t.timestamp,
                t.tx_hash,
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn nodes_are_per_chain_and_edges_sorted_by_time() {
    let g = build(sample());
    assert_eq!(g.edge_count(), 5);
    // Address 1 exists on two chains: two nodes.
    let a1 = g.node(Chain::Ethereum, addr(1)).expect("node");
    let b1 = g.node(Chain::Bsc, addr(1)).expect("node");
    assert_ne!(a1, b1);
    assert_eq!(g.node_key(b1), (Chain::Bsc, addr(1)));
    assert!(g.node(Chain::Polygon, addr(1)).is_none());
    assert!(g.node(Chain::Ethereum, addr(77)).is_none());
    // Out-edges of 1 on ethereum: block 3 then block 5.
    let outs: Vec<_> = g.out_edges(a1).map(|e| g.edge_info(e)).collect();
    assert_eq!(outs.iter().map(|i| i.block).collect::<Vec<_>>(), vec![3, 5]);
    assert!(outs.windows(2).all(|w| w[0].seq < w[1].seq));
    for e in g.out_edges(a1) {
        assert_eq!(g.edge_src(e), a1);
    }
    // In-edges of 3: block 3 (from 1), then block 5 tx value before the internal call.
    let n3 = g.node(Chain::Ethereum, addr(3)).expect("node");
    let ins: Vec<_> = g.in_edges(n3).map(|e| g.edge_info(e)).collect();
    assert_eq!(
        ins.iter().map(|i| (i.block, i.from)).collect::<Vec<_>>(),
        vec![(3, addr(1)), (5, addr(2))]
    );
    // Same transaction: tx value ranks before its internal call.
    let n2 = g.node(Chain::Ethereum, addr(2)).expect("node");
    let into2 = g.in_edges(n2).next().expect("edge");
    let out2 = g.out_edges(n2).next().expect("edge");
    assert!(g.edge_seq(into2) < g.edge_seq(out2));
    assert_eq!(g.tx_index(g.edge_seq(into2)), g.tx_index(g.edge_seq(out2)));
    assert_eq!(edge_set(&g), input_set(&sample()));
}

#[test]
fn amounts_of_2_pow_128_and_more_are_exact() {
    let g = build(sample());
    let amounts: Vec<U256> = (0..g.edge_count()).map(|e| g.edge_amount(e)).collect();
    assert!(amounts.contains(&U256::MAX));
    assert!(amounts.contains(&(U256::from(1u64) << 200)));
    assert!(amounts.contains(&U256::from(7u64)));
}

#[test]
fn amounts_are_exact_across_the_slot_wide_and_overflow_tiers() {
    let one = U256::from(1u64);
    let amounts = [
        U256::ZERO,
        U256::from(7u64),
        (one << 63) - one,
        one << 63,
        U256::from(u64::MAX),
        (one << 127) + U256::from(12_345u64),
        U256::from(u128::MAX - 1),
        U256::from(u128::MAX),
        one << 128,
        U256::MAX,
    ];
    let ts: Vec<Transfer> = amounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let i = i as u8;
            transfer(
                Chain::Ethereum,
                u64::from(i),
                i,
                Position::Tx,
                i,
                i + 1,
                Asset::Native,
                *a,
            )
        })
        .collect();
    let g = build(ts.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("g");
    g.save(&path).expect("save");
    let m = Graph::open_verified(&path).expect("open");
    for g in [&g, &m] {
        assert_eq!(edge_set(g), input_set(&ts));
        // Four amounts of 2^63 .. 2^128 - 2 in the wide table, plus u128::MAX and up via the overflow table.
        assert_eq!(g.l.counts.wide, 7);
        assert_eq!(g.l.counts.overflow, 3);
        // Wide entries follow edge order (locality when a node's out-edges are scanned).
        let slots: Vec<u64> = (0..g.edge_count())
            .map(|e| format::rd_u64(g.b(), g.l.edge_amount, e as usize))
            .filter(|s| s & format::AMOUNT_WIDE != 0)
            .map(|s| s & !format::AMOUNT_WIDE)
            .collect();
        assert_eq!(slots, (0..7).collect::<Vec<u64>>());
        // The slot-only checks agree with the full amount at every tier boundary.
        for e in 0..g.edge_count() {
            let a = g.edge_amount(e);
            assert_eq!(g.edge_amount_is_zero(e), a.is_zero(), "edge {e}");
            let narrow = g.edge_amount_narrow(e);
            assert_eq!(narrow.is_some(), a < one << 63, "edge {e}");
            assert!(narrow.is_none_or(|v| U256::from(v) == a), "edge {e}");
            for min in amounts.iter().chain([&(one << 64), &U256::from(u128::MAX - 2)]) {
                assert_eq!(
                    g.edge_amount_below(e, *min),
                    a < *min,
                    "edge {e} amount {a} min {min}"
                );
            }
        }
    }
}

#[test]
fn time_window_maps_to_seq_ranges() {
    let g = build(sample());
    let all = g.chain_seqs(Chain::Ethereum);
    assert_eq!(all.len(), 4);
    // Blocks 3, 5, 6 have times 1030, 1050, 1060.
    let r = g.seqs_in_time(Chain::Ethereum, Some(1040), Some(1055));
    let blocks: Vec<u64> = r.clone().map(|s| g.block_number(g.block_index(s))).collect();
    assert_eq!(blocks, vec![5, 5]);
    assert!(g.seqs_in_time(Chain::Ethereum, Some(2000), None).is_empty());
    assert_eq!(g.seqs_in_time(Chain::Ethereum, None, None), all);
    assert_eq!(g.chains(), vec![Chain::Ethereum, Chain::Bsc]);
}

#[test]
fn asset_ids_round_trip() {
    let g = build(sample());
    let token = Asset::Token(addr(99));
    let id = g.asset_id(Chain::Ethereum, token).expect("token interned");
    assert_eq!(g.asset(id), (Chain::Ethereum, token));
    assert!(g.asset_id(Chain::Bsc, token).is_none());
    assert!(g.asset_id(Chain::Bsc, Asset::Native).is_some());
}

#[test]
fn snapshot_round_trips_through_mmap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("graph.snapshot");
    let stamp = StoreStamp {
        chains: [
            ChainStamp {
                transfers: 4,
                max_block: 6,
            },
            ChainStamp {
                transfers: 1,
                max_block: 6,
            },
            Default::default(),
            Default::default(),
            Default::default(),
            Default::default(),
        ],
        high_water: 7,
        high_water_digest: 0xdead_beef,
    };
    let g = Graph::from_transfers(sample(), stamp).expect("build");
    g.save(&path).expect("save");
    let m = Graph::open(&path).expect("open");
    assert!(m.is_mapped());
    // Read-ahead runs on a mapped snapshot only, and is done with it while the graph stays usable.
    assert!(g.prefetch_in_background().is_none());
    let prefetch = m
        .prefetch_in_background()
        .expect("a mapped snapshot gets read-ahead");
    prefetch.join().expect("read-ahead thread");
    assert_eq!(m.stamp(), stamp);
    assert_eq!(edge_set(&m), edge_set(&g));
    for n in 0..g.node_count() {
        assert_eq!(m.node_key(n), g.node_key(n));
        assert_eq!(m.out_edges(n), g.out_edges(n));
        assert_eq!(
            m.in_edges(n).collect::<Vec<_>>(),
            g.in_edges(n).collect::<Vec<_>>()
        );
    }
}

/// Calls every accessor on every id the graph hands out and checks each returned id is in range: what a
/// caller can do with a graph must not panic, whatever bytes the snapshot holds.
fn sweep(g: &Graph) {
    let (n, e, a) = (g.node_count(), g.edge_count(), g.asset_count());
    let in_edges = |r: Range<u32>| assert!(r.start <= r.end && r.end <= e, "range {r:?} outside 0..={e}");
    for v in 0..n {
        let (chain, address) = g.node_key(v);
        assert_eq!(g.node_chain(v), chain);
        let _ = g.node(chain, address);
        in_edges(g.out_edges(v));
        in_edges(g.in_edge_slots(v));
        for x in g.out_edges(v).chain(g.in_edges(v)) {
            assert!(x < e);
        }
    }
    for x in 0..e {
        assert!(g.edge_src(x) < n && g.edge_dst(x) < n && g.edge_asset(x) < a && g.edge_seq(x) < e);
        assert!(g.in_edge_at(x) < e);
        let info = g.edge_info(x);
        let _ = g.asset_id(info.chain, info.asset);
        let _ = (
            g.block_seqs(g.block_index(info.seq)),
            g.tx_seqs(g.tx_index(info.seq)),
        );
        in_edges(g.block_seqs(g.block_index(x)));
        in_edges(g.tx_seqs(g.tx_index(x)));
    }
    for id in 0..a {
        let (chain, asset) = g.asset(id);
        let _ = g.asset_id(chain, asset);
    }
    for c in Chain::ALL {
        let all = g.chain_seqs(c);
        in_edges(all.clone());
        for (since, until) in [
            (None, None),
            (Some(1_040), Some(1_055)),
            (Some(0), Some(u64::MAX)),
        ] {
            let r = g.seqs_in_time(c, since, until);
            assert!(r.start >= all.start && r.end <= all.end && r.start <= r.end);
        }
    }
    let _ = (g.chains(), g.stamp(), g.section_sizes());
}

/// A larger graph than `sample()`, so that every section spans many bytes.
fn medium() -> Vec<Transfer> {
    let mut ts = sample();
    for i in 0..200u32 {
        let mut t = transfer(
            Chain::ALL[(i % 3) as usize],
            u64::from(i / 4),
            (i % 50) as u8,
            Position::Log(i),
            (i % 17) as u8,
            (i * 7 % 23) as u8,
            if i % 5 == 0 {
                Asset::Token(addr(100 + (i % 4) as u8))
            } else {
                Asset::Native
            },
            U256::from(i) << (i % 140),
        );
        t.tx_hash = TxHash([(i / 3) as u8; 32]);
        t.tx_hash.0[1] = (i / 4) as u8;
        ts.push(t);
    }
    ts
}

#[test]
fn corrupt_snapshots_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("graph.snapshot");
    build(medium()).save(&path).expect("save");
    let good = std::fs::read(&path).expect("read");
    Graph::open_verified(&path).expect("a saved snapshot verifies");

    // Damage that `open` itself must refuse: it reads only the header and the per-chain tables.
    let expect_open_err = |bytes: &[u8], needle: &str| {
        std::fs::write(&path, bytes).expect("write");
        let err = Graph::open(&path)
            .expect_err("corrupt file must not open")
            .to_string();
        assert!(err.contains(needle), "error {err:?} should mention {needle:?}");
        assert!(
            err.contains("graph.snapshot"),
            "error {err:?} should name the file"
        );
    };
    expect_open_err(&good[..good.len() - 8], "length");
    expect_open_err(&good[..good.len() / 2], "length");
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 8]);
    expect_open_err(&longer, "length");
    expect_open_err(&good[..40], "shorter than the header");
    expect_open_err(&good[..10], "header");
    let mut magic = good.clone();
    magic[0] = b'X';
    expect_open_err(&magic, "magic");
    let mut version = good.clone();
    version[8] = 99;
    expect_open_err(&version, "version");
    let l = format::read_header(&good, "t").expect("header");
    // Any flipped byte of the header or the per-chain tables (counts, stamp, checksums, ...) except the
    // magic and version, which have their own messages.
    for pos in (12..l.meta_end()).step_by(3) {
        let mut b = good.clone();
        b[pos] ^= 0x10;
        std::fs::write(&path, &b).expect("write");
        let err = Graph::open(&path).expect_err("damaged header").to_string();
        assert!(
            err.contains("checksum") || err.contains("counts") || err.contains("length"),
            "byte {pos}: {err}"
        );
    }

    // Damage inside a big section: `open` does not read it (that is the point), the accessors stay in
    // range, and `verify` names the section.
    for (name, r) in format::SECTIONS.iter().zip(l.section_ranges()) {
        assert!(!r.is_empty(), "{name} is empty in the test graph");
        for pos in [r.start, r.start + (r.end - r.start) / 2, r.end - 1] {
            let mut b = good.clone();
            b[pos] ^= 0xA5;
            std::fs::write(&path, &b).expect("write");
            let g = Graph::open(&path).expect("open reads only the header");
            sweep(&g);
            let err = g.verify().expect_err("verify must see the damage").to_string();
            assert!(
                err.contains(name) && err.contains("checksum"),
                "byte {pos}: {err}"
            );
            assert!(Graph::open_verified(&path).is_err());
        }
    }

    // Well-formed files (valid checksums) with wrong indices: every accessor stays in range, and `verify`
    // refuses them.
    let hostile = |edit: &dyn Fn(&mut Vec<u8>), needle: &str| {
        let mut b = good.clone();
        edit(&mut b);
        format::write_header(&mut b, &l);
        std::fs::write(&path, &b).expect("write");
        let g = Graph::open(&path).expect("checksums are valid");
        sweep(&g);
        let err = g.verify().expect_err("bad indices").to_string();
        assert!(err.contains(needle), "error {err:?} should mention {needle:?}");
    };
    let e = l.counts.edges as usize;
    hostile(
        &|b| format::wr_u32(b, l.edge_dst, 0, u32::MAX - 5),
        "out of range",
    );
    hostile(
        &|b| format::wr_u32(b, l.edge_seq, e - 1, u32::MAX),
        "out of range",
    );
    hostile(&|b| format::wr_u32(b, l.edge_asset, 3, 1_000), "out of range");
    hostile(&|b| format::wr_u32(b, l.in_perm, 2, e as u32), "out of range");
    hostile(&|b| format::wr_u32(b, l.out_offsets, 1, u32::MAX), "out offsets");
    hostile(&|b| format::wr_u32(b, l.in_offsets, 2, 0), "in offsets");
    hostile(&|b| b[l.assets] = 200, "asset record");
    hostile(&|b| format::wr_u64(b, l.tx_rank, 0, 1), "tx rank directory");
    hostile(
        &|b| format::wr_u32(b, l.tx_select, 1, u32::MAX),
        "tx select table",
    );
    hostile(
        &|b| format::wr_u32(b, l.block_hint, 0, u32::MAX),
        "block hint table",
    );
    hostile(
        &|b| format::wr_u64(b, l.edge_amount, 1, format::AMOUNT_WIDE | 1_000_000),
        "wide-amount index",
    );
    hostile(
        &|b| format::wr_u32(b, l.block_first_seq, 1, u32::MAX),
        "block first-seq",
    );
    hostile(&|b| format::wr_u64(b, l.tx_bits, 0, 0), "tx start bitmap");
    hostile(
        &|b| b[l.node_addr + ADDR_LEN..l.node_addr + 2 * ADDR_LEN].fill(0),
        "sorted",
    );
    std::fs::write(&path, b"").expect("write");
    assert!(Graph::open(&path).is_err());
    assert!(Graph::open(&dir.path().join("missing")).is_err());
}

#[test]
fn old_layout_versions_are_refused_by_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("graph.snapshot");
    build(sample()).save(&path).expect("save");
    let mut b = std::fs::read(&path).expect("read");
    format::wr_u32(&mut b, 8, 0, 1);
    std::fs::write(&path, &b).expect("write");
    match Graph::open(&path) {
        Err(GraphError::SnapshotVersion {
            found: 1, expected, ..
        }) => assert_eq!(expected, format::VERSION),
        other => panic!("expected a version error, got {other:?}"),
    }
}

#[test]
fn transaction_hashes_are_the_last_section() {
    // Only building a path reads them: they sit after everything a trace reads.
    let g = build(medium());
    let l = &g.l;
    assert_eq!(l.section_ranges().last(), Some(&(l.tx_hash..l.total)));
    assert_eq!(l.total - l.tx_hash, 32 * l.counts.txs as usize);
    assert_eq!(g.section_sizes().tx_hashes, 32 * l.counts.txs);
}

#[test]
fn empty_graph_builds_and_round_trips() {
    let g = build(Vec::new());
    assert_eq!(g.edge_count(), 0);
    assert!(g.node(Chain::Ethereum, addr(1)).is_none());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("g");
    g.save(&path).expect("save");
    assert_eq!(Graph::open(&path).expect("open").edge_count(), 0);
}

fn arb_transfer() -> impl Strategy<Value = Transfer> {
    (
        0usize..2,
        0u64..20,
        0u8..6,
        0u8..3,
        0u8..8,
        0u8..8,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(c, block, txi, pos, from, to, native, amt)| {
            let position = match pos {
                0 => Position::Tx,
                1 => Position::Log(u32::from(txi)),
                _ => Position::Trace(vec![u32::from(from), u32::from(to)]),
            };
            let asset = if native {
                Asset::Native
            } else {
                Asset::Token(addr(200))
            };
            let mut t = transfer(
                Chain::ALL[c],
                block,
                txi,
                position,
                from,
                to,
                asset,
                U256::from(amt) << (amt % 190),
            );
            // The same tx hash always sits in one block.
            t.tx_hash = TxHash([txi.wrapping_add(block as u8 * 7); 32]);
            t
        })
}

proptest! {
    #[test]
    fn graph_holds_exactly_the_transfers_in_time_order(ts in prop::collection::vec(arb_transfer(), 0..60)) {
        let g = build(ts.clone());
        prop_assert_eq!(edge_set(&g), input_set(&ts));
        let mut in_total = 0;
        for n in 0..g.node_count() {
            let outs: Vec<_> = g.out_edges(n).map(|e| g.edge_seq(e)).collect();
            prop_assert!(outs.windows(2).all(|w| w[0] < w[1]));
            let ins: Vec<_> = g.in_edges(n).collect();
            prop_assert!(ins.windows(2).all(|w| g.edge_seq(w[0]) < g.edge_seq(w[1])));
            for e in ins.iter() {
                prop_assert_eq!(g.edge_dst(*e), n);
            }
            for e in g.out_edges(n) {
                prop_assert_eq!(g.edge_src(e), n);
            }
            in_total += ins.len();
        }
        prop_assert_eq!(in_total, ts.len());
        // Seq order is (chain, block, tx, position): blocks never decrease within a chain.
        for c in g.chains() {
            let blocks: Vec<u64> = g.chain_seqs(c).map(|s| g.block_number(g.block_index(s))).collect();
            prop_assert!(blocks.windows(2).all(|w| w[0] <= w[1]));
        }
    }
}

#[test]
fn block_and_tx_seq_ranges_partition_the_edges() {
    use chaintrace_core::{Position, TransferKind};
    let t = |tx: u8, block: u64, pos: u32| Transfer {
        chain: Chain::Ethereum,
        block,
        timestamp: 1_700_000_000 + block,
        tx_hash: TxHash([tx; 32]),
        position: if pos == 0 {
            Position::Tx
        } else {
            Position::Trace(vec![pos - 1])
        },
        from: Address([1; 20]),
        to: Address([2; 20]),
        asset: Asset::Native,
        amount: U256::from(1u64),
        kind: TransferKind::Native,
        tx_from: Address([1; 20]),
        tx_fee: U256::ZERO,
        gas_price: U256::ZERO,
    };
    let g = Graph::from_transfers(
        [t(1, 5, 0), t(1, 5, 1), t(2, 5, 0), t(3, 6, 0)],
        StoreStamp::default(),
    )
    .expect("build");
    for s in 0..g.edge_count() {
        assert!(g.block_seqs(g.block_index(s)).contains(&s));
        assert!(g.tx_seqs(g.tx_index(s)).contains(&s));
    }
    assert_eq!(g.block_seqs(0), 0..3);
    assert_eq!(g.block_seqs(1), 3..4);
    assert_eq!(g.tx_seqs(0), 0..2);
    assert_eq!(g.block_seqs(2), 4..4, "out of range: empty");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Random damage anywhere, with the checksums recomputed (a hostile or unlucky file): `open` either
    /// refuses it or hands out a graph whose every accessor stays in range.
    #[test]
    fn damaged_snapshots_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..6),
                                     fix_checksums in any::<bool>()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("graph.snapshot");
        build(medium()).save(&path).expect("save");
        let mut b = std::fs::read(&path).expect("read");
        let l = format::read_header(&b, "t").expect("header");
        for (at, x) in flips {
            let pos = format::HEADER_LEN + at.index(b.len() - format::HEADER_LEN);
            b[pos] ^= x;
        }
        if fix_checksums {
            format::write_header(&mut b, &l);
        }
        std::fs::write(&path, &b).expect("write");
        if let Ok(g) = Graph::open(&path) {
            sweep(&g);
            if !fix_checksums {
                let damaged_sections = g.verify().is_err();
                // Unchecksummed damage outside the meta region is always seen by verify.
                prop_assert!(damaged_sections);
            }
        }
    }
}

#[test]
fn block_and_tx_index_agree_with_a_full_scan_across_hint_buckets() {
    // Enough transfers for several hint buckets of both tables (1 << 10 and 1 << 8 seqs), with blocks and
    // transactions of varying sizes, including runs longer than a bucket.
    let mut ts = Vec::new();
    let mut state = 12_345u64;
    let mut next = |m: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % m
    };
    let mut block = 1u64;
    let mut txn = 0u32;
    while ts.len() < 5_000 {
        let size = if next(40) == 0 { 1_500 } else { 1 + next(30) };
        for _ in 0..size {
            let mut t = transfer(
                Chain::ALL[(block % 2) as usize],
                block,
                0,
                Position::Log(ts.len() as u32),
                (next(50)) as u8,
                (next(50)) as u8,
                Asset::Native,
                U256::from(1u64),
            );
            t.tx_hash = TxHash([0; 32]);
            t.tx_hash.0[..4].copy_from_slice(&txn.to_be_bytes());
            ts.push(t);
            if next(3) == 0 {
                txn += 1;
            }
        }
        txn += 1;
        block += 1 + next(3);
    }
    let g = build(ts);
    let (nb, nt) = (g.l.counts.blocks as u32, g.l.counts.txs as u32);
    assert!(format::hint_len(g.l.counts.edges, format::BLOCK_HINT_SHIFT) >= 5);
    let scan = |len: u32, first: &dyn Fn(u32) -> u32, seq: u32| {
        (0..len).filter(|&i| first(i) <= seq).count() as u32 - 1
    };
    for seq in 0..g.edge_count() + 3 {
        let want_b = scan(nb, &|i| g.block_seqs(i).start, seq);
        let want_t = scan(nt, &|i| g.tx_seqs(i).start, seq);
        assert_eq!(g.block_index(seq), want_b, "block of seq {seq}");
        assert_eq!(g.tx_index(seq), want_t, "tx of seq {seq}");
    }
    assert_eq!(g.block_index(u32::MAX), nb - 1);
    assert_eq!(g.tx_index(u32::MAX), nt - 1);
}

#[test]
fn a_snapshot_reads_transaction_hashes_from_its_file_in_windows() {
    // 3,000 transactions of one transfer each: their hashes span 24 windows of 4 KiB, and the table does not
    // start on a window boundary, so some hashes straddle two windows.
    let ts: Vec<Transfer> = (0..3_000u32)
        .map(|i| {
            let mut t = transfer(
                Chain::Ethereum,
                1 + u64::from(i / 7),
                0,
                Position::Log(i),
                (i % 50) as u8,
                (i % 51) as u8,
                Asset::Native,
                U256::from(1u64),
            );
            t.tx_hash = TxHash([(i % 251) as u8; 32]);
            t.tx_hash.0[..4].copy_from_slice(&i.to_be_bytes());
            t
        })
        .collect();
    let g = build(ts);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("graph.snapshot");
    g.save(&path).expect("save");
    let m = Graph::open(&path).expect("open");
    let nt = g.l.counts.txs as u32;
    assert_eq!(nt, 3_000);
    assert_ne!(
        m.l.tx_hash % 4096,
        0,
        "the test needs a table that straddles windows"
    );
    let ascending: Vec<u32> = (0..nt).collect();
    let want = g.tx_hashes(&ascending);
    assert_eq!(
        g.tx_hash_reads(),
        HashReads::default(),
        "an in-memory graph reads no file"
    );
    assert_eq!(m.tx_hashes(&ascending), want);
    // One read per window, not one per hash.
    let windows = ((m.l.total - 1) / 4096 - m.l.tx_hash / 4096 + 1) as u64;
    let r = m.tx_hash_reads();
    assert!(r.calls <= windows, "{} reads for {windows} windows", r.calls);
    // Any order, repeats and single lookups give the same hashes.
    let mut state = 99u64;
    let mixed: Vec<u32> = (0..2_000)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            ((state >> 33) % u64::from(nt)) as u32
        })
        .chain((0..nt).rev())
        .collect();
    let got = m.tx_hashes(&mixed);
    for (&ti, h) in mixed.iter().zip(&got) {
        assert_eq!(*h, want[ti as usize], "tx {ti}");
        assert_eq!(m.tx_hash(ti), want[ti as usize], "tx {ti} alone");
    }
    // The hashes are the transfers' hashes.
    for e in 0..g.edge_count() {
        assert_eq!(m.edge_info(e).tx_hash, g.edge_info(e).tx_hash);
    }
}

use chaintrace_core::{Address, Asset, Chain, Position, Transfer, TransferKind, TxHash, U256};
use proptest::prelude::*;

use super::*;

fn addr(i: u8) -> Address {
    Address([i; 20])
}

fn tx(i: u8) -> TxHash {
    TxHash([i; 32])
}

#[allow(clippy::too_many_arguments)]
fn transfer(
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
    };
    let g = Graph::from_transfers(sample(), stamp).expect("build");
    g.save(&path).expect("save");
    let m = Graph::open(&path).expect("open");
    assert!(m.is_mapped());
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

#[test]
fn corrupt_snapshots_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("graph.snapshot");
    build(sample()).save(&path).expect("save");
    let good = std::fs::read(&path).expect("read");

    let expect_err = |bytes: &[u8], needle: &str| {
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
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    expect_err(&flipped, "checksum");
    expect_err(&good[..good.len() - 8], "length");
    expect_err(&good[..40], "shorter than the header");
    expect_err(&good[..10], "header");
    let mut magic = good.clone();
    magic[0] = b'X';
    expect_err(&magic, "magic");
    let mut version = good.clone();
    version[8] = 99;
    expect_err(&version, "version");
    // A well-formed file (valid checksum) whose indices are wrong is still refused, not a panic later.
    let mut hostile = good.clone();
    let l = format::read_header(&hostile, "t", true).expect("header");
    format::wr_u32(&mut hostile, l.edge_dst, 0, u32::MAX - 5);
    format::write_header(&mut hostile, &l);
    expect_err(&hostile, "out of range");
    std::fs::write(&path, b"").expect("write");
    assert!(Graph::open(&path).is_err());
    assert!(Graph::open(&dir.path().join("missing")).is_err());
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

//! Incremental update == full rebuild: byte equality of the images, on random splits, and the store-level
//! rule (append-only detection, unwinds, crashes while saving).

use chaintrace_core::{Address, Asset, BlockRecord, Chain, Position, Transfer, TransferKind, TxHash, U256};
use chaintrace_store::{Batch, Store, TransferWriter};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::*;

/// A transfer of a small world: few chains, blocks, transactions and addresses, so that splits put new
/// transfers before, between and after old ones, into old blocks, onto old and new addresses and assets.
fn arb_transfer() -> impl Strategy<Value = Transfer> {
    (
        0usize..3,
        0u64..12,
        0u8..5,
        0u8..4,
        0u8..10,
        0u8..10,
        0u8..3,
        any::<u64>(),
        0u32..300,
    )
        .prop_map(|(c, block, txi, pos, from, to, asset, amt, shift)| {
            let position = match pos {
                0 => Position::Tx,
                1 => Position::Log(u32::from(from)),
                2 => Position::Trace(vec![u32::from(to)]),
                // Deeper than the position key resolves: equal keys, store order decides.
                _ => Position::Trace(vec![0, 0, 0, 0, 0, 0, u32::from(from)]),
            };
            let asset = match asset {
                0 => Asset::Native,
                a => Asset::Token(Address([200 + a; 20])),
            };
            let mut tx_hash = [txi.wrapping_add(block as u8 * 7); 32];
            tx_hash[31] = c as u8;
            Transfer {
                chain: Chain::ALL[c],
                block,
                timestamp: 1_000 + block * 10 + u64::from(txi % 2),
                tx_hash: TxHash(tx_hash),
                position,
                from: Address([from; 20]),
                to: Address([to; 20]),
                asset,
                // Every amount tier: 64-bit slot, wide (>= 2^63), overflow (>= 2^128 - 1).
                amount: (U256::from(amt) << (shift % 200)).min(U256::MAX),
                kind: TransferKind::Native,
                tx_from: Address([from; 20]),
                tx_fee: U256::ZERO,
                gas_price: U256::ZERO,
            }
        })
}

fn build(ts: &[Transfer], stamp: StoreStamp) -> Graph {
    Graph::from_transfers(ts.iter().cloned(), stamp).expect("build")
}

/// Marks the transactions of `ts` as new ones (a flag byte no old transaction has), so they can be merged.
fn fresh_txs(ts: &mut [Transfer]) {
    for t in ts {
        t.tx_hash.0[0] ^= 0x80;
    }
}

fn stamp_of(n: u64) -> StoreStamp {
    StoreStamp {
        high_water: n,
        high_water_digest: n * 31,
        ..StoreStamp::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Old graph + new transfers == full build over all of them, byte for byte, for any split.
    #[test]
    fn merge_equals_full_rebuild(mut ts in prop::collection::vec(arb_transfer(), 0..80),
                                 split in any::<prop::sample::Index>()) {
        let k = if ts.is_empty() { 0 } else { split.index(ts.len() + 1) };
        fresh_txs(&mut ts[k..]);
        let old = build(&ts[..k], stamp_of(1));
        let merged = old.with_transfers(&ts[k..], stamp_of(2)).expect("merge").expect("fresh txs merge");
        let full = build(&ts, stamp_of(2));
        prop_assert!(merged.b() == full.b(), "images differ");
    }

    /// Three steps of updates equal one full build (a merged image is a valid base for the next merge).
    #[test]
    fn chained_merges_equal_full_rebuild(mut ts in prop::collection::vec(arb_transfer(), 0..80),
                                         a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let (mut i, mut j) = (a.index(ts.len() + 1), b.index(ts.len() + 1));
        if i > j {
            std::mem::swap(&mut i, &mut j);
        }
        fresh_txs(&mut ts[i..j]);
        for t in &mut ts[j..] {
            t.tx_hash.0[1] ^= 0x80;
        }
        let g1 = build(&ts[..i], stamp_of(1));
        let g2 = g1.with_transfers(&ts[i..j], stamp_of(2)).expect("merge").expect("fresh");
        let g3 = g2.with_transfers(&ts[j..], stamp_of(3)).expect("merge").expect("fresh");
        prop_assert!(g3.b() == build(&ts, stamp_of(3)).b(), "images differ");
    }

    /// New transfers in transactions the graph holds are refused, never merged wrongly; otherwise equal.
    #[test]
    fn transfers_of_held_transactions_are_refused(ts in prop::collection::vec(arb_transfer(), 1..60),
                                                  split in any::<prop::sample::Index>()) {
        let k = split.index(ts.len());
        let old = build(&ts[..k], stamp_of(1));
        let shares = ts[k..].iter().any(|n| {
            ts[..k].iter().any(|o| (o.chain, o.block, o.tx_hash) == (n.chain, n.block, n.tx_hash))
        });
        match old.with_transfers(&ts[k..], stamp_of(2)).expect("merge") {
            None => prop_assert!(shares, "refused without a shared transaction"),
            Some(g) => {
                prop_assert!(!shares, "merged into a held transaction");
                prop_assert!(g.b() == build(&ts, stamp_of(2)).b(), "images differ");
            }
        }
    }
}

#[test]
fn merging_nothing_only_restamps() {
    let mut ts: Vec<Transfer> = Vec::new();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strat = prop::collection::vec(arb_transfer(), 50);
    ts.extend(strat.new_tree(&mut runner).expect("values").current());
    let old = build(&ts, stamp_of(1));
    let same = old
        .with_transfers(&[], stamp_of(5))
        .expect("merge")
        .expect("nothing to refuse");
    assert!(same.b() == build(&ts, stamp_of(5)).b());
    assert_eq!(same.stamp(), stamp_of(5));
}

// ---- the store-level rule ----

fn store_transfer(chain: Chain, block: u64, tx: u8, from: u8, to: u8, amount: u64) -> Transfer {
    let mut h = [tx; 32];
    h[0] = block as u8;
    Transfer {
        chain,
        block,
        timestamp: 1_600_000_000 + block * 12,
        tx_hash: TxHash(h),
        position: Position::Tx,
        from: Address([from; 20]),
        to: Address([to; 20]),
        asset: Asset::Native,
        amount: U256::from(amount),
        kind: TransferKind::Native,
        tx_from: Address([from; 20]),
        tx_fee: U256::from(21_000u64),
        gas_price: U256::from(1u64),
    }
}

fn block_rec(chain: Chain, number: u64, salt: u8) -> BlockRecord {
    BlockRecord {
        chain,
        number,
        hash: [number as u8 ^ salt; 32],
        parent_hash: [(number as u8).wrapping_sub(1) ^ salt; 32],
        timestamp: 1_600_000_000 + number * 12,
    }
}

fn write(store: &mut Store, ts: &[Transfer]) {
    let mut blocks: Vec<BlockRecord> = ts.iter().map(|t| block_rec(t.chain, t.block, 0)).collect();
    blocks.sort_by_key(|b| (b.chain.chain_id(), b.number));
    blocks.dedup_by_key(|b| (b.chain, b.number));
    store
        .write_batch(Batch {
            blocks: &blocks,
            transfers: ts,
            logs: &[],
            checkpoint: None,
        })
        .expect("write");
}

fn world(n: u64, first_block: u64, salt: u8) -> Vec<Transfer> {
    (0..n)
        .map(|i| {
            let chain = if i % 3 == 0 { Chain::Bsc } else { Chain::Ethereum };
            store_transfer(
                chain,
                first_block + i / 4,
                (i % 4) as u8 + salt,
                (i % 7) as u8,
                (i % 11) as u8 + 1,
                1 + i,
            )
        })
        .collect()
}

#[test]
fn store_that_only_grew_is_updated_to_the_full_rebuild() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("store");
    write(&mut store, &world(60, 100, 0));
    let g = Graph::from_reader(&store).expect("build");
    assert!(matches!(g.updated(&store).expect("update"), Update::Current));
    // Later blocks on one chain, and an older block range of the other chain (out of time order).
    write(&mut store, &world(30, 200, 0));
    let old_bsc: Vec<Transfer> = world(12, 10, 40)
        .into_iter()
        .filter(|t| t.chain == Chain::Bsc)
        .collect();
    write(&mut store, &old_bsc);
    let up = g.updated(&store).expect("update");
    let Update::Appended { graph, added } = up else {
        panic!("expected an append, got {up:?}");
    };
    assert_eq!(added, 30 + old_bsc.len() as u64);
    let full = Graph::from_reader(&store).expect("full");
    assert!(
        graph.b() == full.b(),
        "incremental image differs from the full rebuild"
    );
    assert!(matches!(graph.updated(&store).expect("update"), Update::Current));
}

/// Unwinds `chain` from block 110 of a 60-transfer world and writes as many different transfers on the same
/// heights (same counts per chain as before), then asks the old graph for an update.
fn unwind_and_regrow(chain: Chain) -> Update {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("store");
    write(&mut store, &world(60, 100, 0));
    let g = Graph::from_reader(&store).expect("build");
    let removed = store.unwind(chain, 110).expect("unwind");
    assert!(removed > 0);
    let replacement: Vec<Transfer> = world(60, 100, 50)
        .into_iter()
        .filter(|t| t.chain == chain && t.block >= 110)
        .take(removed as usize)
        .collect();
    assert_eq!(replacement.len() as u64, removed);
    write(&mut store, &replacement);
    assert_eq!(
        StoreStamp::of_reader(&store).expect("stamp").chains,
        g.stamp().chains,
        "same counts"
    );
    g.updated(&store).expect("update")
}

#[test]
fn unwind_forces_a_full_rebuild() {
    // A batch is stored in (chain, block) order: the last id is a bsc transfer. Unwinding bsc removes the
    // high-water row and the regrowth reuses its id for another transfer.
    match unwind_and_regrow(Chain::Bsc) {
        Update::Rebuild { reason } => assert!(reason.contains("high-water"), "{reason}"),
        other => panic!("expected a rebuild, got {other:?}"),
    }
    // Unwinding ethereum keeps the high-water row: the regrown rows are new ids, the counts disagree.
    match unwind_and_regrow(Chain::Ethereum) {
        Update::Rebuild { reason } => assert!(reason.contains("removed"), "{reason}"),
        other => panic!("expected a rebuild, got {other:?}"),
    }
    // An unwind alone (the store shrank).
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("store");
    write(&mut store, &world(60, 100, 0));
    let g = Graph::from_reader(&store).expect("build");
    store.unwind(Chain::Bsc, 105).expect("unwind");
    assert!(matches!(
        g.updated(&store).expect("update"),
        Update::Rebuild { .. }
    ));
}

#[test]
fn unwind_of_older_rows_with_regrowth_forces_a_full_rebuild() {
    // Rows below the mark removed (another chain's unwind), the mark row kept: the counts tell.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("store");
    write(&mut store, &world(40, 100, 0));
    let late_eth: Vec<Transfer> = world(8, 500, 0)
        .into_iter()
        .filter(|t| t.chain == Chain::Ethereum)
        .collect();
    write(&mut store, &late_eth);
    let g = Graph::from_reader(&store).expect("build");
    let removed = store.unwind(Chain::Bsc, 105).expect("unwind");
    assert!(removed > 0);
    write(
        &mut store,
        &world(3 * removed, 700, 0)
            .into_iter()
            .filter(|t| t.chain == Chain::Bsc)
            .collect::<Vec<_>>(),
    );
    match g.updated(&store).expect("update") {
        Update::Rebuild { reason } => assert!(reason.contains("removed"), "{reason}"),
        other => panic!("expected a rebuild, got {other:?}"),
    }
}

#[test]
fn new_transfer_in_a_held_transaction_forces_a_full_rebuild() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("store");
    let base = world(20, 100, 0);
    write(&mut store, &base);
    let g = Graph::from_reader(&store).expect("build");
    let mut extra = base[3].clone();
    extra.position = Position::Log(7);
    extra.asset = Asset::Token(Address([9; 20]));
    write(&mut store, &[extra]);
    match g.updated(&store).expect("update") {
        Update::Rebuild { reason } => assert!(reason.contains("transaction"), "{reason}"),
        other => panic!("expected a rebuild, got {other:?}"),
    }
}

#[test]
fn a_crash_before_the_rename_leaves_the_old_snapshot_valid() {
    // `save` writes a temporary file, verifies it, then renames it over the snapshot. A process killed
    // before the rename leaves at most a partial temporary file: the snapshot is the old one, intact.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("graph.snapshot");
    let mut store = Store::open(dir.path()).expect("store");
    write(&mut store, &world(40, 100, 0));
    let g1 = Graph::from_reader(&store).expect("build");
    g1.save(&path).expect("save");
    write(&mut store, &world(20, 300, 0));
    let Update::Appended { graph: g2, .. } = g1.updated(&store).expect("update") else {
        panic!("expected an append");
    };
    let img = g2.b();
    let tmp = dir.path().join("graph.snapshot.tmp99999");
    std::fs::write(&tmp, &img[..img.len() / 2]).expect("partial write");
    let after_crash = Graph::open_verified(&path).expect("old snapshot still valid");
    assert!(after_crash.b() == g1.b());
    // The next run updates from the old snapshot again, to the same result.
    let Update::Appended { graph: g3, .. } = after_crash.updated(&store).expect("update") else {
        panic!("expected an append");
    };
    assert!(g3.b() == g2.b());
    g3.save(&path).expect("save");
    assert!(Graph::open_verified(&path).expect("new snapshot").b() == g2.b());
}

#[test]
fn growth_beyond_the_graph_size_rebuilds_in_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("store");
    write(&mut store, &world(10, 100, 0));
    let g = Graph::from_reader(&store).expect("build");
    write(&mut store, &world(11, 200, 0));
    match g.updated(&store).expect("update") {
        Update::Rebuild { reason } => assert!(reason.contains("more than the 10"), "{reason}"),
        other => panic!("expected a rebuild, got {other:?}"),
    }
}

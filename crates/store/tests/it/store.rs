//! Behaviour of [`Store`] through the reader/writer traits.

use chaintrace_core::{
    Address, Asset, BlockRecord, Chain, Position, RawLog, Transfer, TransferKind, TxHash, U256,
};
use chaintrace_store::{Batch, Checkpoint, Store, StoreError, TransferReader, TransferWriter, WriteStats};
use proptest::prelude::*;

fn addr(b: u8) -> Address {
    Address([b; 20])
}

fn transfer(chain: Chain, block: u64, tx: u8, position: Position, from: u8, to: u8, amount: u64) -> Transfer {
    let kind = match position {
        Position::Tx => TransferKind::Native,
        Position::Log(_) => TransferKind::Token,
        Position::Trace(_) => TransferKind::Internal,
    };
    Transfer {
        chain,
        block,
        timestamp: 1_600_000_000 + block * 12,
        tx_hash: TxHash([tx; 32]),
        asset: if kind == TransferKind::Token {
            Asset::Token(addr(0xee))
        } else {
            Asset::Native
        },
        position,
        from: addr(from),
        to: addr(to),
        amount: U256::from(amount),
        kind,
        tx_from: addr(from),
        tx_fee: U256::from(21_000u64) * U256::from(30_000_000_000u64),
        gas_price: U256::from(30_000_000_000u64),
    }
}

fn block(chain: Chain, number: u64) -> BlockRecord {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&number.to_be_bytes());
    let mut parent = [0u8; 32];
    parent[..8].copy_from_slice(&number.wrapping_sub(1).to_be_bytes());
    BlockRecord {
        chain,
        number,
        hash,
        parent_hash: parent,
        timestamp: 1_600_000_000 + number * 12,
    }
}

fn write(store: &mut Store, blocks: &[BlockRecord], transfers: &[Transfer]) -> WriteStats {
    store
        .write_batch(Batch {
            blocks,
            transfers,
            logs: &[],
            checkpoint: None,
        })
        .expect("write succeeds")
}

fn all_transfers(store: &Store) -> Vec<Transfer> {
    let mut out = Vec::new();
    store
        .for_each_transfer(None, &mut |t| {
            out.push(t);
            Ok(())
        })
        .expect("read succeeds");
    out.sort_by(|a, b| (a.chain, a.tx_hash, &a.position).cmp(&(b.chain, b.tx_hash, &b.position)));
    out
}

#[test]
fn open_creates_dir_and_file_and_reopens() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("nested/data");
    let mut store = Store::open(&dir).expect("open creates");
    assert_eq!(store.path(), dir.join("chaintrace.sqlite"));
    assert!(store.path().is_file());
    assert_eq!(store.schema_version().expect("version"), 5);
    let t = transfer(Chain::Ethereum, 10, 1, Position::Tx, 1, 2, 5);
    write(&mut store, &[], std::slice::from_ref(&t));
    drop(store);
    let ro = Store::open_read_only(&dir).expect("read-only open");
    assert_eq!(all_transfers(&ro), vec![t]);
    let again = Store::open(&dir).expect("reopen read-write");
    assert_eq!(again.transfer_count(None).expect("count"), 1);
}

#[test]
fn read_only_open_of_missing_store_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = Store::open_read_only(tmp.path()).expect_err("nothing there");
    assert!(matches!(err, StoreError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("no store at"), "{err}");
}

#[test]
fn round_trips_every_field_exactly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(tmp.path()).expect("open");
    let mut big = transfer(Chain::Bsc, 7, 9, Position::Trace(vec![0, 3, 1]), 1, 2, 0);
    big.amount = U256::MAX;
    big.tx_fee = U256::MAX - U256::from(1u8);
    big.gas_price = U256::from(1u8) << 200;
    let zero_token = transfer(Chain::Tron, 8, 9, Position::Log(4_000_000), 3, 4, 0);
    let native = transfer(Chain::Ethereum, 0, 3, Position::Tx, 5, 6, 1);
    let all = vec![big.clone(), zero_token.clone(), native.clone()];
    assert_eq!(
        write(&mut store, &[], &all),
        WriteStats {
            inserted: 3,
            duplicates: 0
        }
    );
    let mut want = all.clone();
    want.sort_by(|a, b| (a.chain, a.tx_hash, &a.position).cmp(&(b.chain, b.tx_hash, &b.position)));
    assert_eq!(all_transfers(&store), want);
    assert_eq!(store.transfers_of(addr(1), None).expect("of"), vec![big]);
    assert!(store.transfers_of(addr(3), None).expect("of")[0].is_zero_value());
}

#[test]
fn duplicates_are_ignored_and_counted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(tmp.path()).expect("open");
    let a = transfer(Chain::Ethereum, 1, 1, Position::Tx, 1, 2, 5);
    let b = transfer(Chain::Ethereum, 1, 1, Position::Log(0), 1, 2, 5);
    // Same identity on another chain is another transfer.
    let c = Transfer {
        chain: Chain::Polygon,
        ..a.clone()
    };
    assert_eq!(
        write(&mut store, &[], &[a.clone(), b.clone()]),
        WriteStats {
            inserted: 2,
            duplicates: 0
        }
    );
    // Same identity with different content: the first write wins.
    let a2 = Transfer {
        amount: U256::from(999u64),
        ..a.clone()
    };
    assert_eq!(
        write(&mut store, &[], &[a2, b, c]),
        WriteStats {
            inserted: 1,
            duplicates: 2
        }
    );
    assert_eq!(store.transfer_count(None).expect("count"), 3);
    assert_eq!(store.transfer_count(Some(Chain::Ethereum)).expect("count"), 2);
    let of = store.transfers_of(addr(1), Some(Chain::Ethereum)).expect("of");
    assert_eq!(
        of.iter().find(|t| t.position == Position::Tx).map(|t| t.amount),
        Some(U256::from(5u64))
    );
}

#[test]
fn transfers_of_orders_by_time_and_position_and_filters_chain() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(tmp.path()).expect("open");
    let ts = [
        transfer(Chain::Ethereum, 20, 2, Position::Log(10), 1, 2, 1),
        transfer(Chain::Ethereum, 20, 2, Position::Log(9), 2, 1, 1),
        transfer(Chain::Ethereum, 10, 3, Position::Tx, 3, 1, 1),
        transfer(Chain::Ethereum, 5, 4, Position::Tx, 1, 1, 1), // self transfer: listed once
        transfer(Chain::Bsc, 15, 5, Position::Tx, 1, 9, 1),
        transfer(Chain::Ethereum, 30, 6, Position::Tx, 7, 8, 1), // unrelated
    ];
    write(&mut store, &[], &ts);
    let got = store.transfers_of(addr(1), None).expect("of");
    let keys: Vec<(Chain, u64, String)> = got
        .iter()
        .map(|t| (t.chain, t.block, t.position.to_string()))
        .collect();
    assert_eq!(
        keys,
        vec![
            (Chain::Ethereum, 5, "tx".to_string()),
            (Chain::Ethereum, 10, "tx".to_string()),
            (Chain::Bsc, 15, "tx".to_string()),
            (Chain::Ethereum, 20, "log:9".to_string()),
            (Chain::Ethereum, 20, "log:10".to_string()),
        ]
    );
    assert_eq!(
        store.transfers_of(addr(1), Some(Chain::Bsc)).expect("of").len(),
        1
    );
    assert!(store.transfers_of(addr(0x42), None).expect("of").is_empty());
}

#[test]
fn coverage_reports_ranges_gaps_counts_and_checkpoints() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(tmp.path()).expect("open");
    let blocks: Vec<BlockRecord> = [1u64, 2, 3, 7, 8, 10]
        .into_iter()
        .map(|n| block(Chain::Ethereum, n))
        .collect();
    let ts = [
        transfer(Chain::Ethereum, 2, 1, Position::Tx, 1, 2, 1),
        transfer(Chain::Bsc, 5, 1, Position::Tx, 1, 2, 1),
    ];
    let cp = Checkpoint {
        stage: "rpc".into(),
        chain: Chain::Ethereum,
        block: 10,
    };
    store
        .write_batch(Batch {
            blocks: &blocks,
            transfers: &ts,
            logs: &[],
            checkpoint: Some(&cp),
        })
        .expect("write");
    let cov = store.coverage().expect("coverage");
    assert_eq!(cov.len(), 2);
    let eth = &cov[0];
    assert_eq!(eth.chain, Chain::Ethereum);
    assert_eq!(eth.ranges, vec![(1, 3), (7, 8), (10, 10)]);
    assert_eq!(eth.gaps, vec![(4, 6), (9, 9)]);
    assert_eq!(eth.transfers, 1);
    assert_eq!(eth.checkpoints, vec![cp.clone()]);
    let bsc = &cov[1];
    assert_eq!((bsc.chain, bsc.ranges.len(), bsc.transfers), (Chain::Bsc, 0, 1));
    assert_eq!(store.checkpoint("rpc", Chain::Ethereum).expect("cp"), Some(10));
    assert_eq!(store.checkpoint("etl", Chain::Ethereum).expect("cp"), None);
    assert_eq!(
        store.block(Chain::Ethereum, 7).expect("block"),
        Some(block(Chain::Ethereum, 7))
    );
    assert_eq!(store.block(Chain::Ethereum, 9).expect("block"), None);
    assert_eq!(store.transfer_block_span(Chain::Bsc).expect("span"), Some((5, 5)));
    assert_eq!(store.transfer_block_span(Chain::Polygon).expect("span"), None);
}

#[test]
fn raw_logs_round_trip_in_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(tmp.path()).expect("open");
    let log = |chain, block, index: u32| RawLog {
        chain,
        block,
        timestamp: 100 + block,
        tx_hash: TxHash([index as u8; 32]),
        log_index: index,
        address: addr(3),
        topics: vec![[1; 32], [2; 32]],
        data: vec![1, 2, 3],
        tx_from: addr(4),
    };
    let logs = [
        log(Chain::Bsc, 1, 0),
        log(Chain::Ethereum, 9, 2),
        log(Chain::Ethereum, 9, 1),
        log(Chain::Ethereum, 3, 5),
    ];
    store
        .write_batch(Batch {
            blocks: &[],
            transfers: &[],
            logs: &logs,
            checkpoint: None,
        })
        .expect("write");
    // Writing again is a no-op.
    store
        .write_batch(Batch {
            blocks: &[],
            transfers: &[],
            logs: &logs,
            checkpoint: None,
        })
        .expect("write");
    let got = store.raw_logs(None).expect("logs");
    assert_eq!(
        got,
        vec![logs[3].clone(), logs[2].clone(), logs[1].clone(), logs[0].clone()]
    );
    assert_eq!(
        store.raw_logs(Some(Chain::Bsc)).expect("logs"),
        vec![logs[0].clone()]
    );
}

#[test]
fn unwind_removes_blocks_transfers_logs_and_lowers_checkpoints() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(tmp.path()).expect("open");
    let blocks: Vec<BlockRecord> = (1..=10).map(|n| block(Chain::Ethereum, n)).collect();
    let ts: Vec<Transfer> = (1..=10)
        .map(|n| transfer(Chain::Ethereum, n, n as u8, Position::Tx, 1, 2, n))
        .collect();
    let other = transfer(Chain::Bsc, 9, 1, Position::Tx, 1, 2, 1);
    let cp = Checkpoint {
        stage: "rpc".into(),
        chain: Chain::Ethereum,
        block: 10,
    };
    let low = Checkpoint {
        stage: "etl".into(),
        chain: Chain::Ethereum,
        block: 3,
    };
    store
        .write_batch(Batch {
            blocks: &blocks,
            transfers: &ts,
            logs: &[],
            checkpoint: Some(&cp),
        })
        .expect("w");
    store
        .write_batch(Batch {
            blocks: &[],
            transfers: &[other],
            logs: &[],
            checkpoint: Some(&low),
        })
        .expect("w");
    assert_eq!(store.unwind(Chain::Ethereum, 7).expect("unwind"), 4);
    assert_eq!(store.checkpoint("rpc", Chain::Ethereum).expect("cp"), Some(6));
    assert_eq!(store.checkpoint("etl", Chain::Ethereum).expect("cp"), Some(3));
    assert_eq!(store.coverage().expect("cov")[0].ranges, vec![(1, 6)]);
    assert_eq!(store.transfer_count(Some(Chain::Bsc)).expect("count"), 1);
    assert_eq!(store.unwind(Chain::Ethereum, 0).expect("unwind"), 6);
    assert_eq!(store.checkpoint("rpc", Chain::Ethereum).expect("cp"), None);
    assert_eq!(store.transfer_count(None).expect("count"), 1);
}

#[test]
fn bulk_sized_batch_keeps_indexes_and_dedupes() {
    // Large enough to take the drop-and-rebuild-indexes path.
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(tmp.path()).expect("open");
    let n = 120_000u64;
    let ts: Vec<Transfer> = (0..n)
        .map(|i| {
            let mut t = transfer(
                Chain::Ethereum,
                i / 100,
                0,
                Position::Log((i % 100) as u32),
                1,
                2,
                i,
            );
            t.tx_hash.0[..8].copy_from_slice(&i.to_be_bytes());
            t.from.0[..8].copy_from_slice(&i.to_be_bytes());
            t
        })
        .collect();
    assert_eq!(
        write(&mut store, &[], &ts),
        WriteStats {
            inserted: n,
            duplicates: 0
        }
    );
    assert_eq!(
        write(&mut store, &[], &ts[..10]),
        WriteStats {
            inserted: 0,
            duplicates: 10
        }
    );
    let mut probe = ts[777].from;
    assert_eq!(
        store.transfers_of(probe, None).expect("of"),
        vec![ts[777].clone()]
    );
    probe = addr(2);
    assert_eq!(
        store
            .transfers_of(probe, Some(Chain::Ethereum))
            .expect("of")
            .len(),
        n as usize
    );
    store.check_address_index().expect("postings match the rows");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn writing_any_batch_twice_leaves_the_same_rows(
        specs in prop::collection::vec((0u64..20, 0u8..8, 0u32..4, 0u8..5, 0u8..5, any::<u64>()), 0..60)
    ) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(tmp.path()).expect("open");
        let ts: Vec<Transfer> = specs
            .iter()
            .map(|&(b, tx, pos, from, to, amount)| {
                let position = match pos { 0 => Position::Tx, 1 => Position::Log(u32::from(tx)), n => Position::Trace(vec![n, 1]) };
                transfer(Chain::Ethereum, b, tx, position, from, to, amount)
            })
            .collect();
        let first = write(&mut store, &[], &ts);
        let after_first = all_transfers(&store);
        let second = write(&mut store, &[], &ts);
        prop_assert_eq!(all_transfers(&store), after_first.clone());
        prop_assert_eq!(second.inserted, 0);
        prop_assert_eq!(second.duplicates, ts.len() as u64);
        store.check_address_index().expect("postings match the rows");
        prop_assert_eq!(first.inserted + first.duplicates, ts.len() as u64);
        prop_assert_eq!(first.inserted, after_first.len() as u64);
    }

    #[test]
    fn unwind_removes_exactly_blocks_at_or_above(
        numbers in prop::collection::btree_set(0u64..50, 0..30),
        from in 0u64..55,
    ) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(tmp.path()).expect("open");
        let blocks: Vec<BlockRecord> = numbers.iter().map(|&n| block(Chain::Ethereum, n)).collect();
        let ts: Vec<Transfer> =
            numbers.iter().map(|&n| transfer(Chain::Ethereum, n, n as u8, Position::Tx, 1, 2, n)).collect();
        let other: Vec<Transfer> =
            numbers.iter().map(|&n| transfer(Chain::Arbitrum, n, n as u8, Position::Tx, 1, 2, n)).collect();
        store.write_batch(Batch { blocks: &blocks, transfers: &ts, logs: &[], checkpoint: None }).expect("w");
        write(&mut store, &[], &other);
        let removed = store.unwind(Chain::Ethereum, from).expect("unwind");
        let expected_left: Vec<u64> = numbers.iter().copied().filter(|&n| n < from).collect();
        prop_assert_eq!(removed, (numbers.len() - expected_left.len()) as u64);
        let mut left_blocks = Vec::new();
        for n in 0..50 {
            if store.block(Chain::Ethereum, n).expect("block").is_some() {
                left_blocks.push(n);
            }
        }
        prop_assert_eq!(&left_blocks, &expected_left);
        let mut left_transfers: Vec<u64> = all_transfers(&store)
            .into_iter()
            .filter(|t| t.chain == Chain::Ethereum)
            .map(|t| t.block)
            .collect();
        left_transfers.sort();
        prop_assert_eq!(&left_transfers, &expected_left);
        prop_assert_eq!(store.transfer_count(Some(Chain::Arbitrum)).expect("count"), numbers.len() as u64);
        store.check_address_index().expect("postings match the rows after the unwind");
        prop_assert_eq!(
            store.transfers_of(addr(2), None).expect("of").len(),
            expected_left.len() + numbers.len()
        );
    }
}

/// The kept per-chain counts (schema version 4) equal the rows actually stored, after any mix of batch
/// writes with duplicates, streamed loads and unwinds; `chain_totals` equals what `coverage` implies.
fn assert_counts_match_rows(store: &Store) {
    store.check_address_index().expect("postings match the rows");
    let rows = all_transfers(store);
    let mut total = 0u64;
    for chain in Chain::ALL {
        let n = rows.iter().filter(|t| t.chain == chain).count() as u64;
        assert_eq!(store.transfer_count(Some(chain)).expect("count"), n, "{chain}");
        total += n;
    }
    assert_eq!(store.transfer_count(None).expect("count"), total);
    let from_coverage: Vec<(Chain, u64, u64)> = store
        .coverage()
        .expect("coverage")
        .into_iter()
        .map(|c| {
            (
                c.chain,
                c.transfers,
                c.ranges.iter().map(|r| r.1).max().unwrap_or(0),
            )
        })
        .filter(|(_, n, max)| *n != 0 || *max != 0)
        .collect();
    let totals: Vec<(Chain, u64, u64)> = store
        .chain_totals()
        .expect("totals")
        .into_iter()
        .filter(|(_, n, max)| *n != 0 || *max != 0)
        .collect();
    assert_eq!(totals, from_coverage);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn kept_counts_follow_writes_loads_and_unwinds(
        ops in prop::collection::vec((0u8..3, 0u64..40, 0u64..40, any::<bool>()), 1..12),
    ) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(tmp.path()).expect("open");
        for (op, a, b, arb) in ops {
            let chain = if arb { Chain::Arbitrum } else { Chain::Ethereum };
            let (lo, hi) = (a.min(b), a.max(b));
            let blocks: Vec<BlockRecord> = (lo..=hi).map(|n| block(chain, n)).collect();
            let ts: Vec<Transfer> = (lo..=hi)
                .flat_map(|n| {
                    [
                        transfer(chain, n, n as u8, Position::Tx, 1, 2, n),
                        transfer(chain, n, n as u8, Position::Log(1), 2, 3, n + 1),
                    ]
                })
                .collect();
            match op {
                0 => {
                    write(&mut store, &blocks, &ts);
                }
                1 => {
                    let mut load = store.begin_load(1_000_000).expect("begin");
                    load.write(&blocks, &ts).expect("load write");
                    load.write(&blocks, &ts).expect("load write again (duplicates)");
                    load.commit(None).expect("commit");
                }
                _ => {
                    store.unwind(chain, a).expect("unwind");
                }
            }
            assert_counts_match_rows(&store);
        }
    }
}

/// A busy address gathers posting rows over many writes on two chains (a row per write, rows of 128
/// ids for big writes); unwinding one chain rewrites exactly the rows that held its ids, reorged blocks
/// written again are posted again, and lookups see the same rows as a scan all along.
#[test]
fn busy_address_postings_follow_many_writes_unwinds_and_rewrites() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(tmp.path()).expect("open");
    let hub = addr(0x77);
    let rows_of = |chain: Chain, n: u64| -> Vec<Transfer> {
        (0..1 + n % 300)
            .map(|i| {
                let mut t = transfer(chain, n, 0, Position::Log(i as u32), 0x77, (i % 5) as u8 + 1, i);
                t.tx_hash.0[..8].copy_from_slice(&n.to_be_bytes());
                if i % 2 == 1 {
                    std::mem::swap(&mut t.from, &mut t.to);
                }
                t
            })
            .collect()
    };
    let by_scan = |store: &Store, who: Address| -> usize {
        all_transfers(store)
            .iter()
            .filter(|t| t.from == who || t.to == who)
            .count()
    };
    for n in 0..120u64 {
        for chain in [Chain::Ethereum, Chain::Bsc] {
            write(&mut store, &[block(chain, n)], &rows_of(chain, n));
        }
    }
    store.check_address_index().expect("postings after the writes");
    let before = store.transfers_of(hub, None).expect("of").len();
    assert_eq!(before, by_scan(&store, hub));
    let removed = store.unwind(Chain::Ethereum, 70).expect("unwind");
    assert!(removed > 0);
    store.check_address_index().expect("postings after the unwind");
    assert_eq!(
        store.transfers_of(hub, None).expect("of").len(),
        before - removed as usize
    );
    assert!(
        store
            .transfers_of(hub, Some(Chain::Ethereum))
            .expect("of")
            .iter()
            .all(|t| t.block < 70)
    );
    // The reorged blocks come back (as a new branch would), in one streamed load.
    let mut load = store.begin_load(0).expect("begin");
    for n in 70..120u64 {
        load.write(&[block(Chain::Ethereum, n)], &rows_of(Chain::Ethereum, n))
            .expect("rewrite");
    }
    load.commit(None).expect("commit");
    store.check_address_index().expect("postings after the rewrite");
    assert_eq!(store.transfers_of(hub, None).expect("of").len(), before);
    for other in 1..=5 {
        assert_eq!(
            store.transfers_of(addr(other), None).expect("of").len(),
            by_scan(&store, addr(other)),
            "{other}"
        );
    }
}

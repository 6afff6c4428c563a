//! The RPC ingest stage against a real anvil node and a real store: exact rows, idempotent reruns,
//! reorg unwind, chain id check.

use chaintrace_chain_evm::{EvmSource, RpcOptions};
use chaintrace_core::{Chain, Transfer, U256};
use chaintrace_ingest::rpc::{self, NoProgress, RpcIngestError, RpcIngestOptions, ToBlock};
use chaintrace_store::{Store, TransferReader};
use chaintrace_testkit::scenario::{self, Scenario, derived_address, ether, sort_transfers};
use chaintrace_testkit::{Anvil, require_anvil};

fn source(anvil: &Anvil, chain: Option<Chain>) -> EvmSource {
    let opts = RpcOptions {
        chain,
        batch_size: 4,
        concurrency: 2,
        ..RpcOptions::default()
    };
    EvmSource::connect(anvil.url(), opts).expect("connect to anvil")
}

fn options(to: ToBlock) -> RpcIngestOptions {
    RpcIngestOptions {
        chain: Chain::Ethereum,
        from_block: 0,
        to_block: to,
        confirmations: 0,
        blocks_per_write: 8,
        resume: true,
    }
}

fn stored(store: &Store) -> Vec<Transfer> {
    let mut all = Vec::new();
    store
        .for_each_transfer(Some(Chain::Ethereum), &mut |t| {
            all.push(t);
            Ok(())
        })
        .expect("read transfers back");
    sort_transfers(&mut all);
    all
}

/// Compares row by row so a failure names the first differing transfer.
fn assert_same_rows(actual: &[Transfer], expected: &[Transfer]) {
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a, e, "row {i} differs");
    }
    assert_eq!(actual.len(), expected.len(), "row counts differ");
}

#[test]
fn live_rpc_ingest_stores_exactly_the_scenario_transfers_and_reruns_add_nothing() {
    if !require_anvil("live_rpc_ingest_stores_exactly_the_scenario_transfers_and_reruns_add_nothing") {
        return;
    }
    let anvil = Anvil::spawn(1).expect("anvil");
    let outcome = scenario::basic(&anvil.rpc(), Chain::Ethereum).expect("scenario runs");
    // The scenario covers every kind: the checks below would be vacuous otherwise.
    let kinds: std::collections::BTreeSet<_> = outcome.expected.iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds.len(),
        3,
        "scenario must produce native, internal and token transfers"
    );
    assert!(
        outcome.expected.iter().any(|t| t.is_zero_value()),
        "scenario has a zero-value token transfer"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open store");
    let src = source(&anvil, Some(Chain::Ethereum));
    let to = ToBlock::Number(outcome.last_block);
    let report = rpc::run(&src, &mut store, &options(to), &mut NoProgress).expect("ingest");
    assert_eq!(report.inserted, outcome.expected.len() as u64);
    assert_eq!(report.duplicates, 0);
    assert_eq!(report.blocks, outcome.last_block + 1);
    assert_eq!(report.checkpoint, Some(outcome.last_block));
    assert_eq!(
        store.checkpoint(rpc::STAGE, Chain::Ethereum).expect("checkpoint"),
        Some(outcome.last_block)
    );
    assert_same_rows(&stored(&store), &outcome.expected);

    // Resuming: the checkpoint covers the range, nothing is fetched.
    let again = rpc::run(&src, &mut store, &options(to), &mut NoProgress).expect("second ingest");
    assert_eq!((again.blocks, again.inserted, again.duplicates), (0, 0, 0));

    // Re-reading the whole range: every row is a duplicate, none is added, the checkpoint stays.
    let mut reread = options(to);
    reread.resume = false;
    let third = rpc::run(&src, &mut store, &reread, &mut NoProgress).expect("re-read ingest");
    assert_eq!(third.inserted, 0);
    assert_eq!(third.duplicates, outcome.expected.len() as u64);
    assert_same_rows(&stored(&store), &outcome.expected);
    assert_eq!(
        store.checkpoint(rpc::STAGE, Chain::Ethereum).expect("checkpoint"),
        Some(outcome.last_block)
    );
}

#[test]
fn live_rpc_ingest_keeps_confirmations_away_from_the_head() {
    if !require_anvil("live_rpc_ingest_keeps_confirmations_away_from_the_head") {
        return;
    }
    let anvil = Anvil::spawn(1).expect("anvil");
    let outcome = scenario::many_blocks(&anvil.rpc(), Chain::Ethereum, 5, 3).expect("scenario");
    let head = anvil.rpc().block_number().expect("head");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open store");
    let mut opts = options(ToBlock::Latest);
    opts.confirmations = 4;
    let report = rpc::run(&source(&anvil, None), &mut store, &opts, &mut NoProgress).expect("ingest");
    assert_eq!(report.plan.end, head - 4);
    assert_eq!(report.checkpoint, Some(head - 4));
    let expected: Vec<Transfer> = outcome
        .expected
        .iter()
        .filter(|t| t.block <= head - 4)
        .cloned()
        .collect();
    assert!(
        expected.len() < outcome.expected.len(),
        "some transfers must be within the confirmations"
    );
    assert_same_rows(&stored(&store), &expected);
}

#[test]
fn live_rpc_ingest_unwinds_a_reorg_and_refetches_the_new_fork() {
    if !require_anvil("live_rpc_ingest_unwinds_a_reorg_and_refetches_the_new_fork") {
        return;
    }
    let anvil = Anvil::spawn(1).expect("anvil");
    let dev = anvil.rpc();
    let common = scenario::many_blocks(&dev, Chain::Ethereum, 3, 2).expect("common blocks");
    let snapshot = dev.snapshot().expect("snapshot");
    let fork_base = dev.block_number().expect("head");

    // Fork A: stored, then abandoned.
    let fork_a = scenario::many_blocks(&dev, Chain::Ethereum, 3, 4).expect("fork A");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open store");
    let src = source(&anvil, Some(Chain::Ethereum));
    rpc::run(&src, &mut store, &options(ToBlock::Latest), &mut NoProgress).expect("ingest fork A");
    assert_eq!(
        stored(&store).len(),
        common.expected.len() + fork_a.expected.len(),
        "fork A stored before the reorg"
    );

    // Fork B replaces it from the snapshot on, and grows longer than fork A.
    dev.revert(&snapshot).expect("revert to snapshot");
    assert_eq!(dev.block_number().expect("head"), fork_base);
    let mut b = Scenario::new(dev.clone(), Chain::Ethereum).expect("scenario");
    let a = b.accounts().to_vec();
    for i in 0..(fork_a.last_block - fork_base + 3) {
        b.send_native(a[3], derived_address(900 + i as usize), ether(1) + U256::from(i))
            .expect("fork B tx");
    }

    #[derive(Default)]
    struct Seen(Vec<rpc::ReorgUnwound>);
    impl rpc::RpcProgress for Seen {
        fn reorg_unwound(&mut self, r: &rpc::ReorgUnwound) {
            self.0.push(r.clone());
        }
    }
    let mut seen = Seen::default();
    let report = rpc::run(&src, &mut store, &options(ToBlock::Latest), &mut seen).expect("ingest fork B");
    assert_eq!(report.reorgs, 1);
    assert_eq!(seen.0.len(), 1);
    assert_eq!(
        seen.0[0].detected_at,
        fork_a.last_block + 1,
        "detected where the new blocks start"
    );
    assert_eq!(seen.0[0].common_ancestor, fork_base);
    assert_eq!(report.transfers_unwound, fork_a.expected.len() as u64);

    let mut expected = common.expected.clone();
    expected.extend(b.expected().iter().cloned());
    sort_transfers(&mut expected);
    assert_same_rows(&stored(&store), &expected);
    let head = dev.block_number().expect("head");
    assert_eq!(
        store.checkpoint(rpc::STAGE, Chain::Ethereum).expect("checkpoint"),
        Some(head)
    );
    let stored_head = store
        .block(Chain::Ethereum, head)
        .expect("block")
        .expect("head block stored");
    assert_eq!(stored_head.hash, dev.block(head).expect("node head").hash);
}

#[test]
fn live_rpc_ingest_refuses_a_node_of_another_chain() {
    if !require_anvil("live_rpc_ingest_refuses_a_node_of_another_chain") {
        return;
    }
    // Chain id 10 is OP Mainnet: a known chain, but not the one asked for.
    let anvil = Anvil::spawn(10).expect("anvil");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open store");
    let err = rpc::run(
        &source(&anvil, None),
        &mut store,
        &options(ToBlock::Latest),
        &mut NoProgress,
    )
    .expect_err("chain mismatch must fail");
    assert!(
        matches!(
            err,
            RpcIngestError::ChainMismatch {
                expected: 1,
                actual: 10,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        !msg.contains('\n') && msg.contains("chain id 10") && msg.contains("ethereum"),
        "{msg}"
    );
    assert_eq!(store.transfer_count(None).expect("count"), 0);
}

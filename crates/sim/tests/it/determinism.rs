use chaintrace_sim::{CountingWriter, WorldConfig, generate};

use crate::{small, world};

#[test]
fn same_seed_gives_identical_transfers_blocks_and_truth() {
    let (a, ta) = world(&small(7));
    let (b, tb) = world(&small(7));
    assert!(a.transfers == b.transfers, "transfers differ");
    assert!(a.blocks == b.blocks, "blocks differ");
    let ja = serde_json::to_string(&ta).expect("truth serializes");
    let jb = serde_json::to_string(&tb).expect("truth serializes");
    assert!(ja == jb, "truth differs");
}

#[test]
fn different_seed_gives_a_different_world() {
    let (a, ta) = world(&small(7));
    let (b, tb) = world(&small(8));
    assert_ne!(a.transfers[..100], b.transfers[..100]);
    assert_ne!(ta.incidents[0].exploiters, tb.incidents[0].exploiters);
    assert_ne!(a.blocks[0].hash, b.blocks[0].hash);
}

#[test]
fn batch_size_does_not_change_the_world() {
    let (a, ta) = world(&small(3));
    let (b, tb) = world(&WorldConfig {
        batch_size: 777,
        ..small(3)
    });
    assert!(a.transfers == b.transfers, "transfers differ");
    // Blocks of several chains interleave differently with other batch boundaries; their set is the same.
    let sorted = |mut v: Vec<chaintrace_core::BlockRecord>| {
        v.sort_by_key(|b| (b.chain, b.number));
        v
    };
    assert!(sorted(a.blocks) == sorted(b.blocks), "blocks differ");
    assert!(b.batches > a.batches);
    assert_eq!(ta.incidents, tb.incidents);
}

#[test]
fn reaches_the_transfer_target_and_counts_match() {
    let config = small(11);
    let mut counter = CountingWriter::default();
    let truth = generate(&config, &mut counter).expect("generates");
    assert!(
        counter.transfers >= config.target_transfers,
        "{} transfers",
        counter.transfers
    );
    assert!(
        counter.transfers < config.target_transfers * 11 / 10,
        "{} transfers",
        counter.transfers
    );
    assert_eq!(truth.stats.transfers, counter.transfers);
    assert_eq!(truth.stats.blocks, counter.blocks);
    let per_chain: u64 = truth.chains.iter().map(|c| c.transfers).sum();
    assert_eq!(per_chain, counter.transfers);
}

#[test]
fn rejects_bad_configs_with_a_clear_error() {
    let bad = WorldConfig {
        chains: vec![chaintrace_core::Chain::Tron],
        ..small(1)
    };
    let err = generate(&bad, &mut CountingWriter::default()).expect_err("tron is not simulated");
    assert!(err.to_string().contains("chains"), "{err}");
    let bad = WorldConfig {
        chains: vec![],
        ..small(1)
    };
    assert!(generate(&bad, &mut CountingWriter::default()).is_err());
    let bad = WorldConfig {
        exchanges: 2,
        ..small(1)
    };
    assert!(generate(&bad, &mut CountingWriter::default()).is_err());
}

#[test]
fn a_store_gets_the_same_world_through_one_streamed_load() {
    use chaintrace_store::{Store, TransferReader};
    // 100k transfers: large enough for the store's bulk path (secondary indexes dropped and rebuilt).
    let config = WorldConfig::new(5, 100_000);
    let (mem, truth) = world(&config);
    let dir = std::env::temp_dir().join(format!("chaintrace-sim-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = Store::open(&dir).expect("temp store opens");
    let stored_truth = generate(&config, &mut store).expect("world generates into the store");
    assert_eq!(
        serde_json::to_string(&stored_truth).expect("truth serializes"),
        serde_json::to_string(&truth).expect("truth serializes"),
        "truth differs between writers"
    );
    assert_eq!(
        store.transfer_count(None).expect("count"),
        mem.transfers.len() as u64
    );
    assert!(!mem.logs.is_empty(), "the world emits raw logs");
    let mut want = mem.logs.clone();
    want.sort_by_key(|l| (l.chain, l.block, l.log_index));
    assert!(
        store.raw_logs(None).expect("raw logs read") == want,
        "raw logs differ"
    );
    for chain in &config.chains {
        let last = mem
            .blocks
            .iter()
            .filter(|b| b.chain == *chain)
            .map(|b| b.number)
            .max();
        assert_eq!(
            store.checkpoint("sim", *chain).expect("checkpoint read"),
            last,
            "{chain}"
        );
    }
    let indexes = store.index_names().expect("index names");
    assert!(
        indexes.iter().any(|i| i == "transfers_identity"),
        "transfers_identity missing after the load: {indexes:?}"
    );
    store
        .check_address_index()
        .expect("address postings match the loaded rows");
    let sample = &mem.transfers[mem.transfers.len() / 2];
    let of = store
        .transfers_of(sample.from, Some(sample.chain))
        .expect("transfers_of");
    assert!(of.contains(sample), "a written transfer reads back by address");
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

//! Crash safety: a writer process killed with SIGKILL leaves whole batches only, and each checkpoint
//! covers exactly the rows that are there.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chaintrace_core::{Address, Asset, BlockRecord, Chain, Position, Transfer, TransferKind, TxHash, U256};
use chaintrace_store::{Batch, Checkpoint, Store, TransferReader, TransferWriter};

/// Transfers per batch (one block per batch).
const PER_BATCH: u64 = 3_000;
const DIR_ENV: &str = "CHAINTRACE_CRASH_TEST_DIR";

fn batch_rows(block: u64) -> (BlockRecord, Vec<Transfer>) {
    let record = BlockRecord {
        chain: Chain::Ethereum,
        number: block,
        hash: [block as u8; 32],
        parent_hash: [block.wrapping_sub(1) as u8; 32],
        timestamp: block,
    };
    let transfers = (0..PER_BATCH)
        .map(|i| {
            let mut tx = [0u8; 32];
            tx[..8].copy_from_slice(&block.to_be_bytes());
            tx[8..16].copy_from_slice(&i.to_be_bytes());
            let mut from = [0u8; 20];
            from[..8].copy_from_slice(&i.to_be_bytes());
            Transfer {
                chain: Chain::Ethereum,
                block,
                timestamp: block,
                tx_hash: TxHash(tx),
                position: Position::Tx,
                from: Address(from),
                to: Address([7; 20]),
                asset: Asset::Native,
                amount: U256::from(i + 1),
                kind: TransferKind::Native,
                tx_from: Address(from),
                tx_fee: U256::from(1u8),
                gas_price: U256::from(1u8),
            }
        })
        .collect();
    (record, transfers)
}

/// The child side: writes one block per batch, with its checkpoint, until killed. Run only by
/// [`kill_9_mid_write_leaves_whole_batches_and_a_matching_checkpoint`].
#[test]
#[ignore = "helper process for the kill -9 test; needs CHAINTRACE_CRASH_TEST_DIR"]
fn crash_child_writes_forever() {
    let dir = std::env::var_os(DIR_ENV).expect("CHAINTRACE_CRASH_TEST_DIR set by the parent test");
    let mut store = Store::open(Path::new(&dir)).expect("child opens store");
    let mut block = store
        .checkpoint("crash", Chain::Ethereum)
        .expect("checkpoint")
        .map_or(0, |b| b + 1);
    loop {
        let (record, transfers) = batch_rows(block);
        let cp = Checkpoint {
            stage: "crash".into(),
            chain: Chain::Ethereum,
            block,
        };
        store
            .write_batch(Batch {
                blocks: &[record],
                transfers: &transfers,
                logs: &[],
                checkpoint: Some(&cp),
            })
            .expect("child write");
        block += 1;
    }
}

fn check_consistent(dir: &Path) -> u64 {
    let store = Store::open(dir).expect("reopen after kill");
    let Some(cp) = store.checkpoint("crash", Chain::Ethereum).expect("checkpoint") else {
        assert_eq!(
            store.transfer_count(None).expect("count"),
            0,
            "rows without a checkpoint"
        );
        return 0;
    };
    let count = store.transfer_count(None).expect("count");
    store
        .check_address_index()
        .expect("address postings match the surviving rows");
    assert_eq!(
        count,
        (cp + 1) * PER_BATCH,
        "checkpoint {cp} does not match {count} rows"
    );
    let cov = store.coverage().expect("coverage");
    assert_eq!(
        cov[0].ranges,
        vec![(0, cp)],
        "block rows do not match the checkpoint"
    );
    let mut per_block = std::collections::BTreeMap::<u64, u64>::new();
    store
        .for_each_transfer(Some(Chain::Ethereum), &mut |t| {
            *per_block.entry(t.block).or_default() += 1;
            Ok(())
        })
        .expect("scan");
    assert!(
        per_block.values().all(|&n| n == PER_BATCH),
        "a partial batch survived"
    );
    assert_eq!(per_block.keys().next_back().copied(), Some(cp));
    cp + 1
}

#[test]
fn kill_9_mid_write_leaves_whole_batches_and_a_matching_checkpoint() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary path");
    let mut batches_seen = 0;
    for round in 0..3u64 {
        let mut child = Command::new(&exe)
            .args([
                "crash::crash_child_writes_forever",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_ENV, tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child writer");
        // Let it commit a few batches beyond what earlier rounds wrote, then kill it mid-flight.
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("child writer exited on its own: {status}");
            }
            let done = Store::open_read_only(tmp.path())
                .ok()
                .and_then(|s| s.checkpoint("crash", Chain::Ethereum).ok().flatten())
                .map_or(0, |b| b + 1);
            if done >= batches_seen + 3 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "child made no progress"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(7 * (round + 1)));
        child.kill().expect("SIGKILL the child");
        child.wait().expect("reap child");
        let now = check_consistent(tmp.path());
        assert!(
            now >= batches_seen + 3,
            "round {round}: lost committed batches ({now} < {})",
            batches_seen + 3
        );
        batches_seen = now;
    }
}

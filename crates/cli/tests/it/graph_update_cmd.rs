//! The graph snapshot follows a growing store incrementally (`Graph::updated` via `load_graph`): the merged
//! snapshot is byte-identical to a rebuilt one, an unwind rebuilds in full, and a process killed at any
//! moment leaves a valid snapshot behind.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use chaintrace_core::{Address, Asset, BlockRecord, Chain, Position, Transfer, TransferKind, TxHash, U256};
use chaintrace_graph::Graph;
use chaintrace_store::{Batch, Store, TransferWriter};

/// (chain, tx id, block, from, to, amount), native.
fn write(dir: &Path, rows: &[(Chain, u8, u64, u8, u8, u64)]) {
    let mut store = Store::open(dir).expect("store opens");
    let transfers: Vec<Transfer> = rows
        .iter()
        .map(|&(chain, tx, block, from, to, amount)| Transfer {
            chain,
            block,
            timestamp: 1_700_000_000 + block * 12,
            tx_hash: TxHash([tx; 32]),
            position: Position::Tx,
            from: Address([from; 20]),
            to: Address([to; 20]),
            asset: Asset::Native,
            amount: U256::from(amount),
            kind: TransferKind::Native,
            tx_from: Address([from; 20]),
            tx_fee: U256::ZERO,
            gas_price: U256::ZERO,
        })
        .collect();
    let mut blocks: Vec<BlockRecord> = rows
        .iter()
        .map(|&(chain, _, block, _, _, _)| BlockRecord {
            chain,
            number: block,
            hash: [block as u8; 32],
            parent_hash: [block.wrapping_sub(1) as u8; 32],
            timestamp: 1_700_000_000 + block * 12,
        })
        .collect();
    blocks.dedup_by_key(|b| (b.chain, b.number));
    store
        .write_batch(Batch {
            blocks: &blocks,
            transfers: &transfers,
            logs: &[],
            checkpoint: None,
        })
        .expect("write");
}

fn trace(dir: &Path, extra: &[&str]) -> Output {
    let from = Address([1; 20]).to_hex();
    let mut args = vec![
        "trace",
        "--chain",
        "ethereum",
        "--address",
        &from,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = Command::new(env!("CARGO_BIN_EXE_chaintrace"))
        .arg("--data-dir")
        .arg(dir)
        .args(&args)
        .output()
        .expect("run chaintrace");
    assert!(
        out.status.success(),
        "trace failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn appended_transfers_are_merged_into_the_snapshot_identically_to_a_rebuild() {
    let dir = tempfile::tempdir().expect("temp dir");
    let eth = Chain::Ethereum;
    write(
        dir.path(),
        &[
            (eth, 1, 10, 1, 2, 100),
            (eth, 2, 11, 2, 3, 60),
            (Chain::Bsc, 3, 50, 7, 8, 5),
        ],
    );
    let first = trace(dir.path(), &[]);
    assert!(stderr(&first).contains("building graph"), "{}", stderr(&first));

    // Later on ethereum, new addresses, and an older bsc block range (out of time order).
    write(
        dir.path(),
        &[
            (eth, 4, 12, 3, 4, 30),
            (eth, 5, 12, 1, 9, 7),
            (Chain::Bsc, 6, 20, 8, 7, 1),
        ],
    );
    let updated = trace(dir.path(), &[]);
    let err = stderr(&updated);
    assert!(
        err.contains("updated graph snapshot") && err.contains("merged 3 new transfers"),
        "{err}"
    );
    let snap = dir.path().join("graph.snapshot");
    let merged = std::fs::read(&snap).expect("snapshot");

    let rebuilt_run = trace(dir.path(), &["--rebuild"]);
    assert!(stderr(&rebuilt_run).contains("building graph"));
    let rebuilt = std::fs::read(&snap).expect("snapshot");
    assert!(merged == rebuilt, "merged snapshot differs from the rebuilt one");
    assert_eq!(updated.stdout, rebuilt_run.stdout, "same trace answer");
    let v: serde_json::Value = serde_json::from_slice(&updated.stdout).expect("json");
    assert!(
        v.to_string().contains(&Address([4; 20]).to_hex()),
        "the new hop is traced: {v}"
    );

    // Nothing changed: the snapshot is mapped as is.
    assert!(stderr(&trace(dir.path(), &[])).contains("opened graph snapshot"));
}

#[test]
fn temporaries_of_dead_saves_are_removed_at_the_next_save() {
    let dir = tempfile::tempdir().expect("temp dir");
    let eth = Chain::Ethereum;
    write(dir.path(), &[(eth, 1, 10, 1, 2, 100)]);
    // No process has this id (above Linux's largest pid); a name that is not `tmp<pid>` is not ours.
    let stale = dir.path().join("graph.snapshot.tmp4000000000");
    let other = dir.path().join("graph.snapshot.tmpnotes");
    std::fs::write(&stale, b"half a snapshot").expect("write stale");
    std::fs::write(&other, b"keep").expect("write other");
    let out = trace(dir.path(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    if Path::new("/proc/self").exists() {
        assert!(!stale.exists(), "stale temporary removed: {}", stderr(&out));
        assert!(
            stderr(&out).contains("left by a process that died"),
            "{}",
            stderr(&out)
        );
    } else {
        eprintln!("skip: no /proc here, so stale temporaries are kept by design");
    }
    assert!(other.exists(), "other files are left alone");
    Graph::open_verified(&dir.path().join("graph.snapshot")).expect("the new snapshot is valid");
}

#[test]
fn an_unwind_rebuilds_the_snapshot_in_full() {
    let dir = tempfile::tempdir().expect("temp dir");
    let eth = Chain::Ethereum;
    write(dir.path(), &[(eth, 1, 10, 1, 2, 100), (eth, 2, 11, 2, 3, 60)]);
    trace(dir.path(), &[]);
    {
        let mut store = Store::open(dir.path()).expect("store");
        assert_eq!(store.unwind(eth, 11).expect("unwind"), 1);
    }
    // Same count as before, different transfer at the same height.
    write(dir.path(), &[(eth, 9, 11, 2, 5, 60)]);
    let out = trace(dir.path(), &[]);
    let err = stderr(&out);
    assert!(
        err.contains("cannot be updated in place") && err.contains("rebuilding"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let s = v.to_string();
    assert!(
        s.contains(&Address([5; 20]).to_hex()) && !s.contains(&Address([3; 20]).to_hex()),
        "{s}"
    );
}

#[test]
fn a_process_killed_while_updating_leaves_a_valid_snapshot() {
    // Kill `trace` at increasing delays while it updates a snapshot of a few thousand transfers; whenever it
    // died, the snapshot on disk must be the old or the new one, fully valid, and the next run must succeed.
    let dir = tempfile::tempdir().expect("temp dir");
    let eth = Chain::Ethereum;
    let rows = |base: u64, n: u64| -> Vec<(Chain, u8, u64, u8, u8, u64)> {
        (0..n)
            .map(|i| {
                (
                    eth,
                    (i % 250) as u8,
                    base + i,
                    (i % 200) as u8 + 1,
                    (i % 199) as u8 + 1,
                    i + 1,
                )
            })
            .collect()
    };
    write(dir.path(), &rows(1_000, 40_000));
    trace(dir.path(), &[]);
    let snap = dir.path().join("graph.snapshot");
    let (mut killed, mut mid_save) = (0, 0);
    let delays = [10u64, 40, 80, 120, 160, 200, 250, 300, 400, 600];
    for (k, delay_ms) in delays.into_iter().enumerate() {
        write(dir.path(), &rows(100_000 * (k as u64 + 1), 500));
        let mut child = Command::new(env!("CARGO_BIN_EXE_chaintrace"))
            .arg("--data-dir")
            .arg(dir.path())
            .args([
                "trace",
                "--chain",
                "ethereum",
                "--address",
                &Address([1; 20]).to_hex(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("kill");
            killed += 1;
        }
        child.wait().expect("reap");
        let g = Graph::open_verified(&snap).expect("the snapshot is valid after the kill");
        assert!(g.edge_count() >= 40_000);
        // A stray temporary file means the kill landed while the new snapshot was being written.
        for entry in std::fs::read_dir(dir.path()).expect("list") {
            let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
            if name.starts_with("graph.snapshot.tmp") {
                mid_save += 1;
                std::fs::remove_file(dir.path().join(&name)).expect("remove stray");
            }
        }
    }
    eprintln!(
        "{killed} of {} runs killed before they finished, {mid_save} while writing the snapshot",
        delays.len()
    );
    let after = trace(dir.path(), &[]);
    let g = Graph::open_verified(&snap).expect("valid");
    assert_eq!(
        g.edge_count(),
        40_000 + 500 * delays.len() as u32,
        "{}",
        stderr(&after)
    );
}

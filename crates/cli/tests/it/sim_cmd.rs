//! `chaintrace sim`, run as the real binary: world into the store, truth JSON and labels CSV beside it.

use std::path::Path;
use std::process::{Command, Output};

use chaintrace_core::Chain;
use chaintrace_sim::GroundTruth;
use chaintrace_store::{Store, TransferReader};
use serde_json::Value;

fn chaintrace(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaintrace"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("CHAINTRACE_DATA_DIR")
        .output()
        .expect("the chaintrace binary runs")
}

fn ok(data_dir: &Path, args: &[&str]) -> (String, String) {
    let out = chaintrace(data_dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "chaintrace {args:?} failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

fn read_truth(path: &Path) -> GroundTruth {
    let text = std::fs::read_to_string(path).expect("truth file written");
    serde_json::from_str(&text).expect("truth file is a GroundTruth")
}

#[test]
fn sim_writes_the_world_into_the_store_with_truth_and_labels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (stdout, stderr) = ok(
        dir.path(),
        &["sim", "--seed", "5", "--transfers", "5000", "--format", "json"],
    );
    let summary: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_eq!(summary["schema_version"], 1);
    let truth_path = dir.path().join("sim-truth.json");
    let labels_path = dir.path().join("sim-labels.csv");
    assert!(
        stderr.contains(&truth_path.display().to_string()),
        "truth path on stderr: {stderr}"
    );
    assert!(
        stderr.contains(&labels_path.display().to_string()),
        "labels path on stderr: {stderr}"
    );
    let truth = read_truth(&truth_path);
    assert_eq!(summary["transfers"], truth.stats.transfers);
    assert!(truth.stats.transfers >= 5000);
    assert_eq!(summary["incidents"].as_array().map(Vec::len), Some(3));

    let store = Store::open_read_only(dir.path()).expect("store exists");
    assert_eq!(store.transfer_count(None).expect("count"), truth.stats.transfers);
    for c in &truth.chains {
        assert_eq!(store.transfer_count(Some(c.chain)).expect("count"), c.transfers);
        let stored = store
            .block(c.chain, c.last_block)
            .expect("read block")
            .expect("last block stored");
        assert_eq!(stored.timestamp, c.last_timestamp);
        assert_eq!(
            store.checkpoint("sim", c.chain).expect("checkpoint"),
            Some(c.last_block)
        );
    }
    // Bridge and mixer logs are stored; each bridge crossing's id is in both ends' logs.
    let logs = store.raw_logs(None).expect("raw logs");
    assert_eq!(logs.len() as u64, truth.stats.logs);
    for b in &truth.bridge_transfers {
        let ends = logs
            .iter()
            .filter(|l| l.topics.get(1) == Some(&b.message_id.0))
            .count();
        assert_eq!(ends, 2, "deposit and release logs of {}", b.deposit_tx);
    }
    // Every drain of every incident reads back from the store at the exploiter.
    for inc in &truth.incidents {
        for d in &inc.drains {
            let got = store
                .transfers_of(d.to, Some(d.chain))
                .expect("transfers of exploiter");
            assert!(
                got.iter()
                    .any(|t| t.tx_hash == d.tx_hash && t.amount == d.amount && t.from == d.from)
            );
        }
    }
    // The reused address is seen on two chains in the store.
    let reused = truth.incidents[1].reused.as_ref().expect("linked by default");
    let chains: std::collections::BTreeSet<Chain> = store
        .transfers_of(reused.address, None)
        .expect("read")
        .iter()
        .map(|t| t.chain)
        .collect();
    assert!(chains.len() >= 2, "reused address on {chains:?}");

    // The labels CSV is in the plain label format the importer reads.
    let csv = std::fs::read_to_string(&labels_path).expect("labels written");
    assert!(csv.starts_with("chain,address,label,category,actor,source,confidence\n"));
    assert_eq!(csv.lines().count(), truth.labels.len() + 1);
    ok(
        dir.path(),
        &["labels", "import", labels_path.to_str().expect("utf-8 path")],
    );
    let (shown, _) = ok(
        dir.path(),
        &["labels", "show", &reused.address.to_hex(), "--format", "json"],
    );
    let shown: Value = serde_json::from_str(&shown).expect("labels show prints JSON");
    let labels = shown["labels"].as_array().expect("labels array");
    assert!(
        labels
            .iter()
            .any(|l| l["actor"] == "lazarus" && l["category"] == "perpetrator" && l["source"] == "FBI")
    );
}

#[test]
fn sim_is_deterministic_and_honours_options() {
    let a = tempfile::tempdir().expect("temp dir");
    let b = tempfile::tempdir().expect("temp dir");
    let args = [
        "sim",
        "--seed",
        "9",
        "--transfers",
        "3000",
        "--chains",
        "ethereum,polygon",
        "--no-link",
    ];
    let (table, _) = ok(a.path(), &args);
    assert!(
        table.contains("incidents") && table.contains("unlinked"),
        "table summary: {table}"
    );
    ok(b.path(), &args);
    let ta = std::fs::read(a.path().join("sim-truth.json")).expect("truth a");
    let tb = std::fs::read(b.path().join("sim-truth.json")).expect("truth b");
    assert!(ta == tb, "same seed gives byte-identical truth");
    let truth = read_truth(&a.path().join("sim-truth.json"));
    assert_eq!(
        truth.chains.iter().map(|c| c.chain).collect::<Vec<_>>(),
        vec![Chain::Ethereum, Chain::Polygon]
    );
    assert!(truth.incidents.iter().all(|i| i.reused.is_none()));

    let custom = a.path().join("out/truth.json");
    ok(
        a.path(),
        &[
            "sim",
            "--seed",
            "10",
            "--transfers",
            "2000",
            "--truth",
            custom.to_str().expect("utf-8"),
        ],
    );
    assert_ne!(
        read_truth(&custom).incidents[0].exploiters,
        truth.incidents[0].exploiters
    );
}

#[test]
fn sim_rejects_a_non_evm_chain_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = chaintrace(
        dir.path(),
        &["sim", "--transfers", "1000", "--chains", "ethereum,tron"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tron"), "{stderr}");
    assert!(stderr.lines().count() == 1, "one-line error: {stderr}");
}

//! `chaintrace trace`, run as the real binary against a store filled through the store writer.

use std::path::Path;
use std::process::{Command, Output};

use chaintrace_core::{Address, Asset, BlockRecord, Chain, Position, Transfer, TransferKind, TxHash, U256};
use chaintrace_store::{Batch, Store, TransferWriter};
use serde_json::Value;

fn addr(i: u8) -> Address {
    Address([i; 20])
}

fn hex(i: u8) -> String {
    addr(i).to_hex()
}

/// (tx id, block, from, to, amount) on ethereum, native.
fn write(dir: &Path, rows: &[(u8, u64, u8, u8, u64)]) {
    let mut store = Store::open(dir).expect("store opens");
    let transfers: Vec<Transfer> = rows
        .iter()
        .map(|&(tx, block, from, to, amount)| Transfer {
            chain: Chain::Ethereum,
            block,
            timestamp: 1_700_000_000 + block * 12,
            tx_hash: TxHash([tx; 32]),
            position: Position::Tx,
            from: addr(from),
            to: addr(to),
            asset: Asset::Native,
            amount: U256::from(amount),
            kind: TransferKind::Native,
            tx_from: addr(from),
            tx_fee: U256::ZERO,
            gas_price: U256::ZERO,
        })
        .collect();
    let blocks: Vec<BlockRecord> = rows
        .iter()
        .map(|r| BlockRecord {
            chain: Chain::Ethereum,
            number: r.1,
            hash: [r.1 as u8; 32],
            parent_hash: [r.1.saturating_sub(1) as u8; 32],
            timestamp: 1_700_000_000 + r.1 * 12,
        })
        .collect();
    store
        .write_batch(Batch {
            blocks: &blocks,
            transfers: &transfers,
            logs: &[],
            checkpoint: None,
        })
        .expect("write");
}

/// The worked example of docs/tracing.md: S=1, C=2, X=3, Y=4, Z=5, W=6.
fn worked_example(dir: &Path) {
    write(
        dir,
        &[
            (10, 1, 2, 3, 60),
            (11, 2, 1, 3, 40),
            (12, 3, 3, 4, 50),
            (13, 4, 3, 5, 30),
            (14, 5, 3, 6, 7),
        ],
    );
}

fn chaintrace(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaintrace"))
        .arg("--data-dir")
        .arg(dir)
        .arg("trace")
        .args(args)
        .env_remove("CHAINTRACE_DATA_DIR")
        .output()
        .expect("the chaintrace binary runs")
}

fn ok_json(dir: &Path, args: &[&str]) -> (Value, String) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let out = chaintrace(dir, &all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "trace {args:?} failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    (
        serde_json::from_str(&stdout).expect("stdout is one JSON document"),
        stderr,
    )
}

fn fails(dir: &Path, args: &[&str], needle: &str) {
    let out = chaintrace(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "trace {args:?} should exit 1; stderr: {stderr}"
    );
    assert!(out.stdout.is_empty(), "no result on stdout for {args:?}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains(needle),
        "error line {last:?} should contain {needle:?}"
    );
}

fn amounts(v: &Value, section: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v[section]
        .as_array()
        .expect("array")
        .iter()
        .map(|x| {
            (
                x["address"].as_str().expect("address").to_string(),
                x["amount"].as_str().expect("amount").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn pairs(p: &[(u8, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = p.iter().map(|(a, n)| (hex(*a), n.to_string())).collect();
    v.sort();
    v
}

#[test]
fn trace_reports_the_worked_example_under_each_model() {
    let dir = tempfile::tempdir().expect("temp dir");
    worked_example(dir.path());
    let s = hex(1);
    let (v, stderr) = ok_json(
        dir.path(),
        &["--chain", "ethereum", "--address", &s, "--model", "haircut"],
    );
    assert!(stderr.contains("built graph"), "first run builds: {stderr}");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["model"], "haircut");
    assert_eq!(v["amount_semantics"], "taint");
    assert_eq!(
        amounts(&v, "destinations"),
        pairs(&[(3, "40"), (4, "20"), (5, "12"), (6, "2")])
    );
    assert_eq!(
        amounts(&v, "holding"),
        pairs(&[(3, "6"), (4, "20"), (5, "12"), (6, "2")])
    );
    let w = v["destinations"]
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["address"] == hex(6))
        .expect("W");
    assert_eq!(w["hops"], 2);
    assert_eq!(
        w["path"],
        serde_json::json!([TxHash([11; 32]).to_hex(), TxHash([14; 32]).to_hex()])
    );
    assert_eq!(w["model"], "haircut");
    assert!(dir.path().join("graph.snapshot").is_file());

    let (v, stderr) = ok_json(
        dir.path(),
        &["--chain", "eth", "--address", &s, "--model", "fifo"],
    );
    assert!(
        stderr.contains("opened graph snapshot"),
        "second run maps the snapshot: {stderr}"
    );
    assert_eq!(
        amounts(&v, "destinations"),
        pairs(&[(3, "40"), (5, "20"), (6, "7")])
    );
    assert_eq!(amounts(&v, "holding"), pairs(&[(3, "13"), (5, "20"), (6, "7")]));

    let (v, _) = ok_json(dir.path(), &["--chain", "1", "--address", &s]);
    assert_eq!(v["model"], "poison");
    assert_eq!(v["amount_semantics"], "moved");
    assert_eq!(
        amounts(&v, "destinations"),
        pairs(&[(3, "40"), (4, "50"), (5, "30"), (6, "7")])
    );

    let (v, _) = ok_json(
        dir.path(),
        &["--chain", "ethereum", "--address", &s, "--max-hops", "1"],
    );
    assert_eq!(amounts(&v, "destinations"), pairs(&[(3, "40")]));
    assert_eq!(v["holding"][0]["reason"], "hop_limit");

    let table = chaintrace(
        dir.path(),
        &["--chain", "ethereum", "--address", &s, "--model", "haircut"],
    );
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success());
    assert!(
        text.contains("DESTINATIONS (4)") && text.contains("emitted 40 = holding 40"),
        "{text}"
    );
}

#[test]
fn backward_trace_finds_the_origin() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), &[(1, 1, 1, 2, 10), (2, 2, 2, 3, 10)]);
    let (v, _) = ok_json(
        dir.path(),
        &[
            "--chain",
            "ethereum",
            "--address",
            &hex(3),
            "--direction",
            "backward",
            "--model",
            "fifo",
        ],
    );
    assert_eq!(v["direction"], "backward");
    assert_eq!(amounts(&v, "destinations"), pairs(&[(1, "10"), (2, "10")]));
    let a = v["destinations"]
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["address"] == hex(1))
        .expect("A");
    assert_eq!(
        a["path"],
        serde_json::json!([TxHash([2; 32]).to_hex(), TxHash([1; 32]).to_hex()])
    );
}

#[test]
fn snapshot_is_rebuilt_when_the_store_grows_or_the_file_is_damaged() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), &[(1, 1, 1, 2, 10)]);
    let (v, _) = ok_json(dir.path(), &["--chain", "ethereum", "--address", &hex(1)]);
    assert_eq!(amounts(&v, "destinations"), pairs(&[(2, "10")]));
    write(dir.path(), &[(2, 2, 2, 3, 10)]);
    let (v, stderr) = ok_json(dir.path(), &["--chain", "ethereum", "--address", &hex(1)]);
    assert!(stderr.contains("updated graph snapshot"), "{stderr}");
    assert_eq!(amounts(&v, "destinations"), pairs(&[(2, "10"), (3, "10")]));

    let snap = dir.path().join("graph.snapshot");
    let mut bytes = std::fs::read(&snap).expect("snapshot");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&snap, &bytes).expect("damage");
    let (v, stderr) = ok_json(dir.path(), &["--chain", "ethereum", "--address", &hex(1)]);
    assert!(
        stderr.contains("corrupt") && stderr.contains("rebuilding"),
        "{stderr}"
    );
    assert_eq!(amounts(&v, "destinations"), pairs(&[(2, "10"), (3, "10")]));
}

#[test]
fn bad_input_is_a_one_line_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    fails(
        dir.path(),
        &["--chain", "ethereum", "--address", &hex(1)],
        "no store",
    );
    Store::open(dir.path()).expect("create empty store");
    fails(
        dir.path(),
        &["--chain", "ethereum", "--address", &hex(1)],
        "holds no transfers",
    );
    write(dir.path(), &[(1, 1, 1, 2, 10)]);
    fails(
        dir.path(),
        &["--chain", "ethereum", "--address", &hex(9)],
        "has no transfers on ethereum",
    );
    fails(
        dir.path(),
        &["--chain", "solana", "--address", &hex(1)],
        "unknown chain",
    );
    fails(
        dir.path(),
        &["--chain", "bsc", "--address", &hex(1)],
        "no transfers on bsc",
    );
    fails(
        dir.path(),
        &["--chain", "ethereum", "--address", "0x12"],
        "bad address",
    );
    fails(
        dir.path(),
        &[
            "--chain",
            "ethereum",
            "--address",
            &hex(1),
            "--since",
            "2024-02-01",
            "--until",
            "2024-01-01",
        ],
        "after --until",
    );
    fails(
        dir.path(),
        &[
            "--chain",
            "ethereum",
            "--address",
            &hex(1),
            "--since",
            "last week",
        ],
        "--since",
    );
    fails(
        dir.path(),
        &["--chain", "ethereum", "--address", &hex(1), "--min-amount", "1.5"],
        "--min-amount",
    );
    fails(
        dir.path(),
        &["--chain", "ethereum", "--address", &hex(1), "--max-hops", "0"],
        "max hops",
    );
}

#[test]
fn trace_stops_at_a_labeled_exchange_and_reports_it_as_an_exit() {
    // S=1 -> X=3 -> E=7 (labeled exchange) -> Z=8: Z must not be reached, E is an exit.
    let dir = tempfile::tempdir().expect("temp dir");
    write(
        dir.path(),
        &[(1, 1, 1, 3, 100), (2, 2, 3, 7, 100), (3, 3, 7, 8, 100)],
    );
    let (before, _) = ok_json(dir.path(), &["--chain", "ethereum", "--address", &hex(1)]);
    assert!(
        amounts(&before, "destinations").iter().any(|(a, _)| *a == hex(8)),
        "without labels the trace goes on past E: {before}"
    );
    let csv = dir.path().join("labels.csv");
    std::fs::write(
        &csv,
        format!(
            "chain,address,label,category,actor,source,confidence\nethereum,{},testex: deposit,exchange,,test,95\n",
            hex(7)
        ),
    )
    .expect("write labels");
    let out = Command::new(env!("CARGO_BIN_EXE_chaintrace"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["labels", "import", csv.to_str().expect("utf-8 path")])
        .env_remove("CHAINTRACE_DATA_DIR")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (v, _) = ok_json(dir.path(), &["--chain", "ethereum", "--address", &hex(1)]);
    let exits = v["exits"].as_array().expect("exits");
    assert_eq!(exits.len(), 1, "{v}");
    assert_eq!(exits[0]["address"], hex(7));
    assert_eq!(exits[0]["category"], "exchange");
    assert_eq!(exits[0]["amount"], "100");
    let reached: Vec<String> = amounts(&v, "destinations").into_iter().map(|(a, _)| a).collect();
    assert!(!reached.contains(&hex(8)), "the trace went past the exit: {v}");
    assert!(reached.contains(&hex(7)), "{v}");
}

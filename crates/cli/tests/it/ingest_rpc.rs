//! `chaintrace ingest rpc` as a process: exact rows, kill -9 mid-way then resume, one-line errors.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chaintrace_core::{Chain, Transfer};
use chaintrace_store::{Store, TransferReader};
use chaintrace_testkit::scenario::{self, sort_transfers};
use chaintrace_testkit::{Anvil, require_anvil};

fn chaintrace(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chaintrace"));
    cmd.arg("--data-dir")
        .arg(data_dir)
        .env_remove("CHAINTRACE_RPC_URL")
        .env_remove("CHAINTRACE_DATA_DIR");
    cmd
}

fn ingest_args(url: &str, to_block: u64) -> Vec<String> {
    [
        "ingest",
        "rpc",
        "--chain",
        "ethereum",
        "--rpc-url",
        url,
        "--confirmations",
        "0",
        "--to-block",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([to_block.to_string()])
    .collect()
}

fn stored(dir: &Path) -> Vec<Transfer> {
    let store = Store::open_read_only(dir).expect("open store");
    let mut all = Vec::new();
    store
        .for_each_transfer(None, &mut |t| {
            all.push(t);
            Ok(())
        })
        .expect("read transfers");
    sort_transfers(&mut all);
    all
}

fn assert_same_rows(actual: &[Transfer], expected: &[Transfer]) {
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a, e, "row {i} differs");
    }
    assert_eq!(actual.len(), expected.len(), "row counts differ");
}

fn json_stdout(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "chaintrace failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON report")
}

fn one_line_error(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "nothing on stdout on error");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

#[test]
fn live_ingest_rpc_binary_stores_the_scenario_and_a_rerun_adds_nothing() {
    if !require_anvil("live_ingest_rpc_binary_stores_the_scenario_and_a_rerun_adds_nothing") {
        return;
    }
    let anvil = Anvil::spawn(1).expect("anvil");
    let outcome = scenario::basic(&anvil.rpc(), Chain::Ethereum).expect("scenario");
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ingest_args(anvil.url(), outcome.last_block);

    let out = chaintrace(dir.path())
        .args(&args)
        .args(["--format", "json"])
        .output()
        .expect("run chaintrace");
    let report = json_stdout(&out);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["inserted"], outcome.expected.len() as u64);
    assert_eq!(report["checkpoint"], outcome.last_block);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains(&format!("{} new", outcome.expected.len())),
        "summary line: {summary}"
    );
    assert_same_rows(&stored(dir.path()), &outcome.expected);

    let out = chaintrace(dir.path())
        .args(&args)
        .args(["--format", "json"])
        .output()
        .expect("rerun");
    let report = json_stdout(&out);
    assert_eq!(
        (report["blocks"].as_u64(), report["inserted"].as_u64()),
        (Some(0), Some(0))
    );
    let out = chaintrace(dir.path())
        .args(&args)
        .args(["--no-resume", "--format", "json"])
        .output()
        .expect("reread");
    let report = json_stdout(&out);
    assert_eq!(report["inserted"], 0);
    assert_eq!(report["duplicates"], outcome.expected.len() as u64);
    assert_same_rows(&stored(dir.path()), &outcome.expected);
}

#[test]
fn live_ingest_rpc_killed_with_sigkill_resumes_to_the_same_store_as_a_clean_run() {
    if !require_anvil("live_ingest_rpc_killed_with_sigkill_resumes_to_the_same_store_as_a_clean_run") {
        return;
    }
    let anvil = Anvil::spawn(1).expect("anvil");
    // 150 rounds: 300 blocks, 150 x (19 token + 1 native) = 3000 transfers, plus the mint.
    let outcome = scenario::many_blocks(&anvil.rpc(), Chain::Ethereum, 150, 19).expect("scenario");
    assert!(outcome.expected.len() >= 3000 && outcome.last_block >= 300);
    let args = ingest_args(anvil.url(), outcome.last_block);

    // Slow the run down (small windows, rate limit) so it can be killed mid-way.
    let killed = tempfile::tempdir().expect("tempdir");
    let mut child = chaintrace(killed.path())
        .args(&args)
        .args([
            "--batch-size",
            "2",
            "--concurrency",
            "1",
            "--requests-per-second",
            "120",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chaintrace");
    let deadline = Instant::now() + Duration::from_secs(120);
    let at_kill = loop {
        assert!(Instant::now() < deadline, "checkpoint never advanced");
        assert!(
            child.try_wait().expect("poll child").is_none(),
            "ingest finished before it could be killed"
        );
        let cp = Store::open_read_only(killed.path())
            .ok()
            .and_then(|s| s.checkpoint("rpc", Chain::Ethereum).ok().flatten());
        if let Some(cp) = cp
            && cp >= outcome.first_block + 20
        {
            child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
            child.wait().expect("reap");
            break cp;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let cp_after_kill = Store::open_read_only(killed.path())
        .expect("store after kill")
        .checkpoint("rpc", Chain::Ethereum)
        .expect("checkpoint")
        .expect("checkpoint survives the kill");
    assert!(cp_after_kill >= at_kill, "checkpoint went backwards");
    assert!(
        cp_after_kill < outcome.last_block,
        "killed mid-way (checkpoint {cp_after_kill})"
    );
    let partial = stored(killed.path());
    assert!(!partial.is_empty() && partial.len() < outcome.expected.len());
    eprintln!(
        "killed at checkpoint {cp_after_kill} of {}: {} of {} transfers stored",
        outcome.last_block,
        partial.len(),
        outcome.expected.len()
    );
    // Every stored row lies in a block the checkpoint covers (windows are written whole) ...
    assert!(
        partial.iter().all(|t| t.block <= cp_after_kill),
        "rows beyond the checkpoint"
    );

    let out = chaintrace(killed.path())
        .args(&args)
        .args(["--format", "json"])
        .output()
        .expect("rerun");
    let report = json_stdout(&out);
    // ... so the rerun resumes right after the checkpoint and finds nothing already there.
    assert_eq!(report["start_block"], cp_after_kill + 1);
    assert_eq!(
        report["duplicates"], 0,
        "rows beyond the checkpoint survived the kill"
    );
    assert_eq!(
        report["inserted"].as_u64(),
        Some((outcome.expected.len() - partial.len()) as u64)
    );

    let clean = tempfile::tempdir().expect("tempdir");
    let out = chaintrace(clean.path())
        .args(&args)
        .args(["--format", "json"])
        .output()
        .expect("clean run");
    json_stdout(&out);
    let resumed = stored(killed.path());
    assert_same_rows(&resumed, &stored(clean.path()));
    assert_same_rows(&resumed, &outcome.expected);
}

#[test]
fn live_ingest_rpc_refuses_a_node_of_another_chain_with_one_line() {
    if !require_anvil("live_ingest_rpc_refuses_a_node_of_another_chain_with_one_line") {
        return;
    }
    let anvil = Anvil::spawn(10).expect("anvil");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = chaintrace(dir.path())
        .args(ingest_args(anvil.url(), 0))
        .output()
        .expect("run chaintrace");
    let err = one_line_error(&out);
    assert!(
        err.contains("expected chain id 1") && err.contains("reports 10"),
        "{err}"
    );
}

#[test]
fn ingest_rpc_reports_an_unreachable_node_clearly_without_leaking_the_key() {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url =
        format!("http://user:hunter2@127.0.0.1:{port}/v3/0123456789abcdef0123456789abcdef?apikey=SECRETKEY");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = chaintrace(dir.path())
        .args(["ingest", "rpc", "--chain", "ethereum", "--timeout", "5"])
        .env("CHAINTRACE_RPC_URL", &url)
        .output()
        .expect("run chaintrace");
    let err = one_line_error(&out);
    assert!(
        err.contains("unreachable") && err.contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    for secret in ["hunter2", "0123456789abcdef0123456789abcdef", "SECRETKEY"] {
        assert!(!err.contains(secret), "secret {secret} leaked: {err}");
    }
}

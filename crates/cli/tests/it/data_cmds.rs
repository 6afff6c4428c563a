//! `import`, `transfers`, `status` and `export` run as the real binary against a temporary data dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ethereum-etl-test-fixtures");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: ethereum-etl fixtures not found at {}", dir.display());
        None
    }
}

fn chaintrace(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaintrace"))
        .args(args)
        .env("CHAINTRACE_DATA_DIR", data)
        .output()
        .expect("run chaintrace")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// Fails with exit code 1 and exactly one `error: ...` line on stderr.
fn assert_one_line_error(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(o));
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(needle),
        "{err} should mention {needle}"
    );
    assert!(stdout(o).is_empty(), "nothing on stdout on error");
}

/// Block 483920 laid out as an ethereum-etl export directory (ethereum-etl's own expected outputs).
fn export_483920(fixtures: &Path, into: &Path) {
    std::fs::create_dir_all(into).expect("mkdir");
    for (from, to) in [
        (
            "test_export_blocks_job/block_with_logs/expected_blocks.csv",
            "blocks.csv",
        ),
        (
            "test_export_blocks_job/block_with_logs/expected_transactions.csv",
            "transactions.csv",
        ),
        (
            "test_export_receipts_job/receipts_with_logs/expected_receipts.csv",
            "receipts.csv",
        ),
        (
            "test_export_token_transfers_job/block_with_transfers/expected_token_transfers.csv",
            "token_transfers.csv",
        ),
    ] {
        std::fs::copy(fixtures.join(from), into.join(to)).expect("copy fixture");
    }
}

const SENDER: &str = "0x9b22a80d5c7b3374a05b446081f97d0a34079e7f";

#[test]
fn import_etl_then_transfers_status_and_export() {
    let Some(fixtures) = fixtures() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let export = tmp.path().join("export");
    export_483920(&fixtures, &export);

    let o = chaintrace(
        &data,
        &[
            "import",
            "etl",
            "--chain",
            "ethereum",
            export.to_str().expect("utf-8 path"),
        ],
    );
    assert_ok(&o);
    assert!(stdout(&o).is_empty(), "import prints results only to stderr");
    let summary = stderr(&o);
    assert!(
        summary.contains("imported 4 transfers (0 duplicates)"),
        "{summary}"
    );
    assert!(summary.contains("etl checkpoint ethereum 483920"), "{summary}");
    let o = chaintrace(
        &data,
        &[
            "import",
            "etl",
            "--chain",
            "ethereum",
            export.to_str().expect("utf-8 path"),
        ],
    );
    assert_ok(&o);
    assert!(
        stderr(&o).contains("imported 0 transfers (4 duplicates)"),
        "{}",
        stderr(&o)
    );

    // JSON contract.
    let o = chaintrace(&data, &["transfers", "--address", SENDER, "--format", "json"]);
    assert_ok(&o);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(doc["schema_version"], 1);
    let ts = doc["transfers"].as_array().expect("transfers array");
    assert_eq!(ts.len(), 1);
    let t = &ts[0];
    assert_eq!(t["chain"], "ethereum");
    assert_eq!(t["block"], 483_920);
    assert_eq!(t["timestamp"], 1_446_561_880);
    assert_eq!(
        t["tx_hash"],
        "0xcea6f89720cc1d2f46cc7a935463ae0b99dd5fad9c91bb7357de5421511cee49"
    );
    assert_eq!(t["from"], SENDER);
    assert_eq!(t["to"], "0x66f183060253cfbe45beff1e6e7ebbe318c81e56");
    assert_eq!(t["asset"], "0xf4eced2f682ce333f96f2d8966c613ded8fc95dd");
    assert_eq!(t["amount"], "200000");
    assert_eq!(t["kind"], "token");
    assert_eq!(t["position"], "log:1");
    assert_eq!(t["tx_fee"], "2542650000000000");

    // Table: checksummed addresses, readable time; a checksummed query address works too.
    let o = chaintrace(
        &data,
        &[
            "transfers",
            "--address",
            "0x9DF428A91FF0F3635C8F0CE752933B9788926804",
        ],
    );
    assert_ok(&o);
    let table = stdout(&o);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("time (UTC)"), "{table}");
    assert!(
        lines[1].starts_with("2015-11-03 14:44:40  ethereum  483920  out"),
        "{table}"
    );
    assert!(
        lines[1].contains("0x9Df428A91Ff0F3635C8f0ce752933b9788926804"),
        "checksummed: {table}"
    );
    assert!(lines[1].contains("0.01100044  ETH"), "{table}");

    let o = chaintrace(&data, &["status", "--format", "json"]);
    assert_ok(&o);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(doc["schema_version"], 1);
    let eth = &doc["chains"][0];
    assert_eq!(eth["chain"], "ethereum");
    assert_eq!(eth["transfers"], 4);
    assert_eq!(eth["ranges"], serde_json::json!([[483_920, 483_920]]));
    assert_eq!(eth["checkpoints"]["etl"], 483_920);
    let o = chaintrace(&data, &["status"]);
    assert_ok(&o);
    assert!(
        stdout(&o)
            .lines()
            .any(|l| l.starts_with("ethereum") && l.contains("etl=483920")),
        "{}",
        stdout(&o)
    );

    let out = tmp.path().join("out");
    let out_s = out.to_str().expect("utf-8 path");
    assert_ok(&chaintrace(&data, &["export", "--format", "csv", "--out", out_s]));
    let csv = std::fs::read_to_string(out.join("transfers.csv")).expect("csv written");
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("chain,block,timestamp,tx_hash,position,from,to,asset,amount,kind,tx_from,tx_fee,gas_price")
    );
    assert_eq!(rows.count(), 4);
    assert_ok(&chaintrace(
        &data,
        &[
            "export", "--format", "parquet", "--out", out_s, "--chain", "ethereum",
        ],
    ));
    let parquet = std::fs::read(out.join("transfers.parquet")).expect("parquet written");
    assert!(
        parquet.starts_with(b"PAR1") && parquet.ends_with(b"PAR1"),
        "parquet magic"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn import_csv_round_trips_through_transfers_csv() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let file = tmp.path().join("flows.csv");
    let a = "0x1111111111111111111111111111111111111111";
    let b = "0x2222222222222222222222222222222222222222";
    let usdt = "0xdac17f958d2ee523a2206206994597c13d831ec7";
    let h = "0xabababababababababababababababababababababababababababababababab";
    std::fs::write(
        &file,
        format!(
            "block,timestamp,tx_hash,from,to,asset,amount\n\
             100,1700000000,{h},{a},{b},native,1500000000000000000\n\
             101,2023-11-14 22:13:32,{h},{b},{a},{usdt},115792089237316195423570985008687907853269984665640564039457584007913129639935\n"
        ),
    )
    .expect("write csv");
    let o = chaintrace(
        &data,
        &[
            "import",
            "csv",
            "--chain",
            "bsc",
            file.to_str().expect("utf-8 path"),
        ],
    );
    assert_ok(&o);
    assert!(
        stderr(&o).contains("imported 2 transfers (0 duplicates)"),
        "{}",
        stderr(&o)
    );
    let o = chaintrace(
        &data,
        &["transfers", "--address", a, "--chain", "bsc", "--format", "csv"],
    );
    assert_ok(&o);
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[1],
        format!("bsc,100,1700000000,{h},tx,{a},{b},native,1500000000000000000,native,{a},0,0")
    );
    assert!(
        lines[2].contains(",log:2,")
            && lines[2].ends_with(",token,0x2222222222222222222222222222222222222222,0,0")
    );
    assert!(
        lines[2].contains("115792089237316195423570985008687907853269984665640564039457584007913129639935")
    );
    // Other chains hold nothing.
    let o = chaintrace(
        &data,
        &[
            "transfers",
            "--address",
            a,
            "--chain",
            "ethereum",
            "--format",
            "json",
        ],
    );
    assert_ok(&o);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(doc["transfers"].as_array().map(Vec::len), Some(0));
}

#[test]
fn bad_input_exits_1_with_one_line_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let o = chaintrace(&data, &["transfers", "--address", "0x1234"]);
    assert_one_line_error(&o, "bad address '0x1234'");
    let o = chaintrace(
        &data,
        &[
            "transfers",
            "--address",
            "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        ],
    );
    assert_one_line_error(&o, "EIP-55");
    let o = chaintrace(
        &data,
        &[
            "transfers",
            "--address",
            "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        ],
    );
    assert_one_line_error(&o, "no store at");

    let file = tmp.path().join("bad.csv");
    std::fs::write(
        &file,
        "chain,block,timestamp,tx_hash,from,to,asset,amount\n\
         ethereum,1,1,0xabababababababababababababababababababababababababababababababab,\
         0x1111111111111111111111111111111111111111,0x2222222222222222222222222222222222222222,native,12.5\n",
    )
    .expect("write");
    let o = chaintrace(&data, &["import", "csv", file.to_str().expect("utf-8 path")]);
    assert_one_line_error(&o, "bad.csv:2: column 'amount'");
    // Nothing was half-written.
    let o = chaintrace(&data, &["status", "--format", "json"]);
    assert_ok(&o);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(doc["chains"], serde_json::json!([]));

    let o = chaintrace(
        &data,
        &[
            "import",
            "etl",
            "--chain",
            "ethereum",
            tmp.path().to_str().expect("utf-8"),
        ],
    );
    assert_one_line_error(&o, "none of blocks.csv");
    let o = chaintrace(&data, &["import", "etl", "--chain", "solana", "."]);
    assert_eq!(o.status.code(), Some(2), "clap usage error: {}", stderr(&o));
}

#[test]
fn status_of_a_fresh_data_dir_says_so() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = chaintrace(&tmp.path().join("none"), &["status"]);
    assert_ok(&o);
    assert!(stdout(&o).contains("not created yet"), "{}", stdout(&o));
    assert!(
        !tmp.path().join("none").exists(),
        "status must not create the store"
    );
}

/// A data directory written by an older chaintrace (schema version 3: no kept per-chain counts) is
/// migrated once by the first reading command, which then answers with the right counts; later commands
/// open it read-only without migrating again.
#[test]
fn reading_commands_migrate_an_older_store_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let file = tmp.path().join("flows.csv");
    let a = "0x1111111111111111111111111111111111111111";
    let b = "0x2222222222222222222222222222222222222222";
    let h = "0xabababababababababababababababababababababababababababababababab";
    std::fs::write(
        &file,
        format!(
            "block,timestamp,tx_hash,from,to,asset,amount\n\
             100,1700000000,{h},{a},{b},native,15\n\
             101,1700000012,{h},{b},{a},native,7\n"
        ),
    )
    .expect("write csv");
    assert_ok(&chaintrace(
        &data,
        &[
            "import",
            "csv",
            "--chain",
            "bsc",
            file.to_str().expect("utf-8 path"),
        ],
    ));
    {
        // Turn the file back into a version 3 store.
        let conn = rusqlite::Connection::open(data.join("chaintrace.sqlite")).expect("open sqlite");
        conn.execute_batch("DROP TABLE chain_stats; PRAGMA user_version = 3;")
            .expect("downgrade");
    }
    let o = chaintrace(&data, &["status", "--format", "json"]);
    assert_ok(&o);
    assert!(
        stderr(&o).contains("from schema version 3 to 5"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["chains"][0]["chain"], "bsc", "{v}");
    assert_eq!(v["chains"][0]["transfers"], 2, "{v}");
    let o = chaintrace(&data, &["transfers", "--address", a, "--format", "json"]);
    assert_ok(&o);
    assert!(!stderr(&o).contains("migrating"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["transfers"].as_array().map(Vec::len), Some(2));
}

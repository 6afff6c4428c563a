//! The CoinEx-style replay, end to end on five real local chains: the world (built once by
//! `chaintrace-replay` and cached in target/replay-cache) is loaded into five anvil nodes, the REAL
//! `chaintrace` binary ingests them over JSON-RPC, imports the labels and bridges, investigates the
//! incident, and its JSON report is compared with the ground truth the world builder recorded.
//!
//! Every check runs even when an earlier one fails; the test then fails listing each failed check, so one
//! missing piece (e.g. tracing across bridges) does not hide the state of the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use chaintrace_core::U256;
use chaintrace_replay::truth::{GroundTruth, ReachedDeposit, Route};
use chaintrace_replay::{WorldFiles, ensure_world};
use serde_json::Value;

/// Env var that turns a missing anvil into a failure (scripts/test.sh sets it in CI).
const REQUIRE_LIVE: &str = "CHAINTRACE_REQUIRE_LIVE";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `true` when anvil is available; otherwise prints why the test is skipped, or panics when live tests
/// are required (CHAINTRACE_REQUIRE_LIVE or CI set).
fn live_allowed(test: &str) -> bool {
    match chaintrace_testkit::anvil_path() {
        Ok(_) => true,
        Err(e) if std::env::var_os(REQUIRE_LIVE).is_some() || std::env::var_os("CI").is_some() => {
            panic!("{test}: {e} ({REQUIRE_LIVE}/CI set: live tests must not be skipped)")
        }
        Err(e) => {
            eprintln!("skipping {test}: {e} (set {REQUIRE_LIVE}=1 to make this a failure)");
            false
        }
    }
}

/// The `chaintrace` binary: `$CHAINTRACE_BIN`, else built with cargo (a no-op when up to date).
fn chaintrace_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CHAINTRACE_BIN") {
        return PathBuf::from(p);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .current_dir(repo_root())
        .args([
            "build",
            "-p",
            "chaintrace-cli",
            "--bin",
            "chaintrace",
            "--message-format=json-render-diagnostics",
        ])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "building chaintrace failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "chaintrace")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported the chaintrace executable")
}

fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("replay-cache")
}

struct Cli {
    bin: PathBuf,
    data_dir: PathBuf,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .output()
            .expect("the chaintrace binary runs")
    }

    /// Runs and returns stdout; a failure is the returned error text (command + stderr).
    fn try_run(&self, args: &[&str]) -> Result<String, String> {
        let out = self.run(args);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "`chaintrace {}` exited with {}: {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

fn lower(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_ascii_lowercase()
}

/// Every traced end point of the report: destinations and exit addresses, as (chain, address, path).
fn end_points(report: &Value) -> Vec<(String, String, Vec<String>, String)> {
    let mut out = Vec::new();
    let path_of =
        |v: &Value| -> Vec<String> { v["path"].as_array().into_iter().flatten().map(lower).collect() };
    for d in report["destinations"].as_array().into_iter().flatten() {
        out.push((
            lower(&d["chain"]),
            lower(&d["address"]),
            path_of(d),
            "destination".to_string(),
        ));
    }
    for g in report["exits"].as_array().into_iter().flatten() {
        for a in g["addresses"].as_array().into_iter().flatten() {
            let what = format!(
                "exit {} ({})",
                g["entity"].as_str().unwrap_or("?"),
                lower(&g["category"])
            );
            out.push((lower(&a["chain"]), lower(&a["address"]), path_of(a), what));
        }
    }
    out
}

fn check_losses(truth: &GroundTruth, report: &Value, failures: &mut Vec<String>) {
    let mut expected: BTreeMap<(String, String), String> = BTreeMap::new();
    for c in &truth.chains {
        for d in &c.drained {
            expected.insert(
                (c.chain.name().to_string(), d.asset.to_ascii_lowercase()),
                d.amount.clone(),
            );
        }
    }
    let mut actual: BTreeMap<(String, String), String> = BTreeMap::new();
    for l in report["losses"].as_array().into_iter().flatten() {
        actual.insert(
            (lower(&l["chain"]), lower(&l["asset"])),
            l["amount"].as_str().unwrap_or_default().to_string(),
        );
    }
    if expected != actual {
        let mut lines = Vec::new();
        for (k, v) in &expected {
            match actual.get(k) {
                Some(a) if a == v => {}
                Some(a) => lines.push(format!("  {} {}: drained {v}, reported {a}", k.0, k.1)),
                None => lines.push(format!("  {} {}: drained {v}, not reported", k.0, k.1)),
            }
        }
        for (k, a) in &actual {
            if !expected.contains_key(k) {
                lines.push(format!("  {} {}: nothing drained, reported {a}", k.0, k.1));
            }
        }
        failures.push(format!(
            "losses differ from what the hot wallets were drained of (ground truth):\n{}",
            lines.join("\n")
        ));
    }
}

/// Each exchange deposit address the laundering paid into must be an end point of the trace (the
/// exchange froze those accounts, so the funds rest there), or lie on an end point's path. The report
/// shows one representative path per end point, so a deposit address counts as reached when any of its
/// payments is on it; one reached through the swap or the bridge must show that hop on its path.
fn check_deposits(truth: &GroundTruth, report: &Value, failures: &mut Vec<String>) {
    let ends = end_points(report);
    let mut groups: BTreeMap<(String, String), Vec<&ReachedDeposit>> = BTreeMap::new();
    for d in &truth.reached_deposits {
        groups
            .entry((d.chain.name().to_string(), d.address.to_hex()))
            .or_default()
            .push(d);
    }
    for ((chain, address), payments) in groups {
        let payment_txs: Vec<String> = payments.iter().map(|d| d.payment_tx.to_hex()).collect();
        let hits: Vec<&(String, String, Vec<String>, String)> = ends
            .iter()
            .filter(|(c, a, path, _)| {
                *c == chain && (*a == address || payment_txs.iter().any(|t| path.contains(t)))
            })
            .collect();
        let route = match payments[0].route {
            Route::Direct => "paid directly by the exploiter",
            Route::Swap => "through the swap",
            Route::Bridge => "through the bridge",
            Route::Peel => "down the peel chain",
        };
        let via: Vec<String> = payments
            .iter()
            .flat_map(|d| &d.via)
            .map(|v| format!("{} tx {}", v.chain, v.tx_hash.to_hex()))
            .collect();
        if hits.is_empty() {
            failures.push(format!(
                "the trace does not reach exchange deposit address {address} on {chain} ({route}; paid by tx {}{}): \
                 it is no destination or exit of the report and no path contains its payment",
                payment_txs.join(", "),
                if via.is_empty() { String::new() } else { format!("; the funds went via {}", via.join(", ")) },
            ));
            continue;
        }
        let via_hashes: Vec<String> = payments
            .iter()
            .flat_map(|d| &d.via)
            .map(|v| v.tx_hash.to_hex())
            .collect();
        if !via_hashes.is_empty()
            && !hits
                .iter()
                .any(|(_, _, path, _)| via_hashes.iter().any(|h| path.contains(h)))
        {
            failures.push(format!(
                "exchange deposit address {address} on {chain} is reached, but no path to it passes {route} ({}); \
                 paths: {:?}",
                via.join(", "),
                hits.iter().map(|h| &h.2).collect::<Vec<_>>()
            ));
        }
    }
}

fn check_attribution(truth: &GroundTruth, report: &Value, failures: &mut Vec<String>) {
    let ranked: Vec<String> = report["attribution"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| format!("{} ({})", lower(&a["actor"]), a["confidence"]))
        .collect();
    let Some(first) = report["attribution"].as_array().and_then(|a| a.first()) else {
        failures.push(format!(
            "attribution is empty: expected actor '{}' first, linked by the reused address {}",
            truth.actor,
            truth.reused_address.address.to_hex()
        ));
        return;
    };
    if lower(&first["actor"]) != truth.actor {
        failures.push(format!(
            "attribution does not name '{}' first: {ranked:?}",
            truth.actor
        ));
        return;
    }
    let reused = truth.reused_address.address.to_hex();
    let cites_reuse = first["evidence"].as_array().into_iter().flatten().any(|e| {
        let kind = lower(&e["kind"]);
        (kind == "reused_address" || kind == "same_address_cross_chain") && lower(&e["address"]) == reused
    });
    if !cites_reuse {
        failures.push(format!(
            "'{}' is named first, but its evidence does not cite the reused address {reused} \
             (kind reused_address / same_address_cross_chain): {}",
            truth.actor, first["evidence"]
        ));
    }
}

/// The laundering's mixer deposits must be exits of category mixer: per pool, the exit address is the pool,
/// the amount is exactly what the laundering deposited (every coin deposited was stolen), and the path
/// ends in one of those deposits (the report shows one representative path per exit address).
fn check_mixer_exits(truth: &GroundTruth, report: &Value, failures: &mut Vec<String>) {
    let mut pools: BTreeMap<(String, String), (U256, Vec<String>)> = BTreeMap::new();
    for m in &truth.mixer_deposits {
        let e = pools
            .entry((m.chain.name().to_string(), m.pool.to_hex()))
            .or_insert((U256::ZERO, Vec::new()));
        e.0 += U256::from_str_radix(&m.amount, 10).expect("truth amounts are decimal");
        e.1.push(m.tx_hash.to_hex());
    }
    for ((chain, pool), (total, txs)) in pools {
        let entries: Vec<&Value> = report["exits"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| lower(&g["category"]) == "mixer")
            .flat_map(|g| g["addresses"].as_array().into_iter().flatten())
            .filter(|a| lower(&a["chain"]) == chain && lower(&a["address"]) == pool)
            .collect();
        let Some(entry) = entries.first() else {
            failures.push(format!(
                "the mixer deposits on {chain} ({}) into pool {pool} are not an exit of category mixer",
                txs.join(", ")
            ));
            continue;
        };
        let amount = entry["amount"].as_str().unwrap_or_default();
        if amount != total.to_string() {
            failures.push(format!(
                "mixer exit {pool} on {chain}: {total} raw units were deposited by the laundering, the report says {amount}"
            ));
        }
        let on_path = entry["path"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|h| txs.contains(&lower(h)));
        if !on_path {
            failures.push(format!(
                "mixer exit {pool} on {chain}: its path {} contains none of the laundering's deposits {}",
                entry["path"],
                txs.join(", ")
            ));
        }
    }
}

fn ingest_all(cli: &Cli, world: &WorldFiles, nodes: &[(chaintrace_core::Chain, chaintrace_testkit::Anvil)]) {
    for (chain, anvil) in nodes {
        let t = Instant::now();
        let out = cli.try_run(&[
            "ingest",
            "rpc",
            "--chain",
            chain.name(),
            "--rpc-url",
            anvil.url(),
            "--from-block",
            "0",
            "--to-block",
            "latest",
            "--confirmations",
            "0",
        ]);
        if let Err(e) = out {
            panic!("ingesting {chain} from the replay node failed: {e}");
        }
        eprintln!(
            "ingested {chain} ({} blocks) in {:.1} s",
            world.truth.chain(*chain).map_or(0, |c| c.head + 1),
            t.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn live_coinex_style_replay() {
    if !live_allowed("live_coinex_style_replay") {
        return;
    }
    let started = Instant::now();
    let world = ensure_world(&cache_dir(), &mut |line| eprintln!("{line}")).expect("the replay world builds");
    let truth = &world.truth;
    let nodes = world.spawn_nodes().expect("the five nodes load the saved world");
    eprintln!("nodes loaded after {:.1} s", started.elapsed().as_secs_f64());

    let data = tempfile::tempdir().expect("temp dir");
    let cli = Cli {
        bin: chaintrace_bin(),
        data_dir: data.path().to_path_buf(),
    };
    ingest_all(&cli, &world, &nodes);
    drop(nodes);

    let mut failures: Vec<String> = Vec::new();
    let labels = world.labels_csv().display().to_string();
    if let Err(e) = cli.try_run(&["labels", "import", &labels]) {
        panic!("labels import failed: {e}");
    }
    let bridges = world.bridges_csv().display().to_string();
    if let Err(e) = cli.try_run(&["bridges", "import", &bridges]) {
        failures.push(format!(
            "bridges import failed (the bridge registry cannot be loaded): {e}"
        ));
    }

    let incident = world.incident_toml().display().to_string();
    let report: Value = match cli.try_run(&["investigate", &incident, "--format", "json"]) {
        Ok(text) => serde_json::from_str(&text).expect("investigate --format json prints one JSON object"),
        Err(e) => panic!("investigate failed: {e}"),
    };
    assert_eq!(report["schema_version"], 1, "report schema_version");
    write_report_for_inspection(&report);

    check_losses(truth, &report, &mut failures);
    check_deposits(truth, &report, &mut failures);
    check_attribution(truth, &report, &mut failures);
    check_mixer_exits(truth, &report, &mut failures);

    eprintln!("replay checked in {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        failures.is_empty(),
        "{} check(s) of the CoinEx-style replay failed:\n- {}",
        failures.len(),
        failures.join("\n- ")
    );
}

/// Keeps the last report next to the cache for a person to read after a failure.
fn write_report_for_inspection(report: &Value) {
    let path: &Path = &cache_dir().join("last-report.json");
    let text = serde_json::to_string_pretty(report).expect("a JSON value serializes");
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("could not keep the report at {}: {e}", path.display());
    } else {
        eprintln!("report kept at {}", path.display());
    }
}

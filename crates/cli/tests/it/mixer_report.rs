//! `chaintrace demo` on a simulated world whose laundering deposits into the sim's mixer: the report lists
//! the mixer deposits (pool, denomination, time) as exits, with candidate withdrawals that are leads only.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

#[test]
fn demo_report_lists_mixer_deposits_with_candidate_withdrawals_only() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_chaintrace"))
        .args(["demo", "--out"])
        .arg(&dir)
        .output()
        .expect("running chaintrace demo");
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.join("mixers.csv").exists(),
        "demo writes the sim's mixer registry"
    );
    let report = read_json(&dir.join("report.json"));
    let truth = read_json(&dir.join("sim-truth.json"));

    // Ground truth: every laundering deposit into the mixer of the investigated (newest) incident.
    let incident = truth["incidents"]
        .as_array()
        .and_then(|a| a.last())
        .expect("the demo world has incidents");
    let planted: HashSet<String> = incident["destinations"]
        .as_array()
        .expect("incident destinations")
        .iter()
        .filter(|d| d["kind"] == "mixer_deposit")
        .map(|d| s(d, "tx_hash").to_string())
        .collect();
    let uses: HashSet<(String, String)> = truth["mixer_uses"]
        .as_array()
        .expect("mixer uses")
        .iter()
        .map(|u| (s(u, "deposit_tx").to_string(), s(u, "pool").to_string()))
        .collect();

    let deposits = report["mixer_deposits"]
        .as_array()
        .expect("report.json has mixer_deposits");
    assert!(
        !deposits.is_empty(),
        "the laundering deposits into the mixer; none reported"
    );
    let mixer_exits: HashSet<String> = report["exits"]
        .as_array()
        .expect("exits")
        .iter()
        .filter(|g| g["category"] == "mixer")
        .flat_map(|g| g["addresses"].as_array().expect("exit addresses").iter())
        .map(|a| s(a, "address").to_string())
        .collect();
    let started = report["incident"]["started_unix"].as_u64().expect("started_unix");
    let mut candidates = 0usize;
    for d in deposits {
        let pool = s(d, "pool");
        assert!(mixer_exits.contains(pool), "pool {pool} is a mixer exit");
        assert!(
            uses.contains(&(s(d, "tx_hash").to_string(), pool.to_string())),
            "deposit {} into {pool} is a real mixer deposit of the world",
            s(d, "tx_hash")
        );
        let denomination: f64 = s(d, "denomination").parse().expect("denomination in whole units");
        assert!(denomination > 0.0);
        assert!(!s(d, "asset").is_empty() && d["symbol"].is_string());
        let ts = d["timestamp"].as_u64().expect("timestamp");
        assert!(
            ts >= started,
            "deposit at {ts} before the incident start {started}"
        );
        assert!(s(d, "time").ends_with('Z'));
        for c in d["candidates"].as_array().expect("candidates") {
            candidates += 1;
            let conf = c["confidence"].as_f64().expect("confidence");
            assert!(conf > 0.0 && conf < 1.0, "confidence {conf} not in (0, 1)");
            assert!(
                !c["heuristics"].as_array().expect("heuristics").is_empty(),
                "candidate without heuristics: {c}"
            );
            assert_eq!(s(c, "note"), "candidate, not a certainty");
            assert!(
                c["timestamp"].as_u64().expect("timestamp") >= ts,
                "withdrawal before its deposit"
            );
            assert!(!s(c, "recipient").is_empty() && !s(c, "tx_hash").is_empty());
        }
    }
    // Every planted laundering deposit of the traced funds is found.
    let found: HashSet<String> = deposits.iter().map(|d| s(d, "tx_hash").to_string()).collect();
    let missed: Vec<&String> = planted.iter().filter(|t| !found.contains(*t)).collect();
    assert!(
        missed.is_empty(),
        "missed {} of {} planted mixer deposits",
        missed.len(),
        planted.len()
    );
    eprintln!(
        "mixer deposits: {} reported, {} planted, {candidates} candidate withdrawal(s)",
        deposits.len(),
        planted.len()
    );

    // The mixer is an exit, never an attributed actor; candidate recipients are not facts.
    let candidate_recipients: HashSet<&str> = deposits
        .iter()
        .flat_map(|d| d["candidates"].as_array().expect("candidates").iter())
        .map(|c| s(c, "recipient"))
        .collect();
    for a in report["attribution"].as_array().expect("attribution") {
        let name = format!("{} {}", s(a, "actor"), s(a, "name")).to_lowercase();
        assert!(
            !name.contains("simcash") && !name.contains("mixer"),
            "mixer attributed: {name}"
        );
        for e in a["evidence"].as_array().expect("evidence") {
            assert!(
                !candidate_recipients.contains(s(e, "address")),
                "candidate used as evidence: {e}"
            );
        }
    }
    for d in report["destinations"].as_array().expect("destinations") {
        assert!(
            !candidate_recipients.contains(s(d, "address")),
            "candidate listed as destination"
        );
    }
    for m in report["exploiter_side"].as_array().expect("exploiter_side") {
        assert!(
            !candidate_recipients.contains(s(m, "address")),
            "candidate on the exploiter side"
        );
    }

    let md = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    assert!(md.contains("## Mixer deposits"));
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    assert!(html.contains("<h2>Mixer deposits</h2>"));
    if candidates > 0 {
        assert!(md.contains("candidate, not a certainty") && html.contains("candidate, not a certainty"));
    }
}

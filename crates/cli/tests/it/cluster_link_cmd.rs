//! `chaintrace cluster show` and `chaintrace link`, run as the real binary over a simulated world whose
//! ground truth says who owns what.

use std::path::Path;
use std::process::{Command, Output};

use chaintrace_core::Chain;
use chaintrace_sim::GroundTruth;
use chaintrace_store::TransferReader;
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

fn ok(data_dir: &Path, args: &[&str]) -> String {
    let out = chaintrace(data_dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "chaintrace {args:?} failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

/// Runs a command that must fail with exit 1 and a one-line error on stderr; returns that line.
fn fails(data_dir: &Path, args: &[&str]) -> String {
    let out = chaintrace(data_dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "chaintrace {args:?} should fail with 1; stderr: {stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout for an error");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    errors[0].to_string()
}

/// A small world in the store with its labels imported; returns the truth.
fn world(dir: &Path) -> GroundTruth {
    ok(
        dir,
        &["sim", "--seed", "7", "--transfers", "6000", "--format", "json"],
    );
    let labels = dir.join("sim-labels.csv");
    ok(dir, &["labels", "import", labels.to_str().expect("utf-8 path")]);
    let text = std::fs::read_to_string(dir.join("sim-truth.json")).expect("truth written");
    serde_json::from_str(&text).expect("truth parses")
}

#[test]
fn cluster_show_and_link_explain_with_evidence_that_matches_the_truth() {
    let dir = tempfile::tempdir().expect("temp dir");
    let truth = world(dir.path());
    let inc3 = &truth.incidents[2];
    let reused = inc3.reused.as_ref().expect("linked incidents reuse an address");
    let addr = reused.address.to_hex();

    // cluster show: the reused address is one key on two chains; every member has the same owner.
    let shown: Value = serde_json::from_str(&ok(dir.path(), &["cluster", "show", &addr, "--format", "json"]))
        .expect("cluster show prints JSON");
    assert_eq!(shown["schema_version"], 1);
    let clusters = shown["clusters"].as_array().expect("clusters");
    assert_eq!(clusters.len(), 1, "both chain nodes are one cluster: {shown}");
    let members = clusters[0]["members"].as_array().expect("members");
    assert!(members.len() >= 2);
    let owner = &truth.owners[&reused.address];
    for (i, m) in members.iter().enumerate() {
        let a = chaintrace_core::Address::parse(m["address"].as_str().expect("address")).expect("hex");
        assert_eq!(&truth.owners[&a], owner, "member {m} belongs to the same owner");
        let path = m["path"].as_array().expect("path");
        assert_eq!(
            path.is_empty(),
            i == 0,
            "only the asked address has no merge path"
        );
        for step in path {
            assert!(step["heuristic"].is_string() && step["detail"].is_string());
            assert!(
                !step["tx_hashes"].as_array().expect("tx list").is_empty(),
                "evidence: {step}"
            );
        }
    }
    assert!(
        members
            .iter()
            .any(|m| m["path"][0]["heuristic"] == "same_address")
    );
    let table = ok(
        dir.path(),
        &["cluster", "show", &addr, "--chain", reused.chain.name()],
    );
    assert!(table.starts_with("cluster "), "{table}");
    assert!(table.contains("same_address"), "{table}");

    // link to the actor: the reused address on the new incident's chain is the labeled one elsewhere.
    let out = ok(
        dir.path(),
        &[
            "link",
            "--from",
            &addr,
            "--chain",
            reused.chain.name(),
            "--to-actor",
            "lazarus",
            "--format",
            "json",
        ],
    );
    let links: Value = serde_json::from_str(&out).expect("link prints JSON");
    assert_eq!(links["schema_version"], 1);
    let all = links["links"].as_array().expect("links");
    let same = all
        .iter()
        .find(|l| l["kind"] == "same_address")
        .expect("same_address link to the labeled node");
    let chains: Vec<&str> = same["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .map(|e| e["chain"].as_str().expect("chain"))
        .collect();
    assert_eq!(chains.len(), 2);
    assert!(chains.contains(&reused.chain.name()));
    for l in all {
        assert!(
            !l["evidence"].as_array().expect("evidence").is_empty(),
            "every link has evidence: {l}"
        );
    }

    // A time-respecting path: the incident's funder paid the exploiters' gas, the exploiters consolidated
    // into the hub (funder -> exploiter -> hub).
    let chain = inc3.funder.chain.name();
    let store = chaintrace_store::Store::open_read_only(dir.path()).expect("store");
    let sent = store
        .transfers_of(inc3.exploiters[0].address, Some(inc3.funder.chain))
        .expect("read transfers");
    drop(store);
    // The consolidation hub: where the exploiter sent funds, an address the actor controls.
    let hub = sent
        .iter()
        .find(|t| t.from == inc3.exploiters[0].address && inc3.controlled.contains(&t.to))
        .map(|t| t.to);
    let exploiter = inc3.exploiters[0].address.to_hex();
    let out = ok(
        dir.path(),
        &[
            "link",
            "--from",
            &inc3.funder.address.to_hex(),
            "--to",
            &exploiter,
            "--chain",
            chain,
            "--format",
            "json",
        ],
    );
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert!(
        v["links"]
            .as_array()
            .expect("links")
            .iter()
            .any(|l| l["kind"] == "direct" && l["hops"] == 1)
    );
    let hub = hub.expect("the exploiter consolidated into an actor address");
    {
        let out = ok(
            dir.path(),
            &[
                "link",
                "--from",
                &inc3.funder.address.to_hex(),
                "--to",
                &hub.to_hex(),
                "--chain",
                chain,
                "--format",
                "json",
            ],
        );
        let v: Value = serde_json::from_str(&out).expect("JSON");
        let path = v["links"]
            .as_array()
            .expect("links")
            .iter()
            .find(|l| l["kind"] == "path");
        let path = path.unwrap_or_else(|| panic!("funder -> exploiter -> hub path: {v}"));
        assert_eq!(path["direction"], "outgoing");
        assert!(path["hops"].as_u64().expect("hops") >= 2);
        let ev = path["evidence"].as_array().expect("evidence");
        assert_eq!(ev.len() as u64, path["hops"].as_u64().expect("hops"));
        assert_eq!(ev[0]["addresses"][0], inc3.funder.address.to_hex());
        assert_eq!(ev[ev.len() - 1]["addresses"][1], hub.to_hex());
    }
    let table = ok(
        dir.path(),
        &[
            "link",
            "--from",
            &inc3.funder.address.to_hex(),
            "--to",
            &exploiter,
            "--chain",
            chain,
        ],
    );
    assert!(table.contains("direct"), "{table}");
    let _ = Chain::Ethereum;
}

#[test]
fn bad_input_is_a_one_line_error_with_exit_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let truth = world(dir.path());
    let known = truth.incidents[0].funder.address.to_hex();
    let unknown = "0x00000000000000000000000000000000000000ee";
    let e = fails(dir.path(), &["cluster", "show", unknown]);
    assert!(e.contains(unknown) && e.contains("no transfers"), "{e}");
    let e = fails(dir.path(), &["cluster", "show", &known, "--chain", "dogecoin"]);
    assert!(e.contains("dogecoin"), "{e}");
    let e = fails(dir.path(), &["cluster", "show", "0x12"]);
    assert!(e.contains("0x12"), "{e}");
    let e = fails(
        dir.path(),
        &["link", "--from", &known, "--to-actor", "nobody-at-all"],
    );
    assert!(e.contains("nobody-at-all"), "{e}");
    let e = fails(dir.path(), &["link", "--from", &known, "--to-category", "casino"]);
    assert!(e.contains("casino"), "{e}");
    let e = fails(dir.path(), &["link", "--from", unknown, "--to", &known]);
    assert!(e.contains(unknown), "{e}");
    let e = fails(
        dir.path(),
        &["link", "--from", &known, "--to", &known, "--max-hops", "0"],
    );
    assert!(e.contains("max hops"), "{e}");
}

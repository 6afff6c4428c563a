//! `chaintrace labels` and `chaintrace actors`, run as the real binary against real label data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const RONIN_EXPLOITER: &str = "0x098b716b8aaf21512996dc57eb0615e2383e2f96";

fn shared_data(sub: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(sub);
    if dir.exists() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is absent", dir.display());
        None
    }
}

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

fn json(data_dir: &Path, args: &[&str]) -> Value {
    let (stdout, _) = ok(data_dir, args);
    let v: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_eq!(v["schema_version"], 1);
    v
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn every_real_tagpack_and_the_actorpack_import_and_lazarus_resolves() {
    let (Some(packs), Some(actors)) = (
        shared_data("graphsense-tagpacks/packs"),
        shared_data("graphsense-tagpacks/actors"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (stdout, stderr) = ok(dir.path(), &["labels", "import", path(&packs), path(&actors)]);
    assert!(
        stdout.is_empty(),
        "import writes its summary to stderr only: {stdout}"
    );
    let yaml_files = stderr.lines().filter(|l| l.contains(".yaml: ")).count();
    assert!(
        yaml_files >= 59,
        "one summary line per pack and the actorpack:\n{stderr}"
    );
    assert!(
        stderr.contains("lazarus.yaml: 21 tagpack records: 1 labels, 0 actors imported; 20 skipped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("graphsense.actorpack.yaml: 3813 actorpack records: 0 labels, 3813 actors"),
        "{stderr}"
    );

    let shown = json(
        dir.path(),
        &[
            "labels",
            "show",
            RONIN_EXPLOITER,
            "--chain",
            "ethereum",
            "--format",
            "json",
        ],
    );
    let labels = shown["labels"].as_array().expect("labels array");
    let lazarus = labels
        .iter()
        .find(|l| l["import"].as_str().is_some_and(|i| i.ends_with("lazarus.yaml")))
        .expect("lazarus.yaml labels the Ronin exploiter");
    assert_eq!(lazarus["actor"], "lazarusgroup");
    assert_eq!(lazarus["confidence"], 60);
    assert_eq!(lazarus["category"], "sanctioned");
    assert_eq!(lazarus["chain"], "ethereum");
    assert!(
        labels
            .iter()
            .any(|l| l["label"] == "Ronin bridge exploiter" && l["confidence"] == 50)
    );

    // Any case, by id, display name or a moniker from the actor file's notes.
    for name in ["lazarusgroup", "LAZARUS GROUP", "hidden cobra"] {
        let actor = json(dir.path(), &["actors", "show", name, "--format", "json"]);
        assert_eq!(actor["actor"]["id"], "lazarusgroup", "{name}");
        let aliases: Vec<&str> = actor["actor"]["aliases"]
            .as_array()
            .expect("aliases")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            aliases.contains(&"Hidden Cobra") && aliases.contains(&"Guardians of Peace"),
            "{aliases:?}"
        );
        let addresses = actor["addresses"].as_array().expect("addresses");
        assert!(
            addresses
                .iter()
                .any(|a| a["address"] == RONIN_EXPLOITER && a["chain"] == "ethereum")
        );
    }
    let (table, _) = ok(dir.path(), &["actors", "show", "lazarusgroup"]);
    assert!(
        table.contains("Lazarus Group") && table.contains("Hidden Cobra"),
        "{table}"
    );
}

#[test]
fn reimporting_replaces_instead_of_duplicating() {
    let (Some(ofac), Some(packs)) = (
        shared_data("ofac-sanctioned-addresses-0xb10c"),
        shared_data("graphsense-tagpacks/packs"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let eth = ofac.join("sanctioned_addresses_ETH.txt");
    let ronin = packs.join("ronin_bridge.yaml");
    for round in 0..2 {
        let (_, stderr) = ok(dir.path(), &["labels", "import", path(&eth), path(&ronin)]);
        assert!(
            stderr.contains("sanctioned_addresses_ETH.txt: 152 ofac records: 152 labels"),
            "{stderr}"
        );
        if round == 1 {
            assert!(stderr.contains("replacing 152 earlier labels"), "{stderr}");
            assert!(stderr.contains("replacing 6 earlier labels"), "{stderr}");
        }
    }
    let imports = json(dir.path(), &["labels", "imports", "--format", "json"]);
    let imports = imports["imports"].as_array().expect("imports");
    assert_eq!(imports.len(), 2);
    let total: u64 = imports.iter().map(|i| i["labels"].as_u64().expect("count")).sum();
    assert_eq!(total, 152 + 6);
    let shown = json(
        dir.path(),
        &["labels", "show", RONIN_EXPLOITER, "--format", "json"],
    );
    let labels = shown["labels"].as_array().expect("labels");
    assert_eq!(
        labels.len(),
        2,
        "one OFAC label and one Ronin label, not four: {labels:#?}"
    );
    assert!(
        labels
            .iter()
            .any(|l| l["source"] == "OFAC SDN list (sanctioned_addresses_ETH.txt)"
                && l["category"] == "sanctioned"
                && l["confidence"] == 60)
    );
}

#[test]
fn etherscan_dump_imports_on_the_chain_its_name_says() {
    let Some(dumps) = shared_data("etherscan-labels-brianleect") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let bsc = dumps.join("bscscan_combinedAllLabels.json");
    let ftm = dumps.join("ftmscan_combinedAllLabels.json");
    let (_, stderr) = ok(dir.path(), &["labels", "import", path(&bsc), path(&ftm)]);
    assert!(
        stderr.contains("bscscan_combinedAllLabels.json: 6726 etherscan records"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ftmscan_combinedAllLabels.json: 1085 etherscan records: 0 labels, 0 actors imported; 1085 skipped (1085 chain fantom (from the file name) not supported)"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&bsc).expect("readable");
    let dump: serde_json::Map<String, Value> = serde_json::from_str(&text).expect("json object");
    let (address, entry) = dump
        .iter()
        .find(|(k, v)| k.len() == 42 && v["name"].as_str().is_some_and(|n| !n.is_empty()))
        .expect("a named entry");
    let shown = json(
        dir.path(),
        &["labels", "show", address, "--chain", "bsc", "--format", "json"],
    );
    assert!(
        shown["labels"]
            .as_array()
            .expect("labels")
            .iter()
            .any(|l| l["label"] == entry["name"] && l["chain"] == "bsc" && l["confidence"] == 20)
    );
    let on_eth = json(
        dir.path(),
        &[
            "labels", "show", address, "--chain", "ethereum", "--format", "json",
        ],
    );
    assert_eq!(
        on_eth["labels"].as_array().expect("labels").len(),
        0,
        "BscScan labels stay on BSC"
    );
}

#[test]
fn csv_labels_with_a_source_name_cover_every_evm_chain_when_chainless() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("case.csv");
    std::fs::write(
        &csv,
        "chain,address,label,category,actor,source,confidence\n\
         ,0x1111111111111111111111111111111111111111,Suspect wallet,hacker,case-42,analyst notes,forensic\n",
    )
    .expect("write");
    let store = dir.path().join("store");
    ok(&store, &["labels", "import", path(&csv), "--source", "case-42"]);
    ok(&store, &["labels", "import", path(&csv), "--source", "case-42"]);
    let addr = "0x1111111111111111111111111111111111111111";
    let on_bsc = json(
        &store,
        &["labels", "show", addr, "--chain", "bsc", "--format", "json"],
    );
    let labels = on_bsc["labels"].as_array().expect("labels");
    assert_eq!(labels.len(), 1);
    assert_eq!(labels[0]["import"], "case-42");
    assert_eq!(labels[0]["category"], "perpetrator");
    assert_eq!(labels[0]["confidence"], 50);
    assert_eq!(labels[0]["chain"], Value::Null);
    let on_tron = json(
        &store,
        &["labels", "show", addr, "--chain", "tron", "--format", "json"],
    );
    assert_eq!(on_tron["labels"].as_array().expect("labels").len(), 0);
    let (table, _) = ok(&store, &["labels", "show", addr]);
    assert!(
        table.contains("Suspect wallet") && table.contains("any-evm"),
        "{table}"
    );
}

#[test]
fn malformed_yaml_and_csv_fail_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = dir.path().join("bad.yaml");
    std::fs::write(&yaml, "title: t\ncurrency: ETH\ntags:\n- address: '0x1111111111111111111111111111111111111111'\n  label: [x\n")
        .expect("write");
    let csv = dir.path().join("bad.csv");
    std::fs::write(
        &csv,
        "address,label\n0x1111111111111111111111111111111111111111,ok\n0x2222,short\n",
    )
    .expect("write");
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "address,label\n0x1111111111111111111111111111111111111111,fine\n",
    )
    .expect("write");
    let store = dir.path().join("store");
    let out = chaintrace(
        &store,
        &["labels", "import", path(&yaml), path(&csv), path(&good)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:5:10: tags[0].label", yaml.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}:3: bad address '0x2222'", csv.display())),
        "{stderr}"
    );
    assert!(stderr.contains("2 of 3 files failed"), "{stderr}");
    // The good file still went in; the broken ones stored nothing.
    let imports = json(&store, &["labels", "imports", "--format", "json"]);
    assert_eq!(imports["imports"].as_array().expect("imports").len(), 1);
}

#[test]
fn unknown_actor_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = chaintrace(dir.path(), &["actors", "show", "nobody-at-all"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("unknown actor 'nobody-at-all'"), "{stderr}");
    assert!(out.stdout.is_empty());
}

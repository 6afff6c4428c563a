//! `chaintrace investigate` and `chaintrace demo`, run as the real binary: attribution on simulated worlds
//! (planted actor first, with the reused-address evidence; no one named without a link), losses against the
//! sim's ground truth, bad incident files, USD from real daily prices, and the HTML report rendered by headless
//! Chromium.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chaintrace_core::{Address, Asset, BlockRecord, Chain, Position, Transfer, TransferKind, TxHash, U256};
use chaintrace_sim::GroundTruth;
use chaintrace_store::{Batch, Store, TransferWriter};
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

/// Runs `chaintrace demo` into `dir/demo`; returns (demo dir, stdout, stderr).
fn demo(dir: &Path, seed: u64, no_link: bool) -> (PathBuf, String, String) {
    let out = dir.join("demo");
    let seed = seed.to_string();
    let out_s = out.display().to_string();
    let mut args = vec!["demo", "--out", &out_s, "--seed", &seed, "--transfers", "6000"];
    if no_link {
        args.push("--no-link");
    }
    let (stdout, stderr) = ok(dir, &args);
    (out, stdout, stderr)
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

fn read_truth(dir: &Path) -> GroundTruth {
    let text = std::fs::read_to_string(dir.join("sim-truth.json")).expect("truth written by demo");
    serde_json::from_str(&text).expect("truth is a GroundTruth")
}

#[test]
fn planted_actor_ranks_first_with_the_reused_address_over_seeds() {
    for seed in [3u64, 11, 29] {
        let tmp = tempfile::tempdir().expect("temp dir");
        let (dir, stdout, stderr) = demo(tmp.path(), seed, false);
        assert!(
            stderr.contains("report.html"),
            "demo names the HTML report on stderr: {stderr}"
        );
        assert!(dir.join("report.html").is_file());
        let truth = read_truth(&dir);
        let inc = truth.incidents.last().expect("sim planted incidents");
        let actor = inc.actor.trim_start_matches("actor:");
        let reused = inc.reused.as_ref().expect("linked worlds reuse an address");

        // The investigate command on the demo's data dir, as a user would run it.
        let incident = dir.join("incident.toml").display().to_string();
        let prices = dir.join("prices").display().to_string();
        let (json, _) = ok(
            &dir,
            &["investigate", &incident, "--format", "json", "--prices", &prices],
        );
        assert!(
            dir.join("balance.index").is_file(),
            "a haircut investigation caches the graph's balance index next to the snapshot"
        );
        let r: Value = serde_json::from_str(&json).expect("JSON report");
        assert_eq!(r["schema_version"], 1);
        assert_eq!(r["attributed"], true, "seed {seed}");
        let top = &r["attribution"][0];
        assert_eq!(
            top["actor"].as_str(),
            Some(actor),
            "seed {seed}: planted actor ranked first"
        );
        let conf = top["confidence"].as_f64().expect("confidence");
        assert!(conf > 0.5 && conf <= 1.0, "seed {seed}: confidence {conf}");
        let evidence = top["evidence"].as_array().expect("evidence list");
        let reused_hex = reused.address.to_hex();
        assert!(
            evidence
                .iter()
                .any(|e| e["kind"] == "reused_address" && e["address"].as_str() == Some(reused_hex.as_str())),
            "seed {seed}: reused-address evidence for {reused_hex} in {evidence:?}"
        );
        for e in evidence {
            for key in ["kind", "chain", "tx_hash", "address", "detail"] {
                assert!(e.get(key).is_some(), "evidence field {key} present: {e}");
            }
        }
        let label = evidence
            .iter()
            .find(|e| e["kind"] == "label")
            .expect("label evidence");
        assert_eq!(label["source"], "FBI");
        // Exits and services are never actors.
        for a in r["attribution"].as_array().expect("list") {
            let id = a["actor"].as_str().unwrap_or("");
            assert!(
                !truth.exchanges.iter().any(|x| x.id.ends_with(id)),
                "exchange {id} ranked as actor"
            );
        }

        // Losses equal what the sim drained, per chain and asset, exactly.
        let losses = r["losses"].as_array().expect("losses");
        assert_eq!(losses.len(), inc.drained.len(), "seed {seed}: {losses:?}");
        for d in &inc.drained {
            let asset = d.asset.json_for(d.chain);
            let found = losses
                .iter()
                .find(|l| l["chain"] == d.chain.name() && l["asset"] == asset.as_str())
                .unwrap_or_else(|| panic!("seed {seed}: loss of {asset} on {}", d.chain));
            assert_eq!(
                found["amount"].as_str(),
                Some(d.amount.to_string().as_str()),
                "seed {seed}"
            );
            assert!(
                found["usd"].as_f64().is_some_and(|u| u > 0.0),
                "priced from the demo's price files"
            );
        }
        // Exits include the laundering exchanges and the mixer.
        let exits = r["exits"].as_array().expect("exits");
        assert!(
            exits.iter().any(|x| x["category"] == "exchange"),
            "seed {seed}: exchange exit"
        );
        assert!(
            exits.iter().any(|x| x["category"] == "mixer"),
            "seed {seed}: mixer exit"
        );

        // The demo's summary on stdout names the actor and the reused address.
        assert!(stdout.contains(&format!("1. {actor}")), "{stdout}");
        assert!(stdout.contains("reused_address"), "{stdout}");
        assert!(stdout.contains("LOSSES"), "{stdout}");
    }
}

#[test]
fn a_world_without_a_link_names_no_one() {
    for seed in [5u64, 17] {
        let tmp = tempfile::tempdir().expect("temp dir");
        let (dir, stdout, _) = demo(tmp.path(), seed, true);
        let truth = read_truth(&dir);
        assert!(
            truth.incidents.iter().all(|i| i.reused.is_none()),
            "no-link world"
        );
        assert!(
            truth.labels.iter().any(|l| !l.actor.is_empty()),
            "earlier incidents are still attributed"
        );
        let r = read_json(&dir.join("report.json"));
        assert_eq!(r["attributed"], false, "seed {seed}: {}", r["attribution"]);
        assert_eq!(r["attribution"].as_array().map(Vec::len), Some(0));
        assert!(stdout.contains("no one is named"), "{stdout}");
        let md = std::fs::read_to_string(dir.join("report.md")).expect("markdown written");
        assert!(md.contains("No one is named"), "markdown says so");
        assert!(
            !r["losses"].as_array().expect("losses").is_empty(),
            "losses still reported"
        );
    }
}

#[test]
fn bad_incident_files_are_one_line_errors() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (dir, _, _) = demo(tmp.path(), 2, false);
    let inc = read_truth(&dir).incidents.last().cloned().expect("incident");
    let exploiter = inc.exploiters[0];
    let good = std::fs::read_to_string(dir.join("incident.toml")).expect("incident written");
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "malformed.toml",
            "name = \"x\"\nstarted = \"2023-01-01\"\n[[exploiter]\nchain = \"bsc\"\n".into(),
            vec!["malformed.toml:3:"],
        ),
        (
            "no-exploiter.toml",
            "name = \"x\"\nstarted = \"2023-01-01\"\n".into(),
            vec!["no-exploiter.toml", "no exploiter"],
        ),
        (
            "unknown-chain.toml",
            good.replacen(
                &format!("chain = \"{}\"", exploiter.chain),
                "chain = \"solana\"",
                1,
            ),
            vec!["unknown-chain.toml:", "unknown chain 'solana'"],
        ),
        (
            "unknown-address.toml",
            good.replacen(
                &exploiter.address.to_hex(),
                "0x00000000000000000000000000000000deadbeef",
                1,
            ),
            vec!["0x00000000000000000000000000000000deadbeef", "no transfers"],
        ),
    ];
    for (name, text, expect) in cases {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).expect("write case");
        let out = chaintrace(&dir, &["investigate", &path.display().to_string()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}: nothing on stdout");
        let line = stderr
            .lines()
            .rfind(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("{name}: {stderr}"));
        for e in expect {
            assert!(line.contains(e), "{name}: '{e}' in '{line}'");
        }
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

fn shared_data() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    p.is_dir().then_some(p)
}

#[test]
fn usd_values_come_from_real_daily_closes_and_missing_prices_stay_missing() {
    let Some(data) = shared_data() else {
        eprintln!("skipping: ../shared/data is absent (real prices needed)");
        return;
    };
    let prices = data.join("prices-daily");
    if !prices.join("ETH-USD_1d.csv").is_file() {
        eprintln!("skipping: {} has no ETH-USD_1d.csv", prices.display());
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let victim = Address([0x11; 20]);
    let exploiter = Address([0x22; 20]);
    let token = Address([0x33; 20]);
    // 2023-09-12 10:00 UTC; ETH closed at 1592.429443359375 that day in the file.
    let t = 1_694_512_800u64;
    let eth = U256::from(2_500_000_000_000_000_000u128);
    let mk = |i: u8, asset: Asset, amount: U256, ts: u64, block: u64| Transfer {
        chain: Chain::Ethereum,
        block,
        timestamp: ts,
        tx_hash: TxHash([i; 32]),
        position: if asset == Asset::Native {
            Position::Tx
        } else {
            Position::Log(0)
        },
        from: victim,
        to: exploiter,
        asset,
        amount,
        kind: if asset == Asset::Native {
            TransferKind::Native
        } else {
            TransferKind::Token
        },
        tx_from: victim,
        tx_fee: U256::ZERO,
        gas_price: U256::ZERO,
    };
    let transfers = vec![
        mk(1, Asset::Native, U256::from(1u64), t - 86_400 * 30, 18_000_000), // before the start: not a loss
        mk(2, Asset::Native, eth, t, 18_100_000),
        mk(3, Asset::Token(token), U256::from(777u64), t + 60, 18_100_005), // unknown token: no decimals
        mk(
            4,
            Asset::Native,
            U256::from(10u64).pow(U256::from(18u64)),
            1_800_000_000,
            19_000_000,
        ), // 2027: no price
    ];
    let blocks: Vec<BlockRecord> = transfers
        .iter()
        .map(|x| BlockRecord {
            chain: Chain::Ethereum,
            number: x.block,
            hash: [x.tx_hash.0[0]; 32],
            parent_hash: [0; 32],
            timestamp: x.timestamp,
        })
        .collect();
    {
        let mut store = Store::open(tmp.path()).expect("store opens");
        store
            .write_batch(Batch {
                blocks: &blocks,
                transfers: &transfers,
                logs: &[],
                checkpoint: None,
            })
            .expect("write");
    }
    let incident = tmp.path().join("incident.toml");
    std::fs::write(
        &incident,
        format!(
            "name = \"price check\"\nstarted = \"2023-09-12T00:00:00Z\"\n[[victim]]\nchain = \"ethereum\"\naddress = \"{}\"\n[[exploiter]]\nchain = \"ethereum\"\naddress = \"{}\"\n",
            victim.to_hex(),
            exploiter.to_hex()
        ),
    )
    .expect("write incident");
    let (json, _) = ok(
        tmp.path(),
        &[
            "investigate",
            &incident.display().to_string(),
            "--format",
            "json",
            "--prices",
            &prices.display().to_string(),
        ],
    );
    let r: Value = serde_json::from_str(&json).expect("JSON");
    let losses = r["losses"].as_array().expect("losses");
    let native = losses
        .iter()
        .find(|l| l["asset"] == "native")
        .expect("native loss");
    assert_eq!(
        native["amount"], "3500000000000000000",
        "2.5 + 1 ETH after the start, not the earlier wei"
    );
    assert_eq!(native["amount_human"], "3.5");
    assert_eq!(native["symbol"], "ETH");
    assert!(
        native["usd"].is_null(),
        "one transfer has no price, so the total is n/a, not a partial sum"
    );
    let t2 = native["transfers"]
        .as_array()
        .expect("transfers")
        .iter()
        .find(|x| x["amount_human"] == "2.5")
        .expect("2.5 ETH");
    let usd = t2["usd"].as_f64().expect("priced");
    assert!((usd - 2.5 * 1592.429443359375).abs() < 1e-6, "USD {usd}");
    let late = native["transfers"]
        .as_array()
        .expect("transfers")
        .iter()
        .find(|x| x["amount_human"] == "1")
        .expect("1 ETH");
    assert!(late["usd"].is_null(), "no price in 2027");
    let tok = losses
        .iter()
        .find(|l| l["asset"] == token.to_hex().as_str())
        .expect("token loss");
    assert_eq!(tok["amount"], "777");
    assert!(
        tok["amount_human"].is_null() && tok["usd"].is_null(),
        "unknown decimals stay raw: {tok}"
    );
    assert!(r["total_loss_usd"].is_null());

    let (md, _) = ok(
        tmp.path(),
        &[
            "investigate",
            &incident.display().to_string(),
            "--prices",
            &prices.display().to_string(),
        ],
    );
    assert!(
        md.contains("| ethereum | ETH | 3.5 ETH | 3500000000000000000 | n/a |"),
        "{md}"
    );
    assert!(md.contains("$3,981.07"), "2.5 ETH at $1,592.43: {md}");
}

/// Counts pixels within `tol` of an RGB color.
fn count_color(img: &[u8], channels: usize, rgb: (u8, u8, u8), tol: i32) -> usize {
    img.chunks(channels)
        .filter(|p| {
            (i32::from(p[0]) - i32::from(rgb.0)).abs() <= tol
                && (i32::from(p[1]) - i32::from(rgb.1)).abs() <= tol
                && (i32::from(p[2]) - i32::from(rgb.2)).abs() <= tol
        })
        .count()
}

#[test]
fn html_report_renders_its_flow_graph_in_headless_chromium() {
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(chromium) = chromium else {
        eprintln!("skipping: no chromium on PATH (run scripts/setup-chromium.sh)");
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let (dir, _, _) = demo(tmp.path(), 7, false);
    let html = std::fs::read_to_string(dir.join("report.html")).expect("html written");
    assert!(
        html.contains("<svg") && !html.contains("<script"),
        "inline SVG, no scripts"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "self-contained: no external resources"
    );
    let png_path = tmp.path().join("shot.png");
    let profile = tmp.path().join("profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png_path.display()))
        .arg("--window-size=1200,900")
        .arg(format!("file://{}", dir.join("report.html").display()))
        .output()
        .expect("chromium runs");
    assert!(
        png_path.is_file(),
        "screenshot written; chromium said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png_path).expect("png"),
    ));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    assert_eq!((w, h), (1200, 900));
    let img = &buf[..info.buffer_size()];
    // The graph sits in the band below the header cards: look at rows 260..820.
    let band = &img[260 * w * channels..820 * w * channels];
    let non_bg = band
        .chunks(channels)
        .filter(|p| !(p[0] > 240 && p[1] > 240 && p[2] > 240))
        .count();
    assert!(
        non_bg > 20_000,
        "graph area has drawing: {non_bg} non-background pixels"
    );
    // Theft edges (#c62828) and traced edges (#1565c0) are drawn; victim (#ffcdd2) and exploiter (#ffe0b2) boxes too.
    let red = count_color(band, channels, (0xc6, 0x28, 0x28), 40);
    let blue = count_color(band, channels, (0x15, 0x65, 0xc0), 40);
    let victim = count_color(band, channels, (0xff, 0xcd, 0xd2), 6);
    let exploiter = count_color(band, channels, (0xff, 0xe0, 0xb2), 6);
    assert!(red > 300, "loss edges visible: {red} px");
    assert!(blue > 300, "flow edges visible: {blue} px");
    assert!(
        victim > 2_000 && exploiter > 2_000,
        "node boxes visible: victim {victim}, exploiter {exploiter}"
    );
}

#[test]
fn demo_follows_the_laundering_through_a_bridge_onto_a_second_chain() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (dir, _, stderr) = demo(tmp.path(), 7, false);
    let truth = read_truth(&dir);
    let actor = truth
        .incidents
        .last()
        .expect("sim planted incidents")
        .actor
        .trim_start_matches("actor:")
        .to_string();
    let r = read_json(&dir.join("report.json"));
    assert_eq!(
        r["attribution"][0]["actor"].as_str(),
        Some(actor.as_str()),
        "planted actor first"
    );
    let loss_chains: Vec<&str> = r["losses"]
        .as_array()
        .expect("losses")
        .iter()
        .filter_map(|l| l["chain"].as_str())
        .collect();
    assert!(!loss_chains.is_empty(), "{stderr}");
    // Every exit address and resting place, with its steps.
    let mut reached: Vec<&Value> = r["destinations"]
        .as_array()
        .expect("destinations")
        .iter()
        .collect();
    for g in r["exits"].as_array().expect("exits") {
        reached.extend(g["addresses"].as_array().expect("addresses"));
    }
    let bridged: Vec<&&Value> = reached
        .iter()
        .filter(|x| {
            !loss_chains.contains(&x["chain"].as_str().unwrap_or_default())
                && x["steps"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|st| st["kind"] == "bridge"))
        })
        .collect();
    assert!(
        !bridged.is_empty(),
        "some exit or destination on another chain than the losses {loss_chains:?}, reached through a bridge step: {}",
        serde_json::to_string_pretty(&reached).unwrap_or_default()
    );
    for x in &bridged {
        let steps = x["steps"].as_array().expect("steps");
        let b = steps.iter().find(|s| s["kind"] == "bridge").expect("bridge step");
        assert_ne!(b["from_chain"], b["to_chain"], "{b}");
        assert_eq!(
            b["to_chain"], x["chain"],
            "the bridge lands on the destination's chain: {b}"
        );
        for key in ["deposit_tx", "release_tx", "reason"] {
            assert!(b[key].as_str().is_some_and(|v| !v.is_empty()), "{key} in {b}");
        }
        assert!(
            b["confidence"].as_f64().is_some_and(|c| c > 0.0 && c <= 1.0),
            "{b}"
        );
        // Transfers before the bridge are on the source chain, after it on the target chain.
        let i = steps
            .iter()
            .position(|s| s["kind"] == "bridge")
            .expect("bridge index");
        assert!(
            steps[..i]
                .iter()
                .filter(|s| s["kind"] == "transfer")
                .all(|s| s["chain"] == b["from_chain"])
        );
        assert!(
            steps[i + 1..]
                .iter()
                .filter(|s| s["kind"] == "transfer")
                .all(|s| s["chain"] == b["to_chain"])
        );
    }
    // The chain-B hub swaps the bridged USDT to native before cashing out: the path crosses the planted
    // DEX swap (a V2 pair `Swap` log) after the bridge, on the bridge's target chain.
    let swapped: Vec<&&&Value> = bridged
        .iter()
        .filter(|x| {
            let steps = x["steps"].as_array().expect("steps");
            let b = steps.iter().position(|s| s["kind"] == "bridge");
            let w = steps.iter().position(|s| s["kind"] == "swap");
            matches!((b, w), (Some(b), Some(w)) if b < w)
        })
        .collect();
    assert!(
        !swapped.is_empty(),
        "some bridged exit or destination is reached through a swap after the bridge: {}",
        serde_json::to_string_pretty(&bridged).unwrap_or_default()
    );
    for x in &swapped {
        let steps = x["steps"].as_array().expect("steps");
        let w = steps.iter().find(|s| s["kind"] == "swap").expect("swap step");
        assert_eq!(
            w["swap_kind"], "swap_v2",
            "recognised from the pair's Swap log: {w}"
        );
        assert_ne!(w["from_asset"], w["to_asset"], "{w}");
        assert_eq!(w["chain"], x["chain"], "{w}");
        let tx = w["tx"].as_str().expect("swap tx");
        let planted = truth
            .swaps
            .iter()
            .find(|s| s.tx_hash.to_string() == tx)
            .unwrap_or_else(|| panic!("swap step {w} is a swap of the ground truth"));
        assert_eq!(w["owner"].as_str(), Some(planted.owner.to_string().as_str()));
        assert_eq!(
            w["amount_in"].as_str(),
            Some(planted.amount_in.to_string().as_str())
        );
        assert_eq!(
            w["amount_out"].as_str(),
            Some(planted.amount_out.to_string().as_str())
        );
    }
    // The flow graph draws the bridge as a conversion node, and the HTML shows the chain change.
    let nodes = r["flow"]["nodes"].as_array().expect("flow nodes");
    assert!(
        nodes
            .iter()
            .any(|n| n["role"] == "conversion" && n["category"] == "bridge"),
        "{nodes:?}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).expect("html");
    assert!(
        html.contains("class=\"node conversion\""),
        "conversion node in the SVG"
    );
    assert!(html.contains("bridge simbridge"), "bridge steps in the tables");
}

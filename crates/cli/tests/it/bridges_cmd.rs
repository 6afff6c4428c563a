//! `chaintrace bridges import|list` and `chaintrace trace` through a swap and a bridge, run as the real
//! binary. The store is filled with blocks in node JSON format decoded by chaintrace-chain-evm (transfers
//! and kept raw logs), then written through the store writer, as the ingest does.

use std::path::Path;
use std::process::{Command, Output};

use chaintrace_chain_evm::{Receipts, decode_block_keeping_logs};
use chaintrace_core::{Address, Chain, U256};
use chaintrace_store::{Batch, Store, TransferWriter};
use serde_json::{Value, json};

fn addr(i: u8) -> Address {
    Address([i; 20])
}
fn word_addr(i: u8) -> String {
    format!("0x{:0>64}", addr(i).to_hex().trim_start_matches("0x"))
}
fn word_u(x: u64) -> String {
    format!("{:064x}", x)
}
fn h32(i: u8) -> String {
    format!("0x{}", format!("{i:02x}").repeat(32))
}
/// Topic 0 of an event: the DeFi layer's table for its events, the ERC-20 `Transfer` constant otherwise.
fn topic(sig: &str) -> String {
    match chaintrace_defi::KnownEvent::ALL
        .iter()
        .find(|e| e.signature() == sig)
    {
        Some(e) => format!("{:#x}", U256::from_be_bytes(e.topic())),
        None => {
            assert_eq!(sig, "Transfer(address,address,uint256)");
            chaintrace_chain_evm::TRANSFER_TOPIC.to_string()
        }
    }
}

const S: u8 = 0x51;
const C: u8 = 0x0c;
const X: u8 = 0x58;
const P: u8 = 0x50;
const BR: u8 = 0xb1;
const BR2: u8 = 0xb2;
const E: u8 = 0xee;
const TA: u8 = 0xa1;
const TB: u8 = 0xa2;
const TB2: u8 = 0xa3;

fn transfer_log(token: u8, from: u8, to: u8, amount: u64) -> LogSpec {
    (
        token,
        vec![
            topic("Transfer(address,address,uint256)"),
            word_addr(from),
            word_addr(to),
        ],
        format!("0x{}", word_u(amount)),
    )
}

/// A log: (emitter, topics, data).
type LogSpec = (u8, Vec<String>, String);

/// One block: txs of (tx id, signer, logs (emitter, topics, data)).
fn block(chain: Chain, number: u64, txs: Vec<(u8, u8, Vec<LogSpec>)>) -> (Chain, Value, Value) {
    let bh = h32(number as u8 ^ 0x80);
    let mut transactions = Vec::new();
    let mut receipts = Vec::new();
    let mut index = 0u64;
    for (tx, from, logs) in txs {
        transactions.push(
            json!({"hash": h32(tx), "from": addr(from).to_hex(), "to": addr(0x99).to_hex(),
            "value": "0x0", "gasPrice": "0x1"}),
        );
        let logs: Vec<Value> = logs
            .into_iter()
            .map(|(emitter, topics, data)| {
                index += 1;
                json!({"address": addr(emitter).to_hex(), "topics": topics, "data": data,
                       "logIndex": format!("{:#x}", index - 1)})
            })
            .collect();
        receipts.push(
            json!({"transactionHash": h32(tx), "blockHash": bh, "status": "0x1", "gasUsed": "0x1",
            "effectiveGasPrice": "0x1", "contractAddress": null, "logs": logs}),
        );
    }
    let b = json!({"number": format!("{number:#x}"), "hash": bh, "parentHash": h32(0),
        "timestamp": format!("{:#x}", 1_700_000_000 + number * 12), "transactions": transactions});
    (chain, b, Value::Array(receipts))
}

fn fill(dir: &Path) {
    let eth = Chain::Ethereum;
    let arb = Chain::Arbitrum;
    let swap = (
        P,
        vec![
            topic("Swap(address,uint256,uint256,uint256,uint256,address)"),
            word_addr(X),
            word_addr(X),
        ],
        format!("0x{}{}{}{}", word_u(200), word_u(0), word_u(0), word_u(50)),
    );
    let deposit = (
        BR,
        vec![
            topic("BridgeDeposit(bytes32,address,address,address,uint256,uint256)"),
            h32(0x77),
            word_addr(TB),
            word_addr(X),
        ],
        format!("{}{}{}", word_addr(X), word_u(50), word_u(42161)),
    );
    let release = (
        BR2,
        vec![
            topic("BridgeRelease(bytes32,address,address,uint256,uint256)"),
            h32(0x77),
            word_addr(TB2),
            word_addr(X),
        ],
        format!("0x{}{}", word_u(49), word_u(1)),
    );
    let blocks = vec![
        block(
            eth,
            1,
            vec![
                (0x01, C, vec![transfer_log(TA, C, X, 100)]),
                (0x05, C, vec![transfer_log(TB, C, P, 150)]),
            ],
        ),
        block(eth, 2, vec![(0x02, S, vec![transfer_log(TA, S, X, 100)])]),
        block(
            eth,
            3,
            vec![(
                0x03,
                X,
                vec![transfer_log(TA, X, P, 200), transfer_log(TB, P, X, 50), swap],
            )],
        ),
        block(
            eth,
            4,
            vec![(0x04, X, vec![transfer_log(TB, X, BR, 50), deposit])],
        ),
        block(
            arb,
            100,
            vec![(0x10, BR2, vec![transfer_log(TB2, BR2, X, 49), release])],
        ),
        block(arb, 101, vec![(0x11, X, vec![transfer_log(TB2, X, E, 49)])]),
    ];
    let mut store = Store::open(dir).expect("store opens");
    let keep = chaintrace_defi::topics_of_interest();
    let mut kept = 0;
    for (chain, b, r) in blocks {
        let d = decode_block_keeping_logs(chain, &b, Receipts::Block(&r), None, keep).expect("decodes");
        kept += d.logs.len();
        store
            .write_batch(Batch {
                blocks: std::slice::from_ref(&d.record),
                transfers: &d.transfers,
                logs: &d.logs,
                checkpoint: None,
            })
            .expect("write");
    }
    assert_eq!(kept, 3, "swap, deposit and release logs kept");
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaintrace"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("binary runs")
}

fn json_of(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("json stdout")
}

fn trace_json(dir: &Path, extra: &[&str]) -> Value {
    let s = addr(S).to_hex();
    let mut args = vec![
        "trace",
        "--chain",
        "ethereum",
        "--address",
        &s,
        "--model",
        "haircut",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    json_of(&run(dir, &args))
}

#[test]
fn trace_crosses_a_swap_and_a_user_registered_bridge_to_the_exchange_deposit() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    fill(dir);

    // Before the bridge is registered: the swap is crossed, the deposit stays a transfer into BR.
    let before = trace_json(dir, &[]);
    let convs = before["conversions"].as_array().expect("conversions");
    assert_eq!(convs.len(), 1, "{convs:?}");
    assert_eq!(convs[0]["kind"], "swap");
    assert_eq!(
        (convs[0]["taint_in"].as_str(), convs[0]["taint_out"].as_str()),
        (Some("100"), Some("25"))
    );
    assert!(
        before["destinations"]
            .as_array()
            .expect("d")
            .iter()
            .all(|d| d["chain"] == "ethereum")
    );

    // Bad registry lines name file and line; nothing is stored.
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "chain,address,bridge,role\nethereum,0x12,testbridge,deposit\n",
    )
    .expect("write");
    let o = run(dir, &["bridges", "import", bad.to_str().expect("utf8")]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.csv:2:") && err.contains("bad address"), "{err}");

    let csv = dir.join("mine.csv");
    std::fs::write(
        &csv,
        format!(
            "chain,address,bridge,role\nethereum,{},testbridge,deposit\narbitrum,{},testbridge,release\n",
            addr(BR).to_hex(),
            addr(BR2).to_hex()
        ),
    )
    .expect("write");
    let o = json_of(&run(
        dir,
        &[
            "bridges",
            "import",
            csv.to_str().expect("utf8"),
            "--format",
            "json",
        ],
    ));
    assert_eq!(
        (
            o["schema_version"].as_u64(),
            o["imported"].as_u64(),
            o["total"].as_u64()
        ),
        (Some(1), Some(2), Some(2))
    );
    let list = json_of(&run(dir, &["bridges", "list", "--user-only", "--format", "json"]));
    let entries = list["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2);
    assert!(
        entries
            .iter()
            .all(|e| e["source"] == "user" && e["bridge"] == "testbridge")
    );
    let all = json_of(&run(dir, &["bridges", "list", "--format", "json"]));
    assert!(
        all["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["source"] == "builtin")
    );

    // After: the trace continues on arbitrum at the release recipient and reaches the exchange deposit.
    let r = trace_json(dir, &[]);
    let e = r["destinations"]
        .as_array()
        .expect("destinations")
        .iter()
        .find(|d| d["chain"] == "arbitrum" && d["address"] == addr(E).to_hex())
        .expect("exchange deposit on arbitrum reached")
        .clone();
    assert_eq!(e["amount"], "24", "25 tainted B bridged at 49/50");
    let kinds: Vec<&str> = e["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(
        kinds,
        [
            "transfer", "transfer", "swap", "transfer", "transfer", "bridge", "transfer", "transfer"
        ]
    );
    let bridge = &e["steps"][5];
    assert_eq!(
        (bridge["deposit_tx"].as_str(), bridge["release_tx"].as_str()),
        (Some(h32(0x04).as_str()), Some(h32(0x10).as_str()))
    );
    assert_eq!(
        (bridge["confidence"].as_f64(), bridge["reason"].as_str()),
        (Some(1.0), Some("message id"))
    );
    assert_eq!(
        e["path"].as_array().map(Vec::len),
        Some(6),
        "path stays the list of transfer tx hashes"
    );
    for s in r["summary"].as_array().expect("summary") {
        let n = |k: &str| s[k].as_str().expect(k).parse::<u128>().expect("int");
        assert_eq!(
            n("emitted") + n("converted_in"),
            n("holding") + n("exits") + n("dropped") + n("returned") + n("converted_out"),
            "{s}"
        );
    }
    // A second run reads the conversions cache and answers the same; a damaged cache is refused with a
    // warning and rebuilt, again with the same answer.
    let s_hex = addr(S).to_hex();
    let args = [
        "trace",
        "--chain",
        "ethereum",
        "--address",
        &s_hex,
        "--model",
        "haircut",
        "--format",
        "json",
    ];
    let again = run(dir, &args);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("in the cache"),
        "stderr: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(json_of(&again), r, "cached conversions give the same trace");
    // Damage in an edge record (the end of the file) is found when the trace reads that owner's record: the
    // trace is run again on rebuilt conversions. Damage in the head (owner index, record table; right after
    // the 24-byte preamble) is found at open.
    let cache = dir.join("conversions.cache");
    let good = std::fs::read(&cache).expect("cache written");
    for (at, says) in [
        (good.len() - 2, "conversions cache is damaged"),
        (30, "ignoring the conversions cache"),
    ] {
        let mut bytes = good.clone();
        bytes[at] ^= 0x55;
        std::fs::write(&cache, &bytes).expect("damage cache");
        let rebuilt = run(dir, &args);
        let err = String::from_utf8_lossy(&rebuilt.stderr).to_string();
        assert!(err.contains(says) && err.contains("checksum"), "{err}");
        assert_eq!(json_of(&rebuilt), r, "rebuilt conversions give the same trace");
        assert_eq!(
            std::fs::read(&cache).expect("rewritten"),
            good,
            "the cache is rewritten"
        );
    }

    // --no-conversions restores the per-asset trace.
    let plain = trace_json(dir, &["--no-conversions"]);
    assert!(plain["conversions"].as_array().expect("c").is_empty());
}

//! Raw logs kept by the decoder (swap, wrap, bridge and mixer events for the DeFi layer), on real mainnet
//! blocks 17173049-17173050 rebuilt into node JSON from ethereum-etl's expected outputs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chaintrace_chain_evm::{Receipts, decode_block, decode_block_keeping_logs};
use chaintrace_core::{Chain, U256};
use serde_json::{Value, json};

use crate::fixtures::{dir, raw_number, text};

const STREAM: &str = "test_stream/blocks_17173049_17173050";

fn topic(signature: &str) -> [u8; 32] {
    alloy_primitives::keccak256(signature.as_bytes()).0
}

/// Uniswap V2/V3 `Swap`, WETH `Deposit` / `Withdrawal`: what the ingest keeps among others.
fn swap_topics() -> Vec<[u8; 32]> {
    [
        "Swap(address,uint256,uint256,uint256,uint256,address)",
        "Swap(address,address,int256,int256,uint160,uint128,int24)",
        "Deposit(address,uint256)",
        "Withdrawal(address,uint256)",
    ]
    .iter()
    .map(|s| topic(s))
    .collect()
}

fn hex_of_decimal(s: &str) -> String {
    let v = U256::from_str_radix(s, 10).unwrap_or_else(|e| panic!("bad decimal {s}: {e}"));
    format!("{v:#x}")
}

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 + 2 * i..4 + 2 * i], 16).expect("hex topic");
    }
    out
}

/// (block JSON, receipts JSON) per block, in node format, from ethereum-etl's JSON lines.
fn node_blocks(d: &Path) -> Vec<(Value, Value)> {
    let mut blocks: BTreeMap<u64, (Value, Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for l in text(d, &format!("{STREAM}/expected_blocks.json")).lines() {
        let v: Value = serde_json::from_str(l).expect("block line");
        let n = v["number"].as_u64().expect("number");
        let header = json!({
            "number": format!("{n:#x}"),
            "hash": v["hash"],
            "parentHash": v["parent_hash"],
            "timestamp": format!("{:#x}", v["timestamp"].as_u64().expect("timestamp")),
        });
        blocks.insert(n, (header, Vec::new(), Vec::new()));
    }
    let mut logs_by_tx: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for l in text(d, &format!("{STREAM}/expected_logs.json")).lines() {
        let v: Value = serde_json::from_str(l).expect("log line");
        logs_by_tx
            .entry(v["transaction_hash"].as_str().expect("hash").to_string())
            .or_default()
            .push(json!({
                "address": v["address"],
                "topics": v["topics"],
                "data": v["data"],
                "logIndex": format!("{:#x}", v["log_index"].as_u64().expect("index")),
            }));
    }
    for l in text(d, &format!("{STREAM}/expected_transactions.json")).lines() {
        let v: Value = serde_json::from_str(l).expect("tx line");
        let n = v["block_number"].as_u64().expect("block");
        let hash = v["hash"].as_str().expect("hash").to_string();
        let entry = blocks.get_mut(&n).expect("block of tx");
        let gas_price = hex_of_decimal(&raw_number(l, "gas_price").expect("gas price"));
        entry.1.push(json!({
            "hash": hash,
            "from": v["from_address"],
            "to": v["to_address"],
            "value": hex_of_decimal(&raw_number(l, "value").expect("value")),
            "gasPrice": gas_price,
        }));
        entry.2.push(json!({
            "transactionHash": hash,
            "blockHash": v["block_hash"],
            "status": format!("{:#x}", v["receipt_status"].as_u64().expect("status")),
            "gasUsed": format!("{:#x}", v["receipt_gas_used"].as_u64().expect("gas used")),
            "effectiveGasPrice": gas_price,
            "contractAddress": v["receipt_contract_address"],
            "logs": logs_by_tx.remove(&hash).unwrap_or_default(),
        }));
    }
    blocks
        .into_values()
        .map(|(mut header, txs, receipts)| {
            header["transactions"] = Value::Array(txs);
            (header, Value::Array(receipts))
        })
        .collect()
}

#[test]
fn swap_and_wrap_logs_of_real_blocks_are_kept_exactly_and_nothing_else() {
    let Some(d) = dir() else { return };
    let keep = swap_topics();
    let mut expected: BTreeSet<(String, u32, [u8; 32])> = BTreeSet::new();
    for l in text(&d, &format!("{STREAM}/expected_logs.json")).lines() {
        let v: Value = serde_json::from_str(l).expect("log line");
        let t0 = hex32(v["topics"][0].as_str().expect("topic 0"));
        if keep.contains(&t0) {
            let tx = v["transaction_hash"].as_str().expect("hash").to_string();
            expected.insert((tx, v["log_index"].as_u64().expect("index") as u32, t0));
        }
    }
    let mut got = BTreeSet::new();
    let mut decoded_without = 0;
    for (block, receipts) in node_blocks(&d) {
        let b = decode_block_keeping_logs(Chain::Ethereum, &block, Receipts::Block(&receipts), None, &keep)
            .expect("real block decodes");
        let plain = decode_block(Chain::Ethereum, &block, Receipts::Block(&receipts), None).expect("decodes");
        assert_eq!(
            plain.transfers, b.transfers,
            "keeping logs does not change transfers"
        );
        decoded_without += plain.logs.len();
        for log in &b.logs {
            assert_eq!(log.block, b.record.number);
            assert_eq!(log.timestamp, b.record.timestamp);
            assert!(!log.topics.is_empty() && keep.contains(&log.topics[0]));
            got.insert((log.tx_hash.to_hex(), log.log_index, log.topics[0]));
        }
    }
    assert_eq!(decoded_without, 0, "decode_block keeps no logs");
    assert_eq!(got, expected);
    let swaps = got.iter().filter(|k| k.2 == keep[0] || k.2 == keep[1]).count();
    assert!(swaps >= 68, "the two blocks hold many Uniswap swaps, got {swaps}");
    eprintln!("kept {} logs ({} swaps) of blocks 17173049-50", got.len(), swaps);
}

#[test]
fn logs_of_failed_transactions_and_removed_logs_are_not_kept() {
    let Some(d) = dir() else { return };
    let keep = swap_topics();
    let (block, mut receipts) = node_blocks(&d).remove(0);
    let rs = receipts.as_array_mut().expect("array");
    let (donor, _) = rs
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r["logs"].as_array().into_iter().flatten().map(move |l| (i, l)))
        .find(|(_, l)| hex32(l["topics"][0].as_str().expect("t0")) == keep[0])
        .expect("a V2 swap log in block 17173049");
    let donor_tx = rs[donor]["transactionHash"].as_str().expect("hash").to_string();
    let before = decode_block_keeping_logs(Chain::Ethereum, &block, Receipts::Block(&receipts), None, &keep)
        .expect("decodes");
    let of_donor = |b: &chaintrace_chain_evm::DecodedBlock| {
        b.logs.iter().filter(|l| l.tx_hash.to_hex() == donor_tx).count()
    };
    assert!(of_donor(&before) > 0);
    let rs = receipts.as_array_mut().expect("array");
    rs[donor]["status"] = json!("0x0");
    let failed = decode_block_keeping_logs(Chain::Ethereum, &block, Receipts::Block(&receipts), None, &keep)
        .expect("decodes");
    assert_eq!(of_donor(&failed), 0, "a reverted transaction keeps no log");
    let rs = receipts.as_array_mut().expect("array");
    rs[donor]["status"] = json!("0x1");
    for l in rs[donor]["logs"].as_array_mut().expect("logs") {
        l["removed"] = json!(true);
    }
    let removed = decode_block_keeping_logs(Chain::Ethereum, &block, Receipts::Block(&receipts), None, &keep)
        .expect("decodes");
    assert_eq!(of_donor(&removed), 0, "removed logs are not kept");
    assert_eq!(removed.logs.len() + of_donor(&before), before.logs.len());
}

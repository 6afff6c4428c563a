//! Loads fixtures written in the JSON shapes nodes return (eth_getTransactionByHash, the receipt with
//! its logs, and value-carrying calls as a flattened callTracer) into core values, the way the ingest
//! side does: ERC-20 `Transfer` logs become token transfers, logs whose topic 0 is of interest are kept
//! as raw logs, everything else is dropped.

use std::path::PathBuf;

use chaintrace_core::{Address, Asset, Chain, Position, RawLog, Transfer, TransferKind, TxHash, U256};
use serde_json::Value;

pub(crate) struct Loaded {
    pub(crate) logs: Vec<RawLog>,
    pub(crate) transfers: Vec<Transfer>,
}

const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

pub(crate) fn quantity(v: &Value) -> U256 {
    let s = v.as_str().expect("hex quantity");
    U256::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex quantity")
}

pub(crate) fn u64_of(v: &Value) -> u64 {
    u64::try_from(quantity(v)).expect("fits u64")
}

pub(crate) fn bytes(s: &str) -> Vec<u8> {
    let h = s.trim_start_matches("0x");
    (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

pub(crate) fn word32(s: &str) -> [u8; 32] {
    <[u8; 32]>::try_from(bytes(s).as_slice()).expect("32-byte word")
}

pub(crate) fn addr(s: &str) -> Address {
    Address::parse(s).expect("address")
}

pub(crate) fn load(name: &str) -> Loaded {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let txs: Vec<Value> = serde_json::from_str(&text).expect("fixture json");
    let mut out = Loaded {
        logs: Vec::new(),
        transfers: Vec::new(),
    };
    for tx in &txs {
        let chain: Chain = tx["chain"].as_str().expect("chain").parse().expect("chain name");
        let t = &tx["transaction"];
        let receipt = &tx["receipt"];
        let hash = TxHash::parse(t["hash"].as_str().expect("hash")).expect("hash");
        let from = addr(t["from"].as_str().expect("from"));
        let block = u64_of(&t["blockNumber"]);
        let gas_price = quantity(&receipt["effectiveGasPrice"]);
        let timestamp = receipt["logs"]
            .as_array()
            .and_then(|l| l.first())
            .map(|l| u64_of(&l["blockTimestamp"]))
            .expect("fixtures carry blockTimestamp on their logs");
        let base = Transfer {
            chain,
            block,
            timestamp,
            tx_hash: hash,
            position: Position::Tx,
            from,
            to: from,
            asset: Asset::Native,
            amount: U256::ZERO,
            kind: TransferKind::Native,
            tx_from: from,
            tx_fee: gas_price * quantity(&receipt["gasUsed"]),
            gas_price,
        };
        let value = quantity(&t["value"]);
        if !value.is_zero() {
            out.transfers.push(Transfer {
                to: addr(t["to"].as_str().expect("to")),
                amount: value,
                ..base.clone()
            });
        }
        for (i, call) in tx["calls"].as_array().expect("calls").iter().enumerate() {
            out.transfers.push(Transfer {
                position: Position::Trace(vec![i as u32]),
                from: addr(call["from"].as_str().expect("from")),
                to: addr(call["to"].as_str().expect("to")),
                amount: quantity(&call["value"]),
                kind: TransferKind::Internal,
                ..base.clone()
            });
        }
        for log in receipt["logs"].as_array().expect("logs") {
            let topics: Vec<&str> = log["topics"]
                .as_array()
                .expect("topics")
                .iter()
                .map(|t| t.as_str().expect("topic"))
                .collect();
            let address = addr(log["address"].as_str().expect("address"));
            let log_index = u64_of(&log["logIndex"]) as u32;
            let data = bytes(log["data"].as_str().expect("data"));
            if topics.len() == 3 && topics[0] == TRANSFER_TOPIC && data.len() == 32 {
                out.transfers.push(Transfer {
                    position: Position::Log(log_index),
                    from: Address::from_slice(&word32(topics[1])[12..]).expect("20 bytes"),
                    to: Address::from_slice(&word32(topics[2])[12..]).expect("20 bytes"),
                    asset: Asset::Token(address),
                    amount: U256::from_be_slice(&data),
                    kind: TransferKind::Token,
                    ..base.clone()
                });
                continue;
            }
            let topics: Vec<[u8; 32]> = topics.iter().map(|t| word32(t)).collect();
            if !topics.first().is_some_and(chaintrace_defi::is_topic_of_interest) {
                continue;
            }
            out.logs.push(RawLog {
                chain,
                block: u64_of(&log["blockNumber"]),
                timestamp: u64_of(&log["blockTimestamp"]),
                tx_hash: TxHash::parse(log["transactionHash"].as_str().expect("hash")).expect("hash"),
                log_index,
                address,
                topics,
                data,
                tx_from: from,
            });
        }
    }
    out
}

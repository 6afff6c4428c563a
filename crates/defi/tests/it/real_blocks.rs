//! Real mainnet blocks 17173049-17173050 (ethereum-etl's test stream in /work/shared/data): every
//! Uniswap-style swap and WETH wrap in them goes through the detector.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use chaintrace_core::{Address, Asset, Chain, Position, RawLog, Transfer, TransferKind, TxHash, U256};
use chaintrace_defi::KnownEvent;
use chaintrace_defi::swap::{ConversionKind, DexRegistry, detect_conversions};
use serde_json::Value;

use crate::fixtures::{bytes, word32};

fn data_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/ethereum-etl-test-fixtures/test_stream/blocks_17173049_17173050");
    dir.is_dir().then_some(dir)
}

/// The decimal integer after `"key": ` in a JSON line (serde_json without arbitrary precision would
/// round values above 2^64).
fn raw_integer(line: &str, key: &str) -> Option<U256> {
    let pat = format!("\"{key}\": ");
    let start = line.find(&pat)? + pat.len();
    let digits: String = line[start..].chars().take_while(char::is_ascii_digit).collect();
    U256::from_str_radix(&digits, 10).ok()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("field {k}"))
}

#[test]
fn real_blocks_swaps_and_wraps_become_consistent_conversions() {
    let Some(dir) = data_dir() else {
        eprintln!("skipped: /work/shared/data/ethereum-etl-test-fixtures is absent");
        return;
    };
    let txs_text = std::fs::read_to_string(dir.join("expected_transactions.json")).expect("transactions");
    let logs_text = std::fs::read_to_string(dir.join("expected_logs.json")).expect("logs");
    let mut signer: HashMap<TxHash, (Address, U256)> = HashMap::new();
    let mut transfers: Vec<Transfer> = Vec::new();
    for line in txs_text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).expect("tx json");
        if v["receipt_status"].as_u64() != Some(1) {
            continue;
        }
        let hash = TxHash::parse(s(&v, "hash")).expect("hash");
        let from = Address::parse(s(&v, "from_address")).expect("from");
        let gas_price = raw_integer(line, "receipt_effective_gas_price").unwrap_or(U256::ZERO);
        signer.insert(hash, (from, gas_price));
        let value = raw_integer(line, "value").expect("value");
        if let (false, Some(to)) = (value.is_zero(), v["to_address"].as_str()) {
            transfers.push(Transfer {
                chain: Chain::Ethereum,
                block: v["block_number"].as_u64().expect("block"),
                timestamp: v["block_timestamp"].as_u64().expect("ts"),
                tx_hash: hash,
                position: Position::Tx,
                from,
                to: Address::parse(to).expect("to"),
                asset: Asset::Native,
                amount: value,
                kind: TransferKind::Native,
                tx_from: from,
                tx_fee: U256::ZERO,
                gas_price,
            });
        }
    }
    let mut logs: Vec<RawLog> = Vec::new();
    let mut swap_txs: HashSet<TxHash> = HashSet::new();
    let mut swap_emitters: HashMap<TxHash, HashSet<Address>> = HashMap::new();
    for line in logs_text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).expect("log json");
        let hash = TxHash::parse(s(&v, "transaction_hash")).expect("hash");
        let Some(&(from, gas_price)) = signer.get(&hash) else {
            continue;
        };
        let topics: Vec<[u8; 32]> = v["topics"]
            .as_array()
            .expect("topics")
            .iter()
            .map(|t| word32(t.as_str().expect("t")))
            .collect();
        let data = bytes(s(&v, "data"));
        let address = Address::parse(s(&v, "address")).expect("address");
        let (block, timestamp) = (
            v["block_number"].as_u64().expect("block"),
            v["block_timestamp"].as_u64().expect("ts"),
        );
        let log_index = v["log_index"].as_u64().expect("log index") as u32;
        let transfer_topic = alloy_topic();
        if topics.len() == 3 && topics[0] == transfer_topic && data.len() == 32 {
            transfers.push(Transfer {
                chain: Chain::Ethereum,
                block,
                timestamp,
                tx_hash: hash,
                position: Position::Log(log_index),
                from: Address::from_slice(&topics[1][12..]).expect("20"),
                to: Address::from_slice(&topics[2][12..]).expect("20"),
                asset: Asset::Token(address),
                amount: U256::from_be_slice(&data),
                kind: TransferKind::Token,
                tx_from: from,
                tx_fee: U256::ZERO,
                gas_price,
            });
            continue;
        }
        let Some(event) = topics.first().and_then(KnownEvent::from_topic) else {
            continue;
        };
        if matches!(event, KnownEvent::UniswapV2Swap | KnownEvent::UniswapV3Swap) {
            swap_txs.insert(hash);
            swap_emitters.entry(hash).or_default().insert(address);
        }
        logs.push(RawLog {
            chain: Chain::Ethereum,
            block,
            timestamp,
            tx_hash: hash,
            log_index,
            address,
            topics,
            data,
            tx_from: from,
        });
    }
    let conv = detect_conversions(&logs, &transfers, &DexRegistry::builtin());
    let weth = Address::parse("0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2").expect("hex");
    let mut kinds: HashMap<ConversionKind, usize> = HashMap::new();
    let mut swap_conversions = HashSet::new();
    for c in &conv {
        *kinds.entry(c.kind).or_default() += 1;
        assert!(!c.amount_in.is_zero() && !c.amount_out.is_zero(), "{c:?}");
        assert_ne!(c.asset_in, c.asset_out, "{c:?}");
        if matches!(c.kind, ConversionKind::SwapV2 | ConversionKind::SwapV3) {
            swap_conversions.insert(c.tx_hash);
            let emitters = &swap_emitters[&c.tx_hash];
            assert!(
                c.pools.iter().all(|p| emitters.contains(p) || *p == weth),
                "{c:?}"
            );
            assert!(!c.evidence.is_empty());
        }
    }
    let mut kinds: Vec<_> = kinds.into_iter().map(|(k, n)| (k.name(), n)).collect();
    kinds.sort();
    eprintln!(
        "real blocks 17173049-50: {} kept logs, {} transfers, {} txs with swap logs, {} of them converted; conversions by kind {kinds:?}",
        logs.len(),
        transfers.len(),
        swap_txs.len(),
        swap_conversions.len()
    );
    // MEV bots' arbitrage cycles and sandwich legs have no owner with -A +B; most user swaps do.
    assert!(
        swap_conversions.len() * 2 >= swap_txs.len(),
        "{} of {}",
        swap_conversions.len(),
        swap_txs.len()
    );
}

fn alloy_topic() -> [u8; 32] {
    word32("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
}

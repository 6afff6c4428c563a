//! A small blocking JSON-RPC client for dev nodes: send transactions from unlocked dev accounts, wait
//! for receipts, mine, snapshot and revert, dump and load state.

use std::time::{Duration, Instant};

use chaintrace_core::{Address, TxHash, U256};
use serde_json::{Value, json};

use crate::TestkitError;

/// How long [`DevRpc::wait_receipt`] waits for a transaction to be mined.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// A JSON-RPC client for one dev node.
#[derive(Debug, Clone)]
pub struct DevRpc {
    url: String,
    agent: ureq::Agent,
}

/// A transaction to send from an unlocked account with `eth_sendTransaction`.
#[derive(Debug, Clone, Default)]
pub struct TxRequest {
    /// Sender (an unlocked dev account).
    pub from: Address,
    /// Receiver; `None` creates a contract from `data`.
    pub to: Option<Address>,
    /// Value in wei.
    pub value: U256,
    /// Call data or init code.
    pub data: Vec<u8>,
    /// Gas limit; `None` lets the node estimate (which fails for transactions that revert).
    pub gas: Option<u64>,
}

/// A mined transaction's receipt (the fields the scenarios need).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Transaction hash.
    pub tx_hash: TxHash,
    /// Block it was mined in.
    pub block_number: u64,
    /// Index of the transaction in its block.
    pub tx_index: u64,
    /// `true` for status 1.
    pub is_success: bool,
    /// Address of the contract this transaction created, if any.
    pub contract_address: Option<Address>,
    /// Gas used.
    pub gas_used: U256,
    /// Price paid per gas unit.
    pub effective_gas_price: U256,
    /// Logs emitted, in block log-index order.
    pub logs: Vec<Log>,
}

impl Receipt {
    /// Fee paid: gas used times the effective gas price.
    pub fn fee(&self) -> U256 {
        self.gas_used * self.effective_gas_price
    }
}

/// One event log of a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// Emitting contract.
    pub address: Address,
    /// Topics, topic 0 first.
    pub topics: Vec<[u8; 32]>,
    /// Data bytes.
    pub data: Vec<u8>,
    /// Index of the log in its block.
    pub log_index: u32,
}

/// Number, hash, parent hash and timestamp of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockHeader {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: [u8; 32],
    /// Parent hash.
    pub parent_hash: [u8; 32],
    /// Unix seconds.
    pub timestamp: u64,
    /// Hashes of the block's transactions, in order.
    pub tx_hashes: Vec<TxHash>,
}

impl DevRpc {
    /// A client for the node at `url`.
    pub fn new(url: &str) -> DevRpc {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .http_status_as_error(false)
            .build()
            .into();
        DevRpc {
            url: url.to_string(),
            agent,
        }
    }

    /// The node URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// One JSON-RPC call; returns `result`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, TestkitError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let transport = |source| TestkitError::Transport {
            method: method.to_string(),
            url: self.url.clone(),
            source: Box::new(source),
        };
        let mut response = self.agent.post(&self.url).send_json(&body).map_err(transport)?;
        let answer: Value = response.body_mut().read_json().map_err(transport)?;
        if let Some(err) = answer.get("error") {
            return Err(TestkitError::Node {
                method: method.to_string(),
                message: err.to_string(),
            });
        }
        answer.get("result").cloned().ok_or_else(|| TestkitError::Shape {
            method: method.to_string(),
            what: format!("no result in {answer}"),
        })
    }

    /// `eth_chainId`.
    pub fn chain_id(&self) -> Result<u64, TestkitError> {
        let v = self.call("eth_chainId", json!([]))?;
        quantity("eth_chainId", &v)
    }

    /// `eth_blockNumber`.
    pub fn block_number(&self) -> Result<u64, TestkitError> {
        let v = self.call("eth_blockNumber", json!([]))?;
        quantity("eth_blockNumber", &v)
    }

    /// `eth_accounts`: the unlocked dev accounts.
    pub fn accounts(&self) -> Result<Vec<Address>, TestkitError> {
        let v = self.call("eth_accounts", json!([]))?;
        let list = v
            .as_array()
            .ok_or_else(|| shape("eth_accounts", "not an array"))?;
        list.iter().map(|a| address("eth_accounts", a)).collect()
    }

    /// `eth_getBalance` at the latest block.
    pub fn balance(&self, who: Address) -> Result<U256, TestkitError> {
        let v = self.call("eth_getBalance", json!([who.to_hex(), "latest"]))?;
        u256("eth_getBalance", &v)
    }

    /// `eth_sendTransaction` from an unlocked account; returns the hash without waiting.
    pub fn send(&self, tx: &TxRequest) -> Result<TxHash, TestkitError> {
        let mut obj = json!({
            "from": tx.from.to_hex(),
            "value": format!("{:#x}", tx.value),
            "data": hex(&tx.data),
        });
        if let Some(to) = tx.to {
            obj["to"] = json!(to.to_hex());
        }
        if let Some(gas) = tx.gas {
            obj["gas"] = json!(format!("{gas:#x}"));
        }
        let v = self.call("eth_sendTransaction", json!([obj]))?;
        let s = v
            .as_str()
            .ok_or_else(|| shape("eth_sendTransaction", "hash is not a string"))?;
        TxHash::parse(s).map_err(|e| shape("eth_sendTransaction", &e.to_string()))
    }

    /// Sends and waits for the receipt (automine mines it at once).
    pub fn send_and_wait(&self, tx: &TxRequest) -> Result<Receipt, TestkitError> {
        let hash = self.send(tx)?;
        self.wait_receipt(hash)
    }

    /// Polls `eth_getTransactionReceipt` until the transaction is mined.
    pub fn wait_receipt(&self, hash: TxHash) -> Result<Receipt, TestkitError> {
        let deadline = Instant::now() + RECEIPT_TIMEOUT;
        loop {
            let v = self.call("eth_getTransactionReceipt", json!([hash.to_hex()]))?;
            if !v.is_null() {
                return parse_receipt(&v);
            }
            if Instant::now() > deadline {
                return Err(shape(
                    "eth_getTransactionReceipt",
                    &format!("{hash} not mined after 60 s"),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `eth_getBlockByNumber(n, false)`.
    pub fn block(&self, number: u64) -> Result<BlockHeader, TestkitError> {
        let m = "eth_getBlockByNumber";
        let v = self.call(m, json!([format!("{number:#x}"), false]))?;
        if v.is_null() {
            return Err(shape(m, &format!("no block {number}")));
        }
        let tx_hashes = v["transactions"]
            .as_array()
            .ok_or_else(|| shape(m, "no transactions array"))?
            .iter()
            .map(|h| {
                h.as_str()
                    .and_then(|s| TxHash::parse(s).ok())
                    .ok_or_else(|| shape(m, "bad tx hash"))
            })
            .collect::<Result<_, _>>()?;
        Ok(BlockHeader {
            number: quantity(m, &v["number"])?,
            hash: word(m, &v["hash"])?,
            parent_hash: word(m, &v["parentHash"])?,
            timestamp: quantity(m, &v["timestamp"])?,
            tx_hashes,
        })
    }

    /// `evm_setAutomine`: with automine off, transactions wait in the pool until [`DevRpc::mine`].
    pub fn set_automine(&self, on: bool) -> Result<(), TestkitError> {
        self.call("evm_setAutomine", json!([on])).map(drop)
    }

    /// `evm_mine`: mines one block with whatever is in the pool.
    pub fn mine(&self) -> Result<(), TestkitError> {
        self.call("evm_mine", json!([])).map(drop)
    }

    /// `anvil_mine`: mines `blocks` (possibly empty) blocks at once.
    pub fn mine_blocks(&self, blocks: u64) -> Result<(), TestkitError> {
        self.call("anvil_mine", json!([format!("{blocks:#x}")])).map(drop)
    }

    /// `evm_snapshot`: an id to revert to.
    pub fn snapshot(&self) -> Result<String, TestkitError> {
        let v = self.call("evm_snapshot", json!([]))?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| shape("evm_snapshot", "id is not a string"))
    }

    /// `evm_revert`: rewinds the chain (blocks included) to a snapshot; later blocks are dropped, so
    /// mining again produces a reorg.
    pub fn revert(&self, snapshot: &str) -> Result<(), TestkitError> {
        let v = self.call("evm_revert", json!([snapshot]))?;
        if v.as_bool() == Some(true) {
            Ok(())
        } else {
            Err(shape(
                "evm_revert",
                &format!("snapshot {snapshot} not reverted ({v})"),
            ))
        }
    }

    /// `anvil_dumpState`: the whole chain state as an opaque hex blob.
    pub fn dump_state(&self) -> Result<String, TestkitError> {
        let v = self.call("anvil_dumpState", json!([]))?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| shape("anvil_dumpState", "state is not a string"))
    }

    /// `anvil_loadState`: merges a blob from [`DevRpc::dump_state`] into this node.
    pub fn load_state(&self, state: &str) -> Result<(), TestkitError> {
        self.call("anvil_loadState", json!([state])).map(drop)
    }
}

fn parse_receipt(v: &Value) -> Result<Receipt, TestkitError> {
    let m = "eth_getTransactionReceipt";
    let logs = v["logs"]
        .as_array()
        .ok_or_else(|| shape(m, "no logs array"))?
        .iter()
        .map(|l| {
            let topics = l["topics"]
                .as_array()
                .ok_or_else(|| shape(m, "no topics"))?
                .iter()
                .map(|t| word(m, t))
                .collect::<Result<_, _>>()?;
            Ok(Log {
                address: address(m, &l["address"])?,
                topics,
                data: bytes(m, &l["data"])?,
                log_index: u32::try_from(quantity(m, &l["logIndex"])?)
                    .map_err(|_| shape(m, "log index above u32"))?,
            })
        })
        .collect::<Result<_, TestkitError>>()?;
    let contract_address = match &v["contractAddress"] {
        Value::Null => None,
        a => Some(address(m, a)?),
    };
    Ok(Receipt {
        tx_hash: TxHash::parse(v["transactionHash"].as_str().unwrap_or_default())
            .map_err(|e| shape(m, &e.to_string()))?,
        block_number: quantity(m, &v["blockNumber"])?,
        tx_index: quantity(m, &v["transactionIndex"])?,
        is_success: quantity(m, &v["status"])? == 1,
        contract_address,
        gas_used: u256(m, &v["gasUsed"])?,
        effective_gas_price: u256(m, &v["effectiveGasPrice"])?,
        logs,
    })
}

fn shape(method: &str, what: &str) -> TestkitError {
    TestkitError::Shape {
        method: method.to_string(),
        what: what.to_string(),
    }
}

fn quantity(method: &str, v: &Value) -> Result<u64, TestkitError> {
    let s = v
        .as_str()
        .ok_or_else(|| shape(method, &format!("expected a hex quantity, got {v}")))?;
    u64::from_str_radix(s.trim_start_matches("0x"), 16)
        .map_err(|_| shape(method, &format!("bad quantity {s}")))
}

fn u256(method: &str, v: &Value) -> Result<U256, TestkitError> {
    let s = v
        .as_str()
        .ok_or_else(|| shape(method, &format!("expected a hex quantity, got {v}")))?;
    U256::from_str_radix(s.trim_start_matches("0x"), 16)
        .map_err(|_| shape(method, &format!("bad quantity {s}")))
}

fn address(method: &str, v: &Value) -> Result<Address, TestkitError> {
    let s = v
        .as_str()
        .ok_or_else(|| shape(method, &format!("expected an address, got {v}")))?;
    Address::parse(s).map_err(|e| shape(method, &e.to_string()))
}

fn bytes(method: &str, v: &Value) -> Result<Vec<u8>, TestkitError> {
    let s = v
        .as_str()
        .ok_or_else(|| shape(method, &format!("expected hex bytes, got {v}")))?;
    alloy_primitives::hex::decode(s).map_err(|_| shape(method, &format!("bad hex bytes {s}")))
}

fn word(method: &str, v: &Value) -> Result<[u8; 32], TestkitError> {
    let b = bytes(method, v)?;
    <[u8; 32]>::try_from(b.as_slice()).map_err(|_| shape(method, &format!("expected 32 bytes, got {v}")))
}

fn hex(data: &[u8]) -> String {
    format!("0x{}", alloy_primitives::hex::encode(data))
}

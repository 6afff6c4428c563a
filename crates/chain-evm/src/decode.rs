//! Pure decoding of one block's JSON-RPC answers into [`Transfer`]s (the "transform" half; no I/O).
//!
//! The rules are listed in the crate documentation; this module implements them and nothing else.

use std::collections::{HashMap, HashSet};

use chaintrace_core::{Address, Asset, BlockRecord, Chain, Position, Transfer, TransferKind, TxHash, U256};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{CallSite, EvmError};
use crate::hex::{H256, Q64, Q256, parse_b256, parse_bytes, parse_u64};

/// `keccak256("Transfer(address,address,uint256)")`, topic 0 of ERC-20 transfer events.
pub const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

/// One block decoded: its record (for coverage and reorg checks), its transfers and the raw logs kept.
///
/// Transfers are ordered by transaction index; inside a transaction: the native value first, then
/// internal transfers in trace order (depth first), then token transfers by log index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBlock {
    /// Number, hash, parent hash and timestamp of the block.
    pub record: BlockRecord,
    /// Every transfer in the block, in the order described above.
    pub transfers: Vec<Transfer>,
    /// Logs of successful transactions whose topic 0 is in the caller's keep set (see
    /// [`decode_block_keeping_logs`]), by transaction index then log index. Empty with [`decode_block`].
    pub logs: Vec<chaintrace_core::RawLog>,
}

/// Receipts of one block, as the node delivered them.
#[derive(Debug, Clone, Copy)]
pub enum Receipts<'a> {
    /// The `result` of `eth_getBlockReceipts(n)`: a JSON array of receipts.
    Block(&'a Value),
    /// The `result`s of `eth_getTransactionReceipt(hash)` for each transaction, in any order.
    PerTx(&'a [Value]),
}

/// Internal call traces of one block, in either tracer format.
#[derive(Debug, Clone, Copy)]
pub enum Traces<'a> {
    /// The `result` of Parity/OpenEthereum/Erigon/reth `trace_block(n)`: a flat array of frames.
    Parity(&'a Value),
    /// The `result` of Geth `debug_traceBlockByNumber(n, {"tracer": "callTracer"})`: one
    /// `{"txHash"?, "result": frame}` per transaction, frames nested under `calls`.
    Geth(&'a Value),
}

impl Traces<'_> {
    /// The JSON-RPC method that produces this format.
    pub fn method(&self) -> &'static str {
        match self {
            Traces::Parity(_) => "trace_block",
            Traces::Geth(_) => "debug_traceBlockByNumber",
        }
    }
}

/// What a trace frame did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// `CALL`: moves `value` from caller to callee.
    Call,
    /// `CALLCODE`: runs the callee's code in the caller's account; value stays with the caller.
    CallCode,
    /// `DELEGATECALL`: runs the callee's code in the caller's context; `value` is the inherited msg.value.
    DelegateCall,
    /// `STATICCALL`: cannot carry value.
    StaticCall,
    /// `CREATE`: endows the new contract with `value`.
    Create,
    /// `CREATE2`: endows the new contract with `value`.
    Create2,
    /// `SELFDESTRUCT`: sends the contract's whole balance to the refund address.
    SelfDestruct,
    /// Anything else a tracer reports (rewards are skipped before this point).
    Other,
}

impl FrameKind {
    /// Whether a frame of this kind moves its value from `from` to `to`.
    pub fn moves_value(self) -> bool {
        matches!(
            self,
            FrameKind::Call | FrameKind::Create | FrameKind::Create2 | FrameKind::SelfDestruct
        )
    }
}

/// One call frame of a transaction trace, normalised from either tracer format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceFrame {
    /// Position of the transaction in the block.
    pub tx_index: u32,
    /// The transaction's hash when the tracer reports it (Parity always, Geth only in newer versions).
    pub tx_hash: Option<TxHash>,
    /// Path of child indices from the top-level frame (empty for the top-level frame).
    pub trace_address: Vec<u32>,
    /// What the frame did.
    pub kind: FrameKind,
    /// Sender of the value (for selfdestruct: the destroyed contract).
    pub from: Option<Address>,
    /// Receiver of the value (for creates: the new contract; for selfdestruct: the refund address).
    pub to: Option<Address>,
    /// Value carried (for selfdestruct: the balance sent); zero when the tracer omits it.
    pub value: U256,
    /// The frame's own error, if it failed.
    pub error: Option<String>,
    /// True when this frame or any ancestor failed: a revert undoes the whole subtree.
    pub is_reverted: bool,
}

impl TraceFrame {
    /// Whether this frame is the transaction's own call (its value is the native transfer).
    pub fn is_top_level(&self) -> bool {
        self.trace_address.is_empty()
    }

    /// The internal transfer this frame makes, if any: a value-moving kind, not the top-level frame,
    /// not reverted, value above zero, both ends known.
    pub fn value_move(&self) -> Option<(Address, Address, U256)> {
        if !self.kind.moves_value() || self.is_top_level() || self.is_reverted || self.value.is_zero() {
            return None;
        }
        Some((self.from?, self.to?, self.value))
    }
}

/// Decodes an ERC-20 `Transfer(address indexed, address indexed, uint256)` log.
///
/// Returns `(from, to, amount)` only for exactly three topics with topic 0 = [`TRANSFER_TOPIC`] and
/// exactly 32 bytes of data. ERC-721 transfers (four topics), non-indexed variants (one topic, 96 bytes
/// of data) and malformed topics/data give `None`: they are not ERC-20 transfers, not errors.
/// Address topics keep their low 20 bytes, as ethereum-etl does.
pub fn erc20_transfer<S: AsRef<str>>(topics: &[S], data: &str) -> Option<(Address, Address, U256)> {
    if topics.len() != 3 || !topics[0].as_ref().eq_ignore_ascii_case(TRANSFER_TOPIC) {
        return None;
    }
    let word_address = |t: &str| parse_b256(t).and_then(|w| Address::from_slice(&w[12..]));
    let from = word_address(topics[1].as_ref())?;
    let to = word_address(topics[2].as_ref())?;
    let data = parse_bytes(data)?;
    let amount = U256::try_from_be_slice(&data).filter(|_| data.len() == 32)?;
    Some((from, to, amount))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHeader {
    number: Q64,
    hash: H256,
    parent_hash: H256,
    timestamp: Q64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTx {
    hash: H256,
    from: Address,
    to: Option<Address>,
    value: Q256,
    gas_price: Option<Q256>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReceipt {
    transaction_hash: H256,
    block_hash: Option<H256>,
    status: Option<Q64>,
    gas_used: Q256,
    effective_gas_price: Option<Q256>,
    contract_address: Option<Address>,
    logs: Vec<RawLog>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    address: Address,
    topics: Vec<String>,
    data: String,
    log_index: Q64,
    #[serde(default)]
    removed: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParityFrame {
    #[serde(rename = "type")]
    kind: String,
    action: ParityAction,
    #[serde(default)]
    result: Option<ParityResult>,
    #[serde(default)]
    error: Option<String>,
    trace_address: Vec<u32>,
    #[serde(default)]
    transaction_hash: Option<H256>,
    #[serde(default)]
    transaction_position: Option<Q64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParityAction {
    call_type: Option<String>,
    creation_method: Option<String>,
    from: Option<Address>,
    to: Option<Address>,
    value: Option<Q256>,
    address: Option<Address>,
    refund_address: Option<Address>,
    balance: Option<Q256>,
}

#[derive(Deserialize)]
struct ParityResult {
    address: Option<Address>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GethTxTrace {
    tx_hash: Option<H256>,
    result: Option<GethFrame>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct GethFrame {
    #[serde(rename = "type")]
    kind: String,
    from: Option<Address>,
    to: Option<Address>,
    value: Option<Q256>,
    error: Option<String>,
    #[serde(default)]
    calls: Vec<GethFrame>,
}

fn deserialize<'a, T: Deserialize<'a>>(v: &'a Value, at: &CallSite, what: &str) -> Result<T, EvmError> {
    T::deserialize(v).map_err(|e| EvmError::malformed(at, format!("{what}: {e}")))
}

fn parity_kind(kind: &str, action: &ParityAction) -> Option<FrameKind> {
    Some(match kind {
        "call" => match action.call_type.as_deref().unwrap_or("call") {
            "call" => FrameKind::Call,
            "callcode" => FrameKind::CallCode,
            "delegatecall" => FrameKind::DelegateCall,
            "staticcall" => FrameKind::StaticCall,
            _ => FrameKind::Other,
        },
        "create" => match action.creation_method.as_deref() {
            Some("create2") => FrameKind::Create2,
            _ => FrameKind::Create,
        },
        "suicide" | "selfdestruct" => FrameKind::SelfDestruct,
        // Block and uncle rewards: no transaction, no sender.
        "reward" | "genesis" => return None,
        _ => FrameKind::Other,
    })
}

fn geth_kind(kind: &str) -> FrameKind {
    match kind.to_ascii_uppercase().as_str() {
        "CALL" => FrameKind::Call,
        "CALLCODE" => FrameKind::CallCode,
        "DELEGATECALL" => FrameKind::DelegateCall,
        "STATICCALL" => FrameKind::StaticCall,
        "CREATE" => FrameKind::Create,
        "CREATE2" => FrameKind::Create2,
        "SELFDESTRUCT" | "SUICIDE" => FrameKind::SelfDestruct,
        _ => FrameKind::Other,
    }
}

/// Normalises one block's traces (either format) into frames, in trace order, with `is_reverted` set.
///
/// `block` only labels errors. Rewards are dropped. For Geth, trace addresses are computed from the
/// nesting (the i-th entry of `calls` appends `i`), and the transaction index is the array position.
pub fn trace_frames(block: u64, traces: Traces<'_>) -> Result<Vec<TraceFrame>, EvmError> {
    let at = CallSite::block(traces.method(), block);
    let (Traces::Parity(v) | Traces::Geth(v)) = traces;
    let items = v
        .as_array()
        .ok_or_else(|| EvmError::malformed(&at, "expected a JSON array"))?;
    let mut frames = Vec::new();
    match traces {
        Traces::Parity(_) => {
            // tx index -> trace addresses of frames that failed themselves.
            let mut failed: HashMap<u32, HashSet<Vec<u32>>> = HashMap::new();
            for item in items {
                let f: ParityFrame = deserialize(item, &at, "trace frame")?;
                let Some(kind) = parity_kind(&f.kind, &f.action) else {
                    continue;
                };
                let tx_hash = f.transaction_hash.map(|h| TxHash(h.0));
                let at = match tx_hash {
                    Some(h) => at.with_tx(h),
                    None => at.clone(),
                };
                let tx_index = f
                    .transaction_position
                    .ok_or_else(|| EvmError::malformed(&at, "frame without transactionPosition"))?
                    .0;
                let tx_index = u32::try_from(tx_index)
                    .map_err(|_| EvmError::malformed(&at, "transactionPosition out of range"))?;
                let a = &f.action;
                let (from, to, value) = match kind {
                    FrameKind::SelfDestruct => (a.address, a.refund_address, a.balance),
                    FrameKind::Create | FrameKind::Create2 => {
                        (a.from, f.result.as_ref().and_then(|r| r.address), a.value)
                    }
                    _ => (a.from, a.to, a.value),
                };
                let failed_here = failed.entry(tx_index).or_default();
                if f.error.is_some() {
                    failed_here.insert(f.trace_address.clone());
                }
                // Parity lists frames depth first, so every ancestor was seen before its children.
                let is_reverted =
                    (0..=f.trace_address.len()).any(|n| failed_here.contains(&f.trace_address[..n]));
                frames.push(TraceFrame {
                    tx_index,
                    tx_hash,
                    trace_address: f.trace_address,
                    kind,
                    from,
                    to,
                    value: value.map(|q| q.0).unwrap_or_default(),
                    error: f.error,
                    is_reverted,
                });
            }
        }
        Traces::Geth(_) => {
            for (i, item) in items.iter().enumerate() {
                let t: GethTxTrace = deserialize(item, &at, &format!("trace of transaction {i}"))?;
                let tx_hash = t.tx_hash.map(|h| TxHash(h.0));
                let at = match tx_hash {
                    Some(h) => at.with_tx(h),
                    None => at.clone(),
                };
                let tx_index = u32::try_from(i).map_err(|_| EvmError::malformed(&at, "too many traces"))?;
                let root = match (t.result, t.error) {
                    (Some(root), _) => root,
                    (None, Some(e)) => {
                        return Err(EvmError::malformed(
                            &at,
                            format!("tracer failed on transaction {i}: {e}"),
                        ));
                    }
                    (None, None) => {
                        return Err(EvmError::malformed(&at, format!("no result for transaction {i}")));
                    }
                };
                push_geth(&mut frames, root, tx_index, tx_hash, Vec::new(), false);
            }
        }
    }
    Ok(frames)
}

fn push_geth(
    out: &mut Vec<TraceFrame>,
    frame: GethFrame,
    tx_index: u32,
    tx_hash: Option<TxHash>,
    trace_address: Vec<u32>,
    ancestor_reverted: bool,
) {
    let is_reverted = ancestor_reverted || frame.error.is_some();
    let children = frame.calls;
    out.push(TraceFrame {
        tx_index,
        tx_hash,
        trace_address: trace_address.clone(),
        kind: geth_kind(&frame.kind),
        from: frame.from,
        to: frame.to,
        value: frame.value.map(|q| q.0).unwrap_or_default(),
        error: frame.error,
        is_reverted,
    });
    for (i, child) in children.into_iter().enumerate() {
        let mut path = trace_address.clone();
        path.push(u32::try_from(i).unwrap_or(u32::MAX));
        push_geth(out, child, tx_index, tx_hash, path, is_reverted);
    }
}

/// Decodes one block from `eth_getBlockByNumber(n, true)`, its receipts, and optionally its traces.
///
/// Without traces there are no internal transfers, and pre-Byzantium transactions (receipts without
/// `status`) count as successful. See the crate documentation for every rule.
pub fn decode_block(
    chain: Chain,
    block: &Value,
    receipts: Receipts<'_>,
    traces: Option<Traces<'_>>,
) -> Result<DecodedBlock, EvmError> {
    decode_block_keeping_logs(chain, block, receipts, traces, &[])
}

/// [`decode_block`], also keeping the raw logs whose topic 0 is in `keep_log_topics` (swap, wrap, bridge
/// and mixer events an analysis decodes later; the adapter does not know which, the caller says so).
///
/// Kept: logs of successful transactions (same rule as transfers), not `removed`, with at least one
/// topic, topic 0 in the set. A log whose topics or data are not valid hex is skipped, like a malformed
/// ERC-20 transfer; a `logIndex` beyond `u32` is an error. An empty set keeps nothing.
pub fn decode_block_keeping_logs(
    chain: Chain,
    block: &Value,
    receipts: Receipts<'_>,
    traces: Option<Traces<'_>>,
    keep_log_topics: &[[u8; 32]],
) -> Result<DecodedBlock, EvmError> {
    let number_hint = block.get("number").and_then(Value::as_str).and_then(parse_u64);
    let at_block = CallSite {
        method: "eth_getBlockByNumber".into(),
        block: number_hint,
        last_block: None,
        tx: None,
    };
    if block.is_null() {
        return Err(EvmError::malformed(&at_block, "block is null"));
    }
    let header: RawHeader = deserialize(block, &at_block, "block header")?;
    let number = header.number.0;
    let at_block = CallSite::block("eth_getBlockByNumber", number);
    let raw_txs = block
        .get("transactions")
        .and_then(Value::as_array)
        .ok_or_else(|| EvmError::malformed(&at_block, "no transactions array"))?;
    let mut txs = Vec::with_capacity(raw_txs.len());
    for (i, t) in raw_txs.iter().enumerate() {
        if t.is_string() {
            return Err(EvmError::malformed(
                &at_block,
                "transactions are hashes; request full transactions (eth_getBlockByNumber(n, true))",
            ));
        }
        let at = match t.get("hash").and_then(Value::as_str).and_then(parse_b256) {
            Some(h) => at_block.with_tx(TxHash(h)),
            None => at_block.clone(),
        };
        let tx: RawTx = deserialize(t, &at, &format!("transaction {i}"))?;
        txs.push(tx);
    }

    let receipts = collect_receipts(number, &header.hash, receipts)?;

    let mut frames_by_tx: Vec<Vec<TraceFrame>> = Vec::new();
    if let Some(traces) = traces {
        let at = CallSite::block(traces.method(), number);
        frames_by_tx.resize_with(txs.len(), Vec::new);
        for f in trace_frames(number, traces)? {
            let Some(slot) = frames_by_tx.get_mut(f.tx_index as usize) else {
                return Err(EvmError::Inconsistent {
                    at: Box::new(at),
                    reason: format!(
                        "trace for transaction index {} but block has {}",
                        f.tx_index,
                        txs.len()
                    ),
                });
            };
            let expected = TxHash(txs[f.tx_index as usize].hash.0);
            if f.tx_hash.is_some_and(|h| h != expected) {
                return Err(EvmError::Inconsistent {
                    at: Box::new(at.with_tx(expected)),
                    reason: format!(
                        "trace at transaction index {} names another transaction",
                        f.tx_index
                    ),
                });
            }
            slot.push(f);
        }
        if let Some(i) = frames_by_tx
            .iter()
            .position(|fs| !fs.iter().any(TraceFrame::is_top_level))
        {
            return Err(EvmError::malformed(
                &at.with_tx(TxHash(txs[i].hash.0)),
                "no top-level trace frame for this transaction",
            ));
        }
    }

    let mut transfers = Vec::new();
    let mut kept_logs = Vec::new();
    for (i, tx) in txs.iter().enumerate() {
        let tx_hash = TxHash(tx.hash.0);
        let at = at_block.with_tx(tx_hash);
        let receipt = receipts.get(&tx.hash.0).ok_or_else(|| {
            EvmError::malformed(
                &CallSite::block("receipts", number).with_tx(tx_hash),
                "no receipt for transaction",
            )
        })?;
        let frames = frames_by_tx.get(i).map(Vec::as_slice).unwrap_or(&[]);
        let is_success = match receipt.status.map(|q| q.0) {
            Some(1) => true,
            Some(0) => false,
            Some(other) => {
                return Err(EvmError::malformed(
                    &at,
                    format!("receipt status {other} is neither 0 nor 1"),
                ));
            }
            // Pre-Byzantium: the top-level frame's error is the only record of failure.
            None => frames
                .iter()
                .find(|f| f.is_top_level())
                .is_none_or(|f| f.error.is_none()),
        };
        if !is_success {
            continue;
        }
        let gas_price = receipt
            .effective_gas_price
            .or(tx.gas_price)
            .ok_or_else(|| EvmError::malformed(&at, "neither effectiveGasPrice nor gasPrice"))?
            .0;
        let tx_fee = receipt
            .gas_used
            .0
            .checked_mul(gas_price)
            .ok_or_else(|| EvmError::malformed(&at, "gasUsed * gasPrice overflows 256 bits"))?;
        let make = |position, from, to, asset, amount, kind| Transfer {
            chain,
            block: number,
            timestamp: header.timestamp.0,
            tx_hash,
            position,
            from,
            to,
            asset,
            amount,
            kind,
            tx_from: tx.from,
            tx_fee,
            gas_price,
        };
        if !tx.value.0.is_zero() {
            let to = tx.to.or(receipt.contract_address).ok_or_else(|| {
                EvmError::malformed(
                    &at,
                    "value transfer with neither `to` nor receipt contractAddress",
                )
            })?;
            transfers.push(make(
                Position::Tx,
                tx.from,
                to,
                Asset::Native,
                tx.value.0,
                TransferKind::Native,
            ));
        }
        for f in frames {
            if let Some((from, to, value)) = f.value_move() {
                let position = Position::Trace(f.trace_address.clone());
                transfers.push(make(
                    position,
                    from,
                    to,
                    Asset::Native,
                    value,
                    TransferKind::Internal,
                ));
            }
        }
        let mut logs: Vec<&RawLog> = receipt.logs.iter().filter(|l| l.removed != Some(true)).collect();
        logs.sort_by_key(|l| l.log_index.0);
        for log in logs {
            if !keep_log_topics.is_empty()
                && let Some(kept) = keep_log(chain, &header, tx_hash, tx.from, log, keep_log_topics, &at)?
            {
                kept_logs.push(kept);
            }
            let Some((from, to, amount)) = erc20_transfer(&log.topics, &log.data) else {
                continue;
            };
            let index = u32::try_from(log.log_index.0)
                .map_err(|_| EvmError::malformed(&at, "logIndex out of range"))?;
            let asset = Asset::Token(log.address);
            transfers.push(make(
                Position::Log(index),
                from,
                to,
                asset,
                amount,
                TransferKind::Token,
            ));
        }
    }

    let record = BlockRecord {
        chain,
        number,
        hash: header.hash.0,
        parent_hash: header.parent_hash.0,
        timestamp: header.timestamp.0,
    };
    Ok(DecodedBlock {
        record,
        transfers,
        logs: kept_logs,
    })
}

/// The raw log to keep, if its topic 0 is wanted and it decodes.
fn keep_log(
    chain: Chain,
    header: &RawHeader,
    tx_hash: TxHash,
    tx_from: Address,
    log: &RawLog,
    keep: &[[u8; 32]],
    at: &CallSite,
) -> Result<Option<chaintrace_core::RawLog>, EvmError> {
    let Some(topic0) = log.topics.first().and_then(|t| parse_b256(t)) else {
        return Ok(None);
    };
    if !keep.contains(&topic0) {
        return Ok(None);
    }
    let Some(topics) = log
        .topics
        .iter()
        .map(|t| parse_b256(t))
        .collect::<Option<Vec<[u8; 32]>>>()
    else {
        return Ok(None);
    };
    let Some(data) = parse_bytes(&log.data) else {
        return Ok(None);
    };
    let log_index =
        u32::try_from(log.log_index.0).map_err(|_| EvmError::malformed(at, "logIndex out of range"))?;
    Ok(Some(chaintrace_core::RawLog {
        chain,
        block: header.number.0,
        timestamp: header.timestamp.0,
        tx_hash,
        log_index,
        address: log.address,
        topics,
        data,
        tx_from,
    }))
}

fn collect_receipts(
    number: u64,
    block_hash: &H256,
    receipts: Receipts<'_>,
) -> Result<HashMap<[u8; 32], RawReceipt>, EvmError> {
    let (method, items): (&str, &[Value]) = match receipts {
        Receipts::Block(v) => {
            let at = CallSite::block("eth_getBlockReceipts", number);
            (
                "eth_getBlockReceipts",
                v.as_array()
                    .ok_or_else(|| EvmError::malformed(&at, "expected a JSON array"))?
                    .as_slice(),
            )
        }
        Receipts::PerTx(items) => ("eth_getTransactionReceipt", items),
    };
    let at_block = CallSite::block(method, number);
    let mut out = HashMap::with_capacity(items.len());
    for (i, r) in items.iter().enumerate() {
        let at = match r
            .get("transactionHash")
            .and_then(Value::as_str)
            .and_then(parse_b256)
        {
            Some(h) => at_block.with_tx(TxHash(h)),
            None => at_block.clone(),
        };
        if r.is_null() {
            return Err(EvmError::malformed(&at, format!("receipt {i} is null")));
        }
        let receipt: RawReceipt = deserialize(r, &at, &format!("receipt {i}"))?;
        if receipt.block_hash.is_some_and(|h| h != *block_hash) {
            return Err(EvmError::Inconsistent {
                at: Box::new(at),
                reason: "receipt belongs to another block hash (reorg while fetching?)".into(),
            });
        }
        out.insert(receipt.transaction_hash.0, receipt);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn word(a: &str) -> String {
        format!("0x{:0>64}", a.trim_start_matches("0x"))
    }

    #[test]
    fn transfer_topic_is_the_keccak_of_the_event_signature() {
        let h = alloy_primitives::keccak256(b"Transfer(address,address,uint256)");
        assert_eq!(
            format!("{h:x}").trim_start_matches("0x"),
            TRANSFER_TOPIC.trim_start_matches("0x")
        );
    }

    #[test]
    fn erc20_rule_rejects_erc721_and_malformed_data() {
        let a = "0x1111111111111111111111111111111111111111";
        let b = "0x2222222222222222222222222222222222222222";
        let topics = [TRANSFER_TOPIC.to_string(), word(a), word(b)];
        let amount = word("0x0de0b6b3a7640000");
        let (from, to, v) = erc20_transfer(&topics, &amount).expect("a plain erc20 transfer");
        assert_eq!((from.to_hex().as_str(), to.to_hex().as_str()), (a, b));
        assert_eq!(v, U256::from(1_000_000_000_000_000_000u64));
        assert_eq!(erc20_transfer(&topics, &word("0")).map(|t| t.2), Some(U256::ZERO));
        let erc721 = [TRANSFER_TOPIC.to_string(), word(a), word(b), word("0x5")];
        assert!(erc20_transfer(&erc721, "0x").is_none());
        assert!(erc20_transfer(&topics, "0x").is_none());
        assert!(erc20_transfer(&topics, &format!("{amount}00")).is_none());
        assert!(erc20_transfer(&topics, "0xzz").is_none());
        assert!(erc20_transfer(&[TRANSFER_TOPIC.to_string()], &amount).is_none());
    }

    fn frame(error: Option<&str>, calls: Vec<Value>, value: &str) -> Value {
        let mut f = json!({
            "type": "CALL",
            "from": "0x1111111111111111111111111111111111111111",
            "to": "0x2222222222222222222222222222222222222222",
            "value": value,
            "calls": calls,
        });
        if let Some(e) = error {
            f["error"] = json!(e);
        }
        f
    }

    #[test]
    fn geth_nesting_gives_trace_addresses_and_reverts_propagate_down() {
        // top -> [ok child 0 -> [grandchild 0], failed child 1 -> [ok grandchild 0]]
        let g00 = frame(None, vec![], "0x1");
        let g10 = frame(None, vec![], "0x2");
        let c0 = frame(None, vec![g00], "0x3");
        let c1 = frame(Some("execution reverted"), vec![g10], "0x4");
        let top = frame(None, vec![c0, c1], "0x5");
        let v = json!([{ "result": top }]);
        let frames = trace_frames(9, Traces::Geth(&v)).expect("valid geth traces");
        let got: Vec<(Vec<u32>, bool)> = frames
            .iter()
            .map(|f| (f.trace_address.clone(), f.is_reverted))
            .collect();
        assert_eq!(
            got,
            vec![
                (vec![], false),
                (vec![0], false),
                (vec![0, 0], false),
                (vec![1], true),
                (vec![1, 0], true)
            ]
        );
        let moves: Vec<U256> = frames
            .iter()
            .filter_map(|f| f.value_move())
            .map(|m| m.2)
            .collect();
        assert_eq!(
            moves,
            vec![U256::from(3), U256::from(1)],
            "top-level and reverted subtree excluded"
        );
    }

    #[test]
    fn parity_child_of_a_failed_frame_is_reverted_and_delegatecall_moves_nothing() {
        let a = "0x1111111111111111111111111111111111111111";
        let b = "0x2222222222222222222222222222222222222222";
        let tx = format!("0x{}", "33".repeat(32));
        let f = |path: Vec<u32>, call_type: &str, error: Option<&str>| {
            let mut v = json!({
                "type": "call",
                "action": {"callType": call_type, "from": a, "to": b, "value": "0x9"},
                "traceAddress": path, "transactionHash": tx, "transactionPosition": 0,
            });
            if let Some(e) = error {
                v["error"] = json!(e);
            }
            v
        };
        let v = json!([
            f(vec![], "call", None),
            f(vec![0], "call", Some("Reverted")),
            f(vec![0, 0], "call", None),
            f(vec![1], "delegatecall", None),
            f(vec![2], "call", None),
        ]);
        let frames = trace_frames(1, Traces::Parity(&v)).expect("valid parity traces");
        let reverted: Vec<bool> = frames.iter().map(|f| f.is_reverted).collect();
        assert_eq!(reverted, vec![false, true, true, false, false]);
        let moves: Vec<Vec<u32>> = frames
            .iter()
            .filter(|f| f.value_move().is_some())
            .map(|f| f.trace_address.clone())
            .collect();
        assert_eq!(moves, vec![vec![2]]);
    }

    #[test]
    fn geth_tracer_error_for_a_transaction_is_a_clear_error() {
        let v = json!([{ "error": "execution timeout" }]);
        let e = trace_frames(12, Traces::Geth(&v)).expect_err("tracer failure must surface");
        let msg = e.to_string();
        assert!(
            msg.contains("debug_traceBlockByNumber (block 12)") && msg.contains("execution timeout"),
            "{msg}"
        );
    }

    #[test]
    fn null_block_and_hash_only_transactions_are_errors() {
        let e = decode_block(Chain::Ethereum, &Value::Null, Receipts::PerTx(&[]), None).expect_err("null");
        assert!(e.to_string().contains("eth_getBlockByNumber"), "{e}");
        let h = format!("0x{}", "11".repeat(32));
        let block =
            json!({"number": "0x5", "hash": h, "parentHash": h, "timestamp": "0x1", "transactions": [h]});
        let e = decode_block(Chain::Ethereum, &block, Receipts::PerTx(&[]), None).expect_err("hashes");
        assert!(
            e.to_string().contains("(block 5)") && e.to_string().contains("full transactions"),
            "{e}"
        );
    }
}

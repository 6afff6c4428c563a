//! EVM chain adapter of chaintrace: fetch blocks from a JSON-RPC node and decode them into
//! [`chaintrace_core::Transfer`]s.
//!
//! Two halves, as cryo splits extract from transform:
//! - [`decode`] (pure, no I/O): [`decode_block`] turns one block's JSON-RPC answers into a
//!   [`DecodedBlock`]. This is what the fixture tests check against ethereum-etl's outputs.
//! - [`rpc`] (I/O): [`EvmSource`] talks to a node over HTTP with JSON-RPC batches, bounded concurrency,
//!   retries with backoff on retryable errors only, a calls-per-second limit, and method fallbacks.
//!
//! It is not a store, not an ingest loop (no checkpoints, no reorg unwinding) and knows nothing of
//! analyses. HTTPS endpoints need the `tls` cargo feature.
//!
//! # Decoding rules
//!
//! Inputs for one block: `eth_getBlockByNumber(n, true)` (full transactions), the receipts (from
//! `eth_getBlockReceipts(n)` or per-transaction `eth_getTransactionReceipt`), and optionally the traces,
//! either Parity-style `trace_block(n)` or Geth `debug_traceBlockByNumber(n, {"tracer": "callTracer"})`.
//!
//! 1. **Success.** A transaction whose receipt has `status` `0x0` yields no transfer at all. Receipts
//!    without `status` (pre-Byzantium, before block 4,370,000 on mainnet) count as successful unless
//!    traces are given and the top-level frame carries an `error`; without traces such failures cannot
//!    be seen and are counted as successful (ethereum-etl leaves their status empty too).
//! 2. **Native** ([`TransferKind::Native`](chaintrace_core::TransferKind), [`Position::Tx`](chaintrace_core::Position)):
//!    a successful transaction with `value > 0`, from `tx.from` to `tx.to`, or to the receipt's
//!    `contractAddress` for a contract creation.
//! 3. **Token** (`Token`, `Position::Log(logIndex)`, asset `Asset::Token(log.address)`): a log of a
//!    successful transaction with exactly three topics, topic 0 = [`TRANSFER_TOPIC`]
//!    (`keccak256("Transfer(address,address,uint256)")`) and exactly 32 bytes of data; from/to are the
//!    low 20 bytes of topics 1 and 2. Zero amounts are kept (`Transfer::is_zero_value` flags them).
//!    Logs with `removed: true`, ERC-721 transfers (four topics), the non-indexed variant (one topic,
//!    96 data bytes) and malformed topics or data are skipped, not errors. See [`erc20_transfer`].
//!    ethereum-etl differs here: it accepts any `Transfer` log whose topics plus data words count four,
//!    so it also emits ERC-721 and non-indexed transfers.
//! 4. **Internal** (`Internal`, `Position::Trace(trace_address)`, native asset): a trace frame of kind
//!    call, create, create2 or selfdestruct with value > 0 that is not the top-level frame (its value is
//!    already the native transfer) and that has no error itself and no errored ancestor (a revert undoes
//!    the whole subtree). Selfdestruct moves the balance from the destroyed contract to the refund
//!    address. Excluded kinds: `delegatecall` (its value is the inherited msg.value, nothing moves),
//!    `callcode` (runs foreign code in the caller's own account: value stays with the caller, though
//!    Geth reports the code address as `to`) and `staticcall` (cannot carry value). This is the filter
//!    blockchain-etl's balance queries apply to ethereum-etl traces (`call_type not in ('delegatecall',
//!    'callcode', 'staticcall')`, `status = 1`); ethereum-etl's traces table itself lists all frames.
//!    For Geth, the trace address is the path of indices into nested `calls` arrays, which equals
//!    Parity's `traceAddress` for the same execution; block and uncle rewards are not transfers and are
//!    skipped. Old Geth versions report `SELFDESTRUCT` frames without from/to/value: those yield nothing.
//! 5. **Fees.** Every transfer carries `tx_from = tx.from`, `gas_price = receipt.effectiveGasPrice`
//!    (falling back to `tx.gasPrice` for old nodes), and `tx_fee = receipt.gasUsed * gas_price`
//!    (L2 data fees such as OP's `l1Fee` are not included). Timestamps are the block's.
//! 6. **Order.** By transaction index; inside a transaction the native transfer, then internal
//!    transfers in trace order, then token transfers by log index.
//! 7. **Raw logs** ([`DecodedBlock::logs`]): only with [`decode_block_keeping_logs`] (or
//!    [`RpcOptions::keep_log_topics`]): logs of successful transactions whose topic 0 the caller names
//!    (DEX swaps, WETH `Deposit`/`Withdrawal`, bridge and mixer events; the ingest passes
//!    `chaintrace_defi::topics_of_interest()`), kept whole for later decoding. The adapter itself knows
//!    no event but ERC-20 `Transfer`.
//! 8. **Not transfers:** block/uncle rewards, beacon-chain withdrawals, gas fees themselves.
//! 9. **Errors.** A malformed or truncated answer is an [`EvmError`] naming the method, block and
//!    transaction where known. Receipts or traces that belong to another block hash or transaction are
//!    [`EvmError::Inconsistent`] (a reorg between calls; retryable).

#![warn(missing_docs)]

pub mod decode;
mod error;
mod hex;
mod redact;
pub mod rpc;

pub use decode::{
    DecodedBlock, FrameKind, Receipts, TRANSFER_TOPIC, TraceFrame, Traces, decode_block,
    decode_block_keeping_logs, erc20_transfer, trace_frames,
};
pub use error::{CallSite, EvmError};
pub use redact::redact_url;
pub use rpc::{EvmSource, RpcOptions, RpcStats};

//! Blocking JSON-RPC client (the "extract" half): batching, bounded concurrency, retries, rate limit.
//!
//! Every HTTP request is a JSON-RPC batch. Retries happen per HTTP request and only for errors
//! [`EvmError::is_retryable`] accepts; a block whose answers disagree (reorg while fetching) or that the
//! node does not know yet is fetched again as a whole.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::ErrorKind;
use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chaintrace_core::{Chain, TxHash};
use serde_json::{Value, json};

use crate::decode::{DecodedBlock, Receipts, Traces, decode_block_keeping_logs};
use crate::error::{CallSite, EvmError, is_method_unsupported, is_rate_limit};
use crate::hex::{parse_b256, parse_u64};
use crate::redact::redact_url;

/// Largest response body accepted (a batch of heavy mainnet traces can be hundreds of MB).
const MAX_BODY_BYTES: u64 = 2 << 30;
/// Quick retries on "connection refused" before reporting the node unreachable.
const REFUSED_RETRIES: u32 = 3;
/// Upper bound of one backoff pause.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How to talk to the node.
#[derive(Debug, Clone)]
pub struct RpcOptions {
    /// Timeout of one HTTP request (connect + send + receive the whole body).
    pub timeout: Duration,
    /// Retries of one HTTP request after a retryable error (0 = try once).
    pub max_retries: u32,
    /// First backoff pause; doubles each retry, plus up to 50% random jitter, capped at 30 s.
    pub retry_base_delay: Duration,
    /// Limit on JSON-RPC calls per second (a batch of n calls counts n, as providers meter calls).
    pub requests_per_second: Option<f64>,
    /// HTTP requests in flight at once (worker threads in [`EvmSource::fetch_blocks`]).
    pub concurrency: usize,
    /// Most JSON-RPC calls in one batch; also the number of blocks one worker fetches together.
    pub batch_size: usize,
    /// The chain the node must serve; `None` accepts any chain chaintrace knows.
    pub chain: Option<Chain>,
    /// Fetch traces for internal transfers (needs `trace_block` or `debug_traceBlockByNumber`).
    pub traces: bool,
    /// Keep the raw logs whose topic 0 is in this set ([`DecodedBlock::logs`]); empty keeps none. The
    /// ingest passes `chaintrace_defi::topics_of_interest()` (swaps, wraps, bridges, mixers).
    pub keep_log_topics: Vec<[u8; 32]>,
}

impl Default for RpcOptions {
    fn default() -> Self {
        RpcOptions {
            timeout: Duration::from_secs(30),
            max_retries: 5,
            retry_base_delay: Duration::from_millis(250),
            requests_per_second: None,
            concurrency: 4,
            batch_size: 20,
            chain: None,
            traces: true,
            keep_log_topics: Vec::new(),
        }
    }
}

/// Counters of the client, for benchmarks and progress reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RpcStats {
    /// HTTP requests sent (including retries).
    pub http_requests: u64,
    /// JSON-RPC calls sent (including retries).
    pub calls: u64,
    /// Retries after retryable errors.
    pub retries: u64,
    /// Sum of wall time spent inside HTTP requests over all threads (exceeds wall time when concurrent).
    pub http_time: Duration,
    /// Wall time callers spent blocked in [`EvmSource::fetch_blocks`] (compare with total wall time to
    /// get the share of time waiting on the node).
    pub fetch_time: Duration,
}

const UNKNOWN: u8 = 0;
const RECEIPTS_BY_BLOCK: u8 = 1;
const RECEIPTS_BY_TX: u8 = 2;
const TRACE_PARITY: u8 = 1;
const TRACE_GETH: u8 = 2;

/// A connection to one EVM JSON-RPC node. Shareable between threads (`&self` everywhere).
#[derive(Debug)]
pub struct EvmSource {
    url: String,
    redacted: String,
    agent: ureq::Agent,
    opts: RpcOptions,
    chain: Chain,
    receipts_mode: AtomicU8,
    trace_mode: AtomicU8,
    next_slot: Mutex<Option<Instant>>,
    http_requests: AtomicU64,
    calls: AtomicU64,
    retries: AtomicU64,
    http_nanos: AtomicU64,
    fetch_nanos: AtomicU64,
}

/// One JSON-RPC call of a batch.
struct Call {
    method: &'static str,
    params: Value,
}

/// A JSON-RPC error object for one call of a batch.
#[derive(Debug, Clone)]
struct CallError {
    code: i64,
    message: String,
}

enum Attempt {
    /// Could not connect: retried quickly a few times, then "unreachable".
    Refused(String),
    /// Any other failure, with the server's Retry-After when it sent one.
    Failed(EvmError, Option<Duration>),
}

impl EvmSource {
    /// Connects to `url`, checks that it answers `eth_chainId`, and that the chain is the one asked for
    /// (`opts.chain`) or at least one chaintrace knows.
    pub fn connect(url: &str, opts: RpcOptions) -> Result<EvmSource, EvmError> {
        let redacted = redact_url(url);
        let lower = url.trim().to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(EvmError::BadUrl {
                url: redacted,
                reason: "expected an http:// or https:// url".into(),
            });
        }
        if lower.starts_with("https://") && !cfg!(feature = "tls") {
            return Err(EvmError::BadUrl {
                url: redacted,
                reason: "https needs chaintrace-chain-evm built with the `tls` feature".into(),
            });
        }
        let opts = RpcOptions {
            concurrency: opts.concurrency.max(1),
            batch_size: opts.batch_size.max(1),
            requests_per_second: opts.requests_per_second.filter(|r| *r > 0.0 && r.is_finite()),
            ..opts
        };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(opts.timeout))
            .http_status_as_error(false)
            .max_idle_connections_per_host(opts.concurrency + 1)
            .build()
            .new_agent();
        let mut source = EvmSource {
            url: url.trim().to_string(),
            redacted,
            agent,
            chain: Chain::Ethereum,
            opts,
            receipts_mode: AtomicU8::new(UNKNOWN),
            trace_mode: AtomicU8::new(UNKNOWN),
            next_slot: Mutex::new(None),
            http_requests: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            http_nanos: AtomicU64::new(0),
            fetch_nanos: AtomicU64::new(0),
        };
        let id = source.chain_id()?;
        source.chain = match source.opts.chain {
            Some(want) if want.chain_id() != id => {
                return Err(EvmError::ChainMismatch {
                    url: source.redacted.clone(),
                    expected: want.chain_id(),
                    actual: id,
                });
            }
            Some(want) => want,
            None => Chain::from_chain_id(id).ok_or_else(|| EvmError::UnknownChainId {
                url: source.redacted.clone(),
                id,
            })?,
        };
        Ok(source)
    }

    /// The chain the node serves (checked at connect).
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// The node URL with secrets removed, for messages.
    pub fn redacted_url(&self) -> &str {
        &self.redacted
    }

    /// Asks the node for its chain id (`eth_chainId`).
    pub fn chain_id(&self) -> Result<u64, EvmError> {
        self.quantity("eth_chainId")
    }

    /// The node's latest block number (`eth_blockNumber`).
    pub fn head_block(&self) -> Result<u64, EvmError> {
        self.quantity("eth_blockNumber")
    }

    /// Counters so far.
    pub fn stats(&self) -> RpcStats {
        RpcStats {
            http_requests: self.http_requests.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            http_time: Duration::from_nanos(self.http_nanos.load(Ordering::Relaxed)),
            fetch_time: Duration::from_nanos(self.fetch_nanos.load(Ordering::Relaxed)),
        }
    }

    /// Which receipts method the node turned out to support, once known.
    pub fn receipts_method(&self) -> Option<&'static str> {
        match self.receipts_mode.load(Ordering::Relaxed) {
            RECEIPTS_BY_BLOCK => Some("eth_getBlockReceipts"),
            RECEIPTS_BY_TX => Some("eth_getTransactionReceipt"),
            _ => None,
        }
    }

    /// Which tracing method the node turned out to support, once known.
    pub fn trace_method(&self) -> Option<&'static str> {
        match self.trace_mode.load(Ordering::Relaxed) {
            TRACE_PARITY => Some("trace_block"),
            TRACE_GETH => Some("debug_traceBlockByNumber"),
            _ => None,
        }
    }

    /// Fetches and decodes every block of `range`, returned in block order.
    ///
    /// Blocks are fetched in groups of `batch_size` by up to `concurrency` threads. The first error (in
    /// block order) stops the work and is returned; nothing partial is returned. Keep ranges moderate
    /// (the decoded blocks are held in memory until all are done).
    pub fn fetch_blocks(&self, range: RangeInclusive<u64>) -> Result<Vec<DecodedBlock>, EvmError> {
        let started = Instant::now();
        let result = self.fetch_blocks_inner(range);
        self.fetch_nanos
            .fetch_add(nanos(started.elapsed()), Ordering::Relaxed);
        result
    }

    fn fetch_blocks_inner(&self, range: RangeInclusive<u64>) -> Result<Vec<DecodedBlock>, EvmError> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let (first, last) = (*range.start(), *range.end());
        let step = self.opts.batch_size as u64;
        let chunks = usize::try_from((last - first) / step + 1).unwrap_or(usize::MAX);
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let results: Mutex<Vec<Option<ChunkResult>>> = Mutex::new((0..chunks).map(|_| None).collect());
        let workers = self.opts.concurrency.min(chunks);
        thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= chunks || stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let lo = first + i as u64 * step;
                        let hi = lo.saturating_add(step - 1).min(last);
                        let r = self.fetch_chunk(lo, hi);
                        if r.is_err() {
                            stop.store(true, Ordering::Relaxed);
                        }
                        if let Ok(mut all) = results.lock() {
                            all[i] = Some(r);
                        }
                    }
                });
            }
        });
        let results = results
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out = Vec::with_capacity(usize::try_from(last - first + 1).unwrap_or(0));
        let mut first_error = None;
        for r in results {
            match r {
                Some(Ok(blocks)) => out.extend(blocks),
                Some(Err(e)) => {
                    first_error = Some(e);
                    break;
                }
                None => {}
            }
        }
        match first_error {
            Some(e) => Err(e),
            None if out.len() as u64 != last - first + 1 => Err(EvmError::malformed(
                &CallSite::blocks("eth_getBlockByNumber", first, last),
                "not every block was fetched",
            )),
            None => Ok(out),
        }
    }

    /// One group of blocks, fetched again as a whole when the node lags or a reorg happens mid-fetch.
    fn fetch_chunk(&self, lo: u64, hi: u64) -> Result<Vec<DecodedBlock>, EvmError> {
        let mut attempt = 0;
        loop {
            match self.fetch_chunk_once(lo, hi) {
                Err(e @ (EvmError::Missing { .. } | EvmError::Inconsistent { .. })) => {
                    if attempt >= self.opts.max_retries {
                        return Err(EvmError::RetriesExhausted {
                            attempts: attempt + 1,
                            last: Box::new(e),
                        });
                    }
                    attempt += 1;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    thread::sleep(self.backoff(attempt));
                }
                other => return other,
            }
        }
    }

    fn fetch_chunk_once(&self, lo: u64, hi: u64) -> Result<Vec<DecodedBlock>, EvmError> {
        let numbers: Vec<u64> = (lo..=hi).collect();
        let method = "eth_getBlockByNumber";
        let calls = numbers
            .iter()
            .map(|n| Call {
                method,
                params: json!([hex(*n), true]),
            })
            .collect();
        let blocks = self.batch_per_block(method, &numbers, calls)?;
        for (n, b) in numbers.iter().zip(&blocks) {
            if b.is_null() {
                return Err(EvmError::Missing {
                    at: Box::new(CallSite::block(method, *n)),
                    url: self.redacted.clone(),
                });
            }
        }
        let receipts = self.fetch_receipts(&numbers, &blocks)?;
        let traces = if self.opts.traces {
            Some(self.fetch_traces(&numbers)?)
        } else {
            None
        };
        let mut out = Vec::with_capacity(numbers.len());
        for (i, block) in blocks.iter().enumerate() {
            let r = match &receipts {
                ReceiptsFetched::Block(v) => Receipts::Block(&v[i]),
                ReceiptsFetched::PerTx(v) => Receipts::PerTx(&v[i]),
            };
            let t = traces.as_ref().map(|(geth, v)| {
                if *geth {
                    Traces::Geth(&v[i])
                } else {
                    Traces::Parity(&v[i])
                }
            });
            let decoded = decode_block_keeping_logs(self.chain, block, r, t, &self.opts.keep_log_topics)?;
            if decoded.record.number != numbers[i] {
                return Err(EvmError::Inconsistent {
                    at: Box::new(CallSite::block(method, numbers[i])),
                    reason: format!("node returned block {} instead", decoded.record.number),
                });
            }
            out.push(decoded);
        }
        Ok(out)
    }

    fn fetch_receipts(&self, numbers: &[u64], blocks: &[Value]) -> Result<ReceiptsFetched, EvmError> {
        let method = "eth_getBlockReceipts";
        if self.receipts_mode.load(Ordering::Relaxed) != RECEIPTS_BY_TX {
            let calls = numbers
                .iter()
                .map(|n| Call {
                    method,
                    params: json!([hex(*n)]),
                })
                .collect();
            match self.batch_per_block(method, numbers, calls) {
                Ok(v) => {
                    if let Some(i) = v.iter().position(Value::is_null) {
                        let at = CallSite::block(method, numbers[i]);
                        return Err(EvmError::Missing {
                            at: Box::new(at),
                            url: self.redacted.clone(),
                        });
                    }
                    self.receipts_mode.store(RECEIPTS_BY_BLOCK, Ordering::Relaxed);
                    return Ok(ReceiptsFetched::Block(v));
                }
                // Another worker may have probed at the same time; only a method that worked before
                // and now fails is an error.
                Err(EvmError::Rpc { code, message, .. })
                    if is_method_unsupported(code, &message)
                        && self.receipts_mode.load(Ordering::Relaxed) != RECEIPTS_BY_BLOCK =>
                {
                    self.receipts_mode.store(RECEIPTS_BY_TX, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        let method = "eth_getTransactionReceipt";
        // (block position, tx hash) for every transaction of the group.
        let mut wanted: Vec<(usize, TxHash)> = Vec::new();
        for (i, b) in blocks.iter().enumerate() {
            let at = CallSite::block("eth_getBlockByNumber", numbers[i]);
            let txs = b
                .get("transactions")
                .and_then(Value::as_array)
                .ok_or_else(|| EvmError::malformed(&at, "no transactions array"))?;
            for t in txs {
                let h = t
                    .get("hash")
                    .and_then(Value::as_str)
                    .and_then(parse_b256)
                    .ok_or_else(|| EvmError::malformed(&at, "transaction without a valid hash"))?;
                wanted.push((i, TxHash(h)));
            }
        }
        let mut per_block: Vec<Vec<Value>> = vec![Vec::new(); numbers.len()];
        for group in wanted.chunks(self.opts.batch_size) {
            let calls = group
                .iter()
                .map(|(_, h)| Call {
                    method,
                    params: json!([h.to_hex()]),
                })
                .collect();
            let at = CallSite::blocks(method, numbers[group[0].0], numbers[group[group.len() - 1].0]);
            let answers = self.batch(&at, calls)?;
            for ((i, h), answer) in group.iter().zip(answers) {
                let at = CallSite::block(method, numbers[*i]).with_tx(*h);
                match answer {
                    Ok(Value::Null) => {
                        return Err(EvmError::Missing {
                            at: Box::new(at),
                            url: self.redacted.clone(),
                        });
                    }
                    Ok(v) => per_block[*i].push(v),
                    Err(e) => return Err(self.rpc_error(at, e)),
                }
            }
        }
        Ok(ReceiptsFetched::PerTx(per_block))
    }

    /// Traces of each block; `true` when in Geth callTracer format.
    fn fetch_traces(&self, numbers: &[u64]) -> Result<(bool, Vec<Value>), EvmError> {
        let mode = self.trace_mode.load(Ordering::Relaxed);
        if mode != TRACE_GETH {
            let method = "trace_block";
            let calls = numbers
                .iter()
                .map(|n| Call {
                    method,
                    params: json!([hex(*n)]),
                })
                .collect();
            match self.batch_per_block(method, numbers, calls) {
                Ok(v) => {
                    self.trace_mode.store(TRACE_PARITY, Ordering::Relaxed);
                    return Ok((false, v));
                }
                Err(EvmError::Rpc { code, message, .. })
                    if is_method_unsupported(code, &message)
                        && self.trace_mode.load(Ordering::Relaxed) != TRACE_PARITY => {}
                Err(e) => return Err(e),
            }
        }
        let method = "debug_traceBlockByNumber";
        let calls = numbers
            .iter()
            .map(|n| Call {
                method,
                params: json!([hex(*n), {"tracer": "callTracer"}]),
            })
            .collect();
        match self.batch_per_block(method, numbers, calls) {
            Ok(v) => {
                self.trace_mode.store(TRACE_GETH, Ordering::Relaxed);
                Ok((true, v))
            }
            Err(EvmError::Rpc { code, message, .. })
                if is_method_unsupported(code, &message)
                    && self.trace_mode.load(Ordering::Relaxed) != TRACE_GETH =>
            {
                Err(EvmError::NoTracing {
                    url: self.redacted.clone(),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// A batch with one call per block; any JSON-RPC error becomes an error naming that block.
    fn batch_per_block(
        &self,
        method: &'static str,
        numbers: &[u64],
        calls: Vec<Call>,
    ) -> Result<Vec<Value>, EvmError> {
        let at = CallSite::blocks(method, numbers[0], numbers[numbers.len() - 1]);
        let answers = self.batch(&at, calls)?;
        answers
            .into_iter()
            .zip(numbers)
            .map(|(a, n)| a.map_err(|e| self.rpc_error(CallSite::block(method, *n), e)))
            .collect()
    }

    fn rpc_error(&self, at: CallSite, e: CallError) -> EvmError {
        EvmError::Rpc {
            at: Box::new(at),
            url: self.redacted.clone(),
            code: e.code,
            message: e.message,
        }
    }

    fn quantity(&self, method: &'static str) -> Result<u64, EvmError> {
        let at = CallSite::method(method);
        let answer = self.batch(
            &at,
            vec![Call {
                method,
                params: json!([]),
            }],
        )?;
        match answer.into_iter().next() {
            Some(Ok(v)) => v
                .as_str()
                .and_then(parse_u64)
                .ok_or_else(|| EvmError::malformed(&at, format!("expected a hex quantity, got {v}"))),
            Some(Err(e)) => Err(self.rpc_error(at, e)),
            None => Err(EvmError::malformed(&at, "empty answer")),
        }
    }

    /// Sends one batch (retrying per the options) and returns each call's result or error, in order.
    fn batch(&self, at: &CallSite, calls: Vec<Call>) -> Result<Vec<Result<Value, CallError>>, EvmError> {
        let n = calls.len();
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(id, c)| json!({"jsonrpc": "2.0", "id": id, "method": c.method, "params": c.params}))
            .collect();
        let body =
            serde_json::to_vec(&body).map_err(|e| EvmError::malformed(at, format!("encoding: {e}")))?;
        let mut attempt = 0u32;
        let mut refused = 0u32;
        loop {
            self.pace(n);
            self.http_requests.fetch_add(1, Ordering::Relaxed);
            self.calls.fetch_add(n as u64, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = self.post(at, &body).and_then(|v| self.split_batch(at, v, n));
            self.http_nanos
                .fetch_add(nanos(started.elapsed()), Ordering::Relaxed);
            match outcome {
                Ok(answers) => return Ok(answers),
                Err(Attempt::Refused(reason)) => {
                    if refused >= REFUSED_RETRIES {
                        return Err(EvmError::Unreachable {
                            url: self.redacted.clone(),
                            reason,
                        });
                    }
                    refused += 1;
                    thread::sleep(Duration::from_millis(100) * refused);
                }
                Err(Attempt::Failed(e, retry_after)) if e.is_retryable() => {
                    if attempt >= self.opts.max_retries {
                        return Err(EvmError::RetriesExhausted {
                            attempts: attempt + 1,
                            last: Box::new(e),
                        });
                    }
                    attempt += 1;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    let pause = self
                        .backoff(attempt)
                        .max(retry_after.unwrap_or_default())
                        .min(MAX_BACKOFF);
                    thread::sleep(pause);
                }
                Err(Attempt::Failed(e, _)) => return Err(e),
            }
        }
    }

    /// One HTTP POST; the parsed JSON body on status 200.
    fn post(&self, at: &CallSite, body: &[u8]) -> Result<Value, Attempt> {
        let url = || self.redacted.clone();
        let response = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(body);
        let mut response = match response {
            Ok(r) => r,
            Err(e) => return Err(self.transport_failure(at, e)),
        };
        let status = response.status().as_u16();
        if status != 200 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let e = EvmError::Http {
                at: Box::new(at.clone()),
                url: url(),
                status,
            };
            return Err(Attempt::Failed(e, retry_after));
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|e| self.transport_failure(at, e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned();
            let reason = format!("invalid JSON ({e}); {} bytes starting {shown:?}", bytes.len());
            Attempt::Failed(
                EvmError::Malformed {
                    at: Box::new(at.clone()),
                    reason,
                },
                None,
            )
        })
    }

    fn transport_failure(&self, at: &CallSite, e: ureq::Error) -> Attempt {
        let url = self.redacted.clone();
        // ureq error texts may quote the full URL; never let it through.
        let reason = e.to_string().replace(&self.url, &self.redacted);
        match e {
            ureq::Error::Timeout(_) => Attempt::Failed(
                EvmError::Timeout {
                    at: Box::new(at.clone()),
                    url,
                    secs: self.opts.timeout.as_secs_f64(),
                },
                None,
            ),
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => Attempt::Refused(reason),
            ureq::Error::Io(ref io) if matches!(io.kind(), ErrorKind::ConnectionRefused) => {
                Attempt::Refused(reason)
            }
            ureq::Error::Io(ref io) if io.kind() == ErrorKind::TimedOut => Attempt::Failed(
                EvmError::Timeout {
                    at: Box::new(at.clone()),
                    url,
                    secs: self.opts.timeout.as_secs_f64(),
                },
                None,
            ),
            ureq::Error::BadUri(_) => Attempt::Failed(EvmError::BadUrl { url, reason }, None),
            ureq::Error::BodyExceedsLimit(n) => Attempt::Failed(
                EvmError::malformed(at, format!("response body exceeds {n} bytes")),
                None,
            ),
            _ => Attempt::Failed(
                EvmError::Transport {
                    at: Box::new(at.clone()),
                    url,
                    reason,
                },
                None,
            ),
        }
    }

    /// Matches a batch answer to its calls by id. A rate-limit error on any call fails the whole batch
    /// with a retryable error.
    fn split_batch(
        &self,
        at: &CallSite,
        v: Value,
        n: usize,
    ) -> Result<Vec<Result<Value, CallError>>, Attempt> {
        let fail = |reason: String| {
            Attempt::Failed(
                EvmError::Malformed {
                    at: Box::new(at.clone()),
                    reason,
                },
                None,
            )
        };
        let items = match v {
            Value::Array(items) => items,
            // Some nodes answer a whole batch with one error object (batch too large, rate limited).
            Value::Object(ref o) if o.contains_key("error") => {
                let e = call_error(&v).ok_or_else(|| fail(format!("bad error object {v}")))?;
                return Err(Attempt::Failed(self.rpc_error(at.clone(), e), None));
            }
            other => {
                return Err(fail(format!(
                    "expected a batch (JSON array), got {}",
                    short(&other)
                )));
            }
        };
        let mut out: Vec<Option<Result<Value, CallError>>> = (0..n).map(|_| None).collect();
        for mut item in items {
            let id = item
                .get("id")
                .and_then(Value::as_u64)
                .and_then(|i| usize::try_from(i).ok());
            let Some(slot) = id.and_then(|i| out.get_mut(i)) else {
                // An error without id answers the batch as a whole.
                if let Some(e) = call_error(&item).filter(|_| item.get("id").is_none_or(Value::is_null)) {
                    return Err(Attempt::Failed(self.rpc_error(at.clone(), e), None));
                }
                return Err(fail(format!("answer with unknown id: {}", short(&item))));
            };
            *slot = Some(match call_error(&item) {
                Some(e) => {
                    if is_rate_limit(e.code, &e.message) {
                        return Err(Attempt::Failed(self.rpc_error(at.clone(), e), None));
                    }
                    Err(e)
                }
                None => match item.get_mut("result") {
                    Some(r) => Ok(r.take()),
                    None => return Err(fail(format!("answer without result or error: {}", short(&item)))),
                },
            });
        }
        out.into_iter()
            .enumerate()
            .map(|(i, a)| a.ok_or_else(|| fail(format!("batch answer lacks call {i} of {n}"))))
            .collect()
    }

    /// Waits for the rate limiter to allow `calls` more calls.
    fn pace(&self, calls: usize) {
        let Some(rps) = self.opts.requests_per_second else {
            return;
        };
        let wait = {
            let Ok(mut next) = self.next_slot.lock() else {
                return;
            };
            let now = Instant::now();
            let start = next.map_or(now, |t| t.max(now));
            *next = Some(start + Duration::from_secs_f64(calls as f64 / rps));
            start - now
        };
        if !wait.is_zero() {
            thread::sleep(wait);
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .opts
            .retry_base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let jitter = (RandomState::new().hash_one(Instant::now()) % 1000) as f64 / 2000.0;
        base.mul_f64(1.0 + jitter).min(MAX_BACKOFF)
    }
}

/// The outcome of one group of blocks; `None` while not fetched (or skipped after an error).
type ChunkResult = Result<Vec<DecodedBlock>, EvmError>;

enum ReceiptsFetched {
    Block(Vec<Value>),
    PerTx(Vec<Vec<Value>>),
}

fn call_error(v: &Value) -> Option<CallError> {
    let e = v.get("error")?;
    Some(CallError {
        code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
        message: e.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
    })
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!("{}...", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

fn hex(n: u64) -> String {
    format!("{n:#x}")
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_is_shareable_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<EvmSource>();
    }

    #[test]
    fn rejects_non_http_urls_without_network() {
        let e = EvmSource::connect("ws://127.0.0.1:8545", RpcOptions::default()).expect_err("ws");
        assert!(matches!(e, EvmError::BadUrl { .. }), "{e}");
        if !cfg!(feature = "tls") {
            let e = EvmSource::connect(
                "https://node.example/v2/abcdef0123456789abcdef",
                RpcOptions::default(),
            )
            .expect_err("https without tls");
            assert!(
                e.to_string().contains("tls") && e.to_string().contains("/v2/***"),
                "{e}"
            );
        }
    }

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        let opts = RpcOptions {
            retry_base_delay: Duration::from_millis(100),
            ..RpcOptions::default()
        };
        let source = EvmSource {
            url: String::new(),
            redacted: String::new(),
            agent: ureq::Agent::new_with_defaults(),
            opts,
            chain: Chain::Ethereum,
            receipts_mode: AtomicU8::new(UNKNOWN),
            trace_mode: AtomicU8::new(UNKNOWN),
            next_slot: Mutex::new(None),
            http_requests: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            http_nanos: AtomicU64::new(0),
            fetch_nanos: AtomicU64::new(0),
        };
        for (attempt, base_ms) in [(1u32, 100u64), (2, 200), (3, 400)] {
            let d = source.backoff(attempt);
            assert!(
                d >= Duration::from_millis(base_ms) && d <= Duration::from_millis(base_ms * 3 / 2),
                "{d:?}"
            );
        }
        assert!(source.backoff(40) <= MAX_BACKOFF);
    }
}

//! The RPC client against a real loopback HTTP server serving ethereum-etl's recorded mainnet answers,
//! plus the failure modes a node shows: 429, 503, rate-limit errors, truncated JSON, wrong chain,
//! timeouts, refused connections, missing methods.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chaintrace_chain_evm::{EvmError, EvmSource, Receipts, RpcOptions, Traces, decode_block};
use chaintrace_core::Chain;
use serde_json::{Value, json};

use crate::fixtures::{dir, result};
use crate::node::{Node, Reply, batch_reply, methods, serve};

const STREAM: &str = "test_stream/blocks_1755634_1755635";

fn fast(opts: RpcOptions) -> RpcOptions {
    RpcOptions {
        retry_base_delay: Duration::from_millis(5),
        timeout: Duration::from_secs(5),
        ..opts
    }
}

fn unsupported(method: &str) -> Result<Value, (i64, String)> {
    Err((
        -32601,
        format!("the method {method} does not exist/is not available"),
    ))
}

/// The mainnet node of blocks 1,755,634-1,755,635 as recorded by ethereum-etl: full blocks and
/// per-transaction receipts; no eth_getBlockReceipts and no tracing (as a 2016-era node).
fn recorded(d: &Path, method: &str, params: &Value) -> Result<Value, (i64, String)> {
    let file = |name: String| -> PathBuf { Path::new(STREAM).join(name) };
    let read = |p: PathBuf| result(d, p.to_str().expect("utf-8 path"));
    match method {
        "eth_chainId" => Ok(json!("0x1")),
        "eth_blockNumber" => Ok(read(file(
            "web3_response.eth_getBlockByNumber_latest_false.json".into(),
        ))["number"]
            .clone()),
        "eth_getBlockByNumber" => {
            let n = params[0].as_str().unwrap_or("");
            let p = file(format!("web3_response.eth_getBlockByNumber_{n}_true.json"));
            if d.join(&p).exists() {
                Ok(read(p))
            } else {
                Ok(Value::Null)
            }
        }
        "eth_getTransactionReceipt" => {
            let h = params[0].as_str().unwrap_or("");
            let p = file(format!("web3_response.eth_getTransactionReceipt_{h}.json"));
            if d.join(&p).exists() {
                Ok(read(p))
            } else {
                Ok(Value::Null)
            }
        }
        other => unsupported(other),
    }
}

/// Decodes the same recorded answers with the pure decoder, for comparison.
fn decoded_directly(d: &Path) -> Vec<chaintrace_chain_evm::DecodedBlock> {
    ["0x1ac9f2", "0x1ac9f3"]
        .iter()
        .map(|n| {
            let block = result(
                d,
                &format!("{STREAM}/web3_response.eth_getBlockByNumber_{n}_true.json"),
            );
            let receipts: Vec<Value> = block["transactions"]
                .as_array()
                .expect("txs")
                .iter()
                .map(|t| {
                    result(
                        d,
                        &format!(
                            "{STREAM}/web3_response.eth_getTransactionReceipt_{}.json",
                            t["hash"].as_str().expect("hash")
                        ),
                    )
                })
                .collect();
            decode_block(Chain::Ethereum, &block, Receipts::PerTx(&receipts), None).expect("decodes")
        })
        .collect()
}

fn recorded_node(d: &Path, log: Arc<Mutex<Vec<Vec<String>>>>) -> Node {
    let d = d.to_path_buf();
    serve(move |req| {
        log.lock().expect("log").push(methods(req));
        batch_reply(req, |m, p| recorded(&d, m, p))
    })
}

#[test]
fn fetches_recorded_blocks_in_order_and_falls_back_to_per_tx_receipts_once() {
    let Some(d) = dir() else { return };
    let log = Arc::new(Mutex::new(Vec::new()));
    let node = recorded_node(&d, log.clone());
    let opts = fast(RpcOptions {
        traces: false,
        concurrency: 1,
        batch_size: 1,
        chain: Some(Chain::Ethereum),
        ..RpcOptions::default()
    });
    let source = EvmSource::connect(&node.url, opts).expect("connects");
    assert_eq!(source.chain(), Chain::Ethereum);
    assert_eq!(source.head_block().expect("head"), 0x71993a);
    let before = source.stats();
    let blocks = source.fetch_blocks(1_755_634..=1_755_635).expect("fetches");
    assert_eq!(blocks, decoded_directly(&d));
    assert_eq!(source.receipts_method(), Some("eth_getTransactionReceipt"));
    let asked_block_receipts = log
        .lock()
        .expect("log")
        .iter()
        .flatten()
        .filter(|m| *m == "eth_getBlockReceipts")
        .count();
    assert_eq!(
        asked_block_receipts, 1,
        "the fallback is remembered after the first -32601"
    );
    let stats = source.stats();
    let http_in_fetch = stats.http_time - before.http_time;
    assert!(
        stats.fetch_time >= http_in_fetch && !http_in_fetch.is_zero(),
        "one thread: blocked time covers HTTP time"
    );
    assert!(stats.http_requests >= 5 && stats.retries == 0, "{stats:?}");
}

#[test]
fn concurrent_batched_fetch_returns_blocks_in_order() {
    let Some(d) = dir() else { return };
    let node = recorded_node(&d, Arc::new(Mutex::new(Vec::new())));
    let opts = fast(RpcOptions {
        traces: false,
        concurrency: 2,
        batch_size: 1,
        ..RpcOptions::default()
    });
    let source = EvmSource::connect(&node.url, opts).expect("connects");
    for _ in 0..3 {
        assert_eq!(
            source.fetch_blocks(1_755_634..=1_755_635).expect("fetches"),
            decoded_directly(&d)
        );
    }
    let big_batch = EvmSource::connect(
        &node.url,
        fast(RpcOptions {
            traces: false,
            batch_size: 50,
            ..RpcOptions::default()
        }),
    )
    .expect("connects");
    assert_eq!(
        big_batch.fetch_blocks(1_755_634..=1_755_635).expect("fetches"),
        decoded_directly(&d)
    );
    #[allow(
        clippy::reversed_empty_ranges,
        reason = "an empty range is valid input and must fetch nothing"
    )]
    let empty = 5..=4;
    assert!(big_batch.fetch_blocks(empty).expect("empty range").is_empty());
}

#[test]
fn node_without_tracing_is_a_clear_error_when_traces_are_wanted() {
    let Some(d) = dir() else { return };
    let node = recorded_node(&d, Arc::new(Mutex::new(Vec::new())));
    let source = EvmSource::connect(&node.url, fast(RpcOptions::default())).expect("connects");
    let e = source
        .fetch_blocks(1_755_635..=1_755_635)
        .expect_err("no tracing");
    assert!(matches!(e, EvmError::NoTracing { .. }), "{e}");
    assert!(
        e.to_string().contains("trace_block") && e.to_string().contains(&node.url),
        "{e}"
    );
}

#[test]
fn block_beyond_the_node_head_is_retried_then_reported_missing() {
    let Some(d) = dir() else { return };
    let node = recorded_node(&d, Arc::new(Mutex::new(Vec::new())));
    let opts = fast(RpcOptions {
        traces: false,
        max_retries: 2,
        ..RpcOptions::default()
    });
    let source = EvmSource::connect(&node.url, opts).expect("connects");
    let e = source
        .fetch_blocks(99_999_999..=99_999_999)
        .expect_err("unknown block");
    let msg = e.to_string();
    assert!(
        msg.contains("gave up after 3 attempts") && msg.contains("eth_getBlockByNumber (block 99999999)"),
        "{msg}"
    );
}

/// Genesis: the recorded block and trace_block answers (no transactions, so no receipts).
fn genesis_node(d: &Path, parity: bool, geth: bool, log: Arc<Mutex<Vec<Vec<String>>>>) -> Node {
    let block = result(
        d,
        "test_export_blocks_job/block_without_transactions/web3_response.eth_getBlockByNumber_0x0_true.json",
    );
    let parity_traces = result(
        d,
        "test_export_traces_job/block_without_transactions/web3_response.trace_block_0x0.json",
    );
    serve(move |req| {
        log.lock().expect("log").push(methods(req));
        batch_reply(req, |m, _| match m {
            "eth_chainId" => Ok(json!("0x1")),
            "eth_getBlockByNumber" => Ok(block.clone()),
            "eth_getBlockReceipts" => Ok(json!([])),
            "trace_block" if parity => Ok(parity_traces.clone()),
            // Geth traces a block without transactions as an empty list as well.
            "debug_traceBlockByNumber" if geth => Ok(json!([])),
            other => unsupported(other),
        })
    })
}

#[test]
fn tracing_prefers_trace_block_and_falls_back_to_geth_call_tracer() {
    let Some(d) = dir() else { return };
    let log = Arc::new(Mutex::new(Vec::new()));
    let node = genesis_node(&d, true, true, log.clone());
    let source = EvmSource::connect(&node.url, fast(RpcOptions::default())).expect("connects");
    let b = source.fetch_blocks(0..=0).expect("fetches");
    assert_eq!((b.len(), b[0].transfers.len()), (1, 0));
    assert_eq!(source.trace_method(), Some("trace_block"));
    assert_eq!(source.receipts_method(), Some("eth_getBlockReceipts"));

    let log = Arc::new(Mutex::new(Vec::new()));
    let node = genesis_node(&d, false, true, log.clone());
    let opts = fast(RpcOptions {
        concurrency: 1,
        ..RpcOptions::default()
    });
    let source = EvmSource::connect(&node.url, opts).expect("connects");
    source.fetch_blocks(0..=0).expect("fetches");
    source.fetch_blocks(0..=0).expect("fetches again");
    assert_eq!(source.trace_method(), Some("debug_traceBlockByNumber"));
    let asked: Vec<String> = log.lock().expect("log").iter().flatten().cloned().collect();
    assert_eq!(
        asked.iter().filter(|m| *m == "trace_block").count(),
        1,
        "fallback remembered: {asked:?}"
    );
    assert_eq!(
        asked.iter().filter(|m| *m == "debug_traceBlockByNumber").count(),
        2
    );
}

#[test]
fn http_429_then_success_is_retried() {
    let Some(d) = dir() else { return };
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let d2 = d.clone();
    let node = serve(move |req| {
        if n2.fetch_add(1, Ordering::Relaxed) == 1 {
            Reply::Status(429, vec![("retry-after", "0".into())])
        } else {
            batch_reply(req, |m, p| recorded(&d2, m, p))
        }
    });
    let source = EvmSource::connect(
        &node.url,
        fast(RpcOptions {
            traces: false,
            concurrency: 1,
            ..RpcOptions::default()
        }),
    )
    .expect("connects");
    assert_eq!(
        source
            .fetch_blocks(1_755_634..=1_755_635)
            .expect("fetched after one retry"),
        decoded_directly(&d)
    );
    assert_eq!(source.stats().retries, 1);
}

#[test]
fn json_rpc_rate_limit_error_is_retried() {
    let Some(d) = dir() else { return };
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let node = serve(move |req| {
        let first = n2.fetch_add(1, Ordering::Relaxed) < 2;
        batch_reply(req, |m, p| match m {
            "eth_getBlockByNumber" if first => Err((
                -32005,
                "daily request count exceeded, request rate limited".into(),
            )),
            _ => recorded(&d, m, p),
        })
    });
    let source = EvmSource::connect(
        &node.url,
        fast(RpcOptions {
            traces: false,
            ..RpcOptions::default()
        }),
    )
    .expect("connects");
    assert_eq!(
        source
            .fetch_blocks(1_755_635..=1_755_635)
            .expect("fetched after retry")
            .len(),
        1
    );
    assert_eq!(source.stats().retries, 1);
}

#[test]
fn http_503_forever_gives_up_with_a_clear_error_and_a_redacted_url() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let node = serve(move |req| {
        if n2.fetch_add(1, Ordering::Relaxed) == 0 {
            batch_reply(req, |_, _| Ok(json!("0x1")))
        } else {
            Reply::Status(503, Vec::new())
        }
    });
    let key = "0123456789abcdef0123456789abcdef";
    let url = format!("{}/v3/{key}?apikey=hunter2", node.url);
    let opts = fast(RpcOptions {
        max_retries: 2,
        traces: false,
        ..RpcOptions::default()
    });
    let source = EvmSource::connect(&url, opts).expect("connects");
    let e = source.fetch_blocks(7..=7).expect_err("503 forever");
    let msg = e.to_string();
    assert!(!e.is_retryable());
    assert!(
        msg.contains("gave up after 3 attempts") && msg.contains("http status 503"),
        "{msg}"
    );
    assert!(msg.contains("eth_getBlockByNumber (block 7)"), "{msg}");
    assert!(msg.contains(&format!("{}/v3/***", node.url)), "{msg}");
    assert!(
        !msg.contains(key) && !msg.contains("hunter2"),
        "secret leaked: {msg}"
    );
    assert_eq!(n.load(Ordering::Relaxed), 1 + 3);
}

#[test]
fn terminal_http_and_rpc_errors_fail_at_once() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let node = serve(move |req| {
        let i = n2.fetch_add(1, Ordering::Relaxed);
        match i {
            0 => batch_reply(req, |_, _| Ok(json!("0x1"))),
            1 => Reply::Status(401, Vec::new()),
            _ => batch_reply(req, |_, _| Err((-32000, "header not found".into()))),
        }
    });
    let source = EvmSource::connect(
        &node.url,
        fast(RpcOptions {
            traces: false,
            ..RpcOptions::default()
        }),
    )
    .expect("connects");
    let e = source.head_block().expect_err("401");
    assert!(matches!(e, EvmError::Http { status: 401, .. }), "{e}");
    let e = source.fetch_blocks(3..=3).expect_err("rpc error");
    assert!(e.to_string().contains("error -32000: header not found"), "{e}");
    assert_eq!(n.load(Ordering::Relaxed), 3, "no retries for terminal errors");
}

#[test]
fn truncated_json_is_a_terminal_error_naming_method_and_block() {
    let Some(d) = dir() else { return };
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let node = serve(move |req| {
        n2.fetch_add(1, Ordering::Relaxed);
        match batch_reply(req, |m, p| recorded(&d, m, p)) {
            Reply::Json(v) if methods(req).contains(&"eth_getBlockByNumber".to_string()) => {
                let full = serde_json::to_vec(&v).expect("serialize");
                Reply::Raw(full[..full.len() / 2].to_vec())
            }
            other => other,
        }
    });
    let source = EvmSource::connect(
        &node.url,
        fast(RpcOptions {
            traces: false,
            ..RpcOptions::default()
        }),
    )
    .expect("connects");
    let e = source.fetch_blocks(1_755_635..=1_755_635).expect_err("truncated");
    let msg = e.to_string();
    assert!(
        matches!(e, EvmError::Malformed { .. }) && !e.is_retryable(),
        "{msg}"
    );
    assert!(
        msg.contains("eth_getBlockByNumber (block 1755635)") && msg.contains("invalid JSON"),
        "{msg}"
    );
    assert_eq!(
        n.load(Ordering::Relaxed),
        2,
        "chain id + one block request, no retry"
    );
}

#[test]
fn wrong_or_unknown_chain_id_is_refused_at_connect() {
    let node = serve(|req| batch_reply(req, |_, _| Ok(json!("0x38"))));
    let opts = fast(RpcOptions {
        chain: Some(Chain::Ethereum),
        ..RpcOptions::default()
    });
    let e = EvmSource::connect(&node.url, opts).expect_err("bsc node when ethereum expected");
    assert!(
        matches!(
            e,
            EvmError::ChainMismatch {
                expected: 1,
                actual: 56,
                ..
            }
        ),
        "{e}"
    );
    let source = EvmSource::connect(&node.url, fast(RpcOptions::default())).expect("any known chain");
    assert_eq!(source.chain(), Chain::Bsc);

    let anvil_default = serve(|req| batch_reply(req, |_, _| Ok(json!("0x7a69"))));
    let e = EvmSource::connect(&anvil_default.url, fast(RpcOptions::default())).expect_err("31337");
    assert!(e.to_string().contains("chain id 31337"), "{e}");
}

#[test]
fn refused_connection_reports_the_node_unreachable_quickly() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let started = Instant::now();
    let url = format!("http://user:pw@127.0.0.1:{port}/rpc");
    let e = EvmSource::connect(&url, fast(RpcOptions::default())).expect_err("nothing listens");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("node unreachable at http://127.0.0.1:{port}/rpc")),
        "{msg}"
    );
    assert!(!msg.contains("pw"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "quick retries only: {:?}",
        started.elapsed()
    );
}

#[test]
fn slow_node_times_out_and_retries_are_bounded() {
    let node = serve(|req| {
        Reply::Delay(
            Duration::from_millis(600),
            Box::new(batch_reply(req, |_, _| Ok(json!("0x1")))),
        )
    });
    let opts = RpcOptions {
        timeout: Duration::from_millis(150),
        max_retries: 1,
        retry_base_delay: Duration::from_millis(5),
        ..RpcOptions::default()
    };
    let started = Instant::now();
    let e = EvmSource::connect(&node.url, opts).expect_err("too slow");
    let msg = e.to_string();
    assert!(
        msg.contains("gave up after 2 attempts") && msg.contains("timeout"),
        "{msg}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn requests_per_second_limit_paces_calls() {
    let node = serve(|req| {
        batch_reply(req, |m, _| {
            Ok(json!(if m == "eth_chainId" { "0x1" } else { "0x10" }))
        })
    });
    let opts = fast(RpcOptions {
        requests_per_second: Some(20.0),
        ..RpcOptions::default()
    });
    let source = EvmSource::connect(&node.url, opts).expect("connects");
    let started = Instant::now();
    for _ in 0..10 {
        source.head_block().expect("head");
    }
    // 11 calls at 20/s: the 11th may start no earlier than 0.5 s after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(440),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn parity_traces_over_rpc_decode_like_the_pure_decoder() {
    let Some(d) = dir() else { return };
    // Block 1,755,635 with traces answered by a trace_block that names one frame per transaction,
    // built from the block itself; checks the RPC path hands traces to the decoder.
    let block = result(
        &d,
        &format!("{STREAM}/web3_response.eth_getBlockByNumber_0x1ac9f3_true.json"),
    );
    let frames: Vec<Value> = block["transactions"]
        .as_array()
        .expect("txs")
        .iter()
        .enumerate()
        .map(|(i, t)| json!({
            "type": "call", "action": {"callType": "call", "from": t["from"], "to": t["to"], "value": t["value"]},
            "traceAddress": [], "transactionHash": t["hash"], "transactionPosition": i, "subtraces": 0,
            "result": {"gasUsed": "0x0", "output": "0x"}
        }))
        .collect();
    let traces = Value::Array(frames);
    let t2 = traces.clone();
    let d2 = d.clone();
    let node = serve(move |req| {
        batch_reply(req, |m, p| match m {
            "trace_block" => Ok(t2.clone()),
            _ => recorded(&d2, m, p),
        })
    });
    let source = EvmSource::connect(&node.url, fast(RpcOptions::default())).expect("connects");
    let got = source.fetch_blocks(1_755_635..=1_755_635).expect("fetches");
    let receipts: Vec<Value> = block["transactions"]
        .as_array()
        .expect("txs")
        .iter()
        .map(|t| {
            result(
                &d,
                &format!(
                    "{STREAM}/web3_response.eth_getTransactionReceipt_{}.json",
                    t["hash"].as_str().expect("hash")
                ),
            )
        })
        .collect();
    let want = decode_block(
        Chain::Ethereum,
        &block,
        Receipts::PerTx(&receipts),
        Some(Traces::Parity(&traces)),
    )
    .expect("decodes");
    assert_eq!(got, vec![want]);
    assert_eq!(source.trace_method(), Some("trace_block"));
}

#[test]
fn dropped_connection_is_retried() {
    let Some(d) = dir() else { return };
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let d2 = d.clone();
    let node = serve(move |req| {
        if n2.fetch_add(1, Ordering::Relaxed) == 1 {
            Reply::Close
        } else {
            batch_reply(req, |m, p| recorded(&d2, m, p))
        }
    });
    let opts = fast(RpcOptions {
        traces: false,
        concurrency: 1,
        ..RpcOptions::default()
    });
    let source = EvmSource::connect(&node.url, opts).expect("connects");
    assert_eq!(
        source
            .fetch_blocks(1_755_634..=1_755_635)
            .expect("fetched after retry"),
        decoded_directly(&d)
    );
    assert!(source.stats().retries >= 1);
}

#[test]
fn whole_batch_rejected_with_one_error_object_is_reported() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let node = serve(move |req| {
        if n2.fetch_add(1, Ordering::Relaxed) == 0 {
            batch_reply(req, |_, _| Ok(json!("0x1")))
        } else {
            Reply::Json(
                json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "batch too large"}}),
            )
        }
    });
    let source = EvmSource::connect(
        &node.url,
        fast(RpcOptions {
            traces: false,
            ..RpcOptions::default()
        }),
    )
    .expect("connects");
    let e = source.fetch_blocks(1..=3).expect_err("rejected batch");
    assert!(
        e.to_string().contains("blocks 1..=3") && e.to_string().contains("batch too large"),
        "{e}"
    );
    assert_eq!(n.load(Ordering::Relaxed), 2, "terminal: not retried");
}

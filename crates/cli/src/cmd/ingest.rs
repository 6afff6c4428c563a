//! `chaintrace ingest rpc`: pull blocks from an EVM JSON-RPC node into the store (resumable, reorg-aware).
//!
//! Progress goes to stderr (a bar on a terminal, plus one summary line); with `--format json` the run's
//! report is printed on stdout. The RPC URL may carry an API key: every message shows it redacted.

use std::time::Duration;

use anyhow::Context;
use chaintrace_chain_evm::{EvmSource, RpcOptions, RpcStats, redact_url};
use chaintrace_core::Chain;
use chaintrace_ingest::rpc::{
    self, Plan, ReorgUnwound, RpcIngestOptions, RpcIngestReport, RpcProgress, ToBlock,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::opts::{Format, GlobalOpts};

/// Arguments of `chaintrace ingest`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    source: Source,
}

#[derive(Debug, clap::Subcommand)]
enum Source {
    /// Read blocks from an EVM JSON-RPC node: native, internal (traces) and ERC-20 transfers.
    ///
    /// Resumes after the stage checkpoint of the chain; each batch of blocks is written together with
    /// the checkpoint, so an interrupted run loses nothing and duplicates nothing when run again.
    Rpc(RpcArgs),
}

/// Arguments of `chaintrace ingest rpc`.
#[derive(Debug, clap::Args)]
struct RpcArgs {
    /// Chain the node must serve (name or chain id); a node on another chain is refused.
    #[arg(long)]
    chain: Chain,
    /// Node URL (http:// or https://). May embed an API key: it is redacted in every message.
    #[arg(long, env = "CHAINTRACE_RPC_URL", hide_env_values = true, value_name = "URL")]
    rpc_url: String,
    /// First block to read when the store's checkpoint does not already reach it.
    #[arg(long, default_value_t = 0, value_name = "N")]
    from_block: u64,
    /// Last block to read: a number or `latest` (the head when the run starts).
    #[arg(long, default_value = "latest", value_parser = parse_to_block, value_name = "N|latest")]
    to_block: ToBlock,
    /// Leave out blocks within this many blocks of the head (they may still be reorganised).
    #[arg(long, default_value_t = 12, value_name = "N")]
    confirmations: u64,
    /// Blocks per JSON-RPC batch request (and per worker).
    #[arg(long, default_value_t = 20, value_name = "N")]
    batch_size: usize,
    /// HTTP requests in flight at once. One store transaction covers batch-size x concurrency blocks.
    #[arg(long, default_value_t = 4, value_name = "N")]
    concurrency: usize,
    /// Limit on JSON-RPC calls per second (providers meter calls; a batch of n calls counts n).
    #[arg(long, value_name = "X")]
    requests_per_second: Option<f64>,
    /// Timeout of one HTTP request, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    timeout: u64,
    /// Skip traces (no internal transfers), for nodes without trace_block / debug_traceBlockByNumber.
    #[arg(long)]
    no_traces: bool,
    /// Re-read the whole range even where the checkpoint covers it (stored rows are kept; duplicates
    /// are skipped).
    #[arg(long)]
    no_resume: bool,
    /// Output of the run's report on stdout: nothing (table) or one JSON object (json).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn parse_to_block(s: &str) -> Result<ToBlock, String> {
    match s.trim() {
        "latest" => Ok(ToBlock::Latest),
        n => n
            .parse::<u64>()
            .map(ToBlock::Number)
            .map_err(|_| format!("'{s}' is neither a block number nor 'latest'")),
    }
}

pub(crate) fn run(global: &GlobalOpts, args: Args) -> anyhow::Result<()> {
    match args.source {
        Source::Rpc(a) => run_rpc(global, a),
    }
}

fn run_rpc(global: &GlobalOpts, a: RpcArgs) -> anyhow::Result<()> {
    if a.format == Format::Csv {
        anyhow::bail!("--format csv is not supported by ingest (use table or json)");
    }
    if a.batch_size == 0 || a.concurrency == 0 {
        anyhow::bail!("--batch-size and --concurrency must be at least 1");
    }
    let chain = a.chain;
    let redacted = redact_url(&a.rpc_url);
    let opts = RpcOptions {
        timeout: Duration::from_secs(a.timeout.max(1)),
        requests_per_second: a.requests_per_second,
        concurrency: a.concurrency,
        batch_size: a.batch_size,
        chain: Some(chain),
        traces: !a.no_traces,
        keep_log_topics: chaintrace_defi::topics_of_interest().to_vec(),
        ..RpcOptions::default()
    };
    let source = EvmSource::connect(&a.rpc_url, opts)
        .with_context(|| format!("ingest rpc: {chain}: connecting to {redacted}"))?;
    let mut store = global.open_store()?;
    let ingest = RpcIngestOptions {
        chain,
        from_block: a.from_block,
        to_block: a.to_block,
        confirmations: a.confirmations,
        blocks_per_write: (a.batch_size as u64).saturating_mul(a.concurrency as u64),
        resume: !a.no_resume,
    };
    let mut bar = Bar::new();
    let result = rpc::run(&source, &mut store, &ingest, &mut bar);
    bar.finish();
    let report = result.with_context(|| format!("ingest rpc from {redacted}"))?;
    eprintln!("{}", summary_line(&report));
    if a.format == Format::Json {
        println!("{}", report_json(&report, &source.stats()));
    }
    Ok(())
}

/// The progress bar on stderr (hidden when stderr is not a terminal).
struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new() -> Bar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} {prefix} [{bar:30}] {pos}/{len} blocks  {msg}  {elapsed_precise} eta {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Bar { bar }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl RpcProgress for Bar {
    fn planned(&mut self, plan: &Plan) {
        self.bar
            .set_prefix(format!("{} {}..={}", plan.chain, plan.start, plan.end));
        self.bar.set_length(plan.blocks());
        self.bar.enable_steady_tick(Duration::from_millis(200));
    }

    fn window_written(&mut self, w: &rpc::WindowWritten) {
        self.bar.inc(w.last - w.first + 1);
        self.bar
            .set_message(format!("block {} (+{} transfers)", w.last, w.inserted));
    }

    fn reorg_unwound(&mut self, r: &ReorgUnwound) {
        let line = format!(
            "reorg on {} at block {}: unwound to block {} ({} transfers removed), refetching",
            r.chain, r.detected_at, r.common_ancestor, r.transfers_removed
        );
        self.bar.suspend(|| eprintln!("{line}"));
        // Blocks above the ancestor will be counted again.
        let back = self
            .bar
            .position()
            .min(r.detected_at.saturating_sub(r.common_ancestor + 1));
        self.bar.set_position(self.bar.position() - back);
    }
}

fn summary_line(r: &RpcIngestReport) -> String {
    let p = &r.plan;
    let checkpoint = r.checkpoint.map_or("none".to_string(), |c| c.to_string());
    let mut line = if p.blocks() == 0 {
        format!(
            "ingest rpc: {}: nothing to read (checkpoint {checkpoint}, head {})",
            p.chain, p.head
        )
    } else {
        format!(
            "ingest rpc: {} blocks {}..={}: {} blocks, {} transfers ({} new, {} already stored), {} reorgs, \
             checkpoint {checkpoint}, {:.1} s, {:.0}% waiting on the node",
            p.chain,
            p.start,
            p.end,
            r.blocks,
            r.transfers,
            r.inserted,
            r.duplicates,
            r.reorgs,
            r.elapsed.as_secs_f64(),
            100.0 * r.rpc_wait_share(),
        )
    };
    if p.is_capped_by_confirmations {
        line.push_str(&format!(
            "; stopped {} blocks below head {} (--confirmations)",
            p.head - p.end.min(p.head),
            p.head
        ));
    }
    if !p.advances_checkpoint && p.blocks() > 0 {
        line.push_str(&format!(
            "; checkpoint not moved: blocks after {checkpoint} up to {} were not read",
            p.start - 1
        ));
    }
    line
}

fn report_json(r: &RpcIngestReport, rpc: &RpcStats) -> serde_json::Value {
    let p = &r.plan;
    serde_json::json!({
        "schema_version": 1,
        "chain": p.chain.name(),
        "start_block": p.start,
        "end_block": p.end,
        "head": p.head,
        "last_written": r.last_written,
        "blocks": r.blocks,
        "transfers": r.transfers,
        "inserted": r.inserted,
        "duplicates": r.duplicates,
        "reorgs": r.reorgs,
        "transfers_unwound": r.transfers_unwound,
        "checkpoint": r.checkpoint,
        "elapsed_secs": r.elapsed.as_secs_f64(),
        "rpc_wait_secs": r.rpc_wait.as_secs_f64(),
        "rpc_wait_share": r.rpc_wait_share(),
        "write_secs": r.write_time.as_secs_f64(),
        "rpc_http_requests": rpc.http_requests,
        "rpc_calls": rpc.calls,
        "rpc_retries": rpc.retries,
        "rpc_http_secs_all_threads": rpc.http_time.as_secs_f64(),
    })
}

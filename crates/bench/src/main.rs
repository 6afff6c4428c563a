//! `trace-bench`: the Rust side of `scripts/bench.sh` (tracing against igraph, networkx and DuckDB).
//!
//! Subcommands (all print one JSON object on stdout, progress on stderr):
//! - `prepare DIR SEED TRANSFERS`: generates a simulated world straight into a graph (no SQLite), saves the
//!   snapshot `DIR/graph.snapshot`, exports the edge table for the peers (`DIR/edges.csv`), picks the start
//!   addresses (`DIR/starts.txt`) and writes the exit set (`DIR/exits.txt`, labeled exchange/mixer/bridge
//!   addresses of the world).
//! - `run DIR HOPS MODELS [BUDGET_S [REPEATS]]`: opens the snapshot and traces forward from the starts with each model
//!   (comma list), in file order until BUDGET_S seconds of tracing per model are spent, timing each trace;
//!   writes the poison reachable sets to `DIR/ours_poison.bin` (+ `.idx`). Models: `poison`, `haircut`,
//!   `fifo` (the whole `trace()` call, result with amounts and a path for every destination included;
//!   the output's `snapshot_rss_kib` is how much of the snapshot the traces of all models paged in;
//!   these two with the graph's `BalanceIndex`, built once on first use and reported as `balance_index`;
//!   `haircut-plain` / `fifo-plain`: without it),
//!   `poison-set` (`trace::reach_set`: only the reachable (address, asset) set, the question the peers
//!   answer; sets written to `DIR/ours_poison_set.bin`) and `poison-heap` (the time-ordered engine).
//!   REPEATS (default 1): `poison-set` answers each start that many times and keeps the fastest (A/B
//!   comparisons on a busy machine; the budget counts the kept times), and reports the CPU time of each
//!   kept answer too (`cpu_s`: the threads alive when it is read, so it misses the engine's helper
//!   threads, which have exited by then; for the CPU of a two-thread engine use `perf stat` on the
//!   process).
//! - `cold DIR HOPS`: in a fresh process, opens the snapshot and answers one poison trace (cold start).
//! - `verify DIR`: opens the snapshot and runs the full integrity check (`Graph::verify`), timing both.
//!
//! The reachable set of a trace is the set of `(node id, asset id)` pairs in its destinations (exits
//! included, starts excluded), the definition the peers implement in `scripts/bench/peers.py`.
//!
//! Not here: the peers, the report (`scripts/bench/report.py`).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use chaintrace_analysis::conversions::{ConversionDetail, ConversionEdge};
use chaintrace_analysis::trace::{
    BalanceIndex, ConversionOptions, ExitCategory, ExitInfo, Model, TraceRequest, reach_set, trace,
    trace_indexed, trace_with_conversions,
};
use chaintrace_core::{Address, Chain};
use chaintrace_graph::{Graph, GraphBuilder, NodeId, StoreStamp};
use chaintrace_sim::{WorldConfig, generate};
use chaintrace_store::{Batch, StoreError, TransferWriter, WriteStats};
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use serde_json::json;

/// Number of start addresses per run.
const STARTS: usize = 200;

/// Feeds the simulator's batches straight into a graph builder.
struct BuilderWriter {
    builder: GraphBuilder,
    error: Option<String>,
}

impl TransferWriter for BuilderWriter {
    fn write_batch(&mut self, batch: Batch<'_>) -> Result<WriteStats, StoreError> {
        for t in batch.transfers {
            if let Err(e) = self.builder.push(t) {
                self.error = Some(e.to_string());
                return Err(StoreError::Callback(e.to_string()));
            }
        }
        Ok(WriteStats {
            inserted: batch.transfers.len() as u64,
            duplicates: 0,
        })
    }

    fn unwind(&mut self, _chain: Chain, _from_block: u64) -> Result<u64, StoreError> {
        Ok(0)
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, what: &str| -> anyhow::Result<&str> {
        args.get(i)
            .map(String::as_str)
            .with_context(|| format!("missing argument {i} ({what}); see the crate docs"))
    };
    match arg(0, "subcommand")? {
        "prepare" => prepare(
            Path::new(arg(1, "dir")?),
            arg(2, "seed")?.parse().context("seed")?,
            arg(3, "transfers")?.parse().context("transfers")?,
        ),
        "run" => run(
            Path::new(arg(1, "dir")?),
            arg(2, "hops")?.parse().context("hops")?,
            arg(3, "models")?,
            args.get(4)
                .map(|b| b.parse())
                .transpose()
                .context("budget")?
                .unwrap_or(f64::INFINITY),
            args.get(5)
                .map(|r| r.parse())
                .transpose()
                .context("repeats")?
                .unwrap_or(1),
        ),
        "cold" => cold(
            Path::new(arg(1, "dir")?),
            arg(2, "hops")?.parse().context("hops")?,
        ),
        "verify" => verify(Path::new(arg(1, "dir")?)),
        other => bail!("unknown subcommand {other:?} (prepare, run, cold, verify)"),
    }
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn prepare(dir: &Path, seed: u64, transfers: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cfg = WorldConfig::new(seed, transfers);
    let t0 = Instant::now();
    let mut w = BuilderWriter {
        builder: GraphBuilder::new(),
        error: None,
    };
    let truth = generate(&cfg, &mut w).map_err(|e| anyhow::anyhow!("generating world: {e} {:?}", w.error))?;
    let gen_s = t0.elapsed().as_secs_f64();
    eprintln!("generated {} transfers in {gen_s:.1}s", w.builder.len());
    let t0 = Instant::now();
    let g = w.builder.finish(StoreStamp::default())?;
    let build_s = t0.elapsed().as_secs_f64();
    eprintln!("built graph in {build_s:.1}s");
    let snap = dir.join("graph.snapshot");
    let t0 = Instant::now();
    g.save(&snap)?;
    let save_s = t0.elapsed().as_secs_f64();

    // Exits: what an investigator's labels already call an exchange, mixer or bridge.
    let mut exits: Vec<NodeId> = truth
        .labels
        .iter()
        .filter(|l| matches!(l.category.as_str(), "exchange" | "mixer" | "bridge"))
        .filter_map(|l| g.node(l.chain, l.address))
        .collect();
    exits.sort_unstable();
    exits.dedup();
    let exit_set: HashSet<NodeId> = exits.iter().copied().collect();
    let sources: HashSet<Address> = truth.sources.iter().copied().collect();

    let t0 = Instant::now();
    let edges_path = dir.join("edges.csv");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&edges_path)?);
    writeln!(out, "src,dst,asset,blk,tx,seq,nz")?;
    let mut candidates = Vec::new();
    for n in 0..g.node_count() {
        let mut has_nonzero_out = false;
        for e in g.out_edges(n) {
            let seq = g.edge_seq(e);
            let nz = !g.edge_amount(e).is_zero();
            has_nonzero_out |= nz;
            writeln!(
                out,
                "{},{},{},{},{},{},{}",
                n,
                g.edge_dst(e),
                g.edge_asset(e),
                g.block_index(seq),
                g.tx_index(seq),
                seq,
                u8::from(nz)
            )?;
        }
        if has_nonzero_out && !exit_set.contains(&n) && !sources.contains(&g.node_key(n).1) {
            candidates.push(n);
        }
    }
    out.flush()?;
    let export_s = t0.elapsed().as_secs_f64();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let starts: Vec<NodeId> = candidates.choose_multiple(&mut rng, STARTS).copied().collect();
    write_lines(&dir.join("starts.txt"), &starts)?;
    write_lines(&dir.join("exits.txt"), &exits)?;
    let sz = g.section_sizes();
    let e = g.edge_count() as f64;
    println!(
        "{}",
        json!({
            "seed": seed, "target_transfers": transfers, "transfers": g.edge_count(), "nodes": g.node_count(),
            "assets": g.asset_count(), "exits": exits.len(), "starts": starts.len(),
            "generate_s": gen_s, "build_s": build_s, "save_s": save_s, "export_s": export_s,
            "bytes_per_transfer": {
                "total": sz.total as f64 / e, "edges": sz.edges as f64 / e, "nodes": sz.nodes as f64 / e,
                "blocks_and_txs": sz.blocks_and_txs as f64 / e, "tx_hashes": sz.tx_hashes as f64 / e,
                "other": sz.other as f64 / e,
            },
            "snapshot_bytes": sz.total,
        })
    );
    Ok(())
}

fn write_lines(path: &Path, ids: &[NodeId]) -> anyhow::Result<()> {
    let mut f = BufWriter::new(File::create(path)?);
    for id in ids {
        writeln!(f, "{id}")?;
    }
    f.flush()?;
    Ok(())
}

fn read_ids(path: &Path) -> anyhow::Result<Vec<NodeId>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            l.trim()
                .parse()
                .with_context(|| format!("{}:{}: not a node id", path.display(), i + 1))
        })
        .collect()
}

/// Exit oracle over the world's labeled exits.
fn oracle(g: &Graph, dir: &Path) -> anyhow::Result<HashMap<(Chain, Address), ExitInfo>> {
    let info = ExitInfo {
        category: ExitCategory::Other("labeled".into()),
        name: "sim label".into(),
    };
    Ok(read_ids(&dir.join("exits.txt"))?
        .into_iter()
        .map(|n| (g.node_key(n), info.clone()))
        .collect())
}

fn request(g: &Graph, start: NodeId, model: Model, hops: u32) -> TraceRequest {
    let mut req = TraceRequest::new(vec![g.node_key(start)]);
    req.model = model;
    req.max_hops = hops;
    // No truncation: the peers have no fan-out cap, and the reachable sets must be comparable.
    req.fan_out_cap = u32::MAX;
    req
}

/// A swap by an owner that is in no graph: placed nowhere, so the trace is the plain one.
fn inert_conversion() -> ConversionEdge {
    let nowhere = Address([0xfe; 20]);
    ConversionEdge {
        from_chain: Chain::Ethereum,
        from_tx: chaintrace_core::TxHash([0xfe; 32]),
        from_block: 0,
        from_time: 0,
        owner: nowhere,
        asset_in: chaintrace_core::Asset::Native,
        amount_in: chaintrace_core::U256::from(1u64),
        to_chain: Chain::Ethereum,
        to_tx: chaintrace_core::TxHash([0xfe; 32]),
        to_block: 0,
        to_time: 0,
        recipient: nowhere,
        asset_out: chaintrace_core::Asset::Token(nowhere),
        amount_out: chaintrace_core::U256::from(1u64),
        via: Vec::new(),
        evidence: Vec::new(),
        detail: ConversionDetail::Swap {
            kind: chaintrace_defi::swap::ConversionKind::SwapV2,
        },
        is_candidate: false,
    }
}

fn parse_model(s: &str) -> anyhow::Result<Model> {
    Ok(match s {
        "poison" | "poison-heap" | "poison-set" => Model::Poison,
        "haircut" | "haircut-plain" => Model::Haircut,
        "fifo" | "fifo-plain" => Model::Fifo,
        other => bail!("unknown model {other:?}"),
    })
}

fn run(dir: &Path, hops: u32, models: &str, budget_s: f64, repeats: u32) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let g = Graph::open(&dir.join("graph.snapshot"))?;
    // As the CLI does after opening a snapshot.
    g.prefetch_in_background();
    let open_s = t0.elapsed().as_secs_f64();
    let oracle = oracle(&g, dir)?;
    let starts = read_ids(&dir.join("starts.txt"))?;
    let mut per_model = serde_json::Map::new();
    // Haircut and fifo trace with the graph's balance index (built once, on first use; its build time and
    // size are reported); `haircut-plain` / `fifo-plain` trace without it (A/B comparisons).
    let mut index: Option<BalanceIndex> = None;
    let mut index_info = serde_json::Value::Null;
    for m in models.split(',') {
        let model = parse_model(m)?;
        let mut times = Vec::with_capacity(starts.len());
        let mut cpu = Vec::with_capacity(starts.len());
        let mut sizes = Vec::with_capacity(starts.len());
        let mut sets: Vec<Vec<u64>> = Vec::new();
        for &s in &starts {
            if times.iter().sum::<f64>() >= budget_s {
                break;
            }
            let req = request(&g, s, model, hops);
            if m == "poison-set" {
                let mut best = f64::INFINITY;
                let mut set = Vec::new();
                let mut best_cpu = f64::INFINITY;
                for _ in 0..repeats.max(1) {
                    let c = cpu_ns();
                    let t = Instant::now();
                    set = reach_set(&g, &req, &oracle)
                        .map_err(|e| anyhow::anyhow!("reach set from node {s}: {e}"))?;
                    best = best.min(t.elapsed().as_secs_f64());
                    best_cpu = best_cpu.min(cpu_ns().saturating_sub(c) as f64 * 1e-9);
                }
                times.push(best);
                cpu.push(best_cpu);
                sizes.push(set.len());
                sets.push(
                    set.iter()
                        .map(|&(n, a)| (u64::from(n) << 32) | u64::from(a))
                        .collect(),
                );
                continue;
            }
            if (m == "haircut" || m == "fifo") && index.is_none() {
                let t = Instant::now();
                let ix = BalanceIndex::build(&g);
                index_info = json!({"build_s": t.elapsed().as_secs_f64(), "bytes": ix.bytes(),
                    "pairs": ix.pair_count(), "checkpoints": ix.checkpoint_count(), "spacing": ix.spacing()});
                eprintln!("balance index: {index_info}");
                index = Some(ix);
            }
            let t = Instant::now();
            let r = if m == "haircut" || m == "fifo" {
                trace_indexed(
                    &g,
                    &req,
                    &oracle,
                    &[],
                    ConversionOptions::default(),
                    index.as_ref(),
                )
            } else if m == "poison-heap" {
                // The time-ordered engine for poison (before/after comparisons): a conversion list that is
                // not empty keeps `trace` off the hop-layered poison engine; this one places nowhere.
                trace_with_conversions(
                    &g,
                    &req,
                    &oracle,
                    &[inert_conversion()],
                    ConversionOptions::default(),
                )
            } else {
                trace(&g, &req, &oracle)
            }
            .map_err(|e| anyhow::anyhow!("trace from node {s}: {e}"))?;
            times.push(t.elapsed().as_secs_f64());
            sizes.push(r.destinations.len());
            if model == Model::Poison {
                let mut set: Vec<u64> = r
                    .destinations
                    .iter()
                    .map(|d| {
                        let n = g.node(d.chain, d.address).expect("destination is a graph node");
                        let a = g
                            .asset_id(d.chain, d.asset)
                            .expect("destination asset is in the graph");
                        (u64::from(n) << 32) | u64::from(a)
                    })
                    .collect();
                set.sort_unstable();
                set.dedup();
                sets.push(set);
            }
        }
        eprintln!(
            "ours {m}: {} traces, total {:.2}s",
            starts.len(),
            times.iter().sum::<f64>()
        );
        if m == "poison" {
            write_sets(&dir.join("ours_poison"), &sets)?;
        } else if m == "poison-heap" {
            write_sets(&dir.join("ours_poison_heap"), &sets)?;
        } else if m == "poison-set" {
            write_sets(&dir.join("ours_poison_set"), &sets)?;
        }
        let mut entry = json!({"times_s": times, "reached": sizes});
        if m == "poison-set" {
            // CPU time per answer: on a busy machine, what the answer cost rather than how long it waited
            // for a core. Only the threads still alive count (see the crate docs).
            entry["cpu_s"] = json!(cpu);
        }
        per_model.insert(m.to_string(), entry);
    }
    println!(
        "{}",
        json!({"open_s": open_s, "models": per_model, "vm_hwm_kib": vm_hwm_kib(), "balance_index": index_info,
               "snapshot_rss_kib": mapping_rss_kib("graph.snapshot"), "transfers": g.edge_count(),
               "tx_hash_reads": hash_reads(&g)})
    );
    Ok(())
}

/// Writes sets as little-endian u64 keys (`NAME.bin`) and u64 offsets, one more than sets (`NAME.idx`).
fn write_sets(base: &Path, sets: &[Vec<u64>]) -> anyhow::Result<()> {
    let with = |ext: &str| PathBuf::from(format!("{}.{ext}", base.display()));
    let mut bin = BufWriter::new(File::create(with("bin"))?);
    let mut idx = BufWriter::new(File::create(with("idx"))?);
    let mut off = 0u64;
    idx.write_all(&off.to_le_bytes())?;
    for s in sets {
        for k in s {
            bin.write_all(&k.to_le_bytes())?;
        }
        off += s.len() as u64;
        idx.write_all(&off.to_le_bytes())?;
    }
    bin.flush()?;
    idx.flush()?;
    Ok(())
}

fn cold(dir: &Path, hops: u32) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let g = Graph::open(&dir.join("graph.snapshot"))?;
    // As the CLI does after opening a snapshot.
    g.prefetch_in_background();
    let open_s = t0.elapsed().as_secs_f64();
    let oracle = oracle(&g, dir)?;
    let starts = read_ids(&dir.join("starts.txt"))?;
    let start = *starts.first().context("no start address")?;
    let t1 = Instant::now();
    let r = trace(&g, &request(&g, start, Model::Poison, hops), &oracle)
        .map_err(|e| anyhow::anyhow!("trace from node {start}: {e}"))?;
    let trace_s = t1.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"open_s": open_s, "first_trace_s": trace_s, "to_first_answer_s": t0.elapsed().as_secs_f64(),
               "reached": r.destinations.len(), "vm_hwm_kib": vm_hwm_kib(),
               "snapshot_rss_kib": mapping_rss_kib("graph.snapshot"), "tx_hash_reads": hash_reads(&g)})
    );
    Ok(())
}

/// The transaction-hash reads from the snapshot file so far (they are not mapped; see `Graph::tx_hashes`).
fn hash_reads(g: &Graph) -> serde_json::Value {
    let r = g.tx_hash_reads();
    json!({"calls": r.calls, "bytes": r.bytes})
}

fn verify(dir: &Path) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let g = Graph::open(&dir.join("graph.snapshot"))?;
    let open_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    g.verify()?;
    let verify_s = t1.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"open_s": open_s, "verify_s": verify_s, "edges": g.edge_count()})
    );
    Ok(())
}

/// CPU time this process's live threads have run so far, in nanoseconds (sum of
/// /proc/self/task/*/schedstat; threads that have exited are not counted; 0 where that is not available).
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Resident size of this process's mappings of files whose name ends with `name` (from /proc/self/smaps):
/// the snapshot pages the process has touched.
fn mapping_rss_kib(name: &str) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut inside = false;
    let mut kib = 0;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            inside = line.trim_end().ends_with(name);
        } else if inside && let Some(v) = line.strip_prefix("Rss:") {
            kib += v.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap_or(0);
        }
    }
    kib
}

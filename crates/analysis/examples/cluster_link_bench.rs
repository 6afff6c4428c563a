//! Measures clustering and link discovery on a simulated world.
//!
//! `cargo run --release -p chaintrace-analysis --example cluster_link_bench -- [transfers] [users] [seed]
//! [export-dir] [zipf]` prints graph size, clustering time and link-query latencies (10x10 p50/p95 over 40
//! queries, 1000x1000 over 3 queries, 6 hops) on stdout. `users` may be `-` for the simulator's default,
//! `export-dir` `-` for none; `zipf` is the simulator's user-activity exponent (default 0.8; lower spreads the
//! transfers over more users, so a world of many addresses with few transfers each).
//!
//! The world is streamed from the simulator straight into the graph builder (no in-memory copy of the
//! transfers), so worlds of 10^7 addresses fit in a few GB.
//!
//! Each query set also prints a digest: a hash of every report (links with their evidence, truncations,
//! exits skipped, nodes visited) in query order. Two builds that print the same digest for the same world
//! gave the same answers.
//!
//! Environment:
//! - `CLB_CACHE=dir`: keep the built graph (`graph.snap`) and the labels (`labels.tsv`) in `dir` and reuse them
//!   on the next run with the same arguments (the directory is per world: the caller picks a new one when the
//!   arguments change);
//! - `CLB_SETS=10,1000`: which query sets to run (the queries are the same whichever run: all are drawn);
//! - `CLB_CLUSTER=0`: skip the per-heuristic clustering lines (the full clustering always runs: links use it);
//! - `CLB_REPEAT=k`: run each query set k times (latency figures cover all runs; the digest the first).
//!
//! Each set also prints the querying thread's on-CPU time per query (Linux), which leaves out time spent
//! waiting for a core: on a shared machine it compares two builds better than the wall-clock latencies do.
//!
//! With `export-dir`, it also writes what `scripts/bench/links_peers.py` needs to answer the same queries
//! with igraph: `edges.bin` (per edge, in edge-id order, three little-endian u32: sender, receiver, seq),
//! `nodes.txt` (node count) and `queries.tsv` (per query: size, index, our milliseconds, links found,
//! truncations, comma-separated `from` ids, comma-separated target ids).

use std::hash::{DefaultHasher, Hasher};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chaintrace_analysis::cluster::{ClusterConfig, Heuristic, NodeLabels, cluster};
use chaintrace_analysis::link::{LinkQuery, LinkReport, Target, links};
use chaintrace_core::{ActorId, Address, Category, Chain, Confidence, Label};
use chaintrace_graph::{Graph, GraphBuilder, NodeId, StoreStamp};
use chaintrace_sim::WorldConfig;
use chaintrace_store::{Batch, StoreError, TransferWriter, WriteStats};
use rand::{Rng, SeedableRng};

type BoxError = Box<dyn std::error::Error>;

/// Pushes every simulated transfer straight into a graph builder.
struct BuilderWriter {
    builder: GraphBuilder,
    failed: Option<String>,
}

impl TransferWriter for BuilderWriter {
    fn write_batch(&mut self, batch: Batch<'_>) -> Result<WriteStats, StoreError> {
        for t in batch.transfers {
            if let Err(e) = self.builder.push(t) {
                self.failed = Some(e.to_string());
                return Err(StoreError::Callback(e.to_string()));
            }
        }
        Ok(WriteStats {
            inserted: batch.transfers.len() as u64,
            duplicates: 0,
        })
    }

    fn unwind(&mut self, chain: Chain, from_block: u64) -> Result<u64, StoreError> {
        Err(StoreError::Callback(format!(
            "benchmark graph writer cannot unwind {chain} from block {from_block}"
        )))
    }
}

fn sim_labels(truth: &chaintrace_sim::GroundTruth) -> Vec<Label> {
    truth
        .labels
        .iter()
        .map(|l| {
            label(
                l.chain,
                l.address,
                &l.label,
                &l.category,
                &l.actor,
                &l.source,
                l.confidence,
            )
        })
        .collect()
}

fn label(
    chain: Chain,
    address: Address,
    text: &str,
    category: &str,
    actor: &str,
    source: &str,
    confidence: u8,
) -> Label {
    Label {
        chain: Some(chain),
        address,
        text: text.to_string(),
        category: Category::normalize(category),
        category_raw: None,
        abuse: None,
        actor: (!actor.is_empty()).then(|| ActorId(actor.to_string())),
        source: source.to_string(),
        confidence: Confidence::new(confidence).unwrap_or(Confidence::UNKNOWN),
    }
}

/// Builds (or reopens from `cache`) the world's graph and labels.
fn world(config: &WorldConfig, cache: Option<&Path>) -> Result<(Graph, Vec<Label>), BoxError> {
    if let Some(dir) = cache {
        let (snap, tsv) = (dir.join("graph.snap"), dir.join("labels.tsv"));
        let opened = match (snap.exists() && tsv.exists()).then(|| Graph::open(&snap)) {
            Some(Ok(g)) => Some(g),
            Some(Err(e)) => {
                // A snapshot of another graph layout version: rebuild it.
                eprintln!("cached world unusable ({e}); generating it again");
                None
            }
            None => None,
        };
        if let Some(g) = opened {
            let t0 = Instant::now();
            let mut labels = Vec::new();
            for line in std::io::BufReader::new(std::fs::File::open(&tsv)?).lines() {
                let line = line?;
                let f: Vec<&str> = line.split('\t').collect();
                let [chain, addr, text, cat, actor, source, conf] = f[..] else {
                    return Err(format!("{}: bad line {line:?}", tsv.display()).into());
                };
                labels.push(label(
                    chain.parse()?,
                    addr.parse()?,
                    text,
                    cat,
                    actor,
                    source,
                    conf.parse()?,
                ));
            }
            println!(
                "reopened cached world {} in {:.1}s",
                dir.display(),
                t0.elapsed().as_secs_f64()
            );
            return Ok((g, labels));
        }
    }
    let t0 = Instant::now();
    let mut w = BuilderWriter {
        builder: GraphBuilder::new(),
        failed: None,
    };
    let truth = chaintrace_sim::generate(config, &mut w);
    if let Some(e) = w.failed {
        return Err(e.into());
    }
    let truth = truth?;
    let labels = sim_labels(&truth);
    let stats = truth.stats.transfers;
    drop(truth);
    println!(
        "generated {} transfers in {:.1}s",
        stats,
        t0.elapsed().as_secs_f64()
    );
    let t0 = Instant::now();
    let g = w.builder.finish(StoreStamp::default())?;
    println!("graph built in {:.1}s", t0.elapsed().as_secs_f64());
    if let Some(dir) = cache {
        std::fs::create_dir_all(dir)?;
        g.save(&dir.join("graph.snap"))?;
        let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("labels.tsv"))?);
        for l in &truth_rows(&labels) {
            writeln!(out, "{l}")?;
        }
        out.flush()?;
    }
    Ok((g, labels))
}

fn truth_rows(labels: &[Label]) -> Vec<String> {
    labels
        .iter()
        .map(|l| {
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                l.chain.unwrap_or(Chain::Ethereum),
                l.address,
                l.text,
                l.category,
                l.actor.as_ref().map_or("", |a| a.0.as_str()),
                l.source,
                l.confidence.value()
            )
        })
        .collect()
}

/// Time the calling thread has spent on a CPU (Linux `/proc/thread-self/schedstat`; 0 where unavailable).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0)
}

/// Feeds formatted text into a hasher without building the string.
struct HashWriter<'h>(&'h mut DefaultHasher);

impl std::fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

/// Hash of everything a report says (its `Debug` text), for before/after comparisons.
fn digest_report(h: &mut DefaultHasher, r: &LinkReport) -> Result<(), BoxError> {
    use std::fmt::Write as _;
    write!(HashWriter(h), "{r:?}")?;
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let transfers: u64 = args.get(1).map_or(Ok(1_000_000), |s| s.parse())?;
    let users: Option<u32> = args.get(2).filter(|s| *s != "-").map(|s| s.parse()).transpose()?;
    let seed: u64 = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let export = args.get(4).filter(|s| *s != "-").map(PathBuf::from);
    let zipf: Option<f64> = args.get(5).map(|s| s.parse()).transpose()?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let cache = env("CLB_CACHE").map(PathBuf::from);
    let sets: Vec<usize> = env("CLB_SETS")
        .unwrap_or_else(|| "10,1000".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let per_heuristic = env("CLB_CLUSTER").is_none_or(|v| v != "0");
    let repeat: usize = env("CLB_REPEAT").map_or(Ok(1), |v| v.parse())?;
    let mut config = WorldConfig {
        users,
        ..WorldConfig::new(seed, transfers)
    };
    if let Some(z) = zipf {
        config.zipf_exponent = z;
    }
    let (g, labels) = world(&config, cache.as_deref())?;
    println!("graph: {} nodes, {} edges", g.node_count(), g.edge_count());
    if let Some(dir) = &export {
        std::fs::create_dir_all(dir)?;
        let t0 = Instant::now();
        let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("edges.bin"))?);
        for src in 0..g.node_count() {
            for e in g.out_edges(src) {
                for v in [src, g.edge_dst(e), g.edge_seq(e)] {
                    w.write_all(&v.to_le_bytes())?;
                }
            }
        }
        w.flush()?;
        std::fs::write(dir.join("nodes.txt"), format!("{}\n", g.node_count()))?;
        println!(
            "exported edges to {} in {:.1}s",
            dir.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    let mut queries_out = match &export {
        Some(dir) => Some(std::io::BufWriter::new(std::fs::File::create(
            dir.join("queries.tsv"),
        )?)),
        None => None,
    };
    let t0 = Instant::now();
    let nl = NodeLabels::new(&g, &labels);
    println!(
        "labels: {} labeled nodes in {:.3}s",
        nl.labeled_nodes(),
        t0.elapsed().as_secs_f64()
    );
    let t0 = Instant::now();
    let c = cluster(&g, &nl, &[], &ClusterConfig::default())?;
    let s = c.stats();
    println!(
        "cluster: {} nodes in {:.2}s; merges {:?} (same_address, deposit_reuse, self_approval, gas_funder); \
         {} clusters >= 2 holding {} nodes; {} hubs, {} service nodes, {} refused",
        s.nodes,
        t0.elapsed().as_secs_f64(),
        s.merges,
        s.multi_member_clusters,
        s.clustered_nodes,
        s.hub_nodes,
        s.service_nodes,
        c.refused().len()
    );
    let mut digest = DefaultHasher::new();
    for x in 0..g.node_count() {
        digest.write_u32(c.cluster_of(x));
    }
    {
        use std::fmt::Write as _;
        write!(
            HashWriter(&mut digest),
            "{:?} {:?} {:?}",
            c.merges(),
            c.refused(),
            c.stats()
        )?;
    }
    println!("cluster digest {:016x}", digest.finish());
    if per_heuristic {
        for h in Heuristic::ALL {
            let t0 = Instant::now();
            let c = cluster(&g, &nl, &[], &ClusterConfig::only(&[h]))?;
            println!(
                "  {h} alone: {:.2}s, {} merges",
                t0.elapsed().as_secs_f64(),
                c.merges().len()
            );
        }
    }

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = g.node_count();
    let pick = |k: usize, rng: &mut rand_chacha::ChaCha8Rng| -> Vec<NodeId> {
        (0..k)
            .map(|_| rng.random_range(0..n))
            .filter(|&x| !nl.is_exit(x))
            .collect()
    };
    // Every set is drawn (in this order) whichever sets run, so a set's queries never depend on the others.
    let all: Vec<(usize, Vec<LinkQuery>)> = [(10usize, 40usize), (1000, 3)]
        .into_iter()
        .map(|(size, runs)| {
            let qs = (0..runs)
                .map(|_| {
                    let from = pick(size, &mut rng);
                    let to = pick(size, &mut rng);
                    LinkQuery {
                        max_hops: 6,
                        ..LinkQuery::new(from, Target::Nodes(to))
                    }
                })
                .collect();
            (size, qs)
        })
        .collect();
    for (size, qs) in all.iter().filter(|(size, _)| sets.contains(size)) {
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        let (mut found, mut truncated, mut visited, mut exits) = (0usize, 0usize, 0u64, 0u64);
        let mut digest = DefaultHasher::new();
        for round in 0..repeat {
            for (i, q) in qs.iter().enumerate() {
                let (t0, c0) = (Instant::now(), thread_cpu_ns());
                let r = links(&g, &nl, Some(&c), q)?;
                let secs = t0.elapsed().as_secs_f64();
                times.push(secs);
                cpu.push((thread_cpu_ns().saturating_sub(c0)) as f64 / 1e9);
                if round > 0 {
                    continue;
                }
                found += r.links.len();
                truncated += r.truncated.len();
                visited += r.visited;
                exits += r.exits_skipped;
                digest_report(&mut digest, &r)?;
                if let (Some(w), Target::Nodes(to)) = (queries_out.as_mut(), &q.to) {
                    let join = |v: &[NodeId]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
                    writeln!(
                        w,
                        "{size}\t{i}\t{:.3}\t{}\t{}\t{}\t{}",
                        secs * 1000.0,
                        r.links.len(),
                        r.truncated.len(),
                        join(&q.from),
                        join(to)
                    )?;
                }
            }
        }
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        let p = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize] * 1000.0;
        println!(
            "link {size}x{size}, 6 hops, {} queries: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms; {} links, {} \
             truncations, {} visited, {} exits skipped; digest {:016x}",
            qs.len() * repeat,
            p(0.5),
            p(0.95),
            p(1.0),
            found,
            truncated,
            visited,
            exits,
            digest.finish()
        );
        if *size >= 1000 {
            let each: Vec<String> = times.iter().map(|t| format!("{:.0}", t * 1000.0)).collect();
            println!("  each (ms, query order): {}", each.join(" "));
        }
        if cpu.iter().any(|&c| c > 0.0) {
            // On-CPU time of the querying thread: what a query costs when the machine is shared (waiting for
            // a core is left out), for comparing builds on a loaded machine.
            cpu.sort_by(f64::total_cmp);
            let p = |q: f64| cpu[((cpu.len() as f64 - 1.0) * q).round() as usize] * 1000.0;
            println!(
                "  on-cpu: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
                p(0.5),
                p(0.95),
                p(1.0)
            );
        }
    }
    if let Some(mut w) = queries_out {
        w.flush()?;
    }
    Ok(())
}

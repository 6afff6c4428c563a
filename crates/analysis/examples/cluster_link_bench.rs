//! Measures clustering and link discovery on a simulated world.
//!
//! `cargo run --release -p chaintrace-analysis --example cluster_link_bench -- [transfers] [users] [seed]
//! [export-dir]` prints graph size, clustering time and link-query latencies (10x10 p50/p95 over 40 queries,
//! 1000x1000 over 3 queries, 6 hops) on stdout. `users` may be `-` for the simulator's default.
//!
//! With `export-dir`, it also writes what `scripts/bench/links_peers.py` needs to answer the same queries
//! with igraph: `edges.bin` (per edge, in edge-id order, three little-endian u32: sender, receiver, seq),
//! `nodes.txt` (node count) and `queries.tsv` (per query: size, index, our milliseconds, links found,
//! truncations, comma-separated `from` ids, comma-separated target ids).

use std::io::Write;
use std::time::Instant;

use chaintrace_analysis::cluster::{ClusterConfig, Heuristic, NodeLabels, cluster};
use chaintrace_analysis::link::{LinkQuery, Target, links};
use chaintrace_core::{ActorId, Category, Confidence, Label};
use chaintrace_graph::{Graph, NodeId, StoreStamp};
use chaintrace_sim::{WorldConfig, generate_in_memory};
use rand::{Rng, SeedableRng};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let transfers: u64 = args.get(1).map_or(Ok(1_000_000), |s| s.parse())?;
    let users: Option<u32> = args.get(2).filter(|s| *s != "-").map(|s| s.parse()).transpose()?;
    let seed: u64 = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let export = args.get(4).map(std::path::PathBuf::from);
    let config = WorldConfig {
        users,
        ..WorldConfig::new(seed, transfers)
    };
    let t0 = Instant::now();
    let (mem, truth) = generate_in_memory(&config)?;
    println!(
        "generated {} transfers in {:.1}s",
        mem.transfers.len(),
        t0.elapsed().as_secs_f64()
    );
    let t0 = Instant::now();
    let g = Graph::from_transfers(mem.transfers, StoreStamp::default())?;
    println!(
        "graph: {} nodes, {} edges, built in {:.1}s",
        g.node_count(),
        g.edge_count(),
        t0.elapsed().as_secs_f64()
    );
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
    let labels: Vec<Label> = truth
        .labels
        .iter()
        .map(|l| Label {
            chain: Some(l.chain),
            address: l.address,
            text: l.label.clone(),
            category: Category::normalize(&l.category),
            category_raw: None,
            abuse: None,
            actor: (!l.actor.is_empty()).then(|| ActorId(l.actor.clone())),
            source: l.source.clone(),
            confidence: Confidence::new(l.confidence).unwrap_or(Confidence::UNKNOWN),
        })
        .collect();
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

    for h in Heuristic::ALL {
        let t0 = Instant::now();
        let c = cluster(&g, &nl, &[], &ClusterConfig::only(&[h]))?;
        println!(
            "  {h} alone: {:.2}s, {} merges",
            t0.elapsed().as_secs_f64(),
            c.merges().len()
        );
    }

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = g.node_count();
    let pick = |k: usize, rng: &mut rand_chacha::ChaCha8Rng| -> Vec<NodeId> {
        (0..k)
            .map(|_| rng.random_range(0..n))
            .filter(|&x| !nl.is_exit(x))
            .collect()
    };
    for (size, runs) in [(10usize, 40usize), (1000, 3)] {
        let mut times = Vec::new();
        let mut found = 0usize;
        let mut truncated = 0usize;
        for i in 0..runs {
            let from = pick(size, &mut rng);
            let to = pick(size, &mut rng);
            let q = LinkQuery {
                max_hops: 6,
                ..LinkQuery::new(from, Target::Nodes(to))
            };
            let t0 = Instant::now();
            let r = links(&g, &nl, Some(&c), &q)?;
            let secs = t0.elapsed().as_secs_f64();
            times.push(secs);
            found += r.links.len();
            truncated += r.truncated.len();
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
        times.sort_by(f64::total_cmp);
        let p = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize] * 1000.0;
        println!(
            "link {size}x{size}, 6 hops, {runs} queries: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms; {} links, {} truncations",
            p(0.5),
            p(0.95),
            p(1.0),
            found,
            truncated
        );
    }
    if let Some(mut w) = queries_out {
        w.flush()?;
    }
    Ok(())
}

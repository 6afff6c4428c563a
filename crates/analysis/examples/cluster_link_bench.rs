//! Measures clustering and link discovery on a simulated world.
//!
//! `cargo run --release -p chaintrace-analysis --example cluster_link_bench -- [transfers] [users] [seed]`
//! prints graph size, clustering time and link-query latencies (10x10 p50/p95 over 40 queries, 1000x1000
//! over 3 queries, 6 hops) on stdout.

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
    let users: Option<u32> = args.get(2).map(|s| s.parse()).transpose()?;
    let seed: u64 = args.get(3).map_or(Ok(1), |s| s.parse())?;
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
        for _ in 0..runs {
            let from = pick(size, &mut rng);
            let to = pick(size, &mut rng);
            let q = LinkQuery {
                max_hops: 6,
                ..LinkQuery::new(from, Target::Nodes(to))
            };
            let t0 = Instant::now();
            let r = links(&g, &nl, Some(&c), &q)?;
            times.push(t0.elapsed().as_secs_f64());
            found += r.links.len();
            truncated += r.truncated.len();
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
    Ok(())
}

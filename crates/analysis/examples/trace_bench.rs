//! Measures graph build, snapshot save/open and trace times on a random graph.
//!
//! `cargo run --release -p chaintrace-analysis --example trace_bench -- [transfers] [addresses] [assets 1..3]`

use std::time::Instant;

use chaintrace_analysis::trace::{Model, NoExits, TraceRequest, trace};
use chaintrace_core::{Address, Asset, Chain, Position, Transfer, TransferKind, TxHash, U256};
use chaintrace_graph::{Graph, StoreStamp};
use rand::{Rng, SeedableRng};

fn addr(i: u64) -> Address {
    let mut a = [0u8; 20];
    a[..8].copy_from_slice(&i.to_be_bytes());
    a[8..16].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    Address(a)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let nodes: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(n / 4);
    let n_assets: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1).clamp(1, 3);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let tokens = [
        Asset::Native,
        Asset::Token(addr(u64::MAX)),
        Asset::Token(addr(u64::MAX - 1)),
    ];
    let t0 = Instant::now();
    let transfers: Vec<Transfer> = (0..n)
        .map(|i| {
            let block = i / 50;
            let mut h = [0u8; 32];
            rng.fill(&mut h[..]);
            Transfer {
                chain: Chain::Ethereum,
                block,
                timestamp: 1_600_000_000 + block * 12,
                tx_hash: TxHash(h),
                position: Position::Tx,
                from: addr(rng.random_range(0..nodes)),
                to: addr(rng.random_range(0..nodes)),
                asset: tokens[rng.random_range(0..n_assets)],
                amount: U256::from(rng.random_range(1u128..1u128 << 80)),
                kind: TransferKind::Native,
                tx_from: Address::ZERO,
                tx_fee: U256::ZERO,
                gas_price: U256::ZERO,
            }
        })
        .collect();
    let start = transfers[0].from;
    eprintln!(
        "generated {n} transfers over {nodes} addresses in {:.2}s",
        t0.elapsed().as_secs_f64()
    );

    let t0 = Instant::now();
    let g = Graph::from_transfers(transfers, StoreStamp::default()).expect("build");
    let build = t0.elapsed().as_secs_f64();
    let sz = g.section_sizes();
    let per = |b: u64| b as f64 / n as f64;
    println!("build: {build:.2}s for {n} transfers, {} nodes", g.node_count());
    println!(
        "bytes/transfer: total {:.1} = edges {:.1} + nodes {:.1} + blocks/txs {:.1} + tx hashes {:.1} + other {:.1}",
        per(sz.total),
        per(sz.edges),
        per(sz.nodes),
        per(sz.blocks_and_txs),
        per(sz.tx_hashes),
        per(sz.other)
    );
    let dir = std::env::temp_dir().join(format!("chaintrace-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("graph.snapshot");
    let t0 = Instant::now();
    g.save(&path).expect("save");
    println!("save: {:.2}s", t0.elapsed().as_secs_f64());
    drop(g);
    let t0 = Instant::now();
    let g = Graph::open(&path).expect("open");
    println!(
        "open (mmap + checksum + validation): {:.3}s",
        t0.elapsed().as_secs_f64()
    );

    // Start at the sender of the earliest transfer, so the trace has the whole history ahead of it.
    for model in [Model::Poison, Model::Haircut, Model::Fifo] {
        for hops in [3, 6] {
            let mut req = TraceRequest::new(vec![(Chain::Ethereum, start)]);
            req.model = model;
            req.max_hops = hops;
            let t0 = Instant::now();
            let r = trace(&g, &req, &NoExits).expect("trace");
            println!(
                "trace {model} max_hops {hops}: {:.3}s, {} destinations, {} holding, {} truncated",
                t0.elapsed().as_secs_f64(),
                r.destinations.len(),
                r.holding.len(),
                r.truncated.len()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

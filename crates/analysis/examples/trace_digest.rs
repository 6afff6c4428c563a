//! Writes one digest line per start of a benchmark world (`trace-bench prepare`), for before/after equality
//! checks of the tracing engines: the start, the numbers of destinations, holdings, exits and truncations,
//! and a hash of the whole `TraceResult` (amounts, hops, paths and summary included), plus the total time.
//!
//! `cargo run --release -p chaintrace-analysis --example trace_digest -- DIR HOPS MODEL OUT`
//! (MODEL: poison, haircut or fifo; same requests and exits as `trace-bench run`). Compare two outputs with
//! `diff`.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use chaintrace_analysis::trace::{ExitCategory, ExitInfo, Model, TraceRequest, trace};
use chaintrace_graph::{Graph, NodeId};

fn ids(path: &Path) -> Vec<NodeId> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .map(|l| l.trim().parse().expect("a node id per line"))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, hops, model, out] = args.as_slice() else {
        eprintln!("usage: trace_digest DIR HOPS MODEL OUT");
        std::process::exit(2);
    };
    let dir = Path::new(dir);
    let hops: u32 = hops.parse().expect("HOPS is a number");
    let model = match model.as_str() {
        "poison" => Model::Poison,
        "haircut" => Model::Haircut,
        "fifo" => Model::Fifo,
        other => panic!("unknown model {other:?}"),
    };
    let g = Graph::open(&dir.join("graph.snapshot")).expect("opening the snapshot");
    let info = ExitInfo {
        category: ExitCategory::Other("labeled".into()),
        name: "sim label".into(),
    };
    let oracle: HashMap<_, _> = ids(&dir.join("exits.txt"))
        .into_iter()
        .map(|n| (g.node_key(n), info.clone()))
        .collect();
    let mut f = std::io::BufWriter::new(std::fs::File::create(out).expect("creating OUT"));
    let mut total = 0.0;
    for s in ids(&dir.join("starts.txt")) {
        let mut req = TraceRequest::new(vec![g.node_key(s)]);
        req.model = model;
        req.max_hops = hops;
        req.fan_out_cap = u32::MAX;
        let t = Instant::now();
        let r = trace(&g, &req, &oracle).expect("trace");
        total += t.elapsed().as_secs_f64();
        let mut h = DefaultHasher::new();
        format!("{r:?}").hash(&mut h);
        writeln!(
            f,
            "{s} {} {} {} {} {:016x}",
            r.destinations.len(),
            r.holding.len(),
            r.exits.len(),
            r.truncated.len(),
            h.finish()
        )
        .expect("writing OUT");
    }
    eprintln!("total trace time {total:.3} s");
}

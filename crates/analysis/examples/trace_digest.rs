//! Writes one digest line per start of a benchmark world (`trace-bench prepare`), for before/after equality
//! checks of the tracing engines: the start, the numbers of destinations, holdings, exits and truncations,
//! and a hash of the whole `TraceResult` (amounts, hops, paths and summary included), plus the total time.
//!
//! `cargo run --release -p chaintrace-analysis --example trace_digest -- DIR HOPS MODEL OUT`
//! (MODEL: poison, haircut or fifo; same requests and exits as `trace-bench run`). Compare two outputs with
//! `diff`. Also prints the total trace time, the on-CPU time of the traces (thread schedstat: not counting
//! waits for a core) and the process CPU time (user+sys) of the loop (digest formatting included). A sixth argument `index` (or `index:SPACING`) builds a `BalanceIndex` first and traces with it.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use chaintrace_analysis::trace::{
    BalanceIndex, ConversionOptions, DEFAULT_SPACING, ExitCategory, ExitInfo, Model, TraceRequest,
    trace_indexed,
};
use chaintrace_graph::{Graph, NodeId};

fn ids(path: &Path) -> Vec<NodeId> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .map(|l| l.trim().parse().expect("a node id per line"))
        .collect()
}

/// On-CPU time of this thread so far in nanoseconds (`/proc/thread-self/schedstat`, first field; 0 where it
/// cannot be read): unlike wall time, it does not count time spent waiting for a core on a busy machine.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0)
}

/// User + system CPU time of this process so far (from /proc; 0 where it cannot be read).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    ticks as f64 / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, hops, model, out, index) = match args.as_slice() {
        [_, dir, hops, model, out] => (dir, hops, model, out, None),
        [_, dir, hops, model, out, ix] if ix.starts_with("index") => (dir, hops, model, out, Some(ix)),
        _ => {
            eprintln!("usage: trace_digest DIR HOPS MODEL OUT [index[:SPACING]]");
            std::process::exit(2);
        }
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
    let index = index.map(|ix| {
        let spacing = ix
            .strip_prefix("index:")
            .map_or(DEFAULT_SPACING, |s| s.parse().expect("SPACING is a number"));
        let t = Instant::now();
        let ix = BalanceIndex::build_with_spacing(&g, spacing);
        eprintln!(
            "balance index: spacing {spacing}, {} pairs, {} checkpoints, {} bytes, built in {:.3} s",
            ix.pair_count(),
            ix.checkpoint_count(),
            ix.bytes(),
            t.elapsed().as_secs_f64()
        );
        ix
    });
    let mut f = std::io::BufWriter::new(std::fs::File::create(out).expect("creating OUT"));
    let mut total = 0.0;
    let mut on_cpu = 0u64;
    let cpu0 = cpu_s();
    for s in ids(&dir.join("starts.txt")) {
        let mut req = TraceRequest::new(vec![g.node_key(s)]);
        req.model = model;
        req.max_hops = hops;
        req.fan_out_cap = u32::MAX;
        let c = thread_cpu_ns();
        let t = Instant::now();
        let r = trace_indexed(
            &g,
            &req,
            &oracle,
            &[],
            ConversionOptions::default(),
            index.as_ref(),
        )
        .expect("trace");
        total += t.elapsed().as_secs_f64();
        on_cpu += thread_cpu_ns().saturating_sub(c);
        let mut h = DefaultHasher::new();
        format!("{:?}", v1::TraceResult::of(&r)).hash(&mut h);
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
    eprintln!(
        "total trace time {total:.3} s, traces on cpu {:.3} s, process cpu (user+sys) {:.2} s",
        on_cpu as f64 * 1e-9,
        cpu_s() - cpu0
    );
}

/// The result in the shape it had when the first digests were written (session 4: every destination and exit
/// with a `steps` list): the same `Debug` text, so digests stay comparable across the change to
/// `PathSegment`s. Field names and order are those of the old types.
#[allow(dead_code)] // the fields are read through `Debug` only
mod v1 {
    use chaintrace_analysis::trace as t;

    #[derive(Debug)]
    pub(super) struct TraceResult<'a> {
        model: t::Model,
        direction: t::Direction,
        destinations: Vec<Destination<'a>>,
        holding: &'a [t::Holding],
        exits: Vec<Exit<'a>>,
        truncated: &'a [t::Truncation],
        summary: &'a [t::AssetSummary],
        conversions: &'a [t::ConversionUse],
    }

    #[derive(Debug)]
    struct Destination<'a> {
        model: t::Model,
        chain: chaintrace_core::Chain,
        address: chaintrace_core::Address,
        asset: chaintrace_core::Asset,
        amount: chaintrace_core::U256,
        hops: u32,
        path: &'a [t::PathStep],
        steps: Vec<t::TraceStep>,
        is_exit: bool,
    }

    #[derive(Debug)]
    struct Exit<'a> {
        model: t::Model,
        chain: chaintrace_core::Chain,
        address: chaintrace_core::Address,
        asset: chaintrace_core::Asset,
        amount: chaintrace_core::U256,
        info: &'a t::ExitInfo,
        hops: u32,
        path: &'a [t::PathStep],
        steps: Vec<t::TraceStep>,
    }

    impl<'a> TraceResult<'a> {
        pub(super) fn of(r: &'a t::TraceResult) -> Self {
            TraceResult {
                model: r.model,
                direction: r.direction,
                destinations: r
                    .destinations
                    .iter()
                    .map(|d| Destination {
                        model: d.model,
                        chain: d.chain,
                        address: d.address,
                        asset: d.asset,
                        amount: d.amount,
                        hops: d.hops,
                        path: &d.path,
                        steps: d.steps(),
                        is_exit: d.is_exit,
                    })
                    .collect(),
                holding: &r.holding,
                exits: r
                    .exits
                    .iter()
                    .map(|x| Exit {
                        model: x.model,
                        chain: x.chain,
                        address: x.address,
                        asset: x.asset,
                        amount: x.amount,
                        info: &x.info,
                        hops: x.hops,
                        path: &x.path,
                        steps: x.steps(),
                    })
                    .collect(),
                truncated: &r.truncated,
                summary: &r.summary,
                conversions: &r.conversions,
            }
        }
    }
}

//! `chaintrace link --from ADDR... (--to ADDR... | --to-actor ACTOR | --to-category CAT)`: what connects
//! the `--from` addresses to the targets, each link with its evidence.
//!
//! Runs `chaintrace_analysis::link::links` over the store's graph snapshot, with the stored labels (exits,
//! actor and category targets) and the default clustering (for `same_cluster` links).
//!
//! JSON contract (fields may be added, never removed or renamed):
//! `{"schema_version": 1, "from": [{"chain","address"}], "target": {"kind","value"}, "max_hops", "targets",
//!   "links": [{"kind","direction","from": {"chain","address"},"to": {..},"hops",
//!   "evidence": [{"kind","chain","tx_hashes": [..],"addresses": [..],"detail"}]}],
//!   "truncated": [{"chain","address","direction","qualifying","followed"}], "exits_skipped"}`.

use std::io::Write;
use std::time::Instant;

use anyhow::bail;
use chaintrace_analysis::link::{self, DEFAULT_FAN_OUT_CAP, DEFAULT_MAX_HOPS, LinkQuery, LinkReport, Target};
use chaintrace_core::{Category, Chain};
use chaintrace_graph::{Graph, NodeId};
use serde_json::{Value, json};

use crate::cmd::cluster::{OutFormat, cluster_all, load, node_json, resolve};
use crate::opts::GlobalOpts;

/// Arguments.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["to", "to_actor", "to_category"])))]
pub(crate) struct Args {
    /// Start address; repeat or list several.
    #[arg(long, value_name = "ADDR", num_args = 1.., required = true)]
    from: Vec<String>,
    /// Target address; repeat or list several.
    #[arg(long, value_name = "ADDR", num_args = 1..)]
    to: Vec<String>,
    /// Every address labeled with this actor (id, name or alias).
    #[arg(long, value_name = "ACTOR")]
    to_actor: Option<String>,
    /// Every address labeled with this category (exchange, mixer, bridge, defi, perpetrator, ...).
    #[arg(long, value_name = "CAT")]
    to_category: Option<String>,
    /// Most transfers on a path.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_HOPS)]
    max_hops: u32,
    /// Most transfers expanded per address; beyond, the address is reported as truncated.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FAN_OUT_CAP)]
    fan_out_cap: u32,
    /// Resolve the addresses on this chain only (default: every chain they are active on).
    #[arg(long, value_name = "CHAIN")]
    chain: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutFormat::Table)]
    format: OutFormat,
}

pub(crate) fn run(global: &GlobalOpts, args: Args) -> anyhow::Result<()> {
    let chain: Option<Chain> = args.chain.as_deref().map(str::parse).transpose()?;
    let category = match &args.to_category {
        Some(c) => match Category::from_name(&c.trim().to_ascii_lowercase()) {
            Some(c) => Some(c),
            None => {
                let names: Vec<&str> = Category::ALL.iter().map(|c| c.name()).collect();
                bail!("unknown category {c:?} (expected one of {})", names.join(", "))
            }
        },
        None => None,
    };
    let (store, graph, labels) = load(global)?;
    let mut from: Vec<NodeId> = Vec::new();
    for a in &args.from {
        from.extend(resolve(&graph, a, chain)?);
    }
    let (target, target_json) = if let Some(actor) = &args.to_actor {
        let Some(found) = store.actor(actor)? else {
            // Labels may name an actor without an actor record; accept those too.
            if labels.nodes_of_actor(actor).is_empty() {
                bail!("unknown actor {actor:?}: no actor record and no label names it");
            }
            let t = Target::Actor(actor.clone());
            return finish(
                &graph,
                &labels,
                from,
                t,
                json!({"kind": "actor", "value": actor}),
                &args,
            );
        };
        (
            Target::Actor(found.id.0.clone()),
            json!({"kind": "actor", "value": found.id.as_str()}),
        )
    } else if let Some(c) = category {
        (
            Target::Category(c),
            json!({"kind": "category", "value": c.name()}),
        )
    } else {
        let mut to = Vec::new();
        for a in &args.to {
            to.extend(resolve(&graph, a, chain)?);
        }
        (Target::Nodes(to), json!({"kind": "addresses", "value": args.to}))
    };
    finish(&graph, &labels, from, target, target_json, &args)
}

fn finish(
    graph: &Graph,
    labels: &chaintrace_analysis::cluster::NodeLabels,
    from: Vec<NodeId>,
    target: Target,
    target_json: Value,
    args: &Args,
) -> anyhow::Result<()> {
    let clustering = cluster_all(graph, labels)?;
    let query = LinkQuery {
        max_hops: args.max_hops,
        fan_out_cap: args.fan_out_cap,
        ..LinkQuery::new(from, target)
    };
    let t0 = Instant::now();
    let report = link::links(graph, labels, Some(&clustering), &query)?;
    eprintln!(
        "searched {} targets in {:.3}s: {} links, {} nodes visited, {} truncated, {} exits not crossed",
        report.targets,
        t0.elapsed().as_secs_f64(),
        report.links.len(),
        report.visited,
        report.truncated.len(),
        report.exits_skipped
    );
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        OutFormat::Json => {
            let v = report_json(graph, &query, target_json, &report);
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        OutFormat::Table => write_table(&mut out, graph, &report)?,
    }
    out.flush()?;
    Ok(())
}

fn report_json(graph: &Graph, q: &LinkQuery, target: Value, r: &LinkReport) -> Value {
    json!({
        "schema_version": 1,
        "from": q.from.iter().map(|&n| node_json(graph, n)).collect::<Vec<_>>(),
        "target": target,
        "max_hops": q.max_hops,
        "targets": r.targets,
        "links": r.links.iter().map(|l| json!({
            "kind": l.kind.name(),
            "direction": l.direction.name(),
            "from": node_json(graph, l.from),
            "to": node_json(graph, l.to),
            "hops": l.hops,
            "evidence": l.evidence.iter().map(|e| json!({
                "kind": e.kind.name(),
                "chain": e.chain.name(),
                "tx_hashes": e.tx_hashes.iter().map(|h| h.to_hex()).collect::<Vec<_>>(),
                "addresses": e.addresses.iter().map(|a| a.json_for(e.chain)).collect::<Vec<_>>(),
                "detail": e.detail,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "truncated": r.truncated.iter().map(|t| {
            let mut v = node_json(graph, t.node);
            v["direction"] = json!(t.direction.name());
            v["qualifying"] = json!(t.qualifying);
            v["followed"] = json!(t.followed);
            v
        }).collect::<Vec<_>>(),
        "exits_skipped": r.exits_skipped,
    })
}

fn text(graph: &Graph, n: NodeId) -> String {
    let (c, a) = graph.node_key(n);
    format!("{}:{}", c, a.display_for(c))
}

fn write_table(out: &mut impl Write, graph: &Graph, r: &LinkReport) -> anyhow::Result<()> {
    if r.links.is_empty() {
        writeln!(out, "no links found ({} targets)", r.targets)?;
    }
    for l in &r.links {
        let hops = if l.hops > 0 {
            format!(", {} hop(s)", l.hops)
        } else {
            String::new()
        };
        writeln!(
            out,
            "{} {} {}  [{} {}{hops}]",
            text(graph, l.from),
            if l.direction == link::LinkDirection::Incoming {
                "<-"
            } else {
                "->"
            },
            text(graph, l.to),
            l.kind.name(),
            l.direction.name()
        )?;
        for e in &l.evidence {
            writeln!(out, "    {} {}: {}", e.chain, e.kind.name(), e.detail)?;
            for h in &e.tx_hashes {
                writeln!(out, "      tx {}", h.to_hex())?;
            }
        }
    }
    for t in &r.truncated {
        writeln!(
            out,
            "truncated {} ({}): followed {} of {} transfers",
            text(graph, t.node),
            t.direction.name(),
            t.followed,
            t.qualifying
        )?;
    }
    Ok(())
}

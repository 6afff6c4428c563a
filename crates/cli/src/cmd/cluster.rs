//! `chaintrace cluster show ADDR [--chain C]`: the cluster an address belongs to, and why each member is in.
//!
//! Opens the store, loads the graph snapshot (as `trace` does), resolves the stored labels onto it, runs
//! `chaintrace_analysis::cluster::cluster` with the default heuristics and prints the explanation.
//!
//! JSON contract (fields may be added, never removed or renamed):
//! `{"schema_version": 1, "address", "clusters": [{"cluster": {"chain","address"}, "size",
//!   "members": [{"chain","address","labels": [..],"confidence","path": [{"from","to","heuristic",
//!   "confidence","via","tx_hashes": [{"chain","tx_hash"}],"detail"}]}],
//!   "refused": [{"heuristic","left": {"chain","address","actor","labels"},"right": {..}}]}],
//!   "stats": {..}}`.

use std::io::Write;
use std::time::Instant;

use anyhow::bail;
use chaintrace_analysis::cluster::{
    ClusterConfig, Clustering, Explanation, Heuristic, NodeLabels, RefusedSide, cluster,
};
use chaintrace_core::{Address, Chain};
use chaintrace_graph::{Graph, NodeId};
use chaintrace_store::Store;
use serde_json::{Value, json};

use crate::graph_load::{load_graph, load_labels};
use crate::opts::GlobalOpts;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub(crate) enum OutFormat {
    /// Aligned text for people.
    #[default]
    Table,
    /// One JSON object with `schema_version`.
    Json,
}

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ClusterCommand {
    /// Show the cluster of an address and why each member is in it.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// The address (0x-hex or Tron base58).
    address: String,
    /// Only the address on this chain (default: every chain it is active on).
    #[arg(long, value_name = "CHAIN")]
    chain: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutFormat::Table)]
    format: OutFormat,
}

pub(crate) fn run(global: &GlobalOpts, args: Args) -> anyhow::Result<()> {
    match args.command {
        ClusterCommand::Show(a) => show(global, a),
    }
}

/// The store's graph (snapshot, rebuilt when stale) and its labels resolved onto it.
pub(crate) fn load(global: &GlobalOpts) -> anyhow::Result<(Store, Graph, NodeLabels)> {
    let store = global.open_store()?;
    let dir = global.data_dir()?;
    let graph = load_graph(&store, &dir, false)?;
    let labels = load_labels(&store)?;
    let node_labels = NodeLabels::new(&graph, &labels);
    Ok((store, graph, node_labels))
}

/// Resolves an address argument to graph nodes: on `chain` only, or on every chain it is active on.
pub(crate) fn resolve(graph: &Graph, text: &str, chain: Option<Chain>) -> anyhow::Result<Vec<NodeId>> {
    let address = Address::parse(text)?;
    let nodes: Vec<NodeId> = match chain {
        Some(c) => graph.node(c, address).into_iter().collect(),
        None => graph
            .chains()
            .into_iter()
            .filter_map(|c| graph.node(c, address))
            .collect(),
    };
    if nodes.is_empty() {
        match chain {
            Some(c) => bail!("address {text} has no transfers on {c} in the store"),
            None => bail!("address {text} has no transfers in the store"),
        }
    }
    Ok(nodes)
}

/// Clusters the whole graph with the default heuristics (no Approval logs are ingested yet).
pub(crate) fn cluster_all(graph: &Graph, labels: &NodeLabels) -> anyhow::Result<Clustering> {
    let t0 = Instant::now();
    let c = cluster(graph, labels, &[], &ClusterConfig::default())?;
    let s = c.stats();
    eprintln!(
        "clustered {} nodes in {:.2}s: {} clusters of 2 or more ({} nodes), {} refused merges",
        s.nodes,
        t0.elapsed().as_secs_f64(),
        s.multi_member_clusters,
        s.clustered_nodes,
        c.refused().len()
    );
    Ok(c)
}

pub(crate) fn node_json(graph: &Graph, n: NodeId) -> Value {
    let (c, a) = graph.node_key(n);
    json!({"chain": c.name(), "address": a.json_for(c)})
}

fn node_text(graph: &Graph, n: NodeId) -> String {
    let (c, a) = graph.node_key(n);
    format!("{}:{}", c, a.display_for(c))
}

fn show(global: &GlobalOpts, args: ShowArgs) -> anyhow::Result<()> {
    let chain: Option<Chain> = args.chain.as_deref().map(str::parse).transpose()?;
    // Validate the address before any expensive work.
    Address::parse(&args.address)?;
    let (_store, graph, labels) = load(global)?;
    let nodes = resolve(&graph, &args.address, chain)?;
    let clustering = cluster_all(&graph, &labels)?;
    let mut seen = Vec::new();
    let mut explanations = Vec::new();
    for n in nodes {
        let c = clustering.cluster_of(n);
        if !seen.contains(&c) {
            seen.push(c);
            explanations.push(clustering.explain(&graph, n)?);
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        OutFormat::Json => {
            let v = json!({
                "schema_version": 1,
                "address": args.address,
                "clusters": explanations.iter().map(|e| explanation_json(&graph, &labels, e)).collect::<Vec<_>>(),
                "stats": stats_json(&clustering),
            });
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        OutFormat::Table => {
            for e in &explanations {
                write_table(&mut out, &graph, &labels, e)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn side_json(graph: &Graph, s: &RefusedSide) -> Value {
    let mut v = node_json(graph, s.node);
    v["labeled"] = node_json(graph, s.labeled_node);
    v["actor"] = json!(s.actor.as_str());
    v["labels"] = json!(s.labels);
    v
}

fn explanation_json(graph: &Graph, labels: &NodeLabels, e: &Explanation) -> Value {
    json!({
        "cluster": node_json(graph, e.cluster),
        "size": e.members.len(),
        "members": e.members.iter().map(|m| json!({
            "chain": m.chain.name(),
            "address": m.address.json_for(m.chain),
            "labels": labels.labels(m.node).iter().map(|l| json!({
                "label": l.text, "category": l.category.name(), "actor": l.actor.as_ref().map(|a| a.as_str()),
                "source": l.source,
            })).collect::<Vec<_>>(),
            "confidence": m.confidence,
            "path": m.path.iter().map(|s| json!({
                "from": node_json(graph, s.from),
                "to": node_json(graph, s.to),
                "heuristic": s.heuristic.name(),
                "confidence": s.heuristic.confidence(),
                "via": s.via.map(|(c, a)| json!({"chain": c.name(), "address": a.json_for(c)})),
                "tx_hashes": s.tx_hashes.iter().map(|(c, h)| json!({"chain": c.name(), "tx_hash": h.to_hex()}))
                    .collect::<Vec<_>>(),
                "detail": s.detail,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "refused": e.refused.iter().map(|r| json!({
            "heuristic": r.merge.heuristic.name(),
            "left": side_json(graph, &r.left),
            "right": side_json(graph, &r.right),
        })).collect::<Vec<_>>(),
    })
}

fn stats_json(c: &Clustering) -> Value {
    let s = c.stats();
    let per = |v: &[u64; 4]| -> Value {
        Heuristic::ALL
            .iter()
            .zip(v)
            .map(|(h, n)| (h.name().to_string(), json!(n)))
            .collect()
    };
    json!({
        "nodes": s.nodes,
        "service_nodes": s.service_nodes,
        "hub_nodes": s.hub_nodes,
        "merges": per(&s.merges),
        "refused": per(&s.refused),
        "deposit_addresses": s.deposit_addresses,
        "faucet_funders": s.faucet_funders,
        "multi_member_clusters": s.multi_member_clusters,
        "clustered_nodes": s.clustered_nodes,
    })
}

fn write_table(
    out: &mut impl Write,
    graph: &Graph,
    labels: &NodeLabels,
    e: &Explanation,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "cluster {} ({} members)",
        node_text(graph, e.cluster),
        e.members.len()
    )?;
    for m in &e.members {
        let label = labels
            .labels(m.node)
            .first()
            .map(|l| format!("  [{}]", l.text))
            .unwrap_or_default();
        let why = if m.path.is_empty() {
            "asked address".to_string()
        } else {
            format!("confidence {}", m.confidence)
        };
        writeln!(out, "  {}  {why}{label}", node_text(graph, m.node))?;
        for s in &m.path {
            let txs: Vec<String> = s.tx_hashes.iter().map(|(_, h)| h.to_hex()).collect();
            writeln!(
                out,
                "      {} -> {}: {}: {}",
                node_text(graph, s.from),
                node_text(graph, s.to),
                s.heuristic,
                s.detail
            )?;
            if !txs.is_empty() {
                writeln!(out, "        tx {}", txs.join(", "))?;
            }
        }
    }
    for r in &e.refused {
        writeln!(
            out,
            "  refused {} merge: {} (actor {}: {}) with {} (actor {}: {})",
            r.merge.heuristic,
            node_text(graph, r.left.node),
            r.left.actor,
            r.left.labels.join("; "),
            node_text(graph, r.right.node),
            r.right.actor,
            r.right.labels.join("; ")
        )?;
    }
    Ok(())
}

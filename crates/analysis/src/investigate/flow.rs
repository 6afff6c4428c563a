//! The flow graph of a report: victims -> exploiters -> intermediate hops -> exits and resting places, built
//! from the loss transfers and the trace paths of the largest exits and holdings. Layers are assigned here;
//! drawing coordinates are the renderer's business.
//!
//! A conversion on a path (a swap, or a bridge from one chain to another) is drawn as its own node of role
//! [`NodeRole::Conversion`] between the owner (before) and the recipient (after); the transfers into the pool
//! or bridge and out of it are folded into it. Addresses after a conversion are separate nodes from the same
//! address before it (a swapper is drawn once holding the old asset and once holding the new one), so the
//! drawing stays acyclic.

use std::collections::{BTreeMap, HashMap, HashSet};

use chaintrace_core::{Address, Asset, Chain, LabelIndex, TxHash, U256};
use chaintrace_graph::{Graph, NodeId};

use super::{Destination, ExitGroup, Loss, Value, Valuer, best_label};
use crate::conversions::{ConversionDetail, ConversionEdge};
use crate::trace::{self, TraceResult, TraceStep};

/// What a node is in the story.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeRole {
    /// A drained address.
    Victim,
    /// An exploiter (or an address of the exploiters' side).
    Exploiter,
    /// A hop in between.
    Intermediate,
    /// A labeled exit, with its category (`exchange`, `mixer`, ...).
    Exit(String),
    /// Where funds rest.
    Holding,
    /// A conversion the funds went through: `swap` (or `wrap`) or `bridge`.
    Conversion(String),
}

impl NodeRole {
    /// Lowercase name used in output.
    pub fn name(&self) -> &str {
        match self {
            NodeRole::Victim => "victim",
            NodeRole::Exploiter => "exploiter",
            NodeRole::Intermediate => "intermediate",
            NodeRole::Exit(_) => "exit",
            NodeRole::Holding => "holding",
            NodeRole::Conversion(_) => "conversion",
        }
    }
}

/// A node of the flow graph.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowNode {
    /// Chain.
    pub chain: Chain,
    /// Address.
    pub address: Address,
    /// Role.
    pub role: NodeRole,
    /// Most telling label text, if any.
    pub label: Option<String>,
    /// Column: 0 victims, 1 exploiters, then hops; exits and end points in the last column.
    pub layer: u32,
}

/// An edge: every drawn transfer from one node to another of one asset, summed.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowEdge {
    /// Index of the sender in [`FlowGraph::nodes`].
    pub from: usize,
    /// Index of the receiver.
    pub to: usize,
    /// Amount moved (sum of the transfers), with USD at each transfer's day.
    pub value: Value,
    /// Transactions, in time order.
    pub tx_hashes: Vec<TxHash>,
    /// Whether these are loss transfers (victim to exploiter).
    pub is_loss: bool,
}

/// Nodes and edges to draw.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FlowGraph {
    /// Nodes, by layer then insertion.
    pub nodes: Vec<FlowNode>,
    /// Edges.
    pub edges: Vec<FlowEdge>,
    /// Exit and holding addresses not drawn (beyond the cap).
    pub omitted_terminals: usize,
}

/// What [`build`] draws from.
#[derive(Debug)]
pub(crate) struct FlowInputs<'a> {
    pub(crate) victims: &'a [NodeId],
    pub(crate) exploiters: &'a [NodeId],
    pub(crate) losses: &'a [Loss],
    pub(crate) exits: &'a [ExitGroup],
    pub(crate) destinations: &'a [Destination],
    pub(crate) labels: &'a LabelIndex,
    pub(crate) max_terminals: usize,
}

struct EdgeAcc {
    raw: U256,
    usd: Option<f64>,
    txs: Vec<(u64, TxHash)>,
    steps: HashSet<(TxHash, Address, Address)>,
    is_loss: bool,
}

pub(crate) fn build(g: &Graph, inp: &FlowInputs<'_>, traced: &TraceResult, valuer: &Valuer<'_>) -> FlowGraph {
    let mut nodes: Vec<FlowNode> = Vec::new();
    // Key: chain, address, and how many conversions the funds crossed to get there (`u32::MAX - stage`: a
    // conversion node at its venue).
    let mut index: HashMap<(Chain, Address, u32), usize> = HashMap::new();
    let mut add_at = |nodes: &mut Vec<FlowNode>,
                      (chain, address, stage): (Chain, Address, u32),
                      role: NodeRole,
                      layer: u32,
                      label: Option<String>|
     -> usize {
        if let Some(&i) = index.get(&(chain, address, stage)) {
            let n: &mut FlowNode = &mut nodes[i];
            if rank(&role) < rank(&n.role) {
                n.role = role;
            }
            n.layer = n.layer.min(layer);
            return i;
        }
        let label =
            label.or_else(|| best_label(inp.labels, chain, address, |_| true).map(|l| l.text.clone()));
        nodes.push(FlowNode {
            chain,
            address,
            role,
            label,
            layer,
        });
        index.insert((chain, address, stage), nodes.len() - 1);
        nodes.len() - 1
    };
    let mut add = |nodes: &mut Vec<FlowNode>, chain: Chain, address: Address, role: NodeRole, layer: u32| {
        add_at(nodes, (chain, address, 0), role, layer, None)
    };
    for &v in inp.victims {
        let (c, a) = g.node_key(v);
        add(&mut nodes, c, a, NodeRole::Victim, 0);
    }
    for &x in inp.exploiters {
        let (c, a) = g.node_key(x);
        add(&mut nodes, c, a, NodeRole::Exploiter, 1);
    }
    let mut edges: BTreeMap<(usize, usize, Chain, Asset), EdgeAcc> = BTreeMap::new();
    let push_edge = |edges: &mut BTreeMap<(usize, usize, Chain, Asset), EdgeAcc>,
                     key: (usize, usize, Chain, Asset),
                     step: (TxHash, Address, Address, u64, U256),
                     is_loss: bool| {
        let acc = edges.entry(key).or_insert_with(|| EdgeAcc {
            raw: U256::ZERO,
            usd: Some(0.0),
            txs: Vec::new(),
            steps: HashSet::new(),
            is_loss,
        });
        if acc.steps.insert((step.0, step.1, step.2)) {
            acc.raw = acc.raw.saturating_add(step.4);
            let v = valuer.value(key.2, key.3, step.4, step.3);
            acc.usd = acc.usd.zip(v.usd).map(|(a, b)| a + b);
            acc.txs.push((step.3, step.0));
        }
    };
    for loss in inp.losses {
        for t in &loss.transfers {
            let c = loss.value.chain;
            let f = add(&mut nodes, c, t.from, NodeRole::Victim, 0);
            let to = add(&mut nodes, c, t.to, NodeRole::Exploiter, 1);
            push_edge(
                &mut edges,
                (f, to, c, loss.value.asset),
                (t.tx_hash, t.from, t.to, t.time, t.value.raw),
                true,
            );
        }
    }

    // Terminals: the largest exit addresses and resting places, by value.
    let mut terminals: Vec<(&Value, Chain, Address, Asset, bool)> = Vec::new();
    for grp in inp.exits {
        for x in &grp.addresses {
            terminals.push((&x.value, x.value.chain, x.address, x.value.asset, true));
        }
    }
    for d in inp.destinations {
        terminals.push((&d.value, d.value.chain, d.address, d.value.asset, false));
    }
    terminals.sort_by(|a, b| super::by_value_desc(a.0, b.0).then(a.2.cmp(&b.2)));
    let total_terminals = terminals.len();
    terminals.truncate(inp.max_terminals);
    let exit_paths: HashMap<(Chain, Address, Asset), &trace::Exit> = traced
        .exits
        .iter()
        .map(|x| ((x.chain, x.address, x.asset), x))
        .collect();
    let dest_paths: HashMap<(Chain, Address, Asset), &trace::Destination> = traced
        .destinations
        .iter()
        .map(|d| ((d.chain, d.address, d.asset), d))
        .collect();
    let mut terminal_nodes = HashSet::new();
    for &(_, chain, address, asset, is_exit) in &terminals {
        let path = if is_exit {
            exit_paths.get(&(chain, address, asset)).map(|x| x.steps())
        } else {
            dest_paths.get(&(chain, address, asset)).map(|d| d.steps())
        };
        let Some(path) = path else { continue };
        let end_role = if is_exit {
            let cat = inp
                .exits
                .iter()
                .find(|grp| {
                    grp.addresses
                        .iter()
                        .any(|x| x.address == address && x.value.chain == chain)
                })
                .map(|grp| grp.category.clone())
                .unwrap_or_else(|| "exit".to_string());
            NodeRole::Exit(cat)
        } else {
            NodeRole::Holding
        };
        let mut stage = 0u32;
        let mut layer = 1u32;
        let mut last_node = None;
        for (i, step) in path.iter().enumerate() {
            let is_last = i + 1 == path.len();
            match step {
                TraceStep::Transfer {
                    chain: c,
                    asset: a,
                    step: s,
                } => {
                    // The legs into and out of a conversion are drawn as the conversion node.
                    let into_conv = matches!(path.get(i + 1), Some(TraceStep::Conversion(cv))
                        if cv.from_tx == s.tx_hash && cv.from_chain == *c && cv.owner == s.from);
                    let out_of_conv = i > 0
                        && matches!(&path[i - 1], TraceStep::Conversion(cv)
                            if cv.to_tx == s.tx_hash && cv.to_chain == *c && cv.recipient == s.to);
                    if into_conv || out_of_conv {
                        continue;
                    }
                    let role = if is_last {
                        end_role.clone()
                    } else {
                        NodeRole::Intermediate
                    };
                    let f = add_at(
                        &mut nodes,
                        (*c, s.from, stage),
                        NodeRole::Intermediate,
                        layer,
                        None,
                    );
                    let to = add_at(&mut nodes, (*c, s.to, stage), role, layer + 1, None);
                    push_edge(
                        &mut edges,
                        (f, to, *c, *a),
                        (s.tx_hash, s.from, s.to, s.time, s.amount),
                        false,
                    );
                    layer += 1;
                    last_node = Some(to);
                }
                TraceStep::Conversion(cv) => {
                    let f = add_at(
                        &mut nodes,
                        (cv.from_chain, cv.owner, stage),
                        NodeRole::Intermediate,
                        layer,
                        None,
                    );
                    let (kind, text) = conversion_text(cv);
                    let via = cv.via.first().copied().unwrap_or(cv.owner);
                    // One node per venue (pool, bridge contract) and stage.
                    let key = (cv.from_chain, via, u32::MAX - stage);
                    let mid = add_at(&mut nodes, key, NodeRole::Conversion(kind), layer + 1, Some(text));
                    stage += 1;
                    let role = if is_last {
                        end_role.clone()
                    } else {
                        NodeRole::Intermediate
                    };
                    let to = add_at(
                        &mut nodes,
                        (cv.to_chain, cv.recipient, stage),
                        role,
                        layer + 2,
                        None,
                    );
                    push_edge(
                        &mut edges,
                        (f, mid, cv.from_chain, cv.asset_in),
                        (cv.from_tx, cv.owner, via, cv.from_time, cv.amount_in),
                        false,
                    );
                    push_edge(
                        &mut edges,
                        (mid, to, cv.to_chain, cv.asset_out),
                        (cv.to_tx, via, cv.recipient, cv.to_time, cv.amount_out),
                        false,
                    );
                    layer += 2;
                    last_node = Some(to);
                }
            }
        }
        match last_node {
            Some(n) => {
                terminal_nodes.insert(n);
            }
            None => {
                // Funds resting at an exploiter itself.
                if let Some(i) = nodes
                    .iter()
                    .position(|n| n.chain == chain && n.address == address)
                {
                    terminal_nodes.insert(i);
                }
            }
        }
    }

    // End points (exits, and holdings that send nothing drawn onward) go to the last column.
    let senders: HashSet<usize> = edges.keys().map(|k| k.0).collect();
    let last = nodes
        .iter()
        .enumerate()
        .filter(|(i, n)| !terminal_nodes.contains(i) || senders.contains(i) || n.layer <= 1)
        .map(|(_, n)| n.layer)
        .max()
        .unwrap_or(1)
        + 1;
    for (i, n) in nodes.iter_mut().enumerate() {
        let is_end = terminal_nodes.contains(&i) && !senders.contains(&i);
        if (matches!(n.role, NodeRole::Exit(_)) || (is_end && n.role == NodeRole::Holding)) && n.layer > 1 {
            n.layer = last;
        }
    }
    let edges = edges
        .into_iter()
        .map(|((from, to, chain, asset), mut acc)| {
            acc.txs.sort();
            let mut value = valuer.value(chain, asset, acc.raw, 0);
            value.usd = acc.usd;
            FlowEdge {
                from,
                to,
                value,
                tx_hashes: acc.txs.into_iter().map(|(_, h)| h).collect(),
                is_loss: acc.is_loss,
            }
        })
        .collect();
    let drawn: HashSet<usize> = terminal_nodes.iter().copied().collect();
    FlowGraph {
        nodes,
        edges,
        omitted_terminals: total_terminals.saturating_sub(drawn.len().min(total_terminals)),
    }
}

/// Kind (`swap`, `wrap`, `bridge`) and a one-line description of a conversion node.
fn conversion_text(c: &ConversionEdge) -> (String, String) {
    match &c.detail {
        ConversionDetail::Swap { kind } => (
            kind.name().to_string(),
            format!(
                "{} {} \u{2192} {} on {}",
                kind.name(),
                short_asset(c.from_chain, c.asset_in),
                short_asset(c.to_chain, c.asset_out),
                c.from_chain
            ),
        ),
        ConversionDetail::Bridge {
            bridge, confidence, ..
        } => (
            "bridge".to_string(),
            format!(
                "bridge {} \u{2192} {} ({bridge}, {:.0}%)",
                c.from_chain,
                c.to_chain,
                confidence * 100.0
            ),
        ),
    }
}

fn short_asset(chain: Chain, asset: Asset) -> String {
    match asset {
        Asset::Native => chain.native_symbol().to_string(),
        Asset::Token(a) => {
            let s = a.display_for(chain);
            format!(
                "{}\u{2026}{}",
                &s[..6.min(s.len())],
                &s[s.len().saturating_sub(4)..]
            )
        }
    }
}

/// Which role wins when a node plays several: victims and exploiters stay what they are.
fn rank(r: &NodeRole) -> u8 {
    match r {
        NodeRole::Victim => 0,
        NodeRole::Exploiter => 1,
        NodeRole::Exit(_) => 2,
        NodeRole::Holding => 3,
        NodeRole::Intermediate => 4,
        NodeRole::Conversion(_) => 5,
    }
}

//! The flow graph of a report: victims -> exploiters -> intermediate hops -> exits and resting places, built
//! from the loss transfers and the trace paths of the largest exits and holdings. Layers are assigned here;
//! drawing coordinates are the renderer's business.

use std::collections::{BTreeMap, HashMap, HashSet};

use chaintrace_core::{Address, Asset, Chain, LabelIndex, TxHash, U256};
use chaintrace_graph::{Graph, NodeId};

use super::{Destination, ExitGroup, Loss, Value, Valuer, best_label};
use crate::trace::{PathStep, TraceResult};

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
    let mut index: HashMap<(Chain, Address), usize> = HashMap::new();
    let mut add =
        |nodes: &mut Vec<FlowNode>, chain: Chain, address: Address, role: NodeRole, layer: u32| -> usize {
            if let Some(&i) = index.get(&(chain, address)) {
                let n: &mut FlowNode = &mut nodes[i];
                if rank(&role) < rank(&n.role) {
                    n.role = role;
                }
                n.layer = n.layer.min(layer);
                return i;
            }
            let label = best_label(inp.labels, chain, address, |_| true).map(|l| l.text.clone());
            nodes.push(FlowNode {
                chain,
                address,
                role,
                label,
                layer,
            });
            index.insert((chain, address), nodes.len() - 1);
            nodes.len() - 1
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
    let exit_paths: HashMap<(Chain, Address, Asset), &[PathStep]> = traced
        .exits
        .iter()
        .map(|x| ((x.chain, x.address, x.asset), x.path.as_slice()))
        .collect();
    let dest_paths: HashMap<(Chain, Address, Asset), &[PathStep]> = traced
        .destinations
        .iter()
        .map(|d| ((d.chain, d.address, d.asset), d.path.as_slice()))
        .collect();
    let mut terminal_nodes = HashSet::new();
    for &(_, chain, address, asset, is_exit) in &terminals {
        let path = if is_exit {
            exit_paths.get(&(chain, address, asset))
        } else {
            dest_paths.get(&(chain, address, asset))
        };
        let Some(path) = path else { continue };
        for (i, s) in path.iter().enumerate() {
            let f = add(&mut nodes, chain, s.from, NodeRole::Intermediate, i as u32 + 1);
            let last = i + 1 == path.len();
            let role = match (last, is_exit) {
                (true, true) => {
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
                }
                (true, false) => NodeRole::Holding,
                _ => NodeRole::Intermediate,
            };
            let to = add(&mut nodes, chain, s.to, role, i as u32 + 2);
            if last {
                terminal_nodes.insert(to);
            }
            push_edge(
                &mut edges,
                (f, to, chain, asset),
                (s.tx_hash, s.from, s.to, s.time, s.amount),
                false,
            );
        }
        if path.is_empty() {
            // Funds resting at an exploiter itself.
            if let Some(i) = nodes
                .iter()
                .position(|n| n.chain == chain && n.address == address)
            {
                terminal_nodes.insert(i);
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

/// Which role wins when a node plays several: victims and exploiters stay what they are.
fn rank(r: &NodeRole) -> u8 {
    match r {
        NodeRole::Victim => 0,
        NodeRole::Exploiter => 1,
        NodeRole::Exit(_) => 2,
        NodeRole::Holding => 3,
        NodeRole::Intermediate => 4,
    }
}

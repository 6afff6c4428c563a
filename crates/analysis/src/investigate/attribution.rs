//! Attribution: which labeled actors the incident's addresses connect to, how strongly, and every piece of
//! evidence.
//!
//! A *finding* is one chain of reasoning from the incident to one address an actor label names: link steps
//! (the exploiter address itself reused from a labeled incident, the same 20 bytes on another chain, cluster
//! merges, direct transfers, paths, a shared deposit address, a common funder) followed by the label. Its
//! strength is the product of its factors (one per link step kind, see [`EvidenceKind::weight`]) times the
//! label's confidence / 100. An actor's confidence combines its findings by noisy-OR over distinct labeled
//! addresses (the strongest finding per address), capped at its most confident label:
//! `min(1 - prod(1 - s_i), max label confidence / 100)`.
//!
//! Never attributed: labels of service categories (exchanges, mixers, bridges, DeFi, ...) and actors the
//! [`ActorBook`] calls services. Funds reaching them are exits, not evidence of who the thief is.

use std::collections::{BTreeMap, HashMap, HashSet};

use chaintrace_core::{ActorId, Address, Chain, Label, LabelIndex, TxHash};
use chaintrace_graph::{Graph, NodeId};

use super::Membership;
use crate::cluster::{Clustering, MergeStep, NodeLabels, is_service_category};
use crate::link::{self, LinkKind, LinkQuery, Target};

/// Kind of a piece of evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EvidenceKind {
    /// An incident address that an actor label names (used in an earlier, attributed incident).
    ReusedAddress,
    /// The same 20-byte address on two chains: one key controls both.
    SameAddressCrossChain,
    /// Transfers between an incident address and an actor's address.
    DirectTransfer,
    /// A time-respecting path of several transfers between them.
    Path,
    /// A clustering merge joining an exploiter with another address.
    ClusterMerge,
    /// Both paid into one exchange deposit address.
    SharedDeposit,
    /// One funder paid the first incoming transfer of both.
    CommonFunder,
    /// The label that names the actor.
    Label,
}

impl EvidenceKind {
    /// Lowercase name used in output.
    pub fn name(self) -> &'static str {
        match self {
            EvidenceKind::ReusedAddress => "reused_address",
            EvidenceKind::SameAddressCrossChain => "same_address_cross_chain",
            EvidenceKind::DirectTransfer => "direct_transfer",
            EvidenceKind::Path => "path",
            EvidenceKind::ClusterMerge => "cluster_merge",
            EvidenceKind::SharedDeposit => "shared_deposit",
            EvidenceKind::CommonFunder => "common_funder",
            EvidenceKind::Label => "label",
        }
    }

    /// The factor a link step of this kind contributes to a finding's strength (paths: per
    /// [`path_weight`]; cluster merges: the heuristic's confidence; labels: their confidence).
    pub fn weight(self) -> f64 {
        match self {
            EvidenceKind::ReusedAddress => 0.95,
            EvidenceKind::SameAddressCrossChain => 0.95,
            EvidenceKind::DirectTransfer => 0.7,
            EvidenceKind::Path => 0.6,
            EvidenceKind::ClusterMerge => 0.8,
            EvidenceKind::SharedDeposit => 0.8,
            EvidenceKind::CommonFunder => 0.4,
            EvidenceKind::Label => 1.0,
        }
    }
}

/// Factor of a path of `hops` transfers: 0.6 for two hops, times 0.85 per further hop.
pub fn path_weight(hops: u32) -> f64 {
    EvidenceKind::Path.weight() * 0.85f64.powi(hops.saturating_sub(2) as i32)
}

/// One fact.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Evidence {
    /// Kind.
    pub kind: EvidenceKind,
    /// Chain the fact is on.
    pub chain: Chain,
    /// Transaction showing it, if it is a transaction fact.
    pub tx_hash: Option<TxHash>,
    /// Address it is about.
    pub address: Address,
    /// One sentence for people (labels: text, source, confidence).
    pub detail: String,
    /// The label's source (label evidence).
    pub source: Option<String>,
    /// The label's confidence, 0-100 (label evidence).
    pub label_confidence: Option<u8>,
}

/// One chain of reasoning to one actor-labeled address.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Product of the factors.
    pub strength: f64,
    /// Each factor with what it stands for.
    pub factors: Vec<(String, f64)>,
    /// The labeled address (chain of the label, or the incident chain for chain-agnostic labels).
    pub target: (Chain, Address),
    /// Steps, then the label.
    pub evidence: Vec<Evidence>,
}

/// An actor with its confidence and findings.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    /// Actor id as labels give it.
    pub actor: ActorId,
    /// Display name, if the actor is known.
    pub name: Option<String>,
    /// 0..=1 (see the module docs).
    pub confidence: f64,
    /// Findings, strongest first.
    pub findings: Vec<Finding>,
}

impl Attribution {
    /// Every piece of evidence of every finding, strongest finding first, each fact once.
    pub fn evidence(&self) -> Vec<&Evidence> {
        let mut seen = HashSet::new();
        self.findings
            .iter()
            .flat_map(|f| &f.evidence)
            .filter(|e| seen.insert(*e))
            .collect()
    }
}

/// What an actor is, as far as attribution needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorFacts {
    /// Display name.
    pub name: String,
    /// Whether it is a service (exchange, mixer, bridge, DeFi, ...): never named as a perpetrator.
    pub is_service: bool,
}

/// Looks actors up (the CLI backs this with the store).
pub trait ActorBook {
    /// Facts about `id`, if the actor is known.
    fn facts(&self, id: &ActorId) -> Option<ActorFacts>;
}

impl ActorBook for HashMap<ActorId, ActorFacts> {
    fn facts(&self, id: &ActorId) -> Option<ActorFacts> {
        self.get(id).cloned()
    }
}

/// Whether a label may attribute an address to its actor: it names one and is not a service label.
pub fn is_attributing(l: &Label) -> bool {
    l.actor.is_some() && !is_service_category(l.category)
}

pub(crate) struct AttributionInputs<'a> {
    pub(crate) graph: &'a Graph,
    pub(crate) labels: &'a LabelIndex,
    pub(crate) node_labels: &'a NodeLabels,
    pub(crate) actors: &'a dyn ActorBook,
    pub(crate) clustering: Option<&'a Clustering>,
    pub(crate) exploiters: &'a [NodeId],
    pub(crate) members: &'a [(NodeId, Membership)],
    pub(crate) link_hops: u32,
}

pub(crate) struct AttributionOutput {
    pub(crate) ranked: Vec<Attribution>,
    pub(crate) notes: Vec<String>,
}

/// Most start nodes handed to link discovery (exploiters first, then cluster members).
const MAX_LINK_STARTS: usize = 500;

pub(crate) fn attribute(inp: &AttributionInputs<'_>) -> AttributionOutput {
    let g = inp.graph;
    let mut notes = Vec::new();
    let mut findings: Vec<(ActorId, Finding)> = Vec::new();

    // Merge chains from each exploiter to its cluster members.
    let mut merge_paths: HashMap<NodeId, Vec<MergeStep>> = HashMap::new();
    if let Some(cl) = inp.clustering {
        for &x in inp.exploiters {
            if let Ok(exp) = cl.explain(g, x) {
                for m in exp.members {
                    merge_paths.entry(m.node).or_insert(m.path);
                }
            }
        }
    }
    let exploiter_bytes: HashSet<Address> = inp.exploiters.iter().map(|&n| g.node_key(n).1).collect();

    // (A) Incident addresses that labels attribute: reused addresses and labeled cluster members.
    let mut done_bytes = HashSet::new();
    for (n, membership) in inp.members {
        let (chain, address) = g.node_key(*n);
        let (origin_chain, prefix) = match membership {
            Membership::Exploiter => (chain, Vec::new()),
            // Covered by the exploiter's own 20 bytes below (labels of any chain are looked up).
            Membership::SameAddress { .. } => continue,
            Membership::Cluster { .. } => {
                if exploiter_bytes.contains(&address) {
                    continue;
                }
                (
                    chain,
                    merge_steps(g, merge_paths.get(n).map(Vec::as_slice).unwrap_or(&[])),
                )
            }
        };
        if !done_bytes.insert(address) {
            continue;
        }
        let is_exploiter = matches!(membership, Membership::Exploiter);
        for l in inp
            .labels
            .labels_of_any_chain(address)
            .iter()
            .filter(|l| is_attributing(l))
        {
            let Some(actor) = l.actor.clone() else { continue };
            let mut steps = prefix.clone();
            let label_chain = l.chain.unwrap_or(origin_chain);
            let applies_here = l.applies_to(origin_chain, address);
            if !applies_here {
                steps.push(Step {
                    factor: ("same 20-byte address on two chains".into(), EvidenceKind::SameAddressCrossChain.weight()),
                    evidence: Evidence {
                        kind: EvidenceKind::SameAddressCrossChain,
                        chain: label_chain,
                        tx_hash: first_tx(g, label_chain, address),
                        address,
                        detail: format!(
                            "{} is on the exploiters' side on {origin_chain} and is the same 20-byte address (one \
                             key) as the labeled address on {label_chain}",
                            address.json_for(origin_chain)
                        ),
                        source: None,
                        label_confidence: None,
                    },
                });
            }
            if is_exploiter {
                steps.push(Step {
                    factor: ("exploiter address reused from a labeled incident".into(), EvidenceKind::ReusedAddress.weight()),
                    evidence: Evidence {
                        kind: EvidenceKind::ReusedAddress,
                        chain: origin_chain,
                        tx_hash: first_tx(g, origin_chain, address),
                        address,
                        detail: format!(
                            "exploiter {} of this incident was already attributed to {} on {label_chain}: '{}'",
                            address.json_for(origin_chain),
                            actor,
                            l.text
                        ),
                        source: None,
                        label_confidence: None,
                    },
                });
            }
            findings.push((actor, finish(steps, l, (label_chain, address))));
        }
    }

    // (B) Link discovery from the exploiters and their cluster members to actor-labeled addresses.
    let mut from: Vec<NodeId> = Vec::new();
    let mut from_set = HashSet::new();
    for (n, _) in inp.members {
        if from_set.insert(*n) {
            from.push(*n);
        }
    }
    if from.len() > MAX_LINK_STARTS {
        notes.push(format!(
            "link discovery started from the first {MAX_LINK_STARTS} of {} exploiter-side addresses",
            from.len()
        ));
        from.truncate(MAX_LINK_STARTS);
    }
    let mut targets: Vec<NodeId> = Vec::new();
    let mut target_labels: HashMap<NodeId, Vec<&Label>> = HashMap::new();
    let all_actor_nodes = actor_nodes(inp.node_labels, g);
    for n in all_actor_nodes {
        if from_set.contains(&n) {
            continue;
        }
        let ls: Vec<&Label> = inp
            .node_labels
            .labels(n)
            .iter()
            .filter(|l| is_attributing(l))
            .collect();
        if !ls.is_empty() {
            targets.push(n);
            target_labels.insert(n, ls);
        }
    }
    if !targets.is_empty() && !from.is_empty() {
        let mut q = LinkQuery::new(from, Target::Nodes(targets));
        q.max_hops = inp.link_hops.clamp(1, 12);
        match link::links(g, inp.node_labels, None, &q) {
            Ok(report) => {
                if !report.truncated.is_empty() {
                    notes.push(format!(
                        "link discovery: {} address(es) had more transfers than the fan-out cap and were cut",
                        report.truncated.len()
                    ));
                }
                for l in &report.links {
                    let (kind, factor) = match l.kind {
                        LinkKind::Direct => (
                            EvidenceKind::DirectTransfer,
                            EvidenceKind::DirectTransfer.weight(),
                        ),
                        LinkKind::Path => (EvidenceKind::Path, path_weight(l.hops)),
                        LinkKind::SharedDeposit => {
                            (EvidenceKind::SharedDeposit, EvidenceKind::SharedDeposit.weight())
                        }
                        LinkKind::CommonFunder => {
                            (EvidenceKind::CommonFunder, EvidenceKind::CommonFunder.weight())
                        }
                        // Same-address links are found from the labels directly in (A); cluster links come
                        // from the merge chains.
                        LinkKind::SameAddress | LinkKind::SameCluster => continue,
                    };
                    let mut steps = match inp.members.iter().find(|(n, _)| *n == l.from).map(|(_, m)| m) {
                        Some(Membership::Cluster { .. }) => {
                            merge_steps(g, merge_paths.get(&l.from).map(Vec::as_slice).unwrap_or(&[]))
                        }
                        _ => Vec::new(),
                    };
                    let what = match (l.kind, l.direction) {
                        (LinkKind::Path, d) => format!("path of {} transfers ({})", l.hops, d.name()),
                        (k, d) => format!("{} ({})", k.name(), d.name()),
                    };
                    for (i, e) in l.evidence.iter().enumerate() {
                        steps.push(Step {
                            factor: if i == 0 {
                                (what.clone(), factor)
                            } else {
                                (String::new(), 1.0)
                            },
                            evidence: Evidence {
                                kind,
                                chain: e.chain,
                                tx_hash: e.tx_hashes.first().copied(),
                                address: e.addresses.last().copied().unwrap_or(g.node_key(l.to).1),
                                detail: e.detail.clone(),
                                source: None,
                                label_confidence: None,
                            },
                        });
                    }
                    let target = g.node_key(l.to);
                    for lab in target_labels.get(&l.to).into_iter().flatten() {
                        let Some(actor) = lab.actor.clone() else { continue };
                        findings.push((actor, finish(steps.clone(), lab, target)));
                    }
                }
            }
            Err(e) => notes.push(format!("link discovery failed: {e}")),
        }
    }

    // Rank.
    let mut by_actor: BTreeMap<ActorId, BTreeMap<(Chain, Address), Finding>> = BTreeMap::new();
    for (actor, f) in findings {
        let slot = by_actor.entry(actor).or_default();
        match slot.get(&f.target) {
            Some(old) if old.strength >= f.strength => {}
            _ => {
                slot.insert(f.target, f);
            }
        }
    }
    let mut ranked = Vec::new();
    for (actor, per_target) in by_actor {
        let facts = inp.actors.facts(&actor);
        if facts.as_ref().is_some_and(|f| f.is_service) {
            notes.push(format!(
                "actor {actor} is a service; funds it received are exits, not attribution"
            ));
            continue;
        }
        let mut fs: Vec<Finding> = per_target.into_values().collect();
        fs.sort_by(|a, b| b.strength.total_cmp(&a.strength).then(a.target.cmp(&b.target)));
        let miss: f64 = fs.iter().map(|f| 1.0 - f.strength).product();
        let cap = fs
            .iter()
            .flat_map(|f| &f.evidence)
            .filter_map(|e| e.label_confidence)
            .max()
            .map(|c| f64::from(c) / 100.0)
            .unwrap_or(0.0);
        ranked.push(Attribution {
            actor,
            name: facts.map(|f| f.name),
            confidence: (1.0 - miss).min(cap),
            findings: fs,
        });
    }
    ranked.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(a.actor.cmp(&b.actor)));
    AttributionOutput { ranked, notes }
}

#[derive(Clone)]
struct Step {
    factor: (String, f64),
    evidence: Evidence,
}

fn merge_steps(g: &Graph, path: &[MergeStep]) -> Vec<Step> {
    path.iter()
        .map(|s| {
            // The merged address itself; the deposit address or funder is named in the detail.
            let (chain, address) = g.node_key(s.to);
            let tx = s.tx_hashes.first().map(|(_, h)| *h);
            Step {
                factor: (
                    format!("cluster merge by {}", s.heuristic.name()),
                    f64::from(s.heuristic.confidence()) / 100.0,
                ),
                evidence: Evidence {
                    kind: EvidenceKind::ClusterMerge,
                    chain,
                    tx_hash: tx,
                    address,
                    detail: format!("{}: {}", s.heuristic.name(), s.detail),
                    source: None,
                    label_confidence: None,
                },
            }
        })
        .collect()
}

fn finish(steps: Vec<Step>, label: &Label, target: (Chain, Address)) -> Finding {
    let mut factors: Vec<(String, f64)> = steps
        .iter()
        .filter(|s| !s.factor.0.is_empty())
        .map(|s| s.factor.clone())
        .collect();
    let conf = f64::from(label.confidence.value()) / 100.0;
    factors.push((format!("label confidence ({})", label.source), conf));
    let strength = factors.iter().map(|f| f.1).product();
    let mut evidence: Vec<Evidence> = steps.into_iter().map(|s| s.evidence).collect();
    evidence.push(Evidence {
        kind: EvidenceKind::Label,
        chain: label.chain.unwrap_or(target.0),
        tx_hash: None,
        address: label.address,
        detail: format!(
            "'{}' (category {}, actor {}; source {}, confidence {})",
            label.text,
            label.category,
            label.actor.as_ref().map(|a| a.as_str()).unwrap_or("-"),
            label.source,
            label.confidence
        ),
        source: Some(label.source.clone()),
        label_confidence: Some(label.confidence.value()),
    });
    Finding {
        strength,
        factors,
        target,
        evidence,
    }
}

/// The first transfer of `address` on `chain` (showing it in use there), if the graph has the node.
fn first_tx(g: &Graph, chain: Chain, address: Address) -> Option<TxHash> {
    let n = g.node(chain, address)?;
    let first_out = g.out_edges(n).next();
    let first_in = g.in_edges(n).next();
    let e = match (first_out, first_in) {
        (Some(a), Some(b)) => {
            if g.edge_seq(a) <= g.edge_seq(b) {
                a
            } else {
                b
            }
        }
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => return None,
    };
    Some(g.edge_info(e).tx_hash)
}

/// Nodes with any actor label, sorted.
fn actor_nodes(labels: &NodeLabels, g: &Graph) -> Vec<NodeId> {
    (0..g.node_count())
        .filter(|&n| labels.actor(n).is_some())
        .collect()
}

//! Address clustering for account-model chains: which graph nodes one entity probably controls, each merge
//! kept with its reason and evidence.
//!
//! [`cluster`] applies four heuristics in a fixed order (most reliable first) and joins nodes in a
//! union-find whose canonical cluster id is the smallest node id of the cluster, so the partition and the ids
//! do not depend on the order merges are made in:
//!
//! 1. [`Heuristic::SameAddress`]: the same 20-byte address on several chains is one key, so one entity.
//! 2. [`Heuristic::DepositReuse`] (Victor, FC 2020): an address that forwards what it receives to a labeled
//!    exchange shortly after is an exchange deposit address; everyone paying into one deposit address is the
//!    exchange's one customer. The senders merge; the deposit address (the exchange's) is evidence only.
//! 3. [`Heuristic::SelfApproval`] (Victor, FC 2020): a token owner approving an externally owned address
//!    to spend its tokens delegates to itself. Needs ERC-20 `Approval` logs, which chaintrace does not
//!    ingest yet: the rule runs over [`Approval`] values the caller supplies (the CLI passes none).
//! 4. [`Heuristic::GasFunder`]: a funder paying the first-ever (small, native) incoming transfer of
//!    several fresh addresses within a short window funds its own new addresses. Lower confidence; a funder
//!    of very many fresh addresses (a faucet, a payout service) is not a reason.
//!
//! Never merged: nodes labeled as services ([`is_service_category`]: exchanges, mixers, bridges, DeFi
//! routers/pools, other custodial services), hubs (more than [`ClusterConfig::hub_degree`] transfers, a
//! stand-in for "contract or service" because the graph has no code information) and the zero address.
//! A merge that would put addresses labeled with two different actors into one cluster (a supercluster) is
//! refused and reported with both sides' labels ([`Refusal`]).
//!
//! Pure: no I/O. Measured precision/recall on simulated worlds is in `docs/clustering.md`.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use chaintrace_core::{ActorId, Address, Asset, Category, Chain, Label, TxHash};
use chaintrace_graph::{EdgeId, Graph, NodeId, Seq};

/// Canonical id of a cluster: the smallest node id among its members.
pub type ClusterId = NodeId;

/// Whether addresses of this category are services whose counterparties must never be merged through them
/// (and which are never merged themselves): exchanges, mixers, bridges, DeFi (routers, pools, lending),
/// gambling, markets, mining pools and other services.
pub fn is_service_category(c: Category) -> bool {
    matches!(
        c,
        Category::Exchange
            | Category::Mixer
            | Category::Bridge
            | Category::Defi
            | Category::Gambling
            | Category::Market
            | Category::Miner
            | Category::Service
    )
}

const FLAG_EXCHANGE: u8 = 1;
const FLAG_SERVICE: u8 = 2;
const FLAG_EXIT: u8 = 4;

/// Labels resolved onto graph nodes: per-node flags for the hot loops, the labels themselves for output.
///
/// A label with a chain applies to that chain's node; a chain-agnostic label to the address's node on every
/// EVM chain (as [`Label::applies_to`] says). Labels of addresses absent from the graph are kept aside
/// (they can still name a link target that has no transfers: it is simply never reached).
#[derive(Debug, Clone, Default)]
pub struct NodeLabels {
    flags: Vec<u8>,
    by_node: HashMap<NodeId, Vec<Label>>,
    actor_of: HashMap<NodeId, ActorId>,
}

impl NodeLabels {
    /// Resolves `labels` onto the nodes of `graph`.
    pub fn new<'a>(graph: &Graph, labels: impl IntoIterator<Item = &'a Label>) -> NodeLabels {
        let mut out = NodeLabels {
            flags: vec![0; graph.node_count() as usize],
            ..NodeLabels::default()
        };
        for l in labels {
            let chains: Vec<Chain> = match l.chain {
                Some(c) => vec![c],
                None => Chain::ALL.into_iter().filter(|c| c.is_evm()).collect(),
            };
            for c in chains {
                if let Some(n) = graph.node(c, l.address) {
                    out.by_node.entry(n).or_default().push(l.clone());
                }
            }
        }
        for (&n, ls) in out.by_node.iter_mut() {
            // Most confident first, then by text, so every derived answer is independent of input order.
            ls.sort_by(|a, b| b.confidence.cmp(&a.confidence).then(a.text.cmp(&b.text)));
            ls.dedup();
            let f = &mut out.flags[n as usize];
            for l in ls.iter() {
                if l.category == Category::Exchange {
                    *f |= FLAG_EXCHANGE;
                }
                if is_service_category(l.category) {
                    *f |= FLAG_SERVICE;
                }
                if l.category.is_exit() || is_service_category(l.category) {
                    *f |= FLAG_EXIT;
                }
            }
            if let Some(a) = ls.iter().find_map(|l| l.actor.clone()) {
                out.actor_of.insert(n, a);
            }
        }
        out
    }

    fn flag(&self, n: NodeId, f: u8) -> bool {
        self.flags.get(n as usize).is_some_and(|x| x & f != 0)
    }

    /// Whether the node is labeled as an exchange.
    pub fn is_exchange(&self, n: NodeId) -> bool {
        self.flag(n, FLAG_EXCHANGE)
    }

    /// Whether the node is labeled as a service ([`is_service_category`]).
    pub fn is_service(&self, n: NodeId) -> bool {
        self.flag(n, FLAG_SERVICE)
    }

    /// Whether paths must not pass through the node: a service or an exit category (sanctioned included).
    pub fn is_exit(&self, n: NodeId) -> bool {
        self.flag(n, FLAG_EXIT)
    }

    /// Labels of a node, most confident first.
    pub fn labels(&self, n: NodeId) -> &[Label] {
        self.by_node.get(&n).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The actor a node is attributed to (by its most confident label naming one).
    pub fn actor(&self, n: NodeId) -> Option<&ActorId> {
        self.actor_of.get(&n)
    }

    /// Nodes labeled with `actor` (compared ignoring ASCII case), sorted.
    pub fn nodes_of_actor(&self, actor: &str) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .by_node
            .iter()
            .filter(|(_, ls)| {
                ls.iter()
                    .any(|l| l.actor.as_ref().is_some_and(|a| a.0.eq_ignore_ascii_case(actor)))
            })
            .map(|(&n, _)| n)
            .collect();
        v.sort_unstable();
        v
    }

    /// Nodes with a label of `category`, sorted.
    pub fn nodes_of_category(&self, category: Category) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .by_node
            .iter()
            .filter(|(_, ls)| ls.iter().any(|l| l.category == category))
            .map(|(&n, _)| n)
            .collect();
        v.sort_unstable();
        v
    }

    /// Number of labeled nodes.
    pub fn labeled_nodes(&self) -> usize {
        self.by_node.len()
    }
}

/// A clustering heuristic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Heuristic {
    /// The same 20-byte address on several chains.
    SameAddress,
    /// Several senders into one exchange deposit address.
    DepositReuse,
    /// A token owner approving an externally owned spender.
    SelfApproval,
    /// One funder paying the first incoming transfer of several fresh addresses.
    GasFunder,
}

impl Heuristic {
    /// Every heuristic, in the order [`cluster`] applies them.
    pub const ALL: [Heuristic; 4] = [
        Heuristic::SameAddress,
        Heuristic::DepositReuse,
        Heuristic::SelfApproval,
        Heuristic::GasFunder,
    ];

    /// Lowercase name used in output.
    pub fn name(self) -> &'static str {
        match self {
            Heuristic::SameAddress => "same_address",
            Heuristic::DepositReuse => "deposit_reuse",
            Heuristic::SelfApproval => "self_approval",
            Heuristic::GasFunder => "gas_funder",
        }
    }

    /// How much a merge by this heuristic is trusted, 0 to 100 (same scale as label confidence). Ranks,
    /// not probabilities: see `docs/clustering.md` for the measured precision.
    pub fn confidence(self) -> u8 {
        match self {
            Heuristic::SameAddress => 90,
            Heuristic::DepositReuse => 80,
            Heuristic::SelfApproval => 70,
            Heuristic::GasFunder => 40,
        }
    }
}

impl fmt::Display for Heuristic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parameters of the deposit-address rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepositRule {
    /// Longest delay, in seconds, between the last inflow and its forward to the exchange.
    pub max_forward_delay_secs: u64,
    /// Least share (percent) of the node's outgoing transfers that must go to exchange-labeled nodes.
    pub min_exchange_out_pct: u8,
    /// Least share (percent) of what the node received per asset (not counting exchange top-ups) that it
    /// forwarded to exchanges.
    pub min_forwarded_pct: u8,
    /// A "deposit address" with more distinct senders is a shared service address: not a merge reason.
    pub max_senders: u32,
}

impl Default for DepositRule {
    fn default() -> Self {
        DepositRule {
            max_forward_delay_secs: 86_400,
            min_exchange_out_pct: 90,
            min_forwarded_pct: 80,
            max_senders: 50,
        }
    }
}

/// Parameters of the gas-funder rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GasFunderRule {
    /// A funding transfer larger than this (raw native units, per chain in `Chain::ALL` order) is not "gas".
    pub max_amount: [u128; 6],
    /// Fresh addresses funded by one funder one after the other (no other outgoing transfer of the funder
    /// in between) with gaps of at most this many seconds form one burst.
    pub burst_window_secs: u64,
    /// A funder of more fresh addresses than this in total is a faucet or service: not a merge reason.
    pub max_funded: u32,
    /// Whether the funder joins the cluster of the addresses it funded.
    pub join_funder: bool,
}

/// Default "gas-sized" native amount per chain: about 0.2 ETH on ETH-gas chains, 1 BNB, 500 MATIC, 2000 TRX.
pub fn default_gas_amount(chain: Chain) -> u128 {
    const E18: u128 = 1_000_000_000_000_000_000;
    match chain {
        Chain::Ethereum | Chain::Arbitrum | Chain::Optimism => E18 / 5,
        Chain::Bsc => E18,
        Chain::Polygon => 500 * E18,
        Chain::Tron => 2_000 * 1_000_000,
    }
}

impl Default for GasFunderRule {
    fn default() -> Self {
        GasFunderRule {
            max_amount: Chain::ALL.map(default_gas_amount),
            burst_window_secs: 600,
            max_funded: 20,
            join_funder: false,
        }
    }
}

/// What [`cluster`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Heuristics to apply (applied in [`Heuristic::ALL`] order whatever the order here).
    pub heuristics: Vec<Heuristic>,
    /// A node with more transfers (in + out) than this is a hub (contract or service): never merged.
    pub hub_degree: u32,
    /// Deposit-address rule.
    pub deposit: DepositRule,
    /// Gas-funder rule.
    pub gas: GasFunderRule,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            heuristics: Heuristic::ALL.to_vec(),
            hub_degree: 10_000,
            deposit: DepositRule::default(),
            gas: GasFunderRule::default(),
        }
    }
}

impl ClusterConfig {
    /// The default config with only `heuristics` enabled.
    pub fn only(heuristics: &[Heuristic]) -> ClusterConfig {
        ClusterConfig {
            heuristics: heuristics.to_vec(),
            ..ClusterConfig::default()
        }
    }
}

/// Errors of clustering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// A config value that makes no sense.
    #[error("bad cluster config: {field} {reason}")]
    BadConfig {
        /// Field name.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A node id outside the graph.
    #[error("node {node} is not in the graph ({nodes} nodes)")]
    UnknownNode {
        /// The id.
        node: NodeId,
        /// Node count.
        nodes: u32,
    },
}

/// One ERC-20 `Approval(owner, spender, value)` event, as the self-approval rule needs it.
///
/// chaintrace does not ingest Approval logs yet; callers that have them (a future log stage, a fixture)
/// pass them to [`cluster`]. `spender_is_contract` must come from chain state (code at the spender):
/// the rule merges only when it is `Some(false)`, because approving a contract (a DEX router) says nothing
/// about ownership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Chain.
    pub chain: Chain,
    /// Token contract.
    pub token: Address,
    /// Token owner granting the allowance.
    pub owner: Address,
    /// Address allowed to spend.
    pub spender: Address,
    /// Whether the spender has code; `None` when unknown.
    pub spender_is_contract: Option<bool>,
    /// Transaction of the event.
    pub tx_hash: TxHash,
}

/// One accepted merge: two nodes joined, why, and the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    /// One side.
    pub a: NodeId,
    /// The other side.
    pub b: NodeId,
    /// Why.
    pub heuristic: Heuristic,
    /// The deposit address or funder the merge went through, if any.
    pub via: Option<NodeId>,
    /// The transfers that show it: `a`'s and `b`'s transfer into/from `via`.
    pub edges: [Option<EdgeId>; 2],
    /// Index into [`Clustering::approvals`] for self-approval merges.
    pub approval: Option<u32>,
}

/// One side of a refused merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedSide {
    /// The node proposed for the merge.
    pub node: NodeId,
    /// The labeled node of its cluster that carries the actor.
    pub labeled_node: NodeId,
    /// That actor.
    pub actor: ActorId,
    /// Texts of the labeled node's labels.
    pub labels: Vec<String>,
}

/// A merge refused because it would join two different actors (a supercluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The merge that was proposed.
    pub merge: Merge,
    /// Side of `merge.a`.
    pub left: RefusedSide,
    /// Side of `merge.b`.
    pub right: RefusedSide,
}

/// Counters of one clustering run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// Nodes of the graph.
    pub nodes: u64,
    /// Nodes never merged because labeled as services.
    pub service_nodes: u64,
    /// Nodes never merged because of their degree.
    pub hub_nodes: u64,
    /// Accepted merges per heuristic (in [`Heuristic::ALL`] order).
    pub merges: [u64; 4],
    /// Proposed merges whose sides were already in one cluster, per heuristic.
    pub redundant: [u64; 4],
    /// Refused (supercluster) merges per heuristic.
    pub refused: [u64; 4],
    /// Deposit addresses detected.
    pub deposit_addresses: u64,
    /// Deposit addresses ignored for having more than `max_senders` senders.
    pub crowded_deposit_addresses: u64,
    /// Funders ignored for funding more than `max_funded` fresh addresses.
    pub faucet_funders: u64,
    /// Approvals skipped (unknown nodes, contract or unknown spender, ineligible sides).
    pub approvals_skipped: u64,
    /// Clusters with more than one member.
    pub multi_member_clusters: u64,
    /// Nodes in such clusters.
    pub clustered_nodes: u64,
}

fn hidx(h: Heuristic) -> usize {
    Heuristic::ALL
        .iter()
        .position(|x| *x == h)
        .expect("ALL lists every heuristic")
}

/// Union-find over dense ids whose canonical representative is the smallest id of each set.
///
/// Union by size with path halving; the root stores its set's smallest id, so the canonical id is the same
/// whatever order the unions came in.
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
    min: Vec<u32>,
}

impl UnionFind {
    /// `n` singleton sets.
    pub fn new(n: u32) -> UnionFind {
        UnionFind {
            parent: (0..n).collect(),
            size: vec![1; n as usize],
            min: (0..n).collect(),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> u32 {
        self.parent.len() as u32
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// Internal root of `x`'s set (not canonical; see [`UnionFind::canonical`]).
    pub fn root(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            let gp = self.parent[p as usize];
            self.parent[x as usize] = gp;
            x = gp;
        }
        x
    }

    /// Canonical id of `x`'s set: its smallest element.
    pub fn canonical(&mut self, x: u32) -> u32 {
        let r = self.root(x);
        self.min[r as usize]
    }

    /// Joins the sets of `a` and `b`; returns the new root, or `None` if they were one set already.
    pub fn union(&mut self, a: u32, b: u32) -> Option<u32> {
        let (ra, rb) = (self.root(a), self.root(b));
        if ra == rb {
            return None;
        }
        let (big, small) = if self.size[ra as usize] >= self.size[rb as usize] {
            (ra, rb)
        } else {
            (rb, ra)
        };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
        self.min[big as usize] = self.min[big as usize].min(self.min[small as usize]);
        Some(big)
    }
}

/// The result of [`cluster`]: a partition of the graph's nodes with the merges that made it.
#[derive(Debug, Clone)]
pub struct Clustering {
    canon: Vec<ClusterId>,
    member_start: Vec<u32>,
    members: Vec<NodeId>,
    merges: Vec<Merge>,
    refused: Vec<Refusal>,
    approvals: Vec<Approval>,
    stats: ClusterStats,
}

/// Why one member is in a cluster: the merges leading from the asked node to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberExplanation {
    /// The member.
    pub node: NodeId,
    /// Its chain.
    pub chain: Chain,
    /// Its address.
    pub address: Address,
    /// Merges from the asked node to this member, in order (empty for the asked node itself).
    pub path: Vec<MergeStep>,
    /// Lowest heuristic confidence along the path (100 for the asked node).
    pub confidence: u8,
}

/// One merge along an explanation path, with its evidence resolved for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeStep {
    /// Node the step starts from.
    pub from: NodeId,
    /// Node it reaches.
    pub to: NodeId,
    /// Why they are one entity.
    pub heuristic: Heuristic,
    /// The deposit address or funder the merge went through.
    pub via: Option<(Chain, Address)>,
    /// Transactions showing it.
    pub tx_hashes: Vec<(Chain, TxHash)>,
    /// One sentence for people.
    pub detail: String,
}

/// Everything `cluster show` prints for one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The asked node.
    pub node: NodeId,
    /// Its cluster.
    pub cluster: ClusterId,
    /// Every member (the asked node first, then by node id), with its path.
    pub members: Vec<MemberExplanation>,
    /// Refused merges that touched this cluster.
    pub refused: Vec<Refusal>,
}

impl Clustering {
    /// Canonical cluster id of a node (its smallest member's node id).
    pub fn cluster_of(&self, n: NodeId) -> ClusterId {
        self.canon[n as usize]
    }

    /// Members of the cluster `c` (sorted), empty if `c` is not a canonical id.
    pub fn members(&self, c: ClusterId) -> &[NodeId] {
        let i = c as usize;
        if i + 1 >= self.member_start.len() {
            return &[];
        }
        &self.members[self.member_start[i] as usize..self.member_start[i + 1] as usize]
    }

    /// Canonical ids of clusters with more than one member, ascending.
    pub fn multi_member_clusters(&self) -> impl Iterator<Item = ClusterId> + '_ {
        (0..self.canon.len() as u32).filter(move |&c| self.members(c).len() > 1)
    }

    /// Every accepted merge, in the order made.
    pub fn merges(&self) -> &[Merge] {
        &self.merges
    }

    /// Every refused merge.
    pub fn refused(&self) -> &[Refusal] {
        &self.refused
    }

    /// The approvals given to [`cluster`] (self-approval merges point into this).
    pub fn approvals(&self) -> &[Approval] {
        &self.approvals
    }

    /// Counters.
    pub fn stats(&self) -> &ClusterStats {
        &self.stats
    }

    /// Number of nodes.
    pub fn node_count(&self) -> u32 {
        self.canon.len() as u32
    }

    /// Why each member of `n`'s cluster is in it: for every member, the chain of merges from `n` to it, with
    /// evidence (transactions resolved through `graph`, which must be the graph clustered).
    pub fn explain(&self, graph: &Graph, n: NodeId) -> Result<Explanation, ClusterError> {
        if n >= self.node_count() {
            return Err(ClusterError::UnknownNode {
                node: n,
                nodes: self.node_count(),
            });
        }
        let c = self.cluster_of(n);
        let mut adj: HashMap<NodeId, Vec<usize>> = HashMap::new();
        for (i, m) in self.merges.iter().enumerate() {
            if self.canon[m.a as usize] == c {
                adj.entry(m.a).or_default().push(i);
                adj.entry(m.b).or_default().push(i);
            }
        }
        // Accepted merges form a spanning forest, so BFS gives the unique path to each member.
        let mut prev: HashMap<NodeId, (NodeId, usize)> = HashMap::new();
        let mut queue = VecDeque::from([n]);
        let mut seen = std::collections::HashSet::from([n]);
        while let Some(x) = queue.pop_front() {
            for &i in adj.get(&x).map(Vec::as_slice).unwrap_or(&[]) {
                let m = &self.merges[i];
                let y = if m.a == x { m.b } else { m.a };
                if seen.insert(y) {
                    prev.insert(y, (x, i));
                    queue.push_back(y);
                }
            }
        }
        let mut members: Vec<NodeId> = self.members(c).to_vec();
        members.sort_by_key(|&m| (m != n, m));
        let members = members
            .into_iter()
            .map(|m| {
                let mut path = Vec::new();
                let mut at = m;
                while let Some(&(p, i)) = prev.get(&at) {
                    path.push(self.step(graph, p, at, &self.merges[i]));
                    at = p;
                }
                path.reverse();
                let confidence = path.iter().map(|s| s.heuristic.confidence()).min().unwrap_or(100);
                let (chain, address) = graph.node_key(m);
                MemberExplanation {
                    node: m,
                    chain,
                    address,
                    path,
                    confidence,
                }
            })
            .collect();
        let refused = self
            .refused
            .iter()
            .filter(|r| self.canon[r.merge.a as usize] == c || self.canon[r.merge.b as usize] == c)
            .cloned()
            .collect();
        Ok(Explanation {
            node: n,
            cluster: c,
            members,
            refused,
        })
    }

    fn step(&self, graph: &Graph, from: NodeId, to: NodeId, m: &Merge) -> MergeStep {
        let key = |x: NodeId| graph.node_key(x);
        let show = |x: NodeId| {
            let (c, a) = key(x);
            format!("{}:{}", c, a.json_for(c))
        };
        let mut tx_hashes: Vec<(Chain, TxHash)> = Vec::new();
        for e in m.edges.iter().flatten() {
            let info = graph.edge_info(*e);
            if !tx_hashes.contains(&(info.chain, info.tx_hash)) {
                tx_hashes.push((info.chain, info.tx_hash));
            }
        }
        let detail = match m.heuristic {
            Heuristic::SameAddress => {
                // Evidence per chain: the first transfer of each node.
                for x in [m.a, m.b] {
                    let first = graph
                        .out_edges(x)
                        .next()
                        .into_iter()
                        .chain(graph.in_edges(x).next())
                        .min_by_key(|&e| graph.edge_seq(e));
                    if let Some(e) = first {
                        let info = graph.edge_info(e);
                        tx_hashes.push((info.chain, info.tx_hash));
                    }
                }
                let (ca, a) = key(m.a);
                let (cb, _) = key(m.b);
                format!(
                    "address {} is active on {} and {}: one key, one owner",
                    a.to_hex(),
                    ca,
                    cb
                )
            }
            Heuristic::DepositReuse => format!(
                "{} and {} both paid into exchange deposit address {}",
                show(m.a),
                show(m.b),
                m.via.map(show).unwrap_or_default()
            ),
            Heuristic::GasFunder if m.via == Some(m.a) => {
                format!(
                    "{} paid the first incoming transfer (gas) of fresh address {}",
                    show(m.a),
                    show(m.b)
                )
            }
            Heuristic::GasFunder => format!(
                "{} paid the first incoming transfer (gas) of both fresh addresses {} and {}",
                m.via.map(show).unwrap_or_default(),
                show(m.a),
                show(m.b)
            ),
            Heuristic::SelfApproval => {
                let ap = m.approval.and_then(|i| self.approvals.get(i as usize));
                if let Some(ap) = ap {
                    tx_hashes.push((ap.chain, ap.tx_hash));
                    format!(
                        "{} approved externally owned {} to spend token {}",
                        show(m.a),
                        show(m.b),
                        ap.token.json_for(ap.chain)
                    )
                } else {
                    "self-approval".to_string()
                }
            }
        };
        MergeStep {
            from,
            to,
            heuristic: m.heuristic,
            via: m.via.map(key),
            tx_hashes,
            detail,
        }
    }
}

struct Builder<'a> {
    graph: &'a Graph,
    labels: &'a NodeLabels,
    uf: UnionFind,
    /// Per root: a node of the set carrying an actor label (u32::MAX if none).
    actor_node: Vec<u32>,
    blocked: Vec<bool>,
    /// Edge -> sender, built once: [`Graph::edge_src`] is a binary search per call.
    senders: Vec<NodeId>,
    /// Per node: 0 = not yet checked, 1 = not a deposit address, 2 = deposit address.
    deposit_memo: Vec<u8>,
    clock: BlockClock<'a>,
    merges: Vec<Merge>,
    refused: Vec<Refusal>,
    stats: ClusterStats,
}

impl Builder<'_> {
    fn eligible(&self, n: NodeId) -> bool {
        !self.blocked[n as usize]
    }

    fn side(&self, node: NodeId, labeled: NodeId) -> RefusedSide {
        RefusedSide {
            node,
            labeled_node: labeled,
            actor: self
                .labels
                .actor(labeled)
                .cloned()
                .unwrap_or_else(|| ActorId(String::new())),
            labels: self
                .labels
                .labels(labeled)
                .iter()
                .map(|l| l.text.clone())
                .collect(),
        }
    }

    fn propose(&mut self, m: Merge) {
        let h = hidx(m.heuristic);
        let (ra, rb) = (self.uf.root(m.a), self.uf.root(m.b));
        if ra == rb {
            self.stats.redundant[h] += 1;
            return;
        }
        let (la, lb) = (self.actor_node[ra as usize], self.actor_node[rb as usize]);
        if la != u32::MAX && lb != u32::MAX && !same_actor(self.labels.actor(la), self.labels.actor(lb)) {
            self.stats.refused[h] += 1;
            let (left, right) = (self.side(m.a, la), self.side(m.b, lb));
            self.refused.push(Refusal {
                merge: m,
                left,
                right,
            });
            return;
        }
        let root = self.uf.union(ra, rb).expect("roots differ");
        self.actor_node[root as usize] = if la != u32::MAX { la } else { lb };
        self.stats.merges[h] += 1;
        self.merges.push(m);
    }

    fn same_address(&mut self) {
        let g = self.graph;
        let chains = g.chains();
        // Each chain's nodes are a contiguous id range sorted by address: a k-way merge groups equal bodies.
        let mut cursors: Vec<(u32, u32)> = Vec::new();
        for c in &chains {
            let (lo, hi) = chain_node_range(g, *c);
            cursors.push((lo, hi));
        }
        let mut group: Vec<NodeId> = Vec::new();
        loop {
            let mut best: Option<Address> = None;
            for &(lo, hi) in &cursors {
                if lo < hi {
                    let a = g.node_key(lo).1;
                    if best.is_none_or(|b| a < b) {
                        best = Some(a);
                    }
                }
            }
            let Some(addr) = best else { break };
            group.clear();
            for cur in cursors.iter_mut() {
                if cur.0 < cur.1 && g.node_key(cur.0).1 == addr {
                    group.push(cur.0);
                    cur.0 += 1;
                }
            }
            if group.len() < 2 || addr == Address::ZERO || group.iter().any(|&n| !self.eligible(n)) {
                continue;
            }
            for i in 1..group.len() {
                let m = Merge {
                    a: group[0],
                    b: group[i],
                    heuristic: Heuristic::SameAddress,
                    via: None,
                    edges: [None, None],
                    approval: None,
                };
                self.propose(m);
            }
        }
    }

    /// Whether `d` is an eligible deposit address (memoised: gas-funder asks again for many nodes).
    fn is_deposit(&mut self, d: NodeId, rule: &DepositRule) -> bool {
        if !self.eligible(d) {
            return false;
        }
        match self.deposit_memo[d as usize] {
            1 => false,
            2 => true,
            _ => {
                let (senders, clock) = (&self.senders, &self.clock);
                let yes = deposit_address_with(
                    self.graph,
                    self.labels,
                    d,
                    rule,
                    |e| senders[e as usize],
                    |e| clock.time(e),
                );
                self.deposit_memo[d as usize] = if yes { 2 } else { 1 };
                yes
            }
        }
    }
}

/// Whether node `d` behaves as an exchange deposit address under `rule`: not itself exchange-labeled, at
/// least `min_exchange_out_pct` of its outgoing transfers go to exchange-labeled nodes, each such forward
/// follows an inflow by at most `max_forward_delay_secs`, and per asset it forwarded at least
/// `min_forwarded_pct` of what it received (exchange top-ups for gas not counted as received).
pub fn is_deposit_address(g: &Graph, labels: &NodeLabels, d: NodeId, rule: &DepositRule) -> bool {
    deposit_address_with(g, labels, d, rule, |e| g.edge_src(e), |e| edge_time(g, e))
}

/// [`is_deposit_address`] with the sender of an edge given by `src` and its block time by `time` (table
/// lookups in bulk passes).
fn deposit_address_with(
    g: &Graph,
    labels: &NodeLabels,
    d: NodeId,
    rule: &DepositRule,
    src: impl Fn(EdgeId) -> NodeId,
    time: impl Fn(EdgeId) -> u64,
) -> bool {
    if d >= g.node_count() || labels.is_exchange(d) {
        return false;
    }
    let outs = g.out_edges(d);
    let n_out = outs.len();
    if n_out == 0 || g.in_edge_slots(d).is_empty() {
        return false;
    }
    // Count first: most nodes send nothing to exchanges, and they should cost no allocation. Stop at the
    // first transfer that makes the exchange share too low whatever the rest (usually the first one).
    let need = n_out * usize::from(rule.min_exchange_out_pct);
    let mut n_other = 0usize;
    for e in outs.clone() {
        if !labels.is_exchange(g.edge_dst(e)) {
            n_other += 1;
            if (n_out - n_other) * 100 < need || n_other == n_out {
                return false;
            }
        }
    }
    let to_ex: Vec<EdgeId> = outs.filter(|&e| labels.is_exchange(g.edge_dst(e))).collect();
    // Per asset: received (not counting exchange top-ups) vs forwarded to exchanges.
    let mut per_asset: Vec<(u32, u128, u128)> = Vec::new();
    let mut in_seqs: Vec<(Seq, EdgeId)> = Vec::new();
    for e in g.in_edges(d) {
        if labels.is_exchange(src(e)) {
            continue;
        }
        let i = asset_slot(&mut per_asset, g.edge_asset(e));
        per_asset[i].1 = per_asset[i].1.saturating_add(amount_u128(g, e));
        in_seqs.push((g.edge_seq(e), e));
    }
    if in_seqs.is_empty() {
        return false;
    }
    for &e in &to_ex {
        let i = asset_slot(&mut per_asset, g.edge_asset(e));
        per_asset[i].2 = per_asset[i].2.saturating_add(amount_u128(g, e));
        // The latest inflow before this forward must be recent.
        let s = g.edge_seq(e);
        let k = in_seqs.partition_point(|x| x.0 < s);
        if k == 0 {
            return false;
        }
        let last_in = in_seqs[k - 1].1;
        if time(e).saturating_sub(time(last_in)) > rule.max_forward_delay_secs {
            return false;
        }
    }
    per_asset
        .iter()
        .all(|&(_, recv, fwd)| share_at_least(fwd, recv, rule.min_forwarded_pct))
}

impl Builder<'_> {
    fn deposit_reuse(&mut self, rule: &DepositRule) {
        let g = self.graph;
        let mut senders: Vec<(NodeId, EdgeId)> = Vec::new();
        for d in 0..g.node_count() {
            if !self.is_deposit(d, rule) {
                continue;
            }
            self.stats.deposit_addresses += 1;
            senders.clear();
            for e in g.in_edges(d) {
                let s = self.senders[e as usize];
                if s != d && self.eligible(s) && !senders.iter().any(|x| x.0 == s) {
                    senders.push((s, e));
                    if senders.len() as u32 > rule.max_senders {
                        break;
                    }
                }
            }
            if senders.len() as u32 > rule.max_senders {
                self.stats.crowded_deposit_addresses += 1;
                continue;
            }
            for i in 1..senders.len() {
                let m = Merge {
                    a: senders[0].0,
                    b: senders[i].0,
                    heuristic: Heuristic::DepositReuse,
                    via: Some(d),
                    edges: [Some(senders[0].1), Some(senders[i].1)],
                    approval: None,
                };
                self.propose(m);
            }
        }
    }

    fn self_approval(&mut self, approvals: &[Approval]) {
        let g = self.graph;
        for (i, ap) in approvals.iter().enumerate() {
            let owner = g.node(ap.chain, ap.owner);
            let spender = g.node(ap.chain, ap.spender);
            match (owner, spender, ap.spender_is_contract) {
                (Some(o), Some(s), Some(false)) if o != s && self.eligible(o) && self.eligible(s) => {
                    let m = Merge {
                        a: o,
                        b: s,
                        heuristic: Heuristic::SelfApproval,
                        via: None,
                        edges: [None, None],
                        approval: Some(i as u32),
                    };
                    self.propose(m);
                }
                _ => self.stats.approvals_skipped += 1,
            }
        }
    }

    fn gas_funder(&mut self, rule: &GasFunderRule, deposit: &DepositRule) {
        let g = self.graph;
        // A payment into an exchange deposit address is often that address's first incoming transfer:
        // deposit addresses are the exchange's, never "fresh addresses of the funder" (memoised per node).
        // Current run of gas fundings of one funder: (fresh node, funding edge), in seq order.
        let mut run: Vec<(NodeId, EdgeId)> = Vec::new();
        // Per node its first incoming edge (one sequential pass), so that "is this transfer the receiver's
        // first inflow" costs one scattered read instead of two; per asset whether it is the native coin.
        let first_in: Vec<EdgeId> = (0..g.node_count())
            .map(|x| {
                let r = g.in_edge_slots(x);
                if r.is_empty() {
                    EdgeId::MAX
                } else {
                    g.in_edge_at(r.start)
                }
            })
            .collect();
        let native: Vec<bool> = (0..g.asset_count())
            .map(|a| g.asset(a).1 == Asset::Native)
            .collect();
        for f in 0..g.node_count() {
            if !self.eligible(f) {
                continue;
            }
            let chain = g.node_chain(f);
            let max_amount = rule.max_amount[Chain::ALL.iter().position(|c| *c == chain).unwrap_or(0)];
            let mut funded_total = 0u32;
            let mut bursts: Vec<Vec<(NodeId, EdgeId)>> = Vec::new();
            run.clear();
            for e in g.out_edges(f) {
                let x = g.edge_dst(e);
                // Cheap checks on the edge itself first, the receiver's tables after.
                let is_gas = native[g.edge_asset(e) as usize]
                    && x != f
                    && first_in[x as usize] == e
                    && amount_u128(g, e) <= max_amount
                    && self.eligible(x)
                    && !self.is_deposit(x, deposit);
                // Any other outgoing transfer, or a pause longer than the window, ends the run. Block times
                // are looked up only to compare two fundings in a row (most funders fund one address).
                let pause = |run: &[(NodeId, EdgeId)]| {
                    run.last().is_some_and(|&(_, last)| {
                        self.clock.time(e).saturating_sub(self.clock.time(last)) > rule.burst_window_secs
                    })
                };
                if !is_gas || pause(&run) {
                    if run.len() >= 2 {
                        bursts.push(std::mem::take(&mut run));
                    }
                    run.clear();
                }
                if is_gas {
                    funded_total += 1;
                    run.push((x, e));
                }
            }
            if run.len() >= 2 {
                bursts.push(std::mem::take(&mut run));
            }
            if funded_total > rule.max_funded {
                self.stats.faucet_funders += 1;
                continue;
            }
            for burst in bursts {
                let (x0, e0) = burst[0];
                if rule.join_funder {
                    let m = Merge {
                        a: f,
                        b: x0,
                        heuristic: Heuristic::GasFunder,
                        via: Some(f),
                        edges: [Some(e0), None],
                        approval: None,
                    };
                    self.propose(m);
                }
                for &(x, e) in &burst[1..] {
                    let m = Merge {
                        a: x0,
                        b: x,
                        heuristic: Heuristic::GasFunder,
                        via: Some(f),
                        edges: [Some(e0), Some(e)],
                        approval: None,
                    };
                    self.propose(m);
                }
            }
        }
    }
}

/// Block time of an edge, unix seconds.
pub(crate) fn edge_time(g: &Graph, e: EdgeId) -> u64 {
    g.block_time(g.block_index(g.edge_seq(e)))
}

/// Block times of edges for passes that ask for millions: [`Graph::block_index`] is a binary search over
/// every block (its last ten or so reads cache misses on a large graph). This keeps the block of every
/// 256th seq (a table of edge_count / 256 entries, built in one forward sweep), so a lookup searches only
/// the few blocks between two such marks. Same answers as [`edge_time`].
pub(crate) struct BlockClock<'g> {
    graph: &'g Graph,
    /// `marks[k]` = block index of seq `k << MARK_SHIFT`.
    marks: Vec<u32>,
}

const MARK_SHIFT: u32 = 8;

impl<'g> BlockClock<'g> {
    pub(crate) fn new(graph: &'g Graph) -> BlockClock<'g> {
        let n = (graph.edge_count() >> MARK_SHIFT) + 1;
        let mut marks = Vec::with_capacity(n as usize);
        let mut prev = None;
        for k in 0..n {
            let b = seq_index(
                k << MARK_SHIFT,
                prev,
                |i| graph.block_seqs(i).start,
                || graph.block_index(k << MARK_SHIFT),
            );
            marks.push(b);
            prev = Some(b);
        }
        BlockClock { graph, marks }
    }

    /// Block index of the transfer of rank `seq` (as [`Graph::block_index`]).
    pub(crate) fn block(&self, seq: Seq) -> u32 {
        let g = self.graph;
        let k = (seq >> MARK_SHIFT) as usize;
        let first = |i: u32| g.block_seqs(i).start;
        match (self.marks.get(k), self.marks.get(k + 1)) {
            // The answer lies in marks[k]..=marks[k + 1].
            (Some(&lo), Some(&hi)) => lo + partition(hi - lo, |i| first(lo + 1 + i) <= seq),
            (Some(&lo), None) => seq_index(seq, Some(lo), first, || g.block_index(seq)),
            _ => g.block_index(seq),
        }
    }

    /// Block time of an edge, unix seconds (as [`edge_time`]).
    pub(crate) fn time(&self, e: EdgeId) -> u64 {
        self.graph.block_time(self.block(self.graph.edge_seq(e)))
    }
}

/// First index in `0..len` where `pred` is false (`pred` true on a prefix).
pub(crate) fn partition(len: u32, mut pred: impl FnMut(u32) -> bool) -> u32 {
    let (mut lo, mut hi) = (0u32, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The last index `i` with `first(i) <= seq`, as [`Graph::block_index`] and [`Graph::tx_index`] find it
/// (`first` is non-decreasing and past the end returns the edge count, above every seq), searched forward
/// from `from`: the answer for a seq not above this one. `full` is the plain binary search, used without
/// such a start.
pub(crate) fn seq_index(
    seq: Seq,
    from: Option<u32>,
    first: impl Fn(u32) -> u32,
    full: impl FnOnce() -> u32,
) -> u32 {
    let Some(lo) = from else { return full() };
    // Gallop: find a bound `hi` with first(hi) > seq, then binary search in between.
    let mut step = 1u32;
    let mut ok = lo;
    let hi = loop {
        let probe = lo.saturating_add(step);
        if probe == u32::MAX || first(probe) > seq {
            break probe;
        }
        ok = probe;
        step = step.saturating_mul(2);
    };
    ok + partition(hi - ok - 1, |i| first(ok + 1 + i) <= seq)
}

fn same_actor(a: Option<&ActorId>, b: Option<&ActorId>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x.0.eq_ignore_ascii_case(&y.0),
        _ => a.is_none() && b.is_none(),
    }
}

fn asset_slot(per_asset: &mut Vec<(u32, u128, u128)>, asset: u32) -> usize {
    match per_asset.iter().position(|x| x.0 == asset) {
        Some(i) => i,
        None => {
            per_asset.push((asset, 0, 0));
            per_asset.len() - 1
        }
    }
}

/// Whether `part` is at least `pct` percent of `whole` (exact unless the products overflow u128; then to
/// within 1%).
fn share_at_least(part: u128, whole: u128, pct: u8) -> bool {
    match (part.checked_mul(100), whole.checked_mul(u128::from(pct))) {
        (Some(p), Some(w)) => p >= w,
        _ => part / u128::from(pct.max(1)) >= whole / 100,
    }
}

fn amount_u128(g: &Graph, e: EdgeId) -> u128 {
    u128::try_from(g.edge_amount(e)).unwrap_or(u128::MAX)
}

/// The node id range of one chain (nodes are sorted by chain, then address).
pub(crate) fn chain_node_range(g: &Graph, chain: Chain) -> (NodeId, NodeId) {
    let n = g.node_count();
    let ci = Chain::ALL.iter().position(|c| *c == chain).unwrap_or(0);
    let first_at_least = |k: usize| -> NodeId {
        // Smallest node whose chain index is >= k.
        let (mut lo, mut hi) = (0u32, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let mc = Chain::ALL
                .iter()
                .position(|c| *c == g.node_chain(mid))
                .unwrap_or(0);
            if mc < k {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    };
    (first_at_least(ci), first_at_least(ci + 1))
}

/// Clusters the nodes of `graph` with the heuristics of `config`, never through service-labeled nodes or
/// hubs, refusing merges that would join two labeled actors. `approvals` feed the self-approval rule (pass
/// `&[]` when none are known: chaintrace does not ingest Approval logs yet). Linear in nodes + edges.
pub fn cluster(
    graph: &Graph,
    labels: &NodeLabels,
    approvals: &[Approval],
    config: &ClusterConfig,
) -> Result<Clustering, ClusterError> {
    if config.hub_degree == 0 {
        return Err(ClusterError::BadConfig {
            field: "hub_degree",
            reason: "must be at least 1",
        });
    }
    if config.deposit.min_exchange_out_pct > 100 || config.deposit.min_forwarded_pct > 100 {
        return Err(ClusterError::BadConfig {
            field: "deposit",
            reason: "percentages must be 0..=100",
        });
    }
    let n = graph.node_count();
    let mut stats = ClusterStats {
        nodes: u64::from(n),
        ..ClusterStats::default()
    };
    let mut blocked = vec![false; n as usize];
    let mut actor_node = vec![u32::MAX; n as usize];
    for x in 0..n {
        let degree = graph.out_edges(x).len() as u64 + graph.in_edge_slots(x).len() as u64;
        if labels.is_service(x) {
            stats.service_nodes += 1;
            blocked[x as usize] = true;
        } else if degree > u64::from(config.hub_degree) {
            stats.hub_nodes += 1;
            blocked[x as usize] = true;
        }
    }
    for c in graph.chains() {
        if let Some(z) = graph.node(c, Address::ZERO) {
            blocked[z as usize] = true;
        }
    }
    for &x in labels.actor_of.keys() {
        if x < n {
            actor_node[x as usize] = x;
        }
    }
    let needs_senders = config.heuristics.contains(&Heuristic::DepositReuse)
        || config.heuristics.contains(&Heuristic::GasFunder);
    let mut senders = Vec::new();
    if needs_senders {
        senders = vec![0; graph.edge_count() as usize];
        for x in 0..n {
            let r = graph.out_edges(x);
            senders[r.start as usize..r.end as usize].fill(x);
        }
    }
    let mut b = Builder {
        graph,
        labels,
        uf: UnionFind::new(n),
        actor_node,
        blocked,
        senders,
        deposit_memo: vec![0; n as usize],
        clock: BlockClock::new(graph),
        merges: Vec::new(),
        refused: Vec::new(),
        stats,
    };
    for h in Heuristic::ALL {
        if !config.heuristics.contains(&h) {
            continue;
        }
        match h {
            Heuristic::SameAddress => b.same_address(),
            Heuristic::DepositReuse => b.deposit_reuse(&config.deposit),
            Heuristic::SelfApproval => b.self_approval(approvals),
            Heuristic::GasFunder => b.gas_funder(&config.gas, &config.deposit),
        }
    }
    let Builder {
        mut uf,
        merges,
        refused,
        mut stats,
        ..
    } = b;
    let canon: Vec<ClusterId> = (0..n).map(|x| uf.canonical(x)).collect();
    // Members grouped by cluster (counting sort): member_start[c]..member_start[c+1].
    let mut member_start = vec![0u32; n as usize + 1];
    for &c in &canon {
        member_start[c as usize + 1] += 1;
    }
    for i in 0..n as usize {
        member_start[i + 1] += member_start[i];
    }
    let mut fill = member_start.clone();
    let mut members = vec![0u32; n as usize];
    for (x, &c) in canon.iter().enumerate() {
        members[fill[c as usize] as usize] = x as u32;
        fill[c as usize] += 1;
    }
    for c in 0..n as usize {
        let size = member_start[c + 1] - member_start[c];
        if size > 1 {
            stats.multi_member_clusters += 1;
            stats.clustered_nodes += u64::from(size);
        }
    }
    Ok(Clustering {
        canon,
        member_start,
        members,
        merges,
        refused,
        approvals: approvals.to_vec(),
        stats,
    })
}

#[cfg(test)]
mod sim_eval;
#[cfg(test)]
pub(crate) mod tests;

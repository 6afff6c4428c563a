//! Link discovery: what connects one set of addresses to another, each link with its evidence.
//!
//! [`links`] looks for, between every `from` node and every target node:
//! - [`LinkKind::Direct`]: transfers between them, either way;
//! - [`LinkKind::Path`]: time-respecting paths of up to `max_hops` transfers, either way (each transfer not
//!   earlier than the previous one), found by a multi-source meet-in-the-middle search: all `from` nodes
//!   search forward `ceil(h/2)` hops, all targets search backward `floor(h/2)` hops, and a node reached by
//!   both with forward arrival before backward departure joins a path. Complete and sound for the hop limit
//!   (see `docs/links.md`), except for what hub caps cut, which is reported;
//! - [`LinkKind::SameAddress`]: the same 20-byte address on two chains;
//! - [`LinkKind::SharedDeposit`]: both paid into one exchange deposit address (one exchange customer);
//! - [`LinkKind::CommonFunder`]: one funder paid the first-ever incoming transfer of both;
//! - [`LinkKind::SameCluster`]: a clustering (when given) put both in one cluster; the merge chain is the
//!   evidence.
//!
//! Paths never pass through exits or services (exchange, mixer, bridge, DeFi router, sanctioned: they
//! mix many owners' funds) as intermediate hops, and expand at most `fan_out_cap` transfers per node; both
//! are counted and cut nodes reported as [`Truncation`]s. Pure: no I/O.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};

use chaintrace_core::{Address, Asset, Category, Chain, TxHash};

use chaintrace_graph::{EdgeId, EdgeInfo, Graph, NodeId};

use crate::cluster::{Clustering, DepositRule, NodeLabels, is_deposit_address, partition, seq_index};

/// Multiplicative hasher for u32 keys (node ids, pairs of them): the std SipHash costs more than the
/// search itself.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0.rotate_left(32) ^ u64::from(i) ^ 0x9E37_79B9_7F4A_7C15)
            .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
}

type IdMap<V> = HashMap<NodeId, V, BuildHasherDefault<IdHasher>>;
type PairMap<V> = HashMap<(NodeId, NodeId), V, BuildHasherDefault<IdHasher>>;
type IdSet = HashSet<NodeId, BuildHasherDefault<IdHasher>>;

/// What to link the `from` nodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// These nodes.
    Nodes(Vec<NodeId>),
    /// Every node labeled with this actor (id compared ignoring case).
    Actor(String),
    /// Every node with a label of this category.
    Category(Category),
}

/// A link search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkQuery {
    /// Start nodes.
    pub from: Vec<NodeId>,
    /// Targets.
    pub to: Target,
    /// Most transfers on a path (1..=12).
    pub max_hops: u32,
    /// Most transfers expanded per node and direction; beyond, the node is reported as truncated.
    pub fan_out_cap: u32,
    /// Nodes with more transfers than this are not used as deposit addresses or funders (services).
    pub hub_degree: u32,
    /// How deposit addresses are recognized.
    pub deposit: DepositRule,
    /// Most transaction hashes listed per direct link (all transfers are counted).
    pub max_tx_listed: usize,
}

/// Default hop limit.
pub const DEFAULT_MAX_HOPS: u32 = 6;
/// Default fan-out cap.
pub const DEFAULT_FAN_OUT_CAP: u32 = 200;

impl LinkQuery {
    /// A query with default limits.
    pub fn new(from: Vec<NodeId>, to: Target) -> LinkQuery {
        LinkQuery {
            from,
            to,
            max_hops: DEFAULT_MAX_HOPS,
            fan_out_cap: DEFAULT_FAN_OUT_CAP,
            hub_degree: 10_000,
            deposit: DepositRule::default(),
            max_tx_listed: 20,
        }
    }
}

/// Errors of a link search.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// No start node.
    #[error("no start address given")]
    NoStart,
    /// The target resolves to no node of the graph.
    #[error("target {0} matches no address in the graph")]
    EmptyTarget(String),
    /// A node id outside the graph.
    #[error("node {node} is not in the graph ({nodes} nodes)")]
    UnknownNode {
        /// The id.
        node: NodeId,
        /// Node count.
        nodes: u32,
    },
    /// A limit out of range.
    #[error("{what} must be within {min}..={max}, got {got}")]
    BadLimit {
        /// Which limit.
        what: &'static str,
        /// Lowest allowed.
        min: u32,
        /// Highest allowed.
        max: u32,
        /// Given.
        got: u32,
    },
}

/// Kind of a link (and of its evidence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkKind {
    /// Transfers between the two.
    Direct,
    /// A time-respecting path of several transfers.
    Path,
    /// The same 20-byte address on two chains.
    SameAddress,
    /// Both paid into one exchange deposit address.
    SharedDeposit,
    /// One funder paid the first incoming transfer of both.
    CommonFunder,
    /// One cluster.
    SameCluster,
}

impl LinkKind {
    /// Lowercase name used in output.
    pub fn name(self) -> &'static str {
        match self {
            LinkKind::Direct => "direct",
            LinkKind::Path => "path",
            LinkKind::SameAddress => "same_address",
            LinkKind::SharedDeposit => "shared_deposit",
            LinkKind::CommonFunder => "common_funder",
            LinkKind::SameCluster => "same_cluster",
        }
    }
}

/// Which way value moved along a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkDirection {
    /// From the `from` node to the target.
    Outgoing,
    /// From the target to the `from` node.
    Incoming,
    /// Both ways (direct transfers each way) or no flow (shared address, deposit, funder, cluster).
    Undirected,
}

impl LinkDirection {
    /// Lowercase name used in output.
    pub fn name(self) -> &'static str {
        match self {
            LinkDirection::Outgoing => "outgoing",
            LinkDirection::Incoming => "incoming",
            LinkDirection::Undirected => "undirected",
        }
    }
}

/// One piece of evidence: a fact on one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// What it shows.
    pub kind: LinkKind,
    /// Chain.
    pub chain: Chain,
    /// Transactions.
    pub tx_hashes: Vec<TxHash>,
    /// Addresses involved, in order (e.g. sender, receiver).
    pub addresses: Vec<Address>,
    /// One sentence for people.
    pub detail: String,
}

/// A connection between a `from` node and a target node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Kind.
    pub kind: LinkKind,
    /// The `from` node.
    pub from: NodeId,
    /// The target node.
    pub to: NodeId,
    /// Which way value moved.
    pub direction: LinkDirection,
    /// Transfers on the path (1 for direct transfers, 0 for links that are not flows).
    pub hops: u32,
    /// The facts, in order (path: one per transfer from start to end).
    pub evidence: Vec<Evidence>,
}

/// A node whose transfers were not all expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    /// The node.
    pub node: NodeId,
    /// Search direction that was cut (outgoing = forward search).
    pub direction: LinkDirection,
    /// Transfers that qualified for expansion.
    pub qualifying: u64,
    /// Transfers expanded.
    pub followed: u32,
}

/// Result of [`links`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkReport {
    /// Links, sorted by (from, to, kind, direction).
    pub links: Vec<Link>,
    /// Nodes cut by the fan-out cap.
    pub truncated: Vec<Truncation>,
    /// Times an exit or service node was reached as an intermediate hop and not expanded.
    pub exits_skipped: u64,
    /// Number of target nodes searched.
    pub targets: usize,
    /// Nodes visited by the path searches.
    pub visited: u64,
}

/// Finds every link between `query.from` and the target nodes (see the module docs). `clustering`, when
/// given, adds [`LinkKind::SameCluster`] links; `labels` resolves actor and category targets and marks exits.
pub fn links(
    graph: &Graph,
    labels: &NodeLabels,
    clustering: Option<&Clustering>,
    query: &LinkQuery,
) -> Result<LinkReport, LinkError> {
    let n = graph.node_count();
    if query.from.is_empty() {
        return Err(LinkError::NoStart);
    }
    if !(1..=12).contains(&query.max_hops) {
        return Err(LinkError::BadLimit {
            what: "max hops",
            min: 1,
            max: 12,
            got: query.max_hops,
        });
    }
    if query.fan_out_cap == 0 {
        return Err(LinkError::BadLimit {
            what: "fan-out cap",
            min: 1,
            max: u32::MAX,
            got: 0,
        });
    }
    let targets: Vec<NodeId> = match &query.to {
        Target::Nodes(v) => v.clone(),
        Target::Actor(a) => labels.nodes_of_actor(a),
        Target::Category(c) => labels.nodes_of_category(*c),
    };
    for &x in query.from.iter().chain(&targets) {
        if x >= n {
            return Err(LinkError::UnknownNode { node: x, nodes: n });
        }
    }
    if targets.is_empty() {
        let what = match &query.to {
            Target::Nodes(_) => "(no nodes)".to_string(),
            Target::Actor(a) => format!("actor {a}"),
            Target::Category(c) => format!("category {c}"),
        };
        return Err(LinkError::EmptyTarget(what));
    }
    let mut from: Vec<NodeId> = query.from.clone();
    from.sort_unstable();
    from.dedup();
    let mut targets = targets;
    targets.sort_unstable();
    targets.dedup();

    let mut report = LinkReport {
        targets: targets.len(),
        ..LinkReport::default()
    };
    let mut out: Vec<Link> = Vec::new();
    direct(graph, &from, &targets, query, &mut out);
    let hf = query.max_hops.div_ceil(2);
    let hb = query.max_hops / 2;
    // Per (from, to): the directions of its direct link, as bits (see `dir_bit`).
    let mut direct_pairs: PairMap<u8> = PairMap::default();
    for l in &out {
        *direct_pairs.entry((l.from, l.to)).or_default() |= dir_bit(l.direction);
    }
    let has_direct = |f: NodeId, t: NodeId, d: LinkDirection| {
        direct_pairs.get(&(f, t)).is_some_and(|&b| b & dir_bit(d) != 0)
    };
    // The two directions are independent searches. Running them on two threads was tried and measured
    // slower on the shared 2-core benchmark machine (docs/links.md), so they run one after the other.
    let mut senders = Senders::new(graph);
    let cap = query.fan_out_cap;
    let mut outgoing = (Vec::new(), LinkReport::default());
    outgoing.0 = paths(
        graph,
        labels,
        &mut senders,
        &from,
        &targets,
        hf,
        hb,
        cap,
        &mut outgoing.1,
    );
    let mut incoming = (Vec::new(), LinkReport::default());
    incoming.0 = paths(
        graph,
        labels,
        &mut senders,
        &targets,
        &from,
        hf,
        hb,
        cap,
        &mut incoming.1,
    );
    let mut kept: Vec<(NodeId, NodeId, LinkDirection, Vec<EdgeId>)> = Vec::new();
    for (dir, (found, part)) in [
        (LinkDirection::Outgoing, outgoing),
        (LinkDirection::Incoming, incoming),
    ] {
        report.truncated.extend(part.truncated);
        report.exits_skipped += part.exits_skipped;
        report.visited += part.visited;
        for (s, t, edges) in found {
            let (f, to) = if dir == LinkDirection::Outgoing {
                (s, t)
            } else {
                (t, s)
            };
            let both_direct = has_direct(f, to, LinkDirection::Undirected);
            if edges.len() == 1 || has_direct(f, to, dir) || both_direct {
                continue;
            }
            kept.push((f, to, dir, edges));
        }
    }
    let flat: Vec<EdgeId> = kept.iter().flat_map(|k| k.3.iter().copied()).collect();
    let hops: Vec<u32> = kept.iter().flat_map(|k| 1..=k.3.len() as u32).collect();
    let mut evidence = path_evidence(graph, &mut senders, &flat, &hops).into_iter();
    drop((flat, hops));
    out.reserve(kept.len());
    for (f, to, direction, edges) in kept {
        out.push(Link {
            kind: LinkKind::Path,
            from: f,
            to,
            direction,
            hops: edges.len() as u32,
            evidence: evidence.by_ref().take(edges.len()).collect(),
        });
    }
    same_address(graph, &from, &targets, &mut out);
    shared_deposits(graph, labels, &from, &targets, query, &mut out);
    common_funders(graph, labels, &from, &targets, query, &mut out);
    if let Some(c) = clustering {
        same_cluster(graph, c, &from, &targets, &mut out);
    }
    out.sort_by_key(|l| (l.from, l.to, l.kind, l.direction));
    report.links = out;
    report.truncated.sort_by_key(|t| (t.node, t.direction));
    report.truncated.dedup();
    Ok(report)
}

/// One bit per direction.
fn dir_bit(d: LinkDirection) -> u8 {
    match d {
        LinkDirection::Outgoing => 1,
        LinkDirection::Incoming => 2,
        LinkDirection::Undirected => 4,
    }
}

fn describe_edge(graph: &Graph, e: EdgeId) -> (Chain, TxHash, Address, Address, String) {
    describe(&graph.edge_info(e))
}

fn describe(info: &EdgeInfo) -> (Chain, TxHash, Address, Address, String) {
    let detail = format!(
        "{} -> {}: {} of {} at block {} (time {})",
        info.from.json_for(info.chain),
        info.to.json_for(info.chain),
        info.amount,
        info.asset.json_for(info.chain),
        info.block,
        info.time
    );
    (info.chain, info.tx_hash, info.from, info.to, detail)
}

fn direct(graph: &Graph, from: &[NodeId], targets: &[NodeId], q: &LinkQuery, out: &mut Vec<Link>) {
    let tset: IdSet = targets.iter().copied().collect();
    for &f in from {
        let mut per: IdMap<(Vec<EdgeId>, Vec<EdgeId>)> = IdMap::default();
        for e in graph.out_edges(f) {
            let d = graph.edge_dst(e);
            if d != f && tset.contains(&d) {
                per.entry(d).or_default().0.push(e);
            }
        }
        for e in graph.in_edges(f) {
            let s = graph.edge_src(e);
            if s != f && tset.contains(&s) {
                per.entry(s).or_default().1.push(e);
            }
        }
        for (t, (outs, ins)) in per {
            let direction = match (outs.is_empty(), ins.is_empty()) {
                (false, true) => LinkDirection::Outgoing,
                (true, false) => LinkDirection::Incoming,
                _ => LinkDirection::Undirected,
            };
            let chain = graph.node_chain(f);
            let total = outs.len() + ins.len();
            let mut tx_hashes = Vec::new();
            let mut listed: Vec<EdgeId> = outs.iter().chain(&ins).copied().collect();
            listed.sort_by_key(|&e| graph.edge_seq(e));
            for &e in listed.iter().take(q.max_tx_listed) {
                let h = graph.edge_info(e).tx_hash;
                if !tx_hashes.contains(&h) {
                    tx_hashes.push(h);
                }
            }
            let detail = format!(
                "{} transfer(s) from {} to {} and {} back{}",
                outs.len(),
                graph.node_key(f).1.json_for(chain),
                graph.node_key(t).1.json_for(chain),
                ins.len(),
                if total > q.max_tx_listed {
                    format!("; first {} listed", q.max_tx_listed)
                } else {
                    String::new()
                }
            );
            let evidence = vec![Evidence {
                kind: LinkKind::Direct,
                chain,
                tx_hashes,
                addresses: vec![graph.node_key(f).1, graph.node_key(t).1],
                detail,
            }];
            out.push(Link {
                kind: LinkKind::Direct,
                from: f,
                to: t,
                direction,
                hops: 1,
                evidence,
            });
        }
    }
}

/// Appends an address as [`Address::json_for`] writes it, without an intermediate string on EVM chains.
fn push_address(out: &mut String, a: &Address, chain: Chain) {
    if chain.is_evm() {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 42];
        text[..2].copy_from_slice(b"0x");
        for (i, b) in a.0.iter().enumerate() {
            text[2 + 2 * i] = HEX[usize::from(b >> 4)];
            text[3 + 2 * i] = HEX[usize::from(b & 0xf)];
        }
        out.push_str(std::str::from_utf8(&text).expect("hex digits are ascii"));
    } else {
        out.push_str(&a.json_for(chain));
    }
}

/// Appends `v` in decimal (as `Display` writes it) without the formatting machinery.
fn push_decimal(out: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[i..]).expect("decimal digits are ascii"));
}

/// Appends the text [`describe`] gives `info`, written in place (no intermediate strings).
fn describe_into(out: &mut String, info: &EdgeInfo, narrow_amount: Option<u64>) {
    let chain = info.chain;
    push_address(out, &info.from, chain);
    out.push_str(" -> ");
    push_address(out, &info.to, chain);
    out.push_str(": ");
    // A u64 prints as the same digits as the U256 holding it.
    match narrow_amount {
        Some(v) => push_decimal(out, v),
        None => {
            let _ = write!(out, "{}", info.amount);
        }
    }
    out.push_str(" of ");
    match info.asset {
        Asset::Native => out.push_str("native"),
        Asset::Token(a) => push_address(out, &a, chain),
    }
    out.push_str(" at block ");
    push_decimal(out, info.block);
    out.push_str(" (time ");
    push_decimal(out, info.time);
    out.push(')');
}

/// The evidence of every path edge: `edges` are the paths' edges one after the other, `hops[i]` the 1-based
/// position of `edges[i]` on its path; the answer is in the same order. Each distinct edge is described once
/// (paths share many of their edges, and describing one takes several lookups and a sentence), in seq order,
/// so that the block and transaction of each is found by a short search forward from the previous one's
/// instead of a binary search over all blocks and transactions (two times twenty scattered reads per edge).
fn path_evidence(graph: &Graph, senders: &mut Senders<'_>, edges: &[EdgeId], hops: &[u32]) -> Vec<Evidence> {
    // Seq in the high half, slot in the low half: sorted by seq, and one edge's slots side by side (seqs
    // are unique per edge).
    let mut order: Vec<u64> = edges
        .iter()
        .enumerate()
        .map(|(i, &e)| (u64::from(graph.edge_seq(e)) << 32) | i as u64)
        .collect();
    order.sort_unstable();
    // Distinct edges in seq order.
    let mut uniq: Vec<(u32, EdgeId)> = Vec::with_capacity(edges.len() / 2);
    for &key in &order {
        let seq = (key >> 32) as u32;
        if uniq.last().map(|u| u.0) != Some(seq) {
            uniq.push((seq, edges[key as u32 as usize]));
        }
    }
    // The reads go in passes, each over every edge: within a pass one edge's reads do not wait for the
    // previous edge's, so the processor overlaps their cache misses (a loop doing all the reads and the
    // writing per edge waits for each miss in turn). First what the edge id alone gives.
    let mut raw = Vec::with_capacity(uniq.len());
    let mut bi = None;
    for &(seq, e) in &uniq {
        let b = seq_index(seq, bi, |i| graph.block_seqs(i).start, || graph.block_index(seq));
        // O(1) (a rank in the transaction-start bitmap): no search from the previous answer needed.
        let t = graph.tx_index(seq);
        bi = Some(b);
        raw.push((senders.of(e), graph.edge_dst(e), graph.edge_asset(e), b, t));
    }
    // Then what the nodes, blocks and transactions give; the hashes in one batch, in ascending order (they
    // are read from the snapshot file, see `Graph::tx_hashes`).
    let hashes = graph.tx_hashes(&raw.iter().map(|r| r.4).collect::<Vec<_>>());
    let infos: Vec<(EdgeInfo, Option<u64>)> = uniq
        .iter()
        .zip(&raw)
        .zip(hashes)
        .map(|((&(seq, e), &(src, dst, asset, b, _)), tx_hash)| {
            let (chain, from) = graph.node_key(src);
            let info = EdgeInfo {
                chain,
                from,
                to: graph.node_key(dst).1,
                asset: graph.asset(asset).1,
                amount: graph.edge_amount(e),
                block: graph.block_number(b),
                time: graph.block_time(b),
                tx_hash,
                seq,
            };
            debug_assert_eq!(info, graph.edge_info(e));
            (info, graph.edge_amount_narrow(e))
        })
        .collect();
    drop(raw);
    // Then the sentences, each written once and copied into the evidence of every slot of its edge (the
    // slots are filled out of order; each is filled exactly once).
    let mut slots: Vec<Option<Evidence>> = vec![None; edges.len()];
    let mut sentence = String::with_capacity(256);
    let mut next = 0;
    for &key in &order {
        let (seq, slot) = ((key >> 32) as u32, key as u32 as usize);
        if next == 0 || infos[next - 1].0.seq != seq {
            let (info, narrow) = &infos[next];
            sentence.clear();
            describe_into(&mut sentence, info, *narrow);
            debug_assert_eq!(sentence, describe(info).4);
            next += 1;
        }
        let info = &infos[next - 1].0;
        // Same text as `format!("hop {}: {sentence}", hops[slot])`, allocated once at its final size.
        let mut detail = String::with_capacity(sentence.len() + 12);
        detail.push_str("hop ");
        push_decimal(&mut detail, u64::from(hops[slot]));
        detail.push_str(": ");
        detail.push_str(&sentence);
        slots[slot] = Some(Evidence {
            kind: LinkKind::Path,
            chain: info.chain,
            tx_hashes: vec![info.tx_hash],
            addresses: vec![info.from, info.to],
            detail,
        });
    }
    slots
        .into_iter()
        .map(|x| x.expect("every slot has an edge, and every edge was described"))
        .collect()
}

/// One label improvement of a node in a level-synchronous search.
#[derive(Debug, Clone, Copy)]
struct Entry {
    level: u8,
    /// Forward: seq + 1 of the arriving edge (0 at a start). Backward: seq + 1 of the departing edge
    /// (u32::MAX at a target).
    enc: u32,
    edge: EdgeId,
    pred: NodeId,
    /// Older entry of the same node, or NONE.
    older: u32,
    /// Transfers from the start along [`Side::chain_to`] (the walk's length, kept so that it need not be
    /// walked).
    hops: u8,
    /// The start that walk ends at.
    root: NodeId,
}

const NONE: u32 = u32::MAX;

/// Role bits of a node in one [`paths`] call.
const ROLE_SRC: u32 = 1;
const ROLE_DST: u32 = 2;

/// A value per node, `T::default()` when unset: a hash map while few nodes are set, a dense array once many
/// are (a small query on a large graph must not pay for zeroing one slot per node; a large one must not pay
/// for hashing).
enum NodeMap<T> {
    Sparse(IdMap<T>, u32),
    Dense(Vec<T>),
}

impl<T: Copy + Default> NodeMap<T> {
    fn new(n: u32) -> NodeMap<T> {
        NodeMap::Sparse(IdMap::default(), n)
    }

    #[inline]
    fn get(&self, x: NodeId) -> T {
        match self {
            NodeMap::Sparse(m, _) => m.get(&x).copied().unwrap_or_default(),
            NodeMap::Dense(v) => v[x as usize],
        }
    }

    #[inline]
    fn set(&mut self, x: NodeId, value: T) {
        match self {
            NodeMap::Dense(v) => v[x as usize] = value,
            NodeMap::Sparse(m, n) => {
                m.insert(x, value);
                // Dense once the map holds 1/32 of the nodes: then zeroing n slots costs about as much as
                // the hashing done so far.
                if m.len() as u64 * 32 > u64::from(*n) {
                    let mut v = vec![T::default(); *n as usize];
                    for (&k, &val) in m.iter() {
                        v[k as usize] = val;
                    }
                    *self = NodeMap::Dense(v);
                }
            }
        }
    }
}

/// Per node in a [`Side`]: its newest entry and that entry's label, so that most candidate edges are
/// rejected with one read.
#[derive(Debug, Clone, Copy, Default)]
struct Head {
    /// 1 + index of the newest entry, 0 when not reached.
    index: u32,
    /// `enc` of the newest entry.
    enc: u32,
}

/// One bit per node.
struct Bits(Vec<u64>);

impl Bits {
    /// Bits of `n` nodes, those of `set` on.
    fn of(n: u32, set: &[NodeId]) -> Bits {
        let mut b = Bits(vec![0; (n as usize).div_ceil(64)]);
        for &x in set {
            b.insert(x);
        }
        b
    }

    #[inline]
    fn get(&self, x: NodeId) -> bool {
        self.0[(x >> 6) as usize] & (1 << (x & 63)) != 0
    }

    /// Sets the bit; whether it was clear.
    #[inline]
    fn insert(&mut self, x: NodeId) -> bool {
        let w = &mut self.0[(x >> 6) as usize];
        let was_clear = *w & (1 << (x & 63)) == 0;
        *w |= 1 << (x & 63);
        was_clear
    }
}

/// One direction of the meet-in-the-middle search: per node its label history, newest first.
struct Side {
    head: NodeMap<Head>,
    /// Nodes reached, in order of first reach (except those only counted in `only_counted`).
    reached: Vec<NodeId>,
    entries: Vec<Entry>,
    /// Every node reached, `reached` and counted ones alike: kept from the level that counts (only a large
    /// search has one: see [`paths`]).
    seen: Option<Bits>,
    /// Nodes first reached at a last level that the other side never reached: they cannot be meeting
    /// points, so they are only counted (for [`LinkReport::visited`]), not labeled.
    only_counted: u64,
}

impl Side {
    fn new(n: u32) -> Side {
        Side {
            head: NodeMap::new(n),
            reached: Vec::new(),
            entries: Vec::new(),
            seen: None,
            only_counted: 0,
        }
    }

    #[inline]
    fn head_of(&self, x: NodeId) -> Option<u32> {
        match self.head.get(x).index {
            0 => None,
            h => Some(h - 1),
        }
    }

    fn best(&self, x: NodeId) -> Option<&Entry> {
        self.head_of(x).map(|i| &self.entries[i as usize])
    }

    /// Newest entry of `x` with level <= `level`.
    fn at_level(&self, x: NodeId, level: u8) -> Option<&Entry> {
        let mut i = self.head_of(x)?;
        while i != NONE {
            let en = &self.entries[i as usize];
            if en.level <= level {
                return Some(en);
            }
            i = en.older;
        }
        None
    }

    /// Edges from the start to `x` (forward) or from `x` to the target (backward, reversed by caller).
    fn chain_to(&self, x: NodeId) -> Option<(NodeId, Vec<EdgeId>)> {
        let mut en = *self.best(x)?;
        let mut at = x;
        let mut edges = Vec::new();
        while en.level > 0 {
            edges.push(en.edge);
            at = en.pred;
            en = *self.at_level(at, en.level - 1)?;
        }
        Some((at, edges))
    }

    /// Start and hops from it to `x` along [`Side::chain_to`], without walking the chain: each entry
    /// carries them from its predecessor's entry, which is the one `chain_to` steps to. The predecessor
    /// was in the frontier of the entry's level, and its newest entry with a lower level was final then:
    /// later levels only add entries of higher levels or change those in place.
    fn hops_to(&self, x: NodeId) -> Option<(NodeId, usize)> {
        let en = self.best(x)?;
        let got = (en.root, usize::from(en.hops));
        debug_assert_eq!(Some(got), self.chain_to(x).map(|(at, edges)| (at, edges.len())));
        Some(got)
    }

    /// Applies a batch of candidate edges of one level. The outcome does not depend on the order of the
    /// candidates (nor on how a level is cut into batches): per node, each level keeps the one best label
    /// among its candidates (edge seqs are unique), if it beats the node's label from earlier levels.
    ///
    /// With `meet_only` (at the last level, the other side's reached nodes), a candidate to a node outside
    /// it only counts the node as reached: labels of the last level are read only at meeting points
    /// (a chain steps from a label to a lower level's), so no answer depends on the others'.
    fn relax(
        &mut self,
        batch: &mut Vec<Candidate>,
        level: u8,
        forward: bool,
        next: &mut Vec<NodeId>,
        meet_only: Option<&Bits>,
    ) {
        if let (Some(other), Some(seen)) = (meet_only, &mut self.seen) {
            batch.retain(|c| {
                if c.node == c.pred || other.get(c.node) {
                    return true;
                }
                if seen.insert(c.node) {
                    self.only_counted += 1;
                }
                false
            });
        }
        // Read every head first: independent loads the processor overlaps, so the update pass below, whose
        // branches depend on them, finds them in cache.
        if let NodeMap::Dense(v) = &self.head {
            let mut touch = 0u32;
            for c in batch.iter() {
                touch ^= v[c.node as usize].enc;
            }
            std::hint::black_box(touch);
        }
        for c in batch.drain(..) {
            if c.node == c.pred {
                continue;
            }
            let cur = self.head.get(c.node);
            let better = cur.index == 0 || if forward { c.enc < cur.enc } else { c.enc > cur.enc };
            if !better {
                continue;
            }
            if cur.index != 0 && self.entries[(cur.index - 1) as usize].level == level {
                let en = &mut self.entries[(cur.index - 1) as usize];
                en.enc = c.enc;
                en.edge = c.edge;
                en.pred = c.pred;
                en.hops = c.hops;
                en.root = c.root;
                self.head.set(
                    c.node,
                    Head {
                        index: cur.index,
                        enc: c.enc,
                    },
                );
            } else {
                if cur.index == 0 {
                    self.reached.push(c.node);
                    if let Some(seen) = &mut self.seen {
                        seen.insert(c.node);
                    }
                }
                self.entries.push(Entry {
                    level,
                    enc: c.enc,
                    edge: c.edge,
                    pred: c.pred,
                    older: cur.index.wrapping_sub(1),
                    hops: c.hops,
                    root: c.root,
                });
                self.head.set(
                    c.node,
                    Head {
                        index: self.entries.len() as u32,
                        enc: c.enc,
                    },
                );
                next.push(c.node);
            }
        }
    }
}

/// An edge a search may follow: to `node` (forward: the receiver; backward: the sender) from `pred`.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    node: NodeId,
    enc: u32,
    edge: EdgeId,
    pred: NodeId,
    /// The new label's `hops` and `root` (see [`Entry`]).
    hops: u8,
    root: NodeId,
}

/// Candidates gathered before [`Side::relax`] applies them.
const BATCH: usize = 1024;
/// Nodes with at most this many in-edges have all their in-edges' seqs read at once (independent loads)
/// instead of binary-searched (dependent ones).
const SMALL_IN: u32 = 48;

/// Senders of edges for the backward search and the evidence. [`Graph::edge_src`] is a binary search over
/// the out-offsets (~20 dependent reads, the last ones cache misses on a large graph). After a few thousand
/// lookups this keeps the sender of every 256th edge (one forward sweep), so a lookup searches only the
/// nodes between two marks; after many more, of every 32nd edge (one or two nodes between marks). A level
/// that needs very many senders does not ask here at all: it sweeps the out-edges instead, where every
/// sender is known (see [`pull_level`]).
struct Senders<'g> {
    graph: &'g Graph,
    /// `marks[k]` = sender of edge `k << shift` (empty until built).
    marks: Vec<NodeId>,
    shift: u32,
    asked: u64,
}

/// Edges between two sender marks: coarse marks first (cheap to build on a graph with many nodes), fine ones
/// once a query asks for many senders.
const COARSE_SHIFT: u32 = 8;
const FINE_SHIFT: u32 = 5;
/// Single binary searches done before the coarse marks are built.
const MARKS_AFTER: u64 = 2048;
/// Lookups (per edge) through coarse marks done before the fine marks are built.
const FINE_AFTER_DIV: u64 = 64;

impl<'g> Senders<'g> {
    fn new(graph: &'g Graph) -> Senders<'g> {
        Senders {
            graph,
            marks: Vec::new(),
            shift: COARSE_SHIFT,
            asked: 0,
        }
    }

    /// First out-edge id of node `i`, above every edge id past the last node (as `seq_index` needs).
    #[inline]
    fn first_out(&self, i: u32) -> u32 {
        if i < self.graph.node_count() {
            self.graph.out_edges(i).start
        } else {
            u32::MAX
        }
    }

    /// The sender of every `1 << shift`-th edge, each found by a short search forward from the previous
    /// mark's (out-ranges are contiguous and in node order; `edge_src` relies on it too).
    fn build_marks(&mut self, shift: u32) {
        let g = self.graph;
        let count = (g.edge_count() >> shift) + 1;
        let mut marks = Vec::with_capacity(count as usize);
        let mut prev = None;
        for k in 0..count {
            let e = (k << shift).min(g.edge_count().saturating_sub(1));
            let s = seq_index(e, prev, |i| self.first_out(i), || g.edge_src(e));
            marks.push(s);
            prev = Some(s);
        }
        self.marks = marks;
        self.shift = shift;
    }

    #[inline]
    fn of(&mut self, e: EdgeId) -> NodeId {
        self.asked += 1;
        let k = (e >> self.shift) as usize;
        if let (Some(&lo), Some(&hi)) = (self.marks.get(k), self.marks.get(k + 1)) {
            if self.shift == COARSE_SHIFT && self.asked * FINE_AFTER_DIV >= u64::from(self.graph.edge_count())
            {
                self.build_marks(FINE_SHIFT);
                return self.of(e);
            }
            // The sender lies in marks[k]..=marks[k + 1]: the last node whose first out-edge is <= e.
            let s = lo + partition(hi - lo, |i| self.first_out(lo + 1 + i) <= e);
            debug_assert_eq!(s, self.graph.edge_src(e));
            return s;
        }
        if self.asked == MARKS_AFTER && self.marks.is_empty() {
            self.build_marks(COARSE_SHIFT);
        }
        self.graph.edge_src(e)
    }
}

/// A backward level with at least `edge_count / PULL_DIV` candidate edges sweeps every out-edge instead of
/// listing each frontier node's in-edges (see [`pull_level`]).
const PULL_DIV: u64 = 8;
/// Edges a sweep picks from at a time (the picks fit the first-level cache).
const PULL_CHUNK: u32 = 4096;

#[cfg(test)]
thread_local! {
    /// Tests force one way of running backward levels, to check that both give the same report.
    static FORCE_PULL: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Whether a backward level with `coming` candidate edges is run by [`pull_level`].
fn use_pull(coming: u64, edges: u32) -> bool {
    #[cfg(test)]
    if let Some(forced) = FORCE_PULL.with(std::cell::Cell::get) {
        return forced;
    }
    coming * PULL_DIV >= u64::from(edges)
}

/// What a frontier node of a swept backward level accepts: in-edges with `lo <= seq < limit`; and the new
/// labels' `hops` and `root` (see [`Entry`]).
#[derive(Debug, Clone, Copy)]
struct Pull {
    lo: u32,
    limit: u32,
    hops: u8,
    root: NodeId,
}

/// One backward level by a sweep over every out-edge, for a level whose frontier has so many in-edges that
/// listing them costs more: a listed in-edge costs scattered reads for its seq and its sender, while the
/// sweep reads the edge tables front to back and knows each sender for free. The candidates are the same as
/// the listing's (per frontier node, the latest `cap` in-edges before its departure; a node with more is
/// reported as truncated, in frontier order as the listing does), only in another order, which
/// [`Side::relax`] does not depend on.
#[allow(clippy::too_many_arguments)] // one level of one search
fn pull_level(
    graph: &Graph,
    side: &mut Side,
    frontier: &[NodeId],
    skip: impl Fn(NodeId) -> bool,
    level: u8,
    cap: u32,
    batch: &mut Vec<Candidate>,
    next: &mut Vec<NodeId>,
    report: &mut LinkReport,
) {
    let n = graph.node_count();
    let mut wanted = Bits(vec![0; (n as usize).div_ceil(64)]);
    // In frontier (= node) order; found by rank in `wanted`, so that an edge into the frontier reads only
    // small tables (the bits, the ranks and these), not a per-node one.
    let mut pulls: Vec<Pull> = Vec::with_capacity(frontier.len());
    for &u in frontier {
        if skip(u) {
            report.exits_skipped += 1;
            continue;
        }
        let base = side.at_level(u, level - 1);
        let (limit, root, hops) = base.map_or((u32::MAX, u, 1), |e| {
            (e.enc.saturating_sub(1), e.root, e.hops + 1)
        });
        let r = graph.in_edge_slots(u);
        let mut lo = 0;
        // Only a node with more than `cap` in-edges can have more than `cap` qualifying ones.
        if r.end - r.start > cap {
            let hi = if limit >= graph.edge_count() {
                r.end
            } else {
                r.start
                    + partition(r.end - r.start, |i| {
                        graph.edge_seq(graph.in_edge_at(r.start + i)) < limit
                    })
            };
            let q = hi - r.start;
            if q > cap {
                report.truncated.push(Truncation {
                    node: u,
                    direction: LinkDirection::Incoming,
                    qualifying: u64::from(q),
                    followed: cap,
                });
                lo = graph.edge_seq(graph.in_edge_at(hi - cap));
            }
        }
        wanted.insert(u);
        pulls.push(Pull {
            lo,
            limit,
            hops,
            root,
        });
    }
    let mut ranks = Vec::with_capacity(wanted.0.len());
    let mut before = 0u32;
    for w in &wanted.0 {
        ranks.push(before);
        before += w.count_ones();
    }
    let m = graph.edge_count();
    let first_out = |i: u32| if i < n { graph.out_edges(i).start } else { u32::MAX };
    // Edges in chunks: first the edges into the frontier are picked out without a branch (an unpredictable
    // one per edge costs more than the rest of the sweep), then only those are read further.
    let mut picked: Vec<(EdgeId, NodeId)> = vec![(0, 0); PULL_CHUNK as usize];
    let (mut sender, mut sender_end) = (0u32, first_out(1));
    let mut start = 0u32;
    while start < m {
        let end = start.saturating_add(PULL_CHUNK).min(m);
        let mut k = 0usize;
        for e in start..end {
            let d = graph.edge_dst(e);
            picked[k] = (e, d);
            k += ((wanted.0[(d >> 6) as usize] >> (d & 63)) & 1) as usize;
        }
        for &(e, d) in &picked[..k] {
            // Edges in id order: each sender is found by a walk forward over the out-offsets.
            while e >= sender_end {
                sender += 1;
                sender_end = first_out(sender + 1);
            }
            let seq = graph.edge_seq(e);
            let word = wanted.0[(d >> 6) as usize];
            let p =
                pulls[(ranks[(d >> 6) as usize] + (word & ((1u64 << (d & 63)) - 1)).count_ones()) as usize];
            if seq < p.limit && seq >= p.lo {
                batch.push(Candidate {
                    node: sender,
                    enc: seq + 1,
                    edge: e,
                    pred: d,
                    hops: p.hops,
                    root: p.root,
                });
            }
        }
        if batch.len() >= BATCH {
            side.relax(batch, level, false, next, None);
        }
        start = end;
    }
    side.relax(batch, level, false, next, None);
}

/// Fills in the senders of a listed backward batch, in one pass: each lookup is a few dependent reads, and
/// in a loop doing only lookups the processor overlaps those of several edges.
fn resolve_senders(senders: &mut Senders<'_>, batch: &mut [Candidate], forward: bool) {
    if !forward {
        for c in batch {
            c.node = senders.of(c.edge);
        }
    }
}

#[allow(clippy::too_many_arguments)] // one search, its inputs and its report
fn search(
    graph: &Graph,
    labels: &NodeLabels,
    senders: &mut Senders<'_>,
    starts: &[NodeId],
    roles: &NodeMap<u32>,
    depth: u32,
    forward: bool,
    cap: u32,
    meet_only: Option<&Bits>,
    report: &mut LinkReport,
) -> Side {
    let mut side = Side::new(graph.node_count());
    let start_enc = if forward { 0 } else { u32::MAX };
    for &s in starts {
        side.entries.push(Entry {
            level: 0,
            enc: start_enc,
            edge: NONE,
            pred: NONE,
            older: NONE,
            hops: 0,
            root: s,
        });
        side.head.set(
            s,
            Head {
                index: side.entries.len() as u32,
                enc: start_enc,
            },
        );
        side.reached.push(s);
    }
    let mut frontier: Vec<NodeId> = starts.to_vec();
    let mut next: Vec<NodeId> = Vec::new();
    let mut batch: Vec<Candidate> = Vec::with_capacity(BATCH + cap.min(1 << 16) as usize);
    let mut slots: Vec<(EdgeId, u32)> = Vec::with_capacity(SMALL_IN as usize);
    for level in 1..=depth as u8 {
        let last = if u32::from(level) == depth {
            meet_only
        } else {
            None
        };
        if last.is_some() {
            side.seen = Some(Bits::of(graph.node_count(), &side.reached));
        }
        next.clear();
        if !forward && last.is_none() {
            let coming: u64 = frontier
                .iter()
                .map(|&u| u64::from(graph.in_edge_slots(u).len().min(cap as usize) as u32))
                .sum();
            if use_pull(coming, graph.edge_count()) {
                let skip = |u: NodeId| roles.get(u) == 0 && labels.is_exit(u);
                pull_level(
                    graph, &mut side, &frontier, skip, level, cap, &mut batch, &mut next, report,
                );
                if next.is_empty() {
                    break;
                }
                std::mem::swap(&mut frontier, &mut next);
                frontier.sort_unstable();
                continue;
            }
        }
        for &u in &frontier {
            if roles.get(u) == 0 && labels.is_exit(u) {
                report.exits_skipped += 1;
                continue;
            }
            // The label with at most level - 1 hops (a same-level improvement must not be chained on).
            let base = side.at_level(u, level - 1);
            let enc = base.map_or(start_enc, |e| e.enc);
            // Every frontier node has an entry below this level (it was reached at the one before).
            let (root, hops) = base.map_or((u, 1), |e| (e.root, e.hops + 1));
            if forward {
                let r = graph.out_edges(u);
                let lo = r.start + partition(r.end - r.start, |i| graph.edge_seq(r.start + i) < enc);
                let q = u64::from(r.end - lo);
                if q > u64::from(cap) {
                    report.truncated.push(Truncation {
                        node: u,
                        direction: LinkDirection::Outgoing,
                        qualifying: q,
                        followed: cap,
                    });
                }
                batch.extend((lo..r.end.min(lo.saturating_add(cap))).map(|e| Candidate {
                    node: graph.edge_dst(e),
                    enc: graph.edge_seq(e) + 1,
                    edge: e,
                    pred: u,
                    hops,
                    root,
                }));
            } else {
                let r = graph.in_edge_slots(u);
                // Departure must be strictly earlier than this node's departure (enc - 1).
                let limit = enc.saturating_sub(1);
                let len = r.end - r.start;
                // Candidates are the latest qualifying in-edges (closest in time to the departure), latest
                // first.
                let mut push = |e: EdgeId, seq: u32| {
                    batch.push(Candidate {
                        node: NONE,
                        enc: seq + 1,
                        edge: e,
                        pred: u,
                        hops,
                        root,
                    })
                };
                let q = if limit < graph.edge_count() && len <= SMALL_IN {
                    slots.clear();
                    // Every seq at once (independent reads); only the taken edges' senders are looked up.
                    slots.extend(r.clone().map(|s| {
                        let e = graph.in_edge_at(s);
                        (e, graph.edge_seq(e))
                    }));
                    let hi = slots.partition_point(|&(_, seq)| seq < limit) as u32;
                    for &(e, seq) in slots[hi.saturating_sub(cap) as usize..hi as usize].iter().rev() {
                        push(e, seq);
                    }
                    hi
                } else {
                    let hi = if limit >= graph.edge_count() {
                        // Every seq is below the limit (a target's own search): no search needed.
                        r.end
                    } else {
                        r.start + partition(len, |i| graph.edge_seq(graph.in_edge_at(r.start + i)) < limit)
                    };
                    for s in (hi.saturating_sub(cap).max(r.start)..hi).rev() {
                        let e = graph.in_edge_at(s);
                        push(e, graph.edge_seq(e));
                    }
                    hi - r.start
                };
                if u64::from(q) > u64::from(cap) {
                    report.truncated.push(Truncation {
                        node: u,
                        direction: LinkDirection::Incoming,
                        qualifying: u64::from(q),
                        followed: cap,
                    });
                }
            }
            if batch.len() >= BATCH {
                resolve_senders(senders, &mut batch, forward);
                side.relax(&mut batch, level, forward, &mut next, last);
            }
        }
        resolve_senders(senders, &mut batch, forward);
        side.relax(&mut batch, level, forward, &mut next, last);
        if next.is_empty() {
            break;
        }
        std::mem::swap(&mut frontier, &mut next);
        // In node order, the next level reads the offset tables and edge lists front to back instead of at
        // random. Nothing else depends on the order: `relax` keeps per node the best candidate of a level
        // whatever the order, and each node is in a frontier at most once.
        frontier.sort_unstable();
    }
    report.visited += side.reached.len() as u64 + side.only_counted;
    side
}

/// Time-respecting paths from any of `srcs` to any of `dsts` (edges in order), the fewest hops per pair.
#[allow(clippy::too_many_arguments)] // one search, its inputs and its report
fn paths(
    graph: &Graph,
    labels: &NodeLabels,
    senders: &mut Senders<'_>,
    srcs: &[NodeId],
    dsts: &[NodeId],
    hf: u32,
    hb: u32,
    cap: u32,
    report: &mut LinkReport,
) -> Vec<(NodeId, NodeId, Vec<EdgeId>)> {
    let mut roles = NodeMap::new(graph.node_count());
    for &s in srcs {
        roles.set(s, roles.get(s) | ROLE_SRC);
    }
    for &d in dsts {
        roles.set(d, roles.get(d) | ROLE_DST);
    }
    // The backward search runs first, so that the forward one's last level (the widest: its candidates
    // are cheap to list) labels only nodes the backward one reached. Only worth its two node bitmaps when
    // the backward search reached many nodes (as for `NodeMap`'s dense switch).
    let bwd = search(graph, labels, senders, dsts, &roles, hb, false, cap, None, report);
    let n = graph.node_count();
    let meet_only = (bwd.reached.len() as u64 * 32 > u64::from(n)).then(|| Bits::of(n, &bwd.reached));
    let fwd = search(
        graph,
        labels,
        senders,
        srcs,
        &roles,
        hf,
        true,
        cap,
        meet_only.as_ref(),
        report,
    );
    let (small, other) = if fwd.reached.len() <= bwd.reached.len() {
        (&fwd, &bwd)
    } else {
        (&bwd, &fwd)
    };
    let mut meets: Vec<NodeId> = small
        .reached
        .iter()
        .copied()
        .filter(|&m| other.head.get(m).index != 0)
        .collect();
    meets.sort_unstable();
    // Per (start, end) pair: the fewest hops and the meeting node giving them (first in node order).
    let mut best: PairMap<(usize, NodeId)> = PairMap::default();
    for m in meets {
        let (Some(a), Some(d)) = (fwd.best(m), bwd.best(m)) else {
            continue;
        };
        if a.enc >= d.enc {
            continue;
        }
        if roles.get(m) == 0 && labels.is_exit(m) {
            continue;
        }
        let (Some((s, hs)), Some((t, ht))) = (fwd.hops_to(m), bwd.hops_to(m)) else {
            continue;
        };
        if s == t {
            continue;
        }
        let len = hs + ht;
        let slot = best.entry((s, t)).or_insert((len, m));
        if len < slot.0 {
            *slot = (len, m);
        }
    }
    let mut out: Vec<(NodeId, NodeId, Vec<EdgeId>)> = best
        .into_iter()
        .filter_map(|((s, t), (_, m))| {
            let (_, mut pre) = fwd.chain_to(m)?;
            let (_, post) = bwd.chain_to(m)?;
            pre.reverse();
            pre.extend(post);
            Some((s, t, pre))
        })
        .collect();
    out.sort_by_key(|x| (x.0, x.1));
    out
}

fn same_address(graph: &Graph, from: &[NodeId], targets: &[NodeId], out: &mut Vec<Link>) {
    let mut by_addr: HashMap<Address, Vec<NodeId>> = HashMap::new();
    for &t in targets {
        by_addr.entry(graph.node_key(t).1).or_default().push(t);
    }
    for &f in from {
        let (cf, a) = graph.node_key(f);
        for &t in by_addr.get(&a).map(Vec::as_slice).unwrap_or(&[]) {
            if t == f {
                continue;
            }
            let ct = graph.node_chain(t);
            let evidence = [(f, cf), (t, ct)]
                .into_iter()
                .map(|(x, c)| {
                    let first = graph
                        .out_edges(x)
                        .next()
                        .into_iter()
                        .chain(graph.in_edges(x).next());
                    let first = first.min_by_key(|&e| graph.edge_seq(e));
                    Evidence {
                        kind: LinkKind::SameAddress,
                        chain: c,
                        tx_hashes: first.map(|e| graph.edge_info(e).tx_hash).into_iter().collect(),
                        addresses: vec![a],
                        detail: format!(
                            "{} is active on {c} ({} transfers; first one listed)",
                            a.json_for(c),
                            graph.out_edges(x).len() + graph.in_edge_slots(x).len()
                        ),
                    }
                })
                .collect();
            out.push(Link {
                kind: LinkKind::SameAddress,
                from: f,
                to: t,
                direction: LinkDirection::Undirected,
                hops: 0,
                evidence,
            });
        }
    }
}

fn degree(graph: &Graph, x: NodeId) -> u64 {
    graph.out_edges(x).len() as u64 + graph.in_edge_slots(x).len() as u64
}

/// Deposit addresses each node paid into: deposit -> (node, first edge into it).
fn deposits_of(
    graph: &Graph,
    labels: &NodeLabels,
    nodes: &[NodeId],
    q: &LinkQuery,
    memo: &mut IdMap<bool>,
    only: Option<&IdMap<Vec<(NodeId, EdgeId)>>>,
) -> IdMap<Vec<(NodeId, EdgeId)>> {
    let mut out: IdMap<Vec<(NodeId, EdgeId)>> = IdMap::default();
    for &x in nodes {
        if labels.is_service(x) || degree(graph, x) > u64::from(q.hub_degree) {
            continue;
        }
        for e in graph.out_edges(x) {
            let d = graph.edge_dst(e);
            if d == x
                || only.is_some_and(|o| !o.contains_key(&d))
                || degree(graph, d) > u64::from(q.hub_degree)
            {
                continue;
            }
            let is_dep = *memo
                .entry(d)
                .or_insert_with(|| is_deposit_address(graph, labels, d, &q.deposit));
            if !is_dep {
                continue;
            }
            let v = out.entry(d).or_default();
            if !v.iter().any(|p| p.0 == x) {
                v.push((x, e));
            }
        }
    }
    out
}

fn shared_deposits(
    graph: &Graph,
    labels: &NodeLabels,
    from: &[NodeId],
    targets: &[NodeId],
    q: &LinkQuery,
    out: &mut Vec<Link>,
) {
    let mut memo = IdMap::default();
    let fd = deposits_of(graph, labels, from, q, &mut memo, None);
    if fd.is_empty() {
        return;
    }
    // Only deposits a `from` node paid into can be shared: the targets' other payments need no check.
    let td = deposits_of(graph, labels, targets, q, &mut memo, Some(&fd));
    for (d, fs) in &fd {
        let Some(ts) = td.get(d) else { continue };
        let (cd, da) = graph.node_key(*d);
        for &(f, ef) in fs {
            for &(t, et) in ts {
                if f == t {
                    continue;
                }
                let ev = |x: NodeId, e: EdgeId| {
                    let (chain, tx, a, b, detail) = describe_edge(graph, e);
                    let _ = x;
                    Evidence {
                        kind: LinkKind::SharedDeposit,
                        chain,
                        tx_hashes: vec![tx],
                        addresses: vec![a, b],
                        detail: format!("paid into exchange deposit address {}: {detail}", da.json_for(cd)),
                    }
                };
                out.push(Link {
                    kind: LinkKind::SharedDeposit,
                    from: f,
                    to: t,
                    direction: LinkDirection::Undirected,
                    hops: 0,
                    evidence: vec![ev(f, ef), ev(t, et)],
                });
            }
        }
    }
}

fn common_funders(
    graph: &Graph,
    labels: &NodeLabels,
    from: &[NodeId],
    targets: &[NodeId],
    q: &LinkQuery,
    out: &mut Vec<Link>,
) {
    let first_in = |x: NodeId| -> Option<(NodeId, EdgeId)> {
        let e = graph.in_edges(x).next()?;
        let f = graph.edge_src(e);
        let usable = f != x && !labels.is_exit(f) && degree(graph, f) <= u64::from(q.hub_degree);
        usable.then_some((f, e))
    };
    let mut by_funder: IdMap<Vec<(NodeId, EdgeId)>> = IdMap::default();
    for &t in targets {
        if let Some((f, e)) = first_in(t) {
            by_funder.entry(f).or_default().push((t, e));
        }
    }
    for &x in from {
        let Some((funder, ex)) = first_in(x) else { continue };
        let Some(ts) = by_funder.get(&funder) else {
            continue;
        };
        for &(t, et) in ts {
            if t == x {
                continue;
            }
            let (cf, fa) = graph.node_key(funder);
            let ev = |e: EdgeId| {
                let (chain, tx, a, b, detail) = describe_edge(graph, e);
                Evidence {
                    kind: LinkKind::CommonFunder,
                    chain,
                    tx_hashes: vec![tx],
                    addresses: vec![a, b],
                    detail: format!("first incoming transfer, paid by {}: {detail}", fa.json_for(cf)),
                }
            };
            out.push(Link {
                kind: LinkKind::CommonFunder,
                from: x,
                to: t,
                direction: LinkDirection::Undirected,
                hops: 0,
                evidence: vec![ev(ex), ev(et)],
            });
        }
    }
}

fn same_cluster(graph: &Graph, c: &Clustering, from: &[NodeId], targets: &[NodeId], out: &mut Vec<Link>) {
    let mut by_cluster: IdMap<Vec<NodeId>> = IdMap::default();
    for &t in targets {
        if t < c.node_count() {
            by_cluster.entry(c.cluster_of(t)).or_default().push(t);
        }
    }
    for &f in from {
        if f >= c.node_count() {
            continue;
        }
        let Some(ts) = by_cluster.get(&c.cluster_of(f)) else {
            continue;
        };
        let Ok(expl) = c.explain(graph, f) else { continue };
        for &t in ts {
            if t == f {
                continue;
            }
            let Some(member) = expl.members.iter().find(|m| m.node == t) else {
                continue;
            };
            let evidence = member
                .path
                .iter()
                .map(|s| {
                    let chain = s
                        .tx_hashes
                        .first()
                        .map_or_else(|| graph.node_chain(s.from), |x| x.0);
                    let mut addresses = vec![graph.node_key(s.from).1, graph.node_key(s.to).1];
                    if let Some((_, v)) = s.via {
                        addresses.push(v);
                    }
                    Evidence {
                        kind: LinkKind::SameCluster,
                        chain,
                        tx_hashes: s.tx_hashes.iter().map(|x| x.1).collect(),
                        addresses,
                        detail: format!("{}: {}", s.heuristic, s.detail),
                    }
                })
                .collect();
            out.push(Link {
                kind: LinkKind::SameCluster,
                from: f,
                to: t,
                direction: LinkDirection::Undirected,
                hops: 0,
                evidence,
            });
        }
    }
}

#[cfg(test)]
mod tests;

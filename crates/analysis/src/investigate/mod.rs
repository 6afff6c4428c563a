//! Incident investigation: losses, fund flow and attribution for one incident, with evidence.
//!
//! [`investigate`] takes an [`Incident`] (victims, exploiters, start time), the transfer graph, every label,
//! an [`ActorBook`] (display names; which actors are services), an [`AssetBook`] (symbols, decimals) and a
//! [`PriceTable`], and returns an [`Investigation`]:
//! - losses ([`losses`]): transfers from victims to the exploiters and their clusters at or after the start,
//!   per chain and asset, valued in US dollars at each transfer day's close (a missing price stays missing);
//! - fund flow: a forward trace ([`crate::trace`]) from the exploiters with an exit oracle backed by the labels
//!   ([`LabelExits`]): where value rests, which labeled exits (exchanges, mixers, bridges) received it, grouped
//!   by entity, and a layered flow graph for the report ([`flow`]); given conversion edges
//!   ([`Inputs::conversions`]) the trace continues through swaps and bridges, so destinations and exits can
//!   be on other chains and carry the conversion steps on their way;
//! - cross-chain entities: one 20-byte address active on several chains of the incident
//!   ([`CrossChainEntity`]);
//! - attribution ([`attribution`]): actors ranked by a confidence computed from every piece of evidence
//!   (reused addresses, same address across chains, cluster merges, link discovery), never an exchange, mixer,
//!   bridge or other service. See `docs/investigate.md` for the formula.
//!
//! Pure: no I/O. Reading incident files, price files and the store is the caller's job.

pub mod attribution;
pub mod flow;
pub mod losses;
pub mod mixers;
pub mod prices;
pub mod tokens;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chaintrace_core::{Address, Asset, Category, Chain, Label, LabelIndex, TxHash, U256};
use chaintrace_graph::{Graph, NodeId};

use crate::cluster::{self, ClusterConfig, Clustering, NodeLabels, is_service_category};
use crate::trace::{self, ExitCategory, ExitInfo, ExitOracle, HoldReason, Model, TraceRequest};

pub use attribution::{ActorBook, ActorFacts, Attribution, Evidence, EvidenceKind, Finding};
pub use flow::{FlowEdge, FlowGraph, FlowNode, NodeRole};
pub use losses::{Loss, LossTransfer};
pub use mixers::{MixerCandidate, MixerDepositFinding, MixerInputs};
pub use prices::PriceTable;
pub use tokens::{AssetBook, AssetMeta, TokenInfo};

/// An incident as the investigator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// Name shown in the report.
    pub name: String,
    /// Unix time the incident started; losses and the trace count transfers at or after it.
    pub started: u64,
    /// Drained addresses.
    pub victims: Vec<(Chain, Address)>,
    /// Addresses that received the stolen funds (at least one).
    pub exploiters: Vec<(Chain, Address)>,
    /// Token metadata the incident file declares (beyond the built-in table).
    pub tokens: Vec<TokenInfo>,
}

/// Knobs of an investigation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Taint model of the fund-flow trace.
    pub model: Model,
    /// Hop limit of the trace.
    pub max_hops: u32,
    /// Fan-out cap of the trace.
    pub fan_out_cap: u32,
    /// Hop limit of link discovery (1..=12).
    pub link_hops: u32,
    /// Whether to cluster the graph (exploiters' clusters count for losses and attribution).
    pub cluster: bool,
    /// Most exit and holding addresses drawn in the flow graph.
    pub flow_terminals: usize,
    /// Also follow bridge releases that are only candidates of an ambiguous or weak match (see
    /// [`trace::ConversionOptions`]).
    pub follow_candidates: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            model: Model::Haircut,
            max_hops: trace::DEFAULT_MAX_HOPS,
            fan_out_cap: trace::DEFAULT_FAN_OUT_CAP,
            link_hops: 4,
            cluster: true,
            flow_terminals: 14,
            follow_candidates: false,
        }
    }
}

/// What the investigation reads.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    /// The transfer graph.
    pub graph: &'a Graph,
    /// Every known label.
    pub labels: &'a [Label],
    /// Actor names and kinds.
    pub actors: &'a dyn ActorBook,
    /// Asset symbols and decimals.
    pub assets: &'a AssetBook,
    /// Daily USD prices.
    pub prices: &'a PriceTable,
    /// Conversion edges (swaps, wraps, bridge matches) the fund-flow trace continues through, all in memory
    /// or fetched by owner; none: each chain and asset is traced on its own.
    pub conversions: trace::Conversions<'a>,
    /// The graph's balance index, if the caller has one (haircut and fifo traces then start each address's
    /// history replay near its first taint; the same result without it; ignored if built for another graph).
    pub balance_index: Option<&'a trace::BalanceIndex>,
}

impl std::fmt::Debug for Inputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs")
            .field("graph", self.graph)
            .field("labels", &self.labels.len())
            .finish()
    }
}

/// Errors of an investigation (bad incident descriptions).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvestigateError {
    /// The incident names no exploiter.
    #[error("incident '{0}' names no exploiter (add at least one [[exploiter]] with chain and address)")]
    NoExploiter(String),
    /// An incident address appears in no transfer of the store.
    #[error("{role} {address} has no transfers on {chain} in the store (wrong chain, or not ingested yet)")]
    UnknownAddress {
        /// `victim` or `exploiter`.
        role: &'static str,
        /// Chain.
        chain: Chain,
        /// Address.
        address: Address,
    },
    /// The store holds nothing at all.
    #[error("the store holds no transfers (ingest, import or sim first)")]
    EmptyGraph,
    /// The trace rejected its request.
    #[error("fund-flow trace: {0}")]
    Trace(#[from] trace::TraceError),
    /// Clustering rejected its config.
    #[error("clustering: {0}")]
    Cluster(#[from] cluster::ClusterError),
}

/// An amount of one asset with what is known about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// Chain.
    pub chain: Chain,
    /// Asset.
    pub asset: Asset,
    /// Symbol and decimals, where known.
    pub meta: AssetMeta,
    /// Raw amount.
    pub raw: U256,
    /// US dollars; `None` when a price (or the decimals) is missing.
    pub usd: Option<f64>,
}

impl Value {
    /// The amount in whole units (`"1.5"`), or `None` when the decimals are unknown.
    pub fn human(&self) -> Option<String> {
        self.meta.decimals.map(|d| tokens::format_units(self.raw, d))
    }
}

/// Values assets at daily prices.
#[derive(Debug, Clone, Copy)]
pub struct Valuer<'a> {
    /// Symbols and decimals.
    pub assets: &'a AssetBook,
    /// Prices.
    pub prices: &'a PriceTable,
}

impl Valuer<'_> {
    /// `raw` of `asset` on `chain` valued at the close of the UTC day containing `time`.
    pub fn value(&self, chain: Chain, asset: Asset, raw: U256, time: u64) -> Value {
        let meta = self.assets.meta(chain, asset);
        let usd = match (&meta.symbol, meta.decimals) {
            (Some(s), Some(d)) => self
                .prices
                .close_at(s, time)
                .map(|p| p * tokens::units_f64(raw, d)),
            _ => None,
        };
        Value {
            chain,
            asset,
            meta,
            raw,
            usd,
        }
    }
}

/// Where the incident's funds rest (not at a labeled exit).
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// Address.
    pub address: Address,
    /// Amount resting there (net, under the trace model).
    pub value: Value,
    /// Why it rests there.
    pub reason: HoldReason,
    /// Fewest transfers from an exploiter.
    pub hops: u32,
    /// The most telling label of the address, if any.
    pub label: Option<String>,
    /// Transactions from an exploiter to here.
    pub path: Vec<TxHash>,
    /// The path with the conversions (swaps, bridges) it went through.
    pub steps: Vec<trace::TraceStep>,
}

/// One exit address reached.
#[derive(Debug, Clone, PartialEq)]
pub struct ExitAddress {
    /// Address.
    pub address: Address,
    /// Label text that makes it an exit.
    pub label: String,
    /// Amount received.
    pub value: Value,
    /// Fewest transfers from an exploiter.
    pub hops: u32,
    /// Transactions from an exploiter to here.
    pub path: Vec<TxHash>,
    /// The path with the conversions (swaps, bridges) it went through.
    pub steps: Vec<trace::TraceStep>,
}

/// Exits grouped by the entity that runs them.
#[derive(Debug, Clone, PartialEq)]
pub struct ExitGroup {
    /// Entity name: the label's actor, else the label text before `:`, else the text.
    pub entity: String,
    /// Exit category (`exchange`, `mixer`, `bridge`, `sanctioned`, `defi`, ...).
    pub category: String,
    /// Amounts received per chain and asset.
    pub totals: Vec<Value>,
    /// Sum in US dollars; `None` when any part lacks a price.
    pub usd: Option<f64>,
    /// Addresses, largest first.
    pub addresses: Vec<ExitAddress>,
}

/// How an address came to be counted as the exploiters'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// Named in the incident file.
    Exploiter,
    /// The same 20 bytes as an exploiter, on another chain (one key controls both).
    SameAddress {
        /// The exploiter's chain.
        of_chain: Chain,
    },
    /// In an exploiter's cluster.
    Cluster {
        /// The exploiter it was clustered with.
        exploiter: (Chain, Address),
        /// Heuristics along the merge chain.
        heuristics: Vec<String>,
        /// Lowest heuristic confidence along the chain (0-100).
        confidence: u8,
    },
}

/// An address attributed to the exploiters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentAddress {
    /// Chain.
    pub chain: Chain,
    /// Address.
    pub address: Address,
    /// Why it counts.
    pub membership: Membership,
}

/// Everything an investigation found.
#[derive(Debug, Clone, PartialEq)]
pub struct Investigation {
    /// The incident as given.
    pub incident: Incident,
    /// Model of the fund-flow trace.
    pub model: Model,
    /// Exploiters, their same-address twins and cluster members.
    pub incident_addresses: Vec<IncidentAddress>,
    /// Losses per chain and asset.
    pub losses: Vec<Loss>,
    /// Where funds rest, largest (USD, then raw) first.
    pub destinations: Vec<Destination>,
    /// Exits grouped by entity, largest first.
    pub exits: Vec<ExitGroup>,
    /// Addresses whose onward flow was cut by the fan-out cap.
    pub truncated: Vec<(Chain, Address)>,
    /// Ranked actors (empty when nothing links the incident to a labeled actor).
    pub attribution: Vec<Attribution>,
    /// The flow graph to draw.
    pub flow: FlowGraph,
    /// Limitations and facts a reader must know (missing prices, caps hit).
    pub notes: Vec<String>,
    /// One 20-byte address active on several chains of the incident (one key likely controls all), with
    /// what ties it to the incident on each chain.
    pub cross_chain_entities: Vec<CrossChainEntity>,
    /// Deposits into mixer pools made from the traced funds, each with CANDIDATE withdrawals (leads with a
    /// confidence, never facts; see [`mixers`]). Empty without decoded mixer events.
    pub mixer_deposits: Vec<MixerDepositFinding>,
}

/// The same 20-byte address (EVM hex, or the body of a Tron base58 address) seen on several chains of
/// the incident: one candidate entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossChainEntity {
    /// The address (20 bytes).
    pub address: Address,
    /// Chains it is active on, in chain order.
    pub chains: Vec<Chain>,
    /// What ties it to the incident, per chain.
    pub evidence: Vec<CrossChainEvidence>,
}

/// One chain's fact about a [`CrossChainEntity`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossChainEvidence {
    /// Chain.
    pub chain: Chain,
    /// `exploiter`, `same_address`, `cluster`, `destination`, `exit`, `conversion_recipient`, or an
    /// attribution evidence kind (`same_address_cross_chain`, `reused_address`).
    pub kind: String,
    /// A transaction showing it (the address's first transfer on the chain at or after the start, or the
    /// transaction that brought the funds), if any.
    pub tx_hash: Option<TxHash>,
    /// One sentence for people.
    pub detail: String,
}

/// Exit oracle backed by labels: exit categories ([`Category::is_exit`]) and other services (DEX pools and
/// routers, gambling, ...) stop a trace; the latter are reported with their category name.
#[derive(Debug, Clone, Copy)]
pub struct LabelExits<'a> {
    /// The labels.
    pub labels: &'a LabelIndex,
}

impl ExitOracle for LabelExits<'_> {
    fn exit(&self, chain: Chain, address: Address) -> Option<ExitInfo> {
        let best = best_label(self.labels, chain, address, |c| {
            c.is_exit() || is_service_category(c)
        })?;
        let category = match best.category {
            Category::Exchange => ExitCategory::Exchange,
            Category::Mixer => ExitCategory::Mixer,
            Category::Bridge => ExitCategory::Bridge,
            Category::Sanctioned => ExitCategory::Sanctioned,
            other => ExitCategory::Other(other.name().to_string()),
        };
        Some(ExitInfo {
            category,
            name: best.text.clone(),
        })
    }
}

/// The most confident label of `address` on `chain` whose category passes `keep`, ties broken by category
/// priority then text, so the choice never depends on import order.
pub fn best_label(
    labels: &LabelIndex,
    chain: Chain,
    address: Address,
    keep: impl Fn(Category) -> bool,
) -> Option<&Label> {
    labels
        .labels_of(chain, address)
        .filter(|l| keep(l.category))
        .min_by(|a, b| {
            b.confidence
                .cmp(&a.confidence)
                .then(a.category.priority().cmp(&b.category.priority()))
                .then(a.text.cmp(&b.text))
        })
}

/// The entity behind a label: its actor, else the text before `:`, else the text.
pub fn entity_of(label: &Label) -> String {
    if let Some(a) = &label.actor {
        return a.0.clone();
    }
    match label.text.split_once(':') {
        Some((head, _)) if !head.trim().is_empty() => head.trim().to_string(),
        _ => label.text.trim().to_string(),
    }
}

/// Exit oracle of an investigation: the labels, then registered mixer pools (a pool stops the trace as a
/// mixer exit even when no label names it).
#[derive(Debug, Clone, Copy)]
struct InvestigationExits<'a> {
    labels: LabelExits<'a>,
    mixers: Option<&'a chaintrace_defi::mixer::MixerRegistry>,
}

impl ExitOracle for InvestigationExits<'_> {
    fn exit(&self, chain: Chain, address: Address) -> Option<ExitInfo> {
        self.labels.exit(chain, address).or_else(|| {
            let pool = self.mixers?.pool(chain, address)?;
            Some(ExitInfo {
                category: ExitCategory::Mixer,
                name: pool.name.clone(),
            })
        })
    }
}

/// Runs the investigation (see the module docs) without mixer events.
pub fn investigate(
    inputs: &Inputs<'_>,
    incident: &Incident,
    opts: &Options,
) -> Result<Investigation, InvestigateError> {
    investigate_with_mixers(inputs, None, incident, opts)
}

/// Runs the investigation; with decoded mixer events, registered pools are mixer exits and the deposits
/// made from the traced funds are reported with candidate withdrawals ([`Investigation::mixer_deposits`]).
pub fn investigate_with_mixers(
    inputs: &Inputs<'_>,
    mixer_inputs: Option<&MixerInputs<'_>>,
    incident: &Incident,
    opts: &Options,
) -> Result<Investigation, InvestigateError> {
    let g = inputs.graph;
    if incident.exploiters.is_empty() {
        return Err(InvestigateError::NoExploiter(incident.name.clone()));
    }
    if g.edge_count() == 0 {
        return Err(InvestigateError::EmptyGraph);
    }
    let node_of = |role, (chain, address): (Chain, Address)| {
        g.node(chain, address)
            .ok_or(InvestigateError::UnknownAddress { role, chain, address })
    };
    let mut exploiter_nodes = Vec::new();
    for &x in &incident.exploiters {
        exploiter_nodes.push(node_of("exploiter", x)?);
    }
    let mut victim_nodes = Vec::new();
    for &v in &incident.victims {
        victim_nodes.push(node_of("victim", v)?);
    }
    let index: LabelIndex = inputs.labels.iter().cloned().collect();
    let mut assets = inputs.assets.clone();
    for t in &incident.tokens {
        assets.insert(t.clone());
    }
    let valuer = Valuer {
        assets: &assets,
        prices: inputs.prices,
    };
    let mut notes = Vec::new();

    // The exploiters' side: named exploiters, their same-address twins, their clusters.
    let node_labels = NodeLabels::new(g, inputs.labels.iter());
    let clustering = if opts.cluster {
        Some(cluster::cluster(g, &node_labels, &[], &ClusterConfig::default())?)
    } else {
        None
    };
    let members = incident_members(g, &exploiter_nodes, clustering.as_ref());
    let victim_set: HashSet<NodeId> = victim_nodes.iter().copied().collect();
    let member_nodes: HashSet<NodeId> = members
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !victim_set.contains(n))
        .collect();
    if members.iter().any(|(n, _)| victim_set.contains(n)) {
        notes.push(
            "a victim address fell into an exploiter's cluster; it is left out of the exploiters' side"
                .into(),
        );
    }
    let incident_addresses: Vec<IncidentAddress> = members
        .iter()
        .filter(|(n, _)| member_nodes.contains(n))
        .map(|(n, m)| {
            let (chain, address) = g.node_key(*n);
            IncidentAddress {
                chain,
                address,
                membership: m.clone(),
            }
        })
        .collect();

    // Losses.
    let losses = losses::losses(g, &victim_nodes, &member_nodes, incident.started, &valuer);
    if losses.is_empty() {
        notes.push("no transfer from a victim to the exploiters at or after the start time was found".into());
    }
    for l in &losses {
        if l.value.usd.is_none() {
            let sym = l
                .value
                .meta
                .symbol
                .clone()
                .unwrap_or_else(|| l.value.asset.json_for(l.value.chain));
            notes.push(format!(
                "no USD price for {sym} on {} on some loss day; its USD value is shown as n/a",
                l.value.chain
            ));
        }
    }

    // Fund flow.
    let req = TraceRequest {
        starts: incident.exploiters.clone(),
        direction: trace::Direction::Forward,
        model: opts.model,
        max_hops: opts.max_hops,
        since: Some(incident.started),
        until: None,
        min_amount: U256::ZERO,
        asset: None,
        fan_out_cap: opts.fan_out_cap,
    };
    let oracle = InvestigationExits {
        labels: LabelExits { labels: &index },
        mixers: mixer_inputs.map(|m| m.registry),
    };
    let traced = trace::trace_from(
        g,
        &req,
        &oracle,
        inputs.conversions,
        trace::ConversionOptions {
            follow_candidates: opts.follow_candidates,
        },
        inputs.balance_index,
    )?;
    let paths: HashMap<(Chain, Address, Asset), &trace::Destination> = traced
        .destinations
        .iter()
        .map(|d| ((d.chain, d.address, d.asset), d))
        .collect();
    let arrival = |chain, address, asset| -> (u64, Vec<TxHash>, Vec<trace::TraceStep>) {
        match paths.get(&(chain, address, asset)) {
            Some(d) => (
                d.path.last().map(|s| s.time).unwrap_or(incident.started),
                d.path.iter().map(|s| s.tx_hash).collect(),
                d.steps(),
            ),
            None => (incident.started, Vec::new(), Vec::new()),
        }
    };
    let mut destinations: Vec<Destination> = traced
        .holding
        .iter()
        .map(|h| {
            let (time, path, steps) = arrival(h.chain, h.address, h.asset);
            Destination {
                address: h.address,
                value: valuer.value(h.chain, h.asset, h.amount, time),
                reason: h.reason,
                hops: h.hops,
                label: best_label(&index, h.chain, h.address, |_| true).map(|l| l.text.clone()),
                path,
                steps,
            }
        })
        .collect();
    // The trace accounts for what left the exploiters; what they still hold of what arrived since the start
    // is their net flow since then.
    for &x in &exploiter_nodes {
        let (chain, address) = g.node_key(x);
        let window = g.seqs_in_time(chain, Some(incident.started), None);
        let mut net: BTreeMap<Asset, (U256, U256, u64)> = BTreeMap::new();
        for e in g.in_edges(x).filter(|&e| window.contains(&g.edge_seq(e))) {
            let (_, asset) = g.asset(g.edge_asset(e));
            let slot = net
                .entry(asset)
                .or_insert((U256::ZERO, U256::ZERO, incident.started));
            slot.0 = slot.0.saturating_add(g.edge_amount(e));
            slot.2 = slot.2.max(g.block_time(g.block_index(g.edge_seq(e))));
        }
        for e in g.out_edges(x).filter(|&e| window.contains(&g.edge_seq(e))) {
            let (_, asset) = g.asset(g.edge_asset(e));
            let slot = net
                .entry(asset)
                .or_insert((U256::ZERO, U256::ZERO, incident.started));
            slot.1 = slot.1.saturating_add(g.edge_amount(e));
        }
        for (asset, (inflow, outflow, time)) in net {
            if inflow > outflow
                && !destinations
                    .iter()
                    .any(|d| d.address == address && d.value.chain == chain && d.value.asset == asset)
            {
                destinations.push(Destination {
                    address,
                    value: valuer.value(chain, asset, inflow - outflow, time),
                    reason: HoldReason::NotMoved,
                    hops: 0,
                    label: best_label(&index, chain, address, |_| true).map(|l| l.text.clone()),
                    path: Vec::new(),
                    steps: Vec::new(),
                });
            }
        }
    }
    destinations.sort_by(|a, b| by_value_desc(&a.value, &b.value).then(a.address.cmp(&b.address)));
    let exits = group_exits(&traced.exits, &index, &valuer);
    if !traced.truncated.is_empty() {
        notes.push(format!(
            "{} address(es) had more outflows than the fan-out cap ({}); their remaining funds are listed as held",
            traced.truncated.len(),
            opts.fan_out_cap
        ));
    }
    let truncated = traced.truncated.iter().map(|t| (t.chain, t.address)).collect();

    let flow = flow::build(
        g,
        &flow::FlowInputs {
            victims: &victim_nodes,
            exploiters: &exploiter_nodes,
            losses: &losses,
            exits: &exits,
            destinations: &destinations,
            labels: &index,
            max_terminals: opts.flow_terminals,
        },
        &traced,
        &valuer,
    );

    let attribution = attribution::attribute(&attribution::AttributionInputs {
        graph: g,
        labels: &index,
        node_labels: &node_labels,
        actors: inputs.actors,
        clustering: clustering.as_ref(),
        exploiters: &exploiter_nodes,
        members: &members,
        link_hops: opts.link_hops,
    });
    if attribution.ranked.is_empty() {
        notes.push(
            "nothing links the exploiters to an address attributed to a known actor; no one is named".into(),
        );
    }
    notes.extend(attribution.notes);
    let cross_chain_entities = cross_chain_entities(
        g,
        incident.started,
        &incident_addresses,
        &traced,
        &attribution.ranked,
    );

    let mixer_deposits = match mixer_inputs {
        Some(m) => {
            let exit_pools: HashSet<(Chain, Address)> = traced
                .exits
                .iter()
                .filter(|x| {
                    matches!(x.info.category, ExitCategory::Mixer)
                        || m.registry.pool(x.chain, x.address).is_some()
                })
                .map(|x| (x.chain, x.address))
                .collect();
            let holders: HashSet<(Chain, Address)> = traced
                .destinations
                .iter()
                .filter(|d| !d.is_exit)
                .map(|d| (d.chain, d.address))
                .chain(incident_addresses.iter().map(|a| (a.chain, a.address)))
                .collect();
            mixers::mixer_deposits(m, &exit_pools, &holders, incident.started, &valuer)
        }
        None => Vec::new(),
    };
    if mixer_deposits.iter().any(|d| !d.candidates.is_empty()) {
        notes.push(
            "mixer withdrawals linked to the traced deposits are candidates, not certainties (public \
             heuristics with known false positives); they count in no loss, destination or attribution"
                .to_string(),
        );
    }

    Ok(Investigation {
        incident: incident.clone(),
        model: opts.model,
        incident_addresses,
        losses,
        destinations,
        exits,
        truncated,
        attribution: attribution.ranked,
        flow,
        notes,
        cross_chain_entities,
        mixer_deposits,
    })
}

/// Groups the incident's addresses by their 20 bytes: the exploiters' side, the trace's destinations and
/// exits, conversion recipients and the attribution's cross-chain evidence. An address active on two or
/// more chains among them is one candidate entity.
fn cross_chain_entities(
    g: &Graph,
    started: u64,
    members: &[IncidentAddress],
    traced: &trace::TraceResult,
    ranked: &[Attribution],
) -> Vec<CrossChainEntity> {
    let mut facts: BTreeMap<Address, Vec<CrossChainEvidence>> = BTreeMap::new();
    let first_tx = |chain: Chain, address: Address| -> Option<TxHash> {
        let n = g.node(chain, address)?;
        let window = g.seqs_in_time(chain, Some(started), None);
        g.out_edges(n)
            .chain(g.in_edges(n))
            .map(|e| g.edge_seq(e))
            .filter(|s| window.contains(s))
            .min()
            .or_else(|| g.out_edges(n).chain(g.in_edges(n)).map(|e| g.edge_seq(e)).min())
            .map(|s| g.tx_hash(g.tx_index(s)))
    };
    let mut push = |address: Address, ev: CrossChainEvidence| {
        if address == Address::ZERO {
            return;
        }
        let list = facts.entry(address).or_default();
        if !list.iter().any(|x| x.chain == ev.chain && x.kind == ev.kind) {
            list.push(ev);
        }
    };
    for m in members {
        let (kind, detail) = match &m.membership {
            Membership::Exploiter => ("exploiter", format!("named as exploiter on {}", m.chain)),
            Membership::SameAddress { of_chain } => (
                "same_address",
                format!("the exploiter's address of {of_chain}, active on {} too", m.chain),
            ),
            Membership::Cluster { heuristics, .. } => (
                "cluster",
                format!(
                    "in an exploiter's cluster on {} ({})",
                    m.chain,
                    heuristics.join(", ")
                ),
            ),
        };
        push(
            m.address,
            CrossChainEvidence {
                chain: m.chain,
                kind: kind.into(),
                tx_hash: first_tx(m.chain, m.address),
                detail,
            },
        );
    }
    for d in &traced.destinations {
        push(
            d.address,
            CrossChainEvidence {
                chain: d.chain,
                kind: if d.is_exit { "exit" } else { "destination" }.into(),
                tx_hash: d.path.last().map(|s| s.tx_hash),
                detail: format!("received traced funds on {} after {} hop(s)", d.chain, d.hops),
            },
        );
    }
    for u in &traced.conversions {
        let c = &u.edge;
        if c.from_chain != c.to_chain {
            push(
                c.recipient,
                CrossChainEvidence {
                    chain: c.to_chain,
                    kind: "conversion_recipient".into(),
                    tx_hash: Some(c.to_tx),
                    detail: format!(
                        "received bridged funds on {} (deposit on {} by {})",
                        c.to_chain,
                        c.from_chain,
                        c.owner.display_for(c.from_chain)
                    ),
                },
            );
        }
    }
    for a in ranked {
        for e in a.evidence() {
            if matches!(
                e.kind,
                EvidenceKind::SameAddressCrossChain | EvidenceKind::ReusedAddress
            ) {
                push(
                    e.address,
                    CrossChainEvidence {
                        chain: e.chain,
                        kind: e.kind.name().into(),
                        tx_hash: e.tx_hash,
                        detail: e.detail.clone(),
                    },
                );
            }
        }
    }
    let mut out = Vec::new();
    for (address, mut evidence) in facts {
        let chains: BTreeSet<Chain> = evidence.iter().map(|e| e.chain).collect();
        if chains.len() < 2 {
            continue;
        }
        evidence.sort_by(|a, b| (a.chain, &a.kind).cmp(&(b.chain, &b.kind)));
        out.push(CrossChainEntity {
            address,
            chains: chains.into_iter().collect(),
            evidence,
        });
    }
    out
}

/// Orders values by USD (missing last), then raw amount, both descending.
pub(crate) fn by_value_desc(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.usd, b.usd) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
    .then(b.raw.cmp(&a.raw))
}

/// Exploiter nodes, their same-address twins on other chains, and (with a clustering) their cluster members,
/// each once, exploiters first.
fn incident_members(
    g: &Graph,
    exploiters: &[NodeId],
    clustering: Option<&Clustering>,
) -> Vec<(NodeId, Membership)> {
    let mut out: Vec<(NodeId, Membership)> = Vec::new();
    let mut seen = HashSet::new();
    for &n in exploiters {
        if seen.insert(n) {
            out.push((n, Membership::Exploiter));
        }
    }
    for &n in exploiters {
        let (chain, address) = g.node_key(n);
        if address == Address::ZERO {
            continue;
        }
        for c in g.chains() {
            if let Some(t) = g.node(c, address).filter(|t| seen.insert(*t)) {
                out.push((t, Membership::SameAddress { of_chain: chain }));
            }
        }
    }
    if let Some(cl) = clustering {
        for &n in exploiters {
            let Ok(exp) = cl.explain(g, n) else { continue };
            for m in exp.members {
                if !seen.insert(m.node) {
                    continue;
                }
                let heuristics = m.path.iter().map(|s| s.heuristic.name().to_string()).collect();
                out.push((
                    m.node,
                    Membership::Cluster {
                        exploiter: g.node_key(n),
                        heuristics,
                        confidence: m.confidence,
                    },
                ));
            }
        }
    }
    out
}

fn group_exits(exits: &[trace::Exit], index: &LabelIndex, valuer: &Valuer<'_>) -> Vec<ExitGroup> {
    let mut groups: BTreeMap<(String, String), ExitGroup> = BTreeMap::new();
    for x in exits {
        let label = best_label(index, x.chain, x.address, |c| {
            c.is_exit() || is_service_category(c)
        });
        let entity = label.map(entity_of).unwrap_or_else(|| x.info.name.clone());
        let category = x.info.category.name().to_string();
        let time = x.path.last().map(|s| s.time).unwrap_or(0);
        let value = valuer.value(x.chain, x.asset, x.amount, time);
        let g = groups
            .entry((entity.clone(), category.clone()))
            .or_insert_with(|| ExitGroup {
                entity,
                category,
                totals: Vec::new(),
                usd: Some(0.0),
                addresses: Vec::new(),
            });
        match g
            .totals
            .iter_mut()
            .find(|t| t.chain == x.chain && t.asset == x.asset)
        {
            Some(t) => {
                t.raw = t.raw.saturating_add(x.amount);
                t.usd = t.usd.zip(value.usd).map(|(a, b)| a + b);
            }
            None => g.totals.push(value.clone()),
        }
        g.usd = g.usd.zip(value.usd).map(|(a, b)| a + b);
        g.addresses.push(ExitAddress {
            address: x.address,
            label: x.info.name.clone(),
            value,
            hops: x.hops,
            path: x.path.iter().map(|s| s.tx_hash).collect(),
            steps: x.steps(),
        });
    }
    let mut out: Vec<ExitGroup> = groups.into_values().collect();
    for g in &mut out {
        g.addresses
            .sort_by(|a, b| by_value_desc(&a.value, &b.value).then(a.address.cmp(&b.address)));
        g.totals.sort_by(by_value_desc);
    }
    out.sort_by(|a, b| {
        match (a.usd, b.usd) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => b.addresses.len().cmp(&a.addresses.len()),
        }
        .then(a.entity.cmp(&b.entity))
    });
    out
}

#[cfg(test)]
mod tests;

//! The public JSON contract of an incident report (fields may be added, never removed or renamed):
//!
//! `{"schema_version": 1, "incident": {"name","started","started_unix","victims","exploiters"}, "model",
//!   "exploiter_side": [{"chain","address","membership","detail"}],
//!   "losses": [{"chain","asset","symbol","decimals","amount","amount_human","usd","transfers": [...]}],
//!   "total_loss_usd", "destinations": [{"chain","address","asset","symbol","amount","amount_human","usd",
//!   "hops","reason","label","path"}], "exits": [{"entity","category","usd","totals","addresses"}],
//!   "attributed": bool, "attribution": [{"actor","name","confidence","evidence": [{"kind","chain","tx_hash",
//!   "address","detail","source","label_confidence"}], "findings": [{"strength","factors","target","evidence"}]}],
//!   "flow": {"nodes","edges","omitted_terminals"}, "notes": [...]}`
//!
//! Added with conversions: every destination and exit address has `"steps"` (the path with the swaps and
//! bridges it crossed; each step as [`step_json`] writes it: `transfer` with chain, tx, from, to, asset,
//! amount; `swap` with assets, amounts and rate; `bridge` with from/to chain, deposit_tx, release_tx,
//! confidence, reason), a `"chain"` that may differ from the exploiters' chain, and flow nodes of role
//! `conversion` (category `swap`/`wrap`/`bridge`). `"cross_chain_entities": [{"address", "chains": [..],
//! "evidence": [{"chain","kind","tx_hash","detail"}]}]` lists each 20-byte address active on several chains
//! of the incident (one candidate entity).
//!
//! Added with mixers: `"mixer_deposits": [{"chain","pool","pool_name","denomination","denomination_raw",
//! "asset","symbol","usd","timestamp","time","tx_hash","depositor","candidates": [{"tx_hash","recipient",
//! "timestamp","time","heuristics": [..],"confidence","reasons": [..],"note"}]}]`: deposits into mixer
//! pools made from the traced funds (`denomination` in whole units, or raw when the decimals are unknown),
//! each with withdrawals that MAY belong to the depositor. `confidence` is strictly between 0 and 1 and
//! every candidate's `note` is "candidate, not a certainty": candidates are leads, never facts.
//!
//! Amounts are decimal strings of raw units (`amount`) plus whole units (`amount_human`, null when the
//! decimals are unknown); `usd` is a number or null when a price is missing, never 0 for "unknown".

use chaintrace_analysis::conversions::{ConversionDetail, ConversionEdge, verdict_name};
use chaintrace_analysis::investigate::mixers::CANDIDATE_NOTE;
use chaintrace_analysis::investigate::prices::rfc3339_of_unix;
use chaintrace_analysis::investigate::{Evidence, Investigation, Membership, MixerDepositFinding, Value};
use chaintrace_analysis::trace::TraceStep;
use chaintrace_core::{Address, Chain};
use serde::Serialize;
use serde_json::json;

/// Version of this layout.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The incident as given.
    pub incident: IncidentDto,
    /// Taint model of the fund-flow trace.
    pub model: String,
    /// Exploiters, same-address twins and cluster members.
    pub exploiter_side: Vec<MemberDto>,
    /// Losses per chain and asset.
    pub losses: Vec<LossDto>,
    /// Sum of loss USD values; null when any is missing.
    pub total_loss_usd: Option<f64>,
    /// Where the funds rest.
    pub destinations: Vec<DestinationDto>,
    /// Exits grouped by entity.
    pub exits: Vec<ExitGroupDto>,
    /// Whether any actor is named.
    pub attributed: bool,
    /// Ranked actors.
    pub attribution: Vec<AttributionDto>,
    /// The drawn flow graph.
    pub flow: FlowDto,
    /// Limitations and facts.
    pub notes: Vec<String>,
    /// One 20-byte address active on several chains of the incident.
    pub cross_chain_entities: Vec<CrossChainEntityDto>,
    /// Deposits into mixer pools made from the traced funds, with candidate withdrawals.
    pub mixer_deposits: Vec<MixerDepositDto>,
}

/// A deposit into a mixer pool made from the traced funds.
#[derive(Debug, Serialize)]
pub struct MixerDepositDto {
    /// Chain name.
    pub chain: String,
    /// Pool contract.
    pub pool: String,
    /// Pool name from the registry.
    pub pool_name: String,
    /// Denomination in whole units (raw when the decimals are unknown).
    pub denomination: String,
    /// Denomination in raw units.
    pub denomination_raw: String,
    /// `native` or token address.
    pub asset: String,
    /// Symbol, if known.
    pub symbol: Option<String>,
    /// US dollars at the deposit's day; null when unknown.
    pub usd: Option<f64>,
    /// Unix time.
    pub timestamp: u64,
    /// RFC 3339 time.
    pub time: String,
    /// Deposit transaction.
    pub tx_hash: String,
    /// Signer of the deposit.
    pub depositor: String,
    /// Withdrawals that may belong to the depositor (leads, not facts), most confident first.
    pub candidates: Vec<MixerCandidateDto>,
}

/// A candidate withdrawal of a mixer deposit.
#[derive(Debug, Serialize)]
pub struct MixerCandidateDto {
    /// Withdrawal transaction.
    pub tx_hash: String,
    /// Recipient.
    pub recipient: String,
    /// Unix time.
    pub timestamp: u64,
    /// RFC 3339 time.
    pub time: String,
    /// Heuristics proposing it.
    pub heuristics: Vec<String>,
    /// Confidence in (0, 1).
    pub confidence: f64,
    /// Reasons in words.
    pub reasons: Vec<String>,
    /// Always "candidate, not a certainty".
    pub note: String,
}

/// The DTO of one mixer deposit finding.
pub fn mixer_deposit(d: &MixerDepositFinding) -> MixerDepositDto {
    MixerDepositDto {
        chain: d.chain.name().to_string(),
        pool: d.pool.json_for(d.chain),
        pool_name: d.pool_name.clone(),
        denomination: d
            .denomination
            .human()
            .unwrap_or_else(|| d.denomination.raw.to_string()),
        denomination_raw: d.denomination.raw.to_string(),
        asset: d.denomination.asset.json_for(d.chain),
        symbol: d.denomination.meta.symbol.clone(),
        usd: d.denomination.usd,
        timestamp: d.timestamp,
        time: rfc3339_of_unix(d.timestamp),
        tx_hash: d.tx_hash.to_hex(),
        depositor: d.depositor.json_for(d.chain),
        candidates: d
            .candidates
            .iter()
            .map(|c| MixerCandidateDto {
                tx_hash: c.tx_hash.to_hex(),
                recipient: c.recipient.json_for(d.chain),
                timestamp: c.timestamp,
                time: rfc3339_of_unix(c.timestamp),
                heuristics: c.heuristics.clone(),
                confidence: c.confidence,
                reasons: c.reasons.clone(),
                note: CANDIDATE_NOTE.to_string(),
            })
            .collect(),
    }
}

/// A candidate entity: one address on several chains.
#[derive(Debug, Serialize)]
pub struct CrossChainEntityDto {
    /// The address as 0x-hex (the body of a Tron address too; per chain in `evidence`).
    pub address: String,
    /// Chain names.
    pub chains: Vec<String>,
    /// What ties it to the incident, per chain.
    pub evidence: Vec<CrossChainEvidenceDto>,
}

/// One chain's fact about a cross-chain entity.
#[derive(Debug, Serialize)]
pub struct CrossChainEvidenceDto {
    /// Chain name.
    pub chain: String,
    /// The address as that chain writes it (Tron: base58).
    pub address: String,
    /// Kind (`exploiter`, `same_address`, `destination`, `exit`, `conversion_recipient`, ...).
    pub kind: String,
    /// Transaction showing it.
    pub tx_hash: Option<String>,
    /// Sentence.
    pub detail: String,
}

/// Incident.
#[derive(Debug, Serialize)]
pub struct IncidentDto {
    /// Name.
    pub name: String,
    /// RFC 3339 start.
    pub started: String,
    /// Unix start.
    pub started_unix: u64,
    /// Victims.
    pub victims: Vec<PartyDto>,
    /// Exploiters.
    pub exploiters: Vec<PartyDto>,
}

/// An address on a chain.
#[derive(Debug, Serialize)]
pub struct PartyDto {
    /// Chain name.
    pub chain: String,
    /// Address as JSON shows it on that chain.
    pub address: String,
}

fn party(chain: Chain, a: Address) -> PartyDto {
    PartyDto {
        chain: chain.name().to_string(),
        address: a.json_for(chain),
    }
}

/// An exploiter-side address.
#[derive(Debug, Serialize)]
pub struct MemberDto {
    /// Chain.
    pub chain: String,
    /// Address.
    pub address: String,
    /// `exploiter`, `same_address` or `cluster`.
    pub membership: String,
    /// Why.
    pub detail: String,
}

/// An amount.
#[derive(Debug, Serialize)]
pub struct ValueDto {
    /// Chain.
    pub chain: String,
    /// `native` or token address.
    pub asset: String,
    /// Ticker, if known.
    pub symbol: Option<String>,
    /// Decimals, if known.
    pub decimals: Option<u8>,
    /// Raw decimal string.
    pub amount: String,
    /// Whole units, if the decimals are known.
    pub amount_human: Option<String>,
    /// US dollars; null when unknown.
    pub usd: Option<f64>,
}

fn value(v: &Value) -> ValueDto {
    ValueDto {
        chain: v.chain.name().to_string(),
        asset: v.asset.json_for(v.chain),
        symbol: v.meta.symbol.clone(),
        decimals: v.meta.decimals,
        amount: v.raw.to_string(),
        amount_human: v.human(),
        usd: v.usd,
    }
}

/// Losses of one asset.
#[derive(Debug, Serialize)]
pub struct LossDto {
    /// Total.
    #[serde(flatten)]
    pub value: ValueDto,
    /// The transfers.
    pub transfers: Vec<LossTransferDto>,
}

/// One loss transfer.
#[derive(Debug, Serialize)]
pub struct LossTransferDto {
    /// Transaction.
    pub tx_hash: String,
    /// Victim.
    pub from: String,
    /// Receiver.
    pub to: String,
    /// RFC 3339 time.
    pub time: String,
    /// Raw amount.
    pub amount: String,
    /// Whole units.
    pub amount_human: Option<String>,
    /// USD at the day's close.
    pub usd: Option<f64>,
}

/// Where funds rest.
#[derive(Debug, Serialize)]
pub struct DestinationDto {
    /// Address.
    pub address: String,
    /// Amount.
    #[serde(flatten)]
    pub value: ValueDto,
    /// Hops from an exploiter.
    pub hops: u32,
    /// `not_moved`, `hop_limit`, `fan_out_cap`.
    pub reason: String,
    /// Label, if any.
    pub label: Option<String>,
    /// Transactions from an exploiter.
    pub path: Vec<String>,
    /// The path with its conversions.
    pub steps: Vec<serde_json::Value>,
}

/// Exits of one entity.
#[derive(Debug, Serialize)]
pub struct ExitGroupDto {
    /// Entity.
    pub entity: String,
    /// Category.
    pub category: String,
    /// Total USD; null when any part is unpriced.
    pub usd: Option<f64>,
    /// Per chain and asset.
    pub totals: Vec<ValueDto>,
    /// Addresses.
    pub addresses: Vec<ExitAddressDto>,
}

/// One exit address.
#[derive(Debug, Serialize)]
pub struct ExitAddressDto {
    /// Address.
    pub address: String,
    /// Label.
    pub label: String,
    /// Amount received.
    #[serde(flatten)]
    pub value: ValueDto,
    /// Hops.
    pub hops: u32,
    /// Transactions from an exploiter.
    pub path: Vec<String>,
    /// The path with its conversions.
    pub steps: Vec<serde_json::Value>,
}

/// One ranked actor.
#[derive(Debug, Serialize)]
pub struct AttributionDto {
    /// Actor id.
    pub actor: String,
    /// Display name.
    pub name: Option<String>,
    /// 0..=1.
    pub confidence: f64,
    /// Every piece of evidence.
    pub evidence: Vec<EvidenceDto>,
    /// How the evidence combines.
    pub findings: Vec<FindingDto>,
}

/// One piece of evidence.
#[derive(Debug, Serialize, Clone)]
pub struct EvidenceDto {
    /// Kind.
    pub kind: String,
    /// Chain.
    pub chain: String,
    /// Transaction, if any.
    pub tx_hash: Option<String>,
    /// Address.
    pub address: String,
    /// Sentence.
    pub detail: String,
    /// Label source.
    pub source: Option<String>,
    /// Label confidence.
    pub label_confidence: Option<u8>,
}

fn evidence(e: &Evidence) -> EvidenceDto {
    EvidenceDto {
        kind: e.kind.name().to_string(),
        chain: e.chain.name().to_string(),
        tx_hash: e.tx_hash.map(|h| h.to_hex()),
        address: e.address.json_for(e.chain),
        detail: e.detail.clone(),
        source: e.source.clone(),
        label_confidence: e.label_confidence,
    }
}

/// One finding.
#[derive(Debug, Serialize)]
pub struct FindingDto {
    /// Product of the factors.
    pub strength: f64,
    /// Factors.
    pub factors: Vec<FactorDto>,
    /// The labeled address.
    pub target: PartyDto,
    /// Indexes into the actor's `evidence`.
    pub evidence: Vec<usize>,
}

/// One factor.
#[derive(Debug, Serialize)]
pub struct FactorDto {
    /// What it stands for.
    pub what: String,
    /// Value.
    pub factor: f64,
}

/// The flow graph.
#[derive(Debug, Serialize)]
pub struct FlowDto {
    /// Nodes.
    pub nodes: Vec<FlowNodeDto>,
    /// Edges.
    pub edges: Vec<FlowEdgeDto>,
    /// Terminals not drawn.
    pub omitted_terminals: usize,
}

/// A node.
#[derive(Debug, Serialize)]
pub struct FlowNodeDto {
    /// Chain.
    pub chain: String,
    /// Address.
    pub address: String,
    /// Role.
    pub role: String,
    /// Exit category.
    pub category: Option<String>,
    /// Label.
    pub label: Option<String>,
    /// Column.
    pub layer: u32,
}

/// An edge.
#[derive(Debug, Serialize)]
pub struct FlowEdgeDto {
    /// Sender index.
    pub from: usize,
    /// Receiver index.
    pub to: usize,
    /// Amount.
    #[serde(flatten)]
    pub value: ValueDto,
    /// Transactions.
    pub tx_hashes: Vec<String>,
    /// Loss transfers.
    pub is_loss: bool,
}

/// Builds the DTO of an investigation.
pub fn report(inv: &Investigation) -> Report {
    let inc = &inv.incident;
    let losses: Vec<LossDto> = inv
        .losses
        .iter()
        .map(|l| LossDto {
            value: value(&l.value),
            transfers: l
                .transfers
                .iter()
                .map(|t| LossTransferDto {
                    tx_hash: t.tx_hash.to_hex(),
                    from: t.from.json_for(l.value.chain),
                    to: t.to.json_for(l.value.chain),
                    time: rfc3339_of_unix(t.time),
                    amount: t.value.raw.to_string(),
                    amount_human: t.value.human(),
                    usd: t.value.usd,
                })
                .collect(),
        })
        .collect();
    let total_loss_usd = total_usd(inv);
    let attribution = inv
        .attribution
        .iter()
        .map(|a| {
            let all: Vec<&Evidence> = a.evidence();
            let ev: Vec<EvidenceDto> = all.iter().map(|e| evidence(e)).collect();
            let findings = a
                .findings
                .iter()
                .map(|f| FindingDto {
                    strength: f.strength,
                    factors: f
                        .factors
                        .iter()
                        .map(|(w, x)| FactorDto {
                            what: w.clone(),
                            factor: *x,
                        })
                        .collect(),
                    target: party(f.target.0, f.target.1),
                    evidence: f
                        .evidence
                        .iter()
                        .filter_map(|e| all.iter().position(|x| *x == e))
                        .collect(),
                })
                .collect();
            AttributionDto {
                actor: a.actor.0.clone(),
                name: a.name.clone(),
                confidence: a.confidence,
                evidence: ev,
                findings,
            }
        })
        .collect();
    Report {
        schema_version: SCHEMA_VERSION,
        incident: IncidentDto {
            name: inc.name.clone(),
            started: rfc3339_of_unix(inc.started),
            started_unix: inc.started,
            victims: inc.victims.iter().map(|&(c, a)| party(c, a)).collect(),
            exploiters: inc.exploiters.iter().map(|&(c, a)| party(c, a)).collect(),
        },
        model: inv.model.name().to_string(),
        exploiter_side: inv
            .incident_addresses
            .iter()
            .map(|m| {
                let (kind, detail) = membership(&m.membership);
                MemberDto {
                    chain: m.chain.name().to_string(),
                    address: m.address.json_for(m.chain),
                    membership: kind,
                    detail,
                }
            })
            .collect(),
        losses,
        total_loss_usd,
        destinations: inv
            .destinations
            .iter()
            .map(|d| DestinationDto {
                address: d.address.json_for(d.value.chain),
                value: value(&d.value),
                hops: d.hops,
                reason: d.reason.name().to_string(),
                label: d.label.clone(),
                path: d.path.iter().map(|h| h.to_hex()).collect(),
                steps: d.steps.iter().map(step_json).collect(),
            })
            .collect(),
        exits: inv
            .exits
            .iter()
            .map(|g| ExitGroupDto {
                entity: g.entity.clone(),
                category: g.category.clone(),
                usd: g.usd,
                totals: g.totals.iter().map(value).collect(),
                addresses: g
                    .addresses
                    .iter()
                    .map(|x| ExitAddressDto {
                        address: x.address.json_for(x.value.chain),
                        label: x.label.clone(),
                        value: value(&x.value),
                        hops: x.hops,
                        path: x.path.iter().map(|h| h.to_hex()).collect(),
                        steps: x.steps.iter().map(step_json).collect(),
                    })
                    .collect(),
            })
            .collect(),
        attributed: !inv.attribution.is_empty(),
        attribution,
        flow: FlowDto {
            nodes: inv
                .flow
                .nodes
                .iter()
                .map(|n| FlowNodeDto {
                    chain: n.chain.name().to_string(),
                    address: n.address.json_for(n.chain),
                    role: n.role.name().to_string(),
                    category: match &n.role {
                        chaintrace_analysis::investigate::NodeRole::Exit(c)
                        | chaintrace_analysis::investigate::NodeRole::Conversion(c) => Some(c.clone()),
                        _ => None,
                    },
                    label: n.label.clone(),
                    layer: n.layer,
                })
                .collect(),
            edges: inv
                .flow
                .edges
                .iter()
                .map(|e| FlowEdgeDto {
                    from: e.from,
                    to: e.to,
                    value: value(&e.value),
                    tx_hashes: e.tx_hashes.iter().map(|h| h.to_hex()).collect(),
                    is_loss: e.is_loss,
                })
                .collect(),
            omitted_terminals: inv.flow.omitted_terminals,
        },
        notes: inv.notes.clone(),
        cross_chain_entities: inv
            .cross_chain_entities
            .iter()
            .map(|x| CrossChainEntityDto {
                address: x.address.to_string(),
                chains: x.chains.iter().map(|c| c.name().to_string()).collect(),
                evidence: x
                    .evidence
                    .iter()
                    .map(|e| CrossChainEvidenceDto {
                        chain: e.chain.name().to_string(),
                        address: x.address.json_for(e.chain),
                        kind: e.kind.clone(),
                        tx_hash: e.tx_hash.map(|h| h.to_hex()),
                        detail: e.detail.clone(),
                    })
                    .collect(),
            })
            .collect(),
        mixer_deposits: inv.mixer_deposits.iter().map(mixer_deposit).collect(),
    }
}

/// JSON of one path step: `{"kind":"transfer",...}`, `{"kind":"swap",...}` or `{"kind":"bridge",...}` (the
/// layout `chaintrace trace` documents; shared by the trace and report outputs).
pub fn step_json(step: &TraceStep) -> serde_json::Value {
    match step {
        TraceStep::Transfer { chain, asset, step } => json!({
            "kind": "transfer",
            "chain": chain.name(),
            "tx": step.tx_hash.to_hex(),
            "from": step.from.json_for(*chain),
            "to": step.to.json_for(*chain),
            "asset": asset.json_for(*chain),
            "amount": step.amount.to_string(),
        }),
        TraceStep::Conversion(c) => conversion_json(c),
    }
}

/// JSON of one conversion edge (a `swap` or `bridge` step).
pub fn conversion_json(c: &ConversionEdge) -> serde_json::Value {
    let via: Vec<String> = c.via.iter().map(|a| a.json_for(c.from_chain)).collect();
    match &c.detail {
        ConversionDetail::Swap { kind } => json!({
            "kind": "swap",
            "chain": c.from_chain.name(),
            "tx": c.from_tx.to_hex(),
            "owner": c.owner.json_for(c.from_chain),
            "recipient": c.recipient.json_for(c.to_chain),
            "from_asset": c.asset_in.json_for(c.from_chain),
            "to_asset": c.asset_out.json_for(c.to_chain),
            "amount_in": c.amount_in.to_string(),
            "amount_out": c.amount_out.to_string(),
            "rate": c.rate(),
            "swap_kind": kind.name(),
            "via": via,
        }),
        ConversionDetail::Bridge {
            bridge,
            verdict,
            confidence,
            reason,
        } => json!({
            "kind": "bridge",
            "bridge": bridge,
            "from_chain": c.from_chain.name(),
            "to_chain": c.to_chain.name(),
            "deposit_tx": c.from_tx.to_hex(),
            "release_tx": c.to_tx.to_hex(),
            "owner": c.owner.json_for(c.from_chain),
            "recipient": c.recipient.json_for(c.to_chain),
            "from_asset": c.asset_in.json_for(c.from_chain),
            "to_asset": c.asset_out.json_for(c.to_chain),
            "amount_in": c.amount_in.to_string(),
            "amount_out": c.amount_out.to_string(),
            "rate": c.rate(),
            "confidence": confidence,
            "reason": reason,
            "verdict": verdict_name(*verdict),
            "candidate": c.is_candidate,
            "via": via,
        }),
    }
}

/// Sum of the losses in USD; `None` when any loss lacks a price (or there is none).
pub fn total_usd(inv: &Investigation) -> Option<f64> {
    if inv.losses.is_empty() {
        return None;
    }
    inv.losses
        .iter()
        .try_fold(0.0, |acc, l| l.value.usd.map(|u| acc + u))
}

/// Kind name and sentence of a membership.
pub(crate) fn membership(m: &Membership) -> (String, String) {
    match m {
        Membership::Exploiter => ("exploiter".into(), "named in the incident file".into()),
        Membership::SameAddress { of_chain } => (
            "same_address".into(),
            format!("same 20-byte address as an exploiter on {of_chain}"),
        ),
        Membership::Cluster {
            exploiter,
            heuristics,
            confidence,
        } => (
            "cluster".into(),
            format!(
                "clustered with exploiter {} on {} by {} (confidence {confidence})",
                exploiter.1.json_for(exploiter.0),
                exploiter.0,
                heuristics.join(" + ")
            ),
        ),
    }
}

/// The report as pretty JSON text.
pub fn render(inv: &Investigation) -> String {
    let mut s = serde_json::to_string_pretty(&report(inv))
        .expect("report DTOs serialize: no maps with non-string keys");
    s.push('\n');
    s
}

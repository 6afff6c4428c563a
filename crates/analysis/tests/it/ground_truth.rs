//! Forward traces from planted incidents' exploiter addresses against the simulator's ground truth.
//!
//! For every incident of several seeded worlds, trace forward from the incident's exploiters (on the victim
//! chain, from the drain time, labeled exchange/mixer/bridge addresses as exits, default hop limit and fan-out
//! cap) and compare with the incident's true final destinations (exchange deposits, mixer deposits, actor
//! holdings):
//! - recall: share of true destinations `(chain, address)` the trace reached (any asset);
//! - precision: share of the trace's end points (holdings + exits) that belong to the incident (a true
//!   destination, an address the actor controls, the actor's cash-out deposit address, or a hot wallet of
//!   an exchange the actor cashed out at, where deposits are swept, or the bridge/DEX pool the actor used),
//!   by count; for haircut and fifo also
//!   by value (share of the resting/exited taint on such addresses).
//!
//! Destinations after a bridge hop (another chain) or a swap into another asset are out of reach by design
//! (no conversion edges yet), so recall below 1 is expected; the floors below are what the current code
//! meets with margin, so a regression in the engine shows up here.

use std::collections::{HashMap, HashSet};

use chaintrace_analysis::trace::{ExitCategory, ExitInfo, Model, TraceRequest, trace};
use chaintrace_core::{Address, Chain, U256};
use chaintrace_graph::{Graph, StoreStamp};
use chaintrace_sim::{DestinationKind, GroundTruth, WorldConfig, generate_in_memory};

const SEEDS: [u64; 4] = [11, 12, 13, 14];
const TRANSFERS: u64 = 60_000;

/// Figures of one model over all incidents of all worlds.
#[derive(Default, Debug)]
struct Score {
    incidents: usize,
    truth: usize,
    truth_same_chain: usize,
    hit: usize,
    /// Per destination kind: (true on the victim chain, reached).
    by_kind: HashMap<DestinationKind, (usize, usize)>,
    endpoints: usize,
    endpoints_ok: usize,
    value: f64,
    value_ok: f64,
}

impl Score {
    fn recall(&self) -> f64 {
        self.hit as f64 / self.truth.max(1) as f64
    }
    fn recall_same_chain(&self) -> f64 {
        self.hit as f64 / self.truth_same_chain.max(1) as f64
    }
    fn precision(&self) -> f64 {
        self.endpoints_ok as f64 / self.endpoints.max(1) as f64
    }
    fn value_precision(&self) -> f64 {
        if self.value == 0.0 {
            f64::NAN
        } else {
            self.value_ok / self.value
        }
    }
}

fn f64_of(v: U256) -> f64 {
    // Amounts here fit easily; the lossy conversion only weighs shares.
    let limbs = v.as_limbs();
    limbs[0] as f64 + limbs[1] as f64 * 2f64.powi(64)
}

fn exits(truth: &GroundTruth) -> HashMap<(Chain, Address), ExitInfo> {
    truth
        .labels
        .iter()
        .filter_map(|l| {
            let category = match l.category.as_str() {
                "exchange" => ExitCategory::Exchange,
                "mixer" => ExitCategory::Mixer,
                "bridge" => ExitCategory::Bridge,
                _ => return None,
            };
            Some((
                (l.chain, l.address),
                ExitInfo {
                    category,
                    name: l.label.clone(),
                },
            ))
        })
        .collect()
}

fn score_world(seed: u64, scores: &mut HashMap<Model, Score>) {
    let (mem, truth) = generate_in_memory(&WorldConfig::new(seed, TRANSFERS)).expect("sim world");
    let graph = Graph::from_transfers(mem.transfers, StoreStamp::default()).expect("graph");
    let oracle = exits(&truth);
    assert!(
        !truth.incidents.is_empty(),
        "seed {seed}: the default world plants incidents"
    );
    for inc in &truth.incidents {
        let victim_chain = inc.chains[0];
        let starts: Vec<(Chain, Address)> = inc
            .exploiters
            .iter()
            .filter(|e| e.chain == victim_chain)
            .map(|e| (e.chain, e.address))
            .collect();
        let true_dest: HashSet<(Chain, Address)> =
            inc.destinations.iter().map(|d| (d.chain, d.address)).collect();
        let mut ours: HashSet<(Chain, Address)> = inc.controlled.iter().map(|a| (victim_chain, *a)).collect();
        ours.extend(inc.cash_out_deposit_addresses.iter().map(|a| (victim_chain, *a)));
        ours.extend(true_dest.iter().copied());
        // Value that reaches the hot wallet of an exchange the actor cashed out at ended at the right exit.
        for d in &inc.destinations {
            if let Some(ex) = truth
                .exchanges
                .iter()
                .find(|x| Some(&x.id) == d.exchange.as_ref())
            {
                ours.extend(
                    ex.hot_wallets
                        .iter()
                        .filter(|h| h.chain == d.chain)
                        .map(|h| (h.chain, h.address)),
                );
            }
        }
        // The actor's conversions: value handed to the bridge or swapped at the DEX pool went where the truth
        // says (a conversion edge would follow it; without one the trace correctly ends there).
        let controlled: HashSet<Address> = inc.controlled.iter().copied().collect();
        for c in &truth.chains {
            let bridged = truth
                .bridge_transfers
                .iter()
                .any(|b| b.from_chain == c.chain && controlled.contains(&b.sender));
            let swapped = truth
                .swaps
                .iter()
                .any(|w| w.chain == c.chain && controlled.contains(&w.owner));
            ours.extend(c.bridge.filter(|_| bridged).map(|a| (c.chain, a)));
            ours.extend(c.dex_pool.filter(|_| swapped).map(|a| (c.chain, a)));
            // Swaps go through the router into V2-style pairs and the wrapped-native contract: value that the
            // plain per-asset trace sees land there was converted, not lost to a stranger.
            if swapped {
                ours.extend(c.dex_pairs.iter().map(|a| (c.chain, *a)));
                ours.extend(c.wrapped_native.map(|a| (c.chain, a)));
            }
        }
        for model in [Model::Poison, Model::Haircut, Model::Fifo] {
            let mut req = TraceRequest::new(starts.clone());
            req.model = model;
            req.since = Some(inc.drain_time);
            let r = trace(&graph, &req, &oracle).expect("trace from exploiters");
            let reached: HashSet<(Chain, Address)> =
                r.destinations.iter().map(|d| (d.chain, d.address)).collect();
            let s = scores.entry(model).or_default();
            s.incidents += 1;
            s.truth += true_dest.len();
            s.truth_same_chain += true_dest.iter().filter(|d| d.0 == victim_chain).count();
            s.hit += true_dest.intersection(&reached).count();
            let mut kinds: HashSet<(DestinationKind, Chain, Address)> = HashSet::new();
            for d in inc.destinations.iter().filter(|d| d.chain == victim_chain) {
                kinds.insert((d.kind, d.chain, d.address));
            }
            for (kind, chain, address) in kinds {
                let e = s.by_kind.entry(kind).or_default();
                e.0 += 1;
                e.1 += usize::from(reached.contains(&(chain, address)));
            }
            let mut endpoints: HashMap<(Chain, Address), f64> = HashMap::new();
            for h in &r.holding {
                *endpoints.entry((h.chain, h.address)).or_default() += f64_of(h.amount);
            }
            for x in &r.exits {
                *endpoints.entry((x.chain, x.address)).or_default() += f64_of(x.amount);
            }
            s.endpoints += endpoints.len();
            s.endpoints_ok += endpoints.keys().filter(|k| ours.contains(k)).count();
            if model != Model::Poison {
                s.value += endpoints.values().sum::<f64>();
                s.value_ok += endpoints
                    .iter()
                    .filter(|(k, _)| ours.contains(k))
                    .map(|(_, v)| v)
                    .sum::<f64>();
            }
        }
    }
}

#[test]
fn forward_traces_from_exploiters_reach_true_destinations() {
    let mut scores: HashMap<Model, Score> = HashMap::new();
    for seed in SEEDS {
        score_world(seed, &mut scores);
    }
    let mut lines = Vec::new();
    for model in [Model::Poison, Model::Haircut, Model::Fifo] {
        let s = &scores[&model];
        lines.push(format!(
            "{model}: incidents {} | true destinations {} ({} on the victim chain) | reached {} | recall {:.3} \
             (victim chain {:.3}) | end points {} | precision by count {:.3} | by value {:.3}",
            s.incidents,
            s.truth,
            s.truth_same_chain,
            s.hit,
            s.recall(),
            s.recall_same_chain(),
            s.endpoints,
            s.precision(),
            s.value_precision(),
        ));
        let mut kinds: Vec<_> = s.by_kind.iter().collect();
        kinds.sort_by_key(|(k, _)| **k);
        for (kind, (n, hit)) in kinds {
            lines.push(format!(
                "{model}:   {kind:?} on the victim chain: {hit}/{n} reached ({:.3})",
                *hit as f64 / *n as f64
            ));
        }
    }
    for l in &lines {
        eprintln!("ground truth (seeds {SEEDS:?}, {TRANSFERS} transfers each): {l}");
    }
    let (p, h, f) = (
        &scores[&Model::Poison],
        &scores[&Model::Haircut],
        &scores[&Model::Fifo],
    );
    // Poison is the widest net: it reaches at least what the conserving models reach.
    assert!(
        p.hit >= h.hit && p.hit >= f.hit,
        "poison must reach at least as much: {lines:?}"
    );
    // Floors the current engine meets with margin (measured: 1.000 for each; see /work/notes/bench-trace.md).
    // Holdings are mostly mixer-withdrawal recipients behind the mixer exit, so no floor on them.
    for (model, s) in [(Model::Poison, p), (Model::Haircut, h), (Model::Fifo, f)] {
        for kind in [DestinationKind::ExchangeDeposit, DestinationKind::MixerDeposit] {
            let (n, hit) = s.by_kind.get(&kind).copied().unwrap_or_default();
            assert!(n > 0, "{model}: the worlds plant {kind:?} destinations");
            assert!(
                hit as f64 / n as f64 >= 0.9,
                "{model} {kind:?} recall fell: {lines:?}"
            );
        }
    }
    assert!(
        h.value_precision() >= 0.95,
        "haircut value precision fell: {lines:?}"
    );
    assert!(
        f.value_precision() >= 0.95,
        "fifo value precision fell: {lines:?}"
    );
    assert!(f.precision() >= 0.8, "fifo end-point precision fell: {lines:?}");
}

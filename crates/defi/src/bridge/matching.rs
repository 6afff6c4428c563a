use std::collections::HashMap;

use chaintrace_core::{Address, Chain, U256};

use super::BridgeEvent;
use crate::abi::approx_f64;

/// Time window and amount tolerance for heuristic matching of one bridge (route).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchProfile {
    /// Earliest release after the deposit, seconds.
    pub min_delay_secs: u64,
    /// Latest release after the deposit, seconds.
    pub max_delay_secs: u64,
    /// Largest fee the bridge may keep, basis points of the deposit (release >= deposit * (1 - fee)).
    pub max_fee_bps: u32,
    /// Largest bonus the bridge may add (Stargate's equilibrium reward), basis points.
    pub max_gain_bps: u32,
}

/// Matching settings: a default profile, per-bridge profiles, and per-(bridge, deposit chain) profiles
/// (rollup withdrawals wait out a challenge period; deposits into the rollup take minutes).
#[derive(Debug, Clone)]
pub struct MatchConfig {
    /// Profile of bridges with no entry below.
    pub default: MatchProfile,
    /// By bridge name.
    pub per_bridge: HashMap<String, MatchProfile>,
    /// By (bridge name, chain of the deposit); wins over `per_bridge`.
    pub per_route: HashMap<(String, Chain), MatchProfile>,
    /// A single heuristic candidate is called [`MatchVerdict::Matched`] only at or above this confidence.
    pub min_match_confidence: f64,
}

impl Default for MatchConfig {
    fn default() -> MatchConfig {
        let minutes = |m: u64| m * 60;
        let days = |d: u64| d * 86_400;
        let default = MatchProfile {
            min_delay_secs: 0,
            max_delay_secs: minutes(60),
            max_fee_bps: 100,
            max_gain_bps: 0,
        };
        let rollup_in = MatchProfile {
            min_delay_secs: 0,
            max_delay_secs: minutes(60),
            max_fee_bps: 0,
            max_gain_bps: 0,
        };
        let rollup_out = MatchProfile {
            min_delay_secs: days(6),
            max_delay_secs: days(60),
            max_fee_bps: 0,
            max_gain_bps: 0,
        };
        let stargate = MatchProfile {
            min_delay_secs: 0,
            max_delay_secs: minutes(60),
            max_fee_bps: 100,
            max_gain_bps: 50,
        };
        let mut per_bridge = HashMap::new();
        per_bridge.insert("optimism".to_string(), rollup_in);
        per_bridge.insert("arbitrum".to_string(), rollup_in);
        per_bridge.insert("stargate".to_string(), stargate);
        let mut per_route = HashMap::new();
        per_route.insert(("optimism".to_string(), Chain::Optimism), rollup_out);
        per_route.insert(("arbitrum".to_string(), Chain::Arbitrum), rollup_out);
        MatchConfig {
            default,
            per_bridge,
            per_route,
            min_match_confidence: 0.35,
        }
    }
}

impl MatchConfig {
    /// The profile for deposits of `bridge` made on `chain`.
    pub fn profile(&self, bridge: &str, chain: Chain) -> &MatchProfile {
        self.per_route
            .get(&(bridge.to_string(), chain))
            .or_else(|| self.per_bridge.get(bridge))
            .unwrap_or(&self.default)
    }
}

/// One release that may pay out a deposit.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchCandidate {
    /// Index into the releases slice.
    pub release: usize,
    /// 1.0 for a shared message id; below 1.0 for heuristics.
    pub confidence: f64,
    /// Why, in words (`message id`, `same recipient (from event), fee 0.10%, released 4m 0s after`...).
    pub reason: String,
    /// Whether the pair shares the bridge's message id.
    pub by_message_id: bool,
}

/// What the matcher concluded for one deposit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchVerdict {
    /// Exactly one candidate (by message id, or a heuristic candidate no other deposit claims, at or
    /// above `min_match_confidence`).
    Matched,
    /// Several candidates, or a candidate other deposits also claim: all are listed, none is picked.
    Ambiguous,
    /// One unclaimed heuristic candidate below `min_match_confidence`.
    Weak,
    /// No release fits.
    Unmatched,
}

/// The matcher's answer for one deposit.
#[derive(Debug, Clone, PartialEq)]
pub struct DepositMatch {
    /// Index into the deposits slice.
    pub deposit: usize,
    /// Conclusion.
    pub verdict: MatchVerdict,
    /// Every candidate, best first.
    pub candidates: Vec<MatchCandidate>,
}

/// How strongly a release's recipient ties it to a deposit.
#[derive(Clone, Copy)]
enum RecipientTie {
    /// The deposit event names the recipient.
    Named,
    /// Assumed: same address as the depositor (or the deposit transaction's signer).
    Assumed,
    /// No recipient evidence: amount and time only.
    None,
}

impl RecipientTie {
    fn factor(self) -> f64 {
        match self {
            RecipientTie::Named => 1.0,
            RecipientTie::Assumed => 0.8,
            RecipientTie::None => 0.3,
        }
    }

    fn words(self) -> &'static str {
        match self {
            RecipientTie::Named => "same recipient (from event)",
            RecipientTie::Assumed => "release to the depositor's own address",
            RecipientTie::None => "amount and time only",
        }
    }
}

/// Width of an amount bucket in log2 units (about 3.5 %).
const BUCKET_LOG2: f64 = 0.05;

fn bucket(amount: U256) -> i64 {
    let x = approx_f64(amount);
    if x <= 0.0 {
        i64::MIN
    } else {
        (x.log2() / BUCKET_LOG2).floor() as i64
    }
}

/// Pairs deposits with releases. First by message id (confidence 1.0); then, for deposits without an
/// id partner, by the heuristic of docs/bridges.md: same bridge name, release on another chain (the
/// declared one when known) within the profile's time window after the deposit, amount within the fee
/// tolerance, and the same recipient; only when no release goes to the recipient, releases of a fitting
/// amount in the window (low confidence). A release never precedes its deposit. Cost: O((D + R) log R)
/// plus the candidates found; releases are indexed by (bridge, recipient) and (bridge, amount bucket),
/// each sorted by time.
pub fn match_bridge_events(
    deposits: &[BridgeEvent],
    releases: &[BridgeEvent],
    config: &MatchConfig,
) -> Vec<DepositMatch> {
    let mut bridge_ids: HashMap<&str, u32> = HashMap::new();
    for e in deposits.iter().chain(releases) {
        let next = bridge_ids.len() as u32;
        bridge_ids.entry(e.bridge.as_str()).or_insert(next);
    }
    let bid = |e: &BridgeEvent| bridge_ids[e.bridge.as_str()];

    // 1. Message ids.
    let mut by_id: HashMap<(&str, [u8; 32]), Vec<usize>> = HashMap::new();
    for (i, r) in releases.iter().enumerate() {
        if let Some(m) = &r.message_id {
            by_id.entry((m.namespace.as_str(), m.id)).or_default().push(i);
        }
    }
    let mut id_claimed = vec![false; releases.len()];
    let mut results: Vec<DepositMatch> = Vec::with_capacity(deposits.len());
    for (d, dep) in deposits.iter().enumerate() {
        let mut candidates = Vec::new();
        if let Some(m) = &dep.message_id
            && let Some(found) = by_id.get(&(m.namespace.as_str(), m.id))
        {
            for &r in found {
                let rel = &releases[r];
                if rel.chain == dep.chain || rel.timestamp < dep.timestamp {
                    continue;
                }
                id_claimed[r] = true;
                candidates.push(MatchCandidate {
                    release: r,
                    confidence: 1.0,
                    reason: "message id".to_string(),
                    by_message_id: true,
                });
            }
        }
        results.push(DepositMatch {
            deposit: d,
            verdict: MatchVerdict::Unmatched,
            candidates,
        });
    }

    // 2. Heuristic indexes over releases not paired by id.
    let mut by_recipient: HashMap<(u32, Address), Vec<usize>> = HashMap::new();
    let mut by_bucket: HashMap<(u32, i64), Vec<usize>> = HashMap::new();
    for (i, r) in releases.iter().enumerate() {
        if id_claimed[i] {
            continue;
        }
        if let Some(to) = r.recipient {
            by_recipient.entry((bid(r), to)).or_default().push(i);
        }
        by_bucket.entry((bid(r), bucket(r.amount))).or_default().push(i);
    }
    for list in by_recipient.values_mut().chain(by_bucket.values_mut()) {
        list.sort_by_key(|&i| (releases[i].timestamp, i));
    }

    // 3. Recipient ties for every deposit first, so that amount-only candidates can skip releases a
    //    recipient tie already explains.
    let mut strong_claims = vec![0u32; releases.len()];
    let mut pending: Vec<usize> = Vec::new();
    for (d, dep) in deposits.iter().enumerate() {
        if !results[d].candidates.is_empty() {
            continue;
        }
        let b = bid(dep);
        let profile = config.profile(&dep.bridge, dep.chain);
        let window = Window::of(dep, profile);
        let mut ties: Vec<(Address, RecipientTie)> = Vec::new();
        match dep.recipient {
            Some(r) => ties.push((r, RecipientTie::Named)),
            None => {
                for a in dep.from.into_iter().chain([dep.tx_from]) {
                    if !ties.iter().any(|(x, _)| *x == a) {
                        ties.push((a, RecipientTie::Assumed));
                    }
                }
            }
        }
        let mut found: Vec<MatchCandidate> = Vec::new();
        for (addr, tie) in ties {
            if let Some(list) = by_recipient.get(&(b, addr)) {
                for &r in window.slice(list, releases) {
                    if let Some(c) = window.score(dep, &releases[r], r, tie, profile) {
                        found.push(c);
                    }
                }
            }
        }
        if found.is_empty() {
            pending.push(d);
            continue;
        }
        sort_candidates(&mut found);
        for c in &found {
            strong_claims[c.release] += 1;
        }
        results[d].candidates = found;
    }
    let mut weak_claims = vec![0u32; releases.len()];
    for d in pending {
        let dep = &deposits[d];
        let (b, profile) = (bid(dep), config.profile(&dep.bridge, dep.chain));
        let window = Window::of(dep, profile);
        let mut found: Vec<MatchCandidate> = Vec::new();
        for bk in bucket(window.amount_lo)..=bucket(window.amount_hi) {
            let Some(list) = by_bucket.get(&(b, bk)) else {
                continue;
            };
            for &r in window.slice(list, releases) {
                if strong_claims[r] > 0 {
                    continue;
                }
                if let Some(c) = window.score(dep, &releases[r], r, RecipientTie::None, profile) {
                    found.push(c);
                }
            }
        }
        sort_candidates(&mut found);
        for c in &found {
            weak_claims[c.release] += 1;
        }
        results[d].candidates = found;
    }
    let claims: Vec<u32> = strong_claims
        .iter()
        .zip(&weak_claims)
        .map(|(s, w)| s + w)
        .collect();

    for m in &mut results {
        m.verdict = match m.candidates.as_slice() {
            [] => MatchVerdict::Unmatched,
            [only] if only.by_message_id => MatchVerdict::Matched,
            [only] if claims[only.release] <= 1 => {
                if only.confidence >= config.min_match_confidence {
                    MatchVerdict::Matched
                } else {
                    MatchVerdict::Weak
                }
            }
            _ => MatchVerdict::Ambiguous,
        };
    }
    results
}

fn sort_candidates(found: &mut Vec<MatchCandidate>) {
    found.sort_by(|a, b| {
        a.release
            .cmp(&b.release)
            .then(b.confidence.total_cmp(&a.confidence))
    });
    found.dedup_by_key(|c| c.release);
    found.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(a.release.cmp(&b.release))
    });
}

/// The search box of one deposit.
struct Window {
    t_lo: u64,
    t_hi: u64,
    amount_lo: U256,
    amount_hi: U256,
}

impl Window {
    fn of(dep: &BridgeEvent, p: &MatchProfile) -> Window {
        let bps = U256::from(10_000u32);
        let lo = dep
            .amount
            .saturating_mul(U256::from(10_000u32.saturating_sub(p.max_fee_bps)))
            / bps;
        let hi = dep.amount.saturating_mul(U256::from(10_000u32 + p.max_gain_bps)) / bps;
        Window {
            t_lo: dep.timestamp.saturating_add(p.min_delay_secs),
            t_hi: dep.timestamp.saturating_add(p.max_delay_secs),
            amount_lo: lo,
            amount_hi: hi,
        }
    }

    /// The part of a time-sorted list inside the window.
    fn slice<'a>(&self, list: &'a [usize], releases: &[BridgeEvent]) -> &'a [usize] {
        let start = list.partition_point(|&i| releases[i].timestamp < self.t_lo);
        let end = list.partition_point(|&i| releases[i].timestamp <= self.t_hi);
        &list[start..end.max(start)]
    }

    fn score(
        &self,
        dep: &BridgeEvent,
        rel: &BridgeEvent,
        r: usize,
        tie: RecipientTie,
        p: &MatchProfile,
    ) -> Option<MatchCandidate> {
        if rel.chain == dep.chain
            || rel.bridge != dep.bridge
            || rel.timestamp < dep.timestamp
            || rel.amount < self.amount_lo
            || rel.amount > self.amount_hi
            || dep.counterpart_chain.is_some_and(|c| c != rel.chain)
            || rel.counterpart_chain.is_some_and(|c| c != dep.chain)
            // Both carry ids and they differ: not a pair.
            || (dep.message_id.is_some() && rel.message_id.is_some())
        {
            return None;
        }
        let dep_f = approx_f64(dep.amount).max(1.0);
        let rel_f = approx_f64(rel.amount);
        let (diff_frac, limit_bps, word) = if rel.amount <= dep.amount {
            ((dep_f - rel_f) / dep_f, p.max_fee_bps, "fee")
        } else {
            ((rel_f - dep_f) / dep_f, p.max_gain_bps, "bonus")
        };
        let amount_factor = if limit_bps == 0 {
            1.0
        } else {
            1.0 - 0.3 * (diff_frac / (f64::from(limit_bps) / 10_000.0)).min(1.0)
        };
        let delay = rel.timestamp - dep.timestamp;
        let span = p.max_delay_secs.saturating_sub(p.min_delay_secs).max(1) as f64;
        let time_factor = 1.0 - 0.3 * ((delay.saturating_sub(p.min_delay_secs)) as f64 / span).min(1.0);
        let confidence = 0.95 * tie.factor() * amount_factor * time_factor;
        let reason = format!(
            "{}, {word} {:.2}%, released {} after deposit",
            tie.words(),
            diff_frac * 100.0,
            duration_words(delay)
        );
        Some(MatchCandidate {
            release: r,
            confidence,
            reason,
            by_message_id: false,
        })
    }
}

fn duration_words(secs: u64) -> String {
    match secs {
        s if s < 3_600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3_600, (s % 3_600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3_600),
    }
}

//! Mixer deposits of an investigation: which deposits into Tornado-style pools were made from the traced
//! funds, and the CANDIDATE withdrawals the public linking heuristics propose for each (see
//! `docs/mixers.md`). A candidate is an investigative lead with a confidence in (0, 1), never a fact: it is
//! not counted in losses, destinations or attribution.
//!
//! Pure: the caller decodes the pool events (`chaintrace_defi::mixer::decode_mixer_events`).

use std::collections::{BTreeMap, HashSet};

use chaintrace_core::{Address, Chain, TxHash};
use chaintrace_defi::mixer::{LinkConfig, MixerDeposit, MixerRegistry, MixerWithdrawal, link_mixer};

use super::{Value, Valuer};

/// Highest confidence a combined candidate may carry: a mixer link is never a certainty.
pub const MAX_CANDIDATE_CONFIDENCE: f64 = 0.99;

/// The note every candidate carries.
pub const CANDIDATE_NOTE: &str = "candidate, not a certainty";

/// Decoded pool events and the pools they belong to.
#[derive(Debug, Clone, Copy)]
pub struct MixerInputs<'a> {
    /// Known pools (a registered pool stops the trace as a mixer exit even without a label).
    pub registry: &'a MixerRegistry,
    /// Every decoded deposit of the registered pools.
    pub deposits: &'a [MixerDeposit],
    /// Every decoded withdrawal of the registered pools.
    pub withdrawals: &'a [MixerWithdrawal],
}

/// One deposit into a mixer pool made from the traced funds.
#[derive(Debug, Clone, PartialEq)]
pub struct MixerDepositFinding {
    /// Chain.
    pub chain: Chain,
    /// Pool contract.
    pub pool: Address,
    /// Pool name from the registry.
    pub pool_name: String,
    /// The pool's fixed denomination, valued at the deposit's day.
    pub denomination: Value,
    /// Unix time of the deposit.
    pub timestamp: u64,
    /// Deposit transaction.
    pub tx_hash: TxHash,
    /// The deposit transaction's signer.
    pub depositor: Address,
    /// Withdrawals that may belong to the depositor, most confident first.
    pub candidates: Vec<MixerCandidate>,
}

/// A withdrawal that MAY pay out the deposit's owner: a lead, not a fact.
#[derive(Debug, Clone, PartialEq)]
pub struct MixerCandidate {
    /// Withdrawal transaction.
    pub tx_hash: TxHash,
    /// Withdrawal recipient.
    pub recipient: Address,
    /// Unix time of the withdrawal.
    pub timestamp: u64,
    /// Heuristics that propose the link (`same_address`, `unique_gas_price`, `lone_deposit_timing`,
    /// `multi_denomination`).
    pub heuristics: Vec<String>,
    /// Noisy-or of the heuristics' confidences, strictly between 0 and 1 (at most
    /// [`MAX_CANDIDATE_CONFIDENCE`]).
    pub confidence: f64,
    /// The heuristics' reasons, in words.
    pub reasons: Vec<String>,
}

/// The deposits into `exit_pools` whose signer is in `traced` (an address that held traced funds) at or
/// after `since`, each with its candidate withdrawals from [`link_mixer`] over every event of `mixers`.
pub fn mixer_deposits(
    mixers: &MixerInputs<'_>,
    exit_pools: &HashSet<(Chain, Address)>,
    traced: &HashSet<(Chain, Address)>,
    since: u64,
    valuer: &Valuer<'_>,
) -> Vec<MixerDepositFinding> {
    let chosen: Vec<usize> = mixers
        .deposits
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            d.timestamp >= since
                && exit_pools.contains(&(d.chain, d.pool))
                && traced.contains(&(d.chain, d.depositor))
        })
        .map(|(i, _)| i)
        .collect();
    if chosen.is_empty() {
        return Vec::new();
    }
    let links = link_mixer(mixers.deposits, mixers.withdrawals, &LinkConfig::default());
    let mut out = Vec::new();
    for di in chosen {
        let d = &mixers.deposits[di];
        // (withdrawal index) -> (heuristic name, confidence, reason) per proposing link.
        let mut per_wd: BTreeMap<usize, Vec<(&'static str, f64, String)>> = BTreeMap::new();
        for l in links.iter().filter(|l| l.deposits.contains(&di)) {
            let same_pool: Vec<usize> = l
                .withdrawals
                .iter()
                .copied()
                .filter(|&w| mixers.withdrawals.get(w).is_some_and(|w| w.pool == d.pool))
                .collect();
            let wds = if same_pool.is_empty() {
                l.withdrawals.clone()
            } else {
                same_pool
            };
            for w in wds {
                per_wd
                    .entry(w)
                    .or_default()
                    .push((l.heuristic.name(), l.confidence, l.reason.clone()));
            }
        }
        let mut candidates: Vec<MixerCandidate> = per_wd
            .into_iter()
            .filter_map(|(wi, hs)| {
                let w = mixers.withdrawals.get(wi)?;
                let miss: f64 = hs.iter().map(|(_, c, _)| 1.0 - c.clamp(0.0, 1.0)).product();
                let confidence = (1.0 - miss).min(MAX_CANDIDATE_CONFIDENCE);
                if confidence <= 0.0 {
                    return None;
                }
                let mut heuristics: Vec<String> = hs.iter().map(|(h, _, _)| (*h).to_string()).collect();
                heuristics.sort();
                heuristics.dedup();
                Some(MixerCandidate {
                    tx_hash: w.tx_hash,
                    recipient: w.recipient,
                    timestamp: w.timestamp,
                    heuristics,
                    confidence,
                    reasons: hs.into_iter().map(|(_, _, r)| r).collect(),
                })
            })
            .collect();
        candidates.sort_by(|a, b| {
            b.confidence
                .total_cmp(&a.confidence)
                .then(a.timestamp.cmp(&b.timestamp))
                .then(a.tx_hash.cmp(&b.tx_hash))
        });
        let pool_name = mixers
            .registry
            .pool(d.chain, d.pool)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        out.push(MixerDepositFinding {
            chain: d.chain,
            pool: d.pool,
            pool_name,
            denomination: valuer.value(d.chain, d.asset, d.denomination, d.timestamp),
            timestamp: d.timestamp,
            tx_hash: d.tx_hash,
            depositor: d.depositor,
            candidates,
        });
    }
    out.sort_by_key(|d| (d.timestamp, d.chain, d.tx_hash));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::investigate::{AssetBook, PriceTable};
    use chaintrace_core::{Asset, U256};
    use chaintrace_defi::mixer::MixerPool;

    fn addr(n: u8) -> Address {
        Address::parse(&format!("0x{}", format!("{n:02x}").repeat(20))).expect("test address")
    }

    fn tx(n: u8) -> TxHash {
        format!("0x{}", format!("{n:02x}").repeat(32))
            .parse()
            .expect("test tx hash")
    }

    #[test]
    fn traced_deposits_get_candidates_strictly_below_certainty() {
        let pool = addr(0xaa);
        let mut registry = MixerRegistry::empty();
        registry.insert(MixerPool {
            chain: Chain::Ethereum,
            address: pool,
            name: "tornado-1-eth".into(),
            asset: Asset::Native,
            denomination: U256::from(10u64).pow(U256::from(18u64)),
        });
        let dep = |n: u8, who: Address, t: u64| MixerDeposit {
            chain: Chain::Ethereum,
            pool,
            block: t,
            timestamp: t,
            tx_hash: tx(n),
            log_index: 0,
            depositor: who,
            commitment: [n; 32],
            leaf_index: u32::from(n),
            asset: Asset::Native,
            denomination: U256::from(10u64).pow(U256::from(18u64)),
            gas_price: None,
        };
        let deposits = vec![
            dep(1, addr(1), 1_000),
            dep(2, addr(2), 1_100),
            dep(3, addr(1), 50),
        ];
        let withdrawals = vec![MixerWithdrawal {
            chain: Chain::Ethereum,
            pool,
            block: 5_000,
            timestamp: 5_000,
            tx_hash: tx(9),
            log_index: 0,
            recipient: addr(1),
            nullifier_hash: [9; 32],
            relayer: addr(7),
            fee: U256::from(1u64),
            tx_from: addr(7),
            asset: Asset::Native,
            denomination: U256::from(10u64).pow(U256::from(18u64)),
            gas_price: None,
        }];
        let inputs = MixerInputs {
            registry: &registry,
            deposits: &deposits,
            withdrawals: &withdrawals,
        };
        let assets = AssetBook::with_known_tokens();
        let prices = PriceTable::new();
        let valuer = Valuer {
            assets: &assets,
            prices: &prices,
        };
        let exits: HashSet<(Chain, Address)> = [(Chain::Ethereum, pool)].into();
        let traced: HashSet<(Chain, Address)> = [(Chain::Ethereum, addr(1))].into();
        let found = mixer_deposits(&inputs, &exits, &traced, 500, &valuer);
        // Only the traced address's deposit at or after the start; not addr(2)'s, not the earlier one.
        assert_eq!(found.len(), 1, "{found:?}");
        let d = &found[0];
        assert_eq!(
            (d.tx_hash, d.timestamp, d.pool_name.as_str()),
            (tx(1), 1_000, "tornado-1-eth")
        );
        assert_eq!(d.denomination.human().as_deref(), Some("1"));
        assert_eq!(d.candidates.len(), 1, "{:?}", d.candidates);
        let c = &d.candidates[0];
        assert_eq!((c.tx_hash, c.recipient), (tx(9), addr(1)));
        assert!(
            c.heuristics.iter().any(|h| h == "same_address"),
            "{:?}",
            c.heuristics
        );
        assert!(c.confidence > 0.0 && c.confidence < 1.0, "{}", c.confidence);

        // A pool that is not an exit of the trace yields nothing.
        assert!(mixer_deposits(&inputs, &HashSet::new(), &traced, 500, &valuer).is_empty());
    }
}

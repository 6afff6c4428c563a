//! Mixers (Tornado Cash style fixed-denomination pools): deposits are exits of a trace (pool,
//! denomination, time), withdrawals are fresh entries, and [`link_mixer`] proposes CANDIDATE links
//! between them from the public heuristics described in docs/mixers.md. A link is never a certainty.

use std::collections::HashMap;

use chaintrace_core::{Address, Asset, Chain, RawLog, Transfer, TxHash, U256};

use crate::abi::{data_address, data_u256, topic_address, topic_b256, word};
use crate::registry_csv::registry_rows;
use crate::{DefiError, KnownEvent};

/// One fixed-denomination pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixerPool {
    /// Chain of the pool.
    pub chain: Chain,
    /// Pool contract.
    pub address: Address,
    /// Human name (`tornado-0.1-eth`).
    pub name: String,
    /// Asset the pool takes.
    pub asset: Asset,
    /// Fixed amount of every deposit, raw units.
    pub denomination: U256,
}

/// Known pools by (chain, address). Pool events are only decoded from registered pools.
#[derive(Debug, Clone, Default)]
pub struct MixerRegistry {
    pools: HashMap<(Chain, Address), MixerPool>,
}

/// Tornado Cash native-coin pools from public explorer labels (see docs/mixers.md): (chain, address,
/// denomination in whole coins as a decimal string).
const BUILTIN: &[(Chain, &str, &str, &str)] = &[
    (
        Chain::Ethereum,
        "0x12d66f87a04a9e220743712ce6d9bb1b5616b8fc",
        "tornado-0.1-eth",
        "100000000000000000",
    ),
    (
        Chain::Ethereum,
        "0x47ce0c6ed5b0ce3d3a51fdb1c52dc66a7c3c2936",
        "tornado-1-eth",
        "1000000000000000000",
    ),
    (
        Chain::Ethereum,
        "0x910cbd523d972eb0a6f4cae4618ad62622b39dbf",
        "tornado-10-eth",
        "10000000000000000000",
    ),
    (
        Chain::Ethereum,
        "0xa160cdab225685da1d56aa342ad8841c3b53f291",
        "tornado-100-eth",
        "100000000000000000000",
    ),
    (
        Chain::Arbitrum,
        "0x84443cfd09a48af6ef360c6976c5392ac5023a1f",
        "tornado-0.1-eth",
        "100000000000000000",
    ),
    (
        Chain::Arbitrum,
        "0xd47438c816c9e7f2e2888e060936a499af9582b3",
        "tornado-1-eth",
        "1000000000000000000",
    ),
    (
        Chain::Arbitrum,
        "0x330bdfade01ee9bf63c209ee33102dd334618e0a",
        "tornado-10-eth",
        "10000000000000000000",
    ),
    (
        Chain::Arbitrum,
        "0x1e34a77868e19a6647b1f2f47b51ed72dede95dd",
        "tornado-100-eth",
        "100000000000000000000",
    ),
    (
        Chain::Polygon,
        "0x1e34a77868e19a6647b1f2f47b51ed72dede95dd",
        "tornado-100-matic",
        "100000000000000000000",
    ),
    (
        Chain::Polygon,
        "0xdf231d99ff8b6c6cbf4e9b9a945cbacef9339178",
        "tornado-1000-matic",
        "1000000000000000000000",
    ),
    (
        Chain::Polygon,
        "0xaf4c0b70b2ea9fb7487c7cbb37ada259579fe040",
        "tornado-10000-matic",
        "10000000000000000000000",
    ),
    (
        Chain::Polygon,
        "0xa5c2254e4253490c54cef0a4347fddb8f75a4998",
        "tornado-100000-matic",
        "100000000000000000000000",
    ),
];

impl MixerRegistry {
    /// No pools.
    pub fn empty() -> MixerRegistry {
        MixerRegistry::default()
    }

    /// Tornado Cash native pools on Ethereum, Arbitrum and Polygon.
    pub fn builtin() -> MixerRegistry {
        let mut r = MixerRegistry::empty();
        for (chain, hex, name, denomination) in BUILTIN {
            r.insert(MixerPool {
                chain: *chain,
                address: Address::parse(hex).expect("built-in pool addresses are valid hex"),
                name: (*name).to_string(),
                asset: Asset::Native,
                denomination: U256::from_str_radix(denomination, 10)
                    .expect("built-in denominations are decimal"),
            });
        }
        r
    }

    /// Adds or replaces a pool.
    pub fn insert(&mut self, pool: MixerPool) {
        self.pools.insert((pool.chain, pool.address), pool);
    }

    /// A registered pool.
    pub fn pool(&self, chain: Chain, address: Address) -> Option<&MixerPool> {
        self.pools.get(&(chain, address))
    }

    /// Number of pools.
    pub fn len(&self) -> usize {
        self.pools.len()
    }

    /// Whether there are no pools.
    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
    }

    /// Parses CSV text `chain,address,name,asset,denomination` (asset = `native` or a token address,
    /// denomination in raw units). Header (`chain,...`), blank and `#` lines are skipped.
    pub fn parse_csv(text: &str, source_name: &str) -> Result<Vec<MixerPool>, DefiError> {
        let mut out = Vec::new();
        for row in registry_rows(text) {
            let bad = |reason: String| row.bad(source_name, reason);
            let fields = &row.fields;
            let [chain, address, name, asset, denomination] = fields[..] else {
                return Err(bad(format!(
                    "expected 5 fields chain,address,name,asset,denomination, got {}",
                    fields.len()
                )));
            };
            let chain = chain.parse::<Chain>().map_err(|e| bad(e.to_string()))?;
            let address = Address::parse(address).map_err(|e| bad(e.to_string()))?;
            let asset = Asset::parse(asset).map_err(|e| bad(e.to_string()))?;
            let denomination = U256::from_str_radix(denomination, 10)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    bad(format!(
                        "bad denomination '{denomination}': expected a positive integer"
                    ))
                })?;
            out.push(MixerPool {
                chain,
                address,
                name: name.to_string(),
                asset,
                denomination,
            });
        }
        Ok(out)
    }

    /// Parses CSV text (see [`MixerRegistry::parse_csv`]) and adds its pools; returns how many.
    pub fn extend_from_csv(&mut self, text: &str, source_name: &str) -> Result<usize, DefiError> {
        let pools = MixerRegistry::parse_csv(text, source_name)?;
        let n = pools.len();
        for p in pools {
            self.insert(p);
        }
        Ok(n)
    }
}

/// A deposit into a pool: an exit for tracing (the value's trail ends in the pool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixerDeposit {
    /// Chain.
    pub chain: Chain,
    /// Pool contract.
    pub pool: Address,
    /// Block number.
    pub block: u64,
    /// Block timestamp, unix seconds.
    pub timestamp: u64,
    /// Transaction.
    pub tx_hash: TxHash,
    /// Log index of the `Deposit` log.
    pub log_index: u32,
    /// Who deposited: the transaction's signer (deposits go through the pool or its router).
    pub depositor: Address,
    /// The note commitment.
    pub commitment: [u8; 32],
    /// Leaf index in the pool's Merkle tree.
    pub leaf_index: u32,
    /// Asset of the pool.
    pub asset: Asset,
    /// Pool denomination.
    pub denomination: U256,
    /// Gas price of the deposit transaction, when one of its transfers is known.
    pub gas_price: Option<U256>,
}

/// A withdrawal from a pool: value re-enters the traceable world at `recipient`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixerWithdrawal {
    /// Chain.
    pub chain: Chain,
    /// Pool contract.
    pub pool: Address,
    /// Block number.
    pub block: u64,
    /// Block timestamp, unix seconds.
    pub timestamp: u64,
    /// Transaction.
    pub tx_hash: TxHash,
    /// Log index of the `Withdrawal` log.
    pub log_index: u32,
    /// Who receives the denomination minus the fee.
    pub recipient: Address,
    /// The spent note's nullifier hash.
    pub nullifier_hash: [u8; 32],
    /// Relayer paid `fee` (zero address when the user withdrew directly).
    pub relayer: Address,
    /// Relayer fee, raw units.
    pub fee: U256,
    /// Signer of the withdrawal transaction (the relayer, or the user).
    pub tx_from: Address,
    /// Asset of the pool.
    pub asset: Asset,
    /// Pool denomination.
    pub denomination: U256,
    /// Gas price of the withdrawal transaction, when one of its transfers is known.
    pub gas_price: Option<U256>,
}

impl MixerWithdrawal {
    /// Whether the user sent the withdrawal transaction itself: no relayer, or a "relayer" that is the
    /// signer and charged no fee (a relayer service always signs and charges).
    pub fn is_self_relayed(&self) -> bool {
        self.relayer == Address::ZERO || (self.relayer == self.tx_from && self.fee.is_zero())
    }
}

/// Decodes pool `Deposit` / `Withdrawal` logs of registered pools. Gas prices come from any transfer of
/// the same transaction (transfers carry their transaction's gas price).
pub fn decode_mixer_events(
    logs: &[RawLog],
    transfers: &[Transfer],
    registry: &MixerRegistry,
) -> (Vec<MixerDeposit>, Vec<MixerWithdrawal>) {
    let mut gas: HashMap<(Chain, TxHash), Option<U256>> = HashMap::new();
    let mut deposits = Vec::new();
    let mut withdrawals = Vec::new();
    for log in logs {
        let Some(event) = KnownEvent::of_log(log) else {
            continue;
        };
        let Some(pool) = registry.pool(log.chain, log.address) else {
            continue;
        };
        match event {
            KnownEvent::TornadoDeposit => {
                let (Some(commitment), Some(leaf)) = (topic_b256(log, 1), word(&log.data, 0)) else {
                    continue;
                };
                let Ok(leaf_index) = u32::try_from(U256::from_be_bytes(*leaf)) else {
                    continue;
                };
                gas.insert((log.chain, log.tx_hash), None);
                deposits.push(MixerDeposit {
                    chain: log.chain,
                    pool: log.address,
                    block: log.block,
                    timestamp: log.timestamp,
                    tx_hash: log.tx_hash,
                    log_index: log.log_index,
                    depositor: log.tx_from,
                    commitment,
                    leaf_index,
                    asset: pool.asset,
                    denomination: pool.denomination,
                    gas_price: None,
                });
            }
            KnownEvent::TornadoWithdrawal => {
                let (Some(recipient), Some(nullifier), Some(relayer), Some(fee)) = (
                    data_address(log, 0),
                    word(&log.data, 1),
                    topic_address(log, 1),
                    data_u256(log, 2),
                ) else {
                    continue;
                };
                gas.insert((log.chain, log.tx_hash), None);
                withdrawals.push(MixerWithdrawal {
                    chain: log.chain,
                    pool: log.address,
                    block: log.block,
                    timestamp: log.timestamp,
                    tx_hash: log.tx_hash,
                    log_index: log.log_index,
                    recipient,
                    nullifier_hash: *nullifier,
                    relayer,
                    fee,
                    tx_from: log.tx_from,
                    asset: pool.asset,
                    denomination: pool.denomination,
                    gas_price: None,
                });
            }
            _ => {}
        }
    }
    for t in transfers {
        if let Some(slot) = gas.get_mut(&(t.chain, t.tx_hash))
            && slot.is_none()
        {
            *slot = Some(t.gas_price);
        }
    }
    for d in &mut deposits {
        d.gas_price = gas.get(&(d.chain, d.tx_hash)).copied().flatten();
    }
    for w in &mut withdrawals {
        w.gas_price = gas.get(&(w.chain, w.tx_hash)).copied().flatten();
    }
    (deposits, withdrawals)
}

/// A linking heuristic (docs/mixers.md has each one's rationale, confidence and failure modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MixerHeuristic {
    /// The withdrawal pays (or is sent by) an address that deposited earlier into the same pool.
    SameAddress,
    /// Deposit and self-relayed withdrawal share a gas price no other deposit or withdrawal used.
    UniqueGasPrice,
    /// A withdrawal soon after the only recent deposit of a quiet pool.
    LoneDepositTiming,
    /// One address deposits a set of denominations; another withdraws exactly that set soon after.
    MultiDenomination,
}

impl MixerHeuristic {
    /// The lowercase name used in JSON and reports.
    pub fn name(self) -> &'static str {
        match self {
            MixerHeuristic::SameAddress => "same_address",
            MixerHeuristic::UniqueGasPrice => "unique_gas_price",
            MixerHeuristic::LoneDepositTiming => "lone_deposit_timing",
            MixerHeuristic::MultiDenomination => "multi_denomination",
        }
    }
}

/// A candidate link between deposits and withdrawals, with a confidence in (0, 1).
#[derive(Debug, Clone, PartialEq)]
pub struct MixerLink {
    /// Which heuristic proposed it.
    pub heuristic: MixerHeuristic,
    /// Indexes into the deposits slice.
    pub deposits: Vec<usize>,
    /// Indexes into the withdrawals slice.
    pub withdrawals: Vec<usize>,
    /// The depositing address.
    pub depositor: Address,
    /// The withdrawal recipient.
    pub recipient: Address,
    /// Confidence that the same actor is on both sides, in (0, 1); never 1.
    pub confidence: f64,
    /// Why, in words.
    pub reason: String,
}

/// Settings of [`link_mixer`].
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// Lone-deposit timing: how far back from a withdrawal to look, and the window that must hold
    /// exactly one deposit of the pool.
    pub lone_window_secs: u64,
    /// Multi-denomination: deposits (withdrawals) of one address further apart than this start a new set.
    pub session_gap_secs: u64,
    /// Multi-denomination: the withdrawal set must start within this long after the deposit set ends.
    pub multi_max_delay_secs: u64,
    /// Gas prices that are a multiple of this are wallet defaults and never "unique" evidence.
    pub round_gas_price: U256,
}

impl Default for LinkConfig {
    fn default() -> LinkConfig {
        LinkConfig {
            lone_window_secs: 3 * 3_600,
            session_gap_secs: 24 * 3_600,
            multi_max_delay_secs: 3 * 86_400,
            round_gas_price: U256::from(1_000_000_000u64),
        }
    }
}

/// Proposes candidate links between pool deposits and withdrawals with every heuristic. Links are
/// sorted by heuristic, then by first withdrawal. No link pairs a withdrawal with a later deposit.
pub fn link_mixer(
    deposits: &[MixerDeposit],
    withdrawals: &[MixerWithdrawal],
    config: &LinkConfig,
) -> Vec<MixerLink> {
    let mut links = Vec::new();
    same_address(deposits, withdrawals, &mut links);
    unique_gas_price(deposits, withdrawals, config, &mut links);
    lone_deposit_timing(deposits, withdrawals, config, &mut links);
    multi_denomination(deposits, withdrawals, config, &mut links);
    links.sort_by(|a, b| {
        a.heuristic
            .cmp(&b.heuristic)
            .then(a.withdrawals.cmp(&b.withdrawals))
    });
    links
}

fn same_address(deposits: &[MixerDeposit], withdrawals: &[MixerWithdrawal], links: &mut Vec<MixerLink>) {
    let mut by_depositor: HashMap<(Chain, Address, Address), Vec<usize>> = HashMap::new();
    for (i, d) in deposits.iter().enumerate() {
        by_depositor
            .entry((d.chain, d.pool, d.depositor))
            .or_default()
            .push(i);
    }
    for (wi, w) in withdrawals.iter().enumerate() {
        let mut who = vec![w.recipient];
        if w.is_self_relayed() && w.tx_from != w.recipient {
            who.push(w.tx_from);
        }
        for addr in who {
            let Some(list) = by_depositor.get(&(w.chain, w.pool, addr)) else {
                continue;
            };
            let earlier: Vec<usize> = list
                .iter()
                .copied()
                .filter(|&d| deposits[d].timestamp < w.timestamp)
                .collect();
            if earlier.is_empty() {
                continue;
            }
            let role = if addr == w.recipient { "receives" } else { "sends" };
            links.push(MixerLink {
                heuristic: MixerHeuristic::SameAddress,
                reason: format!(
                    "{addr} deposited {} time(s) into this pool and {role} the withdrawal",
                    earlier.len()
                ),
                deposits: earlier,
                withdrawals: vec![wi],
                depositor: addr,
                recipient: w.recipient,
                confidence: 0.9,
            });
            break;
        }
    }
}

fn unique_gas_price(
    deposits: &[MixerDeposit],
    withdrawals: &[MixerWithdrawal],
    config: &LinkConfig,
    links: &mut Vec<MixerLink>,
) {
    let unusual = |gp: &U256| {
        !gp.is_zero() && (config.round_gas_price.is_zero() || !(*gp % config.round_gas_price).is_zero())
    };
    let mut dep_by_gas: HashMap<(Chain, U256), Vec<usize>> = HashMap::new();
    for (i, d) in deposits.iter().enumerate() {
        if let Some(gp) = d.gas_price.filter(unusual) {
            dep_by_gas.entry((d.chain, gp)).or_default().push(i);
        }
    }
    let mut wd_by_gas: HashMap<(Chain, U256), Vec<usize>> = HashMap::new();
    for (i, w) in withdrawals.iter().enumerate() {
        if let Some(gp) = w.gas_price.filter(unusual) {
            wd_by_gas.entry((w.chain, gp)).or_default().push(i);
        }
    }
    for (key, ws) in &wd_by_gas {
        let Some(ds) = dep_by_gas.get(key) else { continue };
        let ([d], [wi]) = (ds.as_slice(), ws.as_slice()) else {
            continue;
        };
        let (dep, w) = (&deposits[*d], &withdrawals[*wi]);
        // Same block: every EIP-1559 transaction with the same tip pays the same effective price.
        if !w.is_self_relayed()
            || dep.timestamp >= w.timestamp
            || dep.block == w.block
            || dep.depositor == w.recipient
        {
            continue;
        }
        let same_pool = dep.pool == w.pool;
        links.push(MixerLink {
            heuristic: MixerHeuristic::UniqueGasPrice,
            deposits: vec![*d],
            withdrawals: vec![*wi],
            depositor: dep.depositor,
            recipient: w.recipient,
            confidence: if same_pool { 0.6 } else { 0.45 },
            reason: format!(
                "gas price {} wei used by exactly one deposit and one self-relayed withdrawal{}",
                key.1,
                if same_pool { " of the same pool" } else { "" }
            ),
        });
    }
}

fn lone_deposit_timing(
    deposits: &[MixerDeposit],
    withdrawals: &[MixerWithdrawal],
    config: &LinkConfig,
    links: &mut Vec<MixerLink>,
) {
    let window = config.lone_window_secs.max(1);
    let mut dep_by_pool: HashMap<(Chain, Address), Vec<usize>> = HashMap::new();
    for (i, d) in deposits.iter().enumerate() {
        dep_by_pool.entry((d.chain, d.pool)).or_default().push(i);
    }
    let mut wd_by_pool: HashMap<(Chain, Address), Vec<usize>> = HashMap::new();
    for (i, w) in withdrawals.iter().enumerate() {
        wd_by_pool.entry((w.chain, w.pool)).or_default().push(i);
    }
    for list in dep_by_pool.values_mut() {
        list.sort_by_key(|&i| deposits[i].timestamp);
    }
    for list in wd_by_pool.values_mut() {
        list.sort_by_key(|&i| withdrawals[i].timestamp);
    }
    for (key, ws) in &wd_by_pool {
        let Some(ds) = dep_by_pool.get(key) else { continue };
        for &wi in ws {
            let w = &withdrawals[wi];
            let lo = w.timestamp.saturating_sub(window);
            let start = ds.partition_point(|&d| deposits[d].timestamp < lo);
            let end = ds.partition_point(|&d| deposits[d].timestamp < w.timestamp);
            let [d] = ds[start..end.max(start)] else { continue };
            let dep = &deposits[d];
            // Other withdrawals of the pool between the deposit and this one could have spent that note.
            // `ws` is sorted by time: count by binary search, not by scanning the pool.
            let after_dep = ws.partition_point(|&o| withdrawals[o].timestamp <= dep.timestamp);
            let up_to_w = ws.partition_point(|&o| withdrawals[o].timestamp <= w.timestamp);
            let between = up_to_w.saturating_sub(after_dep).saturating_sub(1);
            let delay = w.timestamp - dep.timestamp;
            let confidence = 0.2 * (1.0 - 0.5 * delay as f64 / window as f64) / (1 + between) as f64;
            links.push(MixerLink {
                heuristic: MixerHeuristic::LoneDepositTiming,
                deposits: vec![d],
                withdrawals: vec![wi],
                depositor: dep.depositor,
                recipient: w.recipient,
                confidence,
                reason: format!(
                    "only deposit of the pool in the {window}s before the withdrawal ({delay}s earlier); {between} other withdrawal(s) in between"
                ),
            });
        }
    }
}

/// A run of one address's deposits (or withdrawals) and its multiset of pools.
struct Session {
    chain: Chain,
    address: Address,
    members: Vec<usize>,
    start: u64,
    end: u64,
    pools: Vec<Address>,
}

/// (time, pool, index) of one deposit or withdrawal of an address.
type Member = (u64, Address, usize);

fn sessions(items: Vec<(Chain, Address, u64, Address, usize)>, gap: u64) -> Vec<Session> {
    let mut by_addr: HashMap<(Chain, Address), Vec<Member>> = HashMap::new();
    for (chain, addr, ts, pool, i) in items {
        by_addr.entry((chain, addr)).or_default().push((ts, pool, i));
    }
    let mut out = Vec::new();
    for ((chain, address), mut list) in by_addr {
        list.sort_by_key(|x| (x.0, x.2));
        let mut cur: Option<Session> = None;
        for (ts, pool, i) in list {
            if let Some(s) = cur.as_mut()
                && ts.saturating_sub(s.end) <= gap
            {
                s.members.push(i);
                s.pools.push(pool);
                s.end = ts;
                continue;
            }
            out.extend(cur.take());
            cur = Some(Session {
                chain,
                address,
                members: vec![i],
                start: ts,
                end: ts,
                pools: vec![pool],
            });
        }
        out.extend(cur);
    }
    for s in &mut out {
        s.pools.sort();
    }
    out.retain(|s| s.members.len() >= 2 && s.pools.windows(2).any(|w| w[0] != w[1]));
    out.sort_by_key(|s| (s.start, s.members[0]));
    out
}

fn multi_denomination(
    deposits: &[MixerDeposit],
    withdrawals: &[MixerWithdrawal],
    config: &LinkConfig,
    links: &mut Vec<MixerLink>,
) {
    let dep_sessions = sessions(
        deposits
            .iter()
            .enumerate()
            .map(|(i, d)| (d.chain, d.depositor, d.timestamp, d.pool, i))
            .collect(),
        config.session_gap_secs,
    );
    let wd_sessions = sessions(
        withdrawals
            .iter()
            .enumerate()
            .map(|(i, w)| (w.chain, w.recipient, w.timestamp, w.pool, i))
            .collect(),
        config.session_gap_secs,
    );
    let mut by_signature: HashMap<(Chain, &[Address]), Vec<&Session>> = HashMap::new();
    for s in &wd_sessions {
        by_signature
            .entry((s.chain, s.pools.as_slice()))
            .or_default()
            .push(s);
    }
    for ds in &dep_sessions {
        let Some(candidates) = by_signature.get(&(ds.chain, ds.pools.as_slice())) else {
            continue;
        };
        let fitting: Vec<&&Session> = candidates
            .iter()
            .filter(|ws| {
                ws.address != ds.address
                    && ws.start > ds.start
                    && ws.end >= ds.end
                    && ws.start.saturating_sub(ds.end) <= config.multi_max_delay_secs
            })
            .collect();
        let n = fitting.len();
        for ws in fitting {
            links.push(MixerLink {
                heuristic: MixerHeuristic::MultiDenomination,
                deposits: ds.members.clone(),
                withdrawals: ws.members.clone(),
                depositor: ds.address,
                recipient: ws.address,
                confidence: 0.7 / n as f64,
                reason: format!(
                    "same set of {} deposits across pools withdrawn as a set; {n} withdrawing address(es) fit",
                    ds.members.len()
                ),
            });
        }
    }
}

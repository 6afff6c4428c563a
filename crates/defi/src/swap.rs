//! Swaps and wraps as conversions: value that leaves an owner as asset A and comes back as asset B in
//! the same transaction. Tracing continues from A to B through a [`Conversion`].
//!
//! Sources, per transaction: Uniswap V2 and V3 `Swap` logs (any fork emitting the same events), WETH9
//! style `Deposit`/`Withdrawal` logs, and the transfers themselves (the router pattern). The rules for
//! the owner and for collapsing multi-hop routes are in docs/swaps.md.

use std::collections::{HashMap, HashSet};

use chaintrace_core::{Address, Asset, Chain, Position, RawLog, Transfer, TransferKind, TxHash, U256};

use crate::KnownEvent;
use crate::abi::{as_i256, data_u256, topic_address, word};
use crate::txkey::TxMap;

/// How a conversion was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConversionKind {
    /// One or more Uniswap V2 style pair swaps (no V3 pool involved).
    SwapV2,
    /// At least one Uniswap V3 style pool swap.
    SwapV3,
    /// No known swap log: the owner sent one asset and got another back (transfers only).
    Router,
    /// Native coin wrapped into its wrapper token (WETH, WBNB, WMATIC...).
    Wrap,
    /// Wrapper token unwrapped into the native coin.
    Unwrap,
}

impl ConversionKind {
    /// The lowercase name used in JSON and reports.
    pub fn name(self) -> &'static str {
        match self {
            ConversionKind::SwapV2 => "swap_v2",
            ConversionKind::SwapV3 => "swap_v3",
            ConversionKind::Router => "router",
            ConversionKind::Wrap => "wrap",
            ConversionKind::Unwrap => "unwrap",
        }
    }
}

/// Asset A became asset B for one owner within one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// Chain of the transaction.
    pub chain: Chain,
    /// The transaction.
    pub tx_hash: TxHash,
    /// Block number.
    pub block: u64,
    /// Block timestamp, unix seconds.
    pub timestamp: u64,
    /// Whose asset was converted (see docs/swaps.md for the rule).
    pub owner: Address,
    /// Who received `asset_out`: the owner, or another address when the owner swapped-and-sent.
    pub recipient: Address,
    /// Asset that left the owner.
    pub asset_in: Asset,
    /// Net amount of `asset_in` that left the owner, raw units.
    pub amount_in: U256,
    /// Asset that reached the recipient.
    pub asset_out: Asset,
    /// Net amount of `asset_out` the recipient gained, raw units.
    pub amount_out: U256,
    /// How it was recognised.
    pub kind: ConversionKind,
    /// Pools (or wrapper contracts, or router counterparties) the value went through, in log order.
    pub pools: Vec<Address>,
    /// Log indexes (in the block) of the swap/wrap logs and token transfers this conversion rests on.
    pub evidence: Vec<u32>,
}

/// Which pool event a [`PoolSwap`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolVersion {
    /// Uniswap V2 pair `Swap`.
    V2,
    /// Uniswap V3 pool `Swap`.
    V3,
}

/// One pool swap log, with its tokens resolved where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSwap {
    /// The pool (the log's emitter).
    pub pool: Address,
    /// Which event.
    pub version: PoolVersion,
    /// Log index of the `Swap` log.
    pub log_index: u32,
    /// The `sender` argument (usually a router).
    pub sender: Address,
    /// The `to` / `recipient` argument.
    pub recipient: Address,
    /// Token the pool received; `None` when neither the registry nor the transfers name it.
    pub token_in: Option<Asset>,
    /// Amount the pool received.
    pub amount_in: U256,
    /// Token the pool paid out; `None` when unresolved.
    pub token_out: Option<Asset>,
    /// Amount the pool paid out.
    pub amount_out: U256,
}

/// Known pools (token0, token1) and native-coin wrapper contracts.
#[derive(Debug, Clone, Default)]
pub struct DexRegistry {
    pools: HashMap<(Chain, Address), [Address; 2]>,
    wrappers: HashSet<(Chain, Address)>,
}

/// Wrapper contracts of the native coin, from public explorer labels (see docs/swaps.md).
const BUILTIN_WRAPPERS: [(Chain, &str); 5] = [
    (Chain::Ethereum, "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"),
    (Chain::Optimism, "0x4200000000000000000000000000000000000006"),
    (Chain::Arbitrum, "0x82af49447d8a07e3bd95bd0d56f35241523fbab1"),
    (Chain::Bsc, "0xbb4cdb9cbd36b01bd1cbaebf2de08d9173bc095c"),
    (Chain::Polygon, "0x0d500b1d8e8ef31e21c99d1db9a6444d3adf1270"),
];

impl DexRegistry {
    /// No pools, no wrappers.
    pub fn empty() -> DexRegistry {
        DexRegistry::default()
    }

    /// The canonical native wrappers (WETH on Ethereum, OP Mainnet and Arbitrum, WBNB, WMATIC); no pools.
    pub fn builtin() -> DexRegistry {
        let mut r = DexRegistry::empty();
        for (chain, hex) in BUILTIN_WRAPPERS {
            let address = Address::parse(hex).expect("built-in wrapper addresses are valid hex");
            r.add_wrapper(chain, address);
        }
        r
    }

    /// Declares a pool's tokens (token0, token1 in the pool's own order).
    pub fn add_pool(&mut self, chain: Chain, pool: Address, token0: Address, token1: Address) {
        self.pools.insert((chain, pool), [token0, token1]);
    }

    /// Declares a native wrapper contract (WETH9-style `Deposit`/`Withdrawal`).
    pub fn add_wrapper(&mut self, chain: Chain, wrapper: Address) {
        self.wrappers.insert((chain, wrapper));
    }

    /// Whether this contract is a known native wrapper.
    pub fn is_wrapper(&self, chain: Chain, address: Address) -> bool {
        self.wrappers.contains(&(chain, address))
    }

    /// A known pool's (token0, token1).
    pub fn pool_tokens(&self, chain: Chain, pool: Address) -> Option<[Address; 2]> {
        self.pools.get(&(chain, pool)).copied()
    }
}

/// A decoded wrap (`Deposit`) or unwrap (`Withdrawal`) log.
#[derive(Debug, Clone, Copy)]
struct WrapLog {
    log_index: u32,
    wrapper: Address,
    holder: Address,
    amount: U256,
    is_wrap: bool,
}

/// Finds every conversion in a batch of logs and transfers (any mix of chains and transactions).
/// Logs and transfers are grouped by (chain, tx hash); each transaction gives at most one conversion,
/// except transactions whose only evidence is several unrelated wrap/unwrap logs.
pub fn detect_conversions(
    logs: &[RawLog],
    transfers: &[Transfer],
    registry: &DexRegistry,
) -> Vec<Conversion> {
    let mut index: TxMap<(Chain, TxHash), usize> = TxMap::default();
    let mut groups: Vec<(Vec<&RawLog>, Vec<&Transfer>)> = Vec::new();
    for log in logs {
        if KnownEvent::of_log(log).is_none() {
            continue;
        }
        let i = *index.entry((log.chain, log.tx_hash)).or_insert_with(|| {
            groups.push((Vec::new(), Vec::new()));
            groups.len() - 1
        });
        groups[i].0.push(log);
    }
    for t in transfers {
        let i = *index.entry((t.chain, t.tx_hash)).or_insert_with(|| {
            groups.push((Vec::new(), Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(t);
    }
    let mut out = Vec::new();
    for (logs, transfers) in &groups {
        out.extend(detect_tx_conversions(logs, transfers, registry));
    }
    out
}

/// Conversions of ONE transaction, from its logs (any; unknown ones are ignored) and its transfers.
pub fn detect_tx_conversions(
    logs: &[&RawLog],
    transfers: &[&Transfer],
    registry: &DexRegistry,
) -> Vec<Conversion> {
    let Some(tx) = TxContext::of(logs, transfers) else {
        return Vec::new();
    };
    let hops = decode_pool_swaps(logs, transfers, registry);
    let wraps = decode_wraps(logs, transfers, registry);
    if hops.is_empty() && wraps.is_empty() {
        if transfers.len() < 2 {
            return Vec::new(); // the router pattern needs one leg out and one back
        }
        return router_conversion(&tx, transfers).into_iter().collect();
    }

    let mut flows = Flows::default();
    for t in transfers {
        flows.add(t.from, t.to, t.asset, t.amount);
    }
    for w in &wraps {
        // WETH9 emits no Transfer on deposit/withdraw; some wrappers do. Add the mint/burn only once.
        let token = Asset::Token(w.wrapper);
        let (from, to) = if w.is_wrap {
            (Address::ZERO, w.holder)
        } else {
            (w.holder, Address::ZERO)
        };
        let seen = transfers
            .iter()
            .any(|t| t.asset == token && t.from == from && t.to == to && t.amount == w.amount);
        if !seen {
            flows.add(from, to, token, w.amount);
        }
    }
    let mut excluded: HashSet<Address> = hops.iter().map(|h| h.pool).collect();
    excluded.extend(wraps.iter().map(|w| w.wrapper));
    excluded.insert(Address::ZERO);
    let collapsed = collapse_hops(&hops);

    let Some((owner, recipient)) = choose_owner(&tx, &flows, &excluded) else {
        return fallback(&tx, &hops, &wraps, collapsed);
    };
    let (neg, _) = flows.sides(owner);
    let (_, pos) = flows.sides(recipient);
    let prefer_in = collapsed.map(|c| c.0);
    let prefer_out = collapsed.map(|c| c.2);
    let pick = |side: &[(Asset, U256)], prefer: Option<Asset>| {
        prefer
            .and_then(|p| side.iter().find(|(a, _)| *a == p).copied())
            .or_else(|| side.first().copied())
    };
    let (Some((asset_in, amount_in)), Some((asset_out, amount_out))) =
        (pick(&neg, prefer_in), pick(&pos, prefer_out))
    else {
        return fallback(&tx, &hops, &wraps, collapsed);
    };
    if asset_in == asset_out {
        return fallback(&tx, &hops, &wraps, collapsed);
    }
    let kind = if hops.iter().any(|h| h.version == PoolVersion::V3) {
        ConversionKind::SwapV3
    } else if !hops.is_empty() {
        ConversionKind::SwapV2
    } else {
        wrap_kind(asset_in, asset_out, &wraps)
    };
    let mut pools: Vec<Address> = Vec::new();
    let mut evidence: Vec<u32> = Vec::new();
    for h in &hops {
        push_unique(&mut pools, h.pool);
        evidence.push(h.log_index);
    }
    for w in &wraps {
        push_unique(&mut pools, w.wrapper);
        evidence.push(w.log_index);
    }
    for t in transfers {
        let relevant =
            (t.from == owner && t.asset == asset_in) || (t.to == recipient && t.asset == asset_out);
        if let (true, Position::Log(i)) = (relevant, &t.position) {
            evidence.push(*i);
        }
    }
    evidence.sort_unstable();
    evidence.dedup();
    vec![tx.conversion(
        (owner, recipient),
        (asset_in, amount_in),
        (asset_out, amount_out),
        kind,
        pools,
        evidence,
    )]
}

fn wrap_kind(asset_in: Asset, asset_out: Asset, wraps: &[WrapLog]) -> ConversionKind {
    let is_wrapper = |a: Asset| matches!(a, Asset::Token(t) if wraps.iter().any(|w| w.wrapper == t));
    match (asset_in, asset_out) {
        (Asset::Native, out) if is_wrapper(out) => ConversionKind::Wrap,
        (inp, Asset::Native) if is_wrapper(inp) => ConversionKind::Unwrap,
        _ => ConversionKind::Router,
    }
}

/// Owner rule (docs/swaps.md): the signer if it lost one asset and gained another; else the only other
/// address (not a pool, wrapper or the zero address) with exactly -A +B; else the signer as sender with
/// the only address that just gained an asset as recipient (swap-and-send).
fn choose_owner(tx: &TxContext, flows: &Flows, excluded: &HashSet<Address>) -> Option<(Address, Address)> {
    let (neg, pos) = flows.sides(tx.signer);
    if !neg.is_empty() && !pos.is_empty() && has_distinct(&neg, &pos) {
        return Some((tx.signer, tx.signer));
    }
    let others: Vec<Address> = flows
        .addresses()
        .filter(|a| *a != tx.signer && !excluded.contains(a))
        .collect();
    let swappers: Vec<Address> = others
        .iter()
        .copied()
        .filter(|a| {
            let (n, p) = flows.sides(*a);
            n.len() == 1 && p.len() == 1 && n[0].0 != p[0].0
        })
        .collect();
    if swappers.len() == 1 {
        return Some((swappers[0], swappers[0]));
    }
    if !neg.is_empty() && pos.is_empty() {
        let gainers: Vec<Address> = others
            .iter()
            .copied()
            .filter(|a| {
                let (n, p) = flows.sides(*a);
                n.is_empty() && p.len() == 1 && neg.iter().all(|(asset, _)| *asset != p[0].0)
            })
            .collect();
        if gainers.len() == 1 {
            return Some((tx.signer, gainers[0]));
        }
    }
    None
}

fn has_distinct(neg: &[(Asset, U256)], pos: &[(Asset, U256)]) -> bool {
    neg.iter().any(|(a, _)| pos.iter().any(|(b, _)| a != b))
}

/// When no owner stands out: resolved hops collapse into one signer-owned conversion; lone wraps
/// become one conversion each for their holder.
fn fallback(
    tx: &TxContext,
    hops: &[PoolSwap],
    wraps: &[WrapLog],
    collapsed: Option<(Asset, U256, Asset, U256)>,
) -> Vec<Conversion> {
    if let (Some((ai, ni, ao, no)), Some(last)) = (collapsed, hops.last()) {
        let kind = if hops.iter().any(|h| h.version == PoolVersion::V3) {
            ConversionKind::SwapV3
        } else {
            ConversionKind::SwapV2
        };
        let mut pools = Vec::new();
        for h in hops {
            push_unique(&mut pools, h.pool);
        }
        let evidence = hops.iter().map(|h| h.log_index).collect();
        return vec![tx.conversion(
            (tx.signer, last.recipient),
            (ai, ni),
            (ao, no),
            kind,
            pools,
            evidence,
        )];
    }
    if !hops.is_empty() {
        return Vec::new();
    }
    wraps
        .iter()
        .map(|w| {
            let token = Asset::Token(w.wrapper);
            let (asset_in, asset_out, kind) = if w.is_wrap {
                (Asset::Native, token, ConversionKind::Wrap)
            } else {
                (token, Asset::Native, ConversionKind::Unwrap)
            };
            tx.conversion(
                (w.holder, w.holder),
                (asset_in, w.amount),
                (asset_out, w.amount),
                kind,
                vec![w.wrapper],
                vec![w.log_index],
            )
        })
        .collect()
}

/// The router pattern from transfers alone: the signer's net flow is exactly -A +B.
fn router_conversion(tx: &TxContext, transfers: &[&Transfer]) -> Option<Conversion> {
    let mut flows = Flows::default();
    for t in transfers {
        flows.add(t.from, t.to, t.asset, t.amount);
    }
    let (neg, pos) = flows.sides(tx.signer);
    if neg.len() != 1 || pos.len() != 1 || neg[0].0 == pos[0].0 {
        return None;
    }
    let ((asset_in, amount_in), (asset_out, amount_out)) = (neg[0], pos[0]);
    let mut pools = Vec::new();
    let mut evidence = Vec::new();
    for t in transfers {
        let leg_in = t.from == tx.signer && t.asset == asset_in;
        let leg_out = t.to == tx.signer && t.asset == asset_out;
        if leg_in {
            push_unique(&mut pools, t.to);
        }
        if leg_out {
            push_unique(&mut pools, t.from);
        }
        if let (true, Position::Log(i)) = (leg_in || leg_out, &t.position) {
            evidence.push(*i);
        }
    }
    evidence.sort_unstable();
    Some(tx.conversion(
        (tx.signer, tx.signer),
        (asset_in, amount_in),
        (asset_out, amount_out),
        ConversionKind::Router,
        pools,
        evidence,
    ))
}

/// Collapses resolved hops into first asset in -> last asset out (by log order). Amounts are net over
/// all hops, so split routes add up and intermediate tokens cancel. `None` when a hop's tokens are
/// unresolved, when the route is a cycle (arbitrage: first in = last out), or when nets are not positive.
pub fn collapse_hops(hops: &[PoolSwap]) -> Option<(Asset, U256, Asset, U256)> {
    let mut sorted: Vec<&PoolSwap> = hops.iter().collect();
    sorted.sort_by_key(|h| h.log_index);
    let first = sorted.first()?.token_in?;
    let last = sorted.last()?.token_out?;
    if first == last
        || sorted
            .iter()
            .any(|h| h.token_in.is_none() || h.token_out.is_none())
    {
        return None;
    }
    let (mut in_consumed, mut in_produced, mut out_consumed, mut out_produced) =
        (U256::ZERO, U256::ZERO, U256::ZERO, U256::ZERO);
    for h in &sorted {
        if h.token_in == Some(first) {
            in_consumed = in_consumed.saturating_add(h.amount_in);
        }
        if h.token_out == Some(first) {
            in_produced = in_produced.saturating_add(h.amount_out);
        }
        if h.token_out == Some(last) {
            out_produced = out_produced.saturating_add(h.amount_out);
        }
        if h.token_in == Some(last) {
            out_consumed = out_consumed.saturating_add(h.amount_in);
        }
    }
    let amount_in = in_consumed.checked_sub(in_produced).filter(|a| !a.is_zero())?;
    let amount_out = out_produced.checked_sub(out_consumed).filter(|a| !a.is_zero())?;
    Some((first, amount_in, last, amount_out))
}

/// Decodes the Uniswap V2/V3 `Swap` logs of one transaction, resolving each hop's tokens from the
/// registry, else from the transaction's token transfers into / out of the pool with the exact amounts.
pub fn decode_pool_swaps(logs: &[&RawLog], transfers: &[&Transfer], registry: &DexRegistry) -> Vec<PoolSwap> {
    let mut out = Vec::new();
    for log in logs {
        let version = match KnownEvent::of_log(log) {
            Some(KnownEvent::UniswapV2Swap) => PoolVersion::V2,
            Some(KnownEvent::UniswapV3Swap) => PoolVersion::V3,
            _ => continue,
        };
        let (Some(sender), Some(recipient)) = (topic_address(log, 1), topic_address(log, 2)) else {
            continue;
        };
        let sides = match version {
            PoolVersion::V2 => v2_sides(log),
            PoolVersion::V3 => v3_sides(log),
        };
        let Some((in_idx, amount_in, out_idx, amount_out)) = sides else {
            continue;
        };
        let (token_in, token_out) = match registry.pool_tokens(log.chain, log.address) {
            Some(tokens) => (
                Some(Asset::Token(tokens[in_idx])),
                Some(Asset::Token(tokens[out_idx])),
            ),
            None => (
                token_by_transfer(transfers, log, amount_in, true),
                token_by_transfer(transfers, log, amount_out, false),
            ),
        };
        out.push(PoolSwap {
            pool: log.address,
            version,
            log_index: log.log_index,
            sender,
            recipient,
            token_in,
            amount_in,
            token_out,
            amount_out,
        });
    }
    out.sort_by_key(|h| h.log_index);
    out
}

/// `(in index, amount in, out index, amount out)` of a V2 `Swap`.
fn v2_sides(log: &RawLog) -> Option<(usize, U256, usize, U256)> {
    let (a0in, a1in, a0out, a1out) = (
        data_u256(log, 0)?,
        data_u256(log, 1)?,
        data_u256(log, 2)?,
        data_u256(log, 3)?,
    );
    let sides = if !a0out.is_zero() && a1out.is_zero() {
        (1, a1in, 0, a0out)
    } else if !a1out.is_zero() && a0out.is_zero() {
        (0, a0in, 1, a1out)
    } else {
        return None;
    };
    (!sides.1.is_zero()).then_some(sides)
}

/// `(in index, amount in, out index, amount out)` of a V3 `Swap`: positive amounts entered the pool.
fn v3_sides(log: &RawLog) -> Option<(usize, U256, usize, U256)> {
    let (neg0, m0) = as_i256(word(&log.data, 0)?);
    let (neg1, m1) = as_i256(word(&log.data, 1)?);
    let sides = match (neg0, neg1) {
        (false, true) => (0, m0, 1, m1),
        (true, false) => (1, m1, 0, m0),
        _ => return None,
    };
    (!sides.1.is_zero() && !sides.3.is_zero()).then_some(sides)
}

/// The token of the transfer into (or out of) the swap's pool with exactly this amount; among several,
/// the closest one before the swap log (pairs and pools transfer before they emit `Swap`).
fn token_by_transfer(transfers: &[&Transfer], log: &RawLog, amount: U256, into_pool: bool) -> Option<Asset> {
    let mut best: Option<(u32, Asset)> = None;
    for t in transfers {
        if t.kind != TransferKind::Token || t.amount != amount {
            continue;
        }
        let touches = if into_pool {
            t.to == log.address
        } else {
            t.from == log.address
        };
        if !touches {
            continue;
        }
        let Position::Log(i) = t.position else { continue };
        // Distance: transfers before the swap log first, nearest first; after it only as a last resort.
        let distance = if i < log.log_index {
            log.log_index - i
        } else {
            u32::MAX / 2 + (i - log.log_index)
        };
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, t.asset));
        }
    }
    best.map(|(_, a)| a)
}

fn decode_wraps(logs: &[&RawLog], transfers: &[&Transfer], registry: &DexRegistry) -> Vec<WrapLog> {
    let mut out = Vec::new();
    for log in logs {
        let is_wrap = match KnownEvent::of_log(log) {
            Some(KnownEvent::WethDeposit) => true,
            Some(KnownEvent::WethWithdrawal) => false,
            _ => continue,
        };
        let (Some(holder), Some(amount)) = (topic_address(log, 1), data_u256(log, 0)) else {
            continue;
        };
        if log.topics.len() != 2 || log.data.len() != 32 || amount.is_zero() {
            continue;
        }
        // Unknown emitters count only with the native leg in the same transaction as evidence.
        let native_leg = transfers.iter().any(|t| {
            t.asset == Asset::Native
                && t.amount == amount
                && if is_wrap {
                    t.to == log.address
                } else {
                    t.from == log.address
                }
        });
        if registry.is_wrapper(log.chain, log.address) || native_leg {
            out.push(WrapLog {
                log_index: log.log_index,
                wrapper: log.address,
                holder,
                amount,
                is_wrap,
            });
        }
    }
    out
}

fn push_unique(v: &mut Vec<Address>, a: Address) {
    if !v.contains(&a) {
        v.push(a);
    }
}

/// What every conversion of one transaction shares.
struct TxContext {
    chain: Chain,
    tx_hash: TxHash,
    block: u64,
    timestamp: u64,
    signer: Address,
}

impl TxContext {
    fn of(logs: &[&RawLog], transfers: &[&Transfer]) -> Option<TxContext> {
        if let Some(t) = transfers.first() {
            return Some(TxContext {
                chain: t.chain,
                tx_hash: t.tx_hash,
                block: t.block,
                timestamp: t.timestamp,
                signer: t.tx_from,
            });
        }
        logs.first().map(|l| TxContext {
            chain: l.chain,
            tx_hash: l.tx_hash,
            block: l.block,
            timestamp: l.timestamp,
            signer: l.tx_from,
        })
    }

    fn conversion(
        &self,
        (owner, recipient): (Address, Address),
        (asset_in, amount_in): (Asset, U256),
        (asset_out, amount_out): (Asset, U256),
        kind: ConversionKind,
        pools: Vec<Address>,
        evidence: Vec<u32>,
    ) -> Conversion {
        Conversion {
            chain: self.chain,
            tx_hash: self.tx_hash,
            block: self.block,
            timestamp: self.timestamp,
            owner,
            recipient,
            asset_in,
            amount_in,
            asset_out,
            amount_out,
            kind,
            pools,
            evidence,
        }
    }
}

/// Assets with net amounts, in first-seen order.
type Side = Vec<(Asset, U256)>;

/// Net flows of one transaction per (address, asset), in first-seen order. Transactions touch a handful
/// of (address, asset) pairs, so a linear scan beats hashing.
#[derive(Default)]
struct Flows {
    /// (address, asset, inflow, outflow).
    rows: Vec<(Address, Asset, U256, U256)>,
}

impl Flows {
    fn add(&mut self, from: Address, to: Address, asset: Asset, amount: U256) {
        if from == to || amount.is_zero() {
            return;
        }
        let out = self.entry(from, asset);
        out.3 = out.3.saturating_add(amount);
        let inc = self.entry(to, asset);
        inc.2 = inc.2.saturating_add(amount);
    }

    fn entry(&mut self, address: Address, asset: Asset) -> &mut (Address, Asset, U256, U256) {
        let i = match self.rows.iter().position(|r| r.0 == address && r.1 == asset) {
            Some(i) => i,
            None => {
                self.rows.push((address, asset, U256::ZERO, U256::ZERO));
                self.rows.len() - 1
            }
        };
        &mut self.rows[i]
    }

    fn addresses(&self) -> impl Iterator<Item = Address> + '_ {
        self.rows
            .iter()
            .enumerate()
            .filter(|(i, r)| !self.rows[..*i].iter().any(|p| p.0 == r.0))
            .map(|(_, r)| r.0)
    }

    /// (assets lost with their net amounts, assets gained with theirs), in first-seen order.
    fn sides(&self, address: Address) -> (Side, Side) {
        let (mut neg, mut pos) = (Vec::new(), Vec::new());
        for &(_, asset, inflow, outflow) in self.rows.iter().filter(|r| r.0 == address) {
            if outflow > inflow {
                neg.push((asset, outflow - inflow));
            } else if inflow > outflow {
                pos.push((asset, inflow - outflow));
            }
        }
        (neg, pos)
    }
}

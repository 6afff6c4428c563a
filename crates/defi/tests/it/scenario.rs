//! Deterministic generators of bridge, swap and mixer activity with ground truth and noise. Shared by
//! the integration tests and the `bench_defi` example (included there with `#[path]`).

#![allow(dead_code)] // each includer uses a subset

use std::collections::HashMap;

use chaintrace_core::{Address, Asset, Chain, Position, RawLog, Transfer, TransferKind, TxHash, U256};
use chaintrace_defi::KnownEvent;
use chaintrace_defi::bridge::{BridgeEvent, BridgeEvidence, BridgeSide, MessageId};

/// SplitMix64: tiny, deterministic, good enough for test data.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub(crate) fn address(&mut self) -> Address {
        let mut a = [0u8; 20];
        for chunk in a.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Address(a)
    }
    pub(crate) fn hash(&mut self) -> TxHash {
        let mut h = [0u8; 32];
        for chunk in h.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        TxHash(h)
    }
}

// ---------------------------------------------------------------- bridges

pub(crate) struct BridgeScenario {
    pub(crate) deposits: Vec<BridgeEvent>,
    pub(crate) releases: Vec<BridgeEvent>,
    /// For each deposit, the index of the release that truly pays it out.
    pub(crate) truth: Vec<Option<usize>>,
}

fn event(side: BridgeSide, bridge: &str, chain: Chain, ts: u64, rng: &mut Rng) -> BridgeEvent {
    BridgeEvent {
        side,
        bridge: bridge.to_string(),
        chain,
        block: ts / 12,
        timestamp: ts,
        tx_hash: rng.hash(),
        position: Position::Log(rng.below(300) as u32),
        contract: Address([0xb1; 20]),
        from: None,
        recipient: None,
        tx_from: Address::ZERO,
        asset: Asset::Native,
        amount: U256::ZERO,
        counterpart_chain: None,
        message_id: None,
        evidence: BridgeEvidence::Transfer,
    }
}

/// `n` user bridge transfers over ~`n * 3` seconds, plus noise: concurrent look-alike deposits (same
/// amount, same second, other users), decoy payouts of similar amounts to strangers, repeat users
/// (same user, similar amount, minutes apart), and stuck deposits (never released).
pub(crate) fn bridge_scenario(seed: u64, n: usize, noise: bool) -> BridgeScenario {
    let mut rng = Rng::new(seed);
    let mut s = BridgeScenario {
        deposits: Vec::new(),
        releases: Vec::new(),
        truth: Vec::new(),
    };
    let chains = [
        Chain::Ethereum,
        Chain::Arbitrum,
        Chain::Optimism,
        Chain::Polygon,
        Chain::Bsc,
    ];
    let mut t = 1_700_000_000u64;
    let mut i = 0usize;
    while i < n {
        t += rng.range(0, 6);
        let src = chains[rng.below(5) as usize];
        let dst = loop {
            let c = chains[rng.below(5) as usize];
            if c != src {
                break c;
            }
        };
        let user = rng.address();
        let amount = U256::from(rng.range(1_000, 5_000_000)) * U256::from(10u64).pow(U256::from(15u8));
        let style = rng.below(10);
        let repeats = if noise && rng.chance(0.03) { 2 } else { 1 };
        for rep in 0..repeats {
            let ts = t + rep * rng.range(60, 600);
            let amount = if rep == 0 {
                amount
            } else {
                amount + U256::from(rng.range(1, 1_000)) * U256::from(10u64).pow(U256::from(12u8))
            };
            let (bridge, fee_bps, delay, with_id, named, recipient) = match style {
                0..=2 => (
                    "generic",
                    rng.below(30),
                    rng.range(20, 900),
                    true,
                    true,
                    rng.address(),
                ),
                3..=5 => ("canonical", 0, rng.range(60, 1_800), false, true, rng.address()),
                _ => {
                    let to_self = rng.chance(0.85);
                    (
                        "hopx",
                        rng.range(5, 50),
                        rng.range(30, 1_800),
                        false,
                        false,
                        if to_self { user } else { rng.address() },
                    )
                }
            };
            let mut d = event(BridgeSide::Deposit, bridge, src, ts, &mut rng);
            d.from = Some(user);
            d.tx_from = user;
            d.amount = amount;
            d.recipient = named.then_some(recipient);
            d.counterpart_chain = (bridge != "hopx").then_some(dst);
            d.evidence = if bridge == "hopx" {
                BridgeEvidence::Transfer
            } else {
                BridgeEvidence::Log(KnownEvent::BridgeDeposit)
            };
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&rng.next().to_le_bytes());
            if with_id {
                d.message_id = Some(MessageId {
                    namespace: bridge.to_string(),
                    id,
                });
            }
            let stuck = noise && rng.chance(0.05);
            s.deposits.push(d);
            if stuck {
                s.truth.push(None);
                continue;
            }
            let mut r = event(BridgeSide::Release, bridge, dst, ts + delay, &mut rng);
            r.recipient = Some(recipient);
            r.amount = amount - amount * U256::from(fee_bps) / U256::from(10_000u32);
            r.counterpart_chain = (bridge != "hopx").then_some(src);
            if with_id {
                r.message_id = Some(MessageId {
                    namespace: bridge.to_string(),
                    id,
                });
            }
            s.truth.push(Some(s.releases.len()));
            s.releases.push(r);
        }
        i += repeats as usize;
        if noise && rng.chance(0.1) {
            // Concurrent look-alike deposit: same amount, same second, another user, to a stranger.
            let mut d = s.deposits[s.deposits.len() - 1].clone();
            let other = rng.address();
            d.from = Some(other);
            d.tx_from = other;
            d.tx_hash = rng.hash();
            if d.recipient.is_some() {
                d.recipient = Some(rng.address());
            }
            if d.message_id.is_some() {
                let mut id = [0u8; 32];
                id[..8].copy_from_slice(&rng.next().to_le_bytes());
                d.message_id = Some(MessageId {
                    namespace: d.bridge.clone(),
                    id,
                });
            }
            s.deposits.push(d);
            s.truth.push(None);
            i += 1;
        }
        if noise && rng.chance(0.2) {
            // Decoy payout: similar amount, same window, to a stranger.
            let last = s.deposits[s.deposits.len() - 1].clone();
            let mut r = event(
                BridgeSide::Release,
                &last.bridge,
                dst,
                last.timestamp + rng.range(10, 1_200),
                &mut rng,
            );
            r.recipient = Some(rng.address());
            r.amount = last.amount - last.amount * U256::from(rng.below(60)) / U256::from(10_000u32);
            s.releases.push(r);
        }
    }
    s
}

// ---------------------------------------------------------------- swaps

/// What a conversion should look like: (owner, recipient, asset in, amount in, asset out, amount out).
pub(crate) type ExpectedConversion = (Address, Address, Asset, U256, Asset, U256);

pub(crate) struct SwapScenario {
    pub(crate) logs: Vec<RawLog>,
    pub(crate) transfers: Vec<Transfer>,
    pub(crate) truth: HashMap<TxHash, ExpectedConversion>,
    pub(crate) txs: usize,
}

fn word_addr(a: Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(&a.0);
    w
}

fn word_u(v: U256) -> [u8; 32] {
    v.to_be_bytes::<32>()
}

fn word_neg(v: U256) -> [u8; 32] {
    (!v).wrapping_add(U256::from(1u8)).to_be_bytes::<32>()
}

struct TxBuilder<'a> {
    s: &'a mut SwapScenario,
    chain: Chain,
    hash: TxHash,
    block: u64,
    ts: u64,
    signer: Address,
    next_log: u32,
    next_trace: u32,
}

impl TxBuilder<'_> {
    fn token(&mut self, token: Address, from: Address, to: Address, amount: U256) {
        let i = self.next_log;
        self.next_log += 1;
        self.push(
            Position::Log(i),
            from,
            to,
            Asset::Token(token),
            amount,
            TransferKind::Token,
        );
    }
    fn native(&mut self, from: Address, to: Address, amount: U256, top: bool) {
        let (pos, kind) = if top {
            (Position::Tx, TransferKind::Native)
        } else {
            self.next_trace += 1;
            (Position::Trace(vec![self.next_trace]), TransferKind::Internal)
        };
        self.push(pos, from, to, Asset::Native, amount, kind);
    }
    fn push(
        &mut self,
        position: Position,
        from: Address,
        to: Address,
        asset: Asset,
        amount: U256,
        kind: TransferKind,
    ) {
        self.s.transfers.push(Transfer {
            chain: self.chain,
            block: self.block,
            timestamp: self.ts,
            tx_hash: self.hash,
            position,
            from,
            to,
            asset,
            amount,
            kind,
            tx_from: self.signer,
            tx_fee: U256::from(21_000u64 * 30_000_000_000u64),
            gas_price: U256::from(30_000_000_000u64),
        });
    }
    fn log(&mut self, address: Address, topics: Vec<[u8; 32]>, data: Vec<u8>) {
        let i = self.next_log;
        self.next_log += 1;
        self.s.logs.push(RawLog {
            chain: self.chain,
            block: self.block,
            timestamp: self.ts,
            tx_hash: self.hash,
            log_index: i,
            address,
            topics,
            data,
            tx_from: self.signer,
        });
    }
    /// One pool hop: `token_in` (already sent to the pool by the caller) -> `token_out` to `to`.
    fn hop(
        &mut self,
        v3: bool,
        pool: Address,
        router: Address,
        to: Address,
        (t_in, a_in): (Address, U256),
        (t_out, a_out): (Address, U256),
    ) {
        self.token(t_out, pool, to, a_out);
        // token0 is the lower address, as Uniswap sorts them.
        let in_is_0 = t_in < t_out;
        if v3 {
            let (w0, w1) = if in_is_0 {
                (word_u(a_in), word_neg(a_out))
            } else {
                (word_neg(a_out), word_u(a_in))
            };
            let mut data = Vec::new();
            for w in [
                w0,
                w1,
                word_u(U256::from(1u8) << 96),
                word_u(U256::from(10u64).pow(U256::from(18u8))),
                word_u(U256::from(100u8)),
            ] {
                data.extend(w);
            }
            self.log(
                pool,
                vec![
                    KnownEvent::UniswapV3Swap.topic(),
                    word_addr(router),
                    word_addr(to),
                ],
                data,
            );
        } else {
            let z = U256::ZERO;
            let words = if in_is_0 {
                [a_in, z, z, a_out]
            } else {
                [z, a_in, a_out, z]
            };
            let data = words.iter().flat_map(|w| word_u(*w)).collect();
            self.log(
                pool,
                vec![
                    KnownEvent::UniswapV2Swap.topic(),
                    word_addr(router),
                    word_addr(to),
                ],
                data,
            );
        }
    }
}

/// `n` transactions: ~60 % swaps through 1-3 V2/V3 pools (some paid in or out in native through the
/// wrapper, some sent to another recipient), ~10 % transfers-only router swaps, ~10 % wraps/unwraps,
/// and ~20 % noise (plain payments, bot arbitrage cycles, split payments, and a few payments with an
/// unrelated receipt in the same transaction, which the router rule cannot tell from a swap).
pub(crate) fn swap_scenario(seed: u64, n: usize) -> SwapScenario {
    let mut rng = Rng::new(seed);
    let weth = Address::parse("0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2").expect("hex");
    let tokens: Vec<Address> = (0..12).map(|_| rng.address()).chain([weth]).collect();
    let router = rng.address();
    let mut s = SwapScenario {
        logs: Vec::new(),
        transfers: Vec::new(),
        truth: HashMap::new(),
        txs: n,
    };
    let e15 = U256::from(10u64).pow(U256::from(15u8));
    for k in 0..n {
        let signer = rng.address();
        let mut b = TxBuilder {
            hash: rng.hash(),
            chain: Chain::Ethereum,
            block: 17_000_000 + k as u64 / 150,
            ts: 1_681_000_000 + k as u64 / 150 * 12,
            signer,
            next_log: rng.below(50) as u32,
            next_trace: 0,
            s: &mut s,
        };
        let amount = |rng: &mut Rng| U256::from(rng.range(1, 1_000_000)) * e15;
        let kind = rng.below(100);
        match kind {
            0..=59 => {
                let hops = rng.range(1, 3) as usize;
                let mut path = vec![tokens[rng.below(13) as usize]];
                while path.len() <= hops {
                    let t = tokens[rng.below(13) as usize];
                    if !path.contains(&t) {
                        path.push(t);
                    }
                }
                let native_in = path[0] == weth && rng.chance(0.5);
                let native_out = !native_in && *path.last().expect("path") == weth && rng.chance(0.5);
                let recipient = if rng.chance(0.1) { rng.address() } else { signer };
                let pools: Vec<Address> = (0..hops).map(|_| rng.address()).collect();
                let a0 = amount(&mut rng);
                let mut amounts = vec![a0];
                for _ in 0..hops {
                    let prev = *amounts.last().expect("amounts");
                    amounts
                        .push(prev * U256::from(rng.range(1, 3000)) / U256::from(1000u32) + U256::from(1u8));
                }
                if native_in {
                    b.native(signer, router, a0, true);
                    b.native(router, weth, a0, false);
                    b.log(
                        weth,
                        vec![KnownEvent::WethDeposit.topic(), word_addr(router)],
                        word_u(a0).to_vec(),
                    );
                    b.token(weth, router, pools[0], a0);
                } else {
                    b.token(path[0], signer, pools[0], a0);
                }
                for h in 0..hops {
                    let last = h + 1 == hops;
                    let to = if !last {
                        pools[h + 1]
                    } else if native_out {
                        router
                    } else {
                        recipient
                    };
                    let v3 = rng.chance(0.4);
                    b.hop(
                        v3,
                        pools[h],
                        router,
                        to,
                        (path[h], amounts[h]),
                        (path[h + 1], amounts[h + 1]),
                    );
                }
                let out = amounts[hops];
                if native_out {
                    b.log(
                        weth,
                        vec![KnownEvent::WethWithdrawal.topic(), word_addr(router)],
                        word_u(out).to_vec(),
                    );
                    b.native(weth, router, out, false);
                    b.native(router, recipient, out, false);
                }
                let asset_in = if native_in {
                    Asset::Native
                } else {
                    Asset::Token(path[0])
                };
                let asset_out = if native_out {
                    Asset::Native
                } else {
                    Asset::Token(path[hops])
                };
                let hash = b.hash;
                s.truth
                    .insert(hash, (signer, recipient, asset_in, a0, asset_out, out));
            }
            60..=69 => {
                // Transfers-only router swap (a DEX whose logs we do not decode).
                let (ta, tb) = (tokens[rng.below(6) as usize], tokens[6 + rng.below(6) as usize]);
                let (x, y) = (rng.address(), rng.address());
                let (a, c) = (amount(&mut rng), amount(&mut rng));
                b.token(ta, signer, x, a);
                b.token(tb, y, signer, c);
                let hash = b.hash;
                s.truth
                    .insert(hash, (signer, signer, Asset::Token(ta), a, Asset::Token(tb), c));
            }
            70..=79 => {
                let a = amount(&mut rng);
                if rng.chance(0.5) {
                    b.native(signer, weth, a, true);
                    b.log(
                        weth,
                        vec![KnownEvent::WethDeposit.topic(), word_addr(signer)],
                        word_u(a).to_vec(),
                    );
                    let hash = b.hash;
                    s.truth
                        .insert(hash, (signer, signer, Asset::Native, a, Asset::Token(weth), a));
                } else {
                    b.log(
                        weth,
                        vec![KnownEvent::WethWithdrawal.topic(), word_addr(signer)],
                        word_u(a).to_vec(),
                    );
                    b.native(weth, signer, a, false);
                    let hash = b.hash;
                    s.truth
                        .insert(hash, (signer, signer, Asset::Token(weth), a, Asset::Native, a));
                }
            }
            80..=89 => {
                // Plain payment, sometimes split in two.
                let t = tokens[rng.below(13) as usize];
                b.token(t, signer, rng.address(), amount(&mut rng));
                if rng.chance(0.5) {
                    let other = rng.address();
                    b.token(t, signer, other, amount(&mut rng));
                }
            }
            90..=97 => {
                // Bot arbitrage cycle A -> B -> A inside the bot's contract: not a conversion.
                let bot = rng.address();
                let (ta, tb) = (tokens[rng.below(6) as usize], tokens[6 + rng.below(6) as usize]);
                let (p1, p2) = (rng.address(), rng.address());
                let a = amount(&mut rng);
                let mid = a * U256::from(2u8);
                let back = a + U256::from(rng.range(1, 1000));
                b.token(ta, bot, p1, a);
                b.hop(false, p1, bot, p2, (ta, a), (tb, mid));
                b.hop(true, p2, bot, bot, (tb, mid), (ta, back));
            }
            _ => {
                // Payment plus an unrelated receipt in one transaction: looks exactly like a router swap.
                let (ta, tb) = (tokens[rng.below(6) as usize], tokens[6 + rng.below(6) as usize]);
                b.token(ta, signer, rng.address(), amount(&mut rng));
                b.token(tb, rng.address(), signer, amount(&mut rng));
            }
        }
    }
    s
}

// ---------------------------------------------------------------- mixers

pub(crate) struct MixerScenario {
    pub(crate) deposits: Vec<chaintrace_defi::mixer::MixerDeposit>,
    pub(crate) withdrawals: Vec<chaintrace_defi::mixer::MixerWithdrawal>,
    /// The user behind each deposit / withdrawal.
    pub(crate) deposit_user: Vec<u32>,
    pub(crate) withdrawal_user: Vec<u32>,
}

/// `users` users of four pools (0.1/1/10/100) over 30 days. Each deposits once (10 %: a set of 2-4
/// deposits over several pools) and withdraws later to a fresh address (5 %: the deposit address);
/// 80 % withdraw through a relayer. Gas prices are EIP-1559 style (block base fee to the wei + a round
/// tip), except 10 % of users who set a fixed custom price and reuse it when they withdraw themselves.
pub(crate) fn mixer_scenario(seed: u64, users: u32) -> MixerScenario {
    use chaintrace_defi::mixer::{MixerDeposit, MixerWithdrawal};
    let mut rng = Rng::new(seed);
    let pools: Vec<(Address, U256)> = (0..4u64)
        .map(|i| {
            (
                Address([0xa0 + i as u8; 20]),
                U256::from(10u64).pow(U256::from(17 + i)),
            )
        })
        .collect();
    let relayer = rng.address();
    let base_fee = |ts: u64| {
        let mut r = Rng::new(ts / 12);
        U256::from(10_000_000_000u64 + r.below(40_000_000_000))
    };
    let gwei = U256::from(1_000_000_000u64);
    let mut s = MixerScenario {
        deposits: Vec::new(),
        withdrawals: Vec::new(),
        deposit_user: Vec::new(),
        withdrawal_user: Vec::new(),
    };
    for u in 0..users {
        let start = 1_700_000_000 + rng.below(30 * 86_400);
        let depositor = rng.address();
        let recipient = if rng.chance(0.05) {
            depositor
        } else {
            rng.address()
        };
        let custom_gas = rng
            .chance(0.1)
            .then(|| gwei * U256::from(rng.range(5, 80)) + U256::from(rng.range(1, 999_999_999)));
        let self_relayed = rng.chance(0.2);
        let n = if rng.chance(0.1) {
            rng.range(2, 4) as usize
        } else {
            1
        };
        let mut picked: Vec<usize> = (0..n).map(|_| rng.below(4) as usize).collect();
        if n > 1 && picked.iter().all(|p| *p == picked[0]) {
            picked[1] = (picked[0] + 1) % 4;
        }
        let delay = if rng.chance(0.5) {
            rng.range(600, 6 * 3_600)
        } else {
            rng.range(6 * 3_600, 7 * 86_400)
        };
        for (k, &p) in picked.iter().enumerate() {
            let ts = start + k as u64 * rng.range(30, 900);
            let tip = gwei * U256::from(rng.range(1, 2));
            s.deposits.push(MixerDeposit {
                chain: Chain::Ethereum,
                pool: pools[p].0,
                block: ts / 12,
                timestamp: ts,
                tx_hash: rng.hash(),
                log_index: 0,
                depositor,
                commitment: [0; 32],
                leaf_index: s.deposits.len() as u32,
                asset: Asset::Native,
                denomination: pools[p].1,
                gas_price: Some(custom_gas.unwrap_or(base_fee(ts) + tip)),
            });
            s.deposit_user.push(u);
        }
        for (k, &p) in picked.iter().enumerate() {
            let ts = start + delay + k as u64 * rng.range(30, 900);
            let tip = gwei * U256::from(rng.range(1, 2));
            let gas = match (self_relayed, custom_gas) {
                (true, Some(g)) => g,
                _ => base_fee(ts) + tip,
            };
            let fee = if self_relayed {
                U256::ZERO
            } else {
                pools[p].1 / U256::from(200u32)
            };
            s.withdrawals.push(MixerWithdrawal {
                chain: Chain::Ethereum,
                pool: pools[p].0,
                block: ts / 12,
                timestamp: ts,
                tx_hash: rng.hash(),
                log_index: 0,
                recipient,
                nullifier_hash: [0; 32],
                relayer: if self_relayed { Address::ZERO } else { relayer },
                fee,
                tx_from: if self_relayed { recipient } else { relayer },
                asset: Asset::Native,
                denomination: pools[p].1,
                gas_price: Some(gas),
            });
            s.withdrawal_user.push(u);
        }
    }
    s
}

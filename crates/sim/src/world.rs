//! The generator: one event-driven simulation over all chains, emitted in time order and written in
//! batches. Background activity (users, exchanges, DEX, bridge, mixer) runs on a Poisson clock; delayed
//! effects (sweeps, bridge releases, mixer withdrawals, incident steps) wait in a time-ordered queue.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

use alloy_primitives::keccak256;
use chaintrace_core::{
    Address, Asset, BlockRecord, Chain, Position, RawLog, Transfer, TransferKind, TxHash, U256,
};
use chaintrace_store::{Batch, Checkpoint, TransferLoad, TransferWriter};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{block_time, first_block};
use crate::ledger::{AddrId, FastMap, Ledger};
use crate::truth::{
    BridgeTransfer, Destination, Entity, EntityKind, GroundTruth, MixerUse, Swap, TRUTH_SCHEMA_VERSION,
    TransferRef, WorldStats,
};
use crate::writers::MemoryWriter;
use crate::{SimError, WorldConfig};

mod finish;
mod incident;

/// Where the generator is, reported after every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Transfers written so far.
    pub transfers: u64,
    /// The configured target.
    pub target: u64,
    /// Simulated unix time reached.
    pub sim_time: u64,
}

/// Generates the world described by `config` into `writer` and returns its ground truth.
pub fn generate(config: &WorldConfig, writer: &mut dyn TransferWriter) -> Result<GroundTruth, SimError> {
    generate_with_progress(config, writer, &mut |_| {})
}

/// [`generate`], calling `progress` after every written batch.
///
/// A writer that streams loads ([`TransferWriter::streams_loads`], e.g. the SQLite store) gets the whole
/// world through one [`TransferWriter::begin_load`] (one transaction, bulk index rebuild on a first
/// load), committed at the end; any other writer gets one [`TransferWriter::write_batch`] per batch.
/// Either way the per-chain `"sim"` checkpoints are written last, once every row is durable.
pub fn generate_with_progress(
    config: &WorldConfig,
    writer: &mut dyn TransferWriter,
    progress: &mut dyn FnMut(&Progress),
) -> Result<GroundTruth, SimError> {
    config.validate()?;
    let first_chain = config.chains.first().copied().unwrap_or(Chain::Ethereum);
    let write_err = |block: u64, transfers: usize| {
        move |source| SimError::Write {
            chain: first_chain,
            block,
            transfers,
            source,
        }
    };
    let sink = if writer.streams_loads() {
        Sink::Load(
            writer
                .begin_load(config.target_transfers)
                .map_err(write_err(0, 0))?,
        )
    } else {
        Sink::Batches(&mut *writer)
    };
    let mut world = World::new(config.clone(), sink, progress);
    world.run()?;
    let checkpoints = world.final_checkpoints();
    let written = world.stats.transfers;
    if let Sink::Load(load) = std::mem::replace(&mut world.out, Sink::Done) {
        let last = checkpoints.first().map_or(0, |c| c.block);
        load.commit(None)
            .map_err(write_err(last, usize::try_from(written).unwrap_or(usize::MAX)))?;
    }
    let truth = world.into_truth();
    for checkpoint in &checkpoints {
        let batch = Batch {
            blocks: &[],
            transfers: &[],
            logs: &[],
            checkpoint: Some(checkpoint),
        };
        writer.write_batch(batch).map_err(|source| SimError::Write {
            chain: checkpoint.chain,
            block: checkpoint.block,
            transfers: 0,
            source,
        })?;
    }
    Ok(truth)
}

/// Where [`World`] sends its batches.
enum Sink<'w> {
    /// One [`TransferWriter::write_batch`] per batch.
    Batches(&'w mut dyn TransferWriter),
    /// Chunks of one open load, committed by [`generate_with_progress`].
    Load(Box<dyn TransferLoad + 'w>),
    /// The load was taken for commit; nothing more may be written.
    Done,
}

/// Generates a (small) world into memory: blocks and transfers in write order, plus the truth.
pub fn generate_in_memory(config: &WorldConfig) -> Result<(MemoryWriter, GroundTruth), SimError> {
    let mut mem = MemoryWriter::default();
    let truth = generate(config, &mut mem)?;
    Ok((mem, truth))
}

const NATIVE: u8 = 0;
const USDT: u8 = 1;
const USDC: u8 = 2;
/// The wrapped native coin (WETH, WBNB, ...): present when the DEX and tokens are on. Not an asset users
/// pick; it only lives inside DEX pairs and the router's float.
const WRAPPED: u8 = 3;
const EXCHANGE_NAMES: [&str; 8] = [
    "northbit",
    "coinpeak",
    "kovex",
    "hexamarket",
    "altbay",
    "quorumx",
    "bitlumen",
    "tradevia",
];
const ACTOR_NAMES: [&str; 8] = [
    "lazarus",
    "cobalt-spider",
    "ember-crew",
    "silent-lynx",
    "gray-otter",
    "nightjar",
    "vanta",
    "rook",
];
const MIXER_DENOMS: [u128; 4] = [
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
    10_000_000_000_000_000_000,
    100_000_000_000_000_000_000,
];
/// Exploiter addresses created fresh per incident (a reused one comes on top).
const FRESH_EXPLOITERS: usize = 2;
const PEEL_HOPS: u32 = 8;
const MAX_MIXER_DEPOSITS: u32 = 40;

struct AssetDef {
    symbol: &'static str,
    decimals: u8,
    price: f64,
    token: Option<Address>,
}

struct ChainState {
    chain: Chain,
    bt: u64,
    base: u64,
    next_emit: u64,
    prev_hash: [u8; 32],
    log_block: u64,
    next_log: u32,
    assets: Vec<AssetDef>,
    /// The DEX router (signs nothing; the `sender` of every pair `Swap` and the native-leg counterparty).
    dex: Option<AddrId>,
    /// One Uniswap-V2-style pair per (asset, asset) of `WRAPPED`, `USDT`, `USDC`: (lower index, higher
    /// index, pair address).
    pairs: Vec<(u8, u8, AddrId)>,
    /// The wrapped-native contract (its address is the `WRAPPED` token); holds the native backing.
    wrapper: Option<AddrId>,
    bridge: Option<AddrId>,
    bridge_relayer: Option<AddrId>,
    mixer: Vec<(u128, AddrId)>,
    mixer_relayer: Option<AddrId>,
    gas: (u64, u64),
    transfers: u64,
}

struct User {
    addrs: Vec<AddrId>,
    exchanges: [u16; 2],
    entity: u32,
}

struct Exchange {
    entity: u32,
    name: &'static str,
    /// Two hot wallets per chain index.
    hot: Vec<[AddrId; 2]>,
}

#[derive(Clone, Copy)]
enum Action {
    Pay,
    Deposit,
    Withdraw,
    Swap,
    Bridge,
    Mixer,
}

/// How a value moves inside its transaction (tokens always show as a log, whatever is asked).
#[derive(Clone, Copy)]
enum Via {
    /// The transaction's own value.
    Value,
    /// An internal call at this trace index.
    Internal(u32),
}

struct TxCtx {
    ci: usize,
    block: u64,
    ts: u64,
    hash: TxHash,
    from: AddrId,
    fee: u128,
    gas_price: u128,
}

#[derive(Clone, Copy)]
enum Step {
    FundFunder,
    GasUp,
    Drain { j: usize, asset: u8 },
    SwapToNative { who: AddrId, ci: usize, asset: u8 },
    Consolidate { j: usize },
    BridgeOut,
    CashOutB,
    PeelStart,
    PeelHop { addr: AddrId, hop: u32 },
    MixerDeposit { n: u32 },
}

enum Event {
    Sweep {
        ci: usize,
        asset: u8,
        deposit: AddrId,
        exch: u16,
    },
    BridgeRelease {
        idx: usize,
        to_ci: usize,
        asset: u8,
        recipient: AddrId,
        amount: u128,
    },
    MixerWithdraw {
        ci: usize,
        pool: AddrId,
        recipient: AddrId,
        amount: u128,
        idx: usize,
    },
    Step {
        inc: usize,
        step: Step,
    },
}

/// Topic 0 of the events the world emits: keccak-256 of the exact signatures in docs/bridges.md and
/// docs/mixers.md.
struct Topics {
    bridge_deposit: [u8; 32],
    bridge_release: [u8; 32],
    mixer_deposit: [u8; 32],
    mixer_withdrawal: [u8; 32],
    v2_swap: [u8; 32],
    wrap_deposit: [u8; 32],
    wrap_withdrawal: [u8; 32],
}

/// Signature of the chaintrace generic bridge's deposit event.
pub const BRIDGE_DEPOSIT_SIGNATURE: &str = "BridgeDeposit(bytes32,address,address,address,uint256,uint256)";
/// Signature of the chaintrace generic bridge's release event.
pub const BRIDGE_RELEASE_SIGNATURE: &str = "BridgeRelease(bytes32,address,address,uint256,uint256)";
/// Signature of a Tornado Cash pool deposit.
pub const MIXER_DEPOSIT_SIGNATURE: &str = "Deposit(bytes32,uint32,uint256)";
/// Signature of a Tornado Cash pool withdrawal.
pub const MIXER_WITHDRAWAL_SIGNATURE: &str = "Withdrawal(address,bytes32,address,uint256)";
/// Signature of a Uniswap V2 pair swap (`Swap(address indexed sender, uint amount0In, uint amount1In,
/// uint amount0Out, uint amount1Out, address indexed to)`).
pub const V2_SWAP_SIGNATURE: &str = "Swap(address,uint256,uint256,uint256,uint256,address)";
/// Signature of a WETH9-style wrap (`Deposit(address indexed dst, uint wad)`).
pub const WRAP_DEPOSIT_SIGNATURE: &str = "Deposit(address,uint256)";
/// Signature of a WETH9-style unwrap (`Withdrawal(address indexed src, uint wad)`).
pub const WRAP_WITHDRAWAL_SIGNATURE: &str = "Withdrawal(address,uint256)";

impl Topics {
    fn new() -> Topics {
        Topics {
            bridge_deposit: keccak256(BRIDGE_DEPOSIT_SIGNATURE).0,
            bridge_release: keccak256(BRIDGE_RELEASE_SIGNATURE).0,
            mixer_deposit: keccak256(MIXER_DEPOSIT_SIGNATURE).0,
            mixer_withdrawal: keccak256(MIXER_WITHDRAWAL_SIGNATURE).0,
            v2_swap: keccak256(V2_SWAP_SIGNATURE).0,
            wrap_deposit: keccak256(WRAP_DEPOSIT_SIGNATURE).0,
            wrap_withdrawal: keccak256(WRAP_WITHDRAWAL_SIGNATURE).0,
        }
    }
}

/// An address as an ABI word (left-padded).
fn word_address(a: Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(&a.0);
    w
}

/// An unsigned integer as an ABI word (big-endian).
fn word_uint(v: u128) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[16..].copy_from_slice(&v.to_be_bytes());
    w
}

struct Scheduled {
    time: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: the heap pops the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

struct IncidentState {
    id: String,
    actor: u32,
    labeled: bool,
    start: u64,
    ca: usize,
    cb: Option<usize>,
    victim_exchange: u16,
    funder_exchange: u16,
    victims: Vec<AddrId>,
    exploiters: Vec<AddrId>,
    reused: Option<(AddrId, usize)>,
    funder: AddrId,
    hub: AddrId,
    hub_b: AddrId,
    deposits: Vec<(AddrId, u16)>,
    controlled: Vec<AddrId>,
    drains: Vec<TransferRef>,
    destinations: Vec<Destination>,
    chains: Vec<usize>,
}

struct World<'w> {
    cfg: WorldConfig,
    rng: ChaCha8Rng,
    out: Sink<'w>,
    progress: &'w mut dyn FnMut(&Progress),
    t0: u64,
    t_end: u64,
    chains: Vec<ChainState>,
    addrs: Vec<Address>,
    owner: Vec<u32>,
    is_source: Vec<bool>,
    /// Whether the address appeared in a written transfer (as sender, receiver or signer).
    used: Vec<bool>,
    entities: Vec<Entity>,
    ledger: Ledger,
    users: Vec<User>,
    zipf_cdf: Vec<f64>,
    chain_cdf: Vec<f64>,
    action_cdf: Vec<(Action, f64)>,
    exchanges: Vec<Exchange>,
    deposit_of: FastMap<u64, AddrId>,
    deposit_list: Vec<(AddrId, u16, u32)>,
    pending_sweeps: HashSet<u64>,
    heap: BinaryHeap<Scheduled>,
    seq: u64,
    buf: Vec<Transfer>,
    logs: Vec<RawLog>,
    topics: Topics,
    /// Message id of every bridge crossing, parallel to `bridges`.
    bridge_ids: Vec<[u8; 32]>,
    /// Next leaf index per mixer pool.
    mixer_leaves: FastMap<u64, u32>,
    tx_counter: u64,
    fresh_counter: u64,
    genesis: AddrId,
    mint: AddrId,
    issuer: AddrId,
    incidents: Vec<IncidentState>,
    bridges: Vec<BridgeTransfer>,
    swaps: Vec<Swap>,
    mixer_uses: Vec<MixerUse>,
    stats: WorldStats,
    now: u64,
}

/// 32 well-mixed bytes from four words (SplitMix64 finalizer): the fake tx and block hashes. Much
/// cheaper than keccak, which matters for millions of hashes in unoptimized test builds.
fn mix32(words: [u64; 4]) -> [u8; 32] {
    fn splitmix(x: &mut u64) -> u64 {
        *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    // Two independent 64-bit chains over the inputs: 128 bits of state, so collisions are out of reach.
    let (mut a, mut b) = (0u64, 0x5851_f42d_4c95_7f2d_u64);
    for w in words {
        let (mut sa, mut sb) = (a ^ w, b ^ w.rotate_left(17));
        a = splitmix(&mut sa);
        b = splitmix(&mut sb) ^ a.rotate_left(7);
    }
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        let word = if i % 2 == 0 {
            splitmix(&mut a)
        } else {
            splitmix(&mut b)
        };
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn hash32(parts: &[&[u8]]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(64);
    for p in parts {
        buf.extend_from_slice(p);
    }
    keccak256(&buf).0
}

impl<'w> World<'w> {
    fn new(cfg: WorldConfig, out: Sink<'w>, progress: &'w mut dyn FnMut(&Progress)) -> World<'w> {
        let t0 = cfg.start_timestamp;
        let t_end = t0 + cfg.duration();
        let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut w = World {
            rng,
            out,
            progress,
            t0,
            t_end,
            chains: Vec::new(),
            addrs: Vec::new(),
            owner: Vec::new(),
            is_source: Vec::new(),
            used: Vec::new(),
            entities: Vec::new(),
            ledger: Ledger::default(),
            users: Vec::new(),
            zipf_cdf: Vec::new(),
            chain_cdf: Vec::new(),
            action_cdf: Vec::new(),
            exchanges: Vec::new(),
            deposit_of: FastMap::default(),
            deposit_list: Vec::new(),
            pending_sweeps: HashSet::new(),
            heap: BinaryHeap::new(),
            seq: 0,
            buf: Vec::with_capacity(cfg.batch_size + 64),
            logs: Vec::new(),
            topics: Topics::new(),
            bridge_ids: Vec::new(),
            mixer_leaves: FastMap::default(),
            tx_counter: 0,
            fresh_counter: 0,
            genesis: 0,
            mint: 0,
            issuer: 0,
            incidents: Vec::new(),
            bridges: Vec::new(),
            swaps: Vec::new(),
            mixer_uses: Vec::new(),
            stats: WorldStats::default(),
            now: t0,
            cfg,
        };
        w.build();
        w
    }

    // ---------------------------------------------------------------- setup

    fn entity(&mut self, id: String, kind: EntityKind) -> u32 {
        self.entities.push(Entity { id, kind });
        (self.entities.len() - 1) as u32
    }

    fn add_address(&mut self, address: Address, owner: u32) -> AddrId {
        self.addrs.push(address);
        self.owner.push(owner);
        self.is_source.push(false);
        self.used.push(false);
        (self.addrs.len() - 1) as AddrId
    }

    fn derived(&mut self, tag: &[u8], a: u64, b: u64, owner: u32) -> AddrId {
        let h = hash32(&[
            &self.cfg.seed.to_le_bytes(),
            tag,
            &a.to_le_bytes(),
            &b.to_le_bytes(),
        ]);
        let address = Address::from_slice(&h[12..]).expect("12..32 is 20 bytes");
        self.add_address(address, owner)
    }

    fn fresh(&mut self, owner: u32) -> AddrId {
        self.fresh_counter += 1;
        self.derived(b"fresh", self.fresh_counter, 0, owner)
    }

    fn build(&mut self) {
        let infra = self.entity("genesis".into(), EntityKind::Infrastructure);
        self.genesis = self.derived(b"genesis", 0, 0, infra);
        self.is_source[self.genesis as usize] = true;
        let mint = self.entity("mint".into(), EntityKind::Infrastructure);
        self.mint = self.add_address(Address::ZERO, mint);
        self.is_source[self.mint as usize] = true;
        let issuer = self.entity("token-issuer".into(), EntityKind::Infrastructure);
        self.issuer = self.derived(b"issuer", 0, 0, issuer);
        let dex = self.entity("dex".into(), EntityKind::Infrastructure);
        let bridge = self.entity("bridge".into(), EntityKind::Infrastructure);
        let mixer = self.entity("mixer".into(), EntityKind::Infrastructure);

        for (ci, &chain) in self.cfg.chains.clone().iter().enumerate() {
            let c = ci as u64;
            let mut assets = vec![AssetDef {
                symbol: chain.native_symbol(),
                decimals: chain.native_decimals(),
                price: match chain {
                    Chain::Bsc => 300.0,
                    Chain::Polygon => 0.8,
                    _ => 2000.0,
                },
                token: None,
            }];
            if self.cfg.tokens {
                let decimals = if chain == Chain::Bsc { 18 } else { 6 };
                for (i, symbol) in [(1u64, "USDT"), (2, "USDC")] {
                    let h = hash32(&[
                        &self.cfg.seed.to_le_bytes(),
                        b"token",
                        &c.to_le_bytes(),
                        &[i as u8],
                    ]);
                    let token = Address::from_slice(&h[12..]).expect("20 bytes");
                    assets.push(AssetDef {
                        symbol,
                        decimals,
                        price: 1.0,
                        token: Some(token),
                    });
                }
            }
            let dex_addr = self.cfg.dex.then(|| self.derived(b"dex-pool", c, 0, dex));
            let (wrapper, pairs) = if self.cfg.dex && self.cfg.tokens {
                let w = self.derived(b"wrapped-native", c, 0, dex);
                let native = &assets[0];
                assets.push(AssetDef {
                    symbol: match chain {
                        Chain::Bsc => "WBNB",
                        Chain::Polygon => "WMATIC",
                        _ => "WETH",
                    },
                    decimals: native.decimals,
                    price: native.price,
                    token: Some(self.addrs[w as usize]),
                });
                let pairs = [(WRAPPED, USDT), (WRAPPED, USDC), (USDT, USDC)]
                    .into_iter()
                    .enumerate()
                    .map(|(k, (a, b))| (a.min(b), a.max(b), self.derived(b"dex-pair", c, k as u64, dex)))
                    .collect();
                (Some(w), pairs)
            } else {
                (None, Vec::new())
            };
            let (bridge_addr, relayer) = if self.cfg.bridge {
                (
                    Some(self.derived(b"bridge", c, 0, bridge)),
                    Some(self.derived(b"bridge-relayer", c, 0, bridge)),
                )
            } else {
                (None, None)
            };
            let (pools, mixer_relayer) = if self.cfg.mixer {
                let pools = MIXER_DENOMS
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| (d, self.derived(b"mixer", c, i as u64, mixer)));
                (pools.collect(), Some(self.derived(b"mixer-relayer", c, 0, mixer)))
            } else {
                (Vec::new(), None)
            };
            let gas = match chain {
                Chain::Ethereum => (8_000_000_000, 60_000_000_000),
                Chain::Bsc => (1_000_000_000, 5_000_000_000),
                Chain::Polygon => (30_000_000_000, 300_000_000_000),
                Chain::Arbitrum => (10_000_000, 100_000_000),
                _ => (1_000_000, 10_000_000),
            };
            let base = first_block(chain);
            let prev_hash = self.block_hash(chain, base.saturating_sub(1));
            self.chains.push(ChainState {
                chain,
                bt: block_time(chain),
                base,
                next_emit: base,
                prev_hash,
                log_block: u64::MAX,
                next_log: 0,
                assets,
                dex: dex_addr,
                pairs,
                wrapper,
                bridge: bridge_addr,
                bridge_relayer: relayer,
                mixer: pools,
                mixer_relayer,
                gas,
                transfers: 0,
            });
        }

        for (e, name) in EXCHANGE_NAMES
            .iter()
            .copied()
            .enumerate()
            .take(self.cfg.exchanges as usize)
        {
            let entity = self.entity(format!("exchange:{name}"), EntityKind::Exchange);
            let hot = (0..self.chains.len())
                .map(|ci| [0u64, 1].map(|k| self.derived(b"hot", e as u64, (ci as u64) << 8 | k, entity)))
                .collect();
            self.exchanges.push(Exchange { entity, name, hot });
        }

        // Users: Zipf activity, 1-3 addresses (the same key on every chain), a home exchange.
        let n_users = self.cfg.user_count();
        let n_ex = self.exchanges.len() as u32;
        let mut acc = 0.0;
        for u in 0..n_users {
            let entity = self.entity(format!("user:{u}"), EntityKind::User);
            let k = match self.rng.random::<f64>() {
                x if x < 0.7 => 1,
                x if x < 0.9 => 2,
                _ => 3,
            };
            let addrs = (0..k)
                .map(|i| self.derived(b"user", u64::from(u), i, entity))
                .collect();
            let home = self.pick_exchange_index(n_ex);
            let second = if self.rng.random::<f64>() < 0.25 {
                self.pick_exchange_index(n_ex)
            } else {
                home
            };
            self.users.push(User {
                addrs,
                exchanges: [home, second],
                entity,
            });
            acc += 1.0 / f64::from(u + 1).powf(self.cfg.zipf_exponent);
            self.zipf_cdf.push(acc);
        }

        let mut acc = 0.0;
        for c in &self.chains {
            acc += match c.chain {
                Chain::Ethereum => 0.40,
                Chain::Bsc => 0.35,
                Chain::Polygon | Chain::Arbitrum => 0.10,
                _ => 0.05,
            };
            self.chain_cdf.push(acc);
        }

        let multi = self.chains.len() > 1;
        let mut acc = 0.0;
        for (action, weight, on) in [
            (Action::Pay, 0.44, true),
            (Action::Deposit, 0.18, true),
            (Action::Withdraw, 0.14, true),
            (Action::Swap, 0.14, self.cfg.dex),
            (Action::Bridge, 0.05, self.cfg.bridge && multi),
            (Action::Mixer, 0.01, self.cfg.mixer),
        ] {
            if on {
                acc += weight;
                self.action_cdf.push((action, acc));
            }
        }
    }

    /// Exchange popularity is skewed too: the first exchanges are the big ones.
    fn pick_exchange_index(&mut self, n: u32) -> u16 {
        let x = self.rng.random::<f64>();
        ((x * x * f64::from(n)) as u32).min(n - 1) as u16
    }

    fn block_hash(&self, chain: Chain, number: u64) -> [u8; 32] {
        mix32([0xb10c, self.cfg.seed, chain.chain_id(), number])
    }

    // ---------------------------------------------------------------- primitives

    fn schedule(&mut self, time: u64, event: Event) {
        self.seq += 1;
        self.heap.push(Scheduled {
            time: time.max(self.now),
            seq: self.seq,
            event,
        });
    }

    fn block_at(&self, ci: usize, t: u64) -> u64 {
        let c = &self.chains[ci];
        c.base + (t - self.t0) / c.bt
    }

    fn begin_tx(&mut self, ci: usize, from: AddrId, gas_used: u64) -> TxCtx {
        let block = self.block_at(ci, self.now);
        let c = &self.chains[ci];
        let ts = self.t0 + (block - c.base) * c.bt;
        let (lo, hi) = c.gas;
        self.tx_counter += 1;
        let hash = TxHash(mix32([0x7a, self.cfg.seed, c.chain.chain_id(), self.tx_counter]));
        let gas_price = u128::from(self.rng.random_range(lo..=hi));
        if self.chains[ci].log_block != block {
            self.chains[ci].log_block = block;
            self.chains[ci].next_log = 0;
        }
        TxCtx {
            ci,
            block,
            ts,
            hash,
            from,
            fee: gas_price * u128::from(gas_used),
            gas_price,
        }
    }

    fn spendable(&self, addr: AddrId, ci: usize, asset: u8) -> u128 {
        self.ledger
            .spendable(addr, ci, asset, self.block_at(ci, self.now))
    }

    fn transfer(
        &mut self,
        tx: &TxCtx,
        from: AddrId,
        to: AddrId,
        asset: u8,
        amount: u128,
        via: Via,
    ) -> Result<Position, SimError> {
        let ci = tx.ci;
        if !self.is_source[from as usize]
            && let Err(available) = self.ledger.debit(from, ci, asset, tx.block, amount)
        {
            return Err(SimError::Overspend {
                chain: self.chains[ci].chain,
                address: self.addrs[from as usize].to_hex(),
                asset,
                needed: amount,
                available,
            });
        }
        self.ledger.credit(to, ci, asset, tx.block, amount);
        for a in [from, to, tx.from] {
            self.used[a as usize] = true;
        }
        let c = &mut self.chains[ci];
        let (position, kind, asset_v) = match (c.assets[asset as usize].token, via) {
            (Some(token), _) => {
                let i = c.next_log;
                c.next_log += 1;
                (Position::Log(i), TransferKind::Token, Asset::Token(token))
            }
            (None, Via::Internal(i)) => (Position::Trace(vec![i]), TransferKind::Internal, Asset::Native),
            (None, Via::Value) => (Position::Tx, TransferKind::Native, Asset::Native),
        };
        c.transfers += 1;
        self.buf.push(Transfer {
            chain: c.chain,
            block: tx.block,
            timestamp: tx.ts,
            tx_hash: tx.hash,
            position: position.clone(),
            from: self.addrs[from as usize],
            to: self.addrs[to as usize],
            asset: asset_v,
            amount: U256::from(amount),
            kind,
            tx_from: self.addrs[tx.from as usize],
            tx_fee: U256::from(tx.fee),
            gas_price: U256::from(tx.gas_price),
        });
        Ok(position)
    }

    /// Emits a raw log of `emitter` in `tx` (taking the next log index of the block), if logs are on.
    fn emit_log(&mut self, tx: &TxCtx, emitter: AddrId, topics: Vec<[u8; 32]>, data: &[[u8; 32]]) {
        if !self.cfg.event_logs {
            return;
        }
        let c = &mut self.chains[tx.ci];
        let log_index = c.next_log;
        c.next_log += 1;
        self.logs.push(RawLog {
            chain: c.chain,
            block: tx.block,
            timestamp: tx.ts,
            tx_hash: tx.hash,
            log_index,
            address: self.addrs[emitter as usize],
            topics,
            data: data.concat(),
            tx_from: self.addrs[tx.from as usize],
        });
    }

    /// A one-transfer transaction signed by the sender.
    fn send(
        &mut self,
        ci: usize,
        from: AddrId,
        to: AddrId,
        asset: u8,
        amount: u128,
    ) -> Result<TxCtx, SimError> {
        let gas = if asset == NATIVE {
            21_000
        } else {
            self.rng.random_range(45_000..65_000)
        };
        let tx = self.begin_tx(ci, from, gas);
        self.transfer(&tx, from, to, asset, amount, Via::Value)?;
        Ok(tx)
    }

    fn tref(
        &self,
        tx: &TxCtx,
        position: Position,
        from: AddrId,
        to: AddrId,
        asset: u8,
        amount: u128,
    ) -> TransferRef {
        TransferRef {
            chain: self.chains[tx.ci].chain,
            tx_hash: tx.hash,
            position,
            from: self.addrs[from as usize],
            to: self.addrs[to as usize],
            asset: self.asset(tx.ci, asset),
            symbol: self.chains[tx.ci].assets[asset as usize].symbol.to_string(),
            amount: U256::from(amount),
            timestamp: tx.ts,
        }
    }

    fn asset(&self, ci: usize, asset: u8) -> Asset {
        self.chains[ci].assets[asset as usize]
            .token
            .map_or(Asset::Native, Asset::Token)
    }

    fn usd_to_raw(&self, ci: usize, asset: u8, usd: f64) -> u128 {
        let a = &self.chains[ci].assets[asset as usize];
        (usd / a.price * 10f64.powi(i32::from(a.decimals))) as u128
    }

    fn raw_to_usd(&self, ci: usize, asset: u8, raw: u128) -> f64 {
        let a = &self.chains[ci].assets[asset as usize];
        raw as f64 / 10f64.powi(i32::from(a.decimals)) * a.price
    }

    fn pareto_usd(&mut self) -> f64 {
        let u = self.rng.random::<f64>().max(1e-12);
        (20.0 / u.powf(1.0 / 1.16)).min(2_000_000.0)
    }

    fn frac(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.rng.random::<f64>()
    }

    fn scale(amount: u128, from_dec: u8, to_dec: u8) -> u128 {
        if to_dec >= from_dec {
            amount * 10u128.pow(u32::from(to_dec - from_dec))
        } else {
            amount / 10u128.pow(u32::from(from_dec - to_dec))
        }
    }

    fn n_assets(&self) -> u8 {
        if self.cfg.tokens { 3 } else { 1 }
    }

    // ---------------------------------------------------------------- main loop

    fn run(&mut self) -> Result<(), SimError> {
        self.genesis_funding()?;
        self.plan_incidents();
        let target = self.cfg.target_transfers;
        let mut bg_time = (self.t0 + 13) as f64;
        let mut gap = (self.t_end - self.t0) as f64 / (target as f64 / 1.4).max(1.0);
        let mut actions: u64 = 0;
        loop {
            let emitted = self.stats.transfers + self.buf.len() as u64;
            let bg_active = emitted < target;
            let next_event = self.heap.peek().map(|s| s.time);
            match next_event {
                Some(te) if !bg_active || te as f64 <= bg_time => {
                    let s = self.heap.pop().expect("peeked");
                    self.now = s.time;
                    self.handle(s.event)?;
                }
                _ if bg_active => {
                    self.now = bg_time as u64;
                    self.background()?;
                    actions += 1;
                    if actions.is_multiple_of(4096) {
                        let per_action = emitted as f64 / actions as f64;
                        let remaining = ((target - emitted) as f64 / per_action.max(0.1)).max(1.0);
                        let left = (self.t_end as f64 - bg_time).max(remaining * 0.05);
                        gap = left / remaining;
                    }
                    let u = self.rng.random::<f64>().max(1e-12);
                    bg_time += -u.ln() * gap;
                }
                _ => break,
            }
            if self.buf.len() >= self.cfg.batch_size {
                self.flush(self.now)?;
            }
        }
        let end = self.now;
        self.flush(end)
    }

    /// The `"sim"` checkpoint of every chain: the last block emitted.
    fn final_checkpoints(&self) -> Vec<Checkpoint> {
        self.chains
            .iter()
            .map(|c| Checkpoint {
                stage: "sim".to_string(),
                chain: c.chain,
                block: c.next_emit - 1,
            })
            .collect()
    }

    fn flush(&mut self, now: u64) -> Result<(), SimError> {
        let mut blocks = Vec::new();
        for ci in 0..self.chains.len() {
            let upto = self.block_at(ci, now);
            let chain = self.chains[ci].chain;
            while self.chains[ci].next_emit <= upto {
                let c = &self.chains[ci];
                let number = c.next_emit;
                let hash = self.block_hash(chain, number);
                blocks.push(BlockRecord {
                    chain,
                    number,
                    hash,
                    parent_hash: c.prev_hash,
                    timestamp: self.t0 + (number - c.base) * c.bt,
                });
                let c = &mut self.chains[ci];
                c.prev_hash = hash;
                c.next_emit += 1;
            }
        }
        let wrote = match &mut self.out {
            Sink::Batches(out) => out
                .write_batch(Batch {
                    blocks: &blocks,
                    transfers: &self.buf,
                    logs: &self.logs,
                    checkpoint: None,
                })
                .map(|_| ()),
            Sink::Load(load) => load
                .write(&blocks, &self.buf)
                .and_then(|()| load.write_logs(&self.logs)),
            Sink::Done => unreachable!("the load is only taken after the last flush"),
        };
        wrote.map_err(|source| SimError::Write {
            chain: self.chains[0].chain,
            block: self.block_at(0, now),
            transfers: self.buf.len(),
            source,
        })?;
        self.stats.transfers += self.buf.len() as u64;
        self.stats.logs += self.logs.len() as u64;
        self.stats.blocks += blocks.len() as u64;
        self.stats.batches += 1;
        self.buf.clear();
        self.logs.clear();
        let p = Progress {
            transfers: self.stats.transfers,
            target: self.cfg.target_transfers,
            sim_time: now,
        };
        (self.progress)(&p);
        Ok(())
    }

    fn handle(&mut self, event: Event) -> Result<(), SimError> {
        match event {
            Event::Sweep {
                ci,
                asset,
                deposit,
                exch,
            } => {
                self.pending_sweeps.remove(&sweep_key(deposit, ci, asset));
                let amount = self.spendable(deposit, ci, asset);
                if amount > 0 {
                    let hot = self.exchanges[exch as usize].hot[ci][0];
                    self.send(ci, deposit, hot, asset, amount)?;
                }
            }
            Event::BridgeRelease {
                idx,
                to_ci,
                asset,
                recipient,
                amount,
            } => {
                let (bridge, relayer) = self.bridge_of(to_ci);
                let gas = self.rng.random_range(80_000..140_000);
                let tx = self.begin_tx(to_ci, relayer, gas);
                self.transfer(&tx, bridge, recipient, asset, amount, Via::Internal(0))?;
                let token = self.chains[to_ci].assets[asset as usize]
                    .token
                    .unwrap_or(Address::ZERO);
                let src = self.bridges[idx].from_chain.chain_id();
                let topics = vec![
                    self.topics.bridge_release,
                    self.bridge_ids[idx],
                    word_address(token),
                    word_address(self.addrs[recipient as usize]),
                ];
                self.emit_log(
                    &tx,
                    bridge,
                    topics,
                    &[word_uint(amount), word_uint(u128::from(src))],
                );
                let b = &mut self.bridges[idx];
                b.release_tx = tx.hash;
                b.release_time = tx.ts;
            }
            Event::MixerWithdraw {
                ci,
                pool,
                recipient,
                amount,
                idx,
            } => {
                let relayer = self.chains[ci]
                    .mixer_relayer
                    .expect("mixer events only exist with a mixer");
                let gas = self.rng.random_range(300_000..400_000);
                let tx = self.begin_tx(ci, relayer, gas);
                self.transfer(&tx, pool, recipient, NATIVE, amount, Via::Internal(0))?;
                self.mixer_uses[idx].withdraw_tx = Some(tx.hash);
                let nullifier = mix32([0x4e11, self.cfg.seed, idx as u64, 1]);
                let topics = vec![
                    self.topics.mixer_withdrawal,
                    word_address(self.addrs[relayer as usize]),
                ];
                let data = [
                    word_address(self.addrs[recipient as usize]),
                    nullifier,
                    word_uint(0),
                ];
                self.emit_log(&tx, pool, topics, &data);
            }
            Event::Step { inc, step } => self.incident_step(inc, step)?,
        }
        Ok(())
    }

    fn bridge_of(&self, ci: usize) -> (AddrId, AddrId) {
        let c = &self.chains[ci];
        (
            c.bridge.expect("bridge events only exist with a bridge"),
            c.bridge_relayer.expect("relayer with bridge"),
        )
    }

    fn genesis_funding(&mut self) -> Result<(), SimError> {
        for ci in 0..self.chains.len() {
            let mut holdings: Vec<(AddrId, u8, f64)> = Vec::new();
            let all = |holder: AddrId, usd: f64, n: u8| (0..n).map(move |a| (holder, a, usd));
            for e in 0..self.exchanges.len() {
                for h in self.exchanges[e].hot[ci] {
                    holdings.extend(all(h, 1e9, self.n_assets()));
                }
            }
            let c = &self.chains[ci];
            match (c.dex, c.wrapper) {
                // Pairs hold their two reserves; the router and the wrapper hold floats for the native
                // legs (what they receive in a block is only spendable in the next one).
                (Some(router), Some(wrapper)) => {
                    for &(a, b, pair) in &c.pairs {
                        holdings.extend([(pair, a, 1e10), (pair, b, 1e10)]);
                    }
                    holdings.extend([
                        (router, NATIVE, 1e10),
                        (router, WRAPPED, 1e10),
                        (wrapper, NATIVE, 3e10),
                    ]);
                }
                (Some(router), None) => holdings.extend(all(router, 1e10, self.n_assets())),
                _ => {}
            }
            if let Some(b) = self.chains[ci].bridge {
                holdings.extend(all(b, 1e10, self.n_assets()));
            }
            for (holder, asset, usd) in holdings {
                let amount = self.usd_to_raw(ci, asset, usd);
                let (from, signer) = if asset == NATIVE {
                    (self.genesis, self.genesis)
                } else {
                    (self.mint, self.issuer)
                };
                let tx = self.begin_tx(ci, signer, 60_000);
                self.transfer(&tx, from, holder, asset, amount, Via::Value)?;
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- background

    fn pick_user(&mut self) -> usize {
        let total = *self.zipf_cdf.last().expect("at least two users");
        let x = self.rng.random::<f64>() * total;
        self.zipf_cdf
            .partition_point(|&c| c < x)
            .min(self.users.len() - 1)
    }

    fn pick_chain(&mut self) -> usize {
        let total = *self.chain_cdf.last().expect("at least one chain");
        let x = self.rng.random::<f64>() * total;
        self.chain_cdf
            .partition_point(|&c| c < x)
            .min(self.chains.len() - 1)
    }

    fn pick_asset(&mut self) -> u8 {
        if !self.cfg.tokens {
            return NATIVE;
        }
        match self.rng.random::<f64>() {
            x if x < 0.5 => NATIVE,
            x if x < 0.8 => USDT,
            _ => USDC,
        }
    }

    /// One of the user's addresses holding at least `min` of the asset, starting at a random one.
    fn funded_address(&mut self, u: usize, ci: usize, asset: u8, min: u128) -> Option<(AddrId, u128)> {
        let n = self.users[u].addrs.len();
        let start = self.rng.random_range(0..n);
        (0..n)
            .map(|i| self.users[u].addrs[(start + i) % n])
            .find_map(|a| {
                let s = self.spendable(a, ci, asset);
                (s >= min && s > 0).then_some((a, s))
            })
    }

    fn background(&mut self) -> Result<(), SimError> {
        let u = self.pick_user();
        let ci = self.pick_chain();
        let x = self.rng.random::<f64>() * self.action_cdf.last().map_or(1.0, |a| a.1);
        let action = self
            .action_cdf
            .iter()
            .find(|a| x < a.1)
            .map_or(Action::Pay, |a| a.0);
        let asset = match action {
            Action::Mixer => NATIVE,
            _ => self.pick_asset(),
        };
        let min = self.usd_to_raw(ci, asset, 5.0);
        let funded = self.funded_address(u, ci, asset, min);
        let Some((from, have)) = funded else {
            return self.withdraw(u, ci, asset);
        };
        match action {
            Action::Withdraw => self.withdraw(u, ci, asset),
            Action::Pay => {
                let usd = self.pareto_usd();
                let cap = self.usd_to_raw(ci, asset, usd);
                let amount = cap.min((have as f64 * self.frac(0.05, 0.9)) as u128).max(1);
                let to = if self.users[u].addrs.len() > 1 && self.rng.random::<f64>() < 0.15 {
                    let n = self.users[u].addrs.len();
                    self.users[u].addrs[self.rng.random_range(0..n)]
                } else {
                    let v = self.pick_user();
                    let n = self.users[v].addrs.len();
                    self.users[v].addrs[self.rng.random_range(0..n)]
                };
                self.send(ci, from, to, asset, amount)?;
                Ok(())
            }
            Action::Deposit => {
                let ex = self.users[u].exchanges[usize::from(self.rng.random::<f64>() < 0.3)];
                let customer = self.users[u].entity;
                let dep = self.deposit_address(customer, ex);
                let amount = ((have as f64 * self.frac(0.3, 1.0)) as u128).clamp(1, have);
                self.send(ci, from, dep, asset, amount)?;
                self.schedule_sweep(ci, asset, dep, ex);
                Ok(())
            }
            Action::Swap => {
                let n = self.n_assets();
                if n == 1 {
                    return Ok(());
                }
                let out = (asset + self.rng.random_range(1..n)) % n;
                let amount = ((have as f64 * self.frac(0.1, 0.8)) as u128).max(1);
                self.swap(ci, from, asset, out, amount).map(|_| ())
            }
            Action::Bridge => {
                let to_ci = (ci + self.rng.random_range(1..self.chains.len())) % self.chains.len();
                let amount = ((have as f64 * self.frac(0.2, 0.9)) as u128).max(1);
                let recipient = if self.rng.random::<f64>() < 0.85 {
                    from
                } else {
                    let n = self.users[u].addrs.len();
                    self.users[u].addrs[self.rng.random_range(0..n)]
                };
                self.bridge(ci, to_ci, from, recipient, asset, amount).map(|_| ())
            }
            Action::Mixer => {
                let Some(&(denom, _)) = self.chains[ci].mixer.iter().rev().find(|(d, _)| *d <= have) else {
                    return Ok(());
                };
                let entity = self.users[u].entity;
                let recipient = self.fresh(entity);
                self.users[u].addrs.push(recipient);
                self.mixer_deposit(ci, from, denom, recipient).map(|_| ())
            }
        }
    }

    fn deposit_address(&mut self, customer: u32, ex: u16) -> AddrId {
        let key = (u64::from(customer) << 8) | u64::from(ex);
        if let Some(&a) = self.deposit_of.get(&key) {
            return a;
        }
        let exch_entity = self.exchanges[ex as usize].entity;
        let a = self.derived(b"deposit", u64::from(customer), u64::from(ex), exch_entity);
        self.deposit_of.insert(key, a);
        self.deposit_list.push((a, ex, customer));
        a
    }

    fn schedule_sweep(&mut self, ci: usize, asset: u8, deposit: AddrId, exch: u16) {
        if self.pending_sweeps.insert(sweep_key(deposit, ci, asset)) {
            let delay = self.rng.random_range(60..1_200);
            self.schedule(
                self.now + delay,
                Event::Sweep {
                    ci,
                    asset,
                    deposit,
                    exch,
                },
            );
        }
    }

    /// An exchange pays a user out of one of its hot wallets.
    fn withdraw(&mut self, u: usize, ci: usize, asset: u8) -> Result<(), SimError> {
        let ex = self.users[u].exchanges[usize::from(self.rng.random::<f64>() < 0.3)];
        let hot = self.exchanges[ex as usize].hot[ci][self.rng.random_range(0..2)];
        let n = self.users[u].addrs.len();
        let to = self.users[u].addrs[self.rng.random_range(0..n)];
        let usd = self.pareto_usd().max(25.0);
        let amount = self.usd_to_raw(ci, asset, usd);
        if self.spendable(hot, ci, asset) >= amount {
            self.send(ci, hot, to, asset, amount)?;
        }
        Ok(())
    }

    /// A swap through the chain's V2-style pair of (`a_in`, `a_out`), one transaction signed by `owner`,
    /// with the logs a Uniswap V2 router call leaves: the token in goes owner -> pair, the token out
    /// pair -> owner, then the pair's `Swap` (sender = router). A native leg is wrapped (native owner ->
    /// router -> wrapper, `Deposit` + mint to the router, router -> pair) or unwrapped (pair -> router,
    /// burn + `Withdrawal`, native wrapper -> router -> owner) by the router. Without a wrapper (tokens
    /// off) the DEX is the old multi-asset vault: two transfers, no logs. Returns the amount bought (0
    /// when a reserve or float could not pay).
    fn swap(
        &mut self,
        ci: usize,
        owner: AddrId,
        a_in: u8,
        a_out: u8,
        amount: u128,
    ) -> Result<u128, SimError> {
        let Some(router) = self.chains[ci].dex else {
            return Ok(0);
        };
        let usd = self.raw_to_usd(ci, a_in, amount);
        let out = self.usd_to_raw(ci, a_out, usd * 0.997);
        let wrapped = |a: u8| if a == NATIVE { WRAPPED } else { a };
        let (t_in, t_out) = (wrapped(a_in), wrapped(a_out));
        let pair = self.chains[ci]
            .pairs
            .iter()
            .find(|p| (p.0, p.1) == (t_in.min(t_out), t_in.max(t_out)))
            .map(|p| p.2);
        let wrapper = self.chains[ci].wrapper;
        let Some((pair, wrapper)) = pair.zip(wrapper) else {
            return self.vault_swap(ci, router, owner, (a_in, amount), (a_out, out));
        };
        let can = |w: &Self, a: AddrId, asset: u8, need: u128| w.spendable(a, ci, asset) >= need;
        let afford = out > 0
            && can(self, pair, t_out, out)
            && (a_in != NATIVE || (can(self, router, NATIVE, amount) && can(self, router, WRAPPED, amount)))
            && (a_out != NATIVE
                || (can(self, router, WRAPPED, out)
                    && can(self, wrapper, NATIVE, out)
                    && can(self, router, NATIVE, out)));
        if !afford {
            return Ok(0);
        }
        let gas = self.rng.random_range(110_000..190_000);
        let tx = self.begin_tx(ci, owner, gas);
        let router_a = self.addrs[router as usize];
        if a_in == NATIVE {
            self.transfer(&tx, owner, router, NATIVE, amount, Via::Value)?;
            self.transfer(&tx, router, wrapper, NATIVE, amount, Via::Internal(0))?;
            // The wrapper (WETH10-style) logs the mint as a Transfer from zero, then `Deposit`.
            self.transfer(&tx, self.mint, router, WRAPPED, amount, Via::Value)?;
            let topics = vec![self.topics.wrap_deposit, word_address(router_a)];
            self.emit_log(&tx, wrapper, topics, &[word_uint(amount)]);
            self.transfer(&tx, router, pair, WRAPPED, amount, Via::Value)?;
        } else {
            self.transfer(&tx, owner, pair, a_in, amount, Via::Value)?;
        }
        let recipient = if a_out == NATIVE { router } else { owner };
        self.transfer(&tx, pair, recipient, t_out, out, Via::Value)?;
        let token = |w: &Self, a: u8| w.chains[ci].assets[a as usize].token;
        let in_is_0 = token(self, t_in) < token(self, t_out);
        let (a0in, a1in, a0out, a1out) = if in_is_0 {
            (amount, 0, 0, out)
        } else {
            (0, amount, out, 0)
        };
        let topics = vec![
            self.topics.v2_swap,
            word_address(router_a),
            word_address(self.addrs[recipient as usize]),
        ];
        let data = [a0in, a1in, a0out, a1out].map(word_uint);
        self.emit_log(&tx, pair, topics, &data);
        if a_out == NATIVE {
            self.transfer(&tx, router, self.mint, WRAPPED, out, Via::Value)?;
            let topics = vec![self.topics.wrap_withdrawal, word_address(router_a)];
            self.emit_log(&tx, wrapper, topics, &[word_uint(out)]);
            self.transfer(&tx, wrapper, router, NATIVE, out, Via::Internal(0))?;
            self.transfer(&tx, router, owner, NATIVE, out, Via::Internal(1))?;
        }
        self.record_swap(&tx, owner, (a_in, amount), (a_out, out));
        Ok(out)
    }

    /// The DEX without tokens' wrapper: one multi-asset vault, asset in owner -> vault, out vault ->
    /// owner, no logs (only reachable in worlds that cannot swap, kept for completeness).
    fn vault_swap(
        &mut self,
        ci: usize,
        vault: AddrId,
        owner: AddrId,
        (a_in, amount): (u8, u128),
        (a_out, out): (u8, u128),
    ) -> Result<u128, SimError> {
        if out == 0 || self.spendable(vault, ci, a_out) < out {
            return Ok(0);
        }
        let gas = self.rng.random_range(110_000..190_000);
        let tx = self.begin_tx(ci, owner, gas);
        self.transfer(&tx, owner, vault, a_in, amount, Via::Value)?;
        self.transfer(&tx, vault, owner, a_out, out, Via::Internal(0))?;
        self.record_swap(&tx, owner, (a_in, amount), (a_out, out));
        Ok(out)
    }

    fn record_swap(
        &mut self,
        tx: &TxCtx,
        owner: AddrId,
        (a_in, amount): (u8, u128),
        (a_out, out): (u8, u128),
    ) {
        self.swaps.push(Swap {
            chain: self.chains[tx.ci].chain,
            tx_hash: tx.hash,
            owner: self.addrs[owner as usize],
            asset_in: self.asset(tx.ci, a_in),
            amount_in: U256::from(amount),
            asset_out: self.asset(tx.ci, a_out),
            amount_out: U256::from(out),
        });
    }

    /// Whether `asset` of chain `ci` can cross to chain `to_ci` (same ticker on both sides).
    fn bridgeable(&self, ci: usize, to_ci: usize, asset: u8) -> bool {
        let a = &self.chains[ci].assets[asset as usize];
        self.chains[to_ci]
            .assets
            .get(asset as usize)
            .is_some_and(|b| b.symbol == a.symbol)
            && self.chains[ci].bridge.is_some()
    }

    /// Deposit into the bridge on `ci`; the release on `to_ci` is scheduled. Returns the deposit tx.
    fn bridge(
        &mut self,
        ci: usize,
        to_ci: usize,
        from: AddrId,
        recipient: AddrId,
        asset: u8,
        amount: u128,
    ) -> Result<Option<TxCtx>, SimError> {
        if !self.bridgeable(ci, to_ci, asset) {
            return Ok(None);
        }
        let (bridge, _) = self.bridge_of(ci);
        let scaled = Self::scale(
            amount,
            self.chains[ci].assets[asset as usize].decimals,
            self.chains[to_ci].assets[asset as usize].decimals,
        );
        let fee = scaled / 1_000;
        let out = scaled - fee;
        let (dest_bridge, _) = self.bridge_of(to_ci);
        if out == 0 || self.ledger.balance(dest_bridge, to_ci, asset) < out * 2 {
            return Ok(None);
        }
        let gas = self.rng.random_range(80_000..140_000);
        let tx = self.begin_tx(ci, from, gas);
        self.transfer(&tx, from, bridge, asset, amount, Via::Value)?;
        let id = mix32([0xb41d, self.cfg.seed, self.bridges.len() as u64, 0]);
        let token = self.chains[ci].assets[asset as usize]
            .token
            .unwrap_or(Address::ZERO);
        let topics = vec![
            self.topics.bridge_deposit,
            id,
            word_address(token),
            word_address(self.addrs[from as usize]),
        ];
        let data = [
            word_address(self.addrs[recipient as usize]),
            word_uint(amount),
            word_uint(u128::from(self.chains[to_ci].chain.chain_id())),
        ];
        self.emit_log(&tx, bridge, topics, &data);
        self.bridge_ids.push(id);
        self.bridges.push(BridgeTransfer {
            message_id: TxHash(id),
            from_chain: self.chains[ci].chain,
            deposit_tx: tx.hash,
            sender: self.addrs[from as usize],
            from_asset: self.asset(ci, asset),
            amount_in: U256::from(amount),
            deposit_time: tx.ts,
            to_chain: self.chains[to_ci].chain,
            release_tx: TxHash::default(),
            recipient: self.addrs[recipient as usize],
            to_asset: self.asset(to_ci, asset),
            amount_out: U256::from(out),
            fee: U256::from(fee),
            release_time: 0,
            symbol: self.chains[ci].assets[asset as usize].symbol.to_string(),
        });
        let idx = self.bridges.len() - 1;
        let delay = self.rng.random_range(120..1_200);
        self.schedule(
            self.now + delay,
            Event::BridgeRelease {
                idx,
                to_ci,
                asset,
                recipient,
                amount: out,
            },
        );
        Ok(Some(tx))
    }

    /// One fixed-denomination deposit; the withdrawal to `recipient` is scheduled. Returns the tx.
    fn mixer_deposit(
        &mut self,
        ci: usize,
        from: AddrId,
        denom: u128,
        recipient: AddrId,
    ) -> Result<TxCtx, SimError> {
        let pool = self.chains[ci]
            .mixer
            .iter()
            .find(|(d, _)| *d == denom)
            .expect("denomination of a pool")
            .1;
        let gas = self.rng.random_range(900_000..1_100_000);
        let tx = self.begin_tx(ci, from, gas);
        self.transfer(&tx, from, pool, NATIVE, denom, Via::Value)?;
        let leaf = self.mixer_leaves.entry(u64::from(pool)).or_insert(0);
        let leaf_index = *leaf;
        *leaf += 1;
        let commitment = mix32([0xc0, self.cfg.seed, self.mixer_uses.len() as u64, 0]);
        let data = [word_uint(u128::from(leaf_index)), word_uint(u128::from(tx.ts))];
        self.emit_log(&tx, pool, vec![self.topics.mixer_deposit, commitment], &data);
        self.mixer_uses.push(MixerUse {
            chain: self.chains[ci].chain,
            pool: self.addrs[pool as usize],
            denomination: U256::from(denom),
            deposit_tx: tx.hash,
            depositor: self.addrs[from as usize],
            withdraw_tx: None,
            recipient: self.addrs[recipient as usize],
        });
        let idx = self.mixer_uses.len() - 1;
        let delay = self.rng.random_range(1_800..21_600);
        self.schedule(
            self.now + delay,
            Event::MixerWithdraw {
                ci,
                pool,
                recipient,
                amount: denom,
                idx,
            },
        );
        Ok(tx)
    }
}

fn sweep_key(addr: AddrId, ci: usize, asset: u8) -> u64 {
    (u64::from(addr) << 8) | ((ci as u64) << 3) | u64::from(asset)
}

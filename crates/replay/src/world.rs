//! The scenario: five chains with a DEX, a bridge and a mixer each; an exchange ("CoinEx") with a hot
//! wallet per chain and per-customer deposit addresses that sweep to it; background users; an earlier
//! wallet-drain incident by actor X (later attributed by the FBI); then the new incident: the hot wallets
//! drained on all five chains, one of them to an address X used in the earlier incident on another
//! chain, and the laundering (swap, bridge hop, peel chain, mixer, exchange deposits).
//!
//! Every transaction is sent for real and mined by anvil; the ground truth is recorded from what was
//! sent and from the receipts, never from chaintrace. Fees are zero (the nodes run with `--base-fee 0`
//! and every transaction has gas price 0), so amounts in the truth are exact balances moved.

use chaintrace_core::{Address, Chain, U256};
use chaintrace_testkit::Receipt;
use chaintrace_testkit::abi::{Token, event_topic};

use crate::ReplayError;
use crate::contracts::ReplayContract;
use crate::node::Node;
use crate::truth::{
    BridgeHopTruth, ChainAddress, ChainTruth, ChainTx, Contracts, Decoy, Drained, GroundTruth,
    MixerDepositTruth, ReachedDeposit, ReusedAddress, Route, SwapTruth, TRUTH_SCHEMA_VERSION,
};

/// The five chains of the world, in build order. Tron is not EVM and anvil cannot run it: the CoinEx
/// case's Tron leg is left out.
pub const CHAINS: [Chain; 5] = [
    Chain::Ethereum,
    Chain::Bsc,
    Chain::Polygon,
    Chain::Arbitrum,
    Chain::Optimism,
];

/// Genesis timestamp of every node: 2023-05-01T00:00:00Z.
pub const GENESIS_UNIX: u64 = 1_682_899_200;
/// The earlier incident: 2023-06-03T15:00:00Z.
const EARLIER_UNIX: u64 = 1_685_804_400;
/// Mid-summer background activity: 2023-07-15T00:00:00Z.
const MID_UNIX: u64 = 1_689_379_200;
/// Start of the new incident's window (what the incident file says).
pub const STARTED: &str = "2023-09-12T00:00:00Z";
/// [`STARTED`] in unix seconds.
pub const STARTED_UNIX: u64 = 1_694_476_800;
/// The drain: 2023-09-12T13:00:00Z.
const HACK_UNIX: u64 = 1_694_523_600;
/// Laundering starts two hours later.
const LAUNDER_UNIX: u64 = HACK_UNIX + 2 * 3600;
/// Ordinary exchange traffic the next day.
const AFTER_UNIX: u64 = HACK_UNIX + 26 * 3600;

/// Actor id of the earlier incident's perpetrator.
pub const ACTOR: &str = "lazarus";
/// Actor id of the decoy.
pub const DECOY_ACTOR: &str = "actor-y";
/// Customers (with one deposit address each) per chain.
const CUSTOMERS: usize = 6;

/// The deterministic address of a named participant: the low 20 bytes of
/// `keccak256("chaintrace-replay:" ++ name)`. The nodes run with `--auto-impersonate`, so any address can send without a key; the same name
/// gives the same 20 bytes on every chain, as one key would.
pub fn named(name: &str) -> Address {
    let h = alloy_primitives::keccak256(format!("chaintrace-replay:{name}").as_bytes());
    Address::from_slice(&h[12..]).expect("a keccak hash has 32 bytes")
}

/// Per-chain parameters (amounts in whole units of the native coin / USDT).
#[derive(Debug, Clone)]
struct Spec {
    chain: Chain,
    wrapped_name: &'static str,
    wrapped_symbol: &'static str,
    usdt_decimals: u8,
    /// Native units per "ETH-equivalent" of background amounts.
    scale: u64,
    pair_native: u64,
    pair_usdt: u64,
    mixer_denomination: u64,
    drain_native: &'static [u64],
    drain_usdt: &'static [u64],
}

fn spec(chain: Chain) -> Spec {
    let base = Spec {
        chain,
        wrapped_name: "Wrapped Ether",
        wrapped_symbol: "WETH",
        usdt_decimals: 6,
        scale: 1,
        pair_native: 20_000,
        pair_usdt: 32_000_000,
        mixer_denomination: 100,
        drain_native: &[700, 500],
        drain_usdt: &[2_000_000],
    };
    match chain {
        Chain::Bsc => Spec {
            wrapped_name: "Wrapped BNB",
            wrapped_symbol: "WBNB",
            usdt_decimals: 18,
            scale: 8,
            pair_native: 100_000,
            pair_usdt: 21_500_000,
            drain_native: &[4_000],
            drain_usdt: &[1_800_000, 1_200_000],
            ..base
        },
        Chain::Polygon => Spec {
            wrapped_name: "Wrapped Matic",
            wrapped_symbol: "WMATIC",
            scale: 3_000,
            pair_native: 40_000_000,
            pair_usdt: 20_000_000,
            mixer_denomination: 100_000,
            drain_native: &[3_000_000],
            drain_usdt: &[500_000],
            ..base
        },
        Chain::Arbitrum => Spec {
            pair_native: 5_000,
            pair_usdt: 8_000_000,
            mixer_denomination: 10,
            drain_native: &[300],
            drain_usdt: &[250_000],
            ..base
        },
        Chain::Optimism => Spec {
            pair_native: 3_000,
            pair_usdt: 4_800_000,
            mixer_denomination: 10,
            drain_native: &[200],
            drain_usdt: &[],
            ..base
        },
        _ => base,
    }
}

/// `n` whole units of an asset with `decimals`.
fn units(n: u64, decimals: u8) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(decimals))
}

/// `n` whole native coins (18 decimals on every chain of the world).
fn native(n: u64) -> U256 {
    units(n, 18)
}

fn addr(a: Address) -> Token {
    Token::Address(a)
}

fn uint(v: U256) -> Token {
    Token::Uint(v)
}

fn word(b: [u8; 32]) -> Token {
    Token::Uint(U256::from_be_bytes(b))
}

/// One chain during the build: its node, parameters, contracts and participants.
struct World {
    node: Node,
    spec: Spec,
    faucet: Address,
    deployer: Address,
    relayer: Address,
    usdt: Address,
    wrapped: Address,
    pair: Address,
    router: Address,
    bridge: Address,
    mixer: Address,
    hot: Address,
    customers: Vec<Address>,
    deposits: Vec<Address>,
}

impl World {
    fn chain(&self) -> Chain {
        self.spec.chain
    }

    fn name(&self, role: &str) -> Address {
        named(&format!("{}:{role}", self.chain().name()))
    }

    fn usdt(&self, n: u64) -> U256 {
        units(n, self.spec.usdt_decimals)
    }

    fn coin(&self, eth_equivalent: u64) -> U256 {
        native(eth_equivalent * self.spec.scale)
    }

    fn denomination(&self) -> U256 {
        native(self.spec.mixer_denomination)
    }

    fn token_transfer(
        &self,
        step: &str,
        from: Address,
        to: Address,
        amount: U256,
    ) -> Result<Receipt, ReplayError> {
        self.node.invoke(
            step,
            from,
            self.usdt,
            "transfer(address,uint256)",
            &[addr(to), uint(amount)],
        )
    }

    fn usdt_balance(&self, who: Address) -> Result<U256, ReplayError> {
        self.node.read_uint(self.usdt, "balanceOf(address)", &[addr(who)])
    }

    fn mixer_deposit(&self, step: &str, from: Address, note: &str) -> Result<Receipt, ReplayError> {
        let commitment =
            alloy_primitives::keccak256(format!("{}:commitment:{note}", self.chain().name()).as_bytes());
        let data = chaintrace_testkit::abi::encode_call("deposit(bytes32)", &[word(commitment.0)]);
        self.node
            .send(step, from, Some(self.mixer), self.denomination(), data)
    }

    fn mixer_withdraw(&self, step: &str, to: Address, note: &str, fee: U256) -> Result<Receipt, ReplayError> {
        let nullifier =
            alloy_primitives::keccak256(format!("{}:nullifier:{note}", self.chain().name()).as_bytes());
        let relayer = named("mixer-relayer");
        // Relayed withdrawals are sent by the relayer, self-relayed ones by the recipient.
        let sender = if fee.is_zero() { to } else { relayer };
        self.node.invoke(
            step,
            sender,
            self.mixer,
            "withdraw(address,bytes32,address,uint256)",
            &[addr(to), word(nullifier.0), addr(relayer), uint(fee)],
        )
    }

    fn sell_usdt(
        &self,
        step: &str,
        seller: Address,
        amount: U256,
        to: Address,
    ) -> Result<Receipt, ReplayError> {
        self.node.invoke(
            &format!("{step}: approve"),
            seller,
            self.usdt,
            "approve(address,uint256)",
            &[addr(self.router), uint(amount)],
        )?;
        self.node.invoke(
            step,
            seller,
            self.router,
            "swapExactTokensForETH(uint256,uint256,address[],address,uint256)",
            &[
                uint(amount),
                uint(U256::from(1u8)),
                Token::Addresses(vec![self.usdt, self.wrapped]),
                addr(to),
                uint(U256::MAX),
            ],
        )
    }

    fn buy_usdt(&self, step: &str, buyer: Address, value: U256) -> Result<Receipt, ReplayError> {
        let data = chaintrace_testkit::abi::encode_call(
            "swapExactETHForTokens(uint256,address[],address,uint256)",
            &[
                uint(U256::from(1u8)),
                Token::Addresses(vec![self.wrapped, self.usdt]),
                addr(buyer),
                uint(U256::MAX),
            ],
        );
        self.node.send(step, buyer, Some(self.router), value, data)
    }

    /// Deposits native into the bridge; returns the receipt and the message id.
    fn bridge_out(
        &self,
        step: &str,
        from: Address,
        amount: U256,
        recipient: Address,
        dst: Chain,
    ) -> Result<(Receipt, [u8; 32]), ReplayError> {
        let data = chaintrace_testkit::abi::encode_call(
            "deposit(address,uint256,address,uint256)",
            &[
                addr(Address::ZERO),
                uint(amount),
                addr(recipient),
                uint(U256::from(dst.chain_id())),
            ],
        );
        let receipt = self.node.send(step, from, Some(self.bridge), amount, data)?;
        let topic = event_topic("BridgeDeposit(bytes32,address,address,address,uint256,uint256)");
        let id = receipt
            .logs
            .iter()
            .find(|l| l.address == self.bridge && l.topics.first() == Some(&topic))
            .and_then(|l| l.topics.get(1).copied())
            .ok_or_else(|| ReplayError::Step {
                chain: self.chain(),
                step: step.to_string(),
                what: "no BridgeDeposit log".into(),
            })?;
        Ok((receipt, id))
    }

    /// The relayer pays out a deposit made on `src`.
    fn bridge_in(
        &self,
        step: &str,
        id: [u8; 32],
        recipient: Address,
        amount: U256,
        src: Chain,
    ) -> Result<Receipt, ReplayError> {
        self.node.invoke(
            step,
            self.relayer,
            self.bridge,
            "release(bytes32,address,address,uint256,uint256)",
            &[
                word(id),
                addr(Address::ZERO),
                addr(recipient),
                uint(amount),
                uint(U256::from(src.chain_id())),
            ],
        )
    }
}

/// Amount released for `amount` deposited: a 0.1 % bridge fee.
fn after_bridge_fee(amount: U256) -> U256 {
    amount - amount / U256::from(1000u32)
}

fn setup(node: Node) -> Result<World, ReplayError> {
    let chain = node.chain();
    let spec = spec(chain);
    let accounts = node.accounts()?;
    let [faucet, deployer, relayer, ..] = accounts[..] else {
        return Err(ReplayError::Step {
            chain,
            step: "setup".into(),
            what: format!("expected at least 3 dev accounts, got {}", accounts.len()),
        });
    };
    node.set_time(GENESIS_UNIX + 600)?;
    // Genesis funds: the faucet's balance has no visible origin, as a genesis allocation has none.
    node.rpc()
        .call(
            "anvil_setBalance",
            serde_json::json!([faucet.to_hex(), format!("{:#x}", native(10_000_000_000))]),
        )
        .map_err(ReplayError::node(chain))?;
    let str_ = |s: &str| Token::Str(s.to_string());
    let usdt = node.deploy(
        "deploy USDT",
        deployer,
        ReplayContract::Token.deploy_data(&[
            str_("Tether USD"),
            str_("USDT"),
            uint(U256::from(spec.usdt_decimals)),
            addr(deployer),
        ]),
    )?;
    let wrapped = node.deploy(
        "deploy wrapped native",
        deployer,
        ReplayContract::WrappedNative.deploy_data(&[str_(spec.wrapped_name), str_(spec.wrapped_symbol)]),
    )?;
    let pair = node.deploy(
        "deploy pair",
        deployer,
        ReplayContract::Pair.deploy_data(&[addr(usdt), addr(wrapped)]),
    )?;
    let router = node.deploy(
        "deploy router",
        deployer,
        ReplayContract::Router.deploy_data(&[addr(wrapped)]),
    )?;
    node.invoke(
        "router.addPair",
        deployer,
        router,
        "addPair(address)",
        &[addr(pair)],
    )?;
    let bridge = node.deploy(
        "deploy bridge",
        deployer,
        ReplayContract::Bridge.deploy_data(&[addr(relayer)]),
    )?;
    let mixer = node.deploy(
        "deploy mixer",
        deployer,
        ReplayContract::Mixer.deploy_data(&[uint(native(spec.mixer_denomination))]),
    )?;
    let hot = named(&format!("{}:coinex:hot", chain.name()));
    let customers = (0..CUSTOMERS)
        .map(|k| named(&format!("{}:customer:{k}", chain.name())))
        .collect();
    let deposits = (0..CUSTOMERS)
        .map(|k| named(&format!("{}:coinex:deposit:{k}", chain.name())))
        .collect();
    let w = World {
        node,
        spec,
        faucet,
        deployer,
        relayer,
        usdt,
        wrapped,
        pair,
        router,
        bridge,
        mixer,
        hot,
        customers,
        deposits,
    };

    // The faucet holds the token supply; liquidity, the bridge's float, the exchange and the customers
    // are funded from it.
    w.node.invoke(
        "mint USDT",
        w.deployer,
        w.usdt,
        "mint(address,uint256)",
        &[addr(w.faucet), uint(w.usdt(1_000_000_000))],
    )?;
    let liq = native(w.spec.pair_native);
    w.node.send(
        "wrap liquidity",
        w.faucet,
        Some(w.wrapped),
        liq,
        chaintrace_testkit::abi::encode_call("deposit()", &[]),
    )?;
    w.node.invoke(
        "wrapped to pair",
        w.faucet,
        w.wrapped,
        "transfer(address,uint256)",
        &[addr(w.pair), uint(liq)],
    )?;
    w.token_transfer("USDT to pair", w.faucet, w.pair, w.usdt(w.spec.pair_usdt))?;
    w.node.invoke("pair.sync", w.faucet, w.pair, "sync()", &[])?;
    w.node.pay("bridge float", w.faucet, w.bridge, w.coin(2_000))?;
    let drain_native: u64 = w.spec.drain_native.iter().sum();
    let drain_usdt: u64 = w.spec.drain_usdt.iter().sum();
    w.node.pay(
        "fund hot wallet",
        w.faucet,
        w.hot,
        native(drain_native) + w.coin(300),
    )?;
    w.token_transfer(
        "fund hot wallet USDT",
        w.faucet,
        w.hot,
        w.usdt(drain_usdt + 400_000),
    )?;
    for (k, c) in w.customers.iter().enumerate() {
        let extra = if k == 3 || k == 4 {
            w.denomination()
        } else {
            U256::ZERO
        };
        w.node.pay("fund customer", w.faucet, *c, w.coin(100) + extra)?;
        w.token_transfer("fund customer USDT", w.faucet, *c, w.usdt(50_000))?;
    }
    Ok(w)
}

/// One round of ordinary exchange and DeFi traffic on one chain.
fn background(w: &World, round: u64) -> Result<(), ReplayError> {
    for (k, (c, d)) in w.customers.iter().zip(&w.deposits).enumerate() {
        let k64 = k as u64;
        let value = w.coin(3 + k64 + round);
        w.node.pay("customer deposit", *c, *d, value)?;
        w.node.pay("sweep deposit address", *d, w.hot, value)?;
        if k % 2 == 1 {
            let amount = w.usdt(1_000 * (k64 + 1) + round);
            w.token_transfer("customer deposit USDT", *c, *d, amount)?;
            w.token_transfer("sweep deposit address USDT", *d, w.hot, amount)?;
        }
        if k % 2 == 0 {
            w.node.pay("exchange withdrawal", w.hot, *c, w.coin(2))?;
        }
    }
    w.buy_usdt("customer buys USDT", w.customers[0], w.coin(1))?;
    w.sell_usdt(
        "customer sells USDT",
        w.customers[1],
        w.usdt(2_000 + round),
        w.customers[1],
    )?;
    match round {
        0 => {
            w.mixer_deposit("customer mixer deposit", w.customers[3], "c3")?;
            w.mixer_deposit("customer mixer deposit", w.customers[4], "c4")?;
        }
        1 => {
            let fresh = w.name("mixer-user:3:fresh");
            let fee = w.denomination() / U256::from(200u32);
            w.mixer_withdraw("relayed mixer withdrawal", fresh, "c3", fee)?;
            w.mixer_withdraw("self-relayed mixer withdrawal", w.customers[4], "c4", U256::ZERO)?;
        }
        _ => {}
    }
    Ok(())
}

/// Background bridge traffic between the ETH chains: customers bridging to their own address.
fn background_bridging(worlds: &[World], at: u64) -> Result<(), ReplayError> {
    let routes = [
        (Chain::Ethereum, Chain::Arbitrum, 3),
        (Chain::Arbitrum, Chain::Optimism, 2),
        (Chain::Optimism, Chain::Ethereum, 1),
    ];
    // An hour apart: every node's clock is past the previous route's release when the next one starts.
    for ((src, dst, eth), t) in routes.into_iter().zip((at..).step_by(3600)) {
        let (s, d) = (world(worlds, src)?, world(worlds, dst)?);
        s.node.set_time(t)?;
        let user = s.customers[2];
        let (_, id) = s.bridge_out("customer bridges", user, native(eth), user, dst)?;
        d.node.set_time(t + 240)?;
        d.bridge_in("relayer releases", id, user, after_bridge_fee(native(eth)), src)?;
    }
    Ok(())
}

fn world(worlds: &[World], chain: Chain) -> Result<&World, ReplayError> {
    worlds
        .iter()
        .find(|w| w.chain() == chain)
        .ok_or_else(|| ReplayError::Step {
            chain,
            step: "lookup".into(),
            what: "chain not in the world".into(),
        })
}

/// Builds the whole world on five fresh nodes (one per chain of [`CHAINS`], in any order) and returns
/// the ground truth.
pub fn build(nodes: Vec<Node>) -> Result<GroundTruth, ReplayError> {
    let mut worlds = Vec::new();
    for node in nodes {
        worlds.push(setup(node)?);
    }
    for chain in CHAINS {
        world(&worlds, chain)?;
    }

    for w in &worlds {
        w.node.set_time(GENESIS_UNIX + 86_400)?;
        background(w, 0)?;
    }
    background_bridging(&worlds, GENESIS_UNIX + 2 * 86_400)?;

    // The earlier incident (June 2023): wallet users on Ethereum and Optimism drained to X's addresses.
    let x1 = named("actor-x:1");
    let x2 = named("actor-x:2");
    let eth = world(&worlds, Chain::Ethereum)?;
    let op = world(&worlds, Chain::Optimism)?;
    eth.node.set_time(GENESIS_UNIX + 3 * 86_400)?;
    op.node.set_time(GENESIS_UNIX + 3 * 86_400)?;
    let eth_users: Vec<Address> = (0..4).map(|k| eth.name(&format!("wallet-user:{k}"))).collect();
    let op_users: Vec<Address> = (0..2).map(|k| op.name(&format!("wallet-user:{k}"))).collect();
    for u in &eth_users {
        eth.node.pay("fund wallet user", eth.faucet, *u, native(60))?;
    }
    for u in &op_users {
        op.node.pay("fund wallet user", op.faucet, *u, native(40))?;
    }
    eth.node.set_time(EARLIER_UNIX)?;
    op.node.set_time(EARLIER_UNIX + 1800)?;
    let mut earlier_tx = None;
    for u in &eth_users {
        let r = eth.node.pay("earlier drain", *u, x1, native(55))?;
        earlier_tx.get_or_insert(r.tx_hash);
    }
    for u in &op_users {
        op.node.pay("earlier drain", *u, x2, native(35))?;
    }
    eth.node.set_time(EARLIER_UNIX + 3 * 3600)?;
    eth.mixer_deposit("earlier incident mixer deposit", x1, "x1-june")?;
    let earlier_tx = earlier_tx.expect("four wallet users were drained");

    for w in &worlds {
        w.node.set_time(MID_UNIX)?;
        background(w, 1)?;
    }

    // The new incident: every hot wallet drained to a fresh address; on Polygon to X's June address.
    let mut chains = Vec::new();
    for w in &worlds {
        w.node.set_time(HACK_UNIX)?;
        let exploiter = if w.chain() == Chain::Polygon {
            x1
        } else {
            named(&format!("coinex-hack:{}", w.chain().name()))
        };
        let mut drained = Vec::new();
        let mut txs = Vec::new();
        for n in w.spec.drain_native {
            txs.push(w.node.pay("drain native", w.hot, exploiter, native(*n))?.tx_hash);
        }
        drained.push(Drained {
            asset: "native".into(),
            amount: native(w.spec.drain_native.iter().sum()).to_string(),
            txs,
        });
        if !w.spec.drain_usdt.is_empty() {
            let mut txs = Vec::new();
            for n in w.spec.drain_usdt {
                txs.push(
                    w.token_transfer("drain USDT", w.hot, exploiter, w.usdt(*n))?
                        .tx_hash,
                );
            }
            drained.push(Drained {
                asset: w.usdt.to_hex(),
                amount: w.usdt(w.spec.drain_usdt.iter().sum()).to_string(),
                txs,
            });
        }
        chains.push(ChainTruth {
            chain: w.chain(),
            chain_id: w.chain().chain_id(),
            head: 0,
            contracts: Contracts {
                usdt: w.usdt,
                usdt_decimals: w.spec.usdt_decimals,
                wrapped: w.wrapped,
                wrapped_symbol: w.spec.wrapped_symbol.to_string(),
                pair: w.pair,
                router: w.router,
                bridge: w.bridge,
                mixer: w.mixer,
                mixer_denomination: w.denomination().to_string(),
            },
            hot_wallet: w.hot,
            exploiter,
            drained,
            faucet: w.faucet,
        });
    }
    let exploiter_of = |chain: Chain| {
        chains
            .iter()
            .find(|c| c.chain == chain)
            .map(|c| c.exploiter)
            .expect("every chain was drained above")
    };

    // Laundering on Ethereum: swap the USDT for ETH, paid to a fresh address that deposits at the exchange.
    let mut reached = Vec::new();
    let e_eth = exploiter_of(Chain::Ethereum);
    eth.node.set_time(LAUNDER_UNIX)?;
    let swap_out = named("coinex-hack:swap-out");
    let usdt_in = eth.usdt_balance(e_eth)?;
    let swap_receipt = eth.sell_usdt("exploiter swaps USDT for ETH", e_eth, usdt_in, swap_out)?;
    let swapped = eth.node.balance(swap_out)?;
    let swap = SwapTruth {
        chain: Chain::Ethereum,
        tx_hash: swap_receipt.tx_hash,
        owner: e_eth,
        recipient: swap_out,
        token_in: eth.usdt,
        amount_in: usdt_in.to_string(),
        amount_out: swapped.to_string(),
    };
    let d_swap = eth.name("coinex:deposit:hacker:0");
    let paid = native(1_000);
    let r = eth
        .node
        .pay("swap proceeds to exchange", swap_out, d_swap, paid)?;
    reached.push(ReachedDeposit {
        chain: Chain::Ethereum,
        address: d_swap,
        route: Route::Swap,
        payment_tx: r.tx_hash,
        asset: "native".into(),
        amount: paid.to_string(),
        via: vec![ChainTx {
            chain: Chain::Ethereum,
            tx_hash: swap.tx_hash,
        }],
    });

    // Bridge hop Ethereum -> Arbitrum to a fresh address, released by the relayer, then an exchange deposit.
    let arb = world(&worlds, Chain::Arbitrum)?;
    let bridge_out = named("coinex-hack:bridge-out");
    let bridged = native(800);
    let (dep, id) = eth.bridge_out(
        "exploiter bridges to Arbitrum",
        e_eth,
        bridged,
        bridge_out,
        Chain::Arbitrum,
    )?;
    arb.node.set_time(LAUNDER_UNIX + 600)?;
    let released = after_bridge_fee(bridged);
    let rel = arb.bridge_in(
        "relayer releases the exploiter's deposit",
        id,
        bridge_out,
        released,
        Chain::Ethereum,
    )?;
    let bridge_hop = BridgeHopTruth {
        from_chain: Chain::Ethereum,
        to_chain: Chain::Arbitrum,
        deposit_tx: dep.tx_hash,
        release_tx: rel.tx_hash,
        id: format!("0x{}", alloy_primitives::hex::encode(id)),
        depositor: e_eth,
        recipient: bridge_out,
        amount: bridged.to_string(),
        released: released.to_string(),
    };
    let d_bridge = arb.name("coinex:deposit:hacker:0");
    let paid = native(750);
    let r = arb
        .node
        .pay("bridged funds to exchange", bridge_out, d_bridge, paid)?;
    reached.push(ReachedDeposit {
        chain: Chain::Arbitrum,
        address: d_bridge,
        route: Route::Bridge,
        payment_tx: r.tx_hash,
        asset: "native".into(),
        amount: paid.to_string(),
        via: vec![
            ChainTx {
                chain: Chain::Ethereum,
                tx_hash: dep.tx_hash,
            },
            ChainTx {
                chain: Chain::Arbitrum,
                tx_hash: rel.tx_hash,
            },
        ],
    });

    // Peel chain on Ethereum: small peels to one exchange deposit address and to the decoy, the rest
    // into the mixer.
    let peels: Vec<Address> = (0..3).map(|i| named(&format!("coinex-hack:peel:{i}"))).collect();
    let d_peel = eth.name("coinex:deposit:hacker:1");
    let decoy_address = named("actor-y:otc");
    eth.node
        .pay("exploiter starts the peel chain", e_eth, peels[0], native(400))?;
    let mut peel_payment = |from: Address, amount: u64| -> Result<(), ReplayError> {
        let r = eth.node.pay("peel to exchange", from, d_peel, native(amount))?;
        reached.push(ReachedDeposit {
            chain: Chain::Ethereum,
            address: d_peel,
            route: Route::Peel,
            payment_tx: r.tx_hash,
            asset: "native".into(),
            amount: native(amount).to_string(),
            via: Vec::new(),
        });
        Ok(())
    };
    peel_payment(peels[0], 20)?;
    eth.node.pay("peel chain hop", peels[0], peels[1], native(380))?;
    peel_payment(peels[1], 15)?;
    let decoy_tx = eth
        .node
        .pay("peel to the decoy", peels[1], decoy_address, native(5))?
        .tx_hash;
    eth.node.pay("peel chain hop", peels[1], peels[2], native(360))?;
    let mut mixer_deposits = Vec::new();
    for i in 0..3 {
        let r = eth.mixer_deposit(
            "peel chain end into the mixer",
            peels[2],
            &format!("hack-eth-{i}"),
        )?;
        mixer_deposits.push(MixerDepositTruth {
            chain: Chain::Ethereum,
            pool: eth.mixer,
            tx_hash: r.tx_hash,
            depositor: peels[2],
            amount: eth.denomination().to_string(),
        });
    }

    // BNB Chain: straight to an exchange deposit address, token and coin.
    let bsc = world(&worlds, Chain::Bsc)?;
    bsc.node.set_time(LAUNDER_UNIX)?;
    let e_bsc = exploiter_of(Chain::Bsc);
    let d_bsc = bsc.name("coinex:deposit:hacker:0");
    let amount = bsc.usdt(1_000_000);
    let r = bsc.token_transfer("exploiter deposits USDT", e_bsc, d_bsc, amount)?;
    reached.push(ReachedDeposit {
        chain: Chain::Bsc,
        address: d_bsc,
        route: Route::Direct,
        payment_tx: r.tx_hash,
        asset: bsc.usdt.to_hex(),
        amount: amount.to_string(),
        via: Vec::new(),
    });
    let amount = native(1_500);
    let r = bsc.node.pay("exploiter deposits BNB", e_bsc, d_bsc, amount)?;
    reached.push(ReachedDeposit {
        chain: Chain::Bsc,
        address: d_bsc,
        route: Route::Direct,
        payment_tx: r.tx_hash,
        asset: "native".into(),
        amount: amount.to_string(),
        via: Vec::new(),
    });

    // Polygon: the reused address mixes part of the MATIC and deposits more at the exchange.
    let poly = world(&worlds, Chain::Polygon)?;
    poly.node.set_time(LAUNDER_UNIX)?;
    for i in 0..2 {
        let r = poly.mixer_deposit("reused address into the mixer", x1, &format!("hack-polygon-{i}"))?;
        mixer_deposits.push(MixerDepositTruth {
            chain: Chain::Polygon,
            pool: poly.mixer,
            tx_hash: r.tx_hash,
            depositor: x1,
            amount: poly.denomination().to_string(),
        });
    }
    let d_poly = poly.name("coinex:deposit:hacker:0");
    let amount = native(400_000);
    let r = poly
        .node
        .pay("reused address deposits MATIC", x1, d_poly, amount)?;
    reached.push(ReachedDeposit {
        chain: Chain::Polygon,
        address: d_poly,
        route: Route::Direct,
        payment_tx: r.tx_hash,
        asset: "native".into(),
        amount: amount.to_string(),
        via: Vec::new(),
    });

    // The exchange froze the accounts the laundering paid into (their deposit addresses are never swept)
    // and carried on for ordinary customers the next day.
    for w in &worlds {
        w.node.set_time(AFTER_UNIX)?;
        background(w, 2)?;
    }

    for c in chains.iter_mut() {
        c.head = world(&worlds, c.chain)?.node.head()?;
    }
    Ok(GroundTruth {
        schema_version: TRUTH_SCHEMA_VERSION,
        incident_name: "CoinEx-style hot wallet drain (replay)".into(),
        started: STARTED.into(),
        started_unix: STARTED_UNIX,
        actor: ACTOR.into(),
        chains,
        reused_address: ReusedAddress {
            address: x1,
            new_chain: Chain::Polygon,
            earlier_chain: Chain::Ethereum,
            earlier_tx,
        },
        earlier_addresses: vec![
            ChainAddress {
                chain: Chain::Ethereum,
                address: x1,
            },
            ChainAddress {
                chain: Chain::Optimism,
                address: x2,
            },
        ],
        reached_deposits: reached,
        swap,
        bridge_hop,
        mixer_deposits,
        peel_chain: peels
            .iter()
            .map(|a| ChainAddress {
                chain: Chain::Ethereum,
                address: *a,
            })
            .collect(),
        decoy: Decoy {
            chain: Chain::Ethereum,
            address: decoy_address,
            actor: DECOY_ACTOR.into(),
            tx_hash: decoy_tx,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_addresses_are_deterministic_and_distinct() {
        assert_eq!(named("actor-x:1"), named("actor-x:1"));
        assert_ne!(named("actor-x:1"), named("actor-x:2"));
        assert_ne!(named("actor-x:1"), Address::ZERO);
    }

    #[test]
    fn every_chain_drains_native_and_the_timeline_is_ordered() {
        for c in CHAINS {
            let s = spec(c);
            assert_eq!(s.chain, c);
            assert!(!s.drain_native.is_empty(), "{c}");
        }
        let times = [
            GENESIS_UNIX,
            EARLIER_UNIX,
            MID_UNIX,
            STARTED_UNIX,
            HACK_UNIX,
            LAUNDER_UNIX,
            AFTER_UNIX,
        ];
        assert!(times.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_bridge_fee_is_a_tenth_of_a_percent() {
        assert_eq!(after_bridge_fee(native(800)), native(7992) / U256::from(10u8));
    }
}

//! Tracing through conversions: token A -> swap -> token B -> bridge -> chain B -> exchange deposit.
//! Logs are built in the exact on-chain encoding and decoded by chaintrace-defi, as from the store.

use std::collections::HashMap;

use chaintrace_core::{Address, Asset, Chain, Position, RawLog, Transfer, TransferKind, TxHash, U256};
use chaintrace_defi::KnownEvent;
use chaintrace_graph::{Graph, StoreStamp};
use proptest::prelude::*;

use super::*;
use crate::conversions::{ConversionConfig, ConversionSet, build_conversions};

fn a(i: u8) -> Address {
    Address([i; 20])
}
const S: u8 = 0x51; // start (thief)
const C: u8 = 0x0c; // clean funder
const X: u8 = 0x58; // thief's second address, swaps and bridges
const P: u8 = 0x50; // V2 pair
const BR: u8 = 0xb1; // bridge deposit contract (ethereum)
const BR2: u8 = 0xb2; // bridge release contract (arbitrum)
const E: u8 = 0xee; // exchange deposit address (arbitrum)
const TOKEN_A: u8 = 0xa1;
const TOKEN_B: u8 = 0xa2;
const TOKEN_B2: u8 = 0xa3; // B on arbitrum

fn word_addr(x: Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(&x.0);
    w
}
fn word_u(x: u64) -> [u8; 32] {
    U256::from(x).to_be_bytes::<32>()
}

#[allow(clippy::too_many_arguments)] // a row of the scenario table, read positionally
fn xfer(chain: Chain, block: u64, tx: u8, pos: u32, from: u8, to: u8, token: u8, amount: u64) -> Transfer {
    Transfer {
        chain,
        block,
        timestamp: 1_700_000_000 + block * 12,
        tx_hash: TxHash([tx; 32]),
        position: Position::Log(pos),
        from: a(from),
        to: a(to),
        asset: Asset::Token(a(token)),
        amount: U256::from(amount),
        kind: TransferKind::Token,
        tx_from: a(from),
        tx_fee: U256::ZERO,
        gas_price: U256::ZERO,
    }
}

#[allow(clippy::too_many_arguments)] // one on-chain log, field by field
fn log(
    chain: Chain,
    block: u64,
    tx: u8,
    index: u32,
    emitter: u8,
    topics: Vec<[u8; 32]>,
    data: Vec<[u8; 32]>,
    from: u8,
) -> RawLog {
    RawLog {
        chain,
        block,
        timestamp: 1_700_000_000 + block * 12,
        tx_hash: TxHash([tx; 32]),
        log_index: index,
        address: a(emitter),
        topics,
        data: data.concat(),
        tx_from: a(from),
    }
}

/// The world. `stolen`: what S sends X; `clean`: what C sends X before; `swap_in -> swap_out` of the swap;
/// `deposit` bridged, `released` paid on arbitrum (fee = deposit - released); `second_release`: a
/// look-alike release of the same amount to the same recipient (makes the match ambiguous without ids).
pub(super) struct World {
    pub(super) transfers: Vec<Transfer>,
    pub(super) logs: Vec<RawLog>,
}

#[allow(clippy::too_many_arguments)] // the scenario's knobs
pub(super) fn world(
    stolen: u64,
    clean: u64,
    swap_in: u64,
    swap_out: u64,
    deposit: u64,
    released: u64,
    with_ids: bool,
    second_release: bool,
) -> World {
    let eth = Chain::Ethereum;
    let arb = Chain::Arbitrum;
    let mut t = vec![
        xfer(eth, 1, 0x01, 0, C, X, TOKEN_A, clean),
        xfer(eth, 2, 0x02, 0, S, X, TOKEN_A, stolen),
        // block 3, tx 0x03: X swaps A for B through pair P (A in first, then B out, then the Swap log).
        xfer(eth, 3, 0x03, 0, X, P, TOKEN_A, swap_in),
        xfer(eth, 3, 0x03, 1, P, X, TOKEN_B, swap_out),
        // block 4, tx 0x04: X deposits B into the bridge.
        xfer(eth, 4, 0x04, 0, X, BR, TOKEN_B, deposit),
        // arbitrum block 100, tx 0x10: the bridge pays X on arbitrum; block 101: X -> exchange deposit.
        xfer(arb, 100, 0x10, 0, BR2, X, TOKEN_B2, released),
        xfer(arb, 101, 0x11, 0, X, E, TOKEN_B2, released),
    ];
    // Pool liquidity so the pair has history (clean).
    t.push(xfer(eth, 1, 0x05, 0, C, P, TOKEN_B, swap_out * 3));
    let swap = log(
        eth,
        3,
        0x03,
        2,
        P,
        vec![
            KnownEvent::UniswapV2Swap.topic(),
            word_addr(a(X)),
            word_addr(a(X)),
        ],
        // token0 = A in, token1 = B out
        vec![word_u(swap_in), word_u(0), word_u(0), word_u(swap_out)],
        X,
    );
    let id = |n: u8| if with_ids { [n; 32] } else { [0u8; 32] };
    let dep = log(
        eth,
        4,
        0x04,
        1,
        BR,
        vec![
            KnownEvent::BridgeDeposit.topic(),
            id(0x77),
            word_addr(a(TOKEN_B)),
            word_addr(a(X)),
        ],
        vec![
            word_addr(a(X)),
            word_u(deposit),
            word_u(Chain::Arbitrum.chain_id()),
        ],
        X,
    );
    let rel = log(
        arb,
        100,
        0x10,
        1,
        BR2,
        vec![
            KnownEvent::BridgeRelease.topic(),
            id(0x77),
            word_addr(a(TOKEN_B2)),
            word_addr(a(X)),
        ],
        vec![word_u(released), word_u(Chain::Ethereum.chain_id())],
        BR2,
    );
    let mut logs = vec![swap, dep, rel];
    if second_release {
        t.push(xfer(arb, 102, 0x12, 0, BR2, X, TOKEN_B2, released));
        logs.push(log(
            arb,
            102,
            0x12,
            1,
            BR2,
            vec![
                KnownEvent::BridgeRelease.topic(),
                id(0x78),
                word_addr(a(TOKEN_B2)),
                word_addr(a(X)),
            ],
            vec![word_u(released), word_u(Chain::Ethereum.chain_id())],
            BR2,
        ));
    }
    World { transfers: t, logs }
}

pub(super) fn config() -> ConversionConfig {
    let mut cfg = ConversionConfig::default();
    let csv = format!(
        "chain,address,bridge,role\nethereum,{},testbridge,deposit\narbitrum,{},testbridge,release\n",
        a(BR).to_hex(),
        a(BR2).to_hex()
    );
    cfg.bridges
        .extend_from_csv(&csv, "test")
        .expect("valid registry csv");
    cfg
}

fn build(w: &World) -> (Graph, ConversionSet) {
    let g = Graph::from_transfers(w.transfers.iter().cloned(), StoreStamp::default()).expect("graph");
    (g, build_conversions(&w.logs, &w.transfers, &config()))
}

fn exchange_oracle() -> HashMap<(Chain, Address), ExitInfo> {
    let mut m = HashMap::new();
    m.insert(
        (Chain::Arbitrum, a(E)),
        ExitInfo {
            category: ExitCategory::Exchange,
            name: "Exchange deposit".into(),
        },
    );
    m
}

fn trace_s(g: &Graph, set: &ConversionSet, model: Model, follow: bool) -> TraceResult {
    let mut req = TraceRequest::new(vec![(Chain::Ethereum, a(S))]);
    req.model = model;
    trace_with_conversions(
        g,
        &req,
        &exchange_oracle(),
        &set.edges,
        ConversionOptions {
            follow_candidates: follow,
        },
    )
    .expect("trace")
}

fn check_conservation(r: &TraceResult) -> Result<(), String> {
    for s in &r.summary {
        let lhs = s.emitted + s.converted_in;
        let rhs = s.holding + s.exits + s.dropped + s.returned + s.converted_out;
        if lhs != rhs {
            return Err(format!("{:?} {:?}: {lhs} != {rhs} ({s:?})", s.chain, s.asset));
        }
    }
    Ok(())
}

#[test]
fn haircut_follows_token_a_through_a_swap_and_a_bridge_to_an_exchange_on_another_chain() {
    let w = world(100, 100, 200, 50, 50, 49, true, false);
    let (g, set) = build(&w);
    assert_eq!(set.stats.swaps, 1, "{:?}", set.stats);
    assert_eq!(set.stats.bridge_matched, 1, "{:?}", set.stats);
    let r = trace_s(&g, &set, Model::Haircut, false);
    // X holds 100 clean + 100 tainted A and swaps 200 A: 100 tainted A -> floor(100 * 50 / 200) = 25 B.
    // X bridges all 50 B (25 tainted) -> floor(25 * 49 / 50) = 24 tainted of the 49 released.
    assert_eq!(r.exits.len(), 1, "{:#?}", r.exits);
    let x = &r.exits[0];
    assert_eq!(
        (x.chain, x.address, x.amount),
        (Chain::Arbitrum, a(E), U256::from(24))
    );
    let kinds: Vec<&str> = x
        .steps()
        .iter()
        .map(|s| match s {
            TraceStep::Transfer { .. } => "transfer",
            TraceStep::Conversion(c) => c.step_kind(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "transfer", "transfer", "swap", "transfer", "transfer", "bridge", "transfer", "transfer"
        ]
    );
    // Each transfer step carries its own chain and asset (stored once per stretch between conversions).
    let on: Vec<(Chain, Asset)> = x
        .steps()
        .iter()
        .filter_map(|s| match s {
            TraceStep::Transfer { chain, asset, .. } => Some((*chain, *asset)),
            TraceStep::Conversion(_) => None,
        })
        .collect();
    let (ta, tb, tb2) = (
        (Chain::Ethereum, Asset::Token(a(TOKEN_A))),
        (Chain::Ethereum, Asset::Token(a(TOKEN_B))),
        (Chain::Arbitrum, Asset::Token(a(TOKEN_B2))),
    );
    assert_eq!(on, [ta, ta, tb, tb, tb2, tb2]);
    assert_eq!(x.segments.len(), 3, "{:#?}", x.segments);
    let txs: Vec<u8> = x.path.iter().map(|p| p.tx_hash.0[0]).collect();
    assert_eq!(
        txs,
        [0x02, 0x03, 0x03, 0x04, 0x10, 0x11],
        "path keeps only transfers"
    );
    assert_eq!(x.hops, 6);
    // The pair and the bridge are not destinations; X on both chains is.
    let reached: Vec<(Chain, u8)> = r.destinations.iter().map(|d| (d.chain, d.address.0[0])).collect();
    assert!(
        !reached.iter().any(|(_, b)| *b == P || *b == BR || *b == BR2),
        "{reached:?}"
    );
    assert!(reached.contains(&(Chain::Arbitrum, X)));
    let uses: Vec<(U256, U256)> = r.conversions.iter().map(|u| (u.taint_in, u.taint_out)).collect();
    assert_eq!(
        uses,
        [
            (U256::from(100), U256::from(25)),
            (U256::from(25), U256::from(24))
        ]
    );
    check_conservation(&r).expect("haircut conserves per asset");
}

#[test]
fn fifo_and_poison_cross_the_same_conversions() {
    let w = world(100, 100, 200, 50, 50, 49, true, false);
    let (g, set) = build(&w);
    // FIFO: the clean 100 A arrived first, so the 200 A swap carries 100 tainted A as well -> same 25 B;
    // the deposit takes the tainted lot first: 25 tainted B -> 24.
    let f = trace_s(&g, &set, Model::Fifo, false);
    assert_eq!(f.exits.first().map(|x| x.amount), Some(U256::from(24)));
    check_conservation(&f).expect("fifo conserves per asset");
    // Poison: amounts moved.
    let p = trace_s(&g, &set, Model::Poison, false);
    assert_eq!(p.exits.first().map(|x| x.amount), Some(U256::from(49)));
}

#[test]
fn without_conversions_the_trace_stops_in_the_pool_as_before() {
    let w = world(100, 100, 200, 50, 50, 49, true, false);
    let (g, _) = build(&w);
    let mut req = TraceRequest::new(vec![(Chain::Ethereum, a(S))]);
    req.model = Model::Haircut;
    let r = trace(&g, &req, &exchange_oracle()).expect("trace");
    assert!(r.exits.is_empty());
    assert!(r.destinations.iter().any(|d| d.address == a(P)));
    assert!(r.conversions.is_empty());
    assert!(
        r.destinations
            .iter()
            .all(|d| d.segments.is_empty() && d.steps().len() == d.path.len())
    );
}

#[test]
fn ambiguous_bridge_matches_are_candidates_followed_only_on_request() {
    let w = world(100, 100, 200, 50, 50, 49, false, true);
    let (g, set) = build(&w);
    assert_eq!(set.stats.bridge_ambiguous, 1, "{:?}", set.stats);
    let cands: Vec<_> = set.edges.iter().filter(|e| e.is_candidate).collect();
    assert_eq!(cands.len(), 2, "both releases are candidates");
    // Not followed: the deposit is an ordinary transfer into the bridge; nothing reaches arbitrum.
    let r = trace_s(&g, &set, Model::Haircut, false);
    assert!(r.destinations.iter().all(|d| d.chain == Chain::Ethereum));
    assert!(r.destinations.iter().any(|d| d.address == a(BR)));
    check_conservation(&r).expect("conserves");
    // Followed: 25 tainted B split between the two candidates, nothing counted twice.
    let r = trace_s(&g, &set, Model::Haircut, true);
    let split: U256 = r
        .conversions
        .iter()
        .filter(|u| u.edge.is_candidate)
        .fold(U256::ZERO, |s, u| s + u.taint_in);
    assert_eq!(split, U256::from(25));
    assert!(
        r.destinations
            .iter()
            .any(|d| d.chain == Chain::Arbitrum && d.address == a(X))
    );
    check_conservation(&r).expect("conserves with candidates");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn conversions_conserve_taint_per_asset_and_never_create_value(
        stolen in 1u64..1_000_000,
        clean in 0u64..1_000_000,
        swap_frac in 1u64..=100,
        swap_out in 1u64..1_000_000,
        dep_frac in 1u64..=100,
        fee_bps in 0u64..=100,
    ) {
        let swap_in = ((stolen + clean) * swap_frac / 100).max(1);
        let deposit = (swap_out * dep_frac / 100).max(1);
        let released = (deposit - deposit * fee_bps / 10_000).max(1);
        let w = world(stolen, clean, swap_in, swap_out, deposit, released, true, false);
        let (g, set) = build(&w);
        for model in [Model::Haircut, Model::Fifo] {
            let r = trace_s(&g, &set, model, false);
            check_conservation(&r).map_err(TestCaseError::fail)?;
            for u in &r.conversions {
                // never more than the tainted share of what the conversion paid out
                prop_assert!(u.taint_in <= u.edge.amount_in.max(u.taint_in));
                prop_assert!(u.taint_out * u.edge.amount_in <= u.taint_in.min(u.edge.amount_in) * u.edge.amount_out);
                prop_assert!(u.taint_out <= u.edge.amount_out);
            }
            let exit: U256 = r.exits.iter().fold(U256::ZERO, |s, x| s + x.amount);
            prop_assert!(exit <= U256::from(released));
        }
    }
}

#[test]
fn segments_store_only_what_the_path_cannot_say() {
    let (eth, arb) = (Chain::Ethereum, Chain::Arbitrum);
    let (ta, tb) = (Asset::Token(a(TOKEN_A)), Asset::Token(a(TOKEN_B)));
    // All transfers of the destination's own chain and asset: nothing stored.
    let mut b = SegmentBuilder::default();
    b.transfer(eth, ta);
    b.transfer(eth, ta);
    assert!(b.finish(eth, ta).is_empty());
    // Another asset without a conversion (never produced by the engines, but representable).
    let mut b = SegmentBuilder::default();
    b.transfer(eth, ta);
    b.transfer(arb, tb);
    let segs = b.finish(arb, tb);
    assert_eq!(
        segs.iter()
            .map(|s| (s.transfers, s.chain, s.asset, s.conversion.is_some()))
            .collect::<Vec<_>>(),
        [(1, eth, ta, false), (1, arb, tb, false)]
    );
    // A conversion before any transfer: a stretch of no transfers carries it.
    let w = world(100, 100, 200, 50, 50, 49, true, false);
    let (_, set) = build(&w);
    let edge = set.edges.first().expect("the scenario has conversions").clone();
    let mut b = SegmentBuilder::default();
    b.conversion(&edge);
    b.transfer(edge.to_chain, edge.asset_out);
    let segs = b.finish(edge.to_chain, edge.asset_out);
    assert_eq!(segs.len(), 2, "{segs:#?}");
    assert_eq!(
        (segs[0].transfers, segs[0].chain, segs[0].asset),
        (0, edge.from_chain, edge.asset_in)
    );
    let path = vec![PathStep {
        tx_hash: TxHash([7; 32]),
        from: a(1),
        to: a(2),
        amount: U256::from(5),
        block: 1,
        time: 2,
        seq: 3,
    }];
    let steps = path_steps(&path, &segs, edge.to_chain, edge.asset_out);
    assert!(matches!(&steps[0], TraceStep::Conversion(c) if **c == edge));
    assert!(
        matches!(&steps[1], TraceStep::Transfer { chain, asset, step } if (*chain, *asset) == (edge.to_chain, edge.asset_out) && *step == path[0])
    );
    assert_eq!(steps.len(), 2);
}

/// A [`ConversionSource`] over a slice, recording which owners a trace asked for.
struct OwnerSource<'a> {
    edges: &'a [ConversionEdge],
    asked: std::sync::Mutex<Vec<(Chain, Address)>>,
}

impl<'a> OwnerSource<'a> {
    fn new(edges: &'a [ConversionEdge]) -> Self {
        OwnerSource {
            edges,
            asked: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl ConversionSource for OwnerSource<'_> {
    fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }
    fn owned_by(&self, chain: Chain, owner: Address) -> Vec<(u32, ConversionEdge)> {
        self.asked.lock().expect("lock").push((chain, owner));
        (self.edges.iter().enumerate())
            .filter(|(_, c)| (c.from_chain, c.owner) == (chain, owner))
            .map(|(i, c)| (i as u32, c.clone()))
            .collect()
    }
}

/// Runs `f` with every conversion placed up front (the reference for the lazy placement).
fn eager_placement<T>(f: impl FnOnce() -> T) -> T {
    EAGER_PLACEMENT.with(|c| c.set(true));
    let out = f();
    EAGER_PLACEMENT.with(|c| c.set(false));
    out
}

/// A 3,000-transfer simulated world (seed 7), its graph, and its DEX swaps and wraps decoded from the sim's
/// logs, as the CLI builds them.
fn sim_world_with_conversions() -> (chaintrace_sim::MemoryWriter, Graph, ConversionSet) {
    let (mem, _) =
        chaintrace_sim::generate_in_memory(&chaintrace_sim::WorldConfig::new(7, 3_000)).expect("sim");
    let g = Graph::from_transfers(mem.transfers.iter().cloned(), StoreStamp::default()).expect("graph");
    let set = build_conversions(&mem.logs, &mem.transfers, &ConversionConfig::default());
    (mem, g, set)
}

#[test]
fn placing_conversions_when_their_owner_is_tainted_gives_what_placing_all_gives() {
    let (mem, g, set) = sim_world_with_conversions();
    assert!(set.edges.len() > 20, "the world has conversions: {:?}", set.stats);
    // Starts: owners of early conversions (their funds go through swaps), and a few plain addresses.
    let mut starts: Vec<(Chain, Address)> = set.edges.iter().map(|c| (c.from_chain, c.owner)).collect();
    starts.dedup();
    starts.truncate(4);
    starts.extend(
        mem.transfers
            .iter()
            .step_by(997)
            .take(1)
            .map(|t| (t.chain, t.from)),
    );
    let mut used = 0;
    for (i, &start) in starts.iter().enumerate() {
        let model = [Model::Poison, Model::Haircut, Model::Fifo][i % 3];
        let mut req = TraceRequest::new(vec![start]);
        req.model = model;
        req.max_hops = 2;
        for follow in [false, true] {
            let opts = ConversionOptions {
                follow_candidates: follow,
            };
            let lazy = trace_with_conversions(&g, &req, &NoExits, &set.edges, opts).expect("trace");
            let all = eager_placement(|| trace_with_conversions(&g, &req, &NoExits, &set.edges, opts))
                .expect("trace");
            used += lazy.conversions.len();
            assert_eq!(lazy, all, "start {start:?} {model} follow {follow}");
            // The same edges fetched by owner (as from the CLI's cache file) give the same result.
            let src = OwnerSource::new(&set.edges);
            let by_owner =
                trace_from(&g, &req, &NoExits, Conversions::ByOwner(&src), opts, None).expect("trace");
            assert_eq!(
                by_owner, lazy,
                "by owner: start {start:?} {model} follow {follow}"
            );
            let asked = src.asked.lock().expect("lock").clone();
            let mut once = asked.clone();
            once.sort_unstable();
            once.dedup();
            assert_eq!(once.len(), asked.len(), "each owner is asked once: {asked:?}");
            if !lazy.conversions.is_empty() {
                assert!(asked.len() < set.edges.len(), "only met owners asked");
            }
        }
    }
    assert!(used > 0, "some traces went through conversions");
}

#[test]
fn runs_that_feed_each_other_stop_when_nothing_changes() {
    // Swaps both ways between the same assets make runs feed each other. Repeating a run with the same outcome
    // gives its handoffs the same path ids, so the loop stops; before, new ids made every repeat look like a
    // change and the runs fed each other until the run limit (4,096 runs, minutes even on this small world).
    let (_, g, set) = sim_world_with_conversions();
    let mut starts: Vec<(Chain, Address)> = set.edges.iter().map(|c| (c.from_chain, c.owner)).collect();
    starts.dedup();
    let mut most = 0;
    let mut through = 0;
    for &start in starts.iter().take(4) {
        let mut req = TraceRequest::new(vec![start]);
        req.max_hops = 6;
        let r = trace_with_conversions(&g, &req, &NoExits, &set.edges, ConversionOptions::default())
            .expect("trace");
        through += r.conversions.len();
        let runs = LAST_RUNS.with(|c| c.get());
        assert!(runs >= 1, "the trace ran");
        most = most.max(runs);
    }
    assert!(through > 0, "the traces went through conversions");
    let assets = g.asset_count() as usize;
    assert!(most <= 8 * assets, "{most} runs for {assets} assets");
}

use std::collections::{BTreeSet, HashMap};

use chaintrace_core::{Address, Asset, Chain, Position, Transfer, TransferKind, TxHash, U256};
use chaintrace_graph::{Graph, StoreStamp};
use proptest::prelude::*;

use super::*;

fn a(i: u8) -> Address {
    Address([i; 20])
}

/// One hand-written transfer: (tx id, block, position index inside the tx, from, to, amount).
type T = (u8, u64, u32, u8, u8, u64);

fn transfer_of(&(tx, block, pos, from, to, amount): &T, asset: Asset) -> Transfer {
    Transfer {
        chain: Chain::Ethereum,
        block,
        timestamp: 1_700_000_000 + block * 12,
        tx_hash: TxHash([tx; 32]),
        position: if pos == 0 {
            Position::Tx
        } else {
            Position::Trace(vec![pos - 1])
        },
        from: a(from),
        to: a(to),
        asset,
        amount: U256::from(amount),
        kind: TransferKind::Native,
        tx_from: a(from),
        tx_fee: U256::ZERO,
        gas_price: U256::ZERO,
    }
}

fn graph(ts: &[T]) -> Graph {
    Graph::from_transfers(
        ts.iter().map(|t| transfer_of(t, Asset::Native)),
        StoreStamp::default(),
    )
    .expect("build")
}

fn req(starts: &[u8], model: Model) -> TraceRequest {
    let mut r = TraceRequest::new(starts.iter().map(|&s| (Chain::Ethereum, a(s))).collect());
    r.model = model;
    r
}

fn dest(r: &TraceResult) -> HashMap<u8, u64> {
    r.destinations
        .iter()
        .map(|d| (d.address.0[0], d.amount.to::<u64>()))
        .collect()
}

fn held(r: &TraceResult) -> HashMap<u8, u64> {
    let mut m = HashMap::new();
    for h in &r.holding {
        *m.entry(h.address.0[0]).or_insert(0) += h.amount.to::<u64>();
    }
    m
}

fn map(pairs: &[(u8, u64)]) -> HashMap<u8, u64> {
    pairs.iter().copied().collect()
}

/// The worked example of docs/tracing.md. S=1 is the source, C=2 a clean funder, X=3 the mixing address,
/// Y=4, Z=5, W=6 receivers.
fn worked_example() -> Graph {
    graph(&[
        (10, 1, 0, 2, 3, 60), // block 1: C -> X 60 (clean)
        (11, 2, 0, 1, 3, 40), // block 2: S -> X 40 (tainted)
        (12, 3, 0, 3, 4, 50), // block 3: X -> Y 50
        (13, 4, 0, 3, 5, 30), // block 4: X -> Z 30
        (14, 5, 0, 3, 6, 7),  // block 5: X -> W 7
    ])
}

#[test]
fn haircut_matches_the_worked_example() {
    let r = trace(&worked_example(), &req(&[1], Model::Haircut), &NoExits).expect("trace");
    // Y: 40*50/100 = 20. Z: 20*30/50 = 12. W: floor(8*7/20) = floor(2.8) = 2. X keeps 8-2 = 6.
    assert_eq!(dest(&r), map(&[(3, 40), (4, 20), (5, 12), (6, 2)]));
    assert_eq!(held(&r), map(&[(3, 6), (4, 20), (5, 12), (6, 2)]));
    assert!(
        r.holding
            .iter()
            .all(|h| h.model == Model::Haircut && h.reason == HoldReason::NotMoved)
    );
    let s = &r.summary[0];
    assert_eq!(s.emitted, U256::from(40u64));
    assert_eq!(s.holding, U256::from(40u64));
}

#[test]
fn fifo_matches_the_worked_example() {
    let r = trace(&worked_example(), &req(&[1], Model::Fifo), &NoExits).expect("trace");
    // Queue at X: [60 clean, 40 tainted]. Y takes 50 clean. Z takes 10 clean + 20 tainted. W takes 7 tainted.
    assert_eq!(dest(&r), map(&[(3, 40), (5, 20), (6, 7)]));
    assert_eq!(held(&r), map(&[(3, 13), (5, 20), (6, 7)]));
}

#[test]
fn poison_matches_the_worked_example() {
    let r = trace(&worked_example(), &req(&[1], Model::Poison), &NoExits).expect("trace");
    assert_eq!(dest(&r), map(&[(3, 40), (4, 50), (5, 30), (6, 7)]));
    // X passed taint on; Y, Z, W hold what they received.
    assert_eq!(held(&r), map(&[(4, 50), (5, 30), (6, 7)]));
    let w = r
        .destinations
        .iter()
        .find(|d| d.address == a(6))
        .expect("W reached");
    assert_eq!(w.hops, 2);
    assert_eq!(
        w.path.iter().map(|p| p.tx_hash.0[0]).collect::<Vec<_>>(),
        vec![11, 14]
    );
}

#[test]
fn funds_leave_only_after_they_arrived() {
    // X sends to Y before S funds it (block 1 < block 2): Y is not reached.
    let g = graph(&[(1, 1, 0, 3, 4, 5), (2, 2, 0, 1, 3, 10), (3, 3, 0, 3, 5, 10)]);
    for model in [Model::Poison, Model::Haircut, Model::Fifo] {
        let r = trace(&g, &req(&[1], model), &NoExits).expect("trace");
        assert!(
            !dest(&r).contains_key(&4),
            "{model}: an earlier outflow must not carry taint"
        );
        assert!(dest(&r).contains_key(&5), "{model}");
    }
}

#[test]
fn same_block_other_tx_is_not_followed_but_same_tx_is() {
    // Block 2: tx 2 S->X, tx 3 X->Y (other tx, same block: order unknown, not followed);
    // tx 4 S->X then X->Z inside the same tx (followed).
    let g = graph(&[
        (2, 2, 0, 1, 3, 10),
        (3, 2, 0, 3, 4, 10),
        (4, 2, 0, 1, 3, 5),
        (4, 2, 1, 3, 5, 5),
    ]);
    for model in [Model::Poison, Model::Haircut, Model::Fifo] {
        let r = trace(&g, &req(&[1], model), &NoExits).expect("trace");
        let d = dest(&r);
        assert!(!d.contains_key(&4), "{model}: {d:?}");
        assert_eq!(d.get(&5), Some(&5), "{model}: {d:?}");
    }
}

/// Regression (proptest-regressions/trace, `haircut_and_fifo_never_create_value` and
/// `poison_reaches_at_least_what_haircut_and_fifo_reach`): an outflow drawing on taint that arrived earlier
/// in its own transaction merged that transaction's pending inflows into the address's available pool, so
/// what was left of them became spendable by another transaction of the same block (and the path of the
/// receiver pointed back into that other transaction).
#[test]
fn regression_same_tx_remainder_is_not_spendable_by_another_tx_of_the_block() {
    // S=0, X=4, Z=2, Y=6, W=5, clean funder C=7.
    let g = graph(&[
        (1, 0, 0, 7, 4, 293),  // block 0: C -> X 293 (clean)
        (56, 3, 0, 0, 4, 182), // block 3, tx 56: S -> X 182 (tainted)
        (56, 3, 1, 4, 2, 293), // block 3, tx 56: X -> Z 293 (same tx: may carry taint)
        (57, 3, 0, 4, 6, 33),  // block 3, tx 57: X -> Y 33 (other tx of block 3: must not)
        (60, 4, 0, 4, 5, 10),  // block 4: X -> W 10 (later block: may)
    ]);
    for (model, z, w, x_held) in [
        (Model::Poison, Some(293), 10, None),
        // 182 * 293 / 475 = 112 leaves; X keeps 70 of tx 56 out of tx 57's reach; block 4: 70 * 10 / 149.
        (Model::Haircut, Some(112), 4, Some(66)),
        // The 293 clean coins of block 0 leave first; the 182 tainted wait for block 4.
        (Model::Fifo, None, 10, Some(172)),
    ] {
        let r = trace(&g, &req(&[0], model), &NoExits).expect("trace");
        let d = dest(&r);
        assert!(
            !d.contains_key(&6),
            "{model}: Y reached from another tx of the block: {d:?}"
        );
        assert_eq!(d.get(&2).copied(), z, "{model}: {d:?}");
        assert_eq!(d.get(&5), Some(&w), "{model}: {d:?}");
        if let Some(x) = x_held {
            assert_eq!(held(&r).get(&4), Some(&x), "{model}");
            let s = &r.summary[0];
            assert_eq!(s.emitted, s.holding, "{model}: {s:?}");
        }
        for dst in &r.destinations {
            for p in dst.path.windows(2) {
                assert!(
                    p[1].block > p[0].block || p[1].tx_hash == p[0].tx_hash,
                    "{model}: {p:?}"
                );
            }
        }
    }
}

#[test]
fn forward_and_backward_agree_on_a_chain() {
    let g = graph(&[(1, 1, 0, 1, 2, 10), (2, 2, 0, 2, 3, 10)]);
    for model in [Model::Poison, Model::Haircut, Model::Fifo] {
        let f = trace(&g, &req(&[1], model), &NoExits).expect("forward");
        let mut rb = req(&[3], model);
        rb.direction = Direction::Backward;
        let b = trace(&g, &rb, &NoExits).expect("backward");
        assert_eq!(dest(&f), map(&[(2, 10), (3, 10)]), "{model}");
        assert_eq!(dest(&b), map(&[(2, 10), (1, 10)]), "{model}");
        let fwd_path: Vec<_> = f
            .destinations
            .iter()
            .find(|d| d.address == a(3))
            .expect("C")
            .path
            .clone();
        let mut back_path: Vec<_> = b
            .destinations
            .iter()
            .find(|d| d.address == a(1))
            .expect("A")
            .path
            .clone();
        back_path.reverse();
        assert_eq!(fwd_path, back_path, "{model}");
    }
}

#[test]
fn exits_stop_the_trace_and_hop_limit_holds() {
    let g = graph(&[
        (1, 1, 0, 1, 2, 10),
        (2, 2, 0, 2, 3, 10),
        (3, 3, 0, 3, 4, 10),
        (4, 2, 0, 1, 5, 3),
    ]);
    let mut labels = HashMap::new();
    labels.insert(
        (Chain::Ethereum, a(5)),
        ExitInfo {
            category: ExitCategory::Exchange,
            name: "Ex".into(),
        },
    );
    let mut r = req(&[1], Model::Haircut);
    r.max_hops = 2;
    let out = trace(&g, &r, &labels).expect("trace");
    assert_eq!(out.exits.len(), 1);
    assert_eq!(out.exits[0].address, a(5));
    assert_eq!(out.exits[0].amount, U256::from(3u64));
    // 3 is reached at the hop limit: holds 10 there, 4 is never reached.
    assert!(!dest(&out).contains_key(&4));
    let h3 = out.holding.iter().find(|h| h.address == a(3)).expect("3 holds");
    assert_eq!((h3.reason, h3.amount), (HoldReason::HopLimit, U256::from(10u64)));
    let s = &out.summary[0];
    assert_eq!(s.emitted, s.holding + s.exits);
}

#[test]
fn fan_out_cap_is_reported_not_silent() {
    // X receives 100 and sends 10 to each of 5 addresses; cap 2.
    let mut ts = vec![(1, 1, 0, 1, 3, 100)];
    for i in 0..5u8 {
        ts.push((10 + i, 2 + u64::from(i), 0, 3, 20 + i, 10));
    }
    let g = graph(&ts);
    let mut r = req(&[1], Model::Fifo);
    r.fan_out_cap = 2;
    let out = trace(&g, &r, &NoExits).expect("trace");
    assert_eq!(out.truncated.len(), 1);
    let t = &out.truncated[0];
    assert_eq!((t.address, t.outflows_followed, t.outflows_skipped), (a(3), 2, 3));
    assert_eq!(t.amount_held, U256::from(80u64));
    let h = out.holding.iter().find(|h| h.address == a(3)).expect("X holds");
    assert_eq!((h.reason, h.amount), (HoldReason::FanOutCap, U256::from(80u64)));
}

#[test]
fn filters_window_min_amount_and_asset() {
    let g = graph(&[(1, 1, 0, 1, 2, 10), (2, 5, 0, 1, 3, 10), (3, 9, 0, 1, 4, 1)]);
    let mut r = req(&[1], Model::Poison);
    r.since = Some(1_700_000_000 + 2 * 12);
    r.until = Some(1_700_000_000 + 9 * 12);
    r.min_amount = U256::from(2u64);
    let out = trace(&g, &r, &NoExits).expect("trace");
    assert_eq!(dest(&out), map(&[(3, 10)]));
    assert_eq!(out.summary[0].dropped, U256::from(1u64));
    r.asset = Some(Asset::Token(a(77)));
    assert!(trace(&g, &r, &NoExits).expect("trace").destinations.is_empty());
}

#[test]
fn bad_requests_are_errors() {
    let g = graph(&[(1, 1, 0, 1, 2, 10)]);
    assert_eq!(
        trace(&g, &req(&[], Model::Poison), &NoExits),
        Err(TraceError::NoStart)
    );
    assert!(matches!(
        trace(&g, &req(&[9], Model::Poison), &NoExits),
        Err(TraceError::UnknownAddress { .. })
    ));
    let mut r = req(&[1], Model::Poison);
    r.since = Some(10);
    r.until = Some(5);
    assert_eq!(
        trace(&g, &r, &NoExits),
        Err(TraceError::EmptyWindow { since: 10, until: 5 })
    );
    let mut r = req(&[1], Model::Poison);
    r.max_hops = 0;
    assert_eq!(trace(&g, &r, &NoExits), Err(TraceError::ZeroHops));
}

#[test]
fn huge_amounts_stay_exact() {
    // Amounts near 2^255: haircut needs 512-bit intermediates.
    let big = U256::MAX >> 1;
    let mk = |tx: u8, block: u64, from: u8, to: u8, amount: U256| {
        let mut t = transfer_of(&(tx, block, 0, from, to, 0), Asset::Native);
        t.amount = amount;
        t
    };
    let ts = vec![mk(1, 1, 2, 3, big), mk(2, 2, 1, 3, big), mk(3, 3, 3, 4, big)];
    let g = Graph::from_transfers(ts, StoreStamp::default()).expect("build");
    let out = trace(&g, &req(&[1], Model::Haircut), &NoExits).expect("trace");
    let d4 = out
        .destinations
        .iter()
        .find(|d| d.address == a(4))
        .expect("reached");
    assert_eq!(d4.amount, big / U256::from(2u64));
    let s = &out.summary[0];
    assert_eq!(s.emitted, s.holding);
}

// ---- properties on random small graphs ----

fn arb_graph() -> impl Strategy<Value = Vec<(u8, u64, u32, u8, u8, u64, bool)>> {
    // (tx, block, pos, from, to, amount, token?)
    prop::collection::vec(
        (
            0u8..12,
            0u64..8,
            0u32..3,
            0u8..6,
            0u8..6,
            1u64..1000,
            prop::bool::weighted(0.2),
        ),
        1..40,
    )
    .prop_map(|v| {
        v.into_iter()
            // A tx hash belongs to one block.
            .map(|(tx, block, pos, f, t, amt, tok)| {
                (tx.wrapping_add(block as u8 * 16), block, pos, f, t, amt, tok)
            })
            .collect()
    })
}

fn build_random(v: &[(u8, u64, u32, u8, u8, u64, bool)]) -> Graph {
    let mut seen = BTreeSet::new();
    let ts: Vec<Transfer> = v
        .iter()
        .filter(|x| seen.insert((x.0, x.2)))
        .map(|&(tx, block, pos, f, t, amt, tok)| {
            transfer_of(
                &(tx, block, pos, f, t, amt),
                if tok { Asset::Token(a(200)) } else { Asset::Native },
            )
        })
        .collect();
    Graph::from_transfers(ts, StoreStamp::default()).expect("build")
}

fn check_path_order(g: &Graph, r: &TraceResult, starts: &[Address]) -> Result<(), TestCaseError> {
    for d in r.destinations.iter() {
        prop_assert!(!d.path.is_empty());
        prop_assert_eq!(d.path.len() as u32, d.hops);
        let first = &d.path[0];
        let last = d.path.last().expect("non-empty");
        match r.direction {
            Direction::Forward => {
                prop_assert!(starts.contains(&first.from));
                prop_assert_eq!(last.to, d.address);
            }
            Direction::Backward => {
                prop_assert!(starts.contains(&first.to));
                prop_assert_eq!(last.from, d.address);
            }
        }
        for w in d.path.windows(2) {
            let (p, q) = (&w[0], &w[1]);
            let same_tx = g.tx_index(p.seq) == g.tx_index(q.seq);
            match r.direction {
                Direction::Forward => {
                    prop_assert_eq!(p.to, q.from);
                    prop_assert!(
                        q.block > p.block || (same_tx && q.seq > p.seq),
                        "time order {:?} -> {:?}",
                        p,
                        q
                    );
                }
                Direction::Backward => {
                    prop_assert_eq!(p.from, q.to);
                    prop_assert!(
                        q.block < p.block || (same_tx && q.seq < p.seq),
                        "time order {:?} <- {:?}",
                        p,
                        q
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn haircut_and_fifo_never_create_value(
        v in arb_graph(),
        start in 0u8..6,
        backward in any::<bool>(),
        max_hops in 1u32..5,
        cap in 1u32..4,
        min in 0u64..50,
        exit in prop::option::of(0u8..6),
    ) {
        let g = build_random(&v);
        prop_assume!(g.node(Chain::Ethereum, a(start)).is_some());
        let mut labels = HashMap::new();
        if let Some(x) = exit {
            labels.insert((Chain::Ethereum, a(x)), ExitInfo { category: ExitCategory::Mixer, name: "m".into() });
        }
        for model in [Model::Haircut, Model::Fifo] {
            let mut r = req(&[start], model);
            r.direction = if backward { Direction::Backward } else { Direction::Forward };
            r.max_hops = max_hops;
            r.fan_out_cap = cap;
            r.min_amount = U256::from(min);
            let out = trace(&g, &r, &labels).expect("trace");
            for s in &out.summary {
                // Exact accounting: every unit of taint that left the start ends in exactly one bucket.
                prop_assert_eq!(s.emitted, s.holding + s.exits + s.dropped + s.returned, "{:?}", s);
                let listed: U256 = out.holding.iter().filter(|h| h.asset == s.asset).map(|h| h.amount).sum::<U256>()
                    + out.exits.iter().filter(|x| x.asset == s.asset).map(|x| x.amount).sum::<U256>();
                prop_assert!(listed <= s.emitted);
            }
            check_path_order(&g, &out, &[a(start)])?;
        }
    }

    #[test]
    fn poison_reaches_at_least_what_haircut_and_fifo_reach(
        v in arb_graph(),
        start in 0u8..6,
        backward in any::<bool>(),
        max_hops in 1u32..5,
    ) {
        let g = build_random(&v);
        prop_assume!(g.node(Chain::Ethereum, a(start)).is_some());
        let run = |model| {
            let mut r = req(&[start], model);
            r.direction = if backward { Direction::Backward } else { Direction::Forward };
            r.max_hops = max_hops;
            trace(&g, &r, &NoExits).expect("trace")
        };
        let poison = run(Model::Poison);
        check_path_order(&g, &poison, &[a(start)])?;
        let reached = |r: &TraceResult| -> BTreeSet<(Address, Asset)> {
            r.destinations.iter().map(|d| (d.address, d.asset)).collect()
        };
        let p = reached(&poison);
        for model in [Model::Haircut, Model::Fifo] {
            let other = reached(&run(model));
            prop_assert!(other.is_subset(&p), "{} reached {:?} beyond poison {:?}", model, other, p);
        }
    }
}

/// Runs `f` with the engine in its reference mode (every inflow an event, no heap shortcut), on this thread
/// only (the mode is a thread-local, so runs must not go to other threads).
fn eager<T>(f: impl FnOnce() -> T) -> T {
    engine::EAGER_INFLOWS.with(|c| c.set(true));
    let out = par::sequential(f);
    engine::EAGER_INFLOWS.with(|c| c.set(false));
    out
}

#[test]
fn lazy_inflows_match_the_eager_engine_on_the_worked_example() {
    let g = worked_example();
    for model in [Model::Haircut, Model::Fifo] {
        let lazy = trace(&g, &req(&[2], model), &NoExits).expect("trace");
        let reference = eager(|| trace(&g, &req(&[2], model), &NoExits).expect("trace"));
        assert_eq!(lazy, reference, "{model}");
        assert!(!lazy.destinations.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Folding clean inflows lazily (and running a node's next event without a heap round trip) gives
    /// exactly the result of the engine that schedules every inflow as an event.
    #[test]
    fn lazy_inflows_give_the_same_result_as_eager_events(
        v in arb_graph(),
        starts in prop::collection::vec(0u8..6, 1..3),
        backward in any::<bool>(),
        max_hops in 1u32..6,
        cap in 1u32..6,
        min in 0u64..20,
        exit in prop::option::of(0u8..6),
        since in prop::option::of(0u64..4),
    ) {
        let g = build_random(&v);
        prop_assume!(starts.iter().all(|&s| g.node(Chain::Ethereum, a(s)).is_some()));
        let mut labels = HashMap::new();
        if let Some(x) = exit {
            labels.insert((Chain::Ethereum, a(x)), ExitInfo { category: ExitCategory::Mixer, name: "m".into() });
        }
        for model in [Model::Haircut, Model::Fifo] {
            let mut r = req(&starts, model);
            r.direction = if backward { Direction::Backward } else { Direction::Forward };
            r.max_hops = max_hops;
            r.fan_out_cap = cap;
            r.min_amount = U256::from(min);
            r.since = since.map(|b| 1_700_000_000 + b * 12);
            let lazy = trace(&g, &r, &labels);
            let reference = eager(|| trace(&g, &r, &labels));
            prop_assert_eq!(lazy, reference, "{}", model);
        }
    }
}

/// A deterministic world larger than the property test's: `n` transfers over 12 addresses and three assets
/// (amounts up to 2^70, so some need the wide and 256-bit paths), blocks of 1-8 transfers, transactions of
/// 1-3 transfers. Spans many block hint entries, so `Graph::blocks_differ_by_hint` tells blocks apart, and
/// addresses have long in-lists mixing assets.
fn big_world(seed: u64, n: usize) -> Graph {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let mut ts = Vec::with_capacity(n);
    let (mut block, mut left_in_block, mut tx, mut left_in_tx, mut pos) = (1u64, 0u64, 0u32, 0u64, 0u32);
    for _ in 0..n {
        if left_in_block == 0 {
            block += 1 + next(3);
            left_in_block = 1 + next(8);
            left_in_tx = 0;
        }
        if left_in_tx == 0 {
            tx += 1;
            left_in_tx = 1 + next(3);
            pos = 0;
        }
        left_in_block -= 1;
        left_in_tx -= 1;
        let from = next(12) as u8;
        let to = next(12) as u8;
        let asset = match next(3) {
            0 => Asset::Native,
            1 => Asset::Token(a(200)),
            _ => Asset::Token(a(201)),
        };
        let amount = match next(4) {
            0 => U256::from(1 + next(1000)),
            1 => U256::from(next(u64::MAX)),
            _ => U256::from(next(1 << 20)) << 50,
        };
        let mut hash = [0u8; 32];
        hash[..4].copy_from_slice(&tx.to_be_bytes());
        let mut t = transfer_of(&(0, block, pos, from, to, 0), asset);
        t.tx_hash = TxHash(hash);
        t.amount = amount;
        ts.push(t);
        pos += 1;
    }
    Graph::from_transfers(ts, StoreStamp::default()).expect("build")
}

/// The hint test never calls two transfers of one block apart, and does tell most far-apart ones apart.
#[test]
fn blocks_differ_by_hint_agrees_with_block_index() {
    let g = big_world(7, 6000);
    engine::reset_block_hints(&g);
    let e = g.edge_count();
    let (mut told, mut apart) = (0u32, 0u32);
    for a in (0..e).step_by(7) {
        for b in (a..e).step_by(131) {
            let differ = g.block_index(a) != g.block_index(b);
            apart += u32::from(differ);
            if engine::blocks_differ_by_hint(&g, a, b) {
                assert!(differ, "seqs {a} and {b} are in one block");
                told += 1;
            }
        }
    }
    assert!(told > apart / 2, "the hint told {told} of {apart} pairs apart");
}

/// The lazy engine (clean inflows folded, run-length block ids, edges of other assets skipped in bulk) gives
/// exactly the reference engine's result on larger worlds than the property test's.
#[test]
fn lazy_engine_matches_the_eager_one_on_larger_worlds() {
    for seed in 1..=4u64 {
        let g = big_world(seed, 5000);
        let mut labels = HashMap::new();
        labels.insert(
            (Chain::Ethereum, a(11)),
            ExitInfo {
                category: ExitCategory::Exchange,
                name: "x".into(),
            },
        );
        for model in [Model::Haircut, Model::Fifo] {
            for backward in [false, true] {
                let mut r = req(&[(seed % 5) as u8], model);
                r.direction = if backward {
                    Direction::Backward
                } else {
                    Direction::Forward
                };
                r.max_hops = 4;
                r.fan_out_cap = if seed == 4 { 40 } else { u32::MAX };
                let lazy = trace(&g, &r, &labels).expect("trace");
                let reference = eager(|| trace(&g, &r, &labels).expect("trace"));
                assert!(!lazy.destinations.is_empty(), "seed {seed} {model}");
                assert_eq!(lazy, reference, "seed {seed} {model} backward {backward}");
            }
        }
    }
}

// ---- the balance index ----

/// A world with two hubs (addresses 0 and 1) that receive about half of all transfers and seldom send: long
/// in-lists of three assets (grouped by the index) and long histories before their first taint (the replay
/// starts at a checkpoint).
fn hub_world(seed: u64, n: usize) -> Graph {
    let mut x = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
    let mut next = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let mut ts = Vec::with_capacity(n);
    let (mut block, mut left_in_block, mut tx, mut left_in_tx, mut pos) = (1u64, 0u64, 0u32, 0u64, 0u32);
    for _ in 0..n {
        if left_in_block == 0 {
            block += 1 + next(3);
            left_in_block = 1 + next(6);
            left_in_tx = 0;
        }
        if left_in_tx == 0 {
            tx += 1;
            left_in_tx = 1 + next(3);
            pos = 0;
        }
        left_in_block -= 1;
        left_in_tx -= 1;
        let mut from = next(12) as u8;
        if from < 2 && next(10) != 0 {
            from = 2 + next(10) as u8;
        }
        let to = if next(2) == 0 {
            next(2) as u8
        } else {
            next(12) as u8
        };
        let asset = match next(3) {
            0 => Asset::Native,
            1 => Asset::Token(a(200)),
            _ => Asset::Token(a(201)),
        };
        let amount = match next(4) {
            0 => U256::from(1 + next(1000)),
            1 => U256::from(next(u64::MAX)),
            _ => U256::from(next(1 << 20)) << 50,
        };
        let mut hash = [0u8; 32];
        hash[..4].copy_from_slice(&tx.to_be_bytes());
        let mut t = transfer_of(&(0, block, pos, from, to, 0), asset);
        t.tx_hash = TxHash(hash);
        t.amount = amount;
        ts.push(t);
        pos += 1;
    }
    Graph::from_transfers(ts, StoreStamp::default()).expect("build")
}

/// Traces with a balance index (several spacings, so checkpoints and replays from them happen, and grouped
/// in-lists) equal traces without one: haircut and fifo, forward and backward (backward ignores the index),
/// with and without a time window, an exit and a binding fan-out cap.
#[test]
fn balance_index_gives_the_same_traces_on_larger_worlds() {
    let mut labels = HashMap::new();
    labels.insert(
        (Chain::Ethereum, a(11)),
        ExitInfo {
            category: ExitCategory::Exchange,
            name: "x".into(),
        },
    );
    let mut checked = 0;
    for seed in 1..=4u64 {
        for (world, g) in [("hub", hub_world(seed, 6000)), ("big", big_world(seed, 5000))] {
            for spacing in [1, 3, 8, DEFAULT_SPACING] {
                let ix = BalanceIndex::build_with_spacing(&g, spacing);
                assert!(
                    ix.checkpoint_count() > 0 && ix.grouped_in_edges() > 0,
                    "{world} {seed}"
                );
                assert_eq!(BalanceIndex::from_bytes(&ix.to_bytes()).as_ref(), Some(&ix));
                for model in [Model::Haircut, Model::Fifo] {
                    for (start, backward, since) in
                        [(2u8, false, None), (3, false, Some(40)), (1, true, None)]
                    {
                        let mut r = req(&[start + (seed % 3) as u8], model);
                        r.direction = if backward {
                            Direction::Backward
                        } else {
                            Direction::Forward
                        };
                        r.max_hops = 4;
                        r.since = since.map(|b| 1_700_000_000 + b * 12);
                        r.fan_out_cap = if seed == 4 { 40 } else { u32::MAX };
                        let plain = trace(&g, &r, &labels).expect("trace");
                        let opts = ConversionOptions::default();
                        let indexed = trace_indexed(&g, &r, &labels, &[], opts, Some(&ix)).expect("trace");
                        assert!(!plain.destinations.is_empty(), "{world} {seed} {model}");
                        assert_eq!(
                            indexed, plain,
                            "{world} seed {seed} spacing {spacing} {model} {r:?}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 4 * 2 * 4 * 2 * 3);
}

/// The index's cache form is refused when cut short or altered in its sizes.
#[test]
fn balance_index_bytes_are_checked() {
    let g = hub_world(5, 3000);
    let bytes = BalanceIndex::build_with_spacing(&g, 4).to_bytes();
    assert!(BalanceIndex::from_bytes(&bytes).is_some());
    assert!(BalanceIndex::from_bytes(&bytes[..bytes.len() - 1]).is_none());
    assert!(BalanceIndex::from_bytes(&bytes[..20]).is_none());
    let mut bad = bytes.clone();
    bad[20] ^= 1; // the pair count
    assert!(BalanceIndex::from_bytes(&bad).is_none());
    let mut bad = bytes;
    bad[0] = b'X';
    assert!(BalanceIndex::from_bytes(&bad).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// On small random graphs, an index with a checkpoint every transfer or two gives the unindexed result.
    #[test]
    fn balance_index_gives_the_same_result_on_random_graphs(
        v in arb_graph(),
        starts in prop::collection::vec(0u8..6, 1..3),
        max_hops in 1u32..6,
        cap in 1u32..6,
        spacing in 1u32..3,
        since in prop::option::of(0u64..4),
    ) {
        let g = build_random(&v);
        prop_assume!(starts.iter().all(|&s| g.node(Chain::Ethereum, a(s)).is_some()));
        let ix = BalanceIndex::build_with_spacing(&g, spacing);
        for model in [Model::Haircut, Model::Fifo] {
            let mut r = req(&starts, model);
            r.max_hops = max_hops;
            r.fan_out_cap = cap;
            r.since = since.map(|b| 1_700_000_000 + b * 12);
            let plain = trace(&g, &r, &NoExits);
            let indexed = trace_indexed(&g, &r, &NoExits, &[], ConversionOptions::default(), Some(&ix));
            prop_assert_eq!(indexed, plain, "{}", model);
        }
    }
}

// ---- runs of several assets on several threads ----

#[test]
fn runs_on_several_threads_give_the_same_result_as_one() {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    if cores < 2 {
        eprintln!("skipped: one core, so traces never use a second thread here");
        return;
    }
    for seed in 1..=3u64 {
        let g = hub_world(seed, 4000);
        for model in [Model::Poison, Model::Haircut, Model::Fifo] {
            for backward in [false, true] {
                let mut r = req(&[(2 + seed % 5) as u8], model);
                r.direction = if backward {
                    Direction::Backward
                } else {
                    Direction::Forward
                };
                r.max_hops = 4;
                let threaded = trace(&g, &r, &NoExits).expect("trace");
                let one = par::sequential(|| trace(&g, &r, &NoExits).expect("trace"));
                assert!(
                    threaded.summary.len() >= 2,
                    "seed {seed} {model}: the world must give several runs ({} here)",
                    threaded.summary.len()
                );
                assert_eq!(threaded, one, "seed {seed} {model} backward {backward}");
            }
        }
    }
}

// ---- placing conversions: the edges of one transaction ----

/// The first version of `edges_in_tx`: the node's whole list, filtered by block number, transaction and asset.
fn edges_in_tx_by_scan(
    g: &Graph,
    node: NodeId,
    outgoing: bool,
    asset: AssetId,
    block: u64,
    tx: TxHash,
) -> Vec<EdgeId> {
    let list: Vec<EdgeId> = if outgoing {
        g.out_edges(node).collect()
    } else {
        g.in_edges(node).collect()
    };
    list.into_iter()
        .filter(|&e| {
            let s = g.edge_seq(e);
            g.block_number(g.block_index(s)) == block
                && g.edge_asset(e) == asset
                && g.tx_hash(g.tx_index(s)) == tx
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn edges_in_tx_finds_what_a_scan_of_the_whole_list_finds(v in arb_graph(), other_block in 0u64..9) {
        let g = build_random(&v);
        for e in 0..g.edge_count() {
            let s = g.edge_seq(e);
            let (block, tx, asset) = (g.block_number(g.block_index(s)), g.tx_hash(g.tx_index(s)), g.edge_asset(e));
            for (node, outgoing) in [(g.edge_src(e), true), (g.edge_dst(e), false)] {
                for b in [block, other_block] {
                    let fast = edges_in_tx(&g, Chain::Ethereum, node, outgoing, asset, b, tx);
                    prop_assert_eq!(&fast, &edges_in_tx_by_scan(&g, node, outgoing, asset, b, tx));
                    if b == block {
                        prop_assert!(fast.contains(&e));
                    }
                }
            }
        }
    }
}

proptest! {
    /// The integer key conversions are sorted by orders owners exactly like `(chain, address)`.
    #[test]
    fn owner_keys_order_like_chain_then_address(
        a in (0usize..6, prop::array::uniform20(any::<u8>())),
        b in (0usize..6, prop::array::uniform20(any::<u8>())),
        shared in 0usize..=20,
    ) {
        let (ca, cb) = (Chain::ALL[a.0], Chain::ALL[b.0]);
        // Addresses sharing a prefix of `shared` bytes: differences at every position get tested.
        let mut bb = b.1;
        bb[..shared].copy_from_slice(&a.1[..shared]);
        let (x, y) = ((ca, Address(a.1)), (cb, Address(bb)));
        prop_assert_eq!(owner_key(x.0, x.1).cmp(&owner_key(y.0, y.1)), x.cmp(&y));
    }
}

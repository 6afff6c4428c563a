//! The fast poison engine against the time-ordered engine on random graphs.

use std::collections::{BTreeSet, HashMap};

use chaintrace_core::{Address, Asset, Chain, Position, Transfer, TransferKind, TxHash, U256};
use chaintrace_defi::swap::ConversionKind;
use chaintrace_graph::{Graph, StoreStamp};
use proptest::prelude::*;

use super::super::*;
use super::trace_poison;
use crate::conversions::{ConversionDetail, ConversionEdge};

fn a(i: u8) -> Address {
    Address([i; 20])
}

/// (tx, block, position, from, to, amount, token?)
type Row = (u8, u64, u32, u8, u8, u64, bool);

/// Random transfers. `blocks == 0`: one transfer per block (row `i` in block `i`). `zero`: some transfers
/// move a zero amount.
fn arb_graph(blocks: u64, txs: u8, zero: bool) -> impl Strategy<Value = Vec<Row>> {
    let zero_weight = u32::from(zero);
    prop::collection::vec(
        (
            0u8..txs,
            0u64..blocks.max(1),
            0u32..3,
            0u8..7,
            0u8..7,
            prop_oneof![4 => 1u64..1000, zero_weight => Just(0u64)],
            prop::bool::weighted(0.2),
        ),
        1..60,
    )
    .prop_map(move |v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (tx, block, pos, f, t, amt, tok))| {
                let block = if blocks == 0 { i as u64 } else { block };
                // A tx hash belongs to one block.
                (
                    tx.wrapping_add((block as u8).wrapping_mul(16)),
                    block,
                    pos,
                    f,
                    t,
                    amt,
                    tok,
                )
            })
            .collect()
    })
}

fn build(v: &[Row]) -> Graph {
    let mut seen = BTreeSet::new();
    let ts: Vec<Transfer> = v
        .iter()
        .filter(|x| seen.insert((x.0, x.2)))
        .map(|&(tx, block, pos, f, t, amt, tok)| Transfer {
            chain: Chain::Ethereum,
            block,
            timestamp: 1_700_000_000 + block * 12,
            tx_hash: TxHash([tx; 32]),
            position: if pos == 0 {
                Position::Tx
            } else {
                Position::Trace(vec![pos - 1])
            },
            from: a(f),
            to: a(t),
            asset: if tok { Asset::Token(a(200)) } else { Asset::Native },
            amount: U256::from(amt),
            kind: TransferKind::Native,
            tx_from: a(f),
            tx_fee: U256::ZERO,
            gas_price: U256::ZERO,
        })
        .collect();
    Graph::from_transfers(ts, StoreStamp::default()).expect("build")
}

/// A conversion whose owner is in no graph of these tests: the time-ordered engine places nothing, so the
/// result is its plain trace; a non-empty conversion list keeps the poison dispatch away from `reach`.
fn inert_conversion() -> ConversionEdge {
    ConversionEdge {
        from_chain: Chain::Ethereum,
        from_tx: TxHash([0xee; 32]),
        from_block: 0,
        from_time: 0,
        owner: a(250),
        asset_in: Asset::Native,
        amount_in: U256::from(1u64),
        to_chain: Chain::Ethereum,
        to_tx: TxHash([0xee; 32]),
        to_block: 0,
        to_time: 0,
        recipient: a(250),
        asset_out: Asset::Token(a(200)),
        amount_out: U256::from(1u64),
        via: Vec::new(),
        evidence: Vec::new(),
        detail: ConversionDetail::Swap {
            kind: ConversionKind::SwapV2,
        },
        is_candidate: false,
    }
}

fn time_ordered(g: &Graph, r: &TraceRequest, oracle: &dyn ExitOracle) -> TraceResult {
    let out = trace_with_conversions(g, r, oracle, &[inert_conversion()], ConversionOptions::default())
        .expect("trace");
    assert!(out.conversions.is_empty());
    out
}

type Key = (Chain, Address, Asset);

fn dests(r: &TraceResult) -> HashMap<Key, (U256, u32, bool)> {
    r.destinations
        .iter()
        .map(|d| ((d.chain, d.address, d.asset), (d.amount, d.hops, d.is_exit)))
        .collect()
}

#[derive(Debug, Clone)]
struct Case {
    rows: Vec<Row>,
    starts: Vec<u8>,
    backward: bool,
    max_hops: u32,
    cap: u32,
    min: u64,
    exit: Option<u8>,
    since_block: Option<u64>,
    until_block: Option<u64>,
    token_only: bool,
}

fn arb_case(blocks: u64, txs: u8, zero: bool) -> impl Strategy<Value = Case> {
    (
        arb_graph(blocks, txs, zero),
        prop::collection::vec(0u8..7, 1..3),
        any::<bool>(),
        1u32..6,
        prop_oneof![3 => Just(1000u32), 1 => 1u32..4],
        prop_oneof![3 => Just(0u64), 1 => 0u64..300],
        prop::option::of(0u8..7),
        prop::option::weighted(0.2, 0u64..8),
        prop::option::weighted(0.2, 0u64..8),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(rows, starts, backward, max_hops, cap, min, exit, since_block, until_block, token_only)| Case {
                rows,
                starts,
                backward,
                max_hops,
                cap,
                min,
                exit,
                since_block,
                until_block,
                token_only,
            },
        )
}

fn check(c: &Case) -> Result<(), TestCaseError> {
    let g = build(&c.rows);
    let starts: Vec<(Chain, Address)> = c.starts.iter().map(|&s| (Chain::Ethereum, a(s))).collect();
    prop_assume!(starts.iter().all(|&(ch, ad)| g.node(ch, ad).is_some()));
    let mut labels = HashMap::new();
    if let Some(x) = c.exit {
        labels.insert(
            (Chain::Ethereum, a(x)),
            ExitInfo {
                category: ExitCategory::Exchange,
                name: "x".into(),
            },
        );
    }
    let mut r = TraceRequest::new(starts);
    r.direction = if c.backward {
        Direction::Backward
    } else {
        Direction::Forward
    };
    r.max_hops = c.max_hops;
    r.fan_out_cap = c.cap;
    r.min_amount = U256::from(c.min);
    r.since = c.since_block.map(|b| 1_700_000_000 + b * 12);
    r.until = c.until_block.map(|b| 1_700_000_000 + b * 12);
    if c.token_only {
        r.asset = Some(Asset::Token(a(200)));
    }
    // The reach set (the benchmark's "same question") is exactly the destinations' (node, asset) set, sorted
    // and without duplicates, whether or not a cap binds.
    match (trace(&g, &r, &labels), reach_set(&g, &r, &labels)) {
        (Ok(full), Ok(set)) => {
            let want: BTreeSet<_> = full
                .destinations
                .iter()
                .map(|d| {
                    let n = g.node(d.chain, d.address).expect("destination is a node");
                    (
                        n,
                        g.asset_id(d.chain, d.asset).expect("destination asset is known"),
                    )
                })
                .collect();
            prop_assert!(
                set.windows(2).all(|w| w[0] < w[1]),
                "not sorted or duplicated: {:?}",
                set
            );
            prop_assert_eq!(set.into_iter().collect::<BTreeSet<_>>(), want);
        }
        (Err(e), Err(f)) => prop_assert_eq!(e, f),
        (full, set) => prop_assert!(false, "one errs: {:?} / {:?}", full.err(), set.err()),
    }
    let slow = trace_with_conversions(
        &g,
        &r,
        &labels,
        &[inert_conversion()],
        ConversionOptions::default(),
    );
    let fast = trace_poison(&g, &r, &labels);
    let (slow, fast) = match (slow, fast) {
        (Err(e), Some(Err(f))) => {
            prop_assert_eq!(e, f);
            return Ok(());
        }
        (Ok(_), None) | (Err(_), None) => {
            // The fast engine declines only when the cap cuts an address off.
            let slow = time_ordered(&g, &r, &labels);
            prop_assert!(!slow.truncated.is_empty(), "declined without a cut-off");
            return Ok(());
        }
        (Ok(s), Some(Ok(f))) => (s, f),
        (s, f) => {
            prop_assert!(
                false,
                "one errs, the other not: {:?} / {:?}",
                s.err(),
                f.map(|x| x.err())
            );
            unreachable!()
        }
    };
    prop_assert!(
        slow.truncated.is_empty(),
        "fast answered although the cap cut off {:?}",
        slow.truncated
    );
    // The properties the task names, each on its own (clearer failures), then the whole result.
    prop_assert_eq!(dests(&fast), dests(&slow));
    let hold = |x: &TraceResult| -> BTreeSet<(Address, Asset, U256, &'static str, u32)> {
        x.holding
            .iter()
            .map(|h| (h.address, h.asset, h.amount, h.reason.name(), h.hops))
            .collect()
    };
    prop_assert_eq!(hold(&fast), hold(&slow));
    let exits = |x: &TraceResult| -> BTreeSet<(Address, Asset, U256, u32)> {
        x.exits
            .iter()
            .map(|e| (e.address, e.asset, e.amount, e.hops))
            .collect()
    };
    prop_assert_eq!(exits(&fast), exits(&slow));
    prop_assert_eq!(&fast.summary, &slow.summary);
    prop_assert_eq!(&fast, &slow);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Several transfers per block and per transaction: the same-block and same-transaction rules.
    /// Non-zero amounts only: see `zero_amount_transfers_in_a_block`.
    #[test]
    fn fast_poison_equals_time_ordered_engine(c in arb_case(6, 10, false)) {
        check(&c)?;
    }

    /// One transfer per block, zero amounts included.
    #[test]
    fn fast_poison_equals_time_ordered_engine_one_transfer_per_block(c in arb_case(0, 3, true)) {
        check(&c)?;
    }
}

#[test]
fn fast_poison_matches_on_the_worked_example() {
    let g = build(&[
        (10, 1, 0, 2, 3, 60, false),
        (11, 2, 0, 1, 3, 40, false),
        (12, 3, 0, 3, 4, 50, false),
        (13, 4, 0, 3, 5, 30, false),
        (14, 5, 0, 3, 6, 7, false),
    ]);
    let r = TraceRequest::new(vec![(Chain::Ethereum, a(1))]);
    let fast = trace_poison(&g, &r, &NoExits)
        .expect("no cap binds")
        .expect("trace");
    assert_eq!(fast, time_ordered(&g, &r, &NoExits));
    let got: HashMap<u8, u64> = fast
        .destinations
        .iter()
        .map(|d| (d.address.0[0], d.amount.to::<u64>()))
        .collect();
    assert_eq!(got, HashMap::from([(3, 40), (4, 50), (5, 30), (6, 7)]));
}

/// A zero-amount transfer carries no taint. Backward from 2 and 4 in one block: 5 -> 2 (tx 68) taints 5;
/// 5 -> 4 moves 0 (tx 67), and 0 -> 5 (tx 67, earlier) is in another transaction than 5's taint, so 5 passed
/// nothing on and holds the 1 it received. (The time-ordered engine currently lets the zero-amount
/// transfer mark tx 67 as tainted at 5 and counts 5 as having passed taint on, without reaching 0, so it
/// lists no holding here; the equality property above therefore uses zero amounts only with one transfer
/// per block.)
#[test]
fn zero_amount_transfers_in_a_block() {
    let g = build(&[
        (67, 4, 1, 5, 4, 0, false),
        (67, 4, 0, 0, 5, 1, false),
        (68, 4, 0, 5, 2, 1, false),
    ]);
    let mut r = TraceRequest::new(vec![(Chain::Ethereum, a(2)), (Chain::Ethereum, a(4))]);
    r.direction = Direction::Backward;
    r.max_hops = 2;
    let fast = trace_poison(&g, &r, &NoExits)
        .expect("no cap binds")
        .expect("trace");
    let reached: Vec<u8> = fast.destinations.iter().map(|d| d.address.0[0]).collect();
    assert_eq!(reached, vec![5]);
    let held: Vec<(u8, u64, &str)> = fast
        .holding
        .iter()
        .map(|h| (h.address.0[0], h.amount.to::<u64>(), h.reason.name()))
        .collect();
    assert_eq!(held, vec![(5, 1, "not_moved")]);
}

proptest! {
    /// The galloping locator answers what the graph's own searches answer, for seqs in any order.
    #[test]
    fn locator_agrees_with_the_graph(
        rows in arb_graph(6, 10, false),
        order in prop::collection::vec(any::<prop::sample::Index>(), 1..100),
    ) {
        let g = build(&rows);
        let n = g.edge_count() as usize;
        let mut loc = super::super::engine::Locator::default();
        for i in order {
            let s = i.index(n) as u32;
            prop_assert_eq!(loc.block_tx(&g, s), (g.block_index(s), g.tx_index(s)));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The radix sort of a level's arrivals (levels of 4096 or more; the random graphs above stay below)
    /// gives the keys in order and keeps every arrival, for keys spread over all 32 bits or packed in a few.
    #[test]
    fn level_sort_orders_large_levels(keys in prop::collection::vec(any::<u32>(), 4000..12000), narrow in any::<bool>()) {
        use super::{Arrival, sort_by_key};
        let mut v: Vec<Arrival> = keys
            .iter()
            .enumerate()
            .map(|(i, &k)| Arrival { key: if narrow { k % 3000 } else { k }, rec: i as u32, receiver: k ^ 7 })
            .collect();
        let mut want: Vec<(u32, u32, u32)> = v.iter().map(|a| (a.key, a.rec, a.receiver)).collect();
        want.sort_unstable();
        let mut buf = Vec::new();
        sort_by_key(&mut v, &mut buf);
        prop_assert!(v.windows(2).all(|w| w[0].key <= w[1].key));
        let mut got: Vec<(u32, u32, u32)> = v.iter().map(|a| (a.key, a.rec, a.receiver)).collect();
        got.sort_unstable();
        prop_assert_eq!(got, want);
    }
}

/// A larger random graph than the property tests build (hundreds of addresses, many blocks with several
/// transactions of several transfers, two assets, some zero amounts): the reach set equals the set of
/// trace() destinations for many starts, both directions, several hop limits, exits listed and asked per
/// address. Deep enough for many levels and the two-halves path with real work in both halves.
#[test]
fn reach_set_equals_trace_destinations_on_a_larger_graph() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let addr = |i: u32| {
        let mut b = [0u8; 20];
        b[..4].copy_from_slice(&i.to_be_bytes());
        Address(b)
    };
    let mut ts = Vec::new();
    for block in 0..400u64 {
        for tx in 0..rng.random_range(1..5u32) {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&block.to_be_bytes());
            h[8..12].copy_from_slice(&tx.to_be_bytes());
            for pos in 0..rng.random_range(1..4u32) {
                let from = rng.random_range(0..300u32);
                ts.push(Transfer {
                    chain: Chain::Ethereum,
                    block,
                    timestamp: 1_700_000_000 + block * 12,
                    tx_hash: TxHash(h),
                    position: if pos == 0 {
                        Position::Tx
                    } else {
                        Position::Trace(vec![pos - 1])
                    },
                    from: addr(from),
                    to: addr(if rng.random_bool(0.3) {
                        from ^ 1
                    } else {
                        rng.random_range(0..300u32)
                    }),
                    asset: if rng.random_bool(0.2) {
                        Asset::Token(a(200))
                    } else {
                        Asset::Native
                    },
                    amount: U256::from(if rng.random_bool(0.05) {
                        0u64
                    } else {
                        rng.random_range(1..1000u64)
                    }),
                    kind: TransferKind::Native,
                    tx_from: addr(from),
                    tx_fee: U256::ZERO,
                    gas_price: U256::ZERO,
                });
            }
        }
    }
    let g = Graph::from_transfers(ts, StoreStamp::default()).expect("build");
    let labels: HashMap<(Chain, Address), ExitInfo> = [3u32, 77, 150]
        .into_iter()
        .map(|i| {
            let info = ExitInfo {
                category: ExitCategory::Exchange,
                name: "x".into(),
            };
            ((Chain::Ethereum, addr(i)), info)
        })
        .collect();
    /// The same labels, without the list (asked per address: the single-thread path).
    struct Unlisted<'a>(&'a HashMap<(Chain, Address), ExitInfo>);
    impl ExitOracle for Unlisted<'_> {
        fn exit(&self, chain: Chain, address: Address) -> Option<ExitInfo> {
            self.0.exit(chain, address)
        }
    }
    let mut checked = 0;
    for i in 0..60u32 {
        let start = (Chain::Ethereum, addr(i * 5 % 300));
        if g.node(start.0, start.1).is_none() {
            continue;
        }
        let mut r = TraceRequest::new(vec![start]);
        r.direction = if i % 2 == 0 {
            Direction::Forward
        } else {
            Direction::Backward
        };
        r.max_hops = 1 + i % 6;
        r.fan_out_cap = u32::MAX;
        let full = trace(&g, &r, &labels).expect("trace");
        let want: Vec<_> = full
            .destinations
            .iter()
            .map(|d| {
                (
                    g.node(d.chain, d.address).expect("node"),
                    g.asset_id(d.chain, d.asset).expect("asset"),
                )
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(
            reach_set(&g, &r, &labels).expect("reach set"),
            want,
            "start {i} listed"
        );
        assert_eq!(
            reach_set(&g, &r, &Unlisted(&labels)).expect("reach set"),
            want,
            "start {i} unlisted"
        );
        checked += usize::from(!want.is_empty());
    }
    assert!(checked > 20, "too few starts reached anything: {checked}");
}

//! Unit tests of link discovery on hand-built graphs, and a brute-force check of the path search.

use chaintrace_core::{Asset, Category, Chain};
use chaintrace_graph::{Graph, NodeId};
use proptest::prelude::*;

use super::*;
use crate::cluster::tests::{ETH, World, node};
use crate::cluster::{ClusterConfig, cluster};

const E: Chain = Chain::Ethereum;

fn run(w: &World, from: &[u8], to: &[u8], hops: u32) -> (Graph, LinkReport) {
    let (g, l) = w.graph();
    let from = from.iter().map(|&b| node(&g, E, b)).collect();
    let to = to.iter().map(|&b| node(&g, E, b)).collect();
    let q = LinkQuery {
        max_hops: hops,
        ..LinkQuery::new(from, Target::Nodes(to))
    };
    let r = links(&g, &l, None, &q).expect("search runs");
    (g, r)
}

fn kinds(r: &LinkReport) -> Vec<(LinkKind, LinkDirection, u32)> {
    r.links.iter().map(|l| (l.kind, l.direction, l.hops)).collect()
}

#[test]
fn direct_transfers_either_way_are_links() {
    let mut w = World::default();
    w.pay(E, 1, 2, ETH)
        .pay(E, 3, 1, ETH)
        .pay(E, 1, 3, ETH)
        .pay(E, 4, 5, ETH);
    let (g, r) = run(&w, &[1], &[2, 3, 4], 1);
    let k = kinds(&r);
    assert_eq!(
        k,
        vec![
            (LinkKind::Direct, LinkDirection::Outgoing, 1),
            (LinkKind::Direct, LinkDirection::Undirected, 1)
        ]
    );
    assert_eq!(r.links[0].to, node(&g, E, 2));
    assert_eq!(r.links[1].evidence[0].tx_hashes.len(), 2);
}

#[test]
fn time_respecting_paths_are_found_both_ways() {
    let mut w = World::default();
    w.pay(E, 1, 10, ETH).pay(E, 10, 11, ETH).pay(E, 11, 2, ETH); // 1 -> 10 -> 11 -> 2, in time order
    w.pay(E, 2, 12, ETH).pay(E, 12, 1, ETH); // 2 -> 12 -> 1 (incoming to 1)
    let (g, r) = run(&w, &[1], &[2], 6);
    let k = kinds(&r);
    assert!(k.contains(&(LinkKind::Path, LinkDirection::Outgoing, 3)), "{k:?}");
    assert!(k.contains(&(LinkKind::Path, LinkDirection::Incoming, 2)), "{k:?}");
    let out = r
        .links
        .iter()
        .find(|l| l.direction == LinkDirection::Outgoing)
        .expect("outgoing path");
    let hops: Vec<Vec<Address>> = out.evidence.iter().map(|e| e.addresses.clone()).collect();
    let a = crate::cluster::tests::a;
    assert_eq!(
        hops,
        vec![vec![a(1), a(10)], vec![a(10), a(11)], vec![a(11), a(2)]]
    );
    assert!(
        out.evidence
            .iter()
            .all(|e| e.tx_hashes.len() == 1 && e.chain == E)
    );
    // Hop limit: 2 hops cannot reach the 3-hop path.
    let (_, r2) = run(&w, &[1], &[2], 2);
    assert!(!kinds(&r2).contains(&(LinkKind::Path, LinkDirection::Outgoing, 3)));
    let _ = g;
}

#[test]
fn paths_that_go_back_in_time_are_not_links() {
    let mut w = World::default();
    w.pay(E, 10, 11, ETH).pay(E, 11, 2, ETH).pay(E, 1, 10, ETH); // 1 -> 10 happens after 10 -> 11
    let (_, r) = run(&w, &[1], &[2], 6);
    assert!(r.links.is_empty(), "{:?}", kinds(&r));
}

#[test]
fn an_earlier_arrival_over_more_hops_is_not_lost() {
    // 1 -> 20 early via 21 (2 hops), 1 -> 20 directly late; 20 -> 2 in between: only the 3-hop path works.
    let mut w = World::default();
    w.pay(E, 1, 21, ETH)
        .pay(E, 21, 20, ETH)
        .pay(E, 20, 2, ETH)
        .pay(E, 1, 20, ETH);
    let (_, r) = run(&w, &[1], &[2], 4);
    assert_eq!(kinds(&r), vec![(LinkKind::Path, LinkDirection::Outgoing, 3)]);
}

#[test]
fn exits_are_never_intermediate_hops() {
    let mut w = World::default();
    w.label(Some(E), 30, Category::Mixer, None);
    w.pay(E, 1, 30, ETH).pay(E, 30, 2, ETH);
    let (g, l) = w.graph();
    let q = LinkQuery::new(vec![node(&g, E, 1)], Target::Nodes(vec![node(&g, E, 2)]));
    let r = links(&g, &l, None, &q).expect("runs");
    assert!(r.links.is_empty());
    assert!(r.exits_skipped > 0);
    // The mixer itself as a target is fine.
    let q = LinkQuery::new(vec![node(&g, E, 1)], Target::Category(Category::Mixer));
    let r = links(&g, &l, None, &q).expect("runs");
    assert_eq!(kinds(&r), vec![(LinkKind::Direct, LinkDirection::Outgoing, 1)]);
}

#[test]
fn fan_out_cap_truncation_is_reported() {
    let mut w = World::default();
    for k in 0..10 {
        w.pay(E, 1, 100 + k, ETH);
    }
    w.pay(E, 109, 2, ETH);
    let (g, l) = w.graph();
    // Two hops: one forward from 1 (capped), one backward from 2; the meet needs the 10th transfer.
    let q = LinkQuery {
        fan_out_cap: 5,
        max_hops: 2,
        ..LinkQuery::new(vec![node(&g, E, 1)], Target::Nodes(vec![node(&g, E, 2)]))
    };
    let r = links(&g, &l, None, &q).expect("runs");
    let t = r
        .truncated
        .iter()
        .find(|t| t.node == node(&g, E, 1))
        .expect("1 truncated");
    assert_eq!((t.qualifying, t.followed), (10, 5));
    assert!(
        r.links.is_empty(),
        "the path goes through the 10th transfer, beyond the cap"
    );
    let q = LinkQuery { fan_out_cap: 10, ..q };
    assert_eq!(
        kinds(&links(&g, &l, None, &q).expect("runs")),
        vec![(LinkKind::Path, LinkDirection::Outgoing, 2)]
    );
}

#[test]
fn same_address_shared_deposit_and_common_funder_links() {
    let mut w = World::default();
    w.label(Some(E), 200, Category::Exchange, None);
    // 1 and 2 share deposit 10; 5 funds both 1 and 3 first; 1 is also active on BSC.
    w.pay(E, 5, 1, ETH / 10).pay(E, 5, 3, ETH / 10).pay(E, 9, 2, ETH);
    w.pay(E, 1, 10, ETH / 20)
        .pay(E, 2, 10, ETH / 2)
        .pay(E, 10, 200, ETH / 20 + ETH / 2);
    w.pay(Chain::Bsc, 1, 7, ETH);
    let (g, l) = w.graph();
    let from = vec![node(&g, E, 1)];
    let to = vec![node(&g, E, 2), node(&g, E, 3), node(&g, Chain::Bsc, 1)];
    let r = links(&g, &l, None, &LinkQuery::new(from, Target::Nodes(to))).expect("runs");
    let got: Vec<(LinkKind, NodeId)> = r.links.iter().map(|l| (l.kind, l.to)).collect();
    assert!(
        got.contains(&(LinkKind::SharedDeposit, node(&g, E, 2))),
        "{got:?}"
    );
    assert!(got.contains(&(LinkKind::CommonFunder, node(&g, E, 3))), "{got:?}");
    assert!(
        got.contains(&(LinkKind::SameAddress, node(&g, Chain::Bsc, 1))),
        "{got:?}"
    );
    let dep = r
        .links
        .iter()
        .find(|l| l.kind == LinkKind::SharedDeposit)
        .expect("deposit link");
    assert_eq!(dep.evidence.len(), 2);
    assert!(
        dep.evidence[0]
            .detail
            .contains(&crate::cluster::tests::a(10).to_hex())
    );
    let same = r
        .links
        .iter()
        .find(|l| l.kind == LinkKind::SameAddress)
        .expect("same address");
    let chains: Vec<Chain> = same.evidence.iter().map(|e| e.chain).collect();
    assert_eq!(chains, vec![E, Chain::Bsc]);
}

#[test]
fn same_cluster_links_carry_the_merge_chain() {
    let mut w = World::default();
    w.label(Some(E), 200, Category::Exchange, None);
    w.pay(E, 1, 10, ETH).pay(E, 2, 10, ETH).pay(E, 10, 200, 2 * ETH);
    let (g, l) = w.graph();
    let c = cluster(&g, &l, &[], &ClusterConfig::default()).expect("clusters");
    let q = LinkQuery::new(vec![node(&g, E, 1)], Target::Nodes(vec![node(&g, E, 2)]));
    let r = links(&g, &l, Some(&c), &q).expect("runs");
    let sc = r
        .links
        .iter()
        .find(|l| l.kind == LinkKind::SameCluster)
        .expect("same cluster link");
    assert_eq!(sc.evidence.len(), 1);
    assert_eq!(sc.evidence[0].tx_hashes.len(), 2);
    assert!(sc.evidence[0].detail.starts_with("deposit_reuse"));
}

#[test]
fn actor_and_category_targets_resolve_through_labels() {
    let mut w = World::default();
    w.label(None, 2, Category::Perpetrator, Some("lazarus"));
    w.pay(E, 1, 2, ETH).pay(E, 1, 3, ETH);
    let (g, l) = w.graph();
    let from = vec![node(&g, E, 1)];
    let r = links(
        &g,
        &l,
        None,
        &LinkQuery::new(from.clone(), Target::Actor("Lazarus".into())),
    )
    .expect("runs");
    assert_eq!(r.targets, 1);
    assert_eq!(r.links.len(), 1);
    let err = links(
        &g,
        &l,
        None,
        &LinkQuery::new(from.clone(), Target::Actor("nobody".into())),
    );
    assert!(matches!(err, Err(LinkError::EmptyTarget(_))));
    assert!(matches!(
        links(&g, &l, None, &LinkQuery::new(vec![], Target::Nodes(vec![0]))),
        Err(LinkError::NoStart)
    ));
    let bad = LinkQuery {
        max_hops: 0,
        ..LinkQuery::new(from, Target::Nodes(vec![0]))
    };
    assert!(matches!(
        links(&g, &l, None, &bad),
        Err(LinkError::BadLimit { .. })
    ));
}

/// Whether a time-respecting walk of 1..=h transfers leads from `s` to `t` (brute force over edges).
fn brute_reach(edges: &[(u8, u8)], s: u8, t: u8, h: u32) -> bool {
    // State: (node, index of last edge used); edges are in time order.
    let mut frontier: Vec<(u8, Option<usize>)> = vec![(s, None)];
    for _ in 0..h {
        let mut next = Vec::new();
        for &(u, last) in &frontier {
            for (i, &(x, y)) in edges.iter().enumerate() {
                if x == u && x != y && last.is_none_or(|l| i > l) {
                    if y == t {
                        return true;
                    }
                    next.push((y, Some(i)));
                }
            }
        }
        frontier = next;
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn path_search_matches_brute_force(
        raw in proptest::collection::vec((1u8..9, 1u8..9), 1..24),
        h in 1u32..6,
    ) {
        let mut w = World::default();
        for &(x, y) in &raw {
            w.at(E, w.transfers.len() as u64 + 1, x, y, Asset::Native, 1);
        }
        let (g, l) = w.graph();
        let present = |b: u8| g.node(E, crate::cluster::tests::a(b));
        for s in 1u8..9 {
            for t in 1u8..9 {
                let (Some(ns), Some(nt)) = (present(s), present(t)) else { continue };
                if s == t {
                    continue;
                }
                let q = LinkQuery { max_hops: h, fan_out_cap: 1_000, ..LinkQuery::new(vec![ns], Target::Nodes(vec![nt])) };
                let r = links(&g, &l, None, &q).expect("runs");
                let found = r.links.iter().any(|l| {
                    (l.kind == LinkKind::Path || l.kind == LinkKind::Direct)
                        && matches!(l.direction, LinkDirection::Outgoing | LinkDirection::Undirected)
                });
                prop_assert_eq!(found, brute_reach(&raw, s, t, h), "{} -> {} within {} hops", s, t, h);
                // Every reported path is time-respecting and within the limit.
                for l in r.links.iter().filter(|l| l.kind == LinkKind::Path) {
                    prop_assert!(l.hops <= h);
                }
            }
        }
    }
}

/// The sender marks are a shortcut for `Graph::edge_src`: same sender for every edge (a simulated world:
/// nodes with no out-edges between others, several chains).
#[test]
fn sender_marks_match_edge_src() {
    let cfg = chaintrace_sim::WorldConfig::new(5, 20_000);
    let (mem, _) = chaintrace_sim::generate_in_memory(&cfg).expect("sim world");
    let g = Graph::from_transfers(mem.transfers, chaintrace_graph::StoreStamp::default()).expect("graph");
    assert!(g.edge_count() > 10_000);
    for shift in [COARSE_SHIFT, FINE_SHIFT] {
        let mut marked = Senders::new(&g);
        marked.build_marks(shift);
        assert!(!marked.marks.is_empty());
        // Not enough lookups to switch to fine marks.
        for e in 0..g.edge_count() / 128 {
            assert_eq!(
                marked.of(e),
                g.edge_src(e),
                "marks every {} edges, edge {e}",
                1 << shift
            );
        }
        assert_eq!(marked.shift, shift);
    }
    // From none through coarse to fine marks, the same senders all the way.
    let mut senders = Senders::new(&g);
    for e in (0..g.edge_count()).chain(0..g.edge_count()) {
        assert_eq!(senders.of(e), g.edge_src(e), "edge {e}");
    }
    assert_eq!(senders.shift, FINE_SHIFT);
}

/// Runs `q` with every backward level listed, then with every one swept; both reports must be equal.
fn listed_and_swept(g: &Graph, l: &NodeLabels, q: &LinkQuery) -> (LinkReport, LinkReport) {
    let run = |pull| {
        FORCE_PULL.with(|f| f.set(Some(pull)));
        let r = links(g, l, None, q).expect("search runs");
        FORCE_PULL.with(|f| f.set(None));
        r
    };
    (run(false), run(true))
}

/// A swept backward level (`pull_level`) finds the same candidates as a listed one: same links, evidence,
/// truncations (a small cap cuts many nodes), exits and visited counts, on a simulated world.
#[test]
fn swept_and_listed_backward_levels_give_the_same_report() {
    let cfg = chaintrace_sim::WorldConfig::new(7, 20_000);
    let (mem, _) = chaintrace_sim::generate_in_memory(&cfg).expect("sim world");
    let g = Graph::from_transfers(mem.transfers, chaintrace_graph::StoreStamp::default()).expect("graph");
    let n = g.node_count();
    // The busiest receivers are exits: never crossed, counted when reached.
    let mut busiest: Vec<NodeId> = (0..n).collect();
    busiest.sort_by_key(|&x| std::cmp::Reverse(g.in_edge_slots(x).len()));
    let labels: Vec<chaintrace_core::Label> = busiest[..20]
        .iter()
        .map(|&x| {
            let (chain, address) = g.node_key(x);
            chaintrace_core::Label {
                chain: Some(chain),
                address,
                text: "exchange".to_string(),
                category: Category::Exchange,
                category_raw: None,
                abuse: None,
                actor: None,
                source: "test".to_string(),
                confidence: chaintrace_core::Confidence::new(90).expect("<= 100"),
            }
        })
        .collect();
    let l = NodeLabels::new(&g, &labels);
    let pick =
        |k: u32, salt: u32| -> Vec<NodeId> { (0..k).map(|i| (i * 7919 + salt * 104_729) % n).collect() };
    let (mut compared, mut exits) = (0, 0);
    for (size, cap) in [(5, 200), (40, 3), (200, 20)] {
        let q = LinkQuery {
            max_hops: 6,
            fan_out_cap: cap,
            ..LinkQuery::new(pick(size, 1), Target::Nodes(pick(size, 2)))
        };
        let (listed, swept) = listed_and_swept(&g, &l, &q);
        assert_eq!(listed, swept, "{size}x{size}, cap {cap}");
        compared += listed.links.len() + listed.truncated.len();
        exits += listed.exits_skipped;
    }
    assert!(
        compared > 100 && exits > 0,
        "the queries found too little to compare: {compared}, {exits}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// The same on random small graphs, with caps of 1..4 (so that `lo` bounds matter).
    #[test]
    fn swept_and_listed_agree_on_random_graphs(
        raw in proptest::collection::vec((1u8..9, 1u8..9), 1..40),
        h in 2u32..7,
        cap in 1u32..4,
    ) {
        let mut w = World::default();
        for &(x, y) in &raw {
            w.at(E, w.transfers.len() as u64 + 1, x, y, Asset::Native, 1);
        }
        w.label(Some(E), 4, Category::Exchange, None);
        let (g, l) = w.graph();
        let present: Vec<NodeId> = (1u8..9).filter_map(|b| g.node(E, crate::cluster::tests::a(b))).collect();
        let (from, to) = present.split_at(present.len() / 2);
        prop_assume!(!from.is_empty() && !to.is_empty());
        let q = LinkQuery {
            max_hops: h,
            fan_out_cap: cap,
            ..LinkQuery::new(from.to_vec(), Target::Nodes(to.to_vec()))
        };
        let (listed, swept) = listed_and_swept(&g, &l, &q);
        prop_assert_eq!(listed, swept);
    }
}

//! Unit tests of the clustering heuristics on hand-built graphs, and the union-find property test.

use chaintrace_core::{
    ActorId, Address, Asset, Category, Chain, Confidence, Label, Position, Transfer, TransferKind, TxHash,
    U256,
};
use chaintrace_graph::{Graph, NodeId, StoreStamp};
use proptest::prelude::*;

use super::*;

pub(crate) const ETH: u128 = 1_000_000_000_000_000_000;

/// Address with every byte `b` (b >= 1, so never the zero address).
pub(crate) fn a(b: u8) -> Address {
    Address([b; 20])
}

/// A hand-built world: transfers in the order given, one block (12 s) apart unless `at` says otherwise.
#[derive(Default)]
pub(crate) struct World {
    pub(crate) transfers: Vec<Transfer>,
    pub(crate) labels: Vec<Label>,
    next_block: u64,
}

impl World {
    /// A native transfer on `chain` in the next block.
    pub(crate) fn pay(&mut self, chain: Chain, from: u8, to: u8, amount: u128) -> &mut Self {
        let block = self.next_block + 1;
        self.at(chain, block, from, to, Asset::Native, amount)
    }

    /// A transfer in block `block` (timestamps: block * 12 s).
    pub(crate) fn at(
        &mut self,
        chain: Chain,
        block: u64,
        from: u8,
        to: u8,
        asset: Asset,
        amount: u128,
    ) -> &mut Self {
        self.next_block = self.next_block.max(block);
        let n = self.transfers.len() as u64;
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&n.to_be_bytes());
        h[31] = 0xaa;
        self.transfers.push(Transfer {
            chain,
            block,
            timestamp: 1_700_000_000 + block * 12,
            tx_hash: TxHash(h),
            position: Position::Tx,
            from: a(from),
            to: a(to),
            asset,
            amount: U256::from(amount),
            kind: TransferKind::Native,
            tx_from: a(from),
            tx_fee: U256::ZERO,
            gas_price: U256::ZERO,
        });
        self
    }

    /// Skips `blocks` blocks.
    pub(crate) fn wait(&mut self, blocks: u64) -> &mut Self {
        self.next_block += blocks;
        self
    }

    pub(crate) fn label(
        &mut self,
        chain: Option<Chain>,
        b: u8,
        category: Category,
        actor: Option<&str>,
    ) -> &mut Self {
        self.labels.push(Label {
            chain,
            address: a(b),
            text: format!("{} {b}", category.name()),
            category,
            category_raw: None,
            abuse: None,
            actor: actor.map(|x| ActorId(x.to_string())),
            source: "test".to_string(),
            confidence: Confidence::new(90).expect("<= 100"),
        });
        self
    }

    pub(crate) fn graph(&self) -> (Graph, NodeLabels) {
        let g =
            Graph::from_transfers(self.transfers.clone(), StoreStamp::default()).expect("test graph builds");
        let l = NodeLabels::new(&g, &self.labels);
        (g, l)
    }
}

pub(crate) fn node(g: &Graph, chain: Chain, b: u8) -> NodeId {
    g.node(chain, a(b)).expect("address in the test graph")
}

const E: Chain = Chain::Ethereum;
const HOT: u8 = 200;

/// Users 1 and 2 pay deposit address 10, which is swept to exchange hot wallet 200; user 3 pays deposit 11.
fn deposit_world() -> World {
    let mut w = World::default();
    w.label(Some(E), HOT, Category::Exchange, None);
    w.pay(E, HOT, 1, 5 * ETH)
        .pay(E, HOT, 2, 5 * ETH)
        .pay(E, HOT, 3, 5 * ETH);
    w.pay(E, 1, 10, ETH).pay(E, 10, HOT, ETH);
    w.pay(E, 2, 10, 2 * ETH).pay(E, 10, HOT, 2 * ETH);
    w.pay(E, 3, 11, ETH).pay(E, 11, HOT, ETH);
    w
}

#[test]
fn deposit_reuse_merges_the_senders_of_one_deposit_address_only() {
    let w = deposit_world();
    let (g, l) = w.graph();
    let c = cluster(&g, &l, &[], &ClusterConfig::only(&[Heuristic::DepositReuse])).expect("clusters");
    let (u1, u2, u3, d) = (node(&g, E, 1), node(&g, E, 2), node(&g, E, 3), node(&g, E, 10));
    assert_eq!(c.cluster_of(u1), c.cluster_of(u2));
    assert_ne!(c.cluster_of(u1), c.cluster_of(u3));
    assert_ne!(
        c.cluster_of(u1),
        c.cluster_of(d),
        "the deposit address is the exchange's, evidence only"
    );
    assert_eq!(
        c.cluster_of(u1),
        u1.min(u2),
        "canonical id is the smallest member"
    );
    assert_eq!(c.stats().deposit_addresses, 2);
    assert_eq!(c.stats().merges[hidx(Heuristic::DepositReuse)], 1);

    let ex = c.explain(&g, u2).expect("known node");
    assert_eq!(ex.members.len(), 2);
    assert_eq!(ex.members[0].node, u2, "asked node first");
    let other = &ex.members[1];
    assert_eq!(other.node, u1);
    assert_eq!(other.path.len(), 1);
    let step = &other.path[0];
    assert_eq!(step.heuristic, Heuristic::DepositReuse);
    assert_eq!(step.via, Some((E, a(10))));
    assert_eq!(step.tx_hashes.len(), 2, "both payments into the deposit address");
    assert_eq!(other.confidence, Heuristic::DepositReuse.confidence());
}

#[test]
fn late_or_partial_forwards_are_not_deposit_behaviour() {
    let mut w = World::default();
    w.label(Some(E), HOT, Category::Exchange, None);
    // 10 forwards two days later.
    w.pay(E, 1, 10, ETH)
        .pay(E, 2, 10, ETH)
        .wait(2 * 7_200)
        .pay(E, 10, HOT, 2 * ETH);
    // 11 forwards only a tenth of what it got.
    w.pay(E, 3, 11, 10 * ETH)
        .pay(E, 4, 11, 10 * ETH)
        .pay(E, 11, HOT, 2 * ETH);
    // 12 forwards on time but mostly to a non-exchange.
    w.pay(E, 5, 12, ETH)
        .pay(E, 6, 12, ETH)
        .pay(E, 12, HOT, ETH)
        .pay(E, 12, 7, ETH / 2)
        .pay(E, 12, 8, ETH / 2);
    let (g, l) = w.graph();
    let c = cluster(&g, &l, &[], &ClusterConfig::only(&[Heuristic::DepositReuse])).expect("clusters");
    assert_eq!(c.stats().deposit_addresses, 0);
    assert!(c.merges().is_empty());
}

#[test]
fn hubs_and_services_never_merge() {
    let mut w = deposit_world();
    // 50 pays deposit 10 too but has many transfers (a hub under hub_degree 7); 201 is a labeled mixer.
    for k in 0..8 {
        w.pay(E, 50, 60 + k, 1);
    }
    w.label(Some(E), 201, Category::Mixer, None);
    w.pay(E, 50, 10, ETH)
        .pay(E, 201, 10, ETH)
        .pay(E, 10, HOT, 2 * ETH);
    let (g, l) = w.graph();
    let config = ClusterConfig {
        hub_degree: 7,
        ..ClusterConfig::only(&[Heuristic::DepositReuse])
    };
    let c = cluster(&g, &l, &[], &config).expect("clusters");
    let (u1, hub, mixer) = (node(&g, E, 1), node(&g, E, 50), node(&g, E, 201));
    assert_eq!(c.cluster_of(u1), c.cluster_of(node(&g, E, 2)));
    assert_eq!(c.members(c.cluster_of(hub)), &[hub]);
    assert_eq!(c.members(c.cluster_of(mixer)), &[mixer]);
    assert!(c.stats().hub_nodes >= 1 && c.stats().service_nodes >= 2);
}

#[test]
fn supercluster_merge_of_two_actors_is_refused_and_reported() {
    let mut w = World::default();
    w.label(Some(E), HOT, Category::Exchange, None);
    w.label(Some(E), 1, Category::Perpetrator, Some("lazarus"));
    w.label(Some(E), 2, Category::Perpetrator, Some("apt99"));
    w.pay(E, 1, 10, ETH)
        .pay(E, 2, 10, ETH)
        .pay(E, 3, 10, ETH)
        .pay(E, 10, HOT, 3 * ETH);
    let (g, l) = w.graph();
    let c = cluster(&g, &l, &[], &ClusterConfig::only(&[Heuristic::DepositReuse])).expect("clusters");
    let (u1, u2, u3) = (node(&g, E, 1), node(&g, E, 2), node(&g, E, 3));
    assert_ne!(
        c.cluster_of(u1),
        c.cluster_of(u2),
        "two actors never share a cluster"
    );
    assert_eq!(c.refused().len(), 1);
    let r = &c.refused()[0];
    let actors = [r.left.actor.as_str(), r.right.actor.as_str()];
    assert!(
        actors.contains(&"lazarus") && actors.contains(&"apt99"),
        "{actors:?}"
    );
    assert!(!r.left.labels.is_empty() && !r.right.labels.is_empty());
    // The unlabeled third sender joins the first actor's side (merge order: first sender first).
    assert_eq!(c.cluster_of(u3), c.cluster_of(u1));
    let ex = c.explain(&g, u1).expect("known");
    assert_eq!(ex.refused.len(), 1);
}

#[test]
fn same_actor_on_both_sides_is_not_refused() {
    let mut w = World::default();
    w.label(Some(E), HOT, Category::Exchange, None);
    w.label(Some(E), 1, Category::Perpetrator, Some("lazarus"));
    w.label(Some(E), 2, Category::Perpetrator, Some("Lazarus"));
    w.pay(E, 1, 10, ETH).pay(E, 2, 10, ETH).pay(E, 10, HOT, 2 * ETH);
    let (g, l) = w.graph();
    let c = cluster(&g, &l, &[], &ClusterConfig::only(&[Heuristic::DepositReuse])).expect("clusters");
    // Actor ids compare ignoring ASCII case, as the store looks actors up.
    assert_eq!(c.cluster_of(node(&g, E, 1)), c.cluster_of(node(&g, E, 2)));
    assert!(c.refused().is_empty());
}

#[test]
fn gas_funder_merges_fresh_addresses_funded_in_one_burst() {
    let mut w = World::default();
    w.pay(E, 9, 5, 10 * ETH); // 5's own funding
    w.pay(E, 5, 6, ETH / 20).pay(E, 5, 7, ETH / 20); // burst: first incoming of 6 and 7
    w.pay(E, 8, 4, ETH).pay(E, 5, 4, ETH / 20); // 4 was not fresh when 5 paid it
    w.wait(1_000).pay(E, 5, 3, ETH / 20); // 3 funded much later: another burst of one
    w.pay(E, 5, 2, 3 * ETH).pay(E, 5, 1, 3 * ETH); // too large to be gas
    let (g, l) = w.graph();
    let c = cluster(&g, &l, &[], &ClusterConfig::only(&[Heuristic::GasFunder])).expect("clusters");
    let n = |b| node(&g, E, b);
    assert_eq!(c.cluster_of(n(6)), c.cluster_of(n(7)));
    for other in [4, 3, 2, 1, 5] {
        assert_ne!(c.cluster_of(n(other)), c.cluster_of(n(6)), "address {other}");
    }
    assert_eq!(c.merges().len(), 1);
    let ex = c.explain(&g, n(7)).expect("known");
    assert_eq!(ex.members[1].path[0].via, Some((E, a(5))));
    assert_eq!(ex.members[1].confidence, Heuristic::GasFunder.confidence());

    let config = ClusterConfig {
        gas: GasFunderRule {
            join_funder: true,
            ..GasFunderRule::default()
        },
        ..ClusterConfig::only(&[Heuristic::GasFunder])
    };
    let c = cluster(&g, &l, &[], &config).expect("clusters");
    assert_eq!(c.cluster_of(n(5)), c.cluster_of(n(6)), "funder joins when asked");
}

#[test]
fn a_faucet_funding_many_fresh_addresses_is_not_a_merge_reason() {
    let mut w = World::default();
    for k in 0..30 {
        w.pay(E, 5, 100 + k, ETH / 100);
    }
    let (g, l) = w.graph();
    let c = cluster(&g, &l, &[], &ClusterConfig::only(&[Heuristic::GasFunder])).expect("clusters");
    assert!(c.merges().is_empty());
    assert_eq!(c.stats().faucet_funders, 1);
}

#[test]
fn same_address_on_two_chains_is_one_entity_unless_a_service() {
    let mut w = World::default();
    w.pay(E, 1, 2, ETH)
        .pay(Chain::Bsc, 1, 3, ETH)
        .pay(Chain::Polygon, 4, 1, ETH);
    w.pay(E, 7, 8, ETH).pay(Chain::Bsc, 7, 9, ETH);
    w.label(Some(Chain::Bsc), 7, Category::Bridge, None);
    let (g, l) = w.graph();
    let c = cluster(&g, &l, &[], &ClusterConfig::only(&[Heuristic::SameAddress])).expect("clusters");
    let e1 = node(&g, E, 1);
    let members = c.members(c.cluster_of(e1));
    assert_eq!(members.len(), 3);
    assert_eq!(c.cluster_of(node(&g, Chain::Bsc, 1)), c.cluster_of(e1));
    assert_eq!(c.cluster_of(node(&g, Chain::Polygon, 1)), c.cluster_of(e1));
    assert_ne!(
        c.cluster_of(node(&g, E, 7)),
        c.cluster_of(node(&g, Chain::Bsc, 7)),
        "bridge label blocks"
    );
    let ex = c.explain(&g, node(&g, Chain::Polygon, 1)).expect("known");
    for m in &ex.members[1..] {
        assert!(m.path.iter().all(|s| s.heuristic == Heuristic::SameAddress));
        assert!(
            m.path.iter().all(|s| s.tx_hashes.len() == 2),
            "first transfer on each chain"
        );
    }
}

#[test]
fn explain_lists_the_chain_of_merges_across_heuristics() {
    let mut w = deposit_world();
    // User 2 is also active on BSC: its BSC node is two merges away from user 1.
    w.pay(Chain::Bsc, 2, 40, ETH);
    let (g, l) = w.graph();
    let c = cluster(&g, &l, &[], &ClusterConfig::default()).expect("clusters");
    let u1 = node(&g, E, 1);
    let ex = c.explain(&g, u1).expect("known");
    let bsc2 = node(&g, Chain::Bsc, 2);
    let m = ex
        .members
        .iter()
        .find(|m| m.node == bsc2)
        .expect("BSC node of user 2 is in");
    let kinds: Vec<Heuristic> = m.path.iter().map(|s| s.heuristic).collect();
    assert_eq!(kinds, vec![Heuristic::DepositReuse, Heuristic::SameAddress]);
    assert_eq!(m.path[0].from, u1);
    assert_eq!(m.path[1].to, bsc2);
    assert!(c.explain(&g, g.node_count()).is_err());
}

#[test]
fn self_approval_merges_only_approvals_to_known_eoas() {
    let mut w = World::default();
    w.pay(E, 1, 2, ETH).pay(E, 3, 4, ETH).pay(E, 5, 6, ETH);
    let (g, l) = w.graph();
    let ap = |owner, spender, is_contract| Approval {
        chain: E,
        token: a(99),
        owner: a(owner),
        spender: a(spender),
        spender_is_contract: is_contract,
        tx_hash: TxHash([owner; 32]),
    };
    let approvals = [
        ap(1, 3, Some(false)),
        ap(2, 4, None),
        ap(5, 6, Some(true)),
        ap(1, 77, Some(false)),
    ];
    let c = cluster(
        &g,
        &l,
        &approvals,
        &ClusterConfig::only(&[Heuristic::SelfApproval]),
    )
    .expect("clusters");
    assert_eq!(c.cluster_of(node(&g, E, 1)), c.cluster_of(node(&g, E, 3)));
    assert_ne!(
        c.cluster_of(node(&g, E, 2)),
        c.cluster_of(node(&g, E, 4)),
        "unknown spender code"
    );
    assert_ne!(
        c.cluster_of(node(&g, E, 5)),
        c.cluster_of(node(&g, E, 6)),
        "contract spender"
    );
    assert_eq!(c.stats().approvals_skipped, 3);
    let ex = c.explain(&g, node(&g, E, 3)).expect("known");
    assert_eq!(ex.members[1].path[0].tx_hashes, vec![(E, TxHash([1; 32]))]);
}

#[test]
fn bad_config_is_an_error() {
    let w = deposit_world();
    let (g, l) = w.graph();
    let config = ClusterConfig {
        hub_degree: 0,
        ..ClusterConfig::default()
    };
    assert!(matches!(
        cluster(&g, &l, &[], &config),
        Err(ClusterError::BadConfig { .. })
    ));
}

/// Canonical ids by brute force: the smallest element reachable through the pairs.
fn naive_components(n: u32, pairs: &[(u32, u32)]) -> Vec<u32> {
    let mut comp: Vec<u32> = (0..n).collect();
    loop {
        let mut changed = false;
        for &(x, y) in pairs {
            let m = comp[x as usize].min(comp[y as usize]);
            for z in [x, y] {
                if comp[z as usize] != m {
                    comp[z as usize] = m;
                    changed = true;
                }
            }
        }
        if !changed {
            return comp;
        }
    }
}

proptest! {
    #[test]
    fn union_find_canonical_ids_do_not_depend_on_merge_order(
        n in 1u32..60,
        raw in proptest::collection::vec((0u32..1000, 0u32..1000), 0..120),
        seed in any::<u64>(),
    ) {
        let pairs: Vec<(u32, u32)> = raw.iter().map(|&(x, y)| (x % n, y % n)).collect();
        let mut shuffled = pairs.clone();
        // Deterministic shuffle from the seed (Fisher-Yates with an LCG), and flipped pair sides.
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let j = (s >> 33) as usize % (i + 1);
            shuffled.swap(i, j);
            if s & 1 == 1 {
                let (x, y) = shuffled[i];
                shuffled[i] = (y, x);
            }
        }
        let run = |ps: &[(u32, u32)]| {
            let mut uf = UnionFind::new(n);
            for &(x, y) in ps {
                uf.union(x, y);
            }
            (0..n).map(|x| uf.canonical(x)).collect::<Vec<u32>>()
        };
        let expected = naive_components(n, &pairs);
        prop_assert_eq!(run(&pairs), expected.clone());
        prop_assert_eq!(run(&shuffled), expected);
    }
}

/// `BlockClock` and the galloping `seq_index` are shortcuts for `Graph::block_index` / `Graph::tx_index`:
/// they must give the same index for every seq (a multi-chain simulated world: blocks of many sizes,
/// chain boundaries, several transfers per transaction).
#[test]
fn block_clock_and_gallop_match_the_graph_binary_searches() {
    let cfg = chaintrace_sim::WorldConfig::new(7, 20_000);
    let (mem, _) = chaintrace_sim::generate_in_memory(&cfg).expect("sim world");
    let g = Graph::from_transfers(mem.transfers, StoreStamp::default()).expect("graph");
    assert!(g.edge_count() > 10_000);
    let clock = BlockClock::new(&g);
    let (mut bi, mut ti) = (None, None);
    // Every seq, and every 7th (bigger steps for the gallop).
    for step in [1u32, 7] {
        for seq in (0..g.edge_count()).step_by(step as usize) {
            let want_b = g.block_index(seq);
            let want_t = g.tx_index(seq);
            assert_eq!(clock.block(seq), want_b, "block of seq {seq}");
            let b = seq_index(seq, bi, |i| g.block_seqs(i).start, || g.block_index(seq));
            let t = seq_index(seq, ti, |i| g.tx_seqs(i).start, || g.tx_index(seq));
            assert_eq!((b, t), (want_b, want_t), "gallop at seq {seq}");
            (bi, ti) = (Some(b), Some(t));
        }
        (bi, ti) = (None, None);
    }
    for e in (0..g.edge_count()).step_by(13) {
        assert_eq!(clock.time(e), edge_time(&g, e), "time of edge {e}");
    }
}

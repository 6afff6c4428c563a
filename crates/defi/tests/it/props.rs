//! Property tests: matching never runs backwards in time; collapsing multi-hop swaps keeps first in and
//! last out; mixer links never pair a withdrawal with a later deposit.

use chaintrace_core::{Address, Asset, Chain, Position, Transfer, TransferKind, TxHash, U256};
use chaintrace_defi::bridge::{
    BridgeEvent, BridgeEvidence, BridgeSide, MatchConfig, MessageId, match_bridge_events,
};
use chaintrace_defi::mixer::{LinkConfig, MixerDeposit, MixerWithdrawal, link_mixer};
use chaintrace_defi::swap::{DexRegistry, PoolSwap, PoolVersion, collapse_hops, detect_tx_conversions};
use proptest::prelude::*;

fn a(n: u8) -> Address {
    Address([n; 20])
}

fn bridge_event(side: BridgeSide, chain: u8, ts: u64, who: u8, amount: u64, id: Option<u8>) -> BridgeEvent {
    BridgeEvent {
        side,
        bridge: "b".to_string(),
        chain: Chain::ALL[chain as usize % 5],
        block: ts,
        timestamp: ts,
        tx_hash: TxHash([who; 32]),
        position: Position::Tx,
        contract: a(200),
        from: Some(a(who)),
        recipient: if who.is_multiple_of(2) { Some(a(who)) } else { None },
        tx_from: a(who),
        asset: Asset::Native,
        amount: U256::from(amount),
        counterpart_chain: None,
        message_id: id.map(|i| MessageId {
            namespace: "b".to_string(),
            id: [i; 32],
        }),
        evidence: BridgeEvidence::Transfer,
    }
}

type Ev = (u8, u64, u8, u64, Option<u8>);

fn events() -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec(
        (
            0u8..5,
            0u64..5_000,
            0u8..6,
            990u64..1_010,
            prop::option::of(0u8..4),
        ),
        0..40,
    )
}

proptest! {
    #[test]
    fn a_match_never_pairs_a_release_before_its_deposit(deps in events(), rels in events()) {
        let deposits: Vec<BridgeEvent> =
            deps.iter().map(|&(c, t, w, x, id)| bridge_event(BridgeSide::Deposit, c, t, w, x, id)).collect();
        let releases: Vec<BridgeEvent> =
            rels.iter().map(|&(c, t, w, x, id)| bridge_event(BridgeSide::Release, c, t, w, x, id)).collect();
        let m = match_bridge_events(&deposits, &releases, &MatchConfig::default());
        prop_assert_eq!(m.len(), deposits.len());
        for dm in &m {
            for c in &dm.candidates {
                let (d, r) = (&deposits[dm.deposit], &releases[c.release]);
                prop_assert!(r.timestamp >= d.timestamp);
                prop_assert!(r.chain != d.chain);
                prop_assert!(c.confidence > 0.0 && c.confidence <= 1.0);
                prop_assert_eq!(c.confidence == 1.0, c.by_message_id);
            }
        }
    }

    #[test]
    fn collapsing_a_multi_hop_route_keeps_first_in_and_last_out(
        amounts in prop::collection::vec(1u64..1_000_000_000, 2..7),
        v3 in prop::collection::vec(any::<bool>(), 6),
    ) {
        let hops: Vec<PoolSwap> = (0..amounts.len() - 1)
            .map(|i| PoolSwap {
                pool: a(100 + i as u8),
                version: if v3[i] { PoolVersion::V3 } else { PoolVersion::V2 },
                log_index: 10 * i as u32,
                sender: a(99),
                recipient: a(100 + i as u8 + 1),
                token_in: Some(Asset::Token(a(i as u8 + 1))),
                amount_in: U256::from(amounts[i]),
                token_out: Some(Asset::Token(a(i as u8 + 2))),
                amount_out: U256::from(amounts[i + 1]),
            })
            .collect();
        let last = hops.len() - 1;
        let mut shuffled = hops.clone();
        shuffled.reverse();
        let got = collapse_hops(&shuffled);
        prop_assert_eq!(got, Some((hops[0].token_in.expect("set"), hops[0].amount_in,
            hops[last].token_out.expect("set"), hops[last].amount_out)));
    }

    #[test]
    fn a_multi_hop_transaction_gives_one_conversion_from_first_in_to_last_out(
        amounts in prop::collection::vec(1u64..1_000_000_000, 2..6),
    ) {
        // Only transfers through pool-like hops (no logs): the router rule must see -first +last.
        let signer = a(1);
        let n = amounts.len();
        let t = |i: usize, from: Address, to: Address| Transfer {
            chain: Chain::Ethereum, block: 1, timestamp: 1, tx_hash: TxHash([9; 32]), position: Position::Log(i as u32),
            from, to, asset: Asset::Token(a(50 + i as u8)), amount: U256::from(amounts[i]), kind: TransferKind::Token,
            tx_from: signer, tx_fee: U256::ZERO, gas_price: U256::ZERO,
        };
        let mut transfers = vec![t(0, signer, a(100))];
        for i in 1..n {
            let to = if i + 1 == n { signer } else { a(100 + i as u8) };
            transfers.push(t(i, a(100 + i as u8 - 1), to));
        }
        let refs: Vec<&Transfer> = transfers.iter().collect();
        let conv = detect_tx_conversions(&[], &refs, &DexRegistry::empty());
        prop_assert_eq!(conv.len(), 1);
        prop_assert_eq!((conv[0].asset_in, conv[0].amount_in), (Asset::Token(a(50)), U256::from(amounts[0])));
        prop_assert_eq!((conv[0].asset_out, conv[0].amount_out), (Asset::Token(a(50 + n as u8 - 1)), U256::from(amounts[n - 1])));
    }

    #[test]
    fn mixer_links_never_pair_a_withdrawal_with_a_later_deposit(
        deps in prop::collection::vec((0u8..2, 0u64..20_000, 0u8..6, 0u64..4), 0..30),
        wds in prop::collection::vec((0u8..2, 0u64..20_000, 0u8..6, 0u64..4, any::<bool>()), 0..30),
    ) {
        let gas = |g: u64| U256::from(1_000_000_000u64 + g * 7);
        let deposits: Vec<MixerDeposit> = deps.iter().map(|&(p, ts, who, g)| MixerDeposit {
            chain: Chain::Ethereum, pool: a(200 + p), block: ts, timestamp: ts, tx_hash: TxHash([who; 32]), log_index: 0,
            depositor: a(who), commitment: [0; 32], leaf_index: 0, asset: Asset::Native,
            denomination: U256::from(p as u64 + 1), gas_price: Some(gas(g)),
        }).collect();
        let withdrawals: Vec<MixerWithdrawal> = wds.iter().map(|&(p, ts, who, g, relayed)| MixerWithdrawal {
            chain: Chain::Ethereum, pool: a(200 + p), block: ts, timestamp: ts, tx_hash: TxHash([who; 32]), log_index: 0,
            recipient: a(who), nullifier_hash: [0; 32], relayer: if relayed { a(150) } else { Address::ZERO }, fee: U256::ZERO,
            tx_from: if relayed { a(150) } else { a(who) }, asset: Asset::Native,
            denomination: U256::from(p as u64 + 1), gas_price: Some(gas(g)),
        }).collect();
        for link in link_mixer(&deposits, &withdrawals, &LinkConfig::default()) {
            prop_assert!(link.confidence > 0.0 && link.confidence < 1.0);
            let first_wd = link.withdrawals.iter().map(|&w| withdrawals[w].timestamp).min().expect("non-empty");
            let first_dep = link.deposits.iter().map(|&d| deposits[d].timestamp).min().expect("non-empty");
            prop_assert!(first_dep < first_wd, "{:?}", link);
        }
    }
}

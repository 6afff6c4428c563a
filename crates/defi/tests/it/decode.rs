//! Decoders on fixtures in node JSON format with the real event signatures.

use chaintrace_core::{Asset, Chain, U256};
use chaintrace_defi::bridge::{
    BridgeRegistry, BridgeSide, MatchConfig, MatchVerdict, decode_bridge_events, match_bridge_events,
    split_sides,
};
use chaintrace_defi::mixer::{LinkConfig, MixerHeuristic, MixerRegistry, decode_mixer_events, link_mixer};
use chaintrace_defi::swap::{ConversionKind, DexRegistry, detect_conversions};

use crate::fixtures::{addr, load};

const U: &str = "0x1111111111111111111111111111111111111111";
const V: &str = "0x2222222222222222222222222222222222222222";
const W: &str = "0x3333333333333333333333333333333333333333";
const USDC: &str = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48";
const WETH: &str = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2";
const DAI: &str = "0x6b175474e89094c44da98b954eedeac495271d0f";

fn e18(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u8))
}

#[test]
fn two_hop_v2_swap_collapses_into_one_conversion_for_the_signer() {
    let f = load("uniswap_v2_two_hop_usdc_weth_dai.json");
    assert_eq!(f.logs.len(), 2, "two Swap logs kept, Sync logs dropped");
    for registry in [DexRegistry::builtin(), {
        let mut r = DexRegistry::builtin();
        let (p1, p2) = (
            addr("0xb4e16d0168e52d35cacd2c6185b44281ec28c9dc"),
            addr("0xa478c2975ab1ea89e8196811f51a7b7ade33eb11"),
        );
        r.add_pool(Chain::Ethereum, p1, addr(USDC), addr(WETH));
        r.add_pool(Chain::Ethereum, p2, addr(DAI), addr(WETH));
        r
    }] {
        let conv = detect_conversions(&f.logs, &f.transfers, &registry);
        assert_eq!(conv.len(), 1, "{conv:?}");
        let c = &conv[0];
        assert_eq!((c.owner, c.recipient), (addr(U), addr(U)));
        assert_eq!(
            (c.asset_in, c.amount_in),
            (Asset::Token(addr(USDC)), U256::from(1_000_000_000u64))
        );
        assert_eq!((c.asset_out, c.amount_out), (Asset::Token(addr(DAI)), e18(999)));
        assert_eq!(c.kind, ConversionKind::SwapV2);
        assert_eq!(c.pools.len(), 2);
        assert_eq!(c.evidence, vec![17, 20, 21, 23]);
    }
}

#[test]
fn v3_swap_paid_in_native_through_a_wrapping_router_is_native_to_token() {
    let f = load("uniswap_v3_eth_for_usdc_via_router.json");
    let conv = detect_conversions(&f.logs, &f.transfers, &DexRegistry::builtin());
    assert_eq!(conv.len(), 1, "{conv:?}");
    let c = &conv[0];
    assert_eq!(c.owner, addr(U));
    assert_eq!((c.asset_in, c.amount_in), (Asset::Native, e18(1)));
    assert_eq!(
        (c.asset_out, c.amount_out),
        (Asset::Token(addr(USDC)), U256::from(3_000_000_000u64))
    );
    assert_eq!(c.kind, ConversionKind::SwapV3);
    assert_eq!(
        c.pools,
        vec![addr("0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640"), addr(WETH)]
    );
}

#[test]
fn weth_withdrawal_is_an_unwrap_for_its_holder() {
    let f = load("weth_withdrawal_unwrap.json");
    let conv = detect_conversions(&f.logs, &f.transfers, &DexRegistry::builtin());
    assert_eq!(conv.len(), 1, "{conv:?}");
    let c = &conv[0];
    assert_eq!(c.kind, ConversionKind::Unwrap);
    assert_eq!(
        (c.asset_in, c.asset_out),
        (Asset::Token(addr(WETH)), Asset::Native)
    );
    assert_eq!((c.amount_in, c.amount_out), (e18(2), e18(2)));
    // An unknown emitter of the same event without the native leg is not believed.
    let mut forged = f.logs.clone();
    forged[0].address = addr("0x00000000000000000000000000000000000000ee");
    assert!(detect_conversions(&forged, &[], &DexRegistry::builtin()).is_empty());
}

#[test]
fn optimism_eth_deposit_decodes_on_both_chains_without_double_counting_and_matches() {
    let f = load("optimism_eth_deposit_l1_and_l2.json");
    let events = decode_bridge_events(&f.logs, &f.transfers, &BridgeRegistry::builtin());
    assert_eq!(
        events.len(),
        2,
        "legacy + bedrock events and the value transfers count once: {events:?}"
    );
    let (deposits, releases) = split_sides(events);
    let (d, r) = (&deposits[0], &releases[0]);
    assert_eq!(
        (d.chain, d.side, d.asset),
        (Chain::Ethereum, BridgeSide::Deposit, Asset::Native)
    );
    assert_eq!(
        (d.from, d.recipient, d.counterpart_chain),
        (Some(addr(U)), Some(addr(V)), Some(Chain::Optimism))
    );
    assert_eq!(
        (r.chain, r.asset, r.recipient),
        (Chain::Optimism, Asset::Native, Some(addr(V)))
    );
    assert_eq!(d.amount, r.amount);
    let m = match_bridge_events(&deposits, &releases, &MatchConfig::default());
    assert_eq!(m[0].verdict, MatchVerdict::Matched);
    assert_eq!(m[0].candidates[0].release, 0);
    assert!(
        m[0].candidates[0].reason.starts_with("same recipient"),
        "{}",
        m[0].candidates[0].reason
    );
    assert!(m[0].candidates[0].confidence > 0.9 && m[0].candidates[0].confidence < 1.0);
}

#[test]
fn arbitrum_eth_deposit_reads_recipient_and_value_from_the_inbox_message() {
    let f = load("arbitrum_eth_deposit_inbox.json");
    let events = decode_bridge_events(&f.logs, &f.transfers, &BridgeRegistry::builtin());
    assert_eq!(events.len(), 1, "{events:?}");
    let d = &events[0];
    assert_eq!(d.side, BridgeSide::Deposit);
    assert_eq!(
        (d.recipient, d.amount, d.asset),
        (Some(addr(U)), e18(1) / U256::from(4u8), Asset::Native)
    );
    assert_eq!(d.counterpart_chain, Some(Chain::Arbitrum));
}

#[test]
fn multichain_release_names_its_source_tx_so_the_pair_matches_by_message_id() {
    let f = load("multichain_bsc_to_ethereum.json");
    let (deposits, releases) = split_sides(decode_bridge_events(
        &f.logs,
        &f.transfers,
        &BridgeRegistry::builtin(),
    ));
    assert_eq!((deposits.len(), releases.len()), (1, 1));
    assert_eq!(deposits[0].counterpart_chain, Some(Chain::Ethereum));
    assert_eq!(releases[0].counterpart_chain, Some(Chain::Bsc));
    let m = match_bridge_events(&deposits, &releases, &MatchConfig::default());
    assert_eq!(m[0].verdict, MatchVerdict::Matched);
    assert_eq!(
        (m[0].candidates[0].confidence, m[0].candidates[0].reason.as_str()),
        (1.0, "message id")
    );
}

#[test]
fn generic_test_bridge_events_decode_only_from_registered_contracts_and_match_by_id() {
    let f = load("generic_bridge_deposit_and_release.json");
    assert!(decode_bridge_events(&f.logs, &f.transfers, &BridgeRegistry::builtin()).is_empty());
    let mut registry = BridgeRegistry::builtin();
    let csv = "chain,address,bridge,role\n\
               ethereum,0x5fbdb2315678afecb367f032d93f642f64180aa3,chaintrace-test,deposit\n\
               optimism,0xe7f1725e7734ce288f8367e1bb143e90bb3f0512,chaintrace-test,release\n";
    assert_eq!(registry.extend_from_csv(csv, "bridges.csv"), Ok(2));
    let events = decode_bridge_events(&f.logs, &f.transfers, &registry);
    assert_eq!(
        events.len(),
        2,
        "the token transfers into/out of the bridge are covered by the logs: {events:?}"
    );
    let (deposits, releases) = split_sides(events);
    assert_eq!(deposits[0].recipient, Some(addr(W)));
    assert_eq!(deposits[0].counterpart_chain, Some(Chain::Optimism));
    assert_eq!(releases[0].counterpart_chain, Some(Chain::Ethereum));
    let m = match_bridge_events(&deposits, &releases, &MatchConfig::default());
    assert_eq!(
        (m[0].verdict, m[0].candidates[0].by_message_id),
        (MatchVerdict::Matched, true)
    );
}

#[test]
fn tornado_deposit_and_relayed_withdrawal_decode_and_link_only_by_timing() {
    let f = load("tornado_deposit_and_relayed_withdrawal.json");
    let (deps, wds) = decode_mixer_events(&f.logs, &f.transfers, &MixerRegistry::builtin());
    assert_eq!((deps.len(), wds.len()), (1, 1));
    assert_eq!(deps[0].depositor, addr(U));
    assert_eq!(deps[0].leaf_index, 41_234);
    assert_eq!(deps[0].denomination, e18(1) / U256::from(10u8));
    assert_eq!(deps[0].gas_price, Some(U256::from(21_123_456_789u64)));
    assert_eq!(
        wds[0].recipient,
        addr("0x4444444444444444444444444444444444444444")
    );
    assert_eq!(wds[0].relayer, addr("0x5555555555555555555555555555555555555555"));
    assert_eq!(wds[0].fee, U256::from(2_000_000_000_000_000u64));
    assert!(!wds[0].is_self_relayed());
    let links = link_mixer(&deps, &wds, &LinkConfig::default());
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].heuristic, MixerHeuristic::LoneDepositTiming);
    assert!(
        (links[0].confidence - 0.2 * (1.0 - 0.5 / 3.0)).abs() < 1e-9,
        "{}",
        links[0].confidence
    );
}

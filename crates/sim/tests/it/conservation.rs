use std::collections::{HashMap, HashSet};

use chaintrace_core::{Address, Asset, Chain, Transfer, TransferKind, U256};
use chaintrace_sim::{GroundTruth, WorldConfig};

use crate::{small, world};

/// Replays transfers in the store's read order (timestamp, chain, block, tx hash, position) and returns
/// the first address that went negative, if any.
fn first_overdraft(transfers: &[Transfer], truth: &GroundTruth) -> Option<String> {
    let mut sorted: Vec<&Transfer> = transfers.iter().collect();
    sorted.sort_by(|a, b| {
        (a.timestamp, a.chain, a.block, a.tx_hash, &a.position).cmp(&(
            b.timestamp,
            b.chain,
            b.block,
            b.tx_hash,
            &b.position,
        ))
    });
    let sources: HashSet<Address> = truth.sources.iter().copied().collect();
    let mut balances: HashMap<(Chain, Asset, Address), U256> = HashMap::new();
    for t in sorted {
        if !sources.contains(&t.from) {
            let b = balances.entry((t.chain, t.asset, t.from)).or_default();
            if *b < t.amount {
                return Some(format!(
                    "{} spends {} {:?} holding {} in {}",
                    t.from, t.amount, t.asset, b, t.tx_hash
                ));
            }
            *b -= t.amount;
        }
        *balances.entry((t.chain, t.asset, t.to)).or_default() += t.amount;
    }
    None
}

#[test]
fn no_address_ever_spends_more_than_it_holds() {
    for config in [
        small(1),
        small(2),
        WorldConfig {
            link_incidents: false,
            ..small(5)
        },
    ] {
        let (mem, truth) = world(&config);
        assert_eq!(
            first_overdraft(&mem.transfers, &truth),
            None,
            "seed {}",
            config.seed
        );
    }
}

#[test]
fn all_five_evm_chains_stay_balance_consistent() {
    let config = WorldConfig {
        chains: vec![
            Chain::Ethereum,
            Chain::Bsc,
            Chain::Polygon,
            Chain::Arbitrum,
            Chain::Optimism,
        ],
        ..small(9)
    };
    let (mem, truth) = world(&config);
    assert_eq!(first_overdraft(&mem.transfers, &truth), None);
    for c in &truth.chains {
        assert!(c.transfers > 100, "{} has {} transfers", c.chain, c.transfers);
    }
}

#[test]
fn the_checker_catches_an_overdraft() {
    let (mut mem, truth) = world(&small(1));
    // Inflate one ordinary user's payment: the replay must flag it.
    let t = mem
        .transfers
        .iter_mut()
        .find(|t| truth.owners.get(&t.from).is_some_and(|o| o.starts_with("user:")))
        .expect("a user payment exists");
    t.amount = U256::MAX / U256::from(2);
    assert!(first_overdraft(&mem.transfers, &truth).is_some());
}

#[test]
fn identities_blocks_and_positions_are_consistent() {
    let (mem, truth) = world(&small(4));
    let mut ids = HashSet::new();
    for t in &mem.transfers {
        assert!(
            ids.insert((t.chain, t.tx_hash, t.position.clone())),
            "duplicate identity {}",
            t.tx_hash
        );
        match t.kind {
            TransferKind::Token => assert!(matches!(t.asset, Asset::Token(_))),
            _ => assert_eq!(t.asset, Asset::Native),
        }
        assert!(!t.tx_fee.is_zero() && !t.gas_price.is_zero());
    }
    // A tx hash belongs to one block of one chain.
    let mut tx_block = HashMap::new();
    for t in &mem.transfers {
        assert_eq!(
            *tx_block.entry(t.tx_hash).or_insert((t.chain, t.block)),
            (t.chain, t.block)
        );
    }
    // Blocks are contiguous per chain, timestamps increase by the block time, parents link.
    for c in &truth.chains {
        let blocks: Vec<_> = mem.blocks.iter().filter(|b| b.chain == c.chain).collect();
        assert_eq!(blocks.first().map(|b| b.number), Some(c.first_block));
        assert_eq!(blocks.last().map(|b| b.number), Some(c.last_block));
        for w in blocks.windows(2) {
            assert_eq!(w[1].number, w[0].number + 1);
            assert_eq!(w[1].timestamp, w[0].timestamp + c.block_time);
            assert_eq!(w[1].parent_hash, w[0].hash);
        }
        let by_number: HashMap<u64, u64> = blocks.iter().map(|b| (b.number, b.timestamp)).collect();
        for t in mem.transfers.iter().filter(|t| t.chain == c.chain) {
            assert_eq!(
                by_number.get(&t.block),
                Some(&t.timestamp),
                "transfer outside written blocks"
            );
        }
    }
    // Log indices are unique within a block.
    let mut logs = HashSet::new();
    for t in &mem.transfers {
        if let chaintrace_core::Position::Log(i) = t.position {
            assert!(logs.insert((t.chain, t.block, i)));
        }
    }
}

#[test]
fn every_feature_switch_still_gives_a_consistent_world() {
    let base = WorldConfig {
        target_transfers: 6_000,
        ..small(31)
    };
    let variants = [
        WorldConfig {
            tokens: false,
            ..base.clone()
        },
        WorldConfig {
            dex: false,
            ..base.clone()
        },
        WorldConfig {
            bridge: false,
            ..base.clone()
        },
        WorldConfig {
            mixer: false,
            peel_chains: false,
            ..base.clone()
        },
        WorldConfig {
            chains: vec![Chain::Bsc],
            ..base.clone()
        },
        WorldConfig {
            chains: vec![Chain::Arbitrum, Chain::Optimism],
            tokens: false,
            ..base.clone()
        },
        WorldConfig {
            incidents: 0,
            exchanges: 1,
            ..base.clone()
        },
        WorldConfig {
            incidents: 6,
            label_earlier_incidents: false,
            ..base.clone()
        },
    ];
    for config in variants {
        let (mem, truth) = world(&config);
        assert!(mem.transfers.len() as u64 >= config.target_transfers);
        assert_eq!(first_overdraft(&mem.transfers, &truth), None, "{config:?}");
        assert_eq!(truth.incidents.len(), config.incidents as usize);
        for inc in &truth.incidents {
            assert!(!inc.drains.is_empty(), "{} drained nothing in {config:?}", inc.id);
        }
        if !config.tokens {
            assert!(mem.transfers.iter().all(|t| t.asset == Asset::Native));
        }
        if !config.dex {
            assert!(truth.swaps.is_empty());
        }
        if !config.mixer {
            assert!(truth.mixer_uses.is_empty());
        }
        if !config.label_earlier_incidents {
            assert!(truth.labels.iter().all(|l| l.category != "perpetrator"));
        }
    }
}

use std::collections::{HashMap, HashSet};

use chaintrace_core::{Address, Asset, Chain, Transfer, TxHash, U256};
use chaintrace_sim::{DestinationKind, GroundTruth, WorldConfig};

use crate::{small, world};

fn by_tx(transfers: &[Transfer]) -> HashMap<TxHash, Vec<&Transfer>> {
    let mut m: HashMap<TxHash, Vec<&Transfer>> = HashMap::new();
    for t in transfers {
        m.entry(t.tx_hash).or_default().push(t);
    }
    m
}

fn touches(transfers: &[Transfer], chain: Chain, address: Address) -> bool {
    transfers
        .iter()
        .any(|t| t.chain == chain && (t.from == address || t.to == address))
}

#[test]
fn every_drain_in_the_truth_was_written() {
    let (mem, truth) = world(&small(21));
    assert_eq!(truth.incidents.len(), 3);
    let txs = by_tx(&mem.transfers);
    for inc in &truth.incidents {
        assert!(!inc.drains.is_empty(), "{} has no drain", inc.id);
        for d in &inc.drains {
            let found = txs.get(&d.tx_hash).expect("drain tx written");
            assert!(found.iter().any(|t| t.position == d.position
                && t.from == d.from
                && t.to == d.to
                && t.amount == d.amount
                && t.asset == d.asset
                && t.chain == d.chain));
            assert!(inc.victims.iter().any(|v| v.address == d.from));
            assert!(inc.exploiters.iter().any(|e| e.address == d.to));
            assert!(inc.controlled.contains(&d.to));
        }
        let total: U256 = inc
            .drained
            .iter()
            .map(|a| a.amount)
            .fold(U256::ZERO, |x, y| x + y);
        let sum: U256 = inc.drains.iter().map(|d| d.amount).fold(U256::ZERO, |x, y| x + y);
        assert_eq!(total, sum);
        for a in &inc.controlled {
            assert_eq!(truth.owner_of(a), Some(inc.actor.as_str()));
        }
    }
}

#[test]
fn the_reused_address_acts_in_both_incidents_on_different_chains() {
    let (mem, truth) = world(&small(22));
    let later = &truth.incidents[1];
    let r = later.reused.as_ref().expect("linked world reuses an address");
    let earlier = truth
        .incident(&r.earlier_incident)
        .expect("earlier incident exists");
    assert!(earlier.controlled.contains(&r.address));
    assert!(later.controlled.contains(&r.address));
    assert!(earlier.exploiters.iter().any(|e| e.address == r.address));
    assert!(
        later
            .exploiters
            .iter()
            .any(|e| e.address == r.address && e.chain == r.chain)
    );
    assert_ne!(
        r.earlier_chains,
        vec![r.chain],
        "default world reuses across chains"
    );
    for c in &r.earlier_chains {
        assert!(touches(&mem.transfers, *c, r.address));
    }
    // It received stolen funds in both incidents.
    assert!(earlier.drains.iter().any(|d| d.to == r.address));
    assert!(later.drains.iter().any(|d| d.to == r.address));
    // The earlier incident is attributed in the labels; the new (last) one is not.
    let last = truth.incidents.last().expect("incidents");
    assert!(!last.labeled);
    assert!(
        truth
            .labels
            .iter()
            .any(|l| l.address == r.address && l.category == "perpetrator")
    );
    let last_only: HashSet<_> = last
        .controlled
        .iter()
        .filter(|a| !earlier.controlled.contains(a))
        .collect();
    let later_fresh: Vec<_> = last_only
        .iter()
        .filter(|a| Some(**a) != last.reused.as_ref().map(|r| &r.address))
        .collect();
    for l in &truth.labels {
        assert!(
            !later_fresh.contains(&&&l.address),
            "new incident address {} is labeled",
            l.address
        );
    }
}

#[test]
fn no_link_worlds_share_nothing_between_incidents() {
    let (_, truth) = world(&WorldConfig {
        link_incidents: false,
        ..small(23)
    });
    let actors: HashSet<_> = truth.incidents.iter().map(|i| i.actor.clone()).collect();
    assert_eq!(actors.len(), truth.incidents.len());
    for (i, a) in truth.incidents.iter().enumerate() {
        assert!(a.reused.is_none());
        for b in &truth.incidents[i + 1..] {
            assert!(a.controlled.iter().all(|x| !b.controlled.contains(x)));
            assert!(
                a.cash_out_deposit_addresses
                    .iter()
                    .all(|x| !b.cash_out_deposit_addresses.contains(x))
            );
        }
    }
}

#[test]
fn bridge_pairs_release_after_deposit_amount_minus_fee() {
    let (mem, truth) = world(&small(24));
    assert!(truth.bridge_transfers.len() > 10);
    let txs = by_tx(&mem.transfers);
    let decimals = |chain: Chain, asset| {
        truth
            .chains
            .iter()
            .find(|c| c.chain == chain)
            .and_then(|c| c.assets.iter().find(|a| a.asset == asset))
            .map(|a| a.decimals)
            .expect("asset of chain")
    };
    for b in &truth.bridge_transfers {
        assert!(b.release_time > b.deposit_time);
        let dep = txs.get(&b.deposit_tx).expect("deposit written");
        assert!(
            dep.iter()
                .any(|t| t.chain == b.from_chain && t.from == b.sender && t.amount == b.amount_in)
        );
        let rel = txs.get(&b.release_tx).expect("release written");
        assert!(
            rel.iter()
                .any(|t| t.chain == b.to_chain && t.to == b.recipient && t.amount == b.amount_out)
        );
        let (di, dout) = (
            decimals(b.from_chain, b.from_asset),
            decimals(b.to_chain, b.to_asset),
        );
        let scaled = if dout >= di {
            b.amount_in * U256::from(10).pow(U256::from(dout - di))
        } else {
            b.amount_in / U256::from(10).pow(U256::from(di - dout))
        };
        assert_eq!(b.amount_out + b.fee, scaled);
        assert!(b.fee > U256::ZERO || b.amount_out < U256::from(1000));
    }
}

#[test]
fn swaps_mixer_uses_and_destinations_match_written_transfers() {
    let (mem, truth) = world(&small(25));
    let txs = by_tx(&mem.transfers);
    let dex: HashSet<Address> = truth
        .chains
        .iter()
        .flat_map(|c| {
            c.dex_pool
                .into_iter()
                .chain(c.dex_pairs.iter().copied())
                .chain(c.wrapped_native)
        })
        .collect();
    assert!(truth.swaps.len() > 10);
    for s in &truth.swaps {
        let t = txs.get(&s.tx_hash).expect("swap written");
        // Net flows of the owner: exactly -amount_in of asset_in and +amount_out of asset_out; every
        // other party of the tx is the DEX (router, pair, wrapper) or the zero address (wrapper mint/burn).
        let mut net: HashMap<chaintrace_core::Asset, (U256, U256)> = HashMap::new();
        for x in t {
            assert_eq!(x.tx_from, s.owner, "the owner signs its swap");
            for party in [x.from, x.to] {
                assert!(
                    party == s.owner || dex.contains(&party) || party == Address::ZERO,
                    "{x:?}"
                );
            }
            let e = net.entry(x.asset).or_default();
            if x.to == s.owner {
                e.0 += x.amount;
            }
            if x.from == s.owner {
                e.1 += x.amount;
            }
        }
        let got: HashMap<_, _> = net.into_iter().filter(|(_, (i, o))| i != o).collect();
        assert_eq!(got.len(), 2, "{t:?}");
        assert_eq!(got[&s.asset_in], (U256::ZERO, s.amount_in));
        assert_eq!(got[&s.asset_out], (s.amount_out, U256::ZERO));
    }
    assert!(!truth.mixer_uses.is_empty());
    for m in &truth.mixer_uses {
        let w = m.withdraw_tx.expect("every deposit is withdrawn");
        let dep = &txs[&m.deposit_tx][0];
        let wd = &txs[&w][0];
        assert_eq!(
            (dep.from, dep.to, dep.amount),
            (m.depositor, m.pool, m.denomination)
        );
        assert_eq!((wd.from, wd.to, wd.amount), (m.pool, m.recipient, m.denomination));
        assert!(wd.timestamp > dep.timestamp);
        assert_eq!(truth.owner_of(&m.depositor), truth.owner_of(&m.recipient));
    }
    for inc in &truth.incidents {
        let kinds: HashSet<_> = inc.destinations.iter().map(|d| d.kind).collect();
        assert!(kinds.contains(&DestinationKind::ExchangeDeposit), "{}", inc.id);
        assert!(kinds.contains(&DestinationKind::MixerDeposit), "{}", inc.id);
        assert!(kinds.contains(&DestinationKind::Holding), "{}", inc.id);
        for d in inc
            .destinations
            .iter()
            .filter(|d| d.kind != DestinationKind::Holding)
        {
            let t = txs.get(&d.tx_hash.expect("tx of a deposit")).expect("written");
            assert!(t.iter().any(|x| x.to == d.address && x.amount == d.amount));
            if d.kind == DestinationKind::ExchangeDeposit {
                assert!(
                    truth
                        .deposit_addresses
                        .iter()
                        .any(|a| a.address == d.address && a.customer == inc.actor)
                );
                assert_eq!(truth.owner_of(&d.address), d.exchange.as_deref());
            }
        }
        assert!(inc.chains.len() == 2, "{} crossed the bridge", inc.id);
    }
}

#[test]
fn labels_csv_lists_infrastructure_and_earlier_attributions() {
    let (_, truth): (_, GroundTruth) = world(&small(26));
    let csv = truth.labels_csv();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("chain,address,label,category,actor,source,confidence")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), truth.labels.len());
    assert!(rows.iter().all(|r| r.len() == 7));
    for cat in ["exchange", "mixer", "bridge", "defi", "perpetrator"] {
        assert!(rows.iter().any(|r| r[3] == cat), "no {cat} label");
    }
    assert!(
        rows.iter()
            .filter(|r| r[3] == "perpetrator")
            .all(|r| r[4] == "lazarus" && r[5] == "FBI")
    );
    for ex in &truth.exchanges {
        for h in &ex.hot_wallets {
            assert!(
                truth
                    .labels
                    .iter()
                    .any(|l| l.address == h.address && l.chain == h.chain && l.category == "exchange")
            );
        }
    }
    let json = serde_json::to_string(&truth).expect("serializes");
    let back: GroundTruth = serde_json::from_str(&json).expect("round-trips");
    assert_eq!(back, truth);
}

#[test]
fn deposit_addresses_sweep_to_their_exchange() {
    let (mem, truth) = world(&small(27));
    let hot: HashMap<Address, &str> = truth
        .exchanges
        .iter()
        .flat_map(|e| e.hot_wallets.iter().map(move |h| (h.address, e.id.as_str())))
        .collect();
    let deposits: HashMap<Address, &str> = truth
        .deposit_addresses
        .iter()
        .map(|d| (d.address, d.exchange.as_str()))
        .collect();
    let mut sweeps = 0;
    for t in mem.transfers.iter().filter(|t| deposits.contains_key(&t.from)) {
        assert_eq!(
            hot.get(&t.to),
            deposits.get(&t.from),
            "deposit address sends only to its exchange"
        );
        sweeps += 1;
    }
    assert!(sweeps > 100, "{sweeps} sweeps");
}

#[test]
fn bridge_and_mixer_logs_carry_the_ids_that_pair_their_ends() {
    use chaintrace_sim::{BRIDGE_DEPOSIT_SIGNATURE, BRIDGE_RELEASE_SIGNATURE, MIXER_DEPOSIT_SIGNATURE};
    let keccak = |s: &str| alloy_primitives::keccak256(s.as_bytes()).0;
    let word = |a: Address| {
        let mut w = [0u8; 32];
        w[12..].copy_from_slice(&a.0);
        w
    };
    let (mem, truth) = world(&small(28));
    assert_eq!(mem.logs.len() as u64, truth.stats.logs);
    let bridge_deposit = keccak(BRIDGE_DEPOSIT_SIGNATURE);
    let bridge_release = keccak(BRIDGE_RELEASE_SIGNATURE);
    // Tornado's topics as published in docs/mixers.md (tornado-core `Tornado.sol`).
    assert!(alloy_primitives::hex::encode(keccak(MIXER_DEPOSIT_SIGNATURE)).starts_with("a945e51e"));
    assert!(
        alloy_primitives::hex::encode(keccak(chaintrace_sim::MIXER_WITHDRAWAL_SIGNATURE))
            .starts_with("e9e508ba")
    );
    let mut log_ids = HashSet::new();
    for l in &mem.logs {
        assert!(
            log_ids.insert((l.chain, l.block, l.log_index)),
            "log index reused in a block"
        );
    }
    for b in &truth.bridge_transfers {
        let dep = mem
            .logs
            .iter()
            .find(|l| l.tx_hash == b.deposit_tx && l.topics[0] == bridge_deposit)
            .expect("deposit log in the deposit tx");
        assert_eq!(dep.topics[1], b.message_id.0);
        assert_eq!(dep.topics[3], word(b.sender));
        assert_eq!(&dep.data[..32], &word(b.recipient));
        assert_eq!(U256::from_be_slice(&dep.data[32..64]), b.amount_in);
        assert_eq!(
            U256::from_be_slice(&dep.data[64..96]),
            U256::from(b.to_chain.chain_id())
        );
        let rel = mem
            .logs
            .iter()
            .find(|l| l.tx_hash == b.release_tx && l.topics[0] == bridge_release)
            .expect("release log in the release tx");
        assert_eq!(rel.topics[1], b.message_id.0);
        assert_eq!(rel.topics[3], word(b.recipient));
        assert_eq!(U256::from_be_slice(&rel.data[..32]), b.amount_out);
        assert_eq!(rel.chain, b.to_chain);
    }
    let mixer_deposit = keccak(MIXER_DEPOSIT_SIGNATURE);
    for m in &truth.mixer_uses {
        assert!(
            mem.logs
                .iter()
                .any(|l| l.tx_hash == m.deposit_tx && l.topics[0] == mixer_deposit && l.address == m.pool)
        );
    }
    // Registry CSVs name every bridge contract and pool.
    let bridges = truth.bridge_registry_csv();
    assert_eq!(bridges.lines().count(), 1 + truth.chains.len());
    let mixers = truth.mixer_registry_csv();
    assert_eq!(mixers.lines().count(), 1 + 4 * truth.chains.len());
    let (off, _) = world(&WorldConfig {
        event_logs: false,
        ..small(28)
    });
    assert!(off.logs.is_empty());
    // Only log indices of token transfers move when logs are interleaved.
    let key = |t: &Transfer| (t.chain, t.tx_hash, t.from, t.to, t.asset, t.amount);
    assert!(
        off.transfers.iter().map(key).eq(mem.transfers.iter().map(key)),
        "logs do not change the transfers"
    );
}

#[test]
fn owners_cover_exactly_the_addresses_that_appear_on_chain() {
    let (mem, truth) = world(&small(29));
    let mut seen = HashSet::new();
    for t in &mem.transfers {
        seen.extend([t.from, t.to, t.tx_from]);
    }
    let owned: HashSet<Address> = truth.owners.keys().copied().collect();
    assert!(seen == owned, "{} seen, {} owned", seen.len(), owned.len());
    assert_eq!(truth.stats.addresses as usize, owned.len());
    let entities: HashSet<&str> = truth.entities.iter().map(|e| e.id.as_str()).collect();
    assert!(truth.owners.values().all(|o| entities.contains(o.as_str())));
    // Users with several addresses exist, so clustering has something to find.
    let mut per_user: HashMap<&str, usize> = HashMap::new();
    for o in truth.owners.values().filter(|o| o.starts_with("user:")) {
        *per_user.entry(o).or_default() += 1;
    }
    assert!(per_user.values().filter(|&&n| n > 1).count() > 20);
}

#[test]
fn several_actors_link_only_their_own_incidents() {
    let (mem, truth) = world(&WorldConfig {
        incidents: 5,
        actors: 2,
        ..small(30)
    });
    let actors: Vec<&str> = truth.incidents.iter().map(|i| i.actor.as_str()).collect();
    assert_eq!(
        actors,
        [
            "actor:lazarus",
            "actor:cobalt-spider",
            "actor:lazarus",
            "actor:cobalt-spider",
            "actor:lazarus"
        ]
    );
    for (i, inc) in truth.incidents.iter().enumerate() {
        match (&inc.reused, i) {
            (None, 0 | 1) => {}
            (Some(r), _) => {
                let earlier = truth.incident(&r.earlier_incident).expect("earlier incident");
                assert_eq!(earlier.actor, inc.actor, "{} reuses across actors", inc.id);
                assert!(touches(&mem.transfers, r.chain, r.address));
            }
            (None, _) => panic!("{} of a linked actor reuses nothing", inc.id),
        }
        for other in truth.incidents.iter().filter(|o| o.actor != inc.actor) {
            assert!(inc.controlled.iter().all(|a| !other.controlled.contains(a)));
        }
    }
    // Each actor alternates chains, so reuse crosses chains.
    assert!(
        truth
            .incidents
            .iter()
            .filter_map(|i| i.reused.as_ref())
            .all(|r| r.earlier_chains != vec![r.chain])
    );
}

#[test]
fn every_swap_emits_a_v2_pair_swap_log_after_its_token_transfers() {
    let keccak = |s: &str| alloy_primitives::keccak256(s.as_bytes()).0;
    let hex = |w: [u8; 32]| alloy_primitives::hex::encode(w);
    // Topic 0 values as seen on chain (docs/swaps.md).
    let v2_swap = keccak(chaintrace_sim::V2_SWAP_SIGNATURE);
    assert!(hex(v2_swap).starts_with("d78ad95f"));
    assert!(hex(keccak(chaintrace_sim::WRAP_DEPOSIT_SIGNATURE)).starts_with("e1fffcc4"));
    assert!(hex(keccak(chaintrace_sim::WRAP_WITHDRAWAL_SIGNATURE)).starts_with("7fcf532c"));
    let (mem, truth) = world(&small(29));
    // Transfers shown as logs and raw logs share one log-index space per block.
    let mut ids = HashSet::new();
    for t in &mem.transfers {
        if let chaintrace_core::Position::Log(i) = t.position {
            assert!(ids.insert((t.chain, t.block, i)), "log index reused: {t:?}");
        }
    }
    for l in &mem.logs {
        assert!(
            ids.insert((l.chain, l.block, l.log_index)),
            "log index reused: {l:?}"
        );
    }
    let pairs: HashSet<Address> = truth
        .chains
        .iter()
        .flat_map(|c| c.dex_pairs.iter().copied())
        .collect();
    let txs = by_tx(&mem.transfers);
    assert!(truth.swaps.len() > 10);
    let mut native_legs = 0;
    for s in &truth.swaps {
        let logs: Vec<_> = mem
            .logs
            .iter()
            .filter(|l| l.tx_hash == s.tx_hash && l.topics[0] == v2_swap)
            .collect();
        assert_eq!(logs.len(), 1, "one pair swap per swap tx");
        let l = logs[0];
        assert!(pairs.contains(&l.address));
        let word = |i: usize| U256::from_be_slice(&l.data[32 * i..32 * (i + 1)]);
        let (a0in, a1in, a0out, a1out) = (word(0), word(1), word(2), word(3));
        let (amount_in, amount_out) = if a0in.is_zero() {
            (a1in, a0out)
        } else {
            (a0in, a1out)
        };
        assert!(a0in.is_zero() != a1in.is_zero() && a0out.is_zero() != a1out.is_zero());
        // The pair got the token in and paid the token out, both logged before its `Swap`.
        let t = &txs[&s.tx_hash];
        let logged_before =
            |x: &&&Transfer| matches!(x.position, chaintrace_core::Position::Log(i) if i < l.log_index);
        let tin = t
            .iter()
            .filter(logged_before)
            .find(|x| x.to == l.address)
            .expect("token in");
        let tout = t
            .iter()
            .filter(logged_before)
            .find(|x| x.from == l.address)
            .expect("token out");
        assert_eq!((tin.amount, tout.amount), (amount_in, amount_out));
        assert_eq!((amount_in, amount_out), (s.amount_in, s.amount_out));
        // token0 < token1 by address, as in Uniswap.
        let (Asset::Token(ti), Asset::Token(to)) = (tin.asset, tout.asset) else {
            panic!("pair legs are tokens: {tin:?} {tout:?}");
        };
        assert_eq!(
            ti < to,
            !a0in.is_zero(),
            "amount0 belongs to the lower token address"
        );
        native_legs += usize::from(s.asset_in == Asset::Native || s.asset_out == Asset::Native);
    }
    assert!(native_legs > 0, "native swaps go through the wrapper");
}

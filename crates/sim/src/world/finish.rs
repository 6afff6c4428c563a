//! Turning the finished world into its [`GroundTruth`].

use std::collections::{BTreeMap, BTreeSet};

use chaintrace_core::{Address, U256};

use super::{AddrId, TRUTH_SCHEMA_VERSION, WRAPPED, World};
use crate::truth::{
    AssetAmount, AssetInfo, ChainAddress, ChainTruth, DepositAddress, DestinationKind, ExchangeTruth,
    GroundTruth, Incident, MixerPool, ReusedAddress, SimLabel,
};

impl World<'_> {
    fn chain_address(&self, ci: usize, addr: AddrId) -> ChainAddress {
        ChainAddress {
            chain: self.chains[ci].chain,
            address: self.addrs[addr as usize],
        }
    }

    fn entity_id(&self, entity: u32) -> String {
        self.entities[entity as usize].id.clone()
    }

    fn actor_name(&self, entity: u32) -> String {
        let id = &self.entities[entity as usize].id;
        id.strip_prefix("actor:").unwrap_or(id).to_string()
    }

    pub(super) fn into_truth(mut self) -> GroundTruth {
        self.stats.transactions = self.tx_counter;
        self.stats.addresses = self.used.iter().filter(|u| **u).count() as u64;
        let chains = (0..self.chains.len()).map(|ci| self.chain_truth(ci)).collect();
        let owners: BTreeMap<Address, String> = (0..self.addrs.len())
            .filter(|&i| self.used[i])
            .map(|i| (self.addrs[i], self.entities[self.owner[i] as usize].id.clone()))
            .collect();
        let deposit_addresses = self
            .deposit_list
            .iter()
            .filter(|&&(a, _, _)| self.used[a as usize])
            .map(|&(a, ex, customer)| DepositAddress {
                address: self.addrs[a as usize],
                exchange: self.entity_id(self.exchanges[ex as usize].entity),
                customer: self.entity_id(customer),
            })
            .collect();
        let exchanges = self
            .exchanges
            .iter()
            .map(|e| ExchangeTruth {
                id: self.entity_id(e.entity),
                name: e.name.to_string(),
                hot_wallets: (0..self.chains.len())
                    .flat_map(|ci| e.hot[ci].iter().map(move |&h| (ci, h)))
                    .map(|(ci, h)| self.chain_address(ci, h))
                    .collect(),
            })
            .collect();
        let incidents = (0..self.incidents.len())
            .map(|i| self.incident_truth(i))
            .collect();
        let labels = self.labels();
        GroundTruth {
            schema_version: TRUTH_SCHEMA_VERSION,
            config: self.cfg.clone(),
            chains,
            sources: vec![self.addrs[self.genesis as usize], self.addrs[self.mint as usize]],
            entities: std::mem::take(&mut self.entities),
            owners,
            deposit_addresses,
            exchanges,
            incidents,
            bridge_transfers: std::mem::take(&mut self.bridges),
            swaps: std::mem::take(&mut self.swaps),
            mixer_uses: std::mem::take(&mut self.mixer_uses),
            labels,
            stats: self.stats.clone(),
        }
    }

    fn chain_truth(&self, ci: usize) -> ChainTruth {
        let c = &self.chains[ci];
        let last_block = c.next_emit.saturating_sub(1).max(c.base);
        ChainTruth {
            chain: c.chain,
            first_block: c.base,
            last_block,
            first_timestamp: self.t0,
            last_timestamp: self.t0 + (last_block - c.base) * c.bt,
            block_time: c.bt,
            transfers: c.transfers,
            assets: (0..c.assets.len())
                .map(|a| AssetInfo {
                    asset: self.asset(ci, a as u8),
                    symbol: c.assets[a].symbol.to_string(),
                    decimals: c.assets[a].decimals,
                    price_usd: c.assets[a].price,
                })
                .collect(),
            dex_pool: c.dex.map(|a| self.addrs[a as usize]),
            dex_pairs: c.pairs.iter().map(|p| self.addrs[p.2 as usize]).collect(),
            wrapped_native: c.wrapper.map(|a| self.addrs[a as usize]),
            bridge: c.bridge.map(|a| self.addrs[a as usize]),
            bridge_relayer: c.bridge_relayer.map(|a| self.addrs[a as usize]),
            mixer_pools: c
                .mixer
                .iter()
                .map(|&(d, a)| MixerPool {
                    address: self.addrs[a as usize],
                    denomination: U256::from(d),
                })
                .collect(),
            mixer_relayer: c.mixer_relayer.map(|a| self.addrs[a as usize]),
        }
    }

    fn incident_truth(&self, i: usize) -> Incident {
        let s = &self.incidents[i];
        let mut drained: BTreeMap<(usize, u8), u128> = BTreeMap::new();
        for d in &s.drains {
            let asset = (0..self.n_assets())
                .find(|&a| self.asset(s.ca, a) == d.asset)
                .unwrap_or(0);
            *drained.entry((s.ca, asset)).or_default() += d.amount.to::<u128>();
        }
        let later: BTreeSet<AddrId> = self.incidents[i + 1..]
            .iter()
            .flat_map(|l| l.controlled.iter().copied())
            .collect();
        let mut destinations = s.destinations.clone();
        let mut controlled: Vec<AddrId> = s
            .controlled
            .iter()
            .copied()
            .filter(|&a| self.used[a as usize])
            .collect();
        controlled.sort_unstable();
        controlled.dedup();
        for &a in controlled.iter().filter(|a| !later.contains(a)) {
            for ci in 0..self.chains.len() {
                for asset in 0..self.n_assets() {
                    let b = self.ledger.balance(a, ci, asset);
                    if b > 0 {
                        destinations.push(self.destination_holding(ci, a, asset, b));
                    }
                }
            }
        }
        let mut controlled_addrs: Vec<Address> = controlled.iter().map(|&a| self.addrs[a as usize]).collect();
        controlled_addrs.sort();
        Incident {
            id: s.id.clone(),
            actor: self.entity_id(s.actor),
            labeled: s.labeled,
            chains: s.chains.iter().map(|&ci| self.chains[ci].chain).collect(),
            victim_exchange: self.entity_id(self.exchanges[s.victim_exchange as usize].entity),
            victims: s.victims.iter().map(|&v| self.chain_address(s.ca, v)).collect(),
            exploiters: s
                .exploiters
                .iter()
                .map(|&e| self.chain_address(s.ca, e))
                .collect(),
            funder: self.chain_address(s.ca, s.funder),
            controlled: controlled_addrs,
            cash_out_deposit_addresses: s
                .deposits
                .iter()
                .filter(|&&(a, _)| self.used[a as usize])
                .map(|&(a, _)| self.addrs[a as usize])
                .collect(),
            drain_time: s.drains.first().map_or(s.start, |d| d.timestamp),
            drains: s.drains.clone(),
            drained: drained
                .into_iter()
                .map(|((ci, asset), amount)| AssetAmount {
                    chain: self.chains[ci].chain,
                    asset: self.asset(ci, asset),
                    symbol: self.chains[ci].assets[asset as usize].symbol.to_string(),
                    amount: U256::from(amount),
                })
                .collect(),
            reused: s.reused.map(|(addr, earlier)| ReusedAddress {
                address: self.addrs[addr as usize],
                earlier_incident: self.incidents[earlier].id.clone(),
                earlier_chains: vec![self.chains[self.incidents[earlier].ca].chain],
                chain: self.chains[s.ca].chain,
            }),
            destinations,
        }
    }

    fn destination_holding(
        &self,
        ci: usize,
        addr: AddrId,
        asset: u8,
        amount: u128,
    ) -> crate::truth::Destination {
        crate::truth::Destination {
            kind: DestinationKind::Holding,
            chain: self.chains[ci].chain,
            address: self.addrs[addr as usize],
            exchange: None,
            asset: self.asset(ci, asset),
            symbol: self.chains[ci].assets[asset as usize].symbol.to_string(),
            amount: U256::from(amount),
            tx_hash: None,
        }
    }

    fn labels(&self) -> Vec<SimLabel> {
        let mut out = Vec::new();
        let mut label =
            |ci: usize, addr: AddrId, text: String, category: &str, actor: String, source: &str, conf| {
                out.push(SimLabel {
                    chain: self.chains[ci].chain,
                    address: self.addrs[addr as usize],
                    label: text,
                    category: category.to_string(),
                    actor,
                    source: source.to_string(),
                    confidence: conf,
                });
            };
        for ci in 0..self.chains.len() {
            for e in &self.exchanges {
                for (k, &h) in e.hot[ci].iter().enumerate() {
                    label(
                        ci,
                        h,
                        format!("{}: hot wallet {}", e.name, k + 1),
                        "exchange",
                        String::new(),
                        "sim",
                        95,
                    );
                }
            }
            let c = &self.chains[ci];
            if let Some(d) = c.dex {
                let text = if c.wrapper.is_some() {
                    "simswap: router"
                } else {
                    "simswap: pool/router"
                };
                label(ci, d, text.into(), "defi", String::new(), "sim", 95);
            }
            for &(a, b, pair) in &c.pairs {
                let text = format!(
                    "simswap: {}/{} pair",
                    c.assets[a as usize].symbol, c.assets[b as usize].symbol
                );
                label(ci, pair, text, "defi", String::new(), "sim", 95);
            }
            if let Some(w) = c.wrapper {
                let text = format!("simswap: {}", c.assets[WRAPPED as usize].symbol);
                label(ci, w, text, "defi", String::new(), "sim", 95);
            }
            if let (Some(b), Some(r)) = (c.bridge, c.bridge_relayer) {
                label(
                    ci,
                    b,
                    "simbridge: bridge contract".into(),
                    "bridge",
                    String::new(),
                    "sim",
                    95,
                );
                label(
                    ci,
                    r,
                    "simbridge: relayer".into(),
                    "bridge",
                    String::new(),
                    "sim",
                    90,
                );
            }
            for &(d, p) in &c.mixer {
                let whole = d as f64 / 1e18;
                let text = format!("simcash: {} {} pool", whole, c.assets[0].symbol);
                label(ci, p, text, "mixer", String::new(), "sim", 95);
            }
        }
        for s in self.incidents.iter().filter(|s| s.labeled) {
            let actor = self.actor_name(s.actor);
            let victim = self.exchanges[s.victim_exchange as usize].name;
            for &e in &s.exploiters {
                let text = format!("{actor}: {victim} exploiter ({})", s.id);
                label(s.ca, e, text, "perpetrator", actor.clone(), "FBI", 90);
            }
            label(
                s.ca,
                s.hub,
                format!("{actor}: {victim} exploit consolidation ({})", s.id),
                "perpetrator",
                actor.clone(),
                "FBI",
                85,
            );
            if let (Some(cb), true) = (s.cb, s.chains.len() > 1) {
                let text = format!("{actor}: {victim} exploit bridged funds ({})", s.id);
                label(cb, s.hub_b, text, "perpetrator", actor.clone(), "FBI", 85);
            }
        }
        out
    }
}

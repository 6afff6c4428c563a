//! Planted incidents: funding, drain, and the laundering script (swap, consolidate, bridge hop, peel
//! chain, exchange cash-out, mixer), each step an event at its own time.

use chaintrace_core::{TxHash, U256};
use rand::Rng;

use super::{
    ACTOR_NAMES, AddrId, Event, FRESH_EXPLOITERS, IncidentState, MAX_MIXER_DEPOSITS, NATIVE, PEEL_HOPS, Step,
    USDC, USDT, Via, World,
};
use crate::SimError;
use crate::truth::{Destination, DestinationKind, EntityKind};

const HOUR: u64 = 3_600;

impl World<'_> {
    pub(super) fn plan_incidents(&mut self) {
        let n = self.cfg.incidents as usize;
        let n_ex = self.exchanges.len();
        let n_ch = self.chains.len();
        let span = (self.t_end - self.t0) as f64;
        // Linked worlds: `actors` actors take turns; each incident reuses an address of the same actor's
        // previous incident. Unlinked worlds: one actor per incident, nothing reused.
        let n_actors = if self.cfg.link_incidents {
            self.cfg.actors.max(1) as usize
        } else {
            n
        };
        let mut actor_entities: Vec<Option<u32>> = vec![None; n_actors];
        let mut previous_of_actor: Vec<Option<usize>> = vec![None; n_actors];
        let mut ordinal_of_actor: Vec<usize> = vec![0; n_actors];
        for i in 0..n {
            let k = i % n_actors;
            let name = if k < ACTOR_NAMES.len() {
                ACTOR_NAMES[k].to_string()
            } else {
                format!("{}-{}", ACTOR_NAMES[k % ACTOR_NAMES.len()], k / ACTOR_NAMES.len())
            };
            let actor = match actor_entities[k] {
                Some(a) => a,
                None => {
                    let a = self.entity(format!("actor:{name}"), EntityKind::Actor);
                    actor_entities[k] = Some(a);
                    a
                }
            };
            let j = ordinal_of_actor[k];
            ordinal_of_actor[k] += 1;
            let ca = (j + k) % n_ch;
            let cb = (n_ch > 1).then_some((ca + 1) % n_ch);
            let victim_exchange = (i % n_ex) as u16;
            let funder_exchange = ((i + 1) % n_ex) as u16;
            let start = self.t0 + (span * (0.05 + 0.4 * i as f64 / (n.max(2) - 1) as f64)) as u64;
            let victims = self.exchanges[victim_exchange as usize].hot[ca].to_vec();
            let funder = self.fresh(actor);
            let mut exploiters: Vec<AddrId> = (0..FRESH_EXPLOITERS).map(|_| self.fresh(actor)).collect();
            let reused = previous_of_actor[k]
                .filter(|_| self.cfg.link_incidents)
                .map(|p| (self.incidents[p].exploiters[0], p));
            previous_of_actor[k] = Some(i);
            if let Some((r, _)) = reused {
                exploiters.push(r);
            }
            let hub = self.fresh(actor);
            let hub_b = self.fresh(actor);
            let others: Vec<u16> = (0..n_ex as u16).filter(|&e| e != victim_exchange).collect();
            let mut deposits = Vec::new();
            for k in 0..2.min(others.len()) {
                let ex = others[(i + 1 + k) % others.len()];
                let entity = self.exchanges[ex as usize].entity;
                let a = self.derived(b"actor-deposit", i as u64, u64::from(ex), entity);
                self.deposit_list.push((a, ex, actor));
                deposits.push((a, ex));
            }
            let mut controlled = vec![funder];
            controlled.extend(&exploiters);
            controlled.extend([hub, hub_b]);
            self.incidents.push(IncidentState {
                id: format!("incident-{}", i + 1),
                actor,
                labeled: self.cfg.label_earlier_incidents && i + 1 < n,
                start,
                ca,
                cb,
                victim_exchange,
                funder_exchange,
                victims,
                exploiters,
                reused,
                funder,
                hub,
                hub_b,
                deposits,
                controlled,
                drains: Vec::new(),
                destinations: Vec::new(),
                chains: vec![ca],
            });

            let inc = i;
            let at = |w: &mut Self, t: u64, step: Step| w.schedule(t, Event::Step { inc, step });
            at(self, start, Step::FundFunder);
            at(self, start + HOUR, Step::GasUp);
            let n_exploiters = self.incidents[i].exploiters.len();
            for j in 0..n_exploiters {
                for asset in 0..self.n_assets() {
                    at(
                        self,
                        start + 2 * HOUR + (j as u64 * 3 + u64::from(asset)) * 45,
                        Step::Drain { j, asset },
                    );
                }
            }
            if self.cfg.tokens && self.cfg.dex {
                for j in 0..n_exploiters {
                    let who = self.incidents[i].exploiters[j];
                    let t = start + 2 * HOUR + 1_800 + j as u64 * 60;
                    at(
                        self,
                        t,
                        Step::SwapToNative {
                            who,
                            ci: ca,
                            asset: USDC,
                        },
                    );
                }
            }
            for j in 0..n_exploiters {
                at(self, start + 3 * HOUR + j as u64 * 60, Step::Consolidate { j });
            }
            at(self, start + 4 * HOUR, Step::BridgeOut);
            if self.cfg.peel_chains {
                at(self, start + 5 * HOUR, Step::PeelStart);
            }
            if let (Some(cb), true, true) = (cb, self.cfg.tokens, self.cfg.dex) {
                at(
                    self,
                    start + 5 * HOUR + 1_800,
                    Step::SwapToNative {
                        who: hub_b,
                        ci: cb,
                        asset: USDT,
                    },
                );
            }
            at(self, start + 6 * HOUR, Step::CashOutB);
            if self.cfg.mixer {
                at(self, start + 6 * HOUR + 1_800, Step::MixerDeposit { n: 0 });
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // a destination has this many facts
    fn destination(
        &self,
        kind: DestinationKind,
        ci: usize,
        addr: AddrId,
        exchange: Option<u16>,
        asset: u8,
        amount: u128,
        tx: Option<TxHash>,
    ) -> Destination {
        Destination {
            kind,
            chain: self.chains[ci].chain,
            address: self.addrs[addr as usize],
            exchange: exchange.map(|e| {
                self.entities[self.exchanges[e as usize].entity as usize]
                    .id
                    .clone()
            }),
            asset: self.asset(ci, asset),
            symbol: self.chains[ci].assets[asset as usize].symbol.to_string(),
            amount: U256::from(amount),
            tx_hash: tx,
        }
    }

    /// Sends `amount` to one of the actor's exchange deposit addresses and records the destination.
    fn cash_out(
        &mut self,
        inc: usize,
        ci: usize,
        from: AddrId,
        k: usize,
        asset: u8,
        amount: u128,
    ) -> Result<(), SimError> {
        let Some(&(dep, ex)) = self.incidents[inc]
            .deposits
            .get(k % self.incidents[inc].deposits.len().max(1))
        else {
            return Ok(());
        };
        if amount == 0 {
            return Ok(());
        }
        let tx = self.send(ci, from, dep, asset, amount)?;
        let d = self.destination(
            DestinationKind::ExchangeDeposit,
            ci,
            dep,
            Some(ex),
            asset,
            amount,
            Some(tx.hash),
        );
        self.incidents[inc].destinations.push(d);
        self.schedule_sweep(ci, asset, dep, ex);
        Ok(())
    }

    pub(super) fn incident_step(&mut self, inc: usize, step: Step) -> Result<(), SimError> {
        let ca = self.incidents[inc].ca;
        let actor = self.incidents[inc].actor;
        match step {
            Step::FundFunder => {
                let ex = self.incidents[inc].funder_exchange as usize;
                let hot = self.exchanges[ex].hot[ca][0];
                let amount = self
                    .usd_to_raw(ca, NATIVE, 3_000.0)
                    .min(self.spendable(hot, ca, NATIVE));
                let funder = self.incidents[inc].funder;
                if amount > 0 {
                    self.send(ca, hot, funder, NATIVE, amount)?;
                }
            }
            Step::GasUp => {
                let funder = self.incidents[inc].funder;
                for j in 0..self.incidents[inc].exploiters.len() {
                    let e = self.incidents[inc].exploiters[j];
                    let usd = self.frac(100.0, 250.0);
                    let amount = self
                        .usd_to_raw(ca, NATIVE, usd)
                        .min(self.spendable(funder, ca, NATIVE));
                    if amount > 0 {
                        self.send(ca, funder, e, NATIVE, amount)?;
                    }
                }
            }
            Step::Drain { j, asset } => {
                let victim = self.incidents[inc].victims[j % self.incidents[inc].victims.len()];
                let e = self.incidents[inc].exploiters[j];
                let usd = self.frac(1.0e6, 6.0e6);
                let amount = self
                    .usd_to_raw(ca, asset, usd)
                    .min(self.spendable(victim, ca, asset));
                if amount > 0 {
                    let tx = self.begin_tx(ca, victim, if asset == NATIVE { 21_000 } else { 60_000 });
                    let position = self.transfer(&tx, victim, e, asset, amount, Via::Value)?;
                    let r = self.tref(&tx, position, victim, e, asset, amount);
                    self.incidents[inc].drains.push(r);
                }
            }
            Step::SwapToNative { who, ci, asset } => {
                let s = self.spendable(who, ci, asset);
                if s > 0 {
                    self.swap(ci, who, asset, NATIVE, s)?;
                }
            }
            Step::Consolidate { j } => {
                let e = self.incidents[inc].exploiters[j];
                let hub = self.incidents[inc].hub;
                for asset in 0..self.n_assets() {
                    let s = self.spendable(e, ca, asset);
                    if s > 0 {
                        self.send(ca, e, hub, asset, s)?;
                    }
                }
            }
            Step::BridgeOut => {
                let hub = self.incidents[inc].hub;
                let hub_b = self.incidents[inc].hub_b;
                let mut crossed = false;
                if let Some(cb) = self.incidents[inc].cb {
                    let (asset, amount) = if self.cfg.tokens {
                        (USDT, self.spendable(hub, ca, USDT))
                    } else {
                        (NATIVE, self.spendable(hub, ca, NATIVE) * 3 / 10)
                    };
                    if amount > 0 && self.bridge(ca, cb, hub, hub_b, asset, amount)?.is_some() {
                        crossed = true;
                        self.incidents[inc].chains.push(cb);
                    }
                }
                if !crossed && self.cfg.tokens {
                    let s = self.spendable(hub, ca, USDT);
                    if s > 0 {
                        self.swap(ca, hub, USDT, NATIVE, s)?;
                    }
                }
            }
            Step::CashOutB => {
                let hub_b = self.incidents[inc].hub_b;
                if let Some(cb) = self.incidents[inc].cb {
                    for asset in [NATIVE, USDT].into_iter().filter(|&a| a < self.n_assets()) {
                        let s = self.spendable(hub_b, cb, asset);
                        if s > 0 {
                            self.cash_out(inc, cb, hub_b, 0, asset, s / 2)?;
                            break;
                        }
                    }
                }
            }
            Step::PeelStart => {
                let hub = self.incidents[inc].hub;
                let amount = self.spendable(hub, ca, NATIVE) * 35 / 100;
                if amount > 0 {
                    let p0 = self.fresh(actor);
                    self.incidents[inc].controlled.push(p0);
                    self.send(ca, hub, p0, NATIVE, amount)?;
                    let delay = self.rng.random_range(300..1_800);
                    self.schedule(
                        self.now + delay,
                        Event::Step {
                            inc,
                            step: Step::PeelHop { addr: p0, hop: 0 },
                        },
                    );
                }
            }
            Step::PeelHop { addr, hop } => {
                let have = self.spendable(addr, ca, NATIVE);
                let peel = (have as f64 * self.frac(0.03, 0.10)) as u128;
                self.cash_out(inc, ca, addr, hop as usize, NATIVE, peel)?;
                if hop + 1 < PEEL_HOPS {
                    let rest = self.spendable(addr, ca, NATIVE);
                    if rest > 0 {
                        let next = self.fresh(actor);
                        self.incidents[inc].controlled.push(next);
                        self.send(ca, addr, next, NATIVE, rest)?;
                        let delay = self.rng.random_range(300..1_800);
                        let step = Step::PeelHop {
                            addr: next,
                            hop: hop + 1,
                        };
                        self.schedule(self.now + delay, Event::Step { inc, step });
                    }
                }
            }
            Step::MixerDeposit { n } => {
                let hub = self.incidents[inc].hub;
                let have = self.spendable(hub, ca, NATIVE);
                let denom = self.chains[ca]
                    .mixer
                    .iter()
                    .rev()
                    .find(|(d, _)| *d <= have)
                    .map(|p| p.0);
                if let (Some(denom), true) = (denom, n < MAX_MIXER_DEPOSITS) {
                    let w = self.fresh(actor);
                    self.incidents[inc].controlled.push(w);
                    let tx = self.mixer_deposit(ca, hub, denom, w)?;
                    let pool = self.chains[ca]
                        .mixer
                        .iter()
                        .find(|(d, _)| *d == denom)
                        .map_or(hub, |p| p.1);
                    let d = self.destination(
                        DestinationKind::MixerDeposit,
                        ca,
                        pool,
                        None,
                        NATIVE,
                        denom,
                        Some(tx.hash),
                    );
                    self.incidents[inc].destinations.push(d);
                    let delay = self.rng.random_range(120..600);
                    self.schedule(
                        self.now + delay,
                        Event::Step {
                            inc,
                            step: Step::MixerDeposit { n: n + 1 },
                        },
                    );
                }
            }
        }
        Ok(())
    }
}

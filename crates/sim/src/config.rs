//! What a world contains: every part can be switched off or resized.

use chaintrace_core::Chain;
use serde::{Deserialize, Serialize};

use crate::SimError;

/// The knobs of a simulated world. Same config (including `seed`) => byte-identical world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorldConfig {
    /// Seed of every random choice and of every derived address and hash.
    pub seed: u64,
    /// How many transfers to generate (the world stops its background activity once reached; pending
    /// sweeps, bridge releases and incident steps still complete, so the count ends slightly above).
    pub target_transfers: u64,
    /// EVM chains of the world (Tron is not simulated).
    pub chains: Vec<Chain>,
    /// Ordinary users; `None` = `target_transfers / 100` clamped to 200..=200_000.
    pub users: Option<u32>,
    /// Exchanges (each with two hot wallets per chain and one deposit address per customer), 1..=8.
    pub exchanges: u32,
    /// ERC-20 stablecoins (USDT, USDC) on every chain.
    pub tokens: bool,
    /// A DEX per chain: a router, a wrapped-native token and Uniswap-V2-style pairs (docs/sim.md).
    pub dex: bool,
    /// A bridge contract per chain (deposit on one chain, release minus fee on another).
    pub bridge: bool,
    /// Fixed-denomination mixer pools per chain.
    pub mixer: bool,
    /// Peel chains in incident laundering.
    pub peel_chains: bool,
    /// Raw event logs of the bridge (chaintrace generic `BridgeDeposit` / `BridgeRelease`, whose shared
    /// id pairs the two ends) and of the mixer (Tornado `Deposit` / `Withdrawal`). Off = transfers only,
    /// so bridge matching must work from amounts and times.
    pub event_logs: bool,
    /// Planted incidents (thefts with laundering); the last one is the "new", unlabeled incident.
    pub incidents: u32,
    /// Whether each actor's later incident reuses an address of its previous one (`false` = every
    /// incident is a different actor with no planted link).
    pub link_incidents: bool,
    /// Actors of a linked world, 1..=8: incident `i` belongs to actor `i % actors` (lazarus first);
    /// incidents of different actors share nothing planted.
    pub actors: u32,
    /// Whether the label set attributes earlier incidents' exploiter addresses to their actor.
    pub label_earlier_incidents: bool,
    /// Zipf exponent of user activity (higher = more concentrated on a few heavy users).
    pub zipf_exponent: f64,
    /// Unix time of the first block.
    pub start_timestamp: u64,
    /// Length of the background activity; `None` = enough for ~4 transfers/s per chain, at least 1 day.
    pub duration_secs: Option<u64>,
    /// Transfers per `write_batch` call.
    pub batch_size: usize,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            seed: 1,
            target_transfers: 100_000,
            chains: vec![Chain::Ethereum, Chain::Bsc],
            users: None,
            exchanges: 4,
            tokens: true,
            dex: true,
            bridge: true,
            mixer: true,
            peel_chains: true,
            event_logs: true,
            incidents: 3,
            link_incidents: true,
            actors: 1,
            label_earlier_incidents: true,
            zipf_exponent: 0.8,
            start_timestamp: 1_700_000_000,
            duration_secs: None,
            batch_size: 50_000,
        }
    }
}

impl WorldConfig {
    /// The default world with this seed and transfer target.
    pub fn new(seed: u64, target_transfers: u64) -> WorldConfig {
        WorldConfig {
            seed,
            target_transfers,
            ..WorldConfig::default()
        }
    }

    /// Checks the config; every generator entry point calls this first.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |field, reason: &str| {
            Err(SimError::Config {
                field,
                reason: reason.to_string(),
            })
        };
        if self.chains.is_empty() {
            return bad("chains", "at least one chain is needed");
        }
        if self.chains.iter().any(|c| !c.is_evm()) {
            return bad("chains", "only EVM chains are simulated (not tron)");
        }
        let mut seen = self.chains.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.chains.len() {
            return bad("chains", "a chain is listed twice");
        }
        if !(1..=8).contains(&self.exchanges) {
            return bad("exchanges", "must be 1..=8");
        }
        if self.incidents > 0 && self.exchanges < 3 {
            return bad(
                "exchanges",
                "incidents need at least 3 exchanges (victim, funder's, launderer's)",
            );
        }
        if self.incidents > 16 {
            return bad("incidents", "at most 16");
        }
        if !(1..=8).contains(&self.actors) {
            return bad("actors", "must be 1..=8");
        }
        if !(0.0..=3.0).contains(&self.zipf_exponent) {
            return bad("zipf_exponent", "must be within 0..=3");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be positive");
        }
        if let Some(u) = self.users
            && !(2..=5_000_000).contains(&u)
        {
            return bad("users", "must be 2..=5000000");
        }
        if self.duration_secs.is_some_and(|d| d < 3_600) {
            return bad("duration_secs", "must be at least one hour");
        }
        Ok(())
    }

    /// Users actually simulated.
    pub fn user_count(&self) -> u32 {
        self.users
            .unwrap_or_else(|| (self.target_transfers / 100).clamp(200, 200_000) as u32)
    }

    /// Seconds of background activity actually simulated.
    pub fn duration(&self) -> u64 {
        self.duration_secs.unwrap_or_else(|| {
            let per_sec = 4 * self.chains.len() as u64;
            (self.target_transfers / per_sec.max(1)).max(86_400)
        })
    }
}

/// Seconds between blocks on a simulated chain (Arbitrum's 0.25 s is coarsened to 1 s, Polygon and
/// Optimism use 2 s).
pub fn block_time(chain: Chain) -> u64 {
    match chain {
        Chain::Ethereum => 12,
        Chain::Bsc => 3,
        Chain::Arbitrum => 1,
        Chain::Polygon | Chain::Optimism | Chain::Tron => 2,
    }
}

/// Number of the first simulated block of a chain (realistic magnitudes).
pub fn first_block(chain: Chain) -> u64 {
    match chain {
        Chain::Ethereum => 18_000_000,
        Chain::Bsc => 33_000_000,
        Chain::Polygon => 50_000_000,
        Chain::Arbitrum => 150_000_000,
        Chain::Optimism => 112_000_000,
        Chain::Tron => 56_000_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_world_is_valid_and_sized_by_the_target() {
        let c = WorldConfig::default();
        assert!(c.validate().is_ok());
        assert_eq!(c.user_count(), 1_000);
        assert_eq!(WorldConfig::new(1, 10).user_count(), 200);
        assert_eq!(WorldConfig::new(1, 10_000_000).duration(), 1_250_000);
        assert_eq!(WorldConfig::new(1, 10).duration(), 86_400);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let cases = [
            (
                WorldConfig {
                    chains: vec![Chain::Ethereum, Chain::Ethereum],
                    ..WorldConfig::default()
                },
                "chains",
            ),
            (
                WorldConfig {
                    exchanges: 9,
                    ..WorldConfig::default()
                },
                "exchanges",
            ),
            (
                WorldConfig {
                    batch_size: 0,
                    ..WorldConfig::default()
                },
                "batch_size",
            ),
            (
                WorldConfig {
                    users: Some(1),
                    ..WorldConfig::default()
                },
                "users",
            ),
            (
                WorldConfig {
                    duration_secs: Some(60),
                    ..WorldConfig::default()
                },
                "duration_secs",
            ),
            (
                WorldConfig {
                    incidents: 17,
                    ..WorldConfig::default()
                },
                "incidents",
            ),
        ];
        for (c, field) in cases {
            match c.validate() {
                Err(SimError::Config { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected a config error, got {other:?}"),
            }
        }
        let no_incidents = WorldConfig {
            exchanges: 1,
            incidents: 0,
            ..WorldConfig::default()
        };
        assert!(no_incidents.validate().is_ok());
    }
}

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// A blockchain chaintrace knows how to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Chain {
    /// Ethereum mainnet, chain id 1.
    Ethereum,
    /// BNB Smart Chain, chain id 56.
    Bsc,
    /// Polygon PoS, chain id 137.
    Polygon,
    /// Arbitrum One, chain id 42161.
    Arbitrum,
    /// OP Mainnet, chain id 10.
    Optimism,
    /// Tron mainnet, chain id 728126428 (0x2b6653dc).
    Tron,
}

impl Chain {
    /// Every chain, in a stable order.
    pub const ALL: [Chain; 6] = [
        Chain::Ethereum,
        Chain::Bsc,
        Chain::Polygon,
        Chain::Arbitrum,
        Chain::Optimism,
        Chain::Tron,
    ];

    /// The lowercase name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Chain::Ethereum => "ethereum",
            Chain::Bsc => "bsc",
            Chain::Polygon => "polygon",
            Chain::Arbitrum => "arbitrum",
            Chain::Optimism => "optimism",
            Chain::Tron => "tron",
        }
    }

    /// The EIP-155 chain id (Tron's is the id its JSON-RPC gateway reports).
    pub fn chain_id(self) -> u64 {
        match self {
            Chain::Ethereum => 1,
            Chain::Bsc => 56,
            Chain::Polygon => 137,
            Chain::Arbitrum => 42161,
            Chain::Optimism => 10,
            Chain::Tron => 728_126_428,
        }
    }

    /// The chain with this chain id.
    pub fn from_chain_id(id: u64) -> Option<Chain> {
        Chain::ALL.into_iter().find(|c| c.chain_id() == id)
    }

    /// Ticker of the native asset (what pays for gas).
    pub fn native_symbol(self) -> &'static str {
        match self {
            Chain::Ethereum | Chain::Arbitrum | Chain::Optimism => "ETH",
            Chain::Bsc => "BNB",
            Chain::Polygon => "MATIC",
            Chain::Tron => "TRX",
        }
    }

    /// Decimals of the native asset's raw unit (wei has 18, sun has 6).
    pub fn native_decimals(self) -> u8 {
        match self {
            Chain::Tron => 6,
            _ => 18,
        }
    }

    /// Whether addresses are shown as 0x-hex (all but Tron).
    pub fn is_evm(self) -> bool {
        !matches!(self, Chain::Tron)
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Chain {
    type Err = CoreError;

    /// Accepts the name (any case), a few common aliases, or the numeric chain id.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let chain = match lower.as_str() {
            "ethereum" | "eth" | "mainnet" => Chain::Ethereum,
            "bsc" | "bnb" | "binance-smart-chain" => Chain::Bsc,
            "polygon" | "matic" => Chain::Polygon,
            "arbitrum" | "arb" | "arbitrum-one" => Chain::Arbitrum,
            "optimism" | "op" => Chain::Optimism,
            "tron" | "trx" => Chain::Tron,
            other => match other.parse::<u64>().ok().and_then(Chain::from_chain_id) {
                Some(c) => c,
                None => return Err(CoreError::UnknownChain(s.to_string())),
            },
        };
        Ok(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_round_trip() {
        for c in Chain::ALL {
            assert_eq!(c.name().parse::<Chain>(), Ok(c));
            assert_eq!(c.chain_id().to_string().parse::<Chain>(), Ok(c));
            assert_eq!(Chain::from_chain_id(c.chain_id()), Some(c));
        }
        assert!("solana".parse::<Chain>().is_err());
    }
}

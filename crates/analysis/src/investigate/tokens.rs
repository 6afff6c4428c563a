//! What an asset is called and how many decimals its raw unit has: native coins from [`Chain`], a small
//! built-in table of well-known stablecoins, and tokens the incident file declares.

use std::collections::HashMap;

use chaintrace_core::{Address, Asset, Chain, U256};

/// Symbol and decimals of one token contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Chain of the contract.
    pub chain: Chain,
    /// Token contract.
    pub address: Address,
    /// Ticker; also the price symbol (`USDT`, `USDC`).
    pub symbol: String,
    /// Decimals of the raw unit.
    pub decimals: u8,
}

/// Symbol and decimals of an asset, where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetMeta {
    /// Ticker, if known.
    pub symbol: Option<String>,
    /// Decimals, if known (unknown: amounts stay raw).
    pub decimals: Option<u8>,
}

/// Well-known token contracts (symbol, decimals) per chain. USDC.e variants price as USDC.
const KNOWN: &[(Chain, &str, &str, u8)] = &[
    (
        Chain::Ethereum,
        "0xdac17f958d2ee523a2206206994597c13d831ec7",
        "USDT",
        6,
    ),
    (
        Chain::Ethereum,
        "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
        "USDC",
        6,
    ),
    (
        Chain::Ethereum,
        "0x6b175474e89094c44da98b954eedeac495271d0f",
        "DAI",
        18,
    ),
    (
        Chain::Ethereum,
        "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2",
        "WETH",
        18,
    ),
    (
        Chain::Bsc,
        "0x55d398326f99059ff775485246999027b3197955",
        "USDT",
        18,
    ),
    (
        Chain::Bsc,
        "0x8ac76a51cc950d9822d68b83fe1ad97b32cd580d",
        "USDC",
        18,
    ),
    (
        Chain::Bsc,
        "0xbb4cdb9cbd36b01bd1cbaebf2de08d9173bc095c",
        "WBNB",
        18,
    ),
    (
        Chain::Polygon,
        "0xc2132d05d31c914a87c6611c10748aeb04b58e8f",
        "USDT",
        6,
    ),
    (
        Chain::Polygon,
        "0x2791bca1f2de4661ed88a30c99a7a9449aa84174",
        "USDC",
        6,
    ),
    (
        Chain::Polygon,
        "0x3c499c542cef5e3811e1192ce70d8cc03d5c3359",
        "USDC",
        6,
    ),
    (
        Chain::Arbitrum,
        "0xfd086bc7cd5c481dcc9c85ebe478a1c0b69fcbb9",
        "USDT",
        6,
    ),
    (
        Chain::Arbitrum,
        "0xaf88d065e77c8cc2239327c5edb3a432268e5831",
        "USDC",
        6,
    ),
    (
        Chain::Arbitrum,
        "0xff970a61a04b1ca14834a43f5de4533ebddb5cc8",
        "USDC",
        6,
    ),
    (
        Chain::Optimism,
        "0x94b008aa00579c1307b0ef2c499ad98a8ce58e58",
        "USDT",
        6,
    ),
    (
        Chain::Optimism,
        "0x0b2c639c533813f4aa9d7837caf62653d097ff85",
        "USDC",
        6,
    ),
    (
        Chain::Optimism,
        "0x7f5c764cbc14f9669b88837ca1490cca17c31607",
        "USDC",
        6,
    ),
    (Chain::Tron, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "USDT", 6),
    (Chain::Tron, "TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8", "USDC", 6),
];

/// Symbols and decimals of the assets a report mentions.
#[derive(Debug, Clone, Default)]
pub struct AssetBook {
    tokens: HashMap<(Chain, Address), TokenInfo>,
}

impl AssetBook {
    /// A book holding the built-in well-known tokens.
    pub fn with_known_tokens() -> AssetBook {
        let mut book = AssetBook::default();
        for &(chain, addr, symbol, decimals) in KNOWN {
            let address = Address::parse(addr).expect("the built-in token table holds valid addresses");
            book.insert(TokenInfo {
                chain,
                address,
                symbol: symbol.to_string(),
                decimals,
            });
        }
        book
    }

    /// Adds (or replaces) one token's metadata.
    pub fn insert(&mut self, token: TokenInfo) {
        self.tokens.insert((token.chain, token.address), token);
    }

    /// Symbol and decimals of `asset` on `chain`.
    pub fn meta(&self, chain: Chain, asset: Asset) -> AssetMeta {
        match asset {
            Asset::Native => AssetMeta {
                symbol: Some(chain.native_symbol().to_string()),
                decimals: Some(chain.native_decimals()),
            },
            Asset::Token(a) => match self.tokens.get(&(chain, a)) {
                Some(t) => AssetMeta {
                    symbol: Some(t.symbol.clone()),
                    decimals: Some(t.decimals),
                },
                None => AssetMeta {
                    symbol: None,
                    decimals: None,
                },
            },
        }
    }
}

/// `raw` as a decimal number with `decimals` places, trailing zeros trimmed (`1500000` with 6 -> `1.5`).
pub fn format_units(raw: U256, decimals: u8) -> String {
    let digits = raw.to_string();
    let d = usize::from(decimals);
    if d == 0 {
        return digits;
    }
    let padded = if digits.len() <= d {
        format!("{}{digits}", "0".repeat(d + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - d);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// `raw / 10^decimals` as a float (for US dollar values only; never stored).
pub fn units_f64(raw: U256, decimals: u8) -> f64 {
    let v: f64 = raw.to_string().parse().unwrap_or(f64::INFINITY);
    v / 10f64.powi(i32::from(decimals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_units_exactly() {
        assert_eq!(format_units(U256::from(1_500_000u64), 6), "1.5");
        assert_eq!(format_units(U256::from(5u64), 6), "0.000005");
        assert_eq!(format_units(U256::from(10u64).pow(U256::from(18u64)), 18), "1");
        assert_eq!(format_units(U256::ZERO, 18), "0");
        assert_eq!(format_units(U256::from(123u64), 0), "123");
        assert!((units_f64(U256::from(2_500_000_000_000_000_000u128), 18) - 2.5).abs() < 1e-12);
    }

    #[test]
    fn known_tokens_and_natives_are_described() {
        let book = AssetBook::with_known_tokens();
        let usdt = Address::parse("0xdac17f958d2ee523a2206206994597c13d831ec7").expect("valid");
        assert_eq!(book.meta(Chain::Ethereum, Asset::Token(usdt)).decimals, Some(6));
        assert_eq!(book.meta(Chain::Bsc, Asset::Token(usdt)).symbol, None);
        assert_eq!(book.meta(Chain::Tron, Asset::Native).decimals, Some(6));
        assert_eq!(
            book.meta(Chain::Arbitrum, Asset::Native).symbol.as_deref(),
            Some("ETH")
        );
    }
}

use std::fmt;
use std::str::FromStr;

use alloy_primitives::U256;

use crate::{Address, Chain, CoreError, TxHash};

/// What moved: the chain's native coin or a token contract's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Asset {
    /// The chain's native coin (ETH, BNB, MATIC, TRX).
    Native,
    /// A fungible token, named by its contract address.
    Token(Address),
}

impl Asset {
    /// `"native"` or the token contract's lowercase hex (base58 on Tron).
    pub fn json_for(&self, chain: Chain) -> String {
        match self {
            Asset::Native => "native".to_string(),
            Asset::Token(a) => a.json_for(chain),
        }
    }

    /// Parses `"native"` (or empty) or a token contract address.
    pub fn parse(s: &str) -> Result<Asset, CoreError> {
        match s.trim() {
            "" | "native" | "NATIVE" => Ok(Asset::Native),
            other => Address::parse(other).map(Asset::Token),
        }
    }
}

/// How a transfer was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransferKind {
    /// The value field of a successful transaction.
    Native,
    /// Value carried by a call (or create, or selfdestruct) inside a transaction.
    Internal,
    /// An ERC-20 / TRC-20 `Transfer(address,address,uint256)` event.
    Token,
}

impl TransferKind {
    /// The lowercase name used in JSON and storage.
    pub fn name(self) -> &'static str {
        match self {
            TransferKind::Native => "native",
            TransferKind::Internal => "internal",
            TransferKind::Token => "token",
        }
    }
}

impl fmt::Display for TransferKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TransferKind {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "native" => Ok(TransferKind::Native),
            "internal" => Ok(TransferKind::Internal),
            "token" => Ok(TransferKind::Token),
            other => Err(CoreError::BadKind(other.to_string())),
        }
    }
}

/// Where inside its transaction a transfer sits; with chain and tx hash it identifies the transfer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Position {
    /// The transaction's own value.
    Tx,
    /// A token event, by its log index in the block.
    Log(u32),
    /// An internal call, by its trace address (path of child indices from the top-level call).
    Trace(Vec<u32>),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Tx => f.write_str("tx"),
            Position::Log(i) => write!(f, "log:{i}"),
            Position::Trace(path) => {
                f.write_str("trace:")?;
                for (i, p) in path.iter().enumerate() {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
        }
    }
}

impl FromStr for Position {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CoreError::BadPosition(s.to_string());
        if s == "tx" {
            return Ok(Position::Tx);
        }
        if let Some(i) = s.strip_prefix("log:") {
            return i.parse().map(Position::Log).map_err(|_| bad());
        }
        if let Some(p) = s.strip_prefix("trace:") {
            if p.is_empty() {
                return Ok(Position::Trace(Vec::new()));
            }
            return p
                .split('.')
                .map(|x| x.parse::<u32>().map_err(|_| bad()))
                .collect::<Result<Vec<_>, _>>()
                .map(Position::Trace);
        }
        Err(bad())
    }
}

/// One movement of value from one address to another, as it happened on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Chain it happened on.
    pub chain: Chain,
    /// Block number.
    pub block: u64,
    /// Block timestamp, unix seconds.
    pub timestamp: u64,
    /// Transaction that carried it.
    pub tx_hash: TxHash,
    /// Position inside the transaction.
    pub position: Position,
    /// Sender of the value.
    pub from: Address,
    /// Receiver of the value.
    pub to: Address,
    /// What moved.
    pub asset: Asset,
    /// How much, in the asset's raw integer units.
    pub amount: U256,
    /// How it was observed.
    pub kind: TransferKind,
    /// The transaction's signer (who paid gas), for funder and gas heuristics.
    pub tx_from: Address,
    /// Fee the transaction paid, in the native asset's raw units.
    pub tx_fee: U256,
    /// Gas price the transaction paid per unit (effective price after EIP-1559), raw native units.
    pub gas_price: U256,
}

impl Transfer {
    /// Zero-value token transfers are kept but flagged: address-poisoning scams rely on them.
    pub fn is_zero_value(&self) -> bool {
        self.amount.is_zero()
    }
}

/// Parses a non-negative decimal integer below 2^256 (the storage form of amounts).
pub(crate) fn parse_amount(s: &str) -> Result<U256, CoreError> {
    U256::from_str_radix(s.trim(), 10).map_err(|_| CoreError::BadAmount(s.to_string()))
}

impl Transfer {
    /// Parses a decimal amount string as stored and printed (`"1000000000000000000"`).
    pub fn parse_amount(s: &str) -> Result<U256, CoreError> {
        parse_amount(s)
    }
}

/// A block the store has seen, for coverage, gap reporting and reorg detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord {
    /// Chain of the block.
    pub chain: Chain,
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: [u8; 32],
    /// Parent block hash (reorg detection).
    pub parent_hash: [u8; 32],
    /// Block timestamp, unix seconds.
    pub timestamp: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        for p in [
            Position::Tx,
            Position::Log(7),
            Position::Trace(vec![]),
            Position::Trace(vec![0, 3, 1]),
        ] {
            assert_eq!(p.to_string().parse::<Position>(), Ok(p));
        }
        assert!("log:x".parse::<Position>().is_err());
        assert!("call".parse::<Position>().is_err());
    }

    #[test]
    fn amounts_are_exact_256_bit_integers() {
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        assert_eq!(Transfer::parse_amount(max).map(|a| a == U256::MAX), Ok(true));
        assert!(
            Transfer::parse_amount(
                "115792089237316195423570985008687907853269984665640564039457584007913129639936"
            )
            .is_err()
        );
        assert!(Transfer::parse_amount("-1").is_err());
        assert!(Transfer::parse_amount("1.5").is_err());
    }
}

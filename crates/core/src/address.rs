use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Chain, CoreError};

/// Version byte Tron puts before the 20-byte body in base58check addresses (the leading `T`).
const TRON_PREFIX: u8 = 0x41;

/// A 20-byte account address.
///
/// The same body means the same key on every EVM chain, and Tron's base58check address wraps the same
/// body; cross-chain analyses rely on that. Text forms: lowercase 0x-hex (JSON, storage), EIP-55
/// checksummed hex (display), Tron base58check (display on Tron).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// The zero address (mints and burns).
    pub const ZERO: Address = Address([0u8; 20]);

    /// Builds an address from a 20-byte slice; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Address> {
        <[u8; 20]>::try_from(bytes).ok().map(Address)
    }

    /// The raw 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Lowercase `0x`-prefixed hex: the form used in JSON and storage.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(42);
        s.push_str("0x");
        for b in self.0 {
            s.push(HEX[(b >> 4) as usize] as char);
            s.push(HEX[(b & 0xf) as usize] as char);
        }
        s
    }

    /// EIP-55 mixed-case checksummed hex.
    pub fn to_checksum(&self) -> String {
        alloy_primitives::Address::from(self.0).to_checksum(None)
    }

    /// Tron base58check form (`T...`).
    pub fn to_tron(&self) -> String {
        let mut payload = [0u8; 21];
        payload[0] = TRON_PREFIX;
        payload[1..].copy_from_slice(&self.0);
        bs58::encode(payload).with_check().into_string()
    }

    /// The form a user expects to read on this chain: checksummed hex, or base58check on Tron.
    pub fn display_for(&self, chain: Chain) -> String {
        if chain.is_evm() {
            self.to_checksum()
        } else {
            self.to_tron()
        }
    }

    /// The form used in machine-readable output on this chain: lowercase hex, or base58check on Tron.
    pub fn json_for(&self, chain: Chain) -> String {
        if chain.is_evm() {
            self.to_hex()
        } else {
            self.to_tron()
        }
    }

    /// Parses 0x-hex (any case; a mixed-case input must carry a valid EIP-55 checksum) or Tron
    /// base58check.
    pub fn parse(input: &str) -> Result<Address, CoreError> {
        let s = input.trim();
        let bad = |reason| CoreError::BadAddress {
            input: input.to_string(),
            reason,
        };
        if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            if hex.len() != 40 {
                return Err(bad("expected 0x followed by 40 hex digits"));
            }
            let mut out = [0u8; 20];
            decode_hex(hex, &mut out).map_err(|_| bad("not hexadecimal"))?;
            let addr = Address(out);
            let has_upper = hex.bytes().any(|b| b.is_ascii_uppercase());
            let has_lower = hex.bytes().any(|b| b.is_ascii_lowercase());
            if has_upper && has_lower && addr.to_checksum()[2..] != *hex {
                return Err(bad("mixed-case hex with a wrong EIP-55 checksum"));
            }
            return Ok(addr);
        }
        if s.starts_with('T') {
            let bytes = bs58::decode(s)
                .with_check(None)
                .into_vec()
                .map_err(|_| bad("bad base58check"))?;
            if bytes.len() != 21 || bytes[0] != TRON_PREFIX {
                return Err(bad("not a Tron address (expected 0x41 prefix and 20 bytes)"));
            }
            return Ok(Address::from_slice(&bytes[1..]).expect("length checked above"));
        }
        Err(bad("expected 0x-hex or a Tron T... address"))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn decode_hex(hex: &str, out: &mut [u8]) -> Result<(), ()> {
    let bytes = hex.as_bytes();
    if bytes.len() != out.len() * 2 {
        return Err(());
    }
    fn nibble(c: u8) -> Result<u8, ()> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(()),
        }
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibble(bytes[2 * i])? << 4) | nibble(bytes[2 * i + 1])?;
    }
    Ok(())
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Address {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Address::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl From<alloy_primitives::Address> for Address {
    fn from(a: alloy_primitives::Address) -> Self {
        Address(a.into_array())
    }
}

/// A 32-byte transaction hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TxHash(pub [u8; 32]);

impl TxHash {
    /// Builds a hash from a 32-byte slice; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<TxHash> {
        <[u8; 32]>::try_from(bytes).ok().map(TxHash)
    }

    /// Lowercase `0x`-prefixed hex.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(66);
        s.push_str("0x");
        for b in self.0 {
            s.push(HEX[(b >> 4) as usize] as char);
            s.push(HEX[(b & 0xf) as usize] as char);
        }
        s
    }

    /// Parses `0x` + 64 hex digits (the prefix may be omitted, as on Tron).
    pub fn parse(input: &str) -> Result<TxHash, CoreError> {
        let s = input.trim();
        let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
        let mut out = [0u8; 32];
        decode_hex(hex, &mut out).map_err(|_| CoreError::BadTxHash(input.to_string()))?;
        Ok(TxHash(out))
    }
}

impl fmt::Debug for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Display for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for TxHash {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TxHash::parse(s)
    }
}

impl Serialize for TxHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TxHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        TxHash::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl From<alloy_primitives::B256> for TxHash {
    fn from(h: alloy_primitives::B256) -> Self {
        TxHash(h.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_checksummed_and_rejects_bad_checksum() {
        let good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        let a = Address::parse(good).expect("valid EIP-55 address");
        assert_eq!(a.to_checksum(), good);
        assert_eq!(a.to_hex(), good.to_ascii_lowercase());
        let bad = "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert!(Address::parse(bad).is_err());
        assert!(Address::parse("0x1234").is_err());
        assert!(Address::parse("0xzz00000000000000000000000000000000000000").is_err());
    }

    #[test]
    fn tron_address_wraps_the_same_body() {
        // USDT-TRC20 contract; its hex body is the well-known 0xa614f803b6fd780986a42c78ec9c7f77e6ded13c.
        let t = Address::parse("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").expect("valid tron address");
        assert_eq!(t.to_hex(), "0xa614f803b6fd780986a42c78ec9c7f77e6ded13c");
        assert_eq!(t.to_tron(), "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t");
        assert!(Address::parse("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u").is_err());
    }

    proptest! {
        #[test]
        fn every_text_form_round_trips(bytes in any::<[u8; 20]>()) {
            let a = Address(bytes);
            prop_assert_eq!(Address::parse(&a.to_hex()).ok(), Some(a));
            prop_assert_eq!(Address::parse(&a.to_checksum()).ok(), Some(a));
            prop_assert_eq!(Address::parse(&a.to_tron()).ok(), Some(a));
        }

        #[test]
        fn tx_hash_round_trips(bytes in any::<[u8; 32]>()) {
            let h = TxHash(bytes);
            prop_assert_eq!(TxHash::parse(&h.to_hex()).ok(), Some(h));
        }
    }
}

//! Hex quantities and data as EVM nodes write them, with serde wrappers for the raw response structs.

use std::fmt;

use chaintrace_core::U256;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

fn strip_0x(s: &str) -> Option<&str> {
    s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))
}

/// A `0x`-prefixed hex quantity that fits 64 bits.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    let h = strip_0x(s)?;
    if h.is_empty() || h.len() > 16 {
        return None;
    }
    u64::from_str_radix(h, 16).ok()
}

/// A `0x`-prefixed hex quantity up to 256 bits.
pub(crate) fn parse_u256(s: &str) -> Option<U256> {
    let h = strip_0x(s)?;
    if h.is_empty() || h.len() > 64 {
        return None;
    }
    U256::from_str_radix(h, 16).ok()
}

/// `0x`-prefixed hex data of any even length.
pub(crate) fn parse_bytes(s: &str) -> Option<Vec<u8>> {
    let h = strip_0x(s)?.as_bytes();
    if h.len() % 2 != 0 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    h.chunks_exact(2)
        .map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

/// `0x` + exactly 64 hex digits.
pub(crate) fn parse_b256(s: &str) -> Option<[u8; 32]> {
    parse_bytes(s).and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
}

/// A 64-bit quantity: hex string (`"0x1b"`) or, as Parity writes some fields, a JSON number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Q64(pub(crate) u64);

impl<'de> Deserialize<'de> for Q64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Q64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a hex quantity below 2^64 or an unsigned integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Q64, E> {
                Ok(Q64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Q64, E> {
                parse_u64(v)
                    .map(Q64)
                    .ok_or_else(|| E::custom(format!("bad hex quantity '{v}'")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A 256-bit hex quantity (`"0xde0b6b3a7640000"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Q256(pub(crate) U256);

impl<'de> Deserialize<'de> for Q256 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_u256(&s)
            .map(Q256)
            .ok_or_else(|| de::Error::custom(format!("bad 256-bit hex quantity '{s}'")))
    }
}

/// A 32-byte hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct H256(pub(crate) [u8; 32]);

impl<'de> Deserialize<'de> for H256 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_b256(&s)
            .map(H256)
            .ok_or_else(|| de::Error::custom(format!("bad 32-byte hash '{s}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quantities_and_rejects_garbage() {
        assert_eq!(parse_u64("0x1b"), Some(27));
        assert_eq!(parse_u64("0x0"), Some(0));
        assert_eq!(parse_u64("0x"), None);
        assert_eq!(parse_u64("1b"), None);
        assert_eq!(parse_u64("0x1ffffffffffffffff"), None);
        assert_eq!(
            parse_u256("0x3814695e26625c000"),
            Some(U256::from(64_655_529_900_000_002_048u128))
        );
        assert_eq!(parse_bytes("0x00ff"), Some(vec![0, 255]));
        assert_eq!(parse_bytes("0x0"), None);
        assert_eq!(parse_bytes("0xzz"), None);
        assert!(parse_b256(&format!("0x{}", "ab".repeat(32))).is_some());
        assert!(parse_b256("0xab").is_none());
    }
}

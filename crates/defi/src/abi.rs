//! Just enough ABI decoding for event logs: 32-byte words of topics and data.

use chaintrace_core::{Address, RawLog, U256};

/// The `i`-th 32-byte word of `data`.
pub(crate) fn word(data: &[u8], i: usize) -> Option<&[u8; 32]> {
    let start = i.checked_mul(32)?;
    data.get(start..start + 32)
        .and_then(|s| <&[u8; 32]>::try_from(s).ok())
}

/// A word as an unsigned 256-bit integer.
pub(crate) fn as_u256(w: &[u8; 32]) -> U256 {
    U256::from_be_bytes(*w)
}

/// A word as an address: the low 20 bytes (the high 12 must be zero for a well-formed `address`).
pub(crate) fn as_address(w: &[u8; 32]) -> Option<Address> {
    if w[..12].iter().any(|b| *b != 0) {
        return None;
    }
    Address::from_slice(&w[12..])
}

/// A word as a two's-complement `int256`: `(is_negative, magnitude)`.
pub(crate) fn as_i256(w: &[u8; 32]) -> (bool, U256) {
    let raw = U256::from_be_bytes(*w);
    if w[0] & 0x80 == 0 {
        (false, raw)
    } else {
        (true, (!raw).wrapping_add(U256::from(1u8)))
    }
}

/// Data word `i` as `uint256`.
pub(crate) fn data_u256(log: &RawLog, i: usize) -> Option<U256> {
    word(&log.data, i).map(as_u256)
}

/// Data word `i` as `address`.
pub(crate) fn data_address(log: &RawLog, i: usize) -> Option<Address> {
    word(&log.data, i).and_then(as_address)
}

/// Topic `i` (1 = first indexed argument) as `address`.
pub(crate) fn topic_address(log: &RawLog, i: usize) -> Option<Address> {
    log.topics.get(i).and_then(as_address)
}

/// Topic `i` as `uint256`.
pub(crate) fn topic_u256(log: &RawLog, i: usize) -> Option<U256> {
    log.topics.get(i).map(as_u256)
}

/// Topic `i` as raw `bytes32`.
pub(crate) fn topic_b256(log: &RawLog, i: usize) -> Option<[u8; 32]> {
    log.topics.get(i).copied()
}

/// An approximate `f64` of a `U256` (for bucketing and ratios, never for accounting).
pub(crate) fn approx_f64(v: U256) -> f64 {
    v.as_limbs().iter().rev().fold(0.0f64, |acc, limb| {
        acc * 18_446_744_073_709_551_616.0 + *limb as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_int256_words_decode_to_their_magnitude() {
        let mut minus_five = [0xffu8; 32];
        minus_five[31] = 0xfb;
        assert_eq!(as_i256(&minus_five), (true, U256::from(5u8)));
        let mut plus_seven = [0u8; 32];
        plus_seven[31] = 7;
        assert_eq!(as_i256(&plus_seven), (false, U256::from(7u8)));
    }

    #[test]
    fn address_words_with_dirty_high_bytes_are_rejected() {
        let mut w = [0u8; 32];
        w[31] = 1;
        assert!(as_address(&w).is_some());
        w[0] = 1;
        assert!(as_address(&w).is_none());
    }

    #[test]
    fn approx_f64_is_close_for_wide_values() {
        let v = U256::from(10u8).pow(U256::from(30u8));
        assert!((approx_f64(v) / 1e30 - 1.0).abs() < 1e-12);
        assert_eq!(approx_f64(U256::from(12345u32)), 12345.0);
    }
}

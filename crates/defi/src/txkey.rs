//! A cheap hasher for maps keyed by transaction hash (plus small fields). Transaction hashes are
//! keccak outputs, already uniform, so folding their bytes is enough; SipHash's DoS resistance buys
//! nothing here and costs a third of swap detection time.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Folds written bytes 8 at a time with a multiply-rotate mix.
#[derive(Default)]
pub(crate) struct TxKeyHasher(u64);

impl Hasher for TxKeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(23) ^ u64::from_le_bytes(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// A map keyed by (something containing) a transaction hash.
pub(crate) type TxMap<K, V> = HashMap<K, V, BuildHasherDefault<TxKeyHasher>>;

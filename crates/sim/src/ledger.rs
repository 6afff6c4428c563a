//! Balances of every (address, chain, asset), with the block-start rule that keeps the world
//! balance-consistent in any replay order inside a block.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Index of an address in the world's registry.
pub(crate) type AddrId = u32;

#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    balance: u128,
    received_in_block: u128,
    block: u64,
}

/// Multiplicative hash for the packed u64 keys: fast, and deterministic (no random state).
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= (n ^ (n >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// Balances. What an address received in block N becomes spendable only in block N+1, so the total
/// spent inside a block never exceeds the balance at its start: any order of the block's transactions
/// (the store orders by tx hash) replays without a negative balance.
#[derive(Default)]
pub(crate) struct Ledger {
    slots: FastMap<u64, Slot>,
}

fn key(addr: AddrId, chain: usize, asset: u8) -> u64 {
    (u64::from(addr) << 8) | ((chain as u64) << 3) | u64::from(asset)
}

impl Ledger {
    /// What `addr` may send in `block`.
    pub(crate) fn spendable(&self, addr: AddrId, chain: usize, asset: u8, block: u64) -> u128 {
        match self.slots.get(&key(addr, chain, asset)) {
            None => 0,
            Some(s) if s.block == block => s.balance - s.received_in_block,
            Some(s) => s.balance,
        }
    }

    /// Full balance (including this block's receipts).
    pub(crate) fn balance(&self, addr: AddrId, chain: usize, asset: u8) -> u128 {
        self.slots.get(&key(addr, chain, asset)).map_or(0, |s| s.balance)
    }

    pub(crate) fn credit(&mut self, addr: AddrId, chain: usize, asset: u8, block: u64, amount: u128) {
        let s = self.slots.entry(key(addr, chain, asset)).or_default();
        if s.block == block {
            s.received_in_block += amount;
        } else {
            s.block = block;
            s.received_in_block = amount;
        }
        s.balance += amount;
    }

    /// Debits if spendable; otherwise returns what was spendable.
    pub(crate) fn debit(
        &mut self,
        addr: AddrId,
        chain: usize,
        asset: u8,
        block: u64,
        amount: u128,
    ) -> Result<(), u128> {
        let available = self.spendable(addr, chain, asset, block);
        if available < amount {
            return Err(available);
        }
        if amount > 0 {
            let s = self.slots.get_mut(&key(addr, chain, asset)).ok_or(0u128)?;
            s.balance -= amount;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_become_spendable_in_the_next_block() {
        let mut l = Ledger::default();
        l.credit(1, 0, 0, 10, 100);
        assert_eq!(l.spendable(1, 0, 0, 10), 0);
        assert_eq!(l.debit(1, 0, 0, 10, 1), Err(0));
        assert_eq!(l.spendable(1, 0, 0, 11), 100);
        l.credit(1, 0, 0, 11, 50);
        assert_eq!(l.debit(1, 0, 0, 11, 60), Ok(()));
        assert_eq!(l.spendable(1, 0, 0, 11), 40);
        assert_eq!(l.balance(1, 0, 0), 90);
        assert_eq!(l.debit(1, 0, 0, 11, 41), Err(40));
        assert_eq!(l.spendable(1, 0, 0, 12), 90);
    }

    #[test]
    fn chains_and_assets_are_separate_balances() {
        let mut l = Ledger::default();
        l.credit(7, 1, 2, 5, 9);
        assert_eq!(l.spendable(7, 1, 2, 6), 9);
        assert_eq!(l.spendable(7, 0, 2, 6), 0);
        assert_eq!(l.spendable(7, 1, 0, 6), 0);
        assert_eq!(l.spendable(8, 1, 2, 6), 0);
    }
}

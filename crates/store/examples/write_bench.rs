//! Write throughput of the store: `cargo run --release -p chaintrace-store --example write_bench -- N [BATCH]`.
//!
//! Writes N synthetic transfers (random hashes and addresses from a pool of 200k, ~70% token transfers)
//! into a fresh store in batches of BATCH rows (default: all in one batch), then reports the rate.

use std::time::Instant;

use chaintrace_core::{Address, Asset, Chain, Position, Transfer, TransferKind, TxHash, U256};
use chaintrace_store::{Batch, Store, TransferReader, TransferWriter};

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        out
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
    let batch: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(n);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let pool: Vec<Address> = (0..200_000).map(|_| Address(rng.bytes())).collect();
    let tokens: Vec<Address> = pool[..50].to_vec();
    let mut transfers = Vec::with_capacity(n);
    for i in 0..n {
        let is_token = i % 10 < 7;
        let from = pool[(rng.next() % pool.len() as u64) as usize];
        transfers.push(Transfer {
            chain: Chain::Ethereum,
            block: 15_000_000 + (i / 150) as u64,
            timestamp: 1_650_000_000 + (i / 150) as u64 * 12,
            tx_hash: TxHash(rng.bytes()),
            position: if is_token {
                Position::Log((i % 300) as u32)
            } else {
                Position::Tx
            },
            from,
            to: pool[(rng.next() % pool.len() as u64) as usize],
            asset: if is_token {
                Asset::Token(tokens[i % 50])
            } else {
                Asset::Native
            },
            amount: U256::from(rng.next() >> (rng.next() % 64)) * U256::from(1_000u64),
            kind: if is_token {
                TransferKind::Token
            } else {
                TransferKind::Native
            },
            tx_from: from,
            tx_fee: U256::from(21_000u64 + rng.next() % 100_000) * U256::from(30_000_000_000u64),
            gas_price: U256::from(30_000_000_000u64),
        });
    }
    let dir = std::env::temp_dir().join(format!("chaintrace-write-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = Store::open(&dir)?;
    let started = Instant::now();
    let mut inserted = 0;
    for chunk in transfers.chunks(batch.max(1)) {
        inserted += store
            .write_batch(Batch {
                blocks: &[],
                transfers: chunk,
                logs: &[],
                checkpoint: None,
            })?
            .inserted;
    }
    let secs = started.elapsed().as_secs_f64();
    let size = std::fs::metadata(store.path())?.len();
    println!(
        "{inserted} transfers in {secs:.2}s = {:.0} transfers/s (batch {batch}); file {} MB; count {}",
        inserted as f64 / secs,
        size / 1_000_000,
        store.transfer_count(None)?
    );
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

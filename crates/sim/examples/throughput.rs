//! Measures world generation: `cargo run --release -p chaintrace-sim --example throughput -- 10000000
//! [chains] [store-dir] [batch-size]`. Without a store directory (or with an empty one) the world goes to
//! a counting writer (generator alone); with one it goes into the real SQLite store there. Prints one
//! line on stdout, the truth size on stderr.

use std::path::PathBuf;
use std::time::Instant;

use chaintrace_sim::{CountingWriter, WorldConfig, generate};
use chaintrace_store::Store;

/// Counts bytes written to it.
struct ByteCount(u64);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let target: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let mut config = WorldConfig::new(1, target);
    if let Some(chains) = args.next().filter(|c| !c.is_empty()) {
        config.chains = chains.split(',').map(str::parse).collect::<Result<_, _>>()?;
    }
    let store_dir = args.next().filter(|d| !d.is_empty()).map(PathBuf::from);
    if let Some(batch) = args.next() {
        config.batch_size = batch.parse()?;
    }
    let start = Instant::now();
    let (truth, sink) = match &store_dir {
        None => (
            generate(&config, &mut CountingWriter::default())?,
            "counting writer".to_string(),
        ),
        Some(dir) => {
            let mut store = Store::open(dir)?;
            (generate(&config, &mut store)?, format!("store {}", dir.display()))
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let mut bytes = ByteCount(0);
    serde_json::to_writer(&mut bytes, &truth)?;
    eprintln!(
        "truth JSON: {} bytes (compact), {} swaps, {} bridge crossings",
        bytes.0,
        truth.swaps.len(),
        truth.bridge_transfers.len()
    );
    let s = &truth.stats;
    println!(
        "{} transfers, {} blocks, {} batches, {} addresses into {sink} in {secs:.2} s = {:.0} transfers/s",
        s.transfers,
        s.blocks,
        s.batches,
        s.addresses,
        s.transfers as f64 / secs
    );
    Ok(())
}

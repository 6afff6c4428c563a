//! Measures the generator alone: `cargo run --release -p chaintrace-sim --example throughput -- 10000000`
//! (transfers; optional second argument = comma-separated chains). Prints transfers/s on stdout.

use std::time::Instant;

use chaintrace_sim::{CountingWriter, WorldConfig, generate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let target: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let mut config = WorldConfig::new(1, target);
    if let Some(chains) = args.next() {
        config.chains = chains.split(',').map(str::parse).collect::<Result<_, _>>()?;
    }
    let mut counter = CountingWriter::default();
    let start = Instant::now();
    let truth = generate(&config, &mut counter)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} transfers, {} blocks, {} batches, {} addresses in {:.2} s = {:.0} transfers/s",
        counter.transfers,
        counter.blocks,
        counter.batches,
        truth.stats.addresses,
        secs,
        counter.transfers as f64 / secs
    );
    Ok(())
}

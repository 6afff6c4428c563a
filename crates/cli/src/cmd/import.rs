//! `chaintrace import etl|csv`: load transfers from files into the store, all or nothing.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chaintrace_core::Chain;
use chaintrace_ingest::{csv_transfers, etl};
use chaintrace_store::WriteStats;

use crate::opts::GlobalOpts;

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    source: Source,
}

#[derive(Debug, clap::Subcommand)]
enum Source {
    /// An ethereum-etl export directory (blocks.csv, transactions.csv, receipts.csv,
    /// token_transfers.csv, traces.csv; whichever are present). Advances the "etl" checkpoint.
    Etl {
        /// Chain the export was taken from (name or chain id).
        #[arg(long, value_name = "CHAIN")]
        chain: Chain,
        /// Directory holding the CSV files.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// A transfer CSV: chain,block,timestamp,tx_hash,from,to,asset,amount[,kind,position,tx_from,...].
    Csv {
        /// Chain for rows without a `chain` column (or with it empty).
        #[arg(long, value_name = "CHAIN")]
        chain: Option<Chain>,
        /// The CSV file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

pub(crate) fn run(global: &GlobalOpts, args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut store = global.open_store()?;
    match args.source {
        Source::Etl { chain, dir } => {
            let report = etl::import_dir(&mut store, chain, &dir)
                .with_context(|| format!("importing ethereum-etl export {} ({chain})", dir.display()))?;
            for note in &report.notes {
                eprintln!("note: {note}");
            }
            let checkpoint = report
                .checkpoint
                .map_or_else(|| "none".to_string(), |b| b.to_string());
            eprintln!(
                "{}; {} blocks from {}; etl checkpoint {chain} {checkpoint} (read {:.2}s, write {:.2}s)",
                summary(&report.stats, started),
                report.blocks,
                report.files.join(", "),
                report.parse_time.as_secs_f64(),
                report.write_time.as_secs_f64(),
            );
        }
        Source::Csv { chain, file } => {
            let report = csv_transfers::import_file(&mut store, &file, chain)
                .with_context(|| format!("importing transfer csv {}", file.display()))?;
            eprintln!(
                "{}; {} rows from {} (read {:.2}s, write {:.2}s)",
                summary(&report.stats, started),
                report.rows,
                file.display(),
                report.parse_time.as_secs_f64(),
                report.write_time.as_secs_f64(),
            );
        }
    }
    Ok(())
}

/// `imported N transfers (D duplicates) in 1.23s (R transfers/s)`.
fn summary(stats: &WriteStats, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64();
    let total = stats.inserted + stats.duplicates;
    let rate = if secs > 0.0 { total as f64 / secs } else { 0.0 };
    format!(
        "imported {} transfers ({} duplicates) in {secs:.2}s ({rate:.0} transfers/s)",
        stats.inserted, stats.duplicates
    )
}

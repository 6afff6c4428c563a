//! The `chaintrace` command-line tool: the only crate that talks to the terminal.
//!
//! stdout carries only results; progress, logs and errors go to stderr.
//! Exit codes: 0 success, 1 error (bad input, unreachable node, store failure), 2 usage error (clap).

mod balance_cache;
mod cache_file;
mod cmd;
mod conv_cache;
mod graph_load;
mod opts;

use clap::{Parser, Subcommand};

use crate::opts::GlobalOpts;

/// chaintrace: trace stolen funds across chains and attribute incidents, with evidence.
#[derive(Debug, Parser)]
#[command(name = "chaintrace", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pull transfers from a live source (an EVM JSON-RPC node) into the store.
    Ingest(cmd::ingest::Args),
    /// Load transfers from files (ethereum-etl CSV exports, plain transfer CSV).
    Import(cmd::import::Args),
    /// List an address's incoming and outgoing transfers in time order.
    Transfers(cmd::transfers::Args),
    /// Show per-chain block coverage, gaps and transfer counts.
    Status(cmd::status::Args),
    /// Write the transfer table for other tools (Parquet or CSV).
    Export(cmd::export::Args),
    /// Follow funds forward or backward from addresses under a taint model.
    Trace(cmd::trace::Args),
    /// Generate a seeded simulated world (with ground truth) into the store.
    Sim(cmd::sim::Args),
    /// Import and show address labels (TagPacks, CSV, OFAC lists, Etherscan dumps).
    Labels(cmd::labels::Args),
    /// Show actors (attributed groups) with aliases and their labeled addresses.
    Actors(cmd::actors::Args),
    /// Show the cluster of an address (addresses one entity likely controls) and why each member is in.
    Cluster(cmd::cluster::Args),
    /// Find what connects addresses to addresses, an actor or a category, with evidence.
    Link(cmd::link::Args),
    /// Report an incident: losses, fund flow to exits, attribution with evidence (Markdown, HTML, JSON).
    Investigate(cmd::investigate::Args),
    /// Run a whole investigation on a simulated world, offline, and write an HTML report.
    Demo(cmd::demo::Args),
    /// Import and list bridge contracts (chain,address,bridge,role) used to follow funds across chains.
    Bridges(cmd::bridges::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ingest(args) => cmd::ingest::run(&cli.global, args),
        Command::Import(args) => cmd::import::run(&cli.global, args),
        Command::Transfers(args) => cmd::transfers::run(&cli.global, args),
        Command::Status(args) => cmd::status::run(&cli.global, args),
        Command::Export(args) => cmd::export::run(&cli.global, args),
        Command::Trace(args) => cmd::trace::run(&cli.global, args),
        Command::Sim(args) => cmd::sim::run(&cli.global, args),
        Command::Labels(args) => cmd::labels::run(&cli.global, args),
        Command::Actors(args) => cmd::actors::run(&cli.global, args),
        Command::Investigate(args) => cmd::investigate::run(&cli.global, args),
        Command::Demo(args) => cmd::demo::run(&cli.global, args),
        Command::Cluster(args) => cmd::cluster::run(&cli.global, args),
        Command::Link(args) => cmd::link::run(&cli.global, args),
        Command::Bridges(args) => cmd::bridges::run(&cli.global, args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One line: the outermost context first, then each cause.
            let chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            std::process::ExitCode::from(1)
        }
    }
}

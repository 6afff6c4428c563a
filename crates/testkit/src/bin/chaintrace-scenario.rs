//! Scenario driver for scripts (demo, benchmark): sends a known scenario to a running dev node and prints
//! a JSON summary (block range, token, transfer count) on stdout.

use std::process::ExitCode;

use chaintrace_core::Chain;
use chaintrace_testkit::DevRpc;
use chaintrace_testkit::scenario::{self, Outcome};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "chaintrace-scenario",
    about = "Send a known transfer scenario to a dev node (anvil)"
)]
struct Cli {
    /// Node URL (an anvil dev node with unlocked accounts).
    #[arg(long, global = true, default_value = "http://127.0.0.1:8545")]
    rpc_url: String,
    /// Chain the node stands for (only labels the expected transfers).
    #[arg(long, global = true, default_value = "ethereum")]
    chain: Chain,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The feature scenario of the live tests (token, native, internal, reverted, created with value).
    Basic,
    /// Many blocks, each with one batch of token transfers or one native transfer.
    ManyBlocks {
        /// Rounds (two blocks each).
        #[arg(long, default_value_t = 150)]
        rounds: usize,
        /// Token recipients per batch.
        #[arg(long, default_value_t = 19)]
        recipients: usize,
    },
    /// The ingest benchmark's chain.
    Bench {
        /// batchTransfer transactions.
        #[arg(long, default_value_t = 110)]
        batch_txs: usize,
        /// Recipients per batchTransfer.
        #[arg(long, default_value_t = 500)]
        recipients: usize,
        /// Plain native transfers.
        #[arg(long, default_value_t = 2000)]
        natives: usize,
        /// Transactions per block.
        #[arg(long, default_value_t = 20)]
        txs_per_block: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rpc = DevRpc::new(&cli.rpc_url);
    let outcome = match cli.command {
        Command::Basic => scenario::basic(&rpc, cli.chain),
        Command::ManyBlocks { rounds, recipients } => {
            scenario::many_blocks(&rpc, cli.chain, rounds, recipients)
        }
        Command::Bench {
            batch_txs,
            recipients,
            natives,
            txs_per_block,
        } => scenario::bench(&rpc, cli.chain, batch_txs, recipients, natives, txs_per_block),
    };
    match outcome {
        Ok(o) => {
            println!("{}", summary(&o));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn summary(o: &Outcome) -> serde_json::Value {
    serde_json::json!({
        "schema_version": 1,
        "first_block": o.first_block,
        "last_block": o.last_block,
        "transfers": o.expected.len(),
        "token": o.token.to_hex(),
        "accounts": o.accounts.iter().map(|a| a.to_hex()).collect::<Vec<_>>(),
    })
}

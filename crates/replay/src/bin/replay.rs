//! `replay`: builds (or reuses) the replay world and prints where its files are.
//!
//! ```text
//! replay build [--dir DIR] [--force]   # default DIR: target/replay-cache
//! ```
//! stdout: one line `KEY=PATH` per file (dir, truth, labels, bridges, mixers, incident, state_<chain>),
//! for scripts; stderr: progress.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Build the CoinEx-style replay world on five anvil nodes and save it.
#[derive(Debug, Parser)]
#[command(name = "replay", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the world into DIR unless DIR already holds the current world.
    Build {
        /// Cache folder (default: target/replay-cache under the repository).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Rebuild even when the cached world is current.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Build { dir, force } => {
            let dir = dir.unwrap_or_else(default_dir);
            let mut progress = |line: &str| eprintln!("{line}");
            let result = if force {
                chaintrace_replay::build_into(&dir, &mut progress)
            } else {
                chaintrace_replay::ensure_world(&dir, &mut progress)
            };
            match result {
                Ok(files) => {
                    println!("dir={}", files.dir.display());
                    println!("truth={}", files.truth_json().display());
                    println!("labels={}", files.labels_csv().display());
                    println!("bridges={}", files.bridges_csv().display());
                    println!("mixers={}", files.mixers_csv().display());
                    println!("incident={}", files.incident_toml().display());
                    for c in &files.truth.chains {
                        println!(
                            "state_{}={} {}",
                            c.chain.name(),
                            c.chain_id,
                            files.state_file(c.chain).display()
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: replay build: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/replay-cache")
}

//! Option groups shared by several subcommands.

use std::path::PathBuf;

use anyhow::Context;
use chaintrace_store::Store;

/// Options every subcommand accepts, before or after the subcommand name.
#[derive(Debug, clap::Args)]
pub(crate) struct GlobalOpts {
    /// Data directory holding the store (default: $CHAINTRACE_DATA_DIR, else the platform data dir).
    #[arg(long, global = true, env = "CHAINTRACE_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
}

impl GlobalOpts {
    /// The data directory in force.
    pub(crate) fn data_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.data_dir {
            Some(d) => Ok(d.clone()),
            None => dirs::data_dir()
                .map(|d| d.join("chaintrace"))
                .context("no --data-dir, no CHAINTRACE_DATA_DIR and no platform data directory"),
        }
    }

    /// Opens (creating if needed) the store in the data directory.
    pub(crate) fn open_store(&self) -> anyhow::Result<Store> {
        let dir = self.data_dir()?;
        Store::open(&dir).with_context(|| format!("opening store in {}", dir.display()))
    }
}

/// Output format of result-printing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub(crate) enum Format {
    /// Aligned text for people.
    #[default]
    Table,
    /// One JSON object with `schema_version`.
    Json,
    /// CSV with a header row.
    Csv,
}

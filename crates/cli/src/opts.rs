//! Option groups shared by several subcommands.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chaintrace_store::{Store, StoreError};

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

/// Opens the existing store in `dir` for reading. A store written by an older chaintrace is first migrated
/// (one read-write open, one transaction; a note on stderr), so upgrading chaintrace never strands a data
/// directory; a read-only directory then fails with the migration's own error.
pub(crate) fn open_store_read(dir: &Path) -> Result<Store, StoreError> {
    match Store::open_read_only(dir) {
        Err(StoreError::SchemaOld { found, supported, .. }) => {
            eprintln!(
                "migrating the store in {} from schema version {found} to {supported} (once) ...",
                dir.display()
            );
            drop(Store::open(dir)?);
            Store::open_read_only(dir)
        }
        other => other,
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

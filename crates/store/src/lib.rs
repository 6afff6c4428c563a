//! Durable embedded store of chaintrace: transfers, blocks and ingest checkpoints in SQLite (WAL).
//!
//! Other crates see only the narrow traits in [`TransferReader`] and [`TransferWriter`]; the schema is
//! private to this crate. Not here: decoding, networking, analysis.

#![warn(missing_docs)]

mod api;
pub mod labels;

pub use chaintrace_core::BlockRecord;

pub use api::{Batch, ChainCoverage, Checkpoint, TransferReader, TransferWriter, WriteStats};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("store {path}: {source}")]
    Sqlite {
        /// Database file.
        path: String,
        /// Underlying error.
        source: rusqlite::Error,
    },
    /// A stored row could not be decoded (corrupt or foreign database).
    #[error("store {path}: corrupt row in {table}: {detail}")]
    Corrupt {
        /// Database file.
        path: String,
        /// Table.
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A caller-supplied callback failed.
    #[error("{0}")]
    Callback(String),
}

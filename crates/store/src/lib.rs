//! Durable embedded store of chaintrace: transfers, blocks and ingest checkpoints in SQLite (WAL).
//!
//! Other crates see only the narrow traits in [`TransferReader`] and [`TransferWriter`], implemented
//! by [`Store`]; the schema is private to this crate (but readable with the `sqlite3` shell through
//! the `v_*` views, see `docs/store.md`). Not here: decoding, networking, analysis.
//!
//! Durability: every [`Batch`] is one SQLite transaction that includes its checkpoint row, committed in
//! WAL mode with `synchronous=FULL`, so after a crash (killed process or power loss) the store holds
//! whole batches only and each checkpoint covers rows that are really there.
//!
//! Identity: a transfer is identified by `(chain, tx_hash, position)` and writing it again is a no-op.
//! The unique index behind this is `(chain, block, tx_hash, position)` (schema version 3) so that rows
//! written in block order append to it; the two keys dedupe alike because a transaction hash lives in
//! exactly one canonical block and reorged blocks are unwound ([`TransferWriter::unwind`]) before they
//! are fetched again.
//!
//! Lookups by address (schema version 5): posting lists in `transfer_addrs`, one row per address key and
//! write listing the ids of that key's transfers. The writer sorts them in memory and writes them in
//! key order in the same transaction as the rows, instead of SQLite rebuilding two address indexes
//! after each bulk load (see `docs/store.md`).

#![warn(missing_docs)]

mod api;
pub mod labels;
mod load;
mod postings;
mod schema;
mod sqlite;
mod tx_lookup;

pub use chaintrace_core::BlockRecord;

pub use api::{Batch, ChainCoverage, Checkpoint, TransferLoad, TransferReader, TransferWriter, WriteStats};
pub use sqlite::{DB_FILE, Store};

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
    /// The data directory could not be created or read.
    #[error("store {path}: {source}")]
    Io {
        /// Directory or file.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// No database file where a read-only open expected one.
    #[error("no store at {path} (import or ingest something first)")]
    Missing {
        /// Database file looked for.
        path: String,
    },
    /// The file was written by a newer chaintrace.
    #[error("store {path}: schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// Database file.
        path: String,
        /// Version found in the file.
        found: i64,
        /// Highest version this build reads.
        supported: i64,
    },
    /// The file has an older schema and was opened read-only, so it cannot be migrated.
    #[error(
        "store {path}: schema version {found} is older than {supported}; open it read-write once to migrate"
    )]
    SchemaOld {
        /// Database file.
        path: String,
        /// Version found in the file.
        found: i64,
        /// Version this build reads.
        supported: i64,
    },
    /// A number does not fit the store's signed 64-bit integers.
    #[error("{what} {value} is too large to store (max 2^63-1)")]
    OutOfRange {
        /// What the number is.
        what: &'static str,
        /// The value.
        value: u64,
    },
}

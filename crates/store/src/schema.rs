//! The SQLite schema, its version (`PRAGMA user_version`) and the migrations between versions.
//!
//! Storage forms: chain = EIP-155 chain id (INTEGER); addresses = 20-byte BLOBs; hashes = 32-byte BLOBs;
//! amounts, fees and gas prices = exact decimal TEXT of the raw integer (never REAL); kind = `'native'`,
//! `'internal'` or `'token'`; asset = NULL for the native coin, else the token contract's 20-byte BLOB;
//! position = `'tx'`, `'log:N'` or `'trace:A.B.C'` (the [`chaintrace_core::Position`] text form);
//! `from_key` / `to_key` (version 2) = the first 8 bytes of `from_addr` / `to_addr` as a big-endian
//! signed integer ([`addr_key`]), the columns the address indexes are built on.
//! The `v_*` views show the same rows with hex text and chain names for the `sqlite3` shell.

use rusqlite::Connection;

/// The schema version this build writes and reads.
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// Version 0 (empty file) -> 1.
const V1: &str = r#"
CREATE TABLE IF NOT EXISTS chains (
    chain_id INTEGER PRIMARY KEY,
    name     TEXT NOT NULL
);
INSERT OR REPLACE INTO chains (chain_id, name) VALUES
    (1, 'ethereum'), (56, 'bsc'), (137, 'polygon'), (42161, 'arbitrum'), (10, 'optimism'), (728126428, 'tron');

CREATE TABLE IF NOT EXISTS transfers (
    id        INTEGER PRIMARY KEY,
    chain     INTEGER NOT NULL,
    block     INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    tx_hash   BLOB    NOT NULL,
    position  TEXT    NOT NULL,
    from_addr BLOB    NOT NULL,
    to_addr   BLOB    NOT NULL,
    asset     BLOB,
    amount    TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    tx_from   BLOB    NOT NULL,
    tx_fee    TEXT    NOT NULL,
    gas_price TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS transfers_identity ON transfers (chain, tx_hash, position);

CREATE TABLE IF NOT EXISTS blocks (
    chain       INTEGER NOT NULL,
    number      INTEGER NOT NULL,
    hash        BLOB    NOT NULL,
    parent_hash BLOB    NOT NULL,
    timestamp   INTEGER NOT NULL,
    PRIMARY KEY (chain, number)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS checkpoints (
    stage      TEXT    NOT NULL,
    chain      INTEGER NOT NULL,
    block      INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (stage, chain)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS raw_logs (
    chain     INTEGER NOT NULL,
    block     INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    tx_hash   BLOB    NOT NULL,
    log_index INTEGER NOT NULL,
    address   BLOB    NOT NULL,
    topics    BLOB    NOT NULL,
    data      BLOB    NOT NULL,
    tx_from   BLOB    NOT NULL,
    PRIMARY KEY (chain, tx_hash, log_index)
);
CREATE INDEX IF NOT EXISTS raw_logs_block ON raw_logs (chain, block, log_index);

CREATE VIEW IF NOT EXISTS v_transfers AS
SELECT t.id                                                       AS id,
       COALESCE(c.name, CAST(t.chain AS TEXT))                     AS chain,
       t.block                                                    AS block,
       t.timestamp                                                AS timestamp,
       datetime(t.timestamp, 'unixepoch')                         AS time_utc,
       '0x' || lower(hex(t.tx_hash))                              AS tx_hash,
       t.position                                                 AS position,
       '0x' || lower(hex(t.from_addr))                            AS "from",
       '0x' || lower(hex(t.to_addr))                              AS "to",
       CASE WHEN t.asset IS NULL THEN 'native' ELSE '0x' || lower(hex(t.asset)) END AS asset,
       t.amount                                                   AS amount,
       t.kind                                                     AS kind,
       '0x' || lower(hex(t.tx_from))                              AS tx_from,
       t.tx_fee                                                   AS tx_fee,
       t.gas_price                                                AS gas_price
FROM transfers t LEFT JOIN chains c ON c.chain_id = t.chain;

CREATE VIEW IF NOT EXISTS v_blocks AS
SELECT COALESCE(c.name, CAST(b.chain AS TEXT)) AS chain,
       b.number                                AS number,
       '0x' || lower(hex(b.hash))              AS hash,
       '0x' || lower(hex(b.parent_hash))       AS parent_hash,
       b.timestamp                             AS timestamp,
       datetime(b.timestamp, 'unixepoch')      AS time_utc
FROM blocks b LEFT JOIN chains c ON c.chain_id = b.chain;

CREATE VIEW IF NOT EXISTS v_checkpoints AS
SELECT k.stage                                  AS stage,
       COALESCE(c.name, CAST(k.chain AS TEXT))  AS chain,
       k.block                                  AS block,
       datetime(k.updated_at, 'unixepoch')      AS updated_utc
FROM checkpoints k LEFT JOIN chains c ON c.chain_id = k.chain;

CREATE VIEW IF NOT EXISTS v_raw_logs AS
SELECT COALESCE(c.name, CAST(l.chain AS TEXT)) AS chain,
       l.block                                 AS block,
       l.timestamp                             AS timestamp,
       '0x' || lower(hex(l.tx_hash))           AS tx_hash,
       l.log_index                             AS log_index,
       '0x' || lower(hex(l.address))           AS address,
       '0x' || lower(hex(substr(l.topics, 1, 32))) AS topic0,
       length(l.topics) / 32                   AS topic_count,
       '0x' || lower(hex(l.data))              AS data,
       '0x' || lower(hex(l.tx_from))           AS tx_from
FROM raw_logs l LEFT JOIN chains c ON c.chain_id = l.chain;
"#;

/// Version 1 -> 2: integer address keys. The address indexes move from the 20-byte BLOBs to 8-byte
/// integer prefixes: SQLite's sorter compares integer keys on a fast path, so rebuilding them after a
/// bulk load takes less than half the time, and the index entries are smaller. Lookups filter on the
/// key and then on the full address. The keys of existing rows are filled in by [`fill_address_keys`].
const V2: &str = r#"
ALTER TABLE transfers ADD COLUMN from_key INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN to_key INTEGER NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS transfers_from;
DROP INDEX IF EXISTS transfers_to;
"#;

/// The index key of an address: its first 8 bytes as a big-endian signed integer. In the `sqlite3`
/// shell the same value is the hex literal of the first 16 hex digits (`0x9b22a80d5c7b3374`).
pub(crate) fn addr_key(addr: &[u8; 20]) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&addr[..8]);
    i64::from_be_bytes(b)
}

/// Computes `from_key` / `to_key` of every stored transfer (the version 2 step for existing rows).
fn fill_address_keys(conn: &Connection) -> rusqlite::Result<()> {
    let mut read = conn.prepare("SELECT id, from_addr, to_addr FROM transfers")?;
    let mut write = conn.prepare("UPDATE transfers SET from_key = ?2, to_key = ?3 WHERE id = ?1")?;
    let mut rows = read.query([])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let key = |i: usize| -> rusqlite::Result<i64> {
            let b: Vec<u8> = r.get(i)?;
            let a = <[u8; 20]>::try_from(b.as_slice()).map_err(|_| {
                rusqlite::Error::FromSqlConversionFailure(
                    i,
                    rusqlite::types::Type::Blob,
                    format!("transfer {id}: address of {} bytes", b.len()).into(),
                )
            })?;
            Ok(addr_key(&a))
        };
        write.execute(rusqlite::params![id, key(1)?, key(2)?])?;
    }
    Ok(())
}

/// Secondary indexes of `transfers` (lookups by address, unwind and export by block). Dropped and
/// rebuilt around bulk loads (see `Store::begin_load`).
pub(crate) const SECONDARY_INDEXES: &str = r#"
CREATE INDEX IF NOT EXISTS transfers_from ON transfers (from_key);
CREATE INDEX IF NOT EXISTS transfers_to ON transfers (to_key);
CREATE INDEX IF NOT EXISTS transfers_block ON transfers (chain, block);
"#;

/// Drops what [`SECONDARY_INDEXES`] creates.
pub(crate) const DROP_SECONDARY_INDEXES: &str = r#"
DROP INDEX IF EXISTS transfers_from;
DROP INDEX IF EXISTS transfers_to;
DROP INDEX IF EXISTS transfers_block;
"#;

/// What [`migrate`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Migration {
    /// The file was already at [`SCHEMA_VERSION`].
    Current,
    /// Migrated from this version.
    From(i64),
}

/// Outcome of reading the version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionCheck {
    /// Readable by this build.
    Ok,
    /// Written by a newer build.
    TooNew(i64),
    /// Older than this build; needs a read-write open to migrate.
    Old(i64),
}

pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

pub(crate) fn check_version(conn: &Connection) -> rusqlite::Result<VersionCheck> {
    let v = user_version(conn)?;
    Ok(match v {
        v if v == SCHEMA_VERSION => VersionCheck::Ok,
        v if v > SCHEMA_VERSION => VersionCheck::TooNew(v),
        v => VersionCheck::Old(v),
    })
}

/// Brings the schema up to [`SCHEMA_VERSION`] in one transaction: a migration interrupted by a crash
/// leaves the old version and simply runs again.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<Migration> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let from = user_version(&tx)?;
    if from >= SCHEMA_VERSION {
        return Ok(Migration::Current);
    }
    if from < 1 {
        tx.execute_batch(V1)?;
    }
    if from < 2 {
        tx.execute_batch(V2)?;
        if from >= 1 {
            fill_address_keys(&tx)?;
        }
    }
    tx.execute_batch(SECONDARY_INDEXES)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(Migration::From(from))
}

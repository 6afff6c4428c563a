//! The SQLite schema, its version (`PRAGMA user_version`) and the migrations between versions.
//!
//! Storage forms: chain = EIP-155 chain id (INTEGER); addresses = 20-byte BLOBs; hashes = 32-byte BLOBs;
//! amounts, fees and gas prices = exact decimal TEXT of the raw integer (never REAL); kind = `'native'`,
//! `'internal'` or `'token'`; asset = NULL for the native coin, else the token contract's 20-byte BLOB;
//! position = `'tx'`, `'log:N'` or `'trace:A.B.C'` (the [`chaintrace_core::Position`] text form);
//! `from_key` / `to_key` (version 2) = the first 8 bytes of `from_addr` / `to_addr` as a big-endian
//! signed integer ([`addr_key`]), the keys of the address lookups (indexes in versions 2-4, the posting
//! lists of `transfer_addrs` since version 5).
//! Identity (version 3): the unique index `transfers_identity (chain, block, tx_hash, position)`. It
//! starts with the block so that rows arriving in block order (every import and ingest) land at the end
//! of the index instead of at random places, and it doubles as the by-block index (unwind, spans). A
//! transaction hash lives in exactly one canonical block and reorged blocks are unwound before they are
//! fetched again, so this key dedupes exactly like the logical identity `(chain, tx_hash, position)`.
//! Address index (version 5): `transfer_addrs (key, first_id, ids)`, posting lists keyed by the address
//! key. Each row lists, as a JSON array of ascending transfer ids, transfers whose `from_key` or
//! `to_key` is `key` (an id appears once per key even when both sides share it), up to 128 ids, written
//! by one write (a batch, or a part of a streamed load) in key order; `first_id` is the smallest id of
//! the row. A key therefore has a few rows per write that touched it, and lookups read them all. See
//! [`V5`].
//! The `v_*` views show the same rows with hex text and chain names for the `sqlite3` shell.

use rusqlite::Connection;

/// The schema version this build writes and reads.
pub(crate) const SCHEMA_VERSION: i64 = 5;

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

/// Version 2 -> 3: the identity index starts with `(chain, block)` (see the module docs), which makes
/// the separate `(chain, block)` index redundant. Every stored row is unique on `(chain, tx_hash,
/// position)`, hence also on the wider key, so the new unique index always builds.
const V3: &str = r#"
DROP INDEX IF EXISTS transfers_identity;
DROP INDEX IF EXISTS transfers_block;
CREATE UNIQUE INDEX IF NOT EXISTS transfers_identity ON transfers (chain, block, tx_hash, position);
"#;

/// Version 3 -> 4: per-chain transfer counts, kept by the writer in the same transaction as the rows
/// (inserted rows added, unwound rows subtracted), so the store's stamp (what the graph snapshot and the
/// conversions cache are checked against) is read without counting millions of rows. Existing rows are
/// counted once here.
const V4: &str = r#"
CREATE TABLE IF NOT EXISTS chain_stats (
    chain     INTEGER PRIMARY KEY,
    transfers INTEGER NOT NULL
);
DELETE FROM chain_stats;
INSERT INTO chain_stats (chain, transfers) SELECT chain, COUNT(*) FROM transfers GROUP BY chain;
"#;

/// Version 4 -> 5: the address indexes `transfers_from (from_key)` / `transfers_to (to_key)` are replaced
/// by posting lists the store sorts itself (`transfer_addrs`, see the module docs). SQLite rebuilt the
/// two indexes after every bulk load with its external sorter, which was about a third of the CPU of a
/// file import; the posting lists are sorted in memory and written in key order, one row per address
/// key and write instead of two index entries per transfer. The postings of existing rows are written
/// by [`crate::sqlite::post_existing_rows`].
const V5: &str = r#"
DROP INDEX IF EXISTS transfers_from;
DROP INDEX IF EXISTS transfers_to;
CREATE TABLE IF NOT EXISTS transfer_addrs (
    key      INTEGER NOT NULL,
    first_id INTEGER NOT NULL,
    ids      TEXT    NOT NULL,
    PRIMARY KEY (key, first_id)
) WITHOUT ROWID;
DELETE FROM transfer_addrs;
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
    if from < 3 {
        tx.execute_batch(V3)?;
    }
    if from < 4 {
        tx.execute_batch(V4)?;
    }
    if from < 5 {
        tx.execute_batch(V5)?;
        crate::sqlite::post_existing_rows(&tx)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(Migration::From(from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Batch, Store, TransferReader, TransferWriter};
    use chaintrace_core::{Address, Asset, Chain, Position, Transfer, TransferKind, TxHash, U256};

    /// The transfer stored by [`old_file`], as the reader must return it.
    fn stored() -> Transfer {
        Transfer {
            chain: Chain::Ethereum,
            block: 7,
            timestamp: 1_700_000_000,
            tx_hash: TxHash([0x11; 32]),
            position: Position::Log(3),
            from: Address([0xa1; 20]),
            to: Address([0xb2; 20]),
            asset: Asset::Token(Address([0xcc; 20])),
            amount: U256::from(5u8) << 130usize,
            kind: TransferKind::Token,
            tx_from: Address([0xa1; 20]),
            tx_fee: U256::from(21_000u64 * 9),
            gas_price: U256::from(9u8),
        }
    }

    /// A file as schema `version` (1 to 4) wrote it, holding [`stored`] and that version's indexes.
    fn old_file(dir: &std::path::Path, version: i64) {
        let conn = Connection::open(dir.join(crate::DB_FILE)).expect("create old file");
        conn.execute_batch(V1).expect("v1 script");
        let row = "INSERT INTO transfers (chain, block, timestamp, tx_hash, position, from_addr, to_addr, asset, \
                   amount, kind, tx_from, tx_fee, gas_price) VALUES (1, 7, 1700000000, ?1, 'log:3', ?2, ?3, ?4, \
                   ?5, 'token', ?2, '189000', '9')";
        let amount = (U256::from(5u8) << 130usize).to_string();
        conn.execute(
            row,
            rusqlite::params![
                &[0x11u8; 32][..],
                &[0xa1u8; 20][..],
                &[0xb2u8; 20][..],
                &[0xccu8; 20][..],
                amount
            ],
        )
        .expect("v1 row");
        if version == 1 {
            conn.execute_batch(
                "CREATE INDEX transfers_from ON transfers (from_addr); \
                 CREATE INDEX transfers_to ON transfers (to_addr); \
                 CREATE INDEX transfers_block ON transfers (chain, block);",
            )
            .expect("v1 indexes");
        } else {
            conn.execute_batch(V2).expect("v2 script");
            fill_address_keys(&conn).expect("v2 keys");
            conn.execute_batch(
                "CREATE INDEX transfers_from ON transfers (from_key); \
                 CREATE INDEX transfers_to ON transfers (to_key); \
                 CREATE INDEX transfers_block ON transfers (chain, block);",
            )
            .expect("v2 indexes");
            if version >= 3 {
                conn.execute_batch(V3).expect("v3 script");
            }
            if version >= 4 {
                conn.execute_batch(V4).expect("v4 script");
            }
        }
        conn.pragma_update(None, "user_version", version)
            .expect("version");
    }

    fn identity_columns(store: &Store) -> Vec<String> {
        let mut st = store
            .conn
            .prepare("SELECT name FROM pragma_index_info('transfers_identity') ORDER BY seqno")
            .expect("index info");
        let names = st.query_map([], |r| r.get(0)).expect("query");
        names.collect::<Result<Vec<String>, _>>().expect("names")
    }

    #[test]
    fn versions_1_to_4_migrate_to_the_block_first_identity_and_posting_lists() {
        for version in [1, 2, 3, 4] {
            let tmp = tempfile::tempdir().expect("tempdir");
            old_file(tmp.path(), version);
            let err = Store::open_read_only(tmp.path()).expect_err("old file read-only");
            assert!(
                matches!(err, crate::StoreError::SchemaOld { found, .. } if found == version),
                "{err}"
            );
            let mut store = Store::open(tmp.path()).expect("migrates");
            assert_eq!(
                store.schema_version().expect("version"),
                SCHEMA_VERSION,
                "from v{version}"
            );
            assert_eq!(
                store.index_names().expect("indexes"),
                ["transfers_identity"],
                "from v{version}"
            );
            store.check_address_index().expect("existing row posted");
            assert_eq!(
                identity_columns(&store),
                ["chain", "block", "tx_hash", "position"]
            );
            let t = stored();
            assert_eq!(
                store.transfers_of(t.from, None).expect("by from"),
                vec![t.clone()]
            );
            assert_eq!(store.transfers_of(t.to, None).expect("by to"), vec![t.clone()]);
            // The migrated row still dedupes; a new identity goes in.
            let mut other = t.clone();
            other.position = Position::Log(4);
            let stats = store
                .write_batch(Batch {
                    blocks: &[],
                    transfers: &[t.clone(), other],
                    logs: &[],
                    checkpoint: None,
                })
                .expect("write after migration");
            assert_eq!((stats.inserted, stats.duplicates), (1, 1), "from v{version}");
            store.check_address_index().expect("new row posted");
            assert_eq!(store.transfers_of(t.from, None).expect("by from").len(), 2);
            assert_eq!(
                store.transfer_block_span(Chain::Ethereum).expect("span"),
                Some((7, 7))
            );
            drop(store);
            let ro = Store::open_read_only(tmp.path()).expect("current file read-only");
            assert_eq!(ro.transfer_count(None).expect("count"), 2);
        }
    }

    #[test]
    fn new_files_get_large_pages_and_old_files_keep_theirs() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path()).expect("new file");
        let size: i64 = store
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .expect("size");
        assert_eq!(size, 16 * 1024);
        let old = tempfile::tempdir().expect("tempdir");
        old_file(old.path(), 2);
        let store = Store::open(old.path()).expect("migrates");
        let size: i64 = store
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .expect("size");
        assert_eq!(size, 4096);
    }
}

//! [`Store`]: the SQLite implementation of [`TransferWriter`] and [`TransferReader`].

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use chaintrace_core::{
    Address, Asset, BlockRecord, Chain, Position, RawLog, Transfer, TransferKind, TxHash, U256,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use crate::postings::{self, FLUSH_PAIRS, Postings};
use crate::schema::{self, VersionCheck};
use crate::{
    Batch, ChainCoverage, Checkpoint, StoreError, TransferLoad, TransferReader, TransferWriter, WriteStats,
};
use borrowed::{BorrowedInsert, Param};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "chaintrace.sqlite";

/// Page cache per connection, in KiB (negative `cache_size` means KiB). Large imports keep the
/// identity and address indexes in memory instead of re-reading pages.
const CACHE_KIB: i64 = 256 * 1024;

/// The durable embedded store: one SQLite file (`chaintrace.sqlite`) in WAL mode with
/// `synchronous=FULL`, so a committed batch survives a power loss, not only a killed process.
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    /// Address postings held in memory before a write flushes them ([`FLUSH_PAIRS`]; tests lower it).
    pub(crate) flush_pairs: usize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens the store in `dir` read-write, creating the directory and the database file if needed,
    /// and migrating an older schema.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let mut conn = Connection::open(&path).map_err(sql(&path))?;
        set_page_size_if_new(&conn).map_err(sql(&path))?;
        configure(&conn, true).map_err(sql(&path))?;
        if let VersionCheck::TooNew(found) = schema::check_version(&conn).map_err(sql(&path))? {
            return Err(StoreError::SchemaTooNew {
                path: path.display().to_string(),
                found,
                supported: schema::SCHEMA_VERSION,
            });
        }
        schema::migrate(&mut conn).map_err(sql(&path))?;
        Ok(Store {
            conn,
            path,
            flush_pairs: FLUSH_PAIRS,
        })
    }

    /// Opens an existing store in `dir` for reading only; fails if there is none or its schema is
    /// not the one this build reads.
    pub fn open_read_only(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(DB_FILE);
        if !path.is_file() {
            return Err(StoreError::Missing {
                path: path.display().to_string(),
            });
        }
        let flags =
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&path, flags).map_err(sql(&path))?;
        configure(&conn, false).map_err(sql(&path))?;
        let p = path.display().to_string();
        match schema::check_version(&conn).map_err(sql(&path))? {
            VersionCheck::Ok => Ok(Store {
                conn,
                path,
                flush_pairs: FLUSH_PAIRS,
            }),
            VersionCheck::TooNew(found) => Err(StoreError::SchemaTooNew {
                path: p,
                found,
                supported: schema::SCHEMA_VERSION,
            }),
            VersionCheck::Old(found) => Err(StoreError::SchemaOld {
                path: p,
                found,
                supported: schema::SCHEMA_VERSION,
            }),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        schema::user_version(&self.conn).map_err(self.err())
    }

    /// Lowest and highest block number among the stored transfers of `chain` (file imports may have
    /// transfers without block rows, so this complements [`TransferReader::coverage`]).
    pub fn transfer_block_span(&self, chain: Chain) -> Result<Option<(u64, u64)>, StoreError> {
        let row: (Option<i64>, Option<i64>) = self
            .conn
            .query_row(
                "SELECT MIN(block), MAX(block) FROM transfers WHERE chain = ?1",
                [chain_key(chain)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.err())?;
        match row {
            (Some(lo), Some(hi)) => Ok(Some((
                self.to_u64(lo, "transfers")?,
                self.to_u64(hi, "transfers")?,
            ))),
            _ => Ok(None),
        }
    }

    /// Names of the indexes on the `transfers` table (diagnostics and tests).
    pub fn index_names(&self) -> Result<Vec<String>, StoreError> {
        let e = self.err();
        let mut st = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'transfers' ORDER BY name")
            .map_err(&e)?;
        let names = st.query_map([], |r| r.get(0)).map_err(&e)?;
        names.collect::<Result<Vec<String>, _>>().map_err(&e)
    }

    pub(crate) fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        sql(&self.path)
    }

    /// A stored integer that must be non-negative.
    fn to_u64(&self, v: i64, table: &'static str) -> Result<u64, StoreError> {
        u64::try_from(v).map_err(|_| self.corrupt(table, format!("negative number {v}")))
    }

    fn corrupt(&self, table: &'static str, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.display().to_string(),
            table,
            detail: detail.into(),
        }
    }
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

/// Page size of new files, in bytes. Larger pages than SQLite's 4 KiB default mean fewer B-tree
/// levels, fewer page splits and fewer WAL frame headers per row on bulk loads (measured: see
/// docs/store.md). It only applies to a file that has no page yet; existing files keep theirs.
const NEW_FILE_PAGE_SIZE: i64 = 16 * 1024;

/// Sets [`NEW_FILE_PAGE_SIZE`] on a file that is still empty (before WAL mode fixes the page size).
fn set_page_size_if_new(conn: &Connection) -> rusqlite::Result<()> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    if pages == 0 {
        conn.pragma_update(None, "page_size", NEW_FILE_PAGE_SIZE)?;
    }
    Ok(())
}

/// Per-connection settings. WAL lets readers run beside the single writer; `synchronous=FULL` fsyncs
/// the WAL at every commit, so a checkpoint row is never durable before the rows it covers, even on
/// power loss (NORMAL would only survive a killed process). With batches of thousands of rows the
/// one fsync per commit is noise.
fn configure(conn: &Connection, writable: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    if writable {
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::InvalidParameterName(format!(
                "journal_mode stayed {mode}"
            )));
        }
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// Chain key in the tables: the EIP-155 chain id.
pub(crate) fn chain_key(chain: Chain) -> i64 {
    i64::try_from(chain.chain_id()).expect("known chain ids fit in i64")
}

/// Block numbers and timestamps are stored as SQLite's signed 64-bit integers.
fn to_i64(v: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::OutOfRange { what, value: v })
}

fn kind_name(kind: TransferKind) -> &'static str {
    kind.name()
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

const INSERT_TRANSFER: &str = "INSERT OR IGNORE INTO transfers (chain, block, timestamp, tx_hash, position, \
     from_addr, to_addr, from_key, to_key, asset, amount, kind, tx_from, tx_fee, gas_price) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

const INSERT_BLOCK: &str = "INSERT OR REPLACE INTO blocks (chain, number, hash, parent_hash, timestamp) \
     VALUES (?1, ?2, ?3, ?4, ?5)";

/// Statements whose parameters are bound without a copy: the one `unsafe` module of the store.
///
/// rusqlite binds every TEXT and BLOB parameter with `SQLITE_TRANSIENT`, so SQLite allocates, copies
/// and later frees each value: 10 of the 15 values of a transfer row, ~10 % of an import's CPU. Here
/// they are bound with `SQLITE_STATIC` (SQLite reads the caller's bytes in place), which is sound
/// because SQLite reads bound values only during a step, and [`BorrowedInsert::run`] binds every
/// parameter of the statement, steps and resets within one call that borrows the values.
mod borrowed {
    #![allow(unsafe_code)]

    use std::ffi::{CStr, c_int};
    use std::marker::PhantomData;
    use std::ptr;

    use rusqlite::{Connection, ffi};

    /// One parameter value, borrowed for one [`BorrowedInsert::run`].
    #[derive(Clone, Copy)]
    pub(super) enum Param<'v> {
        Int(i64),
        /// UTF-8 text (the callers pass ASCII).
        Text(&'v [u8]),
        Blob(&'v [u8]),
        Null,
    }

    /// A statement that changes rows and returns none (an `INSERT`), prepared on a connection it
    /// cannot outlive, finalized on drop.
    pub(super) struct BorrowedInsert<'c> {
        db: *mut ffi::sqlite3,
        stmt: *mut ffi::sqlite3_stmt,
        /// Parameters of the statement: every [`BorrowedInsert::run`] binds exactly these.
        params: usize,
        _conn: PhantomData<&'c Connection>,
    }

    /// SQLite's error for `rc`, with the connection's message.
    fn error(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
        // SAFETY: `db` is the open connection the statement was prepared on; `sqlite3_errmsg` returns
        // a NUL-terminated string owned by SQLite, copied here before any other call on `db`.
        let (code, message) = unsafe {
            let code = ffi::sqlite3_extended_errcode(db);
            let message = ffi::sqlite3_errmsg(db);
            let message =
                (!message.is_null()).then(|| CStr::from_ptr(message).to_string_lossy().into_owned());
            (if code == ffi::SQLITE_OK { rc } else { code }, message)
        };
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), message)
    }

    /// The length of a value as SQLite's `int` (values here are a few dozen bytes; larger than 2 GiB
    /// is refused as SQLite would).
    fn len(v: &[u8]) -> rusqlite::Result<c_int> {
        c_int::try_from(v.len()).map_err(|_| {
            rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_TOOBIG),
                Some("value too large".into()),
            )
        })
    }

    impl<'c> BorrowedInsert<'c> {
        /// Prepares the single statement `sql` on `conn`.
        pub(super) fn prepare(conn: &'c Connection, sql: &str) -> rusqlite::Result<Self> {
            // SAFETY: the handle is only used while `conn` is borrowed (`'c`), on this thread (the
            // struct holds raw pointers, so it is neither Send nor Sync), and rusqlite is not given
            // the statement.
            let db = unsafe { conn.handle() };
            let mut stmt = ptr::null_mut();
            // SAFETY: `sql` is valid for `sql.len()` bytes (passed explicitly, no NUL needed);
            // `stmt` receives the new statement or stays null on error.
            let rc = unsafe {
                ffi::sqlite3_prepare_v2(
                    db,
                    sql.as_ptr().cast(),
                    len(sql.as_bytes())?,
                    &mut stmt,
                    ptr::null_mut(),
                )
            };
            if rc != ffi::SQLITE_OK {
                return Err(error(db, rc));
            }
            if stmt.is_null() {
                return Err(rusqlite::Error::SqliteFailure(
                    ffi::Error::new(ffi::SQLITE_MISUSE),
                    Some("empty statement".into()),
                ));
            }
            // SAFETY: `stmt` is the live statement just prepared.
            let params = unsafe { ffi::sqlite3_bind_parameter_count(stmt) };
            Ok(BorrowedInsert {
                db,
                stmt,
                params: usize::try_from(params).unwrap_or(0),
                _conn: PhantomData,
            })
        }

        /// Binds `params` to `?1`, `?2`, ... in order (exactly as many as the statement has), runs the
        /// statement to completion and returns the number of rows it changed. The statement is reset
        /// before returning, on success and on error.
        ///
        /// The bindings are not cleared (that walks every parameter again): the pointers into
        /// `params` stay bound after the borrow ends, but SQLite reads bound values only while a
        /// step runs, each `run` rebinds every parameter before stepping (or steps nothing), and
        /// finalizing frees nothing bound `SQLITE_STATIC`.
        pub(super) fn run(&mut self, params: &[Param<'_>]) -> rusqlite::Result<u64> {
            if params.len() != self.params {
                return Err(rusqlite::Error::InvalidParameterCount(params.len(), self.params));
            }
            let result = self.bind_and_step(params);
            // SAFETY: `stmt` is a live statement of `db`. The reset's return code repeats the
            // step's error, already taken.
            unsafe {
                ffi::sqlite3_reset(self.stmt);
            }
            result
        }

        fn bind_and_step(&mut self, params: &[Param<'_>]) -> rusqlite::Result<u64> {
            for (i, param) in params.iter().enumerate() {
                let i = c_int::try_from(i + 1).expect("a handful of parameters");
                // SAFETY: `stmt` is live; text and blob pointers are valid for `len` bytes for the
                // whole of `run` (borrowed from `params`), and `SQLITE_STATIC` tells SQLite not to
                // free them; they are read only by the step below (see `run` for why they may stay bound).
                let rc = unsafe {
                    match *param {
                        Param::Int(v) => ffi::sqlite3_bind_int64(self.stmt, i, v),
                        Param::Text(t) => ffi::sqlite3_bind_text(
                            self.stmt,
                            i,
                            t.as_ptr().cast(),
                            len(t)?,
                            ffi::SQLITE_STATIC(),
                        ),
                        Param::Blob(b) => ffi::sqlite3_bind_blob(
                            self.stmt,
                            i,
                            b.as_ptr().cast(),
                            len(b)?,
                            ffi::SQLITE_STATIC(),
                        ),
                        Param::Null => ffi::sqlite3_bind_null(self.stmt, i),
                    }
                };
                if rc != ffi::SQLITE_OK {
                    return Err(error(self.db, rc));
                }
            }
            // SAFETY: `stmt` is live with every parameter bound to memory valid until `run` returns.
            let rc = unsafe { ffi::sqlite3_step(self.stmt) };
            if rc != ffi::SQLITE_DONE {
                return Err(error(self.db, rc));
            }
            // SAFETY: `db` is live; the count is of the statement that just completed.
            let changes = unsafe { ffi::sqlite3_changes64(self.db) };
            Ok(u64::try_from(changes).unwrap_or(0))
        }
    }

    impl Drop for BorrowedInsert<'_> {
        fn drop(&mut self) {
            // SAFETY: `stmt` was prepared by `prepare`, is finalized once, here, and `db` is still
            // open (the `'c` borrow of the connection).
            unsafe {
                ffi::sqlite3_finalize(self.stmt);
            }
        }
    }
}

/// Refuses numbers that do not fit SQLite integers, before anything is written.
fn validate(blocks: &[BlockRecord], transfers: &[Transfer], logs: &[RawLog]) -> Result<(), StoreError> {
    for t in transfers {
        to_i64(t.block, "block number")?;
        to_i64(t.timestamp, "timestamp")?;
    }
    for b in blocks {
        to_i64(b.number, "block number")?;
        to_i64(b.timestamp, "timestamp")?;
    }
    for l in logs {
        to_i64(l.block, "block number")?;
        to_i64(l.timestamp, "timestamp")?;
    }
    Ok(())
}

/// Reused text of the TEXT columns of the rows of one multi-row INSERT (no allocation per row):
/// ASCII, bound as TEXT without a UTF-8 check. `spans[4 * k..4 * k + 4]` are row `k`'s position,
/// amount, fee and gas price in `bytes`.
#[derive(Default)]
struct RowText {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl RowText {
    /// Appends the text columns of `t`.
    fn push(&mut self, t: &Transfer) {
        let mut span = |bytes: &mut Vec<u8>, write: &dyn Fn(&mut Vec<u8>)| {
            let start = bytes.len();
            write(bytes);
            self.spans.push((start, bytes.len()));
        };
        span(&mut self.bytes, &|b| push_position(b, &t.position));
        span(&mut self.bytes, &|b| push_decimal(b, &t.amount));
        span(&mut self.bytes, &|b| push_decimal(b, &t.tx_fee));
        span(&mut self.bytes, &|b| push_decimal(b, &t.gas_price));
    }

    /// Text column `column` (0-3) of row `row`.
    fn get(&self, row: usize, column: usize) -> &[u8] {
        let (a, b) = self.spans[4 * row + column];
        &self.bytes[a..b]
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
    }
}

/// Exact decimal text of `v` into `buf`; amounts below 2^128 (nearly all) skip the 256-bit division.
#[cfg(test)]
fn decimal_into(buf: &mut Vec<u8>, v: &U256) {
    buf.clear();
    push_decimal(buf, v);
}

/// Appends the exact decimal text of `v`; amounts below 2^128 (nearly all) skip the 256-bit division.
fn push_decimal(buf: &mut Vec<u8>, v: &U256) {
    if v.bit_len() <= 128 {
        postings::push_u128(buf, v.to::<u128>());
    } else {
        buf.extend_from_slice(v.to_string().as_bytes());
    }
}

/// The [`Position`] text form (`tx`, `log:N`, `trace:A.B`) into `buf`, as its `Display` writes it.
#[cfg(test)]
fn position_into(buf: &mut Vec<u8>, p: &Position) {
    buf.clear();
    push_position(buf, p);
}

/// Appends the [`Position`] text form (`tx`, `log:N`, `trace:A.B`), as its `Display` writes it.
fn push_position(buf: &mut Vec<u8>, p: &Position) {
    match p {
        Position::Tx => buf.extend_from_slice(b"tx"),
        Position::Log(i) => {
            buf.extend_from_slice(b"log:");
            postings::push_u64(buf, u64::from(*i));
        }
        Position::Trace(path) => {
            buf.extend_from_slice(b"trace:");
            for (i, n) in path.iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                postings::push_u64(buf, u64::from(*n));
            }
        }
    }
}

const INSERT_POSTING: &str = "INSERT INTO transfer_addrs (key, first_id, ids) VALUES (?1, ?2, ?3)";

/// Writes the held address postings into `transfer_addrs`, one row per key, in key order (the B-tree
/// takes them in one ascending sweep), in the caller's transaction.
fn flush_postings(conn: &Connection, postings: &mut Postings) -> rusqlite::Result<()> {
    if postings.len() == 0 {
        return Ok(());
    }
    // Rows go in by statements of ROWS_PER_INSERT rows, as transfers do (a load posts ~1 row per 4
    // transfers).
    let mut full: Option<BorrowedInsert<'_>> = None;
    let mut rows = PostingRows::default();
    postings.drain_rows(|key, first, ids| {
        rows.push(key, first, ids);
        if rows.len() == ROWS_PER_INSERT {
            let ins = match &mut full {
                Some(ins) => ins,
                None => full.insert(BorrowedInsert::prepare(
                    conn,
                    &multi_row_sql(INSERT_POSTING, 3, ROWS_PER_INSERT),
                )?),
            };
            rows.insert(ins)?;
        }
        Ok::<(), rusqlite::Error>(())
    })?;
    if rows.len() > 0 {
        rows.insert(&mut BorrowedInsert::prepare(
            conn,
            &multi_row_sql(INSERT_POSTING, 3, rows.len()),
        )?)?;
    }
    Ok(())
}

/// `transfer_addrs` rows waiting for one multi-row INSERT: keys, first ids, and the id lists' text.
#[derive(Default)]
struct PostingRows {
    keys: Vec<(i64, i64)>,
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl PostingRows {
    fn push(&mut self, key: i64, first: i64, ids: &[u8]) {
        self.keys.push((key, first));
        self.text.extend_from_slice(ids);
        self.ends.push(self.text.len());
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    /// Inserts the held rows with `ins` (prepared for exactly as many rows) and forgets them.
    fn insert(&mut self, ins: &mut BorrowedInsert<'_>) -> rusqlite::Result<()> {
        let mut params = Vec::with_capacity(3 * self.keys.len());
        let mut start = 0;
        for (&(key, first), &end) in self.keys.iter().zip(&self.ends) {
            params.extend([
                Param::Int(key),
                Param::Int(first),
                Param::Text(&self.text[start..end]),
            ]);
            start = end;
        }
        ins.run(&params)?;
        self.keys.clear();
        self.text.clear();
        self.ends.clear();
        Ok(())
    }
}

/// Posts every stored transfer into the (empty) `transfer_addrs` table: the schema version 5 step for
/// existing rows. Memory stays bounded by [`FLUSH_PAIRS`].
pub(crate) fn post_existing_rows(conn: &Connection) -> rusqlite::Result<()> {
    let mut postings = Postings::default();
    let mut read = conn.prepare("SELECT id, from_key, to_key FROM transfers ORDER BY id")?;
    let mut rows = read.query([])?;
    while let Some(r) = rows.next()? {
        postings.add(r.get(0)?, r.get(1)?, r.get(2)?);
        if postings.len() >= FLUSH_PAIRS {
            flush_postings(conn, &mut postings)?;
        }
    }
    flush_postings(conn, &mut postings)
}

/// Removes the `(key, id)` pairs of `removed` (transfers about to be deleted) from `transfer_addrs`:
/// every posting row of an affected key that lists one of the ids is rewritten without it (or deleted
/// when nothing is left).
///
/// The rows of one key hold disjoint id ranges, ascending with `first_id` (ids only grow: a write
/// posts ids above every stored one, and ids freed by an unwind leave the lists with their rows), so
/// the rows that can hold ids `lo..=hi` are the last one starting at or below `lo` and those starting
/// in `lo..=hi`: an unwind reads the recent rows of a busy address, not all of them.
/// [`Store::check_address_index`] checks the invariant.
fn unpost(conn: &Connection, removed: &mut [(i64, i64)]) -> rusqlite::Result<()> {
    removed.sort_unstable();
    let mut sel = conn.prepare_cached(
        "SELECT first_id, ids FROM transfer_addrs WHERE key = ?1 AND first_id <= ?3 AND first_id >= \
         COALESCE((SELECT MAX(first_id) FROM transfer_addrs WHERE key = ?1 AND first_id <= ?2), ?2)",
    )?;
    let mut del = conn.prepare_cached("DELETE FROM transfer_addrs WHERE key = ?1 AND first_id = ?2")?;
    let mut ins = conn.prepare_cached(INSERT_POSTING)?;
    let mut ids = Vec::new();
    for group in removed.chunk_by(|a, b| a.0 == b.0) {
        let key = group[0].0;
        let gone: Vec<i64> = group.iter().map(|p| p.1).collect();
        let (lo, hi) = (gone[0], gone[gone.len() - 1]);
        let stored: Vec<(i64, String)> = sel
            .query_map(params![key, lo, hi], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (first, text) in stored {
            ids.clear();
            postings::parse_ids(&text, &mut ids).ok_or_else(|| bad_posting(key, first))?;
            let before = ids.len();
            ids.retain(|id| gone.binary_search(id).is_err());
            if ids.len() == before {
                continue;
            }
            del.execute(params![key, first])?;
            if let Some(&new_first) = ids.first() {
                ins.execute(params![key, new_first, postings::ids_text(&ids)])?;
            }
        }
    }
    Ok(())
}

/// The error for a `transfer_addrs` row whose id list does not parse.
fn bad_posting(key: i64, first: i64) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        2,
        rusqlite::types::Type::Text,
        format!("transfer_addrs row (key {key}, first_id {first}): ids is not a JSON array of integers")
            .into(),
    )
}

/// Columns of a transfer row bound per row by [`insert_transfers_sql`].
const TRANSFER_COLUMNS: usize = 15;

/// Rows per INSERT statement of a write: 64 rows of 15 values stay far below SQLite's 32,766
/// parameters, and amortize a statement's fixed cost (cursors opened and closed, halt, reset): one
/// statement per row cost ~10 % more CPU on the 1.14 M-transfer import benchmark.
const ROWS_PER_INSERT: usize = 64;

/// `INSERT OR IGNORE INTO transfers ... VALUES (...), (...)` for `rows` rows of [`TRANSFER_COLUMNS`]
/// parameters each, in the column order of [`INSERT_TRANSFER`].
fn insert_transfers_sql(rows: usize) -> String {
    multi_row_sql(INSERT_TRANSFER, TRANSFER_COLUMNS, rows)
}

/// `insert` (a single-row `INSERT ... VALUES (?1, ...)` of `columns` parameters) with `rows` rows of
/// anonymous parameters, bound in order.
fn multi_row_sql(insert: &str, columns: usize, rows: usize) -> String {
    let values = insert.find("VALUES").expect("an INSERT with VALUES");
    let mut sql = String::with_capacity(values + rows * (2 * columns + 3) + 8);
    sql.push_str(&insert[..values]);
    sql.push_str("VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..columns {
            sql.push_str(if c == 0 { "?" } else { ",?" });
        }
        sql.push(')');
    }
    sql
}

/// Posts the `expected` transfers with an id above `after` (those one statement just inserted) and
/// counts them per chain. Errors if there are not exactly `expected` of them (rowids that do not
/// ascend, which SQLite only does once the largest rowid is 2^63 - 1).
fn post_rows_after(
    conn: &Connection,
    after: i64,
    expected: u64,
    postings: &mut Postings,
    per_chain: &mut [i64; Chain::ALL.len()],
) -> rusqlite::Result<()> {
    let mut read = conn.prepare_cached("SELECT id, chain, from_key, to_key FROM transfers WHERE id > ?1")?;
    let mut rows = read.query([after])?;
    let mut found = 0u64;
    while let Some(r) = rows.next()? {
        let chain: i64 = r.get(1)?;
        let slot = Chain::ALL
            .iter()
            .position(|c| chain_key(*c) == chain)
            .ok_or_else(|| rusqlite::Error::IntegralValueOutOfRange(1, chain))?;
        postings.add(r.get(0)?, r.get(2)?, r.get(3)?);
        per_chain[slot] += 1;
        found += 1;
    }
    if found != expected {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERNAL),
            Some(format!(
                "{found} transfers above id {after}, {expected} inserted: ids do not ascend"
            )),
        ));
    }
    Ok(())
}

/// Inserts `transfers` (multi-row statements with borrowed values) and `blocks`, counting inserted and
/// duplicate transfers into `stats` and the inserted rows' address keys into `postings` (flushed into
/// `transfer_addrs` when [`FLUSH_PAIRS`] are held; the caller flushes the rest before commit).
fn insert_rows(
    conn: &Connection,
    blocks: &[BlockRecord],
    transfers: &[Transfer],
    text: &mut RowText,
    postings: &mut Postings,
    flush_pairs: usize,
    stats: &mut WriteStats,
) -> rusqlite::Result<()> {
    // Insert in identity-key order (the key starts with chain, block): the unique index then takes each
    // chunk in one ascending sweep. Chunks nearly always arrive in block order already, which the
    // stable sort detects in one pass.
    let mut per_chain = [0i64; Chain::ALL.len()];
    let mut order: Vec<&Transfer> = transfers.iter().collect();
    order.sort_by_key(|t| (t.chain, t.block));
    // Rows go in by statements of ROWS_PER_INSERT rows (and one for the rest), in order: the same
    // rows, ids and skipped duplicates as one statement per row, without a statement's setup and
    // teardown (cursors, halt, reset) per row.
    let mut last_id: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) FROM transfers", [], |r| r.get(0))?;
    let mut full: Option<BorrowedInsert<'_>> = None;
    for group in order.chunks(ROWS_PER_INSERT) {
        let mut rest;
        let ins = if group.len() == ROWS_PER_INSERT {
            match &mut full {
                Some(ins) => ins,
                None => full.insert(BorrowedInsert::prepare(
                    conn,
                    &insert_transfers_sql(ROWS_PER_INSERT),
                )?),
            }
        } else {
            rest = BorrowedInsert::prepare(conn, &insert_transfers_sql(group.len()))?;
            &mut rest
        };
        text.clear();
        for t in group {
            text.push(t);
        }
        let mut params = Vec::with_capacity(group.len() * TRANSFER_COLUMNS);
        for (k, t) in group.iter().enumerate() {
            params.extend([
                Param::Int(chain_key(t.chain)),
                Param::Int(t.block as i64),
                Param::Int(t.timestamp as i64),
                Param::Blob(&t.tx_hash.0),
                Param::Text(text.get(k, 0)),
                Param::Blob(&t.from.0),
                Param::Blob(&t.to.0),
                Param::Int(schema::addr_key(&t.from.0)),
                Param::Int(schema::addr_key(&t.to.0)),
                match &t.asset {
                    Asset::Native => Param::Null,
                    Asset::Token(a) => Param::Blob(a.as_bytes()),
                },
                Param::Text(text.get(k, 1)),
                Param::Text(kind_name(t.kind).as_bytes()),
                Param::Blob(&t.tx_from.0),
                Param::Text(text.get(k, 2)),
                Param::Text(text.get(k, 3)),
            ]);
        }
        let inserted = ins.run(&params)?;
        let rows = group.len() as u64;
        let new_last = conn.last_insert_rowid();
        if inserted == rows && new_last.checked_sub(last_id) == Some(rows as i64) {
            // Every row went in, taking the ids after the largest one in order (SQLite's rowid rule).
            for (k, t) in group.iter().enumerate() {
                let id = last_id + 1 + k as i64;
                postings.add(id, schema::addr_key(&t.from.0), schema::addr_key(&t.to.0));
                per_chain[chain_slot(t.chain)] += 1;
            }
        } else if inserted > 0 {
            // Some rows were duplicates: the inserted ones are the rows above the previous largest id.
            post_rows_after(conn, last_id, inserted, postings, &mut per_chain)?;
        }
        if inserted > 0 {
            last_id = new_last;
        }
        stats.inserted += inserted;
        stats.duplicates += rows - inserted;
    }
    add_chain_counts(conn, &per_chain)?;
    if postings.len() >= flush_pairs {
        flush_postings(conn, postings)?;
    }
    let mut ins_block = conn.prepare_cached(INSERT_BLOCK)?;
    for b in blocks {
        ins_block.execute(params![
            chain_key(b.chain),
            b.number as i64,
            &b.hash[..],
            &b.parent_hash[..],
            b.timestamp as i64
        ])?;
    }
    Ok(())
}

fn chain_slot(c: Chain) -> usize {
    Chain::ALL
        .iter()
        .position(|x| *x == c)
        .expect("Chain::ALL lists every chain")
}

/// Adds `delta[i]` to the stored transfer count of `Chain::ALL[i]` (schema version 4 `chain_stats`), in the
/// caller's transaction.
fn add_chain_counts(conn: &Connection, delta: &[i64; Chain::ALL.len()]) -> rusqlite::Result<()> {
    for (c, d) in Chain::ALL.iter().zip(delta) {
        if *d != 0 {
            conn.prepare_cached(
                "INSERT INTO chain_stats (chain, transfers) VALUES (?1, ?2) \
                 ON CONFLICT (chain) DO UPDATE SET transfers = transfers + excluded.transfers",
            )?
            .execute(params![chain_key(*c), d])?;
        }
    }
    Ok(())
}

/// Inserts raw logs through a cached prepared statement; a log whose identity exists is skipped.
fn insert_logs(conn: &Connection, logs: &[RawLog]) -> rusqlite::Result<()> {
    if logs.is_empty() {
        return Ok(());
    }
    let mut ins_log = conn.prepare_cached(
        "INSERT OR IGNORE INTO raw_logs \
         (chain, block, timestamp, tx_hash, log_index, address, topics, data, tx_from) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut topics: Vec<u8> = Vec::new();
    for l in logs {
        topics.clear();
        topics.extend(l.topics.iter().flatten().copied());
        ins_log.execute(params![
            chain_key(l.chain),
            l.block as i64,
            l.timestamp as i64,
            &l.tx_hash.0[..],
            l.log_index,
            &l.address.0[..],
            &topics[..],
            &l.data,
            &l.tx_from.0[..],
        ])?;
    }
    Ok(())
}

fn upsert_checkpoint(conn: &Connection, c: &Checkpoint) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO checkpoints (stage, chain, block, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (stage, chain) DO UPDATE SET block = excluded.block, \
         updated_at = excluded.updated_at",
        params![c.stage, chain_key(c.chain), c.block as i64, now_unix()],
    )?;
    Ok(())
}

/// [`Store`]'s streamed load: one `BEGIN IMMEDIATE` transaction held open across chunks. The address
/// postings of the loaded rows are collected in memory and written, sorted, before the commit (or
/// earlier in parts, for very large loads), in the same transaction.
pub(crate) struct StoreLoad<'a> {
    tx: rusqlite::Transaction<'a>,
    path: &'a Path,
    stats: WriteStats,
    text: RowText,
    postings: Postings,
    flush_pairs: usize,
}

impl TransferLoad for StoreLoad<'_> {
    fn write(&mut self, blocks: &[BlockRecord], transfers: &[Transfer]) -> Result<(), StoreError> {
        validate(blocks, transfers, &[])?;
        insert_rows(
            &self.tx,
            blocks,
            transfers,
            &mut self.text,
            &mut self.postings,
            self.flush_pairs,
            &mut self.stats,
        )
        .map_err(sql(self.path))
    }

    fn write_logs(&mut self, logs: &[RawLog]) -> Result<(), StoreError> {
        validate(&[], &[], logs)?;
        insert_logs(&self.tx, logs).map_err(sql(self.path))
    }

    fn commit(self: Box<Self>, checkpoint: Option<&Checkpoint>) -> Result<WriteStats, StoreError> {
        let e = sql(self.path);
        if let Some(c) = checkpoint {
            to_i64(c.block, "checkpoint block")?;
            upsert_checkpoint(&self.tx, c).map_err(&e)?;
        }
        let mut this = *self;
        flush_postings(&this.tx, &mut this.postings).map_err(&e)?;
        this.tx.commit().map_err(&e)?;
        Ok(this.stats)
    }
}

impl TransferWriter for Store {
    fn write_batch(&mut self, batch: Batch<'_>) -> Result<WriteStats, StoreError> {
        validate(batch.blocks, batch.transfers, batch.logs)?;
        if let Some(c) = batch.checkpoint {
            to_i64(c.block, "checkpoint block")?;
        }
        let path = self.path.clone();
        let e = sql(&path);
        let flush_pairs = self.flush_pairs;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&e)?;
        let mut stats = WriteStats::default();
        let mut postings = Postings::default();
        insert_rows(
            &tx,
            batch.blocks,
            batch.transfers,
            &mut RowText::default(),
            &mut postings,
            flush_pairs,
            &mut stats,
        )
        .map_err(&e)?;
        flush_postings(&tx, &mut postings).map_err(&e)?;
        insert_logs(&tx, batch.logs).map_err(&e)?;
        if let Some(c) = batch.checkpoint {
            upsert_checkpoint(&tx, c).map_err(&e)?;
        }
        tx.commit().map_err(&e)?;
        Ok(stats)
    }

    fn begin_load(&mut self, expected_transfers: u64) -> Result<Box<dyn TransferLoad + '_>, StoreError> {
        // Every load takes the same path: rows appended, postings sorted in memory.
        let _ = expected_transfers;
        let path: &Path = &self.path;
        let e = sql(path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&e)?;
        Ok(Box::new(StoreLoad {
            tx,
            path,
            stats: WriteStats::default(),
            text: RowText::default(),
            postings: Postings::default(),
            flush_pairs: self.flush_pairs,
        }))
    }

    fn streams_loads(&self) -> bool {
        true
    }

    fn unwind(&mut self, chain: Chain, from_block: u64) -> Result<u64, StoreError> {
        let path = self.path.clone();
        let e = sql(&path);
        let from = match i64::try_from(from_block) {
            Ok(v) => v,
            // Nothing can be stored at or above a block number SQLite cannot hold.
            Err(_) => return Ok(0),
        };
        let c = chain_key(chain);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&e)?;
        let mut gone: Vec<(i64, i64)> = Vec::new();
        {
            let mut st = tx
                .prepare("SELECT id, from_key, to_key FROM transfers WHERE chain = ?1 AND block >= ?2")
                .map_err(&e)?;
            let mut rows = st.query(params![c, from]).map_err(&e)?;
            while let Some(r) = rows.next().map_err(&e)? {
                let id: i64 = r.get(0).map_err(&e)?;
                let (fk, tk): (i64, i64) = (r.get(1).map_err(&e)?, r.get(2).map_err(&e)?);
                gone.push((fk, id));
                if tk != fk {
                    gone.push((tk, id));
                }
            }
        }
        unpost(&tx, &mut gone).map_err(&e)?;
        let removed = tx
            .execute(
                "DELETE FROM transfers WHERE chain = ?1 AND block >= ?2",
                params![c, from],
            )
            .map_err(&e)?;
        let mut delta = [0i64; Chain::ALL.len()];
        delta[chain_slot(chain)] = -(removed as i64);
        add_chain_counts(&tx, &delta).map_err(&e)?;
        tx.execute(
            "DELETE FROM blocks WHERE chain = ?1 AND number >= ?2",
            params![c, from],
        )
        .map_err(&e)?;
        tx.execute(
            "DELETE FROM raw_logs WHERE chain = ?1 AND block >= ?2",
            params![c, from],
        )
        .map_err(&e)?;
        if from == 0 {
            tx.execute("DELETE FROM checkpoints WHERE chain = ?1", params![c])
                .map_err(&e)?;
        } else {
            tx.execute(
                "UPDATE checkpoints SET block = ?2 - 1, updated_at = ?3 WHERE chain = ?1 AND block >= ?2",
                params![c, from, now_unix()],
            )
            .map_err(&e)?;
        }
        tx.commit().map_err(&e)?;
        Ok(removed as u64)
    }
}

/// Select list matching [`Store::decode_transfer`].
pub(crate) const SELECT_TRANSFER: &str = "SELECT chain, block, timestamp, tx_hash, position, from_addr, to_addr, asset, \
     amount, kind, tx_from, tx_fee, gas_price FROM transfers";

/// [`SELECT_TRANSFER`] plus the id as column 13 (for the incremental reads).
pub(crate) const SELECT_TRANSFER_WITH_ID: &str = "SELECT chain, block, timestamp, tx_hash, position, from_addr, to_addr, \
     asset, amount, kind, tx_from, tx_fee, gas_price, id FROM transfers";

impl Store {
    /// The ids posted under address key `key` (ascending, each once): candidates for the transfers of
    /// every address whose first 8 bytes are the key.
    pub(crate) fn posted_ids(&self, key: i64) -> Result<Vec<i64>, StoreError> {
        let e = self.err();
        let mut st = self
            .conn
            .prepare_cached("SELECT first_id, ids FROM transfer_addrs WHERE key = ?1")
            .map_err(&e)?;
        let mut rows = st.query([key]).map_err(&e)?;
        let mut ids = Vec::new();
        while let Some(r) = rows.next().map_err(&e)? {
            let first: i64 = r.get(0).map_err(&e)?;
            let text: String = r.get(1).map_err(&e)?;
            postings::parse_ids(&text, &mut ids).ok_or_else(|| {
                self.corrupt(
                    "transfer_addrs",
                    format!("key {key}, first_id {first}: ids is not a JSON array of integers"),
                )
            })?;
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Checks that `transfer_addrs` posts exactly the stored transfers: every id once under its
    /// `from_key` and once under its `to_key` (one entry if equal), nothing else; that each row's
    /// `first_id` is its smallest id; and that the rows of one key hold disjoint, ascending id ranges
    /// (what `unwind` relies on). Reads the whole store (tests and diagnostics).
    pub fn check_address_index(&self) -> Result<(), StoreError> {
        const T: &str = "transfer_addrs";
        let e = self.err();
        let mut want: Vec<(i64, i64)> = Vec::new();
        {
            let mut st = self
                .conn
                .prepare("SELECT id, from_key, to_key FROM transfers")
                .map_err(&e)?;
            let mut rows = st.query([]).map_err(&e)?;
            while let Some(r) = rows.next().map_err(&e)? {
                let id: i64 = r.get(0).map_err(&e)?;
                let (fk, tk): (i64, i64) = (r.get(1).map_err(&e)?, r.get(2).map_err(&e)?);
                want.push((fk, id));
                if tk != fk {
                    want.push((tk, id));
                }
            }
        }
        let mut have: Vec<(i64, i64)> = Vec::new();
        let mut st = self
            .conn
            .prepare("SELECT key, first_id, ids FROM transfer_addrs ORDER BY key, first_id")
            .map_err(&e)?;
        let mut rows = st.query([]).map_err(&e)?;
        let mut ids = Vec::new();
        while let Some(r) = rows.next().map_err(&e)? {
            let key: i64 = r.get(0).map_err(&e)?;
            let first: i64 = r.get(1).map_err(&e)?;
            let text: String = r.get(2).map_err(&e)?;
            ids.clear();
            postings::parse_ids(&text, &mut ids)
                .ok_or_else(|| self.corrupt(T, format!("key {key}, first_id {first}: ids do not parse")))?;
            if ids.is_empty() || ids.windows(2).any(|w| w[0] >= w[1]) || ids[0] != first {
                return Err(self.corrupt(
                    T,
                    format!("key {key}, first_id {first}: ids {text} are not ascending from first_id"),
                ));
            }
            if have.last().is_some_and(|&(k, last)| k == key && last >= first) {
                return Err(self.corrupt(
                    T,
                    format!("key {key}, first_id {first}: overlaps the id range of the key's previous row"),
                ));
            }
            have.extend(ids.iter().map(|&id| (key, id)));
        }
        want.sort_unstable();
        have.sort_unstable();
        if want != have {
            let missing = want.iter().filter(|p| have.binary_search(p).is_err()).count();
            let extra = have.iter().filter(|p| want.binary_search(p).is_err()).count();
            return Err(self.corrupt(
                T,
                format!(
                    "{} postings for {} expected: {missing} missing, {extra} not backed by a row",
                    have.len(),
                    want.len()
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn decode_transfer(&self, r: &Row<'_>) -> Result<Transfer, StoreError> {
        const T: &str = "transfers";
        let e = self.err();
        let chain_id: i64 = r.get(0).map_err(&e)?;
        let chain = u64::try_from(chain_id)
            .ok()
            .and_then(Chain::from_chain_id)
            .ok_or_else(|| self.corrupt(T, format!("unknown chain id {chain_id}")))?;
        let tx_hash: Vec<u8> = r.get(3).map_err(&e)?;
        let position: String = r.get(4).map_err(&e)?;
        let asset: Option<Vec<u8>> = r.get(7).map_err(&e)?;
        let amount: String = r.get(8).map_err(&e)?;
        let kind: String = r.get(9).map_err(&e)?;
        let tx_fee: String = r.get(11).map_err(&e)?;
        let gas_price: String = r.get(12).map_err(&e)?;
        let addr = |i: usize, what: &str| -> Result<Address, StoreError> {
            let b: Vec<u8> = r.get(i).map_err(self.err())?;
            Address::from_slice(&b).ok_or_else(|| self.corrupt(T, format!("{what} is {} bytes", b.len())))
        };
        let amount_of = |s: &str, what: &str| -> Result<U256, StoreError> {
            U256::from_str_radix(s, 10).map_err(|_| self.corrupt(T, format!("{what} '{s}' is not a decimal")))
        };
        Ok(Transfer {
            chain,
            block: self.to_u64(r.get(1).map_err(&e)?, T)?,
            timestamp: self.to_u64(r.get(2).map_err(&e)?, T)?,
            tx_hash: TxHash::from_slice(&tx_hash)
                .ok_or_else(|| self.corrupt(T, format!("tx_hash is {} bytes", tx_hash.len())))?,
            position: position
                .parse::<Position>()
                .map_err(|err| self.corrupt(T, err.to_string()))?,
            from: addr(5, "from_addr")?,
            to: addr(6, "to_addr")?,
            asset: match asset {
                None => Asset::Native,
                Some(b) => Asset::Token(
                    Address::from_slice(&b)
                        .ok_or_else(|| self.corrupt(T, format!("asset is {} bytes", b.len())))?,
                ),
            },
            amount: amount_of(&amount, "amount")?,
            kind: kind
                .parse::<TransferKind>()
                .map_err(|err| self.corrupt(T, err.to_string()))?,
            tx_from: addr(10, "tx_from")?,
            tx_fee: amount_of(&tx_fee, "tx_fee")?,
            gas_price: amount_of(&gas_price, "gas_price")?,
        })
    }

    fn decode_block(&self, r: &Row<'_>) -> Result<BlockRecord, StoreError> {
        const T: &str = "blocks";
        let e = self.err();
        let chain_id: i64 = r.get(0).map_err(&e)?;
        let chain = u64::try_from(chain_id)
            .ok()
            .and_then(Chain::from_chain_id)
            .ok_or_else(|| self.corrupt(T, format!("unknown chain id {chain_id}")))?;
        let hash: Vec<u8> = r.get(2).map_err(&e)?;
        let parent: Vec<u8> = r.get(3).map_err(&e)?;
        let h32 = |b: &[u8]| <[u8; 32]>::try_from(b).map_err(|_| self.corrupt(T, "hash is not 32 bytes"));
        Ok(BlockRecord {
            chain,
            number: self.to_u64(r.get(1).map_err(&e)?, T)?,
            hash: h32(&hash)?,
            parent_hash: h32(&parent)?,
            timestamp: self.to_u64(r.get(4).map_err(&e)?, T)?,
        })
    }

    fn decode_log(&self, r: &Row<'_>) -> Result<RawLog, StoreError> {
        const T: &str = "raw_logs";
        let e = self.err();
        let chain_id: i64 = r.get(0).map_err(&e)?;
        let chain = u64::try_from(chain_id)
            .ok()
            .and_then(Chain::from_chain_id)
            .ok_or_else(|| self.corrupt(T, format!("unknown chain id {chain_id}")))?;
        let tx_hash: Vec<u8> = r.get(3).map_err(&e)?;
        let address: Vec<u8> = r.get(5).map_err(&e)?;
        let topics: Vec<u8> = r.get(6).map_err(&e)?;
        let tx_from: Vec<u8> = r.get(8).map_err(&e)?;
        if !topics.len().is_multiple_of(32) {
            return Err(self.corrupt(T, format!("topics blob of {} bytes", topics.len())));
        }
        Ok(RawLog {
            chain,
            block: self.to_u64(r.get(1).map_err(&e)?, T)?,
            timestamp: self.to_u64(r.get(2).map_err(&e)?, T)?,
            tx_hash: TxHash::from_slice(&tx_hash)
                .ok_or_else(|| self.corrupt(T, "tx_hash is not 32 bytes"))?,
            log_index: r.get(4).map_err(&e)?,
            address: Address::from_slice(&address)
                .ok_or_else(|| self.corrupt(T, "address is not 20 bytes"))?,
            topics: topics
                .chunks_exact(32)
                .map(|c| <[u8; 32]>::try_from(c).expect("chunks_exact yields 32 bytes"))
                .collect(),
            data: r.get(7).map_err(&e)?,
            tx_from: Address::from_slice(&tx_from)
                .ok_or_else(|| self.corrupt(T, "tx_from is not 20 bytes"))?,
        })
    }

    fn checkpoints_of(&self, chain: Chain) -> Result<Vec<Checkpoint>, StoreError> {
        let e = self.err();
        let mut st = self
            .conn
            .prepare("SELECT stage, block FROM checkpoints WHERE chain = ?1 ORDER BY stage")
            .map_err(&e)?;
        let mut rows = st.query([chain_key(chain)]).map_err(&e)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(&e)? {
            out.push(Checkpoint {
                stage: r.get(0).map_err(&e)?,
                chain,
                block: self.to_u64(r.get(1).map_err(&e)?, "checkpoints")?,
            });
        }
        Ok(out)
    }

    /// Contiguous held block ranges of `chain`, ascending (gaps-and-islands over the blocks table).
    fn block_ranges(&self, chain: Chain) -> Result<Vec<(u64, u64)>, StoreError> {
        let e = self.err();
        let mut st = self
            .conn
            .prepare(
                "SELECT MIN(number), MAX(number) FROM ( \
                   SELECT number, number - ROW_NUMBER() OVER (ORDER BY number) AS island \
                   FROM blocks WHERE chain = ?1) \
                 GROUP BY island ORDER BY 1",
            )
            .map_err(&e)?;
        let mut rows = st.query([chain_key(chain)]).map_err(&e)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(&e)? {
            out.push((
                self.to_u64(r.get(0).map_err(&e)?, "blocks")?,
                self.to_u64(r.get(1).map_err(&e)?, "blocks")?,
            ));
        }
        Ok(out)
    }
}

/// The gaps between ascending, disjoint inclusive ranges.
pub(crate) fn gaps_between(ranges: &[(u64, u64)]) -> Vec<(u64, u64)> {
    ranges
        .windows(2)
        .filter(|w| w[1].0 > w[0].1 + 1)
        .map(|w| (w[0].1 + 1, w[1].0 - 1))
        .collect()
}

impl TransferReader for Store {
    fn transfers_of(&self, address: Address, chain: Option<Chain>) -> Result<Vec<Transfer>, StoreError> {
        let e = self.err();
        let ids = self.posted_ids(schema::addr_key(&address.0))?;
        let mut st = self
            .conn
            .prepare(&format!(
                "{SELECT_TRANSFER} WHERE id = ?1 AND (from_addr = ?2 OR to_addr = ?2) \
                 AND (?3 IS NULL OR chain = ?3)"
            ))
            .map_err(&e)?;
        let mut out = Vec::new();
        for id in ids {
            let mut rows = st
                .query(params![id, &address.0[..], chain.map(chain_key)])
                .map_err(&e)?;
            if let Some(r) = rows.next().map_err(&e)? {
                out.push(self.decode_transfer(r)?);
            }
        }
        out.sort_by(|a, b| {
            (a.timestamp, a.chain, a.block, a.tx_hash, &a.position).cmp(&(
                b.timestamp,
                b.chain,
                b.block,
                b.tx_hash,
                &b.position,
            ))
        });
        Ok(out)
    }

    fn for_each_transfer(
        &self,
        chain: Option<Chain>,
        f: &mut dyn FnMut(Transfer) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let e = self.err();
        let mut st = self
            .conn
            .prepare(&format!(
                "{SELECT_TRANSFER} WHERE (?1 IS NULL OR chain = ?1) ORDER BY id"
            ))
            .map_err(&e)?;
        let mut rows = st.query(params![chain.map(chain_key)]).map_err(&e)?;
        while let Some(r) = rows.next().map_err(&e)? {
            f(self.decode_transfer(r)?)?;
        }
        Ok(())
    }

    fn last_transfer(&self) -> Result<Option<(u64, Transfer)>, StoreError> {
        let e = self.err();
        let mut st = self
            .conn
            .prepare(&format!("{SELECT_TRANSFER_WITH_ID} ORDER BY id DESC LIMIT 1"))
            .map_err(&e)?;
        let mut rows = st.query([]).map_err(&e)?;
        match rows.next().map_err(&e)? {
            None => Ok(None),
            Some(r) => {
                let id = self.to_u64(r.get(13).map_err(&e)?, "transfers")?;
                Ok(Some((id, self.decode_transfer(r)?)))
            }
        }
    }

    fn for_each_transfer_in(
        &self,
        txs: &[(Chain, u64, TxHash)],
        addresses: &[(Chain, Address)],
        f: &mut dyn FnMut(Transfer) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // In tx_lookup.rs.
        self.lookup_transfers_in(txs, addresses, f)
    }

    fn for_each_transfer_after(
        &self,
        after_id: u64,
        f: &mut dyn FnMut(u64, Transfer) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let e = self.err();
        // Ids are SQLite rowids (at most i64::MAX): nothing lies above a larger bound.
        let Ok(after) = i64::try_from(after_id) else {
            return Ok(());
        };
        let mut st = self
            .conn
            .prepare(&format!("{SELECT_TRANSFER_WITH_ID} WHERE id > ?1 ORDER BY id"))
            .map_err(&e)?;
        let mut rows = st.query([after]).map_err(&e)?;
        while let Some(r) = rows.next().map_err(&e)? {
            let id = self.to_u64(r.get(13).map_err(&e)?, "transfers")?;
            f(id, self.decode_transfer(r)?)?;
        }
        Ok(())
    }

    fn transfer_count(&self, chain: Option<Chain>) -> Result<u64, StoreError> {
        let n: i64 = match chain {
            None => self
                .conn
                .query_row("SELECT COALESCE(SUM(transfers), 0) FROM chain_stats", [], |r| {
                    r.get(0)
                }),
            Some(c) => self.conn.query_row(
                "SELECT COALESCE((SELECT transfers FROM chain_stats WHERE chain = ?1), 0)",
                [chain_key(c)],
                |r| r.get(0),
            ),
        }
        .map_err(self.err())?;
        self.to_u64(n, "transfers")
    }

    fn chain_totals(&self) -> Result<Vec<(Chain, u64, u64)>, StoreError> {
        let e = self.err();
        let mut out = Vec::new();
        for chain in Chain::ALL {
            let (n, max): (i64, Option<i64>) = self
                .conn
                .query_row(
                    "SELECT COALESCE((SELECT transfers FROM chain_stats WHERE chain = ?1), 0), \
                            (SELECT MAX(number) FROM blocks WHERE chain = ?1)",
                    [chain_key(chain)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(&e)?;
            if n != 0 || max.is_some() {
                out.push((
                    chain,
                    self.to_u64(n, "chain_stats")?,
                    self.to_u64(max.unwrap_or(0), "blocks")?,
                ));
            }
        }
        Ok(out)
    }

    fn coverage(&self) -> Result<Vec<ChainCoverage>, StoreError> {
        let e = self.err();
        let mut ids: Vec<i64> = Vec::new();
        {
            let mut st = self
                .conn
                .prepare(
                    "SELECT DISTINCT chain FROM blocks UNION SELECT DISTINCT chain FROM checkpoints \
                     UNION SELECT chain FROM chain_stats WHERE transfers > 0",
                )
                .map_err(&e)?;
            let mut rows = st.query([]).map_err(&e)?;
            while let Some(r) = rows.next().map_err(&e)? {
                ids.push(r.get(0).map_err(&e)?);
            }
        }
        let mut chains: Vec<Chain> = Vec::with_capacity(ids.len());
        for id in ids {
            let chain = u64::try_from(id)
                .ok()
                .and_then(Chain::from_chain_id)
                .ok_or_else(|| self.corrupt("transfers", format!("unknown chain id {id}")))?;
            chains.push(chain);
        }
        chains.sort();
        let mut out = Vec::with_capacity(chains.len());
        for chain in chains {
            let ranges = self.block_ranges(chain)?;
            out.push(ChainCoverage {
                chain,
                gaps: gaps_between(&ranges),
                ranges,
                transfers: self.transfer_count(Some(chain))?,
                checkpoints: self.checkpoints_of(chain)?,
            });
        }
        Ok(out)
    }

    fn checkpoint(&self, stage: &str, chain: Chain) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> = self
            .conn
            .query_row(
                "SELECT block FROM checkpoints WHERE stage = ?1 AND chain = ?2",
                params![stage, chain_key(chain)],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        v.map(|b| self.to_u64(b, "checkpoints")).transpose()
    }

    fn raw_logs(&self, chain: Option<Chain>) -> Result<Vec<RawLog>, StoreError> {
        let e = self.err();
        let mut st = self
            .conn
            .prepare(
                "SELECT chain, block, timestamp, tx_hash, log_index, address, topics, data, tx_from \
                 FROM raw_logs WHERE (?1 IS NULL OR chain = ?1) ORDER BY chain, block, log_index",
            )
            .map_err(&e)?;
        let mut rows = st.query(params![chain.map(chain_key)]).map_err(&e)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(&e)? {
            out.push(self.decode_log(r)?);
        }
        // SQL orders by chain id; the contract is chain order, block, log index.
        out.sort_by_key(|l| (l.chain, l.block, l.log_index));
        Ok(out)
    }

    fn block(&self, chain: Chain, number: u64) -> Result<Option<BlockRecord>, StoreError> {
        let Ok(n) = i64::try_from(number) else {
            return Ok(None);
        };
        let e = self.err();
        let mut st = self
            .conn
            .prepare(
                "SELECT chain, number, hash, parent_hash, timestamp FROM blocks WHERE chain = ?1 AND number = ?2",
            )
            .map_err(&e)?;
        let mut rows = st.query(params![chain_key(chain), n]).map_err(&e)?;
        match rows.next().map_err(&e)? {
            Some(r) => Ok(Some(self.decode_block(r)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(block: u64) -> Transfer {
        Transfer {
            chain: Chain::Ethereum,
            block,
            timestamp: 1,
            tx_hash: TxHash([block as u8; 32]),
            position: Position::Tx,
            from: Address([1; 20]),
            to: Address([2; 20]),
            asset: Asset::Native,
            amount: U256::from(3u8),
            kind: TransferKind::Native,
            tx_from: Address([1; 20]),
            tx_fee: U256::ZERO,
            gas_price: U256::ZERO,
        }
    }

    #[test]
    fn failing_checkpoint_write_rolls_back_the_whole_batch() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(tmp.path()).expect("open");
        store
            .conn
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON checkpoints BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
            .expect("trigger");
        let ts = [sample(1), sample(2)];
        let cp = Checkpoint {
            stage: "rpc".into(),
            chain: Chain::Ethereum,
            block: 2,
        };
        let err = store
            .write_batch(Batch {
                blocks: &[],
                transfers: &ts,
                logs: &[],
                checkpoint: Some(&cp),
            })
            .expect_err("trigger refuses");
        assert!(err.to_string().contains("refused"), "{err}");
        assert_eq!(store.transfer_count(None).expect("count"), 0);
        // Without a checkpoint the same rows go in.
        let stats = store
            .write_batch(Batch {
                blocks: &[],
                transfers: &ts,
                logs: &[],
                checkpoint: None,
            })
            .expect("write");
        assert_eq!(stats.inserted, 2);
    }

    #[test]
    fn borrowed_insert_reports_sqlite_errors_and_stays_usable() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(tmp.path()).expect("open");
        store
            .conn
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON transfers WHEN NEW.block = 2 \
                 BEGIN SELECT RAISE(ABORT, 'block 2 refused'); END",
            )
            .expect("trigger");
        fn batch(transfers: &[Transfer]) -> Batch<'_> {
            Batch {
                blocks: &[],
                transfers,
                logs: &[],
                checkpoint: None,
            }
        }
        // The refused row fails the whole batch with SQLite's own message; nothing is kept.
        let err = store
            .write_batch(batch(&[sample(1), sample(2), sample(3)]))
            .expect_err("trigger refuses");
        assert!(err.to_string().contains("block 2 refused"), "{err}");
        assert_eq!(store.transfer_count(None).expect("count"), 0);
        // The next statements work, and the borrowed values were stored as given.
        let stats = store.write_batch(batch(&[sample(1), sample(3)])).expect("write");
        assert_eq!((stats.inserted, stats.duplicates), (2, 0));
        let token = Transfer {
            position: Position::Log(7),
            asset: Asset::Token(Address([9; 20])),
            amount: U256::MAX,
            kind: TransferKind::Token,
            tx_fee: U256::from(21_000u32 * 30),
            ..sample(4)
        };
        let stats = store
            .write_batch(batch(&[sample(3), token.clone()]))
            .expect("write");
        assert_eq!((stats.inserted, stats.duplicates), (1, 1));
        let mut read = Vec::new();
        store
            .for_each_transfer(None, &mut |t| {
                read.push(t);
                Ok(())
            })
            .expect("read");
        read.sort_by_key(|t| t.block);
        assert_eq!(read, vec![sample(1), sample(3), token]);
        store.check_address_index().expect("postings match rows");
    }

    #[test]
    fn streamed_load_writes_logs_and_postings_in_parts_and_skips_duplicates() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(tmp.path()).expect("open");
        // Flush the postings every ~10k rows, so that the load writes them in parts.
        store.flush_pairs = 20_000;
        let unique = |i: u64| {
            let mut t = sample(i / 100);
            t.tx_hash.0[..8].copy_from_slice(&i.to_be_bytes());
            t
        };
        // One row already stored: the load below re-sends it and one of its own rows.
        let stats = store
            .write_batch(Batch {
                blocks: &[],
                transfers: &[unique(5)],
                logs: &[],
                checkpoint: None,
            })
            .expect("first row");
        assert_eq!(stats.inserted, 1);
        let n = 100_000u64;
        let ts: Vec<Transfer> = (0..n).map(unique).collect();
        let log = RawLog {
            chain: Chain::Ethereum,
            block: 3,
            timestamp: 1,
            tx_hash: ts[300].tx_hash,
            log_index: 4,
            address: Address([9; 20]),
            topics: vec![[7; 32], [8; 32]],
            data: vec![1, 2, 3],
            tx_from: Address([1; 20]),
        };
        let cp = Checkpoint {
            stage: "sim".into(),
            chain: Chain::Ethereum,
            block: n / 100,
        };
        let mut load = store.begin_load(n).expect("begin");
        let (a, b) = ts.split_at(n as usize / 2);
        for chunk in a.chunks(5_000) {
            load.write(&[], chunk).expect("chunk of a");
        }
        load.write_logs(std::slice::from_ref(&log)).expect("logs");
        for chunk in b.chunks(5_000) {
            load.write(&[], chunk).expect("chunk of b");
        }
        load.write(&[], &ts[10..11]).expect("in-load duplicate");
        load.write_logs(std::slice::from_ref(&log))
            .expect("duplicate log");
        let stats = load.commit(Some(&cp)).expect("commit");
        assert_eq!(
            stats,
            WriteStats {
                inserted: n - 1,
                duplicates: 2
            }
        );
        assert_eq!(store.transfer_count(None).expect("count"), n);
        assert_eq!(store.raw_logs(None).expect("logs"), vec![log]);
        assert_eq!(
            store.checkpoint("sim", Chain::Ethereum).expect("cp"),
            Some(n / 100)
        );
        store.check_address_index().expect("postings match the rows");
        let parts: i64 = store
            .conn
            .query_row(
                "SELECT COUNT(*) FROM transfer_addrs WHERE key = ?1",
                [schema::addr_key(&[1; 20])],
                |r| r.get(0),
            )
            .expect("rows of the sender's key");
        assert!(
            parts >= 5,
            "the load flushed its postings in parts ({parts} rows)"
        );
        assert_eq!(
            store.transfers_of(Address([2; 20]), None).expect("by to").len(),
            n as usize
        );
        // The identity index still refuses duplicates.
        let stats = store
            .write_batch(Batch {
                blocks: &[],
                transfers: &ts[..3],
                logs: &[],
                checkpoint: None,
            })
            .expect("rewrite");
        assert_eq!(stats.duplicates, 3);
    }

    #[test]
    fn out_of_range_numbers_are_refused_before_writing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(tmp.path()).expect("open");
        let ts = [sample(1), sample(u64::MAX)];
        let err = store
            .write_batch(Batch {
                blocks: &[],
                transfers: &ts,
                logs: &[],
                checkpoint: None,
            })
            .expect_err("too large");
        assert!(matches!(err, StoreError::OutOfRange { .. }), "{err}");
        assert_eq!(store.transfer_count(None).expect("count"), 0);
    }

    #[test]
    fn newer_schema_is_refused_and_wal_full_are_set() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path()).expect("open");
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        let sync: i64 = store
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("sync");
        assert_eq!(sync, 2, "synchronous=FULL");
        store.conn.pragma_update(None, "user_version", 99).expect("bump");
        drop(store);
        let err = Store::open(tmp.path()).expect_err("too new");
        assert!(matches!(err, StoreError::SchemaTooNew { found: 99, .. }), "{err}");
        let err = Store::open_read_only(tmp.path()).expect_err("too new");
        assert!(matches!(err, StoreError::SchemaTooNew { found: 99, .. }), "{err}");
    }

    #[test]
    fn views_show_readable_rows() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(tmp.path()).expect("open");
        let t = sample(5);
        store
            .write_batch(Batch {
                blocks: &[],
                transfers: &[t],
                logs: &[],
                checkpoint: None,
            })
            .expect("write");
        let row: (String, String, String, String) = store
            .conn
            .query_row(
                "SELECT chain, \"from\", asset, amount FROM v_transfers",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .expect("view");
        assert_eq!(
            row,
            (
                "ethereum".into(),
                Address([1; 20]).to_hex(),
                "native".into(),
                "3".into()
            )
        );
    }

    #[test]
    fn position_and_amount_text_match_display() {
        let mut buf = Vec::new();
        for p in [
            Position::Tx,
            Position::Log(0),
            Position::Log(u32::MAX),
            Position::Trace(vec![]),
            Position::Trace(vec![0]),
            Position::Trace(vec![3, 10, 4_000_000_000]),
        ] {
            position_into(&mut buf, &p);
            assert_eq!(buf, p.to_string().as_bytes());
        }
        for v in [
            U256::ZERO,
            U256::from(u128::MAX),
            U256::MAX,
            U256::from(7u8) << 200usize,
        ] {
            decimal_into(&mut buf, &v);
            assert_eq!(buf, v.to_string().as_bytes());
        }
    }

    #[test]
    fn gaps_lie_between_ranges() {
        assert_eq!(
            gaps_between(&[(1, 3), (4, 6), (9, 9), (11, 20)]),
            vec![(7, 8), (10, 10)]
        );
        assert!(gaps_between(&[]).is_empty());
    }
}

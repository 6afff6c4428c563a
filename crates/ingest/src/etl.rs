//! Import of ethereum-etl CSV exports (and the BigQuery `crypto_ethereum` tables, same columns).
//!
//! `blocks.csv`, `transactions.csv`, `receipts.csv`, `token_transfers.csv` and `traces.csv` are read
//! when present. The rules are those of the RPC path (chain-evm's decoder):
//! - native: a successful transaction with `value > 0`, position `tx`; a contract creation pays the
//!   receipt's `contract_address`;
//! - token: every `token_transfers.csv` row (zero values kept), position `log:<log_index>`;
//! - internal: a `traces.csv` row with `value > 0`, `status = 1`, a non-empty `trace_address`, and a
//!   kind that moves value (`call` with call type `call`, `create`, `suicide`; never `delegatecall`,
//!   `staticcall`, `callcode` or rewards), position `trace:<trace_address>`;
//! - a failed transaction (receipt status 0) yields nothing;
//! - `tx_fee = gas_used * effective_gas_price` (else the transaction's `gas_price`), `gas_price`
//!   likewise, `tx_from` = the transaction's `from_address`.
//!
//! Receipt data comes from `receipts.csv`, or from the `receipt_*` columns newer exports and BigQuery
//! put in `transactions.csv`. Pre-Byzantium receipts have no status: the transaction counts as failed
//! only if its top-level trace in `traces.csv` failed (as on the RPC path), else as successful.
//! Token and trace rows need their transaction in `transactions.csv` (for `tx_from`, the fee and the
//! success status); an export without it is refused rather than filled with made-up values.
//! Timestamps come from `blocks.csv` or a `block_timestamp` column (unix seconds or
//! `YYYY-MM-DD HH:MM:SS[ UTC]`).
//!
//! [`parse_stream`] is pure (readers in, chunks of rows out, memory bounded by the transaction table)
//! and [`parse`] collects it; [`import_dir`] streams a directory into one store load
//! ([`chaintrace_store::TransferLoad`]: one transaction held open across chunks) committed with the
//! `"etl"` checkpoint, so a bad row anywhere leaves the store untouched.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chaintrace_core::{Address, Asset, BlockRecord, Chain, Position, Transfer, TransferKind, TxHash, U256};
use chaintrace_store::{Checkpoint, StoreError, TransferReader, TransferWriter, WriteStats};
use thiserror::Error;

/// Name of this stage's checkpoint.
pub const STAGE: &str = "etl";

/// The files an ethereum-etl export directory may hold, in the order they are read.
pub const FILES: [&str; 5] = [
    "blocks.csv",
    "transactions.csv",
    "receipts.csv",
    "token_transfers.csv",
    "traces.csv",
];

/// Errors of the file importers ([`crate::etl`] and [`crate::csv_transfers`]).
#[derive(Debug, Error)]
pub enum ImportError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File or directory.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The CSV itself is malformed (quoting, a row with the wrong number of fields, bad UTF-8).
    #[error("{file}:{line}: malformed csv: {source}")]
    Csv {
        /// File name.
        file: String,
        /// Line number (1 = header).
        line: u64,
        /// Underlying error.
        source: csv::Error,
    },
    /// The CSV itself is malformed (a row with the wrong number of fields, an unclosed quote).
    #[error("{file}:{line}: malformed csv: {reason}")]
    Malformed {
        /// File name.
        file: String,
        /// Line number (1 = header).
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The store stopped taking rows (its own error is reported instead where known).
    #[error("the store writer stopped before the import finished")]
    WriterStopped,
    /// The decoding thread of a pipelined import panicked (a bug).
    #[error("the decoding thread of the import panicked")]
    DecoderPanicked,
    /// A required column is absent from the header.
    #[error("{file}: missing column '{column}'")]
    MissingColumn {
        /// File name.
        file: String,
        /// Column name.
        column: &'static str,
    },
    /// A value could not be parsed or is inconsistent.
    #[error("{file}:{line}: column '{column}': {reason} (value '{value}')")]
    BadValue {
        /// File name.
        file: String,
        /// Line number (1 = header).
        line: u64,
        /// Column name.
        column: &'static str,
        /// The raw text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The set of files cannot be imported as a whole (for instance token transfers without
    /// transactions).
    #[error("{dir}: {reason}")]
    Incomplete {
        /// Directory or file.
        dir: String,
        /// What is missing.
        reason: String,
    },
    /// Writing to the store failed; nothing of the import was stored.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// One CSV input: a name for messages and where to read it from.
pub struct CsvInput<R> {
    /// File name shown in errors (`transactions.csv`).
    pub name: String,
    /// The bytes.
    pub reader: R,
}

impl<R> std::fmt::Debug for CsvInput<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvInput").field("name", &self.name).finish()
    }
}

/// The files of one export; any may be absent.
#[derive(Debug)]
pub struct EtlInputs<R> {
    /// `blocks.csv`.
    pub blocks: Option<CsvInput<R>>,
    /// `transactions.csv`.
    pub transactions: Option<CsvInput<R>>,
    /// `receipts.csv`.
    pub receipts: Option<CsvInput<R>>,
    /// `token_transfers.csv`.
    pub token_transfers: Option<CsvInput<R>>,
    /// `traces.csv`.
    pub traces: Option<CsvInput<R>>,
}

impl<R> Default for EtlInputs<R> {
    fn default() -> Self {
        EtlInputs {
            blocks: None,
            transactions: None,
            receipts: None,
            token_transfers: None,
            traces: None,
        }
    }
}

/// What an export decodes to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtlData {
    /// Block records from `blocks.csv`.
    pub blocks: Vec<BlockRecord>,
    /// Every transfer, in stream order (see [`parse_stream`]): native, then token, then internal.
    pub transfers: Vec<Transfer>,
    /// Assumptions made about this export, for the user.
    pub notes: Vec<String>,
}

impl EtlData {
    /// Highest block number seen (blocks or transfers).
    pub fn max_block(&self) -> Option<u64> {
        let b = self.blocks.iter().map(|b| b.number).max();
        let t = self.transfers.iter().map(|t| t.block).max();
        b.max(t)
    }
}

/// What [`parse_stream`] saw, besides the rows it handed out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamSummary {
    /// Block rows handed out.
    pub blocks: u64,
    /// Transfers handed out.
    pub transfers: u64,
    /// Highest block number among blocks and transfers.
    pub max_block: Option<u64>,
    /// Assumptions made about this export, for the user.
    pub notes: Vec<String>,
}

/// What [`import_dir`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Files read.
    pub files: Vec<String>,
    /// Block rows written.
    pub blocks: u64,
    /// Transfers inserted and skipped as already present.
    pub stats: WriteStats,
    /// The `"etl"` checkpoint after the import.
    pub checkpoint: Option<u64>,
    /// Assumptions made about the export.
    pub notes: Vec<String>,
    /// Time spent reading and decoding (on the decoding thread when pipelined).
    pub parse_time: Duration,
    /// Time spent writing (including the index rebuild and the commit).
    pub write_time: Duration,
}

/// How [`import_dir_with`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Decode on a second thread while the calling thread writes (a two-stage pipeline). Off, both
    /// run in turn on the calling thread.
    pub pipeline: bool,
    /// Transfers per chunk handed from the decoder to the store.
    pub chunk: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            pipeline: true,
            chunk: 50_000,
        }
    }
}

/// Reads whichever export files exist in `dir`, decodes them and writes them to `store` in one
/// transaction, advancing the `"etl"` checkpoint of `chain` to the highest block imported (never
/// lowering it). Streams: memory is bounded by the transaction table (see [`parse_stream`]), not by
/// the size of the export. Uses [`ImportOptions::default`] (decoding pipelined on a second thread).
pub fn import_dir<S: TransferWriter + TransferReader>(
    store: &mut S,
    chain: Chain,
    dir: &Path,
) -> Result<ImportReport, ImportError> {
    import_dir_with(store, chain, dir, ImportOptions::default())
}

/// [`import_dir`] with explicit options.
pub fn import_dir_with<S: TransferWriter + TransferReader>(
    store: &mut S,
    chain: Chain,
    dir: &Path,
    options: ImportOptions,
) -> Result<ImportReport, ImportError> {
    let (inputs, files) = open_dir(dir)?;
    let previous = store.checkpoint(STAGE, chain)?;
    let expected = expected_transfers(dir);
    let mut load = store.begin_load(expected)?;
    let mut write_time = Duration::ZERO;
    let chunk = options.chunk.max(1);
    let (summary, parse_time) = if options.pipeline {
        std::thread::scope(|scope| {
            let (send, receive) = std::sync::mpsc::sync_channel::<(Vec<BlockRecord>, Vec<Transfer>)>(2);
            // Written chunks' vectors go back to the decoder for reuse.
            let (give_back, take_back) = std::sync::mpsc::sync_channel::<Vec<Transfer>>(2);
            let decoder = scope.spawn(move || {
                let started = Instant::now();
                let summary = parse_stream_recycling(
                    chain,
                    inputs,
                    chunk,
                    &mut |blocks, transfers| {
                        // The writer hung up: it failed, and its error is the one reported.
                        send.send((blocks, transfers))
                            .map_err(|_| ImportError::WriterStopped)
                    },
                    &mut || take_back.try_recv().ok(),
                );
                (summary, started.elapsed())
            });
            let mut written: Result<(), ImportError> = Ok(());
            for (blocks, mut transfers) in receive.iter() {
                let started = Instant::now();
                written = load.write(&blocks, &transfers).map_err(ImportError::from);
                write_time += started.elapsed();
                if written.is_err() {
                    break;
                }
                transfers.clear();
                // Full (the decoder has spares) or gone (it finished): the vector is just dropped.
                let _ = give_back.try_send(transfers);
            }
            drop(receive);
            let (summary, parse_time) = decoder.join().map_err(|_| ImportError::DecoderPanicked)?;
            written?;
            Ok::<_, ImportError>((summary?, parse_time))
        })?
    } else {
        let started = Instant::now();
        let summary = parse_stream(chain, inputs, chunk, &mut |blocks, transfers| {
            let t = Instant::now();
            let r = load.write(&blocks, &transfers);
            write_time += t.elapsed();
            r.map_err(ImportError::from)
        })?;
        (summary, started.elapsed().saturating_sub(write_time))
    };
    let started = Instant::now();
    let checkpoint = match (previous, summary.max_block) {
        (Some(p), Some(m)) => Some(p.max(m)),
        (p, m) => p.or(m),
    };
    let cp = checkpoint.map(|block| Checkpoint {
        stage: STAGE.to_string(),
        chain,
        block,
    });
    let stats = load.commit(cp.as_ref())?;
    write_time += started.elapsed();
    Ok(ImportReport {
        files,
        blocks: summary.blocks,
        stats,
        checkpoint,
        notes: summary.notes,
        parse_time,
        write_time,
    })
}

/// A size hint for the store: token transfer rows plus about half the transactions (those with value).
fn expected_transfers(dir: &Path) -> u64 {
    let size = |name: &str| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
    // Typical ethereum-etl row sizes: ~200 bytes per token transfer, ~500 per transaction.
    size(FILES[3]) / 200 + size(FILES[1]) / 1000
}

/// Opens the export files present in `dir` (buffered); errors if there is none.
pub fn open_dir(
    dir: &Path,
) -> Result<(EtlInputs<std::io::BufReader<std::fs::File>>, Vec<String>), ImportError> {
    if !dir.is_dir() {
        return Err(ImportError::Incomplete {
            dir: dir.display().to_string(),
            reason: "not a directory (expected an ethereum-etl export directory)".into(),
        });
    }
    let open = |name: &str| -> Result<Option<CsvInput<_>>, ImportError> {
        let path: PathBuf = dir.join(name);
        if !path.is_file() {
            return Ok(None);
        }
        let file = std::fs::File::open(&path).map_err(|source| ImportError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Some(CsvInput {
            name: path.display().to_string(),
            // The CSV reader fills its own 1 MiB buffer; reads that large bypass this one.
            reader: std::io::BufReader::with_capacity(1 << 13, file),
        }))
    };
    let inputs = EtlInputs {
        blocks: open(FILES[0])?,
        transactions: open(FILES[1])?,
        receipts: open(FILES[2])?,
        token_transfers: open(FILES[3])?,
        traces: open(FILES[4])?,
    };
    let files: Vec<String> = FILES
        .iter()
        .filter(|f| dir.join(f).is_file())
        .map(|f| f.to_string())
        .collect();
    if files.is_empty() {
        return Err(ImportError::Incomplete {
            dir: dir.display().to_string(),
            reason: format!("none of {} found", FILES.join(", ")),
        });
    }
    Ok((inputs, files))
}

/// FNV-1a: column names and transaction hashes are looked up millions of times per import, and
/// SipHash's DoS resistance buys nothing on a local file.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A `HashMap` with [`Fnv`] hashing.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// Transaction hashes are uniformly random: their first 8 bytes are already a good hash.
#[derive(Default)]
pub(crate) struct HashPrefix(u64);

impl Hasher for HashPrefix {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // A `[u8; 32]` hashes as a length prefix, then its bytes: fold the first 8 bytes of each write.
        let mut b = [0u8; 8];
        let n = bytes.len().min(8);
        b[..n].copy_from_slice(&bytes[..n]);
        self.0 = (self.0 ^ u64::from_le_bytes(b)).rotate_left(17);
    }
}

/// A map keyed by transaction hash.
type TxMap<V> = HashMap<TxHash, V, BuildHasherDefault<HashPrefix>>;

/// Receipt facts of one transaction.
#[derive(Debug, Clone)]
struct Receipt {
    /// `Some(true/false)` from status; `None` before Byzantium.
    status: Option<bool>,
    gas_used: U256,
    effective_gas_price: Option<U256>,
    contract_address: Option<Address>,
}

/// What token and trace rows need from their transaction.
#[derive(Debug, Clone, Copy)]
struct TxFacts {
    from: Address,
    tx_fee: U256,
    gas_price: U256,
    /// `None`: no receipt status (pre-Byzantium); decided by the top-level trace.
    is_success: Option<bool>,
}

/// The [`TxFacts`] of every transaction, in `transactions.csv` order, with an index of the runs of
/// rows of each block. Token transfer and trace rows come in block order too, so a lookup by (block,
/// hash) finds its block's run through a cursor and the row a few steps after the previous hit: the
/// memory touched moves forward through the table instead of hopping around a hash table of ~100
/// bytes per transaction (which was ~6 % of an import's CPU). A hash that is not in the run of its
/// row's block (files in other orders, a row's block number that disagrees with its transaction's) is
/// looked up by hash alone in a map built on the first such miss, so every row finds its transaction
/// wherever it is, as with a hash map. (A hash listed twice, as in overlapping exports concatenated,
/// answers with the row in the asking row's block, else the last one.)
#[derive(Default)]
struct TxTable {
    rows: Vec<(TxHash, TxFacts)>,
    /// `(block, first row)` of each run of consecutive rows of one block, in file order.
    runs: Vec<(u64, usize)>,
    /// Whether `runs` ascends strictly (then it can be searched by block).
    ascending: bool,
    /// Hash -> row of the last row with that hash; built on the first lookup the runs cannot answer.
    by_hash: Option<TxMap<usize>>,
}

/// Where the previous [`TxTable::get`] of one reader found its row.
#[derive(Default, Clone, Copy)]
struct TxCursor {
    run: usize,
    row: usize,
}

impl TxTable {
    fn new() -> Self {
        TxTable {
            ascending: true,
            ..TxTable::default()
        }
    }

    fn push(&mut self, block: u64, hash: TxHash, facts: TxFacts) {
        match self.runs.last() {
            Some(&(b, _)) if b == block => {}
            last => {
                if last.is_some_and(|&(b, _)| b > block) {
                    self.ascending = false;
                }
                self.runs.push((block, self.rows.len()));
            }
        }
        self.rows.push((hash, facts));
        if let Some(map) = self.by_hash.as_mut() {
            map.insert(hash, self.rows.len() - 1);
        }
    }

    /// The facts of transaction `hash`; `block` is the block its row claims (`None` if unreadable).
    fn get(&mut self, cursor: &mut TxCursor, block: Option<u64>, hash: &TxHash) -> Option<TxFacts> {
        if let (Some(block), true) = (block, self.ascending) {
            let run = match self.runs.get(cursor.run) {
                Some(&(b, _)) if b == block => Some(cursor.run),
                _ => self.runs.binary_search_by_key(&block, |r| r.0).ok(),
            };
            if let Some(run) = run {
                let start = self.runs[run].1;
                let end = self.runs.get(run + 1).map_or(self.rows.len(), |r| r.1);
                let hint = if (start..end).contains(&cursor.row) {
                    cursor.row
                } else {
                    start
                };
                let found = (hint..end).chain(start..hint).find(|&i| self.rows[i].0 == *hash);
                if let Some(i) = found {
                    *cursor = TxCursor { run, row: i };
                    return Some(self.rows[i].1);
                }
            }
        }
        self.by_hash_get(hash).map(|i| self.rows[i].1)
    }

    fn by_hash_get(&mut self, hash: &TxHash) -> Option<usize> {
        let rows = &self.rows;
        self.by_hash
            .get_or_insert_with(|| rows.iter().enumerate().map(|(i, (h, _))| (*h, i)).collect())
            .get(hash)
            .copied()
    }
}

/// `receipts.csv` joined to `transactions.csv` as both are read. ethereum-etl writes both files in the
/// same (block, transaction index) order, so the next receipt row is nearly always the one wanted and
/// no map is needed; rows read past the one wanted (files in different orders) wait in a map keyed by
/// hash, which then degrades gracefully to a hash join.
struct ReceiptJoin<R> {
    table: Table<R>,
    hash: Col,
    gas_used: Col,
    status: Col,
    effective: Col,
    contract: Col,
    ahead: TxMap<Receipt>,
}

impl<R: Read> ReceiptJoin<R> {
    fn open(input: CsvInput<R>) -> Result<Self, ImportError> {
        let table = Table::open(input, &["transaction_hash", "gas_used", "status"])?;
        let [hash, gas_used, status, effective, contract] = table.cols([
            "transaction_hash",
            "gas_used",
            "status",
            "effective_gas_price",
            "contract_address",
        ]);
        Ok(ReceiptJoin {
            table,
            hash,
            gas_used,
            status,
            effective,
            contract,
            ahead: TxMap::default(),
        })
    }

    /// Decodes the next receipt row with its transaction hash, `None` at the end of the file.
    fn next(&mut self) -> Result<Option<(TxHash, Receipt)>, ImportError> {
        let (hash, gas_used, status, effective, contract) = (
            self.hash,
            self.gas_used,
            self.status,
            self.effective,
            self.contract,
        );
        let Some(row) = self.table.next_row()? else {
            return Ok(None);
        };
        let receipt = Receipt {
            status: row.status(status)?,
            gas_used: row.u256(gas_used)?,
            effective_gas_price: row.opt_u256(effective)?,
            contract_address: row.opt_address(contract)?,
        };
        Ok(Some((row.tx_hash(hash)?, receipt)))
    }

    /// The receipt of transaction `hash`, reading ahead as far as needed; `None` if the file has none.
    fn take(&mut self, hash: &TxHash) -> Result<Option<Receipt>, ImportError> {
        if !self.ahead.is_empty()
            && let Some(r) = self.ahead.remove(hash)
        {
            return Ok(Some(r));
        }
        while let Some((h, r)) = self.next()? {
            if h == *hash {
                return Ok(Some(r));
            }
            self.ahead.insert(h, r);
        }
        Ok(None)
    }

    /// Reads (and so checks) the rows no transaction asked for.
    fn finish(mut self) -> Result<(), ImportError> {
        while self.next()?.is_some() {}
        Ok(())
    }
}

/// Hands decoded rows out in chunks of about `chunk` transfers.
struct Chunker<'a> {
    chunk: usize,
    blocks: Vec<BlockRecord>,
    transfers: Vec<Transfer>,
    summary: StreamSummary,
    sink: &'a mut dyn FnMut(Vec<BlockRecord>, Vec<Transfer>) -> Result<(), ImportError>,
    /// An emptied transfer vector handed back by the consumer, if any (see [`parse_stream_recycling`]).
    spare: &'a mut dyn FnMut() -> Option<Vec<Transfer>>,
}

impl Chunker<'_> {
    fn block(&mut self, b: BlockRecord) -> Result<(), ImportError> {
        self.summary.blocks += 1;
        self.summary.max_block = self.summary.max_block.max(Some(b.number));
        self.blocks.push(b);
        if self.blocks.len() >= self.chunk {
            self.flush()?;
        }
        Ok(())
    }

    fn transfer(&mut self, t: Transfer) -> Result<(), ImportError> {
        self.summary.transfers += 1;
        self.summary.max_block = self.summary.max_block.max(Some(t.block));
        self.transfers.push(t);
        if self.transfers.len() >= self.chunk {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ImportError> {
        if self.blocks.is_empty() && self.transfers.is_empty() {
            return Ok(());
        }
        let blocks = std::mem::replace(&mut self.blocks, Vec::with_capacity(self.chunk.min(1 << 16)));
        // A chunk is ~10 MB: reusing a vector the writer emptied spares the page faults of a fresh one.
        let next = match (self.spare)() {
            Some(mut v) => {
                v.clear();
                v.reserve(self.chunk);
                v
            }
            None => Vec::with_capacity(self.chunk),
        };
        let transfers = std::mem::replace(&mut self.transfers, next);
        (self.sink)(blocks, transfers)
    }
}

/// Decodes an export. Pure: reads only from the given readers. Collects [`parse_stream`]'s output.
pub fn parse<R: Read>(chain: Chain, inputs: EtlInputs<R>) -> Result<EtlData, ImportError> {
    let mut data = EtlData::default();
    let summary = parse_stream(chain, inputs, 1 << 16, &mut |blocks, transfers| {
        data.blocks.extend(blocks);
        data.transfers.extend(transfers);
        Ok(())
    })?;
    data.notes = summary.notes;
    Ok(data)
}

/// Decodes an export and hands the rows to `sink` in chunks of about `chunk` transfers, never holding
/// the whole export. Pure: reads only from the given readers.
///
/// Order and memory: `blocks.csv` (streamed; block timestamps kept, one integer pair per block),
/// `transactions.csv` with `receipts.csv` read beside it (a merge join when both are in the same
/// order, as ethereum-etl writes them; receipts read ahead of their transaction wait in a map, see
/// `ReceiptJoin`; native transfers handed out as read; per transaction the facts token and trace rows
/// need are kept: sender, fee, gas price, success), then `token_transfers.csv` and `traces.csv`
/// (streamed; trace rows with a zero value are skipped on their value bytes alone). Memory is therefore bounded by the transaction table (about 150 bytes per
/// transaction), whatever the number of token transfers and traces. One exception: transactions whose
/// receipt has no status (pre-Byzantium) succeed or fail by their top-level trace, known only once
/// `traces.csv` is read; their transfers wait in memory until then and come out at the end.
pub fn parse_stream<R: Read>(
    chain: Chain,
    inputs: EtlInputs<R>,
    chunk: usize,
    sink: &mut dyn FnMut(Vec<BlockRecord>, Vec<Transfer>) -> Result<(), ImportError>,
) -> Result<StreamSummary, ImportError> {
    parse_stream_recycling(chain, inputs, chunk, sink, &mut || None)
}

/// [`parse_stream`] that takes each new transfer vector from `spare` when it has one (a vector the
/// consumer of an earlier chunk handed back; its contents are cleared here), else allocates one.
fn parse_stream_recycling<R: Read>(
    chain: Chain,
    inputs: EtlInputs<R>,
    chunk: usize,
    sink: &mut dyn FnMut(Vec<BlockRecord>, Vec<Transfer>) -> Result<(), ImportError>,
    spare: &mut dyn FnMut() -> Option<Vec<Transfer>>,
) -> Result<StreamSummary, ImportError> {
    let mut out = Chunker {
        chunk: chunk.max(1),
        blocks: Vec::new(),
        transfers: Vec::new(),
        summary: StreamSummary::default(),
        sink,
        spare,
    };
    let mut timestamps: FastMap<u64, u64> = FastMap::default();

    if let Some(input) = inputs.blocks {
        let mut t = Table::open(input, &["number", "hash", "parent_hash", "timestamp"])?;
        let [number, hash, parent_hash, timestamp] = t.cols(["number", "hash", "parent_hash", "timestamp"]);
        while let Some(row) = t.next_row()? {
            let n = row.u64(number)?;
            let ts = row.timestamp(timestamp)?;
            let record = BlockRecord {
                chain,
                number: n,
                hash: row.h256(hash)?,
                parent_hash: row.h256(parent_hash)?,
                timestamp: ts,
            };
            timestamps.insert(n, ts);
            out.block(record)?;
        }
    }

    let has_receipts_file = inputs.receipts.is_some();
    let mut receipts = match inputs.receipts {
        Some(input) => Some(ReceiptJoin::open(input)?),
        None => None,
    };

    let mut txs = TxTable::new();
    // Transfers of transactions whose success is not known before traces.csv.
    let mut pending: Vec<Transfer> = Vec::new();
    let has_transactions = inputs.transactions.is_some();
    if let Some(input) = inputs.transactions {
        let mut t = Table::open(
            input,
            &[
                "hash",
                "block_number",
                "from_address",
                "to_address",
                "value",
                "gas_price",
            ],
        )?;
        let [hash_c, block_c, from_c, to_c, value_c, gas_price_c, block_ts_c] = t.cols([
            "hash",
            "block_number",
            "from_address",
            "to_address",
            "value",
            "gas_price",
            "block_timestamp",
        ]);
        let [r_status, r_gas_used, r_effective, r_contract] = t.cols([
            "receipt_status",
            "receipt_gas_used",
            "receipt_effective_gas_price",
            "receipt_contract_address",
        ]);
        let inline_receipts = r_status.is_present() && r_gas_used.is_present();
        if !has_receipts_file {
            if !inline_receipts {
                return Err(ImportError::Incomplete {
                    dir: t.name.clone(),
                    reason: "no receipts.csv and no receipt_status/receipt_gas_used columns: failed \
                             transactions and fees cannot be told"
                        .into(),
                });
            }
            out.summary.notes.push(
                "no receipts.csv: status, gas used, fee and created contract taken from the receipt_* columns \
                 of transactions.csv"
                    .into(),
            );
        }
        while let Some(row) = t.next_row()? {
            let hash = row.tx_hash(hash_c)?;
            let block = row.u64(block_c)?;
            let row_ts = row.opt_timestamp(block_ts_c)?;
            if let Some(ts) = row_ts {
                timestamps.insert(block, ts);
            }
            let receipt = if let Some(join) = receipts.as_mut() {
                match join.take(&hash)? {
                    Some(r) => r,
                    None => {
                        return Err(row.bad(
                            hash_c,
                            &hash.to_hex(),
                            "no row for this transaction in receipts.csv",
                        ));
                    }
                }
            } else {
                Receipt {
                    status: row.status(r_status)?,
                    gas_used: row.u256(r_gas_used)?,
                    effective_gas_price: row.opt_u256(r_effective)?,
                    contract_address: row.opt_address(r_contract)?,
                }
            };
            let gas_price = match receipt.effective_gas_price {
                Some(p) => p,
                None => row.u256(gas_price_c)?,
            };
            let tx_fee = receipt.gas_used.checked_mul(gas_price).ok_or_else(|| {
                row.bad(
                    gas_price_c,
                    &gas_price.to_string(),
                    "gas used * gas price overflows",
                )
            })?;
            let from = row.address(from_c)?;
            txs.push(
                block,
                hash,
                TxFacts {
                    from,
                    tx_fee,
                    gas_price,
                    is_success: receipt.status,
                },
            );
            if receipt.status == Some(false) {
                continue;
            }
            let value = row.u256(value_c)?;
            if value.is_zero() {
                continue;
            }
            let to = match row.opt_address(to_c)?.or(receipt.contract_address) {
                Some(a) => a,
                None => {
                    return Err(row.bad(
                        to_c,
                        "",
                        "value transfer with no to_address and no created contract",
                    ));
                }
            };
            let timestamp = match row_ts {
                Some(ts) => ts,
                None => block_time(&timestamps, row.file, row.line, block)?,
            };
            let transfer = Transfer {
                chain,
                block,
                timestamp,
                tx_hash: hash,
                position: Position::Tx,
                from,
                to,
                asset: Asset::Native,
                amount: value,
                kind: TransferKind::Native,
                tx_from: from,
                tx_fee,
                gas_price,
            };
            if receipt.status.is_none() {
                pending.push(transfer);
            } else {
                out.transfer(transfer)?;
            }
        }
    }
    if let Some(join) = receipts {
        // Rows past the last transaction are not needed, but a bad one still fails the import.
        join.finish()?;
    }

    if let Some(input) = inputs.token_transfers {
        let mut t = Table::open(
            input,
            &[
                "token_address",
                "from_address",
                "to_address",
                "value",
                "transaction_hash",
                "log_index",
                "block_number",
            ],
        )?;
        if !has_transactions {
            return Err(ImportError::Incomplete {
                dir: t.name.clone(),
                reason: "token transfers need transactions.csv (tx_from, fee, success) in the same directory"
                    .into(),
            });
        }
        let [
            token_c,
            from_c,
            to_c,
            value_c,
            hash_c,
            log_index_c,
            block_c,
            block_ts_c,
        ] = t.cols([
            "token_address",
            "from_address",
            "to_address",
            "value",
            "transaction_hash",
            "log_index",
            "block_number",
            "block_timestamp",
        ]);
        let mut cursor = TxCursor::default();
        while let Some(row) = t.next_row()? {
            let tx_hash = row.tx_hash(hash_c)?;
            let block_hint = row.raw(block_c).and_then(parse_u64_bytes);
            let Some(tx) = txs.get(&mut cursor, block_hint, &tx_hash) else {
                return Err(row.bad(hash_c, &tx_hash.to_hex(), "transaction not in transactions.csv"));
            };
            if tx.is_success == Some(false) {
                continue;
            }
            let block = row.u64(block_c)?;
            let timestamp = match row.opt_timestamp(block_ts_c)? {
                Some(ts) => ts,
                None => block_time(&timestamps, row.file, row.line, block)?,
            };
            let log_index = row.u64(log_index_c)?;
            let log_index = u32::try_from(log_index)
                .map_err(|_| row.bad(log_index_c, &log_index.to_string(), "too large"))?;
            let transfer = Transfer {
                chain,
                block,
                timestamp,
                tx_hash,
                position: Position::Log(log_index),
                from: row.address(from_c)?,
                to: row.address(to_c)?,
                asset: Asset::Token(row.address(token_c)?),
                amount: row.u256(value_c)?,
                kind: TransferKind::Token,
                tx_from: tx.from,
                tx_fee: tx.tx_fee,
                gas_price: tx.gas_price,
            };
            if tx.is_success.is_none() {
                pending.push(transfer);
            } else {
                out.transfer(transfer)?;
            }
        }
    }

    // Top-level trace failures of transactions without a receipt status.
    let mut top_level_failed: TxMap<bool> = TxMap::default();
    if let Some(input) = inputs.traces {
        let mut t = Table::open(
            input,
            &[
                "block_number",
                "transaction_hash",
                "from_address",
                "to_address",
                "value",
                "trace_type",
                "trace_address",
            ],
        )?;
        let [block_c, hash_c, from_c, to_c, value_c, type_c, address_c] = t.cols([
            "block_number",
            "transaction_hash",
            "from_address",
            "to_address",
            "value",
            "trace_type",
            "trace_address",
        ]);
        let [status_c, error_c, call_type_c, block_ts_c] =
            t.cols(["status", "error", "call_type", "block_timestamp"]);
        let mut cursor = TxCursor::default();
        while let Some(row) = t.next_row()? {
            // Most traces move no value: skip them on the value bytes alone. Only a top-level trace
            // of a transaction without receipt status (then `pending` holds its rows) is needed
            // whatever its value. (A zero-value row is therefore not checked further, e.g. its status.)
            if pending.is_empty() && matches!(row.raw(value_c), Some(b"" | b"0")) {
                continue;
            }
            let trace_type = row.str(type_c)?;
            if trace_type == "reward" || trace_type == "genesis" || trace_type == "daofork" {
                continue;
            }
            let is_top_level = row.str(address_c)?.trim_matches(['[', ']', ' ']).is_empty();
            let is_failed = match row.opt_str(status_c) {
                Some("1") => false,
                Some("0") => true,
                Some("") | None => row.opt_str(error_c).is_some_and(|e| !e.is_empty()),
                Some(other) => return Err(row.bad(status_c, other, "expected 0, 1 or empty")),
            };
            if is_top_level {
                // Only needed for transactions whose receipt has no status.
                if !pending.is_empty() && !row.str(hash_c)?.is_empty() {
                    let hash = row.tx_hash(hash_c)?;
                    let block_hint = row.raw(block_c).and_then(parse_u64_bytes);
                    if txs
                        .get(&mut cursor, block_hint, &hash)
                        .is_some_and(|tx| tx.is_success.is_none())
                    {
                        top_level_failed.insert(hash, is_failed);
                    }
                }
                continue;
            }
            let moves_value = match trace_type {
                "call" => row
                    .opt_str(call_type_c)
                    .is_none_or(|c| c == "call" || c.is_empty()),
                "create" | "create2" | "suicide" | "selfdestruct" => true,
                _ => false,
            };
            if !moves_value || is_failed {
                continue;
            }
            let value = row.u256_or_zero(value_c)?;
            if value.is_zero() {
                continue;
            }
            let trace_address = row.trace_address(address_c)?;
            let block = row.u64(block_c)?;
            let tx_hash = row.tx_hash(hash_c)?;
            if !has_transactions {
                return Err(ImportError::Incomplete {
                    dir: t.name.clone(),
                    reason: "internal transfers need transactions.csv (tx_from, fee, success) in the same \
                             directory"
                        .into(),
                });
            }
            let Some(tx) = txs.get(&mut cursor, Some(block), &tx_hash) else {
                return Err(row.bad(hash_c, &tx_hash.to_hex(), "transaction not in transactions.csv"));
            };
            if tx.is_success == Some(false) {
                continue;
            }
            let timestamp = match row.opt_timestamp(block_ts_c)? {
                Some(ts) => ts,
                None => block_time(&timestamps, row.file, row.line, block)?,
            };
            let transfer = Transfer {
                chain,
                block,
                timestamp,
                tx_hash,
                position: Position::Trace(trace_address),
                from: row.address(from_c)?,
                to: row.address(to_c)?,
                asset: Asset::Native,
                amount: value,
                kind: TransferKind::Internal,
                tx_from: tx.from,
                tx_fee: tx.tx_fee,
                gas_price: tx.gas_price,
            };
            if tx.is_success.is_none() {
                pending.push(transfer);
            } else {
                out.transfer(transfer)?;
            }
        }
    }
    // Pre-Byzantium: a transaction without a status failed only if its top-level trace did.
    for t in pending {
        if !top_level_failed.get(&t.tx_hash).copied().unwrap_or(false) {
            out.transfer(t)?;
        }
    }
    out.flush()?;
    Ok(out.summary)
}

fn block_time(timestamps: &FastMap<u64, u64>, file: &str, line: u64, block: u64) -> Result<u64, ImportError> {
    timestamps
        .get(&block)
        .copied()
        .ok_or_else(|| ImportError::BadValue {
            file: file.to_string(),
            line,
            column: "block_number",
            value: block.to_string(),
            reason: "no timestamp for this block (add blocks.csv or a block_timestamp column)".into(),
        })
}

/// A column of a [`Table`], resolved once: its name (for messages) and index, if the header has it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Col {
    name: &'static str,
    index: Option<usize>,
}

impl Col {
    /// Whether the header has this column.
    pub(crate) fn is_present(self) -> bool {
        self.index.is_some()
    }
}

/// How [`RowRef`] accessors name a column: a resolved [`Col`] (fast) or its name (looked up).
pub(crate) trait ColumnRef: Copy {
    fn name(self) -> &'static str;
    fn index(self, columns: &FastMap<String, usize>) -> Option<usize>;
}

impl ColumnRef for Col {
    fn name(self) -> &'static str {
        self.name
    }
    fn index(self, _: &FastMap<String, usize>) -> Option<usize> {
        self.index
    }
}

impl ColumnRef for &'static str {
    fn name(self) -> &'static str {
        self
    }
    fn index(self, columns: &FastMap<String, usize>) -> Option<usize> {
        columns.get(self).copied()
    }
}

/// Bytes read from the file per refill.
const READ_SIZE: usize = 1 << 20;

/// A CSV file with named columns, read row by row (shared with [`crate::csv_transfers`]).
///
/// Its own RFC 4180 reader rather than the `csv` crate's: ethereum-etl rows almost never hold quotes,
/// so a row is found and split in one pass over bit masks of its commas, quotes and newline (SIMD, 64
/// bytes at a time), and only a row holding a `"` goes through the quote-aware path (which may span
/// lines). Same rules as
/// before: blank lines skipped, `\r\n` accepted, every row must have the header's number of fields.
pub(crate) struct Table<R> {
    pub(crate) name: String,
    reader: R,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    is_eof: bool,
    /// 1-based line number where the next record starts.
    next_line: u64,
    columns: FastMap<String, usize>,
    width: usize,
    /// Field bounds of the current record, into `buf` (unquoted) or `scratch` (quoted).
    bounds: Vec<(usize, usize)>,
    scratch: Vec<u8>,
    /// The current record: where its bytes are and on which line it starts.
    current: Current,
}

#[derive(Debug, Clone, Copy)]
enum Current {
    /// In `buf`.
    Buf,
    /// `scratch`.
    Scratch,
}

impl<R: Read> Table<R> {
    /// A table over `reader` reading `buf_len` bytes at a time, before its header is read.
    fn new(name: String, reader: R, buf_len: usize) -> Table<R> {
        Table {
            name,
            reader,
            buf: vec![0; buf_len],
            start: 0,
            end: 0,
            is_eof: false,
            next_line: 1,
            columns: FastMap::default(),
            width: 0,
            bounds: Vec::new(),
            scratch: Vec::new(),
            current: Current::Scratch,
        }
    }

    /// Opens `input` and checks that every `required` column is in the header.
    pub(crate) fn open(input: CsvInput<R>, required: &[&'static str]) -> Result<Table<R>, ImportError> {
        let mut t = Table::new(input.name, input.reader, READ_SIZE);
        if t.read_record()?.is_some() {
            let mut columns = FastMap::default();
            for i in 0..t.bounds.len() {
                let name = String::from_utf8_lossy(t.field(i))
                    .trim()
                    .trim_start_matches('\u{feff}')
                    .to_ascii_lowercase();
                columns.entry(name).or_insert(i);
            }
            t.width = t.bounds.len();
            t.columns = columns;
        }
        for &column in required {
            if !t.columns.contains_key(column) {
                return Err(ImportError::MissingColumn { file: t.name, column });
            }
        }
        Ok(t)
    }

    /// Whether the header has `column`.
    pub(crate) fn has(&self, column: &str) -> bool {
        self.columns.contains_key(column)
    }

    /// Resolves column names once, for the fast accessors.
    pub(crate) fn cols<const N: usize>(&self, names: [&'static str; N]) -> [Col; N] {
        names.map(|name| Col {
            name,
            index: self.columns.get(name).copied(),
        })
    }

    fn field(&self, i: usize) -> &[u8] {
        let (a, b) = self.bounds[i];
        match self.current {
            Current::Buf => &self.buf[a..b],
            Current::Scratch => &self.scratch[a..b],
        }
    }

    /// Moves the unread bytes to the front and reads more; false at end of file.
    fn refill(&mut self) -> Result<bool, ImportError> {
        if self.is_eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // A record longer than the buffer.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.is_eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ImportError::Io {
                        path: self.name.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// Reads the next non-blank record into `bounds`; returns its line number, `None` at the end.
    fn read_record(&mut self) -> Result<Option<u64>, ImportError> {
        loop {
            // One pass over the line: the positions of `,` `"` `\n` come 64 bytes at a time as a bit
            // mask (see `specials`), so a field costs a few instructions rather than a `memchr` call,
            // and the line is not read again for its newline and quotes.
            self.bounds.clear();
            let line_start = self.start;
            let unread = &self.buf[line_start..self.end];
            let mut from = 0usize;
            let mut newline = None;
            let mut at = 0usize;
            'scan: while at < unread.len() {
                let (mut commas, stops) = match unread.get(at..at + 64) {
                    Some(block) => scan::specials(block.try_into().expect("64 bytes")),
                    None => {
                        let mut block = [0u8; 64];
                        block[..unread.len() - at].copy_from_slice(&unread[at..]);
                        scan::specials(&block)
                    }
                };
                // Only the commas before the first quote or newline belong to this (unquoted) line.
                let stop = stops.trailing_zeros();
                if stop < 64 {
                    commas &= (1u64 << stop) - 1;
                }
                while commas != 0 {
                    let i = at + commas.trailing_zeros() as usize;
                    commas &= commas - 1;
                    self.bounds.push((line_start + from, line_start + i));
                    from = i + 1;
                }
                if stop < 64 {
                    let i = at + stop as usize;
                    if unread[i] != b'\n' {
                        return self.read_quoted().map(Some);
                    }
                    newline = Some(i);
                    break 'scan;
                }
                at += 64;
            }
            // At the end of the file, a last line without a newline is still a record.
            let Some(len) = newline.or((self.is_eof && !unread.is_empty()).then_some(unread.len())) else {
                if !self.refill()? && self.start >= self.end {
                    return Ok(None);
                }
                continue;
            };
            let mut line_end = line_start + len;
            let line = self.next_line;
            self.next_line += 1;
            self.start = (line_end + 1).min(self.end);
            if line_end > line_start && self.buf[line_end - 1] == b'\r' {
                line_end -= 1;
            }
            if line_end == line_start {
                continue;
            }
            self.bounds.push((line_start + from, line_end));
            self.current = Current::Buf;
            return Ok(Some(line));
        }
    }

    /// The quote-aware path: decodes the record at `start` into `scratch`, reading more lines while a
    /// quoted field is open.
    fn read_quoted(&mut self) -> Result<u64, ImportError> {
        let line = self.next_line;
        'restart: loop {
            self.scratch.clear();
            self.bounds.clear();
            let mut lines = 0u64;
            let mut field_start = 0usize;
            let mut in_quotes = false;
            let mut i = self.start;
            while i < self.end {
                let c = self.buf[i];
                if in_quotes {
                    if c == b'"' {
                        if i + 1 >= self.end && !self.is_eof {
                            // Cannot tell `""` from a closing quote yet.
                            self.refill()?;
                            continue 'restart;
                        }
                        if self.buf.get(i + 1) == Some(&b'"') && i + 1 < self.end {
                            self.scratch.push(b'"');
                            i += 2;
                            continue;
                        }
                        in_quotes = false;
                    } else {
                        if c == b'\n' {
                            lines += 1;
                        }
                        self.scratch.push(c);
                    }
                } else {
                    match c {
                        b'"' => in_quotes = true,
                        b',' => {
                            self.bounds.push((field_start, self.scratch.len()));
                            field_start = self.scratch.len();
                        }
                        b'\n' => {
                            self.finish_quoted(field_start, i + 1, lines + 1);
                            return Ok(line);
                        }
                        _ => self.scratch.push(c),
                    }
                }
                i += 1;
            }
            if self.refill()? {
                continue 'restart;
            }
            if in_quotes {
                return Err(ImportError::Malformed {
                    file: self.name.clone(),
                    line,
                    reason: "quoted field not closed before the end of the file".into(),
                });
            }
            self.finish_quoted(field_start, self.end, lines);
            return Ok(line);
        }
    }

    fn finish_quoted(&mut self, field_start: usize, next: usize, lines: u64) {
        if self.scratch.last() == Some(&b'\r') {
            self.scratch.pop();
        }
        self.bounds.push((field_start, self.scratch.len()));
        self.start = next.min(self.end);
        self.next_line += lines.max(1);
        self.current = Current::Scratch;
    }

    /// The next data row, or `None` at the end.
    pub(crate) fn next_row(&mut self) -> Result<Option<RowRef<'_>>, ImportError> {
        let Some(line) = self.read_record()? else {
            return Ok(None);
        };
        if self.bounds.len() != self.width {
            return Err(ImportError::Malformed {
                file: self.name.clone(),
                line,
                reason: format!(
                    "found {} fields, the header has {}",
                    self.bounds.len(),
                    self.width
                ),
            });
        }
        let data: &[u8] = match self.current {
            Current::Buf => &self.buf,
            Current::Scratch => &self.scratch,
        };
        Ok(Some(RowRef {
            file: &self.name,
            line,
            columns: &self.columns,
            data,
            bounds: &self.bounds,
        }))
    }
}

/// One data row with typed, error-reporting accessors.
pub(crate) struct RowRef<'a> {
    pub(crate) file: &'a str,
    pub(crate) line: u64,
    columns: &'a FastMap<String, usize>,
    data: &'a [u8],
    bounds: &'a [(usize, usize)],
}

impl RowRef<'_> {
    pub(crate) fn bad(&self, column: impl ColumnRef, value: &str, reason: &str) -> ImportError {
        ImportError::BadValue {
            file: self.file.to_string(),
            line: self.line,
            column: column.name(),
            value: value.chars().take(100).collect(),
            reason: reason.to_string(),
        }
    }

    /// The raw bytes of `column` without surrounding ASCII whitespace, or `None` if the header lacks
    /// it. The fast accessors below work on these bytes and fall back to the text path (and its error
    /// messages) only when the fast form does not apply.
    pub(crate) fn raw(&self, column: impl ColumnRef) -> Option<&[u8]> {
        let i = column.index(self.columns)?;
        let raw = self.bounds.get(i).map_or(&b""[..], |&(a, b)| &self.data[a..b]);
        Some(raw.trim_ascii())
    }

    /// The trimmed text of `column`, or `None` if the header lacks it.
    pub(crate) fn opt_str(&self, column: impl ColumnRef) -> Option<&str> {
        let i = column.index(self.columns)?;
        let raw = self.bounds.get(i).map_or(&b""[..], |&(a, b)| &self.data[a..b]);
        Some(std::str::from_utf8(raw).unwrap_or("\u{fffd}").trim())
    }

    /// The trimmed text of a column the header is known to have.
    pub(crate) fn str(&self, column: impl ColumnRef) -> Result<&str, ImportError> {
        self.opt_str(column)
            .ok_or_else(|| self.bad(column, "", "column missing"))
    }

    pub(crate) fn u64(&self, column: impl ColumnRef) -> Result<u64, ImportError> {
        if let Some(v) = self.raw(column).and_then(parse_u64_bytes) {
            return Ok(v);
        }
        let s = self.str(column)?;
        s.parse::<u64>()
            .map_err(|_| self.bad(column, s, "expected a non-negative integer"))
    }

    pub(crate) fn u256(&self, column: impl ColumnRef) -> Result<U256, ImportError> {
        if let Some(v) = self.raw(column).and_then(parse_small_decimal) {
            return Ok(v);
        }
        let s = self.str(column)?;
        parse_u256(s).ok_or_else(|| self.bad(column, s, "expected a non-negative integer below 2^256"))
    }

    fn u256_or_zero(&self, column: impl ColumnRef) -> Result<U256, ImportError> {
        match self.raw(column) {
            None | Some(b"") => Ok(U256::ZERO),
            Some(_) => self.u256(column),
        }
    }

    fn opt_u256(&self, column: impl ColumnRef) -> Result<Option<U256>, ImportError> {
        match self.raw(column) {
            None | Some(b"") => Ok(None),
            Some(_) => self.u256(column).map(Some),
        }
    }

    pub(crate) fn address(&self, column: impl ColumnRef) -> Result<Address, ImportError> {
        // Lowercase hex (what ethereum-etl writes) needs no checksum check; anything else takes
        // `Address::parse` (EIP-55 mixed case, Tron base58, errors).
        if let Some(b) = self.raw(column).and_then(hex_fixed::<20, false>) {
            return Ok(Address(b));
        }
        let s = self.str(column)?;
        Address::parse(s).map_err(|e| self.bad(column, s, &e.to_string()))
    }

    pub(crate) fn opt_address(&self, column: impl ColumnRef) -> Result<Option<Address>, ImportError> {
        match self.raw(column) {
            None | Some(b"") => Ok(None),
            Some(_) => self.address(column).map(Some),
        }
    }

    pub(crate) fn tx_hash(&self, column: impl ColumnRef) -> Result<TxHash, ImportError> {
        if let Some(b) = self.raw(column).and_then(hex_fixed::<32, true>) {
            return Ok(TxHash(b));
        }
        let s = self.str(column)?;
        TxHash::parse(s).map_err(|_| self.bad(column, s, "expected 0x followed by 64 hex digits"))
    }

    fn h256(&self, column: impl ColumnRef) -> Result<[u8; 32], ImportError> {
        self.tx_hash(column).map(|h| h.0)
    }

    /// Receipt status: `1` success, `0` failure, empty = unknown (pre-Byzantium).
    fn status(&self, column: impl ColumnRef) -> Result<Option<bool>, ImportError> {
        match self.str(column)? {
            "" => Ok(None),
            "1" | "1.0" | "true" => Ok(Some(true)),
            "0" | "0.0" | "false" => Ok(Some(false)),
            other => Err(self.bad(column, other, "expected 0, 1 or empty")),
        }
    }

    /// `trace_address`: comma-separated child indices (`0,1`), empty for the top-level call.
    fn trace_address(&self, column: impl ColumnRef) -> Result<Vec<u32>, ImportError> {
        let s = self.str(column)?;
        let inner = s.trim_start_matches('[').trim_end_matches(']').trim();
        if inner.is_empty() {
            return Ok(Vec::new());
        }
        inner
            .split([',', '.'])
            .map(|p| {
                p.trim()
                    .parse::<u32>()
                    .map_err(|_| self.bad(column, s, "expected comma-separated integers"))
            })
            .collect()
    }

    pub(crate) fn timestamp(&self, column: impl ColumnRef) -> Result<u64, ImportError> {
        let s = self.str(column)?;
        parse_timestamp(s)
            .ok_or_else(|| self.bad(column, s, "expected unix seconds or YYYY-MM-DD HH:MM:SS (UTC)"))
    }

    fn opt_timestamp(&self, column: impl ColumnRef) -> Result<Option<u64>, ImportError> {
        match self.opt_str(column) {
            None | Some("") => Ok(None),
            Some(_) => self.timestamp(column).map(Some),
        }
    }
}

/// The one place of this crate with `unsafe`: SIMD compares for the CSV splitter.
mod scan {
    #![allow(unsafe_code)]

    /// Bit `i` of the first mask is set where `block[i]` is `,`, of the second where it is `"` or
    /// `\n`: 16 bytes per SSE2 compare.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[inline]
    pub(super) fn specials(block: &[u8; 64]) -> (u64, u64) {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: the `cfg` above guarantees SSE2 at compile time, and every load reads 16 bytes at
        // offsets 0, 16, 32, 48 of the 64-byte `block` (unaligned loads allowed).
        unsafe {
            let comma = _mm_set1_epi8(b',' as i8);
            let quote = _mm_set1_epi8(b'"' as i8);
            let newline = _mm_set1_epi8(b'\n' as i8);
            let (mut commas, mut stops) = (0u64, 0u64);
            for k in 0..4 {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast());
                let stop = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, newline));
                commas |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma)) as u16) << (16 * k);
                stops |= u64::from(_mm_movemask_epi8(stop) as u16) << (16 * k);
            }
            (commas, stops)
        }
    }

    /// Bit `i` of the first mask is set where `block[i]` is `,`, of the second where it is `"` or
    /// `\n` (portable form).
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    #[inline]
    pub(super) fn specials(block: &[u8; 64]) -> (u64, u64) {
        block
            .iter()
            .enumerate()
            .fold((0u64, 0u64), |(commas, stops), (i, &b)| {
                (
                    commas | (u64::from(b == b',') << i),
                    stops | (u64::from(b == b'"' || b == b'\n') << i),
                )
            })
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn specials_marks_commas_quotes_and_newlines_only() {
            let mut block = [b'a'; 64];
            let marks = [
                (0, b','),
                (5, b'"'),
                (15, b'\n'),
                (16, b','),
                (31, b'\r'),
                (47, b'"'),
                (63, b','),
            ];
            let (mut commas, mut stops) = (0u64, 0u64);
            for (i, c) in marks {
                block[i] = c;
                match c {
                    b',' => commas |= 1 << i,
                    b'"' | b'\n' => stops |= 1 << i,
                    _ => {}
                }
            }
            block[20] = 0xac; // a byte of a UTF-8 sequence, not a comma (0x2c) with the high bit set
            assert_eq!(super::specials(&block), (commas, stops));
        }
    }
}

/// `0x` followed by exactly `2 * N` hex digits (lowercase only unless `UPPER`), decoded 8 digits at a
/// time in a `u64` (no branch or table per digit); `None` for anything else (the caller then takes the
/// general parser). `N` is a multiple of 4 (addresses, hashes).
fn hex_fixed<const N: usize, const UPPER: bool>(s: &[u8]) -> Option<[u8; N]> {
    let digits = s.strip_prefix(b"0x")?;
    const { assert!(N.is_multiple_of(4), "decoded 4 bytes at a time") };
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0u64;
    for (o, eight) in out.chunks_exact_mut(4).zip(digits.chunks_exact(8)) {
        let (bytes, is_bad) = hex8::<UPPER>(u64::from_le_bytes(eight.try_into().expect("8 digits")));
        o.copy_from_slice(&bytes);
        bad |= is_bad;
    }
    (bad == 0).then_some(out)
}

/// Bytes of a `u64` each holding `b`.
const fn lanes(b: u8) -> u64 {
    u64::from_le_bytes([b; 8])
}

/// Decodes 8 ASCII hex digits (first digit in the lowest byte) into 4 bytes; the second value is
/// non-zero if any byte is not a hex digit (`a`-`f` only, unless `UPPER` also allows `A`-`F`).
fn hex8<const UPPER: bool>(v: u64) -> ([u8; 4], u64) {
    const HIGH: u64 = lanes(0x80);
    // `A`-`F` | 0x20 = `a`-`f`; digits already have 0x20 set.
    let x = if UPPER { v | lanes(0x20) } else { v };
    // Per byte below 0x80 (no carry between bytes): `x + (0x80 - lo)` has the high bit iff x >= lo,
    // `x + (0x7f - hi)` has it iff x > hi.
    let in_range = |x: u64, lo: u8, hi: u8| {
        let ascii = x & !HIGH;
        (ascii + lanes(0x80 - lo)) & !(ascii + lanes(0x7f - hi)) & HIGH
    };
    // Digits are checked on `v`: `| 0x20` would turn 0x10-0x19 into digits.
    let digit = in_range(v, b'0', b'9');
    let letter = in_range(x, b'a', b'f');
    let is_bad = (v & HIGH) | ((digit | letter) ^ HIGH);
    // Nibble: low 4 bits, plus 9 for letters (`a` = 0x61 -> 1 + 9).
    let nibbles = (x & lanes(0x0f)) + (letter >> 7) * 9;
    // Byte 2k becomes (nibble 2k << 4) | nibble 2k+1; then the even bytes are gathered.
    let pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00ff_00ff_00ff_00ff;
    let pairs = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    let pairs = (pairs | (pairs >> 16)) & 0xffff_ffff;
    ((pairs as u32).to_le_bytes(), is_bad)
}

/// A plain decimal of at most 19 digits (always fits u64); `None` for anything else.
fn parse_u64_bytes(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut v = 0u64;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    Some(v)
}

/// A plain decimal of at most 38 digits (always fits u128), the form of nearly every amount;
/// `None` for anything else (hex, longer numbers, bad input: the caller takes [`parse_u256`]).
fn parse_small_decimal(s: &[u8]) -> Option<U256> {
    if s.len() <= 19 {
        return parse_u64_bytes(s).map(U256::from);
    }
    if s.len() > 38 {
        return None;
    }
    let (head, tail) = s.split_at(s.len() - 19);
    let hi = parse_u64_bytes(head)?;
    let lo = parse_u64_bytes(tail)?;
    Some(U256::from(
        u128::from(hi) * 10_000_000_000_000_000_000 + u128::from(lo),
    ))
}

/// A non-negative decimal integer below 2^256; also accepts `0x` hex (some exports write values so).
pub(crate) fn parse_u256(s: &str) -> Option<U256> {
    if let Some(hex) = s.strip_prefix("0x") {
        return U256::from_str_radix(hex, 16).ok();
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Fast path: most amounts fit 128 bits.
    if s.len() <= 38 {
        return s.parse::<u128>().ok().map(U256::from);
    }
    U256::from_str_radix(s, 10).ok()
}

/// Unix seconds, or a UTC date-time `YYYY-MM-DD[ T]HH:MM:SS[.fff][ UTC|Z|+00:00]`.
pub(crate) fn parse_timestamp(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let s = s
        .strip_suffix(" UTC")
        .or_else(|| s.strip_suffix('Z'))
        .or_else(|| s.strip_suffix("+00:00"))
        .unwrap_or(s);
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b' ' || b[10] == b'T') || b[13] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u64>().ok());
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b.len() > 19 && b[19] != b'.' {
        return None;
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 || y < 1970 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if mo <= 2 { (y - 1, mo + 9) } else { (y, mo - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3_600 + mi * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, text: &str) -> Option<CsvInput<&'static [u8]>> {
        let leaked: &'static str = Box::leak(text.to_string().into_boxed_str());
        Some(CsvInput {
            name: name.to_string(),
            reader: leaked.as_bytes(),
        })
    }

    const H1: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
    const H2: &str = "0x2222222222222222222222222222222222222222222222222222222222222222";
    const H3: &str = "0x3333333333333333333333333333333333333333333333333333333333333333";
    const A: &str = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "0xcccccccccccccccccccccccccccccccccccccccc";
    const TOKEN: &str = "0xdddddddddddddddddddddddddddddddddddddddd";

    fn blocks() -> Option<CsvInput<&'static [u8]>> {
        input(
            "blocks.csv",
            &format!("number,hash,parent_hash,timestamp\n100,{H1},{H2},1700000000\n"),
        )
    }

    fn txs() -> Option<CsvInput<&'static [u8]>> {
        // tx1: A -> B 5 wei, success; tx2: creation by A with 7 wei, success; tx3: A -> C failed.
        input(
            "transactions.csv",
            &format!(
                "hash,block_number,from_address,to_address,value,gas_price\n\
                 {H1},100,{A},{B},5,10\n{H2},100,{A},,7,10\n{H3},100,{A},{C},9,10\n"
            ),
        )
    }

    fn receipts() -> Option<CsvInput<&'static [u8]>> {
        receipts_with(&format!("{H1},21000,,1,8\n{H2},50000,{C},1,\n{H3},30000,,0,8\n"))
    }

    /// receipts.csv with its header and these rows.
    fn receipts_with(rows: &str) -> Option<CsvInput<&'static [u8]>> {
        input(
            "receipts.csv",
            &format!("transaction_hash,gas_used,contract_address,status,effective_gas_price\n{rows}"),
        )
    }

    #[test]
    fn decodes_native_token_and_internal_by_the_rpc_rules() {
        let inputs = EtlInputs {
            blocks: blocks(),
            transactions: txs(),
            receipts: receipts(),
            token_transfers: input(
                "token_transfers.csv",
                &format!(
                    "token_address,from_address,to_address,value,transaction_hash,log_index,block_number\n\
                     {TOKEN},{B},{C},0,{H1},4,100\n{TOKEN},{B},{C},3,{H3},5,100\n"
                ),
            ),
            traces: input(
                "traces.csv",
                &format!(
                    "block_number,transaction_hash,from_address,to_address,value,trace_type,call_type,trace_address,error,status\n\
                     100,{H1},{A},{B},5,call,call,,,1\n\
                     100,{H1},{B},{C},2,call,call,0,,1\n\
                     100,{H1},{B},{C},2,call,delegatecall,1,,1\n\
                     100,{H1},{B},{C},2,call,staticcall,2,,1\n\
                     100,{H1},{B},{C},2,call,callcode,3,,1\n\
                     100,{H1},{B},{C},0,call,call,4,,1\n\
                     100,{H1},{B},{C},2,call,call,5,Reverted,0\n\
                     100,{H1},{B},{A},6,create,,\"6,0\",,1\n\
                     100,{H1},{C},{A},1,suicide,,7,,1\n\
                     100,,{A},,2,reward,,,,1\n\
                     100,{H3},{C},{A},1,call,call,0,,1\n"
                ),
            ),
        };
        let data = parse(Chain::Ethereum, inputs).expect("parses");
        let addr = |s: &str| Address::parse(s).expect("test address");
        let got: Vec<(String, TransferKind, Address, Address, u64)> = data
            .transfers
            .iter()
            .map(|t| (t.position.to_string(), t.kind, t.from, t.to, t.amount.to::<u64>()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("tx".into(), TransferKind::Native, addr(A), addr(B), 5),
                ("tx".into(), TransferKind::Native, addr(A), addr(C), 7),
                ("log:4".into(), TransferKind::Token, addr(B), addr(C), 0),
                ("trace:0".into(), TransferKind::Internal, addr(B), addr(C), 2),
                ("trace:6.0".into(), TransferKind::Internal, addr(B), addr(A), 6),
                ("trace:7".into(), TransferKind::Internal, addr(C), addr(A), 1),
            ]
        );
        let first = &data.transfers[0];
        assert_eq!(
            (first.tx_fee, first.gas_price),
            (U256::from(21_000u64 * 8), U256::from(8u64))
        );
        // No effective gas price: fall back to the transaction's gas price.
        let create = &data.transfers[1];
        assert_eq!(
            (create.tx_fee, create.gas_price),
            (U256::from(500_000u64), U256::from(10u64))
        );
        assert!(
            data.transfers
                .iter()
                .all(|t| t.timestamp == 1_700_000_000 && t.tx_from == addr(A))
        );
        assert_eq!(data.blocks.len(), 1);
        assert_eq!(data.max_block(), Some(100));
        assert!(data.transfers[2].is_zero_value());
    }

    #[test]
    fn pre_byzantium_status_comes_from_the_top_level_trace() {
        let inputs = EtlInputs {
            blocks: blocks(),
            transactions: txs(),
            receipts: receipts_with(&format!("{H1},21000,,,8\n{H2},50000,{C},,\n{H3},30000,,,8\n")),
            token_transfers: None,
            traces: input(
                "traces.csv",
                &format!(
                    "block_number,transaction_hash,from_address,to_address,value,trace_type,call_type,trace_address,error,status\n\
                     100,{H1},{A},{B},5,call,call,,Out of gas,0\n"
                ),
            ),
        };
        let data = parse(Chain::Ethereum, inputs).expect("parses");
        // H1 failed by its trace; H2 (no trace) and H3 (status unknown, no trace) count as successful.
        let hashes: Vec<String> = data.transfers.iter().map(|t| t.tx_hash.to_hex()).collect();
        assert_eq!(hashes, vec![H2.to_string(), H3.to_string()]);
    }

    #[test]
    fn inline_receipt_columns_replace_receipts_csv() {
        let inputs = EtlInputs {
            blocks: None,
            transactions: input(
                "transactions.csv",
                &format!(
                    "hash,block_number,block_timestamp,from_address,to_address,value,gas_price,receipt_status,receipt_gas_used,receipt_effective_gas_price,receipt_contract_address\n\
                     {H1},100,2023-05-02 12:00:00 UTC,{A},{B},5,10,1,21000,9,\n\
                     {H3},100,2023-05-02 12:00:00 UTC,{A},{B},5,10,0,21000,9,\n"
                ),
            ),
            ..EtlInputs::default()
        };
        let data = parse(Chain::Ethereum, inputs).expect("parses");
        assert_eq!(data.transfers.len(), 1);
        assert_eq!(data.transfers[0].timestamp, 1_683_028_800);
        assert_eq!(data.transfers[0].gas_price, U256::from(9u64));
        assert_eq!(data.notes.len(), 1);
    }

    #[test]
    fn bad_rows_name_file_line_and_column() {
        let inputs = EtlInputs {
            blocks: blocks(),
            transactions: input(
                "transactions.csv",
                &format!(
                    "hash,block_number,from_address,to_address,value,gas_price\n{H1},100,{A},{B},5,10\n{H3},100,0xnope,{B},5,10\n"
                ),
            ),
            receipts: receipts(),
            ..EtlInputs::default()
        };
        let err = parse(Chain::Ethereum, inputs).expect_err("bad address");
        let msg = err.to_string();
        assert!(
            msg.starts_with("transactions.csv:3: column 'from_address'"),
            "{msg}"
        );

        let err = parse(
            Chain::Ethereum,
            EtlInputs {
                transactions: txs(),
                ..EtlInputs::default()
            },
        )
        .expect_err("no receipts");
        assert!(err.to_string().contains("no receipts.csv"), "{err}");

        let err = parse(
            Chain::Ethereum,
            EtlInputs {
                transactions: txs(),
                receipts: receipts(),
                ..EtlInputs::default()
            },
        )
        .expect_err("no timestamps");
        assert!(
            err.to_string()
                .contains("transactions.csv:2: column 'block_number'"),
            "{err}"
        );

        let err = parse(
            Chain::Ethereum,
            EtlInputs {
                blocks: input("blocks.csv", "number,hash\n1,2\n"),
                ..EtlInputs::default()
            },
        )
        .expect_err("missing column");
        assert_eq!(err.to_string(), "blocks.csv: missing column 'parent_hash'");

        let err = parse(
            Chain::Ethereum,
            EtlInputs {
                token_transfers: input(
                    "token_transfers.csv",
                    &format!("token_address,from_address,to_address,value,transaction_hash,log_index,block_number\n{TOKEN},{A},{B},1,{H1},0,100\n"),
                ),
                ..EtlInputs::default()
            },
        )
        .expect_err("no transactions");
        assert!(err.to_string().contains("need transactions.csv"), "{err}");

        let err = parse(
            Chain::Ethereum,
            EtlInputs {
                blocks: input("blocks.csv", "number,hash,parent_hash,timestamp\n1,2\n"),
                ..EtlInputs::default()
            },
        )
        .expect_err("short row");
        assert!(
            err.to_string().starts_with("blocks.csv:2: malformed csv"),
            "{err}"
        );
    }

    fn fixtures() -> Option<PathBuf> {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ethereum-etl-test-fixtures");
        if dir.is_dir() {
            Some(dir)
        } else {
            eprintln!("skipping: ethereum-etl fixtures not found at {}", dir.display());
            None
        }
    }

    /// Block 483920 (Nov 2015): ethereum-etl's own expected blocks, transactions, receipts and token
    /// transfers, laid out as one export directory.
    fn export_483920(fixtures: &Path, into: &Path) {
        let copies = [
            (
                "test_export_blocks_job/block_with_logs/expected_blocks.csv",
                "blocks.csv",
            ),
            (
                "test_export_blocks_job/block_with_logs/expected_transactions.csv",
                "transactions.csv",
            ),
            (
                "test_export_receipts_job/receipts_with_logs/expected_receipts.csv",
                "receipts.csv",
            ),
            (
                "test_export_token_transfers_job/block_with_transfers/expected_token_transfers.csv",
                "token_transfers.csv",
            ),
        ];
        for (from, to) in copies {
            std::fs::copy(fixtures.join(from), into.join(to)).expect("copy fixture");
        }
    }

    #[test]
    fn real_export_of_block_483920_imports_once() {
        let Some(fixtures) = fixtures() else { return };
        let tmp = tempfile::tempdir().expect("tempdir");
        let export = tmp.path().join("export");
        std::fs::create_dir(&export).expect("mkdir");
        export_483920(&fixtures, &export);
        let mut store = chaintrace_store::Store::open(&tmp.path().join("data")).expect("store");
        let report = import_dir(&mut store, Chain::Ethereum, &export).expect("imports");
        assert_eq!(report.files.len(), 4);
        assert_eq!(report.blocks, 1);
        assert_eq!(
            report.stats,
            WriteStats {
                inserted: 4,
                duplicates: 0
            }
        );
        assert_eq!(report.checkpoint, Some(483_920));
        let again = import_dir(&mut store, Chain::Ethereum, &export).expect("re-imports");
        assert_eq!(
            again.stats,
            WriteStats {
                inserted: 0,
                duplicates: 4
            }
        );

        // 0x463d...: 0x9df4... -> 0x9e66... 0.01100044 ETH, 21000 gas at 50 gwei (pre-Byzantium, no status).
        let from = Address::parse("0x9df428a91ff0f3635c8f0ce752933b9788926804").expect("addr");
        let ts = store.transfers_of(from, None).expect("read");
        assert_eq!(ts.len(), 1);
        let t = &ts[0];
        assert_eq!(
            t.tx_hash.to_hex(),
            "0x463d53f0ad57677a3b430a007c1c31d15d62c37fab5eee598551697c297c235c"
        );
        assert_eq!(t.amount, U256::from(11_000_440_000_000_000u64));
        assert_eq!(t.tx_fee, U256::from(21_000u64 * 50_000_000_000));
        assert_eq!(
            (t.timestamp, t.block, t.kind),
            (1_446_561_880, 483_920, TransferKind::Native)
        );

        // Token transfer at log 1 of 0xcea6...: 200000 units of 0xf4ec..., zero-value tx carries the fee.
        let holder = Address::parse("0x66f183060253cfbe45beff1e6e7ebbe318c81e56").expect("addr");
        let ts = store.transfers_of(holder, None).expect("read");
        assert_eq!(ts.len(), 1);
        assert_eq!(ts[0].position, Position::Log(1));
        assert_eq!(ts[0].amount, U256::from(200_000u64));
        assert_eq!(
            ts[0].tx_from,
            Address::parse("0x9b22a80d5c7b3374a05b446081f97d0a34079e7f").expect("addr")
        );
        assert_eq!(
            ts[0].asset,
            Asset::Token(Address::parse("0xf4eced2f682ce333f96f2d8966c613ded8fc95dd").expect("addr"))
        );
        assert_eq!(store.transfer_count(None).expect("count"), 4);
    }

    #[test]
    fn a_bad_row_in_a_real_export_stores_nothing() {
        let Some(fixtures) = fixtures() else { return };
        let tmp = tempfile::tempdir().expect("tempdir");
        let export = tmp.path().join("export");
        std::fs::create_dir(&export).expect("mkdir");
        export_483920(&fixtures, &export);
        let tt = export.join("token_transfers.csv");
        let mut text = std::fs::read_to_string(&tt).expect("read");
        text.push_str("0xf4eced2f682ce333f96f2d8966c613ded8fc95dd,0x1b63142628311395ceafeea5667e7c9026c862ca,0xac4df82fe37ea2187bc8c011a23d743b4f39019a,12abc,0x04cbcb236043d8fb7839e07bbc7f5eed692fb2ca55d897f1101eac3e3ad4fab8,9,483920\n");
        std::fs::write(&tt, text).expect("write");
        let mut store = chaintrace_store::Store::open(&tmp.path().join("data")).expect("store");
        let err = import_dir(&mut store, Chain::Ethereum, &export).expect_err("bad value");
        let msg = err.to_string();
        assert!(msg.contains("token_transfers.csv:4: column 'value'"), "{msg}");
        assert_eq!(store.transfer_count(None).expect("count"), 0);
        assert_eq!(store.checkpoint(STAGE, Chain::Ethereum).expect("cp"), None);
    }

    #[test]
    fn real_traces_keep_calls_creates_and_suicides_only() {
        let Some(fixtures) = fixtures() else { return };
        // Real trace exports; the transactions are made up (the fixtures have none for these blocks),
        // each successful, from 0x01..., so the trace rules alone decide what comes out.
        let mut all = Vec::new();
        for case in [
            "block_with_subtraces",
            "block_with_suicide",
            "block_with_error",
            "block_with_create",
        ] {
            let path = fixtures
                .join("test_export_traces_job")
                .join(case)
                .join("expected_traces.csv");
            let text = std::fs::read_to_string(&path).expect("read traces");
            let mut hashes: Vec<String> = text
                .lines()
                .skip(1)
                .filter_map(|l| l.split(',').nth(1).map(str::to_string))
                .filter(|h| !h.is_empty())
                .collect();
            hashes.dedup();
            let block = text
                .lines()
                .nth(1)
                .and_then(|l| l.split(',').next())
                .expect("a row")
                .to_string();
            let mut txs = String::from(
                "hash,block_number,block_timestamp,from_address,to_address,value,gas_price,receipt_status,receipt_gas_used\n",
            );
            for h in &hashes {
                txs.push_str(&format!(
                    "{h},{block},1000,0x0101010101010101010101010101010101010101,,0,1,1,1\n"
                ));
            }
            let inputs = EtlInputs {
                transactions: Some(CsvInput {
                    name: "transactions.csv".into(),
                    reader: txs.as_bytes(),
                }),
                traces: Some(CsvInput {
                    name: "traces.csv".into(),
                    reader: text.as_bytes(),
                }),
                ..EtlInputs::default()
            };
            let data = parse(Chain::Ethereum, inputs).expect("parses");
            for t in data.transfers {
                all.push((
                    case,
                    t.position.to_string(),
                    t.from.to_hex(),
                    t.to.to_hex(),
                    t.amount.to_string(),
                ));
            }
        }
        assert_eq!(
            all,
            vec![(
                "block_with_suicide",
                "trace:0".to_string(),
                "0x474faa5018639791952fae334e2911700ac7fe9b".to_string(),
                "0x83973747eec131bf9a08ac64fb1a518e891bdf4b".to_string(),
                "50000000000000000".to_string()
            )],
            "subtraces: the only child is a callcode; error and create blocks have top-level frames only"
        );
    }

    #[test]
    fn timestamps_parse_unix_and_utc_dates() {
        assert_eq!(parse_timestamp("1438936285"), Some(1_438_936_285));
        assert_eq!(parse_timestamp("2015-08-07 08:31:25 UTC"), Some(1_438_936_285));
        assert_eq!(parse_timestamp("2015-08-07T08:31:25Z"), Some(1_438_936_285));
        assert_eq!(
            parse_timestamp("2015-08-07T08:31:25.000+00:00"),
            Some(1_438_936_285)
        );
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0));
        assert_eq!(parse_timestamp("2024-02-29 00:00:00"), Some(1_709_164_800));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2015-13-07 08:31:25"), None);
    }

    #[test]
    fn receipts_join_in_any_order_and_are_all_checked() {
        let ordered = EtlInputs {
            blocks: blocks(),
            transactions: txs(),
            receipts: receipts(),
            ..EtlInputs::default()
        };
        let want = parse(Chain::Ethereum, ordered).expect("ordered receipts");
        assert_eq!(want.transfers.len(), 2);
        // Reversed: every receipt but the last is read ahead of its transaction.
        let reversed = EtlInputs {
            blocks: blocks(),
            transactions: txs(),
            receipts: receipts_with(&format!("{H3},30000,,0,8\n{H2},50000,{C},1,\n{H1},21000,,1,8\n")),
            ..EtlInputs::default()
        };
        assert_eq!(parse(Chain::Ethereum, reversed).expect("reversed receipts"), want);
        // A bad row after the last transaction's receipt still fails the import.
        let trailing_bad = EtlInputs {
            blocks: blocks(),
            transactions: txs(),
            receipts: receipts_with(&format!(
                "{H1},21000,,1,8\n{H2},50000,{C},1,\n{H3},30000,,0,8\n0x12,1,,1,1\n"
            )),
            ..EtlInputs::default()
        };
        let err = parse(Chain::Ethereum, trailing_bad).expect_err("bad trailing receipt");
        assert!(err.to_string().contains("receipts.csv:5"), "{err}");
        // A transaction without a receipt is refused.
        let missing = EtlInputs {
            blocks: blocks(),
            transactions: txs(),
            receipts: receipts_with(&format!("{H1},21000,,1,8\n{H3},30000,,0,8\n")),
            ..EtlInputs::default()
        };
        let err = parse(Chain::Ethereum, missing).expect_err("missing receipt");
        assert!(
            err.to_string()
                .contains("no row for this transaction in receipts.csv"),
            "{err}"
        );
    }

    /// Value of each ASCII hex digit; `0xff` for any other byte. `upper` also accepts `A`-`F`.
    const fn hex_table(upper: bool) -> [u8; 256] {
        let mut t = [0xffu8; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'a' as usize + i] = 10 + i as u8;
            if upper {
                t[b'A' as usize + i] = 10 + i as u8;
            }
            i += 1;
        }
        t
    }

    /// The table decoder `hex_fixed` replaced, as the reference.
    fn hex_fixed_by_table<const N: usize, const UPPER: bool>(s: &[u8]) -> Option<[u8; N]> {
        let digits = s.strip_prefix(b"0x")?;
        if digits.len() != 2 * N {
            return None;
        }
        let table = hex_table(UPPER);
        let mut out = [0u8; N];
        let mut bad = 0u8;
        for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let (hi, lo) = (table[usize::from(pair[0])], table[usize::from(pair[1])]);
            bad |= hi | lo;
            *o = (hi << 4) | (lo & 0x0f);
        }
        (bad & 0xf0 == 0).then_some(out)
    }

    #[test]
    fn hex_decoding_agrees_with_a_table_for_every_byte_at_every_place() {
        let base = b"0x0123456789abcdefABCDEF00ffeeddccbbaa9988";
        assert_eq!(base.len(), 42);
        assert_eq!(hex_fixed::<20, true>(base), hex_fixed_by_table::<20, true>(base));
        assert!(hex_fixed::<20, true>(base).is_some());
        assert_eq!(hex_fixed::<20, false>(base), None);
        for place in 2..base.len() {
            for byte in 0..=255u8 {
                let mut s = *base;
                s[place] = byte;
                assert_eq!(
                    hex_fixed::<20, true>(&s),
                    hex_fixed_by_table::<20, true>(&s),
                    "{place} {byte}"
                );
                let mut lower = s.to_ascii_lowercase();
                lower[place] = byte;
                assert_eq!(
                    hex_fixed::<20, false>(&lower),
                    hex_fixed_by_table::<20, false>(&lower),
                    "{place} {byte}"
                );
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let mut h = [0u8; 66];
            h[..2].copy_from_slice(b"0x");
            for d in &mut h[2..] {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *d = b"0123456789abcdefABCDEF"[(x % 22) as usize];
            }
            assert_eq!(hex_fixed::<32, true>(&h), hex_fixed_by_table::<32, true>(&h));
            assert_eq!(hex_fixed::<32, false>(&h), hex_fixed_by_table::<32, false>(&h));
        }
    }

    #[test]
    fn fast_parsers_agree_with_the_general_ones() {
        for s in [
            "0",
            "7",
            "9999999999999999999",
            "10000000000000000000",
            "18446744073709551616",
            "64655529900000002048",
            "99999999999999999999999999999999999999",
        ] {
            assert_eq!(
                parse_small_decimal(s.as_bytes()),
                U256::from_str_radix(s, 10).ok(),
                "{s}"
            );
        }
        for s in [
            "",
            "-1",
            "1e18",
            "0x10",
            " 1",
            "100000000000000000000000000000000000000",
        ] {
            assert_eq!(parse_small_decimal(s.as_bytes()), None, "{s}");
        }
        assert_eq!(parse_u64_bytes(b"17000000"), Some(17_000_000));
        assert_eq!(parse_u64_bytes(b"12a"), None);
        let lower = A.as_bytes();
        assert_eq!(
            hex_fixed::<20, false>(lower).map(Address),
            Some(Address::parse(A).expect("test address"))
        );
        // Uppercase digits go to Address::parse (EIP-55 checksum); hashes accept both cases.
        let upper = "0xAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(hex_fixed::<20, false>(upper.as_bytes()), None);
        assert_eq!(hex_fixed::<20, true>(upper.as_bytes()), Some([0xaa; 20]));
        assert_eq!(
            hex_fixed::<32, true>(H1.as_bytes()).map(TxHash),
            Some(TxHash::parse(H1).expect("test hash"))
        );
        for bad in [
            "0x11",
            "1111111111111111111111111111111111111111111111111111111111111111",
            "0xg1",
        ] {
            assert_eq!(hex_fixed::<32, true>(bad.as_bytes()), None, "{bad}");
        }
        let mut h = H1.as_bytes().to_vec();
        h[10] = b'g';
        assert_eq!(hex_fixed::<32, true>(&h), None);
    }

    #[test]
    fn tx_table_answers_like_a_hash_map_in_any_order() {
        let facts = |n: u8| TxFacts {
            from: Address([n; 20]),
            tx_fee: U256::from(n),
            gas_price: U256::from(n),
            is_success: Some(true),
        };
        let hash = |n: u8| TxHash([n; 32]);
        // (block, tx) in file order: ascending blocks, then a table whose blocks go back.
        for order in [
            vec![(1u64, 1u8), (1, 2), (2, 3), (4, 4), (4, 5), (4, 6)],
            vec![(4, 4), (1, 1), (4, 5), (2, 3), (1, 2), (4, 6)],
        ] {
            let mut t = TxTable::new();
            for &(b, n) in &order {
                t.push(b, hash(n), facts(n));
            }
            let mut c = TxCursor::default();
            // Right blocks in order, backwards within a block, wrong or unknown blocks, missing hashes.
            let asks = [
                (Some(1), 1, true),
                (Some(1), 2, true),
                (Some(1), 1, true),
                (Some(4), 6, true),
                (Some(4), 4, true),
                (Some(2), 5, true),
                (Some(3), 2, true),
                (None, 3, true),
                (Some(4), 9, false),
                (None, 9, false),
            ];
            for (block, n, present) in asks {
                let got = t.get(&mut c, block, &hash(n)).map(|f| f.from);
                assert_eq!(
                    got,
                    present.then_some(Address([n; 20])),
                    "{order:?} {block:?} {n}"
                );
            }
        }
    }

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(parse_u256("0"), Some(U256::ZERO));
        assert_eq!(
            parse_u256("64655529900000002048"),
            Some(U256::from(64_655_529_900_000_002_048u128))
        );
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        assert_eq!(parse_u256(max), Some(U256::MAX));
        assert_eq!(parse_u256("1e18"), None);
        assert_eq!(parse_u256("-1"), None);
        assert_eq!(parse_u256(""), None);
        assert_eq!(parse_u256("0x10"), Some(U256::from(16u8)));
    }

    /// A reader that hands out at most `step` bytes per call, so refills land everywhere in a row.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn table_splits_rows_like_the_csv_crate() {
        // Pseudo-random well-formed CSV (fields as the csv crate reads them, line numbers counted
        // here): plain fields of 0-150 bytes (so rows cross the 64-byte scan
        // blocks at every offset), quoted fields holding commas, doubled quotes and newlines, `\r\n`
        // and `\n` endings, blank lines, with and without a final newline.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for case in 0..40 {
            let width = 1 + next(20) as usize;
            let mut text = String::new();
            // The line each record starts on (blank lines are counted, as in error messages).
            let mut lines = Vec::new();
            for _ in 0..(1 + next(60)) {
                if next(10) == 0 {
                    text.push_str(if next(2) == 0 { "\n" } else { "\r\n" });
                }
                lines.push(1 + text.bytes().filter(|&b| b == b'\n').count() as u64);
                for f in 0..width {
                    if f > 0 {
                        text.push(',');
                    }
                    match next(12) {
                        0 => text.push_str("\"a,b \"\"q\"\"\nnext line\""),
                        1 => text.push_str("\"\""),
                        _ => {
                            // (A lone empty field would be a blank line, which is skipped.)
                            let len = next(150) as usize + usize::from(width == 1);
                            text.extend((0..len).map(|i| char::from(b'a' + ((i * 7 + f) % 26) as u8)));
                        }
                    }
                }
                text.push_str(if next(3) == 0 { "\r\n" } else { "\n" });
            }
            if case % 2 == 1 {
                text.pop();
                if text.ends_with('\r') {
                    text.pop();
                }
            }
            let mut want = Vec::new();
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(text.as_bytes());
            for (record, &line) in reader.byte_records().zip(&lines) {
                let record = record.expect("well-formed csv");
                want.push((line, record.iter().map(<[u8]>::to_vec).collect::<Vec<_>>()));
            }
            assert_eq!(want.len(), lines.len());
            for step in [1, 7, 64, 1 << 20] {
                let reader = Trickle {
                    data: text.as_bytes(),
                    step,
                };
                let mut t = Table::new("t.csv".into(), reader, 256);
                let mut got = Vec::new();
                while let Some(line) = t.read_record().expect("well-formed csv") {
                    got.push((
                        line,
                        (0..t.bounds.len())
                            .map(|i| t.field(i).to_vec())
                            .collect::<Vec<_>>(),
                    ));
                }
                let show = |r: Option<&(u64, Vec<Vec<u8>>)>| {
                    r.map(|(line, fields)| {
                        let fields: Vec<_> = fields.iter().map(|f| String::from_utf8_lossy(f)).collect();
                        format!("line {line}: {fields:?}")
                    })
                };
                if let Some(i) = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i)) {
                    panic!(
                        "case {case}, reads of {step} bytes, record {i}:\n got {:?}\nwant {:?}",
                        show(got.get(i)),
                        show(want.get(i))
                    );
                }
            }
        }
    }
}

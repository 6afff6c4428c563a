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
//! [`parse`] is pure (readers in, rows out); [`import_dir`] reads a directory and writes everything in
//! one store transaction with the `"etl"` checkpoint, so a bad row anywhere leaves the store untouched.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chaintrace_core::{Address, Asset, BlockRecord, Chain, Position, Transfer, TransferKind, TxHash, U256};
use chaintrace_store::{Batch, Checkpoint, StoreError, TransferReader, TransferWriter, WriteStats};
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
    /// Every transfer, in file order: native, then token, then internal.
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
    /// Time spent reading and decoding.
    pub parse_time: Duration,
    /// Time spent writing.
    pub write_time: Duration,
}

/// Reads whichever export files exist in `dir`, decodes them and writes them to `store` in one
/// transaction, advancing the `"etl"` checkpoint of `chain` to the highest block imported (never
/// lowering it).
pub fn import_dir<S: TransferWriter + TransferReader>(
    store: &mut S,
    chain: Chain,
    dir: &Path,
) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    let (inputs, files) = open_dir(dir)?;
    let data = parse(chain, inputs)?;
    let parse_time = started.elapsed();
    let started = Instant::now();
    let previous = store.checkpoint(STAGE, chain)?;
    let checkpoint = match (previous, data.max_block()) {
        (Some(p), Some(m)) => Some(p.max(m)),
        (p, m) => p.or(m),
    };
    let cp = checkpoint.map(|block| Checkpoint {
        stage: STAGE.to_string(),
        chain,
        block,
    });
    let stats = store.write_batch(Batch {
        blocks: &data.blocks,
        transfers: &data.transfers,
        logs: &[],
        checkpoint: cp.as_ref(),
    })?;
    Ok(ImportReport {
        files,
        blocks: data.blocks.len() as u64,
        stats,
        checkpoint,
        notes: data.notes,
        parse_time,
        write_time: started.elapsed(),
    })
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
            reader: std::io::BufReader::with_capacity(1 << 20, file),
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
    is_success: bool,
}

/// A trace row that moves value, kept until the transactions are known.
struct TraceCandidate {
    line: u64,
    block: u64,
    tx_hash: TxHash,
    trace_address: Vec<u32>,
    from: Address,
    to: Address,
    value: U256,
}

/// Decodes an export. Pure: reads only from the given readers.
pub fn parse<R: Read>(chain: Chain, inputs: EtlInputs<R>) -> Result<EtlData, ImportError> {
    let mut data = EtlData::default();
    let mut timestamps: FastMap<u64, u64> = FastMap::default();

    if let Some(input) = inputs.blocks {
        let mut t = Table::open(input, &["number", "hash", "parent_hash", "timestamp"])?;
        while let Some(row) = t.next_row()? {
            let number = row.u64("number")?;
            let timestamp = row.timestamp("timestamp")?;
            data.blocks.push(BlockRecord {
                chain,
                number,
                hash: row.h256("hash")?,
                parent_hash: row.h256("parent_hash")?,
                timestamp,
            });
            timestamps.insert(number, timestamp);
        }
    }

    let mut receipts: FastMap<TxHash, Receipt> = FastMap::default();
    let has_receipts_file = inputs.receipts.is_some();
    if let Some(input) = inputs.receipts {
        let mut t = Table::open(input, &["transaction_hash", "gas_used", "status"])?;
        while let Some(row) = t.next_row()? {
            let hash = row.tx_hash("transaction_hash")?;
            let r = Receipt {
                status: row.status("status")?,
                gas_used: row.u256("gas_used")?,
                effective_gas_price: row.opt_u256("effective_gas_price")?,
                contract_address: row.opt_address("contract_address")?,
            };
            receipts.insert(hash, r);
        }
    }

    // Traces before transactions: pre-Byzantium success comes from the top-level trace.
    let mut candidates: Vec<TraceCandidate> = Vec::new();
    let mut top_level_failed: FastMap<TxHash, bool> = FastMap::default();
    let mut traces_name = None;
    if let Some(input) = inputs.traces {
        traces_name = Some(input.name.clone());
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
        while let Some(row) = t.next_row()? {
            let trace_type = row.str("trace_type")?;
            if trace_type == "reward" || trace_type == "genesis" || trace_type == "daofork" {
                continue;
            }
            let trace_address = row.trace_address("trace_address")?;
            let is_failed = match row.opt_str("status") {
                Some("1") => false,
                Some("0") => true,
                Some("") | None => row.opt_str("error").is_some_and(|e| !e.is_empty()),
                Some(other) => return Err(row.bad("status", other, "expected 0, 1 or empty")),
            };
            if trace_address.is_empty() {
                if !row.str("transaction_hash")?.is_empty() {
                    top_level_failed.insert(row.tx_hash("transaction_hash")?, is_failed);
                }
                continue;
            }
            let moves_value = match trace_type {
                "call" => row
                    .opt_str("call_type")
                    .is_none_or(|c| c == "call" || c.is_empty()),
                "create" | "create2" | "suicide" | "selfdestruct" => true,
                _ => false,
            };
            if !moves_value || is_failed {
                continue;
            }
            let value = row.u256_or_zero("value")?;
            if value.is_zero() {
                continue;
            }
            let block = row.u64("block_number")?;
            if let Some(ts) = row.opt_timestamp("block_timestamp")? {
                timestamps.insert(block, ts);
            }
            candidates.push(TraceCandidate {
                line: row.line,
                block,
                tx_hash: row.tx_hash("transaction_hash")?,
                trace_address,
                from: row.address("from_address")?,
                to: row.address("to_address")?,
                value,
            });
        }
    }

    let mut txs: FastMap<TxHash, TxFacts> = FastMap::default();
    let mut natives: Vec<(u64, Transfer)> = Vec::new();
    let has_transactions = inputs.transactions.is_some();
    let mut transactions_name = String::new();
    if let Some(input) = inputs.transactions {
        transactions_name = input.name.clone();
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
        let inline_receipts = t.has("receipt_status") && t.has("receipt_gas_used");
        if !has_receipts_file {
            if !inline_receipts {
                return Err(ImportError::Incomplete {
                    dir: t.name.clone(),
                    reason: "no receipts.csv and no receipt_status/receipt_gas_used columns: failed \
                             transactions and fees cannot be told"
                        .into(),
                });
            }
            data.notes.push(
                "no receipts.csv: status, gas used, fee and created contract taken from the receipt_* columns \
                 of transactions.csv"
                    .into(),
            );
        }
        while let Some(row) = t.next_row()? {
            let hash = row.tx_hash("hash")?;
            let block = row.u64("block_number")?;
            if let Some(ts) = row.opt_timestamp("block_timestamp")? {
                timestamps.insert(block, ts);
            }
            let receipt = if has_receipts_file {
                match receipts.get(&hash) {
                    Some(r) => r.clone(),
                    None => {
                        return Err(row.bad(
                            "hash",
                            &hash.to_hex(),
                            "no row for this transaction in receipts.csv",
                        ));
                    }
                }
            } else {
                Receipt {
                    status: row.status("receipt_status")?,
                    gas_used: row.u256("receipt_gas_used")?,
                    effective_gas_price: row.opt_u256("receipt_effective_gas_price")?,
                    contract_address: row.opt_address("receipt_contract_address")?,
                }
            };
            let is_success = match receipt.status {
                Some(s) => s,
                None => !top_level_failed.get(&hash).copied().unwrap_or(false),
            };
            let gas_price = match receipt.effective_gas_price {
                Some(p) => p,
                None => row.u256("gas_price")?,
            };
            let tx_fee = receipt.gas_used.checked_mul(gas_price).ok_or_else(|| {
                row.bad(
                    "gas_price",
                    &gas_price.to_string(),
                    "gas used * gas price overflows",
                )
            })?;
            let from = row.address("from_address")?;
            txs.insert(
                hash,
                TxFacts {
                    from,
                    tx_fee,
                    gas_price,
                    is_success,
                },
            );
            if !is_success {
                continue;
            }
            let value = row.u256("value")?;
            if value.is_zero() {
                continue;
            }
            let to = match row.opt_address("to_address")?.or(receipt.contract_address) {
                Some(a) => a,
                None => {
                    return Err(row.bad(
                        "to_address",
                        "",
                        "value transfer with no to_address and no created contract",
                    ));
                }
            };
            let transfer = Transfer {
                chain,
                block,
                timestamp: 0,
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
            natives.push((row.line, transfer));
        }
    }
    data.transfers.reserve(natives.len() + candidates.len());
    for (line, mut t) in natives {
        t.timestamp = block_time(&timestamps, &transactions_name, line, t.block)?;
        data.transfers.push(t);
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
        while let Some(row) = t.next_row()? {
            let tx_hash = row.tx_hash("transaction_hash")?;
            let Some(tx) = txs.get(&tx_hash) else {
                return Err(row.bad(
                    "transaction_hash",
                    &tx_hash.to_hex(),
                    "transaction not in transactions.csv",
                ));
            };
            if !tx.is_success {
                continue;
            }
            let block = row.u64("block_number")?;
            let timestamp = match row.opt_timestamp("block_timestamp")? {
                Some(ts) => ts,
                None => block_time(&timestamps, row.file, row.line, block)?,
            };
            let log_index = row.u64("log_index")?;
            let log_index = u32::try_from(log_index)
                .map_err(|_| row.bad("log_index", &log_index.to_string(), "too large"))?;
            data.transfers.push(Transfer {
                chain,
                block,
                timestamp,
                tx_hash,
                position: Position::Log(log_index),
                from: row.address("from_address")?,
                to: row.address("to_address")?,
                asset: Asset::Token(row.address("token_address")?),
                amount: row.u256("value")?,
                kind: TransferKind::Token,
                tx_from: tx.from,
                tx_fee: tx.tx_fee,
                gas_price: tx.gas_price,
            });
        }
    }

    let traces_name = traces_name.unwrap_or_default();
    if !candidates.is_empty() && !has_transactions {
        return Err(ImportError::Incomplete {
            dir: traces_name,
            reason: "internal transfers need transactions.csv (tx_from, fee, success) in the same directory"
                .into(),
        });
    }
    for c in candidates {
        let Some(tx) = txs.get(&c.tx_hash) else {
            return Err(ImportError::BadValue {
                file: traces_name,
                line: c.line,
                column: "transaction_hash",
                value: c.tx_hash.to_hex(),
                reason: "transaction not in transactions.csv".into(),
            });
        };
        if !tx.is_success {
            continue;
        }
        data.transfers.push(Transfer {
            chain,
            block: c.block,
            timestamp: block_time(&timestamps, &traces_name, c.line, c.block)?,
            tx_hash: c.tx_hash,
            position: Position::Trace(c.trace_address),
            from: c.from,
            to: c.to,
            asset: Asset::Native,
            amount: c.value,
            kind: TransferKind::Internal,
            tx_from: tx.from,
            tx_fee: tx.tx_fee,
            gas_price: tx.gas_price,
        });
    }
    Ok(data)
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

/// A CSV file with named columns, read row by row (shared with [`crate::csv_transfers`]).
pub(crate) struct Table<R> {
    pub(crate) name: String,
    reader: csv::Reader<R>,
    columns: FastMap<String, usize>,
    record: csv::ByteRecord,
}

impl<R: Read> Table<R> {
    /// Opens `input` and checks that every `required` column is in the header.
    pub(crate) fn open(input: CsvInput<R>, required: &[&'static str]) -> Result<Table<R>, ImportError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(input.reader);
        let headers = reader
            .byte_headers()
            .map_err(|source| ImportError::Csv {
                file: input.name.clone(),
                line: 1,
                source,
            })?
            .clone();
        let mut columns = FastMap::default();
        for (i, h) in headers.iter().enumerate() {
            let name = String::from_utf8_lossy(h)
                .trim()
                .trim_start_matches('\u{feff}')
                .to_ascii_lowercase();
            columns.entry(name).or_insert(i);
        }
        for &column in required {
            if !columns.contains_key(column) {
                return Err(ImportError::MissingColumn {
                    file: input.name,
                    column,
                });
            }
        }
        Ok(Table {
            name: input.name,
            reader,
            columns,
            record: csv::ByteRecord::new(),
        })
    }

    /// Whether the header has `column`.
    pub(crate) fn has(&self, column: &str) -> bool {
        self.columns.contains_key(column)
    }

    /// The next data row, or `None` at the end.
    pub(crate) fn next_row(&mut self) -> Result<Option<RowRef<'_>>, ImportError> {
        let more = self.reader.read_byte_record(&mut self.record).map_err(|source| {
            let line = source.position().map_or(0, |p| p.line());
            ImportError::Csv {
                file: self.name.clone(),
                line,
                source,
            }
        })?;
        if !more {
            return Ok(None);
        }
        let line = self.record.position().map_or(0, |p| p.line());
        Ok(Some(RowRef {
            file: &self.name,
            line,
            columns: &self.columns,
            record: &self.record,
        }))
    }
}

/// One data row with typed, error-reporting accessors.
pub(crate) struct RowRef<'a> {
    pub(crate) file: &'a str,
    pub(crate) line: u64,
    columns: &'a FastMap<String, usize>,
    record: &'a csv::ByteRecord,
}

impl RowRef<'_> {
    pub(crate) fn bad(&self, column: &'static str, value: &str, reason: &str) -> ImportError {
        ImportError::BadValue {
            file: self.file.to_string(),
            line: self.line,
            column,
            value: value.chars().take(100).collect(),
            reason: reason.to_string(),
        }
    }

    /// The trimmed text of `column`, or `None` if the header lacks it.
    pub(crate) fn opt_str(&self, column: &str) -> Option<&str> {
        let i = *self.columns.get(column)?;
        let raw = self.record.get(i).unwrap_or(b"");
        Some(std::str::from_utf8(raw).unwrap_or("\u{fffd}").trim())
    }

    /// The trimmed text of a column the header is known to have.
    pub(crate) fn str(&self, column: &'static str) -> Result<&str, ImportError> {
        self.opt_str(column)
            .ok_or_else(|| self.bad(column, "", "column missing"))
    }

    pub(crate) fn u64(&self, column: &'static str) -> Result<u64, ImportError> {
        let s = self.str(column)?;
        s.parse::<u64>()
            .map_err(|_| self.bad(column, s, "expected a non-negative integer"))
    }

    pub(crate) fn u256(&self, column: &'static str) -> Result<U256, ImportError> {
        let s = self.str(column)?;
        parse_u256(s).ok_or_else(|| self.bad(column, s, "expected a non-negative integer below 2^256"))
    }

    fn u256_or_zero(&self, column: &'static str) -> Result<U256, ImportError> {
        match self.opt_str(column) {
            None | Some("") => Ok(U256::ZERO),
            Some(_) => self.u256(column),
        }
    }

    fn opt_u256(&self, column: &'static str) -> Result<Option<U256>, ImportError> {
        match self.opt_str(column) {
            None | Some("") => Ok(None),
            Some(_) => self.u256(column).map(Some),
        }
    }

    pub(crate) fn address(&self, column: &'static str) -> Result<Address, ImportError> {
        let s = self.str(column)?;
        Address::parse(s).map_err(|e| self.bad(column, s, &e.to_string()))
    }

    pub(crate) fn opt_address(&self, column: &'static str) -> Result<Option<Address>, ImportError> {
        match self.opt_str(column) {
            None | Some("") => Ok(None),
            Some(_) => self.address(column).map(Some),
        }
    }

    pub(crate) fn tx_hash(&self, column: &'static str) -> Result<TxHash, ImportError> {
        let s = self.str(column)?;
        TxHash::parse(s).map_err(|_| self.bad(column, s, "expected 0x followed by 64 hex digits"))
    }

    fn h256(&self, column: &'static str) -> Result<[u8; 32], ImportError> {
        self.tx_hash(column).map(|h| h.0)
    }

    /// Receipt status: `1` success, `0` failure, empty = unknown (pre-Byzantium).
    fn status(&self, column: &'static str) -> Result<Option<bool>, ImportError> {
        match self.str(column)? {
            "" => Ok(None),
            "1" | "1.0" | "true" => Ok(Some(true)),
            "0" | "0.0" | "false" => Ok(Some(false)),
            other => Err(self.bad(column, other, "expected 0, 1 or empty")),
        }
    }

    /// `trace_address`: comma-separated child indices (`0,1`), empty for the top-level call.
    fn trace_address(&self, column: &'static str) -> Result<Vec<u32>, ImportError> {
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

    pub(crate) fn timestamp(&self, column: &'static str) -> Result<u64, ImportError> {
        let s = self.str(column)?;
        parse_timestamp(s)
            .ok_or_else(|| self.bad(column, s, "expected unix seconds or YYYY-MM-DD HH:MM:SS (UTC)"))
    }

    fn opt_timestamp(&self, column: &'static str) -> Result<Option<u64>, ImportError> {
        match self.opt_str(column) {
            None | Some("") => Ok(None),
            Some(_) => self.timestamp(column).map(Some),
        }
    }
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
        input(
            "receipts.csv",
            &format!(
                "transaction_hash,gas_used,contract_address,status,effective_gas_price\n\
                 {H1},21000,,1,8\n{H2},50000,{C},1,\n{H3},30000,,0,8\n"
            ),
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
            receipts: input(
                "receipts.csv",
                &format!(
                    "transaction_hash,gas_used,contract_address,status,effective_gas_price\n\
                     {H1},21000,,,8\n{H2},50000,{C},,\n{H3},30000,,,8\n"
                ),
            ),
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
}

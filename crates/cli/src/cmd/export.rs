//! `chaintrace export --format parquet|csv --out DIR`: the transfer table for other tools.
//!
//! Columns as in `transfers --format csv` ([`super::transfers::COLUMNS`]): the JSON contract's fields plus
//! position, tx_from, tx_fee and gas_price. Amounts, fees and gas prices are decimal strings (Utf8 in
//! Parquet) because they are 256-bit. Rows are streamed from the store in chunks; the file is written
//! under a temporary name and renamed at the end, so a failed export leaves no partial file.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use arrow::array::{ArrayRef, StringBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chaintrace_core::{Chain, Transfer};
use chaintrace_store::{Store, StoreError, TransferReader};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::transfers::{COLUMNS, csv_row};
use crate::opts::GlobalOpts;

/// Export file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    /// Apache Parquet (snappy), `transfers.parquet`.
    Parquet,
    /// CSV with a header row, `transfers.csv`.
    Csv,
}

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// File format.
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// Directory to write transfers.parquet / transfers.csv into (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Only this chain (name or chain id); default all chains.
    #[arg(long, value_name = "CHAIN")]
    chain: Option<Chain>,
}

/// Rows per Parquet record batch.
const CHUNK: usize = 64 * 1024;

pub(crate) fn run(global: &GlobalOpts, args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = global.data_dir()?;
    let store =
        crate::opts::open_store_read(&dir).with_context(|| format!("opening store in {}", dir.display()))?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let name = match args.format {
        ExportFormat::Parquet => "transfers.parquet",
        ExportFormat::Csv => "transfers.csv",
    };
    let target = args.out.join(name);
    let tmp = args.out.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = match args.format {
        ExportFormat::Parquet => write_parquet(&store, args.chain, &tmp),
        ExportFormat::Csv => write_csv(&store, args.chain, &tmp),
    };
    let rows = match result {
        Ok(rows) => rows,
        Err(e) => {
            // Best effort: the temporary file is ours and incomplete.
            let _ = std::fs::remove_file(&tmp);
            return Err(e.context(format!("exporting to {}", target.display())));
        }
    };
    if let Err(e) = std::fs::rename(&tmp, &target) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("renaming {} to {}", tmp.display(), target.display()));
    }
    eprintln!(
        "exported {rows} transfers to {} in {:.2}s",
        target.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn write_csv(store: &Store, chain: Option<Chain>, path: &Path) -> anyhow::Result<u64> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file));
    w.write_record(COLUMNS)?;
    let mut rows = 0u64;
    store.for_each_transfer(chain, &mut |t| {
        w.write_record(csv_row(&t))
            .map_err(|e| StoreError::Callback(format!("writing csv: {e}")))?;
        rows += 1;
        Ok(())
    })?;
    let buf = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("flushing csv: {}", e.error()))?;
    let file = buf
        .into_inner()
        .map_err(|e| anyhow::anyhow!("flushing csv: {}", e.error()))?;
    file.sync_all()?;
    Ok(rows)
}

fn schema() -> SchemaRef {
    let fields: Vec<Field> = COLUMNS
        .iter()
        .map(|&c| {
            let ty = if c == "block" || c == "timestamp" {
                DataType::UInt64
            } else {
                DataType::Utf8
            };
            Field::new(c, ty, false)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Column builders of one record batch.
struct Chunk {
    block: UInt64Builder,
    timestamp: UInt64Builder,
    text: Vec<StringBuilder>,
    len: usize,
}

impl Chunk {
    fn new() -> Chunk {
        Chunk {
            block: UInt64Builder::with_capacity(CHUNK),
            timestamp: UInt64Builder::with_capacity(CHUNK),
            text: (0..COLUMNS.len() - 2)
                .map(|_| StringBuilder::with_capacity(CHUNK, CHUNK * 24))
                .collect(),
            len: 0,
        }
    }

    fn push(&mut self, t: &Transfer) {
        let row = csv_row(t);
        let mut text = self.text.iter_mut();
        for (i, cell) in row.iter().enumerate() {
            match COLUMNS[i] {
                "block" => self.block.append_value(t.block),
                "timestamp" => self.timestamp.append_value(t.timestamp),
                _ => text
                    .next()
                    .expect("one builder per text column")
                    .append_value(cell),
            }
        }
        self.len += 1;
    }

    fn finish(&mut self, schema: &SchemaRef) -> anyhow::Result<RecordBatch> {
        let mut text = self.text.iter_mut();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len());
        for c in COLUMNS {
            let array: ArrayRef = match c {
                "block" => Arc::new(self.block.finish()),
                "timestamp" => Arc::new(self.timestamp.finish()),
                _ => Arc::new(text.next().expect("one builder per text column").finish()),
            };
            columns.push(array);
        }
        self.len = 0;
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}

fn write_parquet(store: &Store, chain: Option<Chain>, path: &Path) -> anyhow::Result<u64> {
    let schema = schema();
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    let mut chunk = Chunk::new();
    let mut rows = 0u64;
    store.for_each_transfer(chain, &mut |t| {
        chunk.push(&t);
        rows += 1;
        if chunk.len >= CHUNK {
            let batch = chunk
                .finish(&schema)
                .map_err(|e| StoreError::Callback(format!("building batch: {e}")))?;
            writer
                .write(&batch)
                .map_err(|e| StoreError::Callback(format!("writing parquet: {e}")))?;
        }
        Ok(())
    })?;
    if chunk.len > 0 {
        let batch = chunk.finish(&schema)?;
        writer.write(&batch)?;
    }
    let file = writer.into_inner()?;
    file.sync_all()?;
    Ok(rows)
}

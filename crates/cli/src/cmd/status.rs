//! `chaintrace status`: per-chain block coverage, gaps, transfer counts and ingest checkpoints.
//!
//! JSON: `{"schema_version": 1, "store": PATH, "exists": bool, "chains": [{"chain", "transfers",
//! "ranges": [[lo, hi]], "gaps": [[lo, hi]], "transfer_blocks": [lo, hi] | null,
//! "checkpoints": {"stage": block}}]}`.

use std::io::Write;

use anyhow::Context;
use chaintrace_store::{DB_FILE, StoreError, TransferReader};
use serde_json::json;

use crate::opts::{Format, GlobalOpts};

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Output format (table or json).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Ranges listed in the table before "(+N more)".
const SHOWN_RANGES: usize = 4;

pub(crate) fn run(global: &GlobalOpts, args: Args) -> anyhow::Result<()> {
    if args.format == Format::Csv {
        anyhow::bail!("status prints table or json, not csv");
    }
    let dir = global.data_dir()?;
    let path = dir.join(DB_FILE);
    let store = match crate::opts::open_store_read(&dir) {
        Ok(s) => Some(s),
        Err(StoreError::Missing { .. }) => None,
        Err(e) => return Err(e).with_context(|| format!("opening store in {}", dir.display())),
    };
    let mut chains = Vec::new();
    if let Some(store) = &store {
        for cov in store.coverage().context("reading coverage")? {
            let span = store
                .transfer_block_span(cov.chain)
                .context("reading transfer blocks")?;
            chains.push((cov, span));
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.format == Format::Json {
        let rows: Vec<serde_json::Value> = chains
            .iter()
            .map(|(c, span)| {
                let checkpoints: serde_json::Map<String, serde_json::Value> = c
                    .checkpoints
                    .iter()
                    .map(|k| (k.stage.clone(), json!(k.block)))
                    .collect();
                json!({
                    "chain": c.chain.name(),
                    "transfers": c.transfers,
                    "ranges": c.ranges,
                    "gaps": c.gaps,
                    "transfer_blocks": span,
                    "checkpoints": checkpoints,
                })
            })
            .collect();
        let doc = json!({
            "schema_version": 1,
            "store": path.display().to_string(),
            "exists": store.is_some(),
            "chains": rows,
        });
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
        return Ok(out.flush()?);
    }
    if store.is_none() {
        writeln!(
            out,
            "store: {} (not created yet; import or ingest something)",
            path.display()
        )?;
        return Ok(out.flush()?);
    }
    writeln!(out, "store: {}", path.display())?;
    if chains.is_empty() {
        writeln!(out, "empty")?;
        return Ok(out.flush()?);
    }
    let header = [
        "chain",
        "transfers",
        "transfer blocks",
        "blocks held",
        "gaps",
        "checkpoints",
    ];
    let rows: Vec<[String; 6]> = chains
        .iter()
        .map(|(c, span)| {
            let checkpoints: Vec<String> = c
                .checkpoints
                .iter()
                .map(|k| format!("{}={}", k.stage, k.block))
                .collect();
            [
                c.chain.name().to_string(),
                c.transfers.to_string(),
                span.map_or_else(|| "-".to_string(), |(lo, hi)| format!("{lo}..{hi}")),
                ranges_text(&c.ranges),
                if c.ranges.is_empty() {
                    "-".to_string()
                } else {
                    ranges_text(&c.gaps)
                },
                if checkpoints.is_empty() {
                    "-".to_string()
                } else {
                    checkpoints.join(" ")
                },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; 6]| -> String {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let w = widths[i];
            match i {
                5 => s.push_str(cell),
                1 => s.push_str(&format!("{cell:>w$}  ")),
                _ => s.push_str(&format!("{cell:<w$}  ")),
            }
        }
        s
    };
    writeln!(out, "{}", line(header))?;
    for r in &rows {
        writeln!(
            out,
            "{}",
            line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]].map(String::as_str))
        )?;
    }
    Ok(out.flush()?)
}

/// `1..3, 7..8 (+2 more)`, or `none`.
fn ranges_text(ranges: &[(u64, u64)]) -> String {
    if ranges.is_empty() {
        return "none".to_string();
    }
    let mut parts: Vec<String> = ranges
        .iter()
        .take(SHOWN_RANGES)
        .map(|(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}..{hi}")
            }
        })
        .collect();
    if ranges.len() > SHOWN_RANGES {
        parts.push(format!("(+{} more)", ranges.len() - SHOWN_RANGES));
    }
    parts.join(", ")
}

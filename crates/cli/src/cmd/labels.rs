//! `chaintrace labels import|show|imports`: load address labels from TagPacks, ActorPacks, CSV, OFAC
//! lists and Etherscan dumps, and show what is known about an address, with provenance.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chaintrace_core::{Address, Chain, Label};
use chaintrace_labels::{Format as LabelFormat, ParseOptions, Parsed};
use chaintrace_store::labels::{LabelImport, StoredLabel};
use serde_json::json;

use crate::opts::{Format, GlobalOpts};

/// Arguments of `chaintrace labels`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Import label files (or folders of them); re-importing a file replaces its earlier labels.
    Import(ImportArgs),
    /// Show every label of an address, with source, confidence and actor.
    Show(ShowArgs),
    /// List what has been imported.
    Imports(ImportsArgs),
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// Files or folders (folders are walked for .yaml, .yml, .csv, .txt and .json files).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Format of every file, instead of detecting it from name and content.
    #[arg(long, value_parser = parse_format, value_name = "tagpack|actorpack|csv|ofac|etherscan")]
    format: Option<LabelFormat>,
    /// Chain for files that do not say (OFAC lists, Etherscan dumps, CSV rows with an empty chain).
    #[arg(long, value_name = "CHAIN")]
    chain: Option<Chain>,
    /// Name of the import instead of the file's canonical path (one file only). Re-importing under the
    /// same name replaces.
    #[arg(long, value_name = "NAME")]
    source: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// Address (0x-hex or Tron T...).
    #[arg(value_name = "ADDR")]
    address: String,
    /// Only labels that apply on this chain (chain-agnostic labels apply on every EVM chain).
    #[arg(long, value_name = "CHAIN")]
    chain: Option<Chain>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Debug, clap::Args)]
struct ImportsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

fn parse_format(s: &str) -> Result<LabelFormat, String> {
    s.parse()
}

pub(crate) fn run(global: &GlobalOpts, args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Import(a) => import(global, a),
        Command::Show(a) => show(global, a),
        Command::Imports(a) => imports(global, a),
    }
}

fn import(global: &GlobalOpts, args: ImportArgs) -> anyhow::Result<()> {
    let mut files = Vec::new();
    for path in &args.files {
        collect_files(path, &mut files).with_context(|| format!("reading {}", path.display()))?;
    }
    if files.is_empty() {
        bail!("no label files (.yaml, .yml, .csv, .txt, .json) found in the given paths");
    }
    if args.source.is_some() && files.len() > 1 {
        bail!(
            "--source names the import of one file, but {} files were given",
            files.len()
        );
    }
    let mut store = global.open_store()?;
    let options = ParseOptions {
        format: args.format,
        chain: args.chain,
    };
    let mut failed = Vec::new();
    for file in &files {
        match import_one(&mut store, file, options, args.source.as_deref()) {
            Ok(()) => {}
            Err(err) => {
                let chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
                eprintln!("error: {}", chain.join(": "));
                failed.push(file.display().to_string());
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} files failed to import: {}",
            failed.len(),
            files.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

fn import_one(
    store: &mut chaintrace_store::Store,
    file: &Path,
    options: ParseOptions,
    source: Option<&str>,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let shown = file.display().to_string();
    let parsed = chaintrace_labels::parse(&shown, &text, options)?;
    let name = match source {
        Some(s) => s.to_string(),
        None => std::fs::canonicalize(file)
            .with_context(|| format!("resolving {}", file.display()))?
            .display()
            .to_string(),
    };
    let outcome = store
        .replace_label_import(LabelImport {
            name: &name,
            format: parsed.format.name(),
            labels: &parsed.labels,
            actors: &parsed.actors,
        })
        .with_context(|| format!("storing labels of {shown}"))?;
    let replaced = if outcome.replaced {
        format!(", replacing {} earlier labels", outcome.labels_removed)
    } else {
        String::new()
    };
    eprintln!(
        "{shown}: {} {} records: {} labels, {} actors imported{replaced}; {}",
        parsed.records,
        parsed.format,
        outcome.labels_stored,
        outcome.actors_stored,
        skipped_summary(&parsed)
    );
    Ok(())
}

fn skipped_summary(parsed: &Parsed) -> String {
    if parsed.skipped.is_empty() {
        return "0 skipped".to_string();
    }
    let reasons: Vec<String> = parsed
        .skipped
        .iter()
        .map(|(why, n)| format!("{n} {why}"))
        .collect();
    format!("{} skipped ({})", parsed.skipped_total(), reasons.join(", "))
}

/// Adds `path` (a file) or the label files under it (a folder, recursively, in name order).
fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !path.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_files(&entry, out)?;
        } else if entry.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            matches!(
                e.to_ascii_lowercase().as_str(),
                "yaml" | "yml" | "csv" | "txt" | "json"
            )
        }) {
            out.push(entry);
        }
    }
    Ok(())
}

fn show(global: &GlobalOpts, args: ShowArgs) -> anyhow::Result<()> {
    let address = Address::parse(&args.address).with_context(|| "reading ADDR".to_string())?;
    let store = global.open_store()?;
    let labels = store.labels_of(args.chain, address).context("reading labels")?;
    match args.format {
        Format::Json => {
            let out = json!({
                "schema_version": 1,
                "address": address.to_hex(),
                "chain": args.chain.map(|c| c.name()),
                "labels": labels.iter().map(label_json).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Csv => print_csv(&labels)?,
        Format::Table => {
            if labels.is_empty() {
                eprintln!("no labels for {}", args.address.trim());
            } else {
                print_table(&labels);
            }
        }
    }
    Ok(())
}

fn imports(global: &GlobalOpts, args: ImportsArgs) -> anyhow::Result<()> {
    let store = global.open_store()?;
    let list = store.label_imports().context("reading label imports")?;
    match args.format {
        Format::Json => {
            let items: Vec<_> = list
                .iter()
                .map(|i| {
                    json!({"name": i.name, "format": i.format, "imported_at": i.imported_at,
                           "labels": i.labels, "actors": i.actors})
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"schema_version": 1, "imports": items}))?
            );
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record(["name", "format", "imported_at", "labels", "actors"])?;
            for i in &list {
                w.write_record([
                    i.name.clone(),
                    i.format.clone(),
                    i.imported_at.to_string(),
                    i.labels.to_string(),
                    i.actors.to_string(),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|i| {
                    vec![
                        i.format.clone(),
                        i.labels.to_string(),
                        i.actors.to_string(),
                        i.name.clone(),
                    ]
                })
                .collect();
            print_aligned(&["FORMAT", "LABELS", "ACTORS", "IMPORT"], &rows);
        }
    }
    Ok(())
}

/// The address as a user reads it on the label's chain (checksummed hex for chain-agnostic labels).
fn address_text(label: &Label) -> String {
    match label.chain {
        Some(c) => label.address.display_for(c),
        None => label.address.to_checksum(),
    }
}

/// One label as JSON (shared by `actors show`).
pub(crate) fn label_json(s: &StoredLabel) -> serde_json::Value {
    let l = &s.label;
    json!({
        "chain": l.chain.map(|c| c.name()),
        "address": match l.chain { Some(c) => l.address.json_for(c), None => l.address.to_hex() },
        "label": l.text,
        "category": l.category.name(),
        "category_raw": l.category_raw,
        "abuse": l.abuse,
        "actor": l.actor.as_ref().map(|a| a.as_str()),
        "source": l.source,
        "confidence": l.confidence.value(),
        "import": s.import,
    })
}

/// Labels as a table on stdout (shared by `actors show`).
pub(crate) fn print_table(labels: &[StoredLabel]) {
    let rows: Vec<Vec<String>> = labels
        .iter()
        .map(|s| {
            let l = &s.label;
            vec![
                l.chain
                    .map(|c| c.name().to_string())
                    .unwrap_or_else(|| "any-evm".to_string()),
                address_text(l),
                l.text.clone(),
                l.category.name().to_string(),
                l.confidence.to_string(),
                l.actor
                    .as_ref()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "-".to_string()),
                l.source.clone(),
            ]
        })
        .collect();
    print_aligned(
        &["CHAIN", "ADDRESS", "LABEL", "CATEGORY", "CONF", "ACTOR", "SOURCE"],
        &rows,
    );
}

/// Labels as CSV on stdout (shared by `actors show`).
pub(crate) fn print_csv(labels: &[StoredLabel]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
    w.write_record([
        "chain",
        "address",
        "label",
        "category",
        "category_raw",
        "abuse",
        "actor",
        "source",
        "confidence",
        "import",
    ])?;
    for s in labels {
        let l = &s.label;
        w.write_record([
            l.chain.map(|c| c.name()).unwrap_or(""),
            &match l.chain {
                Some(c) => l.address.json_for(c),
                None => l.address.to_hex(),
            },
            &l.text,
            l.category.name(),
            l.category_raw.as_deref().unwrap_or(""),
            l.abuse.as_deref().unwrap_or(""),
            l.actor.as_ref().map(|a| a.as_str()).unwrap_or(""),
            &l.source,
            &l.confidence.to_string(),
            &s.import,
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub(crate) fn print_aligned(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

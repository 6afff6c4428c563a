//! `chaintrace bridges import FILE` / `chaintrace bridges list`: the user's bridge registry.
//!
//! Entries are CSV `chain,address,bridge,role` (role `deposit|release|both`; header, blank lines and `#`
//! comments allowed). `import` validates the whole file first (errors name `FILE:line`), then merges it into
//! `bridges.csv` in the data directory (an entry for the same chain and address is replaced). Traces and
//! investigations read that file on top of the built-in registry (see docs/bridges.md, docs/tracing.md).
//!
//! JSON: `import` -> `{"schema_version":1,"imported","total","path"}`;
//! `list` -> `{"schema_version":1,"entries":[{"chain","address","bridge","role","source":"builtin"|"user"}]}`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chaintrace_defi::bridge::{BridgeEntry, BridgeRegistry};
use serde_json::json;

use crate::opts::{Format, GlobalOpts};

/// File name of the user bridge registry inside the data directory.
pub(crate) const BRIDGES_FILE: &str = "bridges.csv";

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Add bridge contracts from a CSV file `chain,address,bridge,role` (role: deposit|release|both).
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// List the bridge registry: built-in entries and the user's.
    List {
        /// Only the user's entries.
        #[arg(long)]
        user_only: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// The user's entries stored in the data directory (none when the file does not exist).
pub(crate) fn user_entries(data_dir: &Path) -> anyhow::Result<Vec<BridgeEntry>> {
    let path = data_dir.join(BRIDGES_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(BridgeRegistry::parse_csv(&text, &path.display().to_string())?)
}

/// The built-in registry plus the user's entries (user entries win).
pub(crate) fn registry(data_dir: &Path) -> anyhow::Result<BridgeRegistry> {
    let mut r = BridgeRegistry::builtin();
    for e in user_entries(data_dir)? {
        r.insert(e);
    }
    Ok(r)
}

pub(crate) fn run(global: &GlobalOpts, args: Args) -> anyhow::Result<()> {
    let dir = global.data_dir()?;
    match args.action {
        Action::Import { file, format } => import(&dir, &file, format),
        Action::List { user_only, format } => list(&dir, user_only, format),
    }
}

fn import(dir: &Path, file: &Path, format: Format) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let new = BridgeRegistry::parse_csv(&text, &file.display().to_string())?;
    let mut entries = user_entries(dir)?;
    for e in &new {
        entries.retain(|x| (x.chain, x.address) != (e.chain, e.address));
        entries.push(e.clone());
    }
    entries.sort_by_key(|e| (e.chain, e.address));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(BRIDGES_FILE);
    let mut out = String::from("chain,address,bridge,role\n");
    for e in &entries {
        out.push_str(&format!(
            "{},{},{},{}\n",
            e.chain.name(),
            e.address.json_for(e.chain),
            e.bridge,
            e.role.name()
        ));
    }
    let tmp = dir.join(format!("{BRIDGES_FILE}.tmp"));
    std::fs::write(&tmp, out).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "imported {} bridge entries from {} ({} user entries in {})",
        new.len(),
        file.display(),
        entries.len(),
        path.display()
    );
    match format {
        Format::Json => println!(
            "{}",
            json!({"schema_version": 1, "imported": new.len(), "total": entries.len(),
                   "path": path.display().to_string()})
        ),
        Format::Table | Format::Csv => println!("imported {} (user entries: {})", new.len(), entries.len()),
    }
    Ok(())
}

fn list(dir: &Path, user_only: bool, format: Format) -> anyhow::Result<()> {
    let user = user_entries(dir)?;
    let mut rows: Vec<(BridgeEntry, &str)> = Vec::new();
    if !user_only {
        let mut builtin: Vec<BridgeEntry> = BridgeRegistry::builtin()
            .entries()
            .filter(|b| !user.iter().any(|u| (u.chain, u.address) == (b.chain, b.address)))
            .cloned()
            .collect();
        builtin.sort_by_key(|e| (e.chain, e.address));
        rows.extend(builtin.into_iter().map(|e| (e, "builtin")));
    }
    rows.extend(user.into_iter().map(|e| (e, "user")));
    match format {
        Format::Json => {
            let entries: Vec<_> = rows
                .iter()
                .map(|(e, src)| {
                    json!({"chain": e.chain.name(), "address": e.address.json_for(e.chain),
                           "bridge": e.bridge, "role": e.role.name(), "source": src})
                })
                .collect();
            println!("{}", json!({"schema_version": 1, "entries": entries}));
        }
        Format::Csv => {
            println!("chain,address,bridge,role,source");
            for (e, src) in &rows {
                println!(
                    "{},{},{},{},{src}",
                    e.chain.name(),
                    e.address.json_for(e.chain),
                    e.bridge,
                    e.role.name()
                );
            }
        }
        Format::Table => {
            println!(
                "{:<9} {:<42} {:<14} {:<8} SOURCE",
                "CHAIN", "ADDRESS", "BRIDGE", "ROLE"
            );
            for (e, src) in &rows {
                println!(
                    "{:<9} {:<42} {:<14} {:<8} {src}",
                    e.chain.name(),
                    e.address.display_for(e.chain),
                    e.bridge,
                    e.role.name()
                );
            }
        }
    }
    Ok(())
}

//! `chaintrace investigate INCIDENT.toml`: losses, fund flow and attribution of one incident, as a Markdown,
//! self-contained HTML or JSON report.
//!
//! Reads the incident file (see `chaintrace_report::incident`), the store (read-only: transfers, labels and
//! the raw logs of mixer pools, with the data directory's `mixers.csv` registry),
//! the graph snapshot (rebuilt when stale, as `trace` does) and, with `--prices DIR`, daily USD price CSVs
//! named `<SYMBOL>-USD_1d.csv` (yfinance layout). Runs `chaintrace_analysis::investigate` and renders the
//! report to stdout or `--out FILE`. The JSON contract is documented in `chaintrace_report::json`.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use chaintrace_analysis::cluster::is_service_category;
use chaintrace_analysis::investigate::{
    self, ActorFacts, AssetBook, Incident, Inputs, Investigation, MixerInputs, Options, PriceTable,
};
use chaintrace_analysis::trace::{Conversions, Model};
use chaintrace_core::{ActorId, Category, Label};
use chaintrace_store::Store;

use crate::graph_load::{load_conversions_and_mixers, load_graph, load_labels};
use crate::opts::GlobalOpts;

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub(crate) enum ReportFormat {
    /// Markdown with tables.
    #[default]
    Md,
    /// One self-contained HTML file with an SVG flow graph.
    Html,
    /// One JSON object with `schema_version`.
    Json,
}

/// Taint model of the fund-flow trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub(crate) enum ModelArg {
    /// Outflows carry taint in proportion to the tainted share of the balance (amounts are taint).
    #[default]
    Haircut,
    /// Coins leave in the order they arrived.
    Fifo,
    /// Every later outflow of a tainted address counts in full (amounts are amounts moved).
    Poison,
}

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Incident file (TOML: name, started, [[victim]], [[exploiter]], optional [[token]]).
    #[arg(value_name = "INCIDENT.toml")]
    incident: PathBuf,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    format: ReportFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Directory of daily USD price CSVs (`ETH-USD_1d.csv`, ...); without it USD values are n/a.
    #[arg(long, value_name = "DIR")]
    prices: Option<PathBuf>,
    /// Taint model of the fund-flow trace.
    #[arg(long, value_enum, default_value_t = ModelArg::Haircut)]
    model: ModelArg,
    /// Hop limit of the fund-flow trace.
    #[arg(long, value_name = "N", default_value_t = chaintrace_analysis::trace::DEFAULT_MAX_HOPS)]
    max_hops: u32,
    /// Hop limit of link discovery (1..=12).
    #[arg(long, value_name = "N", default_value_t = 4)]
    link_hops: u32,
    /// Do not cluster (exploiters' clusters then do not count).
    #[arg(long)]
    no_cluster: bool,
    /// Do not follow funds through swaps, wraps and bridges (each chain and asset is traced on its own).
    #[arg(long)]
    no_conversions: bool,
    /// Also follow bridge releases that are only candidates of an ambiguous or weak match (the deposit's
    /// taint is split among them by confidence).
    #[arg(long)]
    follow_ambiguous_bridges: bool,
}

pub(crate) fn run(global: &GlobalOpts, args: Args) -> anyhow::Result<()> {
    let incident = read_incident(&args.incident)?;
    let prices = match &args.prices {
        Some(dir) => load_prices(dir)?,
        None => PriceTable::new(),
    };
    let opts = Options {
        model: match args.model {
            ModelArg::Haircut => Model::Haircut,
            ModelArg::Fifo => Model::Fifo,
            ModelArg::Poison => Model::Poison,
        },
        max_hops: args.max_hops,
        link_hops: args.link_hops,
        cluster: !args.no_cluster,
        follow_candidates: args.follow_ambiguous_bridges,
        ..Options::default()
    };
    let dir = global.data_dir()?;
    let mut inv = investigate_store(&dir, &incident, &prices, &opts, !args.no_conversions)?;
    if args.prices.is_none() {
        inv.notes
            .push("no --prices directory was given: every USD value is n/a".to_string());
    }
    let text = match args.format {
        ReportFormat::Md => chaintrace_report::markdown::render(&inv),
        ReportFormat::Html => chaintrace_report::html::render(&inv),
        ReportFormat::Json => chaintrace_report::json::render(&inv),
    };
    match &args.out {
        Some(path) => {
            write_file(path, &text)?;
            eprintln!("wrote {} report to {}", format_name(args.format), path.display());
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}

fn format_name(f: ReportFormat) -> &'static str {
    match f {
        ReportFormat::Md => "Markdown",
        ReportFormat::Html => "HTML",
        ReportFormat::Json => "JSON",
    }
}

/// Reads and parses an incident file.
pub(crate) fn read_incident(path: &Path) -> anyhow::Result<Incident> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading incident file {}", path.display()))?;
    Ok(chaintrace_report::parse_incident(
        &path.display().to_string(),
        &text,
    )?)
}

/// Loads every `<SYMBOL>[-USD][_1d].csv` of `dir` into a price table.
pub(crate) fn load_prices(dir: &Path) -> anyhow::Result<PriceTable> {
    let mut table = PriceTable::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading price directory {}", dir.display()))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for e in entries {
        files.push(
            e.with_context(|| format!("reading price directory {}", dir.display()))?
                .path(),
        );
    }
    files.sort();
    let mut loaded = Vec::new();
    for path in files {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(symbol) = PriceTable::symbol_of_file(name) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let days = table.add_csv(&symbol, &path.display().to_string(), &text)?;
        loaded.push(format!("{symbol} ({days} days)"));
    }
    if loaded.is_empty() {
        bail!("no price file (<SYMBOL>-USD_1d.csv) in {}", dir.display());
    }
    eprintln!("loaded prices: {}", loaded.join(", "));
    Ok(table)
}

/// Runs the investigation against the store in `dir`.
pub(crate) fn investigate_store(
    dir: &Path,
    incident: &Incident,
    prices: &PriceTable,
    opts: &Options,
    follow_conversions: bool,
) -> anyhow::Result<Investigation> {
    let store =
        crate::opts::open_store_read(dir).with_context(|| format!("opening store in {}", dir.display()))?;
    let graph = load_graph(&store, dir, false)?;
    let labels = load_labels(&store)?;
    // Conversions from their cache (opened, not decoded: the trace reads the owners it meets) and mixer events
    // from the raw logs; without a usable cache, one pass over the logs finds both.
    let (conversions, mixers) = load_conversions_and_mixers(&store, dir, &graph, follow_conversions)?;
    let actors = actor_book(&store, &labels)?;
    let assets = AssetBook::with_known_tokens();
    // Haircut and fifo start each address's history replay near its first taint (the graph's balance
    // index, built once and cached next to the snapshot, as `trace` does; same result without it).
    let index = (opts.model != Model::Poison).then(|| crate::balance_cache::load_or_build(dir, &graph));
    let t0 = Instant::now();
    let inputs = Inputs {
        graph: &graph,
        labels: &labels,
        actors: &actors,
        assets: &assets,
        prices,
        conversions: conversions.source(),
        balance_index: index.as_ref(),
    };
    let mixer_inputs = MixerInputs {
        registry: &mixers.registry,
        deposits: &mixers.deposits,
        withdrawals: &mixers.withdrawals,
    };
    let mut inv = investigate::investigate_with_mixers(&inputs, Some(&mixer_inputs), incident, opts)
        .with_context(|| format!("investigating '{}'", incident.name))?;
    if let Some(rebuilt) = conversions.rebuilt_if_damaged(&store, dir, &graph, "investigating")? {
        let inputs = Inputs {
            conversions: Conversions::All(&rebuilt.edges),
            ..inputs
        };
        inv = investigate::investigate_with_mixers(&inputs, Some(&mixer_inputs), incident, opts)
            .with_context(|| format!("investigating '{}'", incident.name))?;
    }
    eprintln!(
        "investigated in {:.2}s: {} loss asset(s), {} exit entit(ies), {} destination(s), {} actor(s) ranked, {} mixer deposit(s) ({} labels)",
        t0.elapsed().as_secs_f64(),
        inv.losses.len(),
        inv.exits.len(),
        inv.destinations.len(),
        inv.attribution.len(),
        inv.mixer_deposits.len(),
        labels.len()
    );
    Ok(inv)
}

/// Names and kinds of every actor the labels name: a service (exchange, mixer, ...) is never a perpetrator.
fn actor_book(store: &Store, labels: &[Label]) -> anyhow::Result<HashMap<ActorId, ActorFacts>> {
    let mut service_by_label: HashMap<&ActorId, bool> = HashMap::new();
    for l in labels {
        if let Some(a) = &l.actor {
            *service_by_label.entry(a).or_default() |= is_service_category(l.category);
        }
    }
    let ids: BTreeSet<&ActorId> = service_by_label.keys().copied().collect();
    let mut book = HashMap::new();
    for id in ids {
        let actor = store
            .actor(id.as_str())
            .with_context(|| format!("looking up actor {id}"))?;
        let (name, categories) = match actor {
            Some(a) => (a.name, a.categories),
            None => (id.0.clone(), Vec::new()),
        };
        let service_category = categories.iter().any(|c| {
            let cat = Category::normalize(c);
            is_service_category(cat)
        });
        let is_service = service_category || service_by_label.get(id).copied().unwrap_or(false);
        book.insert(id.clone(), ActorFacts { name, is_service });
    }
    Ok(book)
}

pub(crate) fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

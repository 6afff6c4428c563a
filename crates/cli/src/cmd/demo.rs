//! `chaintrace demo`: a whole investigation on a simulated world, offline, in seconds.
//!
//! Builds a fresh data directory (`--out`, else a new directory under the system temp dir): generates a
//! seeded world on three chains with three incidents by one actor (the earlier two attributed by "FBI" labels,
//! the new one reusing an exploiter address of the previous incident on another chain), imports the sim's
//! labels, writes daily price files from the sim's prices, writes `incident.toml` for the new incident (victims
//! and exploiters from the sim's ground truth), runs the investigation and writes `report.html`,
//! `report.md` and `report.json`. stdout: the summary; stderr: progress and the report paths.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use chaintrace_analysis::investigate::Options;
use chaintrace_analysis::investigate::prices::{date_of_day, day_of_unix, rfc3339_of_unix};
use chaintrace_core::{Asset, Chain};
use chaintrace_sim::{GroundTruth, WorldConfig, generate};
use chaintrace_store::Store;
use chaintrace_store::labels::LabelImport;

use crate::cmd::investigate::{investigate_store, load_prices, read_incident, write_file};
use crate::opts::GlobalOpts;

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory to build the demo in (must be empty or absent; default: a new directory under the system
    /// temp dir). The global --data-dir is not used.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Seed of the simulated world.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Background transfers of the world.
    #[arg(long, default_value_t = 20_000)]
    transfers: u64,
    /// Make the incidents unrelated (different actors, no reused address): then no one may be named.
    #[arg(long)]
    no_link: bool,
}

pub(crate) fn run(_global: &GlobalOpts, args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            std::env::temp_dir().join(format!("chaintrace-demo-{}-{nanos}", std::process::id()))
        }
    };
    if dir.exists()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty; give --out a new or empty directory",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let config = WorldConfig {
        seed: args.seed,
        target_transfers: args.transfers,
        chains: vec![Chain::Ethereum, Chain::Bsc, Chain::Polygon],
        incidents: 3,
        link_incidents: !args.no_link,
        ..WorldConfig::default()
    };
    eprintln!(
        "demo: generating a simulated world (seed {}, {} transfers, 3 chains) in {}",
        config.seed,
        config.target_transfers,
        dir.display()
    );
    let truth = {
        let mut store = Store::open(&dir).with_context(|| format!("opening store in {}", dir.display()))?;
        let truth = generate(&config, &mut store).context("generating the world")?;
        let csv = truth.labels_csv();
        let labels_path = dir.join("sim-labels.csv");
        write_file(&labels_path, &csv)?;
        let shown = labels_path.display().to_string();
        let parsed = chaintrace_labels::parse(&shown, &csv, chaintrace_labels::ParseOptions::default())?;
        store
            .replace_label_import(LabelImport {
                name: "sim-labels.csv",
                format: parsed.format.name(),
                labels: &parsed.labels,
                actors: &parsed.actors,
            })
            .context("storing the sim labels")?;
        eprintln!(
            "demo: {} transfers, {} labels imported",
            truth.stats.transfers,
            parsed.labels.len()
        );
        truth
    };
    // The sim's bridge contracts, so that its BridgeDeposit/BridgeRelease logs match and the trace
    // follows the laundering across chains (as `chaintrace bridges import` would record them).
    write_file(
        &dir.join(crate::cmd::bridges::BRIDGES_FILE),
        &truth.bridge_registry_csv(),
    )?;
    // The sim's mixer pools, so that its Tornado-style Deposit/Withdrawal logs are decoded and the report
    // lists the laundering's mixer deposits with candidate withdrawals.
    write_file(
        &dir.join(crate::graph_load::MIXERS_FILE),
        &truth.mixer_registry_csv(),
    )?;
    let truth_path = dir.join("sim-truth.json");
    write_file(&truth_path, &serde_json::to_string_pretty(&truth)?)?;

    let prices_dir = dir.join("prices");
    write_prices(&truth, &prices_dir)?;
    let incident_path = dir.join("incident.toml");
    write_file(&incident_path, &incident_toml(&truth)?)?;
    eprintln!(
        "demo: wrote {} (the newest incident, from the sim's ground truth)",
        incident_path.display()
    );

    let incident = read_incident(&incident_path)?;
    let prices = load_prices(&prices_dir)?;
    let inv = investigate_store(&dir, &incident, &prices, &Options::default(), true)?;
    let html = dir.join("report.html");
    write_file(&html, &chaintrace_report::html::render(&inv))?;
    write_file(&dir.join("report.md"), &chaintrace_report::markdown::render(&inv))?;
    write_file(&dir.join("report.json"), &chaintrace_report::json::render(&inv))?;
    print!("{}", chaintrace_report::summary::render(&inv, 5));
    eprintln!("demo: HTML report: {}", html.display());
    eprintln!(
        "demo: Markdown and JSON beside it; data dir {} (use --data-dir to explore it)",
        dir.display()
    );
    eprintln!("demo: done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The newest incident of the world as an incident file.
fn incident_toml(truth: &GroundTruth) -> anyhow::Result<String> {
    let inc = truth
        .incidents
        .last()
        .context("the simulated world has no incident")?;
    let victim = truth
        .exchanges
        .iter()
        .find(|e| e.id == inc.victim_exchange)
        .map(|e| e.name.clone())
        .unwrap_or_else(|| inc.victim_exchange.clone());
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Written by `chaintrace demo` from the simulator's ground truth ({}).",
        inc.id
    );
    let _ = writeln!(s, "name = \"{victim} hot wallet hack (simulated {})\"", inc.id);
    // The start of the hour of the first drain.
    let _ = writeln!(
        s,
        "started = \"{}\"",
        rfc3339_of_unix(inc.drain_time / 3600 * 3600)
    );
    for v in &inc.victims {
        let _ = writeln!(
            s,
            "\n[[victim]]\nchain = \"{}\"\naddress = \"{}\"",
            v.chain,
            v.address.json_for(v.chain)
        );
    }
    for x in &inc.exploiters {
        let _ = writeln!(
            s,
            "\n[[exploiter]]\nchain = \"{}\"\naddress = \"{}\"",
            x.chain,
            x.address.json_for(x.chain)
        );
    }
    for c in &truth.chains {
        for a in &c.assets {
            if let Asset::Token(t) = a.asset {
                let _ = writeln!(
                    s,
                    "\n[[token]]\nchain = \"{}\"\naddress = \"{}\"\nsymbol = \"{}\"\ndecimals = {}",
                    c.chain,
                    t.json_for(c.chain),
                    a.symbol,
                    a.decimals
                );
            }
        }
    }
    Ok(s)
}

/// Daily price files (yfinance layout) for every symbol of the world, around the sim's fixed prices.
fn write_prices(truth: &GroundTruth, dir: &Path) -> anyhow::Result<()> {
    let (Some(first), Some(last)) = (
        truth.chains.iter().map(|c| c.first_timestamp).min(),
        truth.chains.iter().map(|c| c.last_timestamp).max(),
    ) else {
        bail!("the simulated world has no chain");
    };
    let mut done = std::collections::BTreeSet::new();
    for c in &truth.chains {
        for a in &c.assets {
            if !done.insert(a.symbol.clone()) {
                continue;
            }
            let mut csv = String::from("Date,Open,High,Low,Close,Adj Close,Volume\n");
            for day in day_of_unix(first)..=day_of_unix(last) {
                // A small deterministic daily wobble so each day has its own close.
                let wobble = if a.price_usd == 1.0 {
                    0.0
                } else {
                    0.01 * ((day % 7) as f64 - 3.0)
                };
                let close = a.price_usd * (1.0 + wobble);
                let _ = writeln!(
                    csv,
                    "{},{close},{close},{close},{close},{close},0",
                    date_of_day(day)
                );
            }
            write_file(&dir.join(format!("{}-USD_1d.csv", a.symbol)), &csv)?;
        }
    }
    Ok(())
}

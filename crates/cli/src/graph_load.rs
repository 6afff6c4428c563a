//! Loading what the analyses read, shared by every command that needs it (`trace`, `investigate`, `demo`,
//! `cluster`, `link`): the transfer graph snapshot, the labels, the conversion edges and the mixer pool events.
//!
//! The graph lives in `graph.snapshot` in the data directory and is memory-mapped when its stamp matches the
//! store; otherwise it is rebuilt in full (one sort plus linear passes) and saved for the next run.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use chaintrace_analysis::conversions::{
    ConversionConfig, ConversionInputs, ConversionSet, build_conversions,
};
use chaintrace_core::{Chain, Label, RawLog, TxHash};
use chaintrace_defi::mixer::{MixerDeposit, MixerRegistry, MixerWithdrawal, decode_mixer_events};
use chaintrace_graph::{Graph, StoreStamp};
use chaintrace_store::{Store, TransferReader};

use crate::conv_cache;

/// File name of the graph snapshot inside the data directory.
pub(crate) const SNAPSHOT: &str = "graph.snapshot";

/// Opens the snapshot in `dir` if it matches the store (unless `force`); otherwise rebuilds it from the
/// store and saves it. A snapshot that cannot be saved (read-only directory) is a warning, not an error.
pub(crate) fn load_graph(store: &Store, dir: &Path, force: bool) -> anyhow::Result<Graph> {
    let path = dir.join(SNAPSHOT);
    let stamp = StoreStamp::of_reader(store).context("reading store counts")?;
    if !force && path.exists() {
        let t0 = Instant::now();
        match Graph::open(&path) {
            Ok(g) if g.stamp() == stamp => {
                eprintln!(
                    "opened graph snapshot {} in {:.3}s",
                    path.display(),
                    t0.elapsed().as_secs_f64()
                );
                return Ok(g);
            }
            Ok(_) => eprintln!(
                "graph snapshot {} is older than the store; rebuilding",
                path.display()
            ),
            Err(e) => eprintln!("warning: {e}; rebuilding"),
        }
    }
    let t0 = Instant::now();
    eprintln!("building graph from {} transfers ...", stamp.total_transfers());
    let g = Graph::from_reader(store).context("building the transfer graph")?;
    let mut saved = false;
    if g.edge_count() > 0 {
        match g.save(&path) {
            Ok(()) => saved = true,
            Err(e) => eprintln!(
                "warning: could not save the graph snapshot {}: {e}",
                path.display()
            ),
        }
    }
    let sz = g.section_sizes();
    eprintln!(
        "built graph: {} nodes, {} transfers, {:.1} bytes/transfer, in {:.2}s{}",
        g.node_count(),
        g.edge_count(),
        sz.total as f64 / f64::from(g.edge_count().max(1)),
        t0.elapsed().as_secs_f64(),
        if saved {
            format!("; saved {}", path.display())
        } else {
            String::new()
        }
    );
    Ok(g)
}

/// Every stored label.
pub(crate) fn load_labels(store: &Store) -> anyhow::Result<Vec<Label>> {
    let mut labels: Vec<Label> = Vec::new();
    store
        .for_each_label(&mut |s| {
            labels.push(s.label);
            Ok(())
        })
        .context("reading labels")?;
    Ok(labels)
}

/// Conversion edges (swaps, wraps, bridge matches) from the store's raw logs and the transfers of their
/// transactions, with the built-in bridge registry plus the data directory's `bridges.csv`.
///
/// The edges are cached in the data directory (`conversions.cache`, see [`crate::conv_cache`]) under a key of
/// the graph's store stamp (the store as the graph saw it), the registry file and this executable; a matching
/// cache is read instead of scanning the store again.
pub(crate) fn load_conversions(store: &Store, dir: &Path, graph: &Graph) -> anyhow::Result<ConversionSet> {
    let t0 = Instant::now();
    let key = conv_cache::cache_key(&graph.stamp(), dir);
    match conv_cache::read(dir, key) {
        Ok(Some(set)) => {
            eprintln!(
                "conversions: {} edges from the cache {} in {:.3}s",
                set.edges.len(),
                dir.join(conv_cache::CONVERSIONS_CACHE).display(),
                t0.elapsed().as_secs_f64()
            );
            return Ok(set);
        }
        Ok(None) => {}
        Err(e) => eprintln!("warning: ignoring the conversions cache: {e}; rebuilding"),
    }
    let (conversions, _) = load_defi(store, dir, true, false)?;
    // Only cache what was found at the stamp the graph holds: if the store moved on while we read it, the
    // next run recomputes.
    let now = StoreStamp::of_reader(store).context("reading store counts")?;
    if now == graph.stamp()
        && let Err(e) = conv_cache::write(dir, key, &conversions)
    {
        eprintln!(
            "warning: could not write the conversions cache in {}: {e}",
            dir.display()
        );
    }
    Ok(conversions)
}

/// File name of the user's mixer pool registry inside the data directory (`chaintrace-defi` mixer registry
/// CSV: `chain,address,name,asset,denomination`; the simulator writes it as `sim-mixers.csv`).
pub(crate) const MIXERS_FILE: &str = "mixers.csv";

/// Mixer pools and their decoded `Deposit` / `Withdrawal` events.
pub(crate) struct MixerEvents {
    /// Built-in pools plus the data directory's `mixers.csv`.
    pub(crate) registry: MixerRegistry,
    /// Deposits of registered pools.
    pub(crate) deposits: Vec<MixerDeposit>,
    /// Withdrawals of registered pools.
    pub(crate) withdrawals: Vec<MixerWithdrawal>,
}

/// Conversion edges (when `conversions`) and mixer pool events (when `mixers`): the raw logs are read once and
/// the transfer table is scanned once for the transactions either of them needs.
pub(crate) fn load_defi(
    store: &Store,
    dir: &Path,
    conversions: bool,
    mixers: bool,
) -> anyhow::Result<(ConversionSet, Option<MixerEvents>)> {
    let t0 = Instant::now();
    let cfg = if conversions {
        Some(ConversionConfig {
            bridges: crate::cmd::bridges::registry(dir)?,
            ..ConversionConfig::default()
        })
    } else {
        None
    };
    let registry = if mixers { Some(mixer_registry(dir)?) } else { None };
    let logs = store.raw_logs(None).context("reading raw logs")?;
    let wanted = cfg.as_ref().map(|c| ConversionInputs::new(&logs, &c.bridges));
    let mixer_logs: Vec<RawLog> = match &registry {
        Some(r) => logs
            .iter()
            .filter(|l| r.pool(l.chain, l.address).is_some())
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let mixer_txs: HashSet<(Chain, TxHash)> = mixer_logs.iter().map(|l| (l.chain, l.tx_hash)).collect();
    let (mut conv_transfers, mut mixer_transfers) = (Vec::new(), Vec::new());
    if wanted.is_some() || !mixer_txs.is_empty() {
        store
            .for_each_transfer(None, &mut |t| {
                if mixer_txs.contains(&(t.chain, t.tx_hash)) {
                    mixer_transfers.push(t.clone());
                }
                if wanted.as_ref().is_some_and(|w| w.wants(&t)) {
                    conv_transfers.push(t);
                }
                Ok(())
            })
            .context("reading transfers for conversions and mixers")?;
    }
    let set = match &cfg {
        Some(cfg) => {
            let set = build_conversions(&logs, &conv_transfers, cfg);
            let s = set.stats;
            eprintln!(
                "conversions: {} swaps/wraps, bridges {} matched, {} ambiguous ({} candidate edges), {} unmatched, from {} logs in {:.3}s",
                s.swaps,
                s.bridge_matched,
                s.bridge_ambiguous,
                s.bridge_candidate_edges,
                s.bridge_unmatched,
                logs.len(),
                t0.elapsed().as_secs_f64()
            );
            set
        }
        None => ConversionSet::default(),
    };
    let mixer_events = registry.map(|registry| {
        let (deposits, withdrawals) = decode_mixer_events(&mixer_logs, &mixer_transfers, &registry);
        eprintln!(
            "mixers: {} deposit(s), {} withdrawal(s) of {} registered pool(s) in {:.3}s",
            deposits.len(),
            withdrawals.len(),
            registry.len(),
            t0.elapsed().as_secs_f64()
        );
        MixerEvents {
            registry,
            deposits,
            withdrawals,
        }
    });
    Ok((set, mixer_events))
}

/// The built-in mixer pools plus `<dir>/mixers.csv` when present.
fn mixer_registry(dir: &Path) -> anyhow::Result<MixerRegistry> {
    let mut registry = MixerRegistry::builtin();
    let path = dir.join(MIXERS_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let n = registry
            .extend_from_csv(&text, &path.display().to_string())
            .with_context(|| format!("parsing mixer registry {}", path.display()))?;
        eprintln!("mixers: {n} pool(s) from {}", path.display());
    }
    Ok(registry)
}

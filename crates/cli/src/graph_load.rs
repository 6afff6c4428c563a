//! Loading what the analyses read, shared by every command that needs it (`trace`, `investigate`, `demo`,
//! `cluster`, `link`): the transfer graph snapshot, the labels, the conversion edges and the mixer pool events.
//!
//! The graph lives in `graph.snapshot` in the data directory and is memory-mapped when its stamp matches the
//! store; when the store only grew since, the new transfers are merged into it (reading only them); otherwise
//! it is rebuilt in full (one sort plus linear passes). Either way the new graph is saved for the next run.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use chaintrace_analysis::conversions::{
    ConversionConfig, ConversionInputs, ConversionSet, build_conversions,
};
use chaintrace_analysis::trace::Conversions;
use chaintrace_core::{Address, Chain, Label, RawLog, TxHash};
use chaintrace_defi::mixer::{MixerDeposit, MixerRegistry, MixerWithdrawal, decode_mixer_events};
use chaintrace_graph::{Graph, StoreStamp, Update};
use chaintrace_store::{Store, TransferReader};

use crate::conv_cache;

/// File name of the graph snapshot inside the data directory.
pub(crate) const SNAPSHOT: &str = "graph.snapshot";

/// Opens the snapshot in `dir` if it matches the store (unless `force`). If the store only grew since the
/// snapshot was written (new transfers appended, nothing removed: [`Graph::updated`]), merges the new
/// transfers into it, which gives the same graph as a full rebuild while reading only the new rows, and saves
/// it. Otherwise (no snapshot, an unwind, a damaged or older-format file) rebuilds it in full from the store and
/// saves it. A snapshot that cannot be saved (read-only directory) is a warning, not an error.
pub(crate) fn load_graph(store: &Store, dir: &Path, force: bool) -> anyhow::Result<Graph> {
    let path = dir.join(SNAPSHOT);
    if !force && path.exists() {
        let t0 = Instant::now();
        match Graph::open(&path) {
            Ok(g) => {
                // Read-ahead of the snapshot starts now, while the store is checked (see the method).
                g.prefetch_in_background();
                match g.updated(store) {
                    Ok(Update::Current) => {
                        eprintln!(
                            "opened graph snapshot {} in {:.3}s",
                            path.display(),
                            t0.elapsed().as_secs_f64()
                        );
                        return Ok(g);
                    }
                    Ok(Update::Appended { graph, added }) => {
                        drop(g);
                        let merged = t0.elapsed().as_secs_f64();
                        let saved = save_snapshot(&graph, &path);
                        eprintln!(
                            "updated graph snapshot {}: merged {added} new transfers ({} in all) in {merged:.2}s{}",
                            path.display(),
                            graph.edge_count(),
                            if saved {
                                format!("; saved in {:.2}s", t0.elapsed().as_secs_f64() - merged)
                            } else {
                                String::new()
                            }
                        );
                        return Ok(*graph);
                    }
                    Ok(Update::Rebuild { reason }) => eprintln!(
                        "graph snapshot {} cannot be updated in place ({reason}); rebuilding",
                        path.display()
                    ),
                    Err(e) => eprintln!("warning: updating the graph snapshot: {e}; rebuilding"),
                }
            }
            Err(e) => eprintln!("warning: {e}; rebuilding"),
        }
    }
    let stamp = StoreStamp::of_reader(store).context("reading store counts")?;
    let t0 = Instant::now();
    eprintln!("building graph from {} transfers ...", stamp.total_transfers());
    let g = Graph::from_reader(store).context("building the transfer graph")?;
    let saved = g.edge_count() > 0 && save_snapshot(&g, &path);
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

/// Saves the snapshot (atomically: temporary file, verify, rename); a failure is a warning. First removes
/// the temporary files of earlier saves whose process died before its rename.
fn save_snapshot(g: &Graph, path: &Path) -> bool {
    if let Some(dir) = path.parent() {
        remove_stale_temporaries(dir);
    }
    match g.save(path) {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "warning: could not save the graph snapshot {}: {e}",
                path.display()
            );
            false
        }
    }
}

/// Removes `graph.snapshot.tmp<pid>` files (a save's temporary file, named after its process) whose process
/// is gone: what a save killed before its rename leaves behind, as large as a snapshot. Only where process
/// liveness can be checked (`/proc`, Linux); elsewhere they stay. A file of a live process, of this process,
/// or with any other name is left alone.
fn remove_stale_temporaries(dir: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{SNAPSHOT}.tmp");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix.as_str()))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => eprintln!(
                "removed {} (left by a process that died while saving the snapshot)",
                entry.path().display()
            ),
            Err(e) => eprintln!("warning: could not remove {}: {e}", entry.path().display()),
        }
    }
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

/// The conversions a trace may cross: the cache opened for lookups by owner, or, without a usable cache, the
/// set built now (and cached for the next run).
pub(crate) enum TraceConversions {
    /// The cache file; a trace reads the records of the owners it meets.
    Cached(conv_cache::LazyConversions),
    /// Built in this run.
    Built(ConversionSet),
}

impl TraceConversions {
    /// The source to trace with.
    pub(crate) fn source(&self) -> Conversions<'_> {
        match self {
            TraceConversions::Cached(c) => Conversions::ByOwner(c),
            TraceConversions::Built(set) => Conversions::All(&set.edges),
        }
    }

    /// After a run over [`TraceConversions::source`]: when it met a damaged cache record (which it did not
    /// use, so its result may miss a conversion), warns, rebuilds the cache from the store and returns the
    /// rebuilt set for the caller to run again (`redo` names that run in the warning).
    pub(crate) fn rebuilt_if_damaged(
        &self,
        store: &Store,
        dir: &Path,
        graph: &Graph,
        redo: &str,
    ) -> anyhow::Result<Option<ConversionSet>> {
        let TraceConversions::Cached(c) = self else {
            return Ok(None);
        };
        let Some(damage) = c.damage() else {
            return Ok(None);
        };
        eprintln!("warning: the conversions cache is damaged ({damage}); rebuilding it and {redo} again");
        rebuild_conversions(store, dir, graph).map(Some)
    }
}

/// The conversion edges (swaps, wraps, bridge matches) for one trace, found in the store's raw logs and the
/// transfers of their transactions, with the built-in bridge registry plus the data directory's `bridges.csv`.
///
/// The edges are cached in the data directory (`conversions.cache`, see [`crate::conv_cache`]) under a key of
/// the graph's store stamp (the store as the graph saw it), the registry file and this executable; a matching
/// cache is opened, not decoded. Opening reads its head (the owner index and record table, ~45 bytes per
/// edge); the trace then reads only the records of the owners it meets passing taint on. At 10^7 transfers
/// (971k edges) this replaced a 1.0-1.3 s decode of every edge.
pub(crate) fn load_conversions_for_trace(
    store: &Store,
    dir: &Path,
    graph: &Graph,
) -> anyhow::Result<TraceConversions> {
    match open_conversions_cache(dir, graph) {
        Some(c) => Ok(TraceConversions::Cached(c)),
        None => rebuild_conversions(store, dir, graph).map(TraceConversions::Built),
    }
}

/// [`load_conversions_for_trace`] (when `conversions`; otherwise none) and the mixer pool events, for
/// `investigate`: without a usable cache, one pass over the raw logs finds both.
pub(crate) fn load_conversions_and_mixers(
    store: &Store,
    dir: &Path,
    graph: &Graph,
    conversions: bool,
) -> anyhow::Result<(TraceConversions, MixerEvents)> {
    let cached = if conversions {
        open_conversions_cache(dir, graph)
    } else {
        None
    };
    let build = conversions && cached.is_none();
    let (set, mixers) = load_defi(store, dir, build, true)?;
    if build {
        write_conversions_cache(store, dir, graph, &set)?;
    }
    let conversions = match cached {
        Some(c) => TraceConversions::Cached(c),
        None => TraceConversions::Built(set),
    };
    Ok((
        conversions,
        mixers.expect("load_defi returns mixer events when asked for them"),
    ))
}

/// The conversions cache opened for lookups by owner, when one matches the graph's stamp, the registry file
/// and this executable; a damaged or foreign one is reported and left for a rebuild.
fn open_conversions_cache(dir: &Path, graph: &Graph) -> Option<conv_cache::LazyConversions> {
    let t0 = Instant::now();
    match conv_cache::open_lazy(dir, conv_cache::cache_key(&graph.stamp(), dir)) {
        Ok(Some(c)) => {
            let st = c.stats();
            eprintln!(
                "conversions: {} edges ({} swaps/wraps, bridges {} matched, {} ambiguous) in the cache {} \
                 (opened in {:.3}s; records read per owner met)",
                c.len(),
                st.swaps,
                st.bridge_matched,
                st.bridge_ambiguous,
                dir.join(conv_cache::CONVERSIONS_CACHE).display(),
                t0.elapsed().as_secs_f64()
            );
            Some(c)
        }
        Ok(None) => None,
        Err(e) => {
            eprintln!("warning: ignoring the conversions cache: {e}; rebuilding");
            None
        }
    }
}

/// Finds the conversions in the store and caches them.
fn rebuild_conversions(store: &Store, dir: &Path, graph: &Graph) -> anyhow::Result<ConversionSet> {
    let (conversions, _) = load_defi(store, dir, true, false)?;
    write_conversions_cache(store, dir, graph, &conversions)?;
    Ok(conversions)
}

/// Caches conversions found in the store under the key of `graph`'s stamp; only if the store still has that
/// stamp (if it moved on while they were read, the next run recomputes). A failed write is a warning.
fn write_conversions_cache(
    store: &Store,
    dir: &Path,
    graph: &Graph,
    set: &ConversionSet,
) -> anyhow::Result<()> {
    let now = StoreStamp::of_reader(store).context("reading store counts")?;
    if now == graph.stamp()
        && let Err(e) = conv_cache::write(dir, conv_cache::cache_key(&now, dir), set)
    {
        eprintln!(
            "warning: could not write the conversions cache in {}: {e}",
            dir.display()
        );
    }
    Ok(())
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
/// the transfers either of them needs are read once, by transaction and bridge address
/// ([`TransferReader::for_each_transfer_in`]), without scanning the transfer table.
fn load_defi(
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
    let logs_read = t0.elapsed().as_secs_f64();
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
    // Read only the transfers either side can want: those in a transaction with a log (looked up in the
    // log's block, where the store keeps the transaction's transfers) and, for conversions, those of the
    // registered bridge addresses. The filters below are the exact ones; the lookup passes a superset of
    // what they keep, in store order, so the result is what a scan of every transfer would give.
    let tx_keys: Vec<(Chain, u64, TxHash)> = match &cfg {
        Some(_) => logs.iter().map(|l| (l.chain, l.block, l.tx_hash)).collect(),
        None => mixer_logs.iter().map(|l| (l.chain, l.block, l.tx_hash)).collect(),
    };
    let bridge_addresses: Vec<(Chain, Address)> = cfg
        .as_ref()
        .map(|c| c.bridges.entries().map(|e| (e.chain, e.address)).collect())
        .unwrap_or_default();
    let (mut conv_transfers, mut mixer_transfers) = (Vec::new(), Vec::new());
    if wanted.is_some() || !mixer_txs.is_empty() {
        store
            .for_each_transfer_in(&tx_keys, &bridge_addresses, &mut |t| {
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
    eprintln!(
        "defi inputs: {} raw logs in {logs_read:.3}s; {} + {} transfers (conversions + mixers) in the transactions of {} \
         logs and of {} bridge addresses in {:.3}s",
        logs.len(),
        conv_transfers.len(),
        mixer_transfers.len(),
        tx_keys.len(),
        bridge_addresses.len(),
        t0.elapsed().as_secs_f64() - logs_read
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use crate::cmd::bridges::BRIDGES_FILE;
    use crate::opts::GlobalOpts;

    #[derive(Parser)]
    struct SimCli {
        #[command(flatten)]
        global: GlobalOpts,
        #[command(flatten)]
        sim: crate::cmd::sim::Args,
    }

    /// What `load_defi` computed before the index lookups: one scan of every transfer, filtered by
    /// [`ConversionInputs::wants`] and the mixer transactions.
    fn load_defi_by_scan(
        store: &Store,
        dir: &Path,
    ) -> (ConversionSet, Vec<MixerDeposit>, Vec<MixerWithdrawal>) {
        let cfg = ConversionConfig {
            bridges: crate::cmd::bridges::registry(dir).expect("bridge registry"),
            ..ConversionConfig::default()
        };
        let registry = mixer_registry(dir).expect("mixer registry");
        let logs = store.raw_logs(None).expect("logs");
        let wanted = ConversionInputs::new(&logs, &cfg.bridges);
        let mixer_logs: Vec<RawLog> = logs
            .iter()
            .filter(|l| registry.pool(l.chain, l.address).is_some())
            .cloned()
            .collect();
        let mixer_txs: HashSet<(Chain, TxHash)> = mixer_logs.iter().map(|l| (l.chain, l.tx_hash)).collect();
        let (mut conv, mut mix) = (Vec::new(), Vec::new());
        store
            .for_each_transfer(None, &mut |t| {
                if mixer_txs.contains(&(t.chain, t.tx_hash)) {
                    mix.push(t.clone());
                }
                if wanted.wants(&t) {
                    conv.push(t);
                }
                Ok(())
            })
            .expect("scan");
        let (deposits, withdrawals) = decode_mixer_events(&mixer_logs, &mix, &registry);
        (build_conversions(&logs, &conv, &cfg), deposits, withdrawals)
    }

    /// On a simulated world with swaps, bridges (registry installed) and mixers, the lookups give exactly
    /// the conversion set and mixer events of a full scan, with conversions and mixers on and each alone.
    #[test]
    fn index_lookups_give_the_conversions_and_mixer_events_of_a_full_scan() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let d = dir.to_str().expect("utf-8 temp path");
        let cli = SimCli::try_parse_from(["sim", "--data-dir", d, "--seed", "11", "--transfers", "30000"])
            .expect("sim arguments");
        crate::cmd::sim::run(&cli.global, cli.sim).expect("sim");
        std::fs::copy(dir.join("sim-bridges.csv"), dir.join(BRIDGES_FILE)).expect("install bridges");
        std::fs::copy(dir.join("sim-mixers.csv"), dir.join(MIXERS_FILE)).expect("install mixers");
        let store = Store::open(dir).expect("store");

        let (want_set, want_dep, want_wd) = load_defi_by_scan(&store, dir);
        let s = want_set.stats;
        assert!(
            s.swaps > 0 && s.bridge_matched > 0 && !want_dep.is_empty() && !want_wd.is_empty(),
            "the world exercises swaps, bridges and mixers: {s:?}, {} deposits, {} withdrawals",
            want_dep.len(),
            want_wd.len()
        );

        let (set, mixers) = load_defi(&store, dir, true, true).expect("load_defi");
        let mixers = mixers.expect("mixers asked");
        assert_eq!(set, want_set);
        assert_eq!(mixers.deposits, want_dep);
        assert_eq!(mixers.withdrawals, want_wd);

        let (set, mixers) = load_defi(&store, dir, true, false).expect("conversions only");
        assert!(mixers.is_none());
        assert_eq!(set, want_set);
        let (set, mixers) = load_defi(&store, dir, false, true).expect("mixers only");
        assert_eq!(set, ConversionSet::default());
        let mixers = mixers.expect("mixers asked");
        assert_eq!(mixers.deposits, want_dep);
        assert_eq!(mixers.withdrawals, want_wd);
    }
}

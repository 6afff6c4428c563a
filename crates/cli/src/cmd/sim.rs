//! `chaintrace sim`: generate a seeded world with ground truth into the store of the data directory,
//! and write the truth JSON and the labels CSV beside it.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chaintrace_core::Chain;
use chaintrace_sim::{GroundTruth, WorldConfig};
use chaintrace_store::TransferReader;
use serde_json::json;

use crate::opts::{Format, GlobalOpts};

/// Arguments of `chaintrace sim`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Seed: the same seed and options give a byte-identical world.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Transfers to generate (the world ends slightly above once pending effects complete).
    #[arg(long, default_value_t = 100_000)]
    transfers: u64,
    /// EVM chains of the world, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "ethereum,bsc")]
    chains: Vec<Chain>,
    /// Make incidents unrelated: a different actor each, no reused address.
    #[arg(long)]
    no_link: bool,
    /// Actors taking turns over the incidents of a linked world (1..=8; lazarus first).
    #[arg(long, default_value_t = 1)]
    actors: u32,
    /// Planted incidents (the last one is the new, unlabeled one).
    #[arg(long, default_value_t = 3)]
    incidents: u32,
    /// Ordinary users (default: transfers / 100, within 200..=200000).
    #[arg(long)]
    users: Option<u32>,
    /// Transfers per store write (bigger batches load faster; memory grows ~200 bytes per transfer).
    #[arg(long, default_value_t = 50_000)]
    batch_size: usize,
    /// Where to write the ground truth JSON (default: <data-dir>/sim-truth.json).
    #[arg(long, value_name = "FILE")]
    truth: Option<PathBuf>,
    /// Where to write the labels CSV (default: <data-dir>/sim-labels.csv); the bridge and mixer registry
    /// CSVs (sim-bridges.csv, sim-mixers.csv) go to the same folder.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// Output format of the summary (table or json).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub(crate) fn run(global: &GlobalOpts, args: Args) -> anyhow::Result<()> {
    if args.format == Format::Csv {
        anyhow::bail!("sim prints its summary as table or json, not csv (the labels CSV goes to --labels)");
    }
    let config = WorldConfig {
        seed: args.seed,
        target_transfers: args.transfers,
        chains: args.chains.clone(),
        users: args.users,
        incidents: args.incidents,
        link_incidents: !args.no_link,
        actors: args.actors,
        batch_size: args.batch_size,
        ..WorldConfig::default()
    };
    config.validate().context("checking the world options")?;
    let dir = global.data_dir()?;
    let truth_path = args.truth.clone().unwrap_or_else(|| dir.join("sim-truth.json"));
    let labels_path = args.labels.clone().unwrap_or_else(|| dir.join("sim-labels.csv"));

    let mut store = global.open_store()?;
    let before = store.transfer_count(None).context("counting stored transfers")?;
    if before > 0 {
        eprintln!(
            "note: the store in {} already holds {before} transfers; the world is added to them",
            dir.display()
        );
    }
    eprintln!(
        "generating world seed {} ({} transfers on {}) into {}",
        config.seed,
        config.target_transfers,
        names(&config.chains),
        dir.display()
    );
    let started = Instant::now();
    let step = (config.target_transfers / 10).max(1);
    let mut next_report = step;
    let progress = move |p: &chaintrace_sim::Progress| {
        if p.transfers >= next_report {
            eprintln!(
                "  {} / {} transfers ({:.0} s)",
                p.transfers,
                p.target,
                started.elapsed().as_secs_f64()
            );
            next_report = (p.transfers / step + 1) * step;
        }
    };
    let truth = pipelined::generate(&config, &mut store, progress)
        .with_context(|| format!("generating the world into {}", dir.display()))?;
    let elapsed = started.elapsed().as_secs_f64();

    write_file(&truth_path, |w| {
        if truth.stats.transfers <= 200_000 {
            serde_json::to_writer_pretty(w, &truth)?;
        } else {
            serde_json::to_writer(w, &truth)?;
        }
        Ok(())
    })?;
    eprintln!("wrote ground truth to {}", truth_path.display());
    write_file(&labels_path, |w| Ok(w.write_all(truth.labels_csv().as_bytes())?))?;
    eprintln!("wrote {} labels to {}", truth.labels.len(), labels_path.display());
    // Registries for the DeFi layer, beside the labels (chaintrace-defi parse_csv formats).
    let registry_dir = labels_path.parent().map(PathBuf::from).unwrap_or_default();
    let bridges_path = registry_dir.join("sim-bridges.csv");
    let mixers_path = registry_dir.join("sim-mixers.csv");
    write_file(&bridges_path, |w| {
        Ok(w.write_all(truth.bridge_registry_csv().as_bytes())?)
    })?;
    write_file(&mixers_path, |w| {
        Ok(w.write_all(truth.mixer_registry_csv().as_bytes())?)
    })?;
    eprintln!(
        "wrote bridge registry to {} and mixer registry to {}",
        bridges_path.display(),
        mixers_path.display()
    );

    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&summary_json(&truth, &truth_path, &labels_path, elapsed))?
        ),
        _ => print!("{}", summary_table(&truth, &truth_path, &labels_path, elapsed)),
    }
    Ok(())
}

fn names(chains: &[Chain]) -> String {
    chains.iter().map(|c| c.name()).collect::<Vec<_>>().join(",")
}

fn write_file(
    path: &std::path::Path,
    body: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    body(&mut w).with_context(|| format!("writing {}", path.display()))?;
    w.flush().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn summary_json(
    truth: &GroundTruth,
    truth_path: &std::path::Path,
    labels_path: &std::path::Path,
    elapsed: f64,
) -> serde_json::Value {
    json!({
        "schema_version": 1,
        "seed": truth.config.seed,
        "transfers": truth.stats.transfers,
        "blocks": truth.stats.blocks,
        "logs": truth.stats.logs,
        "transactions": truth.stats.transactions,
        "addresses": truth.stats.addresses,
        "linked_incidents": truth.config.link_incidents,
        "chains": truth.chains.iter().map(|c| json!({
            "chain": c.chain,
            "first_block": c.first_block,
            "last_block": c.last_block,
            "first_timestamp": c.first_timestamp,
            "last_timestamp": c.last_timestamp,
            "transfers": c.transfers,
        })).collect::<Vec<_>>(),
        "incidents": truth.incidents.iter().map(|i| json!({
            "id": i.id,
            "actor": i.actor,
            "labeled": i.labeled,
            "chains": i.chains,
            "victim_exchange": i.victim_exchange,
            "exploiters": i.exploiters,
            "drain_time": i.drain_time,
            "drain_transfers": i.drains.len(),
            "reused_address": i.reused.as_ref().map(|r| r.address),
        })).collect::<Vec<_>>(),
        "bridge_transfers": truth.bridge_transfers.len(),
        "swaps": truth.swaps.len(),
        "mixer_uses": truth.mixer_uses.len(),
        "labels": truth.labels.len(),
        "truth_path": truth_path.display().to_string(),
        "labels_path": labels_path.display().to_string(),
        "elapsed_secs": (elapsed * 1000.0).round() / 1000.0,
        "transfers_per_sec": (truth.stats.transfers as f64 / elapsed.max(1e-9)).round(),
    })
}

fn summary_table(
    truth: &GroundTruth,
    truth_path: &std::path::Path,
    labels_path: &std::path::Path,
    elapsed: f64,
) -> String {
    let mut out = String::new();
    let s = &truth.stats;
    let link = if truth.config.link_incidents {
        "linked"
    } else {
        "unlinked"
    };
    out.push_str(&format!("seed          {}\n", truth.config.seed));
    out.push_str(&format!(
        "transfers     {} in {} transactions, {} blocks\n",
        s.transfers, s.transactions, s.blocks
    ));
    for c in &truth.chains {
        out.push_str(&format!(
            "  {:<11} {:>10} transfers, blocks {}..={}\n",
            c.chain.name(),
            c.transfers,
            c.first_block,
            c.last_block
        ));
    }
    out.push_str(&format!("addresses     {}\n", s.addresses));
    out.push_str(&format!(
        "activity      {} swaps, {} bridge crossings, {} mixer uses\n",
        truth.swaps.len(),
        truth.bridge_transfers.len(),
        truth.mixer_uses.len()
    ));
    out.push_str(&format!("incidents     {} ({link})\n", truth.incidents.len()));
    for i in &truth.incidents {
        let chains: Vec<&str> = i.chains.iter().map(|c| c.name()).collect();
        let reused = i.reused.as_ref().map_or(String::new(), |r| {
            format!(", reuses {} of {}", r.address, r.earlier_incident)
        });
        let labeled = if i.labeled { "labeled" } else { "new" };
        out.push_str(&format!(
            "  {:<11} {} drains {} on {} ({labeled}){reused}\n",
            i.id,
            i.actor,
            i.victim_exchange,
            chains.join("->")
        ));
    }
    out.push_str(&format!(
        "labels        {} -> {}\n",
        truth.labels.len(),
        labels_path.display()
    ));
    out.push_str(&format!("truth         {}\n", truth_path.display()));
    out.push_str(&format!(
        "elapsed       {:.1} s ({:.0} transfers/s)\n",
        elapsed,
        s.transfers as f64 / elapsed.max(1e-9)
    ));
    out
}

/// The world generated on a second thread while this one writes it to the store: the generator's
/// writes travel through a bounded channel (a few chunks in flight), so generating (~20 % of the work
/// at 10^7 transfers) overlaps with the store's inserts. The store sees exactly the calls a direct
/// `generate_with_progress(&config, &mut store, ..)` makes, in the same order.
mod pipelined {
    use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

    use chaintrace_core::{BlockRecord, Chain, RawLog, Transfer};
    use chaintrace_sim::{GroundTruth, Progress, SimError, WorldConfig, generate_with_progress};
    use chaintrace_store::{Batch, Checkpoint, Store, StoreError, TransferLoad, TransferWriter, WriteStats};

    type Reply<T> = SyncSender<Result<T, StoreError>>;

    /// One call of the generator on the store.
    enum Call {
        Begin(u64),
        Chunk(Vec<BlockRecord>, Vec<Transfer>),
        Logs(Vec<RawLog>),
        Commit(Option<Checkpoint>, Reply<WriteStats>),
        Batch {
            blocks: Vec<BlockRecord>,
            transfers: Vec<Transfer>,
            logs: Vec<RawLog>,
            checkpoint: Option<Checkpoint>,
            reply: Reply<WriteStats>,
        },
        Unwind(Chain, u64, Reply<u64>),
    }

    fn stopped() -> StoreError {
        StoreError::Callback("the store writer stopped".into())
    }

    /// The generator's side: forwards every call to the writing thread.
    struct Forward(SyncSender<Call>);

    impl Forward {
        fn ask<T>(&self, call: impl FnOnce(Reply<T>) -> Call) -> Result<T, StoreError> {
            let (reply, answer) = sync_channel(1);
            self.0.send(call(reply)).map_err(|_| stopped())?;
            answer.recv().map_err(|_| stopped())?
        }
    }

    impl TransferWriter for Forward {
        fn write_batch(&mut self, batch: Batch<'_>) -> Result<WriteStats, StoreError> {
            self.ask(|reply| Call::Batch {
                blocks: batch.blocks.to_vec(),
                transfers: batch.transfers.to_vec(),
                logs: batch.logs.to_vec(),
                checkpoint: batch.checkpoint.cloned(),
                reply,
            })
        }

        fn unwind(&mut self, chain: Chain, from_block: u64) -> Result<u64, StoreError> {
            self.ask(|reply| Call::Unwind(chain, from_block, reply))
        }

        fn begin_load(&mut self, expected_transfers: u64) -> Result<Box<dyn TransferLoad + '_>, StoreError> {
            self.0
                .send(Call::Begin(expected_transfers))
                .map_err(|_| stopped())?;
            Ok(Box::new(ForwardLoad(self)))
        }

        fn streams_loads(&self) -> bool {
            true
        }
    }

    struct ForwardLoad<'a>(&'a Forward);

    impl TransferLoad for ForwardLoad<'_> {
        fn write(&mut self, blocks: &[BlockRecord], transfers: &[Transfer]) -> Result<(), StoreError> {
            (self.0)
                .0
                .send(Call::Chunk(blocks.to_vec(), transfers.to_vec()))
                .map_err(|_| stopped())
        }

        fn write_logs(&mut self, logs: &[RawLog]) -> Result<(), StoreError> {
            (self.0).0.send(Call::Logs(logs.to_vec())).map_err(|_| stopped())
        }

        fn commit(self: Box<Self>, checkpoint: Option<&Checkpoint>) -> Result<WriteStats, StoreError> {
            self.0.ask(|reply| Call::Commit(checkpoint.cloned(), reply))
        }
    }

    /// Generates `config` into `store`, generating on a second thread.
    pub(super) fn generate(
        config: &WorldConfig,
        store: &mut Store,
        mut progress: impl FnMut(&Progress) + Send,
    ) -> anyhow::Result<GroundTruth> {
        std::thread::scope(|scope| {
            let (send, calls) = sync_channel::<Call>(2);
            let generator = scope.spawn(move || {
                let mut forward = Forward(send);
                generate_with_progress(config, &mut forward, &mut progress)
            });
            let served = serve(store, calls);
            let generated = generator
                .join()
                .map_err(|_| anyhow::anyhow!("the world generator panicked"))?;
            match (served, generated) {
                (Ok(()), generated) => generated.map_err(|e: SimError| anyhow::Error::new(e)),
                // The generator failed first, or got the store's error as its answer: its error says
                // where.
                (Err(StoreError::Callback(_)), Err(e)) => Err(e.into()),
                // A store error stops the generator (its next call fails): report the store's error.
                (Err(e), _) => Err(e.into()),
            }
        })
    }

    /// Answers the generator's calls until it hangs up; stops at the first store error (dropping
    /// `calls`, which makes the generator's next call fail).
    fn serve(store: &mut Store, calls: Receiver<Call>) -> Result<(), StoreError> {
        while let Ok(call) = calls.recv() {
            match call {
                Call::Begin(expected) => {
                    let mut load = store.begin_load(expected)?;
                    loop {
                        match calls.recv() {
                            Ok(Call::Chunk(blocks, transfers)) => load.write(&blocks, &transfers)?,
                            Ok(Call::Logs(logs)) => load.write_logs(&logs)?,
                            Ok(Call::Commit(checkpoint, reply)) => {
                                let r = load.commit(checkpoint.as_ref());
                                let failed = r.is_err();
                                let _ = reply.send(r);
                                if failed {
                                    return Err(stopped());
                                }
                                break;
                            }
                            // The generator hung up (it failed) or called outside the load: the load is
                            // dropped, nothing of it is stored.
                            Ok(_) | Err(_) => return Err(stopped()),
                        }
                    }
                }
                Call::Batch {
                    blocks,
                    transfers,
                    logs,
                    checkpoint,
                    reply,
                } => {
                    let _ = reply.send(store.write_batch(Batch {
                        blocks: &blocks,
                        transfers: &transfers,
                        logs: &logs,
                        checkpoint: checkpoint.as_ref(),
                    }));
                }
                Call::Unwind(chain, from, reply) => {
                    let _ = reply.send(store.unwind(chain, from));
                }
                Call::Chunk(..) | Call::Logs(_) | Call::Commit(..) => return Err(stopped()),
            }
        }
        Ok(())
    }
}

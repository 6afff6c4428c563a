//! The RPC ingest stage: reads blocks from an EVM JSON-RPC node into the store, resumable and
//! reorg-aware (the shape of reth's `Stage { execute, unwind }` against a checkpoint).
//!
//! One run:
//! 1. checks the node's chain id against the chain asked for;
//! 2. plans the range: from the stage checkpoint (`"rpc"`, chain) + 1, or `from_block`, up to `to_block`
//!    but never within `confirmations` blocks of the node's head ([`plan`], pure);
//! 3. fetches windows of blocks on a fetcher thread (the node client parallelises inside a window) while
//!    the calling thread writes the previous window, so writing overlaps waiting on the node;
//! 4. before writing a window, checks that its first block's parent hash is the stored hash of the
//!    block before it, and that the window is a chain ([`check_continuity`], pure). On a mismatch it
//!    walks back to the last block where the store and the node agree, unwinds everything above it
//!    ([`TransferWriter::unwind`]) and fetches again from there;
//! 5. writes each window as one [`Batch`] that carries the advanced checkpoint, so the checkpoint never
//!    runs ahead of durable rows: after a crash, a rerun resumes after the last whole window.
//!
//! Checkpoint meaning: every block from the first run's start up to the checkpoint is stored. A run that
//! starts past `checkpoint + 1` (leaving a gap) writes its rows but does not move the checkpoint.
//!
//! Not here: talking HTTP or decoding (chain-evm), SQL (store), printing (cli reports progress through
//! [`RpcProgress`]).

use std::ops::RangeInclusive;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chaintrace_chain_evm::{DecodedBlock, EvmError, EvmSource};
use chaintrace_core::{BlockRecord, Chain, Transfer};
use chaintrace_store::{Batch, Checkpoint, StoreError, TransferReader, TransferWriter};
use thiserror::Error;

/// Name of this stage's checkpoint.
pub const STAGE: &str = "rpc";
/// Deepest reorg the stage unwinds by itself; anything deeper is reported as an error.
pub const MAX_REORG_DEPTH: u64 = 256;
/// Reorgs one run handles before giving up (a node flapping between forks).
const MAX_REORGS_PER_RUN: u32 = 16;
/// Windows fetched ahead of the writer.
const FETCH_AHEAD: usize = 2;

/// Where a node's blocks come from. Implemented by [`EvmSource`]; shared with the fetcher thread.
pub trait BlockSource: Sync {
    /// The node's chain id.
    fn chain_id(&self) -> Result<u64, EvmError>;
    /// The node's latest block number.
    fn head_block(&self) -> Result<u64, EvmError>;
    /// Every block of `range`, decoded, in block order.
    fn fetch_blocks(&self, range: RangeInclusive<u64>) -> Result<Vec<DecodedBlock>, EvmError>;
    /// The node URL with secrets removed, for messages.
    fn redacted_url(&self) -> &str;
}

impl BlockSource for EvmSource {
    fn chain_id(&self) -> Result<u64, EvmError> {
        EvmSource::chain_id(self)
    }
    fn head_block(&self) -> Result<u64, EvmError> {
        EvmSource::head_block(self)
    }
    fn fetch_blocks(&self, range: RangeInclusive<u64>) -> Result<Vec<DecodedBlock>, EvmError> {
        EvmSource::fetch_blocks(self, range)
    }
    fn redacted_url(&self) -> &str {
        EvmSource::redacted_url(self)
    }
}

/// The last block to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToBlock {
    /// The node's head at the start of the run (less the confirmations).
    Latest,
    /// A fixed block (still capped by the confirmations).
    Number(u64),
}

/// What to ingest and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcIngestOptions {
    /// The chain the node must serve.
    pub chain: Chain,
    /// First block to read when the stage has no checkpoint reaching it.
    pub from_block: u64,
    /// Last block to read.
    pub to_block: ToBlock,
    /// Blocks within this distance of the head are left out (they may still be reorganised).
    pub confirmations: u64,
    /// Blocks per fetch window, which is also one store transaction with its checkpoint.
    pub blocks_per_write: u64,
    /// Start after the checkpoint when it covers `from_block`; `false` re-reads the whole range
    /// (rows already stored are skipped as duplicates).
    pub resume: bool,
}

/// The range a run will read, decided before any block is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Chain read.
    pub chain: Chain,
    /// First block to fetch.
    pub start: u64,
    /// Last block to fetch (inclusive); `start > end` means nothing to do.
    pub end: u64,
    /// The node's head when the run started.
    pub head: u64,
    /// The stage checkpoint before the run.
    pub checkpoint: Option<u64>,
    /// Whether `end` was lowered to keep `confirmations` blocks away from the head.
    pub is_capped_by_confirmations: bool,
    /// Whether this run advances the checkpoint (false when it starts past `checkpoint + 1`).
    pub advances_checkpoint: bool,
}

impl Plan {
    /// Blocks the plan covers.
    pub fn blocks(&self) -> u64 {
        if self.start > self.end {
            0
        } else {
            self.end - self.start + 1
        }
    }
}

/// Decides the range of a run (pure).
pub fn plan(opts: &RpcIngestOptions, head: u64, checkpoint: Option<u64>) -> Plan {
    let safe_head = head.checked_sub(opts.confirmations);
    let wanted_end = match opts.to_block {
        ToBlock::Latest => safe_head.unwrap_or(0),
        ToBlock::Number(n) => n,
    };
    let (end, is_capped) = match safe_head {
        Some(safe) if wanted_end > safe => (safe, true),
        Some(_) => (wanted_end, false),
        // Fewer blocks than confirmations: nothing is deep enough.
        None => (0, true),
    };
    let start = match checkpoint {
        Some(cp) if opts.resume && cp.saturating_add(1) >= opts.from_block => cp.saturating_add(1),
        _ => opts.from_block,
    };
    let advances_checkpoint = checkpoint.is_none_or(|cp| start <= cp.saturating_add(1));
    let nothing = safe_head.is_none();
    Plan {
        chain: opts.chain,
        start: if nothing {
            end.saturating_add(1).max(start)
        } else {
            start
        },
        end,
        head,
        checkpoint,
        is_capped_by_confirmations: is_capped,
        advances_checkpoint,
    }
}

/// Whether a fetched window continues the stored chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    /// Parent hashes link up.
    Linked,
    /// The block at this number does not build on the block before it: a reorg.
    BreaksAt(u64),
}

/// Checks that `blocks` are consecutive, that each one's parent hash is the previous one's hash, and
/// that the first builds on `previous` (the stored block before the window, if any). Pure.
pub fn check_continuity(previous: Option<&BlockRecord>, blocks: &[DecodedBlock]) -> Continuity {
    let mut prev = previous.map(|r| (r.number, r.hash));
    for b in blocks {
        if let Some((number, hash)) = prev
            && (b.record.number != number + 1 || b.record.parent_hash != hash)
        {
            return Continuity::BreaksAt(b.record.number);
        }
        prev = Some((b.record.number, b.record.hash));
    }
    Continuity::Linked
}

/// One window written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowWritten {
    /// First block of the window.
    pub first: u64,
    /// Last block of the window.
    pub last: u64,
    /// Transfers in the window.
    pub transfers: u64,
    /// Of those, newly inserted.
    pub inserted: u64,
    /// Of those, already stored.
    pub duplicates: u64,
    /// Checkpoint written with the window, if any.
    pub checkpoint: Option<u64>,
}

/// A reorg found and unwound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReorgUnwound {
    /// Chain.
    pub chain: Chain,
    /// First block of the window that did not build on the stored chain (or broke inside itself).
    pub detected_at: u64,
    /// The last block the store and the node agree on; everything above it was removed.
    pub common_ancestor: u64,
    /// Transfers removed by the unwind.
    pub transfers_removed: u64,
}

/// Receives progress of a run (the cli draws a progress bar from it). Every method has a no-op default.
pub trait RpcProgress {
    /// The run's range is known.
    fn planned(&mut self, _plan: &Plan) {}
    /// A window is durable.
    fn window_written(&mut self, _window: &WindowWritten) {}
    /// A reorg was unwound; fetching restarts after `common_ancestor`.
    fn reorg_unwound(&mut self, _reorg: &ReorgUnwound) {}
}

/// Progress sink that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl RpcProgress for NoProgress {}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcIngestReport {
    /// The plan the run followed.
    pub plan: Plan,
    /// Highest block written, if any.
    pub last_written: Option<u64>,
    /// Blocks written (a block refetched after a reorg counts again).
    pub blocks: u64,
    /// Transfers in the blocks written.
    pub transfers: u64,
    /// Transfers newly inserted.
    pub inserted: u64,
    /// Transfers already stored (skipped).
    pub duplicates: u64,
    /// Reorgs unwound.
    pub reorgs: u32,
    /// Transfers removed by unwinds.
    pub transfers_unwound: u64,
    /// The stage checkpoint after the run.
    pub checkpoint: Option<u64>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Wall time spent waiting on the node (chain id, head, fetches, fork search).
    pub rpc_wait: Duration,
    /// Wall time spent writing to the store.
    pub write_time: Duration,
}

impl RpcIngestReport {
    /// Share of wall time spent waiting on the node, in [0, 1].
    pub fn rpc_wait_share(&self) -> f64 {
        let total = self.elapsed.as_secs_f64();
        if total <= 0.0 {
            0.0
        } else {
            (self.rpc_wait.as_secs_f64() / total).min(1.0)
        }
    }
}

/// Errors of the RPC ingest stage.
#[derive(Debug, Error)]
pub enum RpcIngestError {
    /// The node serves another chain.
    #[error("node {url} serves chain id {actual}, but --chain {chain} is chain id {expected}")]
    ChainMismatch {
        /// Chain asked for.
        chain: Chain,
        /// Its chain id.
        expected: u64,
        /// Chain id the node reports.
        actual: u64,
        /// Redacted node URL.
        url: String,
    },
    /// A node call failed (after the client's retries).
    #[error("{chain}: {step}: {source}")]
    Node {
        /// Chain.
        chain: Chain,
        /// What the stage was doing.
        step: String,
        /// The client's error (URLs redacted).
        source: EvmError,
    },
    /// A store call failed.
    #[error("{chain}: {step}: {source}")]
    Store {
        /// Chain.
        chain: Chain,
        /// What the stage was doing.
        step: String,
        /// The store's error.
        source: StoreError,
    },
    /// The node returned other blocks than asked for.
    #[error("{chain}: node returned blocks {got} when asked for {asked}")]
    WrongBlocks {
        /// Chain.
        chain: Chain,
        /// Range asked for.
        asked: String,
        /// What came back.
        got: String,
    },
    /// No common ancestor within [`MAX_REORG_DEPTH`] blocks.
    #[error(
        "{chain}: reorg deeper than {depth} blocks below block {from}; unwind by hand or re-ingest into a new data dir"
    )]
    ReorgTooDeep {
        /// Chain.
        chain: Chain,
        /// Block where the walk back started.
        from: u64,
        /// Blocks walked.
        depth: u64,
    },
    /// The node kept switching forks.
    #[error("{chain}: gave up after {count} reorgs in one run (is the node flapping between forks?)")]
    TooManyReorgs {
        /// Chain.
        chain: Chain,
        /// Reorgs seen.
        count: u32,
    },
}

/// How one pass of the pipeline ended.
enum PassEnd {
    /// Everything up to the plan's end is written.
    Done,
    /// The block at this number does not build on the stored chain.
    Reorg(u64),
}

/// Running totals of a run.
#[derive(Default)]
struct Totals {
    last_written: Option<u64>,
    blocks: u64,
    transfers: u64,
    inserted: u64,
    duplicates: u64,
    rpc_wait: Duration,
    write_time: Duration,
}

/// Runs the stage once: see the module documentation.
pub fn run<S, W>(
    source: &S,
    store: &mut W,
    opts: &RpcIngestOptions,
    progress: &mut dyn RpcProgress,
) -> Result<RpcIngestReport, RpcIngestError>
where
    S: BlockSource,
    W: TransferWriter + TransferReader,
{
    let started = Instant::now();
    let chain = opts.chain;
    let node_err = |step: &str| {
        let step = step.to_string();
        move |source| RpcIngestError::Node { chain, step, source }
    };
    let store_err = |step: &str| {
        let step = step.to_string();
        move |source| RpcIngestError::Store { chain, step, source }
    };
    let mut totals = Totals::default();

    let t = Instant::now();
    let actual = source.chain_id().map_err(node_err("asking the chain id"))?;
    if actual != chain.chain_id() {
        return Err(RpcIngestError::ChainMismatch {
            chain,
            expected: chain.chain_id(),
            actual,
            url: source.redacted_url().to_string(),
        });
    }
    let head = source.head_block().map_err(node_err("asking the head block"))?;
    totals.rpc_wait += t.elapsed();

    let checkpoint = store
        .checkpoint(STAGE, chain)
        .map_err(store_err("reading the checkpoint"))?;
    let plan = plan(opts, head, checkpoint);
    progress.planned(&plan);

    let mut checkpoint = checkpoint;
    let mut next = plan.start;
    let mut reorgs = 0u32;
    let mut transfers_unwound = 0u64;
    while next <= plan.end {
        match run_pass(
            source,
            store,
            opts,
            &plan,
            next,
            &mut checkpoint,
            &mut totals,
            progress,
        )? {
            PassEnd::Done => break,
            PassEnd::Reorg(at) => {
                reorgs += 1;
                if reorgs > MAX_REORGS_PER_RUN {
                    return Err(RpcIngestError::TooManyReorgs { chain, count: reorgs });
                }
                let t = Instant::now();
                let ancestor = find_common_ancestor(source, store, chain, at.saturating_sub(1))?;
                totals.rpc_wait += t.elapsed();
                let t = Instant::now();
                let removed = store
                    .unwind(chain, ancestor + 1)
                    .map_err(store_err("unwinding a reorg"))?;
                checkpoint = store
                    .checkpoint(STAGE, chain)
                    .map_err(store_err("reading the checkpoint after unwind"))?;
                totals.write_time += t.elapsed();
                transfers_unwound += removed;
                progress.reorg_unwound(&ReorgUnwound {
                    chain,
                    detected_at: at,
                    common_ancestor: ancestor,
                    transfers_removed: removed,
                });
                next = ancestor + 1;
            }
        }
    }

    Ok(RpcIngestReport {
        plan,
        last_written: totals.last_written,
        blocks: totals.blocks,
        transfers: totals.transfers,
        inserted: totals.inserted,
        duplicates: totals.duplicates,
        reorgs,
        transfers_unwound,
        checkpoint,
        elapsed: started.elapsed(),
        rpc_wait: totals.rpc_wait,
        write_time: totals.write_time,
    })
}

/// Fetches windows from `start` to the plan's end on a fetcher thread and writes them here, until done
/// or until a window does not build on the stored chain.
#[allow(clippy::too_many_arguments)] // One private call site; a struct would only rename the same fields.
fn run_pass<S, W>(
    source: &S,
    store: &mut W,
    opts: &RpcIngestOptions,
    plan: &Plan,
    start: u64,
    checkpoint: &mut Option<u64>,
    totals: &mut Totals,
    progress: &mut dyn RpcProgress,
) -> Result<PassEnd, RpcIngestError>
where
    S: BlockSource,
    W: TransferWriter + TransferReader,
{
    let chain = plan.chain;
    let end = plan.end;
    let step = opts.blocks_per_write.max(1);
    let mut previous = match start.checked_sub(1) {
        Some(n) => store.block(chain, n).map_err(|source| RpcIngestError::Store {
            chain,
            step: format!("reading stored block {n}"),
            source,
        })?,
        None => None,
    };

    std::thread::scope(|scope| {
        let (tx, rx) =
            mpsc::sync_channel::<(RangeInclusive<u64>, Result<Vec<DecodedBlock>, EvmError>, Duration)>(
                FETCH_AHEAD,
            );
        scope.spawn(move || {
            let mut lo = start;
            while lo <= end {
                let hi = lo.saturating_add(step - 1).min(end);
                let t = Instant::now();
                let fetched = source.fetch_blocks(lo..=hi);
                let is_err = fetched.is_err();
                // A closed channel means the writer stopped (error or reorg): stop fetching.
                if tx.send((lo..=hi, fetched, t.elapsed())).is_err() || is_err {
                    return;
                }
                lo = hi.saturating_add(1);
                if hi == u64::MAX {
                    return;
                }
            }
        });

        // Dropping `rx` on any return below stops the fetcher at its next send.
        for (range, fetched, waited) in rx {
            totals.rpc_wait += waited;
            let blocks = fetched.map_err(|source| RpcIngestError::Node {
                chain,
                step: format!("fetching blocks {}..={}", range.start(), range.end()),
                source,
            })?;
            let numbers_match = blocks.len() as u64 == range.end() - range.start() + 1
                && blocks.first().map(|b| b.record.number) == Some(*range.start());
            if !numbers_match {
                return Err(RpcIngestError::WrongBlocks {
                    chain,
                    asked: format!("{}..={}", range.start(), range.end()),
                    got: match (blocks.first(), blocks.last()) {
                        (Some(f), Some(l)) => format!(
                            "{}..={} ({} blocks)",
                            f.record.number,
                            l.record.number,
                            blocks.len()
                        ),
                        _ => "none".to_string(),
                    },
                });
            }
            if check_continuity(previous.as_ref(), &blocks) != Continuity::Linked {
                // A break inside the window (the node switched forks between calls) is handled from the
                // window's start too: the blocks before the break are not stored yet, so the walk back
                // must begin at the last stored block.
                return Ok(PassEnd::Reorg(*range.start()));
            }

            let last = *range.end();
            let new_checkpoint = plan
                .advances_checkpoint
                .then(|| checkpoint.map_or(last, |cp| cp.max(last)));
            let records: Vec<BlockRecord> = blocks.iter().map(|b| b.record.clone()).collect();
            let logs: Vec<chaintrace_core::RawLog> =
                blocks.iter().flat_map(|b| b.logs.iter().cloned()).collect();
            let transfers: Vec<Transfer> = blocks.into_iter().flat_map(|b| b.transfers).collect();
            let cp = new_checkpoint.map(|block| Checkpoint {
                stage: STAGE.to_string(),
                chain,
                block,
            });
            let t = Instant::now();
            let stats = store
                .write_batch(Batch {
                    blocks: &records,
                    transfers: &transfers,
                    logs: &logs,
                    checkpoint: cp.as_ref(),
                })
                .map_err(|source| RpcIngestError::Store {
                    chain,
                    step: format!("writing blocks {}..={last}", range.start()),
                    source,
                })?;
            totals.write_time += t.elapsed();
            if new_checkpoint.is_some() {
                *checkpoint = new_checkpoint;
            }
            totals.last_written = Some(totals.last_written.map_or(last, |l| l.max(last)));
            totals.blocks += records.len() as u64;
            totals.transfers += transfers.len() as u64;
            totals.inserted += stats.inserted;
            totals.duplicates += stats.duplicates;
            progress.window_written(&WindowWritten {
                first: *range.start(),
                last,
                transfers: transfers.len() as u64,
                inserted: stats.inserted,
                duplicates: stats.duplicates,
                checkpoint: new_checkpoint,
            });
            previous = records.into_iter().last();
        }
        Ok(PassEnd::Done)
    })
}

/// Walks back from `from` to the highest block whose stored hash is the node's hash for that number.
/// A block the store does not hold cannot conflict, so the walk stops there too.
fn find_common_ancestor<S, W>(source: &S, store: &W, chain: Chain, from: u64) -> Result<u64, RpcIngestError>
where
    S: BlockSource,
    W: TransferReader,
{
    let mut n = from;
    loop {
        let stored = store.block(chain, n).map_err(|source| RpcIngestError::Store {
            chain,
            step: format!("reading stored block {n} (reorg walk back)"),
            source,
        })?;
        let Some(stored) = stored else { return Ok(n) };
        let node = source
            .fetch_blocks(n..=n)
            .map_err(|source| RpcIngestError::Node {
                chain,
                step: format!("fetching block {n} (reorg walk back)"),
                source,
            })?;
        if node.first().is_some_and(|b| b.record.hash == stored.hash) {
            return Ok(n);
        }
        let depth = from - n + 1;
        if depth >= MAX_REORG_DEPTH || n == 0 {
            return Err(RpcIngestError::ReorgTooDeep { chain, from, depth });
        }
        n -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(from: u64, to: ToBlock, confirmations: u64) -> RpcIngestOptions {
        RpcIngestOptions {
            chain: Chain::Ethereum,
            from_block: from,
            to_block: to,
            confirmations,
            blocks_per_write: 10,
            resume: true,
        }
    }

    #[test]
    fn plan_starts_at_from_block_without_a_checkpoint() {
        let p = plan(&opts(100, ToBlock::Number(200), 0), 1000, None);
        assert_eq!((p.start, p.end, p.blocks()), (100, 200, 101));
        assert!(p.advances_checkpoint && !p.is_capped_by_confirmations);
    }

    #[test]
    fn plan_resumes_after_the_checkpoint() {
        let p = plan(&opts(100, ToBlock::Number(200), 0), 1000, Some(150));
        assert_eq!((p.start, p.end), (151, 200));
        assert!(p.advances_checkpoint);
        // Checkpoint right before from_block: contiguous, resume there.
        let p = plan(&opts(100, ToBlock::Number(200), 0), 1000, Some(99));
        assert_eq!(p.start, 100);
        assert!(p.advances_checkpoint);
    }

    #[test]
    fn plan_past_a_gap_does_not_move_the_checkpoint() {
        let p = plan(&opts(500, ToBlock::Number(600), 0), 1000, Some(200));
        assert_eq!((p.start, p.end), (500, 600));
        assert!(!p.advances_checkpoint);
    }

    #[test]
    fn plan_without_resume_rereads_the_range_and_keeps_the_checkpoint_moving_forward_only() {
        let mut o = opts(100, ToBlock::Number(200), 0);
        o.resume = false;
        let p = plan(&o, 1000, Some(300));
        assert_eq!((p.start, p.end), (100, 200));
        assert!(p.advances_checkpoint);
    }

    #[test]
    fn plan_keeps_confirmations_away_from_the_head() {
        let p = plan(&opts(0, ToBlock::Latest, 12), 100, None);
        assert_eq!((p.start, p.end), (0, 88));
        let p = plan(&opts(0, ToBlock::Number(95), 12), 100, None);
        assert_eq!(p.end, 88);
        assert!(p.is_capped_by_confirmations);
        let p = plan(&opts(0, ToBlock::Number(50), 12), 100, None);
        assert_eq!(p.end, 50);
        assert!(!p.is_capped_by_confirmations);
    }

    #[test]
    fn plan_is_empty_when_the_chain_is_shorter_than_the_confirmations() {
        let p = plan(&opts(0, ToBlock::Latest, 12), 5, None);
        assert_eq!(p.blocks(), 0);
        let p = plan(&opts(0, ToBlock::Number(3), 0), 5, Some(3));
        assert_eq!(p.blocks(), 0);
    }

    fn block(number: u64, hash: u8, parent: u8) -> DecodedBlock {
        DecodedBlock {
            record: BlockRecord {
                chain: Chain::Ethereum,
                number,
                hash: [hash; 32],
                parent_hash: [parent; 32],
                timestamp: number * 12,
            },
            transfers: Vec::new(),
            logs: Vec::new(),
        }
    }

    #[test]
    fn continuity_links_parent_hashes_and_finds_the_break() {
        let stored = block(9, 9, 8).record;
        let good = [block(10, 10, 9), block(11, 11, 10)];
        assert_eq!(check_continuity(Some(&stored), &good), Continuity::Linked);
        assert_eq!(check_continuity(None, &good), Continuity::Linked);
        // First block built on another block 9.
        assert_eq!(
            check_continuity(Some(&stored), &[block(10, 10, 0x99)]),
            Continuity::BreaksAt(10)
        );
        // Break inside the window (the node switched forks between two calls).
        assert_eq!(
            check_continuity(Some(&stored), &[block(10, 10, 9), block(11, 11, 0x77)]),
            Continuity::BreaksAt(11)
        );
        // A missing number is a break too.
        assert_eq!(
            check_continuity(Some(&stored), &[block(11, 11, 9)]),
            Continuity::BreaksAt(11)
        );
    }

    /// A node whose canonical chain is fixed, except that the first fetch covering `glitch_at` returns
    /// that block from another fork (as when a node switches forks between two calls of one window).
    struct GlitchyNode {
        chain: Vec<DecodedBlock>,
        glitch_at: u64,
        glitched: std::sync::atomic::AtomicBool,
    }

    impl BlockSource for GlitchyNode {
        fn chain_id(&self) -> Result<u64, EvmError> {
            Ok(1)
        }
        fn head_block(&self) -> Result<u64, EvmError> {
            Ok(self.chain.len() as u64 - 1)
        }
        fn fetch_blocks(&self, range: RangeInclusive<u64>) -> Result<Vec<DecodedBlock>, EvmError> {
            let mut out: Vec<DecodedBlock> =
                self.chain[*range.start() as usize..=*range.end() as usize].to_vec();
            if range.contains(&self.glitch_at)
                && !self.glitched.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                let b = &mut out[(self.glitch_at - range.start()) as usize];
                b.record.parent_hash = [0xee; 32];
                b.record.hash = [0xef; 32];
            }
            Ok(out)
        }
        fn redacted_url(&self) -> &str {
            "test://glitchy"
        }
    }

    #[test]
    fn a_fork_switch_inside_a_window_refetches_the_whole_window() {
        use chaintrace_core::{Address, Asset, Position, TransferKind, TxHash, U256};
        let chain: Vec<DecodedBlock> = (0..=20u64)
            .map(|n| {
                let mut b = block(n, n as u8 + 1, n as u8);
                b.transfers.push(Transfer {
                    chain: Chain::Ethereum,
                    block: n,
                    timestamp: n * 12,
                    tx_hash: TxHash([n as u8; 32]),
                    position: Position::Tx,
                    from: Address([1; 20]),
                    to: Address([2; 20]),
                    asset: Asset::Native,
                    amount: U256::from(n + 1),
                    kind: TransferKind::Native,
                    tx_from: Address([1; 20]),
                    tx_fee: U256::ZERO,
                    gas_price: U256::ZERO,
                });
                b
            })
            .collect();
        let node = GlitchyNode {
            chain,
            glitch_at: 7,
            glitched: false.into(),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = chaintrace_store::Store::open(dir.path()).expect("store");
        let mut o = opts(0, ToBlock::Latest, 0);
        o.blocks_per_write = 5;
        let report = run(&node, &mut store, &o, &mut NoProgress).expect("ingest");
        assert_eq!(report.reorgs, 1);
        assert_eq!(report.transfers_unwound, 0);
        assert_eq!(report.checkpoint, Some(20));
        for n in 0..=20u64 {
            let stored = store
                .block(Chain::Ethereum, n)
                .expect("read")
                .unwrap_or_else(|| panic!("block {n} missing"));
            assert_eq!(stored.hash, [n as u8 + 1; 32], "block {n}");
        }
        assert_eq!(store.transfer_count(None).expect("count"), 21);
    }
}

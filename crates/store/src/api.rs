//! The narrow reader/writer traits every other crate uses. Their shape is a contract between crates:
//! extend, do not break.

use std::collections::HashSet;

use chaintrace_core::{Address, BlockRecord, Chain, RawLog, Transfer, TxHash};

use crate::load::BufferedLoad;

use crate::StoreError;

/// How far a named ingest stage got on a chain: every block `<= block` is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Stage name, e.g. `"rpc"` or `"etl"`.
    pub stage: String,
    /// Chain the stage reads.
    pub chain: Chain,
    /// Highest block number whose rows are all durable.
    pub block: u64,
}

/// One atomic unit of writing: blocks, their transfers and the checkpoint they advance. All or nothing.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Blocks covered by this batch (may be empty for file imports without block rows).
    pub blocks: &'a [BlockRecord],
    /// Transfers in those blocks.
    pub transfers: &'a [Transfer],
    /// Raw logs of interest (swaps, bridges, mixers) in those blocks; identity (chain, tx hash, log index).
    pub logs: &'a [RawLog],
    /// Checkpoint to record in the same transaction, if any.
    pub checkpoint: Option<&'a Checkpoint>,
}

/// What a write did. Inserting a transfer whose identity (chain, tx hash, position) exists is a no-op.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Transfers newly inserted.
    pub inserted: u64,
    /// Transfers already present (skipped).
    pub duplicates: u64,
}

/// Block coverage and counts of one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCoverage {
    /// The chain.
    pub chain: Chain,
    /// Contiguous block ranges held, inclusive, ascending.
    pub ranges: Vec<(u64, u64)>,
    /// Missing ranges between the held ones, inclusive.
    pub gaps: Vec<(u64, u64)>,
    /// Transfers stored for the chain.
    pub transfers: u64,
    /// Checkpoints per stage.
    pub checkpoints: Vec<Checkpoint>,
}

/// Writes transfers durably and idempotently.
pub trait TransferWriter {
    /// Writes one batch in one transaction; on error nothing of it is stored.
    fn write_batch(&mut self, batch: Batch<'_>) -> Result<WriteStats, StoreError>;
    /// Removes every block and transfer of `chain` with block number `>= from_block` and lowers the
    /// chain's checkpoints below it (reorg unwind). Returns transfers removed.
    fn unwind(&mut self, chain: Chain, from_block: u64) -> Result<u64, StoreError>;

    /// Starts a streamed load: any number of chunks written into one open transaction, made durable
    /// all at once by [`TransferLoad::commit`] (dropping the load without committing stores nothing).
    /// `expected_transfers` is a size hint (0 if unknown); a store may use it to pick a bulk path.
    ///
    /// The default buffers every chunk in memory and writes one [`Batch`] at commit; `Store`
    /// overrides it to stream chunks straight into its open transaction.
    fn begin_load(&mut self, expected_transfers: u64) -> Result<Box<dyn TransferLoad + '_>, StoreError> {
        let _ = expected_transfers;
        Ok(Box::new(BufferedLoad::new(self)))
    }

    /// Whether [`TransferWriter::begin_load`] streams chunks into durable storage as they come (`true`)
    /// or, like the default, buffers the whole load in memory until commit (`false`). A producer of a
    /// very large load uses it to choose between one load and a series of [`TransferWriter::write_batch`]
    /// calls.
    fn streams_loads(&self) -> bool {
        false
    }
}

/// A load in progress (see [`TransferWriter::begin_load`]): all of it or nothing becomes durable.
pub trait TransferLoad {
    /// Adds a chunk of blocks and transfers to the open load (same rules as [`TransferWriter::write_batch`]:
    /// a transfer whose identity exists is skipped and counted as a duplicate).
    fn write(&mut self, blocks: &[BlockRecord], transfers: &[Transfer]) -> Result<(), StoreError>;
    /// Adds raw logs of interest to the open load (same rules as [`Batch::logs`]: a log whose identity
    /// (chain, tx hash, log index) exists is skipped).
    fn write_logs(&mut self, logs: &[RawLog]) -> Result<(), StoreError>;
    /// Records `checkpoint` (if any) with the loaded rows and makes everything durable in one commit.
    fn commit(self: Box<Self>, checkpoint: Option<&Checkpoint>) -> Result<WriteStats, StoreError>;
}

/// Reads transfers back.
pub trait TransferReader {
    /// Every transfer into or out of `address` (on `chain`, or on all chains), ordered by
    /// (timestamp, chain, block, tx_hash, position).
    fn transfers_of(&self, address: Address, chain: Option<Chain>) -> Result<Vec<Transfer>, StoreError>;
    /// Calls `f` for every transfer (on `chain`, or all), in unspecified order. Stops at `f`'s first error.
    fn for_each_transfer(
        &self,
        chain: Option<Chain>,
        f: &mut dyn FnMut(Transfer) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// The transfer with the largest id, with that id (the store's high-water mark); `None` when the store
    /// holds no transfer or does not number its transfers (the default). A transfer written gets an id above
    /// the largest one present at that moment, so ids at or below a high-water mark are reused only after the
    /// transfer holding it was removed (an unwind): a caller that finds the same row under the same id later
    /// knows that every transfer written since has a larger id.
    fn last_transfer(&self) -> Result<Option<(u64, Transfer)>, StoreError> {
        Ok(None)
    }
    /// Calls `f` with the id and the row of every transfer whose id is above `after_id`, in ascending id
    /// order (reads only those rows). Stops at `f`'s first error. Stores that do not number their transfers
    /// (whose [`TransferReader::last_transfer`] is `None`) return an error (the default).
    fn for_each_transfer_after(
        &self,
        after_id: u64,
        f: &mut dyn FnMut(u64, Transfer) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let _ = (after_id, f);
        Err(StoreError::Callback(
            "this store does not number its transfers (no incremental reads)".to_string(),
        ))
    }
    /// Calls `f` for every transfer that lies in one of the transactions `txs` (keyed by chain, block and
    /// tx hash) or whose sender or recipient is one of `addresses` on the transfer's chain. Each matching
    /// transfer is passed once, in the order [`TransferReader::for_each_transfer`] gives for all chains
    /// (store order); keys may repeat, come in any order, or match nothing. Stops at `f`'s first error.
    ///
    /// The default scans every transfer; `Store` reads only the matching rows, through its identity index
    /// (which starts with chain and block) and its address postings.
    fn for_each_transfer_in(
        &self,
        txs: &[(Chain, u64, TxHash)],
        addresses: &[(Chain, Address)],
        f: &mut dyn FnMut(Transfer) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let txs: HashSet<(Chain, u64, TxHash)> = txs.iter().copied().collect();
        let addresses: HashSet<(Chain, Address)> = addresses.iter().copied().collect();
        self.for_each_transfer(None, &mut |t| {
            if txs.contains(&(t.chain, t.block, t.tx_hash))
                || addresses.contains(&(t.chain, t.from))
                || addresses.contains(&(t.chain, t.to))
            {
                f(t)?;
            }
            Ok(())
        })
    }
    /// Number of transfers stored (on `chain`, or all).
    fn transfer_count(&self, chain: Option<Chain>) -> Result<u64, StoreError>;
    /// Per-chain coverage, gaps, counts and checkpoints, for chains with any data.
    fn coverage(&self) -> Result<Vec<ChainCoverage>, StoreError>;
    /// The checkpoint of `stage` on `chain`, if any.
    fn checkpoint(&self, stage: &str, chain: Chain) -> Result<Option<u64>, StoreError>;
    /// Raw logs of interest on `chain` (or all), in (chain, block, log index) order.
    fn raw_logs(&self, chain: Option<Chain>) -> Result<Vec<RawLog>, StoreError>;
    /// The stored block record, if any (reorg detection compares parent hashes).
    fn block(&self, chain: Chain, number: u64) -> Result<Option<BlockRecord>, StoreError>;
    /// Per chain with any data: transfers stored and the highest block held (0 if none) — the parts of
    /// [`TransferReader::coverage`] a staleness check needs, without computing ranges and gaps. Stores
    /// that keep counts answer this without reading their rows.
    fn chain_totals(&self) -> Result<Vec<(Chain, u64, u64)>, StoreError> {
        Ok(self
            .coverage()?
            .into_iter()
            .map(|c| {
                let max = c.ranges.iter().map(|r| r.1).max().unwrap_or(0);
                (c.chain, c.transfers, max)
            })
            .collect())
    }
}

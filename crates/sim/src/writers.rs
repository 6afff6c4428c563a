//! Writers that keep a world in memory or only count it (tests, benchmarks, small demos).

use chaintrace_core::{BlockRecord, Chain, RawLog, Transfer};
use chaintrace_store::{Batch, StoreError, TransferWriter, WriteStats};

/// Keeps every block and transfer in memory, in write order. For small worlds only.
#[derive(Debug, Default, Clone)]
pub struct MemoryWriter {
    /// Blocks in write order.
    pub blocks: Vec<BlockRecord>,
    /// Transfers in write order (time order per chain).
    pub transfers: Vec<Transfer>,
    /// Raw logs in write order.
    pub logs: Vec<RawLog>,
    /// Batches received.
    pub batches: u64,
}

impl TransferWriter for MemoryWriter {
    fn write_batch(&mut self, batch: Batch<'_>) -> Result<WriteStats, StoreError> {
        self.blocks.extend_from_slice(batch.blocks);
        self.transfers.extend_from_slice(batch.transfers);
        self.logs.extend_from_slice(batch.logs);
        self.batches += 1;
        Ok(WriteStats {
            inserted: batch.transfers.len() as u64,
            duplicates: 0,
        })
    }

    fn unwind(&mut self, chain: Chain, from_block: u64) -> Result<u64, StoreError> {
        let before = self.transfers.len();
        self.transfers
            .retain(|t| t.chain != chain || t.block < from_block);
        self.blocks.retain(|b| b.chain != chain || b.number < from_block);
        self.logs.retain(|l| l.chain != chain || l.block < from_block);
        Ok((before - self.transfers.len()) as u64)
    }
}

/// Counts what it is given and drops it: measures the generator alone.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingWriter {
    /// Transfers received.
    pub transfers: u64,
    /// Blocks received.
    pub blocks: u64,
    /// Raw logs received.
    pub logs: u64,
    /// Batches received.
    pub batches: u64,
}

impl TransferWriter for CountingWriter {
    fn write_batch(&mut self, batch: Batch<'_>) -> Result<WriteStats, StoreError> {
        self.transfers += batch.transfers.len() as u64;
        self.blocks += batch.blocks.len() as u64;
        self.logs += batch.logs.len() as u64;
        self.batches += 1;
        Ok(WriteStats {
            inserted: batch.transfers.len() as u64,
            duplicates: 0,
        })
    }

    fn unwind(&mut self, _chain: Chain, _from_block: u64) -> Result<u64, StoreError> {
        Ok(0)
    }
}

//! The default, in-memory [`TransferLoad`] used by writers that do not stream.

use chaintrace_core::{BlockRecord, RawLog, Transfer};

use crate::{Batch, Checkpoint, StoreError, TransferLoad, TransferWriter, WriteStats};

/// Collects every chunk and writes them as one [`Batch`] at commit.
pub(crate) struct BufferedLoad<'a, W: TransferWriter + ?Sized> {
    writer: &'a mut W,
    blocks: Vec<BlockRecord>,
    transfers: Vec<Transfer>,
    logs: Vec<RawLog>,
}

impl<'a, W: TransferWriter + ?Sized> BufferedLoad<'a, W> {
    pub(crate) fn new(writer: &'a mut W) -> Self {
        BufferedLoad {
            writer,
            blocks: Vec::new(),
            transfers: Vec::new(),
            logs: Vec::new(),
        }
    }
}

impl<W: TransferWriter + ?Sized> TransferLoad for BufferedLoad<'_, W> {
    fn write(&mut self, blocks: &[BlockRecord], transfers: &[Transfer]) -> Result<(), StoreError> {
        self.blocks.extend_from_slice(blocks);
        self.transfers.extend_from_slice(transfers);
        Ok(())
    }

    fn write_logs(&mut self, logs: &[RawLog]) -> Result<(), StoreError> {
        self.logs.extend_from_slice(logs);
        Ok(())
    }

    fn commit(self: Box<Self>, checkpoint: Option<&Checkpoint>) -> Result<WriteStats, StoreError> {
        self.writer.write_batch(Batch {
            blocks: &self.blocks,
            transfers: &self.transfers,
            logs: &self.logs,
            checkpoint,
        })
    }
}

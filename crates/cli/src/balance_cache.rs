//! A cache of the graph's balance index (`chaintrace_analysis::trace::BalanceIndex`) next to the snapshot.
//!
//! Haircut and fifo traces read an address's whole history before its first taint; the index (checkpoints
//! of clean balances, in-lists grouped by asset) lets them start near the first taint instead. It is derived
//! from the graph alone, so it is built once per graph (seconds at 10^7 transfers) and kept in the data
//! directory under a key of the graph's store stamp and shape (the stamp the snapshot is checked against).
//! A file that does not match, fails its checksum or does not parse is ignored with a warning and rebuilt;
//! the file is written to a temp file and renamed into place. Without a usable index the trace is the same,
//! only slower.

use std::path::Path;
use std::time::Instant;

use chaintrace_analysis::trace::BalanceIndex;
use chaintrace_graph::{Graph, checksum};

use crate::cache_file;

/// File name inside the data directory.
pub(crate) const BALANCE_INDEX_CACHE: &str = "balance.index";

const MAGIC: &[u8; 8] = b"CTBALC\x00\x01";

/// The cache key: the graph's store stamp (with its high-water mark) and its node and edge counts.
fn cache_key(graph: &Graph) -> u64 {
    let mut k: Vec<u8> = Vec::new();
    k.extend_from_slice(&graph.stamp().digest().to_le_bytes());
    k.extend_from_slice(&graph.node_count().to_le_bytes());
    k.extend_from_slice(&graph.edge_count().to_le_bytes());
    checksum(&k)
}

/// The index of `graph`: read from the cache when it matches, else built (and cached; a cache that cannot be
/// written is only a warning).
pub(crate) fn load_or_build(dir: &Path, graph: &Graph) -> BalanceIndex {
    let t0 = Instant::now();
    let key = cache_key(graph);
    let path = dir.join(BALANCE_INDEX_CACHE);
    match read(&path, key) {
        Ok(Some(ix)) if ix.fits(graph) => {
            eprintln!(
                "balance index: {} checkpoints from the cache {} in {:.3}s",
                ix.checkpoint_count(),
                path.display(),
                t0.elapsed().as_secs_f64()
            );
            return ix;
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: ignoring the balance index cache: {e}; rebuilding"),
    }
    let ix = BalanceIndex::build(graph);
    eprintln!(
        "balance index: built in {:.3}s ({} checkpoints, {} grouped in-edges, {} bytes; once per graph)",
        t0.elapsed().as_secs_f64(),
        ix.checkpoint_count(),
        ix.grouped_in_edges(),
        ix.bytes()
    );
    if let Err(e) = write(dir, key, &ix) {
        eprintln!(
            "warning: could not write the balance index cache in {}: {e}",
            dir.display()
        );
    }
    ix
}

/// The cached index when the file exists and its key matches (`Ok(None)`: missing or another key).
fn read(path: &Path, key: u64) -> Result<Option<BalanceIndex>, String> {
    cache_file::read(path, MAGIC, "balance index cache", key, |payload| {
        BalanceIndex::from_bytes(payload).ok_or_else(|| "does not parse".to_string())
    })
}

/// Writes the index under `key` (temp file + rename).
fn write(dir: &Path, key: u64, ix: &BalanceIndex) -> std::io::Result<()> {
    cache_file::write(&dir.join(BALANCE_INDEX_CACHE), MAGIC, key, ix.bytes(), |w| {
        w.extend_from_slice(&ix.to_bytes())
    })
}

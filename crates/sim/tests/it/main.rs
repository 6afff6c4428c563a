//! Integration tests of the simulator: determinism, balance conservation, ground-truth consistency.

mod conservation;
mod determinism;
mod truth;

use chaintrace_sim::{GroundTruth, MemoryWriter, WorldConfig, generate_in_memory};

/// A small but complete world (every feature on).
pub(crate) fn small(seed: u64) -> WorldConfig {
    WorldConfig {
        target_transfers: 20_000,
        ..WorldConfig::new(seed, 20_000)
    }
}

pub(crate) fn world(config: &WorldConfig) -> (MemoryWriter, GroundTruth) {
    generate_in_memory(config).expect("small world generates")
}

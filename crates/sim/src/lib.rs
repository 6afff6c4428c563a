//! Deterministic simulated worlds for chaintrace, with ground truth.
//!
//! [`generate`] writes a seeded world (several EVM chains, users with power-law activity, exchanges with
//! hot wallets and sweeping deposit addresses, stablecoins, a DEX, a bridge, a mixer, and planted
//! incidents whose stolen funds are laundered through swaps, a bridge hop, peel chains, exchange
//! deposits and the mixer) through any [`chaintrace_store::TransferWriter`], in time order and in
//! batches, and returns a [`GroundTruth`] describing who owns every address, what each incident did and
//! which transfers pair up. Same [`WorldConfig`] (seed included) => byte-identical world.
//!
//! The world is balance-consistent per chain and asset: no address other than [`GroundTruth::sources`]
//! ever sends more than it holds, in any replay order within a block. Transaction fees are recorded on
//! every transfer but not debited from balances.
//!
//! Not here: reading worlds back, analyses, printing (the CLI writes the truth JSON and labels CSV).

#![warn(missing_docs)]

mod config;
mod error;
mod ledger;
mod truth;
mod world;
mod writers;

pub use config::{WorldConfig, block_time, first_block};
pub use error::SimError;
pub use truth::{
    AssetAmount, AssetInfo, BridgeTransfer, ChainAddress, ChainTruth, DepositAddress, Destination,
    DestinationKind, Entity, EntityKind, ExchangeTruth, GroundTruth, Incident, MixerPool, MixerUse,
    ReusedAddress, SimLabel, Swap, TRUTH_SCHEMA_VERSION, TransferRef, WorldStats,
};
pub use world::{
    BRIDGE_DEPOSIT_SIGNATURE, BRIDGE_RELEASE_SIGNATURE, MIXER_DEPOSIT_SIGNATURE, MIXER_WITHDRAWAL_SIGNATURE,
    Progress, V2_SWAP_SIGNATURE, WRAP_DEPOSIT_SIGNATURE, WRAP_WITHDRAWAL_SIGNATURE, generate,
    generate_in_memory, generate_with_progress,
};
pub use writers::{CountingWriter, MemoryWriter};

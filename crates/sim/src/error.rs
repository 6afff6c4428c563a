use chaintrace_core::Chain;
use chaintrace_store::StoreError;

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The world configuration cannot be generated.
    #[error("bad world config: {field}: {reason}")]
    Config {
        /// The offending field of [`crate::WorldConfig`].
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The writer refused a batch.
    #[error("writing simulated batch ({transfers} transfers, up to {chain} block {block}): {source}")]
    Write {
        /// A chain of the batch (the first configured one).
        chain: Chain,
        /// Highest block of that chain in the batch.
        block: u64,
        /// Transfers in the failed batch.
        transfers: usize,
        /// What the store said.
        source: StoreError,
    },
    /// The generator tried to spend more than an address holds: a bug in the simulator, never bad input.
    #[error(
        "simulator bug: {address} on {chain} would overspend asset #{asset}: needs {needed}, spendable {available}"
    )]
    Overspend {
        /// Chain of the spend.
        chain: Chain,
        /// Lowercase hex address.
        address: String,
        /// Asset index (0 native, 1 USDT, 2 USDC).
        asset: u8,
        /// Amount it tried to send.
        needed: u128,
        /// What it could send.
        available: u128,
    },
}

//! chaintrace-chain-evm (placeholder, being built).

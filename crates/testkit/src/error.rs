use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while starting a dev node or driving it.
#[derive(Debug, Error)]
pub enum TestkitError {
    /// No anvil binary at `CHAINTRACE_ANVIL` nor in the repo's `.tools/`.
    #[error("anvil not found ({looked}); run: bash scripts/setup-tools.sh")]
    AnvilNotFound {
        /// Where we looked.
        looked: String,
    },
    /// The anvil process could not be started.
    #[error("cannot start anvil at {path}: {source}")]
    Spawn {
        /// The binary we tried to run.
        path: PathBuf,
        /// Why the OS refused.
        source: std::io::Error,
    },
    /// anvil started but never reported its address, or never answered.
    #[error("anvil did not come up: {reason}")]
    Startup {
        /// What was seen instead.
        reason: String,
    },
    /// The HTTP request of a JSON-RPC call failed.
    #[error("rpc {method} to {url}: {source}")]
    Transport {
        /// The JSON-RPC method.
        method: String,
        /// The node URL (loopback; no secrets).
        url: String,
        /// The transport error.
        source: Box<ureq::Error>,
    },
    /// The node answered the call with a JSON-RPC error.
    #[error("rpc {method} failed: {message}")]
    Node {
        /// The JSON-RPC method.
        method: String,
        /// The node's error object, as text.
        message: String,
    },
    /// The node's answer did not have the expected shape.
    #[error("rpc {method}: unexpected answer: {what}")]
    Shape {
        /// The JSON-RPC method.
        method: String,
        /// What was wrong.
        what: String,
    },
    /// A transaction did not do what the scenario needs (reverted, no contract address, ...).
    #[error("scenario step '{step}': {what}")]
    Scenario {
        /// The step of the scenario.
        step: String,
        /// What went wrong.
        what: String,
    },
}

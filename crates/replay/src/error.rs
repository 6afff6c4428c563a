use std::path::PathBuf;

use chaintrace_core::Chain;
use chaintrace_testkit::TestkitError;
use thiserror::Error;

/// Everything that can go wrong while building, caching or loading the replay world.
#[derive(Debug, Error)]
pub enum ReplayError {
    /// A node could not be started, or a JSON-RPC call to it failed.
    #[error("{chain}: {source}")]
    Node {
        /// The chain of the node.
        chain: Chain,
        /// What the testkit reported.
        source: TestkitError,
    },
    /// A transaction of the scenario reverted or did not have the expected effect.
    #[error("{chain}: step '{step}': {what}")]
    Step {
        /// The chain the step ran on.
        chain: Chain,
        /// The scenario step.
        step: String,
        /// What went wrong.
        what: String,
    },
    /// Reading or writing a file of the world cache failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file of the world cache has an unexpected content.
    #[error("{}: {what}", path.display())]
    Cache {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
}

impl ReplayError {
    pub(crate) fn node(chain: Chain) -> impl FnOnce(TestkitError) -> ReplayError {
        move |source| ReplayError::Node { chain, source }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ReplayError {
        let path = path.into();
        move |source| ReplayError::Io { path, source }
    }
}

use thiserror::Error;

/// Errors of the DeFi layer: only text inputs (registry CSVs) can be malformed; decoding bad logs is
/// not an error (an undecodable log is skipped, as a node would show it to any other reader).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DefiError {
    /// A registry CSV line that cannot be read.
    #[error("{source_name}:{line}: {reason}")]
    BadRegistryLine {
        /// File name (or other label) of the CSV text.
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
}

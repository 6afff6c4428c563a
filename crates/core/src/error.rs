use thiserror::Error;

/// Errors raised when parsing domain values from text.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// A chain name or id that chaintrace does not know.
    #[error("unknown chain '{0}' (known: ethereum, bsc, polygon, arbitrum, optimism, tron)")]
    UnknownChain(String),
    /// An address that is neither 0x-hex of 20 bytes nor a Tron base58check address.
    #[error("bad address '{input}': {reason}")]
    BadAddress {
        /// The text as given.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A transaction hash that is not 0x-hex of 32 bytes.
    #[error("bad tx hash '{0}': expected 0x followed by 64 hex digits")]
    BadTxHash(String),
    /// An amount that is not a non-negative integer fitting 256 bits.
    #[error("bad amount '{0}': expected a non-negative integer below 2^256")]
    BadAmount(String),
    /// A transfer position that is neither `tx`, `log:N` nor `trace:A.B.C`.
    #[error("bad position '{0}': expected tx, log:N or trace:N.N...")]
    BadPosition(String),
    /// A transfer kind other than native, internal or token.
    #[error("bad transfer kind '{0}': expected native, internal or token")]
    BadKind(String),
}

use std::fmt;

use chaintrace_core::TxHash;
use thiserror::Error;

/// Which call an error is about: the JSON-RPC method, and the block and transaction when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSite {
    /// JSON-RPC method (`eth_getBlockByNumber`, `trace_block`, ...).
    pub method: String,
    /// Block number, when the call concerns one block (the first block, for a batch over a range).
    pub block: Option<u64>,
    /// Last block, for a batch over a range of blocks.
    pub last_block: Option<u64>,
    /// Transaction hash, when the problem is inside one transaction.
    pub tx: Option<TxHash>,
}

impl CallSite {
    /// A call site naming only the method.
    pub fn method(method: &str) -> CallSite {
        CallSite {
            method: method.to_string(),
            block: None,
            last_block: None,
            tx: None,
        }
    }

    /// A call site naming the method and the block.
    pub fn block(method: &str, block: u64) -> CallSite {
        CallSite {
            method: method.to_string(),
            block: Some(block),
            last_block: None,
            tx: None,
        }
    }

    /// A call site naming the method and a range of blocks (a batch).
    pub fn blocks(method: &str, first: u64, last: u64) -> CallSite {
        let last_block = (last != first).then_some(last);
        CallSite {
            method: method.to_string(),
            block: Some(first),
            last_block,
            tx: None,
        }
    }

    /// The same call site, narrowed to one transaction.
    pub fn with_tx(&self, tx: TxHash) -> CallSite {
        CallSite {
            tx: Some(tx),
            ..self.clone()
        }
    }
}

impl fmt::Display for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.method)?;
        match (self.block, self.tx) {
            (Some(b), _) if self.last_block.is_some_and(|l| l != b) => {
                write!(f, " (blocks {b}..={})", self.last_block.unwrap_or(b))
            }
            (Some(b), Some(t)) => write!(f, " (block {b}, tx {t})"),
            (Some(b), None) => write!(f, " (block {b})"),
            (None, Some(t)) => write!(f, " (tx {t})"),
            (None, None) => Ok(()),
        }
    }
}

/// Everything that can go wrong talking to an EVM node or decoding its answers.
///
/// URLs in these errors are always the redacted form (see [`crate::redact_url`]).
/// [`EvmError::is_retryable`] is the only classification a retry loop should look at.
#[derive(Debug, Error)]
pub enum EvmError {
    /// The node answered, but the answer does not have the expected shape (or is truncated JSON).
    #[error("malformed response to {at}: {reason}")]
    Malformed {
        /// The call whose answer was malformed.
        at: Box<CallSite>,
        /// What was wrong.
        reason: String,
    },
    /// Two answers about the same block disagree (block hash changed between calls: a reorg while fetching).
    #[error("inconsistent answers for {at}: {reason}")]
    Inconsistent {
        /// The call whose answer disagreed with an earlier one.
        at: Box<CallSite>,
        /// What disagreed.
        reason: String,
    },
    /// The node returned `null` for something that must exist (block or receipt not yet known to it).
    #[error("node at {url} returned null for {at}")]
    Missing {
        /// The call answered with null.
        at: Box<CallSite>,
        /// Redacted node URL.
        url: String,
    },
    /// A JSON-RPC error object.
    #[error("node at {url} answered {at} with error {code}: {message}")]
    Rpc {
        /// The call that failed.
        at: Box<CallSite>,
        /// Redacted node URL.
        url: String,
        /// JSON-RPC error code.
        code: i64,
        /// JSON-RPC error message.
        message: String,
    },
    /// An HTTP status other than 200.
    #[error("node at {url} answered {at} with http status {status}")]
    Http {
        /// The call that failed.
        at: Box<CallSite>,
        /// Redacted node URL.
        url: String,
        /// HTTP status code.
        status: u16,
    },
    /// The request did not complete within the configured timeout.
    #[error("timeout after {secs:.1}s waiting for {at} from {url}")]
    Timeout {
        /// The call that timed out.
        at: Box<CallSite>,
        /// Redacted node URL.
        url: String,
        /// The configured timeout in seconds.
        secs: f64,
    },
    /// A transport failure mid-request (connection reset, closed, broken pipe).
    #[error("transport error on {at} with {url}: {reason}")]
    Transport {
        /// The call that failed.
        at: Box<CallSite>,
        /// Redacted node URL.
        url: String,
        /// The underlying error.
        reason: String,
    },
    /// Could not connect at all (refused, host not found), after a few quick retries.
    #[error("node unreachable at {url}: {reason}")]
    Unreachable {
        /// Redacted node URL.
        url: String,
        /// The underlying error.
        reason: String,
    },
    /// The URL cannot be used (bad syntax, https without the `tls` feature).
    #[error("bad rpc url {url}: {reason}")]
    BadUrl {
        /// Redacted URL.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The node serves a different chain than the one asked for.
    #[error("chain mismatch at {url}: expected chain id {expected}, node reports {actual}")]
    ChainMismatch {
        /// Redacted node URL.
        url: String,
        /// Chain id asked for.
        expected: u64,
        /// Chain id the node reports.
        actual: u64,
    },
    /// The node's chain id is not one chaintrace knows.
    #[error("node at {url} reports chain id {id}, which chaintrace does not know")]
    UnknownChainId {
        /// Redacted node URL.
        url: String,
        /// The chain id reported.
        id: u64,
    },
    /// Internal transfers were asked for, but the node supports neither tracing method.
    #[error(
        "node at {url} supports neither trace_block nor debug_traceBlockByNumber; \
         internal transfers need one (or disable traces in RpcOptions)"
    )]
    NoTracing {
        /// Redacted node URL.
        url: String,
    },
    /// A retryable error kept happening until the retry budget ran out.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Attempts made (first try plus retries).
        attempts: u32,
        /// The last error seen.
        last: Box<EvmError>,
    },
}

impl EvmError {
    /// Whether retrying the same request may succeed: timeouts, dropped connections, HTTP 429 and 5xx,
    /// JSON-RPC rate-limit errors, blocks the node does not know yet, and reorgs while fetching.
    /// Everything else (bad responses, chain mismatch, other 4xx, other JSON-RPC errors) is terminal.
    pub fn is_retryable(&self) -> bool {
        match self {
            EvmError::Timeout { .. }
            | EvmError::Transport { .. }
            | EvmError::Missing { .. }
            | EvmError::Inconsistent { .. } => true,
            EvmError::Http { status, .. } => *status == 429 || (500..600).contains(status),
            EvmError::Rpc { code, message, .. } => is_rate_limit(*code, message),
            EvmError::Malformed { .. }
            | EvmError::Unreachable { .. }
            | EvmError::BadUrl { .. }
            | EvmError::ChainMismatch { .. }
            | EvmError::UnknownChainId { .. }
            | EvmError::NoTracing { .. }
            | EvmError::RetriesExhausted { .. } => false,
        }
    }

    pub(crate) fn malformed(at: &CallSite, reason: impl Into<String>) -> EvmError {
        EvmError::Malformed {
            at: Box::new(at.clone()),
            reason: reason.into(),
        }
    }
}

/// JSON-RPC errors providers use for "slow down": -32005 (limit exceeded, Infura and others), -32016
/// (rate limit), 429 used as a code, and messages mentioning rate limits or too many requests.
pub(crate) fn is_rate_limit(code: i64, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    matches!(code, -32005 | -32016 | 429)
        || m.contains("rate limit")
        || m.contains("rate-limit")
        || m.contains("too many requests")
        || m.contains("exceeded") && m.contains("limit") && m.contains("request")
}

/// JSON-RPC errors that mean "this node does not offer this method": code -32601, or a message about
/// the method itself (geth: "the method x does not exist/is not available"; some gateways use -32000 or
/// -32004 with "method not supported"). Messages about missing state ("historical state not available")
/// do not name the method and are not matched.
pub(crate) fn is_method_unsupported(code: i64, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    code == -32601
        || m.contains("method")
            && [
                "not found",
                "does not exist",
                "not available",
                "not supported",
                "unsupported",
                "not enabled",
            ]
            .iter()
            .any(|p| m.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_rate_limits_and_terminal_errors() {
        let rpc = |code, message: &str| EvmError::Rpc {
            at: Box::new(CallSite::method("eth_getBlockByNumber")),
            url: "http://node".into(),
            code,
            message: message.into(),
        };
        assert!(rpc(-32005, "limit exceeded").is_retryable());
        assert!(rpc(-32016, "x").is_retryable());
        assert!(rpc(-32000, "Too Many Requests, slow down").is_retryable());
        assert!(rpc(-32000, "daily rate limit reached").is_retryable());
        assert!(!rpc(-32000, "header not found").is_retryable());
        assert!(!rpc(-32601, "method not found").is_retryable());
        let http = |status| EvmError::Http {
            at: Box::new(CallSite::method("m")),
            url: "u".into(),
            status,
        };
        assert!(http(429).is_retryable());
        assert!(http(503).is_retryable());
        assert!(!http(401).is_retryable());
        assert!(!http(404).is_retryable());
    }

    #[test]
    fn recognises_missing_methods_but_not_missing_state() {
        assert!(is_method_unsupported(-32601, "whatever"));
        assert!(is_method_unsupported(
            -32000,
            "the method trace_block does not exist/is not available"
        ));
        assert!(is_method_unsupported(-32004, "Method not supported"));
        assert!(!is_method_unsupported(
            -32000,
            "historical state not available in path scheme"
        ));
        assert!(!is_method_unsupported(-32000, "header not found"));
    }

    #[test]
    fn call_site_names_method_block_and_tx() {
        let tx = TxHash([0xab; 32]);
        let s = CallSite::block("eth_getBlockReceipts", 7).with_tx(tx).to_string();
        assert_eq!(s, format!("eth_getBlockReceipts (block 7, tx {tx})"));
        assert_eq!(CallSite::method("eth_chainId").to_string(), "eth_chainId");
    }
}

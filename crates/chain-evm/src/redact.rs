/// The form of an RPC URL that may appear in logs and errors.
///
/// Removes userinfo (`user:pass@`), the query string and fragment, and replaces every path segment that
/// looks like an API key (16+ characters of letters, digits, `-` or `_`, containing a digit) with `***`.
/// Scheme, host, port and ordinary path segments (`/v3/`, `/rpc`) stay, so the message still says which
/// node was meant.
///
/// ```
/// use chaintrace_chain_evm::redact_url;
/// assert_eq!(
///     redact_url("https://user:pw@mainnet.infura.io/v3/0123456789abcdef0123456789abcdef?x=1"),
///     "https://mainnet.infura.io/v3/***"
/// );
/// assert_eq!(redact_url("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
/// ```
pub fn redact_url(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let path: Vec<&str> = path
        .split('/')
        .map(|seg| if looks_like_key(seg) { "***" } else { seg })
        .collect();
    format!("{scheme}{host}{}", path.join("/"))
}

fn looks_like_key(segment: &str) -> bool {
    segment.len() >= 16
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && segment.bytes().any(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_keys_userinfo_and_queries() {
        let cases = [
            ("http://localhost:8545", "http://localhost:8545"),
            ("http://localhost:8545/", "http://localhost:8545/"),
            (
                "https://eth-mainnet.g.alchemy.com/v2/AbCdEf0123456789-_xyzXYZ01",
                "https://eth-mainnet.g.alchemy.com/v2/***",
            ),
            (
                "https://rpc.ankr.com/eth/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "https://rpc.ankr.com/eth/***",
            ),
            (
                "https://shy-sound.quiknode.pro/9f8e7d6c5b4a39281706f5e4d3c2b1a098765432/",
                "https://shy-sound.quiknode.pro/***/",
            ),
            (
                "https://alice:s3cret@node.example.org:8545/rpc?apikey=SECRET123#frag",
                "https://node.example.org:8545/rpc",
            ),
            (
                "node.example.org/path-without-scheme-1234567890",
                "node.example.org/***",
            ),
            (
                "https://node.example.org/averyveryverylongpathname",
                "https://node.example.org/averyveryverylongpathname",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want, "input {input}");
        }
    }
}

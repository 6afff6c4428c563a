//! Access to /work/shared/data/ethereum-etl-test-fixtures (read in place, never copied).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The fixtures folder, or `None` (with the reason printed) when it is absent.
pub(crate) fn dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ethereum-etl-test-fixtures");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: ethereum-etl fixtures not found at {}", p.display());
        None
    }
}

/// Text of a fixture file.
pub(crate) fn text(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("reading fixture {rel}: {e}"))
}

/// A recorded JSON-RPC response file, whole (`{"jsonrpc", "id", "result"}`).
pub(crate) fn response(dir: &Path, rel: &str) -> Value {
    serde_json::from_str(&text(dir, rel)).unwrap_or_else(|e| panic!("parsing fixture {rel}: {e}"))
}

/// The `result` of a recorded JSON-RPC response file.
pub(crate) fn result(dir: &Path, rel: &str) -> Value {
    response(dir, rel)["result"].clone()
}

/// Rows of a CSV file as header-keyed maps (the fixtures have no quoted commas in the fields we read).
pub(crate) fn csv_rows(dir: &Path, rel: &str) -> Vec<std::collections::HashMap<String, String>> {
    let t = text(dir, rel);
    let mut lines = t.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let names: Vec<&str> = header.split(',').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            names
                .iter()
                .map(|n| n.to_string())
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

/// The decimal digits of a numeric field in a JSON line, without going through f64
/// (`"value": 7056176614974947328` exceeds what serde_json keeps exactly).
pub(crate) fn raw_number(line: &str, field: &str) -> Option<String> {
    let key = format!("\"{field}\": ");
    let start = line.find(&key)? + key.len();
    let digits: String = line[start..].chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

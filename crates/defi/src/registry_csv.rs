//! The line handling shared by the registry CSV formats (bridges, mixer pools).

use crate::DefiError;

/// One data row of a registry CSV: its 1-based line number and its trimmed fields.
pub(crate) struct RegistryRow<'a> {
    /// 1-based line number in the source text.
    pub(crate) line: usize,
    /// Comma-separated fields, trimmed.
    pub(crate) fields: Vec<&'a str>,
}

impl RegistryRow<'_> {
    /// An error naming `source_name:line`.
    pub(crate) fn bad(&self, source_name: &str, reason: String) -> DefiError {
        DefiError::BadRegistryLine {
            source_name: source_name.to_string(),
            line: self.line,
            reason,
        }
    }
}

/// The data rows of `text`: blank lines, `#` comments and a header line (starting with `chain,`) before the
/// first data row are skipped.
pub(crate) fn registry_rows(text: &str) -> impl Iterator<Item = RegistryRow<'_>> {
    let mut seen_data = false;
    text.lines().enumerate().filter_map(move |(i, raw)| {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        if !seen_data && line.to_ascii_lowercase().starts_with("chain,") {
            return None;
        }
        seen_data = true;
        Some(RegistryRow {
            line: i + 1,
            fields: line.split(',').map(str::trim).collect(),
        })
    })
}

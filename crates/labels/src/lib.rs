//! Parsers for address-label sources: GraphSense TagPacks and ActorPacks (YAML), plain CSV, OFAC
//! sanctioned-address lists and Etherscan-style label dumps, all into [`chaintrace_core::Label`] and
//! [`chaintrace_core::Actor`].
//!
//! Pure: every parser takes the file's name and text and returns values plus a count of what it skipped
//! and why. Not here: reading files, storing labels (`chaintrace-store`), printing (`chaintrace-cli`).
//!
//! Third-party bulk dumps (TagPacks, OFAC lists, Etherscan dumps) name many chains chaintrace does not
//! read (BTC, LTC, FTM, ...); those entries are skipped with a reason, never an error. Broken syntax,
//! and bad values in a hand-written CSV, are errors naming the file and line.

#![warn(missing_docs)]

mod actorpack;
mod csv_labels;
mod etherscan;
mod ofac;
mod tagpack;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use chaintrace_core::{Actor, Address, Chain, Label};

/// Errors of label parsing. Every variant names the file; most name the line.
#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    /// YAML that does not parse, or does not have the shape of a TagPack/ActorPack.
    #[error("{file}:{line}:{column}: {message}")]
    Yaml {
        /// File name as given.
        file: String,
        /// 1-based line (0 when the parser reports none).
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// JSON that does not parse or does not have the expected shape.
    #[error("{file}:{line}:{column}: {message}")]
    Json {
        /// File name as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// CSV that does not parse (unbalanced quotes, wrong field count, missing header).
    #[error("{file}:{line}: {message}")]
    Csv {
        /// File name as given.
        file: String,
        /// 1-based line.
        line: u64,
        /// What was wrong.
        message: String,
    },
    /// A field whose value is not acceptable (bad address in a CSV, unknown confidence level, ...).
    #[error("{file}:{line}: bad {field} '{value}': {reason}")]
    BadField {
        /// File name as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// Field name.
        field: &'static str,
        /// The value as given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The file's format could not be told from its name or content.
    #[error(
        "{file}: cannot tell the label format ({hint}); pass --format tagpack|actorpack|csv|ofac|etherscan"
    )]
    UnknownFormat {
        /// File name as given.
        file: String,
        /// What was looked at.
        hint: &'static str,
    },
    /// The file holds no chain information and none was given.
    #[error("{file}: cannot tell which chain these addresses are on ({hint}); pass --chain")]
    UnknownChain {
        /// File name as given.
        file: String,
        /// What was looked at.
        hint: &'static str,
    },
}

/// A label source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// GraphSense TagPack YAML.
    TagPack,
    /// GraphSense ActorPack YAML.
    ActorPack,
    /// CSV with a header naming `chain,address,label,category,actor,source,confidence` (any order;
    /// `address` and `label` required, also `abuse` accepted).
    Csv,
    /// OFAC sanctioned addresses, one per line (or a JSON array), one file per asset.
    Ofac,
    /// Etherscan label dump: JSON `{address: {name, labels: [...]}}`.
    Etherscan,
}

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 5] = [
        Format::TagPack,
        Format::ActorPack,
        Format::Csv,
        Format::Ofac,
        Format::Etherscan,
    ];

    /// The lowercase name used on the command line and in storage.
    pub fn name(self) -> &'static str {
        match self {
            Format::TagPack => "tagpack",
            Format::ActorPack => "actorpack",
            Format::Csv => "csv",
            Format::Ofac => "ofac",
            Format::Etherscan => "etherscan",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown label format '{s}' (known: tagpack, actorpack, csv, ofac, etherscan)")
            })
    }
}

/// Caller choices that apply to one file.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
    /// Chain for files that do not say (OFAC lists and Etherscan dumps not named after a chain; CSV rows
    /// with an empty `chain`). TagPacks always say, and ignore it.
    pub chain: Option<Chain>,
}

/// What one file yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The format parsed.
    pub format: Format,
    /// Labels, without exact duplicates.
    pub labels: Vec<Label>,
    /// Actors (ActorPacks only).
    pub actors: Vec<Actor>,
    /// Entries read (tags, actors, rows, lines, JSON entries); equals labels + actors + skipped.
    pub records: u64,
    /// Entries not turned into a label or actor, counted by reason.
    pub skipped: BTreeMap<String, u64>,
}

impl Parsed {
    fn new(format: Format) -> Parsed {
        Parsed {
            format,
            labels: Vec::new(),
            actors: Vec::new(),
            records: 0,
            skipped: BTreeMap::new(),
        }
    }

    /// Counts one skipped entry under `reason`.
    fn skip(&mut self, reason: impl Into<String>) {
        *self.skipped.entry(reason.into()).or_insert(0) += 1;
    }

    /// Entries skipped, all reasons together.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Drops exact duplicate labels (same chain, address, text, category, actor, source, confidence),
    /// counting them as skipped, keeping first-seen order.
    fn dedupe(&mut self) {
        let mut seen = HashSet::with_capacity(self.labels.len());
        let before = self.labels.len();
        self.labels.retain(|l| seen.insert(l.clone()));
        let dropped = (before - self.labels.len()) as u64;
        if dropped > 0 {
            *self.skipped.entry("duplicate entry".to_string()).or_insert(0) += dropped;
        }
    }
}

/// Tells the format of a file from its name (extension, known names) and, where that is not enough,
/// its content.
pub fn detect_format(file: &str, text: &str) -> Result<Format, LabelsError> {
    let name = base_name(file).to_ascii_lowercase();
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let unknown = |hint| LabelsError::UnknownFormat {
        file: file.to_string(),
        hint,
    };
    match ext {
        "yaml" | "yml" => {
            if name.contains("actorpack") || has_top_level_key(text, "actors") {
                Ok(Format::ActorPack)
            } else if has_top_level_key(text, "tags") {
                Ok(Format::TagPack)
            } else {
                Err(unknown("YAML without a top-level 'tags' or 'actors' list"))
            }
        }
        "csv" => Ok(Format::Csv),
        "txt" => Ok(Format::Ofac),
        "json" => match text.trim_start().as_bytes().first() {
            Some(b'[') => Ok(Format::Ofac),
            Some(b'{') => Ok(Format::Etherscan),
            _ => Err(unknown("JSON that is neither an array nor an object")),
        },
        _ => Err(unknown("extension is not .yaml, .yml, .csv, .txt or .json")),
    }
}

/// Parses one file's text. `file` is the name shown in errors and used to infer chains and assets
/// (`sanctioned_addresses_ETH.txt`, `bscscan_combinedAllLabels.json`); folder names count too.
pub fn parse(file: &str, text: &str, options: ParseOptions) -> Result<Parsed, LabelsError> {
    let format = match options.format {
        Some(f) => f,
        None => detect_format(file, text)?,
    };
    let mut parsed = match format {
        Format::TagPack => tagpack::parse(file, text)?,
        Format::ActorPack => actorpack::parse(file, text)?,
        Format::Csv => csv_labels::parse(file, text, options.chain)?,
        Format::Ofac => ofac::parse(file, text, options.chain)?,
        Format::Etherscan => etherscan::parse(file, text, options.chain)?,
    };
    parsed.dedupe();
    Ok(parsed)
}

/// The last path component of `file` (either separator).
fn base_name(file: &str) -> &str {
    file.rsplit(['/', '\\']).next().unwrap_or(file)
}

/// Whether `key:` starts a line at column 0 (a top-level YAML mapping key).
fn has_top_level_key(text: &str, key: &str) -> bool {
    text.lines().any(|l| {
        l.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
    })
}

/// The 1-based line of the first occurrence of `needle` in `text` (0 if absent).
fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map(|i| text[..i].matches('\n').count() + 1)
        .unwrap_or(0)
}

/// How an address text reads on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddressForm {
    /// `0x` + 40 hex digits (any case; checksums are not enforced on imported data).
    Evm(Address),
    /// Tron base58check `T...`.
    Tron(Address),
    /// Anything else (Bitcoin, Solana, malformed, ...).
    Other,
}

fn address_form(text: &str) -> AddressForm {
    let t = text.trim();
    if t.len() == 42 && (t.starts_with("0x") || t.starts_with("0X")) {
        // Sources mix checksummed and lowercase forms; lowercasing accepts both without judging checksums.
        return match Address::parse(&t.to_ascii_lowercase()) {
            Ok(a) => AddressForm::Evm(a),
            Err(_) => AddressForm::Other,
        };
    }
    match Address::parse(t) {
        Ok(a) if t.starts_with('T') => AddressForm::Tron(a),
        _ => AddressForm::Other,
    }
}

/// Where a source's chain or asset word puts its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// On this chain.
    Chain(Chain),
    /// A token that lives on several of our chains: Tron for `T...` addresses, else every EVM chain.
    Token,
    /// A chain chaintrace does not read.
    Unsupported,
}

/// Maps a GraphSense currency/network or an OFAC asset ticker to where its addresses live.
fn placement(word: &str) -> Placement {
    match word.trim().to_ascii_uppercase().as_str() {
        "ETH" | "ETHEREUM" => Placement::Chain(Chain::Ethereum),
        "BSC" | "BEP20" | "BNB" | "BINANCE_SMART_CHAIN" => Placement::Chain(Chain::Bsc),
        "MATIC" | "POL" | "POLYGON" => Placement::Chain(Chain::Polygon),
        "ARB" | "ARBITRUM" => Placement::Chain(Chain::Arbitrum),
        "OP" | "OPTIMISM" => Placement::Chain(Chain::Optimism),
        "TRX" | "TRON" => Placement::Chain(Chain::Tron),
        "USDT" | "USDC" | "DAI" | "BUSD" | "TUSD" | "WETH" | "WBTC" => Placement::Token,
        _ => Placement::Unsupported,
    }
}

/// Resolves an address under a placement: `Ok((chain, address))` or `Err(skip reason)`.
fn place(placement: Placement, word: &str, address: &str) -> Result<(Option<Chain>, Address), String> {
    match (placement, address_form(address)) {
        (Placement::Unsupported, _) => Err(format!(
            "{} not a supported chain",
            word.trim().to_ascii_uppercase()
        )),
        (Placement::Chain(c), AddressForm::Evm(a)) if c.is_evm() => Ok((Some(c), a)),
        (Placement::Chain(Chain::Tron), AddressForm::Tron(a)) => Ok((Some(Chain::Tron), a)),
        (Placement::Chain(c), _) => Err(format!("not a {c} address")),
        (Placement::Token, AddressForm::Evm(a)) => Ok((None, a)),
        (Placement::Token, AddressForm::Tron(a)) => Ok((Some(Chain::Tron), a)),
        (Placement::Token, AddressForm::Other) => Err(format!(
            "{} address on a chain that is not supported",
            word.trim().to_ascii_uppercase()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected_from_name_and_content() {
        let f = |name, text| detect_format(name, text).map_err(|e| e.to_string());
        assert_eq!(
            f("a/lazarus.yaml", "title: x\ntags:\n- address: a\n"),
            Ok(Format::TagPack)
        );
        assert_eq!(
            f("graphsense.actorpack.yaml", "title: x\n"),
            Ok(Format::ActorPack)
        );
        assert_eq!(
            f("x.yml", "%YAML 1.1\n---\nactors:\n- id: a\n"),
            Ok(Format::ActorPack)
        );
        assert_eq!(f("x.csv", ""), Ok(Format::Csv));
        assert_eq!(f("sanctioned_addresses_ETH.txt", ""), Ok(Format::Ofac));
        assert_eq!(f("sanctioned_addresses_ETH.json", " [\"0x\"]"), Ok(Format::Ofac));
        assert_eq!(f("bscscan_combinedAllLabels.json", "{}"), Ok(Format::Etherscan));
        assert!(
            f("notes.md", "")
                .expect_err("unknown extension")
                .contains("notes.md")
        );
        assert!(
            f("x.yaml", "title: y\n")
                .expect_err("no tags or actors")
                .contains("x.yaml")
        );
    }

    #[test]
    fn placements_follow_address_form() {
        let tron = "TEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR";
        let evm = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96";
        assert_eq!(
            place(placement("ETH"), "ETH", evm).map(|p| p.0),
            Ok(Some(Chain::Ethereum))
        );
        assert_eq!(place(placement("usdt"), "usdt", evm).map(|p| p.0), Ok(None));
        assert_eq!(
            place(placement("USDT"), "USDT", tron).map(|p| p.0),
            Ok(Some(Chain::Tron))
        );
        assert!(place(placement("TRX"), "TRX", evm).is_err());
        assert!(place(placement("BTC"), "BTC", "1AXUTu9y3H8w4wYx4BjyFWgRhZKDhmcMrn").is_err());
        assert!(place(placement("ETH"), "ETH", "0x1234").is_err());
    }

    #[test]
    fn line_of_counts_from_one() {
        assert_eq!(line_of("a\nb\nc", "b"), 2);
        assert_eq!(line_of("a\nb\nc", "a"), 1);
        assert_eq!(line_of("a", "z"), 0);
    }
}

//! Labels (who is behind an address, according to whom) and actors (the named groups they point to).
//!
//! A label is a claim with provenance: it names its source and a confidence, and keeps the source's own
//! category string next to the normalized [`Category`]. Nothing here reads files or a store.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Address, Chain};

/// How much a label's source can be trusted, 0 (nothing) to 100 (certain).
///
/// The named levels are GraphSense's TagPack confidence scale, with the numeric values of
/// graphsense-tagpack-tool `src/tagpack/db/confidence.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Confidence(u8);

impl Confidence {
    /// GraphSense's named confidence levels and their values, highest first.
    pub const LEVELS: [(&'static str, u8); 14] = [
        ("override", 100),
        ("ownership", 100),
        ("ledger_immanent", 100),
        ("manual_transaction", 90),
        ("service_api", 70),
        ("forensic_investigation", 70),
        ("authority_data", 60),
        ("trusted_provider", 50),
        ("service_data", 50),
        ("forensic", 50),
        ("untrusted_transaction", 40),
        ("web_crawl", 20),
        ("heuristic", 10),
        ("unknown", 5),
    ];

    /// Level `unknown` (5): source and reliability unknown. Used when a source states no confidence.
    pub const UNKNOWN: Confidence = Confidence(5);
    /// Level `web_crawl` (20): scraped from the web or other data dumps (Etherscan label clouds).
    pub const WEB_CRAWL: Confidence = Confidence(20);
    /// Level `authority_data` (60): published by a public authority (OFAC).
    pub const AUTHORITY_DATA: Confidence = Confidence(60);

    /// A confidence of `value`; `None` above 100.
    pub fn new(value: u8) -> Option<Confidence> {
        (value <= 100).then_some(Confidence(value))
    }

    /// The value, 0 to 100.
    pub fn value(self) -> u8 {
        self.0
    }

    /// The value of a named GraphSense level (exact, lowercase name).
    pub fn from_level(name: &str) -> Option<Confidence> {
        Self::LEVELS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| Confidence(v))
    }

    /// Parses a number 0 to 100 or a named level (any case).
    pub fn parse(text: &str) -> Option<Confidence> {
        let t = text.trim();
        match t.parse::<u8>() {
            Ok(v) => Confidence::new(v),
            Err(_) => Confidence::from_level(&t.to_ascii_lowercase()),
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What kind of party an address belongs to, normalized across sources.
///
/// Sources name categories in their own words (`mixing_service`, `tornado-cash`, `service_hack`);
/// [`Category::normalize`] maps the known words and keeps everything else as [`Category::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// A centralized exchange (deposit, hot or reserve wallet).
    Exchange,
    /// A mixer or coinjoin service.
    Mixer,
    /// A cross-chain bridge contract or its operator.
    Bridge,
    /// A DeFi protocol (DEX, lending, staking).
    Defi,
    /// A thief: hacker, exploiter, heist address.
    Perpetrator,
    /// On a sanctions list (OFAC SDN).
    Sanctioned,
    /// A scam: phishing, Ponzi or pyramid scheme, fraud, ransomware.
    Scam,
    /// On a token issuer's block list (USDT/USDC blacklist), not necessarily sanctioned.
    Blocklisted,
    /// A gambling service.
    Gambling,
    /// A mining pool or miner.
    Miner,
    /// A (darknet) market.
    Market,
    /// Any other service (wallet provider, payment processor, ...).
    Service,
    /// Anything else, including unknown source words.
    Other,
}

impl Category {
    /// Every category, in a stable order.
    pub const ALL: [Category; 13] = [
        Category::Exchange,
        Category::Mixer,
        Category::Bridge,
        Category::Defi,
        Category::Perpetrator,
        Category::Sanctioned,
        Category::Scam,
        Category::Blocklisted,
        Category::Gambling,
        Category::Miner,
        Category::Market,
        Category::Service,
        Category::Other,
    ];

    /// The lowercase name used on the command line, in JSON and in storage.
    pub fn name(self) -> &'static str {
        match self {
            Category::Exchange => "exchange",
            Category::Mixer => "mixer",
            Category::Bridge => "bridge",
            Category::Defi => "defi",
            Category::Perpetrator => "perpetrator",
            Category::Sanctioned => "sanctioned",
            Category::Scam => "scam",
            Category::Blocklisted => "blocklisted",
            Category::Gambling => "gambling",
            Category::Miner => "miner",
            Category::Market => "market",
            Category::Service => "service",
            Category::Other => "other",
        }
    }

    /// The category named exactly by [`Category::name`].
    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Maps one source word (GraphSense category or abuse, Etherscan label, CSV text; any case, `-`, `_`
    /// or space separated) to a category; unknown words give [`Category::Other`].
    pub fn normalize(word: &str) -> Category {
        let w: String = word
            .trim()
            .chars()
            .map(|c| {
                if c == '-' || c == ' ' {
                    '_'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        match w.as_str() {
            "exchange" | "exchanges" | "cex" | "binance" | "binance_deposit" | "huobi" | "kucoin" | "okx"
            | "okex" | "coinbase" | "kraken" | "bitfinex" | "bybit" | "gate_io" | "crypto_com"
            | "poloniex" | "bittrex" | "bitstamp" | "gemini" | "ftx" | "ascendex" | "coinex" => {
                Category::Exchange
            }
            "mixer" | "mixing_service" | "mixing" | "coinjoin" | "tornado_cash" | "ethereum_mixer" => {
                Category::Mixer
            }
            "bridge" | "optimism_bridge" | "orbit_bridge" | "multichain" | "anyswap" | "wormhole"
            | "hop_protocol" | "synapse" | "across_protocol" | "celer_network" => Category::Bridge,
            "defi" | "defi_dex" | "defi_lending" | "defi_bridge" | "dex" | "lending" | "staking"
            | "yield_farming" => Category::Defi,
            "perpetrator" | "hacker" | "hack" | "service_hack" | "exploit" | "exploiter" | "heist"
            | "thief" => Category::Perpetrator,
            "sanctioned" | "sanction" | "sanctions" | "ofac" | "ofac_sanctions_lists" => Category::Sanctioned,
            "scam" | "phishing" | "phish_hack" | "ponzi_scheme" | "pyramid_scheme" | "investment_fraud"
            | "ransomware" | "sextortion" | "fraud" => Category::Scam,
            "blocklisted" | "black_list" | "blacklist" | "blocked" => Category::Blocklisted,
            "gambling" => Category::Gambling,
            "miner" | "mining" | "mining_pool" => Category::Miner,
            "market" | "darknet_market" => Category::Market,
            "service" | "wallet_service" | "payment_processor" => Category::Service,
            _ => Category::Other,
        }
    }

    /// The most telling category among several source words: the first non-[`Category::Other`] one
    /// by [`Category::priority`], else `Other`.
    pub fn normalize_all<'a>(words: impl IntoIterator<Item = &'a str>) -> Category {
        words
            .into_iter()
            .map(Category::normalize)
            .filter(|c| *c != Category::Other)
            .min_by_key(|c| c.priority())
            .unwrap_or(Category::Other)
    }

    /// Rank when one address carries several categories: lower wins. Sanctions and thieves first,
    /// because an investigation must never hide them behind a benign label.
    pub fn priority(self) -> u8 {
        match self {
            Category::Sanctioned => 0,
            Category::Perpetrator => 1,
            Category::Mixer => 2,
            Category::Exchange => 3,
            Category::Bridge => 4,
            Category::Scam => 5,
            Category::Blocklisted => 6,
            Category::Defi => 7,
            Category::Gambling => 8,
            Category::Market => 9,
            Category::Miner => 10,
            Category::Service => 11,
            Category::Other => 12,
        }
    }

    /// Whether funds reaching such an address leave the traceable graph (a trace stops there):
    /// exchanges, mixers, bridges and sanctioned addresses.
    pub fn is_exit(self) -> bool {
        matches!(
            self,
            Category::Exchange | Category::Mixer | Category::Bridge | Category::Sanctioned
        )
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The identifier of an actor, as its source spells it (GraphSense ids such as `lazarusgroup`).
/// Compared case-sensitively here; stores look actors up case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ActorId(pub String);

impl ActorId {
    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One claim that an address belongs to someone or something.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Label {
    /// The chain the claim is about; `None` means the 20-byte address on every EVM chain (not Tron),
    /// used when the source names a token (USDT) rather than a chain, or no chain at all.
    pub chain: Option<Chain>,
    /// The labeled address.
    pub address: Address,
    /// The label text, e.g. `"Ronin bridge exploiter"`.
    pub text: String,
    /// Normalized category.
    pub category: Category,
    /// The source's own category words, as given (e.g. `"mixing_service"`, `"tornado-cash,blocked"`).
    pub category_raw: Option<String>,
    /// The source's abuse type, if any (GraphSense `abuse`: `sanction`, `service_hack`, `phishing`, ...).
    pub abuse: Option<String>,
    /// The actor the address is attributed to, if any.
    pub actor: Option<ActorId>,
    /// Where the claim comes from: a URL, `"OFAC SDN list"`, a file name.
    pub source: String,
    /// How much the source can be trusted.
    pub confidence: Confidence,
}

impl Label {
    /// Whether this label speaks about `address` on `chain` (chain-agnostic labels cover every EVM chain).
    pub fn applies_to(&self, chain: Chain, address: Address) -> bool {
        self.address == address
            && match self.chain {
                Some(c) => c == chain,
                None => chain.is_evm(),
            }
    }
}

/// A named party (exchange, hacker group, protocol) that addresses can be attributed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Stable identifier.
    pub id: ActorId,
    /// Display name (GraphSense `label`).
    pub name: String,
    /// Other names the actor is known by.
    pub aliases: Vec<String>,
    /// The source's category words (`exchange`, `sanction`, `service_hack`, ...).
    pub categories: Vec<String>,
    /// ISO country codes of jurisdictions, if known.
    pub jurisdictions: Vec<String>,
    /// Main web address, if any.
    pub uri: Option<String>,
    /// Free-form context from the source (references, notes), as JSON text.
    pub context: Option<String>,
    /// Where the actor definition comes from.
    pub source: String,
}

impl Actor {
    /// Whether `name` is this actor's id, display name or one of its aliases, ignoring case.
    pub fn is_named(&self, name: &str) -> bool {
        let n = name.trim();
        self.id.0.eq_ignore_ascii_case(n)
            || self.name.eq_ignore_ascii_case(n)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(n))
    }
}

/// Every label in memory, keyed by address, for fast attribution and trace stopping.
#[derive(Debug, Clone, Default)]
pub struct LabelIndex {
    by_address: HashMap<Address, Vec<Label>>,
    len: usize,
}

impl LabelIndex {
    /// An empty index.
    pub fn new() -> LabelIndex {
        LabelIndex::default()
    }

    /// Adds one label.
    pub fn insert(&mut self, label: Label) {
        self.by_address.entry(label.address).or_default().push(label);
        self.len += 1;
    }

    /// Number of labels held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no label is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of distinct labeled 20-byte addresses.
    pub fn address_count(&self) -> usize {
        self.by_address.len()
    }

    /// The labels of `address` on `chain`, including chain-agnostic ones (on EVM chains).
    pub fn labels_of(&self, chain: Chain, address: Address) -> impl Iterator<Item = &Label> {
        self.by_address
            .get(&address)
            .into_iter()
            .flatten()
            .filter(move |l| l.applies_to(chain, address))
    }

    /// Every label of the 20-byte `address`, on any chain.
    pub fn labels_of_any_chain(&self, address: Address) -> &[Label] {
        self.by_address.get(&address).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The exit category of `address` on `chain` and the label text that makes it one: among labels with
    /// an exit category ([`Category::is_exit`]) the most confident wins, then by category priority, then
    /// by text, so the answer never depends on import order.
    pub fn exit_category(&self, chain: Chain, address: Address) -> Option<(Category, &str)> {
        self.labels_of(chain, address)
            .filter(|l| l.category.is_exit())
            .min_by(|a, b| {
                b.confidence
                    .cmp(&a.confidence)
                    .then(a.category.priority().cmp(&b.category.priority()))
                    .then(a.text.cmp(&b.text))
            })
            .map(|l| (l.category, l.text.as_str()))
    }
}

impl FromIterator<Label> for LabelIndex {
    fn from_iter<I: IntoIterator<Item = Label>>(iter: I) -> Self {
        let mut index = LabelIndex::new();
        for l in iter {
            index.insert(l);
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(chain: Option<Chain>, byte: u8, category: Category, confidence: u8, text: &str) -> Label {
        Label {
            chain,
            address: Address([byte; 20]),
            text: text.to_string(),
            category,
            category_raw: None,
            abuse: None,
            actor: None,
            source: "test".to_string(),
            confidence: Confidence::new(confidence).expect("test values are <= 100"),
        }
    }

    #[test]
    fn confidence_parses_numbers_and_tagpack_levels() {
        assert_eq!(Confidence::parse("authority_data"), Confidence::new(60));
        assert_eq!(Confidence::parse("Web_Crawl"), Confidence::new(20));
        assert_eq!(Confidence::parse("ledger_immanent"), Confidence::new(100));
        assert_eq!(Confidence::parse("73"), Confidence::new(73));
        assert_eq!(Confidence::parse("101"), None);
        assert_eq!(Confidence::parse("sure"), None);
    }

    #[test]
    fn categories_normalize_source_words() {
        assert_eq!(Category::normalize("mixing_service"), Category::Mixer);
        assert_eq!(Category::normalize("Tornado-Cash"), Category::Mixer);
        assert_eq!(Category::normalize("service_hack"), Category::Perpetrator);
        assert_eq!(Category::normalize("black_list"), Category::Blocklisted);
        assert_eq!(Category::normalize("user"), Category::Other);
        assert_eq!(
            Category::normalize_all(["balancer", "blocked", "ofac-sanctions-lists"]),
            Category::Sanctioned
        );
        for c in Category::ALL {
            assert_eq!(Category::from_name(c.name()), Some(c));
            assert_eq!(Category::normalize(c.name()), c);
        }
    }

    #[test]
    fn chain_agnostic_labels_cover_evm_chains_only() {
        let l = label(None, 1, Category::Sanctioned, 60, "x");
        assert!(l.applies_to(Chain::Ethereum, Address([1; 20])));
        assert!(l.applies_to(Chain::Bsc, Address([1; 20])));
        assert!(!l.applies_to(Chain::Tron, Address([1; 20])));
        assert!(!l.applies_to(Chain::Ethereum, Address([2; 20])));
    }

    #[test]
    fn exit_category_prefers_confidence_then_priority() {
        let index: LabelIndex = [
            label(Some(Chain::Ethereum), 1, Category::Exchange, 20, "Binance 14"),
            label(None, 1, Category::Sanctioned, 60, "OFAC"),
            label(Some(Chain::Ethereum), 1, Category::Scam, 90, "not an exit"),
            label(Some(Chain::Bsc), 2, Category::Mixer, 50, "bsc only"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            index.exit_category(Chain::Ethereum, Address([1; 20])),
            Some((Category::Sanctioned, "OFAC"))
        );
        assert_eq!(index.exit_category(Chain::Tron, Address([1; 20])), None);
        assert_eq!(index.exit_category(Chain::Ethereum, Address([2; 20])), None);
        assert_eq!(
            index.exit_category(Chain::Bsc, Address([2; 20])),
            Some((Category::Mixer, "bsc only"))
        );
        assert_eq!(index.labels_of(Chain::Ethereum, Address([1; 20])).count(), 3);
        assert_eq!(index.len(), 4);
        assert_eq!(index.address_count(), 2);
    }
}

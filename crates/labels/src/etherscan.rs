//! Etherscan-family label dumps (brianleect/etherscan-labels `combinedAllLabels.json`):
//! `{"0xaddress": {"name": "Binance 14", "labels": ["binance", "exchange"]}, ...}`.
//!
//! The chain comes from `--chain`, else from the file or folder name (`bscscan_...`, `data/polygon/...`).
//! Explorers of chains chaintrace does not read (ftmscan, avalanche) give skipped entries, not errors.
//! Keys that are not addresses (the dumps hold `""`, `"genesis"`, scraper messages) are skipped.

use chaintrace_core::{Category, Chain, Confidence, Label};
use serde::Deserialize;

use crate::{AddressForm, Format, LabelsError, Parsed, address_form, base_name};

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
}

/// The JSON object's entries in file order (a plain map would merge repeated keys silently).
struct Entries(Vec<(String, Entry)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object mapping addresses to {name, labels}")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, Entry>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Where a file's name puts its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    Chain(Chain),
    Unsupported(&'static str),
}

fn chain_of_word(word: &str) -> Option<Named> {
    let named = match word {
        "etherscan" | "eth" | "ethereum" | "mainnet" => Named::Chain(Chain::Ethereum),
        "bscscan" | "bsc" | "bnb" => Named::Chain(Chain::Bsc),
        "polygonscan" | "polygon" | "matic" => Named::Chain(Chain::Polygon),
        "arbiscan" | "arbitrum" | "arb" => Named::Chain(Chain::Arbitrum),
        "optimism" | "optimistic" | "op" => Named::Chain(Chain::Optimism),
        "tronscan" | "tron" => Named::Chain(Chain::Tron),
        "ftmscan" | "fantom" | "ftm" => Named::Unsupported("fantom"),
        "avalanche" | "avax" | "snowtrace" | "snowscan" => Named::Unsupported("avalanche"),
        "celoscan" | "celo" => Named::Unsupported("celo"),
        "gnosisscan" | "gnosis" => Named::Unsupported("gnosis"),
        "basescan" => Named::Unsupported("base"),
        "moonscan" | "moonbeam" => Named::Unsupported("moonbeam"),
        "cronoscan" | "cronos" => Named::Unsupported("cronos"),
        _ => return None,
    };
    Some(named)
}

/// The chain named by the file name, else by the nearest folder name that names one. Optimism is
/// checked before Ethereum so `optimistic-etherscan` reads as Optimism.
fn chain_of_path(file: &str) -> Option<Named> {
    file.rsplit(['/', '\\']).find_map(|component| {
        let lower = component.to_ascii_lowercase();
        let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).collect();
        let found: Vec<Named> = words.iter().filter_map(|w| chain_of_word(w)).collect();
        found
            .iter()
            .copied()
            .find(|n| *n == Named::Chain(Chain::Optimism))
            .or_else(|| found.first().copied())
    })
}

pub(crate) fn parse(file: &str, input: &str, chain: Option<Chain>) -> Result<Parsed, LabelsError> {
    let Entries(entries) = serde_json::from_str(input).map_err(|e| LabelsError::Json {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let named = match chain {
        Some(c) => Named::Chain(c),
        None => chain_of_path(file).ok_or_else(|| LabelsError::UnknownChain {
            file: file.to_string(),
            hint: "neither the file nor its folders are named after an explorer or chain",
        })?,
    };
    let mut out = Parsed::new(Format::Etherscan);
    let source = format!("Etherscan-family label dump ({})", base_name(file));
    for (key, entry) in entries {
        out.records += 1;
        let chain = match named {
            Named::Chain(c) => c,
            Named::Unsupported(name) => {
                out.skip(format!("chain {name} (from the file name) not supported"));
                continue;
            }
        };
        let address = match (chain, address_form(&key)) {
            (Chain::Tron, AddressForm::Tron(a)) => a,
            (c, AddressForm::Evm(a)) if c.is_evm() => a,
            _ => {
                out.skip(format!("key is not a {chain} address"));
                continue;
            }
        };
        let name = entry.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        let words: Vec<&str> = entry
            .labels
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        let text = match name {
            Some(n) => n.to_string(),
            None if !words.is_empty() => words.join(", "),
            None => {
                out.skip("no name and no labels");
                continue;
            }
        };
        out.labels.push(Label {
            chain: Some(chain),
            address,
            text,
            category: Category::normalize_all(words.iter().copied()),
            category_raw: (!words.is_empty()).then(|| words.join(",")),
            abuse: None,
            actor: None,
            source: source.clone(),
            confidence: Confidence::WEB_CRAWL,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = r#"{"0x689c56aef474df92d44a1b70850f808488f9769c": {"name": "KuCoin 2", "labels": ["kucoin"]},
"0x9d6971bf21b0e94724a7134371a8f7f41bb9db88": {"name": "", "labels": ["airdrop-hunter"]},
"genesis": {"name": "Genesis", "labels": []},
"0x689C56AEf474Df92D44A1B70850f808488F9769C": {"name": "KuCoin 2", "labels": ["kucoin"]}}"#;

    #[test]
    fn entries_become_labels_on_the_named_chain() {
        let p = crate::parse("data/bscscan_combinedAllLabels.json", DUMP, Default::default())
            .expect("valid dump");
        assert_eq!(p.records, 4);
        assert_eq!(p.labels.len(), 2);
        assert_eq!(p.labels[0].chain, Some(Chain::Bsc));
        assert_eq!(p.labels[0].category, Category::Exchange);
        assert_eq!(p.labels[1].text, "airdrop-hunter");
        assert_eq!(p.skipped.get("key is not a bsc address"), Some(&1));
        assert_eq!(p.skipped.get("duplicate entry"), Some(&1));
    }

    #[test]
    fn chain_comes_from_file_then_folders() {
        assert_eq!(
            chain_of_path("x/etherscan_combinedAllLabels.json"),
            Some(Named::Chain(Chain::Ethereum))
        );
        assert_eq!(
            chain_of_path("data/polygon/combined/all.json"),
            Some(Named::Chain(Chain::Polygon))
        );
        assert_eq!(
            chain_of_path("optimistic-etherscan.json"),
            Some(Named::Chain(Chain::Optimism))
        );
        assert_eq!(
            chain_of_path("ftmscan_combinedAllLabels.json"),
            Some(Named::Unsupported("fantom"))
        );
        assert_eq!(chain_of_path("labels.json"), None);
        let err = parse("labels.json", DUMP, None)
            .expect_err("no chain")
            .to_string();
        assert!(err.contains("labels.json") && err.contains("--chain"), "{err}");
        let ftm = parse("ftmscan_x.json", DUMP, None).expect("skipped, not an error");
        assert_eq!((ftm.labels.len(), ftm.skipped_total()), (0, 4));
    }

    #[test]
    fn malformed_json_names_line() {
        let err = parse("etherscan.json", "{\n\"0x1\": {\"name\": 3}\n}", None)
            .expect_err("bad shape")
            .to_string();
        assert!(err.starts_with("etherscan.json:2:"), "{err}");
    }
}

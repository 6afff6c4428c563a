//! OFAC SDN sanctioned-address lists as published by 0xB10C/ofac-sanctioned-digital-currency-addresses:
//! one file per asset (`sanctioned_addresses_ETH.txt` one address a line, or the `.json` array twin).
//!
//! The asset comes from the file name (or `--chain`); assets on chains chaintrace does not read (XBT,
//! LTC, ETC, ...) are skipped entry by entry with a reason. In a list of a supported asset, a line that
//! is not an address is an error: the list is an official one-address-a-line file.

use chaintrace_core::{Category, Chain, Confidence, Label};

use crate::{Format, LabelsError, Parsed, Placement, base_name, line_of, place, placement};

pub(crate) fn parse(file: &str, input: &str, chain: Option<Chain>) -> Result<Parsed, LabelsError> {
    let name = base_name(file);
    let asset = asset_of(name);
    let (where_, word) = match (chain, asset) {
        (Some(c), _) => (Placement::Chain(c), c.name().to_string()),
        (None, Some(a)) => (placement(a), a.to_ascii_uppercase()),
        (None, None) => {
            return Err(LabelsError::UnknownChain {
                file: file.to_string(),
                hint: "the file is not named sanctioned_addresses_<ASSET>.txt",
            });
        }
    };
    let entries: Vec<(usize, String)> = if input.trim_start().starts_with('[') {
        let list: Vec<String> = serde_json::from_str(input).map_err(|e| LabelsError::Json {
            file: file.to_string(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        list.into_iter().map(|a| (line_of(input, &a), a)).collect()
    } else {
        input
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim().to_string()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .collect()
    };
    let mut out = Parsed::new(Format::Ofac);
    let source = format!("OFAC SDN list ({name})");
    for (line, address_text) in entries {
        out.records += 1;
        let (chain, address) = match place(where_, &word, &address_text) {
            Ok(p) => p,
            // Unsupported assets, and token lists' addresses on other chains (Omni USDT), are skipped.
            Err(reason) if !matches!(where_, Placement::Chain(_)) => {
                out.skip(format!("asset {reason}"));
                continue;
            }
            Err(reason) => {
                return Err(LabelsError::BadField {
                    file: file.to_string(),
                    line,
                    field: "address",
                    value: address_text,
                    reason,
                });
            }
        };
        out.labels.push(Label {
            chain,
            address,
            text: format!("OFAC SDN sanctioned address ({word})"),
            category: Category::Sanctioned,
            category_raw: Some("sanction".to_string()),
            abuse: Some("sanction".to_string()),
            actor: None,
            source: source.clone(),
            confidence: Confidence::AUTHORITY_DATA,
        });
    }
    Ok(out)
}

/// `ETH` from `sanctioned_addresses_ETH.txt`.
fn asset_of(name: &str) -> Option<&str> {
    let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
    stem.strip_prefix("sanctioned_addresses_")
        .filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_decides_the_chain() {
        let eth = parse(
            "x/sanctioned_addresses_ETH.txt",
            "0x098B716B8Aaf21512996dC57EB0615e2383E2f96\n\n",
            None,
        )
        .expect("valid list");
        assert_eq!((eth.records, eth.labels.len()), (1, 1));
        assert_eq!(eth.labels[0].chain, Some(Chain::Ethereum));
        assert_eq!(eth.labels[0].category, Category::Sanctioned);
        let usdt = parse(
            "sanctioned_addresses_USDT.json",
            "[\"0x175d44451403Edf28469dF03A9280c1197ADb92c\", \"TEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR\"]",
            None,
        )
        .expect("valid list");
        assert_eq!(
            usdt.labels.iter().map(|l| l.chain).collect::<Vec<_>>(),
            [None, Some(Chain::Tron)]
        );
        let xbt = parse(
            "sanctioned_addresses_XBT.txt",
            "1AXUTu9y3H8w4wYx4BjyFWgRhZKDhmcMrn\nbc1qxyz\n",
            None,
        )
        .expect("skipped, not an error");
        assert_eq!(xbt.labels.len(), 0);
        assert_eq!(xbt.skipped.get("asset XBT not a supported chain"), Some(&2));
        let forced = parse(
            "list.txt",
            "0x098B716B8Aaf21512996dC57EB0615e2383E2f96\n",
            Some(Chain::Bsc),
        )
        .expect("chain given");
        assert_eq!(forced.labels[0].chain, Some(Chain::Bsc));
    }

    #[test]
    fn bad_lines_and_unnamed_lists_are_errors() {
        let err = parse(
            "sanctioned_addresses_ETH.txt",
            "0x098B716B8Aaf21512996dC57EB0615e2383E2f96\nnope\n",
            None,
        )
        .expect_err("bad line")
        .to_string();
        assert!(
            err.starts_with("sanctioned_addresses_ETH.txt:2: bad address 'nope'"),
            "{err}"
        );
        let err =
            parse("list.txt", "0x098B716B8Aaf21512996dC57EB0615e2383E2f96\n", None).expect_err("no asset");
        assert!(err.to_string().contains("--chain"), "{err}");
    }
}

//! Plain CSV labels with a header row: `chain,address,label,category,actor,source,confidence` (any
//! order; `address` and `label` required; `abuse` also accepted; other columns ignored).
//!
//! A CSV is usually written by hand, so every bad value is an error naming its line rather than a skip.

use chaintrace_core::{ActorId, Category, Chain, Confidence, Label};

use crate::{AddressForm, Format, LabelsError, Parsed, address_form, base_name};

const COLUMNS: [&str; 8] = [
    "chain",
    "address",
    "label",
    "category",
    "actor",
    "source",
    "confidence",
    "abuse",
];

pub(crate) fn parse(file: &str, input: &str, default_chain: Option<Chain>) -> Result<Parsed, LabelsError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(input.as_bytes());
    let csv_err = |e: csv::Error| LabelsError::Csv {
        file: file.to_string(),
        line: e.position().map(|p| line_at(input, p.byte())).unwrap_or(0),
        message: match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => {
                format!("expected {expected_len} fields like the header, found {len}")
            }
            _ => e.to_string(),
        },
    };
    let headers = reader.headers().map_err(csv_err)?.clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let [
        chain_c,
        address_c,
        label_c,
        category_c,
        actor_c,
        source_c,
        confidence_c,
        abuse_c,
    ] = COLUMNS.map(col);
    let (Some(address_c), Some(label_c)) = (address_c, label_c) else {
        return Err(LabelsError::Csv {
            file: file.to_string(),
            line: 1,
            message: format!(
                "header must name at least 'address' and 'label' columns (known: {}), found '{}'",
                COLUMNS.join(","),
                headers.iter().collect::<Vec<_>>().join(",")
            ),
        });
    };
    let mut out = Parsed::new(Format::Csv);
    let default_source = base_name(file).to_string();
    for record in reader.records() {
        let record = record.map_err(csv_err)?;
        let line = record.position().map(|p| line_at(input, p.byte())).unwrap_or(0) as usize;
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).filter(|v| !v.is_empty());
        if record.iter().all(str::is_empty) {
            continue;
        }
        out.records += 1;
        let bad = |field: &'static str, value: &str, reason: String| LabelsError::BadField {
            file: file.to_string(),
            line,
            field,
            value: value.to_string(),
            reason,
        };
        let chain = match get(chain_c) {
            Some(c) => Some(c.parse::<Chain>().map_err(|e| bad("chain", c, e.to_string()))?),
            None => default_chain,
        };
        let address_text = get(Some(address_c)).unwrap_or("");
        let address = match (chain, address_form(address_text)) {
            (Some(Chain::Tron), AddressForm::Tron(a)) => a,
            (Some(c), AddressForm::Evm(a)) if c.is_evm() => a,
            (None, AddressForm::Evm(a)) => a,
            (None, AddressForm::Tron(_)) => {
                return Err(bad(
                    "address",
                    address_text,
                    "a Tron address needs chain tron".to_string(),
                ));
            }
            (c, _) => {
                let on = c.map(|c| format!(" on {c}")).unwrap_or_default();
                return Err(bad("address", address_text, format!("not an address{on}")));
            }
        };
        let Some(text) = get(Some(label_c)) else {
            return Err(bad("label", "", "every row needs a label".to_string()));
        };
        let confidence = match get(confidence_c) {
            Some(c) => Confidence::parse(c).ok_or_else(|| {
                bad(
                    "confidence",
                    c,
                    "expected 0-100 or a TagPack level name".to_string(),
                )
            })?,
            None => Confidence::UNKNOWN,
        };
        let category_raw = get(category_c);
        let abuse = get(abuse_c);
        out.labels.push(Label {
            chain,
            address,
            text: text.to_string(),
            category: category_raw
                .and_then(Category::from_name)
                .unwrap_or_else(|| Category::normalize_all(abuse.into_iter().chain(category_raw))),
            category_raw: category_raw.map(str::to_string),
            abuse: abuse.map(str::to_string),
            actor: get(actor_c).map(|a| ActorId(a.to_string())),
            source: get(source_c).unwrap_or(&default_source).to_string(),
            confidence,
        });
    }
    Ok(out)
}

/// The 1-based line where the record starting at byte offset `byte` has its first character (the csv
/// crate's own line count skips blank lines, and its record offsets start before them).
fn line_at(input: &str, byte: u64) -> u64 {
    let bytes = input.as_bytes();
    let mut end = (byte as usize).min(bytes.len());
    while end < bytes.len() && (bytes[end] == b'\n' || bytes[end] == b'\r') {
        end += 1;
    }
    bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "\
chain,address,label,category,actor,source,confidence
ethereum,0x098B716B8Aaf21512996dC57EB0615e2383E2f96,Ronin exploiter,perpetrator,lazarusgroup,case notes,authority_data

,0x29fc9b71492ec63696cf9cd56e9832a42b0dced0,Exploiter 4,hacker,,,90
tron,TEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR,Sanctioned,sanction,,,
";

    #[test]
    fn rows_become_labels() {
        let p = parse("case.csv", CSV, None).expect("valid csv");
        assert_eq!(p.records, 3);
        assert_eq!(p.labels[0].chain, Some(Chain::Ethereum));
        assert_eq!(p.labels[0].confidence.value(), 60);
        assert_eq!(p.labels[0].actor, Some(ActorId("lazarusgroup".into())));
        assert_eq!(p.labels[0].source, "case notes");
        assert_eq!(p.labels[1].chain, None);
        assert_eq!(p.labels[1].category, Category::Perpetrator);
        assert_eq!(p.labels[1].source, "case.csv");
        assert_eq!(p.labels[2].chain, Some(Chain::Tron));
        assert_eq!(p.labels[2].category, Category::Sanctioned);
        assert_eq!(p.labels[2].confidence, Confidence::UNKNOWN);
        let with_default = parse("case.csv", CSV, Some(Chain::Bsc)).expect("valid csv");
        assert_eq!(with_default.labels[1].chain, Some(Chain::Bsc));
    }

    #[test]
    fn malformed_rows_name_file_and_line() {
        let err = |text: &str| {
            parse("dir/case.csv", text, None)
                .expect_err("malformed")
                .to_string()
        };
        let extra_field = CSV.replace(",,,90", ",,,90,extra");
        assert!(
            err(&extra_field).starts_with("dir/case.csv:4: expected 7 fields"),
            "{}",
            err(&extra_field)
        );
        let bad_addr = CSV.replace("0x29fc9b71492ec63696cf9cd56e9832a42b0dced0", "0x29fc");
        assert!(
            err(&bad_addr).starts_with("dir/case.csv:4: bad address '0x29fc'"),
            "{}",
            err(&bad_addr)
        );
        let bad_conf = CSV.replace(",,,90", ",,,190");
        assert!(
            err(&bad_conf).starts_with("dir/case.csv:4: bad confidence '190'"),
            "{}",
            err(&bad_conf)
        );
        let bad_chain = CSV.replace("ethereum,", "bitcoin,");
        assert!(
            err(&bad_chain).starts_with("dir/case.csv:2: bad chain 'bitcoin'"),
            "{}",
            err(&bad_chain)
        );
        assert!(err("addr,name\n1,2\n").starts_with("dir/case.csv:1: header must name"));
        let quote = CSV.replace("Exploiter 4", "\"Exploiter 4");
        assert!(err(&quote).starts_with("dir/case.csv:4:"), "{}", err(&quote));
    }
}

//! GraphSense TagPack YAML: a header whose fields every tag inherits, and a `tags` list whose own
//! fields override them.

use chaintrace_core::{ActorId, Category, Confidence, Label};
use serde::Deserialize;

use crate::{AddressForm, Format, LabelsError, Parsed, address_form, base_name, line_of, place, placement};

/// Header fields; unknown fields (description, lastmod, is_public, ...) are accepted and ignored.
#[derive(Debug, Deserialize)]
struct Pack {
    title: Option<Scalar>,
    source: Option<Scalar>,
    currency: Option<Scalar>,
    network: Option<Scalar>,
    label: Option<Scalar>,
    category: Option<Scalar>,
    abuse: Option<Scalar>,
    actor: Option<Scalar>,
    confidence: Option<Level>,
    tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
struct Tag {
    address: Scalar,
    source: Option<Scalar>,
    currency: Option<Scalar>,
    network: Option<Scalar>,
    label: Option<Scalar>,
    category: Option<Scalar>,
    abuse: Option<Scalar>,
    actor: Option<Scalar>,
    confidence: Option<Level>,
}

/// A YAML scalar read as text (TagPacks sometimes write numbers or dates where text is meant).
#[derive(Debug, Clone)]
pub(crate) struct Scalar(pub(crate) String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a text, number or boolean")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.trim().to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A confidence given as a GraphSense level name (or a number 0-100), checked while parsing so a bad
/// value is reported with its line.
#[derive(Debug, Clone, Copy)]
struct Level(Confidence);

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Scalar(text) = Scalar::deserialize(d)?;
        Confidence::parse(&text).map(Level).ok_or_else(|| {
            let known: Vec<&str> = Confidence::LEVELS.iter().map(|(n, _)| *n).collect();
            serde::de::Error::custom(format!(
                "unknown confidence level '{text}' (known: {}, or a number 0-100)",
                known.join(", ")
            ))
        })
    }
}

/// Turns a serde_norway error into one naming file, line and column.
pub(crate) fn yaml_error(file: &str, err: &serde_norway::Error) -> LabelsError {
    let (line, column) = err.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
    // The library writes the location into its message too; the variant already carries it. Any
    // further location (where a quoted scalar started, ...) stays.
    let message = err
        .to_string()
        .replacen(&format!(" at line {line} column {column}"), "", 1);
    LabelsError::Yaml {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

fn text(s: &Option<Scalar>) -> Option<&str> {
    s.as_ref().map(|s| s.0.as_str()).filter(|s| !s.is_empty())
}

pub(crate) fn parse(file: &str, input: &str) -> Result<Parsed, LabelsError> {
    let pack: Pack = serde_norway::from_str(input).map_err(|e| yaml_error(file, &e))?;
    let mut out = Parsed::new(Format::TagPack);
    let fallback_source = text(&pack.title).unwrap_or_else(|| base_name(file)).to_string();
    for tag in &pack.tags {
        out.records += 1;
        let address_text = tag.address.0.as_str();
        let network = text(&tag.network).or(text(&pack.network));
        let currency = text(&tag.currency).or(text(&pack.currency));
        let placed = match network.or(currency) {
            Some(word) => place(placement(word), word, address_text).map_err(|why| format!("currency {why}")),
            None => match address_form(address_text) {
                AddressForm::Evm(a) => Ok((None, a)),
                AddressForm::Tron(a) => Ok((Some(chaintrace_core::Chain::Tron), a)),
                AddressForm::Other => Err("no currency and not an EVM or Tron address".to_string()),
            },
        };
        let (chain, address) = match placed {
            Ok(p) => p,
            Err(reason) => {
                out.skip(reason);
                continue;
            }
        };
        let Some(label_text) = text(&tag.label).or(text(&pack.label)) else {
            return Err(LabelsError::BadField {
                file: file.to_string(),
                line: line_of(input, address_text),
                field: "label",
                value: String::new(),
                reason: format!("tag {address_text} has no label and the pack header gives none"),
            });
        };
        let category_raw = text(&tag.category).or(text(&pack.category));
        let abuse = text(&tag.abuse).or(text(&pack.abuse));
        out.labels.push(Label {
            chain,
            address,
            text: label_text.to_string(),
            category: Category::normalize_all(abuse.into_iter().chain(category_raw)),
            category_raw: category_raw.map(str::to_string),
            abuse: abuse.map(str::to_string),
            actor: text(&tag.actor)
                .or(text(&pack.actor))
                .map(|a| ActorId(a.to_string())),
            source: text(&tag.source)
                .or(text(&pack.source))
                .unwrap_or(&fallback_source)
                .to_string(),
            confidence: tag
                .confidence
                .or(pack.confidence)
                .map(|l| l.0)
                .unwrap_or(Confidence::UNKNOWN),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chaintrace_core::{Address, Chain};

    use super::*;

    const PACK: &str = "\
title: Test pack
creator: someone
source: https://example.org/pack
currency: ETH
confidence: authority_data
category: user
abuse: sanction
actor: lazarusgroup
label: Lazarus group
tags:
- address: '0x098B716B8Aaf21512996dC57EB0615e2383E2f96'
- address: 0x29fc9b71492ec63696cf9cd56e9832a42b0dced0
  label: Own label
  confidence: web_crawl
  category: exchange
  abuse: service_hack
  actor: other
  source: https://example.org/tag
- address: 134r8iHv69xdT6p5qVKTsHrcUEuBVZAYak
  currency: BTC
- address: TEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR
  currency: USDT
";

    #[test]
    fn tags_inherit_header_fields_and_override_them() {
        let p = parse("t.yaml", PACK).expect("valid pack");
        assert_eq!(p.records, 4);
        assert_eq!(p.labels.len(), 3);
        assert_eq!(p.skipped.get("currency BTC not a supported chain"), Some(&1));
        let first = &p.labels[0];
        assert_eq!(first.chain, Some(Chain::Ethereum));
        assert_eq!(
            first.address,
            Address::parse("0x098b716b8aaf21512996dc57eb0615e2383e2f96").expect("hex")
        );
        assert_eq!(first.text, "Lazarus group");
        assert_eq!(first.category, Category::Sanctioned);
        assert_eq!(first.category_raw.as_deref(), Some("user"));
        assert_eq!(first.actor, Some(ActorId("lazarusgroup".into())));
        assert_eq!(first.confidence.value(), 60);
        assert_eq!(first.source, "https://example.org/pack");
        let second = &p.labels[1];
        assert_eq!(second.text, "Own label");
        assert_eq!(second.category, Category::Perpetrator);
        assert_eq!(second.abuse.as_deref(), Some("service_hack"));
        assert_eq!(second.actor, Some(ActorId("other".into())));
        assert_eq!(second.confidence.value(), 20);
        assert_eq!(second.source, "https://example.org/tag");
        assert_eq!(p.labels[2].chain, Some(Chain::Tron));
    }

    #[test]
    fn bad_yaml_names_file_and_line() {
        let broken = PACK.replace("  label: Own label", "  label: [unclosed");
        let err = parse("packs/t.yaml", &broken)
            .expect_err("broken yaml")
            .to_string();
        assert!(err.starts_with("packs/t.yaml:13:10: tags[1].label"), "{err}");
    }

    #[test]
    fn yaml_syntax_errors_name_file_and_line() {
        let err =
            parse("s.yaml", "title: x\ntags:\n- address: '0x1\n  label: y\n").expect_err("unclosed quote");
        // libyaml notices at the end of the stream, and says where the scalar began.
        let err = err.to_string();
        assert!(
            err.starts_with("s.yaml:5:1:") && err.contains("quoted scalar at line 3"),
            "{err}"
        );
        let err = parse("s.yaml", "title: x\ntags:\n- address: a\n label: y\n").expect_err("bad indentation");
        assert!(err.to_string().starts_with("s.yaml:4:"), "{err}");
    }

    #[test]
    fn unknown_confidence_level_names_its_line() {
        let bad = PACK.replace("  confidence: web_crawl", "  confidence: very_sure");
        let err = parse("t.yaml", &bad).expect_err("bad level").to_string();
        // The line is the tag's first line: the library reports custom errors at the enclosing mapping.
        assert!(err.starts_with("t.yaml:12:"), "{err}");
        assert!(err.contains("very_sure"), "{err}");
    }

    #[test]
    fn tag_without_address_or_label_is_an_error() {
        let no_address = PACK.replace("- address: 134r8iHv69xdT6p5qVKTsHrcUEuBVZAYak\n", "- label: x\n");
        let err = parse("t.yaml", &no_address)
            .expect_err("missing address")
            .to_string();
        assert!(err.contains("t.yaml:") && err.contains("address"), "{err}");
        let no_label = PACK.replace("label: Lazarus group\n", "");
        let err = parse("t.yaml", &no_label).expect_err("missing label").to_string();
        assert!(err.starts_with("t.yaml:10: bad label"), "{err}");
    }
}

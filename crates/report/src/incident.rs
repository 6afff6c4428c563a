//! Incident files (TOML):
//!
//! ```toml
//! name = "CoinEx hot wallet hack"
//! started = "2023-09-12T00:00:00Z"   # RFC 3339, a date (00:00 UTC), a TOML date-time, or unix seconds
//! [[victim]]
//! chain = "ethereum"
//! address = "0x…"
//! [[exploiter]]
//! chain = "ethereum"
//! address = "0x…"
//! [[token]]                          # optional: symbol and decimals of tokens the built-in table lacks
//! chain = "ethereum"
//! address = "0x…"
//! symbol = "USDT"
//! decimals = 6
//! ```

use chaintrace_analysis::investigate::prices::{days_from_civil, days_in_month};
use chaintrace_analysis::investigate::{Incident, TokenInfo};
use chaintrace_core::{Address, Chain};
use serde::Deserialize;

/// A bad incident file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncidentError {
    /// TOML syntax or a field of the wrong shape or value.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// File name as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A rule about the whole file.
    #[error("{file}: {message}")]
    Invalid {
        /// File name as given.
        file: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    started: toml::Value,
    #[serde(default)]
    victim: Vec<Party>,
    #[serde(default)]
    exploiter: Vec<Party>,
    #[serde(default)]
    token: Vec<Token>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Party {
    #[serde(deserialize_with = "de_chain")]
    chain: Chain,
    address: toml::Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Token {
    #[serde(deserialize_with = "de_chain")]
    chain: Chain,
    address: toml::Spanned<String>,
    symbol: String,
    decimals: u8,
}

fn de_chain<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Chain, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<Chain>().map_err(|_| {
        let known: Vec<&str> = Chain::ALL.iter().map(|c| c.name()).collect();
        serde::de::Error::custom(format!("unknown chain '{s}' (known: {})", known.join(", ")))
    })
}

/// Parses an incident file's text; `file` names it in errors.
pub fn parse_incident(file: &str, text: &str) -> Result<Incident, IncidentError> {
    let at = |offset: usize, message: String| {
        let (line, column) = line_col(text, offset);
        IncidentError::Syntax {
            file: file.to_string(),
            line,
            column,
            message,
        }
    };
    let parsed: File = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        at(offset, e.message().trim().to_string())
    })?;
    let invalid = |message: String| IncidentError::Invalid {
        file: file.to_string(),
        message,
    };
    if parsed.name.trim().is_empty() {
        return Err(invalid("'name' is empty".into()));
    }
    let started = match &parsed.started {
        toml::Value::Integer(i) if *i >= 0 => *i as u64,
        toml::Value::String(s) => parse_time(s).ok_or_else(|| {
            invalid(format!(
                "'started' = '{s}': expected RFC 3339 (2023-09-12T00:00:00Z), a date or unix seconds"
            ))
        })?,
        toml::Value::Datetime(d) => parse_time(&d.to_string()).ok_or_else(|| {
            invalid(format!(
                "'started' = {d}: a full date-time with offset or a date is needed"
            ))
        })?,
        other => {
            return Err(invalid(format!(
                "'started' = {other}: expected a date-time string"
            )));
        }
    };
    let address = |a: &toml::Spanned<String>| {
        Address::parse(a.get_ref()).map_err(|e| at(a.span().start, e.to_string()))
    };
    let mut victims = Vec::new();
    for p in &parsed.victim {
        victims.push((p.chain, address(&p.address)?));
    }
    let mut exploiters = Vec::new();
    for p in &parsed.exploiter {
        exploiters.push((p.chain, address(&p.address)?));
    }
    if exploiters.is_empty() {
        return Err(invalid(
            "the incident names no exploiter (add an [[exploiter]] table with chain and address)".into(),
        ));
    }
    let mut tokens = Vec::new();
    for t in &parsed.token {
        tokens.push(TokenInfo {
            chain: t.chain,
            address: address(&t.address)?,
            symbol: t.symbol.clone(),
            decimals: t.decimals,
        });
    }
    Ok(Incident {
        name: parsed.name,
        started,
        victims,
        exploiters,
        tokens,
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

/// Unix seconds of `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` or a bare integer.
pub fn parse_time(s: &str) -> Option<u64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let num = |t: &str| -> Option<i64> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok())?
    };
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let (y, m, d) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(d), None) if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
            (num(y)?, num(m)?, num(d)?)
        }
        _ => return None,
    };
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let day_start = days_from_civil(y, m, d) * 86_400;
    let secs = match time {
        None => day_start,
        Some(t) => {
            let (clock, offset) = if let Some(c) = t.strip_suffix(['Z', 'z']) {
                (c, 0)
            } else if let Some(i) = t.rfind(['+', '-']) {
                let (c, o) = t.split_at(i);
                let sign = if o.starts_with('-') { -1 } else { 1 };
                let (oh, om) = o[1..].split_once(':')?;
                (c, sign * (num(oh)? * 3600 + num(om)? * 60))
            } else {
                return None;
            };
            let clock = clock.split('.').next().unwrap_or(clock);
            let f: Vec<&str> = clock.split(':').collect();
            if f.len() != 3 {
                return None;
            }
            let (hh, mm, ss) = (num(f[0])?, num(f[1])?, num(f[2])?);
            if hh > 23 || mm > 59 || ss > 60 {
                return None;
            }
            day_start + hh * 3600 + mm * 60 + ss - offset
        }
    };
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "CoinEx hot wallet hack"
started = "2023-09-12T00:00:00Z"
[[victim]]
chain = "ethereum"
address = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
[[exploiter]]
chain = "eth"
address = "0x0000000000000000000000000000000000000001"
[[token]]
chain = "bsc"
address = "0x0000000000000000000000000000000000000002"
symbol = "USDT"
decimals = 18
"#;

    #[test]
    fn parses_a_full_incident() {
        let inc = parse_incident("inc.toml", GOOD).expect("valid incident");
        assert_eq!(inc.name, "CoinEx hot wallet hack");
        assert_eq!(inc.started, 1_694_476_800);
        assert_eq!(inc.victims.len(), 1);
        assert_eq!(inc.exploiters[0].0, Chain::Ethereum);
        assert_eq!(inc.tokens[0].decimals, 18);
    }

    #[test]
    fn errors_name_file_and_line() {
        let bad_chain = GOOD.replace("chain = \"eth\"", "chain = \"solana\"");
        let e = parse_incident("inc.toml", &bad_chain)
            .expect_err("unknown chain")
            .to_string();
        assert!(e.starts_with("inc.toml:8:"), "{e}");
        assert!(e.contains("unknown chain 'solana'"), "{e}");

        let bad_addr = GOOD.replace("0x0000000000000000000000000000000000000001", "0x12");
        let e = parse_incident("inc.toml", &bad_addr)
            .expect_err("bad address")
            .to_string();
        assert!(e.starts_with("inc.toml:9:"), "{e}");

        let e = parse_incident("inc.toml", "name = \"x\"\nstarted = \n")
            .expect_err("syntax")
            .to_string();
        assert!(e.starts_with("inc.toml:2:"), "{e}");

        let no_exploiter = "name = \"x\"\nstarted = \"2023-09-12\"\n";
        let e = parse_incident("inc.toml", no_exploiter)
            .expect_err("no exploiter")
            .to_string();
        assert!(e.contains("no exploiter"), "{e}");
    }

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("2023-09-12"), Some(1_694_476_800));
        assert_eq!(parse_time("2023-09-12T02:00:00+02:00"), Some(1_694_476_800));
        assert_eq!(parse_time("1694476800"), Some(1_694_476_800));
        assert_eq!(parse_time("2023-02-30"), None);
        let native = "name = \"x\"\nstarted = 2023-09-12T00:00:00Z\n[[exploiter]]\nchain = \"bsc\"\naddress = \"0x0000000000000000000000000000000000000001\"\n";
        assert_eq!(parse_incident("f", native).map(|i| i.started), Ok(1_694_476_800));
    }
}

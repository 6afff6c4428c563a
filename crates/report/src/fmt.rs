//! Small text helpers shared by the renderers.

use chaintrace_analysis::conversions::{ConversionDetail, verdict_name};
use chaintrace_analysis::investigate::Value;
use chaintrace_analysis::trace::TraceStep;
use chaintrace_core::{Address, Asset, Chain, TxHash};

/// `$1,234,567.89`, or `n/a` when missing.
pub(crate) fn usd(v: Option<f64>) -> String {
    match v {
        None => "n/a".to_string(),
        Some(x) => {
            let cents = (x * 100.0).round();
            let whole = (cents / 100.0).trunc() as u128;
            let frac = (cents as u128) % 100;
            format!("${}.{frac:02}", group(&whole.to_string()))
        }
    }
}

/// `$1.2M`, `$35.4k`, `$12`: compact, for graph labels.
pub(crate) fn usd_short(v: Option<f64>) -> String {
    match v {
        None => "n/a".to_string(),
        Some(x) if x >= 1e9 => format!("${:.1}B", x / 1e9),
        Some(x) if x >= 1e6 => format!("${:.1}M", x / 1e6),
        Some(x) if x >= 1e3 => format!("${:.1}k", x / 1e3),
        Some(x) => format!("${x:.0}"),
    }
}

fn group(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Ticker, or the token address when unknown.
pub(crate) fn symbol(v: &Value) -> String {
    v.meta.symbol.clone().unwrap_or_else(|| v.asset.json_for(v.chain))
}

/// `1.5 ETH`, or `1500000 raw units of 0x…` when the decimals are unknown.
pub(crate) fn amount(v: &Value) -> String {
    match v.human() {
        Some(h) => format!("{} {}", group_decimal(&h), symbol(v)),
        None => format!("{} raw units of {}", v.raw, symbol(v)),
    }
}

/// Short amount for graph labels: at most 4 significant decimals.
pub(crate) fn amount_short(v: &Value) -> String {
    match v.human() {
        Some(h) => {
            let (int, frac) = h.split_once('.').unwrap_or((&h, ""));
            let keep = if int == "0" {
                6
            } else if int.len() > 3 {
                0
            } else {
                2
            };
            let frac: String = frac.chars().take(keep).collect();
            let frac = frac.trim_end_matches('0');
            let n = if frac.is_empty() {
                group(int)
            } else {
                format!("{}.{frac}", group(int))
            };
            format!("{n} {}", symbol(v))
        }
        None => format!("{} raw {}", v.raw, short_symbol(v)),
    }
}

fn short_symbol(v: &Value) -> String {
    v.meta
        .symbol
        .clone()
        .unwrap_or_else(|| short_hex(&v.asset.json_for(v.chain)))
}

fn group_decimal(h: &str) -> String {
    match h.split_once('.') {
        Some((i, f)) => format!("{}.{f}", group(i)),
        None => group(h),
    }
}

/// `0x1234…abcd`.
pub(crate) fn short_hex(s: &str) -> String {
    if s.len() <= 14 {
        s.to_string()
    } else {
        format!("{}…{}", &s[..6], &s[s.len() - 4..])
    }
}

/// Short address as shown on its chain.
pub(crate) fn short_addr(chain: Chain, a: Address) -> String {
    short_hex(&a.display_for(chain))
}

/// Short transaction hash.
pub(crate) fn short_tx(h: TxHash) -> String {
    short_hex(&h.to_hex())
}

/// Escapes text for HTML and SVG.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a Markdown table cell.
pub(crate) fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Confidence as a percentage.
pub(crate) fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// The conversions on a path, one phrase each, `; `-separated (empty when the path has none): swaps with
/// assets and rate, bridges with chains, deposit and release transactions, confidence and reason.
pub(crate) fn conversion_steps(steps: &[TraceStep]) -> String {
    let asset = |c: Chain, a: Asset| match a {
        Asset::Native => c.native_symbol().to_string(),
        Asset::Token(t) => short_addr(c, t),
    };
    let parts: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            TraceStep::Transfer { .. } => None,
            TraceStep::Conversion(c) => Some(match &c.detail {
                ConversionDetail::Swap { kind } => format!(
                    "{} {} \u{2192} {} on {} (rate {:.6}, tx {})",
                    kind.name(),
                    asset(c.from_chain, c.asset_in),
                    asset(c.to_chain, c.asset_out),
                    c.from_chain,
                    c.rate(),
                    short_tx(c.from_tx)
                ),
                ConversionDetail::Bridge {
                    bridge,
                    verdict,
                    confidence,
                    reason,
                } => format!(
                    "bridge {bridge} {} \u{2192} {} (deposit {}, release {}, confidence {:.0}% {}: {reason})",
                    c.from_chain,
                    c.to_chain,
                    short_tx(c.from_tx),
                    short_tx(c.to_tx),
                    confidence * 100.0,
                    verdict_name(*verdict)
                ),
            }),
        })
        .collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_grouped_and_missing_is_na() {
        assert_eq!(usd(Some(1_234_567.891)), "$1,234,567.89");
        assert_eq!(usd(Some(0.5)), "$0.50");
        assert_eq!(usd(None), "n/a");
        assert_eq!(usd_short(Some(2_500_000.0)), "$2.5M");
    }
}

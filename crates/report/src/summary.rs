//! A short plain-text summary for a terminal: losses, top exits and destinations, ranked attribution.

use std::fmt::Write;

use chaintrace_analysis::investigate::Investigation;
use chaintrace_analysis::investigate::prices::rfc3339_of_unix;

use crate::fmt::{amount, pct, short_tx, usd};
use crate::json::total_usd;

/// Evidence lines listed per actor.
const MAX_EVIDENCE: usize = 6;

/// The summary; `top` bounds the exits and destinations listed.
pub fn render(inv: &Investigation, top: usize) -> String {
    let mut s = String::new();
    let inc = &inv.incident;
    let _ = writeln!(
        s,
        "INCIDENT  {} (started {})",
        inc.name,
        rfc3339_of_unix(inc.started)
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "LOSSES (total {})", usd(total_usd(inv)));
    if inv.losses.is_empty() {
        let _ = writeln!(s, "  none found");
    }
    for l in &inv.losses {
        let _ = writeln!(
            s,
            "  {:<9} {:>32}  {:>18}  {} transfer(s)",
            l.value.chain.name(),
            amount(&l.value),
            usd(l.value.usd),
            l.transfers.len()
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "TOP EXITS ({} entities)", inv.exits.len());
    for g in inv.exits.iter().take(top) {
        let parts: Vec<String> = g
            .totals
            .iter()
            .map(|t| format!("{} on {}", amount(t), t.chain))
            .collect();
        let _ = writeln!(
            s,
            "  {:<24} {:<10} {:>18}  {}  ({} address(es))",
            g.entity,
            g.category,
            usd(g.usd),
            parts.join(", "),
            g.addresses.len()
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "TOP DESTINATIONS ({} holding funds)", inv.destinations.len());
    for d in inv.destinations.iter().take(top) {
        let _ = writeln!(
            s,
            "  {:<9} {:<42} {:>28} {:>16}  {} hop(s), {}{}",
            d.value.chain.name(),
            d.address.display_for(d.value.chain),
            amount(&d.value),
            usd(d.value.usd),
            d.hops,
            d.reason.name(),
            d.label.as_ref().map(|l| format!(", '{l}'")).unwrap_or_default()
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "ATTRIBUTION");
    if inv.attribution.is_empty() {
        let _ = writeln!(s, "  no link to any labeled actor was found; no one is named");
    }
    for (i, a) in inv.attribution.iter().enumerate() {
        let name = a.name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default();
        let _ = writeln!(
            s,
            "  {}. {}{}  confidence {}",
            i + 1,
            a.actor,
            name,
            pct(a.confidence)
        );
        let evidence = a.evidence();
        for e in evidence.iter().take(MAX_EVIDENCE) {
            let tx = e
                .tx_hash
                .map(|h| format!(" tx {}", short_tx(h)))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "     - {:<24} {:<9} {}{tx}: {}",
                e.kind.name(),
                e.chain.name(),
                e.address.display_for(e.chain),
                e.detail
            );
        }
        if evidence.len() > MAX_EVIDENCE {
            let _ = writeln!(
                s,
                "     ... and {} more piece(s) of evidence in the report",
                evidence.len() - MAX_EVIDENCE
            );
        }
    }
    if !inv.notes.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "NOTES");
        for n in &inv.notes {
            let _ = writeln!(s, "  - {n}");
        }
    }
    s
}

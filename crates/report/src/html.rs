//! The report as one self-contained HTML file (inline CSS and SVG; no scripts, no external resources).

use std::fmt::Write;

use chaintrace_analysis::investigate::Investigation;
use chaintrace_analysis::investigate::mixers::CANDIDATE_NOTE;
use chaintrace_analysis::investigate::prices::rfc3339_of_unix;

use crate::fmt::{amount, conversion_steps, esc, pct, usd};
use crate::json::{membership, total_usd};

const MAX_ROWS: usize = 50;

const STYLE: &str = r#"
body { font-family: Helvetica, Arial, sans-serif; margin: 24px 32px; color: #212121; background: #fafafa; }
h1 { margin-bottom: 4px; } h2 { margin-top: 32px; border-bottom: 2px solid #cfd8dc; padding-bottom: 4px; }
.sub { color: #546e7a; margin-top: 0; }
.cards { display: flex; gap: 16px; flex-wrap: wrap; margin: 16px 0; }
.card { background: #fff; border: 1px solid #cfd8dc; border-radius: 8px; padding: 12px 18px; min-width: 180px; }
.card .v { font-size: 22px; font-weight: bold; } .card .k { color: #607d8b; font-size: 12px; text-transform: uppercase; }
table { border-collapse: collapse; background: #fff; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #cfd8dc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eceff1; } td.n { text-align: right; white-space: nowrap; }
code { font-family: Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
.graph { overflow-x: auto; background: #fff; border: 1px solid #cfd8dc; border-radius: 8px; }
.none { background: #fff3e0; border-left: 4px solid #ef6c00; padding: 8px 12px; }
.actor { background: #fff; border: 1px solid #cfd8dc; border-radius: 8px; padding: 8px 16px; margin: 12px 0; }
.bar { display: inline-block; height: 10px; background: #c62828; border-radius: 5px; vertical-align: middle; }
"#;

/// The whole page.
pub fn render(inv: &Investigation) -> String {
    let mut s = String::new();
    let inc = &inv.incident;
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Incident report: {}</title><style>{STYLE}</style></head><body>",
        esc(&inc.name)
    );
    let _ = writeln!(s, "<h1>Incident report: {}</h1>", esc(&inc.name));
    let _ = writeln!(
        s,
        "<p class=\"sub\">Started {}. Funds traced forward from the exploiters under the <b>{}</b> model. USD at each transfer day's close; n/a = no price.</p>",
        rfc3339_of_unix(inc.started),
        inv.model.name()
    );
    let top = inv
        .attribution
        .first()
        .map(|a| {
            format!(
                "{} ({})",
                a.name.clone().unwrap_or_else(|| a.actor.0.clone()),
                pct(a.confidence)
            )
        })
        .unwrap_or_else(|| "no one named".to_string());
    let exit_usd: Option<f64> = if inv.exits.is_empty() {
        None
    } else {
        inv.exits.iter().try_fold(0.0, |a, g| g.usd.map(|u| a + u))
    };
    let _ = writeln!(
        s,
        "<div class=\"cards\"><div class=\"card\"><div class=\"k\">stolen</div><div class=\"v\">{}</div></div>\
         <div class=\"card\"><div class=\"k\">reached exits</div><div class=\"v\">{}</div></div>\
         <div class=\"card\"><div class=\"k\">exit entities</div><div class=\"v\">{}</div></div>\
         <div class=\"card\"><div class=\"k\">attribution</div><div class=\"v\">{}</div></div></div>",
        usd(total_usd(inv)),
        usd(exit_usd),
        inv.exits.len(),
        esc(&top)
    );

    let _ = writeln!(
        s,
        "<h2>Fund flow</h2><div class=\"graph\">{}</div>",
        crate::svg::render(&inv.flow)
    );
    if inv.flow.omitted_terminals > 0 {
        let _ = writeln!(
            s,
            "<p class=\"sub\">{} smaller exit or resting address(es) are not drawn; the tables below list them.</p>",
            inv.flow.omitted_terminals
        );
    }

    let _ = writeln!(s, "<h2>Attribution</h2>");
    if inv.attribution.is_empty() {
        let _ = writeln!(
            s,
            "<p class=\"none\">No link to any labeled actor was found. <b>No one is named.</b></p>"
        );
    }
    for (i, a) in inv.attribution.iter().enumerate() {
        let _ = writeln!(
            s,
            "<div class=\"actor\"><h3>{}. {}{} &mdash; confidence {} <span class=\"bar\" style=\"width:{:.0}px\"></span></h3>",
            i + 1,
            esc(&a.actor.0),
            a.name
                .as_ref()
                .map(|n| format!(" ({})", esc(n)))
                .unwrap_or_default(),
            pct(a.confidence),
            a.confidence * 200.0
        );
        let _ = writeln!(
            s,
            "<table><tr><th>kind</th><th>chain</th><th>tx</th><th>address</th><th>detail</th></tr>"
        );
        for e in a.evidence() {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                e.kind.name(),
                e.chain,
                e.tx_hash.map(|h| h.to_hex()).unwrap_or_default(),
                esc(&e.address.display_for(e.chain)),
                esc(&e.detail)
            );
        }
        let _ = writeln!(
            s,
            "</table><p class=\"sub\">Findings (strength = product of factors):</p><ul>"
        );
        for f in &a.findings {
            let factors: Vec<String> = f
                .factors
                .iter()
                .map(|(w, x)| format!("{} {x:.2}", esc(w)))
                .collect();
            let _ = writeln!(
                s,
                "<li><code>{}</code> on {}: {:.3} = {}</li>",
                esc(&f.target.1.display_for(f.target.0)),
                f.target.0,
                f.strength,
                factors.join(" &times; ")
            );
        }
        let _ = writeln!(s, "</ul></div>");
    }

    let _ = writeln!(
        s,
        "<h2>Losses</h2><table><tr><th>chain</th><th>asset</th><th>amount</th><th>raw amount</th><th>USD</th><th>transfers</th></tr>"
    );
    for l in &inv.losses {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\"><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            l.value.chain,
            esc(&crate::fmt::symbol(&l.value)),
            esc(&amount(&l.value)),
            l.value.raw,
            usd(l.value.usd),
            l.transfers.len()
        );
    }
    let _ = writeln!(
        s,
        "</table><table><tr><th>time</th><th>chain</th><th>tx</th><th>victim</th><th>to</th><th>amount</th><th>USD</th></tr>"
    );
    let transfers: Vec<_> = inv
        .losses
        .iter()
        .flat_map(|l| l.transfers.iter().map(move |t| (l.value.chain, t)))
        .collect();
    for (chain, t) in transfers.iter().take(MAX_ROWS) {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            rfc3339_of_unix(t.time),
            chain,
            t.tx_hash.to_hex(),
            t.from.display_for(*chain),
            t.to.display_for(*chain),
            esc(&amount(&t.value)),
            usd(t.value.usd)
        );
    }
    let _ = writeln!(s, "</table>{}", more(transfers.len()));

    let _ = writeln!(s, "<h2>Exits by entity</h2>");
    if inv.exits.is_empty() {
        let _ = writeln!(
            s,
            "<p>No labeled exit (exchange, mixer, bridge, ...) was reached.</p>"
        );
    } else {
        let _ = writeln!(
            s,
            "<table><tr><th>entity</th><th>category</th><th>received</th><th>USD</th><th>addresses</th></tr>"
        );
        for g in &inv.exits {
            let parts: Vec<String> = g
                .totals
                .iter()
                .map(|t| format!("{} ({})", amount(t), t.chain))
                .collect();
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&g.entity),
                esc(&g.category),
                esc(&parts.join(", ")),
                usd(g.usd),
                g.addresses.len()
            );
        }
        let _ = writeln!(
            s,
            "</table><table><tr><th>entity</th><th>chain</th><th>address</th><th>label</th><th>amount</th><th>USD</th><th>hops</th><th>first tx</th><th>via swaps / bridges</th></tr>"
        );
        let rows: Vec<_> = inv
            .exits
            .iter()
            .flat_map(|g| g.addresses.iter().map(move |x| (g, x)))
            .collect();
        for (g, x) in rows.iter().take(MAX_ROWS) {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&g.entity),
                x.value.chain,
                x.address.display_for(x.value.chain),
                esc(&x.label),
                esc(&amount(&x.value)),
                usd(x.value.usd),
                x.hops,
                x.path.first().map(|h| h.to_hex()).unwrap_or_default(),
                esc(&conversion_steps(&x.steps))
            );
        }
        let _ = writeln!(s, "</table>{}", more(rows.len()));
    }

    let _ = writeln!(s, "<h2>Where the funds rest</h2>");
    if inv.destinations.is_empty() {
        let _ = writeln!(s, "<p>Nothing rests outside the labeled exits.</p>");
    } else {
        let _ = writeln!(
            s,
            "<table><tr><th>chain</th><th>address</th><th>label</th><th>amount</th><th>USD</th><th>hops</th><th>why</th><th>via swaps / bridges</th></tr>"
        );
        for d in inv.destinations.iter().take(MAX_ROWS) {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                d.value.chain,
                d.address.display_for(d.value.chain),
                esc(d.label.as_deref().unwrap_or("")),
                esc(&amount(&d.value)),
                usd(d.value.usd),
                d.hops,
                d.reason.name(),
                esc(&conversion_steps(&d.steps))
            );
        }
        let _ = writeln!(s, "</table>{}", more(inv.destinations.len()));
    }

    let _ = writeln!(
        s,
        "<h2>Exploiter side</h2><table><tr><th>chain</th><th>address</th><th>membership</th><th>why</th></tr>"
    );
    for m in inv.incident_addresses.iter().take(MAX_ROWS) {
        let (kind, detail) = membership(&m.membership);
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td><code>{}</code></td><td>{kind}</td><td>{}</td></tr>",
            m.chain,
            m.address.display_for(m.chain),
            esc(&detail)
        );
    }
    let _ = writeln!(s, "</table>{}", more(inv.incident_addresses.len()));
    if !inv.cross_chain_entities.is_empty() {
        let _ = writeln!(
            s,
            "<h2>Cross-chain identity</h2><p class=\"sub\">The same address (20 bytes) on several chains of the incident: one key likely controls all of them.</p><table><tr><th>address</th><th>chain</th><th>as written there</th><th>evidence</th><th>tx</th></tr>"
        );
        for x in &inv.cross_chain_entities {
            for e in &x.evidence {
                let _ = writeln!(
                    s,
                    "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}: {}</td><td><code>{}</code></td></tr>",
                    x.address,
                    e.chain,
                    x.address.display_for(e.chain),
                    esc(&e.kind),
                    esc(&e.detail),
                    e.tx_hash.map(|h| h.to_hex()).unwrap_or_default()
                );
            }
        }
        let _ = writeln!(s, "</table>");
    }
    if !inv.mixer_deposits.is_empty() {
        let _ = writeln!(
            s,
            "<h2>Mixer deposits</h2><p class=\"sub\">Deposits into mixer pools made from the traced funds: the trail ends there (an exit, not an actor).</p><table><tr><th>time</th><th>chain</th><th>pool</th><th>denomination</th><th>deposit tx</th><th>depositor</th><th>candidates</th></tr>"
        );
        for d in inv.mixer_deposits.iter().take(MAX_ROWS) {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code> {}</td><td class=\"n\">{}</td><td><code>{}</code></td><td><code>{}</code></td><td class=\"n\">{}</td></tr>",
                rfc3339_of_unix(d.timestamp),
                d.chain,
                d.pool.display_for(d.chain),
                esc(&d.pool_name),
                esc(&amount(&d.denomination)),
                d.tx_hash.to_hex(),
                d.depositor.display_for(d.chain),
                d.candidates.len()
            );
        }
        let _ = writeln!(s, "</table>{}", more(inv.mixer_deposits.len()));
        if inv.mixer_deposits.iter().any(|d| !d.candidates.is_empty()) {
            let _ = writeln!(
                s,
                "<p class=\"none\">Candidate withdrawals (possible continuation of the funds). Each is a candidate, not a certainty: public linking heuristics with known false positives (docs/mixers.md); none counts in losses, destinations or attribution.</p><table><tr><th>deposit tx</th><th>withdrawal tx</th><th>recipient</th><th>time</th><th>heuristics</th><th>confidence</th><th>note</th></tr>"
            );
            let mut rows = 0usize;
            for d in &inv.mixer_deposits {
                for c in &d.candidates {
                    rows += 1;
                    if rows > MAX_ROWS {
                        continue;
                    }
                    let conf = format!("{:.2}", c.confidence);
                    let _ = writeln!(
                        s,
                        "<tr><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                        d.tx_hash.to_hex(),
                        c.tx_hash.to_hex(),
                        c.recipient.display_for(d.chain),
                        rfc3339_of_unix(c.timestamp),
                        esc(&c.heuristics.join(", ")),
                        conf,
                        CANDIDATE_NOTE
                    );
                }
            }
            let _ = writeln!(s, "</table>{}", more(rows));
        }
    }
    if !inv.notes.is_empty() {
        let _ = writeln!(s, "<h2>Notes</h2><ul>");
        for n in &inv.notes {
            let _ = writeln!(s, "<li>{}</li>", esc(n));
        }
        let _ = writeln!(s, "</ul>");
    }
    let _ = writeln!(
        s,
        "<p class=\"sub\">Generated by chaintrace. Confidence = noisy-OR over findings, capped by the best label confidence (docs/investigate.md).</p></body></html>"
    );
    s
}

fn more(total: usize) -> String {
    if total > MAX_ROWS {
        format!(
            "<p class=\"sub\">... and {} more (see the JSON report).</p>",
            total - MAX_ROWS
        )
    } else {
        String::new()
    }
}

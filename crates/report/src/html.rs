//! The report as one self-contained HTML file (inline CSS and SVG; no scripts, no external resources).

use std::fmt::Write;

use chaintrace_analysis::investigate::Investigation;
use chaintrace_analysis::investigate::prices::rfc3339_of_unix;

use crate::fmt::{esc, pct, usd};
use crate::json::total_usd;
use crate::tables::{self, Frag, Table};

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
        table(&mut s, &tables::evidence(a));
        let _ = writeln!(
            s,
            "<p class=\"sub\">Findings (strength = product of factors):</p><ul>"
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

    let _ = writeln!(s, "<h2>Losses</h2>");
    table(&mut s, &tables::losses(inv));
    table(&mut s, &tables::loss_transfers(inv));

    let _ = writeln!(s, "<h2>Exits by entity</h2>");
    if inv.exits.is_empty() {
        let _ = writeln!(
            s,
            "<p>No labeled exit (exchange, mixer, bridge, ...) was reached.</p>"
        );
    } else {
        table(&mut s, &tables::exit_entities(inv));
        table(&mut s, &tables::exit_addresses(inv));
    }

    let _ = writeln!(s, "<h2>Where the funds rest</h2>");
    if inv.destinations.is_empty() {
        let _ = writeln!(s, "<p>Nothing rests outside the labeled exits.</p>");
    } else {
        table(&mut s, &tables::destinations(inv));
    }

    let _ = writeln!(s, "<h2>Exploiter side</h2>");
    table(&mut s, &tables::exploiter_side(inv));
    if !inv.cross_chain_entities.is_empty() {
        let _ = writeln!(
            s,
            "<h2>Cross-chain identity</h2><p class=\"sub\">The same address (20 bytes) on several chains of the incident: one key likely controls all of them.</p>"
        );
        table(&mut s, &tables::cross_chain(inv));
    }
    if !inv.mixer_deposits.is_empty() {
        let _ = writeln!(
            s,
            "<h2>Mixer deposits</h2><p class=\"sub\">Deposits into mixer pools made from the traced funds: the trail ends there (an exit, not an actor).</p>"
        );
        table(&mut s, &tables::mixer_deposits(inv));
        if inv.mixer_deposits.iter().any(|d| !d.candidates.is_empty()) {
            let _ = writeln!(
                s,
                "<p class=\"none\">Candidate withdrawals (possible continuation of the funds). Each is a candidate, not a certainty: public linking heuristics with known false positives (docs/mixers.md); none counts in losses, destinations or attribution.</p>"
            );
            table(&mut s, &tables::mixer_candidates(inv));
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

/// Writes a table (numeric columns right-aligned) and says how many rows were left out.
fn table(s: &mut String, t: &Table) {
    s.push_str("<table><tr>");
    for c in &t.cols {
        let _ = write!(s, "<th>{}</th>", esc(c.name));
    }
    s.push_str("</tr>\n");
    for row in &t.rows {
        s.push_str("<tr>");
        for (c, col) in row.iter().zip(&t.cols) {
            s.push_str(if col.numeric { "<td class=\"n\">" } else { "<td>" });
            for (i, f) in c.0.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                match f {
                    Frag::Text(x) => s.push_str(&esc(x)),
                    Frag::Code(x) => {
                        let _ = write!(s, "<code>{}</code>", esc(x));
                    }
                }
            }
            s.push_str("</td>");
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    if t.omitted() > 0 {
        let _ = writeln!(
            s,
            "<p class=\"sub\">... and {} more (see the JSON report).</p>",
            t.omitted()
        );
    }
}

//! The report as Markdown: tables a person can read without the tool.

use std::fmt::Write;

use chaintrace_analysis::investigate::Investigation;
use chaintrace_analysis::investigate::mixers::CANDIDATE_NOTE;
use chaintrace_analysis::investigate::prices::rfc3339_of_unix;

use crate::fmt::{amount, conversion_steps, md, pct, usd};
use crate::json::{membership, total_usd};

/// Rows listed per table before "... and N more".
const MAX_ROWS: usize = 50;

/// The whole report.
pub fn render(inv: &Investigation) -> String {
    let mut s = String::new();
    let inc = &inv.incident;
    let _ = writeln!(s, "# Incident report: {}\n", md(&inc.name));
    let _ = writeln!(
        s,
        "Started {}. Fund flow traced forward from the exploiters under the **{}** model. \
         Amounts in whole units; USD at each transfer day's close (n/a = no price).\n",
        rfc3339_of_unix(inc.started),
        inv.model.name()
    );

    let _ = writeln!(s, "## Attribution\n");
    if inv.attribution.is_empty() {
        let _ = writeln!(
            s,
            "No link to any labeled actor was found. **No one is named.**\n"
        );
    } else {
        let _ = writeln!(
            s,
            "| rank | actor | name | confidence | findings |\n|---:|---|---|---:|---:|"
        );
        for (i, a) in inv.attribution.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                i + 1,
                md(&a.actor.0),
                md(a.name.as_deref().unwrap_or("")),
                pct(a.confidence),
                a.findings.len()
            );
        }
        for a in &inv.attribution {
            let _ = writeln!(s, "\n### Evidence for {}\n", md(&a.actor.0));
            let _ = writeln!(
                s,
                "| kind | chain | tx | address | detail |\n|---|---|---|---|---|"
            );
            for e in a.evidence() {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | `{}` | {} |",
                    e.kind.name(),
                    e.chain,
                    e.tx_hash.map(|h| format!("`{}`", h.to_hex())).unwrap_or_default(),
                    e.address.display_for(e.chain),
                    md(&e.detail)
                );
            }
            let _ = writeln!(s, "\nHow it combines (finding strength = product of factors):\n");
            for f in &a.findings {
                let factors: Vec<String> = f
                    .factors
                    .iter()
                    .map(|(w, x)| format!("{} {x:.2}", md(w)))
                    .collect();
                let _ = writeln!(
                    s,
                    "- `{}` on {}: {:.3} = {}",
                    f.target.1.display_for(f.target.0),
                    f.target.0,
                    f.strength,
                    factors.join(" × ")
                );
            }
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(s, "## Losses\n\nTotal: **{}**\n", usd(total_usd(inv)));
    let _ = writeln!(
        s,
        "| chain | asset | amount | raw amount | USD | transfers |\n|---|---|---:|---:|---:|---:|"
    );
    for l in &inv.losses {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            l.value.chain,
            md(&crate::fmt::symbol(&l.value)),
            amount(&l.value),
            l.value.raw,
            usd(l.value.usd),
            l.transfers.len()
        );
    }
    let _ = writeln!(
        s,
        "\n| time | chain | tx | from (victim) | to | amount | USD |\n|---|---|---|---|---|---:|---:|"
    );
    let transfers: Vec<_> = inv
        .losses
        .iter()
        .flat_map(|l| l.transfers.iter().map(move |t| (l.value.chain, t)))
        .collect();
    for (chain, t) in transfers.iter().take(MAX_ROWS) {
        let _ = writeln!(
            s,
            "| {} | {} | `{}` | `{}` | `{}` | {} | {} |",
            rfc3339_of_unix(t.time),
            chain,
            t.tx_hash.to_hex(),
            t.from.display_for(*chain),
            t.to.display_for(*chain),
            amount(&t.value),
            usd(t.value.usd)
        );
    }
    more(&mut s, transfers.len());

    let _ = writeln!(s, "\n## Exits by entity\n");
    if inv.exits.is_empty() {
        let _ = writeln!(s, "No labeled exit (exchange, mixer, bridge, ...) was reached.");
    } else {
        let _ = writeln!(
            s,
            "| entity | category | received | USD | addresses |\n|---|---|---|---:|---:|"
        );
        for g in &inv.exits {
            let parts: Vec<String> = g
                .totals
                .iter()
                .map(|t| format!("{} ({})", amount(t), t.chain))
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                md(&g.entity),
                g.category,
                md(&parts.join(", ")),
                usd(g.usd),
                g.addresses.len()
            );
        }
        let _ = writeln!(
            s,
            "\n| entity | chain | address | label | amount | USD | hops | first tx | via swaps / bridges |\n|---|---|---|---|---:|---:|---:|---|---|"
        );
        let rows: Vec<_> = inv
            .exits
            .iter()
            .flat_map(|g| g.addresses.iter().map(move |x| (g, x)))
            .collect();
        for (g, x) in rows.iter().take(MAX_ROWS) {
            let _ = writeln!(
                s,
                "| {} | {} | `{}` | {} | {} | {} | {} | {} | {} |",
                md(&g.entity),
                x.value.chain,
                x.address.display_for(x.value.chain),
                md(&x.label),
                amount(&x.value),
                usd(x.value.usd),
                x.hops,
                x.path
                    .first()
                    .map(|h| format!("`{}`", h.to_hex()))
                    .unwrap_or_default(),
                md(&conversion_steps(&x.steps))
            );
        }
        more(&mut s, rows.len());
    }

    let _ = writeln!(s, "\n## Where the funds rest\n");
    if inv.destinations.is_empty() {
        let _ = writeln!(s, "Nothing rests outside the labeled exits.");
    } else {
        let _ = writeln!(
            s,
            "| chain | address | label | amount | USD | hops | why | via swaps / bridges |\n|---|---|---|---:|---:|---:|---|---|"
        );
        for d in inv.destinations.iter().take(MAX_ROWS) {
            let _ = writeln!(
                s,
                "| {} | `{}` | {} | {} | {} | {} | {} | {} |",
                d.value.chain,
                d.address.display_for(d.value.chain),
                md(d.label.as_deref().unwrap_or("")),
                amount(&d.value),
                usd(d.value.usd),
                d.hops,
                d.reason.name(),
                md(&conversion_steps(&d.steps))
            );
        }
        more(&mut s, inv.destinations.len());
    }

    let _ = writeln!(
        s,
        "\n## Exploiter side\n\n| chain | address | membership | why |\n|---|---|---|---|"
    );
    for m in inv.incident_addresses.iter().take(MAX_ROWS) {
        let (kind, detail) = membership(&m.membership);
        let _ = writeln!(
            s,
            "| {} | `{}` | {kind} | {} |",
            m.chain,
            m.address.display_for(m.chain),
            md(&detail)
        );
    }
    more(&mut s, inv.incident_addresses.len());

    if !inv.cross_chain_entities.is_empty() {
        let _ = writeln!(
            s,
            "\n## Cross-chain identity\n\nThe same address (20 bytes) on several chains of the incident: one \
             key likely controls all of them.\n\n| address | chain | as written there | evidence | tx |\n|---|---|---|---|---|"
        );
        for x in &inv.cross_chain_entities {
            for e in &x.evidence {
                let _ = writeln!(
                    s,
                    "| `{}` | {} | `{}` | {}: {} | {} |",
                    x.address,
                    e.chain,
                    x.address.display_for(e.chain),
                    e.kind,
                    md(&e.detail),
                    e.tx_hash.map(|h| format!("`{}`", h.to_hex())).unwrap_or_default()
                );
            }
        }
    }

    if !inv.mixer_deposits.is_empty() {
        let _ = writeln!(
            s,
            "\n## Mixer deposits\n\nDeposits into mixer pools made from the traced funds: the trail ends there (an \
             exit, not an actor).\n\n| time | chain | pool | denomination | deposit tx | depositor | candidates |\n\
             |---|---|---|---|---|---|---|"
        );
        for d in inv.mixer_deposits.iter().take(MAX_ROWS) {
            let _ = writeln!(
                s,
                "| {} | {} | `{}` {} | {} | `{}` | `{}` | {} |",
                rfc3339_of_unix(d.timestamp),
                d.chain,
                d.pool.display_for(d.chain),
                md(&d.pool_name),
                amount(&d.denomination),
                d.tx_hash.to_hex(),
                d.depositor.display_for(d.chain),
                d.candidates.len()
            );
        }
        more(&mut s, inv.mixer_deposits.len());
        if inv.mixer_deposits.iter().any(|d| !d.candidates.is_empty()) {
            let _ = writeln!(
                s,
                "\nCandidate withdrawals (possible continuation of the funds). Each is a candidate, not a \
                 certainty: public linking heuristics with known false positives (docs/mixers.md); none counts \
                 in losses, destinations or attribution.\n\n| deposit tx | withdrawal tx | recipient | time | \
                 heuristics | confidence | note |\n|---|---|---|---|---|---|---|"
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
                        "| `{}` | `{}` | `{}` | {} | {} | {} | {} |",
                        d.tx_hash.to_hex(),
                        c.tx_hash.to_hex(),
                        c.recipient.display_for(d.chain),
                        rfc3339_of_unix(c.timestamp),
                        c.heuristics.join(", "),
                        conf,
                        CANDIDATE_NOTE
                    );
                }
            }
            more(&mut s, rows);
        }
    }

    if !inv.notes.is_empty() {
        let _ = writeln!(s, "\n## Notes\n");
        for n in &inv.notes {
            let _ = writeln!(s, "- {}", md(n));
        }
    }
    let _ = writeln!(
        s,
        "\n---\nGenerated by chaintrace. Confidence = noisy-OR over findings, capped by the best label confidence \
         (see docs/investigate.md)."
    );
    s
}

fn more(s: &mut String, total: usize) {
    if total > MAX_ROWS {
        let _ = writeln!(s, "\n... and {} more (see the JSON report).", total - MAX_ROWS);
    }
}

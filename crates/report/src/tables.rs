//! The report's tables, built once from an investigation and rendered by [`crate::markdown`] and
//! [`crate::html`]: each table is a header, per-column alignment and rows of cells holding plain text and
//! code fragments; the renderers only escape and lay them out.

use chaintrace_analysis::investigate::mixers::CANDIDATE_NOTE;
use chaintrace_analysis::investigate::prices::rfc3339_of_unix;
use chaintrace_analysis::investigate::{Attribution, Investigation};

use crate::fmt::{amount, conversion_steps, symbol, usd};
use crate::json::membership;

/// Rows listed per table before "... and N more".
pub(crate) const MAX_ROWS: usize = 50;

/// Piece of a cell: text, or code (an address, a hash, a raw amount) shown in a fixed-width font.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Frag {
    Text(String),
    Code(String),
}

/// One cell: fragments separated by a space.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cell(pub(crate) Vec<Frag>);

impl Cell {
    fn text(s: impl Into<String>) -> Cell {
        Cell(vec![Frag::Text(s.into())])
    }

    fn code(s: impl Into<String>) -> Cell {
        Cell(vec![Frag::Code(s.into())])
    }

    /// Code, or an empty cell.
    fn code_or_empty(s: Option<String>) -> Cell {
        Cell(s.map(Frag::Code).into_iter().collect())
    }
}

/// A column: its header and whether it holds numbers (right-aligned).
pub(crate) struct Col {
    pub(crate) name: &'static str,
    pub(crate) numeric: bool,
}

const fn col(name: &'static str) -> Col {
    Col { name, numeric: false }
}

const fn num(name: &'static str) -> Col {
    Col { name, numeric: true }
}

/// A table: at most [`MAX_ROWS`] rows of `total`.
pub(crate) struct Table {
    pub(crate) cols: Vec<Col>,
    pub(crate) rows: Vec<Vec<Cell>>,
    /// Rows there were before the cut.
    pub(crate) total: usize,
}

impl Table {
    fn new(cols: Vec<Col>) -> Table {
        Table {
            cols,
            rows: Vec::new(),
            total: 0,
        }
    }

    /// Adds a row when fewer than [`MAX_ROWS`] are listed; counts it either way.
    fn push(&mut self, row: impl FnOnce() -> Vec<Cell>) {
        self.total += 1;
        if self.rows.len() < MAX_ROWS {
            let row = row();
            debug_assert_eq!(row.len(), self.cols.len(), "one cell per column");
            self.rows.push(row);
        }
    }

    /// Rows not listed.
    pub(crate) fn omitted(&self) -> usize {
        self.total - self.rows.len()
    }
}

/// Evidence behind one ranked actor.
pub(crate) fn evidence(a: &Attribution) -> Table {
    let mut t = Table::new(vec![
        col("kind"),
        col("chain"),
        col("tx"),
        col("address"),
        col("detail"),
    ]);
    for e in a.evidence() {
        t.push(|| {
            vec![
                Cell::text(e.kind.name()),
                Cell::text(e.chain.to_string()),
                Cell::code_or_empty(e.tx_hash.map(|h| h.to_hex())),
                Cell::code(e.address.display_for(e.chain)),
                Cell::text(e.detail.clone()),
            ]
        });
    }
    t
}

/// Losses per chain and asset.
pub(crate) fn losses(inv: &Investigation) -> Table {
    let mut t = Table::new(vec![
        col("chain"),
        col("asset"),
        num("amount"),
        num("raw amount"),
        num("USD"),
        num("transfers"),
    ]);
    for l in &inv.losses {
        t.push(|| {
            vec![
                Cell::text(l.value.chain.to_string()),
                Cell::text(symbol(&l.value)),
                Cell::text(amount(&l.value)),
                Cell::text(l.value.raw.to_string()),
                Cell::text(usd(l.value.usd)),
                Cell::text(l.transfers.len().to_string()),
            ]
        });
    }
    t
}

/// The transfers that make up the losses.
pub(crate) fn loss_transfers(inv: &Investigation) -> Table {
    let mut t = Table::new(vec![
        col("time"),
        col("chain"),
        col("tx"),
        col("from (victim)"),
        col("to"),
        num("amount"),
        num("USD"),
    ]);
    for l in &inv.losses {
        let chain = l.value.chain;
        for x in &l.transfers {
            t.push(|| {
                vec![
                    Cell::text(rfc3339_of_unix(x.time)),
                    Cell::text(chain.to_string()),
                    Cell::code(x.tx_hash.to_hex()),
                    Cell::code(x.from.display_for(chain)),
                    Cell::code(x.to.display_for(chain)),
                    Cell::text(amount(&x.value)),
                    Cell::text(usd(x.value.usd)),
                ]
            });
        }
    }
    t
}

/// Exits grouped by entity.
pub(crate) fn exit_entities(inv: &Investigation) -> Table {
    let mut t = Table::new(vec![
        col("entity"),
        col("category"),
        col("received"),
        num("USD"),
        num("addresses"),
    ]);
    for g in &inv.exits {
        t.push(|| {
            let parts: Vec<String> = g
                .totals
                .iter()
                .map(|v| format!("{} ({})", amount(v), v.chain))
                .collect();
            vec![
                Cell::text(g.entity.clone()),
                Cell::text(g.category.clone()),
                Cell::text(parts.join(", ")),
                Cell::text(usd(g.usd)),
                Cell::text(g.addresses.len().to_string()),
            ]
        });
    }
    t
}

/// Every exit address reached, with its entity.
pub(crate) fn exit_addresses(inv: &Investigation) -> Table {
    let mut t = Table::new(vec![
        col("entity"),
        col("chain"),
        col("address"),
        col("label"),
        num("amount"),
        num("USD"),
        num("hops"),
        col("first tx"),
        col("via swaps / bridges"),
    ]);
    for g in &inv.exits {
        for x in &g.addresses {
            t.push(|| {
                vec![
                    Cell::text(g.entity.clone()),
                    Cell::text(x.value.chain.to_string()),
                    Cell::code(x.address.display_for(x.value.chain)),
                    Cell::text(x.label.clone()),
                    Cell::text(amount(&x.value)),
                    Cell::text(usd(x.value.usd)),
                    Cell::text(x.hops.to_string()),
                    Cell::code_or_empty(x.path.first().map(|h| h.to_hex())),
                    Cell::text(conversion_steps(&x.steps)),
                ]
            });
        }
    }
    t
}

/// Where the funds rest outside the exits.
pub(crate) fn destinations(inv: &Investigation) -> Table {
    let mut t = Table::new(vec![
        col("chain"),
        col("address"),
        col("label"),
        num("amount"),
        num("USD"),
        num("hops"),
        col("why"),
        col("via swaps / bridges"),
    ]);
    for d in &inv.destinations {
        t.push(|| {
            vec![
                Cell::text(d.value.chain.to_string()),
                Cell::code(d.address.display_for(d.value.chain)),
                Cell::text(d.label.clone().unwrap_or_default()),
                Cell::text(amount(&d.value)),
                Cell::text(usd(d.value.usd)),
                Cell::text(d.hops.to_string()),
                Cell::text(d.reason.name()),
                Cell::text(conversion_steps(&d.steps)),
            ]
        });
    }
    t
}

/// Exploiters, their same-address twins and cluster members.
pub(crate) fn exploiter_side(inv: &Investigation) -> Table {
    let mut t = Table::new(vec![col("chain"), col("address"), col("membership"), col("why")]);
    for m in &inv.incident_addresses {
        t.push(|| {
            let (kind, detail) = membership(&m.membership);
            vec![
                Cell::text(m.chain.to_string()),
                Cell::code(m.address.display_for(m.chain)),
                Cell::text(kind),
                Cell::text(detail),
            ]
        });
    }
    t
}

/// One row per piece of evidence tying a multi-chain address to the incident.
pub(crate) fn cross_chain(inv: &Investigation) -> Table {
    let mut t = Table::new(vec![
        col("address"),
        col("chain"),
        col("as written there"),
        col("evidence"),
        col("tx"),
    ]);
    for x in &inv.cross_chain_entities {
        for e in &x.evidence {
            t.push(|| {
                vec![
                    Cell::code(x.address.to_string()),
                    Cell::text(e.chain.to_string()),
                    Cell::code(x.address.display_for(e.chain)),
                    Cell::text(format!("{}: {}", e.kind, e.detail)),
                    Cell::code_or_empty(e.tx_hash.map(|h| h.to_hex())),
                ]
            });
        }
    }
    t
}

/// Deposits into mixer pools made from the traced funds.
pub(crate) fn mixer_deposits(inv: &Investigation) -> Table {
    let mut t = Table::new(vec![
        col("time"),
        col("chain"),
        col("pool"),
        num("denomination"),
        col("deposit tx"),
        col("depositor"),
        num("candidates"),
    ]);
    for d in &inv.mixer_deposits {
        t.push(|| {
            vec![
                Cell::text(rfc3339_of_unix(d.timestamp)),
                Cell::text(d.chain.to_string()),
                Cell(vec![
                    Frag::Code(d.pool.display_for(d.chain)),
                    Frag::Text(d.pool_name.clone()),
                ]),
                Cell::text(amount(&d.denomination)),
                Cell::code(d.tx_hash.to_hex()),
                Cell::code(d.depositor.display_for(d.chain)),
                Cell::text(d.candidates.len().to_string()),
            ]
        });
    }
    t
}

/// Candidate withdrawals after the mixer deposits (leads, never facts).
pub(crate) fn mixer_candidates(inv: &Investigation) -> Table {
    let mut t = Table::new(vec![
        col("deposit tx"),
        col("withdrawal tx"),
        col("recipient"),
        col("time"),
        col("heuristics"),
        num("confidence"),
        col("note"),
    ]);
    for d in &inv.mixer_deposits {
        for c in &d.candidates {
            t.push(|| {
                vec![
                    Cell::code(d.tx_hash.to_hex()),
                    Cell::code(c.tx_hash.to_hex()),
                    Cell::code(c.recipient.display_for(d.chain)),
                    Cell::text(rfc3339_of_unix(c.timestamp)),
                    Cell::text(c.heuristics.join(", ")),
                    Cell::text(format!("{:.2}", c.confidence)),
                    Cell::text(CANDIDATE_NOTE),
                ]
            });
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_past_the_cut_are_counted_not_listed() {
        let mut t = Table::new(vec![col("a"), num("b")]);
        let mut built = 0;
        for i in 0..MAX_ROWS + 7 {
            t.push(|| {
                built += 1;
                vec![Cell::text(i.to_string()), Cell::code_or_empty(None)]
            });
        }
        assert_eq!(t.rows.len(), MAX_ROWS);
        assert_eq!(built, MAX_ROWS, "rows past the cut are not even built");
        assert_eq!(t.total, MAX_ROWS + 7);
        assert_eq!(t.omitted(), 7);
        assert!(t.rows[3][1].0.is_empty(), "a missing code value is an empty cell");
    }
}

//! `chaintrace trace --chain C --address A [...]`: follow funds forward or backward under a taint model.
//!
//! Opens the store read-only, loads the graph snapshot `graph.snapshot` from the data directory (rebuilding it
//! when missing, corrupt or older than the store), runs `chaintrace_analysis::trace` and prints the result.
//!
//! JSON contract (public; fields may be added, never removed or renamed):
//! `{"schema_version": 1, "model", "direction", "amount_semantics": "taint"|"moved",
//!   "starts": [{"chain","address"}],
//!   "destinations": [{"model","chain","address","asset","amount","hops","is_exit","path": ["0x…tx", ...]}],
//!   "holding": [{"model","chain","address","asset","amount","hops","reason"}],
//!   "exits": [{"model","chain","address","asset","amount","hops","category","name","path"}],
//!   "truncated": [{"chain","address","asset","reason","outflows_followed","outflows_skipped","amount_held"}],
//!   "summary": [{"model","chain","asset","emitted","holding","exits","dropped","returned"}]}`
//! Added with conversions (forward traces, unless `--no-conversions`): every destination and exit also has
//! `"steps"`: the path with conversions, each `{"kind":"transfer","chain","tx","from","to","asset","amount"}`,
//! `{"kind":"swap","chain","tx","owner","recipient","from_asset","to_asset","amount_in","amount_out","rate",
//! "swap_kind","via"}` or `{"kind":"bridge","bridge","from_chain","to_chain","deposit_tx","release_tx",
//! "from_asset","to_asset","amount_in","amount_out","rate","confidence","reason","verdict","candidate"}`;
//! top-level `"conversions"` lists each conversion crossed with `taint_in`/`taint_out` and `hops`; summary
//! rows add `converted_in`/`converted_out`
//! (`emitted + converted_in = holding + exits + dropped + returned + converted_out` under haircut/fifo).
//! Amounts are decimal strings of raw units. Under poison, amounts are amounts moved by tainted transfers
//! (`amount_semantics: "moved"`), not taint. `path` lists tx hashes from the start outward (backward: from the
//! start back to the address).

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, bail};
use chaintrace_analysis::conversions::{ConversionDetail, ConversionSet};
use chaintrace_analysis::investigate::LabelExits;
use chaintrace_analysis::trace::{
    self, ConversionOptions, DEFAULT_FAN_OUT_CAP, DEFAULT_MAX_HOPS, Direction, Model, TraceRequest,
    TraceResult,
};
use chaintrace_core::{Address, Asset, Chain, U256};
use serde_json::{Value, json};

use chaintrace_report::json::{conversion_json, step_json};

use crate::graph_load::{TraceConversions, load_conversions_for_trace, load_graph};
use crate::opts::GlobalOpts;

/// Output formats of `trace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub(crate) enum TraceFormat {
    /// Aligned text for people.
    #[default]
    Table,
    /// One JSON object with `schema_version`.
    Json,
}

/// Direction argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub(crate) enum DirectionArg {
    /// Where the funds went.
    #[default]
    Forward,
    /// Where the funds came from.
    Backward,
}

/// Model argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub(crate) enum ModelArg {
    /// Every later outflow of a tainted address is tainted in full (amounts are amounts moved).
    #[default]
    Poison,
    /// Outflows carry taint in proportion to the tainted share of the balance.
    Haircut,
    /// Coins leave in the order they arrived.
    Fifo,
}

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Chain of the start addresses (name or chain id).
    #[arg(long, value_name = "CHAIN")]
    chain: String,
    /// Start address; repeat for several.
    #[arg(long = "address", value_name = "ADDR", required = true)]
    addresses: Vec<String>,
    /// Follow funds forward (where they went) or backward (where they came from).
    #[arg(long, value_enum, default_value_t = DirectionArg::Forward)]
    direction: DirectionArg,
    /// Taint model.
    #[arg(long, value_enum, default_value_t = ModelArg::Poison)]
    model: ModelArg,
    /// Most transfers between a start and a reached address.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_HOPS)]
    max_hops: u32,
    /// Only transfers at or after TIME (unix seconds, or RFC 3339 date / date-time; a date means 00:00:00 UTC).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only transfers at or before TIME (unix seconds, or RFC 3339; a date means the end of that day, UTC).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Do not follow transfers whose tainted amount is below X (raw integer units).
    #[arg(long, value_name = "X")]
    min_amount: Option<String>,
    /// Only this asset: `native` or a token contract address.
    #[arg(long, value_name = "native|TOKEN")]
    asset: Option<String>,
    /// Most tainted outflows followed per address; beyond, the address is reported as truncated.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FAN_OUT_CAP)]
    fan_out_cap: u32,
    /// Do not continue through swaps, wraps and bridges (each asset and chain is traced on its own).
    #[arg(long)]
    no_conversions: bool,
    /// Also follow bridge releases that are only candidates of an ambiguous or weak match (the deposit's
    /// taint is split among them by confidence).
    #[arg(long)]
    follow_ambiguous_bridges: bool,
    /// Rebuild the graph snapshot even if it is up to date.
    #[arg(long)]
    rebuild: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TraceFormat::Table)]
    format: TraceFormat,
}

pub(crate) fn run(global: &GlobalOpts, args: Args) -> anyhow::Result<()> {
    let chain: Chain = args.chain.parse()?;
    let mut starts = Vec::new();
    for a in &args.addresses {
        starts.push((chain, Address::parse(a)?));
    }
    let since = args
        .since
        .as_deref()
        .map(|s| parse_time(s, false))
        .transpose()
        .context("--since")?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_time(s, true))
        .transpose()
        .context("--until")?;
    if let (Some(s), Some(u)) = (since, until)
        && s > u
    {
        bail!("--since {s} is after --until {u}: the time window is empty");
    }
    let min_amount = match &args.min_amount {
        Some(s) => U256::from_str_radix(s.trim(), 10).map_err(|_| {
            anyhow::anyhow!("--min-amount '{s}': expected a non-negative integer in raw units")
        })?,
        None => U256::ZERO,
    };
    let asset = args
        .asset
        .as_deref()
        .map(Asset::parse)
        .transpose()
        .context("--asset")?;

    let dir = global.data_dir()?;
    let store =
        crate::opts::open_store_read(&dir).with_context(|| format!("opening store in {}", dir.display()))?;
    let graph = load_graph(&store, &dir, args.rebuild)?;
    if graph.edge_count() == 0 {
        bail!(
            "the store in {} holds no transfers (ingest, import or sim first)",
            dir.display()
        );
    }
    if graph.chain_seqs(chain).is_empty() {
        bail!("the store holds no transfers on {chain}");
    }

    let req = TraceRequest {
        starts,
        direction: match args.direction {
            DirectionArg::Forward => Direction::Forward,
            DirectionArg::Backward => Direction::Backward,
        },
        model: match args.model {
            ModelArg::Poison => Model::Poison,
            ModelArg::Haircut => Model::Haircut,
            ModelArg::Fifo => Model::Fifo,
        },
        max_hops: args.max_hops,
        since,
        until,
        min_amount,
        asset,
        fan_out_cap: args.fan_out_cap,
    };
    let conversions = if args.no_conversions || req.direction == Direction::Backward {
        TraceConversions::Built(ConversionSet::default())
    } else {
        load_conversions_for_trace(&store, &dir, &graph)?
    };
    // Labeled exits (exchanges, mixers, bridges, sanctioned, other services) stop the trace, as in
    // `investigate`; a conversion's input still continues through a labeled pool or bridge.
    let labels = store.label_index().context("reading labels")?;
    let oracle = LabelExits { labels: &labels };
    // Haircut and fifo forward traces start each address's history replay near its first taint (the
    // graph's balance index, built once and cached next to the snapshot; same result without it).
    let index = (req.model != Model::Poison && req.direction == Direction::Forward)
        .then(|| crate::balance_cache::load_or_build(&dir, &graph));
    let opts = ConversionOptions {
        follow_candidates: args.follow_ambiguous_bridges,
    };
    let t0 = Instant::now();
    let mut result = trace::trace_from(&graph, &req, &oracle, conversions.source(), opts, index.as_ref())?;
    if let Some(set) = conversions.rebuilt_if_damaged(&store, &dir, &graph, "tracing")? {
        let all = trace::Conversions::All(&set.edges);
        result = trace::trace_from(&graph, &req, &oracle, all, opts, index.as_ref())?;
    }
    eprintln!(
        "traced {} {} in {:.3}s: {} destinations, {} holding, {} exits, {} truncated",
        req.direction.name(),
        req.model.name(),
        t0.elapsed().as_secs_f64(),
        result.destinations.len(),
        result.holding.len(),
        result.exits.len(),
        result.truncated.len()
    );

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        TraceFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &result_json(&req, &result))?;
            writeln!(out)?;
        }
        TraceFormat::Table => write_table(&mut out, &result)?,
    }
    out.flush()?;
    Ok(())
}

/// Parses unix seconds, `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`. A bare date is the start of
/// the day, or its last second when `end_of_day`.
fn parse_time(s: &str, end_of_day: bool) -> anyhow::Result<u64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().with_context(|| format!("'{s}' is too large"));
    }
    let bad = || {
        anyhow::anyhow!(
            "'{s}': expected unix seconds or an RFC 3339 date (2024-03-01) or date-time (2024-03-01T12:00:00Z)"
        )
    };
    let num = |t: &str| -> anyhow::Result<i64> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse::<i64>().map_err(|_| bad())
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
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(bad());
    }
    let day_start = days_from_civil(y, m, d) * 86_400;
    let secs = match time {
        None => day_start + if end_of_day { 86_399 } else { 0 },
        Some(t) => {
            let (clock, offset) = if let Some(c) = t.strip_suffix(['Z', 'z']) {
                (c, 0)
            } else if let Some(i) = t.rfind(['+', '-']) {
                let (c, o) = t.split_at(i);
                let sign = if o.starts_with('-') { -1 } else { 1 };
                let (oh, om) = o[1..].split_once(':').ok_or_else(bad)?;
                (c, sign * (num(oh)? * 3600 + num(om)? * 60))
            } else {
                return Err(bad());
            };
            let clock = clock.split('.').next().unwrap_or(clock);
            let f: Vec<&str> = clock.split(':').collect();
            if f.len() != 3 {
                return Err(bad());
            }
            let (hh, mm, ss) = (num(f[0])?, num(f[1])?, num(f[2])?);
            if hh > 23 || mm > 59 || ss > 60 {
                return Err(bad());
            }
            day_start + hh * 3600 + mm * 60 + ss - offset
        }
    };
    u64::try_from(secs).map_err(|_| anyhow::anyhow!("'{s}' is before 1970"))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn result_json(req: &TraceRequest, r: &TraceResult) -> Value {
    let path = |p: &[trace::PathStep]| -> Vec<String> { p.iter().map(|s| s.tx_hash.to_hex()).collect() };
    json!({
        "schema_version": 1,
        "model": r.model.name(),
        "direction": r.direction.name(),
        "amount_semantics": if r.model == Model::Poison { "moved" } else { "taint" },
        "starts": req.starts.iter().map(|(c, a)| json!({"chain": c.name(), "address": a.json_for(*c)})).collect::<Vec<_>>(),
        "destinations": r.destinations.iter().map(|d| json!({
            "model": d.model.name(),
            "chain": d.chain.name(),
            "address": d.address.json_for(d.chain),
            "asset": d.asset.json_for(d.chain),
            "amount": d.amount.to_string(),
            "hops": d.hops,
            "is_exit": d.is_exit,
            "path": path(&d.path),
            "steps": d.steps().iter().map(step_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "holding": r.holding.iter().map(|h| json!({
            "model": h.model.name(),
            "chain": h.chain.name(),
            "address": h.address.json_for(h.chain),
            "asset": h.asset.json_for(h.chain),
            "amount": h.amount.to_string(),
            "hops": h.hops,
            "reason": h.reason.name(),
        })).collect::<Vec<_>>(),
        "exits": r.exits.iter().map(|x| json!({
            "model": x.model.name(),
            "chain": x.chain.name(),
            "address": x.address.json_for(x.chain),
            "asset": x.asset.json_for(x.chain),
            "amount": x.amount.to_string(),
            "hops": x.hops,
            "category": x.info.category.name(),
            "name": x.info.name,
            "path": path(&x.path),
            "steps": x.steps().iter().map(step_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "truncated": r.truncated.iter().map(|t| json!({
            "chain": t.chain.name(),
            "address": t.address.json_for(t.chain),
            "asset": t.asset.json_for(t.chain),
            "reason": "fan_out_cap",
            "outflows_followed": t.outflows_followed,
            "outflows_skipped": t.outflows_skipped,
            "amount_held": t.amount_held.to_string(),
        })).collect::<Vec<_>>(),
        "summary": r.summary.iter().map(|s| json!({
            "model": s.model.name(),
            "chain": s.chain.name(),
            "asset": s.asset.json_for(s.chain),
            "emitted": s.emitted.to_string(),
            "holding": s.holding.to_string(),
            "exits": s.exits.to_string(),
            "dropped": s.dropped.to_string(),
            "returned": s.returned.to_string(),
            "converted_in": s.converted_in.to_string(),
            "converted_out": s.converted_out.to_string(),
        })).collect::<Vec<_>>(),
        "conversions": r.conversions.iter().map(|u| {
            let mut v = conversion_json(&u.edge);
            v["taint_in"] = json!(u.taint_in.to_string());
            v["taint_out"] = json!(u.taint_out.to_string());
            v["hops"] = json!(u.hops);
            v
        }).collect::<Vec<_>>(),
    })
}

fn write_table(out: &mut impl Write, r: &TraceResult) -> std::io::Result<()> {
    let what = if r.model == Model::Poison {
        "moved"
    } else {
        "taint"
    };
    writeln!(
        out,
        "{} trace, model {} (amounts: {what}, raw units)",
        r.direction.name(),
        r.model.name()
    )?;
    writeln!(out)?;
    writeln!(out, "DESTINATIONS ({})", r.destinations.len())?;
    writeln!(
        out,
        "{:<9} {:<42} {:<42} {:>4} {:>28}  FIRST TX",
        "CHAIN", "ADDRESS", "ASSET", "HOPS", "AMOUNT"
    )?;
    for d in &r.destinations {
        let first = d.path.first().map(|p| p.tx_hash.to_hex()).unwrap_or_default();
        let mark = if d.is_exit { " (exit)" } else { "" };
        writeln!(
            out,
            "{:<9} {:<42} {:<42} {:>4} {:>28}  {first}{mark}",
            d.chain.name(),
            d.address.display_for(d.chain),
            d.asset.json_for(d.chain),
            d.hops,
            d.amount
        )?;
    }
    writeln!(out)?;
    writeln!(out, "HOLDING ({})", r.holding.len())?;
    for h in &r.holding {
        writeln!(
            out,
            "{:<9} {:<42} {:<42} {:>4} {:>28}  {}",
            h.chain.name(),
            h.address.display_for(h.chain),
            h.asset.json_for(h.chain),
            h.hops,
            h.amount,
            h.reason.name()
        )?;
    }
    writeln!(out)?;
    writeln!(out, "EXITS ({})", r.exits.len())?;
    for x in &r.exits {
        writeln!(
            out,
            "{:<9} {:<42} {:<42} {:>4} {:>28}  {}: {}",
            x.chain.name(),
            x.address.display_for(x.chain),
            x.asset.json_for(x.chain),
            x.hops,
            x.amount,
            x.info.category.name(),
            x.info.name
        )?;
    }
    writeln!(out)?;
    writeln!(out, "TRUNCATED ({})", r.truncated.len())?;
    for t in &r.truncated {
        writeln!(
            out,
            "{:<9} {:<42} {:<42} fan-out cap: followed {}, skipped {}, held {}",
            t.chain.name(),
            t.address.display_for(t.chain),
            t.asset.json_for(t.chain),
            t.outflows_followed,
            t.outflows_skipped,
            t.amount_held
        )?;
    }
    writeln!(out)?;
    writeln!(out, "CONVERSIONS ({})", r.conversions.len())?;
    for u in &r.conversions {
        let c = &u.edge;
        let what = match &c.detail {
            ConversionDetail::Swap { kind } => format!("{} {}", kind.name(), c.from_tx.to_hex()),
            ConversionDetail::Bridge {
                bridge,
                confidence,
                reason,
                ..
            } => format!(
                "bridge {bridge} {} -> {} ({}{confidence:.2}: {reason})",
                c.from_chain.name(),
                c.to_chain.name(),
                if c.is_candidate { "candidate, " } else { "" }
            ),
        };
        writeln!(
            out,
            "{:<9} {:<42} {} -> {}  taint {} -> {}  {what}",
            c.from_chain.name(),
            c.owner.display_for(c.from_chain),
            c.asset_in.json_for(c.from_chain),
            c.asset_out.json_for(c.to_chain),
            u.taint_in,
            u.taint_out
        )?;
    }
    writeln!(out)?;
    writeln!(out, "SUMMARY")?;
    for s in &r.summary {
        if r.model == Model::Poison {
            // Poison has no balances: holdings are amounts received, so there is no conservation identity.
            writeln!(
                out,
                "{:<9} {:<42} moved out of the starts {}",
                s.chain.name(),
                s.asset.json_for(s.chain),
                s.emitted
            )?;
            continue;
        }
        if s.converted_in.is_zero() && s.converted_out.is_zero() {
            writeln!(
                out,
                "{:<9} {:<42} emitted {} = holding {} + exits {} + dropped {} + returned {}",
                s.chain.name(),
                s.asset.json_for(s.chain),
                s.emitted,
                s.holding,
                s.exits,
                s.dropped,
                s.returned
            )?;
        } else {
            writeln!(
                out,
                "{:<9} {:<42} emitted {} + converted in {} = holding {} + exits {} + dropped {} + returned {} + converted out {}",
                s.chain.name(),
                s.asset.json_for(s.chain),
                s.emitted,
                s.converted_in,
                s.holding,
                s.exits,
                s.dropped,
                s.returned,
                s.converted_out
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_unix_seconds() {
        assert_eq!(parse_time("1700000000", false).ok(), Some(1_700_000_000));
        assert_eq!(parse_time("1970-01-01", false).ok(), Some(0));
        assert_eq!(parse_time("1970-01-01", true).ok(), Some(86_399));
        assert_eq!(
            parse_time("2024-03-01T12:00:00Z", false).ok(),
            Some(1_709_294_400)
        );
        assert_eq!(
            parse_time("2024-03-01T14:00:00+02:00", false).ok(),
            Some(1_709_294_400)
        );
        assert_eq!(parse_time("2024-02-29", false).ok(), Some(1_709_164_800));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "yesterday",
            "2024-03-01T12:00",
            "",
            "1e9",
        ] {
            assert!(parse_time(bad, false).is_err(), "{bad}");
        }
    }
}

//! `chaintrace transfers --address ADDR`: an address's incoming and outgoing transfers in time order.
//!
//! JSON contract (public; fields may be added, never removed or renamed):
//! `{"schema_version": 1, "transfers": [{"chain", "block", "timestamp", "tx_hash", "from", "to", "asset",
//! "amount", "kind", "position", "tx_from", "tx_fee", "gas_price", "is_zero_value"}]}` with `timestamp` in
//! unix seconds, `amount`, `tx_fee` and `gas_price` as decimal strings of raw integer units, `asset`
//! `"native"` or the token contract, addresses lowercase 0x-hex on EVM chains (base58 on Tron).

use std::io::Write;

use anyhow::Context;
use chaintrace_core::{Address, Asset, Chain, Transfer, U256};
use chaintrace_store::TransferReader;
use serde_json::json;

use crate::opts::{Format, GlobalOpts};

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to list (0x-hex, EIP-55 checked if mixed case; or a Tron T... address).
    #[arg(long, value_name = "ADDR")]
    address: String,
    /// Only this chain (name or chain id); default all chains.
    #[arg(long, value_name = "CHAIN")]
    chain: Option<Chain>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub(crate) fn run(global: &GlobalOpts, args: Args) -> anyhow::Result<()> {
    let address = Address::parse(&args.address)?;
    let dir = global.data_dir()?;
    let store =
        crate::opts::open_store_read(&dir).with_context(|| format!("opening store in {}", dir.display()))?;
    let transfers = store
        .transfers_of(address, args.chain)
        .with_context(|| format!("reading transfers of {}", address.to_hex()))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Json => {
            let rows: Vec<serde_json::Value> = transfers.iter().map(transfer_json).collect();
            serde_json::to_writer_pretty(&mut out, &json!({"schema_version": 1, "transfers": rows}))?;
            writeln!(out)?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut out);
            w.write_record(COLUMNS)?;
            for t in &transfers {
                w.write_record(csv_row(t))?;
            }
            w.flush()?;
        }
        Format::Table => write_table(&mut out, address, &transfers)?,
    }
    out.flush()?;
    if transfers.is_empty() {
        eprintln!("no transfers of {} in the store", address.to_hex());
    }
    Ok(())
}

/// Column names of the CSV and Parquet forms, in order (the JSON contract's fields plus position,
/// tx_from, tx_fee and gas_price).
pub(crate) const COLUMNS: [&str; 13] = [
    "chain",
    "block",
    "timestamp",
    "tx_hash",
    "position",
    "from",
    "to",
    "asset",
    "amount",
    "kind",
    "tx_from",
    "tx_fee",
    "gas_price",
];

/// One transfer as the strings of [`COLUMNS`].
pub(crate) fn csv_row(t: &Transfer) -> [String; 13] {
    [
        t.chain.name().to_string(),
        t.block.to_string(),
        t.timestamp.to_string(),
        t.tx_hash.to_hex(),
        t.position.to_string(),
        t.from.json_for(t.chain),
        t.to.json_for(t.chain),
        t.asset.json_for(t.chain),
        t.amount.to_string(),
        t.kind.name().to_string(),
        t.tx_from.json_for(t.chain),
        t.tx_fee.to_string(),
        t.gas_price.to_string(),
    ]
}

/// One transfer in the JSON contract.
pub(crate) fn transfer_json(t: &Transfer) -> serde_json::Value {
    json!({
        "chain": t.chain.name(),
        "block": t.block,
        "timestamp": t.timestamp,
        "tx_hash": t.tx_hash.to_hex(),
        "position": t.position.to_string(),
        "from": t.from.json_for(t.chain),
        "to": t.to.json_for(t.chain),
        "asset": t.asset.json_for(t.chain),
        "amount": t.amount.to_string(),
        "kind": t.kind.name(),
        "tx_from": t.tx_from.json_for(t.chain),
        "tx_fee": t.tx_fee.to_string(),
        "gas_price": t.gas_price.to_string(),
        "is_zero_value": t.is_zero_value(),
    })
}

fn write_table(out: &mut impl Write, address: Address, transfers: &[Transfer]) -> anyhow::Result<()> {
    let header = [
        "time (UTC)",
        "chain",
        "block",
        "dir",
        "from",
        "to",
        "amount",
        "asset",
        "kind",
        "tx",
    ];
    let rows: Vec<[String; 10]> = transfers
        .iter()
        .map(|t| {
            let dir = match (t.from == address, t.to == address) {
                (true, true) => "self",
                (true, false) => "out",
                _ => "in",
            };
            let (amount, asset) = match t.asset {
                Asset::Native => (
                    format_units(t.amount, t.chain.native_decimals()),
                    t.chain.native_symbol().to_string(),
                ),
                Asset::Token(a) => (t.amount.to_string(), a.display_for(t.chain)),
            };
            [
                format_utc(t.timestamp),
                t.chain.name().to_string(),
                t.block.to_string(),
                dir.to_string(),
                t.from.display_for(t.chain),
                t.to.display_for(t.chain),
                amount,
                asset,
                t.kind.name().to_string(),
                format!("{}:{}", t.tx_hash.to_hex(), t.position),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            // Numbers right-aligned, text left-aligned; no padding after the last column.
            let is_number = i == 2 || i == 6;
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else if is_number {
                s.push_str(&format!("{cell:>w$}  "));
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s
    };
    writeln!(out, "{}", line(&header))?;
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    writeln!(out, "{} transfers of {}", transfers.len(), address.to_checksum())?;
    Ok(())
}

/// Raw integer units as a decimal number with `decimals` fraction digits, trailing zeros trimmed.
pub(crate) fn format_units(raw: U256, decimals: u8) -> String {
    let digits = raw.to_string();
    let d = usize::from(decimals);
    if d == 0 {
        return digits;
    }
    let padded = if digits.len() <= d {
        format!("{}{digits}", "0".repeat(d + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - d);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub(crate) fn format_utc(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Civil from days (Howard Hinnant's algorithm), days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_dates_format_exactly() {
        assert_eq!(
            format_units(U256::from(11_000_440_000_000_000u64), 18),
            "0.01100044"
        );
        assert_eq!(format_units(U256::from(10u64).pow(U256::from(18u8)), 18), "1");
        assert_eq!(format_units(U256::ZERO, 6), "0");
        assert_eq!(format_units(U256::from(1_500_001u64), 6), "1.500001");
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1_438_936_285), "2015-08-07 08:31:25");
        assert_eq!(format_utc(1_709_164_800), "2024-02-29 00:00:00");
    }
}

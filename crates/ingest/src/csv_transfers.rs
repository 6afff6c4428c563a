//! Import of plain transfer CSV files: one transfer per row, for flows collected by hand or exported
//! from other tools (real laundering cases, explorer downloads).
//!
//! Columns (header names, any order, case-insensitive): `chain`, `block`, `timestamp`, `tx_hash`,
//! `from`, `to`, `asset`, `amount`; optional `kind`, `position`, `tx_from`, `tx_fee`, `gas_price`.
//! - `chain`: name or chain id; may be absent (or empty) when a default chain is given;
//! - `timestamp`: unix seconds or `YYYY-MM-DD HH:MM:SS` (UTC);
//! - `asset`: `native` (or empty) or the token contract address;
//! - `amount`: decimal integer of raw units (wei, token base units), never a float;
//! - `kind`: `native`, `internal` or `token`; default `native` for the native asset, else `token`;
//! - `position`: `tx`, `log:N` or `trace:A.B`; default `tx` for native, `log:<row>` for token and
//!   `trace:<row>` for internal, where `<row>` is the 1-based data row number. Re-importing the same
//!   file is therefore a no-op, but the same transfer at another row of another file is a new row;
//! - `tx_from` defaults to `from`, `tx_fee` and `gas_price` to 0 (unknown).
//!
//! [`parse`] is pure; [`import_file`] writes every row in one store transaction (no checkpoint: rows of
//! a hand-made file say nothing about block coverage).

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use chaintrace_core::{Address, Asset, Chain, Position, Transfer, TransferKind, U256};
use chaintrace_store::{Batch, TransferWriter, WriteStats};

use crate::etl::{CsvInput, ImportError, Table};

/// Required columns (besides `chain` when a default chain is given).
pub const REQUIRED: [&str; 7] = ["block", "timestamp", "tx_hash", "from", "to", "asset", "amount"];

/// What [`import_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvImportReport {
    /// Rows read.
    pub rows: u64,
    /// Transfers inserted and skipped as already present.
    pub stats: WriteStats,
    /// Time spent reading and decoding.
    pub parse_time: Duration,
    /// Time spent writing.
    pub write_time: Duration,
}

/// Decodes a transfer CSV. `default_chain` applies when the `chain` column is absent or empty.
pub fn parse<R: Read>(
    input: CsvInput<R>,
    default_chain: Option<Chain>,
) -> Result<Vec<Transfer>, ImportError> {
    let mut t = Table::open(input, &REQUIRED)?;
    if !t.has("chain") && default_chain.is_none() {
        return Err(ImportError::MissingColumn {
            file: t.name.clone(),
            column: "chain",
        });
    }
    let mut out = Vec::new();
    let mut row_number: u32 = 0;
    while let Some(row) = t.next_row()? {
        row_number = row_number.saturating_add(1);
        let chain = match row.opt_str("chain") {
            None | Some("") => {
                default_chain.ok_or_else(|| row.bad("chain", "", "empty and no --chain default"))?
            }
            Some(s) => s
                .parse::<Chain>()
                .map_err(|e| row.bad("chain", s, &e.to_string()))?,
        };
        let asset_text = row.str("asset")?;
        let asset = match asset_text {
            "" => Asset::Native,
            s if s.eq_ignore_ascii_case("native") => Asset::Native,
            s => Asset::Token(Address::parse(s).map_err(|e| row.bad("asset", s, &e.to_string()))?),
        };
        let kind = match row.opt_str("kind") {
            None | Some("") => match asset {
                Asset::Native => TransferKind::Native,
                Asset::Token(_) => TransferKind::Token,
            },
            Some(s) => s
                .to_ascii_lowercase()
                .parse::<TransferKind>()
                .map_err(|e| row.bad("kind", s, &e.to_string()))?,
        };
        match (kind, asset) {
            (TransferKind::Token, Asset::Native) => {
                return Err(row.bad(
                    "kind",
                    "token",
                    "a token transfer needs a token contract in 'asset'",
                ));
            }
            (TransferKind::Native | TransferKind::Internal, Asset::Token(_)) => {
                return Err(row.bad(
                    "kind",
                    kind.name(),
                    "native and internal transfers move the native asset",
                ));
            }
            _ => {}
        }
        let position = match row.opt_str("position") {
            None | Some("") => match kind {
                TransferKind::Native => Position::Tx,
                TransferKind::Token => Position::Log(row_number),
                TransferKind::Internal => Position::Trace(vec![row_number]),
            },
            Some(s) => s
                .parse::<Position>()
                .map_err(|e| row.bad("position", s, &e.to_string()))?,
        };
        let from = row.address("from")?;
        let amount = row.u256("amount")?;
        let opt_amount = |column: &'static str| -> Result<U256, ImportError> {
            match row.opt_str(column) {
                None | Some("") => Ok(U256::ZERO),
                Some(_) => row.u256(column),
            }
        };
        out.push(Transfer {
            chain,
            block: row.u64("block")?,
            timestamp: row.timestamp("timestamp")?,
            tx_hash: row.tx_hash("tx_hash")?,
            position,
            from,
            to: row.address("to")?,
            asset,
            amount,
            kind,
            tx_from: row.opt_address("tx_from")?.unwrap_or(from),
            tx_fee: opt_amount("tx_fee")?,
            gas_price: opt_amount("gas_price")?,
        });
    }
    Ok(out)
}

/// Reads `path` and writes every transfer in one transaction; a bad row anywhere stores nothing.
pub fn import_file<S: TransferWriter>(
    store: &mut S,
    path: &Path,
    default_chain: Option<Chain>,
) -> Result<CsvImportReport, ImportError> {
    let started = Instant::now();
    let file = std::fs::File::open(path).map_err(|source| ImportError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let input = CsvInput {
        name: path.display().to_string(),
        reader: std::io::BufReader::with_capacity(1 << 20, file),
    };
    let transfers = parse(input, default_chain)?;
    let parse_time = started.elapsed();
    let started = Instant::now();
    let stats = store.write_batch(Batch {
        blocks: &[],
        transfers: &transfers,
        logs: &[],
        checkpoint: None,
    })?;
    Ok(CsvImportReport {
        rows: transfers.len() as u64,
        stats,
        parse_time,
        write_time: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(text: &str) -> CsvInput<&[u8]> {
        CsvInput {
            name: "flows.csv".to_string(),
            reader: text.as_bytes(),
        }
    }

    const H: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
    const A: &str = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const USDT: &str = "0xdAC17F958D2ee523a2206206994597C13D831ec7";

    #[test]
    fn defaults_kind_and_position_from_asset_and_row() {
        let text = format!(
            "chain,block,timestamp,tx_hash,from,to,asset,amount\n\
             ethereum,10,1700000000,{H},{A},{B},native,1000000000000000000\n\
             ethereum,10,2023-11-14 22:13:20,{H},{B},{A},{USDT},5000000\n\
             bsc,11,1700000001,{H},{A},{B},,1\n"
        );
        let ts = parse(input(&text), None).expect("parses");
        assert_eq!(ts.len(), 3);
        assert_eq!(
            (ts[0].kind, &ts[0].position),
            (TransferKind::Native, &Position::Tx)
        );
        assert_eq!(
            (ts[1].kind, &ts[1].position),
            (TransferKind::Token, &Position::Log(2))
        );
        assert_eq!(ts[1].asset, Asset::Token(Address::parse(USDT).expect("usdt")));
        assert_eq!(ts[1].timestamp, 1_700_000_000);
        assert_eq!(ts[2].chain, Chain::Bsc);
        assert_eq!(ts[0].amount, U256::from(10u64).pow(U256::from(18u8)));
        assert_eq!(ts[0].tx_from, ts[0].from);
    }

    #[test]
    fn explicit_kind_position_and_default_chain() {
        let text = format!(
            "block,timestamp,tx_hash,from,to,asset,amount,kind,position,tx_from\n\
             10,1700000000,{H},{A},{B},native,7,internal,trace:0.2,{B}\n\
             10,1700000000,{H},{A},{B},native,7,internal,,{B}\n"
        );
        let ts = parse(input(&text), Some(Chain::Polygon)).expect("parses");
        assert_eq!(ts[0].position, Position::Trace(vec![0, 2]));
        assert_eq!(ts[1].position, Position::Trace(vec![2]));
        assert!(
            ts.iter()
                .all(|t| t.chain == Chain::Polygon && t.kind == TransferKind::Internal)
        );
        assert_eq!(ts[0].tx_from, Address::parse(B).expect("b"));
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let cases = [
            (
                format!("block,timestamp,tx_hash,from,to,asset,amount\n1,1,{H},{A},{B},native,1\n"),
                "flows.csv: missing column 'chain'",
            ),
            (
                format!(
                    "chain,block,timestamp,tx_hash,from,to,asset,amount\neth,1,1,{H},{A},{B},native,1.5\n"
                ),
                "flows.csv:2: column 'amount'",
            ),
            (
                format!(
                    "chain,block,timestamp,tx_hash,from,to,asset,amount\neth,1,1,{H},{A},{B},native,1\nsolana,1,1,{H},{A},{B},native,1\n"
                ),
                "flows.csv:3: column 'chain'",
            ),
            (
                format!(
                    "chain,block,timestamp,tx_hash,from,to,asset,amount,kind\neth,1,1,{H},{A},{B},native,1,token\n"
                ),
                "flows.csv:2: column 'kind'",
            ),
            (
                format!(
                    "chain,block,timestamp,tx_hash,from,to,asset,amount\neth,1,1,0x12,{A},{B},native,1\n"
                ),
                "flows.csv:2: column 'tx_hash'",
            ),
            (
                format!("chain,block,tx_hash,from,to,asset,amount\neth,1,{H},{A},{B},native,1\n"),
                "flows.csv: missing column 'timestamp'",
            ),
        ];
        for (text, want) in cases {
            let err = parse(input(&text), None).expect_err(want);
            assert!(
                err.to_string().starts_with(want),
                "{err} should start with {want}"
            );
        }
    }
}

//! Daily USD close prices per symbol, and the calendar arithmetic that keys them.
//!
//! [`PriceTable`] is pure: the caller reads price files and hands their text to [`PriceTable::add_csv`].
//! The accepted layout is what yfinance writes: a header naming at least `Date` and `Close` (other columns
//! such as `Open,High,Low,Adj Close,Volume` are ignored, in any order) and one `YYYY-MM-DD` row per day.
//! A row whose close is not a positive number (`null`, empty) is skipped, so that day has no price.

use std::collections::BTreeMap;

/// A day, counted from 1970-01-01 (day 0), UTC.
pub type Day = i64;

/// Errors reading price text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PriceError {
    /// The header row lacks a column.
    #[error("{file}:1: price header has no '{column}' column (expected yfinance-style Date,...,Close,...)")]
    MissingColumn {
        /// File name as given.
        file: String,
        /// The column looked for.
        column: &'static str,
    },
    /// A row's date is not `YYYY-MM-DD`.
    #[error("{file}:{line}: bad date '{value}' (expected YYYY-MM-DD)")]
    BadDate {
        /// File name as given.
        file: String,
        /// 1-based line number.
        line: usize,
        /// The text found.
        value: String,
    },
    /// The file has no header line.
    #[error("{file}: empty price file")]
    Empty {
        /// File name as given.
        file: String,
    },
}

/// Daily close prices in US dollars, by upper-case symbol (`ETH`, `USDT`) and day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    by_symbol: BTreeMap<String, BTreeMap<Day, f64>>,
}

impl PriceTable {
    /// An empty table (every lookup answers "no price").
    pub fn new() -> PriceTable {
        PriceTable::default()
    }

    /// Sets the close of `symbol` on `day`.
    pub fn insert(&mut self, symbol: &str, day: Day, close: f64) {
        self.by_symbol
            .entry(symbol.trim().to_ascii_uppercase())
            .or_default()
            .insert(day, close);
    }

    /// Adds every row of a yfinance-style CSV text as prices of `symbol`; returns the days added.
    /// `file` is only used in error messages.
    pub fn add_csv(&mut self, symbol: &str, file: &str, text: &str) -> Result<usize, PriceError> {
        let mut lines = text.lines().enumerate();
        let header = loop {
            match lines.next() {
                Some((_, l)) if l.trim().is_empty() => continue,
                Some((_, l)) => break l,
                None => {
                    return Err(PriceError::Empty {
                        file: file.to_string(),
                    });
                }
            }
        };
        let cols: Vec<String> = header
            .split(',')
            .map(|c| c.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect();
        let find = |name: &'static str| {
            cols.iter()
                .position(|c| c == name)
                .ok_or(PriceError::MissingColumn {
                    file: file.to_string(),
                    column: name,
                })
        };
        let date_col = find("date")?;
        let close_col = find("close")?;
        let mut added = 0;
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(',').collect();
            let date = fields.get(date_col).map(|s| s.trim()).unwrap_or("");
            // yfinance may write a time after the date ("2023-09-12 00:00:00+00:00").
            let date = date.split([' ', 'T']).next().unwrap_or(date);
            let day = day_of_date(date).ok_or_else(|| PriceError::BadDate {
                file: file.to_string(),
                line: i + 1,
                value: date.to_string(),
            })?;
            let close = fields.get(close_col).and_then(|s| s.trim().parse::<f64>().ok());
            if let Some(c) = close.filter(|c| c.is_finite() && *c > 0.0) {
                self.insert(symbol, day, c);
                added += 1;
            }
        }
        Ok(added)
    }

    /// The close of `symbol` (any case) on `day`; `None` when the table has no price for that exact day.
    pub fn close(&self, symbol: &str, day: Day) -> Option<f64> {
        self.by_symbol
            .get(&symbol.to_ascii_uppercase())?
            .get(&day)
            .copied()
    }

    /// The close of `symbol` on the UTC day containing unix time `ts`.
    pub fn close_at(&self, symbol: &str, ts: u64) -> Option<f64> {
        self.close(symbol, day_of_unix(ts))
    }

    /// Symbols with at least one price.
    pub fn symbols(&self) -> Vec<&str> {
        self.by_symbol.keys().map(String::as_str).collect()
    }

    /// Whether no price is held.
    pub fn is_empty(&self) -> bool {
        self.by_symbol.is_empty()
    }

    /// The symbol a price file is named after: `ETH-USD_1d.csv`, `ETH-USD.csv`, `eth.csv` -> `ETH`.
    /// `None` for non-CSV files and for quotes in another currency (`ETH-EUR.csv`).
    pub fn symbol_of_file(name: &str) -> Option<String> {
        let stem = name.strip_suffix(".csv").or_else(|| name.strip_suffix(".CSV"))?;
        let stem = stem.split('_').next().unwrap_or(stem);
        let (sym, quote) = match stem.split_once('-') {
            Some((s, q)) => (s, Some(q)),
            None => (stem, None),
        };
        if quote.is_some_and(|q| !q.eq_ignore_ascii_case("usd")) || sym.is_empty() {
            return None;
        }
        Some(sym.to_ascii_uppercase())
    }
}

/// The UTC day of a unix time.
pub fn day_of_unix(ts: u64) -> Day {
    (ts / 86_400) as Day
}

/// The day of a `YYYY-MM-DD` date, if valid.
pub fn day_of_date(s: &str) -> Option<Day> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let num = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse::<i64>().ok())
            .flatten()
    };
    let (y, m, d) = (num(y)?, num(m)?, num(d)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// `YYYY-MM-DD` of a day.
pub fn date_of_day(day: Day) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a unix time.
pub fn rfc3339_of_unix(ts: u64) -> String {
    let secs = ts % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date_of_day(day_of_unix(ts)),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days in month `m` (1-12) of year `y`.
pub fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> Day {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01 (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: Day) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(day_of_date("1970-01-01"), Some(0));
        assert_eq!(day_of_date("2023-09-12"), Some(19_612));
        for day in [-1000, 0, 19_612, 20_000, 60_000] {
            assert_eq!(day_of_date(&date_of_day(day)), Some(day));
        }
        assert_eq!(day_of_date("2023-02-29"), None);
        assert_eq!(day_of_date("2023-9-12"), None);
        assert_eq!(rfc3339_of_unix(1_694_476_800), "2023-09-12T00:00:00Z");
    }

    #[test]
    fn parses_both_yfinance_layouts_and_skips_null_rows() {
        let mut t = PriceTable::new();
        let a = "Date,Close,High,Low,Open,Volume\n2023-09-12,1592.4,1619,1549,1551,6813819740\n";
        let b = "Date,Open,High,Low,Close,Adj Close,Volume\n2023-09-12,0.08,0.09,0.07,0.0815,0.0815,1\n\
                 2023-09-13,null,null,null,null,null,null\n";
        assert_eq!(t.add_csv("ETH", "ETH-USD_1d.csv", a), Ok(1));
        assert_eq!(t.add_csv("trx", "TRX-USD_1d.csv", b), Ok(1));
        let day = day_of_date("2023-09-12").expect("valid date");
        assert_eq!(t.close("eth", day), Some(1592.4));
        assert_eq!(t.close("TRX", day), Some(0.0815));
        assert_eq!(t.close("TRX", day + 1), None);
        assert_eq!(t.close("BTC", day), None);
        assert!(matches!(
            t.add_csv("X", "x.csv", "Day,Price\n"),
            Err(PriceError::MissingColumn { .. })
        ));
        let bad = t
            .add_csv("X", "x.csv", "Date,Close\n2023-13-01,5\n")
            .expect_err("bad month");
        assert_eq!(
            bad.to_string(),
            "x.csv:2: bad date '2023-13-01' (expected YYYY-MM-DD)"
        );
    }

    #[test]
    fn symbols_come_from_file_names() {
        assert_eq!(
            PriceTable::symbol_of_file("ETH-USD_1d.csv").as_deref(),
            Some("ETH")
        );
        assert_eq!(PriceTable::symbol_of_file("usdt.csv").as_deref(), Some("USDT"));
        assert_eq!(PriceTable::symbol_of_file("ETH-EUR.csv"), None);
        assert_eq!(PriceTable::symbol_of_file("SOURCE.md"), None);
    }
}

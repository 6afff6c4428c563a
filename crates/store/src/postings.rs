//! Address posting lists (schema version 5, table `transfer_addrs`): the pure part. Collects
//! `(address key, transfer id)` pairs while rows are inserted, sorts them in memory and groups them
//! into one row per key, whose id list is a JSON array of ascending ids (`[12,40,41]`, readable with
//! the shell's `json_each`). No I/O here; `sqlite.rs` writes and reads the rows.

/// `(key, id)` pairs of the rows written so far in one transaction, not yet in `transfer_addrs`.
#[derive(Default)]
pub(crate) struct Postings {
    pairs: Vec<(i64, i64)>,
}

/// Most ids in one `transfer_addrs` row; a key with more gets several rows. `transfer_addrs` is a
/// WITHOUT ROWID table, so each row is a key of its B-tree: a row too large for a page spills to
/// overflow pages, and every seek that compares with it reads them all (a 10^7-transfer sim spent a
/// tenth of its time copying the id lists of hot addresses that way). 128 ids of up to 10 digits stay
/// under the ~4 KB a 16 KiB page stores in the cell.
pub(crate) const MAX_IDS_PER_ROW: usize = 128;

/// Pairs held before a write flushes them into `transfer_addrs` (16 bytes each: 64 MiB). A load larger
/// than this writes a second row for keys seen again after the flush, which readers merge.
pub(crate) const FLUSH_PAIRS: usize = 1 << 22;

impl Postings {
    /// Records transfer `id` under its `from_key` and `to_key` (once if they are equal).
    pub(crate) fn add(&mut self, id: i64, from_key: i64, to_key: i64) {
        self.pairs.push((from_key, id));
        if to_key != from_key {
            self.pairs.push((to_key, id));
        }
    }

    /// Pairs held.
    pub(crate) fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Sorts the held pairs by (key, id) and calls `f(key, first_id, ids_json)` for each row of at
    /// most [`MAX_IDS_PER_ROW`] ids, in (key, first_id) order, then forgets the pairs. Stops at `f`'s
    /// first error (the pairs are forgotten either way). `ids_json` is ASCII.
    pub(crate) fn drain_rows<E>(
        &mut self,
        mut f: impl FnMut(i64, i64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        // A comparison sort measured as fast as LSD and MSD radix sorts on the 2.3 M pairs of the import
        // benchmark (~0.1-0.2 s each, memory bound).
        self.pairs.sort_unstable();
        let mut text = Vec::new();
        let mut result = Ok(());
        // The same (key, id) twice (a transfer whose two different addresses share a key) is posted once.
        self.pairs.dedup();
        'keys: for group in self.pairs.chunk_by(|a, b| a.0 == b.0) {
            for row in group.chunks(MAX_IDS_PER_ROW) {
                text.clear();
                push_ids(&mut text, row.iter().map(|p| p.1));
                result = f(row[0].0, row[0].1, &text);
                if result.is_err() {
                    break 'keys;
                }
            }
        }
        self.pairs.clear();
        result
    }
}

/// Appends the decimal digits of `v` (ids are rowids, never negative; a negative value takes the slow
/// path all the same).
fn push_int(s: &mut Vec<u8>, v: i64) {
    match u64::try_from(v) {
        Ok(v) => push_u64(s, v),
        Err(_) => s.extend_from_slice(v.to_string().as_bytes()),
    }
}

/// Appends the decimal digits of `v`, without the formatting machinery (this runs several times per
/// stored row).
pub(crate) fn push_u64(s: &mut Vec<u8>, mut v: u64) {
    // Two digits per division, from a table (as the `itoa` crate does): half the dependent steps.
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let pair = 2 * (v % 100) as usize;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = 2 * v as usize;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    s.extend_from_slice(&buf[i..]);
}

/// Appends the decimal digits of `v`: one 128-bit division splits it into 64-bit halves of at most
/// 19 digits each.
pub(crate) fn push_u128(s: &mut Vec<u8>, v: u128) {
    const TEN19: u128 = 10_000_000_000_000_000_000;
    if let Ok(small) = u64::try_from(v) {
        push_u64(s, small);
        return;
    }
    let (hi, lo) = (v / TEN19, (v % TEN19) as u64);
    push_u128(s, hi);
    let mut buf = [b'0'; 19];
    let mut rest = lo;
    for d in buf.iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    s.extend_from_slice(&buf);
}

/// Parses a stored id list (`[1,2,3]`, whitespace allowed) into `out`. `None` if it is not a JSON
/// array of integers.
pub(crate) fn parse_ids(text: &str, out: &mut Vec<i64>) -> Option<()> {
    let body = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    if body.trim().is_empty() {
        return Some(());
    }
    for part in body.split(',') {
        out.push(part.trim().parse().ok()?);
    }
    Some(())
}

/// The JSON array text of `ids` (ascending).
pub(crate) fn ids_text(ids: &[i64]) -> String {
    let mut s = Vec::with_capacity(ids.len() * 8 + 2);
    push_ids(&mut s, ids.iter().copied());
    String::from_utf8(s).expect("ascii digits, commas and brackets")
}

/// Appends the JSON array text of `ids` (`[12,40,41]`).
fn push_ids(s: &mut Vec<u8>, ids: impl Iterator<Item = i64>) {
    s.push(b'[');
    for (i, id) in ids.enumerate() {
        if i > 0 {
            s.push(b',');
        }
        push_int(s, id);
    }
    s.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(p: &mut Postings) -> Vec<(i64, i64, String)> {
        let mut out = Vec::new();
        p.drain_rows(|k, f, t| {
            out.push((k, f, String::from_utf8(t.to_vec()).expect("ascii")));
            Ok::<(), ()>(())
        })
        .expect("no error");
        out
    }

    #[test]
    fn pairs_group_by_key_in_signed_key_order_with_ascending_ids() {
        let mut p = Postings::default();
        p.add(1, 5, -3);
        p.add(2, -3, -3);
        p.add(3, i64::MIN, 5);
        p.add(10, 5, i64::MAX);
        assert_eq!(
            rows(&mut p),
            vec![
                (i64::MIN, 3, "[3]".to_string()),
                (-3, 1, "[1,2]".to_string()),
                (5, 1, "[1,3,10]".to_string()),
                (i64::MAX, 10, "[10]".to_string()),
            ]
        );
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn a_key_with_many_ids_gets_rows_of_at_most_the_cap() {
        let mut p = Postings::default();
        let n = MAX_IDS_PER_ROW as i64 * 2 + 5;
        for id in 1..=n {
            p.add(id, 7, 7);
        }
        let got = rows(&mut p);
        assert_eq!(got.len(), 3);
        let mut all = Vec::new();
        for (key, first, text) in &got {
            let mut ids = Vec::new();
            parse_ids(text, &mut ids).expect("parses");
            assert_eq!((*key, *first), (7, ids[0]));
            assert!(ids.len() <= MAX_IDS_PER_ROW);
            all.extend(ids);
        }
        assert_eq!(all, (1..=n).collect::<Vec<_>>());
    }

    #[test]
    fn decimal_digits_match_the_formatter() {
        let mut x: u128 = 0x1234_5678_9abc_def0_0fed_cba9_8765_4321;
        let mut cases = vec![0u128, 9, 10, u64::MAX as u128, u64::MAX as u128 + 1, u128::MAX];
        cases.extend((0..38).map(|e| 10u128.pow(e)));
        cases.extend((1..38).map(|e| 10u128.pow(e) - 1));
        cases.extend(0..1000);
        for _ in 0..1000 {
            x = x.wrapping_mul(0x2545_f491_4f6c_dd1d).wrapping_add(0x9e37_79b9);
            cases.push(x >> (x % 128));
        }
        for v in cases {
            let mut s = Vec::new();
            push_u128(&mut s, v);
            assert_eq!(s, v.to_string().as_bytes());
        }
    }

    #[test]
    fn ids_round_trip_through_text() {
        let ids = [1i64, 9, 10, 99, 100, 123_456_789, i64::MAX];
        let text = ids_text(&ids);
        assert_eq!(text, "[1,9,10,99,100,123456789,9223372036854775807]");
        let mut back = Vec::new();
        parse_ids(&text, &mut back).expect("parses");
        assert_eq!(back, ids);
        let mut empty = Vec::new();
        assert!(parse_ids("[]", &mut empty).is_some() && empty.is_empty());
        assert!(parse_ids("[1,x]", &mut Vec::new()).is_none());
        assert!(parse_ids("1,2", &mut Vec::new()).is_none());
    }
}

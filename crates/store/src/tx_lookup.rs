//! Reading the transfers of given transactions and addresses without a full scan
//! ([`crate::TransferReader::for_each_transfer_in`] for [`Store`]).
//!
//! Transactions are looked up by `(chain, block, tx_hash)` on the identity index
//! `transfers_identity (chain, block, tx_hash, position)`, which covers the query (only row ids are read
//! from it); addresses through their `transfer_addrs` posting lists. The candidate ids are then sorted and
//! the rows read by id, so the output is in store order (ascending id, as [`Store`]'s
//! `for_each_transfer` gives it) and each row is read once.

use std::collections::HashSet;

use chaintrace_core::{Address, Chain, Transfer, TxHash};
use rusqlite::params;

use crate::schema;
use crate::sqlite::{SELECT_TRANSFER_WITH_ID, chain_key};
use crate::{Store, StoreError};

/// Ids per statement when reading rows by id (well below SQLite's limit of bound parameters).
const FETCH_BATCH: usize = 500;

impl Store {
    /// [`crate::TransferReader::for_each_transfer_in`] through the identity index and the address postings.
    pub(crate) fn lookup_transfers_in(
        &self,
        txs: &[(Chain, u64, TxHash)],
        addresses: &[(Chain, Address)],
        f: &mut dyn FnMut(Transfer) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let e = self.err();
        // One read transaction for every statement below: one consistent snapshot, and one shared lock
        // instead of a lock, a WAL check and an unlock per statement (~25% of the process CPU in a profile
        // at 10^6 without it).
        let _snapshot = if self.conn.is_autocommit() {
            Some(self.conn.unchecked_transaction().map_err(&e)?)
        } else {
            None
        };
        // Walk the index in its own order so that consecutive probes touch neighbouring pages.
        let mut keys: Vec<(i64, i64, TxHash)> = txs
            .iter()
            // A block beyond i64 cannot be stored, so it matches nothing.
            .filter_map(|&(chain, block, tx)| Some((chain_key(chain), i64::try_from(block).ok()?, tx)))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut ids: Vec<i64> = Vec::new();
        {
            let mut st = self
                .conn
                .prepare("SELECT id FROM transfers WHERE chain = ?1 AND block = ?2 AND tx_hash = ?3")
                .map_err(&e)?;
            for (chain, block, tx) in &keys {
                let mut rows = st.query(params![chain, block, &tx.0[..]]).map_err(&e)?;
                while let Some(r) = rows.next().map_err(&e)? {
                    ids.push(r.get(0).map_err(&e)?);
                }
            }
        }
        // Postings are keyed by an address's first 8 bytes: candidates, checked on the row below.
        let mut addr_keys: Vec<i64> = addresses.iter().map(|(_, a)| schema::addr_key(&a.0)).collect();
        addr_keys.sort_unstable();
        addr_keys.dedup();
        for key in addr_keys {
            ids.extend(self.posted_ids(key)?);
        }
        ids.sort_unstable();
        ids.dedup();

        let tx_set: HashSet<(Chain, u64, TxHash)> = txs.iter().copied().collect();
        let addr_set: HashSet<(Chain, Address)> = addresses.iter().copied().collect();
        // Rows are read by id, FETCH_BATCH ids per statement: one statement per id costs more in its
        // setup and reset than the row read itself.
        let mut full: Option<rusqlite::Statement<'_>> = None;
        let mut decoded: Vec<(i64, Transfer)> = Vec::with_capacity(FETCH_BATCH);
        for batch in ids.chunks(FETCH_BATCH) {
            let sql = || {
                let marks = vec!["?"; batch.len()].join(",");
                format!("{SELECT_TRANSFER_WITH_ID} WHERE id IN ({marks})")
            };
            let mut partial;
            let st = if batch.len() == FETCH_BATCH {
                if full.is_none() {
                    full = Some(self.conn.prepare(&sql()).map_err(&e)?);
                }
                full.as_mut().expect("prepared just above")
            } else {
                partial = self.conn.prepare(&sql()).map_err(&e)?;
                &mut partial
            };
            let mut rows = st.query(rusqlite::params_from_iter(batch)).map_err(&e)?;
            while let Some(r) = rows.next().map_err(&e)? {
                decoded.push((r.get(13).map_err(&e)?, self.decode_transfer(r)?));
            }
            drop(rows);
            // SQLite returns an IN list on the rowid in ascending order; sorting keeps store order even if not.
            decoded.sort_by_key(|(id, _)| *id);
            for (_, t) in decoded.drain(..) {
                if tx_set.contains(&(t.chain, t.block, t.tx_hash))
                    || addr_set.contains(&(t.chain, t.from))
                    || addr_set.contains(&(t.chain, t.to))
                {
                    f(t)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Batch, TransferReader, TransferWriter};
    use chaintrace_core::{Asset, Position, TransferKind, U256};
    use proptest::prelude::*;

    /// The default implementation (a filtered scan), called on the real store.
    struct ScanOnly<'a>(&'a Store);

    impl TransferReader for ScanOnly<'_> {
        fn transfers_of(&self, address: Address, chain: Option<Chain>) -> Result<Vec<Transfer>, StoreError> {
            self.0.transfers_of(address, chain)
        }
        fn for_each_transfer(
            &self,
            chain: Option<Chain>,
            f: &mut dyn FnMut(Transfer) -> Result<(), StoreError>,
        ) -> Result<(), StoreError> {
            self.0.for_each_transfer(chain, f)
        }
        fn transfer_count(&self, chain: Option<Chain>) -> Result<u64, StoreError> {
            self.0.transfer_count(chain)
        }
        fn coverage(&self) -> Result<Vec<crate::ChainCoverage>, StoreError> {
            self.0.coverage()
        }
        fn checkpoint(&self, stage: &str, chain: Chain) -> Result<Option<u64>, StoreError> {
            self.0.checkpoint(stage, chain)
        }
        fn raw_logs(&self, chain: Option<Chain>) -> Result<Vec<chaintrace_core::RawLog>, StoreError> {
            self.0.raw_logs(chain)
        }
        fn block(
            &self,
            chain: Chain,
            number: u64,
        ) -> Result<Option<chaintrace_core::BlockRecord>, StoreError> {
            self.0.block(chain, number)
        }
    }

    const CHAINS: [Chain; 3] = [Chain::Ethereum, Chain::Bsc, Chain::Polygon];

    fn addr(i: u8, prefix_twin: bool) -> Address {
        let mut a = [0u8; 20];
        a[0] = 0xA0;
        // Twins share the first 8 bytes (one posting key) and differ later.
        a[19] = i;
        if !prefix_twin {
            a[7] = i;
        }
        Address(a)
    }

    fn tx(i: u8) -> TxHash {
        let mut h = [0u8; 32];
        h[0] = i;
        h[31] = 0x5A;
        TxHash(h)
    }

    /// A store holding `rows` = (chain index, block, tx, from, to, twin-prefixed from?) in that write order.
    fn store_with(rows: &[(usize, u64, u8, u8, u8, bool)]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let transfers: Vec<Transfer> = rows
            .iter()
            .enumerate()
            .map(|(k, &(c, block, t, from, to, twin))| Transfer {
                chain: CHAINS[c],
                block,
                timestamp: 1_600_000_000 + block,
                tx_hash: tx(t),
                position: Position::Log(u32::try_from(k).expect("few rows")),
                from: addr(from, twin),
                to: addr(to, false),
                asset: Asset::Native,
                amount: U256::from(k as u64 + 1),
                kind: TransferKind::Native,
                tx_from: addr(from, twin),
                tx_fee: U256::from(0u64),
                gas_price: U256::from(0u64),
            })
            .collect();
        // Several batches, so that ids and posting rows come from more than one write.
        for chunk in transfers.chunks(7) {
            store
                .write_batch(Batch {
                    blocks: &[],
                    transfers: chunk,
                    logs: &[],
                    checkpoint: None,
                })
                .expect("write");
        }
        (dir, store)
    }

    fn collect(
        r: &dyn TransferReader,
        txs: &[(Chain, u64, TxHash)],
        addrs: &[(Chain, Address)],
    ) -> Vec<Transfer> {
        let mut out = Vec::new();
        r.for_each_transfer_in(txs, addrs, &mut |t| {
            out.push(t);
            Ok(())
        })
        .expect("lookup");
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The index lookup gives exactly the rows, and the order, of the filtered scan, for random key sets
        /// with duplicates, absent transactions, wrong blocks and wrong chains, and address keys shared by
        /// several addresses.
        #[test]
        fn index_lookup_equals_the_filtered_scan(
            rows in prop::collection::vec((0usize..3, 0u64..6, 0u8..12, 0u8..10, 0u8..10, any::<bool>()), 0..60),
            txs in prop::collection::vec((0usize..3, 0u64..7, 0u8..14), 0..20),
            addrs in prop::collection::vec((0usize..3, 0u8..12, any::<bool>()), 0..4),
        ) {
            let (_dir, store) = store_with(&rows);
            let txs: Vec<(Chain, u64, TxHash)> = txs.iter().map(|&(c, b, t)| (CHAINS[c], b, tx(t))).collect();
            let addrs: Vec<(Chain, Address)> =
                addrs.iter().map(|&(c, a, twin)| (CHAINS[c], addr(a, twin))).collect();
            let scanned = collect(&ScanOnly(&store), &txs, &addrs);
            let looked_up = collect(&store, &txs, &addrs);
            prop_assert_eq!(looked_up, scanned);
        }
    }

    /// More matching rows than one fetch statement reads: full batches and a partial one, in store order.
    #[test]
    fn lookup_across_several_fetch_batches_equals_the_scan() {
        let rows: Vec<(usize, u64, u8, u8, u8, bool)> = (0..(2 * FETCH_BATCH + 123))
            .map(|k| {
                (
                    k % 3,
                    (k % 17) as u64,
                    (k % 13) as u8,
                    (k % 10) as u8,
                    (k % 7) as u8,
                    k % 2 == 0,
                )
            })
            .collect();
        let (_dir, store) = store_with(&rows);
        let txs: Vec<(Chain, u64, TxHash)> = CHAINS
            .iter()
            .flat_map(|&c| (0..13u8).flat_map(move |t| (0..17u64).map(move |b| (c, b, tx(t)))))
            .collect();
        let addrs = [(Chain::Bsc, addr(3, true))];
        let looked_up = collect(&store, &txs, &addrs);
        assert!(
            looked_up.len() > 2 * FETCH_BATCH,
            "{} rows match",
            looked_up.len()
        );
        assert_eq!(looked_up, collect(&ScanOnly(&store), &txs, &addrs));
    }

    #[test]
    fn lookup_finds_the_rows_of_present_keys_only() {
        let rows = [
            (0, 1, 1, 1, 2, false),
            (0, 1, 1, 2, 3, false),
            (1, 1, 1, 4, 5, false),
            (0, 2, 2, 6, 7, false),
        ];
        let (_dir, store) = store_with(&rows);
        let eth = Chain::Ethereum;
        // Present twice, plus a wrong block and an absent hash.
        let txs = [(eth, 1, tx(1)), (eth, 1, tx(1)), (eth, 2, tx(1)), (eth, 9, tx(9))];
        let got = collect(&store, &txs, &[]);
        assert_eq!(got.len(), 2, "the two ethereum rows of tx 1 in block 1");
        assert!(
            got.iter()
                .all(|t| t.chain == eth && t.block == 1 && t.tx_hash == tx(1))
        );
        assert!(got[0].amount < got[1].amount, "store order");
        // An address only on its chain: address 4 sends on bsc, not on ethereum.
        assert!(collect(&store, &[], &[(eth, addr(4, false))]).is_empty());
        assert_eq!(collect(&store, &[], &[(Chain::Bsc, addr(4, false))]).len(), 1);
        // Nothing asked, nothing read.
        assert!(collect(&store, &[], &[]).is_empty());
    }
}

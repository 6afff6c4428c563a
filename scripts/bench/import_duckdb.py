#!/usr/bin/env python3
"""Baseline for the import benchmark: DuckDB (PyPI `duckdb`) loading the same ethereum-etl export with
read_csv and one INSERT ... SELECT that does the same join/filter work in SQL as `chaintrace import etl`
(transactions joined with receipts, successful value transfers; token transfers and value-moving
internal traces of successful transactions, with tx_from / fee / gas price from their transaction and
timestamps from blocks), into a table with the same column forms (BLOB addresses and hashes, exact
decimal text amounts) and the same indexes (unique identity (chain, block, tx_hash, position), from, to).

usage: import_duckdb.py EXPORT_DIR DB_FILE [THREADS]    (prints the transfer count)
"""
import os
import sys

import duckdb

src, db = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 1
con = duckdb.connect(db)
con.execute(f"SET threads = {threads}")
con.execute("SET preserve_insertion_order = false")


def csv(name):
    # Every column as text: amounts exceed 128 bits, and the importer checks them itself.
    return f"read_csv('{os.path.join(src, name)}', header = true, all_varchar = true)"


con.execute("""
CREATE TABLE transfers (
    chain INTEGER NOT NULL, block BIGINT NOT NULL, timestamp BIGINT NOT NULL, tx_hash BLOB NOT NULL,
    position VARCHAR NOT NULL, from_addr BLOB NOT NULL, to_addr BLOB NOT NULL, asset BLOB,
    amount VARCHAR NOT NULL, kind VARCHAR NOT NULL, tx_from BLOB NOT NULL, tx_fee VARCHAR NOT NULL,
    gas_price VARCHAR NOT NULL)
""")
con.execute("BEGIN")
con.execute(f"""
INSERT INTO transfers
WITH blk AS (SELECT CAST(number AS BIGINT) AS number, CAST(timestamp AS BIGINT) AS ts FROM {csv('blocks.csv')}),
rc AS (SELECT transaction_hash, status, CAST(gas_used AS HUGEINT) AS gas_used, effective_gas_price,
              contract_address FROM {csv('receipts.csv')}),
tx AS (
    SELECT t.hash, CAST(t.block_number AS BIGINT) AS block, t.from_address, t.to_address, t.value,
           r.contract_address, r.status <> '0' AS ok,
           CAST(COALESCE(NULLIF(r.effective_gas_price, ''), t.gas_price) AS HUGEINT) AS gas_price,
           r.gas_used
    FROM {csv('transactions.csv')} t JOIN rc r ON r.transaction_hash = t.hash),
txf AS (SELECT hash, from_address, ok, CAST(gas_used * gas_price AS VARCHAR) AS fee,
               CAST(gas_price AS VARCHAR) AS gp, block, to_address, contract_address, value FROM tx)
SELECT 1, x.block, b.ts, unhex(substr(x.hash, 3)), 'tx', unhex(substr(x.from_address, 3)),
       unhex(substr(COALESCE(NULLIF(x.to_address, ''), x.contract_address), 3)), NULL, x.value, 'native',
       unhex(substr(x.from_address, 3)), x.fee, x.gp
FROM txf x JOIN blk b ON b.number = x.block
WHERE x.ok AND x.value NOT IN ('', '0')
UNION ALL
SELECT 1, CAST(k.block_number AS BIGINT), b.ts, unhex(substr(k.transaction_hash, 3)), 'log:' || k.log_index,
       unhex(substr(k.from_address, 3)), unhex(substr(k.to_address, 3)), unhex(substr(k.token_address, 3)),
       k.value, 'token', unhex(substr(x.from_address, 3)), x.fee, x.gp
FROM {csv('token_transfers.csv')} k JOIN txf x ON x.hash = k.transaction_hash
JOIN blk b ON b.number = CAST(k.block_number AS BIGINT)
WHERE x.ok
UNION ALL
SELECT 1, CAST(t.block_number AS BIGINT), b.ts, unhex(substr(t.transaction_hash, 3)),
       'trace:' || replace(t.trace_address, ',', '.'), unhex(substr(t.from_address, 3)),
       unhex(substr(t.to_address, 3)), NULL, t.value, 'internal', unhex(substr(x.from_address, 3)), x.fee, x.gp
FROM {csv('traces.csv')} t JOIN txf x ON x.hash = t.transaction_hash
JOIN blk b ON b.number = CAST(t.block_number AS BIGINT)
WHERE x.ok AND COALESCE(t.trace_address, '') <> '' AND t.status = '1' AND t.value NOT IN ('', '0')
  AND ((t.trace_type = 'call' AND COALESCE(t.call_type, '') IN ('call', ''))
       OR t.trace_type IN ('create', 'create2', 'suicide'))
""")
con.execute("CREATE UNIQUE INDEX transfers_identity ON transfers (chain, block, tx_hash, position)")
con.execute("CREATE INDEX transfers_from ON transfers (from_addr)")
con.execute("CREATE INDEX transfers_to ON transfers (to_addr)")
con.execute("COMMIT")
con.execute("CHECKPOINT")
print(con.execute("SELECT COUNT(*) FROM transfers").fetchone()[0])

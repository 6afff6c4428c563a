#!/usr/bin/env python3
"""Baseline for the import benchmark: a plain Python script (csv module + sqlite3 executemany) doing the
same work as `chaintrace import etl` on an ethereum-etl export: join transactions with receipts by hash,
keep successful value transfers, token transfers of successful transactions, value-moving internal
traces (call/create/suicide, status 1, non-empty trace_address, never delegate/static calls), with
tx_from / fee / gas price from the transaction. Writes a comparable table (same column forms: BLOB
addresses and hashes, exact decimal TEXT amounts, integer address keys) with the same indexes as
chaintrace's schema version 3 (unique identity (chain, block, tx_hash, position) kept during the load,
address indexes built after it), 16 KiB pages, in one transaction, WAL + synchronous=FULL.

usage: import_sqlite.py EXPORT_DIR DB_FILE    (prints the transfer count)
"""
import csv
import os
import sqlite3
import sys

src, db = sys.argv[1], sys.argv[2]
CHAIN = 1


def rows(name):
    f = open(os.path.join(src, name), newline="")
    r = csv.reader(f)
    header = next(r)
    return {h: i for i, h in enumerate(header)}, r


def b(hexstr):
    return bytes.fromhex(hexstr[2:])


def key(blob):
    return int.from_bytes(blob[:8], "big", signed=True)


con = sqlite3.connect(db, isolation_level=None)
con.execute("PRAGMA page_size=16384")  # as chaintrace's new files
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=FULL")
con.execute("PRAGMA cache_size=-262144")
con.execute("PRAGMA temp_store=MEMORY")
con.executescript("""
CREATE TABLE transfers (
    id INTEGER PRIMARY KEY, chain INTEGER NOT NULL, block INTEGER NOT NULL, timestamp INTEGER NOT NULL,
    tx_hash BLOB NOT NULL, position TEXT NOT NULL, from_addr BLOB NOT NULL, to_addr BLOB NOT NULL,
    asset BLOB, amount TEXT NOT NULL, kind TEXT NOT NULL, tx_from BLOB NOT NULL, tx_fee TEXT NOT NULL,
    gas_price TEXT NOT NULL, from_key INTEGER NOT NULL, to_key INTEGER NOT NULL);
CREATE UNIQUE INDEX transfers_identity ON transfers (chain, block, tx_hash, position);
CREATE TABLE blocks (chain INTEGER NOT NULL, number INTEGER NOT NULL, hash BLOB NOT NULL,
    parent_hash BLOB NOT NULL, timestamp INTEGER NOT NULL, PRIMARY KEY (chain, number)) WITHOUT ROWID;
""")
con.execute("BEGIN IMMEDIATE")
INSERT = ("INSERT OR IGNORE INTO transfers (chain, block, timestamp, tx_hash, position, from_addr, to_addr, "
          "asset, amount, kind, tx_from, tx_fee, gas_price, from_key, to_key) "
          "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")

times = {}
c, r = rows("blocks.csv")
blocks = []
for row in r:
    n, ts = int(row[c["number"]]), int(row[c["timestamp"]])
    times[n] = ts
    blocks.append((CHAIN, n, b(row[c["hash"]]), b(row[c["parent_hash"]]), ts))
con.executemany("INSERT OR REPLACE INTO blocks VALUES (?,?,?,?,?)", blocks)

receipts = {}
c, r = rows("receipts.csv")
ih, ig, is_, ie, ic = c["transaction_hash"], c["gas_used"], c["status"], c["effective_gas_price"], c["contract_address"]
for row in r:
    receipts[row[ih]] = (row[is_], int(row[ig]), row[ie], row[ic])

txs = {}
total = 0


def flush(buf):
    global total
    con.executemany(INSERT, buf)
    total += len(buf)
    buf.clear()


buf = []
c, r = rows("transactions.csv")
ih, ib, ifr, ito, iv, igp = (c[k] for k in ("hash", "block_number", "from_address", "to_address", "value", "gas_price"))
for row in r:
    h = row[ih]
    status, gas_used, eff, contract = receipts[h]
    gas_price = int(eff) if eff else int(row[igp])
    fee = gas_used * gas_price
    ok = status != "0"
    frm = b(row[ifr])
    txs[h] = (frm, str(fee), str(gas_price), ok)
    if not ok or row[iv] in ("", "0"):
        continue
    to = b(row[ito] or contract)
    blk = int(row[ib])
    buf.append((CHAIN, blk, times[blk], b(h), "tx", frm, to, None, row[iv], "native", frm, str(fee),
                str(gas_price), key(frm), key(to)))
    if len(buf) >= 50_000:
        flush(buf)
del receipts

c, r = rows("token_transfers.csv")
it, ifr, ito, iv, ih, il, ib = (c[k] for k in ("token_address", "from_address", "to_address", "value",
                                                "transaction_hash", "log_index", "block_number"))
for row in r:
    frm_tx, fee, gp, ok = txs[row[ih]]
    if not ok:
        continue
    blk = int(row[ib])
    frm, to = b(row[ifr]), b(row[ito])
    buf.append((CHAIN, blk, times[blk], b(row[ih]), "log:" + row[il], frm, to, b(row[it]), row[iv], "token",
                frm_tx, fee, gp, key(frm), key(to)))
    if len(buf) >= 50_000:
        flush(buf)

c, r = rows("traces.csv")
ib, ih, ifr, ito, iv, ity, ict, ia, ist = (c[k] for k in ("block_number", "transaction_hash", "from_address",
    "to_address", "value", "trace_type", "call_type", "trace_address", "status"))
for row in r:
    ta = row[ia]
    if not ta or row[ist] != "1" or row[iv] in ("", "0"):
        continue
    ty = row[ity]
    if not (ty == "call" and row[ict] in ("call", "")) and ty not in ("create", "create2", "suicide"):
        continue
    frm_tx, fee, gp, ok = txs[row[ih]]
    if not ok:
        continue
    blk = int(row[ib])
    frm, to = b(row[ifr]), b(row[ito])
    buf.append((CHAIN, blk, times[blk], b(row[ih]), "trace:" + ta.replace(",", "."), frm, to, None, row[iv],
                "internal", frm_tx, fee, gp, key(frm), key(to)))
    if len(buf) >= 50_000:
        flush(buf)
flush(buf)
# One statement at a time: executescript() would commit the open transaction first.
for ddl in ("CREATE INDEX transfers_from ON transfers (from_key)",
            "CREATE INDEX transfers_to ON transfers (to_key)"):
    con.execute(ddl)
con.execute("COMMIT")
n = con.execute("SELECT COUNT(*) FROM transfers").fetchone()[0]
print(n)

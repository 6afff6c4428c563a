#!/usr/bin/env python3
"""Peer implementations of chaintrace's 5-hop forward poison trace, for scripts/bench.sh.

Usage: peers.py {igraph|networkx|duckdb} DIR HOPS BUDGET_S

Reads DIR/edges.csv (src,dst,asset,blk,tx,seq,nz: node ids, asset id, block index, global transaction
index, global order rank, amount != 0), DIR/starts.txt, DIR/exits.txt and our reachable sets
(DIR/ours_poison.bin/.idx, written by `trace-bench run`). Traces from the starts in file order until
BUDGET_S seconds of tracing are spent, checks every reachable set against ours (outside the timed part)
and prints one JSON object.

Reachable set (identical to chaintrace's poison model with NoExits-but-labeled-exits, no fan-out cap):
the (node, asset) pairs v != start for which a path start = v0 -e1-> v1 ... -ek-> vk = v exists with
  * k <= HOPS, all edges of one asset, every edge with a non-zero amount (a zero transfer carries no taint);
  * e1 any out-edge of the start (the start is tainted from the beginning);
  * e(i+1) leaves v(i) after e(i) arrived: block(e(i+1)) > block(e(i)), or the same transaction with a
    larger order rank (another transaction of the same block does NOT count: the store does not know the
    order of transactions inside a block);
  * v1..v(k-1) are not labeled exits (an exit is reached but not followed) and not the start (a path
    through the start is never needed: every out-edge of the start is already tainted).

All three peers compute it hop by hop with a per-(node, asset) "arrival state": the earliest block b with an
arrival, and for each transaction of block b the smallest rank that arrived. A state enables exactly the
out-edges in a later block, or in a listed transaction of block b after its rank; an arrival in a later
block enables nothing more, so keeping only this state is exact.
"""

import json
import os
import sys
import time

T_PROCESS = time.time()

import duckdb  # noqa: E402
import numpy as np  # noqa: E402


def vm_hwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def read_ids(path):
    with open(path) as f:
        return [int(x) for x in f.read().split()]


def load_columns(d):
    """The edge table as numpy columns (DuckDB's CSV reader; fastest loader available here)."""
    con = duckdb.connect()
    cols = con.execute(
        "SELECT src, dst, asset, blk, tx, seq, nz FROM read_csv(?, header=true, columns={"
        "'src':'UINTEGER','dst':'UINTEGER','asset':'UINTEGER','blk':'UINTEGER','tx':'UINTEGER',"
        "'seq':'UINTEGER','nz':'UTINYINT'})",
        [os.path.join(d, "edges.csv")],
    ).fetchnumpy()
    con.close()
    return {k: np.asarray(v) for k, v in cols.items()}


def load_ours(d, name="ours_poison"):
    idx = np.fromfile(os.path.join(d, f"{name}.idx"), dtype="<u8")
    keys = np.fromfile(os.path.join(d, f"{name}.bin"), dtype="<u8")
    return [keys[idx[i] : idx[i + 1]] for i in range(len(idx) - 1)]


def as_keys(pairs):
    return np.array(sorted((int(v) << 32) | int(a) for v, a in pairs), dtype=np.uint64)


def merge(states, v, a, b, t, s):
    """Adds arrival (block b, tx t, rank s) to states[(v, a)]; True if that enables something new."""
    key = (v, a)
    st = states.get(key)
    if st is None or b < st[0]:
        states[key] = (b, {t: s})
        return True
    if b > st[0]:
        return False
    old = st[1].get(t)
    if old is None or s < old:
        st[1][t] = s
        return True
    return False


def bfs(start, hops, out_of, is_exit):
    """Hop-by-hop time-respecting BFS. out_of(v) yields (dst, asset, blk, tx, seq, nz) of v's out-edges."""
    best = {}  # (v, asset) -> merged state over all hop counts seen (for pruning)
    layer = {}
    for (w, a, b, t, s, nz) in out_of(start):
        if nz and w != start:
            merge(layer, w, a, b, t, s)
    reached = set(layer)
    for _ in range(hops - 1):
        nxt = {}
        for (v, a), (b, txs) in layer.items():
            # Prune: a state no better than what fewer hops already had enables nothing new.
            if not _improves(best, v, a, b, txs):
                continue
            if is_exit[v]:
                continue
            for (w, ea, eb, et, es, nz) in out_of(v):
                if ea != a or not nz or w == start:
                    continue
                if eb > b or (eb == b and et in txs and es > txs[et]):
                    merge(nxt, w, a, eb, et, es)
        reached.update(nxt)
        layer = nxt
        if not layer:
            break
    return reached


def _improves(best, v, a, b, txs):
    key = (v, a)
    st = best.get(key)
    if st is None or b < st[0]:
        best[key] = (b, dict(txs))
        return True
    if b > st[0]:
        return False
    better = False
    for t, s in txs.items():
        old = st[1].get(t)
        if old is None or s < old:
            st[1][t] = s
            better = True
    return better


def build_igraph(c, n_nodes):
    import igraph as ig

    g = ig.Graph(n=n_nodes, edges=np.column_stack([c["src"], c["dst"]]), directed=True)
    for k in ("asset", "blk", "tx", "seq", "nz"):
        g.es[k] = c[k].tolist()
    return g


def igraph_runner(c, n_nodes, exits):
    g = build_igraph(c, n_nodes)
    inc = g.get_inclist(mode="out")
    dst = [t for (_, t) in g.get_edgelist()]
    asset, blk, tx, seq, nz = (g.es[k] for k in ("asset", "blk", "tx", "seq", "nz"))

    def out_of(v):
        for e in inc[v]:
            yield (dst[e], asset[e], blk[e], tx[e], seq[e], nz[e])

    return lambda s, h: bfs(s, h, out_of, exits)


def networkx_runner(c, n_nodes, exits):
    import networkx as nx

    g = nx.MultiDiGraph()
    g.add_nodes_from(range(n_nodes))
    cols = [c[k].tolist() for k in ("src", "dst", "asset", "blk", "tx", "seq", "nz")]
    g.add_edges_from(
        (s, d, {"asset": a, "blk": b, "tx": t, "seq": q, "nz": z}) for s, d, a, b, t, q, z in zip(*cols)
    )
    del cols
    adj = g.adj

    def out_of(v):
        for w, keyed in adj[v].items():
            for e in keyed.values():
                yield (w, e["asset"], e["blk"], e["tx"], e["seq"], e["nz"])

    return lambda s, h: bfs(s, h, out_of, exits)


SQL = """
WITH RECURSIVE t(node, asset, blk, tx, seq, hops) AS (
    SELECT dst, asset, blk, tx, min(seq), 1 FROM (
        SELECT dst, asset, blk, tx, seq, min(blk) OVER (PARTITION BY dst, asset) AS mb
        FROM edges WHERE src = $start AND nz = 1 AND dst <> $start
    ) WHERE blk = mb GROUP BY dst, asset, blk, tx
    UNION
    SELECT dst, asset, blk, tx, min(seq), hops FROM (
        SELECT f.dst, f.asset, f.blk, f.tx, f.seq, t.hops + 1 AS hops,
               min(f.blk) OVER (PARTITION BY f.dst, f.asset) AS mb
        FROM t JOIN edges f ON f.src = t.node AND f.asset = t.asset
        WHERE t.hops < $hops AND f.nz = 1 AND f.dst <> $start
          AND NOT EXISTS (SELECT 1 FROM exits x WHERE x.node = t.node)
          AND (f.blk > t.blk OR (f.tx = t.tx AND f.seq > t.seq))
    ) WHERE blk = mb GROUP BY dst, asset, blk, tx, hops
)
SELECT DISTINCT node, asset FROM t
"""


def duckdb_runner(d, exits_list):
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE edges AS SELECT * FROM read_csv(?, header=true, columns={"
        "'src':'UINTEGER','dst':'UINTEGER','asset':'UINTEGER','blk':'UINTEGER','tx':'UINTEGER',"
        "'seq':'UINTEGER','nz':'UTINYINT'})",
        [os.path.join(d, "edges.csv")],
    )
    con.execute("CREATE TABLE exits(node UINTEGER)")
    if exits_list:
        con.executemany("INSERT INTO exits VALUES (?)", [[x] for x in exits_list])

    def run(s, h):
        return set(map(tuple, con.execute(SQL, {"start": s, "hops": h}).fetchall()))

    return run, con


def main():
    peer, d, hops, budget = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    starts = read_ids(os.path.join(d, "starts.txt"))
    exits_list = read_ids(os.path.join(d, "exits.txt"))
    t0 = time.time()
    if peer == "duckdb":
        runner, _con = duckdb_runner(d, exits_list)
        load_s = time.time() - t0
        build_s = 0.0
    else:
        c = load_columns(d)
        n_nodes = int(max(c["src"].max(), c["dst"].max())) + 1
        load_s = time.time() - t0
        exits = np.zeros(n_nodes, dtype=bool)
        exits[exits_list] = True
        exits = exits.tolist()
        t1 = time.time()
        runner = {"igraph": igraph_runner, "networkx": networkx_runner}[peer](c, n_nodes, exits)
        del c
        build_s = time.time() - t1
    # Ours twice: the sets of trace() (destinations) and of trace::reach_set (the same question only).
    ours_sets = {"trace": load_ours(d, "ours_poison"), "reach_set": load_ours(d, "ours_poison_set")}
    times, sizes, mismatches = [], [], []
    first_answer_s = None
    spent = 0.0
    n_ours = min(len(v) for v in ours_sets.values())
    for i, s in enumerate(starts):
        if spent >= budget or i >= n_ours:  # only starts ours finished within its budget are compared
            break
        t = time.perf_counter()
        got = runner(s, hops)
        dt = time.perf_counter() - t
        if first_answer_s is None:
            first_answer_s = time.time() - T_PROCESS
        spent += dt
        times.append(dt)
        sizes.append(len(got))
        mine = as_keys(got)
        for which, ours in ours_sets.items():
            if i < len(ours) and np.array_equal(mine, ours[i]):
                continue
            theirs = ours[i] if i < len(ours) else np.array([], dtype=np.uint64)
            only_peer = np.setdiff1d(mine, theirs).size
            only_ours = np.setdiff1d(theirs, mine).size
            mismatches.append(
                {"start": s, "index": i, "ours": which, "only_peer": int(only_peer), "only_ours": int(only_ours)}
            )
            print(
                f"MISMATCH {peer} start {s} (#{i}) vs our {which}: {only_peer} pairs only in {peer}, "
                f"{only_ours} only in ours",
                file=sys.stderr,
            )
    out = {
        "peer": peer,
        "load_s": load_s,
        "build_s": build_s,
        "first_answer_s": first_answer_s,
        "times_s": times,
        "reached": sizes,
        "completed": len(times),
        "checked_against": sorted(ours_sets),
        "of": len(starts),
        "mismatches": mismatches,
        "vm_hwm_kib": vm_hwm_kib(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()

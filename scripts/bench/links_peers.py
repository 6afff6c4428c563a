#!/usr/bin/env python3
"""Answers chaintrace's link-discovery query sets with python-igraph and compares the times.

Usage: links_peers.py EXPORT_DIR [--max-1000 K]

EXPORT_DIR is what `cluster_link_bench ... EXPORT_DIR` wrote: edges.bin (u32 sender, receiver, seq per
edge), nodes.txt and queries.tsv (our per-query milliseconds and node ids). For every query, igraph computes
unweighted directed shortest-path lengths from the `from` nodes to the targets (`Graph.distances`,
mode="out") and keeps those of at most 6 hops.

igraph answers an EASIER question than chaintrace: no time rule (a path may go back in time), one direction
only (chaintrace searches outgoing and incoming paths), no exits/services excluded, no evidence built, no
direct/same-address/deposit/funder/cluster links. It is also exact (no fan-out cap), where chaintrace cuts
at 200 transfers per node and reports the cut. So the ratio compares the cost of answering comparable
query sets, not identical answers; the pair counts are printed side by side for context only.

Prints one line per query set (stdout) and a JSON summary line starting with "JSON ".
"""

import json
import os
import sys
import time

import igraph
import numpy as np

MAX_HOPS = 6


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    d = sys.argv[1]
    max_1000 = 3
    if "--max-1000" in sys.argv:
        max_1000 = int(sys.argv[sys.argv.index("--max-1000") + 1])
    with open(os.path.join(d, "nodes.txt")) as f:
        n = int(f.read().strip())
    t0 = time.perf_counter()
    raw = np.fromfile(os.path.join(d, "edges.bin"), dtype="<u4").reshape(-1, 3)
    edges = raw[:, :2].astype(np.int64)
    g = igraph.Graph(n=n, edges=edges, directed=True)
    load = time.perf_counter() - t0
    print(f"igraph {igraph.__version__}: {n} nodes, {g.ecount()} edges loaded in {load:.1f}s", file=sys.stderr)

    sets = {}
    with open(os.path.join(d, "queries.tsv")) as f:
        for line in f:
            size, idx, ms, nlinks, ntrunc, frm, to = line.rstrip("\n").split("\t")
            sets.setdefault(int(size), []).append(
                {
                    "index": int(idx),
                    "ours_ms": float(ms),
                    "ours_links": int(nlinks),
                    "ours_truncations": int(ntrunc),
                    # Deduplicated as chaintrace does (igraph refuses duplicate targets).
                    "from": sorted({int(x) for x in frm.split(",") if x}),
                    "to": sorted({int(x) for x in to.split(",") if x}),
                }
            )
    summary = {"schema_version": 1, "nodes": n, "edges": g.ecount(), "igraph": igraph.__version__, "sets": []}
    for size in sorted(sets):
        qs = sets[size]
        if size >= 1000:
            qs = qs[:max_1000]
        ours, theirs, pairs = [], [], 0
        for q in qs:
            t0 = time.perf_counter()
            dist = g.distances(source=q["from"], target=q["to"], mode="out")
            dt = (time.perf_counter() - t0) * 1000.0
            pairs += sum(1 for row in dist for x in row if 0 < x <= MAX_HOPS)
            ours.append(q["ours_ms"])
            theirs.append(dt)
            print(f"  {size}x{size} query {q['index']}: ours {q['ours_ms']:.1f} ms, igraph {dt:.1f} ms", file=sys.stderr)

        def pct(v, p):
            v = sorted(v)
            return v[round((len(v) - 1) * p)]

        row = {
            "size": size,
            "queries": len(qs),
            "ours_p50_ms": pct(ours, 0.5),
            "ours_p95_ms": pct(ours, 0.95),
            "ours_total_ms": sum(ours),
            "igraph_p50_ms": pct(theirs, 0.5),
            "igraph_p95_ms": pct(theirs, 0.95),
            "igraph_total_ms": sum(theirs),
            "speedup_total": sum(theirs) / max(sum(ours), 1e-9),
            "igraph_pairs_within_6_hops": pairs,
            "ours_links": sum(q["ours_links"] for q in qs),
        }
        summary["sets"].append(row)
        print(
            f"{size}x{size} ({len(qs)} queries): ours p50 {row['ours_p50_ms']:.1f} / p95 {row['ours_p95_ms']:.1f} ms, "
            f"igraph p50 {row['igraph_p50_ms']:.1f} / p95 {row['igraph_p95_ms']:.1f} ms; "
            f"igraph/ours total time {row['speedup_total']:.1f}x; igraph pairs <= {MAX_HOPS} hops "
            f"(no time rule) {pairs}, our links (all kinds) {row['ours_links']}"
        )
    print("JSON " + json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Runs the tracing benchmark end to end (called by scripts/bench.sh; needs the bench venv).

For each world size: `trace-bench prepare` (simulated world -> graph snapshot + edges.csv + starts), our
traces (`trace-bench run`, poison/haircut/fifo), our cold start (`trace-bench cold` after evicting the
snapshot from the page cache), then each peer (scripts/bench/peers.py) in its own process. Every peer checks
its reachable sets against ours and the run fails (exit 1) on any mismatch, after writing the results.
Results: bench-out/trace/*.json, the "Tracing" section of BENCHMARKS.md, /work/notes/bench-trace.md (raw).

Environment: SIZES (default "1000000 10000000"), SEED (42), HOPS (5), OURS_BUDGET_S, PEER_BUDGET_S,
NX_MAX (largest size networkx runs at, default 1000000), OUT (bench-out/trace).
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time

import psutil

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "trace-bench")
PY = sys.executable
PEERS = os.path.join(ROOT, "scripts", "bench", "peers.py")

SIZES = [int(x) for x in os.environ.get("SIZES", "1000000 10000000").split()]
SEED = int(os.environ.get("SEED", "42"))
HOPS = int(os.environ.get("HOPS", "5"))
NX_MAX = int(os.environ.get("NX_MAX", "1000000"))
OUT = os.environ.get("OUT", os.path.join(ROOT, "bench-out", "trace"))
WORK = os.environ.get("WORK", "/tmp/chaintrace-bench-trace")
# Seconds of tracing per model (ours) / per peer, by size. Chosen to keep the whole run short on
# 2 cores (about 25 minutes with the 10^7 budget below); every figure says how many of the 200 starts it covers.
# 300 s at 10^7: every model (haircut ~215 s) covers all 200 starts, so ratios between models use the whole
# workload rather than whichever starts a shorter budget reached.
OURS_BUDGET = {1_000_000: 90.0, 10_000_000: 300.0}
PEER_BUDGET = {1_000_000: 100.0, 10_000_000: 120.0}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_json(cmd):
    """Runs cmd, samples its RSS with psutil every 50 ms, returns (json stdout, wall s, sampled peak KiB)."""
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    proc = psutil.Process(p.pid)
    peak = 0
    while p.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss // 1024)
        except psutil.Error:
            pass
        time.sleep(0.05)
    out = p.stdout.read()
    wall = time.time() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {p.returncode}")
    return json.loads(out), wall, peak


def evict(path):
    """Drops a file's pages from the page cache (only this file), for a cold start."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def p95(xs):
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]


def bench_size(n):
    d = os.path.join(WORK, f"w{n}")
    log(f"== size {n}: prepare")
    prep, prep_wall, prep_peak = run_json([BIN, "prepare", d, str(SEED), str(n)])
    res = {"size": n, "prepare": prep, "prepare_wall_s": prep_wall, "prepare_peak_kib": prep_peak}
    budget = float(os.environ.get("OURS_BUDGET_S", OURS_BUDGET.get(n, 120.0)))
    # poison-set: trace::reach_set, only the reachable set (the peers' question); poison/haircut/fifo: the
    # whole trace() call (amounts and a path for every destination); haircut and fifo with the graph's
    # balance index (built once, timed apart), haircut-plain without it.
    models = "poison-set,poison,haircut,fifo,haircut-plain"
    log(f"ours: {models} ({budget:.0f} s budget per model)")
    ours, wall, peak = run_json([BIN, "run", d, str(HOPS), models, str(budget)])
    ours["wall_s"], ours["sampled_peak_kib"] = wall, peak
    res["ours"] = ours
    log("ours: cold start (snapshot evicted from the page cache), then warm")
    evict(os.path.join(d, "graph.snapshot"))
    cold, wall, _ = run_json([BIN, "cold", d, str(HOPS)])
    cold["process_wall_s"] = wall
    warm, wall, _ = run_json([BIN, "cold", d, str(HOPS)])
    warm["process_wall_s"] = wall
    res["cold"], res["warm"] = cold, warm
    peers = ["igraph", "duckdb"] + (["networkx"] if n <= NX_MAX else [])
    res["skipped"] = [] if n <= NX_MAX else [f"networkx (above NX_MAX={NX_MAX})"]
    res["peers"] = {}
    pb = float(os.environ.get("PEER_BUDGET_S", PEER_BUDGET.get(n, 120.0)))
    for peer in peers:
        log(f"peer {peer} ({pb:.0f} s tracing budget; edges.csv evicted first)")
        evict(os.path.join(d, "edges.csv"))
        out, wall, peak = run_json([PY, PEERS, peer, d, str(HOPS), str(pb)])
        out["wall_s"], out["sampled_peak_kib"] = wall, peak
        res["peers"][peer] = out
        log(f"  {peer}: {out['completed']} traces, {len(out['mismatches'])} mismatches")
    return res


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(WORK, exist_ok=True)
    t0 = time.time()
    results = []
    for n in SIZES:
        r = bench_size(n)
        with open(os.path.join(OUT, f"trace-{n}.json"), "w") as f:
            json.dump(r, f)
        results.append(r)
    env = {
        "cores": os.cpu_count(),
        "mem_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "load_avg_end": os.getloadavg(),
        "total_s": time.time() - t0,
        "hops": HOPS,
        "seed": SEED,
    }
    for mod in ("igraph", "networkx", "duckdb", "psutil", "numpy"):
        env[mod] = __import__(mod).__version__
    with open(os.path.join(OUT, "env.json"), "w") as f:
        json.dump(env, f)
    subprocess.run([PY, os.path.join(ROOT, "scripts", "bench", "report.py"), OUT], check=True)
    bad = [(r["size"], p, len(o["mismatches"])) for r in results for p, o in r["peers"].items() if o["mismatches"]]
    if bad:
        for size, peer, k in bad:
            print(f"FAIL: {peer} at {size} transfers: {k} traces with a different reachable set", file=sys.stderr)
        raise SystemExit(1)
    log(f"done in {time.time() - t0:.0f} s; all reachable sets equal")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Tracing benchmark: chaintrace vs python-igraph, networkx and DuckDB (recursive SQL) on simulated worlds of
# 10^6 and 10^7 transfers; 5-hop time-respecting forward traces from the same 200 starts, reachable sets
# checked equal (the run fails on any mismatch). Writes bench-out/trace/*.json, the "Tracing" section of
# BENCHMARKS.md and /work/notes/bench-trace.md. About 25 minutes on 2 cores.
#
# Environment: SIZES="1000000 10000000" SEED=42 HOPS=5 OURS_BUDGET_S / PEER_BUDGET_S (seconds of tracing per
# model / peer; defaults per size in scripts/bench/run.py) NX_MAX=1000000 WORK=/tmp/chaintrace-bench-trace.
# 10^8 transfers is not run: building it needs ~12 GB for the builder plus the simulator's state, and the
# Python peers could not load it within the time budget.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv="$root/.tools/bench-venv"
if ! "$venv/bin/python" -c 'import igraph, networkx, duckdb, psutil, numpy' 2>/dev/null; then
  echo "== installing peers into $venv (PyPI)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'python-igraph>=0.11' 'networkx>=3.2' 'duckdb>=1.1' 'psutil>=5.9' 'numpy>=1.26'
fi

echo "== building (release)" >&2
cargo build --quiet --release -p chaintrace-bench

exec "$venv/bin/python" scripts/bench/run.py

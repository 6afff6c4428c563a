#!/usr/bin/env bash
# Link discovery and clustering benchmark, chaintrace vs python-igraph, in one run: builds the
# cluster_link_bench example (release), runs it on simulated worlds (seed 1) that it exports, then answers
# the same 10x10 and 1000x1000 query sets with igraph shortest paths (scripts/bench/links_peers.py; igraph
# has no time rule, so it answers an easier question). Prints both sides and the ratio; writes
# bench-out/links/<transfers>.txt. About 5-10 minutes on 2 cores.
#
# Environment: SIZES="1000000 10000000" WORK=/tmp/chaintrace-bench-links IGRAPH_MAX_1000="3 1" (how many
# 1000x1000 queries igraph answers per size: one igraph 1000-source BFS set on the 10^7 graph takes about a
# minute). A size may be TRANSFERS:USERS:ZIPF for a world of many addresses with few transfers each, e.g.
# SIZES="25000000:5000000:0.3" (11.2M addresses, 25M transfers; ~7 GB peak while generating, several
# minutes). Each line of output carries a digest of the answers (same digest = same links and evidence).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv="$root/.tools/bench-venv"
if ! "$venv/bin/python" -c 'import igraph, numpy' 2>/dev/null; then
  echo "== installing python-igraph into $venv (PyPI)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'python-igraph>=0.11' 'numpy>=1.26'
fi

echo "== building (release)" >&2
cargo build --quiet --release -p chaintrace-analysis --example cluster_link_bench
bin="$root/target/release/examples/cluster_link_bench"

sizes=(${SIZES:-1000000 10000000})
max1000=(${IGRAPH_MAX_1000:-3 1})
work="${WORK:-/tmp/chaintrace-bench-links}"
out="$root/bench-out/links"
mkdir -p "$work" "$out"

for i in "${!sizes[@]}"; do
  IFS=: read -r n users zipf <<<"${sizes[$i]}"
  k="${max1000[$i]:-1}"
  tag="${sizes[$i]//:/-}"
  dir="$work/$tag"
  echo "== ${sizes[$i]} (transfers[:users:zipf]): chaintrace" >&2
  "$bin" "$n" "${users:--}" 1 "$dir" ${zipf:+"$zipf"} | tee "$out/$tag.txt"
  echo "== ${sizes[$i]}: igraph (same queries)" >&2
  "$venv/bin/python" scripts/bench/links_peers.py "$dir" --max-1000 "$k" | tee -a "$out/$tag.txt"
  rm -f "$dir/edges.bin"
done

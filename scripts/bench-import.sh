#!/usr/bin/env bash
# Import benchmark, one run, side by side: a synthetic ethereum-etl export (scripts/bench/import_gen.py,
# real column names, BLOCKS x TXS_PER_BLOCK transactions, >= 1M transfers by default) loaded by
#   (a1) `chaintrace import etl` (release) pinned to one core (taskset -c 0; decode/write pipeline shares it)
#   (a2) `chaintrace import etl` on all cores (decoding on a second thread)
#   (b)  plain Python: csv module + sqlite3 executemany (scripts/bench/import_sqlite.py)
#   (c)  DuckDB from PyPI, read_csv + one INSERT ... SELECT doing the join/filter (scripts/bench/import_duckdb.py)
# chaintrace runs twice in each setting. Writes bench-out/bench-import.md. Env: BLOCKS, TXS_PER_BLOCK, KEEP=1 keeps the work dir,
# EXPORT=DIR reuses an export generated before (with the same BLOCKS/TXS_PER_BLOCK; e.g. from a KEEP=1 run's work dir),
# BASE_BIN=PATH also runs an older chaintrace binary on one core, interleaved with the new one (A B A B), for A/B figures.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
BLOCKS="${BLOCKS:-6000}"
TXS_PER_BLOCK="${TXS_PER_BLOCK:-140}"
# The same venv as scripts/bench.sh and scripts/bench-links.sh (python-igraph, networkx, duckdb, ...).
venv="$root/.tools/bench-venv"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import duckdb' 2>/dev/null; then
  echo "== installing duckdb into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q duckdb
fi
echo "== building (release)" >&2
cargo build --quiet --release -p chaintrace-cli
bin="$root/target/release/chaintrace"
out="$root/bench-out"
mkdir -p "$out"
work="$(mktemp -d)"
[[ "${KEEP:-0}" == 1 ]] || trap 'rm -rf "$work"' EXIT

export_dir="$work/export"
if [[ -n "${EXPORT:-}" ]]; then
  export_dir="$EXPORT"
  [[ -f "$export_dir/transactions.csv" ]] || { echo "EXPORT=$EXPORT holds no transactions.csv" >&2; exit 1; }
  # The generator's counts line, saved beside the CSV when it was written (else regenerated: deterministic).
  if [[ -f "$export_dir/generated.txt" ]]; then
    gen="$(cat "$export_dir/generated.txt")"
  else
    gen="$("$venv/bin/python" scripts/bench/import_gen.py "$work/recount" "$BLOCKS" "$TXS_PER_BLOCK")"
    rm -rf "$work/recount"
  fi
  echo "== reusing export $export_dir ($gen)" >&2
else
  echo "== generating export: $BLOCKS blocks x $TXS_PER_BLOCK txs" >&2
  gen="$("$venv/bin/python" scripts/bench/import_gen.py "$export_dir" "$BLOCKS" "$TXS_PER_BLOCK")"
  echo "$gen" > "$export_dir/generated.txt"
  echo "$gen" >&2
fi
csv_mb="$(du -sm "$export_dir" | cut -f1)"

# run NAME CMD...: wall seconds, peak RSS (KiB) and stdout of CMD into $work/NAME.*
run() {
  local name="$1"; shift
  sync
  /usr/bin/time -f '%e %M %U %S' -o "$work/$name.time" "$@" > "$work/$name.out" 2> "$work/$name.err" || {
    cat "$work/$name.err" >&2; return 1; }
  echo "== $name: $(cat "$work/$name.time")" >&2
}
# chaintrace twice each (the machine is shared; the second run shows the noise).
if [[ -n "${BASE_BIN:-}" ]]; then
  run z1 taskset -c 0 "$BASE_BIN" --data-dir "$work/z1" import etl --chain ethereum "$export_dir"
fi
run a1 taskset -c 0 "$bin" --data-dir "$work/a1" import etl --chain ethereum "$export_dir"
if [[ -n "${BASE_BIN:-}" ]]; then
  run z1r taskset -c 0 "$BASE_BIN" --data-dir "$work/z1r" import etl --chain ethereum "$export_dir"
fi
run a1r taskset -c 0 "$bin" --data-dir "$work/a1r" import etl --chain ethereum "$export_dir"
run a2 "$bin" --data-dir "$work/a2" import etl --chain ethereum "$export_dir"
run a2r "$bin" --data-dir "$work/a2r" import etl --chain ethereum "$export_dir"
run b "$venv/bin/python" scripts/bench/import_sqlite.py "$export_dir" "$work/b.sqlite"
run c "$venv/bin/python" scripts/bench/import_duckdb.py "$export_dir" "$work/c.duckdb" 1
run c2 "$venv/bin/python" scripts/bench/import_duckdb.py "$export_dir" "$work/c2.duckdb" "$(nproc)"

"$venv/bin/python" - "$work" "$gen" "$csv_mb" "$(nproc)" > "$out/bench-import.md" <<'PY'
import re, sys, platform, pathlib
work, gen, csv_mb, cores = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
expected = int(re.search(r"transfers=(\d+)", gen).group(1))
def t(name):
    wall, rss, user, sys_ = (work / f"{name}.time").read_text().split()
    return float(wall), int(rss) / 1024, float(user) + float(sys_)
m = re.search(r"imported (\d+) transfers", (work / "a1.err").read_text())
n_a = int(m.group(1))
n_b = int((work / "b.out").read_text().split()[-1])
n_c = int((work / "c.out").read_text().split()[-1])
rows = [("z1", "BASE_BIN import etl, 1 core (taskset), before a1", n_a), ("z1r", "BASE_BIN, 2nd run, before a1r", n_a),
        ("a1", "chaintrace import etl, 1 core (taskset)", n_a), ("a1r", "same, 2nd run", n_a),
        ("a2", f"chaintrace import etl, {cores} cores (pipelined)", n_a), ("a2r", "same, 2nd run", n_a),
        ("b", "Python csv + sqlite3 executemany", n_b), ("c", "DuckDB read_csv + INSERT..SELECT, 1 thread", n_c),
        ("c2", f"DuckDB, {cores} threads", n_c)]
base = t("a1")[0]
print("# Import benchmark (ethereum-etl CSV -> store)\n")
print(f"- machine: {cores} cores, {platform.machine()}, shared with other builds; chaintrace twice, the others once")
print(f"- export: {gen} ({csv_mb} MB of CSV)")
print(f"- every loader checked to produce the generator's {expected} transfers\n")
print("| loader | transfers | wall s | CPU s | transfers/s | wall vs chaintrace 1 core | peak RSS MB |")
print("|---|---|---|---|---|---|---|")
for key, label, n in rows:
    if not (work / f"{key}.time").exists():
        continue
    wall, rss, cpu = t(key)
    print(f"| {label} | {n} | {wall:.2f} | {cpu:.2f} | {n / wall:,.0f} | {wall / base:.2f}x | {rss:.0f} |")
print()
print("chaintrace's own report (1 core): " + (work / "a1.err").read_text().strip().splitlines()[-1])
print("\nchaintrace's own report (all cores): " + (work / "a2.err").read_text().strip().splitlines()[-1])
print(f"\nload average at the end: {open('/proc/loadavg').read().split()[:3]}")
for n in (n_a, n_b, n_c):
    assert n == expected, (n, expected)
PY
cat "$out/bench-import.md"

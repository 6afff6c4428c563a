#!/usr/bin/env bash
# Ingest benchmark: a local anvil chain holding >= 50k transfers (batchTransfer of RECIPIENTS token
# transfers x BATCH_TXS transactions, plus NATIVES plain ETH transfers, TXS_PER_BLOCK per block), then
# `chaintrace ingest rpc` timed end to end (release build). Reports transfers/s and the share of wall time
# the ingest spent waiting on the node (from its own report). Writes bench-out/bench-ingest.md.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/anvil-lib.sh

BATCH_TXS="${BATCH_TXS:-110}"
RECIPIENTS="${RECIPIENTS:-500}"
NATIVES="${NATIVES:-2000}"
TXS_PER_BLOCK="${TXS_PER_BLOCK:-20}"
BATCH_SIZE="${BATCH_SIZE:-20}"
CONCURRENCY="${CONCURRENCY:-4}"

bash scripts/setup-tools.sh >/dev/null
echo "== building (release)" >&2
cargo build --quiet --release -p chaintrace-cli -p chaintrace-testkit --bins
bin="$root/target/release"

out="$root/bench-out"
mkdir -p "$out"
work="$(mktemp -d)"
start_anvil 1 "$work/anvil.log" --gas-limit 3000000000
trap 'kill "$ANVIL_PID" 2>/dev/null || true; rm -rf "$work"' EXIT

echo "== filling anvil: $BATCH_TXS x $RECIPIENTS token transfers + $NATIVES native, $TXS_PER_BLOCK tx/block" >&2
t0=$(date +%s.%N)
summary="$("$bin/chaintrace-scenario" --rpc-url "$ANVIL_URL" bench --batch-txs "$BATCH_TXS" \
  --recipients "$RECIPIENTS" --natives "$NATIVES" --txs-per-block "$TXS_PER_BLOCK")"
t1=$(date +%s.%N)
echo "$summary" >&2
last_block="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["last_block"])' <<<"$summary")"

echo "== chaintrace ingest rpc (batch-size $BATCH_SIZE, concurrency $CONCURRENCY)" >&2
t2=$(date +%s.%N)
report="$("$bin/chaintrace" --data-dir "$work/data" ingest rpc --chain ethereum --rpc-url "$ANVIL_URL" \
  --to-block "$last_block" --confirmations 0 --batch-size "$BATCH_SIZE" --concurrency "$CONCURRENCY" --format json)"
t3=$(date +%s.%N)

python3 - "$summary" "$report" "$t0" "$t1" "$t2" "$t3" "$BATCH_SIZE" "$CONCURRENCY" "$TXS_PER_BLOCK" \
  > "$out/bench-ingest.md" <<'PY'
import json, sys, platform, os
summary, report = json.loads(sys.argv[1]), json.loads(sys.argv[2])
t0, t1, t2, t3 = map(float, sys.argv[3:7])
batch_size, concurrency, per_block = sys.argv[7:10]
wall = t3 - t2
assert report["inserted"] == summary["transfers"], (report["inserted"], summary["transfers"])
print("# Ingest benchmark (`chaintrace ingest rpc` against a local anvil)\n")
print(f"- machine: {os.cpu_count()} cores, {platform.machine()}, anvil 1.7.1 on loopback; release build")
print(f"- chain: {report['blocks']} blocks ({per_block} tx/block), {summary['transfers']} transfers "
      f"(filled in {t1 - t0:.1f} s, not timed)")
print(f"- flags: --batch-size {batch_size} --concurrency {concurrency}\n")
print("| metric | value |\n|---|---|")
print(f"| transfers stored | {report['inserted']} (duplicates {report['duplicates']}) |")
print(f"| wall time, process start to exit | {wall:.2f} s |")
print(f"| ingest run (stage report) | {report['elapsed_secs']:.2f} s |")
print(f"| throughput | {report['inserted'] / wall:,.0f} transfers/s, {report['blocks'] / wall:,.1f} blocks/s |")
print(f"| waiting on the node (fetch thread blocked in RPC) | {report['rpc_wait_secs']:.2f} s = "
      f"{100 * report['rpc_wait_secs'] / wall:.0f}% of process wall time |")
print(f"| writing to the store (overlaps fetching) | {report['write_secs']:.2f} s |")
print(f"| HTTP requests / JSON-RPC calls / retries | {report['rpc_http_requests']} / {report['rpc_calls']} / {report['rpc_retries']} |")
print(f"| time inside HTTP requests, summed over {concurrency} workers | {report['rpc_http_secs_all_threads']:.2f} s |")
print()
print("'Waiting on the node' is the time the fetch thread spent blocked in `EvmSource::fetch_blocks`, which")
print("includes the workers' JSON parsing and decoding of the answers; the store writes run on the other")
print("thread at the same time. anvil shares the machine's cores with chaintrace during the run.")
PY
cat "$out/bench-ingest.md"

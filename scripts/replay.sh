#!/usr/bin/env bash
# Replay: a CoinEx-style hot wallet drain on five real local chains (anvil, chain ids 1, 56, 137, 42161,
# 10), investigated by chaintrace end to end. Builds chaintrace and the replay world (cached in
# target/replay-cache; the first run sends ~570 transactions, later runs load the saved node states),
# starts the five nodes from the saved states, ingests them over JSON-RPC, imports the labels and the
# bridge registry, investigates the incident and writes report.html / report.md / report.json.
# Prints a summary (report vs ground truth) on stdout. See docs/replay.md.
#
#   bash scripts/replay.sh [OUT_DIR]        default OUT_DIR: target/replay-report
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/anvil-lib.sh

out="${1:-$root/target/replay-report}"
target="${CARGO_TARGET_DIR:-$root/target}"

bash scripts/setup-tools.sh >&2
echo "== building chaintrace and the replay world builder" >&2
cargo build --quiet -p chaintrace-cli --bin chaintrace -p chaintrace-replay --bin replay
bin="$target/debug"

echo "== replay world" >&2
declare -A world=()
states=()
while IFS='=' read -r key value; do
  case "$key" in
    state_*) states+=("$value") ;;
    *) world[$key]="$value" ;;
  esac
done < <("$bin/replay" build --dir "$target/replay-cache")

rm -rf "$out"
mkdir -p "$out"
export CHAINTRACE_DATA_DIR="$out/data"

# start_anvil (anvil-lib.sh) traps EXIT for its own node only: keep one trap for all five.
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
for entry in "${states[@]}"; do
  read -r chain_id state <<<"$entry"
  start_anvil "$chain_id" "$out/anvil-$chain_id.log" --load-state "$state" --auto-impersonate --base-fee 0
  pids+=("$ANVIL_PID")
  trap cleanup EXIT
  echo "== chain $chain_id: anvil on $ANVIL_URL, ingesting" >&2
  "$bin/chaintrace" ingest rpc --chain "$chain_id" --rpc-url "$ANVIL_URL" --from-block 0 --to-block latest \
    --confirmations 0
done
cleanup
pids=()

echo "== labels and bridges" >&2
"$bin/chaintrace" labels import "${world[labels]}" >&2
"$bin/chaintrace" bridges import "${world[bridges]}" >&2 || echo "warning: bridges import failed; continuing" >&2

echo "== investigate ${world[incident]}" >&2
"$bin/chaintrace" investigate "${world[incident]}" --format json --out "$out/report.json"
"$bin/chaintrace" investigate "${world[incident]}" --format md --out "$out/report.md"
"$bin/chaintrace" investigate "${world[incident]}" --format html --out "$out/report.html"
cp "${world[truth]}" "$out/truth.json"

python3 - "$out/truth.json" "$out/report.json" <<'PY'
import json, sys
truth = json.load(open(sys.argv[1]))
report = json.load(open(sys.argv[2]))
print(f"incident: {truth['incident_name']} (started {truth['started']})")
print("losses (report vs ground truth, raw units):")
drained = {(c["chain"], d["asset"].lower()): d["amount"] for c in truth["chains"] for d in c["drained"]}
for l in report["losses"]:
    key = (l["chain"], l["asset"].lower())
    want = drained.pop(key, None)
    mark = "ok" if want == l["amount"] else f"MISMATCH (drained {want})"
    print(f"  {l['chain']:<9} {l.get('symbol') or l['asset']:<7} {l.get('amount_human') or l['amount']:>14}  {mark}")
for (chain, asset), amount in drained.items():
    print(f"  {chain:<9} {asset}: drained {amount}, NOT REPORTED")
ends = [(d["chain"], d["address"].lower(), [h.lower() for h in d["path"]]) for d in report["destinations"]]
ends += [(a["chain"], a["address"].lower(), [h.lower() for h in a["path"]]) for g in report["exits"] for a in g["addresses"]]
print("exchange deposit addresses the laundering paid into:")
seen = set()
for d in truth["reached_deposits"]:
    if (d["chain"], d["address"]) in seen:
        continue
    seen.add((d["chain"], d["address"]))
    hit = any(c == d["chain"] and (a == d["address"].lower() or d["payment_tx"].lower() in p) for c, a, p in ends)
    print(f"  {d['chain']:<9} {d['address']} via {d['route']:<6} {'reached' if hit else 'NOT reached'}")
print("exits:")
for g in report["exits"]:
    print(f"  {g['entity']} ({g['category']}): {len(g['addresses'])} address(es)")
print("attribution:")
for a in report["attribution"]:
    kinds = sorted({e["kind"] for e in a["evidence"]})
    print(f"  {a['actor']:<10} confidence {a['confidence']:.2f}  evidence: {', '.join(kinds)}")
print(f"ground truth: actor {truth['actor']}, reused address {truth['reused_address']['address']} "
      f"({truth['reused_address']['earlier_chain']} earlier, {truth['reused_address']['new_chain']} now)")
PY
echo "== wrote $out/report.html, report.md, report.json (data dir $out/data)" >&2

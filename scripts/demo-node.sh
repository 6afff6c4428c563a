#!/usr/bin/env bash
# Node demo: builds chaintrace, starts a local anvil chain (chain id 1, labelled ethereum), sends a scenario of
# transfers (ETH, ERC-20 incl. a zero-value one, ETH forwarded by a contract, a reverted transaction,
# contracts created with value), ingests it over JSON-RPC, then shows `status` and one address's
# transfers. Everything runs locally; the data dir is a temp dir removed at the end.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/anvil-lib.sh

bash scripts/setup-tools.sh >/dev/null
echo "== building chaintrace" >&2
cargo build --quiet -p chaintrace-cli -p chaintrace-testkit --bins
bin="$root/target/debug"

work="$(mktemp -d)"
start_anvil 1 "$work/anvil.log"
trap 'kill "$ANVIL_PID" 2>/dev/null || true; rm -rf "$work"' EXIT
echo "== anvil on $ANVIL_URL (chain id 1)" >&2

echo "== sending the scenario" >&2
summary="$("$bin/chaintrace-scenario" --rpc-url "$ANVIL_URL" basic)"
echo "$summary" >&2
last_block="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["last_block"])' <<<"$summary")"
address="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["accounts"][8])' <<<"$summary")"

export CHAINTRACE_DATA_DIR="$work/data"
echo "== chaintrace ingest rpc --chain ethereum --to-block $last_block --confirmations 0" >&2
"$bin/chaintrace" ingest rpc --chain ethereum --rpc-url "$ANVIL_URL" --to-block "$last_block" --confirmations 0

echo "== chaintrace status" >&2
"$bin/chaintrace" status

echo "== chaintrace transfers --address $address" >&2
"$bin/chaintrace" transfers --address "$address"

# Sourced by scripts/demo.sh and scripts/bench-ingest.sh: start_anvil CHAIN_ID LOG [extra args...] starts the
# pinned anvil from .tools/ on 127.0.0.1 with a port the OS picks, sets ANVIL_PID and ANVIL_URL, and
# kills it when the calling script exits.

start_anvil() {
  local chain_id="$1" log="$2"
  shift 2
  local anvil="${CHAINTRACE_ANVIL:-$root/.tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil}"
  "$anvil" --host 127.0.0.1 --port 0 --chain-id "$chain_id" --balance 1000000 "$@" >"$log" 2>&1 &
  ANVIL_PID=$!
  trap 'kill "$ANVIL_PID" 2>/dev/null || true' EXIT
  local port=""
  for _ in $(seq 1 300); do
    port="$(grep -so 'Listening on 127.0.0.1:[0-9]*' "$log" | head -n 1 | cut -d: -f2 || true)"
    [[ -n "$port" ]] && break
    kill -0 "$ANVIL_PID" 2>/dev/null || { echo "anvil exited:" >&2; cat "$log" >&2; return 1; }
    sleep 0.1
  done
  [[ -n "$port" ]] || { echo "anvil did not report its port:" >&2; cat "$log" >&2; return 1; }
  ANVIL_URL="http://127.0.0.1:$port"
}

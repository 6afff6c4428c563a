#!/usr/bin/env bash
# The project's test entry point: installs the pinned test tools (anvil, solc), checks that the committed
# contract artifacts match their sources, then runs every test of the workspace (live_ tests included:
# they find anvil in .tools/). Prints cargo's summary; exits nonzero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup-tools.sh
node contracts/compile.js --check

if [[ -n "${CI:-}" ]]; then
  export CARGO_INCREMENTAL=0
fi
# Live tests must not skip when run from here: a missing anvil is a failure, not a skip.
export CHAINTRACE_REQUIRE_LIVE=1
export CHAINTRACE_ANVIL="${CHAINTRACE_ANVIL:-$root/.tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil}"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# Totals over every test binary's "test result:" line.
read -r passed failed < <(awk '/^test result:/ {
  for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
} END { print p + 0, f + 0 }' "$log")
echo
echo "cargo test --workspace: exit $status"
if grep -q '^test result:' "$log"; then
  echo "summary: $passed passed, $failed failed"
else
  echo "no test ran (build failed?)"
fi
exit "$status"

#!/usr/bin/env bash
# Installs the pinned test tools (anvil dev node, npm solc) into .tools/ at the repo root, from the
# committed contracts/package.json + package-lock.json. Idempotent: does nothing when .tools/ already
# holds exactly the locked versions. Needs node + npm; no sudo (we are root, but nothing here needs it).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
lock="$root/contracts/package-lock.json"
anvil="$tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"

command -v npm >/dev/null || { echo "setup-tools: npm not found; install Node.js 20+ first" >&2; exit 1; }

mkdir -p "$tools"
if [[ -x "$anvil" && -f "$tools/node_modules/solc/soljson.js" ]] && cmp -s "$lock" "$tools/package-lock.json"; then
  echo "setup-tools: .tools is up to date"
else
  echo "setup-tools: installing pinned npm packages into .tools/"
  cp "$root/contracts/package.json" "$lock" "$tools/"
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error)
fi

"$anvil" --version | head -n 1
node -e "console.log('solc ' + require('$tools/node_modules/solc').version())"

#!/usr/bin/env bash
# The main job on embedded data: builds chaintrace and runs `chaintrace demo` — a simulated multi-chain world with
# an earlier labeled incident and a new one that reuses one of its addresses, laundered through a swap, a bridge,
# peel chains, a mixer and exchange deposits — then investigates it and writes the HTML report. Offline; needs only
# a Rust toolchain. Extra arguments go to `chaintrace demo` (e.g. --out DIR, --seed N).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
echo "== building chaintrace" >&2
cargo build --quiet -p chaintrace-cli
exec "$root/target/debug/chaintrace" demo "$@"

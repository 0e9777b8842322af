#!/usr/bin/env bash
# Prints the instructions one request through header-append and json-redact costs in the host and on bare wasmtime
# (imports that do nothing, and imports that answer with the workload's bytes), and one plugin start, counted by
# callgrind: the same figures however loaded the machine is, unlike the lifecycle benchmark's
# times (instructions are not time: cache misses and allocator locks do not show). Needs valgrind.
# Usage: host/tools/count-instructions.sh [N]   (N requests or starts per count, default 5000)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-5000}
command -v valgrind >/dev/null || { echo "count-instructions: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
cargo xtask build -p header-append -p json-redact >/dev/null
cargo build -q --profile bench -p host --example count_lifecycle
bin=${CARGO_TARGET_DIR:-target}/release/examples/count_lifecycle
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" "$@" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per() {
  local zero many
  count "$1" 0 "${@:2}" >/dev/null # the first run may fill the disk cache
  zero=$(count "$1" 0 "${@:2}")
  many=$(count "$1" "$n" "${@:2}")
  echo $(((many - zero) / n))
}
report() {
  local host bare canned
  host=$(per host "$@")
  bare=$(per bare "$@")
  canned=$(per canned "$@")
  echo "${1:-header-append}, one request: host $host; bare wasmtime, do-nothing imports $bare ($(echo "scale=2; $host / $bare" | bc)x); bare wasmtime, canned answers $canned ($(echo "scale=2; $host / $canned" | bc)x)"
}
report
# json-redact has no do-nothing figure: with imports that answer nothing its SDK traps on a body it cannot read.
host=$(per host json-redact)
canned=$(per canned json-redact)
echo "json-redact, one request: host $host; bare wasmtime, canned answers $canned ($(echo "scale=2; $host / $canned" | bc)x)"
# valgrind cannot reserve the pooling allocator's address space, so the host falls back to mapping each VM's memory
# itself here: the count is of that path, not of a pooled start (whose time the lifecycle bench shows).
echo "header-append, one plugin start (memory mapped per VM): $(per start) instructions"

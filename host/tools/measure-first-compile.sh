#!/usr/bin/env bash
# Prints how long `proxy-wasm-run` takes on a large module: the first time (Cranelift compiles it, no disk cache)
# and from the disk cache. Usage: host/tools/measure-first-compile.sh [MODULE.wasm [CONFIG]]
# Without a module, a debug build of json-redact stands in for a large production filter (its size is printed).
set -euo pipefail
cd "$(dirname "$0")/../.."
module=${1:-}
config=${2:-}
if [ -z "$module" ]; then
  cargo build -q -p json-redact --target wasm32-unknown-unknown
  module=target/wasm32-unknown-unknown/debug/json_redact.wasm
  config=@extensions/json-redact/example-config.json
fi
cargo build -q -p runner --bin proxy-wasm-run
runner=target/debug/proxy-wasm-run
config_args=()
[ -n "$config" ] && config_args=(--config "$config")
echo "module: $module ($(stat -c %s "$module") bytes)"
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
run() {
  local start end
  start=$(date +%s.%N)
  CARGO_TARGET_DIR=$cache "$runner" "$module" "${config_args[@]}" "$@" >/dev/null || true
  end=$(date +%s.%N)
  printf '%8.2f s' "$(echo "$end - $start" | bc)"
}
echo "first compile (no cache): $(run --no-cache)"
echo "compile and store:        $(run)"
echo "from the disk cache:      $(run)"

#!/usr/bin/env bash
# Benchmark, not a test: header-append's module size under each release-profile variant, one setting changed at a
# time from the workspace profile. Builds into target/size-profiles so the normal release artifacts stay untouched.
# Usage: extensions/header-append/measure-size.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=target/size-profiles
wasm=$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/header_append.wasm
for change in \
  '' \
  'opt-level="s"' 'opt-level=3' \
  'lto="thin"' 'lto=false' \
  'codegen-units=16' \
  'panic="unwind"' \
  'strip="debuginfo"' 'strip=false'; do
  args=()
  [ -n "$change" ] && args=(--config "profile.release.$change")
  cargo build --quiet --release --target wasm32-unknown-unknown -p header-append "${args[@]}"
  printf '%9d bytes  %s\n' "$(stat -c %s "$wasm")" "${change:-workspace profile}"
done

#!/usr/bin/env bash
# Load through the dev proxy, bounded and on loopback only: requests/s, p50 and p99 straight to the echo upstream,
# through the proxy with no extension, and through the proxy with header-append; then resident memory of a worker
# with one and with five extensions. Prints numbers; asserts nothing.
#
#   bash serve/bench/load.sh            # wrk (Debian: apt-get install wrk), 10 s per run, 32 connections
#   SECONDS_PER_RUN=20 CONNECTIONS=64 bash serve/bench/load.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-32}
if [ "$SECONDS_PER_RUN" -gt 20 ]; then echo "SECONDS_PER_RUN is at most 20" >&2; exit 2; fi
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 2; }

# The bench profile (opt-level 3, no LTO): the release profile is tuned for wasm size.
cargo build --quiet --profile bench -p serve --bin proxy-wasm-serve
cargo xtask build -p header-append >/dev/null
PROXY=target/release/proxy-wasm-serve
MODULE=target/extensions/header-append/plugin.wasm
CONFIG=@extensions/header-append/example-config.json

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# Starts the proxy with "$@"; sets LISTEN, ECHO and PID from its banner.
start() {
  local out
  out=$(mktemp)
  "$PROXY" --listen 127.0.0.1:0 --admin 127.0.0.1:0 "$@" >"$out" 2>/dev/null &
  PID=$!
  pids+=("$PID")
  for _ in $(seq 1 200); do grep -q '^serve: listening' "$out" && break; sleep 0.05; done
  LISTEN=$(grep -o 'listening on http://[0-9.:]*' "$out" | sed 's|.*http://||')
  ECHO=$(grep -o 'echo upstream on [0-9.:]*' "$out" | sed 's|.*on ||' || true)
  rm -f "$out"
}

# wrk's summary line for one target: requests/s, p50, p99.
load() {
  local name=$1 url=$2 report
  report=$(wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$url")
  printf '%-34s %10s req/s   p50 %8s   p99 %8s\n' "$name" \
    "$(awk '/^Requests\/sec/ {print $2}' <<<"$report")" \
    "$(awk '$1 == "50%" {print $2}' <<<"$report")" \
    "$(awk '$1 == "99%" {print $2}' <<<"$report")"
}

start --workers 1
baseline_echo=$ECHO
no_plugin=$LISTEN
start --workers 1 --upstream "http://$baseline_echo" --plugin "header-append=$MODULE" --config "header-append=$CONFIG"
with_plugin=$LISTEN

echo "wrk: 1 thread, $CONNECTIONS connections, ${SECONDS_PER_RUN}s each; proxy: 1 worker; $(nproc) cores shared"
load "echo upstream, direct" "http://$baseline_echo/"
load "proxy, no extension" "http://$no_plugin/"
load "proxy, header-append" "http://$with_plugin/"
# With many connections p50 is mostly queueing (connections / throughput); one connection shows what a request adds.
CONNECTIONS=1
echo "wrk: 1 connection (latency without queueing)"
load "echo upstream, direct" "http://$baseline_echo/"
load "proxy, no extension" "http://$no_plugin/"
load "proxy, header-append" "http://$with_plugin/"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
five=()
for i in 1 2 3 4 5; do five+=(--plugin "ext$i=$MODULE" --config "ext$i=$CONFIG"); done
for set in one five; do
  if [ "$set" = one ]; then args=(--plugin "header-append=$MODULE" --config "header-append=$CONFIG"); else args=("${five[@]}"); fi
  start --workers 1 --upstream "http://$baseline_echo" "${args[@]}"
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://$LISTEN/"; done
  one=$(rss "$PID")
  start --workers 3 --upstream "http://$baseline_echo" "${args[@]}"
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://$LISTEN/"; done
  three=$(rss "$PID")
  echo "resident memory, $set extension(s): 1 worker ${one} KiB, 3 workers ${three} KiB, per extra worker $(( (three - one) / 2 )) KiB"
done

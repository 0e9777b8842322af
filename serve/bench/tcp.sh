#!/usr/bin/env bash
# Bytes through serve's TCP listener, bounded and on loopback only: MiB/s of one connection straight to the built-in
# echo upstream, then through the network filter (the kinds guest, logging every chunk it sees). The client sends
# MIB mebibytes in 16 KiB writes and reads the echo back at the same time. Prints numbers; asserts nothing.
#
#   bash serve/bench/tcp.sh                 # bench profile, 64 MiB
#   PROFILE=dev MIB=16 bash serve/bench/tcp.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PROFILE=${PROFILE:-bench}
MIB=${MIB:-64}
if [ "$MIB" -gt 1024 ]; then echo "MIB is at most 1024" >&2; exit 2; fi
command -v python3 >/dev/null || { echo "python3 is not installed" >&2; exit 2; }

cargo build --quiet --profile "$PROFILE" -p serve --bin proxy-wasm-serve
cargo xtask build -p kinds-guest >/dev/null
case "$PROFILE" in dev) dir=debug ;; bench) dir=release ;; *) dir=$PROFILE ;; esac
PROXY=target/$dir/proxy-wasm-serve
MODULE=target/wasm32-unknown-unknown/release/kinds_guest.wasm

out=$(mktemp)
"$PROXY" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --tcp-listen 127.0.0.1:0 --workers 1 \
  --tcp-filter "t=$MODULE" --config "t=tcp" >"$out" 2>/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 400); do grep -q '^serve: listening' "$out" && break; sleep 0.05; done
TCP=$(grep -o 'tcp on tcp://[0-9.:]*' "$out" | sed 's|.*tcp://||')
ECHO=$(grep -o 'TCP echo upstream on [0-9.:]*' "$out" | sed 's|.* on ||')

# One connection: a writer thread sends MIB MiB, the main thread reads it all back; prints MiB/s.
pump() {
  timeout 120 python3 - "$1" "$MIB" <<'EOF'
import socket, sys, threading, time
host, port = sys.argv[1].rsplit(":", 1)
total = int(sys.argv[2]) << 20
chunk = b"x" * (16 << 10)
s = socket.create_connection((host, int(port)), timeout=60)
def send():
    sent = 0
    while sent < total:
        s.sendall(chunk)
        sent += len(chunk)
    s.shutdown(socket.SHUT_WR)
start = time.monotonic()
threading.Thread(target=send, daemon=True).start()
got = 0
while True:
    data = s.recv(1 << 16)
    if not data:
        break
    got += len(data)
elapsed = time.monotonic() - start
print(f"{got / (1 << 20) / elapsed:8.1f} MiB/s  ({got >> 20} MiB back in {elapsed:.2f} s)")
EOF
}

echo "profile $PROFILE, $MIB MiB each way, one connection"
printf '%-34s' "straight to the echo upstream:"; pump "$ECHO"
printf '%-34s' "through serve's network filter:"; pump "$TCP"

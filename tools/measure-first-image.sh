#!/usr/bin/env bash
# Prints how long a fresh clone takes to its first image (issue: clone → first image), the way a new user meets it:
# a clone of this repository's HEAD, an empty CARGO_HOME (every crate downloaded) and an empty target directory,
# then `cargo xtask package` (xtask's build, every extension's release build, the pinned wasm-opt's npm install
# and run, the image layout). The toolchain is not counted: rustup installs it before (`rustup toolchain install`).
# Also prints `cargo build --timings` of xtask alone, so the crates that dominate show.
# Usage: [REV=commit] tools/measure-first-image.sh [KEEP_DIR]   (REV: what to clone, default HEAD; the clone and its
# CARGO_HOME are deleted unless KEEP_DIR is given)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
[ -n "${1:-}" ] || trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/clone"
git -C "$work/clone" checkout -q "${REV:-HEAD}"
export CARGO_HOME="$work/cargo-home"
unset CARGO_TARGET_DIR
mkdir -p "$CARGO_HOME"
cd "$work/clone"
rustup toolchain install >/dev/null 2>&1 # reads rust-toolchain.toml; already there, so not counted
start=$(date +%s.%N)
# Each line of the log stamped with the seconds since the start: xtask's first line says when xtask was built
# (cargo runs it quietly), each `Finished` when an extension's build was, each image line when it was written.
/usr/bin/time -f '%U %S' -o "$work/package.cpu" cargo xtask package 2>&1 | while IFS= read -r line; do
    printf '%6.1f %s\n' "$(echo "$(date +%s.%N) - $start" | bc)" "$line"
done >"$work/package.log" || { cat "$work/package.log"; exit 1; }
end=$(date +%s.%N)
printf 'clone → first image (cargo xtask package, empty CARGO_HOME): %.1f s\n' "$(echo "$end - $start" | bc)"
# Other builds on the machine stretch the wall time; the CPU time of the processes hardly changes with them.
read -r user sys <"$work/package.cpu"
printf '  CPU time: %.1f s (%.1f s user, %.1f s system); load average now: %s\n' "$(echo "$user + $sys" | bc)" \
    "$user" "$sys" "$(cut -d' ' -f1-3 /proc/loadavg)"
echo "where the time went (seconds since the start; the log is $work/package.log):"
head -1 "$work/package.log"
grep -E "^ *[0-9.]+ +(added |Finished|[a-z-]+: (dual|artifact) image)" "$work/package.log" || true
rm -rf target/debug
/usr/bin/time -f '%U %S' -o "$work/xtask.cpu" cargo build -q -p xtask --timings >/dev/null 2>&1
read -r user sys <"$work/xtask.cpu"
printf 'xtask alone, crates downloaded (cargo build --timings, slowest units; CPU time %.1f s):\n' "$(echo "$user + $sys" | bc)"
python3 - target/cargo-timings/cargo-timing.html <<'PY'
import json, re, sys
html = open(sys.argv[1]).read()
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);", html, re.S).group(1))
total = re.search(r"<td>Total time:</td><td>([^<]*)</td>", html)
print("  total:", total.group(1) if total else "?", f"({len(units)} units)")
for u in sorted(units, key=lambda u: -u["duration"])[:12]:
    print(f"  {u['duration']:6.1f} s  {u['name']} {u['version']}")
PY

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/callgrind.sh — instructions per hot-path operation, counted by
# callgrind: (Ir(N) - Ir(0)) / N of bench/ops_count for each mode.  Stable
# where timings on this VM drift; quote it beside the times.
#   bench/callgrind.sh [BUILD_DIR] [N]     (default build/release, 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
n=${2:-200000}
bin=$build/bench/ops_count
[[ -x $bin ]] || { echo "callgrind.sh: $bin missing (build the ops_count target)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "callgrind.sh: apt-get install valgrind" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ir() { # mode count -> total instructions of the run
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$bin" "$1" "$2" >/dev/null 2>&1
  awk '/^summary:/ { print $2 }' "$tmp/out"
}
printf '%-8s %s\n' mode "instructions/op"
for mode in pair pair-inline resolve section lookup; do
  a=$(ir "$mode" 0)
  b=$(ir "$mode" "$n")
  awk -v a="$a" -v b="$b" -v n="$n" -v m="$mode" 'BEGIN { printf "%-8s %.1f\n", m, (b - a) / n }'
done

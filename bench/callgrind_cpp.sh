#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/callgrind_cpp.sh — instructions per operation of the C++ layer
# beside the C calls it wraps, counted by callgrind as bench/callgrind.sh
# does: (Ir(N) - Ir(0)) / N of bench/ops_count_cpp for each mode.
#   bench/callgrind_cpp.sh [BUILD_DIR] [N]     (default build/release, 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
n=${2:-200000}
bin=$build/bench/ops_count_cpp
[[ -x $bin ]] || { echo "callgrind_cpp.sh: $bin missing (build the ops_count_cpp target)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "callgrind_cpp.sh: apt-get install valgrind" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ir() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$bin" "$1" "$2" >/dev/null 2>&1
  awk '/^summary:/ { print $2 }' "$tmp/out"
}
printf '%-15s %s\n' mode "instructions/op"
for mode in c_pair c_pair_zero cpp_pair cpp_pair_ctor c_section cpp_section c_alloc_node cpp_alloc_node; do
  a=$(ir "$mode" 0)
  b=$(ir "$mode" "$n")
  awk -v a="$a" -v b="$b" -v n="$n" -v m="$mode" 'BEGIN { printf "%-15s %.1f\n", m, (b - a) / n }'
done

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/callgrind_malloc.sh — instructions per malloc+free pair, counted by
# callgrind, of bench/malloc_ops under glibc and, by LD_PRELOAD, jemalloc,
# mimalloc, tcmalloc and libebra-malloc.so: (Ir(N) - Ir(0)) / N.
#   bench/callgrind_malloc.sh [BUILD_DIR] [N]    (default build/release, 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
n=${2:-200000}
bin=$build/bench/malloc_ops
[[ -x $bin ]] || { echo "callgrind_malloc.sh: $bin missing (build malloc_ops)" >&2; exit 2; }
lib=/usr/lib/x86_64-linux-gnu
declare -A pre=([glibc]="" [jemalloc]=$lib/libjemalloc.so.2 [mimalloc]=$lib/libmimalloc.so.2
               [tcmalloc]=$lib/libtcmalloc_minimal.so.4 [ebra-malloc]=$(readlink -f "$build/libebra-malloc.so"))
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ir() { # preload size count -> total instructions of the run
  LD_PRELOAD=$1 valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$bin" "$2" "$3" \
    >/dev/null 2>&1
  awk '/^summary:/ { print $2 }' "$tmp/out"
}
printf '%-12s %s\n' allocator "instructions per malloc+free pair (16, 64, 512, 4096 bytes)"
for p in glibc jemalloc mimalloc tcmalloc ebra-malloc; do
  [[ $p == glibc || -e ${pre[$p]} ]] || { echo "$p: not installed"; continue; }
  row=""
  for size in 16 64 512 4096; do
    a=$(ir "${pre[$p]}" "$size" 0)
    b=$(ir "${pre[$p]}" "$size" "$n")
    row+=$(awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf " %8.1f", (b - a) / n }')
  done
  printf '%-12s%s\n' "$p" "$row"
done

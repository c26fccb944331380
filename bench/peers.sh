#!/usr/bin/env bash
# peers.sh — run bench_pool under glibc and under LD_PRELOAD of jemalloc,
# mimalloc and tcmalloc-minimal, then print one markdown table of medians and
# ebra ÷ peer ratios (bench/peers_table.py).
#
# Usage: bench/peers.sh [--quick] [--out DIR] [BENCH_POOL_BINARY]
#   BENCH_POOL_BINARY  default build-bench/bench/bench_pool (relative to the
#                      current directory); this script builds nothing.
#   --out DIR          where the JSON results go (default: DIR of the binary
#                      + /peers-results); existing files there are replaced.
#   --quick            CI smoke: 2 repetitions, short min time, 1 overhead run.
#
# Each allocator gets two kinds of process:
#   - one run of every timing case (--benchmark_filter=-BM_overhead) with
#     --benchmark_repetitions=5 --benchmark_report_aggregates_only=true;
#   - fresh processes that each run only BM_overhead/ebra or only
#     BM_overhead/malloc (1M live 64-byte objects), because an RSS delta is
#     only meaningful in a process whose allocator has not already got the
#     pages from an earlier case.
# The ebra cases run in every process too (LD_PRELOAD only swaps malloc); the
# table's ebra column is the median of ebra's medians over all runs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python=/usr/bin/python3 # Debian's python: stdlib only, whatever env python3 is

quick=0
out=""
bin=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "peers.sh: unknown option $1" >&2; exit 2 ;;
    *) bin="$1"; shift ;;
  esac
done
bin="${bin:-build-bench/bench/bench_pool}"
if [[ ! -x "$bin" ]]; then
  echo "peers.sh: $bin is not an executable; build it first:" >&2
  echo "  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench --target bench_pool" >&2
  exit 1
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
out="${out:-$(dirname "$bin")/peers-results}"
mkdir -p "$out"
rm -f "$out"/*.json "$out"/notes.txt

if [[ $quick -eq 1 ]]; then
  reps=2; min_time=0.05; overhead_runs=1
else
  reps=5; min_time=0.5; overhead_runs=3
fi

libdir=/usr/lib/x86_64-linux-gnu
# First existing path wins; `dpkg -L` finds the file if Debian moves it.
find_lib() { # find_lib PACKAGE NAME...
  local pkg="$1"; shift
  local n
  for n in "$@"; do
    if [[ -e "$libdir/$n" ]]; then echo "$libdir/$n"; return 0; fi
  done
  if command -v dpkg >/dev/null 2>&1; then
    for n in "$@"; do
      dpkg -L "$pkg" 2>/dev/null | grep -m1 "/$n\$" && return 0
    done
  fi
  return 0
}

declare -A preload=(
  [glibc]=""
  [jemalloc]="$(find_lib libjemalloc2 libjemalloc.so.2)"
  [mimalloc]="$(find_lib libmimalloc2.0 libmimalloc.so.2.0 libmimalloc.so.2)"
  [tcmalloc]="$(find_lib libtcmalloc-minimal4 libtcmalloc_minimal.so.4)"
)
declare -A package=(
  [jemalloc]=libjemalloc2 [mimalloc]=libmimalloc2.0 [tcmalloc]=libtcmalloc-minimal4
)
peers=(glibc jemalloc mimalloc tcmalloc)

{
  echo "binary: $bin"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "repetitions: $reps, min_time: $min_time s, overhead processes: $overhead_runs"
} >"$out/notes.txt"

run() { # run NAME OUTFILE ARGS... — the binary under NAME's malloc
  local name="$1" file="$2"; shift 2
  if [[ -n "${preload[$name]}" ]]; then
    LD_PRELOAD="${preload[$name]}" "$bin" "$@" --benchmark_format=json \
      --benchmark_out_format=json --benchmark_out="$file" >/dev/null
  else
    "$bin" "$@" --benchmark_format=json \
      --benchmark_out_format=json --benchmark_out="$file" >/dev/null
  fi
}

for name in "${peers[@]}"; do
  if [[ $name != glibc && -z "${preload[$name]}" ]]; then
    echo "note: $name skipped: its library is not installed (apt-get install ${package[$name]})" |
      tee -a "$out/notes.txt" >&2
    continue
  fi
  echo "== $name${preload[$name]:+ (LD_PRELOAD=${preload[$name]})}" >&2
  run "$name" "$out/$name.json" \
    --benchmark_filter=-BM_overhead \
    --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
    --benchmark_min_time="$min_time" 2> >(grep -v 'Library was built as DEBUG' >&2)
  for ((k = 1; k <= overhead_runs; k++)); do
    for a in ebra malloc; do # one fresh process each: no pages left by the other
      run "$name" "$out/$name.overhead-$a$k.json" \
        --benchmark_filter="^BM_overhead/$a/" 2> >(grep -v 'Library was built as DEBUG' >&2)
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/notes.txt"

"$python" "$here/peers_table.py" "$out"

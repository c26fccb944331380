#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/callgrind.sh — instructions per hot-path operation, counted by
# callgrind: (Ir(N) - Ir(0)) / N of bench/ops_count for each mode.  Stable
# where timings on this VM drift; quote it beside the times.
#
#   bench/callgrind.sh [--peers] [--modes LIST] [--out FILE] [BUILD_DIR] [N]
#
#   BUILD_DIR    tree with bench/ops_count (default build/release)
#   N            operations per counted run (default 200000; a multiple of
#                1000, which the live modes need)
#   --modes L    comma-separated ops_count modes (default: every mode that
#                `ops_count --list` shows)
#   --peers      also run the malloc_* modes under jemalloc, mimalloc and
#                tcmalloc through LD_PRELOAD (the same Debian libraries as
#                bench/run.sh; a peer that is not installed is skipped)
#   --out FILE   also write the figures as tab-separated lines
#                `mode  malloc  ir_per_op  what` (bench/report.py reads
#                callgrind.tsv from a results directory)
#
# Prints a markdown table: mode, the malloc the process ran under (glibc
# = no preload; it matters only for the malloc_* modes), instructions per
# operation, what the mode runs.
set -euo pipefail
cd "$(dirname "$0")/.."
peers=0 modes="" out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --peers) peers=1; shift ;;
    --modes) modes="${2:?--modes needs a list}"; shift 2 ;;
    --modes=*) modes="${1#--modes=}"; shift ;;
    --out) out="${2:?--out needs a file}"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "callgrind.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
build=${1:-build/release}
n=${2:-200000}
bin=$build/bench/ops_count
[[ -x $bin ]] || { echo "callgrind.sh: $bin missing (build the ops_count target)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "callgrind.sh: apt-get install valgrind" >&2; exit 2; }
((n > 0 && n % 1000 == 0)) || { echo "callgrind.sh: N must be a positive multiple of 1000" >&2; exit 2; }

declare -A what=()
all=()
while IFS=$'\t' read -r m w; do
  what[$m]=$w
  all+=("$m")
done < <("$bin" --list)
if [[ -n $modes ]]; then IFS=, read -r -a sel <<<"$modes"; else sel=("${all[@]}"); fi

libdir=/usr/lib/x86_64-linux-gnu
declare -A preload=([glibc]="")
order=(glibc)
if ((peers)); then # the file names bench/run.sh looks for first
  for p in jemalloc:libjemalloc.so.2 mimalloc:libmimalloc.so.2.0 \
           tcmalloc:libtcmalloc_minimal.so.4; do
    if [[ -e $libdir/${p#*:} ]]; then
      preload[${p%%:*}]=$libdir/${p#*:}
      order+=("${p%%:*}")
    else
      echo "callgrind.sh: ${p%%:*} skipped: $libdir/${p#*:} missing" >&2
    fi
  done
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ir() { # peer mode count -> total instructions of the run
  local rc=0
  rm -f "$tmp/out"
  LD_PRELOAD="${preload[$1]}" valgrind --tool=callgrind --callgrind-out-file="$tmp/out" \
    "$bin" "$2" "$3" >/dev/null 2>"$tmp/err" || rc=$?
  if ((rc != 0)) || [[ ! -s $tmp/out ]]; then
    echo "callgrind.sh: ops_count $2 $3 under $1 failed (exit $rc):" >&2
    grep -v '^==' "$tmp/err" >&2 || true
    exit 1
  fi
  awk '/^summary:/ { print $2 }' "$tmp/out"
}

[[ -z $out ]] || : >"$out"
echo "| mode | malloc | instructions/op | what |"
echo "|---|---|---:|---|"
for m in "${sel[@]}"; do
  [[ -n ${what[$m]+x} ]] || { echo "callgrind.sh: no mode $m (ops_count --list)" >&2; exit 2; }
  run_peers=(glibc)
  [[ $m != malloc_* ]] || run_peers=("${order[@]}")
  for p in "${run_peers[@]}"; do
    a=$(ir "$p" "$m" 0) # a failed run ends the script here (set -e)
    b=$(ir "$p" "$m" "$n")
    v=$(awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }')
    echo "| $m | $p | $v | ${what[$m]} |"
    [[ -z $out ]] || printf '%s\t%s\t%s\t%s\n' "$m" "$p" "$v" "${what[$m]}" >>"$out"
  done
done
echo
echo "callgrind, (Ir(N) - Ir(0)) / N with N = $n, $bin ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"

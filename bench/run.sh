#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh — one command for every comparison benchmark: build (Release), run
# every Google Benchmark harness with repetitions, write JSON, print the
# markdown tables of ebra against its peers, draw the plots.
#
# Usage:
#   bench/run.sh [--quick] [--out DIR] [--build-dir DIR] [--no-build]
#                [--img DIR] [--only HARNESS[,HARNESS...]] [--no-urcu-inline]
#                [--callgrind | --no-callgrind]
#   bench/run.sh report DIR          tables again from saved results
#   bench/run.sh plot DIR [IMG_DIR]  plots again from saved results
#   bench/run.sh compare A.json B.json [compare.py options]
#       Google Benchmark's own comparer (/usr/share/benchmark/compare.py,
#       Debian package libbenchmark-tools, needs python3-scipy): per-benchmark
#       time deltas and, given repetitions, the Mann-Whitney U test.
#
#   --quick        smoke run (CI): 2 repetitions, 0.01 s minimum time, one
#                  process per isolated case, shorter timed workloads
#                  (EBRA_BENCH_QUICK=1).  On the 2-CPU dev VM: 15-35 s with
#                  the binaries built, about 90 s building from scratch.
#   --out DIR      results (default BUILD_DIR/bench-results): HARNESS.*.json,
#                  series/HARNESS/*.csv (time series), notes.txt, tables.md;
#                  the selected harnesses' old results there are replaced
#   --build-dir D  build tree (default build/bench, or build/bench-noinline
#                  with --no-urcu-inline), configured Release
#   --no-build     use the binaries already in the build tree
#   --img DIR      where the PNG plots go (default OUT/img)
#   --only LIST    run only these harnesses (names from HARNESSES below)
#   --no-urcu-inline  build libebra with EBRA_URCU_INLINE=OFF (liburcu's
#                  read side called in liburcu's shared libraries instead of
#                  compiled into libebra, the default; build/bench-noinline)
#   --callgrind    with bench_pool selected, also count instructions per
#                  operation (bench/callgrind.sh --peers, 20-40 s on the
#                  2-CPU VM under load) into OUT/callgrind.tsv and
#                  OUT/callgrind.md; the
#                  default of a full run when valgrind is installed, off in
#                  --quick.  --no-callgrind: never.
#
# Full run: 9 repetitions (what compare.py's U test asks for) of at least
# 0.1 s each (bench_malloc: 3 interleaved rounds of 3, see ROUNDS below),
# isolated cases in 3 fresh processes per allocator; about 6
# minutes of runs on the 2-CPU dev VM before bench_pool gained its floor,
# inline, strict, FIFO and larson-xfree:0 cases (not timed since), plus the
# build, plus 20-40 s of callgrind.
#
# Exit status: non-zero if a harness did not run, produced no JSON or
# reported an error for a case.  Timing never decides the exit status.
#
# Peers: glibc (no preload) and, through LD_PRELOAD on the same binary,
# jemalloc, mimalloc and tcmalloc-minimal from Debian (scripts/deps.sh
# --bench installs them), and ebra's own libebra-malloc.so ("ebra-malloc",
# built with the harnesses).  A missing peer is skipped and noted.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
python=/usr/bin/python3 # Debian's python: its packages (scipy, matplotlib)

# ---- the harnesses ------------------------------------------------------------
# One line per Google Benchmark executable (a target in bench/CMakeLists.txt):
#   NAME  PEERS  ISOLATED
#   PEERS     "peers": cases named BM_<case>/malloc/... also run under every
#             allocator peer (LD_PRELOAD); BM_<case>/ebra/... and all other
#             cases run once, without preload.  "-": everything runs once.
#   ISOLATED  comma-separated case names (BM_<case>) whose every variant
#             needs a fresh process (RSS measurements), or "-".
#   ROUNDS    (optional, default 1) a harness without isolated cases runs
#             its processes this many times, the peers interleaved round
#             by round, each process with a share of the repetitions; the
#             tables take the median over the processes.  For cases whose
#             speed swings between stretches of minutes on this VM (every
#             allocator's 2-thread malloc cases), so that each peer's
#             figure spans the same stretches.
# A new harness needs one line here; bench/report.py prints a generic
# median table for cases it has no dedicated table for.
HARNESSES=(
  "bench_pool peers BM_overhead"
  "bench_weak - -"
  "bench_rss  peers BM_rss_phases"
  "bench_cache - -"
  "bench_phases - -"
  "bench_malloc peers - 3"
)

usage() { sed -n '2,/^set -euo/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; }

# ---- subcommands ---------------------------------------------------------------
case "${1:-}" in
  compare)
    shift
    if [[ $# -lt 2 ]]; then
      echo "usage: bench/run.sh compare A.json B.json [compare.py options]" >&2
      exit 2
    fi
    cmp=/usr/share/benchmark/compare.py
    if [[ ! -f $cmp ]]; then
      echo "run.sh: $cmp missing: apt-get install libbenchmark-tools" >&2
      exit 1
    fi
    if ! "$python" -c 'import scipy' 2>/dev/null; then
      echo "run.sh: compare.py needs scipy: apt-get install python3-scipy" >&2
      exit 1
    fi
    opts=() files=()
    while [[ $# -gt 0 ]]; do # compare.py's options may come before or after
      case "$1" in
        -d|--dump_to_json|--alpha) opts+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
        -*) opts+=("$1"); shift ;;
        *) files+=("$1"); shift ;;
      esac
    done
    if [[ ${#files[@]} -ne 2 ]]; then
      echo "usage: bench/run.sh compare A.json B.json [compare.py options]" >&2
      exit 2
    fi
    exec "$python" "$cmp" "${opts[@]}" benchmarks "${files[0]}" "${files[1]}"
    ;;
  report)
    exec "$python" "$here/report.py" "${2:?usage: bench/run.sh report DIR}"
    ;;
  plot)
    exec "$python" "$here/plot.py" "${2:?usage: bench/run.sh plot DIR [IMG_DIR]}" \
      "${3:-$2/img}"
    ;;
esac

quick=0
out=""
build=""
do_build=1
urcu_inline=ON
img=""
only=""
callgrind=auto
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    --build-dir) build="${2:?--build-dir needs a directory}"; shift 2 ;;
    --build-dir=*) build="${1#--build-dir=}"; shift ;;
    --no-build) do_build=0; shift ;;
    --img) img="${2:?--img needs a directory}"; shift 2 ;;
    --img=*) img="${1#--img=}"; shift ;;
    --only) only="${2:?--only needs harness names}"; shift 2 ;;
    --only=*) only="${1#--only=}"; shift ;;
    --no-urcu-inline) urcu_inline=OFF; shift ;;
    --urcu-inline) urcu_inline=ON; shift ;; # the default; kept for old commands
    --callgrind) callgrind=on; shift ;;
    --no-callgrind) callgrind=off; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

cd "$root"
if [[ -z $build ]]; then
  if [[ $urcu_inline == ON ]]; then build="build/bench"; else build="build/bench-noinline"; fi
fi
selected=()
for h in "${HARNESSES[@]}"; do
  read -r name _ <<<"$h"
  if [[ -z $only || ",$only," == *",$name,"* ]]; then selected+=("$h"); fi
done
if ((${#selected[@]} == 0)); then
  echo "run.sh: --only $only matches no harness" >&2
  exit 2
fi

# Instruction counts go with the pool harness (ops_count, bench/callgrind.sh).
count_ir=0
if [[ " ${selected[*]} " == *" bench_pool "* ]]; then
  case "$callgrind" in
    on) count_ir=1 ;;
    auto) ((quick)) || count_ir=1 ;;
  esac
fi
if ((count_ir)) && ! command -v valgrind >/dev/null; then
  [[ $callgrind == on ]] && { echo "run.sh: --callgrind needs valgrind (apt-get install valgrind)" >&2; exit 2; }
  count_ir=0
  ir_note="note: instruction counts skipped: valgrind is not installed (apt-get install valgrind)"
fi

start=$(date +%s)
if ((do_build)); then
  targets=()
  for h in "${selected[@]}"; do read -r name _ <<<"$h"; targets+=("$name"); done
  targets+=(ebra_malloc_preload) # libebra-malloc.so, the "ebra-malloc" peer
  ((count_ir)) && targets+=(ops_count)
  echo "== build (Release, EBRA_URCU_INLINE=$urcu_inline) in $build: ${targets[*]}" >&2
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DEBRA_URCU_INLINE="$urcu_inline" >/dev/null
  cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >/dev/null
fi
bindir="$build/bench"
out="${out:-$build/bench-results}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
img="${img:-$out/img}"
# Replace the selected harnesses' results only (--only keeps the others).
for h in "${selected[@]}"; do
  read -r name _ <<<"$h"
  rm -rf "$out/$name".*.json "$out/series/$name"
  [[ $name != bench_pool ]] || rm -f "$out/callgrind.tsv" "$out/callgrind.md"
done
rm -f "$out"/notes.txt "$out"/tables.md

if ((quick)); then
  reps=2; min_time=0.01; isolated_runs=1
  export EBRA_BENCH_QUICK=1
else
  reps=9; min_time=0.1; isolated_runs=3
  unset EBRA_BENCH_QUICK
fi

# ---- peers -----------------------------------------------------------------------
libdir=/usr/lib/x86_64-linux-gnu
find_lib() { # find_lib PACKAGE NAME... — first existing path, else dpkg -L
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
  [ebra-malloc]="$(ls "$root/$build"/libebra-malloc.so 2>/dev/null || true)"
)
declare -A package=(
  [jemalloc]=libjemalloc2 [mimalloc]=libmimalloc2.0 [tcmalloc]=libtcmalloc-minimal4
  [ebra-malloc]="this tree's ebra_malloc_preload target"
)
peers=(glibc)
skipped=()
for p in jemalloc mimalloc tcmalloc ebra-malloc; do
  if [[ -n "${preload[$p]}" ]]; then
    peers+=("$p")
  else
    skipped+=("note: $p skipped: its library is not installed (apt-get install ${package[$p]})")
  fi
done

{
  echo "command: bench/run.sh$( ((quick)) && echo ' --quick')$([[ $urcu_inline == OFF ]] && echo ' --no-urcu-inline')"
  echo "build: $build (EBRA_URCU_INLINE=$urcu_inline)"
  echo "git: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (modified)')"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "kernel: $(uname -r)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "repetitions: $reps, min_time: $min_time s, isolated processes: $isolated_runs"
  for p in "${peers[@]}"; do echo "peer: $p ${preload[$p]:-(no preload)}"; done
  for s in "${skipped[@]}"; do echo "$s"; done
  [[ -z ${ir_note:-} ]] || echo "$ir_note"
} >"$out/notes.txt"
for s in "${skipped[@]}"; do echo "$s" >&2; done

# run PEER OUTFILE BINARY ARGS... — one process under PEER's malloc.  The
# Debian build of Google Benchmark warns that it is a DEBUG build on every
# run; that line is dropped (docs/BENCHMARKS.md says what it costs).
failed=()
run() {
  local peer="$1" file="$2" bin="$3"; shift 3
  local rc=0
  EBRA_BENCH_LABEL="$peer" LD_PRELOAD="${preload[$peer]}" "$bin" "$@" \
    --benchmark_out_format=json --benchmark_out="$file" \
    >/dev/null 2> >(grep -v 'Library was built as DEBUG' >&2) || rc=$?
  if ((rc != 0)); then
    echo "run.sh: $(basename "$bin") under $peer exited with $rc" >&2
    failed+=("$(basename "$file")")
  fi
}
timed=(--benchmark_repetitions="$reps" --benchmark_display_aggregates_only=true
       --benchmark_min_time="$min_time")

for h in "${selected[@]}"; do
  read -r name mode isolated rounds <<<"$h"
  rounds=${rounds:-1}
  bin="$bindir/$name"
  if [[ ! -x $bin ]]; then
    echo "run.sh: $bin missing (build it, or drop --no-build)" >&2
    failed+=("$name")
    continue
  fi
  iso_re=""
  if [[ $isolated != - ]]; then iso_re="^(${isolated//,/|})/"; rounds=1; fi
  echo "== $name" >&2
  # Time series (CSV) a harness writes go to series/NAME/ (bench/plot.py).
  export EBRA_BENCH_SERIES_DIR="$out/series/$name"
  mkdir -p "$EBRA_BENCH_SERIES_DIR"
  # Several rounds: each process gets its share of the repetitions, and
  # its file a round number (NAME.rounds.PEER.K.json, which report.py
  # reads as one more process of PEER).
  per_round=("${timed[@]}")
  if ((rounds > 1)); then
    per_round=(--benchmark_repetitions=$(((reps + rounds - 1) / rounds))
               --benchmark_display_aggregates_only=true --benchmark_min_time="$min_time")
  fi
  fams=""
  if [[ $mode == peers ]]; then
    fams=$("$bin" --benchmark_list_tests 2>/dev/null | grep '/malloc/' | cut -d/ -f1 |
             grep -vxE -e "${isolated//,/|}" | sort -u | paste -sd'|' || true)
  fi
  # Everything but the isolated cases, without preload; then the malloc
  # twins of the non-isolated cases under every other peer.
  rest=(--benchmark_filter="${iso_re:+-$iso_re}")
  [[ -n $iso_re ]] || rest=()
  for ((k = 1; k <= rounds; k++)); do
    file() { if ((rounds > 1)); then echo "$out/$name.rounds.$1.$k.json"; else echo "$out/$name.$1.json"; fi; }
    ((rounds == 1)) || echo "   $name round $k of $rounds" >&2
    if [[ -n $("$bin" --benchmark_list_tests "${rest[@]}" 2>/dev/null) ]]; then
      run glibc "$(file glibc)" "$bin" "${rest[@]}" "${per_round[@]}"
    fi
    for p in "${peers[@]:1}"; do
      if [[ -n $fams ]]; then
        echo "   $name malloc cases under $p" >&2
        run "$p" "$(file "$p")" "$bin" --benchmark_filter="^($fams)/malloc/" "${per_round[@]}"
      fi
    done
  done
  if ((rounds > 1)); then
    echo "rounds: $name, $rounds interleaved, ${per_round[0]#--benchmark_}" >>"$out/notes.txt"
  fi
  # Isolated cases: each variant alone in a fresh process, several times.
  if [[ $isolated != - ]]; then
    IFS=, read -r -a cases <<<"$isolated"
    for c in "${cases[@]}"; do
      for ((k = 1; k <= isolated_runs; k++)); do
        run glibc "$out/$name.$c-ebra.glibc.$k.json" "$bin" --benchmark_filter="^$c/ebra/"
        if [[ $mode == peers ]]; then
          for p in "${peers[@]}"; do
            run "$p" "$out/$name.$c-malloc.$p.$k.json" "$bin" --benchmark_filter="^$c/malloc/"
          done
        fi
      done
    done
  fi
done
if ((count_ir)); then
  echo "== instructions per operation (bench/callgrind.sh --peers)" >&2
  if bash "$here/callgrind.sh" --peers --out "$out/callgrind.tsv" "$build" >"$out/callgrind.md"; then
    echo "instruction counts: callgrind.tsv, callgrind.md" >>"$out/notes.txt"
  else
    failed+=("callgrind.sh")
  fi
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/notes.txt"
echo "wall time: $(($(date +%s) - start)) s" >>"$out/notes.txt"

# ---- tables, plots, checks ----------------------------------------------------------
"$python" "$here/report.py" "$out" | tee "$out/tables.md"
if "$python" -c 'import matplotlib' 2>/dev/null; then
  "$python" "$here/plot.py" "$out" "$img" || failed+=("plot.py")
else
  echo "note: plots skipped: /usr/bin/python3 has no matplotlib (apt-get install python3-matplotlib)" >&2
fi
names=()
for h in "${selected[@]}"; do read -r name _ <<<"$h"; names+=("$name"); done
"$python" "$here/report.py" --check "$out" "${names[@]}" || failed+=("check")
echo "results: $out ($(grep -c . <<<"$(ls "$out"/*.json)") JSON files), wall time $(($(date +%s) - start)) s" >&2
if ((${#failed[@]})); then
  echo "run.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi

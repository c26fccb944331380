#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install dependencies, then build and run ctest in every checked
# configuration: release (all labels but preload-suite, which re-runs the
# suites on libebra-malloc.so: run it by hand), debug-checks, ThreadSanitizer and
# ASan+UBSan (unit + stress + example: the examples, kvserver with a short
# benchmark, run under both; TSan and ASan also run the deliberately broken
# variants, which must be caught), and TSan with liburcu's read side called
# in its shared libraries (EBRA_URCU_INLINE=OFF; the other configs build the
# default, inlined into libebra) over the reclamation tests.  The release
# configuration also smoke-runs the benchmarks (bench/run.sh --quick, under
# every allocator peer): it checks that every harness ran and wrote its JSON,
# tables and plots, never how fast anything was.
#   scripts/test.sh [config...]   configs: release debug tsan asan tsan-noinline
#                                 (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."

configs=("$@")
((${#configs[@]})) || configs=(release debug tsan asan tsan-noinline)
if [[ " ${configs[*]} " == *" release "* ]]; then
  bash scripts/deps.sh --bench # peers, scipy and matplotlib for the smoke
else
  bash scripts/deps.sh
fi

jobs=$(nproc)
passed=0
failed=0
failed_configs=()

for cfg in "${configs[@]}"; do
  case "$cfg" in
    release) flags=(-DCMAKE_BUILD_TYPE=Release); labels="unit|stress|install|example|malloc" ;;
    debug)   flags=(-DCMAKE_BUILD_TYPE=Debug -DEBRA_DEBUG_CHECKS=ON -DEBRA_BUILD_BENCH=OFF); labels="unit|stress" ;;
    tsan)    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DEBRA_TSAN=ON -DEBRA_BUILD_BENCH=OFF); labels="unit|stress|example" ;;
    asan)    flags=(-DCMAKE_BUILD_TYPE=Debug -DEBRA_ASAN=ON -DEBRA_BUILD_BENCH=OFF); labels="unit|stress|example" ;;
    tsan-noinline) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DEBRA_TSAN=ON -DEBRA_URCU_INLINE=OFF -DEBRA_BUILD_BENCH=OFF); labels="reclaim" ;;
    *) echo "unknown config: $cfg" >&2; exit 2 ;;
  esac
  echo "=== $cfg: configure and build"
  cmake -S . -B "build/$cfg" "${flags[@]}" >/dev/null
  cmake --build "build/$cfg" -j"$jobs"
  echo "=== $cfg: ctest -L '$labels'"
  log="build/$cfg/ctest.log"
  set +e
  ctest --test-dir "build/$cfg" -L "$labels" --output-on-failure -j"$jobs" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1 || true)
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  nfail=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  if [[ -z "$line" || "$total" == "0" ]]; then
    echo "=== $cfg: no tests ran" >&2
    failed=$((failed + 1)); failed_configs+=("$cfg"); continue
  fi
  passed=$((passed + total - nfail))
  failed=$((failed + nfail))
  if ((rc != 0)); then failed_configs+=("$cfg"); fi

  if [[ $cfg == release ]]; then
    # Benchmark smoke: exit status and outputs only, no timing.
    echo "=== $cfg: bench smoke (bench/run.sh --quick)"
    smoke="build/$cfg/bench-smoke"
    # timeout: a hung harness must fail the smoke, not stall CI.
    if timeout 600 bash bench/run.sh --quick --no-build --build-dir "build/$cfg" --out "$smoke" \
         >"build/$cfg/bench-smoke.log" 2>&1 &&
       grep -q '^### Allocators' "$smoke/tables.md" &&
       grep -q '^### Weak references' "$smoke/tables.md" &&
       [[ -s $smoke/img/alloc_ns_by_size.png && -s $smoke/img/weak_resolve_threads.png &&
          -s $smoke/img/rss_over_time.png ]]; then
      tail -n 2 "build/$cfg/bench-smoke.log"
      passed=$((passed + 1))
    else
      tail -n 30 "build/$cfg/bench-smoke.log"
      echo "=== $cfg: bench smoke FAILED (log: build/$cfg/bench-smoke.log)" >&2
      failed=$((failed + 1)); failed_configs+=("$cfg-bench")
    fi
  fi
done

echo
if ((${#failed_configs[@]})); then
  echo "failing configurations: ${failed_configs[*]}"
fi
echo "total: $passed passed, $failed failed"
((failed == 0 && ${#failed_configs[@]} == 0))

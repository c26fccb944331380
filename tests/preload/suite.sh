#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/preload/suite.sh BUILD_DIR LIB — the unit and stress suites again,
# every test process running on LD_PRELOAD=LIB (libebra-malloc.so), so the
# whole library (pools, domains, weak handles, caches, the engine, fork,
# thread churn) runs on top of ebra's own malloc.  ctest label
# `preload-suite` (about as long as the two suites).
#
# Left out, because they check that malloc is NOT ebra's or that exactly
# one copy of ebra is loaded, which preloading makes false by design (the
# program links libebra.so and the preloaded copy serves every ebra_* call,
# while libebra.so's own constructors still run and read the environment):
#   test_stats        ebra_pool_of(malloc(...)) == NULL
#   test_wrong*       free of malloc'd memory to a pool is -EFAULT
#   test_reclaim, test_weak (and their _inline builds)   retire / weak
#                     handle of malloc'd memory is -EFAULT
#   test_monitor      a snapshot holds exactly the test's pools
#   test_options      the environment's bad values are reported once
#                     (both copies report them)
#   stress_limits     committed bytes under a soft limit with nothing live
#                     (the malloc classes hold slabs)
# and the malloc, preload, layers and install tests themselves.
set -euo pipefail
build=$1
lib=$(readlink -f "$2")
exclude='^(test_stats|test_wrong.*|test_reclaim(_inline)?|test_weak(_inline)?|test_monitor|test_options|stress_limits|layers|install_.*|preload_.*|test_malloc.*|stress_malloc.*)$'
LD_PRELOAD=$lib ctest --test-dir "$build" -L 'unit|stress' -E "$exclude" -j2 --timeout 300 \
  --output-on-failure

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install dependencies, build Release, run the multithreaded demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# A tree of its own: scripts/test.sh configures build/release with the
# benchmarks on, and neither command may change the other's tree.
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DEBRA_BUILD_BENCH=OFF -DEBRA_BUILD_TESTS=OFF >/dev/null
cmake --build build/demo -j"$(nproc)" --target ebra_demo
./build/demo/examples/ebra_demo

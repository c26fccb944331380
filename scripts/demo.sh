#!/usr/bin/env bash
# Install dependencies, build Release, run the multithreaded demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DEBRA_BUILD_BENCH=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target ebra_demo
./build/release/examples/ebra_demo

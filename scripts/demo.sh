#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install dependencies, build Release, run the multithreaded demo, then the
# example key-value server under a short redis-benchmark: its INFO memory
# section and a few lines of its /metrics page, then a SIGTERM shutdown.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# A tree of its own: scripts/test.sh configures build/release with the
# benchmarks on, and neither command may change the other's tree.
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DEBRA_BUILD_BENCH=OFF -DEBRA_BUILD_TESTS=OFF >/dev/null
cmake --build build/demo -j"$(nproc)" --target ebra_demo kvserver
./build/demo/examples/ebra_demo

echo
echo "=== examples/kvserver under redis-benchmark (50 clients, pipelining 16)"
tmp=$(mktemp -d)
./build/demo/examples/kvserver/kvserver --port 0 --metrics-port 0 --threads 2 \
  --port-file "$tmp/port" >/dev/null 2>"$tmp/err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [[ -s $tmp/port ]] && break; sleep 0.05; done
read -r port metrics <"$tmp/port"
redis-benchmark -p "$port" -t set,get,incr,mset -n 200000 -c 50 -P 16 -r 100000 -q 2>&1 |
  tr '\r' '\n' | grep 'per second'
redis-cli -p "$port" info memory | grep -E '^(used_memory|used_memory_rss|ebra_[a-z_]+):'
echo "--- http://127.0.0.1:$metrics/metrics (excerpt)"
curl -s "http://127.0.0.1:$metrics/metrics" |
  grep -E '^(kvserver_commands_total\{cmd="(get|set)"\}|kvserver_keys |ebra_pool_live_objects\{pool="kv-value|ebra_domain_grace_periods_total)' |
  awk '$2 > 0'
kill -TERM "$pid"
wait "$pid"
tail -n 1 "$tmp/err"

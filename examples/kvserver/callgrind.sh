#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# callgrind.sh — user-space instructions per request of kvserver (one
# worker) and redis-server (io-threads 1), each under callgrind, driven by
# the same redis-benchmark: 20000 SETs to warm up, counters zeroed, then
# 100000 GETs or SETs (-c 50, -d 100, -r 1000) at pipelining 1 and 16,
# counters dumped.  Counts every thread of the server (ebra's engine and
# reclaimer, redis's background threads) but no kernel work: the loopback
# system calls, most of either server's CPU, are not in these numbers.
#   bash examples/kvserver/callgrind.sh [build-dir]     (default build/release)
#   KV_ONLY=1 ...: kvserver alone (to compare two builds of it)
set -euo pipefail
cd "$(dirname "$0")/../.."
kv=${1:-build/release}/examples/kvserver/kvserver
n=100000
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

measure() { # name port pipe test server-command...
  local name=$1 port=$2 pipe=$3 t=$4
  shift 4
  valgrind --tool=callgrind --callgrind-out-file="$out/$name-$t-$pipe.out" "$@" \
    >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 300); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-benchmark -p "$port" -t set -n 20000 -c 50 -P 16 -d 100 -r 1000 -q >/dev/null 2>&1
  callgrind_control -z "$pid" >/dev/null 2>&1
  redis-benchmark -p "$port" -t "$t" -n "$n" -c 50 -P "$pipe" -d 100 -r 1000 -q >/dev/null 2>&1
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill -TERM "$pid"
  wait "$pid" || true
  local ir
  ir=$(callgrind_annotate "$out/$name-$t-$pipe.out.1" 2>/dev/null |
       awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  printf '| %s | %s -P %s | %d |\n' "$name" "${t^^}" "$pipe" $((ir / n))
}

echo "| server | test | instructions per request |"
echo "|---|---|---:|"
for pipe in 1 16; do
  for t in get set; do
    measure kvserver 47101 "$pipe" "$t" "$kv" --port 47101 --threads 1 --metrics-port -1
    [[ -n ${KV_ONLY:-} ]] || measure redis-server 47102 "$pipe" "$t" redis-server --port 47102 --bind 127.0.0.1 \
      --save "" --appendonly no
  done
done

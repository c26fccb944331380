#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian 12 packages ebra needs, if any is missing.  Run as root.
#   scripts/deps.sh          build + test dependencies
#   scripts/deps.sh --bench  also what bench/run.sh needs: the allocator
#                            peers, python3-scipy (Google Benchmark's
#                            compare.py) and python3-matplotlib (plots)
set -euo pipefail

# prometheus: promtool, and python3-prometheus-client: the exposition
# parser, which check_monitor.py (ctest monitor_formats) runs on the
# Prometheus output; doxygen: the API reference (target docs, ctest docs).
# The programs the preload tests run on libebra-malloc.so (tests/preload/):
# sqlite3, git, xz-utils, perl, redis, memcached and memcslap.
# libmicrohttpd-dev, redis-tools, curl: examples/kvserver (its /metrics page,
# and the clients its test drives it with)
pkgs=(build-essential cmake pkg-config liburcu-dev libck-dev libbenchmark-dev
      libbenchmark-tools python3 prometheus python3-prometheus-client doxygen
      sqlite3 git xz-utils perl redis-server redis-tools memcached libmemcached-tools
      libmicrohttpd-dev curl)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 python3-scipy python3-matplotlib)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: all present"
fi

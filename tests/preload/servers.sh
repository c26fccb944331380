#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/preload/servers.sh LIB redis|memcached [N] — a server on its default
# allocator and on LD_PRELOAD=LIB (libebra-malloc.so), driven the same way:
#   redis:     redis-benchmark SET/GET (-n N), then redis-cli writes 2000
#              keys of known values, reads them back, deletes half, and
#              counts what is left; used_memory_rss from INFO;
#   memcached: memcslap (--execute-number N, 4 threads: N keys set by each)
#              then a set/get round trip through memcached's text protocol.
# Checks: the answers are the expected ones on both allocators, the
# preloaded server printed no ebra report, and it ran on ebra (its stats
# at exit list size classes).  Prints throughput and RSS of both runs:
# numbers, not verdicts (the machine is shared).
# Exit 77 (ctest SKIP_RETURN_CODE) if the server is not installed.
set -euo pipefail
lib=$(readlink -f "$1")
which=$2
n=${3:-20000}
tmp=$(mktemp -d)
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port=0

# Wait until the server ($pid) listens on $port.  If it exits first, or
# has not listened after 20 s, fail with what it wrote: the head of its
# output (a server's own error comes first, before ebra's exit statistics)
# and how it ended.
wait_port() {
  local tag=$1
  for _ in $(seq 1 400); do # up to 20 s on a loaded machine
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      local rc=0
      wait "$pid" || rc=$?
      pid=""
      head -n 20 "$tmp/$tag.out" "$tmp/$tag.err" >&2
      die "$which ($tag) exited with status $rc before it listened on $port"
    fi
    sleep 0.05
  done
  head -n 20 "$tmp/$tag.out" "$tmp/$tag.err" >&2
  die "$which ($tag) did not listen on $port within 20 s"
}

# Fail from inside a server run (a subshell): stop its server first.
die() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null
  echo "FAIL: $*" >&2
  exit 1
}

rss_kib() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }

# A port nobody listens on now (another test, or another user of the
# machine, may hold the first one tried), taken below the kernel's
# ephemeral range: a port in that range can be the local end of a client
# connection (redis-benchmark's, this script's own probes) that sits in
# TIME_WAIT, which no connect test sees and which makes the server's bind
# fail with EADDRINUSE.
free_port() {
  local low=32768
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  local base=10000 span=$((low - 10000))
  ((span >= 1000)) || { base=20000; span=20000; } # an unusual range: any port
  for _ in $(seq 1 50); do
    port=$((base + RANDOM % span))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || return 0
  done
}

run_redis() { # tag preload -> prints "tag ops_set ops_get rss_kib", checks answers
  local tag=$1 pre=$2
  free_port
  EBRA_SHOW_STATS=1 LD_PRELOAD=$pre redis-server --port "$port" --save '' --appendonly no \
    --daemonize no --loglevel warning >"$tmp/$tag.out" 2>"$tmp/$tag.err" &
  pid=$!
  wait_port "$tag"
  local bench
  bench=$(redis-benchmark -p "$port" -n "$n" -t set,get -d 100 -r 10000 -q 2>/dev/null | tr '\r' '\n')
  local set_ops get_ops
  set_ops=$(awk '/^SET: [0-9.]+ requests per second/ { v = $2 } END { print v }' <<<"$bench")
  get_ops=$(awk '/^GET: [0-9.]+ requests per second/ { v = $2 } END { print v }' <<<"$bench")
  [[ -n $set_ops && -n $get_ops ]] || die "redis ($tag): redis-benchmark gave no rate"
  # Known values: write, read back, delete half, count.
  for i in $(seq 1 2000); do echo "SET chk:$i value-$i-$((i * 7919 % 10007))"; done |
    redis-cli -p "$port" >/dev/null
  local got want
  got=$(for i in $(seq 1 2000); do echo "GET chk:$i"; done | redis-cli -p "$port" | md5sum)
  want=$(for i in $(seq 1 2000); do echo "value-$i-$((i * 7919 % 10007))"; done | md5sum)
  [[ $got == "$want" ]] || die "redis ($tag): GET answers differ"
  for i in $(seq 1 2 2000); do echo "DEL chk:$i"; done | redis-cli -p "$port" >/dev/null
  local keys
  keys=$(redis-cli -p "$port" --scan --pattern "chk:*" | wc -l)
  [[ $keys == 1000 ]] || die "redis ($tag): $keys keys left, want 1000"
  local rss
  rss=$(redis-cli -p "$port" info memory | tr -d '\r' | awk -F: '/^used_memory_rss:/ { print $2 }')
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" 2>/dev/null || true
  pid=""
  echo "$tag set/s=$set_ops get/s=$get_ops used_memory_rss=$rss"
}

run_memcached() {
  local tag=$1 pre=$2
  free_port
  EBRA_SHOW_STATS=1 LD_PRELOAD=$pre memcached -u "$(id -un)" -p "$port" -U 0 -t 2 -m 64 -l 127.0.0.1 \
    >"$tmp/$tag.out" 2>"$tmp/$tag.err" &
  pid=$!
  wait_port "$tag"
  local slap
  slap=$(memcslap --servers=127.0.0.1:"$port" --execute-number="$n" --concurrency=4 \
         --binary 2>&1 || true)
  local secs
  secs=$(awk '/^Time total/ { print $3 }' <<<"$slap")
  [[ -n $secs ]] || { echo "$slap" | tail >&2; die "memcached ($tag): memcslap did not finish"; }
  local reply
  reply=$(exec 3<>"/dev/tcp/127.0.0.1/$port"; printf 'set k1 0 0 5\r\nhello\r\nget k1\r\nquit\r\n' >&3; tr -d '\r' <&3)
  grep -q '^hello$' <<<"$reply" || die "memcached ($tag): get after set: $reply"
  local rss
  rss=$(rss_kib "$pid")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  pid=""
  echo "$tag memcslap_seconds=$secs rss_kib=$rss"
}

case $which in
  redis) command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || { echo "SKIP: redis not installed"; exit 77; }
         a=$(run_redis default "") && b=$(run_redis ebra "$lib") || exit 1 ;;
  memcached) command -v memcached >/dev/null && command -v memcslap >/dev/null || { echo "SKIP: memcached not installed"; exit 77; }
         a=$(run_memcached default "") && b=$(run_memcached ebra "$lib") || exit 1 ;;
  *) echo "unknown server $which" >&2; exit 2 ;;
esac
echo "$a"
echo "$b"
if grep '^ebra: [a-z-]*:' "$tmp/ebra.err" | grep -v '^ebra: stats' >"$tmp/reports" && [[ -s $tmp/reports ]]; then
  echo "FAIL: $which: ebra reported under preload:"; head "$tmp/reports"; exit 1
fi
grep -q '^pool "malloc-[0-9]*"' "$tmp/ebra.err" || { echo "FAIL: $which: no malloc class in use under preload"; tail "$tmp/ebra.err" >&2; exit 1; }
echo "ok: $which gives the same answers on its default allocator and on libebra-malloc.so"

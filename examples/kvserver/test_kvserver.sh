#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_kvserver.sh BINARY [full|short] — drive examples/kvserver with
# clients written elsewhere (redis-cli, redis-benchmark, curl, promtool)
# on ephemeral loopback ports, and check:
#   - answers of every command (round trips, errors, big values);
#   - INCR totals exact after concurrent clients; TTL expiry;
#   - keyspace notifications reach a subscriber; CLIENT KILL closes it and
#     the client registry (a weak cache) drops it by itself;
#   - redis-benchmark -t set,get,incr,mset -c 50 at -P 1 and -P 16: no error;
#   - /metrics passes promtool check metrics;
#   - a small hard limit answers -OOM, and SET succeeds again after DEL;
#   - the qsbr reclamation backend: a short benchmark, and the hard limit
#     (a write waits for a grace period on an online qsbr reader);
#   - SIGTERM: exit status 0, "clean shutdown", no sanitizer report.
# short: fewer benchmark requests (sanitizer builds).
# broken: BINARY is the TSan build with a seeded race (KV_BROKEN: keyspace
# entries are read without the read-side annotation); the test passes only
# if ThreadSanitizer reports it, so a TSan run that reports nothing means
# something.
set -euo pipefail
bin=$1
mode=${2:-full}
requests=200000
[[ $mode == short || $mode == broken ]] && requests=20000

for t in redis-cli redis-benchmark curl promtool; do
  command -v "$t" >/dev/null || { echo "FAIL: $t missing (bash scripts/deps.sh)"; exit 1; }
done

work=$(mktemp -d)
spid=""
bgpids=()
cleanup() {
  for p in "${bgpids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n $spid ]] && kill -KILL "$spid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  [[ -f $work/err ]] && { echo "--- server stderr (tail)"; tail -n 40 "$work/err"; }
  exit 1
}

start_server() {
  rm -f "$work/port"
  "$bin" --port 0 --metrics-port 0 --threads 2 --port-file "$work/port" "$@" \
    >"$work/out" 2>"$work/err" &
  spid=$!
  for _ in $(seq 200); do [[ -s $work/port ]] && break; sleep 0.05; done
  [[ -s $work/port ]] || fail "server did not start"
  read -r P M <"$work/port"
}

stop_server() {
  kill -TERM "$spid"
  local rc=0
  wait "$spid" || rc=$?
  spid=""
  if [[ $mode == broken ]]; then
    grep -q "WARNING: ThreadSanitizer: data race" "$work/err" || fail "seeded race not reported"
    local first
    first=$(grep -A30 -m1 "WARNING: ThreadSanitizer: data race" "$work/err")
    [[ $first == *keyspace.c* ]] || fail "the race reported is not the seeded one"
    echo "PASS (seeded race reported)"
    exit 0
  fi
  ((rc == 0)) || fail "server exit status $rc after SIGTERM"
  grep -q "clean shutdown" "$work/err" || fail "no clean shutdown"
  if grep -qE "ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error" "$work/err"; then
    fail "sanitizer report"
  fi
}

cli() { redis-cli -p "$P" "$@"; }

expect() { # expect WANT ARGS...
  local want=$1 got
  shift
  got=$(cli "$@" 2>&1) || true
  [[ "$got" == "$want" ]] || fail "redis-cli $*: want '$want', got '$got'"
}

# Wait up to 3 s for a condition (a grace period, a close).
eventually() {
  for _ in $(seq 60); do eval "$1" && return 0; sleep 0.05; done
  fail "never: $1"
}

metric() { # metric NAME_WITH_LABELS -> value
  curl -sf "http://127.0.0.1:$M/metrics" | awk -v m="$1" 'index($0, m" ") == 1 {print $2}'
}

bench_ok() { # bench_ok OUTFILE: every test ran, no error line
  local f=$1
  ! grep -qiE "error|ERR " "$f" || fail "redis-benchmark reported errors: $(grep -iE 'error|ERR ' "$f" | head -3)"
  for t in SET GET INCR MSET; do
    grep -q "^\"$t" "$f" || fail "redis-benchmark: no $t result in $(cat "$f")"
  done
}

# ---- round trips ----------------------------------------------------------------
start_server
expect PONG ping
expect hello ping hello
expect OK set k1 "a value with spaces"
expect "a value with spaces" get k1
expect "" get missing
expect OK mset a 1 b 2 c 3
expect $'1\n2\n\n3' mget a b nope c
expect 2 exists a b nope
expect 2 del a b nope
expect 0 exists a
expect 11 incrby c 8
expect "ERR value is not an integer or out of range" incr k1
expect "ERR wrong number of arguments for 'get' command" get
expect "ERR unknown command 'nosuch'" nosuch x
expect save config get save
expect $'appendonly\nno' config get appendonly
expect $'maxmemory\n0' config get maxmemory
big=$(head -c 100000 /dev/zero | tr '\0' 'x') # above the largest size class
expect OK set big "$big"
[[ $(cli get big) == "$big" ]] || fail "100000-byte value round trip"
expect 1 del big
cli info memory | grep -q "^used_memory:" || fail "INFO memory"
cli info stats | grep -q "^keyspace_hits:" || fail "INFO stats"
expect 2 dbsize
expect OK flushall
expect 0 dbsize
expect OK quit

# ---- bad input: a protocol error is answered, then the connection closes ----
raw() { # raw BYTES -> what the server answers before it closes (2 s at most)
  exec 3<>"/dev/tcp/127.0.0.1/$P"
  printf '%b' "$1" >&3
  timeout 2 cat <&3 || true
  exec 3<&-
}
[[ $(raw '*x\r\n') == "-ERR Protocol error: invalid multibulk length"* ]] || fail "bad multibulk"
[[ $(raw '*1\r\n$99999999999\r\n') == "-ERR Protocol error: invalid bulk length"* ]] ||
  fail "oversized bulk"
[[ $(raw '*1\r\n+PING\r\n') == "-ERR Protocol error: expected '\$'"* ]] || fail "no '\$'"
[[ $(raw 'PING\r\nECHO hi\r\n') == $'+PONG\r\n$2\r\nhi'* ]] || fail "inline commands"
expect PONG ping

if [[ $mode == broken ]]; then # readers and writers of the same keys, then stop
  redis-benchmark -p "$P" -t set,get -n "$requests" -c 50 -r 100 --csv >"$work/bench" 2>&1 || true
  stop_server
fi

# ---- TTL expiry ---------------------------------------------------------------------
expect OK set short v px 300
ttl=$(cli pttl short)
((ttl > 0 && ttl <= 300)) || fail "pttl $ttl"
expect OK set long v
expect -1 ttl long
expect 1 expire long 100
expect 100 ttl long
sleep 0.5
expect "" get short
expect -2 ttl short
expect 0 exists short
expect OK set gone v ex 1
expect 1 pexpire gone 100
sleep 0.3
expect 0 exists gone
expect 1 dbsize

# ---- INCR totals exact after concurrent clients ----------------------------------------
n=$((requests / 4))
redis-benchmark -p "$P" -c 25 -n "$n" -t incr --csv >"$work/incr1" 2>&1 &
b1=$!
redis-benchmark -p "$P" -c 25 -n "$n" -t incr --csv >"$work/incr2" 2>&1 &
b2=$!
for _ in $(seq 200); do cli incr counter:__rand_int__ >/dev/null; done
wait "$b1" "$b2" || fail "concurrent INCR benchmarks"
expect $((2 * n + 200)) get counter:__rand_int__

# ---- keyspace notifications, CLIENT LIST, CLIENT KILL ----------------------------------------
redis-cli -p "$P" subscribe __keyevent@0__:del >"$work/sub" 2>&1 &
bgpids+=($!)
subpid=$!
eventually "cli client list | grep -q 'sub=1'"
id=$(cli client list | awk '/sub=1/ {sub("id=", "", $1); print $1}')
[[ $id =~ ^[0-9]+$ ]] || fail "no subscriber id in CLIENT LIST"
expect OK set doomed v
expect 1 del doomed
eventually "grep -q doomed '$work/sub'"
registry() { curl -sf "http://127.0.0.1:$M/metrics" | awk '/^ebra_cache_entries\{cache="kv-clients"/ {print $2}'; }
# Closed redis-cli connections leave the registry after a grace period.
eventually "[[ \$(registry) == 1 ]]"
expect 1 client kill id "$id"
expect 0 client kill id "$id"
eventually "! kill -0 $subpid 2>/dev/null"
cli client list | grep -q "id=$id " && fail "killed client still listed"
# The registry entry leaves by itself after the grace period.
eventually "[[ \$(registry) == 0 ]]"

# The expiry sweep (once a second) tells subscribers of expired keys.
redis-cli -p "$P" subscribe __keyevent@0__:expired >"$work/subx" 2>&1 &
bgpids+=($!)
eventually "cli client list | grep -q 'sub=1'"
expect OK set fleeting v px 50
for _ in $(seq 60); do grep -q fleeting "$work/subx" && break; sleep 0.05; done
grep -q fleeting "$work/subx" || fail "no expired event for a key nobody read"
kill "${bgpids[-1]}"

# ---- redis-benchmark at pipelining 1 and 16 -----------------------------------------------------
for pipe in 1 16; do
  redis-benchmark -p "$P" -t set,get,incr,mset -n "$requests" -c 50 -P "$pipe" --csv \
    >"$work/bench$pipe" 2>&1 || fail "redis-benchmark -P $pipe exit status"
  bench_ok "$work/bench$pipe"
  echo "redis-benchmark -n $requests -c 50 -P $pipe:"
  cat "$work/bench$pipe"
done

# ---- /metrics ---------------------------------------------------------------------------------------
curl -sf "http://127.0.0.1:$M/metrics" >"$work/metrics" || fail "GET /metrics"
promtool check metrics <"$work/metrics" || fail "promtool check metrics"
grep -q '^ebra_pool_live_objects{pool="kv-conn"' "$work/metrics" || fail "no ebra pool metrics"
gets=$(awk '/^kvserver_commands_total\{cmd="get"\}/ {print $2}' "$work/metrics")
((gets >= requests)) || fail "kvserver_commands_total{cmd=\"get\"} = $gets"
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$M/nothing" | grep -q 404 || fail "404"
stop_server

# ---- hard memory limit: -OOM, then serving resumes after DEL -----------------------------------
EBRA_SHOW_STATS=1 start_server --maxmemory 4M
value=$(head -c 1000 /dev/zero | tr '\0' 'v')
for i in $(seq 1 8000); do printf 'SET key:%d %s\r\n' "$i" "$value"; done >"$work/fill"
redis-cli -p "$P" <"$work/fill" >"$work/fill.out" 2>&1 || true
grep -q "OOM command not allowed when used memory > 'maxmemory'." "$work/fill.out" ||
  fail "no -OOM while filling 8 MB into 4M: $(sort "$work/fill.out" | uniq -c | head)"
stored=$(cli dbsize)
((stored > 100 && stored < 8000)) || fail "dbsize $stored after filling"
got=$(cli set extra "$value")
[[ $got == "OOM command not allowed when used memory > 'maxmemory'." ]] || fail "SET at the limit: $got"
oom=$(metric kvserver_oom_rejections_total)
((oom > 0)) || fail "kvserver_oom_rejections_total $oom"
expect 1 del key:1
expect OK set extra "$value"
expect $((stored)) dbsize
expect OK flushall
expect OK set extra2 "$value"
stop_server
# EBRA_SHOW_STATS=1: ebra's report of the live pools at shutdown
grep -q 'pool "kv-conn"' "$work/err" || fail "EBRA_SHOW_STATS printed no pool report"

# ---- the qsbr backend: workers quiescent once per loop turn, offline in epoll_wait ----
EBRA_RECLAIM=urcu-qsbr start_server
cli info server | grep -q "^ebra_reclaim_backend:urcu-qsbr" || fail "qsbr backend not in use"
redis-benchmark -p "$P" -t set,get,incr,mset -n $((requests / 4)) -c 50 -P 16 -r 1000 --csv \
  >"$work/benchq" 2>&1 || fail "redis-benchmark on qsbr"
bench_ok "$work/benchq"
expect OK set q v
expect v get q
retired=$(cli info stats | awk -F: '/^ebra_retired:/ {print $2+0}')
((retired > 0)) || fail "nothing retired on qsbr"
stop_server

# qsbr under the hard limit: a write that meets the limit waits for a grace
# period on a worker that is an online qsbr reader, which must not deadlock.
EBRA_RECLAIM=urcu-qsbr start_server --maxmemory 4M
timeout 60 redis-cli -p "$P" <"$work/fill" >"$work/fillq.out" 2>&1 || fail "fill on qsbr"
grep -q "^OOM command not allowed" "$work/fillq.out" || fail "no -OOM on qsbr"
expect 1 del key:2
expect OK set extra "$value"
# Shut down with a subscriber still connected: its worker closes it.
redis-cli -p "$P" subscribe __keyevent@0__:set >/dev/null 2>&1 &
bgpids+=($!)
eventually "cli client list | grep -q 'sub=1'"
stop_server

echo "PASS"

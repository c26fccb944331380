#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench.sh — examples/kvserver against redis-server on this machine, each
# allowed the same threads (kvserver --threads T; redis io-threads T with
# threaded reads), driven by the same redis-benchmark:
#   - GET and SET, 50 clients, pipelining 1 and 16, 100-byte values over
#     100000 random keys: requests/s, p50 and p99 latency (redis-benchmark's
#     own percentiles);
#   - resident memory per key: RSS of a fresh server before and after
#     loading --keys keys of 100 bytes (redis-cli --pipe), divided by keys.
# redis-server is also measured with io-threads 1 (its default, and what its
# documentation advises below 4 cores: its I/O threads busy-wait) as a
# second reference, "redis-io1".
# Writes DIR/results.json, DIR/results.md and DIR/kvserver_vs_redis.png.
#
#   bash examples/kvserver/bench.sh [--build-dir build/release] [--out DIR]
#        [--threads 2] [--requests 1000000] [--keys 1000000]
# Needs: redis-server, redis-tools, python3-matplotlib (scripts/deps.sh --bench).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=/usr/bin/python3 # Debian's python: its matplotlib

build=build/release
out=build/kvbench
threads=2
requests=1000000
keys=1000000
while (($#)); do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
kv=$build/examples/kvserver/kvserver
[[ -x $kv ]] || { echo "build $kv first (cmake --build $build --target kvserver)" >&2; exit 1; }
for t in redis-server redis-benchmark redis-cli $python; do
  command -v "$t" >/dev/null || { echo "$t missing: bash scripts/deps.sh --bench" >&2; exit 1; }
done
mkdir -p "$out"
tmp=$(mktemp -d)
spid=""
trap '[[ -n $spid ]] && kill "$spid" 2>/dev/null; rm -rf "$tmp"' EXIT

free_port() { $python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # start kvserver|redis PORT
  case $1 in
    kvserver) "$kv" --port "$2" --threads "$threads" --metrics-port -1 >"$tmp/kv.log" 2>&1 & ;;
    redis) redis-server --port "$2" --bind 127.0.0.1 --save "" --appendonly no \
             --io-threads "$threads" --io-threads-do-reads yes --daemonize no \
             --logfile "$tmp/redis.log" & ;;
    redis-io1) redis-server --port "$2" --bind 127.0.0.1 --save "" --appendonly no \
             --io-threads 1 --daemonize no --logfile "$tmp/redis.log" & ;;
  esac
  spid=$!
  for _ in $(seq 100); do redis-cli -p "$2" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "$1 did not start" >&2
  exit 1
}

stop() { kill -TERM "$spid"; wait "$spid" || true; spid=""; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$spid/status"; }
# The server's CPU time (user + system, all threads) in clock ticks: on a
# shared machine, requests per CPU-second of the server is steadier than
# requests per second.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$spid/stat"; }

# The load: keys SETs of 100 bytes, in RESP, generated once.
$python - "$keys" >"$tmp/load.resp" <<'EOF'
import sys
n = int(sys.argv[1])
v = b"v" * 100
w = sys.stdout.buffer
for i in range(n):
    k = b"key:%010d" % i
    w.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n" % (len(k), k, v))
EOF

echo "{" >"$tmp/results.json"
first=1
for server in kvserver redis redis-io1; do
  port=$(free_port)
  start "$server" "$port"
  for pipe in 1 16; do
    for t in set get; do # one test per run, to charge each its server CPU
      c0=$(cpu_ticks)
      redis-benchmark -p "$port" -t "$t" -n "$requests" -c 50 -P "$pipe" -d 100 -r 100000 \
        --csv >"$tmp/$server-$pipe-$t.csv" 2>"$tmp/$server-$pipe-$t.err"
      echo "$(($(cpu_ticks) - c0))" >"$tmp/$server-$pipe-$t.cpu"
    done
    echo "$server -P $pipe:"; cat "$tmp/$server-$pipe"-*.csv
  done
  stop
  # Memory per key, on a fresh server.
  start "$server" "$port"
  before=$(rss_kb)
  redis-cli -p "$port" --pipe <"$tmp/load.resp" >"$tmp/$server-load.log"
  n=$(redis-cli -p "$port" dbsize)
  sleep 1
  after=$(rss_kb)
  stop
  [[ $n == "$keys" ]] || { echo "$server holds $n keys after loading $keys" >&2; exit 1; }
  $python - "$server" "$tmp" "$before" "$after" "$keys" "$first" "$requests" >>"$tmp/results.json" <<'EOF'
import csv, json, os, sys
server, tmp, before, after, keys, first, requests = sys.argv[1:]
res = {"rss_before_kb": int(before), "rss_after_kb": int(after),
       "bytes_per_key": (int(after) - int(before)) * 1024 / int(keys)}
hz = os.sysconf("SC_CLK_TCK")
for pipe in ("1", "16"):
    for t in ("set", "get"):
        ticks = int(open(f"{tmp}/{server}-{pipe}-{t}.cpu").read())
        for row in csv.DictReader(open(f"{tmp}/{server}-{pipe}-{t}.csv")):
            res[f"{row['test']}_P{pipe}"] = {
                "rps": float(row["rps"]), "p50_ms": float(row["p50_latency_ms"]),
                "p99_ms": float(row["p99_latency_ms"]), "server_cpu_s": ticks / hz,
                "requests_per_cpu_s": int(requests) / (ticks / hz) if ticks else None}
print(("" if first == "1" else ",") + json.dumps(server) + ": " + json.dumps(res, indent=1))
EOF
  first=0
done
echo "}" >>"$tmp/results.json"
cp "$tmp/results.json" "$out/results.json"

$python - "$out" "$threads" "$requests" "$keys" <<'EOF'
import json, os, sys
out, threads, requests, keys = sys.argv[1:]
r = json.load(open(f"{out}/results.json"))
servers = ("kvserver", "redis", "redis-io1")
rows = ["| test | " + " | ".join(f"{s} req/s" for s in servers) + " | kvserver / redis | "
        + " | ".join(f"{s} p50 / p99 ms" for s in servers) + " |",
        "|---|" + "---:|" * (2 * len(servers) + 1)]
tests = [f"{t}_P{p}" for p in ("1", "16") for t in ("GET", "SET")]
for t in tests:
    k, s = r["kvserver"][t], r["redis"][t]
    rows.append(f"| {t.replace('_P', ' -P ')} | "
                + " | ".join(f"{r[v][t]['rps']:.0f}" for v in servers)
                + f" | {k['rps']/s['rps']:.2f} | "
                + " | ".join(f"{r[v][t]['p50_ms']:.3f} / {r[v][t]['p99_ms']:.3f}" for v in servers)
                + " |")
rows.append("")
rows.append("| test | " + " | ".join(f"{s} requests per server CPU-second" for s in servers)
            + " | kvserver / redis-io1 |")
rows.append("|---|" + "---:|" * (len(servers) + 1))
def per_cpu(v, t):
    x = r[v][t].get("requests_per_cpu_s")
    return f"{x:.0f}" if x else "n/a"
for t in tests:
    k, s1 = r["kvserver"][t].get("requests_per_cpu_s"), r["redis-io1"][t].get("requests_per_cpu_s")
    rows.append(f"| {t.replace('_P', ' -P ')} | " + " | ".join(per_cpu(v, t) for v in servers)
                + f" | {k / s1:.2f} |" if k and s1 else " | n/a |")
rows.append("")
rows.append(f"Resident memory per key after loading {keys} keys of 100 bytes: "
            + ", ".join(f"{v} {r[v]['bytes_per_key']:.0f} B" for v in servers)
            + f" (kvserver / redis {r['kvserver']['bytes_per_key'] / r['redis']['bytes_per_key']:.2f}).")
rows.append(f"Threads: {threads} for kvserver and redis (io-threads {threads}), 1 for redis-io1; "
            f"redis-benchmark -c 50 -n {requests} -d 100 -r 100000.")
open(f"{out}/results.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib missing: no plot (scripts/deps.sh --bench)")
    sys.exit(0)
fig, ax = plt.subplots(1, 3, figsize=(14, 4))
x = range(len(tests))
w = 0.27
for i, (srv, col) in enumerate((("kvserver", "tab:blue"), ("redis", "tab:red"),
                                ("redis-io1", "tab:orange"))):
    ax[0].bar([j + i * w for j in x], [r[srv][t]["rps"] / 1e3 for t in tests], w, label=srv, color=col)
    ax[1].bar([j + i * w for j in x], [r[srv][t]["p99_ms"] for t in tests], w, label=srv, color=col)
    ax[2].bar([i], [r[srv]["bytes_per_key"]], 0.6, label=srv, color=col)
for a, title in zip(ax[:2], ("thousand requests/s", "p99 latency (ms)")):
    a.set_xticks([j + w for j in x])
    a.set_xticklabels([t.replace("_P", " -P") for t in tests])
    a.set_title(title)
    a.legend()
ax[2].set_xticks([0, 1, 2])
ax[2].set_xticklabels(list(servers))
ax[2].set_title("resident bytes per key (100-byte values)")
fig.suptitle(f"kvserver vs redis-server, {threads} threads each, 50 clients")
fig.tight_layout()
fig.savefig(f"{out}/kvserver_vs_redis.png", dpi=100)
print(f"plot: {out}/kvserver_vs_redis.png")
EOF

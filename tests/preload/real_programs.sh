#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/preload/real_programs.sh LIB WORKLOAD — run one real program twice,
# without and with LD_PRELOAD=LIB (libebra-malloc.so), and check that
#   - both exit 0,
#   - their outputs are byte-identical,
#   - the preloaded run printed no "ebra:" report (no foreign pointer, no
#     double free, nothing),
#   - the preloaded run really ran on ebra: EBRA_SHOW_STATS=1 lists size
#     classes that served allocations.
# WORKLOAD: sqlite3 | python3 | sort | git | xz | perl
# Exit 77 (ctest SKIP_RETURN_CODE) if the program is not installed.
set -euo pipefail
lib=$(readlink -f "$1")
workload=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

need() { command -v "$1" >/dev/null || { echo "SKIP: $1 not installed"; exit 77; }; }

# Deterministic input data (no $RANDOM: the same bytes every run).
gen_lines() { awk -v n="$1" 'BEGIN { s = 12345; for (i = 0; i < n; i++) {
  s = (s * 1103515245 + 12345) % 2147483648; printf "%d key%d %s\n", s % 100000, s % 977, substr("abcdefghijklmnopqrstuvwxyz", 1 + s % 26) } }'; }

case $workload in
  sqlite3)
    need sqlite3
    {
      echo "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, pad BLOB);"
      echo "CREATE INDEX tk ON t(k);"
      echo "BEGIN;"
      awk 'BEGIN { s = 7; for (i = 0; i < 20000; i++) { s = (s * 1103515245 + 12345) % 2147483648;
        printf "INSERT INTO t(k, name, pad) VALUES (%d, '\''n%d'\'', zeroblob(%d));\n", s % 1000, s % 5003, s % 3000 } }'
      echo "COMMIT;"
      echo "SELECT count(*), sum(k), sum(length(pad)) FROM t;"
      echo "SELECT k, count(*), group_concat(name) FROM t WHERE k < 20 GROUP BY k ORDER BY k;"
      echo "SELECT a.k, count(*) FROM t a JOIN t b ON a.k = b.k WHERE a.id % 50 = 0 GROUP BY a.k ORDER BY 2 DESC, 1 LIMIT 20;"
      echo "UPDATE t SET name = name || '-x', pad = zeroblob(length(pad) * 2) WHERE k % 7 = 0;"
      echo "DELETE FROM t WHERE k % 3 = 0;"
      echo "VACUUM;"
      echo "SELECT count(*), sum(length(name)), sum(length(pad)) FROM t;"
      echo "SELECT name FROM t WHERE name LIKE 'n12%' ORDER BY name LIMIT 30;"
    } >script.sql
    cmd=(sqlite3 db.sqlite) ; input=script.sql ;;
  python3)
    need python3; py=$(PATH=/usr/bin:$PATH command -v python3)
    cat >work.py <<'EOF'
import json, random, threading, collections
random.seed(42)
d = {}
for i in range(200000):
    d["k%d" % random.randrange(50000)] = [random.random() for _ in range(i % 7)]
s = json.dumps(d, sort_keys=True)
back = json.loads(s)
words = collections.Counter("".join(random.choice("abcde") for _ in range(random.randrange(1, 6))) for _ in range(100000))
out = []
def worker(n):
    acc = []
    for i in range(30000):
        acc.append(("x" * (i % 100), i))
        if len(acc) > 1000:
            acc = acc[500:]
    out.append((n, len(acc)))
ts = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print(len(s), len(back), sorted(words.most_common(5)), sorted(out))
print(sum(len(v) for v in back.values()), sorted(back)[:5])
EOF
    export PYTHONMALLOC=malloc # every object through malloc, not pymalloc arenas
    cmd=("$py" work.py) ; input=/dev/null ;;
  sort)
    need sort
    gen_lines 300000 >data.txt
    cat >run.sh <<'EOF'
sort -n --parallel=2 -S 8M data.txt | md5sum
sort -k2,2 -k1,1n --parallel=2 data.txt | md5sum
sort -u -k3 data.txt | head -50
sort -t' ' -k1,1n data.txt | uniq -c | sort -rn | head -20
EOF
    cmd=(bash run.sh) ; input=/dev/null ;;
  git)
    need git
    cat >run.sh <<'EOF'
set -e
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
export GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z'
export HOME=$PWD GIT_CONFIG_NOSYSTEM=1
rm -rf repo && git init -q -b main repo && cd repo
for c in 1 2 3; do
  for f in $(seq 1 60); do awk -v c=$c -v f=$f 'BEGIN { for (i = 0; i < 50 + f; i++) print c * f * i, "line", i }' >"f$f.txt"; done
  git add -A && git commit -q -m "commit $c"
done
git log --format='%H %T %s'
git gc -q --aggressive
git fsck --full
git diff HEAD~3 HEAD --stat | tail -1
git grep -c 'line 42' | wc -l
EOF
    cmd=(bash run.sh) ; input=/dev/null ;;
  xz)
    need xz
    gen_lines 200000 >data.txt
    cat >run.sh <<'EOF'
xz -T2 -3 -c data.txt >data.xz
xz -d -c data.xz | md5sum
md5sum <data.txt
EOF
    cmd=(bash run.sh) ; input=/dev/null ;;
  perl)
    need perl
    cat >work.pl <<'EOF'
my %h; my @a;
srand(1);
for my $i (0..300000) { $h{"k" . int(rand(60000))} .= chr(97 + $i % 26); push @a, [$i, "x" x ($i % 50)]; shift @a if @a > 2000; }
my $tot = 0; $tot += length($h{$_}) for keys %h;
print scalar(keys %h), " $tot ", scalar(@a), "\n";
print join(",", (sort keys %h)[0..9]), "\n";
EOF
    cmd=(perl work.pl) ; input=/dev/null ;;
  *) echo "unknown workload $workload" >&2; exit 2 ;;
esac

"${cmd[@]}" <"$input" >plain.out 2>plain.err || { echo "FAIL: $workload without preload exited $?"; cat plain.err; exit 1; }
rm -f db.sqlite
EBRA_SHOW_STATS=1 LD_PRELOAD="$lib" "${cmd[@]}" <"$input" >ebra.out 2>ebra.err ||
  { echo "FAIL: $workload under libebra-malloc.so exited $?"; tail -20 ebra.err; exit 1; }
if ! cmp -s plain.out ebra.out; then
  echo "FAIL: $workload: output differs under libebra-malloc.so"; diff plain.out ebra.out | head -20; exit 1
fi
if grep '^ebra: [a-z-]*:' ebra.err | grep -v '^ebra: stats' >reports.txt && [[ -s reports.txt ]]; then
  echo "FAIL: $workload: ebra reported misuse under preload:"; head -20 reports.txt; exit 1
fi
classes=$(grep -c '^pool "malloc-[0-9]*"' ebra.err || true)
allocs=$(awk '/^pool "malloc-[0-9]*"/ { p = 1; next } p && /allocs/ { sub(/,/, "", $2); n += $2; p = 0 } END { print n + 0 }' ebra.err)
if ((classes == 0 || allocs == 0)); then
  echo "FAIL: $workload: the preloaded run shows no malloc class in use"; tail -20 ebra.err; exit 1
fi
echo "ok: $workload: same output ($(wc -c <plain.out) bytes), $classes size classes, $allocs allocations on ebra (all processes)"

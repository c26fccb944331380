#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""report.py — the markdown tables of bench/run.sh, from its results.

Usage: /usr/bin/python3 bench/report.py RESULTS_DIR
       /usr/bin/python3 bench/report.py --check RESULTS_DIR HARNESS...

RESULTS_DIR holds Google Benchmark JSON files named
  HARNESS.PEER.json               timing cases, N repetitions with aggregates
  HARNESS.CASE-ALLOC.PEER.K.json  an isolated case alone in a fresh process
  callgrind.tsv                   optional: bench/callgrind.sh --out, lines
                                  `mode  malloc  instructions/op  what`
PEER is the malloc the process ran under (glibc = no preload).  Benchmark
names pair up as BM_<case>/<allocator>/<args>, allocator one of ebra,
ebra_inline (the pool's inline fast path), ebra_strict (a pool with
EBRA_POOL_STRICT_CHECKS), malloc, floor and floor_inline
(the per-thread freelist of bench/pool_floor.h, called / inlined).

Tables:
  1. allocators: ebra against each peer's malloc and against the floors,
     case by case.  ebra's, the floors' cases run in the glibc process only
     (LD_PRELOAD swaps malloc, not the pools).  Values are medians of the
     repetitions (isolated cases: median over processes), ebra's with its
     coefficient of variation over the repetitions.  The × column is how
     many times better ebra is: other ÷ ebra for times and sizes, ebra ÷
     other for throughputs; > 1 means ebra wins (against a floor it cannot,
     and the ratio says how close it gets).  An ebra_inline or ebra_strict
     case is a row of its own.  With callgrind.tsv: ebra's instructions per operation beside
     its time, a table of instructions per operation for every allocator,
     and the goals of issue 11 checked against this run.
  2. weak references: ebra_weak_get per backend against std::weak_ptr and a
     mutex-guarded map, per thread count, same and random handles.
  3. reclamation backends: read-section cost, grace-period and retire→reuse
     latency, pending objects.
  4. any other harness: a generic table of medians (new harnesses show up
     without changes here).

--check: exit 1 unless every HARNESS has at least one result file, every
file parses, has benchmarks, and no case reported an error.  No timing is
checked.  Stdlib only.
"""
import glob
import json
import os
import re
import math
import statistics
import sys

PEERS = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]
UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
DROP = re.compile(r"^(real_time|process_time|manual_time|iterations:\d+|repeats:\d+|"
                  r"min_time:.*)$")


def parse_file_name(path):
    """'bench_pool.glibc.json' -> ('bench_pool', 'glibc');
    'bench_pool.BM_overhead-ebra.glibc.2.json' -> ('bench_pool', 'glibc')."""
    parts = os.path.basename(path)[:-len(".json")].split(".")
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 4:
        return parts[0], parts[2]
    return parts[0], "?"


def clean(run_name):
    """Drop Google Benchmark's suffixes that do not identify a case."""
    return "/".join(p for p in run_name.split("/") if not DROP.match(p))


class Results:
    """entries[(harness, peer, name)] -> list of benchmark dicts (one per
    process: the median aggregate, or the single run); cv[...] -> the cv
    aggregate of the repetitions, if any."""

    def __init__(self, results_dir):
        self.dir = results_dir
        self.entries = {}
        self.cv = {}
        self.errors = []
        self.files = {}
        for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
            harness, peer = parse_file_name(path)
            try:
                with open(path) as f:
                    data = json.load(f)
            except (OSError, ValueError) as e:
                self.errors.append(f"{os.path.basename(path)}: {e}")
                continue
            benches = data.get("benchmarks", [])
            self.files.setdefault(harness, []).append((path, len(benches)))
            for b in benches:
                name = clean(b.get("run_name", b["name"]))
                if b.get("error_occurred"):
                    self.errors.append(f"{os.path.basename(path)}: {b['name']}: "
                                       f"{b.get('error_message', 'error')}")
                    continue
                kind = b.get("run_type", "iteration")
                key = (harness, peer, name)
                if kind == "aggregate":
                    if b.get("aggregate_name") == "median":
                        self.entries.setdefault(key, []).append(b)
                    elif b.get("aggregate_name") == "cv":
                        self.cv[key] = b
                elif b.get("repetitions", 1) <= 1:
                    self.entries.setdefault(key, []).append(b)

    def value(self, harness, peer, name, get):
        """Median over processes of get(entry); None if absent."""
        vals = []
        for b in self.entries.get((harness, peer, name), []):
            try:
                vals.append(get(b))
            except (KeyError, ZeroDivisionError):
                pass
        return statistics.median(vals) if vals else None

    def names(self, harness, peer=None):
        seen = []
        for (h, p, n) in self.entries:
            if h == harness and (peer is None or p == peer) and n not in seen:
                seen.append(n)
        return seen


def fmt(v):
    if v is None:
        return "–"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a and a < 0.01:  # e.g. seconds per operation
        return f"{v:.3g}"
    return f"{v:.2f}"


def cpu_ns(b):
    return b["cpu_time"] * UNIT_NS[b["time_unit"]]


# ---- 1. allocators -----------------------------------------------------------
# family -> [(metric label, getter, higher is better, cv field)]
ALLOC_METRICS = {
    "BM_pair": [("CPU ns per alloc+free", cpu_ns, False, "cpu_time")],
    "BM_live_lifo": [("CPU ns per alloc+free", lambda b: b["per_pair"] * 1e9, False,
                      "per_pair")],
    "BM_live_fifo": [("CPU ns per alloc+free", lambda b: b["per_pair"] * 1e9, False,
                      "per_pair")],
    "BM_xthread": [("M objects/s", lambda b: b["items_per_second"] / 1e6, True,
                    "items_per_second")],
    "BM_xthread_batch": [("M objects/s", lambda b: b["items_per_second"] / 1e6, True,
                          "items_per_second")],
    "BM_larson": [("M alloc+free/s, all threads", lambda b: b["wall_ops_per_s"] / 1e6,
                   True, "wall_ops_per_s"),
                  ("CPU ns per alloc+free", lambda b: b["cpu_ns_per_pair"], False,
                   "cpu_ns_per_pair")],
    "BM_churn": [("k threads/s", lambda b: b["threads_per_second"] / 1e3, True,
                  "threads_per_second")],
    "BM_overhead": [("RSS delta ÷ live bytes", lambda b: b["rss_per_live"], False, None)],
    "BM_rss_phases": [("peak RSS MiB", lambda b: b["rss_peak_mib"], False, None),
                      ("steady RSS MiB", lambda b: b["rss_steady_mib"], False, None),
                      ("RSS MiB after idle", lambda b: b["rss_idle_end_mib"], False, None)],
}
LARSON_XFREE = {"0": "no cross-thread frees", "1": "1 in 8 freed by another thread"}
ALLOC_LABELS = {
    "BM_pair": "pair {0} B",
    "BM_live_lifo": "{0} live, LIFO free (64 B)",
    "BM_live_fifo": "{0} live, FIFO free (64 B)",
    "BM_xthread": "producer→consumer, 1 per slot ({0} B)",
    "BM_xthread_batch": "producer→consumer, 64 per slot ({0} B)",
    "BM_larson": "larson (16–512 B, a pool per class)",
    "BM_churn": "thread churn, {0} threads at a time",
    "BM_overhead": "1M live {0} B",
    "BM_rss_phases": "burst/steady/idle (16–512 B)",
}
# Rows of ebra's own implementations: allocator part of the name -> label suffix.
EBRA_IMPLS = {"ebra": "", "ebra_inline": " · inline fast path",
              "ebra_strict": " · strict checks"}
# The floors (bench/pool_floor.h), as columns beside the peers.
FLOORS = [("floor", "floor (call)"), ("floor_inline", "floor (inline)")]
# Cases a per-thread freelist cannot run honestly (bench_pool.cc's header).
FLOOR_NA = {"BM_xthread", "BM_xthread_batch"}
# Which ops_count mode counts the instructions of a row (callgrind.tsv):
# (family, args, threads) -> mode prefix; the allocator picks the mode.
IR_MODES = {("BM_pair", "64", "1"): "pair", ("BM_live_lifo", "1000", "1"): "live_lifo",
            ("BM_live_fifo", "1000", "1"): "live_fifo",
            ("BM_larson", "xfree:0", "1"): "larson"}


def ir_mode(kind, base):
    """ops_count mode of allocator kind for IR_MODES's base mode."""
    if kind == "ebra":
        return base
    if kind == "ebra_inline":
        return base + "_inline"
    if kind == "ebra_strict":
        return "pair_strict" if base == "pair" else None
    if kind == "malloc":
        return "malloc_" + base
    if kind == "floor":
        return "floor_" + base
    if kind == "floor_inline":
        return "floor_inline_pair" if base == "pair" else None
    return None


def read_callgrind(results_dir):
    """{(mode, malloc): instructions per op} from callgrind.tsv, or {}."""
    path = os.path.join(results_dir, "callgrind.tsv")
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3:
                try:
                    out[(parts[0], parts[1])] = float(parts[2])
                except ValueError:
                    pass
    return out


def alloc_rows(res, harness, ir):
    """[dict(label, metric, ebra, cv, peers={peer: v}, floors={kind: v|'n/a'},
    higher, ir, fam, threads)]"""
    rows = []
    order = list(ALLOC_METRICS)
    names = sorted(res.names(harness), key=lambda n: (
        order.index(n.split("/")[0]) if n.split("/")[0] in order else len(order),
        n.split("/")[1] != "ebra"))
    for name in names:
        parts = name.split("/")
        if len(parts) < 2 or parts[1] not in EBRA_IMPLS:
            continue
        fam, kind, rest = parts[0], parts[1], parts[2:]
        twin = lambda who: "/".join([fam, who] + rest)
        threads = [p for p in rest if p.startswith("threads:")]
        args = [p for p in rest if not p.startswith("threads:")]
        nthreads = threads[0].split(":")[1] if threads else "1"
        if fam == "BM_larson":
            xf = [a.split(":")[1] for a in args if a.startswith("xfree:")]
            label = ALLOC_LABELS[fam] + (", " + LARSON_XFREE.get(xf[0], xf[0]) if xf else "")
        else:
            label = ALLOC_LABELS.get(fam, fam + " {0}").format("/".join(args))
        if threads:
            label += f", {nthreads} thr"
        label += EBRA_IMPLS[kind]
        base = IR_MODES.get((fam, "/".join(args), nthreads))
        mode = ir_mode(kind, base) if base else None
        for metric, get, higher, cvf in ALLOC_METRICS.get(
                fam, [("CPU ns", cpu_ns, False, "cpu_time")]):
            ebra = res.value(harness, "glibc", name, get)
            cvb = res.cv.get((harness, "glibc", name))
            cv = cvb.get(cvf) if (cvb and cvf) else None
            peers = {p: res.value(harness, p, twin("malloc"), get) for p in PEERS}
            floors = {k: ("n/a" if fam in FLOOR_NA else res.value(harness, "glibc", twin(k), get))
                      for k, _ in FLOORS}
            rows.append(dict(label=label, metric=metric, ebra=ebra, cv=cv, peers=peers,
                             floors=floors, higher=higher, fam=fam, kind=kind,
                             args="/".join(args), threads=nthreads,
                             ir=ir.get((mode, "glibc")) if mode else None))
    return rows


def ratio(ebra, other, higher):
    """How many times better ebra is; None without both values."""
    if ebra is None or not isinstance(other, (int, float)) or not other or not ebra:
        return None
    return ebra / other if higher else other / ebra


def print_alloc_table(res, harnesses):
    ir = read_callgrind(res.dir)
    rows = []
    for h in harnesses:
        rows += alloc_rows(res, h, ir)
    if not rows:
        return
    present = [p for p in PEERS if any(r["peers"].get(p) is not None for r in rows)]
    floors = [(k, t) for k, t in FLOORS
              if any(isinstance(r["floors"].get(k), float) for r in rows)]
    with_ir = any(r["ir"] is not None for r in rows)
    print("### Allocators: ebra pools against each peer's malloc and the floor\n")
    head = ["case", "metric", "ebra (cv)"] + (["ebra Ir/op"] if with_ir else [])
    for p in present:
        head += [p, "×"]
    for _, title in floors:
        head += [title, "×"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cell = fmt(r["ebra"]) + (f" ({r['cv'] * 100:.0f}%)" if r["cv"] is not None else "")
        row = [r["label"], r["metric"] + (" ↑" if r["higher"] else ""), cell]
        if with_ir:
            row.append(fmt(r["ir"]))
        for p in present:
            v = r["peers"].get(p)
            x = ratio(r["ebra"], v, r["higher"])
            row += [fmt(v), "–" if x is None else f"{x:.2f}"]
        for k, _ in floors:
            v = r["floors"].get(k)
            if v == "n/a":
                row += ["n/a¹", "–"]
                continue
            x = ratio(r["ebra"], v, r["higher"])
            row += [fmt(v), "–" if x is None else f"{x:.2f}"]
        print("| " + " | ".join(row) + " |")
    reserved = None
    for h in harnesses:
        for n in res.names(h, "glibc"):
            if n.startswith("BM_overhead/ebra/"):
                reserved = res.value(h, "glibc", n, lambda b: b["reserved_per_live"])
    if reserved is not None:
        print("| 1M live 64 B: ebra bytes_reserved ÷ bytes_live (pool stats) | ratio | "
              + fmt(reserved) + " |" + " |" * (len(head) - 3))
    print("\n↑ = higher is better.  × = how many times better ebra is than that "
          "peer or floor (other ÷ ebra for times and sizes, ebra ÷ other for "
          "rates): > 1 ebra wins, < 1 ebra is behind.  Medians of the repetitions "
          "(isolated RSS cases: over fresh processes); cv = ebra's coefficient of "
          "variation over the repetitions.  floor = a per-thread LIFO freelist of "
          "fixed-size objects with no checks and no way back for cross-thread "
          "frees (bench/pool_floor.h), its alloc and free called out of line "
          "(call) or inlined into the loop (inline)"
          + ("; ebra Ir/op = instructions per operation, callgrind "
             "(callgrind.tsv of this results directory)" if with_ir else "")
          + ".  ¹ no floor: a per-thread freelist has no way to return the "
          "consumer's frees to the producer; its lists would grow without bound.\n")
    if ir:
        print_ir_table(ir)
    # Targets of earlier issues (issue 2), against mimalloc: time ratio
    # ebra ÷ mimalloc, or throughput ratio ebra ÷ mimalloc.
    by_label = {(r["label"], r["metric"]): r for r in rows}
    targets = [
        ("pair 64 B, 1 thr", "time", 0.7, "pair (64 B) ≤ 0.7× mimalloc's time"),
        ("1000 live, LIFO free (64 B), 1 thr", "time", 0.8,
         "1000-live-then-free ≤ 0.8× mimalloc's time"),
        ("producer→consumer, 1 per slot (64 B)", "rate", 1.5,
         "producer→consumer (1 per slot) ≥ 1.5× mimalloc's throughput"),
        ("producer→consumer, 64 per slot (64 B)", "rate", 1.5,
         "producer→consumer (64 per slot) ≥ 1.5× mimalloc's throughput"),
    ]
    lines = []
    for label, kind, limit, text in targets:
        r = next((v for (l, _), v in by_label.items() if l == label), None)
        m = r["peers"].get("mimalloc") if r else None
        if r is None or r["ebra"] is None or not m:
            lines.append(f"- {text}: not measured")
            continue
        x = r["ebra"] / m
        ok = x <= limit if kind == "time" else x >= limit
        lines.append(f"- {text}: ebra ÷ mimalloc = {x:.2f} — {'met' if ok else 'missed'}")
    if reserved is not None:
        lines.append(f"- reserved ÷ live ≤ 1.15 at 1M live 64 B: {reserved:.3f} — "
                     f"{'met' if reserved <= 1.15 else 'missed'}")
    print("Targets (earlier issues; informative, never a pass/fail of this run):")
    print("\n".join(lines) + "\n")
    print_pool_goals(rows, ir)


IR_ROWS = [("pair", "alloc+free pair, 64 B"), ("live_lifo", "1000 live, LIFO free, per pair"),
           ("live_fifo", "1000 live, FIFO free, per pair"),
           ("larson", "larson, 1 thread, no cross-thread frees, per free+alloc")]


def print_ir_table(ir):
    """Instructions per operation, every allocator, from callgrind.tsv."""
    peers = [p for p in PEERS if any(m.startswith("malloc_") and q == p for m, q in ir)]
    kinds = [("ebra", "ebra"), ("ebra_inline", "ebra inline"), ("ebra_strict", "ebra strict"),
             ("floor", "floor (call)"),
             ("floor_inline", "floor (inline)")]
    print("### Instructions per operation (callgrind)\n")
    print("| case | " + " | ".join(t for _, t in kinds) + " | "
          + " | ".join(peers) + " |")
    print("|---|" + "---:|" * (len(kinds) + len(peers)))
    for base, label in IR_ROWS:
        cells = []
        for k, _ in kinds:
            m = ir_mode(k, base)
            cells.append(fmt(ir.get((m, "glibc"))) if m else "–")
        cells += [fmt(ir.get(("malloc_" + base, p))) for p in peers]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\n`bench/callgrind.sh --peers`: (Ir(N) − Ir(0)) ÷ N of `bench/ops_count MODE N`, "
          "the caller's loop included; ebra and the floors as a C program linked "
          "against libebra.so calls them (PLT for ebra), malloc through "
          "LD_PRELOAD.  Exact and independent of load.\n")


def print_pool_goals(rows, ir):
    """The pool goals of issue 11, checked against this run (informative)."""
    def find(fam, kind="ebra", args=None, threads="1", higher=None):
        """The first row of that case (of that metric direction, if given)."""
        for r in rows:
            if (r["fam"] == fam and r["kind"] == kind and r["threads"] == threads
                    and (args is None or r["args"] == args)
                    and (higher is None or r["higher"] == higher)):
                return r
        return None

    def fastest_peer(r):
        vals = {p: v for p, v in r["peers"].items() if p != "glibc" and v}
        if not vals:
            return None, None
        p = (max if r["higher"] else min)(vals, key=vals.get)
        return p, vals[p]

    lines = []

    def goal(text, value, limit, at_most, digits=2):
        if value is None:
            lines.append(f"- {text}: not measured")
            return
        ok = value <= limit if at_most else value >= limit
        lines.append(f"- {text}: {value:.{digits}f} — {'met' if ok else 'missed'}")

    pair = find("BM_pair", args="64")
    if pair:
        p, v = fastest_peer(pair)
        goal(f"pair 64 B: ebra ÷ fastest peer{f' ({p})' if p else ''} time ≤ 0.6",
             pair["ebra"] / v if (v and pair["ebra"]) else None, 0.6, True)
        fl = pair["floors"].get("floor")
        goal("pair 64 B: ebra ÷ floor (call) time ≤ 1.3",
             pair["ebra"] / fl if (isinstance(fl, float) and pair["ebra"]) else None, 1.3, True)
    goal("pair 64 B: ebra instructions per pair ≤ 40", ir.get(("pair", "glibc")), 40, True, 1)
    inl = find("BM_pair", kind="ebra_inline", args="64")
    fli = pair["floors"].get("floor_inline") if pair else None
    goal("pair 64 B: ebra inline ÷ floor (inline) time ≤ 1.5",
         inl["ebra"] / fli if (inl and inl["ebra"] and isinstance(fli, float)) else None,
         1.5, True)
    for fam, order in (("BM_live_lifo", "LIFO"), ("BM_live_fifo", "FIFO")):
        r = find(fam, args="1000")
        m = r["peers"].get("mimalloc") if r else None
        goal(f"1000 live, {order}: ebra ÷ mimalloc time ≤ 0.8",
             r["ebra"] / m if (r and m and r["ebra"]) else None, 0.8, True)
    for xf in ("0", "1"):
        for t in ("1", "2", "4"):
            r = find("BM_larson", args=f"xfree:{xf}", threads=t, higher=True)
            p, v = fastest_peer(r) if r else (None, None)
            goal(f"larson, {LARSON_XFREE[xf]}, {t} thr: ebra ÷ fastest peer"
                 f"{f' ({p})' if p else ''} throughput ≥ 1.2",
                 r["ebra"] / v if (r and v and r["ebra"]) else None, 1.2, False)
            # The same on CPU time per pair, which a loaded machine disturbs less.
            c = find("BM_larson", args=f"xfree:{xf}", threads=t, higher=False)
            p, v = fastest_peer(c) if c else (None, None)
            goal(f"larson, {LARSON_XFREE[xf]}, {t} thr, on CPU time: fastest peer"
                 f"{f' ({p})' if p else ''} ÷ ebra ≥ 1.2",
                 v / c["ebra"] if (c and v and c["ebra"]) else None, 1.2, False)
    for fam, args in (("BM_pair", "64"), ("BM_live_lifo", "1000"), ("BM_live_fifo", "1000"),
                      ("BM_larson", "xfree:0"), ("BM_larson", "xfree:1")):
        one = find(fam, args=args, threads="1", higher=(fam == "BM_larson") or None)
        two = find(fam, args=args, threads="2", higher=(fam == "BM_larson") or None)
        if not (one and two and one["ebra"] and two["ebra"]):
            lines.append(f"- no slowdown 1 → 2 threads, {fam}/{args}: not measured")
            continue
        # time per op (per thread) or total throughput: 2 threads no worse than
        # 1.  The called floor's own ratio says how much of a change the
        # harness itself makes (the larson exchange array's cache lines).
        x = two["ebra"] / one["ebra"]
        f1, f2 = one["floors"].get("floor"), two["floors"].get("floor")
        fl = (f" (floor (call): {f2 / f1:.2f})"
              if isinstance(f1, float) and isinstance(f2, float) and f1 else "")
        if one["higher"]:
            goal(f"no slowdown 1 → 2 threads, {fam}/{args}: throughput 2 thr ÷ 1 thr ≥ 1"
                 + fl, x, 1.0, False, 3)
        else:
            goal(f"no slowdown 1 → 2 threads, {fam}/{args}: time 2 thr ÷ 1 thr ≤ 1" + fl,
                 x, 1.0, True, 3)
    xt = find("BM_xthread_batch", args="64")
    m = xt["peers"].get("mimalloc") if xt else None
    if xt and m and xt["ebra"]:
        lines.append(f"- producer→consumer (64 per slot): ebra ÷ mimalloc throughput = "
                     f"{xt['ebra'] / m:.2f} (no regression: compare with earlier runs)")
    print("Pool goals of issue 11 (this run; informative, never a pass/fail; "
          "timings on a loaded machine decide nothing below ~15%):")
    print("\n".join(lines) + "\n")


# ---- 2. weak references --------------------------------------------------------
BACKENDS = ["memb", "qsbr", "ck"]


def per_op_ns(b):
    return b["per_op"] * 1e9


def mops(b):  # million resolves per second of the run's wall-clock span, all threads
    return b["wall_ops_per_s"] / 1e6


def print_weak_table(res):
    h = "bench_weak"
    if not res.names(h):
        return
    threads = sorted({int(n.split("threads:")[1]) for n in res.names(h) if "threads:" in n})
    print("### Weak references: resolve a handle (lock + get + unlock)\n")
    head = ["backend", "handle", "threads", "ebra ns/resolve (cv)", "M resolves/s",
            "CPUs busy",
            "one section per 64: ns", "weak_ptr ns", "× weak_ptr", "mutex map ns",
            "× mutex map"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for which in ("same", "random"):
        for t in threads:
            wp = res.value(h, "glibc", f"BM_weak_ptr_lock/{which}/threads:{t}", per_op_ns)
            mm = res.value(h, "glibc", f"BM_mutex_map/{which}/threads:{t}", per_op_ns)
            for be in BACKENDS:
                name = f"BM_weak_get/{be}/{which}/threads:{t}"
                e = res.value(h, "glibc", name, per_op_ns)
                cvb = res.cv.get((h, "glibc", name))
                cv = cvb.get("per_op") if cvb else None
                tp = res.value(h, "glibc", name, mops)
                b64 = res.value(h, "glibc", f"BM_weak_get_batch64/{be}/{which}/threads:{t}",
                                per_op_ns)
                busy = e * tp / 1e3 if (e and tp) else None
                row = [be, which, str(t),
                       fmt(e) + (f" ({cv * 100:.0f}%)" if cv is not None else ""),
                       fmt(tp), fmt(busy), fmt(b64), fmt(wp),
                       "–" if not (e and wp) else f"{wp / e:.2f}", fmt(mm),
                       "–" if not (e and mm) else f"{mm / e:.2f}"]
                print("| " + " | ".join(row) + " |")
    print("\nns/resolve = CPU time per resolve summed over threads (constant = "
          "perfect scaling); M resolves/s = all threads over the run's wall-clock "
          "span (wall_span.h); CPUs busy = ns/resolve × resolves/s, how many "
          "CPUs the benchmark threads really got (below the thread count: the "
          "threads did not overlap, so the wall rate says more about the "
          "machine than about ebra).  × = peer ÷ "
          "ebra per resolve, > 1 ebra wins.  Peers run once per row group (no "
          "backend).  4 threads oversubscribe 2 CPUs.\n")


def print_reclaim_table(res):
    h = "bench_weak"
    names = res.names(h)
    sec = [n for n in names if n.startswith("BM_section_only/")]
    rr = [n for n in names if n.startswith("BM_retire_reuse/")]
    if not sec and not rr:
        return
    print("### Reclamation backends\n")
    if sec:
        threads = sorted({int(n.split("threads:")[1]) for n in sec})
        print("| read section (lock+unlock), CPU ns | " +
              " | ".join(f"{t} thr" for t in threads) + " |")
        print("|---|" + "---|" * len(threads))
        for be in BACKENDS:
            vals = [res.value(h, "glibc", f"BM_section_only/{be}/threads:{t}", per_op_ns)
                    for t in threads]
            print(f"| {be} | " + " | ".join(fmt(v) for v in vals) + " |")
        print()
    if rr:
        print("| backend | batch | max age µs | gp p50 / p99 µs | reuse p50 / p99 µs | "
              "pending mean / p99 / max | bound | retires k/s |")
        print("|---|---|---|---|---|---|---|---|")
        for n in rr:
            parts = dict(p.split(":") for p in n.split("/")[2:] if ":" in p)
            g = lambda k: res.value(h, "glibc", n, lambda b: b[k])
            rate = g("retire_per_s")
            print(f"| {n.split('/')[1]} | {parts.get('batch', '?')} | "
                  f"{parts.get('age_us', '?')} | {fmt(g('gp_p50_us'))} / {fmt(g('gp_p99_us'))} | "
                  f"{fmt(g('reuse_p50_us'))} / {fmt(g('reuse_p99_us'))} | "
                  f"{fmt(g('pending_mean'))} / {fmt(g('pending_p99'))} / "
                  f"{fmt(g('pending_max'))} | {fmt(g('pending_bound'))} | "
                  f"{fmt(rate / 1e3 if rate else None)} |")
        print("\nTwo workers retire 64-byte objects at a steady 160k/s each; "
              "latencies from ebra_domain_stats (last 1024 grace periods), "
              "pending sampled every 1 ms.  Medians over the repetitions.\n")


# ---- 4. ebra as the process's malloc --------------------------------------------
MALLOC_PEERS = PEERS + ["ebra-malloc"]


def print_malloc_table(res):
    h = "bench_malloc"
    names = res.names(h)
    if not names:
        return
    print("### ebra as the process's malloc (libebra-malloc.so) against each peer\n")
    print("Millions of malloc+free pairs per second (higher is better) and peak RSS "
          "(MiB) of one binary under each malloc; × = ebra-malloc ÷ the best peer's "
          "throughput (> 1: ebra wins), RSS× = ebra-malloc ÷ mimalloc's peak.\n")
    print("| case | " + " | ".join(MALLOC_PEERS) + " | × | RSS× |")
    print("|---|" + "---|" * (len(MALLOC_PEERS) + 2))
    ratios = []
    mops = lambda b: b["items_per_second"] / 1e6
    rss = lambda b: b["peak_rss_mib"]
    for n in names:
        vals = {p: res.value(h, p, n, mops) for p in MALLOC_PEERS}
        peaks = {p: res.value(h, p, n, rss) for p in MALLOC_PEERS}
        e = vals.get("ebra-malloc")
        best = max((v for p, v in vals.items() if p != "ebra-malloc" and v), default=None)
        x = e / best if e and best else None
        if x:
            ratios.append(x)
        mi, em = peaks.get("mimalloc"), peaks.get("ebra-malloc")
        cells = " | ".join(f"{fmt(vals[p])} / {fmt(peaks[p])}" for p in MALLOC_PEERS)
        print(f"| {n} | {cells} | {fmt(x)} | {fmt(em / mi if em and mi else None)} |")
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"\nGeometric mean of × over {len(ratios)} cases: {geo:.2f}.\n")
    print_shared_lines(res, h, names)


def print_shared_lines(res, h, names):
    """BM_random's untimed shared_lines counter, for the cases with threads."""
    share = lambda b: b["shared_lines"]
    rows = [n for n in names if any(res.value(h, p, n, share) for p in MALLOC_PEERS)]
    if not rows:
        return
    print("Share of live blocks in a cache line that another thread's live block "
          "also uses (BM_random, counted after the timed loop; median):\n")
    print("| case | " + " | ".join(MALLOC_PEERS) + " |")
    print("|---|" + "---|" * len(MALLOC_PEERS))
    for n in rows:
        cells = " | ".join(fmt(res.value(h, p, n, share)) for p in MALLOC_PEERS)
        print(f"| {n} | {cells} |")
    print()


# ---- 5. anything else -----------------------------------------------------------
KNOWN = {"bench_pool", "bench_weak", "bench_rss", "bench_malloc"}


def print_generic(res):
    for h in sorted(res.files):
        if h in KNOWN:
            continue
        print(f"### {h}\n")
        print("| case | peer | real time (median) | CPU time (median) | unit | counters |")
        print("|---|---|---|---|---|---|")
        for (hh, p, n), bs in sorted(res.entries.items()):
            if hh != h:
                continue
            b = bs[0]
            skip = {"name", "run_name", "run_type", "repetitions", "repetition_index",
                    "threads", "iterations", "real_time", "cpu_time", "time_unit",
                    "family_index", "per_family_instance_index", "aggregate_name",
                    "aggregate_unit"}
            counters = ", ".join(f"{k}={fmt(res.value(h, p, n, lambda x, k=k: x[k]))}"
                                 for k, v in b.items()
                                 if k not in skip and isinstance(v, (int, float)))
            print(f"| {n} | {p} | {fmt(res.value(h, p, n, lambda x: x['real_time']))} | "
                  f"{fmt(res.value(h, p, n, lambda x: x['cpu_time']))} | "
                  f"{b.get('time_unit', '')} | {counters} |")
        print()


def check(res, harnesses):
    bad = list(res.errors)
    for h in harnesses:
        files = res.files.get(h, [])
        if not files:
            bad.append(f"{h}: no result file")
        for path, n in files:
            if n == 0:
                bad.append(f"{os.path.basename(path)}: no benchmarks")
    total = sum(n for fs in res.files.values() for _, n in fs)
    nfiles = sum(len(fs) for fs in res.files.values())
    if bad:
        for b in bad:
            print(f"check: {b}", file=sys.stderr)
        return 1
    print(f"check: {len(harnesses)} harnesses, {nfiles} files, {total} benchmark entries, "
          "no errors", file=sys.stderr)
    return 0


def main():
    args = sys.argv[1:]
    if args and args[0] == "--check":
        if len(args) < 2:
            sys.exit(__doc__)
        sys.exit(check(Results(args[1]), args[2:]))
    if len(args) != 1:
        sys.exit(__doc__)
    res = Results(args[0])
    if not res.files:
        sys.exit(f"report.py: no results in {args[0]}")
    notes = os.path.join(args[0], "notes.txt")
    if os.path.exists(notes):
        print("```")
        with open(notes) as f:
            print(f.read().rstrip())
        print("```\n")
    print_alloc_table(res, ["bench_pool", "bench_rss"])
    print_weak_table(res)
    print_reclaim_table(res)
    print_malloc_table(res)
    print_generic(res)
    for e in res.errors:
        print(f"- error: {e}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""peers_table.py — the markdown table of bench/peers.sh, from its results.

Usage: /usr/bin/python3 bench/peers_table.py RESULTS_DIR

RESULTS_DIR holds, per allocator NAME (glibc, jemalloc, mimalloc, tcmalloc):
  NAME.json            timing cases, aggregates of N repetitions
  NAME.overhead-{ebra,malloc}K.json  BM_overhead/ebra or /malloc alone in a
                       fresh process, K = 1, 2, ...
Benchmark names pair up as BM_<case>/{ebra,malloc}/<arg>[/real_time|...].

For each case: the median of ebra (median of its per-run medians over every
allocator's run: LD_PRELOAD swaps only malloc, so ebra's number should not
depend on the run), each peer's malloc median, and ebra ÷ peer.  Time rows:
lower is better, ratio < 1 means ebra is faster.  Throughput rows: ratio =
ebra throughput ÷ peer throughput, > 1 means ebra is faster.  Stdlib only.
"""
import glob
import json
import os
import statistics
import sys

PEERS = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]
UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
NAME_SUFFIXES = ("real_time", "iterations:", "repeats:", "min_time:", "threads:",
                 "process_time", "manual_time")

# (key, label, metric text, how to read one benchmark entry, higher is better)
def _cpu_ns(b):
    return b["cpu_time"] * UNIT_NS[b["time_unit"]]

ROWS = [
    ("BM_pair/16", "alloc+free pair, 16 B", "ns/pair", _cpu_ns, False),
    ("BM_pair/64", "alloc+free pair, 64 B", "ns/pair", _cpu_ns, False),
    ("BM_pair/512", "alloc+free pair, 512 B", "ns/pair", _cpu_ns, False),
    ("BM_live_lifo/1000", "1000 live, then LIFO free (64 B)", "ns/pair",
     lambda b: b["per_pair"] * 1e9, False),
    ("BM_xthread/64", "producer→consumer, 1 object per ring slot (64 B)",
     "M items/s", lambda b: b["items_per_second"] / 1e6, True),
    ("BM_xthread_batch/64", "producer→consumer, 64 objects per ring slot (64 B)",
     "M items/s", lambda b: b["items_per_second"] / 1e6, True),
    ("BM_overhead/64#rss", "1M live 64 B: RSS delta ÷ live bytes", "ratio",
     lambda b: b["rss_per_live"], False),
]
# ebra's own accounting, no malloc twin.
EBRA_RESERVED = ("BM_overhead/64", lambda b: b["reserved_per_live"])

# (row key, peer, limit, higher is better, text)
TARGETS = [
    ("BM_pair/64", "mimalloc", 0.7, False, "pair (64 B) ≤ 0.7× mimalloc's time"),
    ("BM_live_lifo/1000", "mimalloc", 0.8, False,
     "1000-live-then-free ≤ 0.8× mimalloc's time"),
    ("BM_xthread/64", "mimalloc", 1.5, True,
     "producer→consumer (1 per slot) ≥ 1.5× mimalloc's throughput"),
    ("BM_xthread_batch/64", "mimalloc", 1.5, True,
     "producer→consumer (64 per slot) ≥ 1.5× mimalloc's throughput"),
]
RESERVED_TARGET = 1.15


def split_name(run_name):
    """'BM_xthread/ebra/64/real_time' -> ('BM_xthread/64', 'ebra')."""
    parts = run_name.split("/")
    if len(parts) < 2:
        return None, None
    rest = [p for p in parts[2:] if not p.startswith(NAME_SUFFIXES)]
    return "/".join([parts[0]] + rest), parts[1]


def load(path):
    """Yield (case, allocator, entry) for the median (or single) runs."""
    with open(path) as f:
        data = json.load(f)
    for b in data.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        kind = b.get("run_type", "iteration")
        if kind == "aggregate" and b.get("aggregate_name") != "median":
            continue
        if kind == "iteration" and b.get("repetitions", 1) > 1:
            continue  # individual repetitions when aggregates were not only
        case, alloc = split_name(b.get("run_name", b["name"]))
        if case:
            yield case, alloc, b


def collect(results_dir):
    """values[(case, alloc)][peer] -> list of numbers, per row key."""
    values = {}
    ebra_reserved = []
    present = []
    for peer in PEERS:
        files = sorted(glob.glob(os.path.join(results_dir, peer + ".json")) +
                       glob.glob(os.path.join(results_dir, peer + ".overhead*.json")))
        if not files:
            continue
        present.append(peer)
        for path in files:
            for case, alloc, b in load(path):
                if (case, alloc) == (EBRA_RESERVED[0], "ebra"):
                    ebra_reserved.append(EBRA_RESERVED[1](b))
                for key, _, _, get, _ in ROWS:
                    if key.split("#")[0] != case:
                        continue
                    try:
                        v = get(b)
                    except KeyError:
                        continue
                    values.setdefault((key, alloc), {}).setdefault(peer, []).append(v)
    return values, ebra_reserved, present


def fmt(v):
    if v is None:
        return "–"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    results_dir = sys.argv[1]
    values, ebra_reserved, present = collect(results_dir)
    if not present:
        sys.exit(f"peers_table.py: no results in {results_dir}")

    notes = os.path.join(results_dir, "notes.txt")
    skipped = []
    if os.path.exists(notes):
        with open(notes) as f:
            skipped = [l.strip() for l in f if l.startswith("note:")]

    head = ["case", "metric", "ebra (min–max over runs)"]
    for p in present:
        head += [f"{p} malloc", f"ebra ÷ {p}"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))

    ratios = {}
    for key, label, metric, _, higher in ROWS:
        ebra_runs = [statistics.median(v) for v in values.get((key, "ebra"), {}).values()]
        ebra = statistics.median(ebra_runs) if ebra_runs else None
        cell = "–" if ebra is None else (
            f"{fmt(ebra)} ({fmt(min(ebra_runs))}–{fmt(max(ebra_runs))})")
        row = [label, metric + (" (higher is better)" if higher else ""), cell]
        for p in present:
            pv = values.get((key, "malloc"), {}).get(p)
            peer = statistics.median(pv) if pv else None
            ratio = ebra / peer if ebra is not None and peer else None
            ratios[(key, p)] = ratio
            row += [fmt(peer), "–" if ratio is None else f"{ratio:.2f}"]
        print("| " + " | ".join(row) + " |")
    reserved = statistics.median(ebra_reserved) if ebra_reserved else None
    row = ["1M live 64 B: ebra bytes_reserved ÷ bytes_live (pool stats)", "ratio",
           fmt(reserved)] + ["", ""] * len(present)
    print("| " + " | ".join(row) + " |")

    print()
    print("Time rows: cpu_time median, lower is better; ratio < 1 means ebra is "
          "faster.  Throughput rows: real time, ratio = ebra ÷ peer, > 1 means "
          "ebra is faster.  Overhead rows: lower is better.")
    for s in skipped:
        print(f"- {s}")
    print()
    print("Targets:")
    for key, peer, limit, higher, text in TARGETS:
        r = ratios.get((key, peer))
        if r is None:
            print(f"- {text}: not measured ({peer} missing)")
            continue
        ok = r >= limit if higher else r <= limit
        print(f"- {text}: {r:.2f}× — {'met' if ok else 'MISSED'}")
    if reserved is None:
        print(f"- reserved ÷ live ≤ {RESERVED_TARGET} at 1M live 64 B: not measured")
    else:
        ok = reserved <= RESERVED_TARGET
        print(f"- reserved ÷ live ≤ {RESERVED_TARGET} at 1M live 64 B: "
              f"{reserved:.3f} — {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()

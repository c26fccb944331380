#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""plot.py — PNG plots from bench/run.sh results (Debian's python3-matplotlib).

Usage:
  /usr/bin/python3 bench/plot.py RESULTS_DIR IMG_DIR
      alloc_ns_by_size.png         ns per alloc+free pair by allocator and
                                   object size, one panel per thread count
      weak_resolve_threads.png     weak-reference resolves per second (wall
                                   time, all threads) against thread count
      rss_over_time.png            resident MiB over the burst/steady/idle
                                   workload, one line per allocator
      malloc_workloads.png         bench_malloc: M malloc+free pairs/s and
                                   peak RSS per case and thread count, one
                                   bar per malloc (LD_PRELOAD peers and
                                   ebra-malloc)
      SERIES.png                   every other time-series group in
                                   RESULTS_DIR (see below), generically
  /usr/bin/python3 bench/plot.py series OUT.png [--column COL] [--title T]
                                 FILE.csv[=LABEL]...
      one plot of any time series (below); all numeric columns, or only COL

Time-series CSV (what bench_rss writes; any harness may write more into
$EBRA_BENCH_SERIES_DIR, which bench/run.sh sets to RESULTS_DIR/series/HARNESS):
a header line, the first column is time in
seconds, an optional text column named "phase" marks phases (shaded), every
other column is a numeric series.  Files are grouped by name up to the
first dot: rss_phases.glibc.csv and rss_phases.ebra.csv are one plot.
"""
import csv
import glob
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

ALLOCS = ["ebra"] + report.PEERS
COLORS = {"ebra": "#d62728", "glibc": "#7f7f7f", "jemalloc": "#1f77b4",
          "mimalloc": "#2ca02c", "tcmalloc": "#ff7f0e", "memb": "#d62728",
          "qsbr": "#9467bd", "ck": "#8c564b", "weak_ptr": "#1f77b4",
          "mutex map": "#7f7f7f", "ebra-malloc": "#d62728"}
MALLOC_CASES = ["larson", "prodcons", "falseshare", "random", "shortthreads"]
PHASE_SHADES = ["#f0f0ff", "#f0fff0", "#fff6e6", "#fff0f0", "#f0ffff"]


def save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"plot: {path}", file=sys.stderr)


def plot_alloc(res, path):
    h = "bench_pool"
    sizes = sorted({int(n.split("/")[2]) for n in res.names(h, "glibc")
                    if n.startswith("BM_pair/ebra/")})
    threads = sorted({int(n.split("threads:")[1]) for n in res.names(h, "glibc")
                      if n.startswith("BM_pair/ebra/") and "threads:" in n}) or [1]
    if not sizes:
        return False
    fig, axes = plt.subplots(1, len(threads), figsize=(4 * len(threads), 3.6),
                             sharey=True, squeeze=False)
    width = 0.8 / len(ALLOCS)
    for ax, t in zip(axes[0], threads):
        for k, a in enumerate(ALLOCS):
            peer, who = ("glibc", "ebra") if a == "ebra" else (a, "malloc")
            ys = [res.value(h, peer, f"BM_pair/{who}/{s}/threads:{t}", report.cpu_ns)
                  for s in sizes]
            if all(y is None for y in ys):
                continue
            xs = [i + (k - (len(ALLOCS) - 1) / 2) * width for i in range(len(sizes))]
            ax.bar(xs, [y or 0 for y in ys], width, label=a, color=COLORS[a])
        ax.set_xticks(range(len(sizes)))
        ax.set_xticklabels([f"{s} B" for s in sizes])
        ax.set_title(f"{t} thread{'s' if t > 1 else ''}")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("CPU ns per alloc+free (median)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("alloc+free pair by allocator and size (lower is better)")
    save(fig, path)
    return True


def plot_weak(res, path):
    h = "bench_weak"
    names = res.names(h, "glibc")
    threads = sorted({int(n.split("threads:")[1]) for n in names
                      if n.startswith("BM_weak_get/") and "threads:" in n})
    if not threads:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
    for ax, which in zip(axes, ("same", "random")):
        lines = [(f"ebra {be}", COLORS[be], f"BM_weak_get/{be}/{which}")
                 for be in report.BACKENDS]
        lines += [("std::weak_ptr", COLORS["weak_ptr"], f"BM_weak_ptr_lock/{which}"),
                  ("mutex map", COLORS["mutex map"], f"BM_mutex_map/{which}")]
        for label, color, base in lines:
            ys = [res.value(h, "glibc", f"{base}/threads:{t}", report.mops) for t in threads]
            ax.plot(threads, ys, marker="o", label=label, color=color)
        ax.set_xticks(threads)
        ax.set_xlabel("threads (2 CPUs)")
        ax.set_title(f"{which} handle")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("M resolves/s, all threads, wall clock")
    axes[1].legend(fontsize=8)
    fig.suptitle("weak reference resolve throughput (higher is better)")
    save(fig, path)
    return True


def commit_of(results):
    """The "git:" line of RESULTS_DIR/notes.txt, or None."""
    try:
        with open(os.path.join(results, "notes.txt")) as f:
            return next((ln.split(":", 1)[1].strip() for ln in f
                         if ln.startswith("git:")), None)
    except OSError:
        return None


def malloc_case_key(name):
    """'BM_random/malloc/threads:2', 'BM_shortthreads/malloc/2' -> (case, threads)"""
    parts = name.split("/")
    case = parts[0][len("BM_"):]
    t = parts[-1].split(":")[-1]
    return (MALLOC_CASES.index(case) if case in MALLOC_CASES else len(MALLOC_CASES),
            case, int(t) if t.isdigit() else 0)


def malloc_bars(ax, res, names, get, ref):
    """One bar per malloc per case; above each group ebra-malloc ÷ ref({peer: value})."""
    h, allocs = "bench_malloc", report.MALLOC_PEERS
    width = 0.8 / len(allocs)
    vals = {a: [res.value(h, a, n, get) for n in names] for a in allocs}
    for k, a in enumerate(allocs):
        xs = [i + (k - (len(allocs) - 1) / 2) * width for i in range(len(names))]
        ebra = a == "ebra-malloc"
        ax.bar(xs, [y or 0 for y in vals[a]], width, label=a, color=COLORS[a],
               edgecolor="black" if ebra else "none", linewidth=0.8,
               hatch="//" if ebra else None)
    for i in range(len(names)):
        e = vals["ebra-malloc"][i]
        r = ref({a: vals[a][i] for a in allocs if a != "ebra-malloc" and vals[a][i]})
        top = max((vals[a][i] or 0) for a in allocs)
        if e and r:
            ax.text(i, top, f"×{e / r:.2f}", ha="center", va="bottom", fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.margins(x=0.01, y=0.12)


def plot_malloc(res, path, commit=None):
    names = sorted(res.names("bench_malloc"), key=malloc_case_key)
    if not names:
        return False
    fig, (top, bot) = plt.subplots(2, 1, figsize=(13, 7.5), sharex=True)
    malloc_bars(top, res, names, lambda b: b["items_per_second"] / 1e6,
                lambda peers: max(peers.values(), default=None))
    malloc_bars(bot, res, names, lambda b: b["peak_rss_mib"],
                lambda peers: peers.get("mimalloc"))
    top.set_ylabel("M malloc+free pairs/s\n(higher is better)")
    top.set_title("× = ebra-malloc ÷ best peer", fontsize=8, loc="right")
    bot.set_ylabel("peak RSS MiB\n(lower is better)")
    bot.set_title("× = ebra-malloc ÷ mimalloc", fontsize=8, loc="right")
    bot.set_xticks(range(len(names)))
    bot.set_xticklabels([f"{c}\n{t} thr" for _, c, t in map(malloc_case_key, names)],
                        fontsize=8)
    top.legend(fontsize=8, ncol=len(report.MALLOC_PEERS), loc="lower left",
               bbox_to_anchor=(0, 1), frameon=False)
    fig.suptitle("bench_malloc: one binary under each malloc (LD_PRELOAD), medians over "
                 "repetitions and processes" + (f", git {commit}" if commit else ""))
    save(fig, path)
    return True


def read_series(path):
    """-> (time column name, [t], {column: [values]}, [(phase, t0, t1)])"""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        return None
    head, body = rows[0], rows[1:]
    tcol = head[0]
    ts = [float(r[0]) for r in body]
    cols = {}
    phases = []
    for j, name in enumerate(head[1:], start=1):
        if name == "phase":
            for t, r in zip(ts, body):
                if not phases or phases[-1][0] != r[j]:
                    phases.append([r[j], t, t])
                phases[-1][2] = t
            continue
        try:
            cols[name] = [float(r[j]) for r in body]
        except ValueError:
            pass  # a text column: not a series
    return tcol, ts, cols, phases


def plot_series(path, files, column=None, title=None):
    """files: [(csv path, label)]"""
    fig, ax = plt.subplots(figsize=(8, 4))
    shaded = False
    tname = "t_s"
    for i, (f, label) in enumerate(files):
        s = read_series(f)
        if s is None:
            continue
        tname, ts, cols, phases = s
        if phases and not shaded:
            for k, (name, t0, t1) in enumerate(phases):
                ax.axvspan(t0, t1, color=PHASE_SHADES[k % len(PHASE_SHADES)], zorder=0)
                ax.text((t0 + t1) / 2, 1.0, name, transform=ax.get_xaxis_transform(),
                        ha="center", va="bottom", fontsize=8)
            shaded = True
        for name, ys in cols.items():
            if column and name != column:
                continue
            lab = label if (column or len(cols) == 1) else f"{label} {name}"
            ax.plot(ts, ys, label=lab, color=COLORS.get(label) if column else None)
    ax.set_xlabel(tname)
    ax.set_ylabel(column or "value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, pad=14)
    save(fig, path)


def label_of(path):
    parts = os.path.basename(path)[:-len(".csv")].split(".", 1)
    return parts[1] if len(parts) > 1 else parts[0]


def main():
    args = sys.argv[1:]
    if args and args[0] == "series":
        out, column, title, files = None, None, None, []
        rest = args[1:]
        while rest:
            a = rest.pop(0)
            if a == "--column":
                column = rest.pop(0)
            elif a == "--title":
                title = rest.pop(0)
            elif out is None:
                out = a
            else:
                f, _, lab = a.partition("=")
                files.append((f, lab or label_of(f)))
        if out is None or not files:
            sys.exit(__doc__)
        plot_series(out, files, column, title)
        return
    if len(args) != 2:
        sys.exit(__doc__)
    results, img = args
    os.makedirs(img, exist_ok=True)
    res = report.Results(results)
    plot_alloc(res, os.path.join(img, "alloc_ns_by_size.png"))
    plot_weak(res, os.path.join(img, "weak_resolve_threads.png"))
    plot_malloc(res, os.path.join(img, "malloc_workloads.png"), commit_of(results))
    groups = {}
    for f in sorted(glob.glob(os.path.join(results, "series", "*", "*.csv"))):
        groups.setdefault(os.path.basename(f).split(".")[0], []).append(f)
    for g, files in groups.items():
        order = {a: i for i, a in enumerate(ALLOCS)}
        files.sort(key=lambda f: order.get(label_of(f), len(order)))
        if g == "rss_phases":
            plot_series(os.path.join(img, "rss_over_time.png"),
                        [(f, label_of(f)) for f in files], "resident_mib",
                        "resident MiB over burst / steady / idle (16–512 B objects)")
        else:
            plot_series(os.path.join(img, g + ".png"), [(f, label_of(f)) for f in files],
                        None, g)


if __name__ == "__main__":
    main()

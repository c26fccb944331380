#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""plot_phases.py — plot and tabulate bench_phases results.

Reads the Google Benchmark JSON (--benchmark_out) and the series file
(--series_out) of one or more bench_phases invocations (pass them in the
same order), pools their repetitions, and
  - writes a PNG: resident MiB against time, one colour per strategy (the
    median repetition by end-of-idle resident drawn solid, the others thin),
    phase boundaries marked; below it, adaptive's active strategy over time;
  - prints a markdown table of medians over the repetitions: per phase,
    each strategy's throughput and resident bytes at the end of the phase,
    the best fixed strategy, and adaptive against it.

Run with Debian's python (python3-matplotlib):
  /usr/bin/python3 bench/plot_phases.py --bench r1/phases.json r2/phases.json \
      --series r1/series.json r2/series.json --png docs/img/phases_resident.png
"""
import argparse
import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FIXED = ["low-latency", "high-throughput", "memory-efficient"]
ALL = FIXED + ["adaptive"]
COLOURS = {"low-latency": "tab:blue", "high-throughput": "tab:red",
           "memory-efficient": "tab:green", "adaptive": "black"}
MIB = 1024.0 * 1024.0


def load_bench(paths):
    """(contexts, strategy -> list of per-repetition counter dicts)."""
    runs = {s: [] for s in ALL}
    contexts = []
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        contexts.append(doc.get("context", {}))
        for b in doc["benchmarks"]:
            if b.get("run_type") != "iteration" or b.get("error_occurred"):
                continue
            strategy = b["name"].split("/")[1]
            if strategy in runs:
                runs[strategy].append(b)
    return contexts, runs


def median_range(values):
    return statistics.median(values), min(values), max(values)


def table(runs):
    # (label, counter, scale, higher is better, a goal row): the goal is
    # throughput in burst and steady, resident bytes in idle.
    rows = [
        ("burst: ops/s (M)", "burst_ops_per_s", 1e-6, True, True),
        ("steady: ops/s (M)", "steady_ops_per_s", 1e-6, True, True),
        ("idle: resident at end (MiB)", "rss_MiB_end_idle", 1.0, False, True),
        ("burst: ops per worker CPU-s (M)", "burst_ops_per_cpu_s", 1e-6, True, False),
        ("steady: ops per worker CPU-s (M)", "steady_ops_per_cpu_s", 1e-6, True, False),
        ("resident at end of burst (MiB)", "rss_MiB_end_burst", 1.0, False, False),
        ("resident at end of steady (MiB)", "rss_MiB_end_steady", 1.0, False, False),
        ("resident peak (MiB)", "rss_MiB_peak", 1.0, False, False),
    ]
    out = []
    reps = min(len(runs[s]) for s in ALL)
    out.append(f"Medians of {reps} runs per strategy, [min–max] in brackets.\n")
    out.append("| measure | " + " | ".join(ALL) + " | best fixed | adaptive vs best |")
    out.append("|---|" + "---|" * (len(ALL) + 2))
    for label, key, scale, higher, goal in rows:
        med = {}
        cells = []
        for s in ALL:
            m, lo, hi = median_range([r[key] * scale for r in runs[s]])
            med[s] = m
            cells.append(f"{m:.1f} [{lo:.1f}–{hi:.1f}]")
        pick = max if higher else min
        best = pick(FIXED, key=lambda s: med[s])
        ratio = med["adaptive"] / med[best] if med[best] else float("nan")
        ok = ratio >= 0.9 if higher else ratio <= 1.1
        verdict = (" **goal met**" if ok else " **goal missed**") if goal else ""
        out.append(f"| {label} | " + " | ".join(cells) +
                   f" | {best} | {ratio:.2f}{verdict} |")
    out.append("")
    out.append("Engine, medians: | " + " | ".join(ALL) + " |")
    out.append("|---|" + "---|" * len(ALL))
    for key in ["switches", "steps", "bytes_purged_MiB", "magazines_trimmed",
                "knob_changes", "retired"]:
        out.append(f"| {key} | " + " | ".join(
            f"{statistics.median(r[key] for r in runs[s]):.0f}" for s in ALL) + " |")
    return "\n".join(out)


def plot(series, runs, png):
    by = {s: [r for r in series["runs"] if r["strategy"] == s] for s in ALL}
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    for s in ALL:
        reps = by[s]
        if not reps:
            continue
        ends = [r["samples"]["resident_bytes"][-1] for r in reps]
        med_i = sorted(range(len(reps)), key=lambda i: ends[i])[len(reps) // 2]
        for i, r in enumerate(reps):
            t = [x / 1e3 for x in r["samples"]["t_ms"]]
            y = [x / MIB for x in r["samples"]["resident_bytes"]]
            if i == med_i:
                ax.plot(t, y, color=COLOURS[s], lw=1.8, label=s)
            else:
                ax.plot(t, y, color=COLOURS[s], lw=0.7, alpha=0.35)
    ends = [statistics.median(r["phase_end_ms"][k] for r in series["runs"]) / 1e3
            for k in range(3)]
    starts = [0.0] + ends[:2]
    for a in (ax, ax2):
        for x in ends[:2]:
            a.axvline(x, color="grey", ls="--", lw=0.8)
    for name, x0, x1 in zip(["burst", "steady", "idle"], starts, ends):
        ax.text((x0 + x1) / 2, 1.01, name, transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("resident (MiB, /proc/self/statm)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    levels = {"low-latency": 0, "high-throughput": 1, "memory-efficient": 2}
    n = len(by["adaptive"])
    for i, r in enumerate(by["adaptive"]):  # one line per run, offset a little
        t = [x / 1e3 for x in r["samples"]["t_ms"]]
        y = [levels.get(a, -1) + 0.25 * (i - (n - 1) / 2) / max(n, 1)
             for a in r["samples"]["active"]]
        ax2.step(t, y, where="post", color="black", lw=0.9, alpha=0.6)
    ax2.set_yticks(list(levels.values()))
    ax2.set_yticklabels(list(levels.keys()), fontsize=8)
    ax2.set_ylim(-0.5, 2.5)
    ax2.set_ylabel("adaptive's pick", fontsize=8)
    ax2.set_xlabel("time (s); each run in its own process, sampled every "
                   f"{series.get('sample_ms', 50):.0f} ms")
    ax2.grid(alpha=0.3)
    fig.suptitle("bench_phases: resident bytes over a burst, steady and idle phase")
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", required=True, nargs="+",
                    help="bench_phases --benchmark_out JSON file(s)")
    ap.add_argument("--series", required=True, nargs="+",
                    help="bench_phases --series_out JSON file(s)")
    ap.add_argument("--png", help="write the plot here")
    args = ap.parse_args()
    contexts, runs = load_bench(args.bench)
    missing = [s for s in ALL if not runs[s]]
    if missing:
        sys.exit(f"plot_phases: no successful runs for {', '.join(missing)}")
    series = {"runs": []}
    for path in args.series:
        with open(path) as f:
            doc = json.load(f)
        series["sample_ms"] = doc.get("sample_ms", 50)
        series["runs"] += doc["runs"]
    for c in contexts:
        load = ", ".join(f"{x:.1f}" for x in c.get("load_avg", []))
        print(f"<!-- {c.get('date', '')}: load average {load} -->")
    print(table(runs))
    if args.png:
        plot(series, runs, args.png)
        print(f"\n(wrote {args.png})", file=sys.stderr)


if __name__ == "__main__":
    main()

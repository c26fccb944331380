/* SPDX-License-Identifier: MIT */
// wall_span.h — throughput over the wall-clock span of a multi-threaded
// Google Benchmark run.
//
// Google Benchmark's real time for a run with N threads is the *average* of
// the threads' own timers divided by the iterations of all threads.  When
// threads do not overlap (4 threads on 2 CPUs, or a short run the scheduler
// gives to one thread after another) that average is shorter than the span
// the work really took, and a rate derived from it is inflated.  WallSpan
// measures the span itself: from the first thread's first iteration to the
// end of the run (Google Benchmark holds every thread at a barrier when its
// loop ends, so the end is common), and reports ops / span as one counter.
//
// Use: call WallSpan<Tag>::reset from the benchmark's Setup (before any
// thread starts), start(state) once in the first iteration of every thread,
// finish(state, ops) after the loop.  One instance per benchmark function
// (Tag): runs of one benchmark never overlap.
#ifndef EBRA_BENCH_WALL_SPAN_H
#define EBRA_BENCH_WALL_SPAN_H

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>

#include "clock.h"

template <class Tag>
struct WallSpan {
  static inline std::atomic<int64_t> first_start{INT64_MAX};
  static inline std::atomic<int64_t> ops{0};
  static inline std::atomic<int> finished{0};

  static int64_t now() { return static_cast<int64_t>(now_ns()); }
  static void reset(const benchmark::State &) {
    first_start.store(INT64_MAX);
    ops.store(0);
    finished.store(0);
  }
  static void start() {
    const int64_t t = now();
    int64_t cur = first_start.load(std::memory_order_relaxed);
    while (t < cur && !first_start.compare_exchange_weak(cur, t)) {
    }
  }
  // The last thread to finish sets counter `name` = all threads' ops per
  // second of span; the other threads do not set it, so Google Benchmark's
  // sum over threads is that value.
  static void finish(benchmark::State &state, int64_t my_ops, const char *name) {
    const int64_t end = now();
    ops.fetch_add(my_ops);
    if (finished.fetch_add(1) + 1 == state.threads()) {
      const double span = static_cast<double>(end - first_start.load()) * 1e-9;
      if (span > 0)
        state.counters[name] = static_cast<double>(ops.load()) / span;
    }
  }
};

#endif

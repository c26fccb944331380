/* SPDX-License-Identifier: MIT */
// bench_rss.cc — Google Benchmark harness: resident memory over time through
// a burst / steady / idle workload, ebra pools against malloc/free.
//
//   BM_rss_phases/{ebra,malloc}   one iteration of three phases:
//     burst   allocate kPeakObjects objects of random size class (16, 64,
//             256, 512 B; one ebra pool per class), in kBurstSteps paced steps
//     steady  free 3 in 4 of them at random, then for kSteadyTicks ticks
//             replace kSteadyReplace random live objects per tick
//     idle    free everything (ebra: and flush this thread's caches back to
//             the pools), then wait kIdleTicks ticks
//   A sampler thread records every kSampleNs: resident bytes (ebra_snapshot,
//   which reads /proc/self/statm), ebra's bytes_reserved (0 for malloc) and
//   the workload's live bytes.  Counters (MiB): rss_peak, rss_steady (mean
//   over the steady phase), rss_idle_end (last sample), live_peak,
//   reserved_peak (ebra).
//
// Like BM_overhead, the RSS numbers mean something only in a fresh process
// per allocator: run one case per process (bench/run.sh does).
//
// Time series: with EBRA_BENCH_SERIES_DIR set, each run also writes
// $EBRA_BENCH_SERIES_DIR/rss_phases.<label>.csv, <label> being
// $EBRA_BENCH_LABEL (the allocator bench/run.sh preloaded) or the case's
// allocator name.  Columns: t_s, phase, resident_mib, reserved_mib, live_mib
// — the generic series format bench/plot.py reads (first column time, a
// text "phase" column, then numeric series).  EBRA_BENCH_QUICK=1 shrinks the
// workload 5x for smoke runs.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "clock.h"
#include "ebra.h"

namespace {

constexpr size_t kClasses[4] = {16, 64, 256, 512};

bool quick_mode() {
  const char *q = std::getenv("EBRA_BENCH_QUICK");
  return q != nullptr && q[0] == '1';
}

struct Plan {
  size_t peak_objects;
  int burst_steps;
  int steady_ticks;
  size_t steady_replace;
  int idle_ticks;
  uint64_t tick_ns;
  uint64_t sample_ns;
};

Plan plan() {
  if (quick_mode())
    return {60000, 10, 20, 1000, 10, 5000000, 2000000};
  return {300000, 20, 50, 5000, 30, 10000000, 2000000};
}

inline uint64_t xorshift64(uint64_t &x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

// Four size classes behind one shape: alloc(cls), free(cls, p), flush().
class EbraClasses {
 public:
  static constexpr const char *kName = "ebra";
  EbraClasses() {
    for (unsigned c = 0; c < 4; c++) {
      ebra_pool_config_t cfg{};
      cfg.name = "bench_rss";
      cfg.object_size = kClasses[c];
      pools_[c] = ebra_pool_create(&cfg);
    }
  }
  ~EbraClasses() {
    for (ebra_pool_t *p : pools_)
      if (p != nullptr)
        ebra_pool_destroy(p);
  }
  EbraClasses(const EbraClasses &) = delete;
  EbraClasses &operator=(const EbraClasses &) = delete;
  bool ok() const {
    for (ebra_pool_t *p : pools_)
      if (p == nullptr)
        return false;
    return true;
  }
  void *alloc(unsigned c) { return ebra_pool_alloc(pools_[c]); }
  bool free(unsigned c, void *p) { return ebra_pool_free(pools_[c], p) == 0; }
  void flush() {
    for (ebra_pool_t *p : pools_)
      ebra_pool_thread_flush(p);
  }

 private:
  ebra_pool_t *pools_[4] = {};
};

class MallocClasses {
 public:
  static constexpr const char *kName = "malloc";
  bool ok() const { return true; }
  void *alloc(unsigned c) { return std::malloc(kClasses[c]); }
  bool free(unsigned, void *p) {
    std::free(p);
    return true;
  }
  void flush() {}
};

struct Sample {
  double t_s;
  int phase;
  double resident_mib, reserved_mib, live_mib;
};
const char *const kPhaseNames[] = {"burst", "steady", "idle"};
constexpr double kMiB = 1024.0 * 1024.0;

template <class A>
void BM_rss_phases(benchmark::State &state) {
  const Plan pl = plan();
  std::vector<uintptr_t> objs(pl.peak_objects, 0); // class in the low 2 bits
  std::vector<Sample> samples;
  samples.reserve(4096);
  bool good = true;
  for (auto _ : state) {
    A a;
    if (!a.ok()) {
      state.SkipWithError("pool create failed");
      return;
    }
    std::atomic<int> phase{0};
    std::atomic<uint64_t> live_bytes{0};
    std::atomic<bool> stop{false};
    const uint64_t t0 = now_ns();
    std::thread sampler([&] {
      uint64_t next = t0;
      while (!stop.load(std::memory_order_relaxed)) {
        ebra_snapshot_t *snap = nullptr;
        if (ebra_snapshot(&snap) == 0 && samples.size() < samples.capacity()) {
          samples.push_back({static_cast<double>(now_ns() - t0) * 1e-9,
                             phase.load(std::memory_order_relaxed),
                             static_cast<double>(snap->resident_bytes) / kMiB,
                             static_cast<double>(snap->bytes_reserved) / kMiB,
                             static_cast<double>(live_bytes.load(std::memory_order_relaxed)) /
                                 kMiB});
        }
        ebra_snapshot_free(snap);
        next += pl.sample_ns;
        sleep_until_ns(next);
      }
    });

    uint64_t rng = 0x2545f4914f6cdd1dull;
    uint64_t live = 0;
    auto make = [&](size_t i) {
      const unsigned c = static_cast<unsigned>(xorshift64(rng) & 3u);
      void *p = a.alloc(c);
      if (p == nullptr || (reinterpret_cast<uintptr_t>(p) & 3u) != 0) {
        good = false;
        objs[i] = 0;
        return;
      }
      *static_cast<volatile uint64_t *>(p) = i; // touch it, as a user would
      objs[i] = reinterpret_cast<uintptr_t>(p) | c;
      live += kClasses[c];
    };
    auto drop = [&](size_t i) {
      const uintptr_t tp = objs[i];
      if (tp == 0)
        return;
      const unsigned c = static_cast<unsigned>(tp & 3u);
      good &= a.free(c, reinterpret_cast<void *>(tp & ~uintptr_t{3}));
      live -= kClasses[c];
      objs[i] = 0;
    };

    // burst: ramp to the peak in paced steps
    uint64_t next = t0;
    const size_t per_step = pl.peak_objects / static_cast<size_t>(pl.burst_steps);
    for (int s = 0; s < pl.burst_steps; s++) {
      for (size_t i = static_cast<size_t>(s) * per_step; i < (static_cast<size_t>(s) + 1) * per_step; i++)
        make(i);
      live_bytes.store(live, std::memory_order_relaxed);
      next += pl.tick_ns;
      sleep_until_ns(next);
    }
    // steady: keep one in four, replace some every tick
    phase.store(1, std::memory_order_relaxed);
    for (size_t i = 0; i < pl.peak_objects; i++)
      if (xorshift64(rng) & 3u)
        drop(i);
    live_bytes.store(live, std::memory_order_relaxed);
    for (int t = 0; t < pl.steady_ticks; t++) {
      for (size_t k = 0; k < pl.steady_replace; k++) {
        const size_t i = xorshift64(rng) % pl.peak_objects;
        if (objs[i] != 0) {
          drop(i);
          make(i);
        }
      }
      live_bytes.store(live, std::memory_order_relaxed);
      next += pl.tick_ns;
      sleep_until_ns(next);
    }
    // idle: free everything, give caches back, wait
    phase.store(2, std::memory_order_relaxed);
    for (size_t i = 0; i < pl.peak_objects; i++)
      drop(i);
    a.flush();
    live_bytes.store(live, std::memory_order_relaxed);
    for (int t = 0; t < pl.idle_ticks; t++) {
      next += pl.tick_ns;
      sleep_until_ns(next);
    }
    stop.store(true);
    sampler.join();
  }
  if (!good)
    state.SkipWithError("alloc or free failed");

  double peak = 0, steady_sum = 0, live_peak = 0, reserved_peak = 0;
  int steady_n = 0;
  for (const Sample &s : samples) {
    peak = std::max(peak, s.resident_mib);
    live_peak = std::max(live_peak, s.live_mib);
    reserved_peak = std::max(reserved_peak, s.reserved_mib);
    if (s.phase == 1) {
      steady_sum += s.resident_mib;
      steady_n++;
    }
  }
  state.counters["rss_peak_mib"] = peak;
  state.counters["rss_steady_mib"] = steady_n ? steady_sum / steady_n : 0;
  state.counters["rss_idle_end_mib"] = samples.empty() ? 0 : samples.back().resident_mib;
  state.counters["live_peak_mib"] = live_peak;
  state.counters["reserved_peak_mib"] = reserved_peak;
  state.counters["samples"] = static_cast<double>(samples.size());

  const char *dir = std::getenv("EBRA_BENCH_SERIES_DIR");
  if (dir != nullptr && dir[0] != '\0') {
    const char *label = std::getenv("EBRA_BENCH_LABEL");
    std::string who = A::kName;
    if (label != nullptr && label[0] != '\0' && who != "ebra")
      who = label; // the malloc this process runs under
    const std::string path = std::string(dir) + "/rss_phases." + who + ".csv";
    std::FILE *f = std::fopen(path.c_str(), "w");
    if (f == nullptr) {
      state.SkipWithError("cannot write the series CSV");
      return;
    }
    std::fprintf(f, "t_s,phase,resident_mib,reserved_mib,live_mib\n");
    for (const Sample &s : samples)
      std::fprintf(f, "%.4f,%s,%.3f,%.3f,%.3f\n", s.t_s, kPhaseNames[s.phase], s.resident_mib,
                   s.reserved_mib, s.live_mib);
    std::fclose(f);
  }
}

[[maybe_unused]] const int registered = [] {
  benchmark::RegisterBenchmark("BM_rss_phases/ebra", BM_rss_phases<EbraClasses>)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_rss_phases/malloc", BM_rss_phases<MallocClasses>)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  return 0;
}();

} // namespace

/* SPDX-License-Identifier: MIT */
// bench_weak.cc — Google Benchmark harness: ebra's reclamation domains and
// weak handles, against std::weak_ptr and a mutex-guarded hash map.
//
// Resolving handles (each benchmark iteration resolves kOps = 64 handles;
// the per_op counter is CPU seconds per resolve, as is the reported time
// divided by 64):
//
//   BM_weak_get/<be>/{same,random}          per resolve: ebra_read_lock +
//                                           ebra_weak_get + ebra_read_unlock
//   BM_weak_get_batch64/<be>/{same,random}  one section around 64 weak_gets
//   BM_weak_ptr_lock/{same,random}          std::weak_ptr::lock() + release
//   BM_mutex_map/{same,random}              std::mutex + unordered_map::find
//                                           + unlock, per lookup
//   BM_mutex_map_batch64/{same,random}      one lock around 64 finds
//
//   BM_section_only/<be>                    ebra_read_lock + unlock, nothing
//                                           inside (the section's share)
//   BM_floor_memb_inline/{same,random}      liburcu memb read lock/unlock
//                                           inlined into this executable
//                                           (bench/weak_floor.c, _LGPL_SOURCE)
//                                           around the exported ebra_weak_get:
//                                           what an inline header fast path
//                                           could reach
//   BM_floor_memb_inline_empty              the same, nothing inside
//   BM_floor_ck_empty                       a bare ck_epoch_begin +
//                                           ck_epoch_end (bench/weak_floor.c):
//                                           the floor of a ck section
//   BM_weak_get_inline/..., BM_weak_get_batch64_inline/...,
//   BM_section_only_inline/<be>             the same as the rows without
//                                           _inline, through the inline fast
//                                           paths of the public headers
//                                           (ebra_read_lock_inline,
//                                           ebra_weak_get_inline)
//
//   <be> is memb, qsbr or ck (EBRA_RECLAIM_URCU_MEMB, _URCU_QSBR, _CK_EPOCH).
//   "same": every thread resolves the one handle; "random": a per-thread
//   sequence of handles drawn uniformly from 4096 live objects, computed
//   before the timed loop.  Each case runs with 1, 2 and 4 threads (4
//   oversubscribes a 2-CPU machine); the time is CPU time, summed over the
//   threads and divided by the resolves of all threads, so perfect scaling
//   keeps it constant from 1 to 2 threads.  Counter wall_ops_per_s: resolves
//   of all threads per second of the run's wall-clock span (wall_span.h;
//   Google Benchmark's own real time averages the threads' timers, which
//   overstates throughput when threads do not overlap).
//
//   qsbr: every benchmark thread registers explicitly (online, so its
//   sections cost nothing), reports a quiescent state once per 64 resolves
//   (a server's once per request) and goes offline when it leaves the
//   benchmark: an online thread that stops reporting stalls grace periods.
//
// Retire -> reuse (one benchmark thread drives two worker threads itself):
//
//   BM_retire_reuse/<be>/batch:B/age_us:A   two workers each allocate a
//       64-byte pool object and ebra_retire it, kRetirePerTick objects every
//       kTickNs (a steady 160k objects/s per thread), for run_ns() (0.5 s;
//       0.1 s when EBRA_BENCH_QUICK=1 is set, for smoke runs), on a fresh
//       domain with ebra_domain_set_batching(B, A us).  The benchmark thread
//       samples ebra_domain_stats().pending every kSampleNs.  Counters:
//       reuse_p50/p99_us and gp_p50/p99_us (from ebra_domain_stats, last
//       1024 grace periods), pending_max / pending_mean / pending_p99 (of
//       the samples after a 50 ms warm-up; a sampled max can miss a peak),
//       pending_bound = B * 2 threads, pending_max_over_bound, grace_periods.
//       qsbr workers register, call ebra_quiescent after each tick's burst
//       and go offline while they sleep.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <sys/prctl.h>

#include "clock.h"
#include "ebra.h"
#include "wall_span.h"
#include "weak_floor.h"

namespace {

constexpr int kOps = 64;            // resolves per benchmark iteration
constexpr size_t kObjects = 4096;   // live objects in each table / peer
constexpr size_t kSeqLen = 16384;   // random handle sequence per thread (power of 2)

struct Backend {
  const char *name;
  ebra_reclaim_backend_t id;
};
constexpr Backend kBackends[] = {
    {"memb", EBRA_RECLAIM_URCU_MEMB},
    {"qsbr", EBRA_RECLAIM_URCU_QSBR},
    {"ck", EBRA_RECLAIM_CK_EPOCH},
};

[[noreturn]] void die(const char *what) {
  std::fprintf(stderr, "bench_weak: %s failed (errno %d)\n", what, errno);
  std::abort();
}

struct WgTag {};
struct WgiTag {};
struct Wg64Tag {};
struct Wg64iTag {};
struct WpTag {};
struct MmTag {};

// The per-op counter: CPU seconds per resolve (see the header comment).
void set_per_op(benchmark::State &state) {
  state.counters["per_op"] = benchmark::Counter(
      kOps, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kAvgThreads |
                benchmark::Counter::kInvert);
}

// A per-thread sequence of indices into [0, kObjects), precomputed so the
// RNG is not measured.  Seeded by the thread index: reproducible.
std::vector<uint32_t> random_indices(int thread_index) {
  std::mt19937_64 rng(0x9e3779b97f4a7c15ull + static_cast<uint64_t>(thread_index));
  std::uniform_int_distribution<uint32_t> dist(0, kObjects - 1);
  std::vector<uint32_t> v(kSeqLen);
  for (auto &x : v)
    x = dist(rng);
  return v;
}

// ---- ebra fixture: one domain, pool and table of 4096 live objects per
// backend, created on first use and kept for the process (benchmark threads
// come and go between runs; the fixture must outlive all of them). ----------

struct WeakFixture {
  ebra_domain_t *domain = nullptr;
  ebra_pool_t *pool = nullptr;
  ebra_weak_table_t *table = nullptr;
  std::vector<ebra_weak_t> handles;
};

WeakFixture &weak_fixture(ebra_reclaim_backend_t be) {
  static WeakFixture fx[4];
  static std::once_flag once[4];
  WeakFixture &f = fx[be];
  std::call_once(once[be], [&f, be] {
    ebra_domain_config_t dc{};
    dc.name = "bench_weak";
    dc.backend = be;
    if (!(f.domain = ebra_domain_create(&dc)))
      die("ebra_domain_create");
    ebra_pool_config_t pc{};
    pc.name = "bench_weak";
    pc.object_size = 64;
    if (!(f.pool = ebra_pool_create(&pc)))
      die("ebra_pool_create");
    if (!(f.table = ebra_weak_table_create(f.domain, nullptr)))
      die("ebra_weak_table_create");
    f.handles.resize(kObjects);
    for (auto &h : f.handles) {
      void *obj = ebra_pool_alloc(f.pool);
      int rc = obj ? ebra_weak_create(f.table, obj, &h) : -ENOMEM;
      if (rc != 0) {
        errno = -rc;
        die("ebra_weak_create");
      }
    }
    // The creating thread may be qsbr-registered implicitly (offline): fine.
  });
  return f;
}

// Register the benchmark thread as a server thread would (qsbr: online).
void enter_domain(ebra_domain_t *d) {
  if (ebra_domain_register_thread(d) != 0)
    die("ebra_domain_register_thread");
}

// Leave it so no grace period waits for us (qsbr: offline; others no-op).
void leave_domain(ebra_domain_t *d) {
  if (ebra_domain_thread_offline(d) != 0)
    die("ebra_domain_thread_offline");
}

// The exported functions, or the inline ones of the public headers.
template <bool kInline> inline int read_lock(ebra_domain_t *d) {
  return kInline ? ebra_read_lock_inline(d) : ebra_read_lock(d);
}
template <bool kInline> inline void read_unlock(ebra_domain_t *d) {
  if (kInline)
    ebra_read_unlock_inline(d);
  else
    ebra_read_unlock(d);
}
template <bool kInline> inline void *weak_get(const ebra_weak_table_t *t, ebra_weak_t h) {
  return kInline ? ebra_weak_get_inline(t, h) : ebra_weak_get(t, h);
}

// Variant (a): a section per resolve.
template <bool kInline>
void BM_weak_get(benchmark::State &state, ebra_reclaim_backend_t be, bool random) {
  using Tag = std::conditional_t<kInline, WgiTag, WgTag>;
  WeakFixture &f = weak_fixture(be);
  ebra_domain_t *d = f.domain;
  const ebra_weak_table_t *t = f.table;
  std::vector<ebra_weak_t> seq(kSeqLen, f.handles[0]);
  if (random) {
    const auto idx = random_indices(state.thread_index());
    for (size_t i = 0; i < kSeqLen; i++)
      seq[i] = f.handles[idx[i]];
  }
  enter_domain(d);
  size_t pos = 0;
  size_t misses = 0;
  bool first = true;
  for (auto _ : state) {
    if (first) {
      first = false;
      WallSpan<Tag>::start();
    }
    const ebra_weak_t *hs = &seq[pos];
    for (int i = 0; i < kOps; i++) {
      read_lock<kInline>(d);
      void *p = weak_get<kInline>(t, hs[i]);
      misses += (p == nullptr);
      benchmark::DoNotOptimize(p);
      read_unlock<kInline>(d);
    }
    ebra_quiescent(d); // once per "request" of 64 resolves (qsbr)
    pos = (pos + kOps) & (kSeqLen - 1);
  }
  leave_domain(d);
  if (misses)
    state.SkipWithError("ebra_weak_get returned NULL for a live object");
  set_per_op(state);
  WallSpan<Tag>::finish(state, state.iterations() * kOps, "wall_ops_per_s");
}

// Variant (b): one section around a batch of 64 resolves.
template <bool kInline>
void BM_weak_get_batch64(benchmark::State &state, ebra_reclaim_backend_t be, bool random) {
  using Tag = std::conditional_t<kInline, Wg64iTag, Wg64Tag>;
  WeakFixture &f = weak_fixture(be);
  ebra_domain_t *d = f.domain;
  const ebra_weak_table_t *t = f.table;
  std::vector<ebra_weak_t> seq(kSeqLen, f.handles[0]);
  if (random) {
    const auto idx = random_indices(state.thread_index());
    for (size_t i = 0; i < kSeqLen; i++)
      seq[i] = f.handles[idx[i]];
  }
  enter_domain(d);
  size_t pos = 0;
  size_t misses = 0;
  bool first = true;
  for (auto _ : state) {
    if (first) {
      first = false;
      WallSpan<Tag>::start();
    }
    const ebra_weak_t *hs = &seq[pos];
    read_lock<kInline>(d);
    for (int i = 0; i < kOps; i++) {
      void *p = weak_get<kInline>(t, hs[i]);
      misses += (p == nullptr);
      benchmark::DoNotOptimize(p);
    }
    read_unlock<kInline>(d);
    ebra_quiescent(d);
    pos = (pos + kOps) & (kSeqLen - 1);
  }
  leave_domain(d);
  if (misses)
    state.SkipWithError("ebra_weak_get returned NULL for a live object");
  set_per_op(state);
  WallSpan<Tag>::finish(state, state.iterations() * kOps, "wall_ops_per_s");
}

// The section alone: ebra_read_lock + ebra_read_unlock per op.
template <bool kInline> void BM_section_only(benchmark::State &state, ebra_reclaim_backend_t be) {
  WeakFixture &f = weak_fixture(be);
  ebra_domain_t *d = f.domain;
  enter_domain(d);
  for (auto _ : state) {
    for (int i = 0; i < kOps; i++) {
      read_lock<kInline>(d);
      benchmark::ClobberMemory();
      read_unlock<kInline>(d);
    }
    ebra_quiescent(d);
  }
  leave_domain(d);
  set_per_op(state);
}

// Floor: liburcu memb's read side inlined here, around ebra_weak_get.
void BM_floor_memb_inline(benchmark::State &state, bool random) {
  WeakFixture &f = weak_fixture(EBRA_RECLAIM_URCU_MEMB);
  std::vector<ebra_weak_t> seq(kSeqLen, f.handles[0]);
  if (random) {
    const auto idx = random_indices(state.thread_index());
    for (size_t i = 0; i < kSeqLen; i++)
      seq[i] = f.handles[idx[i]];
  }
  enter_domain(f.domain); // registers the thread with liburcu memb
  size_t pos = 0, misses = 0;
  void *sink = nullptr;
  for (auto _ : state) {
    misses += ebra_bench_floor_memb(f.table, &seq[pos], kOps, &sink);
    pos = (pos + kOps) & (kSeqLen - 1);
  }
  leave_domain(f.domain);
  if (misses)
    state.SkipWithError("ebra_weak_get returned NULL for a live object");
  set_per_op(state);
}

// The ck floor: a bare ck_epoch_begin + ck_epoch_end on a record of the
// benchmark's own ck_epoch_t (bench/weak_floor.c), nothing inside.
void BM_floor_ck_empty(benchmark::State &state) {
  void *rec = ebra_bench_floor_ck_record();
  for (auto _ : state)
    benchmark::DoNotOptimize(ebra_bench_floor_ck_empty(rec, kOps));
  set_per_op(state);
}

void BM_floor_memb_inline_empty(benchmark::State &state) {
  WeakFixture &f = weak_fixture(EBRA_RECLAIM_URCU_MEMB);
  enter_domain(f.domain);
  for (auto _ : state)
    benchmark::DoNotOptimize(ebra_bench_floor_memb_empty(kOps));
  leave_domain(f.domain);
  set_per_op(state);
}

// ---- peers ----------------------------------------------------------------

struct Obj64 {
  char bytes[64];
};

struct PeerFixture {
  std::vector<std::shared_ptr<Obj64>> owners; // keep the objects alive
  std::vector<std::weak_ptr<Obj64>> weaks;
  std::vector<uint64_t> keys;
  std::unordered_map<uint64_t, void *> map;
  std::mutex mu;
};

PeerFixture &peer_fixture() {
  static PeerFixture f;
  static std::once_flag once;
  std::call_once(once, [] {
    std::mt19937_64 rng(42);
    for (size_t i = 0; i < kObjects; i++) {
      f.owners.push_back(std::make_shared<Obj64>());
      f.weaks.emplace_back(f.owners.back());
      uint64_t k;
      do
        k = rng();
      while (f.map.count(k));
      f.keys.push_back(k);
      f.map.emplace(k, f.owners.back().get());
    }
  });
  return f;
}

void BM_weak_ptr_lock(benchmark::State &state, bool random) {
  PeerFixture &f = peer_fixture();
  std::vector<const std::weak_ptr<Obj64> *> seq(kSeqLen, &f.weaks[0]);
  if (random) {
    const auto idx = random_indices(state.thread_index());
    for (size_t i = 0; i < kSeqLen; i++)
      seq[i] = &f.weaks[idx[i]];
  }
  size_t pos = 0;
  size_t misses = 0;
  bool first = true;
  for (auto _ : state) {
    if (first) {
      first = false;
      WallSpan<WpTag>::start();
    }
    const std::weak_ptr<Obj64> *const *ws = &seq[pos];
    for (int i = 0; i < kOps; i++) {
      std::shared_ptr<Obj64> sp = ws[i]->lock();
      misses += (sp == nullptr);
      benchmark::DoNotOptimize(sp.get());
    } // release here
    pos = (pos + kOps) & (kSeqLen - 1);
  }
  if (misses)
    state.SkipWithError("weak_ptr::lock returned null");
  set_per_op(state);
  WallSpan<WpTag>::finish(state, state.iterations() * kOps, "wall_ops_per_s");
}

template <bool kBatch>
void BM_mutex_map(benchmark::State &state, bool random) {
  PeerFixture &f = peer_fixture();
  std::vector<uint64_t> seq(kSeqLen, f.keys[0]);
  if (random) {
    const auto idx = random_indices(state.thread_index());
    for (size_t i = 0; i < kSeqLen; i++)
      seq[i] = f.keys[idx[i]];
  }
  size_t pos = 0;
  size_t misses = 0;
  bool first = true;
  for (auto _ : state) {
    if (first) {
      first = false;
      WallSpan<MmTag>::start();
    }
    const uint64_t *ks = &seq[pos];
    if (kBatch) {
      std::lock_guard<std::mutex> g(f.mu);
      for (int i = 0; i < kOps; i++) {
        auto it = f.map.find(ks[i]);
        misses += (it == f.map.end());
        benchmark::DoNotOptimize(it->second);
      }
    } else {
      for (int i = 0; i < kOps; i++) {
        std::lock_guard<std::mutex> g(f.mu);
        auto it = f.map.find(ks[i]);
        misses += (it == f.map.end());
        benchmark::DoNotOptimize(it->second);
      }
    }
    pos = (pos + kOps) & (kSeqLen - 1);
  }
  if (misses)
    state.SkipWithError("map lookup missed");
  set_per_op(state);
  WallSpan<MmTag>::finish(state, state.iterations() * kOps, "wall_ops_per_s");
}

// ---- retire -> reuse latency and pending objects --------------------------

constexpr int kWorkers = 2;
constexpr uint64_t kTickNs = 100000;     // workers wake every 100 us
constexpr int kRetirePerTick = 16;       // 160k retires/s per worker
constexpr uint64_t kSampleNs = 1000000;  // pending sampled every 1 ms

// EBRA_BENCH_QUICK=1 (bench/run.sh --quick) shortens the steady state so a
// smoke run stays short; the numbers then cover fewer grace periods.
bool quick_mode() {
  const char *q = std::getenv("EBRA_BENCH_QUICK");
  return q != nullptr && q[0] == '1';
}
uint64_t run_ns() { return quick_mode() ? 100000000 : 500000000; }   // steady state per iteration
uint64_t warmup_ns() { return quick_mode() ? 20000000 : 50000000; }  // not sampled

void retire_worker(ebra_domain_t *d, ebra_pool_t *pool, const std::atomic<bool> *stop,
                   std::atomic<uint64_t> *retired, std::atomic<int> *errors) {
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); // precise wake-ups for the pacing
  if (ebra_domain_register_thread(d) != 0) {
    errors->fetch_add(1);
    return;
  }
  uint64_t n = 0;
  uint64_t next = now_ns();
  while (!stop->load(std::memory_order_relaxed)) {
    for (int i = 0; i < kRetirePerTick; i++) {
      void *obj = ebra_pool_alloc(pool);
      if (!obj) {
        errors->fetch_add(1);
        break;
      }
      std::memset(obj, 0, 8); // a user writes it before retiring it
      if (ebra_retire(d, obj) != 0) {
        errors->fetch_add(1);
        break;
      }
      n++;
    }
    ebra_quiescent(d); // qsbr: end of this "request"
    if (ebra_domain_thread_offline(d) != 0) // qsbr: do not stall grace periods while asleep
      errors->fetch_add(1);
    next += kTickNs; // absolute deadlines: the average rate is steady
    sleep_until_ns(next);
    if (ebra_domain_thread_online(d) != 0)
      errors->fetch_add(1);
  }
  if (ebra_domain_thread_offline(d) != 0)
    errors->fetch_add(1);
  ebra_domain_unregister_thread(d); // closes the open batch
  retired->fetch_add(n);
}

void BM_retire_reuse(benchmark::State &state, ebra_reclaim_backend_t be) {
  const unsigned batch = static_cast<unsigned>(state.range(0));
  const uint64_t age_ns = static_cast<uint64_t>(state.range(1)) * 1000u;
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  double sum_p50 = 0, sum_p99 = 0, sum_gp50 = 0, sum_gp99 = 0, pmax = 0, psum = 0, pn = 0;
  double gps = 0, rate = 0, pp99 = 0;
  for (auto _ : state) {
    ebra_domain_config_t dc{};
    dc.name = "bench_retire";
    dc.backend = be;
    ebra_domain_t *d = ebra_domain_create(&dc);
    ebra_pool_config_t pc{};
    pc.name = "bench_retire";
    pc.object_size = 64;
    ebra_pool_t *pool = ebra_pool_create(&pc);
    if (!d || !pool || ebra_domain_set_batching(d, batch, age_ns) != 0) {
      state.SkipWithError("domain/pool setup failed");
      break;
    }
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> retired{0};
    std::atomic<int> errors{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; w++)
      workers.emplace_back(retire_worker, d, pool, &stop, &retired, &errors);
    const uint64_t t0 = now_ns();
    const uint64_t run = run_ns();
    uint64_t next = t0 + warmup_ns();
    uint64_t max_pending = 0, samples = 0;
    double sum_pending = 0;
    std::vector<uint64_t> pend;
    pend.reserve(run / kSampleNs + 1);
    while (next < t0 + run) {
      sleep_until_ns(next);
      ebra_domain_stats_t st;
      if (ebra_domain_stats(d, &st) == 0) {
        max_pending = std::max(max_pending, st.pending);
        sum_pending += static_cast<double>(st.pending);
        pend.push_back(st.pending);
        samples++;
      }
      next += kSampleNs;
    }
    ebra_domain_stats_t st{};
    ebra_domain_stats(d, &st); // percentiles of the steady state
    const uint64_t t1 = now_ns();
    stop.store(true);
    for (auto &w : workers)
      w.join();
    if (errors.load()) {
      state.SkipWithError("alloc/retire failed in a worker");
      break;
    }
    state.PauseTiming();
    sum_p50 += static_cast<double>(st.reuse_ns_p50);
    sum_p99 += static_cast<double>(st.reuse_ns_p99);
    sum_gp50 += static_cast<double>(st.gp_ns_p50);
    sum_gp99 += static_cast<double>(st.gp_ns_p99);
    pmax = std::max(pmax, static_cast<double>(max_pending));
    if (!pend.empty()) {
      std::sort(pend.begin(), pend.end());
      pp99 = std::max(pp99, static_cast<double>(pend[(pend.size() - 1) * 99 / 100]));
    }
    psum += sum_pending;
    pn += static_cast<double>(samples);
    gps += static_cast<double>(st.grace_periods);
    rate += static_cast<double>(retired.load()) / (static_cast<double>(t1 - t0) * 1e-9);
    if (ebra_domain_destroy(d) != 0 || ebra_pool_destroy(pool) != 0) {
      state.SkipWithError("destroy failed");
      break;
    }
    state.ResumeTiming();
  }
  const double it = static_cast<double>(state.iterations());
  if (it == 0)
    return;
  const double bound = static_cast<double>(batch) * kWorkers;
  state.counters["reuse_p50_us"] = sum_p50 / it / 1e3;
  state.counters["reuse_p99_us"] = sum_p99 / it / 1e3;
  state.counters["gp_p50_us"] = sum_gp50 / it / 1e3;
  state.counters["gp_p99_us"] = sum_gp99 / it / 1e3;
  state.counters["pending_max"] = pmax;
  state.counters["pending_mean"] = pn > 0 ? psum / pn : 0;
  state.counters["pending_p99"] = pp99;
  state.counters["pending_bound"] = bound;
  state.counters["pending_max_over_bound"] = pmax / bound;
  state.counters["grace_periods"] = gps / it;
  state.counters["retire_per_s"] = rate / it;
}

// ---- registration ----------------------------------------------------------

[[maybe_unused]] const int registered = [] {
  for (const Backend &be : kBackends) {
    for (bool random : {false, true}) {
      const std::string sfx = std::string("/") + be.name + (random ? "/random" : "/same");
      benchmark::RegisterBenchmark(("BM_weak_get" + sfx).c_str(), BM_weak_get<false>, be.id,
                                   random)
          ->Setup(WallSpan<WgTag>::reset)
          ->Threads(1)
          ->Threads(2)
          ->Threads(4);
      benchmark::RegisterBenchmark(("BM_weak_get_inline" + sfx).c_str(), BM_weak_get<true>,
                                   be.id, random)
          ->Setup(WallSpan<WgiTag>::reset)
          ->Threads(1)
          ->Threads(2)
          ->Threads(4);
      benchmark::RegisterBenchmark(("BM_weak_get_batch64" + sfx).c_str(),
                                   BM_weak_get_batch64<false>, be.id, random)
          ->Setup(WallSpan<Wg64Tag>::reset)
          ->Threads(1)
          ->Threads(2)
          ->Threads(4);
      benchmark::RegisterBenchmark(("BM_weak_get_batch64_inline" + sfx).c_str(),
                                   BM_weak_get_batch64<true>, be.id, random)
          ->Setup(WallSpan<Wg64iTag>::reset)
          ->Threads(1)
          ->Threads(2)
          ->Threads(4);
    }
  }
  for (const Backend &be : kBackends) {
    benchmark::RegisterBenchmark((std::string("BM_section_only/") + be.name).c_str(),
                                 BM_section_only<false>, be.id)
        ->Threads(1)
        ->Threads(2)
        ->Threads(4);
    benchmark::RegisterBenchmark((std::string("BM_section_only_inline/") + be.name).c_str(),
                                 BM_section_only<true>, be.id)
        ->Threads(1)
        ->Threads(2)
        ->Threads(4);
  }
  benchmark::RegisterBenchmark("BM_floor_ck_empty", BM_floor_ck_empty)->Threads(1)->Threads(2);
  for (bool random : {false, true})
    benchmark::RegisterBenchmark(
        (std::string("BM_floor_memb_inline") + (random ? "/random" : "/same")).c_str(),
        BM_floor_memb_inline, random)
        ->Threads(1)
        ->Threads(2)
        ->Threads(4);
  benchmark::RegisterBenchmark("BM_floor_memb_inline_empty", BM_floor_memb_inline_empty)
      ->Threads(1)
      ->Threads(2);
  for (bool random : {false, true}) {
    const std::string sfx = random ? "/random" : "/same";
    benchmark::RegisterBenchmark(("BM_weak_ptr_lock" + sfx).c_str(), BM_weak_ptr_lock, random)
        ->Setup(WallSpan<WpTag>::reset)
        ->Threads(1)
        ->Threads(2)
        ->Threads(4);
    benchmark::RegisterBenchmark(("BM_mutex_map" + sfx).c_str(), BM_mutex_map<false>, random)
        ->Setup(WallSpan<MmTag>::reset)
        ->Threads(1)
        ->Threads(2)
        ->Threads(4);
    benchmark::RegisterBenchmark(("BM_mutex_map_batch64" + sfx).c_str(), BM_mutex_map<true>,
                                 random)
        ->Setup(WallSpan<MmTag>::reset)
        ->Threads(1)
        ->Threads(2)
        ->Threads(4);
  }
  for (const Backend &be : kBackends) {
    benchmark::RegisterBenchmark((std::string("BM_retire_reuse/") + be.name).c_str(),
                                 BM_retire_reuse, be.id)
        ->ArgNames({"batch", "age_us"})
        ->ArgsProduct({{16, 64}, {100, 1000}})
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  return 0;
}();

} // namespace

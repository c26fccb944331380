/* SPDX-License-Identifier: MIT */
// bench_cache.cc — Google Benchmark harness: weak-cache lookup throughput
// against the same workload on a mutex-protected and an rwlock-protected
// hash map.
//
// Workload (identical for every case): 4096 live objects stored under the
// uint64 keys 0..4095; each thread looks up a precomputed sequence of keys
// drawn uniformly from 0..4550, so 90% of lookups hit.  Each benchmark
// iteration does kOps = 64 lookups; the per_op counter is CPU seconds per
// lookup per thread (the reported time divided by 64), so perfect scaling
// keeps it constant from 1 to 2 threads.
//
//   BM_cache_lookup/<be>   ebra_read_lock + ebra_cache_lookup_u64 +
//                          ebra_read_unlock, per lookup (<be>: memb, qsbr;
//                          qsbr threads register online and report a
//                          quiescent state once per 64 lookups)
//   BM_mutex_map           std::mutex + unordered_map::find + unlock
//   BM_rwlock_map          pthread_rwlock_rdlock + find + unlock
//
// The maps use the cache's hash (murmur3's finaliser of the key; the cache
// seeds it) and hold the same object pointers.  Run with 1 and 2 threads.

#include <benchmark/benchmark.h>

#include <pthread.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <unordered_map>
#include <vector>

#include "ebra.h"

namespace {

constexpr int kOps = 64;
constexpr uint64_t kObjects = 4096;
constexpr uint64_t kKeySpace = 4551;  // 4096 / 4551 = 0.90 hit rate
constexpr size_t kSeqLen = 16384;     // per-thread key sequence (power of 2)

[[noreturn]] void die(const char *what) {
  std::fprintf(stderr, "bench_cache: %s failed (errno %d)\n", what, errno);
  std::abort();
}

void set_per_op(benchmark::State &state) {
  state.counters["per_op"] = benchmark::Counter(
      kOps, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kAvgThreads |
                benchmark::Counter::kInvert);
}

// Each thread reports its own rate; the counter shows their mean (a plain
// counter would be summed over the threads: 1.80 at two threads).
void set_hit_rate(benchmark::State &state, size_t hits, size_t n) {
  state.counters["hit_rate"] = benchmark::Counter(
      n ? static_cast<double>(hits) / static_cast<double>(n) : 0, benchmark::Counter::kAvgThreads);
}

std::vector<uint64_t> key_sequence(int thread_index) {
  std::mt19937_64 rng(0x5eedull + static_cast<uint64_t>(thread_index));
  std::uniform_int_distribution<uint64_t> dist(0, kKeySpace - 1);
  std::vector<uint64_t> v(kSeqLen);
  for (auto &k : v)
    k = dist(rng);
  return v;
}

struct Mix64 {
  size_t operator()(uint64_t x) const noexcept {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return static_cast<size_t>(x);
  }
};

// ---- fixtures, created once per process (threads come and go) ----------------

struct CacheFixture {
  ebra_domain_t *domain = nullptr;
  ebra_pool_t *pool = nullptr;
  ebra_weak_table_t *table = nullptr;
  ebra_cache_t *cache = nullptr;
  std::vector<void *> objects;
};

CacheFixture &cache_fixture(ebra_reclaim_backend_t be) {
  static CacheFixture fx[4];
  static std::once_flag once[4];
  CacheFixture &f = fx[be];
  std::call_once(once[be], [&f, be] {
    ebra_domain_config_t dc{};
    dc.name = "bench_cache";
    dc.backend = be;
    if (!(f.domain = ebra_domain_create(&dc)))
      die("ebra_domain_create");
    ebra_pool_config_t pc{};
    pc.name = "bench_cache";
    pc.object_size = 64;
    if (!(f.pool = ebra_pool_create(&pc)))
      die("ebra_pool_create");
    if (!(f.table = ebra_weak_table_create(f.domain, nullptr)))
      die("ebra_weak_table_create");
    ebra_cache_config_t cc{};
    cc.name = "bench";
    cc.key_kind = EBRA_CACHE_KEY_U64;
    cc.expected_entries = kObjects;
    if (!(f.cache = ebra_cache_create(f.table, &cc)))
      die("ebra_cache_create");
    for (uint64_t k = 0; k < kObjects; k++) {
      void *obj = ebra_pool_alloc(f.pool);
      ebra_weak_t h = EBRA_WEAK_NONE;
      int rc = obj ? ebra_weak_create(f.table, obj, &h) : -ENOMEM;
      if (rc == 0)
        rc = ebra_cache_store_u64(f.cache, k, h);
      if (rc != 0) {
        errno = -rc;
        die("store");
      }
      f.objects.push_back(obj);
    }
  });
  return f;
}

struct MapFixture {
  std::unordered_map<uint64_t, void *, Mix64> map;
  std::mutex mutex;
  pthread_rwlock_t rwlock = PTHREAD_RWLOCK_INITIALIZER;
};

MapFixture &map_fixture() {
  static MapFixture f;
  static std::once_flag once;
  std::call_once(once, [] {
    static std::vector<uint64_t> storage(kObjects * 8);
    f.map.reserve(kObjects * 2);
    for (uint64_t k = 0; k < kObjects; k++)
      f.map.emplace(k, &storage[k * 8]);
  });
  return f;
}

// ---- benchmarks ------------------------------------------------------------------

void BM_cache_lookup(benchmark::State &state, ebra_reclaim_backend_t be) {
  CacheFixture &f = cache_fixture(be);
  ebra_domain_t *d = f.domain;
  ebra_cache_t *c = f.cache;
  const auto keys = key_sequence(state.thread_index());
  if (ebra_domain_register_thread(d) != 0)
    die("ebra_domain_register_thread");
  size_t pos = 0, hits = 0, n = 0, misuse = 0;
  for (auto _ : state) {
    const uint64_t *ks = &keys[pos];
    for (int i = 0; i < kOps; i++) {
      ebra_read_lock(d);
      void *p;
      const int rc = ebra_cache_lookup_u64(c, ks[i], &p);
      hits += (rc == 0);
      misuse += (rc != 0 && rc != -ENOENT);
      benchmark::DoNotOptimize(p);
      ebra_read_unlock(d);
    }
    ebra_quiescent(d); // once per "request" of 64 lookups (qsbr)
    pos = (pos + kOps) & (kSeqLen - 1);
    n += kOps;
  }
  if (ebra_domain_thread_offline(d) != 0)
    die("ebra_domain_thread_offline");
  if (misuse)
    state.SkipWithError("ebra_cache_lookup_u64 reported misuse");
  set_hit_rate(state, hits, n);
  set_per_op(state);
}

template <bool kRw>
void BM_locked_map(benchmark::State &state) {
  MapFixture &f = map_fixture();
  const auto keys = key_sequence(state.thread_index());
  size_t pos = 0, hits = 0, n = 0;
  for (auto _ : state) {
    const uint64_t *ks = &keys[pos];
    for (int i = 0; i < kOps; i++) {
      if (kRw)
        pthread_rwlock_rdlock(&f.rwlock);
      else
        f.mutex.lock();
      auto it = f.map.find(ks[i]);
      void *p = it == f.map.end() ? nullptr : it->second;
      hits += (p != nullptr);
      benchmark::DoNotOptimize(p);
      if (kRw)
        pthread_rwlock_unlock(&f.rwlock);
      else
        f.mutex.unlock();
    }
    pos = (pos + kOps) & (kSeqLen - 1);
    n += kOps;
  }
  set_hit_rate(state, hits, n);
  set_per_op(state);
}

[[maybe_unused]] const int registered = [] {
  benchmark::RegisterBenchmark("BM_cache_lookup/memb", BM_cache_lookup, EBRA_RECLAIM_URCU_MEMB)
      ->Threads(1)
      ->Threads(2);
  benchmark::RegisterBenchmark("BM_cache_lookup/qsbr", BM_cache_lookup, EBRA_RECLAIM_URCU_QSBR)
      ->Threads(1)
      ->Threads(2);
  benchmark::RegisterBenchmark("BM_mutex_map", BM_locked_map<false>)->Threads(1)->Threads(2);
  benchmark::RegisterBenchmark("BM_rwlock_map", BM_locked_map<true>)->Threads(1)->Threads(2);
  return 0;
}();

} // namespace

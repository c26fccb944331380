/* SPDX-License-Identifier: MIT */
// bench_pool.cc — Google Benchmark harness: ebra pools against malloc/free
// and against the floor (the least a fixed-size allocator can do).
//
// Every case is registered once per allocator with the same arguments,
// named so a script can line them up:
//
//   BM_<case>/ebra/...          an ebra pool, exported calls
//   BM_<case>/ebra_inline/...   ebra_pool_alloc_inline / ebra_pool_free_inline
//                               (ebra/pool_inline.h, compiled into the loop)
//   BM_<case>/ebra_strict/...   pools with EBRA_POOL_STRICT_CHECKS (wherever
//                               the floors run)
//   BM_<case>/malloc/...        the process's malloc
//   BM_<case>/floor/...         per-thread LIFO freelist, called out of line
//   BM_<case>/floor_inline/...  the same freelist, inlined (pool_floor.h)
//
//   BM_pair/<a>/{16,64,512}     alloc+free of one object in a loop
//                               (the magazine-hit fast path);
//                               1, 2 and 4 threads on one pool; the floors
//                               at 64 B only (the size changes nothing there)
//   BM_live_lifo/<a>/1000       1000 objects allocated, then freed
//                               newest first; counter per_pair =
//                               seconds per alloc+free pair;
//                               1, 2 and 4 threads on one pool
//   BM_live_fifo/<a>/1000       the same, freed oldest first
//   BM_larson/<a>/xfree:{0,1}   larson-style server: every thread
//                               keeps a window of kLarsonWindow live
//                               objects of random size class
//                               (16/32/64/128/256/512 B: one ebra pool and
//                               one floor per class), frees a random one and
//                               allocates a replacement; with xfree:1, 1 in 8
//                               replacements is swapped through a shared
//                               exchange array, so objects are freed by other
//                               threads.  1, 2 and 4 threads; wall_ops_per_s
//                               (all threads, wall-clock span: wall_span.h)
//                               and cpu_ns_per_pair (thread CPU time)
//   BM_churn/{ebra,malloc}/{1,2,4}      thread churn: per iteration start N
//                                       threads that each allocate
//                                       kChurnObjects 64-byte objects, free
//                                       them and exit; threads_per_second
//   BM_xthread/{ebra,malloc}/64         one producer allocates, one consumer
//                                       thread frees, through a ck_ring spsc
//                                       ring; items_per_second (real time)
//   BM_xthread_batch/{ebra,malloc}/64   the same, the ring carrying batches
//                                       of 64 pointers
//   BM_overhead/{ebra,malloc}/64        1M live 64-byte objects; counters
//                                       reserved_per_live (ebra stats) and
//                                       rss_per_live (RSS delta, both)
//
// No floor runs producer→consumer: a per-thread freelist has no way back
// to the producer, so the consumer's list would grow without bound while the
// producer carves new memory — a leak, not an allocator (pool_floor.h).
//
// "malloc" means whatever malloc the process has: bench/run.sh runs the
// malloc cases under glibc and under LD_PRELOAD of jemalloc, mimalloc and
// tcmalloc, and every other case once, without preload.
// The ebra cases use default pool settings (magazine capacity from
// EBRA_MAGAZINE_SIZE, default 64).
//
// BM_overhead's RSS numbers mean something only in a fresh process (an
// allocator that keeps freed pages makes a second run's delta ~0): run it
// alone, one allocator per process (--benchmark_filter='^BM_overhead/ebra/'
// or '^BM_overhead/malloc/'), as bench/run.sh does.

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "ebra.h"
#include "pool_floor.h"
#include "spsc_ring.h"
#include "wall_span.h"

namespace {

// ---- the two allocators, behind one shape --------------------------------

// An ebra pool of one object size, created for one benchmark run.
class EbraAlloc {
 public:
  static constexpr const char *kName = "ebra";

  explicit EbraAlloc(size_t size, unsigned flags = 0) {
    ebra_pool_config_t cfg{};
    cfg.name = "bench";
    cfg.object_size = size;
    cfg.flags = flags;
    pool_ = ebra_pool_create(&cfg);
  }
  ~EbraAlloc() {
    if (pool_ != nullptr)
      ebra_pool_destroy(pool_);
  }
  EbraAlloc(const EbraAlloc &) = delete;
  EbraAlloc &operator=(const EbraAlloc &) = delete;

  bool ok() const { return pool_ != nullptr; }
  void *alloc() { return ebra_pool_alloc(pool_); }
  // Returns false if ebra rejected the free (a harness bug).
  bool free(void *p) { return ebra_pool_free(pool_, p) == 0; }
  // Called by every benchmark thread when it is done with the allocator.
  void thread_done() {}
  ebra_pool_t *pool() const { return pool_; }

 protected:
  ebra_pool_t *pool_;
};

// A pool at the strict check level (EBRA_POOL_STRICT_CHECKS): what the
// stronger double-free detection costs per operation.
class EbraStrictAlloc : public EbraAlloc {
 public:
  static constexpr const char *kName = "ebra_strict";
  explicit EbraStrictAlloc(size_t size) : EbraAlloc(size, EBRA_POOL_STRICT_CHECKS) {}
};

// The same pool through the inline fast paths of ebra/pool_inline.h.
class EbraInlineAlloc : public EbraAlloc {
 public:
  static constexpr const char *kName = "ebra_inline";
  explicit EbraInlineAlloc(size_t size) : EbraAlloc(size) {}
  void *alloc() { return ebra_pool_alloc_inline(pool_); }
  bool free(void *p) { return ebra_pool_free_inline(pool_, p) == 0; }
};

// The floor (pool_floor.h): a per-thread LIFO freelist of one object size.
// kInline false: every alloc and free is a call into pool_floor.c.
template <bool kInline>
class FloorAllocT {
 public:
  static constexpr const char *kName = kInline ? "floor_inline" : "floor";

  explicit FloorAllocT(size_t size) : floor_(bench_floor_create(size)) {}
  ~FloorAllocT() { bench_floor_destroy(floor_); }
  FloorAllocT(const FloorAllocT &) = delete;
  FloorAllocT &operator=(const FloorAllocT &) = delete;

  bool ok() const { return floor_ != nullptr; }
  void *alloc() {
    return kInline ? bench_floor_alloc_inline(floor_) : bench_floor_alloc(floor_);
  }
  bool free(void *p) {
    if (kInline)
      bench_floor_free_inline(floor_, p);
    else
      bench_floor_free(floor_, p);
    return true;
  }
  // The thread's list goes before the floor does (pool_floor.h, 3.).
  void thread_done() { bench_floor_thread_drop(floor_); }
  size_t carved() const { return bench_floor_carved(floor_); }

 private:
  bench_floor_t *floor_;
};
using FloorAlloc = FloorAllocT<false>;
using FloorInlineAlloc = FloorAllocT<true>;

// The process's malloc with a fixed request size.
class MallocAlloc {
 public:
  static constexpr const char *kName = "malloc";

  explicit MallocAlloc(size_t size) : size_(size) {}
  bool ok() const { return true; }
  void *alloc() { return std::malloc(size_); }
  bool free(void *p) {
    std::free(p);
    return true;
  }
  void thread_done() {}

 private:
  size_t size_;
};

// Resident set size of this process, in bytes, from /proc/self/statm.
// Returns 0 if it cannot be read.
uint64_t rss_bytes() {
  std::FILE *f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr)
    return 0;
  unsigned long size = 0, resident = 0;
  int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2)
    return 0;
  return static_cast<uint64_t>(resident) *
         static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#else
  std::this_thread::yield();
#endif
}

// Spin politely: pause first, then give the CPU away (the machine has two
// cores, and the other side of the ring may be waiting for one).
class Backoff {
 public:
  void wait() {
    if (++spins_ < 256) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  void reset() { spins_ = 0; }

 private:
  unsigned spins_ = 0;
};

// The CPUs this thread may run on now (empty set if unknown).
cpu_set_t allowed_cpus() {
  cpu_set_t set;
  if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set) != 0)
    CPU_ZERO(&set);
  return set;
}

// Pins the calling thread to the index-th CPU of allowed (wrapping) and
// restores the thread's old mask when destroyed.  ok() is false when allowed
// has fewer than two CPUs or the kernel refuses; the thread then runs
// unpinned.  Take allowed from allowed_cpus() before pinning anything: a
// thread started later inherits its creator's (pinned) mask.
class PinToCpu {
 public:
  PinToCpu(const cpu_set_t &allowed, unsigned index) {
    if (pthread_getaffinity_np(pthread_self(), sizeof(old_), &old_) != 0)
      return;
    const int count = CPU_COUNT(&allowed);
    if (count < 2)
      return;
    unsigned want = index % static_cast<unsigned>(count), seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
      if (!CPU_ISSET(cpu, &allowed))
        continue;
      if (seen++ == want) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        ok_ = pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
        break;
      }
    }
  }
  ~PinToCpu() {
    if (ok_)
      pthread_setaffinity_np(pthread_self(), sizeof(old_), &old_);
  }
  PinToCpu(const PinToCpu &) = delete;
  PinToCpu &operator=(const PinToCpu &) = delete;
  bool ok() const { return ok_; }

 private:
  cpu_set_t old_;
  bool ok_ = false;
};

// ---- 1. alloc+free pair ---------------------------------------------------

// The allocator of a multi-threaded case: one per run, created by Setup
// before the benchmark threads start and destroyed by Teardown after they
// are gone, so every thread shares one pool (as a server's threads do).
// kSize 0: the object size is the benchmark's first argument.
template <class A, size_t kSize = 0>
struct Shared {
  static A *a;
  static void setup(const benchmark::State &state) {
    a = new A(kSize != 0 ? kSize : static_cast<size_t>(state.range(0)));
  }
  static void teardown(const benchmark::State &) {
    delete a;
    a = nullptr;
  }
};
template <class A, size_t kSize> A *Shared<A, kSize>::a;

template <class A>
void BM_pair(benchmark::State &state) {
  A &a = *Shared<A>::a;
  if (!a.ok()) {
    state.SkipWithError("pool create failed");
    return;
  }
  bool good = true;
  for (auto _ : state) {
    void *p = a.alloc();
    benchmark::DoNotOptimize(p);
    good &= (p != nullptr) & a.free(p);
  }
  a.thread_done();
  if (!good)
    state.SkipWithError("alloc or free failed");
  state.SetItemsProcessed(state.iterations());
}

// ---- 2. N live, then free newest first (LIFO) or oldest first (FIFO) ------

template <class A, bool kFifo>
void live(benchmark::State &state) {
  const size_t n = static_cast<size_t>(state.range(0));
  A &a = *Shared<A, 64>::a;
  if (!a.ok()) {
    state.SkipWithError("pool create failed");
    return;
  }
  std::vector<void *> objs(n);
  bool good = true;
  for (auto _ : state) {
    for (size_t i = 0; i < n; i++) {
      void *p = a.alloc();
      benchmark::DoNotOptimize(p);
      objs[i] = p;
    }
    for (size_t k = 0; k < n; k++) {
      void *p = objs[kFifo ? k : n - 1 - k];
      good &= (p != nullptr) & a.free(p);
    }
    benchmark::ClobberMemory();
  }
  a.thread_done();
  if (!good)
    state.SkipWithError("alloc or free failed");
  const auto pairs = static_cast<int64_t>(n) * state.iterations();
  state.SetItemsProcessed(pairs);
  // Seconds per alloc+free pair (kInvert of a rate): time / (n * iterations),
  // averaged over the threads.
  state.counters["per_pair"] = benchmark::Counter(
      static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate |
                                  benchmark::Counter::kAvgThreads |
                                  benchmark::Counter::kInvert);
}

template <class A>
void BM_live_lifo(benchmark::State &state) {
  live<A, false>(state);
}

template <class A>
void BM_live_fifo(benchmark::State &state) {
  live<A, true>(state);
}

// ---- 3. producer → consumer through an spsc ring ---------------------------
//
// Two shapes, both with one allocating producer (the benchmark thread) and one
// freeing consumer (a std::thread started per run), pinned to two different
// CPUs:
//   BM_xthread:       every object pointer goes through the ring by itself,
//                     so each item also pays for ck_ring's index cache lines
//                     moving between the cores (enqueue reads the consumer's
//                     head, dequeue the producer's tail).
//   BM_xthread_batch: the producer fills a batch of kBatch pointers, the ring
//                     carries batches, and emptied batches come back through a
//                     second ring; the ring's cost is shared by kBatch objects,
//                     so the allocators' cross-thread costs show more.
// Pinning: unpinned, a 2-CPU machine with other load flips between real
// cross-core hand-off and both threads time-sliced on one CPU (no cache-line
// traffic, several times faster), and the medians jump between the two.

constexpr unsigned kRingSlots = 1024;
constexpr int64_t kItemsPerIteration = 1 << 16;
constexpr unsigned kBatch = 64;
constexpr unsigned kBatches = 64; // batches in circulation (< kRingSlots)

struct Batch {
  void *objs[kBatch];
};

template <class A, bool kBatched>
void xthread(benchmark::State &state) {
  A a(static_cast<size_t>(state.range(0)));
  bench_ring_t *ring = bench_ring_create(kRingSlots);     // producer → consumer
  bench_ring_t *returns = bench_ring_create(kRingSlots);  // emptied batches back
  std::vector<Batch> batches(kBatched ? kBatches : 0);
  if (!a.ok() || ring == nullptr || returns == nullptr) {
    bench_ring_destroy(ring);
    bench_ring_destroy(returns);
    state.SkipWithError("pool or ring create failed");
    return;
  }
  // Before the consumer starts, so the producer alone touches `returns` here.
  for (Batch &b : batches)
    bench_ring_push(returns, &b);

  // Written only by the consumer; read by the producer at iteration end.
  std::atomic<int64_t> consumed{0};
  std::atomic<bool> stop{false};
  std::atomic<bool> consumer_ok{true};

  const cpu_set_t allowed = allowed_cpus(); // before either thread is pinned
  PinToCpu pin_producer(allowed, 0);
  std::atomic<bool> consumer_pinned{false};
  std::thread consumer([&] {
    PinToCpu pin_consumer(allowed, 1);
    consumer_pinned.store(pin_consumer.ok(), std::memory_order_relaxed);
    int64_t done = 0;
    bool good = true;
    Backoff backoff;
    for (;;) {
      void *p;
      if (bench_ring_pop(ring, &p)) {
        if (kBatched) {
          Batch *b = static_cast<Batch *>(p);
          for (unsigned i = 0; i < kBatch; i++)
            good &= a.free(b->objs[i]);
          done += kBatch;
          while (!bench_ring_push(returns, b)) // never full: kBatches < slots
            cpu_relax();
        } else {
          good &= a.free(p);
          done++;
        }
        // A plain store on x86; the line stays with the consumer until the
        // producer looks at the end of an iteration.
        consumed.store(done, std::memory_order_release);
        backoff.reset();
      } else if (stop.load(std::memory_order_acquire)) {
        break;
      } else {
        backoff.wait();
      }
    }
    consumer_ok.store(good, std::memory_order_relaxed);
  });

  static_assert(kItemsPerIteration % kBatch == 0, "whole batches per iteration");
  int64_t produced = 0;
  bool good = true;
  for (auto _ : state) {
    Backoff backoff;
    for (int64_t i = 0; good && i < kItemsPerIteration;) {
      if (kBatched) {
        void *b;
        while (!bench_ring_pop(returns, &b))
          backoff.wait();
        backoff.reset();
        Batch *batch = static_cast<Batch *>(b);
        for (unsigned k = 0; k < kBatch; k++, i++) {
          void *p = a.alloc();
          if (p == nullptr) { // keep the batch whole: the consumer frees it all
            good = false;
            while (k < kBatch)
              batch->objs[k++] = nullptr;
            break;
          }
          *static_cast<volatile uint64_t *>(p) = static_cast<uint64_t>(i); // use it
          batch->objs[k] = p;
        }
        while (!bench_ring_push(ring, batch))
          backoff.wait();
        produced += kBatch;
      } else {
        void *p = a.alloc();
        if (p == nullptr) {
          good = false;
          break;
        }
        *static_cast<volatile uint64_t *>(p) = static_cast<uint64_t>(i); // use it
        while (!bench_ring_push(ring, p))
          backoff.wait();
        produced++;
        i++;
      }
      backoff.reset();
    }
    // The iteration ends when every object of it has been freed.
    while (consumed.load(std::memory_order_acquire) < produced)
      backoff.wait();
    if (!good)
      break;
  }

  stop.store(true, std::memory_order_release);
  consumer.join();
  bench_ring_destroy(ring);
  bench_ring_destroy(returns);
  if (!good || !consumer_ok.load(std::memory_order_relaxed))
    state.SkipWithError("alloc or free failed");
  state.SetItemsProcessed(state.iterations() * kItemsPerIteration);
  state.counters["pinned"] =
      pin_producer.ok() && consumer_pinned.load(std::memory_order_relaxed);
}

template <class A>
void BM_xthread(benchmark::State &state) {
  xthread<A, false>(state);
}

template <class A>
void BM_xthread_batch(benchmark::State &state) {
  xthread<A, true>(state);
}

// ---- 3b. larson-style server workload ---------------------------------------
//
// Sizes are drawn from kLarsonClasses; ebra gets one pool per class (what a
// server does with ebra), the floor one freelist per class, malloc gets the
// class's size.  A pointer carries its class in its low three bits (every
// allocator here returns at least 8-byte aligned memory), so a free needs no
// lookup on any side.  Argument xfree: 0 = every thread frees only what it
// allocated; 1 = 1 in 8 replacements is swapped through the shared exchange
// array, so objects are freed by other threads (with 1 thread the exchange
// runs too but hands the thread its own objects back).

constexpr size_t kLarsonClasses[] = {16, 32, 64, 128, 256, 512};
constexpr unsigned kLarsonNClasses = sizeof kLarsonClasses / sizeof kLarsonClasses[0];
static_assert(kLarsonNClasses <= 8, "the class rides in three pointer bits");
constexpr size_t kLarsonWindow = 1024;   // live objects per thread
constexpr size_t kLarsonExchange = 1024; // shared hand-off slots
constexpr int kLarsonOps = 64;           // alloc+free pairs per iteration

// CPU time of the calling thread, in ns: what the thread really got, which
// the wall-clock rate of a loaded 2-CPU machine does not say.
inline int64_t thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

inline uint64_t xorshift64(uint64_t &x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

// The floor's memory drift (pool_floor.h): objects carved ÷ objects live at
// the end of the run; 1 would be no drift.  Other allocators: nothing.
template <class A>
void larson_extra_counters(benchmark::State &, A *const *, double) {}
template <bool kInline>
void larson_extra_counters(benchmark::State &state, FloorAllocT<kInline> *const *classes,
                           double live) {
  size_t carved = 0;
  for (unsigned c = 0; c < kLarsonNClasses; c++)
    carved += classes[c]->carved();
  state.counters["carved_per_live"] = static_cast<double>(carved) / live;
}

template <class A>
struct Larson {
  static A *classes[kLarsonNClasses];
  static std::atomic<uintptr_t> *exchange;
  static std::atomic<bool> failed;

  static uintptr_t make(unsigned cls, uint64_t stamp) {
    void *p = classes[cls]->alloc();
    if (p == nullptr || (reinterpret_cast<uintptr_t>(p) & 7u) != 0) {
      failed.store(true, std::memory_order_relaxed);
      return 0;
    }
    *static_cast<volatile uint64_t *>(p) = stamp; // use it
    return reinterpret_cast<uintptr_t>(p) | cls;
  }
  static void drop(uintptr_t tp) {
    if (tp != 0 && !classes[tp & 7u]->free(reinterpret_cast<void *>(tp & ~uintptr_t{7})))
      failed.store(true, std::memory_order_relaxed);
  }

  static void setup(const benchmark::State &state) {
    WallSpan<Larson>::reset(state);
    for (unsigned c = 0; c < kLarsonNClasses; c++)
      classes[c] = new A(kLarsonClasses[c]);
    failed.store(false);
    exchange = nullptr;
    if (state.range(0) != 0) {
      exchange = new std::atomic<uintptr_t>[kLarsonExchange];
      for (size_t i = 0; i < kLarsonExchange; i++)
        exchange[i].store(make(static_cast<unsigned>(i % kLarsonNClasses), i),
                          std::memory_order_relaxed);
    }
  }
  static void teardown(const benchmark::State &) {
    if (exchange != nullptr) {
      for (size_t i = 0; i < kLarsonExchange; i++)
        drop(exchange[i].load(std::memory_order_relaxed));
      delete[] exchange;
      exchange = nullptr;
    }
    for (A *&a : classes) {
      delete a;
      a = nullptr;
    }
  }

  static void run(benchmark::State &state) {
    for (A *a : classes) {
      if (a == nullptr || !a->ok()) {
        state.SkipWithError("pool create failed");
        return;
      }
    }
    const bool xfree = state.range(0) != 0;
    uint64_t rng = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(state.thread_index() + 1);
    std::vector<uintptr_t> window(kLarsonWindow);
    for (size_t i = 0; i < kLarsonWindow; i++)
      window[i] = make(static_cast<unsigned>(xorshift64(rng) % kLarsonNClasses), i);
    bool first = true;
    int64_t cpu0 = 0;
    for (auto _ : state) {
      if (first) {
        first = false;
        WallSpan<Larson>::start();
        cpu0 = thread_cpu_ns();
      }
      for (int k = 0; k < kLarsonOps; k++) {
        const uint64_t r = xorshift64(rng);
        uintptr_t &slot = window[r % kLarsonWindow];
        drop(slot);
        uintptr_t p = make(static_cast<unsigned>((r >> 32) % kLarsonNClasses), r);
        if (xfree && ((r >> 40) & 7u) == 0) // hand it off, adopt another thread's
          p = exchange[(r >> 44) % kLarsonExchange].exchange(p, std::memory_order_acq_rel);
        slot = p;
      }
    }
    const int64_t cpu_ns = thread_cpu_ns() - cpu0;
    // Every thread has left the loop (Google Benchmark's barrier): nothing
    // allocates any more, so thread 0 sees the final carved count.
    if (state.thread_index() == 0) {
      const double live = static_cast<double>(kLarsonWindow) * state.threads() +
                          (xfree ? static_cast<double>(kLarsonExchange) : 0.0);
      larson_extra_counters(state, classes, live);
    }
    for (uintptr_t p : window)
      drop(p);
    for (A *a : classes)
      a->thread_done();
    if (failed.load(std::memory_order_relaxed))
      state.SkipWithError("alloc or free failed");
    state.SetItemsProcessed(state.iterations() * kLarsonOps);
    WallSpan<Larson>::finish(state, state.iterations() * kLarsonOps, "wall_ops_per_s");
    // CPU ns per alloc+free pair, averaged over the threads: unlike the wall
    // rate, it does not fall when the threads wait for a CPU.
    state.counters["cpu_ns_per_pair"] = benchmark::Counter(
        static_cast<double>(cpu_ns) / static_cast<double>(state.iterations() * kLarsonOps),
        benchmark::Counter::kAvgThreads);
  }
};
template <class A> A *Larson<A>::classes[kLarsonNClasses];
template <class A> std::atomic<uintptr_t> *Larson<A>::exchange;
template <class A> std::atomic<bool> Larson<A>::failed;

// ---- 3c. thread churn --------------------------------------------------------

constexpr int kChurnObjects = 256;

template <class A>
void BM_churn(benchmark::State &state) {
  const int nthreads = static_cast<int>(state.range(0));
  A a(64);
  if (!a.ok()) {
    state.SkipWithError("pool create failed");
    return;
  }
  std::atomic<bool> good{true};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(nthreads));
  for (auto _ : state) {
    for (int t = 0; t < nthreads; t++) {
      threads.emplace_back([&a, &good] {
        void *objs[kChurnObjects];
        bool ok = true;
        for (int i = 0; i < kChurnObjects; i++) {
          objs[i] = a.alloc();
          ok &= objs[i] != nullptr;
          if (objs[i] != nullptr)
            *static_cast<volatile uint64_t *>(objs[i]) = static_cast<uint64_t>(i);
        }
        for (int i = kChurnObjects; i-- > 0;)
          ok &= a.free(objs[i]);
        if (!ok)
          good.store(false, std::memory_order_relaxed);
      }); // thread exit releases the thread's caches
    }
    for (auto &t : threads)
      t.join();
    threads.clear();
  }
  if (!good.load())
    state.SkipWithError("alloc or free failed");
  state.counters["threads_per_second"] = benchmark::Counter(
      static_cast<double>(nthreads), benchmark::Counter::kIsIterationInvariantRate);
  state.SetItemsProcessed(state.iterations() * nthreads * kChurnObjects);
}

// ---- 4. memory overhead at 1M live objects ---------------------------------

constexpr size_t kOverheadObjects = size_t{1} << 20;

template <class A>
void overhead_extra_counters(benchmark::State &, A &) {}

void overhead_extra_counters(benchmark::State &state, EbraAlloc &a) {
  ebra_pool_stats_t st;
  if (ebra_pool_stats(a.pool(), &st) != 0) {
    state.SkipWithError("ebra_pool_stats failed");
    return;
  }
  state.counters["reserved_bytes"] = static_cast<double>(st.bytes_reserved);
  state.counters["live_bytes"] = static_cast<double>(st.bytes_live);
  state.counters["reserved_per_live"] =
      st.bytes_live ? static_cast<double>(st.bytes_reserved) /
                          static_cast<double>(st.bytes_live)
                    : 0.0;
}

template <class A>
void BM_overhead(benchmark::State &state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const size_t n = kOverheadObjects;
  std::vector<void *> live(n); // zero-filled, so already resident
  for (auto _ : state) {
    A a(size);
    if (!a.ok()) {
      state.SkipWithError("pool create failed");
      break;
    }
    const uint64_t rss0 = rss_bytes();
    bool good = true;
    for (size_t i = 0; i < n; i++) {
      void *p = a.alloc();
      if (p == nullptr) {
        good = false;
        break;
      }
      std::memset(p, 0xa5, size); // touch it, as a user would
      live[i] = p;
    }
    const uint64_t rss1 = rss_bytes();
    if (!good) {
      state.SkipWithError("alloc failed");
      break;
    }
    state.PauseTiming();
    const double live_bytes = static_cast<double>(n * size);
    overhead_extra_counters(state, a);
    state.counters["rss_delta_bytes"] = static_cast<double>(rss1 - rss0);
    state.counters["rss_per_live"] = static_cast<double>(rss1 - rss0) / live_bytes;
    state.ResumeTiming();
    for (size_t i = n; i-- > 0;)
      good &= a.free(live[i]);
    if (!good) {
      state.SkipWithError("free failed");
      break;
    }
  }
}

// ---- registration -----------------------------------------------------------

using Tune = void (*)(benchmark::internal::Benchmark *);

// Each case is a struct with a static run(), and optionally static
// setup()/teardown() run around all threads of one benchmark run.  One
// registration per allocator A, named <name>/<A::kName>.
template <template <class> class Case, class... As>
void register_each(const char *name, Tune tune) {
  (tune(benchmark::RegisterBenchmark((std::string(name) + "/" + As::kName).c_str(),
                                     Case<As>::run)),
   ...);
}
template <template <class> class Case, class... As>
void register_each_shared(const char *name, Tune tune) {
  (tune(benchmark::RegisterBenchmark((std::string(name) + "/" + As::kName).c_str(),
                                     Case<As>::run)
            ->Setup(Case<As>::setup)
            ->Teardown(Case<As>::teardown)),
   ...);
}
// ebra (exported calls, and the inline fast path when there is one) and
// malloc; the floors.
template <template <class> class Case>
void register_peers(const char *name, Tune tune) {
  register_each<Case, EbraAlloc, MallocAlloc>(name, tune);
}
template <template <class> class Case>
void register_hot(const char *name, Tune tune) {
  register_each<Case, EbraAlloc, EbraInlineAlloc, MallocAlloc>(name, tune);
}
template <template <class> class Case>
void register_hot_shared(const char *name, Tune tune) {
  register_each_shared<Case, EbraAlloc, EbraInlineAlloc, MallocAlloc>(name, tune);
}
template <template <class> class Case>
void register_floors_shared(const char *name, Tune tune) {
  register_each_shared<Case, EbraStrictAlloc, FloorAlloc, FloorInlineAlloc>(name, tune);
}

template <class A> struct Pair : Shared<A> { static void run(benchmark::State &s) { BM_pair<A>(s); } };
template <class A> struct LiveLifo : Shared<A, 64> { static void run(benchmark::State &s) { BM_live_lifo<A>(s); } };
template <class A> struct LiveFifo : Shared<A, 64> { static void run(benchmark::State &s) { BM_live_fifo<A>(s); } };
template <class A> struct XThread { static void run(benchmark::State &s) { BM_xthread<A>(s); } };
template <class A> struct XThreadBatch { static void run(benchmark::State &s) { BM_xthread_batch<A>(s); } };
template <class A> struct Churn { static void run(benchmark::State &s) { BM_churn<A>(s); } };
template <class A> struct Overhead { static void run(benchmark::State &s) { BM_overhead<A>(s); } };

// 1, 2 and 4 threads: 4 oversubscribes a 2-CPU machine on purpose.
void threads_124(benchmark::internal::Benchmark *b) { b->Threads(1)->Threads(2)->Threads(4); }
void live_1000(benchmark::internal::Benchmark *b) {
  b->Arg(1000);
  threads_124(b);
}
void larson_args(benchmark::internal::Benchmark *b) {
  b->ArgName("xfree")->Arg(0)->Arg(1)->UseRealTime();
  threads_124(b);
}

// Registered before main() (benchmark_main provides it), each ebra case
// next to its malloc twin and, for the hot-path cases, the strict check
// level and the floors.
[[maybe_unused]] const int registered = [] {
  register_hot_shared<Pair>("BM_pair", [](benchmark::internal::Benchmark *b) {
    b->Arg(16)->Arg(64)->Arg(512);
    threads_124(b);
  });
  register_floors_shared<Pair>("BM_pair", [](benchmark::internal::Benchmark *b) {
    b->Arg(64);
    threads_124(b);
  });
  register_hot_shared<LiveLifo>("BM_live_lifo", live_1000);
  register_floors_shared<LiveLifo>("BM_live_lifo", live_1000);
  register_hot_shared<LiveFifo>("BM_live_fifo", live_1000);
  register_floors_shared<LiveFifo>("BM_live_fifo", live_1000);
  register_hot<XThread>("BM_xthread", [](benchmark::internal::Benchmark *b) {
    b->Arg(64)->UseRealTime()->Unit(benchmark::kMicrosecond);
  });
  register_hot<XThreadBatch>("BM_xthread_batch", [](benchmark::internal::Benchmark *b) {
    b->Arg(64)->UseRealTime()->Unit(benchmark::kMicrosecond);
  });
  register_hot_shared<Larson>("BM_larson", larson_args);
  register_floors_shared<Larson>("BM_larson", larson_args);
  register_peers<Churn>("BM_churn", [](benchmark::internal::Benchmark *b) {
    b->Arg(1)->Arg(2)->Arg(4)->UseRealTime()->Unit(benchmark::kMicrosecond);
  });
  register_peers<Overhead>("BM_overhead", [](benchmark::internal::Benchmark *b) {
    b->Arg(64)->Iterations(1)->Unit(benchmark::kMillisecond);
  });
  return 0;
}();

} // namespace

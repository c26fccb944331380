// SPDX-License-Identifier: MIT
// bench_malloc.cc — general-purpose allocator workloads, written against
// plain malloc/free only: bench/run.sh runs this one binary under glibc
// and, by LD_PRELOAD, under jemalloc, mimalloc, tcmalloc and
// libebra-malloc.so ("ebra-malloc").  Every case at 1, 2 and 4 threads:
//
//   BM_larson/malloc/threads:T     larson-style server: 4096 shared slots;
//       each operation swaps a fresh block (16..1024 B) into a random slot
//       and frees what it took out, often a block another thread made.
//   BM_prodcons/malloc/threads:T   producer -> consumer: threads in pairs,
//       one allocates 16..512 B blocks into a ring, the other frees them
//       (T = 1: one thread does both through the ring).
//   BM_falseshare/malloc/threads:T objects allocated by one thread and
//       written by another: each thread allocates batches of 64 16-byte
//       objects and passes them to the next thread, which writes each 32
//       times and frees it; two threads' objects in one cache line show
//       as time.
//   BM_random/malloc/threads:T     random sizes and lifetimes: each thread
//       keeps 2000 live blocks, sizes 8 B .. 64 KiB (geometric: most are
//       small), 1 in 512 of 256 KiB; each operation replaces a random one.
//       Counter shared_lines: after the timed loop, the share of live
//       blocks whose first or last cache line holds a live block of
//       another thread (untimed).
//   BM_shortthreads/malloc/T       many short-lived threads: one iteration
//       starts T threads, each making 2000 malloc/free of 16..2048 B with
//       up to 64 live, and joins them.
//
// Counters: ops (items_per_second: malloc+free pairs per second) and
// peak_rss_mib, the process's peak resident size (VmHWM), reset before
// each case (/proc/self/clear_refs), so it is the case's own peak plus
// what the allocator kept from the cases before it: bench/run.sh runs
// every case of this harness in one process per allocator, in the order
// below, so a later case's figure includes what an allocator did not give
// back from the earlier ones.  A case alone: --benchmark_filter='^NAME$'.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <unistd.h>

namespace {

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  size_t below(size_t n) { return static_cast<size_t>(((unsigned __int128)next() * n) >> 64); }
};

void reset_peak_rss() {
  const int fd = open("/proc/self/clear_refs", O_WRONLY);
  if (fd >= 0) {
    (void)!write(fd, "5", 1);
    close(fd);
  }
}

double peak_rss_mib() {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return 0;
  char line[256];
  double kib = 0;
  while (fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmHWM: %lf kB", &kib) == 1)
      break;
  fclose(f);
  return kib / 1024.0;
}

// Case setup and teardown on thread 0, around the threads' loops.
void begin(const benchmark::State &state) {
  if (state.thread_index() == 0)
    reset_peak_rss();
}
void finish(benchmark::State &state, int64_t ops) {
  state.SetItemsProcessed(ops);
  if (state.thread_index() == 0)
    state.counters["peak_rss_mib"] = peak_rss_mib();
}

bool quick() { return std::getenv("EBRA_BENCH_QUICK") != nullptr; }

// ---- larson ------------------------------------------------------------------------

constexpr size_t kLarsonSlots = 4096;
std::atomic<void *> larson_slots[kLarsonSlots];

void BM_larson(benchmark::State &state) {
  begin(state);
  Rng r(static_cast<uint64_t>(state.thread_index()) + 1);
  int64_t ops = 0;
  for (auto _ : state) {
    for (int k = 0; k < 64; k++) {
      const size_t size = 16 + r.below(1009);
      void *p = std::malloc(size);
      static_cast<char *>(p)[0] = 1;
      void *old = larson_slots[r.below(kLarsonSlots)].exchange(p, std::memory_order_acq_rel);
      std::free(old);
    }
    ops += 64;
  }
  if (state.thread_index() == 0) { // the other threads are done: drain
    for (auto &s : larson_slots)
      std::free(s.exchange(nullptr));
  }
  finish(state, ops);
}

// ---- producer -> consumer ------------------------------------------------------------

struct alignas(64) Ring {
  static constexpr size_t kLen = 1024;
  std::atomic<uint64_t> head{0}; // consumer
  alignas(64) std::atomic<uint64_t> tail{0}; // producer
  alignas(64) void *slot[kLen];
  bool push(void *p) {
    const uint64_t t = tail.load(std::memory_order_relaxed);
    if (t - head.load(std::memory_order_acquire) == kLen)
      return false;
    slot[t % kLen] = p;
    tail.store(t + 1, std::memory_order_release);
    return true;
  }
  void *pop() {
    const uint64_t h = head.load(std::memory_order_relaxed);
    if (h == tail.load(std::memory_order_acquire))
      return nullptr;
    void *p = slot[h % kLen];
    head.store(h + 1, std::memory_order_release);
    return p;
  }
};
Ring rings[4];

void BM_prodcons(benchmark::State &state) {
  begin(state);
  const int t = state.thread_index();
  const bool alone = state.threads() == 1;
  Ring &ring = rings[t / 2];
  const bool producer = alone || t % 2 == 0;
  Rng r(static_cast<uint64_t>(t) + 7);
  int64_t ops = 0;
  for (auto _ : state) {
    for (int k = 0; k < 64; k++) {
      if (producer) {
        void *p = std::malloc(16 + r.below(497));
        static_cast<char *>(p)[0] = 1;
        while (!ring.push(p)) {
          if (alone)
            std::free(ring.pop());
          else
            sched_yield();
        }
        if (alone && k % 2)
          std::free(ring.pop());
      } else {
        void *p;
        while ((p = ring.pop()) == nullptr)
          sched_yield();
        std::free(p);
      }
    }
    ops += 64;
  }
  if (producer) { // both sides ran the same count: only the solo ring holds leftovers
    while (void *p = ring.pop())
      std::free(p);
  }
  finish(state, ops);
}

// ---- false sharing ---------------------------------------------------------------------

constexpr int kBatch = 64;
struct alignas(64) Mailbox {
  std::atomic<void **> batch{nullptr};
};
Mailbox mailboxes[4];

void write_and_free(void **batch) {
  for (int i = 0; i < kBatch; i++) {
    volatile uint64_t *o = static_cast<uint64_t *>(batch[i]);
    for (int w = 0; w < 32; w++)
      o[w & 1] = o[w & 1] + 1;
    std::free(batch[i]);
  }
  std::free(batch);
}

void BM_falseshare(benchmark::State &state) {
  begin(state);
  const int t = state.thread_index(), n = state.threads();
  Mailbox &out = mailboxes[(t + 1) % n], &in = mailboxes[t];
  int64_t ops = 0;
  for (auto _ : state) {
    void **batch = static_cast<void **>(std::malloc(kBatch * sizeof(void *)));
    for (int i = 0; i < kBatch; i++)
      batch[i] = std::calloc(1, 16);
    // Hand it on, after emptying our own mailbox; if the next thread has
    // not taken its last batch yet, write ours here (never wait: the
    // threads end their loops at different times).
    if (void **mine = in.batch.exchange(nullptr, std::memory_order_acq_rel))
      write_and_free(mine);
    void **expected = nullptr;
    if (n == 1 || !out.batch.compare_exchange_strong(expected, batch, std::memory_order_acq_rel))
      write_and_free(batch);
    ops += kBatch;
  }
  finish(state, ops);
}

// Between cases: what a case left in the mailboxes is freed on thread 0.
void falseshare_teardown(const benchmark::State &) {
  for (auto &m : mailboxes)
    if (void **b = m.batch.exchange(nullptr))
      write_and_free(b);
}

// ---- random sizes and lifetimes ------------------------------------------------------

size_t random_size(Rng &r) {
  if (r.below(512) == 0)
    return 256 << 10;
  // geometric over 8 .. 64 KiB: each doubling half as likely as the one below
  unsigned k = 3;
  while (k < 16 && (r.next() & 1))
    k++;
  return (static_cast<size_t>(1) << k) + r.below(static_cast<size_t>(1) << k);
}

// The threads of one case meet here: a barrier that any thread count can
// reuse (a case's threads all call it the same number of times).
class Meeting {
 public:
  void wait(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t gen = gen_;
    if (++count_ == n) {
      count_ = 0;
      gen_++;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return gen_ != gen; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
  uint64_t gen_ = 0;
};

// The share of the threads' live blocks whose first or last cache line
// also holds a live block of another thread: a write to either makes the
// line move between cores.  Block extents come from malloc_usable_size,
// which every allocator here provides.
double shared_line_share(const std::vector<std::vector<void *> *> &live) {
  struct End {
    uintptr_t line;
    size_t thread, block;
    bool operator<(const End &o) const { return line < o.line; }
  };
  std::vector<End> ends;
  size_t blocks = 0;
  for (size_t t = 0; t < live.size(); t++)
    for (void *p : *live[t]) {
      const uintptr_t a = reinterpret_cast<uintptr_t>(p);
      ends.push_back({a >> 6, t, blocks});
      if ((a + malloc_usable_size(p) - 1) >> 6 != a >> 6)
        ends.push_back({(a + malloc_usable_size(p) - 1) >> 6, t, blocks});
      blocks++;
    }
  std::sort(ends.begin(), ends.end());
  std::vector<bool> shared(blocks);
  for (size_t i = 0; i < ends.size();) {
    size_t j = i;
    bool mixed = false;
    for (; j < ends.size() && ends[j].line == ends[i].line; j++)
      mixed |= ends[j].thread != ends[i].thread;
    for (; mixed && i < j; i++)
      shared[ends[i].block] = true;
    i = j;
  }
  const size_t n = static_cast<size_t>(std::count(shared.begin(), shared.end(), true));
  return blocks ? static_cast<double>(n) / static_cast<double>(blocks) : 0.0;
}

Meeting random_meeting;
std::vector<std::vector<void *> *> random_live(4);

void BM_random(benchmark::State &state) {
  begin(state);
  Rng r(static_cast<uint64_t>(state.thread_index()) + 99);
  std::vector<void *> live(2000);
  for (auto &p : live)
    p = std::malloc(random_size(r));
  int64_t ops = 0;
  for (auto _ : state) {
    for (int k = 0; k < 64; k++) {
      void *&p = live[r.below(live.size())];
      std::free(p);
      const size_t size = random_size(r);
      p = std::malloc(size);
      static_cast<char *>(p)[size - 1] = 1;
    }
    ops += 64;
  }
  // Untimed: with every thread stopped, thread 0 counts the live blocks
  // that share a cache line with another thread's (0 with one thread).
  const int n = state.threads();
  random_live[state.thread_index()] = &live;
  random_meeting.wait(n);
  if (state.thread_index() == 0)
    state.counters["shared_lines"] = shared_line_share(
        std::vector<std::vector<void *> *>(random_live.begin(), random_live.begin() + n));
  random_meeting.wait(n);
  for (void *p : live)
    std::free(p);
  finish(state, ops);
}

// ---- short-lived threads ---------------------------------------------------------------

void short_life(uint64_t seed) {
  Rng r(seed);
  void *live[64] = {};
  for (int i = 0; i < 2000; i++) {
    void *&p = live[r.below(64)];
    std::free(p);
    p = std::malloc(16 + r.below(2033));
    static_cast<char *>(p)[0] = 1;
  }
  for (void *p : live)
    std::free(p);
}

void BM_shortthreads(benchmark::State &state) {
  begin(state);
  const int n = static_cast<int>(state.range(0));
  uint64_t seed = 1;
  int64_t ops = 0;
  for (auto _ : state) {
    std::vector<std::thread> ts;
    for (int i = 0; i < n; i++)
      ts.emplace_back(short_life, seed++);
    for (auto &t : ts)
      t.join();
    ops += 2000 * n;
  }
  finish(state, ops);
}

void threads(benchmark::internal::Benchmark *b) {
  for (int t : {1, 2, 4})
    b->Threads(t);
  b->UseRealTime();
}

} // namespace

BENCHMARK(BM_larson)->Name("BM_larson/malloc")->Apply(threads);
BENCHMARK(BM_prodcons)->Name("BM_prodcons/malloc")->Apply(threads);
BENCHMARK(BM_falseshare)->Name("BM_falseshare/malloc")->Apply(threads)->Teardown(falseshare_teardown);
BENCHMARK(BM_random)->Name("BM_random/malloc")->Apply(threads);
BENCHMARK(BM_shortthreads)->Name("BM_shortthreads/malloc")->Arg(1)->Arg(2)->Arg(4)->UseRealTime();

int main(int argc, char **argv) {
  (void)quick;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

/* SPDX-License-Identifier: MIT */
// bench_phases.cc — a phase-changing workload under each strategy of the
// engine: a burst, then a steady state, then idle.
//
//   BM_phases/<strategy>   strategy = low-latency, high-throughput,
//                          memory-efficient, adaptive
//
// One run, in a fresh process (see "Independence" below):
//   ebra_engine_init(strategy, background thread, interval 50 ms), two pools
//   (1 KiB and 64 B objects), one urcu-memb domain, 4 worker threads and a
//   sampler thread, then three phases of fixed length (flags below):
//   burst   all 4 workers: allocate a window of 4096 1 KiB objects and 2048
//           64 B objects, free them all (oldest first), again;  heavy depot
//           traffic, ~18 MiB live at the peak.
//   steady  workers 0 and 1 only: a ring of 256 live 1 KiB objects per
//           thread; each op allocates one and releases the oldest, inside a
//           read section per 64 ops; every 256th release is an ebra_retire
//           into the domain instead of a free.  Workers 2 and 3 wait, holding
//           nothing but their thread caches.
//   idle    workers 0 and 1 free their rings; every worker waits; the
//           process only samples.
// The sampler takes an ebra_snapshot (resident bytes from /proc/self/statm,
// ebra's live and pending bytes, the 1 KiB pool's stats) and
// ebra_engine_stats (committed bytes, active strategy) every 50 ms on
// absolute deadlines.  The steady workers are not throttled: on 2 vCPUs they
// compete with the domain's reclaimer and the engine's thread.
//
// Counters (one iteration; the reported time is the run's wall time):
//   burst_ops_per_s, steady_ops_per_s   allocs + frees + retires per second
//                                       of the phase, all workers
//   burst_ops_per_cpu_s, steady_...     the same ops per CPU second of the
//                                       workers (CLOCK_THREAD_CPUTIME_ID):
//                                       less sensitive to other processes
//   rss_MiB_end_{burst,steady,idle}     the sample at the end of each phase
//   rss_MiB_peak                        the largest sample
//   switches, steps, bytes_purged_MiB, magazines_trimmed, knob_changes
//                                       ebra_engine_stats at the end of idle
//
// Independence.  The engine is process-wide, so each run forks a child that
// does the whole run and sends its results back through a pipe; the parent
// touches no ebra state (it calls only ebra_strategy_name).
// Repetitions are therefore independent, and interleaving works:
//   bench_phases --benchmark_repetitions=3
//                --benchmark_enable_random_interleaving=true
//                --benchmark_out=phases.json --series_out=series.json
// Extra flags (removed before Google Benchmark sees argv):
//   --series_out=FILE   the samples of every run, as JSON, for
//                       bench/plot_phases.py
//   --burst_ms=N --steady_ms=N --idle_ms=N   phase lengths (1500/1500/1000;
//                                            400/400/300 with EBRA_BENCH_QUICK)

#include <benchmark/benchmark.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ebra.h"

namespace {

// ---- settings ----------------------------------------------------------------

constexpr unsigned kWorkers = 4;
constexpr unsigned kSteadyWorkers = 2;
constexpr size_t kBurstBig = 4096;    // 1 KiB objects per burst window
constexpr size_t kBurstSmall = 2048;  // 64 B objects per burst window
constexpr size_t kSteadyRing = 256;   // live 1 KiB objects per steady worker
constexpr unsigned kSteadyBlock = 64; // ops per read section
constexpr unsigned kRetireEvery = 256;
constexpr uint64_t kSampleNs = 50000000ull;
constexpr uint64_t kEngineNs = 50000000ull;
constexpr size_t kMaxSamples = 512;
constexpr size_t kMaxEvents = 64;
constexpr size_t kMaxHistory = 256;

uint64_t g_phase_ms[3] = {1500, 1500, 1000};
const char *g_series_out = nullptr;

const ebra_strategy_t kStrategies[] = {
    EBRA_STRATEGY_LOW_LATENCY, EBRA_STRATEGY_HIGH_THROUGHPUT,
    EBRA_STRATEGY_MEMORY_EFFICIENT, EBRA_STRATEGY_ADAPTIVE};

uint64_t thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// ---- what a child sends back (plain data, written whole to the pipe) -------

struct Sample {
  double t_ms;
  uint64_t resident, committed, live, pending;
  // The 1 KiB pool, to see where free objects sit: carved = live + in
  // magazines (depot and thread caches) + back in slabs.
  uint64_t big_carved, big_live, big_in_slabs, big_depot_full, big_slabs;
  uint32_t big_capacity;
  int32_t active;
};

struct Event {
  double t_ms;
  char msg[120];
};

struct Result {
  int32_t ok;
  char error[120];
  uint64_t t0_ns;             // CLOCK_MONOTONIC at the start of burst
  double phase_end_ms[3];     // measured, from t0
  double ops_per_s[2];        // burst, steady
  double ops_per_cpu_s[2];    // the same per CPU second of the workers
  uint64_t retired;
  uint64_t resident_before;   // the child's resident bytes before ebra's first call
  ebra_engine_stats_t eng;
  uint32_t nsamples, nevents;
  Sample samples[kMaxSamples];
  Event events[kMaxEvents];   // strategy switches reported by the engine
  uint32_t nhistory;
  ebra_sample_t history[kMaxHistory]; // the engine's own samples, one a step
};

// ---- the child -----------------------------------------------------------------

enum Phase : int { kStart = 0, kBurst, kSteady, kIdle, kDone };

struct Run {
  ebra_pool_t *big = nullptr, *small = nullptr;
  ebra_domain_t *dom = nullptr;
  std::atomic<int> phase{kStart};
  std::atomic<uint64_t> ops[2] = {{0}, {0}};
  std::atomic<uint64_t> cpu_ns[2] = {{0}, {0}};
  std::atomic<uint64_t> retired{0};
  std::atomic<unsigned> idle_ready{0};
  std::atomic<int> failed{0};
  uint64_t t0 = 0;
  Result *res = nullptr;
  std::mutex ev_lock;
};

Run *g_run; // the child's run, for the report hook

void report_hook(ebra_error_kind_t kind, const char *msg, void *) {
  if (kind != EBRA_INFO_ENGINE) {
    std::fprintf(stderr, "ebra: %s: %s\n", ebra_error_kind_name(kind), msg);
    return;
  }
  if (std::strncmp(msg, "strategy ", 9) != 0)
    return; // knob changes: counted by the engine's stats
  Run *r = g_run;
  std::lock_guard<std::mutex> g(r->ev_lock);
  if (r->res->nevents == kMaxEvents)
    return;
  Event *e = &r->res->events[r->res->nevents++];
  e->t_ms = (double)(now_ns() - r->t0) / 1e6;
  std::snprintf(e->msg, sizeof e->msg, "%s", msg);
}

void fail(Run *r, const char *what) {
  if (r->failed.exchange(1) == 0)
    std::snprintf(r->res->error, sizeof r->res->error, "%s: %s", what, std::strerror(errno));
}

void burst_window(Run *r, std::vector<void *> &big, std::vector<void *> &small) {
  for (size_t i = 0; i < kBurstBig; i++) {
    big[i] = ebra_pool_alloc(r->big);
    if (!big[i])
      return fail(r, "alloc 1 KiB");
    static_cast<char *>(big[i])[0] = (char)i; // touch: resident is real
    if (i % 2 == 0) {
      small[i / 2] = ebra_pool_alloc(r->small);
      if (!small[i / 2])
        return fail(r, "alloc 64 B");
    }
  }
  for (size_t i = 0; i < kBurstBig; i++) {
    ebra_pool_free(r->big, big[i]);
    if (i % 2 == 0)
      ebra_pool_free(r->small, small[i / 2]);
  }
}

void worker(Run *r, unsigned id) {
  std::vector<void *> big(kBurstBig), small(kBurstSmall), ring(kSteadyRing, nullptr);
  while (r->phase.load(std::memory_order_acquire) == kStart)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  // burst
  uint64_t windows = 0, cpu0 = thread_cpu_ns();
  while (r->phase.load(std::memory_order_relaxed) == kBurst && !r->failed.load()) {
    burst_window(r, big, small);
    windows++;
  }
  r->ops[0].fetch_add(windows * 2 * (kBurstBig + kBurstSmall));
  r->cpu_ns[0].fetch_add(thread_cpu_ns() - cpu0);
  // steady
  if (id < kSteadyWorkers) {
    size_t next = 0;
    uint64_t ops = 0, retired = 0, n = 0;
    cpu0 = thread_cpu_ns();
    for (auto &p : ring)
      p = ebra_pool_alloc(r->big);
    while (r->phase.load(std::memory_order_relaxed) == kSteady && !r->failed.load()) {
      ebra_read_lock(r->dom);
      for (unsigned k = 0; k < kSteadyBlock; k++, n++) {
        void *p = ebra_pool_alloc(r->big);
        if (!p) {
          fail(r, "steady alloc");
          break;
        }
        static_cast<char *>(p)[0] = 1;
        void *old = ring[next];
        ring[next] = p;
        next = (next + 1) % kSteadyRing;
        if (n % kRetireEvery == kRetireEvery - 1) {
          ebra_retire(r->dom, old);
          retired++;
        } else {
          ebra_pool_free(r->big, old);
        }
        ops += 2;
      }
      ebra_read_unlock(r->dom);
    }
    r->ops[1].fetch_add(ops);
    r->cpu_ns[1].fetch_add(thread_cpu_ns() - cpu0);
    r->retired.fetch_add(retired);
    for (auto &p : ring)
      ebra_pool_free(r->big, p);
  } else {
    while (r->phase.load(std::memory_order_relaxed) == kSteady)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // idle: hold nothing (but the thread caches), wait for the end
  r->idle_ready.fetch_add(1);
  while (r->phase.load(std::memory_order_acquire) != kDone)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

void sampler(Run *r) {
  Result *res = r->res;
  uint64_t at = r->t0;
  while (r->phase.load(std::memory_order_acquire) != kDone && res->nsamples < kMaxSamples) {
    ebra_snapshot_t *snap = nullptr;
    ebra_engine_stats_t st;
    if (ebra_snapshot(&snap) == 0 && ebra_engine_stats(&st) == 0) {
      Sample *s = &res->samples[res->nsamples++];
      s->t_ms = (double)(now_ns() - r->t0) / 1e6;
      s->resident = snap->resident_bytes;
      s->live = snap->bytes_live;
      s->committed = st.committed_bytes;
      s->pending = snap->pending_bytes;
      s->active = (int32_t)st.active;
      for (uint32_t i = 0; i < snap->npools; i++) {
        const ebra_pool_stats_t *p = &snap->pools[i].stats;
        if (std::strcmp(snap->pools[i].name, "phase-1k") != 0)
          continue;
        s->big_carved = p->objects_carved;
        s->big_live = p->objects_live;
        s->big_in_slabs = p->objects_in_slabs;
        s->big_depot_full = p->depot_full;
        s->big_slabs = p->slabs;
        s->big_capacity = p->magazine_capacity;
      }
    }
    ebra_snapshot_free(snap);
    at += kSampleNs;
    sleep_until_ns(at);
  }
}

// The whole run, in the child.  Fills *res.
// Resident bytes from /proc/self/statm (0 if unreadable).
uint64_t resident_now() {
  unsigned long size = 0, rss = 0;
  FILE *f = std::fopen("/proc/self/statm", "r");
  if (!f)
    return 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &rss);
  std::fclose(f);
  return n == 2 ? (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

void child_run(ebra_strategy_t strategy, Result *res) {
  res->resident_before = resident_now();
  Run r;
  r.res = res;
  g_run = &r;
  ebra_set_report_hook(report_hook, nullptr);

  ebra_pool_config_t pc{};
  pc.name = "phase-1k";
  pc.object_size = 1024;
  r.big = ebra_pool_create(&pc);
  pc.name = "phase-64";
  pc.object_size = 64;
  r.small = ebra_pool_create(&pc);
  ebra_domain_config_t dc{};
  dc.name = "phase";
  dc.backend = EBRA_RECLAIM_URCU_MEMB;
  r.dom = ebra_domain_create(&dc);
  if (!r.big || !r.small || !r.dom) {
    std::snprintf(res->error, sizeof res->error, "pool/domain create failed");
    return;
  }
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < kWorkers; i++)
    threads.emplace_back(worker, &r, i);

  r.t0 = now_ns(); // before the engine's thread can report anything
  res->t0_ns = r.t0;
  ebra_engine_config_t ec{};
  ec.strategy = strategy;
  ec.background = true;
  ec.interval_ns = kEngineNs;
  if (int rc = ebra_engine_init(&ec)) {
    std::snprintf(res->error, sizeof res->error, "ebra_engine_init: %d", rc);
    r.phase.store(kDone);
    for (auto &t : threads)
      t.join();
    return;
  }

  std::thread samp(sampler, &r);
  uint64_t deadline = r.t0;
  double seconds[2] = {0, 0};
  const Phase order[3] = {kBurst, kSteady, kIdle};
  for (int i = 0; i < 3; i++) {
    const uint64_t start = now_ns();
    r.phase.store(order[i], std::memory_order_release);
    deadline += g_phase_ms[i] * 1000000ull;
    sleep_until_ns(deadline);
    const uint64_t end = now_ns();
    res->phase_end_ms[i] = (double)(end - r.t0) / 1e6;
    if (i < 2) // workers add their counts as they leave the phase
      seconds[i] = (double)(end - start) / 1e9;
  }
  r.phase.store(kDone, std::memory_order_release);
  for (auto &t : threads)
    t.join();
  samp.join();
  for (int i = 0; i < 2; i++) {
    res->ops_per_s[i] = (double)r.ops[i].load() / seconds[i];
    res->ops_per_cpu_s[i] = (double)r.ops[i].load() / ((double)r.cpu_ns[i].load() / 1e9);
  }
  res->retired = r.retired.load();
  ebra_engine_stats(&res->eng); // before shutdown, which clears them
  size_t nhistory = 0;
  if (ebra_history(res->history, kMaxHistory, &nhistory) == 0)
    res->nhistory = (uint32_t)nhistory;
  ebra_engine_shutdown();
  res->ok = !r.failed.load();
}

// ---- the parent ----------------------------------------------------------------

struct Collected {
  ebra_strategy_t strategy;
  Result *res;
};
std::vector<Collected> g_collected;

bool fork_run(ebra_strategy_t strategy, Result *res, std::string *err) {
  int fd[2];
  if (pipe(fd) != 0) {
    *err = "pipe";
    return false;
  }
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    *err = "fork";
    return false;
  }
  if (pid == 0) {
    close(fd[0]);
    Result *mine = static_cast<Result *>(std::calloc(1, sizeof(Result)));
    if (mine)
      child_run(strategy, mine);
    const char *p = reinterpret_cast<const char *>(mine);
    size_t left = mine ? sizeof(Result) : 0;
    while (left > 0) {
      const ssize_t n = write(fd[1], p, left);
      if (n <= 0 && errno != EINTR)
        break;
      if (n > 0) {
        p += n;
        left -= (size_t)n;
      }
    }
    _exit(0);
  }
  close(fd[1]);
  char *p = reinterpret_cast<char *>(res);
  size_t got = 0;
  while (got < sizeof(Result)) {
    const ssize_t n = read(fd[0], p + got, sizeof(Result) - got);
    if (n == 0 || (n < 0 && errno != EINTR))
      break;
    if (n > 0)
      got += (size_t)n;
  }
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (got != sizeof(Result) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *err = "child died (status " + std::to_string(status) + ")";
    return false;
  }
  if (!res->ok) {
    *err = res->error[0] ? res->error : "child failed";
    return false;
  }
  return true;
}

double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

// The last sample at or before t_ms (the phase's end).
uint64_t resident_at(const Result *res, double t_ms) {
  uint64_t v = 0;
  for (uint32_t i = 0; i < res->nsamples && res->samples[i].t_ms <= t_ms + 1.0; i++)
    v = res->samples[i].resident;
  return v;
}

void BM_phases(benchmark::State &state, ebra_strategy_t strategy) {
  Result *res = static_cast<Result *>(std::calloc(1, sizeof(Result)));
  for (auto _ : state) {
    std::string err;
    if (!fork_run(strategy, res, &err)) {
      state.SkipWithError(err.c_str());
      std::free(res);
      return;
    }
    state.SetIterationTime(res->phase_end_ms[2] / 1e3);
  }
  uint64_t peak = 0;
  for (uint32_t i = 0; i < res->nsamples; i++)
    peak = res->samples[i].resident > peak ? res->samples[i].resident : peak;
  state.counters["burst_ops_per_s"] = res->ops_per_s[0];
  state.counters["steady_ops_per_s"] = res->ops_per_s[1];
  state.counters["burst_ops_per_cpu_s"] = res->ops_per_cpu_s[0];
  state.counters["steady_ops_per_cpu_s"] = res->ops_per_cpu_s[1];
  state.counters["rss_MiB_end_burst"] = mib(resident_at(res, res->phase_end_ms[0]));
  state.counters["rss_MiB_end_steady"] = mib(resident_at(res, res->phase_end_ms[1]));
  state.counters["rss_MiB_end_idle"] =
      mib(res->nsamples ? res->samples[res->nsamples - 1].resident : 0);
  state.counters["rss_MiB_peak"] = mib(peak);
  // What the idle phase's resident is measured against: the process before
  // ebra's first call (libraries, the harness) and ebra's live bytes.
  state.counters["rss_MiB_before"] = mib(res->resident_before);
  state.counters["live_MiB_end_idle"] =
      mib(res->nsamples ? res->samples[res->nsamples - 1].live : 0);
  state.counters["switches"] = (double)res->eng.switches;
  state.counters["steps"] = (double)res->eng.steps;
  state.counters["bytes_purged_MiB"] = mib(res->eng.bytes_purged);
  state.counters["magazines_trimmed"] = (double)res->eng.magazines_trimmed;
  state.counters["knob_changes"] = (double)res->eng.knob_changes;
  state.counters["retired"] = (double)res->retired;
  g_collected.push_back({strategy, res});
}

// ---- the series file -------------------------------------------------------------

void json_str(FILE *f, const char *s) {
  std::fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      std::fputc('\\', f);
    if ((unsigned char)*s >= 0x20)
      std::fputc(*s, f);
  }
  std::fputc('"', f);
}

int write_series(const char *path) {
  FILE *f = std::fopen(path, "w");
  if (!f) {
    std::perror(path);
    return 1;
  }
  std::fprintf(f, "{\n \"phase_ms\": {\"burst\": %" PRIu64 ", \"steady\": %" PRIu64
                  ", \"idle\": %" PRIu64 "},\n \"sample_ms\": %.0f, \"engine_interval_ms\": %.0f,\n"
                  " \"runs\": [",
               g_phase_ms[0], g_phase_ms[1], g_phase_ms[2], kSampleNs / 1e6, kEngineNs / 1e6);
  int rep[4] = {0, 0, 0, 0};
  for (size_t k = 0; k < g_collected.size(); k++) {
    const Result *r = g_collected[k].res;
    const ebra_strategy_t s = g_collected[k].strategy;
    std::fprintf(f, "%s\n  {\"strategy\": \"%s\", \"repetition\": %d, ", k ? "," : "",
                 ebra_strategy_name(s), rep[s]++);
    std::fprintf(f, "\"phase_end_ms\": [%.1f, %.1f, %.1f], ", r->phase_end_ms[0],
                 r->phase_end_ms[1], r->phase_end_ms[2]);
    std::fprintf(f, "\"burst_ops_per_s\": %.0f, \"steady_ops_per_s\": %.0f, \"retired\": %" PRIu64
                    ",\n   \"engine\": {\"steps\": %" PRIu64 ", \"switches\": %" PRIu64
                    ", \"knob_changes\": %" PRIu64 ", \"magazines_trimmed\": %" PRIu64
                    ", \"bytes_purged\": %" PRIu64 ", \"committed_bytes\": %" PRIu64 "},\n",
                 r->ops_per_s[0], r->ops_per_s[1], r->retired, r->eng.steps, r->eng.switches,
                 r->eng.knob_changes, r->eng.magazines_trimmed, r->eng.bytes_purged,
                 r->eng.committed_bytes);
    std::fprintf(f, "   \"events\": [");
    for (uint32_t i = 0; i < r->nevents; i++) {
      std::fprintf(f, "%s{\"t_ms\": %.1f, \"msg\": ", i ? ", " : "", r->events[i].t_ms);
      json_str(f, r->events[i].msg);
      std::fputc('}', f);
    }
    // The engine's history: what each step measured and chose.
    std::fprintf(f, "],\n   \"engine_steps\": [");
    for (uint32_t i = 0; i < r->nhistory; i++) {
      const ebra_sample_t &h = r->history[i];
      std::fprintf(f, "%s\n    {\"t_ms\": %.1f, \"active\": \"%s\", \"alloc_rate\": %" PRIu64
                      ", \"exchange_rate\": %" PRIu64 ", \"contention_rate\": %" PRIu64
                      ", \"retire_rate\": %" PRIu64 ", \"pending_bytes\": %" PRIu64
                      ", \"gp_p99_ns\": %" PRIu64 ", \"committed_bytes\": %" PRIu64 "}",
                   i ? "," : "", ((double)h.t_ns - (double)r->t0_ns) / 1e6,
                   ebra_strategy_name(h.active), h.alloc_rate, h.exchange_rate,
                   h.contention_rate, h.retire_rate, h.pending_bytes, h.gp_p99_ns,
                   h.committed_bytes);
    }
    std::fprintf(f, "],\n   \"samples\": {\"t_ms\": [");
    for (uint32_t i = 0; i < r->nsamples; i++)
      std::fprintf(f, "%s%.1f", i ? "," : "", r->samples[i].t_ms);
    std::fprintf(f, "],\n    \"resident_bytes\": [");
    for (uint32_t i = 0; i < r->nsamples; i++)
      std::fprintf(f, "%s%" PRIu64, i ? "," : "", r->samples[i].resident);
    std::fprintf(f, "],\n    \"committed_bytes\": [");
    for (uint32_t i = 0; i < r->nsamples; i++)
      std::fprintf(f, "%s%" PRIu64, i ? "," : "", r->samples[i].committed);
    std::fprintf(f, "],\n    \"live_bytes\": [");
    for (uint32_t i = 0; i < r->nsamples; i++)
      std::fprintf(f, "%s%" PRIu64, i ? "," : "", r->samples[i].live);
    std::fprintf(f, "],\n    \"pending_bytes\": [");
    for (uint32_t i = 0; i < r->nsamples; i++)
      std::fprintf(f, "%s%" PRIu64, i ? "," : "", r->samples[i].pending);
    std::fprintf(f, "],\n    \"pool_1k\": [");
    for (uint32_t i = 0; i < r->nsamples; i++) {
      const Sample &x = r->samples[i];
      std::fprintf(f, "%s\n     {\"carved\": %" PRIu64 ", \"live\": %" PRIu64
                      ", \"in_slabs\": %" PRIu64 ", \"depot_full\": %" PRIu64
                      ", \"slabs\": %" PRIu64 ", \"capacity\": %u}",
                   i ? "," : "", x.big_carved, x.big_live, x.big_in_slabs, x.big_depot_full,
                   x.big_slabs, x.big_capacity);
    }
    std::fprintf(f, "],\n    \"active\": [");
    for (uint32_t i = 0; i < r->nsamples; i++)
      std::fprintf(f, "%s\"%s\"", i ? "," : "",
                   ebra_strategy_name((ebra_strategy_t)r->samples[i].active));
    std::fprintf(f, "]}}");
  }
  std::fprintf(f, "\n ]\n}\n");
  return std::fclose(f) == 0 ? 0 : 1;
}

// Take our flags out of argv.  Returns false on a bad value.
bool parse_own_flags(int *argc, char **argv) {
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    const char *a = argv[i];
    const char *names[3] = {"--burst_ms=", "--steady_ms=", "--idle_ms="};
    bool mine = false;
    for (int k = 0; k < 3; k++) {
      const size_t n = std::strlen(names[k]);
      if (std::strncmp(a, names[k], n) == 0) {
        char *end;
        g_phase_ms[k] = std::strtoull(a + n, &end, 10);
        if (*end || g_phase_ms[k] == 0)
          return false;
        mine = true;
      }
    }
    if (std::strncmp(a, "--series_out=", 13) == 0) {
      g_series_out = a + 13;
      mine = true;
    }
    if (!mine)
      argv[out++] = argv[i];
  }
  *argc = out;
  argv[out] = nullptr;
  return true;
}

} // namespace

int main(int argc, char **argv) {
  if (std::getenv("EBRA_BENCH_QUICK")) { // bench/run.sh --quick: a smoke run
    g_phase_ms[0] = 400;
    g_phase_ms[1] = 400;
    g_phase_ms[2] = 300;
  }
  if (!parse_own_flags(&argc, argv)) {
    std::fprintf(stderr, "bench_phases: bad --burst_ms/--steady_ms/--idle_ms value\n");
    return 2;
  }
  for (ebra_strategy_t s : kStrategies)
    benchmark::RegisterBenchmark((std::string("BM_phases/") + ebra_strategy_name(s)).c_str(),
                                 BM_phases, s)
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  int rc = g_series_out ? write_series(g_series_out) : 0;
  for (auto &c : g_collected)
    std::free(c.res);
  return rc;
}

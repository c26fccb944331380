/* SPDX-License-Identifier: MIT */
/* stress/stress_limits.c — memory limits and the strategy engine under a
 * multithreaded burst.
 *
 * A hard limit (-H MiB) and a soft limit (a third of it) hold over two
 * pools (1 KiB and 64 B objects).  Workers allocate in bursts, up to -m
 * objects each, hand some objects to other workers through shared slots,
 * and free at random; an alloc that fails must fail with ENOMEM and an
 * EBRA_ERR_MEMORY_LIMIT report, after which the worker frees half of what
 * it holds.  Meanwhile the main thread runs ebra_maintain every 2 ms and
 * cycles the strategy (adaptive, memory-efficient, high-throughput,
 * low-latency), so depot trimming, slab purging, slab reuse and magazine
 * resizing all race with the workers.  Checks:
 *   - the slab bytes ebra holds (engine stats committed_bytes), sampled at
 *     every step, never exceed the hard limit;
 *   - a failed alloc sets ENOMEM, reported as memory-limit (any other
 *     report fails the test);
 *   - stamps and the owner table: no object is handed out twice, none is
 *     corrupted while trimmed, purged or reused;
 *   - at the end the audit balances with live == 0, every carved object is
 *     reachable (none lost in trimming), and after a memory-efficient step
 *     ebra is back under the soft limit;
 *   - allocation works again after the burst: one thread allocates a
 *     hard limit's worth of 1 KiB objects minus one slab per pool.
 *
 * Arguments: -t threads (8) -d ms (2000) -s seed -m objects held per worker
 *            (4000) -H hard limit in MiB (16).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "stress_util.h"

#define NPOOLS 2
#define NSLOTS 64

static stress_pool_t pools[NPOOLS] = {
    {.cfg = {.name = "limit-1k", .object_size = 1024}},
    {.cfg = {.name = "limit-64", .object_size = 64}},
};

static stress_args_t args = {.threads = 8, .duration_ms = 2000, .seed = 0x0E8A0011};
static unsigned long hold_max = 4000;
static unsigned long hard_mib = 16;

static uint64_t deadline_ns;
static _Atomic(void *) slots[NSLOTS];
static _Atomic uint64_t total_allocs[NPOOLS], total_enomem;

typedef struct worker_s {
  uint32_t id;
  stress_rng_t rng;
  uint64_t seq;
  void **held;
  size_t nheld;
  uint64_t allocs[NPOOLS], enomem;
} worker_t;

static void worker_free(worker_t *w, size_t i) {
  void *p = w->held[i];
  w->held[i] = w->held[--w->nheld];
  stress_obj_free(p, w->id, "free");
}

static void worker_alloc(worker_t *w) {
  stress_pool_t *sp = &pools[stress_rng_pct(&w->rng, 70) ? 0 : 1];
  errno = 0;
  void *p = ebra_pool_alloc(sp->pool);
  if (!p) {
    STRESS_CHECK(errno == ENOMEM, "ebra_pool_alloc('%s') returned NULL with errno %d (%s)",
                 sp->cfg.name, errno, strerror(errno));
    w->enomem++;
    for (size_t n = w->nheld / 2; n > 0; n--) /* back off: free half */
      worker_free(w, stress_rng_below(&w->rng, w->nheld));
    return;
  }
  stress_obj_claim(sp, p, w->id, ++w->seq);
  w->allocs[sp->index]++;
  w->held[w->nheld++] = p;
}

/* Give a held object to a shared slot and take what was there. */
static void worker_swap(worker_t *w) {
  void *give = NULL;
  if (w->nheld) {
    const size_t i = stress_rng_below(&w->rng, w->nheld);
    give = w->held[i];
    w->held[i] = w->held[--w->nheld];
  }
  void *got = stress_slot_swap(slots, stress_rng_below(&w->rng, NSLOTS), give);
  if (got) {
    stress_obj_take(got, w->id, ++w->seq, "slot hand-over");
    w->held[w->nheld++] = got;
  }
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  bool filling = true;
  for (uint64_t iter = 1;; iter++) {
    if ((iter & 63) == 0 && now_ns() >= deadline_ns)
      break;
    if (w->nheld == 0 || w->nheld >= hold_max - 1)
      filling = w->nheld == 0; /* bursts: fill up, then drain */
    const unsigned r = (unsigned)stress_rng_below(&w->rng, 100);
    if (r < 2)
      worker_swap(w);
    else if ((filling ? r < 90 : r < 10) && w->nheld < hold_max)
      worker_alloc(w);
    else if (w->nheld)
      worker_free(w, stress_rng_below(&w->rng, w->nheld));
  }
  while (w->nheld)
    worker_free(w, w->nheld - 1);
  for (unsigned i = 0; i < NPOOLS; i++)
    atomic_fetch_add_explicit(&total_allocs[i], w->allocs[i], memory_order_relaxed);
  atomic_fetch_add_explicit(&total_enomem, w->enomem, memory_order_relaxed);
  return NULL;
}

static ebra_engine_stats_t engine_stats(void) {
  ebra_engine_stats_t st;
  STRESS_CHECK(ebra_engine_stats(&st) == 0, "ebra_engine_stats failed");
  return st;
}

/* One step and the limit check; returns the committed bytes. */
static uint64_t step_and_check(uint64_t hard) {
  const int rc = ebra_maintain();
  STRESS_CHECK(rc == 0, "ebra_maintain returned %d", rc);
  const ebra_engine_stats_t st = engine_stats();
  STRESS_CHECK(st.committed_bytes <= hard,
               "ebra holds %" PRIu64 " slab bytes, above the hard limit %" PRIu64,
               st.committed_bytes, hard);
  return st.committed_bytes;
}

/* After the burst: one thread gets most of the hard limit back. */
static void check_alloc_again(uint64_t hard, uint32_t me) {
  stress_pool_t *sp = &pools[0];
  const size_t want = (size_t)((hard - 2 * ((uint64_t)1 << 20)) / 1024) * 9 / 10;
  void **all = calloc(want, sizeof *all);
  STRESS_CHECK(all, "out of memory");
  for (size_t i = 0; i < want; i++) {
    errno = 0;
    all[i] = ebra_pool_alloc(sp->pool);
    STRESS_CHECK(all[i] != NULL,
                 "after the burst only %zu of %zu KiB objects could be allocated "
                 "under a %" PRIu64 " byte hard limit (errno %d)",
                 i, want, hard, errno);
    stress_obj_claim(sp, all[i], me, i + 1);
  }
  for (size_t i = 0; i < want; i++)
    stress_obj_free(all[i], me, "free after the alloc-again check");
  free(all);
}

int main(int argc, char **argv) {
  const stress_opt_t extra[] = {
      {.letter = 'm', .help = "objects held per worker", .value = &hold_max,
       .min = 16, .max = 1u << 20},
      {.letter = 'H', .help = "hard limit in MiB", .value = &hard_mib,
       .min = 8, .max = 1u << 14},
  };
  stress_parse_args("stress_limits", argc, argv, &args, 1000, extra, 2);
  const uint64_t t0 = now_ns();
  stress_hook_install();
  stress_hook_allow(EBRA_ERR_MEMORY_LIMIT, true);
  stress_hook_allow(EBRA_INFO_ENGINE, true);
  stress_pools_create(pools, NPOOLS);
  const uint64_t hard = engine_stats().committed_bytes + ((uint64_t)hard_mib << 20);
  const uint64_t soft = engine_stats().committed_bytes + ((uint64_t)hard_mib << 20) / 3;
  STRESS_CHECK(ebra_set_memory_limits(soft, hard) == 0, "ebra_set_memory_limits failed");
  const uint32_t main_id = (uint32_t)args.threads + 1;
  stress_stamp_setup(pools, NPOOLS, main_id);
  stress_table_enable(18);

  worker_t *w = calloc(args.threads, sizeof *w);
  STRESS_CHECK(w, "out of memory");
  deadline_ns = now_ns() + args.duration_ms * 1000000ull;
  for (unsigned i = 0; i < args.threads; i++) {
    w[i].id = i + 1;
    stress_rng_init(&w[i].rng, args.seed, i + 1);
    w[i].held = calloc(hold_max, sizeof(void *));
    STRESS_CHECK(w[i].held, "out of memory");
  }
  stress_threads_t *workers = stress_spawn(args.threads, worker_main, w, sizeof *w);
  static const ebra_strategy_t cycle[] = {EBRA_STRATEGY_ADAPTIVE,
                                          EBRA_STRATEGY_MEMORY_EFFICIENT,
                                          EBRA_STRATEGY_HIGH_THROUGHPUT,
                                          EBRA_STRATEGY_LOW_LATENCY};
  uint64_t steps = 0, peak = 0;
  while (now_ns() < deadline_ns) {
    sleep_us(2000);
    if (steps % 25 == 0)
      ebra_engine_set_strategy(cycle[(steps / 25) % 4]);
    const uint64_t c = step_and_check(hard);
    peak = c > peak ? c : peak;
    steps++;
  }
  stress_join(workers);
  for (size_t i = 0; i < NSLOTS; i++) {
    void *p = stress_slot_swap(slots, i, NULL);
    if (p) {
      stress_obj_take(p, main_id, i + 1, "slot drain");
      stress_obj_free(p, main_id, "free of a slot's object");
    }
  }

  for (unsigned i = 0; i < NPOOLS; i++)
    stress_check_quiescent(&pools[i], 0, STRESS_ANY, "after the workers");
  ebra_engine_set_strategy(EBRA_STRATEGY_MEMORY_EFFICIENT);
  const uint64_t after = step_and_check(hard);
  STRESS_CHECK(after <= soft, "after a memory-efficient step with nothing live ebra holds "
                              "%" PRIu64 " slab bytes, above the soft limit %" PRIu64,
               after, soft);
  for (unsigned i = 0; i < NPOOLS; i++) {
    stress_check_quiescent(&pools[i], 0, STRESS_ANY, "after trimming");
    stress_check_reachable(&pools[i], main_id, "after trimming");
  }
  check_alloc_again(hard, main_id);
  for (unsigned i = 0; i < NPOOLS; i++)
    stress_check_quiescent(&pools[i], 0, STRESS_ANY, "end of run");
  const ebra_engine_stats_t st = engine_stats();
  stress_say("%" PRIu64 " + %" PRIu64 " allocs, %" PRIu64 " ENOMEM, %" PRIu64
             " steps, peak %.1f MiB of %.1f MiB, %" PRIu64 " magazines trimmed, %.1f MiB purged\n",
             atomic_load(&total_allocs[0]), atomic_load(&total_allocs[1]),
             atomic_load(&total_enomem), steps, peak / 1048576.0, hard / 1048576.0,
             st.magazines_trimmed, st.bytes_purged / 1048576.0);
  stress_pools_destroy(pools, NPOOLS);
  ebra_engine_shutdown();
  ebra_thread_exit();
  for (unsigned i = 0; i < args.threads; i++)
    free(w[i].held);
  free(w);
  stress_say("ok: %lu threads, %.2f s\n", args.threads, (double)(now_ns() - t0) / 1e9);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* stress/stress_cap.c — a pool's max_objects is a hard cap.
 *
 * Two capped pools: 64 B with cap 256, magazines of 8 and 64 objects
 * preallocated; 200 B aligned to 64 with cap 97 and the default magazine
 * size (so most of the cap sits in thread caches).  Workers allocate and
 * free at random, holding up to -m objects each, so demand exceeds the cap.
 * Each worker counts live objects per pool in an atomic counter, incremented
 * after a successful alloc and decremented before the free.  Checks:
 *   - the live counter never exceeds the cap;
 *   - a failed alloc sets errno ENOMEM, and happens only once the pool has
 *     carved its whole cap (stats objects_carved == cap afterwards);
 *   - objects_carved, sampled by the main thread, never exceeds the cap;
 *   - stamps and the owner table as in stress_owner (no duplicate hand-out);
 *   - at the end, after the workers exit (their caches go back to the
 *     depot), the audit balances with live == 0, and one thread can
 *     allocate exactly `cap` objects before ENOMEM: no object is lost.
 * Workers also call ebra_pool_thread_flush now and then, which must return 0.
 *
 * Arguments: -t threads (8) -d ms (2000) -s seed -m objects held per
 *            worker (96) -c cap of the 64 B pool (256).
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

static stress_pool_t pools[NPOOLS] = {
    {.cfg = {.name = "cap-64", .object_size = 64, .max_objects = 256, .magazine_capacity = 8,
             .prealloc = 64}},
    {.cfg = {.name = "cap-200a64", .object_size = 200, .alignment = 64, .max_objects = 97}},
};

static stress_args_t args = {.threads = 8, .duration_ms = 2000, .seed = 0x0E8A0005};
static unsigned long hold_max = 96;
static unsigned long cap64 = 256;

static uint64_t deadline_ns;
static _Atomic uint64_t live[NPOOLS];
static _Atomic uint64_t live_high[NPOOLS];
static _Atomic uint64_t total_allocs[NPOOLS], total_enomem[NPOOLS];

typedef struct worker_s {
  uint32_t id;
  stress_rng_t rng;
  uint64_t seq;
  void **held;
  size_t nheld;
  uint64_t allocs[NPOOLS], enomem[NPOOLS];
} worker_t;

static void worker_free(worker_t *w, size_t i) {
  void *p = w->held[i];
  w->held[i] = w->held[--w->nheld];
  const unsigned pi = ((stress_stamp_t *)p)->pool_index;
  STRESS_CHECK(pi < NPOOLS, "object %p: bad pool index %u", p, pi);
  atomic_fetch_sub_explicit(&live[pi], 1, memory_order_relaxed); /* before the free */
  stress_obj_free(p, w->id, "free");
}

static void try_alloc(worker_t *w) {
  stress_pool_t *sp = &pools[stress_rng_below(&w->rng, NPOOLS)];
  const uint64_t cap = sp->cfg.max_objects;
  errno = 0;
  void *p = ebra_pool_alloc(sp->pool);
  if (!p) {
    STRESS_CHECK(errno == ENOMEM, "ebra_pool_alloc('%s') returned NULL with errno %d (%s), "
                                  "expected ENOMEM",
                 sp->cfg.name, errno, strerror(errno));
    if (w->enomem[sp->index]++ % 16 == 0) {
      /* The cap refuses an alloc only once all of it is carved. */
      ebra_pool_stats_t s = stress_stats(sp);
      STRESS_CHECK(s.objects_carved == cap,
                   "pool '%s': alloc failed with ENOMEM while only %" PRIu64
                   " of its cap %" PRIu64 " objects were carved",
                   sp->cfg.name, s.objects_carved, cap);
    }
    if (w->nheld)
      worker_free(w, stress_rng_below(&w->rng, w->nheld));
    else
      sched_yield();
    return;
  }
  const uint64_t n = atomic_fetch_add_explicit(&live[sp->index], 1, memory_order_relaxed) + 1;
  STRESS_CHECK(n <= cap, "pool '%s': %" PRIu64 " objects live at once, above its cap %" PRIu64,
               sp->cfg.name, n, cap);
  uint64_t high = atomic_load_explicit(&live_high[sp->index], memory_order_relaxed);
  while (n > high && !atomic_compare_exchange_weak_explicit(&live_high[sp->index], &high, n,
                                                           memory_order_relaxed,
                                                           memory_order_relaxed)) {
  }
  stress_obj_claim(sp, p, w->id, ++w->seq);
  w->allocs[sp->index]++;
  w->held[w->nheld++] = p;
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  for (uint64_t iter = 1;; iter++) {
    if ((iter & 63) == 0 && now_ns() >= deadline_ns)
      break;
    const unsigned r = (unsigned)stress_rng_below(&w->rng, 1000);
    if (r < 560) {
      if (w->nheld < hold_max)
        try_alloc(w);
      else
        worker_free(w, stress_rng_below(&w->rng, w->nheld));
    } else if (r < 990) {
      if (w->nheld)
        worker_free(w, stress_rng_below(&w->rng, w->nheld));
    } else {
      stress_pool_t *sp = &pools[stress_rng_below(&w->rng, NPOOLS)];
      int rc = ebra_pool_thread_flush(sp->pool);
      STRESS_CHECK(rc == 0, "ebra_pool_thread_flush('%s') returned %d", sp->cfg.name, rc);
    }
  }
  while (w->nheld)
    worker_free(w, w->nheld - 1);
  for (unsigned i = 0; i < NPOOLS; i++) {
    atomic_fetch_add_explicit(&total_allocs[i], w->allocs[i], memory_order_relaxed);
    atomic_fetch_add_explicit(&total_enomem[i], w->enomem[i], memory_order_relaxed);
  }
  return NULL;
}

/* After every worker is gone, one thread must get the whole cap back. */
static void check_full_cap(stress_pool_t *sp, uint32_t me) {
  const size_t cap = sp->cfg.max_objects;
  void **all = calloc(cap + 1, sizeof *all);
  STRESS_CHECK(all, "out of memory");
  size_t n = 0;
  for (;;) {
    errno = 0;
    void *p = ebra_pool_alloc(sp->pool);
    if (!p) {
      STRESS_CHECK(errno == ENOMEM, "pool '%s': alloc failed with errno %d, expected ENOMEM",
                   sp->cfg.name, errno);
      break;
    }
    STRESS_CHECK(n < cap, "pool '%s': one thread allocated more than the cap %zu objects",
                 sp->cfg.name, cap);
    stress_obj_claim(sp, p, me, n + 1);
    all[n++] = p;
  }
  STRESS_CHECK(n == cap,
               "pool '%s': after all workers exited one thread could allocate only %zu of "
               "the cap %zu objects (objects lost in caches or the depot)",
               sp->cfg.name, n, cap);
  ebra_pool_stats_t s = stress_stats(sp);
  STRESS_CHECK(s.objects_carved == cap && s.objects_live == cap,
               "pool '%s': with the whole cap allocated, carved %" PRIu64 " live %" PRIu64
               ", expected %zu",
               sp->cfg.name, s.objects_carved, s.objects_live, cap);
  stress_check_quiescent(sp, cap, STRESS_ANY, "whole cap allocated");
  for (size_t i = 0; i < n; i++)
    stress_obj_free(all[i], me, "free of the whole cap");
  free(all);
}

int main(int argc, char **argv) {
  const stress_opt_t extra[] = {
      {.letter = 'm', .help = "objects held per worker", .value = &hold_max,
       .min = 1, .max = 1u << 16},
      {.letter = 'c', .help = "cap of the 64 B pool", .value = &cap64,
       .min = 16, .max = 1u << 20},
  };
  stress_parse_args("stress_cap", argc, argv, &args, 0, extra, 2);
  const uint64_t t0 = now_ns();
  pools[0].cfg.max_objects = cap64;
  if (pools[0].cfg.prealloc > cap64)
    pools[0].cfg.prealloc = cap64;
  stress_hook_install();
  stress_hook_allow(EBRA_ERR_CAP_REACHED, true);
  stress_pools_create(pools, NPOOLS);
  for (unsigned i = 0; i < NPOOLS; i++) {
    ebra_pool_stats_t s = stress_stats(&pools[i]);
    STRESS_CHECK(s.objects_carved <= pools[i].cfg.max_objects,
                 "pool '%s': %" PRIu64 " objects carved at create, above the cap",
                 pools[i].cfg.name, s.objects_carved);
  }
  const uint32_t main_id = (uint32_t)args.threads + 1;
  stress_stamp_setup(pools, NPOOLS, main_id);
  stress_table_enable(16);

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
  while (now_ns() < deadline_ns) {
    sleep_us(2000);
    for (unsigned i = 0; i < NPOOLS; i++) {
      ebra_pool_stats_t s = stress_stats(&pools[i]);
      STRESS_CHECK(s.objects_carved <= pools[i].cfg.max_objects,
                   "pool '%s': %" PRIu64 " objects carved, above its cap %zu",
                   pools[i].cfg.name, s.objects_carved, pools[i].cfg.max_objects);
    }
  }
  stress_join(workers);

  for (unsigned i = 0; i < NPOOLS; i++) {
    STRESS_CHECK(atomic_load(&live[i]) == 0, "test bookkeeping: live counter %" PRIu64,
                 atomic_load(&live[i]));
    stress_check_quiescent(&pools[i], 0, atomic_load(&total_allocs[i]), "after the workers");
    ebra_pool_stats_t s = stress_stats(&pools[i]);
    STRESS_CHECK(s.threads == 0, "pool '%s': %u threads still attached after all exited",
                 pools[i].cfg.name, s.threads);
  }
  for (unsigned i = 0; i < NPOOLS; i++) {
    check_full_cap(&pools[i], main_id);
    stress_check_quiescent(&pools[i], 0, STRESS_ANY, "end of run");
  }
  for (unsigned i = 0; i < NPOOLS; i++)
    stress_say("pool '%s': cap %zu, %" PRIu64 " allocs, %" PRIu64 " ENOMEM, %" PRIu64
               " live at most\n",
               pools[i].cfg.name, pools[i].cfg.max_objects, atomic_load(&total_allocs[i]),
               atomic_load(&total_enomem[i]), atomic_load(&live_high[i]));
  stress_pools_destroy(pools, NPOOLS);
  ebra_thread_exit();
  for (unsigned i = 0; i < args.threads; i++)
    free(w[i].held);
  free(w);
  stress_say("ok: %lu threads, %.2f s\n", args.threads, (double)(now_ns() - t0) / 1e9);
  return 0;
}

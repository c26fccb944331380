/* SPDX-License-Identifier: MIT */
/* stress/stress_purge.c — giving memory back while threads carve it.
 *
 * Phase 1, a pool and the engine: workers allocate 64-byte objects in
 * bursts (fill up to -m each, drain to nothing, flush the thread's cache,
 * repeat) from a pool with 8-round magazines, so objects keep flowing to
 * the depot, while the main thread runs ebra_maintain under the
 * memory-efficient strategy in a tight loop: every step trims the depot to
 * the slabs' free bits and purges, and a purge of the current slab's free
 * tail (src/slab.c, S7) races with workers carving that same slab.
 * Phase 2, the malloc floor and the delayed give-back (src/giveback.c)
 * with a 1 ms delay: workers use two size classes in turns of a few
 * milliseconds, so each class goes quiet and is given back (caches taken,
 * depot trimmed, tail purged) by passes that run on the other class's slow
 * paths, and then is carved again.
 *
 * Checks, both phases:
 *   - stamps: every object is verified before it is freed; a page purged
 *     under a user would read zeros and fail the check;
 *   - the owner table: no object is handed out twice;
 *   - the give-back happened: slabs_purged grew (phase 1 several hundred
 *     times in a normal build), passes ran (phase 2);
 * phase 1 also:
 *   - the slab is never replaced while it can be carved (S3): the objects
 *     in existence never exceed one slab, so the pool has one slab at the
 *     end (a carver that saw the give-back's flag and mapped a new slab
 *     would make two);
 *   - at the end the audit balances with nothing live, and every carved
 *     object is reachable (none lost when a tail left existence).
 *
 * Arguments: -t threads (8) -d ms (2000, per phase) -s seed
 *            -m objects held per worker (1000).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "stress_util.h"

#define NPOOLS 3 /* the phase-1 pool, then the two phase-2 size classes */

static stress_pool_t pools[NPOOLS] = {
    {.cfg = {.name = "purge-64", .object_size = 64, .magazine_capacity = 8}},
    {.cfg = {.name = "malloc-160", .object_size = 160}},
    {.cfg = {.name = "malloc-640", .object_size = 640}},
};

static stress_args_t args = {.threads = 8, .duration_ms = 2000, .seed = 0x0E8A0013};
static unsigned long hold_max = 1000;
static uint64_t deadline_ns;
static _Atomic unsigned phase2_turn; /* which class phase-2 workers use */

typedef struct worker_s {
  uint32_t id;
  stress_rng_t rng;
  uint64_t seq;
  void **held;
  size_t nheld;
  uint64_t bursts;
} worker_t;

static void drain_held(worker_t *w) {
  while (w->nheld)
    stress_obj_free(w->held[--w->nheld], w->id, "free");
}

/* ---- phase 1: a pool, the engine purging it --------------------------------- */

static void *phase1_worker(void *arg) {
  worker_t *w = arg;
  stress_pool_t *sp = &pools[0];
  while (now_ns() < deadline_ns) {
    const size_t want = 1 + stress_rng_below(&w->rng, hold_max);
    while (w->nheld < want) {
      void *p = ebra_pool_alloc(sp->pool);
      STRESS_CHECK(p, "ebra_pool_alloc('%s') failed: %s", sp->cfg.name, strerror(errno));
      stress_obj_claim(sp, p, w->id, ++w->seq);
      w->held[w->nheld++] = p;
    }
    drain_held(w);
    /* Everything to the depot, where the next step trims it to the slab. */
    STRESS_CHECK(ebra_pool_thread_flush(sp->pool) == 0, "ebra_pool_thread_flush failed");
    w->bursts++;
    if (stress_rng_pct(&w->rng, 25)) /* let the pool go quiet now and then */
      sleep_us(100 + stress_rng_below(&w->rng, 400));
  }
  return NULL;
}

static void phase1(worker_t *w) {
  stress_pool_t *sp = &pools[0];
  STRESS_CHECK(ebra_engine_set_strategy(EBRA_STRATEGY_MEMORY_EFFICIENT) == 0,
               "ebra_engine_set_strategy failed");
  const ebra_pool_stats_t before = stress_stats(sp);
  deadline_ns = now_ns() + args.duration_ms * 1000000ull;
  stress_threads_t *t = stress_spawn(args.threads, phase1_worker, w, sizeof *w);
  uint64_t steps = 0;
  while (now_ns() < deadline_ns) {
    const int rc = ebra_maintain();
    STRESS_CHECK(rc == 0, "ebra_maintain returned %d", rc);
    steps++;
  }
  stress_join(t);
  const ebra_pool_stats_t after = stress_stats(sp);
  uint64_t bursts = 0;
  for (unsigned i = 0; i < args.threads; i++)
    bursts += w[i].bursts;
  stress_say("phase 1: %" PRIu64 " bursts, %" PRIu64 " steps, %" PRIu64 " purges, %" PRIu64
             " slabs\n",
             bursts, steps, after.slabs_purged - before.slabs_purged, after.slabs);
  STRESS_CHECK(after.slabs_purged > before.slabs_purged,
               "no purge in %" PRIu64 " memory-efficient steps", steps);
  STRESS_CHECK(after.slabs == 1,
               "pool '%s' has %" PRIu64 " slabs, but what was in existence always fit "
               "in one: a slab that could still be carved was replaced (S3)",
               sp->cfg.name, after.slabs);
  stress_check_quiescent(sp, 0, STRESS_ANY, "after phase 1");
  stress_check_reachable(sp, (uint32_t)args.threads + 1, "after phase 1");
  STRESS_CHECK(ebra_engine_set_strategy(EBRA_STRATEGY_ADAPTIVE) == 0,
               "ebra_engine_set_strategy failed");
}

/* ---- phase 2: malloc classes, the delayed give-back ------------------------- */

static void *phase2_worker(void *arg) {
  worker_t *w = arg;
  while (now_ns() < deadline_ns) {
    const unsigned turn = atomic_load_explicit(&phase2_turn, memory_order_relaxed);
    stress_pool_t *sp = &pools[1 + turn % 2];
    const size_t want = 1 + stress_rng_below(&w->rng, hold_max / 4);
    while (w->nheld < want) {
      void *p = ebra_malloc(sp->cfg.object_size);
      STRESS_CHECK(p, "ebra_malloc(%zu) failed: %s", sp->cfg.object_size, strerror(errno));
      stress_obj_claim(sp, p, w->id, ++w->seq);
      w->held[w->nheld++] = p;
    }
    drain_held(w);
    w->bursts++;
  }
  return NULL;
}

static uint64_t class_purges(void) {
  return stress_stats(&pools[1]).slabs_purged + stress_stats(&pools[2]).slabs_purged;
}

static void phase2(worker_t *w) {
  long old_delay = 0;
  STRESS_CHECK(ebra_option_get(EBRA_OPT_PURGE_DELAY, &old_delay) == 0, "option get failed");
  STRESS_CHECK(ebra_option_set(EBRA_OPT_PURGE_DELAY, 1) == 0, "option set failed");
  const uint64_t before = class_purges();
  deadline_ns = now_ns() + args.duration_ms * 1000000ull;
  stress_threads_t *t = stress_spawn(args.threads, phase2_worker, w, sizeof *w);
  while (now_ns() < deadline_ns) {
    sleep_us(5000);
    atomic_fetch_add_explicit(&phase2_turn, 1, memory_order_relaxed);
  }
  stress_join(t);
  const uint64_t purges = class_purges() - before;
  stress_say("phase 2: %" PRIu64 " give-backs of the two classes\n", purges);
  STRESS_CHECK(purges > 0, "the delayed give-back never purged a quiet size class");
  STRESS_CHECK(ebra_option_set(EBRA_OPT_PURGE_DELAY, old_delay) == 0, "option set failed");
}

int main(int argc, char **argv) {
  const stress_opt_t extra[] = {
      {.letter = 'm', .help = "objects held per worker", .value = &hold_max,
       .min = 16, .max = 1500, .tsan_default = 300},
  };
  stress_parse_args("stress_purge", argc, argv, &args, 1000, extra, 1);
  stress_hook_install();
  stress_hook_allow(EBRA_INFO_ENGINE, true);
  stress_pools_create(pools, 1);
  for (unsigned i = 1; i < NPOOLS; i++) { /* the classes: found through a block */
    void *p = ebra_malloc(pools[i].cfg.object_size);
    STRESS_CHECK(p && ebra_usable_size(p) == pools[i].cfg.object_size,
                 "ebra_malloc(%zu) is not from class '%s'", pools[i].cfg.object_size,
                 pools[i].cfg.name);
    pools[i].pool = ebra_pool_of(p);
    pools[i].index = i;
    pools[i].untracked = false;
    ebra_free(p);
  }
  stress_stamp_setup(pools, NPOOLS, (uint32_t)args.threads + 1);
  stress_table_enable(17);
  worker_t *w = calloc(args.threads, sizeof *w);
  STRESS_CHECK(w, "out of memory");
  for (unsigned i = 0; i < args.threads; i++) {
    w[i].id = i + 1;
    stress_rng_init(&w[i].rng, args.seed, i + 1);
    w[i].held = calloc(hold_max, sizeof(void *));
    STRESS_CHECK(w[i].held, "out of memory");
  }
  phase1(w);
  phase2(w);
  for (unsigned i = 0; i < args.threads; i++)
    free(w[i].held);
  free(w);
  stress_pools_destroy(pools, 1);
  stress_say("OK\n");
  return 0;
}

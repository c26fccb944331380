/* SPDX-License-Identifier: MIT */
/* stress/stress_drain.c — the engine takes the pool caches of idle threads
 * while those threads may wake at any moment, and no object is lost or
 * handed out twice.
 *
 * Workers alternate a burst (random allocs and frees through the exported
 * and the inline functions, up to -m objects held) with a quiet spell of a
 * random 0-3 ms in which they hold on to what they have and call nothing;
 * the main thread runs engine steps back to back under the
 * memory-efficient strategy, which takes a cache after one quiet step.  So
 * drains race with workers waking up in every phase of an operation.
 * Checks:
 *   - stamps and the owner table (stress_util): no object is handed out
 *     while another thread owns it, none is changed while owned;
 *   - the engine took caches (ebra_engine_stats().caches_drained > 0), so
 *     workers woke to taken caches (the run is not vacuous);
 *   - at the end, with the workers gone, every pool balances (live 0, the
 *     audit finds every carved object once) and every carved object is
 *     reachable.
 *
 * Built with the library's handshake broken on purpose (EBI_SEEDED_BUG_DRAIN:
 * the drainer takes a cache without looking at its owner's busy count), the
 * same program must be caught: ThreadSanitizer reports the drainer's race
 * with the owner (stress_drain_caught, TSan builds).
 *
 * Arguments: -t threads (8) -d ms (2000) -s seed -m objects held (64).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include "stress_util.h"

#define NPOOLS 2

static stress_pool_t pools[NPOOLS] = {
    {.cfg = {.name = "drain-48", .object_size = 48, .magazine_capacity = 16}},
    {.cfg = {.name = "drain-256", .object_size = 256}},
};

static stress_args_t args = {.threads = 8, .duration_ms = 2000, .seed = 0x0E8A00D7};
static unsigned long hold_max = 64;
static uint64_t deadline_ns;

typedef struct worker_s {
  uint32_t id; /* 1..threads */
  stress_rng_t rng;
  uint64_t seq;
  void *held[256];
  size_t nheld;
} worker_t;

static void quiet_spell(stress_rng_t *r) {
  const uint64_t ns = stress_rng_below(r, 3000000);
  struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ns};
  nanosleep(&ts, NULL);
}

static void burst(worker_t *w) {
  const unsigned ops = 1 + (unsigned)stress_rng_below(&w->rng, 200);
  for (unsigned k = 0; k < ops; k++) {
    const bool inl = stress_rng_pct(&w->rng, 50);
    if (w->nheld < hold_max && (w->nheld == 0 || stress_rng_pct(&w->rng, 55))) {
      stress_pool_t *sp = &pools[stress_rng_below(&w->rng, NPOOLS)];
      void *p = inl ? ebra_pool_alloc_inline(sp->pool) : ebra_pool_alloc(sp->pool);
      STRESS_CHECK(p != NULL, "alloc failed: errno %d", errno);
      stress_obj_claim(sp, p, w->id, ++w->seq);
      w->held[w->nheld++] = p;
    } else {
      const size_t i = stress_rng_below(&w->rng, w->nheld);
      void *p = w->held[i];
      w->held[i] = w->held[--w->nheld];
      stress_obj_free(p, w->id, "burst free");
    }
  }
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  while (now_ns() < deadline_ns) {
    burst(w);
    quiet_spell(&w->rng);
  }
  while (w->nheld)
    stress_obj_free(w->held[--w->nheld], w->id, "final free");
  return NULL;
}

int main(int argc, char **argv) {
  static const stress_opt_t extra[] = {
      {'m', "objects held per worker", &hold_max, 1, 256, 64, 32, NULL},
  };
  stress_parse_args("stress_drain", argc, argv, &args, 1000, extra, 1);
  stress_hook_install();
  stress_hook_allow(EBRA_INFO_ENGINE, true);
  stress_pools_create(pools, NPOOLS);
  stress_stamp_setup(pools, NPOOLS, (uint32_t)args.threads + 1); /* + main */
  STRESS_CHECK(ebra_engine_init(&(ebra_engine_config_t){
                   .strategy = EBRA_STRATEGY_MEMORY_EFFICIENT}) == 0,
               "ebra_engine_init failed");
  worker_t *w = calloc(args.threads, sizeof *w);
  STRESS_CHECK(w != NULL, "out of memory");
  for (unsigned long i = 0; i < args.threads; i++) {
    w[i].id = (uint32_t)i + 1;
    stress_rng_init(&w[i].rng, args.seed, i + 1);
  }
  deadline_ns = now_ns() + args.duration_ms * 1000000ull;
  stress_threads_t *t = stress_spawn(args.threads, worker_main, w, sizeof *w);
  uint64_t steps = 0;
  while (now_ns() < deadline_ns) {
    STRESS_CHECK(ebra_maintain() == 0, "ebra_maintain failed");
    steps++;
  }
  stress_join(t);
  ebra_engine_stats_t es;
  STRESS_CHECK(ebra_engine_stats(&es) == 0, "ebra_engine_stats failed");
  STRESS_CHECK(es.caches_drained > 0,
               "%" PRIu64 " engine steps took no idle cache: the test did not test", steps);
  for (size_t i = 0; i < NPOOLS; i++) {
    stress_check_quiescent(&pools[i], 0, STRESS_ANY, "end");
    stress_check_reachable(&pools[i], (uint32_t)args.threads + 1, "end");
  }
  stress_say("%" PRIu64 " engine steps took %" PRIu64 " idle caches from %lu threads",
             steps, es.caches_drained, args.threads);
  STRESS_CHECK(ebra_engine_shutdown() == 0, "ebra_engine_shutdown failed");
  stress_pools_destroy(pools, NPOOLS);
  free(w);
  return 0;
}

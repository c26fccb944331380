/* SPDX-License-Identifier: MIT */
/* stress/stress_churn.c — thousands of short threads come and go while
 * long-lived threads keep using the pools.
 *
 * -t long-lived threads allocate, free and swap objects through shared
 * slots for the whole run.  Meanwhile the main thread keeps -b short threads
 * alive at a time, -n in all: each allocates a random number of objects (up
 * to three magazines' worth) from the pools, frees some, swaps some with the
 * shared slots (taking and freeing objects other threads left), leaves some
 * of its own in the slots, and exits (return or pthread_exit) without
 * calling anything of ebra: thread exit alone must hand its caches back.
 * Checks:
 *   - stamps and the owner table on every hand-over and free (stress_util.h);
 *   - while running, stats.threads never exceeds the threads that can be
 *     alive (long-lived + short at a time): exited threads detach;
 *   - at the end, with the long-lived threads parked but alive, stats.threads
 *     equals the long-lived count (+1 once main uses the pool), and the audit
 *     balances: live == 0, cached == carved, no duplicate, no invalid
 *     pointer, stats allocs == the test's own count;
 *   - after they exit, stats.threads is 1 (main), and 0 after main's
 *     ebra_thread_exit(), with the audit still balanced;
 *   - every carved object is reachable again (stress_check_reachable): the
 *     exited threads' magazines went back to the depot, none was dropped;
 *   - under ASan, LSan at exit finds no leak (everything is freed and the
 *     pools destroyed).
 *
 * Arguments: -t long-lived threads (4) -b short threads at a time (12)
 *            -n short threads in all (6000; 600 under TSan, 1000 under ASan)
 *            -d ms, the longest the run may take (3000) -s seed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "stress_util.h"

#define NPOOLS 3
#define HOLD_LONG 64
#define HOLD_SHORT 192

static stress_pool_t pools[NPOOLS] = {
    {.cfg = {.name = "churn-64", .object_size = 64}},
    {.cfg = {.name = "churn-200a64", .object_size = 200, .alignment = 64,
             .magazine_capacity = 16}},
    {.cfg = {.name = "churn-48-mag1", .object_size = 48, .magazine_capacity = 1}},
};

static stress_args_t args = {.threads = 4, .duration_ms = 3000, .seed = 0x0E8A0002};
static unsigned long batch = 12;
static unsigned long nshort = 6000;
static unsigned long nslots = 512;

static _Atomic(void *) *slots;
static _Atomic bool stop;
static pthread_barrier_t park; /* long-lived threads + main */
static _Atomic uint64_t total_allocs[NPOOLS];
static _Atomic uint64_t short_done;

typedef struct thr_s {
  uint32_t id;
  stress_rng_t rng;
  uint64_t seq;
  void *held[HOLD_SHORT];
  size_t nheld;
  uint64_t allocs[NPOOLS];
} thr_t;

static void thr_alloc(thr_t *t, stress_pool_t *sp) {
  void *p = ebra_pool_alloc(sp->pool);
  STRESS_CHECK(p, "thread %u: ebra_pool_alloc('%s') failed: %s", t->id, sp->cfg.name,
               strerror(errno));
  stress_obj_claim(sp, p, t->id, ++t->seq);
  t->allocs[sp->index]++;
  t->held[t->nheld++] = p;
}

static void thr_free_at(thr_t *t, size_t i, const char *where) {
  void *p = t->held[i];
  t->held[i] = t->held[--t->nheld];
  stress_obj_free(p, t->id, where);
}

/* Swap held object i (or nothing, if i == SIZE_MAX) with a random slot;
 * what comes out is taken over and freed or kept. */
static void thr_swap(thr_t *t, size_t i, bool keep, size_t cap) {
  void *give = NULL;
  if (i != SIZE_MAX) {
    give = t->held[i];
    t->held[i] = t->held[--t->nheld];
  }
  void *got = stress_slot_swap(slots, stress_rng_below(&t->rng, nslots), give);
  if (!got)
    return;
  stress_obj_take(got, t->id, ++t->seq, "object taken from a shared slot");
  if (keep && t->nheld < cap)
    t->held[t->nheld++] = got;
  else
    stress_obj_free(got, t->id, "free of an object taken from a slot");
}

static void thr_publish_counts(thr_t *t) {
  for (unsigned i = 0; i < NPOOLS; i++) {
    atomic_fetch_add_explicit(&total_allocs[i], t->allocs[i], memory_order_relaxed);
    t->allocs[i] = 0;
  }
}

static void *short_main(void *arg) {
  thr_t *t = arg;
  const size_t n = 1 + stress_rng_below(&t->rng, HOLD_SHORT);
  for (size_t k = 0; k < n; k++) {
    thr_alloc(t, &pools[stress_rng_below(&t->rng, NPOOLS)]);
    if (stress_rng_pct(&t->rng, 25))
      thr_free_at(t, stress_rng_below(&t->rng, t->nheld), "short-thread free");
    if (stress_rng_pct(&t->rng, 5))
      thr_swap(t, SIZE_MAX, true, HOLD_SHORT);
  }
  /* Leave: free about half, the rest goes to the slots for others. */
  while (t->nheld) {
    if (stress_rng_pct(&t->rng, 50))
      thr_free_at(t, t->nheld - 1, "short-thread free at exit");
    else
      thr_swap(t, t->nheld - 1, false, 0);
  }
  thr_publish_counts(t);
  atomic_fetch_add_explicit(&short_done, 1, memory_order_relaxed);
  const bool use_exit = stress_rng_pct(&t->rng, 50);
  free(t);
  if (use_exit)
    pthread_exit(NULL);
  return NULL;
}

static void *long_main(void *arg) {
  thr_t *t = arg;
  for (unsigned i = 0; i < NPOOLS; i++) /* attach to every pool */
    thr_alloc(t, &pools[i]);
  for (uint64_t iter = 1; (iter & 63) || !atomic_load_explicit(&stop, memory_order_acquire);
       iter++) {
    const unsigned r = (unsigned)stress_rng_below(&t->rng, 100);
    if (r < 40 && t->nheld < HOLD_LONG)
      thr_alloc(t, &pools[stress_rng_below(&t->rng, NPOOLS)]);
    else if (r < 75 && t->nheld)
      thr_free_at(t, stress_rng_below(&t->rng, t->nheld), "long-lived free");
    else
      thr_swap(t, (t->nheld && stress_rng_pct(&t->rng, 50))
                      ? (size_t)stress_rng_below(&t->rng, t->nheld)
                      : SIZE_MAX,
               true, HOLD_LONG);
  }
  while (t->nheld)
    thr_free_at(t, t->nheld - 1, "long-lived free at end");
  thr_publish_counts(t);
  pthread_barrier_wait(&park); /* parked, still attached: main checks */
  pthread_barrier_wait(&park); /* main is done checking: exit */
  return NULL;
}

static void check_threads(uint32_t expect, const char *when) {
  for (unsigned i = 0; i < NPOOLS; i++) {
    ebra_pool_stats_t s = stress_stats(&pools[i]);
    STRESS_CHECK(s.threads == expect, "%s: pool '%s' has %u threads attached, expected %u",
                 when, pools[i].cfg.name, s.threads, expect);
  }
}

static void check_all_quiescent(const char *when, uint64_t *main_allocs) {
  for (unsigned i = 0; i < NPOOLS; i++)
    stress_check_quiescent(&pools[i], 0, atomic_load(&total_allocs[i]) + main_allocs[i], when);
}

int main(int argc, char **argv) {
  const stress_opt_t extra[] = {
      {.letter = 'b', .help = "short threads alive at a time", .value = &batch,
       .min = 1, .max = 1024},
      {.letter = 'n', .help = "short threads in all", .value = &nshort,
       .min = 1, .max = 1u << 24, .san_default = 1000, .tsan_default = 600},
  };
  stress_parse_args("stress_churn", argc, argv, &args, 0, extra, 2);
  const uint64_t t0 = now_ns();
  const uint64_t deadline = t0 + args.duration_ms * 1000000ull;
  const uint32_t nlong = (uint32_t)args.threads;
  const uint32_t main_id = nlong + (uint32_t)nshort + 1;

  stress_hook_install();
  stress_pools_create(pools, NPOOLS);
  stress_stamp_setup(pools, NPOOLS, main_id);
  stress_table_enable(20);
  slots = calloc(nslots, sizeof *slots);
  thr_t *longs = calloc(nlong, sizeof *longs);
  pthread_t *window = calloc(batch, sizeof *window);
  STRESS_CHECK(slots && longs && window, "out of memory");
  pthread_barrier_init(&park, NULL, nlong + 1);

  for (uint32_t i = 0; i < nlong; i++) {
    longs[i].id = i + 1;
    stress_rng_init(&longs[i].rng, args.seed, i + 1);
  }
  stress_threads_t *long_threads = stress_spawn(nlong, long_main, longs, sizeof *longs);

  /* Keep `batch` short threads alive: join the oldest, start a new one. */
  unsigned long started = 0;
  uint32_t max_seen = 0;
  while (started < nshort && now_ns() < deadline) {
    const size_t w = started % batch;
    if (started >= batch) {
      int rc = pthread_join(window[w], NULL);
      STRESS_CHECK(rc == 0, "pthread_join: %s", strerror(rc));
    }
    thr_t *t = calloc(1, sizeof *t);
    STRESS_CHECK(t, "out of memory");
    t->id = nlong + 1 + (uint32_t)started;
    stress_rng_init(&t->rng, args.seed, t->id);
    int rc = pthread_create(&window[w], NULL, short_main, t);
    STRESS_CHECK(rc == 0, "pthread_create (short thread %lu): %s", started, strerror(rc));
    started++;
    if (started % 8 == 0) {
      for (unsigned i = 0; i < NPOOLS; i++) {
        ebra_pool_stats_t s = stress_stats(&pools[i]);
        STRESS_CHECK(s.threads <= nlong + batch,
                     "pool '%s': %u threads attached, but at most %lu can be alive "
                     "(exited threads must detach)",
                     pools[i].cfg.name, s.threads, nlong + batch);
        if (s.threads > max_seen)
          max_seen = s.threads;
      }
    }
  }
  for (size_t w = 0; w < batch && w < started; w++) {
    int rc = pthread_join(window[w], NULL);
    STRESS_CHECK(rc == 0, "pthread_join: %s", strerror(rc));
  }
  STRESS_CHECK(atomic_load(&short_done) == started, "%" PRIu64 " of %lu short threads finished",
               atomic_load(&short_done), started);

  atomic_store_explicit(&stop, true, memory_order_release);
  pthread_barrier_wait(&park); /* long-lived threads hold nothing now */
  check_threads(nlong, "long-lived threads parked");

  /* Main attaches to every pool and drains the slots. */
  uint64_t main_allocs[NPOOLS] = {0}, seq = 0, drained = 0;
  for (unsigned i = 0; i < NPOOLS; i++) {
    void *p = ebra_pool_alloc(pools[i].pool);
    STRESS_CHECK(p, "main: ebra_pool_alloc('%s') failed", pools[i].cfg.name);
    stress_obj_claim(&pools[i], p, main_id, ++seq);
    main_allocs[i]++;
    stress_obj_free(p, main_id, "main free");
  }
  for (size_t i = 0; i < nslots; i++) {
    void *p = stress_slot_swap(slots, i, NULL);
    if (p) {
      stress_obj_take(p, main_id, ++seq, "object drained from a slot");
      stress_obj_free(p, main_id, "free of a drained object");
      drained++;
    }
  }
  check_threads(nlong + 1, "long-lived threads parked, main attached");
  check_all_quiescent("long-lived threads parked", main_allocs);

  pthread_barrier_wait(&park); /* let them exit */
  stress_join(long_threads);
  check_threads(1, "long-lived threads exited");
  check_all_quiescent("long-lived threads exited", main_allocs);
  ebra_thread_exit();
  check_threads(0, "main detached");
  check_all_quiescent("main detached", main_allocs);
  for (unsigned i = 0; i < NPOOLS; i++)
    stress_check_reachable(&pools[i], main_id, "after all threads exited");

  uint64_t carved[NPOOLS];
  for (unsigned i = 0; i < NPOOLS; i++)
    carved[i] = stress_stats(&pools[i]).objects_carved;
  stress_pools_destroy(pools, NPOOLS);
  ebra_thread_exit();
  pthread_barrier_destroy(&park);
  free(window);
  free(longs);
  free(slots);
  stress_say("ok: %lu short threads (%lu at a time) + %u long-lived, at most %u attached, "
             "%" PRIu64 " drained; carved %" PRIu64 "/%" PRIu64 "/%" PRIu64 "; %.2f s\n",
             started, batch, nlong, max_seen, drained, carved[0], carved[1], carved[2],
             (double)(now_ns() - t0) / 1e9);
  return 0;
}

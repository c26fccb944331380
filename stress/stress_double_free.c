/* SPDX-License-Identifier: MIT */
/* stress/stress_double_free.c — at the strict check level, of several
 * threads freeing the same object at the same moment exactly one succeeds.
 *
 * Rounds: the main thread allocates a batch of objects from a pool created
 * with EBRA_POOL_STRICT_CHECKS and publishes it; every worker then frees
 * every object of the batch (through the exported or, on odd threads, the
 * inline free), the workers starting together at a barrier so that frees
 * of one object race.  Checks, every round:
 *   - each object has exactly one free that returned 0; every other free
 *     of it returned -EALREADY (and was reported as a double free);
 *   - no free returned anything else.
 * At the end, with every worker gone: the audit balances with no object in
 * two places (ebra_pool_audit's duplicates) and live == 0, and one thread
 * can allocate every carved object exactly once (no object was handed out
 * twice or lost).
 *
 * At the default level the same race can let two frees both return 0 and
 * put the object in two magazines (README, "What free checks"); that is why
 * the level exists, and why this test runs only at it.
 *
 * Not built under TSan: racing frees of one object are the user's data
 * race, which TSan rightly reports on the object's first word.
 *
 * Arguments: -t threads (8) -d ms (2000) -s seed -n objects per round (64).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stress_util.h"

static stress_pool_t pool = {
    .cfg = {.name = "strict-64", .object_size = 64, .flags = EBRA_POOL_STRICT_CHECKS,
            .magazine_capacity = 16},
    .untracked = true,
};

static stress_args_t args = {.threads = 8, .duration_ms = 2000, .seed = 0x0E8A00DF};
static unsigned long batch_n = 64;

static pthread_barrier_t start_round, end_round;
static void **batch;            /* written by main between rounds */
static _Atomic uint32_t *wins;  /* per object: frees that returned 0 */
static _Atomic uint64_t losses, bad_rc;
static _Atomic bool stop;

static void *worker(void *arg) {
  const uintptr_t id = (uintptr_t)arg;
  for (;;) {
    pthread_barrier_wait(&start_round);
    if (atomic_load(&stop))
      return NULL;
    /* Each worker walks the batch from its own offset, so races differ. */
    for (unsigned long k = 0; k < batch_n; k++) {
      const unsigned long i = (k + id * 7) % batch_n;
      const int rc = (id & 1) ? ebra_pool_free_inline(pool.pool, batch[i])
                              : ebra_pool_free(pool.pool, batch[i]);
      if (rc == 0)
        atomic_fetch_add(&wins[i], 1);
      else if (rc == -EALREADY)
        atomic_fetch_add(&losses, 1);
      else
        atomic_fetch_add(&bad_rc, 1);
    }
    pthread_barrier_wait(&end_round);
  }
}

static int cmp_ptr(const void *a, const void *b) {
  const uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
  return x < y ? -1 : x > y;
}

/* Every carved object comes out of the pool exactly once: allocate as many
 * as were carved (the pool must not carve more for it), and no address
 * twice. */
static void check_each_once(void) {
  const uint64_t carved = stress_stats(&pool).objects_carved;
  void **all = calloc(carved ? carved : 1, sizeof *all);
  STRESS_CHECK(all != NULL, "out of memory");
  for (uint64_t i = 0; i < carved; i++) {
    all[i] = ebra_pool_alloc(pool.pool);
    STRESS_CHECK(all[i] != NULL, "alloc %" PRIu64 " of %" PRIu64 " failed", i, carved);
  }
  STRESS_CHECK(stress_stats(&pool).objects_carved == carved,
               "the pool carved new objects: some carved object was not reachable");
  qsort(all, carved, sizeof *all, cmp_ptr);
  for (uint64_t i = 1; i < carved; i++)
    STRESS_CHECK(all[i] != all[i - 1], "object %p handed out twice", all[i]);
  for (uint64_t i = 0; i < carved; i++)
    STRESS_CHECK(ebra_pool_free(pool.pool, all[i]) == 0, "final free failed");
  free(all);
}

int main(int argc, char **argv) {
  static const stress_opt_t extra[] = {
      {'n', "objects per round", &batch_n, 1, 4096, 64, 32, NULL},
  };
  stress_parse_args("stress_double_free", argc, argv, &args, 1000, extra, 1);
  stress_hook_install();
  stress_hook_allow(EBRA_ERR_DOUBLE_FREE, true);
  stress_pools_create(&pool, 1);
  batch = calloc(batch_n, sizeof *batch);
  wins = calloc(batch_n, sizeof *wins);
  STRESS_CHECK(batch && wins, "out of memory");
  pthread_barrier_init(&start_round, NULL, (unsigned)args.threads + 1);
  pthread_barrier_init(&end_round, NULL, (unsigned)args.threads + 1);
  stress_threads_t *t = stress_spawn(args.threads, worker, NULL, 0);
  (void)t;
  const uint64_t deadline = now_ns() + args.duration_ms * 1000000ull;
  uint64_t rounds = 0;
  do {
    for (unsigned long i = 0; i < batch_n; i++) {
      batch[i] = ebra_pool_alloc(pool.pool);
      STRESS_CHECK(batch[i] != NULL, "alloc failed in round %" PRIu64, rounds);
      atomic_store(&wins[i], 0);
    }
    pthread_barrier_wait(&start_round);
    pthread_barrier_wait(&end_round);
    for (unsigned long i = 0; i < batch_n; i++)
      STRESS_CHECK(atomic_load(&wins[i]) == 1,
                   "round %" PRIu64 ": object %lu (%p) freed successfully %u times, want 1",
                   rounds, i, batch[i], atomic_load(&wins[i]));
    STRESS_CHECK(atomic_load(&bad_rc) == 0, "a free returned neither 0 nor -EALREADY");
    rounds++;
  } while (now_ns() < deadline);
  atomic_store(&stop, true);
  pthread_barrier_wait(&start_round);
  stress_join(t);

  const uint64_t want_losses = rounds * batch_n * (args.threads - 1);
  STRESS_CHECK(atomic_load(&losses) == want_losses,
               "%" PRIu64 " refused frees, want %" PRIu64, atomic_load(&losses), want_losses);
  STRESS_CHECK(stress_hook_count(EBRA_ERR_DOUBLE_FREE) == want_losses,
               "%" PRIu64 " double-free reports, want %" PRIu64,
               stress_hook_count(EBRA_ERR_DOUBLE_FREE), want_losses);
  stress_check_quiescent(&pool, 0, STRESS_ANY, "end");
  check_each_once();
  stress_say("%" PRIu64 " rounds of %lu objects freed by %lu threads at once; "
             "each won by exactly one free",
             rounds, batch_n, args.threads);
  stress_pools_destroy(&pool, 1);
  free(batch);
  free((void *)wins);
  return 0;
}

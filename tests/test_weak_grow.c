/* SPDX-License-Identifier: MIT */
/* tests/test_weak_grow.c — a weak table grows while several threads create
 * handles in it at once, and no create fails.
 *
 * Each round starts a fresh table; THREADS threads, released together,
 * each create PER handles without killing any, so the table's fresh index
 * crosses one segment boundary after another (64, 192, 448, 960, ...)
 * with every thread taking indices there at the same time.  Property: every
 * ebra_weak_create returns 0 (no "no free slot" report, no ENOMEM), every
 * handle resolves to its own object, the table counts THREADS * PER
 * created, and after kill-all and a barrier it is empty and destroys.
 *
 * The same source is built as test_weak_grow_window against a weak floor
 * compiled with EBI_TEST_GROW_WINDOW_US (tests/CMakeLists.txt): the thread
 * growing a segment sleeps between publishing xseg[k] and head.base[k], the
 * window a preemption opens on a loaded machine.  A create that takes a
 * slot of that segment meanwhile must still succeed (weak/weak.c, W9); the
 * library of before W9 failed there with ENOMEM in every round.
 *
 * Usage: test_weak_grow [rounds]   (default 40, 15 under ThreadSanitizer)
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define THREADS 4
#define PER 600 /* THREADS * PER = 2400 handles: segments 0 to 5 */

static ebra_pool_t *pool;
static ebra_domain_t *dom;
static ebra_weak_table_t *_Atomic tab;
static pthread_barrier_t start_bar, end_bar;
static ebra_weak_t handles[THREADS][PER];
static void *objects[THREADS][PER];
static _Atomic unsigned long create_failures;
static _Atomic int first_error;
static unsigned rounds = 40;

static void *creator(void *arg) {
  const unsigned id = (unsigned)(uintptr_t)arg;
  for (unsigned r = 0; r < rounds; r++) {
    pthread_barrier_wait(&start_bar);
    ebra_weak_table_t *t = atomic_load(&tab);
    for (unsigned i = 0; i < PER; i++) {
      void *o = ebra_pool_alloc(pool);
      CHECK(o != NULL);
      const int rc = ebra_weak_create(t, o, &handles[id][i]);
      if (rc != 0) {
        int zero = 0;
        atomic_compare_exchange_strong(&first_error, &zero, rc);
        atomic_fetch_add(&create_failures, 1);
        CHECK_EQ(ebra_pool_free(pool, o), 0); /* a failed create leaves it ours */
        o = NULL;
      }
      objects[id][i] = o;
    }
    pthread_barrier_wait(&end_bar);
  }
  return NULL;
}

/* Main's part of one round: every handle resolves to its object, then all
 * die and the table drains. */
static void check_round(ebra_weak_table_t *t) {
  unsigned long made = 0;
  CHECK_EQ(ebra_read_lock(dom), 0);
  for (unsigned id = 0; id < THREADS; id++)
    for (unsigned i = 0; i < PER; i++)
      if (objects[id][i]) {
        CHECK(ebra_weak_get(t, handles[id][i]) == objects[id][i]);
        made++;
      }
  ebra_read_unlock(dom);
  ebra_weak_stats_t ws;
  CHECK_EQ(ebra_weak_table_stats(t, &ws), 0);
  CHECK_EQ(ws.created, made);
  CHECK_EQ(ws.live, made);
  for (unsigned id = 0; id < THREADS; id++)
    for (unsigned i = 0; i < PER; i++)
      if (objects[id][i])
        CHECK_EQ(ebra_weak_kill(t, handles[id][i]), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_weak_table_stats(t, &ws), 0);
  CHECK_EQ(ws.live, 0);
  CHECK_EQ(ebra_weak_table_destroy(t), 0);
}

int main(int argc, char **argv) {
  if (ebra_build_features() & EBRA_FEATURE_TSAN)
    rounds = 15; /* each round a few times slower; every round crosses six segments */
  if (argc > 1)
    rounds = (unsigned)strtoul(argv[1], NULL, 10);
  test_hook_install();
  const ebra_pool_config_t pc = {.name = "weak_grow", .object_size = 32};
  const ebra_domain_config_t dc = {.name = "weak_grow"};
  pool = ebra_pool_create(&pc);
  dom = pool ? ebra_domain_create(&dc) : NULL;
  CHECK(dom != NULL);
  CHECK_EQ(pthread_barrier_init(&start_bar, NULL, THREADS + 1), 0);
  CHECK_EQ(pthread_barrier_init(&end_bar, NULL, THREADS + 1), 0);
  pthread_t th[THREADS];
  for (unsigned i = 0; i < THREADS; i++)
    CHECK_EQ(pthread_create(&th[i], NULL, creator, (void *)(uintptr_t)i), 0);
  for (unsigned r = 0; r < rounds; r++) {
    ebra_weak_table_t *t = ebra_weak_table_create(dom, NULL);
    CHECK(t != NULL);
    atomic_store(&tab, t);
    pthread_barrier_wait(&start_bar);
    pthread_barrier_wait(&end_bar);
    check_round(t);
  }
  for (unsigned i = 0; i < THREADS; i++)
    CHECK_EQ(pthread_join(th[i], NULL), 0);
  const unsigned long failed = atomic_load(&create_failures);
  if (failed) {
    fprintf(stderr, "test_weak_grow: %lu of %lu creates failed (first: %s)\n", failed,
            (unsigned long)rounds * THREADS * PER, strerror(-atomic_load(&first_error)));
    return 1;
  }
  CHECK_NO_REPORTS();
  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  printf("test_weak_grow: %u rounds x %u threads x %u creates, none failed\n", rounds, THREADS,
         PER);
  return 0;
}

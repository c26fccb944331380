/* SPDX-License-Identifier: MIT */
/* test_threads.c — objects and caches moving between threads.
 *
 * Every multi-thread step here is sequenced (join or barrier) so each
 * number checked is known in advance; the stress tests cover races.
 *
 * Claims checked:
 *  - stats.threads counts threads with a cache attached: it rises while
 *    workers hold caches, falls back when they exit, and
 *    ebra_thread_exit() releases the caller's;
 *  - ebra_pool_thread_flush moves the caller's cached objects to the depot
 *    (depot_full grows) and another thread then allocates them without
 *    carving new ones;
 *  - a thread that used a pool and exited leaves its cached objects in the
 *    depot: threads drops back, the audit balances, and the next thread
 *    reuses them without carving (over 20 threads in a row);
 *  - cross-thread free: objects allocated by thread A and freed by thread B
 *    (and by main, and the other way) are accepted and counted.
 */
#include <errno.h>
#include <pthread.h>

#include "check.h"

enum { SIZE = 64, MAG = 8, K = 100 };

static ebra_pool_t *make_pool(const char *name)
{
  ebra_pool_config_t c = test_config(name, SIZE);
  c.magazine_capacity = MAG;
  ebra_pool_t *p = ebra_pool_create(&c);
  CHECK(p != NULL);
  return p;
}

struct job {
  ebra_pool_t *pool;
  void **obj;     /* K objects */
  int alloc;      /* allocate obj[] */
  int free;       /* free obj[] */
  pthread_barrier_t *hold; /* if set: wait twice between alloc and free */
};

static void *worker(void *arg)
{
  struct job *j = arg;
  if (j->alloc)
    for (int i = 0; i < K; i++) {
      j->obj[i] = ebra_pool_alloc(j->pool);
      CHECK(j->obj[i] != NULL);
      CHECK(ebra_pool_of(j->obj[i]) == j->pool);
      memset(j->obj[i], 0x3C, SIZE);
    }
  if (j->hold != NULL) {
    pthread_barrier_wait(j->hold);
    pthread_barrier_wait(j->hold);
  }
  if (j->free)
    for (int i = 0; i < K; i++)
      CHECK_EQ(ebra_pool_free(j->pool, j->obj[i]), 0);
  return NULL;
}

static void run(struct job *j)
{
  pthread_t t;
  CHECK(pthread_create(&t, NULL, worker, j) == 0);
  CHECK(pthread_join(t, NULL) == 0);
}

static void test_thread_count(void)
{
  enum { W = 4 };
  ebra_pool_t *pool = make_pool("thread-count");
  CHECK_EQ(test_stats(pool).threads, 0);
  void *mine = ebra_pool_alloc(pool);
  CHECK(mine != NULL);
  CHECK_EQ(test_stats(pool).threads, 1);

  pthread_barrier_t hold;
  CHECK(pthread_barrier_init(&hold, NULL, W + 1) == 0);
  static void *objs[W][K];
  struct job jobs[W];
  pthread_t t[W];
  for (int w = 0; w < W; w++) {
    jobs[w] = (struct job){pool, objs[w], 1, 1, &hold};
    CHECK(pthread_create(&t[w], NULL, worker, &jobs[w]) == 0);
  }
  pthread_barrier_wait(&hold); /* every worker has allocated */
  ebra_pool_stats_t s = test_stats(pool);
  CHECK_EQ(s.threads, W + 1);
  CHECK_EQ(s.objects_live, W * K + 1);
  pthread_barrier_wait(&hold);
  for (int w = 0; w < W; w++)
    CHECK(pthread_join(t[w], NULL) == 0);
  pthread_barrier_destroy(&hold);

  s = test_stats(pool);
  CHECK_EQ(s.threads, 1);
  CHECK_EQ(s.allocs, W * K + 1);
  CHECK_EQ(s.frees, W * K);
  CHECK_EQ(ebra_pool_free(pool, mine), 0);
  CHECK_AUDIT(pool);

  ebra_thread_exit();
  CHECK_EQ(test_stats(pool).threads, 0);
  CHECK_AUDIT(pool);
  /* A detached thread can still use the pool: it re-attaches. */
  mine = ebra_pool_alloc(pool);
  CHECK(mine != NULL);
  CHECK_EQ(test_stats(pool).threads, 1);
  CHECK_EQ(ebra_pool_free(pool, mine), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

static void test_flush(void)
{
  ebra_pool_t *pool = make_pool("flush");
  static void *obj[K];
  for (int i = 0; i < K; i++) {
    obj[i] = ebra_pool_alloc(pool);
    CHECK(obj[i] != NULL);
  }
  for (int i = 0; i < K; i++)
    CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  ebra_pool_stats_t before = test_stats(pool);
  CHECK_EQ(ebra_pool_thread_flush(pool), 0);
  ebra_pool_stats_t after = test_stats(pool);
  CHECK(after.depot_full > before.depot_full);
  CHECK_EQ(after.objects_carved, before.objects_carved);
  CHECK_EQ(after.threads, 1); /* the cache stays attached */
  CHECK_AUDIT(pool);

  /* Another thread takes them all without carving. */
  static void *theirs[K];
  struct job j = {pool, theirs, 1, 0, NULL};
  run(&j);
  ebra_pool_stats_t s = test_stats(pool);
  CHECK_EQ(s.objects_carved, before.objects_carved);
  CHECK_EQ(s.allocs, 2 * K);
  CHECK_EQ(s.objects_live, K);
  CHECK_EQ(s.threads, 1);
  for (int i = 0; i < K; i++)
    CHECK_EQ(ebra_pool_free(pool, theirs[i]), 0);
  CHECK_AUDIT(pool);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

static void test_exited_thread_cache(void)
{
  ebra_pool_t *pool = make_pool("thread-exit");
  static void *obj[K];
  struct job j = {pool, obj, 1, 1, NULL};
  run(&j); /* allocates K, frees K into its cache, exits */
  ebra_pool_stats_t s = test_stats(pool);
  CHECK_EQ(s.threads, 0);
  CHECK_EQ(s.allocs, K);
  CHECK_EQ(s.frees, K);
  CHECK(s.depot_full > 0);
  CHECK_AUDIT(pool);
  uint64_t carved = s.objects_carved;

  for (int round = 0; round < 20; round++) {
    run(&j);
    s = test_stats(pool);
    CHECK_EQ(s.threads, 0);
    CHECK_EQ(s.objects_carved, carved);
    CHECK_EQ(s.objects_live, 0);
  }
  CHECK_AUDIT(pool);

  /* main reuses the dead threads' objects too. */
  for (int i = 0; i < K; i++) {
    obj[i] = ebra_pool_alloc(pool);
    CHECK(obj[i] != NULL);
  }
  CHECK_EQ(test_stats(pool).objects_carved, carved);
  for (int i = 0; i < K; i++)
    CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  CHECK_AUDIT(pool);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

static void test_cross_thread_free(void)
{
  ebra_pool_t *pool = make_pool("cross-free");
  static void *obj[K];

  /* A allocates, B frees. */
  struct job a = {pool, obj, 1, 0, NULL};
  struct job b = {pool, obj, 0, 1, NULL};
  run(&a);
  run(&b);
  ebra_pool_stats_t s = test_stats(pool);
  CHECK_EQ(s.allocs, K);
  CHECK_EQ(s.frees, K);
  CHECK_EQ(s.objects_live, 0);
  CHECK_AUDIT(pool);

  /* A allocates, main frees. */
  run(&a);
  for (int i = 0; i < K; i++)
    CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  /* main allocates, B frees while main keeps its cache. */
  for (int i = 0; i < K; i++) {
    obj[i] = ebra_pool_alloc(pool);
    CHECK(obj[i] != NULL);
  }
  run(&b);
  s = test_stats(pool);
  CHECK_EQ(s.allocs, 3 * K);
  CHECK_EQ(s.frees, 3 * K);
  CHECK_EQ(s.objects_live, 0);
  CHECK_EQ(s.errors, 0);
  CHECK_AUDIT(pool);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

int main(void)
{
  test_hook_install();
  TEST_RUN(test_thread_count);
  TEST_RUN(test_flush);
  TEST_RUN(test_exited_thread_cache);
  TEST_RUN(test_cross_thread_free);
  return 0;
}

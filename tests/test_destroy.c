/* SPDX-License-Identifier: MIT */
/* test_destroy.c — the end of a pool's life, and the tombstone after it.
 *
 * Claims checked:
 *  - destroy of a used, empty pool returns 0 with no report;
 *  - destroy with live objects returns 0 and reports exactly one
 *    EBRA_WARN_LIVE_AT_DESTROY (and nothing else);
 *  - destroy of a pool whose caches sit in other, still running threads
 *    returns 0, and those threads then exit cleanly;
 *  - on the tombstone: a second destroy returns -EBADF; alloc returns NULL
 *    with errno EBADF; free returns -EBADF; stats returns -EBADF;
 *    thread_flush returns -EBADF — each with exactly one
 *    EBRA_ERR_USE_AFTER_DESTROY report;
 *  - destroying one pool leaves another pool fully working, and many
 *    create/destroy cycles work.
 */
#include <errno.h>
#include <pthread.h>

#include "check.h"

enum { SIZE = 48, N = 300 };

static void fill_and_free_some(ebra_pool_t *pool, void **obj, int n, int keep)
{
  for (int i = 0; i < n; i++) {
    obj[i] = ebra_pool_alloc(pool);
    CHECK(obj[i] != NULL);
    memset(obj[i], 0x11, SIZE);
  }
  for (int i = keep; i < n; i++)
    CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
}

static void check_tombstone(ebra_pool_t *pool, void *old_object)
{
  CHECK_EQ(ebra_pool_destroy(pool), -EBADF);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);

  errno = 0;
  CHECK(ebra_pool_alloc(pool) == NULL);
  CHECK_EQ(errno, EBADF);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);

  if (old_object != NULL) { /* free(pool, NULL) is a no-op: not checked */
    CHECK_EQ(ebra_pool_free(pool, old_object), -EBADF);
    CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);
  }

  ebra_pool_stats_t s;
  CHECK_EQ(ebra_pool_stats(pool, &s), -EBADF);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);

  CHECK_EQ(ebra_pool_thread_flush(pool), -EBADF);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);

  /* Again: every later call is still detected. */
  errno = 0;
  CHECK(ebra_pool_alloc(pool) == NULL);
  CHECK_EQ(errno, EBADF);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);
}

static void test_destroy_empty(void)
{
  static void *obj[N];
  ebra_pool_t *pool = test_pool("destroy-empty", SIZE);
  fill_and_free_some(pool, obj, N, 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
  check_tombstone(pool, obj[0]);
}

static void test_destroy_unused(void)
{
  ebra_pool_t *pool = test_pool("destroy-unused", SIZE);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
  check_tombstone(pool, NULL);
}

static void test_destroy_live(void)
{
  static void *obj[N];
  ebra_pool_t *pool = test_pool("destroy-live", SIZE);
  fill_and_free_some(pool, obj, N, 17); /* 17 stay live */
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_REPORTS(EBRA_WARN_LIVE_AT_DESTROY, 1);
  check_tombstone(pool, obj[0]);
}

/* ---- caches held by running threads ---------------------------------------- */

struct holder {
  ebra_pool_t *pool;
  ebra_pool_t *other;
  pthread_barrier_t *step;
};

static void *holder_thread(void *arg)
{
  struct holder *h = arg;
  void *obj[50];
  for (int i = 0; i < 50; i++) {
    obj[i] = ebra_pool_alloc(h->pool);
    CHECK(obj[i] != NULL);
  }
  for (int i = 0; i < 50; i++)
    CHECK_EQ(ebra_pool_free(h->pool, obj[i]), 0);
  void *o = ebra_pool_alloc(h->other);
  CHECK(o != NULL);
  CHECK_EQ(ebra_pool_free(h->other, o), 0);
  pthread_barrier_wait(h->step); /* cache filled */
  pthread_barrier_wait(h->step); /* main destroyed the pool */
  /* The other pool still works from this thread; then exit, which must
   * not touch the destroyed pool's memory. */
  o = ebra_pool_alloc(h->other);
  CHECK(o != NULL);
  CHECK_EQ(ebra_pool_free(h->other, o), 0);
  return NULL;
}

static void test_destroy_with_running_threads(void)
{
  enum { T = 3 };
  ebra_pool_t *pool = test_pool("destroy-running", SIZE);
  ebra_pool_t *other = test_pool("survivor", SIZE);
  pthread_barrier_t step;
  CHECK(pthread_barrier_init(&step, NULL, T + 1) == 0);
  struct holder h = {pool, other, &step};
  pthread_t t[T];
  for (int i = 0; i < T; i++)
    CHECK(pthread_create(&t[i], NULL, holder_thread, &h) == 0);
  pthread_barrier_wait(&step);
  CHECK_EQ(test_stats(pool).threads, T);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
  pthread_barrier_wait(&step);
  for (int i = 0; i < T; i++)
    CHECK(pthread_join(t[i], NULL) == 0);
  pthread_barrier_destroy(&step);
  CHECK_NO_REPORTS();
  check_tombstone(pool, NULL);

  ebra_pool_stats_t s = test_stats(other);
  CHECK_EQ(s.allocs, 2 * T);
  CHECK_EQ(s.frees, 2 * T);
  CHECK_EQ(s.threads, 0);
  CHECK_AUDIT(other);
  CHECK_EQ(ebra_pool_destroy(other), 0);
  CHECK_NO_REPORTS();
}

static void test_other_pool_unaffected(void)
{
  static void *a_obj[N], *b_obj[N];
  ebra_pool_t *a = test_pool("dies", SIZE);
  ebra_pool_t *b = test_pool("lives", SIZE);
  fill_and_free_some(a, a_obj, N, N / 2);
  fill_and_free_some(b, b_obj, N, N / 2);
  CHECK_EQ(ebra_pool_destroy(a), 0);
  CHECK_REPORTS(EBRA_WARN_LIVE_AT_DESTROY, 1);
  for (int i = 0; i < N / 2; i++)
    CHECK(ebra_pool_of(b_obj[i]) == b);
  for (int i = 0; i < N / 2; i++)
    CHECK_EQ(ebra_pool_free(b, b_obj[i]), 0);
  fill_and_free_some(b, b_obj, N, 0);
  CHECK_AUDIT(b);
  CHECK_EQ(test_stats(b).objects_live, 0);
  CHECK_EQ(ebra_pool_destroy(b), 0);
  CHECK_NO_REPORTS();
}

static void test_create_destroy_cycles(void)
{
  static void *obj[64];
  for (int i = 0; i < 60; i++) {
    ebra_pool_config_t c = test_config("cycle", (size_t)(8 + i % 50 * 8));
    c.prealloc = (size_t)(i % 3) * 10;
    ebra_pool_t *pool = ebra_pool_create(&c);
    CHECK(pool != NULL);
    for (int k = 0; k < 64; k++) {
      obj[k] = ebra_pool_alloc(pool);
      CHECK(obj[k] != NULL);
    }
    for (int k = 0; k < 64; k++)
      CHECK_EQ(ebra_pool_free(pool, obj[k]), 0);
    CHECK_EQ(ebra_pool_destroy(pool), 0);
  }
  CHECK_NO_REPORTS();
}

int main(void)
{
  test_hook_install();
  TEST_RUN(test_destroy_empty);
  TEST_RUN(test_destroy_unused);
  TEST_RUN(test_destroy_live);
  TEST_RUN(test_destroy_with_running_threads);
  TEST_RUN(test_other_pool_unaffected);
  TEST_RUN(test_create_destroy_cycles);
  return 0;
}

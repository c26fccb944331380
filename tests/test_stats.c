/* SPDX-License-Identifier: MIT */
/* test_stats.c — counters, ownership lookup, audit and printing, on one
 * thread where every number is known in advance.
 *
 * Claims checked:
 *  - after a known sequence of allocs and frees, allocs and frees are exact,
 *    objects_live = allocs - frees, bytes_live = objects_live * object_size,
 *    magazine_hits + magazine_misses = allocs + frees, slabs > 0 and
 *    bytes_reserved > 0, threads = 1, errors = 0, and the config fields
 *    (object_size, stride, magazine_capacity) are reported back;
 *  - ebra_pool_free(pool, NULL) is a no-op: 0, counters unchanged;
 *  - ebra_pool_of: the owning pool for each pool's objects (two pools),
 *    NULL for malloc'd memory, a stack address, a static and NULL;
 *  - ebra_pool_audit on a quiescent pool: 0, carved = cached + live, and
 *    it agrees with the stats;
 *  - ebra_pool_print_stats names the pool; ebra_error_kind_name names.
 */
#include <errno.h>

#include "check.h"

enum { SIZE = 40, MAG = 16 };

static ebra_pool_t *make_pool(const char *name, unsigned magazine)
{
  ebra_pool_config_t c = test_config(name, SIZE);
  c.magazine_capacity = magazine;
  ebra_pool_t *p = ebra_pool_create(&c);
  CHECK(p != NULL);
  return p;
}

static void check_invariants(const ebra_pool_stats_t *s)
{
  CHECK_EQ(s->objects_live, s->allocs - s->frees);
  CHECK_EQ(s->bytes_live, s->objects_live * SIZE);
  CHECK_EQ(s->magazine_hits + s->magazine_misses, s->allocs + s->frees);
  CHECK(s->objects_carved >= s->objects_live);
  CHECK_EQ(s->object_size, SIZE);
  CHECK(s->stride >= SIZE);
  CHECK_EQ(s->stride % 8, 0);
}

static void test_counters(void)
{
  ebra_pool_t *pool = make_pool("counters", MAG);
  ebra_pool_stats_t s = test_stats(pool);
  CHECK_EQ(s.allocs, 0);
  CHECK_EQ(s.frees, 0);
  CHECK_EQ(s.objects_live, 0);
  CHECK_EQ(s.bytes_live, 0);
  CHECK_EQ(s.errors, 0);
  CHECK_EQ(s.magazine_capacity, MAG);
  check_invariants(&s);

  enum { N = 1000 };
  static void *obj[N];
  for (int i = 0; i < N; i++) { /* 1000 allocs */
    obj[i] = ebra_pool_alloc(pool);
    CHECK(obj[i] != NULL);
  }
  s = test_stats(pool);
  CHECK_EQ(s.allocs, N);
  CHECK_EQ(s.frees, 0);
  CHECK_EQ(s.objects_live, N);
  CHECK_EQ(s.bytes_live, N * SIZE);
  CHECK(s.slabs > 0);
  CHECK(s.bytes_reserved >= (uint64_t)N * SIZE);
  CHECK(s.objects_carved >= N);
  CHECK_EQ(s.threads, 1);
  check_invariants(&s);

  for (int i = 0; i < N; i += 2) /* 500 frees */
    CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  for (int i = 0; i < 300; i++) { /* 300 allocs, 300 frees */
    void *p = ebra_pool_alloc(pool);
    CHECK(p != NULL);
    CHECK_EQ(ebra_pool_free(pool, p), 0);
  }
  for (int i = 0; i < 200; i += 2) { /* 100 allocs */
    obj[i] = ebra_pool_alloc(pool);
    CHECK(obj[i] != NULL);
  }
  s = test_stats(pool);
  CHECK_EQ(s.allocs, 1400);
  CHECK_EQ(s.frees, 800);
  CHECK_EQ(s.objects_live, 600);
  CHECK_EQ(s.bytes_live, 600 * SIZE);
  CHECK_EQ(s.errors, 0);
  check_invariants(&s);

  /* free(NULL) changes nothing. */
  CHECK_EQ(ebra_pool_free(pool, NULL), 0);
  ebra_pool_stats_t t = test_stats(pool);
  CHECK_EQ(t.allocs, s.allocs);
  CHECK_EQ(t.frees, s.frees);
  CHECK_EQ(t.magazine_hits, s.magazine_hits);
  CHECK_EQ(t.magazine_misses, s.magazine_misses);

  for (int i = 0; i < N; i++)
    if (i % 2 == 1 || i < 200)
      CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  s = test_stats(pool);
  CHECK_EQ(s.allocs, 1400);
  CHECK_EQ(s.frees, 1400);
  CHECK_EQ(s.objects_live, 0);
  CHECK_EQ(s.bytes_live, 0);
  CHECK(s.slabs > 0);
  CHECK(s.bytes_reserved > 0);
  check_invariants(&s);

  /* A hot alloc/free pair on a warm cache is served by the magazines. */
  uint64_t hits = s.magazine_hits;
  for (int i = 0; i < 10; i++)
    CHECK_EQ(ebra_pool_free(pool, ebra_pool_alloc(pool)), 0);
  s = test_stats(pool);
  CHECK_EQ(s.magazine_hits, hits + 20);
  check_invariants(&s);

  CHECK_EQ(ebra_pool_stats(pool, NULL), -EINVAL);
  test_hook_reset(); /* whether that is reported is not specified */
  CHECK_AUDIT(pool);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

static void test_default_magazine_capacity(void)
{
  ebra_pool_t *pool = make_pool("default-magazine", 0);
  CHECK_EQ(test_stats(pool).magazine_capacity, opt_value(EBRA_OPT_MAGAZINE_SIZE));
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

static int a_static;

static void test_pool_of(void)
{
  ebra_pool_t *a = make_pool("owner-a", MAG);
  ebra_pool_t *b = make_pool("owner-b", MAG);
  enum { N = 200 };
  void *pa[N], *pb[N];
  for (int i = 0; i < N; i++) {
    pa[i] = ebra_pool_alloc(a);
    pb[i] = ebra_pool_alloc(b);
    CHECK(pa[i] != NULL && pb[i] != NULL);
  }
  for (int i = 0; i < N; i++) {
    CHECK(ebra_pool_of(pa[i]) == a);
    CHECK(ebra_pool_of(pb[i]) == b);
  }
  void *m = malloc(SIZE);
  CHECK(m != NULL);
  int on_stack = 0;
  CHECK(ebra_pool_of(m) == NULL);
  CHECK(ebra_pool_of(&on_stack) == NULL);
  CHECK(ebra_pool_of(&a_static) == NULL);
  CHECK(ebra_pool_of(NULL) == NULL);
  free(m);
  for (int i = 0; i < N; i++) {
    CHECK_EQ(ebra_pool_free(a, pa[i]), 0);
    CHECK_EQ(ebra_pool_free(b, pb[i]), 0);
  }
  CHECK_EQ(ebra_pool_destroy(a), 0);
  CHECK_EQ(ebra_pool_destroy(b), 0);
  CHECK_NO_REPORTS();
}

static void test_audit(void)
{
  ebra_pool_t *pool = make_pool("audit", 8);
  ebra_pool_audit_t a;
  memset(&a, 0, sizeof a);
  CHECK_EQ(ebra_pool_audit(pool, &a), 0); /* empty pool */
  CHECK_EQ(a.carved, a.cached + a.live);
  CHECK_EQ(a.live, 0);

  enum { N = 500 };
  static void *obj[N];
  for (int i = 0; i < N; i++) {
    obj[i] = ebra_pool_alloc(pool);
    CHECK(obj[i] != NULL);
  }
  for (int i = 0; i < N; i += 3)
    CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  memset(&a, 0, sizeof a);
  CHECK_EQ(ebra_pool_audit(pool, &a), 0);
  ebra_pool_stats_t s = test_stats(pool);
  CHECK_EQ(a.live, N - (N + 2) / 3);
  CHECK_EQ(a.live, s.objects_live);
  CHECK_EQ(a.carved, s.objects_carved);
  CHECK_EQ(a.carved, a.cached + a.live);
  CHECK_EQ(a.duplicates, 0);
  CHECK_EQ(a.invalid, 0);

  /* After a flush the cached objects sit in the depot: still balanced. */
  CHECK_EQ(ebra_pool_thread_flush(pool), 0);
  CHECK_AUDIT(pool);
  for (int i = 0; i < N; i++)
    if (i % 3 != 0)
      CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  memset(&a, 0, sizeof a);
  CHECK_EQ(ebra_pool_audit(pool, &a), 0);
  CHECK_EQ(a.live, 0);
  CHECK_EQ(a.cached, a.carved);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

struct text {
  char buf[8192];
  size_t len;
};

static void collect(const char *text, void *arg)
{
  struct text *t = arg;
  size_t n = strlen(text);
  if (n > sizeof t->buf - 1 - t->len)
    n = sizeof t->buf - 1 - t->len;
  memcpy(t->buf + t->len, text, n);
  t->len += n;
  t->buf[t->len] = '\0';
}

static void test_print_stats(void)
{
  ebra_pool_t *pool = make_pool("printed-pool-name", MAG);
  void *p = ebra_pool_alloc(pool);
  CHECK(p != NULL);
  static struct text t;
  CHECK_EQ(ebra_pool_print_stats(pool, collect, &t), 0);
  CHECK(t.len > 0);
  CHECK(strstr(t.buf, "printed-pool-name") != NULL);
  CHECK_EQ(ebra_pool_free(pool, p), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

static void test_kind_names(void)
{
  CHECK(strcmp(ebra_error_kind_name(EBRA_ERR_DOUBLE_FREE), "double-free") == 0);
  for (int k = EBRA_ERR_BAD_CONFIG; k <= EBRA_WARN_SLOW_READER; k++) {
    const char *n = ebra_error_kind_name((ebra_error_kind_t)k);
    CHECK(n != NULL && n[0] != '\0');
    for (int j = EBRA_ERR_BAD_CONFIG; j < k; j++)
      CHECK(strcmp(n, ebra_error_kind_name((ebra_error_kind_t)j)) != 0);
  }
}

int main(void)
{
  test_hook_install();
  TEST_RUN(test_counters);
  TEST_RUN(test_default_magazine_capacity);
  TEST_RUN(test_pool_of);
  TEST_RUN(test_audit);
  TEST_RUN(test_print_stats);
  TEST_RUN(test_kind_names);
  return 0;
}

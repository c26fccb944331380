/* SPDX-License-Identifier: MIT */
/* test_malloc.c — the ebra_malloc API (include/ebra/malloc.h), beside the
 * system malloc in the same process.
 *
 * Claims checked:
 *  - every size 0..4096 and a sweep to 1 MiB: a block 16-aligned, usable
 *    >= size, writable; classes keep the waste bound (usable - size < 16
 *    up to 128 bytes, usable <= 1.25 * size above), and the block belongs
 *    to the pool "malloc-<usable>"; above 256 KiB a mapping (no pool);
 *  - calloc returns zeros even on a reused (dirtied) block and for a
 *    mapping, a reused kept mapping included; freed mappings are kept (16)
 *    and reused, the oldest unmapped after that; n * size overflow gives NULL + ENOMEM;
 *  - realloc stays in place within a class and within a mapping, moves
 *    across classes with the contents kept; realloc(NULL) mallocs,
 *    realloc(p, 0) frees; reallocarray overflow gives NULL + ENOMEM and
 *    leaves p valid;
 *  - aligned_alloc / posix_memalign for every power of two 16..2 MiB:
 *    aligned, from a class up to 4096 (at most 2x the larger of size and
 *    alignment), a mapping beyond; a bad alignment gives EINVAL;
 *  - misuse is reported once, with the right kind, and never crashes:
 *    foreign pointers (stack, system malloc, a user pool's object), an
 *    interior pointer, a double free (class and mapping), free_sized with
 *    a size bigger than the block;
 *  - the hard memory limit makes a mapping fail with ENOMEM and a
 *    memory-limit report;
 *  - a block freed by another thread is reused; a thread that frees in its
 *    last round of TLS destructors, after ebra's thread state is gone,
 *    leaves no thread cache attached;
 *  - delayed give-back: the pages of a class's freed blocks stay resident
 *    with EBRA_PURGE_DELAY 0, and with 20 ms they leave memory (mincore)
 *    while only another class is used, the class's cache and depot
 *    included; the class then serves blocks again (zero-filled pages).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"

static int aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static void fill(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    p[i] = (unsigned char)(seed + i * 7);
}

static int filled(const unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(seed + i * 7))
      return 0;
  return 1;
}

static void check_block(size_t n) {
  unsigned char *p = ebra_malloc(n);
  CHECK(p != NULL);
  CHECK(aligned_to(p, 16));
  const size_t u = ebra_usable_size(p);
  CHECK(u >= n);
  if (n <= EBRA_MALLOC_CLASS_MAX) {
    if (n <= 128)
      CHECK(u - n < 16 || (n == 0 && u == 16));
    else
      CHECK(u * 4 <= n * 5); /* waste <= 20% of the block, 25% of the request */
    ebra_pool_t *pool = ebra_pool_of(p);
    CHECK(pool != NULL);
    char name[32];
    snprintf(name, sizeof name, "malloc-%zu", u);
    CHECK(strcmp(ebra_pool_name(pool), name) == 0);
  } else {
    CHECK(ebra_pool_of(p) == NULL);
  }
  fill(p, u, (unsigned)n);
  CHECK(filled(p, u, (unsigned)n));
  ebra_free(p);
}

static void test_sizes(void) {
  for (size_t n = 0; n <= 4096; n++)
    check_block(n);
  for (size_t n = 4096; n <= ((size_t)1 << 20); n = n * 9 / 8 + 1)
    check_block(n);
  CHECK_NO_REPORTS();
  errno = 0;
  CHECK(ebra_malloc(SIZE_MAX) == NULL);
  CHECK_EQ(errno, ENOMEM);
  errno = 0;
  CHECK(ebra_malloc(SIZE_MAX / 2) == NULL);
  CHECK_EQ(errno, ENOMEM);
}

static void test_large(void) {
  ebra_malloc_stats_t before, mid, after;
  CHECK_EQ(ebra_malloc_stats(&before), 0);
  void *a = ebra_malloc(300 << 10), *b = ebra_malloc(5 << 20);
  CHECK(a && b && aligned_to(a, 64) && aligned_to(b, 64));
  CHECK_EQ(ebra_malloc_stats(&mid), 0);
  CHECK_EQ(mid.large_live, before.large_live + 2);
  CHECK(mid.large_bytes >= before.large_bytes + (5 << 20) + (300 << 10));
  memset(b, 1, 5 << 20);
  ebra_free(a);
  ebra_free(b);
  CHECK_EQ(ebra_malloc_stats(&after), 0);
  CHECK_EQ(after.large_live, before.large_live);
  CHECK_EQ(after.large_frees, before.large_frees + 2);
  CHECK_EQ(ebra_malloc_stats(NULL), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
}

/* Freed mappings are kept (up to 16) and reused, zeroed; the oldest is
 * unmapped when a 17th is freed, and a free of it is then foreign. */
static void test_large_reuse(void) {
  unsigned char *p = ebra_malloc(600 << 10);
  memset(p, 0xAB, 600 << 10);
  ebra_free(p);
  unsigned char *q = ebra_calloc(1, 600 << 10);
  CHECK(q == p); /* the kept mapping, the same size */
  for (size_t i = 0; i < (600 << 10); i++)
    CHECK(q[i] == 0);
  ebra_free(q);
  void *more[17];
  for (int i = 0; i < 17; i++) /* sizes no kept block fits: new mappings */
    more[i] = ebra_malloc((size_t)(3 + i) << 20);
  for (int i = 0; i < 17; i++)
    ebra_free(more[i]);
  CHECK_NO_REPORTS();
  ebra_free(q); /* evicted and unmapped by now */
  CHECK_REPORTS(EBRA_ERR_FOREIGN_PTR, 1);
}

/* calloc of n after a dirtied block of n's class was freed: every n to
 * 300 (calloc's inline zeroing goes to 128 bytes in 16-byte stores), then
 * sparser to 70000.  The whole usable block is dirtied, so a zeroing that
 * stops short of n shows. */
static void test_calloc(void) {
  for (size_t n = 1; n <= 70000; n = n < 300 ? n + 1 : n * 3 + 1) {
    unsigned char *p = ebra_malloc(n);
    memset(p, 0xAB, ebra_usable_size(p));
    ebra_free(p);
    unsigned char *q = ebra_calloc(1, n); /* LIFO magazines: often p again */
    CHECK(q != NULL);
    for (size_t i = 0; i < n; i++)
      CHECK(q[i] == 0);
    ebra_free(q);
  }
  unsigned char *big = ebra_calloc(1000, 1000);
  CHECK(big != NULL);
  for (size_t i = 0; i < 1000000; i += 4096)
    CHECK(big[i] == 0);
  ebra_free(big);
  errno = 0;
  CHECK(ebra_calloc(SIZE_MAX / 2, 3) == NULL);
  CHECK_EQ(errno, ENOMEM);
  CHECK_NO_REPORTS();
}

static void test_realloc(void) {
  unsigned char *p = ebra_malloc(100); /* class 112 */
  fill(p, 100, 1);
  CHECK(ebra_realloc(p, 110) == p);
  CHECK(ebra_realloc(p, 97) == p);
  unsigned char *q = ebra_realloc(p, 20); /* a smaller class: moves */
  CHECK(q != NULL && q != p);
  CHECK(filled(q, 20, 1));
  fill(q, 20, 2);
  p = ebra_realloc(q, 5000);
  CHECK(p != NULL && filled(p, 20, 2));
  fill(p, 5000, 3);
  q = ebra_realloc(p, 300 << 10); /* to a mapping */
  CHECK(q != NULL && filled(q, 5000, 3));
  CHECK(ebra_realloc(q, 400 << 10) == q); /* the mapping's granule holds it */
  fill(q, 400 << 10, 4);
  p = ebra_realloc(q, 3 << 20); /* grown in place, or moved */
  CHECK(p != NULL && filled(p, 400 << 10, 4));
  CHECK(ebra_usable_size(p) >= (3u << 20));
  q = ebra_realloc(p, 1000); /* back to a class */
  CHECK(q != NULL && filled(q, 1000, 4) && ebra_pool_of(q) != NULL);
  CHECK(ebra_realloc(q, 0) == NULL); /* frees */
  p = ebra_realloc(NULL, 10);
  CHECK(p != NULL && ebra_usable_size(p) == 16);
  errno = 0;
  CHECK(ebra_reallocarray(p, SIZE_MAX / 2, 3) == NULL);
  CHECK_EQ(errno, ENOMEM);
  q = ebra_reallocarray(p, 10, 10);
  CHECK(q != NULL && ebra_usable_size(q) >= 100);
  ebra_free(q);
  CHECK_NO_REPORTS();
}

static void test_aligned(void) {
  const size_t sizes[] = {1, 100, 5000, 70000, 300 << 10};
  for (size_t a = 16; a <= ((size_t)2 << 20); a *= 2) {
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      const size_t n = sizes[i];
      void *p = ebra_aligned_alloc(a, n);
      CHECK(p != NULL && aligned_to(p, a));
      const size_t u = ebra_usable_size(p);
      CHECK(u >= n);
      const size_t want = n > a ? n : a;
      if (a <= 4096 && want <= EBRA_MALLOC_CLASS_MAX) {
        CHECK(ebra_pool_of(p) != NULL);
        CHECK(u <= 2 * want);
      }
      memset(p, 5, n);
      ebra_free(p);
      void *q = NULL;
      CHECK_EQ(ebra_posix_memalign(&q, a, n), 0);
      CHECK(q != NULL && aligned_to(q, a));
      ebra_free(q);
    }
  }
  errno = 0;
  CHECK(ebra_aligned_alloc(24, 10) == NULL);
  CHECK_EQ(errno, EINVAL);
  errno = 0;
  CHECK(ebra_aligned_alloc(0, 10) == NULL);
  CHECK_EQ(errno, EINVAL);
  void *q = (void *)1;
  CHECK_EQ(ebra_posix_memalign(&q, 4, 10), EINVAL);
  CHECK_EQ(ebra_posix_memalign(&q, 48, 10), EINVAL);
  CHECK(q == (void *)1);
  CHECK_EQ(ebra_posix_memalign(&q, 64, SIZE_MAX / 2), ENOMEM);
  CHECK(q == (void *)1);
  CHECK_NO_REPORTS();
}

static void test_misuse(void) {
  long on_stack = 0;
  ebra_free(&on_stack);
  CHECK_REPORTS(EBRA_ERR_FOREIGN_PTR, 1);
  void *sys = malloc(64); /* the system malloc: this test is not preloaded */
  ebra_free(sys);
  CHECK_REPORTS(EBRA_ERR_FOREIGN_PTR, 1);
  CHECK_EQ(ebra_usable_size(sys), 0);
  CHECK_REPORTS(EBRA_ERR_FOREIGN_PTR, 1);
  errno = 0;
  CHECK(ebra_realloc(sys, 100) == NULL);
  CHECK_EQ(errno, EINVAL);
  CHECK_REPORTS(EBRA_ERR_FOREIGN_PTR, 1);
  free(sys); /* still the system's, untouched */

  ebra_pool_t *pool = ebra_pool_create(&(ebra_pool_config_t){.name = "user", .object_size = 48});
  void *obj = ebra_pool_alloc(pool);
  ebra_free(obj);
  CHECK_REPORTS(EBRA_ERR_FOREIGN_PTR, 1);
  CHECK_EQ(ebra_pool_free(pool, obj), 0); /* still the pool's */
  CHECK_EQ(ebra_pool_destroy(pool), 0);

  char *p = ebra_malloc(64);
  ebra_free(p + 16);
  CHECK_REPORTS(EBRA_ERR_MISALIGNED, 1);
  ebra_free_sized(p, 65);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  ebra_free(p);
  CHECK_REPORTS(EBRA_ERR_DOUBLE_FREE, 1);

  char *big = ebra_malloc(1 << 20);
  ebra_free(big + 4096);
  CHECK_REPORTS(EBRA_ERR_MISALIGNED, 1);
  ebra_free_sized(big, 1 << 20);
  CHECK_NO_REPORTS();
  ebra_free(big); /* kept mapped after its free: the state says so */
  CHECK_REPORTS(EBRA_ERR_DOUBLE_FREE, 1);
  errno = 0;
  CHECK(ebra_realloc(big, 10) == NULL);
  CHECK_EQ(errno, EINVAL);
  CHECK_REPORTS(EBRA_ERR_DOUBLE_FREE, 1);
  ebra_free(NULL);
  ebra_free_sized(NULL, 10);
  CHECK_NO_REPORTS();
}

/* free tells a class block from a user pool's object by the pool's
 * registry id, masked into a table of 256 (malloc_internal.h, M1).  With
 * 300 user pools alive, some have ids that share an entry with a class
 * pool, others sit below the table's end: every one's object is reported
 * and left to its pool. */
#define MANY_POOLS 300
static ebra_pool_t *many_pools[MANY_POOLS];

/* In a thread of its own, which gives back its caches of pools with ids
 * past the inline slots when it exits. */
static void *many_pools_thread(void *arg) {
  (void)arg;
  static void *objs[MANY_POOLS];
  for (int i = 0; i < MANY_POOLS; i++) {
    objs[i] = ebra_pool_alloc(many_pools[i]);
    CHECK(objs[i] != NULL);
  }
  for (int i = 0; i < MANY_POOLS; i++) {
    ebra_free(objs[i]);
    CHECK_REPORTS(EBRA_ERR_FOREIGN_PTR, 1);
    CHECK_EQ(ebra_pool_free(many_pools[i], objs[i]), 0); /* still the pool's, never freed */
  }
  CHECK_NO_REPORTS();
  return NULL;
}

static void test_user_pools_past_id_table(void) {
  ebra_free(ebra_malloc(48)); /* the 48-byte class exists */
  for (int i = 0; i < MANY_POOLS; i++) {
    many_pools[i] = ebra_pool_create(&(ebra_pool_config_t){.name = "many", .object_size = 48});
    CHECK(many_pools[i] != NULL);
  }
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, many_pools_thread, NULL), 0);
  CHECK_EQ(pthread_join(t, NULL), 0);
  /* The main thread too, whose state lives until exit: under ASan,
   * LeakSanitizer must find the slot array this grows (ids past the
   * inline slots) through the thread state, a heap block. */
  void *o = ebra_pool_alloc(many_pools[MANY_POOLS - 1]);
  CHECK(o != NULL);
  CHECK_EQ(ebra_pool_free(many_pools[MANY_POOLS - 1], o), 0);
  for (int i = 0; i < MANY_POOLS; i++)
    CHECK_EQ(ebra_pool_destroy(many_pools[i]), 0);
}

static void test_hard_limit(void) {
  ebra_malloc_stats_t st;
  ebra_malloc_stats(&st);
  ebra_engine_stats_t es;
  CHECK_EQ(ebra_engine_stats(&es), 0);
  const long limit = (long)(es.committed_bytes + st.large_bytes + (4 << 20));
  CHECK_EQ(ebra_option_set(EBRA_OPT_HARD_LIMIT, limit), 0);
  void *ok = ebra_malloc(2 << 20);
  CHECK(ok != NULL);
  errno = 0;
  CHECK(ebra_malloc(8 << 20) == NULL);
  CHECK_EQ(errno, ENOMEM);
  CHECK_REPORTS(EBRA_ERR_MEMORY_LIMIT, 1);
  ebra_free(ok);
  CHECK_EQ(ebra_option_set(EBRA_OPT_HARD_LIMIT, 0), 0);
  void *again = ebra_malloc(8 << 20);
  CHECK(again != NULL);
  ebra_free(again);
  CHECK_NO_REPORTS();
}

/* ---- threads ------------------------------------------------------------------ */

#define HANDOFF 20000
static void *handoff[HANDOFF];

static void *producer(void *arg) {
  (void)arg;
  for (int i = 0; i < HANDOFF; i++) {
    handoff[i] = ebra_malloc((size_t)(i % 700) + 1);
    memset(handoff[i], i & 0xff, (size_t)(i % 700) + 1);
  }
  return NULL;
}

static void test_cross_thread(void) {
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, producer, NULL), 0);
  CHECK_EQ(pthread_join(t, NULL), 0);
  for (int i = 0; i < HANDOFF; i++) {
    const unsigned char *p = handoff[i];
    CHECK(p[0] == (i & 0xff) && p[i % 700] == (i & 0xff));
    ebra_free(handoff[i]);
  }
  CHECK_NO_REPORTS();
}

static pthread_key_t late_key;

/* Glibc runs at most 4 rounds of key destructors; this one asks for every
 * round and frees (and allocates) only in the last, after ebra's own state
 * was released in round one: what a C library's late free looks like. */
static uintptr_t late_round = 4;

static void late_destructor(void *arg) {
  uintptr_t round = (uintptr_t)arg;
  if (round < late_round) {
    pthread_setspecific(late_key, (void *)(round + 1));
    return;
  }
  void *p = ebra_malloc(40);
  ebra_free(p);
  ebra_free(ebra_malloc(200));
}

static void *late_thread(void *arg) {
  (void)arg;
  ebra_free(ebra_malloc(40));
  pthread_setspecific(late_key, (void *)1);
  return NULL;
}

static uint32_t threads_of(size_t size) {
  void *p = ebra_malloc(size);
  ebra_pool_stats_t st;
  CHECK_EQ(ebra_pool_stats(ebra_pool_of(p), &st), 0);
  ebra_free(p);
  return st.threads;
}

static void test_thread_exit(void) {
  /* ThreadSanitizer ends its own thread state in the last round (its
   * interceptors crash after it): round 2 there, still after ebra's. */
  if (test_has_feature(EBRA_FEATURE_TSAN))
    late_round = 2;
  CHECK_EQ(pthread_key_create(&late_key, late_destructor), 0);
  const uint32_t before = threads_of(40);
  for (int i = 0; i < 8; i++) {
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, late_thread, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
  }
  CHECK_EQ(threads_of(40), before); /* no cache left attached */
  CHECK_EQ(threads_of(200), 1);
  CHECK_NO_REPORTS();
}

/* Share of the whole pages in [lo, hi) that are resident. */
static double resident_share(uintptr_t lo, uintptr_t hi) {
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  lo = (lo + page - 1) & ~(page - 1);
  hi &= ~(page - 1);
  if (hi <= lo)
    return 0;
  const size_t n = (hi - lo) / page;
  unsigned char *v = calloc(n, 1);
  CHECK(v != NULL);
  CHECK_EQ(mincore((void *)lo, hi - lo, v), 0);
  size_t in = 0;
  for (size_t i = 0; i < n; i++)
    in += v[i] & 1;
  free(v);
  return (double)in / (double)n;
}

/* Slow paths of another class for `ms` milliseconds (bursts longer than a
 * magazine), or until the pages of [lo, hi) are mostly gone. */
/* Bursts of another class, each more than a thread's two magazines of it
 * hold (48-byte blocks: 341 rounds each), so they take slow paths, which
 * is where the give-back runs. */
static double churn_other_class(uintptr_t lo, uintptr_t hi, unsigned ms) {
  enum { BURST = 1000 };
  static void *b[BURST];
  const uint64_t end = now_ns() + (uint64_t)ms * 1000000u;
  double share = resident_share(lo, hi);
  while (now_ns() < end && share > 0.1) {
    for (int i = 0; i < BURST; i++)
      CHECK((b[i] = ebra_malloc(48)) != NULL);
    for (int i = 0; i < BURST; i++)
      ebra_free(b[i]);
    share = resident_share(lo, hi);
  }
  return share;
}

static void test_purge_delay(void) {
  enum { N = 300, SIZE = 2560 }; /* 750 KiB of a class nothing else uses */
  static void *p[N];
  long saved = 0;
  CHECK_EQ(ebra_option_get(EBRA_OPT_PURGE_DELAY, &saved), 0);
  CHECK_EQ(ebra_option_set(EBRA_OPT_PURGE_DELAY, 0), 0);
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < N; i++) {
    CHECK((p[i] = ebra_malloc(SIZE)) != NULL);
    memset(p[i], 0xA5, SIZE);
    lo = (uintptr_t)p[i] < lo ? (uintptr_t)p[i] : lo;
    hi = (uintptr_t)p[i] + SIZE > hi ? (uintptr_t)p[i] + SIZE : hi;
  }
  CHECK(hi - lo < (size_t)2 * N * SIZE); /* one run of slots */
  ebra_pool_t *cls = ebra_pool_of(p[0]);
  CHECK(cls != NULL);
  ebra_pool_stats_t before;
  CHECK_EQ(ebra_pool_stats(cls, &before), 0);
  for (int i = 0; i < N; i++)
    ebra_free(p[i]);
  /* Off: nothing goes back on its own. */
  CHECK(churn_other_class(lo, hi, 250) > 0.9);
  /* On: back within a few delays (5 s allows for a loaded machine). */
  CHECK_EQ(ebra_option_set(EBRA_OPT_PURGE_DELAY, 20), 0);
  const double share = churn_other_class(lo, hi, 5000);
  if (share > 0.1)
    fprintf(stderr, "test_purge_delay: %.0f%% of the freed class's pages still resident\n",
            share * 100);
  CHECK(share <= 0.1);
  ebra_pool_stats_t after;
  CHECK_EQ(ebra_pool_stats(cls, &after), 0);
  CHECK(after.slabs_purged > before.slabs_purged);
  CHECK(after.objects_carved < before.objects_carved);
  /* The class works again: fresh blocks, writable. */
  for (int i = 0; i < N; i++) {
    CHECK((p[i] = ebra_malloc(SIZE)) != NULL);
    memset(p[i], 0x5A, SIZE);
  }
  for (int i = 0; i < N; i++)
    ebra_free(p[i]);
  CHECK_EQ(ebra_option_set(EBRA_OPT_PURGE_DELAY, saved), 0);
  CHECK_NO_REPORTS();
}

int main(void) {
  test_hook_install();
  TEST_RUN(test_sizes);
  TEST_RUN(test_large);
  TEST_RUN(test_large_reuse);
  TEST_RUN(test_calloc);
  TEST_RUN(test_realloc);
  TEST_RUN(test_aligned);
  TEST_RUN(test_misuse);
  TEST_RUN(test_user_pools_past_id_table);
  TEST_RUN(test_hard_limit);
  TEST_RUN(test_cross_thread);
  TEST_RUN(test_thread_exit);
  TEST_RUN(test_purge_delay);
  return 0;
}

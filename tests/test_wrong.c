/* SPDX-License-Identifier: MIT */
/* test_wrong.c — misuse the API on purpose and prove each check fires
 * (after mimalloc's test/test-wrong.c).
 *
 * For every misuse: the exact return value, exactly one report of the
 * exact kind (counted per kind by the hook in check.h), the pool's counters
 * untouched except stats.errors, and the pool still fully usable after it
 * (an alloc/free loop, then ebra_pool_audit == 0 with carved == cached +
 * live).
 *
 *   misuse                                  return     report
 *   free of malloc'd memory, of the stack   -EFAULT    FOREIGN_PTR
 *     (also before any slab exists)
 *   free of p | 1 << 47, 52, 63             -EFAULT    FOREIGN_PTR
 *   free of pool B's object to pool A       -EXDEV     WRONG_POOL
 *   free of p+1, p+8 (inside an object)     -EINVAL    MISALIGNED
 *   free of a slot never handed out         -EINVAL    MISALIGNED
 *   double free right after the free        -EALREADY  DOUBLE_FREE (every build)
 *   double free after scribbling the freed
 *     object                                -EALREADY  DOUBLE_FREE (debug checks,
 *                                                      strict level)
 *   write into a freed object, then alloc   -          USE_AFTER_FREE (debug checks)
 *   any call on a destroyed pool            -EBADF     USE_AFTER_DESTROY
 *
 * At the default check level double-free detection is a free-marker check
 * in the object itself: a user who scribbles over a freed object may erase
 * the marker, so a later double free is NOT guaranteed to be caught, and
 * writes into free objects are not detected at all.  The strict level
 * (EBRA_STRICT=1, argument "strict") keeps live bits and catches the first;
 * debug checks catch both.  Those cases do not run under ASan, where
 * writing a freed (poisoned) object is itself the error ASan reports.
 * Every case runs through the exported functions and through the inline
 * ones (argument "inline").
 */
#include <errno.h>
#include <stdint.h>

#include "check.h"

enum { SIZE_A = 48, SIZE_B = 64 };

static uint64_t errors_expected_a; /* misuse detected through pool A */
static uint64_t errors_expected_b; /* misuse detected through pool B */

/* The entry points under test (argv[1]): "exported" (default) calls
 * ebra_pool_alloc / ebra_pool_free; "inline" calls ebra/pool_inline.h's
 * versions, which must refuse and report exactly the same; "strict" runs
 * with EBRA_STRICT=1 (the strict check level for every pool), where the
 * scribble cases must be caught in every build. */
static int use_inline;
static int strict_level;

static void *pool_alloc(ebra_pool_t *pool)
{
  return use_inline ? ebra_pool_alloc_inline(pool) : ebra_pool_alloc(pool);
}

static int pool_free(ebra_pool_t *pool, void *p)
{
  return use_inline ? ebra_pool_free_inline(pool, p) : ebra_pool_free(pool, p);
}

/* Counters that misuse must not change. */
static void check_untouched(ebra_pool_t *pool, const ebra_pool_stats_t *before,
                            uint64_t more_errors)
{
  ebra_pool_stats_t s = test_stats(pool);
  CHECK_EQ(s.allocs, before->allocs);
  CHECK_EQ(s.frees, before->frees);
  CHECK_EQ(s.objects_live, before->objects_live);
  CHECK_EQ(s.objects_carved, before->objects_carved);
  CHECK_EQ(s.errors, before->errors + more_errors);
}

/* The pool still works: 300 allocs (written over their full size), 300
 * frees, no report, and a balanced audit. */
static void check_usable(ebra_pool_t *pool)
{
  enum { N = 300 };
  static unsigned char *obj[N];
  size_t size = ebra_pool_object_size(pool);
  for (int i = 0; i < N; i++) {
    obj[i] = pool_alloc(pool);
    CHECK(obj[i] != NULL);
    CHECK(ebra_pool_of(obj[i]) == pool);
    memset(obj[i], i & 0xff, size);
  }
  for (int i = 0; i < N; i++)
    CHECK_EQ(pool_free(pool, obj[i]), 0);
  CHECK_NO_REPORTS();
  CHECK_AUDIT(pool);
}

/* One misuse: pool_free(pool, p) must return want and report kind
 * exactly once, changing nothing but stats.errors. */
static void expect_free_fails(ebra_pool_t *pool, void *p, int want,
                              ebra_error_kind_t kind, const char *what)
{
  ebra_pool_stats_t before = test_stats(pool);
  int rc = pool_free(pool, p);
  if (rc != want) {
    fprintf(stderr, "%s: ebra_pool_free returned %d, want %d\n", what, rc, want);
    exit(1);
  }
  unsigned long k = test_reports_of(kind), all = test_reports_all();
  if (k != 1 || all != 1) {
    fprintf(stderr, "%s: want exactly one %s report, got %lu of it and %lu in all\n",
            what, ebra_error_kind_name(kind), k, all);
    exit(1);
  }
  test_hook_reset();
  check_untouched(pool, &before, 1);
}

static ebra_pool_t *pool_a, *pool_b;

/* Before any slab exists the segment map is its one-entry boot table
 * (src/segmap.c G1): a free to a pool that has never grown must still
 * refuse foreign pointers, and ebra_pool_of must find nothing. */
static void test_before_any_slab(void)
{
  ebra_pool_stats_t st = test_stats(pool_a);
  CHECK_EQ(st.slabs, 0);
#if defined(EBRA__INLINE_OK)
  CHECK_EQ(EBRA__SEGMAP.mask, 0); /* white box: the boot table is what is tested */
#endif
  long on_stack[2] = {0};
  CHECK(ebra_pool_of(on_stack) == NULL);
  expect_free_fails(pool_a, on_stack, -EFAULT, EBRA_ERR_FOREIGN_PTR, "free(stack), no slab yet");
  expect_free_fails(pool_a, (void *)(uintptr_t)0x1000, -EFAULT, EBRA_ERR_FOREIGN_PTR,
                    "free(0x1000), no slab yet");
  errors_expected_a += 2;
}

/* A pointer above the 47-bit user space selects the same map entry as the
 * object below it (the map masks, it does not bound-check); the slot check
 * must refuse it, and nothing may read through it. */
static void test_non_canonical_aliases(void)
{
  void *p = pool_alloc(pool_a);
  CHECK(p != NULL);
  const int bits[] = {47, 52, 63};
  for (size_t k = 0; k < sizeof bits / sizeof bits[0]; k++) {
    void *q = (void *)((uintptr_t)p | ((uintptr_t)1 << bits[k]));
    CHECK(ebra_pool_of(q) == NULL);
    /* Outside the slab the alias found: foreign (ebi_object_free_refused). */
    expect_free_fails(pool_a, q, -EFAULT, EBRA_ERR_FOREIGN_PTR, "free(p | high bit)");
    errors_expected_a += 1;
  }
  CHECK_EQ(pool_free(pool_a, p), 0);
}

static void test_foreign_pointers(void)
{
  void *m = malloc(SIZE_A);
  CHECK(m != NULL);
  expect_free_fails(pool_a, m, -EFAULT, EBRA_ERR_FOREIGN_PTR, "free(malloc'd)");
  free(m);
  long on_stack[8] = {0};
  expect_free_fails(pool_a, on_stack, -EFAULT, EBRA_ERR_FOREIGN_PTR, "free(stack)");
  expect_free_fails(pool_a, &on_stack[1], -EFAULT, EBRA_ERR_FOREIGN_PTR, "free(stack+8)");
  errors_expected_a += 3;
  check_usable(pool_a);
}

static void test_wrong_pool(void)
{
  void *pb = pool_alloc(pool_b);
  CHECK(pb != NULL);
  ebra_pool_stats_t b_before = test_stats(pool_b);
  expect_free_fails(pool_a, pb, -EXDEV, EBRA_ERR_WRONG_POOL, "free(B's object to A)");
  errors_expected_a += 1;
  /* B's object is untouched and still B's. */
  CHECK(ebra_pool_of(pb) == pool_b);
  check_untouched(pool_b, &b_before, 0);
  CHECK_EQ(pool_free(pool_b, pb), 0);
  CHECK_NO_REPORTS();
  check_usable(pool_a);
  check_usable(pool_b);
}

static void test_interior_pointers(void)
{
  unsigned char *p = pool_alloc(pool_a);
  CHECK(p != NULL);
  expect_free_fails(pool_a, p + 1, -EINVAL, EBRA_ERR_MISALIGNED, "free(p+1)");
  expect_free_fails(pool_a, p + 8, -EINVAL, EBRA_ERR_MISALIGNED, "free(p+8)");
  expect_free_fails(pool_a, p + SIZE_A - 1, -EINVAL, EBRA_ERR_MISALIGNED, "free(p+size-1)");
  errors_expected_a += 3;
  /* p itself is still live and frees fine. */
  CHECK_EQ(pool_free(pool_a, p), 0);
  CHECK_NO_REPORTS();
  check_usable(pool_a);
}

/* Slab colouring (src/slab.c, S6): a slab's header sits up to 4 KiB into
 * its granule-aligned mapping, slot 0 after the header's bitmaps.  A
 * pointer into that space (the colour gap, the header, the last bytes
 * before slot 0) is inside the slab but not an object: refused, by the
 * owner as not the start of an object, by another pool as its slab's. */
static void test_colour_gap(void)
{
  void *p = pool_alloc(pool_a);
  CHECK(p != NULL);
  char *base = (char *)((uintptr_t)p & ~(((uintptr_t)1 << 20) - 1)); /* 1 MiB slabs */
  char *gap[5];
  size_t n = 0;
  gap[n++] = base;
  gap[n++] = base + 8;
  gap[n++] = base + 4096 - 8;
#if defined(EBRA__INLINE_OK)
  const char *h = ebra__slab_of(p); /* white box: the header and slot 0 */
  CHECK(h != NULL && h >= base && h < base + 4096);
  char *first = EBRA__AT(h, EBRA__SLAB_FIRST, char *);
  CHECK(first > h && (char *)p >= first);
  gap[n++] = (char *)h + 64;
  gap[n++] = first - 8;
#endif
  for (size_t i = 0; i < n; i++) {
    CHECK(ebra_pool_of(gap[i]) == NULL); /* inside a slab, not an object */
    expect_free_fails(pool_a, gap[i], -EINVAL, EBRA_ERR_MISALIGNED, "free(colour gap)");
    expect_free_fails(pool_b, gap[i], -EXDEV, EBRA_ERR_WRONG_POOL, "free(A's gap to B)");
    errors_expected_a += 1;
    errors_expected_b += 1;
  }
  CHECK_EQ(pool_free(pool_a, p), 0);
  CHECK_NO_REPORTS();
  check_usable(pool_a);
  check_usable(pool_b);
}

static void test_never_handed_out(void)
{
  /* A fresh pool with one-round magazines, so few objects are carved; a
   * slot a few strides past everything carved is inside the pool's slab
   * but was never handed out. */
  ebra_pool_config_t c = test_config("fresh", SIZE_A);
  c.magazine_capacity = 1;
  ebra_pool_t *fresh = ebra_pool_create(&c);
  CHECK(fresh != NULL);
  unsigned char *p[2];
  p[0] = pool_alloc(fresh);
  p[1] = pool_alloc(fresh);
  CHECK(p[0] != NULL && p[1] != NULL);
  ebra_pool_stats_t s = test_stats(fresh);
  CHECK(s.stride >= SIZE_A);
  CHECK(s.objects_carved >= 2);
  unsigned char *hi = p[0] > p[1] ? p[0] : p[1];
  unsigned char *lo = p[0] < p[1] ? p[0] : p[1];
  unsigned char *never = lo + s.stride * (s.objects_carved + 2);
  CHECK(never > hi);
  expect_free_fails(fresh, never, -EINVAL, EBRA_ERR_MISALIGNED,
                    "free(slot never handed out)");
  CHECK_EQ(pool_free(fresh, p[0]), 0);
  CHECK_EQ(pool_free(fresh, p[1]), 0);
  CHECK_NO_REPORTS();
  check_usable(fresh);
  CHECK_EQ(ebra_pool_destroy(fresh), 0);
  CHECK_NO_REPORTS();
}

static void check_double_free(ebra_pool_t *pool, const char *what)
{
  /* One object, and one inside a run of frees (not the magazine's top). */
  void *p = pool_alloc(pool);
  CHECK(p != NULL);
  CHECK_EQ(pool_free(pool, p), 0);
  expect_free_fails(pool, p, -EALREADY, EBRA_ERR_DOUBLE_FREE, what);

  void *q[10];
  for (int i = 0; i < 10; i++) {
    q[i] = pool_alloc(pool);
    CHECK(q[i] != NULL);
  }
  for (int i = 0; i < 10; i++)
    CHECK_EQ(pool_free(pool, q[i]), 0);
  expect_free_fails(pool, q[3], -EALREADY, EBRA_ERR_DOUBLE_FREE, what);
  CHECK_NO_REPORTS();
  check_usable(pool);
}

static void test_double_free(void)
{
  check_double_free(pool_a, "double free");
  errors_expected_a += 2;

  /* Also when the pool zeroes objects on free (the marker must survive). */
  ebra_pool_config_t c = test_config("secure", SIZE_A);
  c.flags = EBRA_POOL_SECURE_CLEAR;
  ebra_pool_t *secure = ebra_pool_create(&c);
  CHECK(secure != NULL);
  check_double_free(secure, "double free (secure clear)");
  CHECK_EQ(ebra_pool_destroy(secure), 0);
  CHECK_NO_REPORTS();
}

/* A double free after the freed object was written: caught where live
 * bits are kept (debug checks, or the strict level). */
static int scribble_tests_apply(void)
{
  return (test_has_feature(EBRA_FEATURE_DEBUG_CHECKS) || strict_level) &&
         !test_has_feature(EBRA_FEATURE_ASAN);
}

/* A write into a freed object, seen at the next alloc: debug checks only
 * (the poison). */
static int poison_tests_apply(void)
{
  return test_has_feature(EBRA_FEATURE_DEBUG_CHECKS) && !test_has_feature(EBRA_FEATURE_ASAN);
}

static void test_double_free_after_scribble(void)
{
  if (!scribble_tests_apply()) {
    printf(" skipped (needs debug checks or the strict level, no ASan)");
    return;
  }
  /* A private pool: the scribbled object is reported again when it is next
   * allocated, and that must not leak into the other cases. */
  ebra_pool_t *pool = test_pool("scribble", SIZE_A);
  unsigned char *p = pool_alloc(pool);
  CHECK(p != NULL);
  CHECK_EQ(pool_free(pool, p), 0);
  memset(p, 0x5A, SIZE_A); /* erases any free marker */
  expect_free_fails(pool, p, -EALREADY, EBRA_ERR_DOUBLE_FREE,
                    "double free after scribble");
  /* The scribbled object is still cached: the next alloc takes it (LIFO
   * magazine) and reports the write. */
  unsigned char *q = pool_alloc(pool);
  CHECK(q != NULL);
  if (poison_tests_apply())
    CHECK_REPORTS(EBRA_ERR_USE_AFTER_FREE, 1);
  CHECK_EQ(pool_free(pool, q), 0);
  CHECK_NO_REPORTS();
  check_usable(pool);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

static void test_write_after_free(void)
{
  if (!poison_tests_apply()) {
    printf(" skipped (needs debug checks, no ASan)");
    return;
  }
  /* One byte written at each offset of a freed object, in a plain and a
   * secure-clear pool; every case is run and reported before failing. */
  static const size_t offsets[] = {0, 7, 8, 16, SIZE_A / 2, SIZE_A - 1};
  static const unsigned flags[] = {0, EBRA_POOL_SECURE_CLEAR};
  int failed = 0;
  for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++)
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
      ebra_pool_config_t c = test_config("write-after-free", SIZE_A);
      c.flags = flags[f];
      ebra_pool_t *pool = ebra_pool_create(&c);
      CHECK(pool != NULL);
      unsigned char *p = pool_alloc(pool);
      CHECK(p != NULL);
      CHECK_EQ(pool_free(pool, p), 0);
      p[offsets[i]] ^= 0xFF; /* one byte of the freed object */
      unsigned char *q = pool_alloc(pool);
      CHECK(q != NULL);
      if (test_reports_of(EBRA_ERR_USE_AFTER_FREE) != 1 || test_reports_all() != 1) {
        fprintf(stderr, "\n  write at offset %zu of a freed object (flags 0x%x): want one "
                "%s report, got %lu of it and %lu in all (object %s reused)",
                offsets[i], flags[f], ebra_error_kind_name(EBRA_ERR_USE_AFTER_FREE),
                test_reports_of(EBRA_ERR_USE_AFTER_FREE), test_reports_all(),
                q == p ? "was" : "was not");
        failed = 1;
      }
      test_hook_reset();
      CHECK_EQ(pool_free(pool, q), 0);
      check_usable(pool);
      CHECK_EQ(ebra_pool_destroy(pool), 0);
      CHECK_NO_REPORTS();
    }
  if (failed)
    fprintf(stderr, "\n");
  CHECK(!failed);
}

static void test_use_after_destroy(void)
{
  ebra_pool_t *pool = test_pool("doomed", SIZE_A);
  void *p = pool_alloc(pool);
  CHECK(p != NULL);
  CHECK_EQ(pool_free(pool, p), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();

  CHECK_EQ(ebra_pool_destroy(pool), -EBADF);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);
  errno = 0;
  CHECK(pool_alloc(pool) == NULL);
  CHECK_EQ(errno, EBADF);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);
  CHECK_EQ(pool_free(pool, p), -EBADF);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);
  ebra_pool_stats_t s;
  CHECK_EQ(ebra_pool_stats(pool, &s), -EBADF);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);
  CHECK_EQ(ebra_pool_thread_flush(pool), -EBADF);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);

  /* The other pools did not notice. */
  check_usable(pool_a);
  check_usable(pool_b);
}

static void test_error_counter(void)
{
  CHECK_EQ(test_stats(pool_a).errors, errors_expected_a);
  CHECK_EQ(test_stats(pool_b).errors, errors_expected_b);
}

int main(int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "exported";
  use_inline = !strcmp(mode, "inline");
  strict_level = !strcmp(mode, "strict");
  if (!use_inline && !strict_level && strcmp(mode, "exported") != 0) {
    fprintf(stderr, "usage: test_wrong [exported|inline|strict]\n");
    return 2;
  }
  if (strict_level)
    CHECK_EQ(opt_value(EBRA_OPT_STRICT), 1); /* set by the caller's EBRA_STRICT=1 */
  printf("mode: %s\n", mode);
  test_hook_install();
  printf("features: 0x%x%s\n", ebra_build_features(),
         test_has_feature(EBRA_FEATURE_DEBUG_CHECKS) ? " (debug checks)" : "");
  pool_a = test_pool("wrong-a", SIZE_A);
  TEST_RUN(test_before_any_slab); /* first: no pool of this process has a slab */
  pool_b = test_pool("wrong-b", SIZE_B);
  check_usable(pool_a);
  check_usable(pool_b);

  TEST_RUN(test_foreign_pointers);
  TEST_RUN(test_non_canonical_aliases);
  TEST_RUN(test_wrong_pool);
  TEST_RUN(test_interior_pointers);
  TEST_RUN(test_colour_gap);
  TEST_RUN(test_never_handed_out);
  TEST_RUN(test_double_free);
  TEST_RUN(test_double_free_after_scribble);
  TEST_RUN(test_write_after_free);
  TEST_RUN(test_use_after_destroy);
  TEST_RUN(test_error_counter);

  CHECK_EQ(ebra_pool_destroy(pool_a), 0);
  CHECK_EQ(ebra_pool_destroy(pool_b), 0);
  CHECK_NO_REPORTS();
  return 0;
}

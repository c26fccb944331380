/* SPDX-License-Identifier: MIT */
/* test_config.c — pool configs: which are rejected and how, which are
 * accepted, and that accepted pools honour size and alignment.
 *
 * Claims checked:
 *  - every bad field gives NULL, errno EINVAL and exactly one
 *    EBRA_ERR_BAD_CONFIG report (a NULL config: EBRA_ERR_BAD_CALL);
 *  - the boundary values of every field are accepted, with no report;
 *  - the name is copied, defaults to "pool", and is cut to
 *    EBRA_POOL_NAME_MAX - 1 bytes;
 *  - for sizes from 1 byte to 1 MiB and alignments 0 (= 8) to 4096, every
 *    object is aligned and owned by its pool, and no two objects overlap:
 *    each is filled over its full size with its own byte and every fill is
 *    intact after all were written; sorted by address, each object ends
 *    before the next one starts.
 */
#include <errno.h>
#include <stdint.h>

#include "check.h"

/* Refused with NULL, errno EINVAL and exactly one report of `kind`. */
static void expect_refused(const ebra_pool_config_t *cfg, const char *what,
                           ebra_error_kind_t kind)
{
  errno = 0;
  ebra_pool_t *p = ebra_pool_create(cfg);
  if (p != NULL) {
    fprintf(stderr, "config accepted but should be rejected: %s\n", what);
    exit(1);
  }
  if (errno != EINVAL) {
    fprintf(stderr, "config %s: errno %d, want EINVAL\n", what, errno);
    exit(1);
  }
  CHECK_REPORTS(kind, 1);
}

static void expect_rejected(const ebra_pool_config_t *cfg, const char *what)
{
  expect_refused(cfg, what, EBRA_ERR_BAD_CONFIG);
}

static void expect_accepted(const ebra_pool_config_t *cfg, const char *what)
{
  ebra_pool_t *p = ebra_pool_create(cfg);
  if (p == NULL) {
    fprintf(stderr, "config rejected but should be accepted: %s (errno %d)\n",
            what, errno);
    exit(1);
  }
  void *o = ebra_pool_alloc(p);
  CHECK(o != NULL);
  CHECK_EQ(ebra_pool_free(p, o), 0);
  CHECK_EQ(ebra_pool_destroy(p), 0);
  CHECK_NO_REPORTS();
}

static void test_bad_configs(void)
{
  /* A NULL config is a bad call (error.h: NULL arguments), not a config. */
  expect_refused(NULL, "cfg NULL", EBRA_ERR_BAD_CALL);

  ebra_pool_config_t c = test_config("bad", 0);
  expect_rejected(&c, "object_size 0");
  c = test_config("bad", EBRA_MAX_OBJECT_SIZE + 1);
  expect_rejected(&c, "object_size MAX+1");
  c = test_config("bad", SIZE_MAX);
  expect_rejected(&c, "object_size SIZE_MAX");

  static const size_t bad_align[] = {1, 2, 3, 4, 5, 12, 24, 100, 4095, 8192,
                                     (size_t)1 << 40, SIZE_MAX};
  for (size_t i = 0; i < sizeof bad_align / sizeof bad_align[0]; i++) {
    c = test_config("bad", 64);
    c.alignment = bad_align[i];
    char what[64];
    snprintf(what, sizeof what, "alignment %zu", bad_align[i]);
    expect_rejected(&c, what);
  }

  c = test_config("bad", 64);
  c.magazine_capacity = EBRA_MAX_MAGAZINE_CAPACITY + 1;
  expect_rejected(&c, "magazine_capacity MAX+1");
  c.magazine_capacity = ~0u;
  expect_rejected(&c, "magazine_capacity UINT_MAX");

  c = test_config("bad", 64);
  c.max_objects = 10;
  c.prealloc = 11;
  expect_rejected(&c, "prealloc > max_objects");

  c = test_config("bad", 64);
  c.flags = 0x4u;
  expect_rejected(&c, "flag 0x4");
  c.flags = EBRA_POOL_SECURE_CLEAR | 0x80000000u;
  expect_rejected(&c, "flag 0x80000000");
}

static void test_boundary_configs(void)
{
  ebra_pool_config_t c = test_config("edge", 1);
  expect_accepted(&c, "object_size 1");
  c = test_config("edge", EBRA_MAX_OBJECT_SIZE);
  expect_accepted(&c, "object_size MAX");
  c = test_config("edge", 64);
  c.alignment = 0;
  expect_accepted(&c, "alignment 0");
  c.alignment = EBRA_MIN_ALIGNMENT;
  expect_accepted(&c, "alignment 8");
  c.alignment = EBRA_MAX_ALIGNMENT;
  expect_accepted(&c, "alignment 4096");
  c = test_config("edge", 64);
  c.magazine_capacity = 1;
  expect_accepted(&c, "magazine_capacity 1");
  c.magazine_capacity = EBRA_MAX_MAGAZINE_CAPACITY;
  expect_accepted(&c, "magazine_capacity MAX");
  c = test_config("edge", 64);
  c.max_objects = 10;
  c.prealloc = 10;
  expect_accepted(&c, "prealloc == max_objects");
  c = test_config("edge", 64);
  c.prealloc = 100; /* no cap: any prealloc */
  expect_accepted(&c, "prealloc 100, no cap");
  c = test_config("edge", 64);
  c.flags = EBRA_POOL_SECURE_CLEAR;
  expect_accepted(&c, "SECURE_CLEAR");
  c = test_config(NULL, 64);
  expect_accepted(&c, "name NULL");
}

static void test_names(void)
{
  char buf[128];
  strcpy(buf, "orders");
  ebra_pool_config_t c = test_config(buf, 24);
  ebra_pool_t *p = ebra_pool_create(&c);
  CHECK(p != NULL);
  memset(buf, 'x', sizeof buf - 1); /* the pool must have copied it */
  buf[sizeof buf - 1] = '\0';
  CHECK(strcmp(ebra_pool_name(p), "orders") == 0);
  CHECK_EQ(ebra_pool_object_size(p), 24);
  CHECK_EQ(ebra_pool_destroy(p), 0);

  c = test_config(NULL, 24);
  p = ebra_pool_create(&c);
  CHECK(p != NULL);
  CHECK(strcmp(ebra_pool_name(p), "pool") == 0);
  CHECK_EQ(ebra_pool_destroy(p), 0);

  memset(buf, 'n', 100); /* longer than EBRA_POOL_NAME_MAX */
  buf[100] = '\0';
  c = test_config(buf, 24);
  p = ebra_pool_create(&c);
  CHECK(p != NULL);
  CHECK_EQ(strlen(ebra_pool_name(p)), EBRA_POOL_NAME_MAX - 1);
  CHECK(strncmp(ebra_pool_name(p), buf, EBRA_POOL_NAME_MAX - 1) == 0);
  CHECK_EQ(ebra_pool_destroy(p), 0);
  CHECK_NO_REPORTS();
}

static int cmp_ptr(const void *a, const void *b)
{
  uintptr_t x = (uintptr_t)*(unsigned char *const *)a;
  uintptr_t y = (uintptr_t)*(unsigned char *const *)b;
  return x < y ? -1 : x > y;
}

/* Object i is filled with byte fill(i): neighbours in allocation order
 * differ. */
static unsigned char fill(size_t i)
{
  return (unsigned char)(i % 255u + 1u);
}

static void check_size_align(size_t size, size_t align)
{
  /* ~256 KiB of objects, 4 to 300 of them. */
  size_t n = ((size_t)256 << 10) / size;
  if (n > 300)
    n = 300;
  if (n < 4)
    n = 4;
  size_t want_align = align == 0 ? 8 : align;

  ebra_pool_config_t c = test_config("sizes", size);
  c.alignment = align;
  /* A refill carves a whole magazine: 64 rounds of 1 MiB objects is 64 MiB
   * to poison in a debug-checks build.  Small magazines keep the big sizes
   * fast; test_boundary_configs covers 1 MiB with the default magazine. */
  if (size >= ((size_t)256 << 10))
    c.magazine_capacity = 4;
  ebra_pool_t *pool = ebra_pool_create(&c);
  if (pool == NULL) {
    fprintf(stderr, "create(size %zu, align %zu) failed: errno %d\n", size, align, errno);
    exit(1);
  }
  unsigned char **obj = calloc(n, sizeof *obj);
  CHECK(obj != NULL);
  for (size_t i = 0; i < n; i++) {
    obj[i] = ebra_pool_alloc(pool);
    if (obj[i] == NULL || (uintptr_t)obj[i] % want_align != 0) {
      fprintf(stderr, "size %zu align %zu: object %zu = %p (want aligned to %zu)\n",
              size, align, i, (void *)obj[i], want_align);
      exit(1);
    }
    CHECK(ebra_pool_of(obj[i]) == pool);
    memset(obj[i], fill(i), size);
  }
  /* Every object still holds its own fill over its full size. */
  for (size_t i = 0; i < n; i++)
    if (obj[i][0] != fill(i) || (size > 1 && memcmp(obj[i], obj[i] + 1, size - 1) != 0)) {
      fprintf(stderr, "size %zu align %zu: object %zu was overwritten "
              "(objects overlap)\n", size, align, i);
      exit(1);
    }
  ebra_pool_stats_t s = test_stats(pool);
  CHECK_EQ(s.object_size, size);
  CHECK(s.stride >= size);
  CHECK_EQ(s.stride % want_align, 0);
  CHECK_EQ(s.objects_live, n);
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  /* And by address: sorted, each object ends before the next begins. */
  qsort(obj, n, sizeof *obj, cmp_ptr);
  for (size_t i = 0; i + 1 < n; i++)
    if ((uintptr_t)obj[i] + size > (uintptr_t)obj[i + 1]) {
      fprintf(stderr, "size %zu align %zu: objects %p and %p overlap\n", size,
              align, (void *)obj[i], (void *)obj[i + 1]);
      exit(1);
    }
  CHECK_AUDIT(pool);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  free(obj);
  CHECK_NO_REPORTS();
}

static void test_sizes_and_alignment(void)
{
  static const size_t sizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 33, 48,
                                 63, 64, 65, 100, 127, 128, 129, 255, 256, 1000,
                                 4095, 4096, 4097, 10000, 65535, 65536, 65537,
                                 (1u << 20) - 1, 1u << 20};
  static const size_t aligns[] = {0, 8, 16, 64, 256, 4096};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    check_size_align(sizes[i], 0);
  for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
    check_size_align(1, aligns[a]);
    check_size_align(24, aligns[a]);
    check_size_align(100, aligns[a]);
    check_size_align(4097, aligns[a]);
  }
  check_size_align(1u << 20, 4096);
}

int main(void)
{
  test_hook_install();
  TEST_RUN(test_bad_configs);
  TEST_RUN(test_boundary_configs);
  TEST_RUN(test_names);
  TEST_RUN(test_sizes_and_alignment);
  return 0;
}

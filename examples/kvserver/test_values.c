/* SPDX-License-Identifier: MIT */
/* test_values.c — values.c, the server's value storage: every length gets
 * a block at least that long from the right kind of storage, with bounded
 * waste; large blocks are counted, retired and checked against the hard
 * memory limit.  Exits 1 on the first failed check. */
#define _GNU_SOURCE
#include "values.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                 \
      fprintf(stderr, __VA_ARGS__);                                                        \
      fputc('\n', stderr);                                                                 \
      exit(1);                                                                             \
    }                                                                                      \
  } while (0)

enum { CLASS_MAX = 64 << 10 };

static void check_length(size_t len) {
  void *p = value_alloc(len);
  CHECK(p, "value_alloc(%zu): %s", len, strerror(errno));
  CHECK(((uintptr_t)p & 15) == 0, "value_alloc(%zu) not 16-byte aligned", len);
  ebra_pool_t *pool = ebra_pool_of(p);
  if (len <= CLASS_MAX) {
    CHECK(pool, "value_alloc(%zu) not from a class pool", len);
    const size_t size = ebra_pool_object_size(pool);
    CHECK(size >= len, "len %zu got a %zu-byte class", len, size);
    /* 16-byte steps to 256, then four classes per doubling: waste < 16
     * bytes, or < a quarter of the length. */
    const size_t bound = len <= 256 ? 16 : len / 4 + 1;
    CHECK(size - (len ? len : 1) < bound, "len %zu: class %zu wastes too much", len, size);
  } else {
    CHECK(!pool, "value_alloc(%zu) above the classes came from a pool", len);
    CHECK(values_large_bytes() == len, "large bytes %llu for one %zu-byte block",
          (unsigned long long)values_large_bytes(), len);
  }
  memset(p, 0xab, len);
  value_free(p);
  CHECK(values_large_bytes() == 0, "large bytes %llu after free",
        (unsigned long long)values_large_bytes());
}

int main(void) {
  CHECK(values_init() == 0, "values_init");
  for (size_t len = 0; len <= 4096; len++)
    check_length(len);
  for (size_t len = 4096; len <= CLASS_MAX + 4096; len += 61)
    check_length(len);
  check_length(CLASS_MAX);
  check_length(CLASS_MAX + 1);
  check_length(1 << 20);

  /* Retire: a large block and a class block come back after a grace
   * period. */
  ebra_domain_t *d = ebra_domain_create(NULL);
  CHECK(d, "domain");
  void *big = value_alloc(CLASS_MAX + 100), *small = value_alloc(100);
  CHECK(big && small, "alloc for retire");
  ebra_pool_t *pool = ebra_pool_of(small);
  ebra_pool_stats_t before, after;
  CHECK(ebra_pool_stats(pool, &before) == 0, "stats");
  CHECK(value_retire(d, big) == 0 && value_retire(d, small) == 0, "value_retire");
  CHECK(ebra_domain_barrier(d) == 0, "barrier");
  CHECK(values_large_bytes() == 0, "large block not reclaimed after the grace period");
  CHECK(ebra_pool_stats(pool, &after) == 0, "stats");
  CHECK(after.objects_live + 1 == before.objects_live, "class block not reclaimed");
  CHECK(ebra_domain_destroy(d) == 0, "domain destroy");

  /* The hard limit covers large blocks too. */
  ebra_engine_stats_t es;
  CHECK(ebra_engine_stats(&es) == 0, "engine stats");
  CHECK(ebra_set_memory_limits(0, es.committed_bytes + (256 << 10)) == 0, "limit");
  void *fits = value_alloc(200 << 10);
  CHECK(fits, "a large block under the limit: %s", strerror(errno));
  errno = 0;
  CHECK(!value_alloc(200 << 10) && errno == ENOMEM, "a large block past the limit");
  value_free(fits);
  void *again = value_alloc(200 << 10);
  CHECK(again, "a large block after the free");
  value_free(again);
  CHECK(ebra_set_memory_limits(0, 0) == 0, "limit off");

  values_fini();
  printf("test_values: ok\n");
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* test_values.c — the server's value storage (values.h), either
 * implementation: every length gets a writable, 16-byte aligned block;
 * retired blocks come back after a grace period; the hard memory limit
 * refuses blocks and a free makes room again.  With the size-class pools
 * (KV_VALUES_pools) also: the class of each length and its waste bound,
 * and the malloc path above the classes.  Exits 1 on the first failed
 * check. */
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

enum { CLASS_MAX = 64 << 10 }; /* values_pools.c's largest class */

#if defined(KV_VALUES_pools)
/* The class pool of a length, and the malloc path above the classes. */
static void check_pools(void *p, size_t len) {
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
}
#else
static void check_pools(void *p, size_t len) { (void)p, (void)len; }
#endif

static void check_length(size_t len) {
  const uint64_t large0 = values_large_bytes();
  void *p = value_alloc(len);
  CHECK(p, "value_alloc(%zu): %s", len, strerror(errno));
  CHECK(((uintptr_t)p & 15) == 0, "value_alloc(%zu) not 16-byte aligned", len);
  check_pools(p, len);
  memset(p, 0xab, len);
  value_free(p);
  CHECK(values_large_bytes() == large0, "large bytes %llu after free, %llu before",
        (unsigned long long)values_large_bytes(), (unsigned long long)large0);
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
  check_length(4 << 20);

  /* Retire: a large block and a small one come back after a grace period. */
  ebra_domain_t *d = ebra_domain_create(NULL);
  CHECK(d, "domain");
  const uint64_t large0 = values_large_bytes();
  void *big = value_alloc(4 << 20), *small = value_alloc(100);
  CHECK(big && small, "alloc for retire");
  CHECK(values_large_bytes() > large0, "a 4 MiB block is not counted as large");
  ebra_pool_t *pool = ebra_pool_of(small);
  ebra_pool_stats_t before, after;
  CHECK(pool && ebra_pool_stats(pool, &before) == 0, "a small block is a pool object");
  CHECK(value_retire(d, big) == 0 && value_retire(d, small) == 0, "value_retire");
  CHECK(ebra_domain_barrier(d) == 0, "barrier");
  CHECK(values_large_bytes() == large0, "large block not reclaimed after the grace period");
  CHECK(ebra_pool_stats(pool, &after) == 0, "stats");
  CHECK(after.objects_live + 1 == before.objects_live, "small block not reclaimed");
  CHECK(ebra_domain_destroy(d) == 0, "domain destroy");

  /* The hard limit covers large blocks too: 1 MiB blocks until refused,
   * then a free makes room for one more. */
  ebra_engine_stats_t es;
  CHECK(ebra_engine_stats(&es) == 0, "engine stats");
  CHECK(ebra_set_memory_limits(0, es.committed_bytes + values_large_bytes() + (8 << 20)) == 0,
        "limit");
  void *held[32];
  int n = 0;
  errno = 0;
  while (n < 32 && (held[n] = value_alloc(1 << 20)))
    n++;
  CHECK(n >= 4 && n < 32, "%d 1 MiB blocks under an 8 MiB limit", n);
  CHECK(errno == ENOMEM, "the refusal's errno is %d, not ENOMEM", errno);
  value_free(held[--n]);
  held[n] = value_alloc(1 << 20);
  CHECK(held[n], "a 1 MiB block after a free: %s", strerror(errno));
  for (int i = 0; i <= n; i++)
    value_free(held[i]);
  CHECK(ebra_set_memory_limits(0, 0) == 0, "limit off");

  values_fini();
  printf("test_values: ok\n");
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* bench/ops_count.c — a fixed loop of one hot-path operation, for counting
 * instructions per operation under callgrind (bench/callgrind.sh), the
 * figure that stays put when this VM's timings drift.
 *   ops_count MODE N     MODE: pair (pool alloc+free, 64 B), resolve
 *                        (ebra_weak_get in a held memb section), section
 *                        (ebra_read_lock + ebra_weak_get + ebra_read_unlock),
 *                        lookup (ebra_cache_lookup_u64 hit in a held section)
 * Setup is the same for every N, so (Ir(N) - Ir(0)) / N is the cost of one
 * operation, the caller's loop included. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ebra.h>

#define NOBJ 64 /* a power of two: the loops index with a mask */

static void die(const char *what) {
  fprintf(stderr, "ops_count: %s failed\n", what);
  exit(1);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ops_count pair|resolve|section|lookup N\n");
    return 2;
  }
  const char *mode = argv[1];
  const long n = atol(argv[2]);
  ebra_pool_t *p = ebra_pool_create(&(ebra_pool_config_t){.name = "ops", .object_size = 64});
  ebra_domain_t *d = ebra_domain_create(
      &(ebra_domain_config_t){.name = "ops", .backend = EBRA_RECLAIM_URCU_MEMB});
  ebra_weak_table_t *t = d ? ebra_weak_table_create(d, NULL) : NULL;
  ebra_cache_t *c = t ? ebra_cache_create(t, NULL) : NULL;
  if (!p || !c)
    die("setup");
  ebra_weak_t h[NOBJ];
  for (int i = 0; i < NOBJ; i++) {
    void *o = ebra_pool_alloc(p);
    if (!o || ebra_weak_create(t, o, &h[i]) != 0 || ebra_cache_store_u64(c, (uint64_t)i, h[i]) != 0)
      die("objects");
  }
  if (ebra_read_lock(d) != 0) /* registers the thread */
    die("first section");
  ebra_read_unlock(d);
  void *volatile sink;
  if (!strcmp(mode, "pair")) {
    for (long i = 0; i < n; i++) {
      void *o = ebra_pool_alloc(p);
      sink = o;
      ebra_pool_free(p, o);
    }
  } else if (!strcmp(mode, "pair-inline")) {
    for (long i = 0; i < n; i++) {
      void *o = ebra_pool_alloc_inline(p);
      sink = o;
      ebra_pool_free_inline(p, o);
    }
  } else if (!strcmp(mode, "resolve")) {
    ebra_read_lock(d);
    for (long i = 0; i < n; i++)
      sink = ebra_weak_get(t, h[i & (NOBJ - 1)]);
    ebra_read_unlock(d);
  } else if (!strcmp(mode, "section")) {
    for (long i = 0; i < n; i++) {
      ebra_read_lock(d);
      sink = ebra_weak_get(t, h[i & (NOBJ - 1)]);
      ebra_read_unlock(d);
    }
  } else if (!strcmp(mode, "lookup")) {
    ebra_read_lock(d);
    for (long i = 0; i < n; i++) {
      void *o;
      ebra_cache_lookup_u64(c, (uint64_t)(i & (NOBJ - 1)), &o);
      sink = o;
    }
    ebra_read_unlock(d);
  } else {
    die(mode);
  }
  (void)sink;
  _exit(0); /* no teardown: the same instructions for every N */
}

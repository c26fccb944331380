/* SPDX-License-Identifier: MIT */
/* bench/ops_count.c — a fixed loop of one hot-path operation, for counting
 * instructions per operation under callgrind (bench/callgrind.sh), the
 * figure that stays put when this VM's timings drift.
 *   ops_count MODE N
 * MODE:
 *   pair                   pool alloc+free, 64 B
 *   loop                   the resolve loops' own work (load a handle,
 *                          store the sink): subtract it for the call alone
 *   resolve, iresolve      ebra_weak_get / ebra_weak_get_inline in a held
 *                          memb section
 *   section-BE, isection-BE
 *                          ebra_read_lock + ebra_weak_get + ebra_read_unlock
 *                          (the i variants: the _inline ones), one section
 *                          per resolve; BE is memb, qsbr or ck; the thread
 *                          is registered (qsbr: online)
 *   isection-qsbr-implicit the same on a qsbr thread that never registered
 *                          (it rests offline between sections)
 *   ck-bare                ck_epoch_begin + ck_epoch_end on a record of
 *                          ebra's ck domain's own kind (a ck_epoch_t here),
 *                          the floor of a ck section
 *   lookup                 ebra_cache_lookup_u64 hit in a held memb section
 * Setup is the same for every N, so (Ir(N) - Ir(0)) / N is the cost of one
 * operation, the caller's loop included. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ck_epoch.h>

#include <ebra.h>

#define NOBJ 64 /* a power of two: the loops index with a mask */

static void die(const char *what) {
  fprintf(stderr, "ops_count: %s failed\n", what);
  exit(1);
}

static ebra_reclaim_backend_t backend_of(const char *mode) {
  if (strstr(mode, "qsbr"))
    return EBRA_RECLAIM_URCU_QSBR;
  if (strstr(mode, "-ck"))
    return EBRA_RECLAIM_CK_EPOCH;
  return EBRA_RECLAIM_URCU_MEMB;
}

/* The measured loops, out of main (which compilers treat as cold and
 * build for size, declining to inline). */
static void *volatile sink;

static __attribute__((noinline)) int run(const char *mode, long n, ebra_pool_t *p,
                                         ebra_domain_t *d, ebra_weak_table_t *t,
                                         ebra_cache_t *c, const ebra_weak_t *h) {
  ck_epoch_t epoch;
  ck_epoch_record_t record;
  ck_epoch_init(&epoch);
  ck_epoch_register(&epoch, &record, NULL);
  if (!strcmp(mode, "pair")) {
    for (long i = 0; i < n; i++) {
      void *o = ebra_pool_alloc(p);
      sink = o;
      ebra_pool_free(p, o);
    }
  } else if (!strcmp(mode, "loop")) {
    for (long i = 0; i < n; i++)
      sink = (void *)(uintptr_t)h[i & (NOBJ - 1)];
  } else if (!strcmp(mode, "resolve")) {
    ebra_read_lock(d);
    for (long i = 0; i < n; i++)
      sink = ebra_weak_get(t, h[i & (NOBJ - 1)]);
    ebra_read_unlock(d);
  } else if (!strcmp(mode, "iresolve")) {
    ebra_read_lock_inline(d);
    for (long i = 0; i < n; i++)
      sink = ebra_weak_get_inline(t, h[i & (NOBJ - 1)]);
    ebra_read_unlock_inline(d);
  } else if (!strncmp(mode, "section-", 8)) {
    for (long i = 0; i < n; i++) {
      ebra_read_lock(d);
      sink = ebra_weak_get(t, h[i & (NOBJ - 1)]);
      ebra_read_unlock(d);
    }
  } else if (!strncmp(mode, "isection-", 9)) {
    for (long i = 0; i < n; i++) {
      ebra_read_lock_inline(d);
      sink = ebra_weak_get_inline(t, h[i & (NOBJ - 1)]);
      ebra_read_unlock_inline(d);
    }
  } else if (!strcmp(mode, "ck-bare")) {
    for (long i = 0; i < n; i++) {
      ck_epoch_begin(&record, NULL);
      sink = (void *)(uintptr_t)h[i & (NOBJ - 1)];
      ck_epoch_end(&record, NULL);
    }
  } else if (!strcmp(mode, "lookup") && c) {
    ebra_read_lock(d);
    for (long i = 0; i < n; i++) {
      void *o;
      ebra_cache_lookup_u64(c, (uint64_t)(i & (NOBJ - 1)), &o);
      sink = o;
    }
    ebra_read_unlock(d);
  } else {
    return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ops_count MODE N (see the header of ops_count.c)\n");
    return 2;
  }
  const char *mode = argv[1];
  const long n = atol(argv[2]);
  const int implicit = strstr(mode, "implicit") != NULL;
  ebra_pool_t *p = ebra_pool_create(&(ebra_pool_config_t){.name = "ops", .object_size = 64});
  ebra_domain_t *d = ebra_domain_create(
      &(ebra_domain_config_t){.name = "ops", .backend = backend_of(mode)});
  ebra_weak_table_t *t = d ? ebra_weak_table_create(d, NULL) : NULL;
  ebra_cache_t *c = t && backend_of(mode) != EBRA_RECLAIM_CK_EPOCH ? ebra_cache_create(t, NULL)
                                                                   : NULL;
  if (!p || !t)
    die("setup");
  ebra_weak_t h[NOBJ];
  for (int i = 0; i < NOBJ; i++) {
    void *o = ebra_pool_alloc(p);
    if (!o || ebra_weak_create(t, o, &h[i]) != 0 ||
        (c && ebra_cache_store_u64(c, (uint64_t)i, h[i]) != 0))
      die("objects");
  }
  if (!implicit && ebra_domain_register_thread(d) != 0) /* qsbr: online */
    die("register");
  if (ebra_read_lock(d) != 0) /* the first section registers an implicit thread */
    die("first section");
  ebra_read_unlock(d);
  if (!run(mode, n, p, d, t, c, h))
    die(mode);
  _exit(0); /* no teardown: the same instructions for every N */
}

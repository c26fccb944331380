/* SPDX-License-Identifier: MIT */
/* values_malloc.c — value storage over ebra_malloc (ebra/malloc.h).
 *
 * Every block comes from ebra_malloc: its size classes are ebra pools (so
 * the strategy engine, the hard memory limit and the monitor cover them),
 * and blocks above its largest class are mapped, still under the hard
 * limit.  A block is freed with ebra_free, after a grace period when a
 * reader may hold it (ebra_retire_call), so ebra_malloc's own bookkeeping
 * sees every free.
 */
#define _GNU_SOURCE
#include "values.h"

#include <ebra/malloc.h>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

int values_init(void) { return 0; }

void values_fini(void) {}

void *value_alloc(size_t len) { return ebra_malloc(len); }

void value_free(void *p) { ebra_free(p); }

/* After the grace period.  Under TSan, readers released the block at the
 * end of their sections (the keyspace notes each entry it reaches); this
 * acquire is the grace period's edge. */
static void reclaim_block(void *p) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(p);
#endif
  ebra_free(p);
}

int value_retire(ebra_domain_t *d, void *p) { return ebra_retire_call(d, reclaim_block, p); }

uint64_t values_large_bytes(void) {
  ebra_malloc_stats_t s;
  return ebra_malloc_stats(&s) == 0 ? s.large_bytes : 0;
}

/* SPDX-License-Identifier: MIT */
/* values_pools.c — value storage over ebra size-class pools.
 *
 * One ebra pool per size class: 16-byte steps up to 256 bytes (a key of
 * 16 bytes and a value of 100 bytes waste at most 15 bytes), then four
 * classes per doubling up to 64 KiB.  Blocks above 64 KiB come from
 * malloc with a 16-byte header holding their size; they are counted in
 * large_bytes and checked against the hard memory limit here, since ebra's
 * limit covers only its own slabs.
 *
 * Invariants
 *   V1  a block from a class pool is freed to that pool (ebra_pool_free, or
 *       ebra_retire, which returns it to its pool); ebra_pool_of tells the
 *       two kinds apart, so value_free needs no size.
 *   V2  large_bytes is the sum of the sizes of the malloc blocks live now
 *       (added after malloc succeeds, subtracted before free).
 */
#define _GNU_SOURCE
#include "values.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

enum { LARGE_HEADER = 16, MAX_CLASSES = 64 };
#define CLASS_MAX ((size_t)64 << 10)

static size_t class_size[MAX_CLASSES];
static ebra_pool_t *class_pool[MAX_CLASSES];
static unsigned nclasses;
static atomic_uint_fast64_t large_bytes; /* V2 */

int values_init(void) {
  nclasses = 0;
  for (size_t s = 16; s <= 256; s += 16)
    class_size[nclasses++] = s;
  for (size_t base = 256; base < CLASS_MAX; base *= 2)
    for (size_t q = 1; q <= 4; q++)
      class_size[nclasses++] = base + base * q / 4;
  for (unsigned i = 0; i < nclasses; i++) {
    char name[32];
    snprintf(name, sizeof name, "kv-value-%zu", class_size[i]);
    class_pool[i] = ebra_pool_create(&(ebra_pool_config_t){
        .name = name, .object_size = class_size[i], .alignment = 16});
    if (!class_pool[i]) {
      int e = errno;
      while (i--)
        ebra_pool_destroy(class_pool[i]);
      return -e;
    }
  }
  return 0;
}

void values_fini(void) {
  for (unsigned i = 0; i < nclasses; i++)
    ebra_pool_destroy(class_pool[i]);
  nclasses = 0;
}

static unsigned class_of(size_t len) {
  if (len <= 256)
    return len ? (unsigned)((len + 15) / 16) - 1 : 0;
  unsigned i = 16; /* first class above 256 */
  while (class_size[i] < len)
    i++;
  return i;
}

/* The hard limit covers ebra's slabs; a malloc block counts against what
 * is left of it. */
static bool large_fits(size_t len) {
  ebra_engine_stats_t es;
  if (ebra_engine_stats(&es) != 0 || es.hard_limit == 0)
    return true;
  return es.committed_bytes + atomic_load_explicit(&large_bytes, memory_order_relaxed) + len <=
         es.hard_limit;
}

void *value_alloc(size_t len) {
  if (len <= CLASS_MAX)
    return ebra_pool_alloc(class_pool[class_of(len)]);
  if (!large_fits(len)) {
    errno = ENOMEM;
    return NULL;
  }
  char *b = malloc(LARGE_HEADER + len);
  if (!b)
    return NULL;
  memcpy(b, &len, sizeof len);
  atomic_fetch_add_explicit(&large_bytes, len, memory_order_relaxed);
  return b + LARGE_HEADER;
}

static void large_free(void *p) {
  char *b = (char *)p - LARGE_HEADER;
  size_t len;
  memcpy(&len, b, sizeof len);
  atomic_fetch_sub_explicit(&large_bytes, len, memory_order_relaxed);
  free(b);
}

void value_free(void *p) {
  if (!p)
    return;
  ebra_pool_t *pool = ebra_pool_of(p);
  if (pool)
    ebra_pool_free(pool, p);
  else
    large_free(p);
}

/* ebra_retire_call's callback for a malloc block: the grace period has
 * passed.  Under TSan, readers released the block at the end of their
 * sections (the keyspace notes each entry it reaches with ebra_deref); this
 * acquire is the grace period's edge, as ebra's reclaimer makes it for pool
 * objects. */
static void large_reclaim(void *p) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(p);
#endif
  large_free(p);
}

int value_retire(ebra_domain_t *d, void *p) {
  if (ebra_pool_of(p))
    return ebra_retire(d, p);
  return ebra_retire_call(d, large_reclaim, p);
}

uint64_t values_large_bytes(void) {
  return atomic_load_explicit(&large_bytes, memory_order_relaxed);
}

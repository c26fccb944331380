/* src/slab.c — the slab layer: maps slabs from the OS and carves them into
 * objects for magazines, in batches.
 *
 * Invariants
 *   S1  pool->xcarved == sum over slabs of min(xcarved, count), plus quota
 *       taken by fills in progress; if capped, pool->xcarved <= max_objects.
 *   S2  a slot is carved at most once (fetch_add hands out disjoint ranges)
 *       and, once carved, lives in exactly one magazine or with one user.
 *   S3  pool->xcurrent only moves to a newer slab; old slabs are exhausted.
 *
 * Ordering
 *   slab_grow initialises a slab, then publishes it with a store release on
 *   pool->xcurrent; ebra_slab_fill's load acquire pairs with it, so carvers
 *   see the header.  Carving itself is a relaxed fetch_add: ranges are
 *   disjoint, and objects reach other threads only through magazines, which
 *   the depot hands over with release/acquire.
 *
 * Progress
 *   Carving and the cap quota are lock-free (fetch_add / CAS loops that fail
 *   only when another thread made progress).  Growing takes grow_lock, held
 *   only while the OS maps memory: threads that find the slab exhausted wait
 *   for the one thread that is asking the OS, rather than all mapping
 *   slabs.  The lock is also taken by the fork handlers (thread.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static size_t align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

size_t ebra_slab_size_for(size_t stride, size_t alignment) {
  const size_t header = align_up(sizeof(ebra_slab_t), alignment);
  size_t size = EBRA_GRANULE_SIZE;
  while (size < EBRA_SLAB_MAX_SIZE && (size - header) / stride < EBRA_SLAB_MIN_OBJECTS)
    size <<= 1;
  return size;
}

/* Bytes of slab header: the struct, then its per-slot bitmaps, which live in
 * the mapping itself (no heap allocation whose only pointer would sit in
 * memory LeakSanitizer does not scan), then padding to the alignment. */
static size_t slab_header_size(const ebra_pool_t *pool, size_t *bitmap_words) {
  const size_t max_slots = pool->slab_size / pool->stride;
  *bitmap_words = (max_slots + 63) / 64;
  const size_t nbitmaps = EBRA_DEBUG ? 2 : 1;
  return align_up(sizeof(ebra_slab_t) + nbitmaps * *bitmap_words * sizeof(uint64_t),
                  pool->alignment);
}

static int slab_create(ebra_pool_t *pool, ebra_slab_t **out) {
  void *mem;
  int err = ebra_os_map_aligned(pool->slab_size, EBRA_GRANULE_SIZE, &mem);
  if (err)
    return err;
  ebra_slab_t *s = mem;
  size_t words;
  const size_t header = slab_header_size(pool, &words);
  s->magic = EBRA_SLAB_MAGIC;
  s->pool = pool;
  s->first = (char *)mem + header;
  s->stride = pool->stride;
  s->count = (uint32_t)((pool->slab_size - header) / pool->stride);
  s->span = (size_t)s->count * s->stride;
  s->stride_div = UINT64_MAX / s->stride + 1;
  s->map_size = pool->slab_size;
  ebra_atomic_store_relaxed(&s->xcarved, 0);
  /* Fresh anonymous memory is zero: the bitmaps start clear. */
  s->xheld_bits = (_Atomic uint64_t *)(s + 1);
#if EBRA_DEBUG
  s->xlive_bits = s->xheld_bits + words;
#endif
  err = ebra_segmap_insert(s);
  if (err) {
    ebra_os_unmap(mem, s->map_size);
    return err;
  }
  *out = s;
  return 0;
}

static void slab_destroy(ebra_slab_t *s) {
  ebra_segmap_remove(s);
  s->magic = 0;
  ebra_os_unmap(s, s->map_size);
}

/* Replace `seen` as the current slab, unless another thread already did.
 * Returns 0 or an errno from the OS. */
static int slab_grow(ebra_pool_t *pool, ebra_slab_t *seen) {
  int err = 0;
  pthread_mutex_lock(&pool->grow_lock);
  if (ebra_atomic_load_relaxed(&pool->xcurrent) == seen) {
    ebra_slab_t *s;
    err = slab_create(pool, &s);
    if (!err) {
      s->next = pool->slabs;
      pool->slabs = s;
      ebra_atomic_add_relaxed(&pool->xslabs, 1);
      ebra_atomic_add_relaxed(&pool->xbytes_reserved, s->map_size);
      /* Publishes the header; paired with the acquire in ebra_slab_fill. */
      ebra_atomic_store_release(&pool->xcurrent, s);
    }
  }
  pthread_mutex_unlock(&pool->grow_lock);
  return err;
}

/* Carve up to `want` slots from s into out[], highest address first, so a
 * magazine filled from out[] pops them in ascending order. */
static uint32_t slab_carve(ebra_pool_t *pool, ebra_slab_t *s, void **out, uint32_t want) {
  const uint32_t start = ebra_atomic_add_relaxed(&s->xcarved, want);
  if (start >= s->count)
    return 0;
  const uint32_t n = want < s->count - start ? want : s->count - start;
  for (uint32_t i = 0; i < n; i++) {
    void *p = s->first + (size_t)(start + i) * s->stride;
    ebra_object_on_carve(pool, p);
    out[n - 1 - i] = p;
  }
  return n;
}

/* Take up to `want` objects of cap quota.  Lock-free CAS loop. */
static uint32_t quota_take(ebra_pool_t *pool, uint32_t want) {
  if (!pool->max_objects) {
    ebra_atomic_add_relaxed(&pool->xcarved, want);
    return want;
  }
  uint64_t cur = ebra_atomic_load_relaxed(&pool->xcarved);
  for (;;) {
    if (cur >= pool->max_objects)
      return 0;
    const uint64_t n = pool->max_objects - cur < want ? pool->max_objects - cur : want;
    if (ebra_atomic_cas_relaxed(&pool->xcarved, &cur, cur + n))
      return (uint32_t)n;
  }
}

/* Fill out[] with up to `want` new objects.  Returns how many; when 0,
 * *why says EBRA_ERR_CAP_REACHED or EBRA_ERR_NOMEM. */
uint32_t ebra_slab_fill(ebra_pool_t *pool, void **out, uint32_t want,
                        ebra_error_kind_t *why) {
  const uint32_t quota = quota_take(pool, want);
  if (quota == 0) {
    *why = EBRA_ERR_CAP_REACHED;
    return 0;
  }
  uint32_t got = 0;
  while (got < quota) {
    /* Paired with the store release in slab_grow. */
    ebra_slab_t *s = ebra_atomic_load_acquire(&pool->xcurrent);
    if (s)
      got += slab_carve(pool, s, out + got, quota - got);
    if (got < quota && slab_grow(pool, s) != 0)
      break;
  }
  if (got < quota)
    ebra_atomic_sub_relaxed(&pool->xcarved, quota - got);
  if (got == 0)
    *why = EBRA_ERR_NOMEM;
  return got;
}

/* Unmap every slab.  Destroy only: no thread uses the pool. */
void ebra_slab_release_all(ebra_pool_t *pool) {
  ebra_slab_t *s = pool->slabs;
  while (s) {
    ebra_slab_t *next = s->next;
    slab_destroy(s);
    s = next;
  }
  pool->slabs = NULL;
  ebra_atomic_store_relaxed(&pool->xcurrent, NULL);
  ebra_atomic_store_relaxed(&pool->xslabs, 0);
  ebra_atomic_store_relaxed(&pool->xbytes_reserved, 0);
}

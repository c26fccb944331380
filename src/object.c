/* SPDX-License-Identifier: MIT */
/* src/object.c — the state of one object: the free marker, the held bit and
 * the live bit, and the checks of a pointer.  The states and
 * transitions are listed in internal.h ("object.c"); the inline fast-path
 * parts (alloc, free, the user's free check) are there too.
 *
 * Invariants
 *   O1  a free object carries marker(p) = p ^ cookie in its first word; a
 *       user or held object carries the user's data there (alloc clears
 *       it).  Release builds' double-free check reads it: it misses a
 *       double free only if the user overwrote the word after freeing.
 *   O2  held bit set <=> the object is held: set only by a claim that saw
 *       a user object, cleared only by that claim's unclaim or return.  A
 *       claim is an atomic OR, so of two racing claims exactly one wins.
 *   O3  pools that track live bits (debug builds; the strict check level):
 *       live bit set <=> the object is with a user or held; every free
 *       (the user's, or a return) clears it with an atomic AND that must
 *       find it set, so of two frees of one object exactly one succeeds,
 *       whatever the user wrote to it: double-free detection is exact.
 *   O4  a held object is never freed by the user (the user's free reads
 *       the held bit, O2), claimed again, or returned twice (only the
 *       holder has the ref, and it returns once).
 *   O5  a slot's held bit is set only while its slab's xcarve carries
 *       EBI_SLAB_HELD_EVER: a claim sets the flag before the bit, and
 *       nothing clears the flag while an object of the slab is held (the
 *       carve CAS adds to the count, the tail give-back subtracts its own
 *       flag and count, and only a whole purge or a reuse stores the word,
 *       when every object is back in the slab: slab.c S4, S5, S7).  So the
 *       user's free, which reads the bitmap only when it sees the flag,
 *       misses no held bit it would have seen.
 *
 * Ordering (release -> the acquire it pairs with)
 *   claim's OR (acq_rel) on the held word  -> return's AND (acq_rel): the
 *       holder's accesses to the object, and the user's before the claim,
 *       happen before the free that the return makes.
 *   The live bits are updated with acq_rel for the same reason: they are
 *   the record of who owns the slot.
 *   The user's free reads the held bit relaxed: a claim is made by a thread
 *   that owns the object, so a free racing with it is a user bug.  The
 *   held-ever flag is set by a relaxed OR sequenced before the claim's OR
 *   on the held word, so a free that happens after the claim sees both.
 *
 * Progress: every function is wait-free (one lookup, one atomic RMW), plus
 * the pool's free path on return. */
#include <errno.h>

#include "internal.h"

/* ---- the live bit (debug builds, strict pools) and the poison ---------- */

bool ebi_object_set_live(const ebi_slab_t *s, const void *p, bool live) {
  const ebi_objbit_t b = ebi_object_bit(s->xlive_bits, s, p);
  /* acq_rel: the bitmap is the pool's ownership record (O3). */
  const uint64_t old =
      live ? ebi_atomic_or_acq_rel(b.word, b.mask) : ebi_atomic_and_acq_rel(b.word, ~b.mask);
  return ((old & b.mask) != 0) != live; /* true if the state changed */
}

void ebi_object_on_alloc_hooked(ebra_pool_t *pool, void *p) {
  EBI_ASAN_UNPOISON(p, pool->stride);
#if EBI_DEBUG
  ebi_object_debug_check_poison(pool, p);
#endif
  if (ebi_object_tracks_live(pool) && !ebi_object_set_live(ebi_segmap_lookup(p), p, true))
    ebi_report_pool(pool, EBRA_ERR_INTERNAL, "pool '%s': object %p handed out twice",
                     pool->life.name, p);
}

void ebi_object_on_free_hooked(ebra_pool_t *pool, void *p) {
  if (pool->flags & EBRA_POOL_SECURE_CLEAR)
    memset(p, 0, pool->object_size);
#if EBI_DEBUG
  ebi_object_debug_poison(pool, p);
#endif
}

#if EBI_DEBUG
/* A free object holds its marker in bytes [0, 8) and the poison (or zeros
 * when secure clearing is on) in [8, object_size); anything else was
 * written after free. */
void ebi_object_debug_check_poison(ebra_pool_t *pool, const void *p) {
  const unsigned char want = (pool->flags & EBRA_POOL_SECURE_CLEAR) ? 0 : EBI_POISON_BYTE;
  const unsigned char *b = p;
  if (*(const uint64_t *)p != ebi_object_free_marker(pool, p)) {
    ebi_report_pool(pool, EBRA_ERR_USE_AFTER_FREE,
                     "pool '%s': object %p was written in its first 8 bytes after it was freed",
                     pool->life.name, p);
    return;
  }
  for (size_t i = 8; i < pool->object_size; i++) {
    if (b[i] != want) {
      ebi_report_pool(pool, EBRA_ERR_USE_AFTER_FREE,
                       "pool '%s': object %p was written at offset %zu after it was freed",
                       pool->life.name, p, i);
      return;
    }
  }
}

void ebi_object_debug_poison(ebra_pool_t *pool, void *p) {
  if (!(pool->flags & EBRA_POOL_SECURE_CLEAR) && pool->object_size > 8)
    memset((char *)p + 8, EBI_POISON_BYTE, pool->object_size - 8);
}
#endif /* EBI_DEBUG */

/* ---- free state ---------------------------------------------------------- */

void ebi_object_on_carve(ebra_pool_t *pool, void *p) {
#if EBI_DEBUG
  ebi_object_debug_poison(pool, p);
#endif
  *(uint64_t *)p = ebi_object_free_marker(pool, p);
  EBI_ASAN_POISON((char *)p + 8, pool->stride - 8);
}

/* ---- the user's free: why it was refused ----------------------------------- */

__attribute__((noinline)) int ebi_object_free_refused(ebra_pool_t *pool, const ebi_slab_t *s,
                                                       const void *p) {
  if (!ebi_pool_is_alive(pool)) {
    ebi_report_pool(pool, EBRA_ERR_USE_AFTER_DESTROY,
                     "ebra_pool_free(%p) on destroyed pool '%s'", p, pool->life.name);
    return -EBADF;
  }
  if (!s || (uintptr_t)p - (uintptr_t)s->base >= s->map_size) { /* see ebi_segmap_lookup */
    ebi_report_pool(pool, EBRA_ERR_FOREIGN_PTR,
                     "pool '%s': free of %p, which no ebra pool owns", pool->life.name, p);
    return -EFAULT;
  }
  if (s->pool != pool) {
    ebi_report_pool(pool, EBRA_ERR_WRONG_POOL,
                     "pool '%s': free of %p, which belongs to pool '%s'", pool->life.name, p,
                     s->pool->life.name);
    return -EXDEV;
  }
  if (!ebi_slab_slot_valid(s, p)) {
    ebi_report_pool(pool, EBRA_ERR_MISALIGNED,
                     "pool '%s': free of %p, which is not the start of an object "
                     "this pool handed out",
                     pool->life.name, p);
    return -EINVAL;
  }
  if (*(const uint64_t *)p != ebi_object_free_marker(pool, p) && ebi_object_is_held(s, p)) {
    ebi_report_pool(pool, EBRA_ERR_HELD,
                     "pool '%s': free of %p, which was retired or has a weak handle; "
                     "the reclamation layer frees it",
                     pool->life.name, p);
    return -EALREADY;
  }
  ebi_report_pool(pool, EBRA_ERR_DOUBLE_FREE, "pool '%s': double free of %p", pool->life.name, p);
  return -EALREADY;
}

/* ---- held: claim, unclaim, return -------------------------------------------- */

/* Is obj (a valid slot) free?  O1; debug builds ask the live bit, which is
 * exact (O3).  Relaxed: the caller owns obj, or it is the caller's bug. */
static bool is_free(const ebra_pool_t *pool, const ebi_slab_t *s, const void *obj) {
  if (*(const uint64_t *)obj == ebi_object_free_marker(pool, obj))
    return true;
  if (!ebi_object_tracks_live(pool))
    return false;
  const ebi_objbit_t b = ebi_object_bit(s->xlive_bits, s, obj);
  return !(ebi_atomic_load_relaxed(b.word) & b.mask);
}

int ebi_object_claim(void *obj, ebi_objref_t *ref) {
  ebi_slab_t *s = ebi_segmap_lookup(obj);
  if (!s || (uintptr_t)obj - (uintptr_t)s->base >= s->map_size) { /* see ebi_segmap_lookup */
    ebi_report(EBRA_ERR_FOREIGN_PTR, "%p is not an object of any ebra pool", obj);
    return -EFAULT;
  }
  ebra_pool_t *pool = s->pool;
  if (!ebi_slab_slot_valid(s, obj)) {
    ebi_report_pool(pool, EBRA_ERR_MISALIGNED,
                     "pool '%s': %p is not the start of an object this pool handed out",
                     pool->life.name, obj);
    return -EINVAL;
  }
  if (is_free(pool, s, obj)) {
    ebi_report_pool(pool, EBRA_ERR_DOUBLE_FREE, "pool '%s': %p is a free object",
                     pool->life.name, obj);
    return -EALREADY;
  }
  /* O5: the flag first, once per incarnation of the slab. */
  if (!(ebi_atomic_load_relaxed(&s->xcarve) & EBI_SLAB_HELD_EVER))
    ebi_atomic_or_relaxed(&s->xcarve, EBI_SLAB_HELD_EVER);
  const ebi_objbit_t b = ebi_object_bit(ebi_slab_held_bits(s), s, obj);
  /* acq_rel: the held bit is the holder's token (O2); paired with the AND
   * in ebi_object_return / ebi_object_unclaim. */
  if (ebi_atomic_or_acq_rel(b.word, b.mask) & b.mask) {
    ebi_report_pool(pool, EBRA_ERR_HELD,
                     "pool '%s': %p is already retired or owned by a weak handle", pool->life.name,
                     obj);
    return -EALREADY;
  }
  *ref = (ebi_objref_t){.pool = pool, .slab = s, .obj = obj};
  return 0;
}

/* Clear the held bit of ref's object; false if it was not set. */
static bool drop_hold(const ebi_objref_t *ref) {
  const ebi_objbit_t b = ebi_object_bit(ebi_slab_held_bits(ref->slab), ref->slab, ref->obj);
  /* acq_rel: paired with the OR in ebi_object_claim (O2). */
  return (ebi_atomic_and_acq_rel(b.word, ~b.mask) & b.mask) != 0;
}

void ebi_object_unclaim(const ebi_objref_t *ref) {
  if (!drop_hold(ref))
    ebi_report_pool(ref->pool, EBRA_ERR_INTERNAL, "pool '%s': unclaim of %p, which was not held",
                     ref->pool->life.name, ref->obj);
}

void ebi_object_return(const ebi_objref_t *ref) {
  ebra_pool_t *pool = ref->pool;
  /* A destroyed pool unmapped its slabs: nothing left to return (pools
   * must outlive the domains that retire their objects). */
  if (!pool || !ebi_pool_is_alive(pool))
    return;
  if (!drop_hold(ref) ||
      (ebi_object_tracks_live(pool) && !ebi_object_set_live(ref->slab, ref->obj, false))) {
    ebi_report_pool(pool, EBRA_ERR_INTERNAL, "pool '%s': return of %p, which was not held",
                     pool->life.name, ref->obj);
    return;
  }
  ebi_pool_free_owned(pool, ref->obj);
}

bool ebi_object_ref_of_held(void *obj, ebi_objref_t *ref) {
  ebi_slab_t *s = ebi_segmap_lookup(obj);
  if (!s || !ebi_pool_is_alive(s->pool)) {
    *ref = (ebi_objref_t){.obj = obj};
    return false;
  }
  *ref = (ebi_objref_t){.pool = s->pool, .slab = s, .obj = obj};
  return true;
}

/* SPDX-License-Identifier: MIT */
/* src/slab.c — the slab layer: maps slabs from the OS and carves them into
 * objects for magazines, in batches.
 *
 * Depot trimming gives free objects back to their slabs (a free bit per
 * slot); a slab whose carved objects are all back is purged: its object
 * pages go back to the OS (madvise DONTNEED, the mapping stays), it is
 * reset to uncarved and parked on pool->purged, and the next slab_grow
 * reuses it before mapping a new one.  The mapping is never unmapped while
 * the pool lives, because a carver preempted after loading xcurrent may
 * still touch the header (S4).
 *
 * Colouring: every mapping starts on a 1 MiB granule, so headers placed at
 * the start would all fall in the same cache sets: the fields every free
 * reads (pool, first, inverse, carved count) and the held bits after them
 * would compete, across all slabs of all pools, for one set of an L1 (its
 * sets repeat every 4 KiB) and of the larger caches.  So a slab's header
 * sits at a colour offset c = k * 64 B, k < pool->colours <= 64 (a 4 KiB
 * window: each colour is a different L1 set and a different set of any
 * cache whose set period is at least 4 KiB), and slot 0 follows it.  The
 * k of a pool's n-th slab is (serial * 37 + n) mod colours
 * (slab_colour_next).  Capacity cost: slot 0 moves at most c rounded up to
 * the alignment (< 4 KiB + alignment), so a slab holds at most
 * floor(c / stride) + 1 fewer objects: 0.4% of a 1 MiB slab, one object
 * for strides of 4 KiB and more.  pool->colours is cut so even the last
 * colour keeps EBI_SLAB_MIN_OBJECTS objects, and the slab size is chosen
 * at colour 0, so colouring never grows a slab (ebi_slab_geometry).
 *
 * Invariants
 *   S1  pool->xcarved == sum over unpurged slabs of their carved count, plus
 *       quota taken by fills in progress: the objects in existence (with a
 *       user, in a magazine, on the overflow list or free in a slab); if
 *       capped, pool->xcarved <= max_objects.
 *   S2  a slot is carved at most once per incarnation of its slab (the CAS
 *       on xcarve hands out disjoint ranges) and then lives in exactly one
 *       place: a user, a magazine, the overflow list or its slab's free bits.
 *       An incarnation of a slot ends when its slab is purged (S5) or its
 *       slab's carved count is lowered below it (S7).
 *   S3  pool->xcurrent only moves to another slab under grow_lock, and only
 *       when the current one cannot be carved (slab_grow checks it under the
 *       lock: carved == count).  So a slab that stops being current is
 *       exhausted, even when a grower's view of the current slab is stale,
 *       or is the same slab again after a purge and reuse.
 *   S4  a purged slab has EBI_SLAB_PURGED in xcarve, so a carver holding a
 *       stale pointer to it carves nothing; reuse clears the word (to 0)
 *       under grow_lock before publishing the slab as current again.
 *   S5  a slab is purged whole only if it is not current and nfree == count:
 *       every object it ever carved is back, none is with a user.
 *   S6  a slab's mapping is [s->base, s->base + map_size), base
 *       granule-aligned; its header is at base + colour, colour < 4 KiB,
 *       and s->first >= the end of its bitmaps, first + count * stride <=
 *       base + map_size.  Everything that maps, unmaps, purges or
 *       publishes a slab uses s->base, never s (slab_create,
 *       slab_destroy, slab_purge, segmap.c, object.c's bounds check); a
 *       reused slab keeps its header, colour and base.  A pointer in the
 *       colour gap [base, s) or in the header is inside the mapping but
 *       below first: its slot number wraps above the carved count, so
 *       every check refuses it (internal.h, ebi_slab_slot_of).
 *   S7  the current slab's free tail is given back in place: under
 *       grow_lock, when slots [t, carved) are all in its free bits, a CAS
 *       moves xcarve from carved to EBI_SLAB_PURGED | carved (it fails, and
 *       nothing is done, if a carver moved it first).  From then on no
 *       carver takes a slot (slab_carve sees the flag; its slab_grow waits
 *       for grow_lock and, by S3, does not replace the slab).  The slots
 *       leave the free bits and existence (S1), the whole pages from slot t
 *       on go back to the OS, and a release subtraction that leaves count t
 *       (and any held-ever flag, object.c O5) reopens the slab.
 *       The flag is only ever set with grow_lock held and cleared before it
 *       is released, on the current slab; a page holding any part of a slot
 *       below t is never purged.
 *   S8  committed (the bytes held from the OS, which the hard limit bounds
 *       and the soft limit compares) counts every unpurged slab's map_size
 *       minus its `released`: the bytes of its tail give-backs (S7).  A
 *       give-back releases its pages and lowers xlimit to t; carvers carve
 *       only below xlimit, and one that finds the current slab stopped
 *       there takes grow_lock and reserves `released` again (or fails with
 *       the hard limit, as a new slab would) before xlimit returns to
 *       count.  So no slot is carved on pages committed does not count,
 *       and a burst given back lowers committed, not only the resident
 *       size.  A slab that is not current has released == 0 (it stopped
 *       being current only once carved to count).
 *
 * Ordering
 *   slab_grow initialises (or resets) a slab, then publishes it with a
 *   store release on pool->xcurrent; ebi_slab_fill's load acquire pairs
 *   with it, so carvers see the header.  The carve CAS is acq_rel and the
 *   purge/reuse stores to xcarve are releases: a carver that carves from a
 *   reused slab acquires the purge, which came after every earlier use of
 *   those slots (users freed them to magazines, the depot handed the
 *   magazines to the trimmer, the trimmer returned them under grow_lock).
 *   Otherwise objects reach other threads only through magazines, which the
 *   depot hands over with release/acquire.  The tail give-back (S7) is the
 *   same edge: its CAS and the store release that reopens the slab come
 *   after the trimmer returned the tail's slots under grow_lock; a carver's
 *   CAS that sees the lowered count acquires it.
 *
 * Progress
 *   Carving and the cap quota are lock-free (CAS loops that fail only when
 *   another thread made progress), except while a tail give-back (S7) holds
 *   the current slab: a carver then waits for grow_lock, which the
 *   give-back holds for one madvise.  grow_lock is held while the OS maps or
 *   purges memory and while trimmed objects move between magazines and
 *   slabs: slow paths only.  The lock is also taken by the fork handlers
 *   (thread.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Slab bytes held from the OS by every pool (mapped minus purged).  The
 * hard limit on it is the option EBRA_HARD_LIMIT.  committed is reserved by
 * CAS before a slab is mapped or reused, so concurrent growers never
 * overshoot the limit together. */
static _Atomic uint64_t committed;
static _Atomic uint64_t limit_refusals;

uint64_t ebi_slab_committed_bytes(void) { return ebi_atomic_load_relaxed(&committed); }
uint64_t ebi_slab_hard_limit(void) { return (uint64_t)ebi_option_value(EBRA_OPT_HARD_LIMIT); }
uint64_t ebi_slab_limit_refusals(void) { return ebi_atomic_load_relaxed(&limit_refusals); }

/* Reserve `size` committed bytes; false (counted) if the hard limit would
 * be passed.  Lock-free. */
static bool committed_reserve(size_t size) {
  const uint64_t limit = ebi_slab_hard_limit();
  uint64_t cur = ebi_atomic_load_relaxed(&committed);
  do {
    if (limit && cur + size > limit) {
      ebi_atomic_add_relaxed(&limit_refusals, 1);
      return false;
    }
  } while (!ebi_atomic_cas_relaxed(&committed, &cur, cur + size));
  return true;
}

static void committed_release(size_t size) { ebi_atomic_sub_relaxed(&committed, size); }

static size_t align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

/* ---- geometry and colouring (S6) ------------------------------------------- */

/* Offset from the mapping's start of slot 0 in a slab of `size` bytes whose
 * header sits at offset `colour`: the struct, then its per-slot bitmaps,
 * which live in the mapping itself (no heap allocation whose only pointer
 * would sit in memory LeakSanitizer does not scan), then padding to the
 * alignment.  The mapping is granule-aligned, so an aligned offset is an
 * aligned address (EBRA_MAX_ALIGNMENT < EBI_GRANULE_SIZE). */
static size_t first_offset(size_t stride, size_t alignment, size_t size, size_t colour,
                           size_t *bitmap_words) {
  const size_t max_slots = size / stride;
  *bitmap_words = (max_slots + 63) / 64;
  const size_t nbitmaps = 3; /* held, free, live */
  return align_up(colour + EBRA__SLAB_HELD + nbitmaps * *bitmap_words * sizeof(uint64_t),
                  alignment);
}

static size_t slots_at(size_t stride, size_t alignment, size_t size, size_t colour) {
  size_t words;
  const size_t first = first_offset(stride, alignment, size, colour, &words);
  return first < size ? (size - first) / stride : 0;
}

_Static_assert(EBRA_MAX_ALIGNMENT < EBI_GRANULE_SIZE, "slabs are aligned for every pool");
_Static_assert((EBI_SLAB_COLOURS - 1) * EBI_SLAB_COLOUR_STEP + EBRA__SLAB_HELD < EBI_GRANULE_SIZE,
               "every colour keeps the header in the first granule");

/* The slab size: a granule, doubled until EBI_SLAB_MIN_OBJECTS fit at
 * colour 0 (or EBI_SLAB_MAX_SIZE).  The colours: as many of the
 * EBI_SLAB_COLOURS offsets as keep EBI_SLAB_MIN_OBJECTS in the slab (at
 * least colour 0), so colouring never makes a slab smaller than its size
 * promises and never makes it grow (S6). */
void ebi_slab_geometry(ebra_pool_t *pool) {
  const size_t stride = pool->stride, alignment = pool->alignment;
  size_t size = EBI_GRANULE_SIZE;
  while (size < EBI_SLAB_MAX_SIZE && slots_at(stride, alignment, size, 0) < EBI_SLAB_MIN_OBJECTS)
    size <<= 1;
  uint32_t colours = 1;
  while (colours < EBI_SLAB_COLOURS &&
         slots_at(stride, alignment, size, colours * EBI_SLAB_COLOUR_STEP) >= EBI_SLAB_MIN_OBJECTS)
    colours++;
  pool->slab_size = size;
  pool->colours = colours;
}

/* The header offset of pool's next slab (grow_lock held, under which
 * alone xslabs changes while the pool lives).  Each pool walks
 * the colours one step per slab mapped, from a start its serial picks:
 * consecutive serials times an odd step are distinct mod EBI_SLAB_COLOURS,
 * so pools created together (the malloc classes, say) start on different
 * cache sets, and a pool's successive slabs move on by one line. */
static size_t slab_colour_next(const ebra_pool_t *pool) {
  const uint64_t n = pool->life.serial * EBI_SLAB_COLOUR_POOL_STEP +
                     ebi_atomic_load_relaxed(&pool->xslabs);
  return (size_t)(n % pool->colours) * EBI_SLAB_COLOUR_STEP;
}

/* x * inverse == 1 (mod 2^64) for odd x: Newton's iteration doubles the
 * correct low bits each step, from 3 (x is its own inverse mod 8). */
static uint64_t odd_inverse(uint64_t x) {
  uint64_t y = x;
  for (int i = 0; i < 5; i++)
    y *= 2 - x * y;
  return y;
}

/* Frees read the header's first line (internal.h): the take and return
 * bookkeeping must not share it. */
_Static_assert(offsetof(ebi_slab_t, next) >= 64 && offsetof(ebi_slab_t, free_hint) >= 64 &&
                   offsetof(ebi_slab_t, nfree) >= 64 && offsetof(ebi_slab_t, lnext) >= 64,
               "the slab header's first line is the frees' own");

static int slab_create(ebra_pool_t *pool, ebi_slab_t **out) {
  void *mem;
  int err = ebi_os_map_aligned(pool->slab_size, EBI_GRANULE_SIZE, &mem);
  if (err)
    return err;
  const size_t colour = slab_colour_next(pool);
  size_t words;
  const size_t first = first_offset(pool->stride, pool->alignment, pool->slab_size, colour, &words);
  ebi_slab_t *s = (ebi_slab_t *)((char *)mem + colour); /* S6 */
  s->magic = EBI_SLAB_MAGIC;
  s->pool = pool;
  s->base = mem;
  s->first = (char *)mem + first;
  s->stride = pool->stride;
  s->count = (uint32_t)((pool->slab_size - first) / pool->stride);
  s->stride_tz = (uint32_t)__builtin_ctzll(s->stride);
  s->stride_inv = odd_inverse(s->stride >> s->stride_tz);
  s->map_size = pool->slab_size;
  ebi_atomic_store_relaxed(&s->xcarve, 0);
  ebi_atomic_store_relaxed(&s->xlimit, s->count);
  s->released = 0;
  s->nfree = 0;
  s->free_hint = 0;
  s->lnext = s->lprev = NULL;
  /* Fresh anonymous memory is zero: the bitmaps start clear. */
  s->free_bits = (uint64_t *)(ebi_slab_held_bits(s) + words);
  s->xlive_bits = (_Atomic uint64_t *)(s->free_bits + words);
  err = ebi_segmap_insert(s);
  if (err) {
    ebi_os_unmap(mem, pool->slab_size);
    return err;
  }
  *out = s;
  return 0;
}

/* Unmap s, from its base (S6).  Destroy only. */
static void slab_destroy(ebi_slab_t *s) {
  ebi_segmap_remove(s);
  s->magic = 0;
  char *const base = s->base;
  const size_t size = s->map_size;
  const int err = ebi_os_unmap(base, size);
  if (err)
    ebi_report(EBRA_ERR_INTERNAL, "slab %p: unmapping %zu bytes at %p failed (errno %d)",
               (void *)s, size, (void *)base, err);
}

/* ---- slab lists (grow_lock held) ------------------------------------------ */

static void list_push(ebi_slab_t **head, ebi_slab_t *s) {
  s->lprev = NULL;
  s->lnext = *head;
  if (*head)
    (*head)->lprev = s;
  *head = s;
}

static void list_remove(ebi_slab_t **head, ebi_slab_t *s) {
  if (s->lprev)
    s->lprev->lnext = s->lnext;
  else
    *head = s->lnext;
  if (s->lnext)
    s->lnext->lprev = s->lprev;
  s->lnext = s->lprev = NULL;
}

/* A purged slab back in service, reset to uncarved (S4), or NULL. */
static ebi_slab_t *slab_reuse_purged(ebra_pool_t *pool, int *err) {
  ebi_slab_t *s = pool->purged;
  if (!s)
    return NULL;
  if (!committed_reserve(s->map_size)) {
    *err = EDQUOT;
    return NULL;
  }
  list_remove(&pool->purged, s);
  ebi_atomic_sub_relaxed(&pool->xbytes_purged, s->map_size);
  /* Release: pairs with the carve CAS (acq_rel) of any carver holding a
   * stale pointer to s; the slab is published as current right after. */
  ebi_atomic_store_release(&s->xcarve, 0);
  return s;
}

/* A brand-new slab from the OS, or NULL with *err set. */
static ebi_slab_t *slab_map_new(ebra_pool_t *pool, int *err) {
  if (!committed_reserve(pool->slab_size)) {
    *err = EDQUOT;
    return NULL;
  }
  ebi_slab_t *s;
  *err = slab_create(pool, &s);
  if (*err) {
    committed_release(pool->slab_size);
    return NULL;
  }
  s->next = pool->slabs;
  pool->slabs = s;
  ebi_atomic_add_relaxed(&pool->xslabs, 1);
  ebi_atomic_add_relaxed(&pool->xbytes_reserved, s->map_size);
  return s;
}

/* Can s still be carved?  grow_lock held, so no give-back (S7) is under
 * way; carvers may raise the count meanwhile, and then the caller's next
 * carve finds out. */
static bool slab_carvable(const ebi_slab_t *s) {
  if (!s)
    return false;
  const uint64_t w = ebi_atomic_load_relaxed(&s->xcarve);
  return !(w & EBI_SLAB_PURGED) && (w & EBI_SLAB_CARVED_MASK) < s->count;
}

/* Replace `seen` as the current slab, unless another thread already did:
 * a purged slab if there is one, else a new mapping.  Returns 0, an errno
 * from the OS, or EDQUOT if the hard memory limit refused. */
static int slab_grow(ebra_pool_t *pool, ebi_slab_t *seen) {
  int err = 0;
  pthread_mutex_lock(&pool->grow_lock);
  const bool current = ebi_atomic_load_relaxed(&pool->xcurrent) == seen;
  if (current && seen && seen->released) { /* S8: carve past the given-back tail */
    if (!committed_reserve(seen->released)) {
      err = EDQUOT;
    } else {
      seen->released = 0;
      /* Release: pairs with slab_carve's acquire of the limit.  A carver
       * that still reads the old limit carves nothing and comes back here,
       * where it finds released == 0 under the lock. */
      ebi_atomic_store_release(&seen->xlimit, seen->count);
    }
  } else if (current && !slab_carvable(seen)) {
    /* S3: not while the current slab can still be carved (a give-back,
     * S7, made it look empty for a moment, or `seen` is stale). */
    ebi_slab_t *s = slab_reuse_purged(pool, &err);
    if (!s && !err)
      s = slab_map_new(pool, &err);
    if (s) /* Publishes the header; paired with the acquire in ebi_slab_fill. */
      ebi_atomic_store_release(&pool->xcurrent, s);
  }
  pthread_mutex_unlock(&pool->grow_lock);
  return err;
}

/* Carve up to `want` slots from s into out[], highest address first, so a
 * magazine filled from out[] pops them in ascending order. */
static uint32_t slab_carve(ebra_pool_t *pool, ebi_slab_t *s, void **out, uint32_t want) {
  /* Acquire: pairs with the give-back's release that reopened the slab
   * (S7), so the limit read next is the one it stored (S8). */
  uint64_t w = ebi_atomic_load_acquire(&s->xcarve);
  uint32_t start, n;
  for (;;) {
    start = (uint32_t)(w & EBI_SLAB_CARVED_MASK);
    /* Acquire: pairs with slab_grow's release of the raised limit (S8). */
    const uint32_t limit = ebi_atomic_load_acquire(&s->xlimit);
    if ((w & EBI_SLAB_PURGED) || start >= limit)
      return 0;
    n = want < limit - start ? want : limit - start;
    /* acq_rel: acquires the purge/reuse store release (S4); a failed CAS
     * means another carver progressed, or a give-back came in between. */
    if (ebi_atomic_cas_acq_rel(&s->xcarve, &w, w + n))
      break;
    w = ebi_atomic_load_acquire(&s->xcarve);
  }
  for (uint32_t i = 0; i < n; i++) {
    void *p = s->first + (size_t)(start + i) * s->stride;
    ebi_object_on_carve(pool, p);
    out[n - 1 - i] = p;
  }
  return n;
}

/* Take up to `want` objects of cap quota.  Lock-free CAS loop. */
static uint32_t quota_take(ebra_pool_t *pool, uint32_t want) {
  if (!pool->max_objects) {
    ebi_atomic_add_relaxed(&pool->xcarved, want);
    return want;
  }
  uint64_t cur = ebi_atomic_load_relaxed(&pool->xcarved);
  for (;;) {
    if (cur >= pool->max_objects)
      return 0;
    const uint64_t n = pool->max_objects - cur < want ? pool->max_objects - cur : want;
    if (ebi_atomic_cas_relaxed(&pool->xcarved, &cur, cur + n))
      return (uint32_t)n;
  }
}

/* A slab on the partial list whose scan from `start` found no free bit
 * (a bug of ebra's: the hint or the count is wrong).  Reported; the next
 * scan starts at word 0, and a slab with no bit at all leaves the list,
 * so the take always ends.  grow_lock held. */
static void slab_free_bits_lost(ebra_pool_t *pool, ebi_slab_t *s, uint32_t start) {
  ebi_report_pool(pool, EBRA_ERR_INTERNAL,
                  "pool '%s': slab %p counts %u free objects but none from bitmap word %u",
                  pool->life.name, (void *)s, s->nfree, start);
  s->free_hint = 0;
  if (start == 0) {
    ebi_atomic_sub_relaxed(&pool->xslab_free, s->nfree);
    s->nfree = 0;
  }
}

/* Take up to `want` free objects from the slabs' free bits; grow_lock
 * held.  Prefers the partial slab with the fewest free objects among the
 * first few, so emptier slabs drain and can be purged. */
static uint32_t slab_take_free(ebra_pool_t *pool, void **out, uint32_t want) {
  uint32_t got = 0;
  while (got < want && pool->partial) {
    ebi_slab_t *s = pool->partial;
    int looked = 0;
    for (ebi_slab_t *t = s->lnext; t && looked < 8; t = t->lnext, looked++)
      if (t->nfree < s->nfree)
        s = t;
    /* From the hint on, not from word 0: a big slab whose low words are
     * all taken would otherwise be scanned from its start on every take. */
    const size_t words = (s->count + 63) / 64;
    const uint32_t start = s->free_hint, before = got;
    size_t w = start;
    for (; w < words && got < want && s->nfree; w++) {
      while (s->free_bits[w] && got < want) {
        const unsigned b = (unsigned)__builtin_ctzll(s->free_bits[w]);
        s->free_bits[w] &= s->free_bits[w] - 1;
        s->nfree--;
        out[got++] = s->first + (w * 64 + b) * s->stride;
      }
      if (s->free_bits[w]) /* stopped inside this word */
        break;
    }
    s->free_hint = (uint32_t)w;
    if (got == before) /* nfree > 0, yet no bit from the hint on */
      slab_free_bits_lost(pool, s, start);
    if (s->nfree == 0)
      list_remove(&pool->partial, s);
  }
  if (got)
    ebi_atomic_sub_relaxed(&pool->xslab_free, got);
  return got;
}

/* Objects already in existence: the slabs' free bits, if any. */
static uint32_t fill_from_free(ebra_pool_t *pool, void **out, uint32_t want) {
  if (ebi_atomic_load_relaxed(&pool->xslab_free) == 0)
    return 0;
  pthread_mutex_lock(&pool->grow_lock);
  const uint32_t got = slab_take_free(pool, out, want);
  pthread_mutex_unlock(&pool->grow_lock);
  return got;
}

/* Fill out[] with up to `want` objects: free ones from the slabs first,
 * then new ones carved.  Returns how many; when 0, *why says
 * EBRA_ERR_CAP_REACHED, EBRA_ERR_MEMORY_LIMIT or EBRA_ERR_NOMEM. */
uint32_t ebi_slab_fill(ebra_pool_t *pool, void **out, uint32_t want,
                        ebra_error_kind_t *why) {
  const uint32_t reused = fill_from_free(pool, out, want);
  if (reused)
    return reused;
  const uint32_t quota = quota_take(pool, want);
  if (quota == 0) {
    *why = EBRA_ERR_CAP_REACHED;
    return 0;
  }
  uint32_t got = 0;
  int err = 0;
  while (got < quota) {
    /* Paired with the store release in slab_grow. */
    ebi_slab_t *s = ebi_atomic_load_acquire(&pool->xcurrent);
    if (s)
      got += slab_carve(pool, s, out + got, quota - got);
    if (got < quota && (err = slab_grow(pool, s)) != 0)
      break;
  }
  if (got < quota)
    ebi_atomic_sub_relaxed(&pool->xcarved, quota - got);
  if (got == 0)
    *why = err == EDQUOT ? EBRA_ERR_MEMORY_LIMIT : EBRA_ERR_NOMEM;
  return got;
}

/* ---- trimming and purging --------------------------------------------------- */

void ebi_slab_return(ebra_pool_t *pool, void *const *objs, uint32_t n) {
  pthread_mutex_lock(&pool->grow_lock);
  for (uint32_t i = 0; i < n; i++) {
    ebi_slab_t *s = ebi_segmap_lookup(objs[i]);
    const size_t k = ebi_slab_slot_index(s, objs[i]);
    const uint64_t bit = 1ull << (k % 64);
    if (EBI_DEBUG && (s->free_bits[k / 64] & bit))
      ebi_report_pool(pool, EBRA_ERR_INTERNAL, "pool '%s': object %p returned to its slab twice",
                       pool->life.name, objs[i]);
    s->free_bits[k / 64] |= bit;
    if (k / 64 < s->free_hint)
      s->free_hint = (uint32_t)(k / 64);
    if (s->nfree++ == 0)
      list_push(&pool->partial, s);
  }
  ebi_atomic_add_relaxed(&pool->xslab_free, n);
  pthread_mutex_unlock(&pool->grow_lock);
}

/* Give s's object pages back to the OS and park it (S4, S5). */
static void slab_purge(ebra_pool_t *pool, ebi_slab_t *s) {
  list_remove(&pool->partial, s); /* nfree == count > 0: it is there */
  const int err = ebi_os_purge(s->first, (size_t)(s->base + s->map_size - s->first)); /* S6 */
  if (err) /* the pages stay (correct, only not given back) */
    ebi_report_pool(pool, EBRA_ERR_INTERNAL, "pool '%s': purging slab %p failed (errno %d)",
                    pool->life.name, (void *)s, err);
  memset(s->free_bits, 0, (s->count + 63) / 64 * sizeof(uint64_t));
  s->free_hint = 0;
  ebi_atomic_sub_relaxed(&pool->xslab_free, s->nfree);
  ebi_atomic_sub_relaxed(&pool->xcarved, s->nfree); /* S1: gone from existence */
  s->nfree = 0;
  /* Release: pairs with the carve CAS (acq_rel); carved 0 also makes a
   * late free of one of its objects fail the slot check. */
  ebi_atomic_store_release(&s->xcarve, EBI_SLAB_PURGED);
  list_push(&pool->purged, s);
  ebi_atomic_add_relaxed(&pool->xbytes_purged, s->map_size);
  ebi_atomic_add_relaxed(&pool->xpurges, 1);
  committed_release(s->map_size - s->released); /* S8 */
  s->released = 0;
  /* For its reuse; published with the slab by slab_reuse_purged's store
   * release of the carve word, which carvers acquire. */
  ebi_atomic_store_relaxed(&s->xlimit, s->count);
}

/* The first slot of s's free tail: the lowest t such that every carved
 * slot in [t, carved) is in the free bits.  grow_lock held. */
static uint32_t free_tail_start(const ebi_slab_t *s, uint32_t carved) {
  uint32_t t = carved;
  while (t > 0) {
    const uint64_t word = s->free_bits[(t - 1) / 64];
    const uint32_t in_word = (t - 1) % 64 + 1; /* slots of this word below t */
    const uint64_t mask = in_word == 64 ? ~0ull : (1ull << in_word) - 1;
    if ((word & mask) == mask) { /* the whole rest of the word is free */
      t -= in_word;
      continue;
    }
    /* The highest slot below t that is not free. */
    const uint64_t busy = ~word & mask;
    t = (uint32_t)((t - 1) / 64 * 64 + (63 - __builtin_clzll(busy)) + 1);
    break;
  }
  return t;
}

static uintptr_t page_up(uintptr_t a) {
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  return (a + page - 1) & ~(page - 1);
}

/* Give back the free tail of the current slab s in place (S7); returns the
 * bytes of whole pages purged, 0 if there is no page to gain or a carver
 * got in first.  grow_lock held. */
static uint64_t slab_purge_tail(ebra_pool_t *pool, ebi_slab_t *s) {
  uint64_t w = ebi_atomic_load_relaxed(&s->xcarve);
  if (w & EBI_SLAB_PURGED)
    return 0;
  const uint32_t carved = (uint32_t)(w & EBI_SLAB_CARVED_MASK);
  const uint32_t t = free_tail_start(s, carved);
  const uintptr_t end = (uintptr_t)(s->base + s->map_size); /* S6 */
  const uintptr_t from = page_up((uintptr_t)(s->first + (size_t)t * s->stride));
  uintptr_t to = page_up((uintptr_t)(s->first + (size_t)carved * s->stride));
  if (to > end)
    to = end;
  if (t == carved || to <= from)
    return 0;
  /* acq_rel: fails if a carver's CAS came first (then the tail may be
   * handed out: leave it); succeeds only with the count we scanned. */
  if (!ebi_atomic_cas_acq_rel(&s->xcarve, &w, w | EBI_SLAB_PURGED))
    return 0;
  const uint32_t n = carved - t;
  for (uint32_t k = t; k < carved; k++)
    s->free_bits[k / 64] &= ~(1ull << (k % 64));
  s->nfree -= n;
  if (s->nfree == 0)
    list_remove(&pool->partial, s);
  ebi_atomic_sub_relaxed(&pool->xslab_free, n);
  ebi_atomic_sub_relaxed(&pool->xcarved, n); /* S1: gone from existence */
  /* Pages wholly past slot t's start that the carved range reached;
   * beyond `to` nothing was touched since the slab was mapped or purged. */
  const int err = ebi_os_purge((void *)from, to - from);
  if (err) /* the pages stay (correct, only not given back) */
    ebi_report_pool(pool, EBRA_ERR_INTERNAL, "pool '%s': purging the free tail of slab %p failed "
                    "(errno %d)", pool->life.name, (void *)s, err);
  else { /* S8: the pages no longer count; carving past t commits them again */
    s->released += to - from;
    committed_release(to - from);
    ebi_atomic_store_relaxed(&s->xlimit, t); /* published by the reopening release below */
  }
  /* Release: pairs with the carve CAS (acq_rel), which carves the tail
   * again only after the pages went; a late free of a slot >= t fails the
   * slot check (carved count).  A subtraction, not a store: the count and
   * the purging flag are ours while the flag is set, but a claim may have
   * added the held-ever flag meanwhile (object.c, O5). */
  ebi_atomic_sub_release(&s->xcarve, EBI_SLAB_PURGED + (uint64_t)(carved - t));
  ebi_atomic_add_relaxed(&pool->xpurges, 1);
  return err ? 0 : to - from;
}

uint64_t ebi_slab_purge_free(ebra_pool_t *pool) {
  uint64_t bytes = 0;
  pthread_mutex_lock(&pool->grow_lock);
  ebi_slab_t *cur = ebi_atomic_load_relaxed(&pool->xcurrent);
  ebi_slab_t *s = pool->partial;
  while (s) {
    ebi_slab_t *next = s->lnext;
    if (s != cur && s->nfree == s->count) { /* S5 (not current: exhausted) */
      bytes += s->map_size;
      slab_purge(pool, s);
    }
    s = next;
  }
  if (cur && cur->nfree) /* S7; xcurrent moves only under grow_lock */
    bytes += slab_purge_tail(pool, cur);
  pthread_mutex_unlock(&pool->grow_lock);
  return bytes;
}

/* Unmap every slab.  Destroy only: no thread uses the pool. */
void ebi_slab_release_all(ebra_pool_t *pool) {
  uint64_t held = ebi_atomic_load_relaxed(&pool->xbytes_reserved) -
                  ebi_atomic_load_relaxed(&pool->xbytes_purged);
  for (const ebi_slab_t *s = pool->slabs; s; s = s->next)
    held -= s->released; /* S8 */
  committed_release(held);
  ebi_slab_t *s = pool->slabs;
  while (s) {
    ebi_slab_t *next = s->next;
    slab_destroy(s);
    s = next;
  }
  pool->slabs = NULL;
  pool->partial = NULL;
  pool->purged = NULL;
  ebi_atomic_store_relaxed(&pool->xslab_free, 0);
  ebi_atomic_store_relaxed(&pool->xbytes_purged, 0);
  ebi_atomic_store_relaxed(&pool->xcurrent, NULL);
  ebi_atomic_store_relaxed(&pool->xslabs, 0);
  ebi_atomic_store_relaxed(&pool->xbytes_reserved, 0);
}

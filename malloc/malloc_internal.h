/* SPDX-License-Identifier: MIT */
/* malloc/malloc_internal.h — the malloc floor's declarations: size classes,
 * the per-thread state, the inline fast paths that both ebra_malloc and the
 * preload library's malloc use, and the bootstrap arena.
 *
 * Invariants (numbered for the comments in malloc.c and preload.c):
 *  M1  A class pool, once published in ebi_malloc_pools[c] (store release),
 *      is never destroyed; its registry id maps back to it in
 *      ebi_malloc_by_id (when the id is below EBI_MALLOC_IDS).
 *  M2  Every block ebra_malloc hands out is one of: a slot of a class
 *      pool (found by the segment map, slab->pool a class pool), a direct
 *      mapping whose header embeds a pseudo-slab owned by the sentinel pool
 *      "malloc-large" (found by the same lookup), or a bootstrap block
 *      (inside the static arena; never reused).  Anything else is foreign.
 *  M3  The fast paths run only in a thread whose state is EBI_MT_RUNNING,
 *      which implies the library's constructors have run (ready) and the
 *      thread's exit key is set, so its exit is seen (malloc.c, "thread exit").
 */
#ifndef EBI_MALLOC_INTERNAL_H
#define EBI_MALLOC_INTERNAL_H

#include "internal.h"
#include "ebra/malloc.h"

/* ---- size classes ---------------------------------------------------------
 * 16..128 by 16 (8 classes), then four per doubling up to 256 KiB
 * (2^k + j * 2^(k-2), j = 1..4): 44 more.  Every class size is a multiple of
 * 16; a class's natural alignment is the largest power of two dividing its
 * size, capped at 4096. */
#define EBI_MALLOC_NCLASSES 52
#define EBI_MALLOC_SMALL_MAX 1024 /* classes of sizes up to here: one table load */
#define EBI_MALLOC_IDS 256        /* registry ids mapped back to a class */

EBI_INTERNAL_FN extern const uint32_t ebi_malloc_class_size[EBI_MALLOC_NCLASSES];
EBI_INTERNAL_FN extern const uint8_t ebi_malloc_small_class[EBI_MALLOC_SMALL_MAX / 16 + 1];
EBI_INTERNAL_FN extern _Atomic(ebra_pool_t *) ebi_malloc_pools[EBI_MALLOC_NCLASSES];
EBI_INTERNAL_FN extern _Atomic(ebra_pool_t *) ebi_malloc_by_id[EBI_MALLOC_IDS];

/* The class of a request of n bytes, n <= EBRA_MALLOC_CLASS_MAX. */
static inline uint32_t ebi_malloc_class_of(size_t n) {
  if (EBI_LIKELY(n <= EBI_MALLOC_SMALL_MAX))
    return ebi_malloc_small_class[(n + 15) >> 4];
  const unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1)); /* 2^k < n */
  const unsigned j = (unsigned)((n - 1 - ((size_t)1 << k)) >> (k - 2));          /* 0..3 */
  return 8u + (k - 7u) * 4u + j;
}

/* ---- per-thread state (M3) ------------------------------------------------ */
enum {
  EBI_MT_NEW = 0,     /* no call yet: the slow path registers the exit key */
  EBI_MT_RUNNING = 1, /* fast paths allowed */
  EBI_MT_EXITING = 2  /* the exit key's destructor ran: every call ends by
                         releasing ebra's thread state again */
};
EBI_INTERNAL_FN extern __thread uint8_t ebi_malloc_tls_state
    __attribute__((tls_model("initial-exec")));

/* pool is a class pool (M1).  Relaxed: a stale miss only sends the caller
 * to the slow path, which asks again with acquire. */
static inline bool ebi_malloc_is_class(const ebra_pool_t *pool) {
  const uint32_t id = pool->life.id;
  return EBI_LIKELY(id < EBI_MALLOC_IDS) &&
         ebi_atomic_load_relaxed(&ebi_malloc_by_id[id]) == pool;
}

/* ---- slow paths (malloc.c) ------------------------------------------------ */
EBI_INTERNAL_FN void *ebi_malloc_slow(size_t n);
EBI_INTERNAL_FN void ebi_free_slow(void *p, const ebi_slab_t *s, const char *call);
EBI_INTERNAL_FN void *ebi_malloc_calloc(size_t n, size_t size);
EBI_INTERNAL_FN void *ebi_malloc_realloc(void *p, size_t n, const char *call);
EBI_INTERNAL_FN void *ebi_malloc_aligned(size_t alignment, size_t n);
EBI_INTERNAL_FN size_t ebi_malloc_usable(const void *p, const char *call);
EBI_INTERNAL_FN void ebi_malloc_free_sized(void *p, size_t n, const char *call);

/* ---- fast paths ------------------------------------------------------------ */

static inline void *ebi_malloc_inline(size_t n) {
  if (EBI_LIKELY(n <= EBRA_MALLOC_CLASS_MAX)) {
    /* Paired with the store release that publishes the class (malloc.c). */
    ebra_pool_t *pool = ebi_atomic_load_acquire(&ebi_malloc_pools[ebi_malloc_class_of(n)]);
    if (EBI_LIKELY(pool != NULL && ebi_malloc_tls_state == EBI_MT_RUNNING))
      return ebra_pool_alloc(pool);
  }
  return ebi_malloc_slow(n);
}

/* The pool's free of p, whose slab s the caller already looked up.  For
 * a pool without object hooks (src/internal.h: then the user's free and a
 * holder's return differ only in the checks) the default checks run here,
 * on s, and the free is the pool's own (ebi_pool_free_owned), which saves
 * ebra_pool_free's second lookup; anything refused, and every pool with
 * hooks, goes through ebra_pool_free, which decides and reports. */
static inline void ebi_malloc_pool_free(ebra_pool_t *pool, const ebi_slab_t *s, void *p) {
  uint64_t marker;
  if (EBI_LIKELY(!ebi_pool_has_object_hooks(pool) && ebi_object_user_free(pool, s, p, &marker)))
    ebi_pool_free_owned(pool, p);
  else
    (void)ebra_pool_free(pool, p); /* misuse is reported by the pool */
}

static inline void ebi_free_inline(void *p, const char *call) {
  const ebi_slab_t *s = ebi_segmap_lookup(p);
  if (EBI_LIKELY(s != NULL && ebi_malloc_is_class(s->pool) &&
                 ebi_malloc_tls_state == EBI_MT_RUNNING)) {
    ebi_malloc_pool_free(s->pool, s, p);
    return;
  }
  ebi_free_slow(p, s, call);
}

/* free_sized and C++ sized delete: the free, plus one compare of the size
 * given against the block's (a mismatch is reported, the block freed). */
static inline void ebi_free_sized_inline(void *p, size_t n, const char *call) {
  const ebi_slab_t *s = ebi_segmap_lookup(p);
  if (EBI_LIKELY(s != NULL && ebi_malloc_is_class(s->pool) &&
                 ebi_malloc_tls_state == EBI_MT_RUNNING && n <= s->pool->object_size)) {
    ebi_malloc_pool_free(s->pool, s, p);
    return;
  }
  ebi_malloc_free_sized(p, n, call);
}

/* ---- foreign pointers ----------------------------------------------------
 * What to do with a pointer no part of ebra handed out (M2).  ebra_free
 * reports it; the preload library first offers it to the C library's own
 * allocator (preload.c).  Each hook returns true if it took the pointer. */
typedef struct ebi_malloc_foreign_s {
  bool (*free)(void *p);
  size_t (*usable)(const void *p); /* 0: not the C library's */
} ebi_malloc_foreign_t;
EBI_INTERNAL_FN void ebi_malloc_set_foreign(const ebi_malloc_foreign_t *f);

/* ---- bootstrap arena (boot.c) ---------------------------------------------
 * Serves every request made before the library's constructors have run
 * (the dynamic loader, libc's early init, the constructors of libraries
 * initialised before this one).  Lock-free bump allocation in a static
 * arena; blocks are never reused, so a free of one does nothing and the
 * memory is zero when handed out. */
EBI_INTERNAL_FN void *ebi_boot_alloc(size_t n, size_t alignment);
EBI_INTERNAL_FN bool ebi_boot_owns(const void *p);
EBI_INTERNAL_FN size_t ebi_boot_usable(const void *p);

/* True once the library's constructors have run (malloc.c). */
EBI_INTERNAL_FN extern _Atomic bool ebi_malloc_ready;

#endif /* EBI_MALLOC_INTERNAL_H */

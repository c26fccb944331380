/* SPDX-License-Identifier: MIT */
/* malloc/malloc_internal.h — the malloc floor's declarations: size classes,
 * the per-thread state, the inline fast paths that both ebra_malloc and the
 * preload library's malloc use, and the bootstrap arena.
 *
 * Invariants (numbered for the comments in malloc.c and preload.c):
 *  M1  A class pool carries EBI_POOL_MALLOC_CLASS in its flags from its
 *      creation (src/internal.h), before it is registered or published;
 *      no other pool does.  Once published in ebi_malloc_pools[c] (store
 *      release) it is never destroyed; a copy that lost the publication
 *      race is destroyed before it handed anything out, so no segment-map
 *      entry leads to it afterwards.
 *  M2  Every block ebra_malloc hands out is one of: a slot of a class
 *      pool (found by the segment map, slab->pool a class pool), a direct
 *      mapping whose header embeds a pseudo-slab owned by the sentinel pool
 *      "malloc-large" (found by the same lookup), or a bootstrap block
 *      (inside the static arena; never reused).  Anything else is foreign.
 *  M3  The fast paths serve only from a thread cache that the thread
 *      already has for a published class pool; they never attach one.  A
 *      class pool is published only after the library's constructors ran
 *      (ready), and malloc attaches a class cache only in a slow path,
 *      after thread_enter has set the thread's exit key, so the thread's
 *      exit is seen (malloc.c, "thread exit").  After that exit ebra's
 *      thread state is empty, so every call misses and takes a slow path,
 *      which releases what it attached.
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
#define EBI_MALLOC_SMALL_MAX 4096 /* sizes up to here: one table load */
#define EBI_MALLOC_SMALL_LEN (EBI_MALLOC_SMALL_MAX / 16 + 1)

EBI_INTERNAL_FN extern const uint32_t ebi_malloc_class_size[EBI_MALLOC_NCLASSES];
EBI_INTERNAL_FN extern const uint8_t ebi_malloc_small_class[EBI_MALLOC_SMALL_LEN];
EBI_INTERNAL_FN extern _Atomic(ebra_pool_t *) ebi_malloc_pools[EBI_MALLOC_NCLASSES];
/* The class pool of a size n <= EBI_MALLOC_SMALL_MAX at [(n + 15) >> 4],
 * ebi_malloc_unborn until it is published (M1): malloc's one load from
 * size to pool. */
EBI_INTERNAL_FN extern _Atomic(ebra_pool_t *) ebi_malloc_small_pools[EBI_MALLOC_SMALL_LEN];
/* What the fast paths get for a size with no published class pool, or
 * above the largest class: no pool, only the two fields a thread-cache
 * lookup reads, a thread slot that never has a cache (no_slot) and a
 * serial no slot holds, so every lookup misses and the caller takes its
 * slow path; the fast paths need no NULL test. */
EBI_INTERNAL_FN extern ebra_pool_t ebi_malloc_unborn;

/* The class of a request of n bytes, EBI_MALLOC_SMALL_MAX < n <=
 * EBRA_MALLOC_CLASS_MAX: four classes per doubling (k >= 12 here). */
static inline uint32_t ebi_malloc_class_of_big(size_t n) {
  const unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1)); /* 2^k < n */
  const unsigned j = (unsigned)((n - 1 - ((size_t)1 << k)) >> (k - 2));          /* 0..3 */
  return 8u + (k - 7u) * 4u + j;
}

/* The class of a request of n bytes, n <= EBRA_MALLOC_CLASS_MAX. */
static inline uint32_t ebi_malloc_class_of(size_t n) {
  if (EBI_LIKELY(n <= EBI_MALLOC_SMALL_MAX))
    return ebi_malloc_small_class[(n + 15) >> 4];
  return ebi_malloc_class_of_big(n);
}

/* The class pool that serves n bytes, or ebi_malloc_unborn (none yet, or
 * n above the largest class): for the fast paths' cache lookup only.
 * Paired with the store releases that publish a class (class_publish in
 * malloc.c). */
static inline ebra_pool_t *ebi_malloc_pool_for(size_t n) {
  if (EBI_LIKELY(n <= EBI_MALLOC_SMALL_MAX))
    return ebi_atomic_load_acquire(&ebi_malloc_small_pools[(n + 15) >> 4]);
  ebra_pool_t *pool = NULL;
  if (EBI_LIKELY(n <= EBRA_MALLOC_CLASS_MAX))
    pool = ebi_atomic_load_acquire(&ebi_malloc_pools[ebi_malloc_class_of_big(n)]);
  return pool ? pool : &ebi_malloc_unborn;
}

/* ---- per-thread state (M3) ------------------------------------------------ */
enum {
  EBI_MT_NEW = 0,     /* no slow path yet: the next one registers the exit key */
  EBI_MT_RUNNING = 1, /* the exit key is set */
  EBI_MT_EXITING = 2  /* the exit key's destructor ran: every slow path ends
                         by releasing ebra's thread state again */
};
EBI_INTERNAL_FN extern __thread uint8_t ebi_malloc_tls_state
    __attribute__((tls_model("initial-exec")));

/* pool is a class pool (M1): one test of its flags, constant since before
 * the pool was registered; the caller found pool through a slab that the
 * segment map published (load acquire), after the pool was made. */
static inline bool ebi_malloc_is_class(const ebra_pool_t *pool) {
  return (pool->flags & EBI_POOL_MALLOC_CLASS) != 0;
}

/* ---- slow paths (malloc.c) ------------------------------------------------ */
EBI_INTERNAL_FN void *ebi_malloc_slow(size_t n);
EBI_INTERNAL_FN void ebi_free_slow(void *p, const ebi_slab_t *s, const char *call);
EBI_INTERNAL_FN void *ebi_malloc_calloc(size_t n, size_t size);
EBI_INTERNAL_FN void *ebi_malloc_realloc(void *p, size_t n, const char *call);
EBI_INTERNAL_FN void *ebi_malloc_aligned(size_t alignment, size_t n);
EBI_INTERNAL_FN size_t ebi_malloc_usable(const void *p, const char *call);
EBI_INTERNAL_FN void ebi_malloc_free_sized(void *p, size_t n, const char *call);

/* ---- fast paths ------------------------------------------------------------
 * The pool's own fast paths (src/pool.c: ebra_pool_alloc, pool_put), built
 * here from the same inline steps of src/internal.h, so a malloc or free
 * that the thread's loaded magazine serves makes no call: the pool
 * operation's handshake marks, the thread's inline slot, the cached stack
 * pointers, the owner's counter, the object's free marker.  A miss of any
 * kind (no cache yet, an empty or full magazine, a pool with object hooks,
 * whose caches keep an empty window) returns to the caller's slow path,
 * which calls the pool's exported functions; they look again, decide and
 * report.  The fast paths never attach a cache, so a thread's first
 * allocation of each class, and every call after its ebra state was
 * released, takes a slow path (M3). */

/* Pop from the calling thread's loaded magazine of pool; NULL on a miss. */
static inline void *ebi_malloc_pop(ebra_pool_t *pool) {
  ebi_pool_op_enter();
  ebi_tcache_t *tc;
  void *p = ebi_tcache_pop_in_op(pool, &tc);
  ebi_pool_op_leave();
  if (EBI_LIKELY(p != NULL))
    ebi_object_on_alloc(pool, p);
  return p;
}

/* Push p, which passed the user's free checks (marker: its free marker,
 * from them), on the calling thread's loaded magazine of pool; false on a
 * miss. */
static inline bool ebi_malloc_push(ebra_pool_t *pool, void *p, uint64_t marker) {
  ebi_pool_op_enter();
  ebi_tcache_t *tc;
  const bool hit = ebi_tcache_push_in_op(pool, &tc, p, marker);
  ebi_pool_op_leave();
  return hit;
}

static inline void *ebi_malloc_inline(size_t n) {
  void *p = ebi_malloc_pop(ebi_malloc_pool_for(n));
  if (EBI_LIKELY(p != NULL))
    return p;
  return ebi_malloc_slow(n);
}

/* The free of p from slab s (one segment-map lookup): a slot of a class
 * pool that passes the pool's default checks (ebi_object_user_free, run
 * once, here, which also gives the free marker to store), pushed on the
 * thread's magazine.  Anything else, and every miss, goes to
 * ebi_free_slow, which sorts it out and reports misuse. */
static inline bool ebi_free_fast(const ebi_slab_t *s, void *p) {
  if (EBI_UNLIKELY(s == NULL))
    return false;
  ebra_pool_t *pool = s->pool;
  uint64_t marker;
  return EBI_LIKELY(ebi_malloc_is_class(pool) && ebi_object_user_free(pool, s, p, &marker)) &&
         ebi_malloc_push(pool, p, marker);
}

static inline void ebi_free_inline(void *p, const char *call) {
  const ebi_slab_t *s = ebi_segmap_lookup(p);
  if (EBI_LIKELY(ebi_free_fast(s, p)))
    return;
  ebi_free_slow(p, s, call);
}

/* free_sized and C++ sized delete: the free, plus one compare of the size
 * given against the block's (a mismatch is reported, the block freed). */
static inline void ebi_free_sized_inline(void *p, size_t n, const char *call) {
  const ebi_slab_t *s = ebi_segmap_lookup(p);
  if (EBI_LIKELY(s != NULL && n <= s->pool->object_size && ebi_free_fast(s, p)))
    return;
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

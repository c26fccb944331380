/* SPDX-License-Identifier: MIT */
/** @file ebra/pool_inline.h
 * @brief pool alloc and free that an application inlines.
 *
 *   void *ebra_pool_alloc_inline(ebra_pool_t *pool);
 *   int   ebra_pool_free_inline(ebra_pool_t *pool, void *p);
 *
 * Same contract, same results and the same checks as ebra_pool_alloc and
 * ebra_pool_free (pool.h): they do the common case (the calling thread's
 * cache can serve, the pointer passes every default check) in the caller,
 * and call the exported function for everything else, which then decides,
 * reports and returns as it always does.  No liburcu or ck code is
 * involved.
 *
 * What they read is the library's private layout: the calling thread's
 * state through an initial-exec TLS pointer, the pool's inline thread slot,
 * the cache held in that slot (the cached stack pointers of the loaded
 * magazine and the owner's counters), and, on free, the
 * segment map and the slab header.  The offsets below are checked against
 * the library's structs when the library is compiled (src/pool.c), and the
 * two symbols carry the layout's number (layout 1 had no busy flag, layout
 * 2 counted it, layout 3 reached the cache through a pointer in the
 * slot and the slab through a two-level map, layout 4 had no held-ever
 * flag in the carve word): an application built against one
 * layout fails to link (or to load) against a library with another, never
 * misreads it.  Rebuild the application when the layout number changes
 * (CHANGELOG.md says when).
 *
 * Costs and limits: docs/DESIGN.md, "Inline fast paths".  A program that
 * loads libebra with dlopen cannot use them (initial-exec TLS), nor can a
 * compiler without GNU C extensions: then they are plain calls.
 */
#ifndef EBRA_POOL_INLINE_H
#define EBRA_POOL_INLINE_H

#include <stdint.h>

#include "ebra/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the private layout (layout 6) --------------------------------------- */
#define EBRA__LAYOUT 6
#define EBRA__TLS ebra__tls_L6
#define EBRA__SEGMAP ebra__segmap_L6

/* The calling thread's ebra state: its thread struct, and what the
 * idle-cache handshake reads (DESIGN.md "Taking an idle thread's cache"):
 * busy, 1 while the thread is inside a pool operation's fast path, and
 * nested, the slow paths' depth. */
typedef struct ebra__tls_s {
  void *thread;
  unsigned busy;
  unsigned nested;
} ebra__tls_t;

/* struct ebra_pool_s */
#define EBRA__POOL_SERIAL 64   /* uint64_t: the pool's serial */
#define EBRA__POOL_TSLOT 80    /* uint32_t: offset of its slot in the thread state */
#define EBRA__POOL_COOKIE 104  /* uint64_t: free marker = p ^ cookie; these three
                                  share the pool's second cache line */
/* a pool's thread slot */
#define EBRA__SLOT_SERIAL 0    /* uint64_t: matches the pool's serial */
#define EBRA__SLOT_TC 16       /* the thread's cache for the pool, in place */
/* a thread cache */
#define EBRA__TC_TOP 0         /* void **: top of the loaded magazine */
#define EBRA__TC_BASE 8        /* void **: its bottom */
#define EBRA__TC_LIMIT 16      /* void **: its end */
#define EBRA__TC_ALLOCS 24     /* uint64_t: owner's alloc counter */
#define EBRA__TC_FREES 32      /* uint64_t: owner's free counter */
/* the segment map: one entry per 1 MiB granule, a flat table */
#define EBRA__GRANULE_SHIFT 20
#define EBRA__SEGMAP_MASK 0    /* uintptr_t: granule mask (0 before the table) */
#define EBRA__SEGMAP_TABLE 8   /* void **: the table */
/* a slab header */
#define EBRA__SLAB_POOL 8      /* ebra_pool_t *: owner */
#define EBRA__SLAB_FIRST 16    /* char *: first slot */
#define EBRA__SLAB_INV 32      /* uint64_t: inverse of the stride's odd part */
#define EBRA__SLAB_TZ 40       /* uint32_t: the stride's trailing zero bits */
#define EBRA__SLAB_CARVE 48    /* uint64_t: carved slots in bits 0..31 */
#define EBRA__SLAB_HELD_EVER (1ull << 33) /* in it: some slot was held */
#define EBRA__SLAB_HELD 128    /* uint64_t[]: held bits, after the header */

#if defined(__GNUC__)
EBRA_API extern __thread ebra__tls_t EBRA__TLS __attribute__((tls_model("initial-exec")));

/* Enter and leave a pool operation: the owner's side of the handshake
 * (ebi_pool_op_enter in the library).  Plain stores of 1 and 0, not a
 * count: a read-modify-write would chain every operation to the last one
 * through store forwarding, several cycles each.  Ordered against the
 * slot lookup by the compiler only; the drainer's membarrier orders them
 * for the CPU.  A slow path, which may call out (a report hook that
 * allocates), counts `nested` as well, so an inner operation's store of 0
 * does not uncover the outer one. */
static inline void ebra__op_enter(void) {
#if defined(__SANITIZE_THREAD__)
  __atomic_store_n(&EBRA__TLS.busy, 1u, __ATOMIC_SEQ_CST);
#else
  __atomic_store_n(&EBRA__TLS.busy, 1u, __ATOMIC_RELAXED);
  __asm__ volatile("" ::: "memory");
#endif
}

static inline void ebra__op_leave(void) {
#if defined(__SANITIZE_THREAD__)
  __atomic_store_n(&EBRA__TLS.busy, 0u, __ATOMIC_RELEASE);
#else
  __asm__ volatile("" ::: "memory");
  __atomic_store_n(&EBRA__TLS.busy, 0u, __ATOMIC_RELAXED);
#endif
}
#endif

#if defined(__GNUC__) && !defined(EBRA_BUILDING_LIBRARY) && !defined(EBRA_NO_INLINE)
#define EBRA__INLINE_OK 1

/* ebi_segmap_t in the library; EBRA__SEGMAP_MASK and _TABLE are checked
 * against it there. */
typedef struct ebra__segmap_s {
  uintptr_t mask;
  void **table;
} ebra__segmap_t;
EBRA_API extern ebra__segmap_t EBRA__SEGMAP;

#define EBRA__AT(base, off, type) (*(type *)((char *)(base) + (off)))

static inline uint64_t ebra__load_relaxed_u64(const void *base, unsigned off) {
  return __atomic_load_n((const uint64_t *)((const char *)base + off), __ATOMIC_RELAXED);
}

/* The owner's counter add (the library's ebi_counter_add_owner). */
static inline void ebra__counter_inc(void *base, unsigned off) {
  uint64_t *c = (uint64_t *)((char *)base + off);
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
  __asm__("addq $1, %0" : "+m"(*c));
#else
  __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
#endif
}

/* The calling thread's cache for pool, or NULL.  Inside an operation. */
static inline void *ebra__tcache_of(const ebra_pool_t *pool) {
  char *slot = (char *)EBRA__TLS.thread + EBRA__AT(pool, EBRA__POOL_TSLOT, uint32_t);
  if (__builtin_expect(__atomic_load_n((const uint64_t *)(slot + EBRA__SLOT_SERIAL),
#if defined(__SANITIZE_THREAD__)
                                       __ATOMIC_SEQ_CST
#else
                                       __ATOMIC_RELAXED
#endif
                                       ) == EBRA__AT(pool, EBRA__POOL_SERIAL, uint64_t),
                       1))
    return slot + EBRA__SLOT_TC;
  return (void *)0;
}

/* The slab header that covers p, or NULL (ebi_segmap_lookup: the mask
 * first, then the table it covers). */
static inline const char *ebra__slab_of(const void *p) {
  const uintptr_t g =
      ((uintptr_t)p >> EBRA__GRANULE_SHIFT) & __atomic_load_n(&EBRA__SEGMAP.mask, __ATOMIC_ACQUIRE);
  void *const *table = __atomic_load_n(&EBRA__SEGMAP.table, __ATOMIC_ACQUIRE);
  return (const char *)__atomic_load_n(&table[g], __ATOMIC_ACQUIRE);
}

/* The default checks of a user's free (ebi_object_user_free); on success
 * *marker is p's free marker, which the free stores. */
static inline int ebra__user_free_ok(const ebra_pool_t *pool, const char *s, const void *p,
                                     uint64_t *marker) {
  if (s == (const char *)0 || EBRA__AT(s, EBRA__SLAB_POOL, const ebra_pool_t *) != pool)
    return 0;
  const uint64_t x = ((uint64_t)((uintptr_t)p - (uintptr_t)EBRA__AT(s, EBRA__SLAB_FIRST, char *))) *
                     EBRA__AT(s, EBRA__SLAB_INV, uint64_t);
  const unsigned r = EBRA__AT(s, EBRA__SLAB_TZ, uint32_t);
  const uint64_t i = r ? (x >> r) | (x << (64 - r)) : x;
  const uint64_t w = ebra__load_relaxed_u64(s, EBRA__SLAB_CARVE);
  if (i >= (w & 0xffffffffu))
    return 0;
  *marker = (uint64_t)(uintptr_t)p ^ EBRA__AT(pool, EBRA__POOL_COOKIE, uint64_t);
  if (*(const uint64_t *)p == *marker)
    return 0;
  return !(w & EBRA__SLAB_HELD_EVER) ||
         !((ebra__load_relaxed_u64(s, (unsigned)(EBRA__SLAB_HELD + (i / 64) * 8)) >> (i % 64)) & 1);
}

/** ebra_pool_alloc with its common case compiled into the caller.  Returns
 * what ebra_pool_alloc returns: the object, or NULL with errno set. */
static inline void *ebra_pool_alloc_inline(ebra_pool_t *pool) {
  if (__builtin_expect(pool != (ebra_pool_t *)0, 1)) {
    ebra__op_enter();
    char *tc = (char *)ebra__tcache_of(pool);
    if (__builtin_expect(tc != (char *)0, 1)) {
      void **top = EBRA__AT(tc, EBRA__TC_TOP, void **);
      if (__builtin_expect(top != EBRA__AT(tc, EBRA__TC_BASE, void **), 1)) {
        void *p = *--top;
        EBRA__AT(tc, EBRA__TC_TOP, void **) = top;
        ebra__counter_inc(tc, EBRA__TC_ALLOCS);
        ebra__op_leave();
        *(uint64_t *)p = 0; /* clears the free marker */
        return p;
      }
    }
    ebra__op_leave();
  }
  return ebra_pool_alloc(pool);
}

/** ebra_pool_free with its common case compiled into the caller.  Returns
 * what ebra_pool_free returns: 0 or a negative errno, with its report. */
static inline int ebra_pool_free_inline(ebra_pool_t *pool, void *p) {
  uint64_t marker;
  if (__builtin_expect(ebra__user_free_ok(pool, ebra__slab_of(p), p, &marker), 1)) {
    ebra__op_enter();
    char *tc = (char *)ebra__tcache_of(pool);
    if (__builtin_expect(tc != (char *)0, 1)) {
      void **top = EBRA__AT(tc, EBRA__TC_TOP, void **);
      if (__builtin_expect(top != EBRA__AT(tc, EBRA__TC_LIMIT, void **), 1)) {
        *(uint64_t *)p = marker;
        *top = p;
        EBRA__AT(tc, EBRA__TC_TOP, void **) = top + 1;
        ebra__counter_inc(tc, EBRA__TC_FREES);
        ebra__op_leave();
        return 0;
      }
    }
    ebra__op_leave();
  }
  return ebra_pool_free(pool, p);
}

#else /* no GNU C, or inside the library: plain calls */
static inline void *ebra_pool_alloc_inline(ebra_pool_t *pool) { return ebra_pool_alloc(pool); }
static inline int ebra_pool_free_inline(ebra_pool_t *pool, void *p) {
  return ebra_pool_free(pool, p);
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* EBRA_POOL_INLINE_H */

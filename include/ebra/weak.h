/* SPDX-License-Identifier: MIT */
/** @file ebra/weak.h
 * @brief weak handles over pool objects, resolved through an
 * RCU-protected handle table.
 *
 * A handle is a 64-bit value: table tag (8 bits), slot generation (28
 * bits), slot index (28 bits).  0 is never a handle.
 *
 *  - ebra_weak_create gives a pool object a handle and one strong
 *    reference, held by the caller.
 *  - ebra_weak_get resolves a handle inside a read section of the table's
 *    domain: wait-free, no shared write.  The object stays valid until the
 *    section ends; it is NULL once the object died.
 *  - ebra_weak_upgrade takes a counted strong reference (or -ENOENT).
 *  - ebra_weak_release drops one strong reference; ebra_weak_kill
 *    invalidates every handle at once and drops the caller's reference.
 *    When the object is dead (killed, or its last strong reference dropped)
 *    and no strong reference remains, it is retired: after a grace period
 *    its cleanups run, exactly once each, on the reclaimer thread, and it
 *    returns to its pool.
 *  - Generations never lie: a slot whose generation would wrap is retired
 *    for good; a handle never issued, stale, or of another table resolves
 *    to NULL.
 */
#ifndef EBRA_WEAK_H
#define EBRA_WEAK_H

#include <stdint.h>

#include "ebra/export.h"
#include "ebra/reclaim.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A weak handle: table tag, slot generation and slot index. */
typedef uint64_t ebra_weak_t;
/** A table of weak handles (opaque). */
typedef struct ebra_weak_table_s ebra_weak_table_t;

/** Never a handle: what failed calls leave in their out-parameter. */
#define EBRA_WEAK_NONE ((ebra_weak_t)0)

/** Options for a table (all optional: a NULL config is all defaults).
 * max_generation bounds how many times one slot is reused before it is
 * retired for good (0 = 2^28 - 1, the most a handle encodes); small values
 * let tests exercise slot retirement.  name is copied (NULL = "weak table"). */
typedef struct ebra_weak_table_config_s {
  const char *name;        /**< copied; NULL = "weak table" */
  uint32_t max_generation; /**< reuses of a slot before it is retired; 0 = 2^28 - 1 */
} ebra_weak_table_config_t;

/** Create a table of handles whose objects are reclaimed through domain d.
 * At most 255 tables exist at once; each handle takes 32 bytes of table.
 * The process's first table also maps 4 GiB of read-only address space,
 * never written (no RAM), that resolves read where a table has no slots.
 * Returns the table, or NULL with errno EINVAL (NULL domain, bad config),
 * EBADF (destroyed domain), EMFILE (255 tables) or ENOMEM (also when that
 * mapping is refused, e.g. by RLIMIT_AS; reported). */
EBRA_API ebra_weak_table_t *ebra_weak_table_create(ebra_domain_t *d,
                                                   const ebra_weak_table_config_t *cfg);

/** Destroy a table.  Returns 0, or -EBUSY while any of its objects is alive or awaits
 * reclamation (call ebra_domain_barrier after the last kill).
 *
 * Every call on a table returns -EINVAL for a NULL table and -EBADF for a
 * destroyed one, a second destroy included; each is also reported
 * (EBRA_ERR_BAD_CALL, EBRA_ERR_USE_AFTER_DESTROY).  The comments below name
 * the other errors. */
EBRA_API int ebra_weak_table_destroy(ebra_weak_table_t *t);

/** Give obj (from an ebra pool, live) a handle in *out; the caller holds the
 * one strong reference.  Returns 0, or -EFAULT (not a pool object), -EINVAL (not the
 * start of an object, or out NULL), -EALREADY (a free object, or one
 * already retired or given a handle) or -ENOMEM (table full or out of
 * memory); *out is EBRA_WEAK_NONE on failure. */
EBRA_API int ebra_weak_create(ebra_weak_table_t *t, void *obj, ebra_weak_t *out);

/** A read-side resolve (ebra/error.h): returns the object, or NULL if it died or the
 * handle is not valid here.  Call inside ebra_read_lock(domain).
 * Wait-free; writes no shared memory.  A NULL or destroyed table also gives
 * NULL, and a report. */
EBRA_API void *ebra_weak_get(const ebra_weak_table_t *t, ebra_weak_t h);

/** A lookup: a new strong reference to the object in *out and 0, or -ENOENT
 * if it died or h is not a live handle of t (*out = NULL).  Any context;
 * lock-free. */
EBRA_API int ebra_weak_upgrade(ebra_weak_table_t *t, ebra_weak_t h, void **out);

/** Drop one strong reference.  The last one kills the object.  Returns 0,
 * or -ESTALE if h is no handle of t's with a strong reference left. */
EBRA_API int ebra_weak_release(ebra_weak_table_t *t, ebra_weak_t h);

/** Kill now: every handle to the object resolves to NULL from here on, and
 * the caller's strong reference is dropped; other strong holders keep the
 * memory until they release.  Returns 0, or -ESTALE if already dead or not
 * a handle. */
EBRA_API int ebra_weak_kill(ebra_weak_table_t *t, ebra_weak_t h);

/** A cleanup: arg as registered, h the dead object's handle. */
typedef void ebra_cleanup_fn(void *arg, ebra_weak_t h);
/** Register fn(arg, h) to run once after the object is dead and no reader
 * can reach it, on the domain's reclaimer thread, before the object
 * returns to its pool (cleanups run in the order they were added).  Any
 * context; lock-free.  Returns 0, -ESTALE if the object is already dead,
 * -EINVAL with a report (NULL fn) or -ENOMEM. */
EBRA_API int ebra_weak_add_cleanup(ebra_weak_table_t *t, ebra_weak_t h, ebra_cleanup_fn *fn,
                                   void *arg);

/** A table's counters (ebra_weak_table_stats). */
typedef struct ebra_weak_stats_s {
  uint64_t live;          /**< objects alive, or dead but not yet reclaimed
                             (what ebra_weak_table_destroy waits for) */
  uint64_t slots;         /**< slots allocated (table size) */
  uint64_t retired_slots; /**< slots retired for good (generation wrap) */
  uint64_t created;       /**< handles created */
  uint64_t killed;        /**< handles killed (ebra_weak_kill) */
  uint64_t cleanups_run;  /**< cleanups run */
} ebra_weak_stats_t;

/** Fill *out with t's counters: relaxed loads, no lock; each exact, not
 * one instant together.  Returns 0, -EINVAL with a report (NULL out) or
 * -EBADF. */
EBRA_API int ebra_weak_table_stats(ebra_weak_table_t *t, ebra_weak_stats_t *out);

/* ---- Inline resolve ---------------------------------------------------------
 * ebra_weak_get_inline is ebra_weak_get compiled into the caller (same
 * contract; ebra/reclaim.h, "Inline read sections", says how the inline
 * paths are built and how EBRA_INLINE switches the plain name to them).  It
 * is eleven instructions on x86-64 (docs/DESIGN.md counts them): the
 * table's NULL test, the slot's segment, then one compare of the slot's
 * key with the handle (tag, generation, index and liveness at once) and
 * the object's load.  A segment that does not exist, and every segment of
 * a destroyed table, reads as zeros (a read-only region of address space
 * that no handle matches; a destroyed table's first segment reads keys of
 * 1, which EBRA_WEAK_NONE does not match either), so the same compare
 * fails for them; such a key (no slot there) and a NULL table take the
 * exported function, which reports what is misuse.  Under ThreadSanitizer
 * it is the exported function, which notes the object for the sanitizer
 * (docs/DESIGN.md).
 *
 * ebra__* / EBRA__* is ebra's private layout, not API: the table's
 * segment bases at a fixed offset from the table, the slot's stride and
 * first 16 bytes.  Its miss function carries the layout number (_W2), so
 * an application built against one layout fails to link or load against a
 * libebra with another. */

#if defined(__GNUC__)
#define EBRA__WEAK_LAYOUT 2
#define EBRA__WEAK_MISS ebra__weak_miss_W2
#define EBRA__WEAK_HEAD_OFFSET 128 /* bytes from the table's start */
#define EBRA__WEAK_NSEG 23
#define EBRA__WEAK_SEG_BASE 64u    /* segment k: SEG_BASE << k slots */
#define EBRA__WEAK_SEG_SHIFT 6u    /* log2(EBRA__WEAK_SEG_BASE) */
#define EBRA__WEAK_IDX_MASK 0x0fffffffu
#define EBRA__WEAK_SLOT_SHIFT 5u   /* a slot is 1 << 5 = 32 bytes */
#define EBRA__WEAK_KEY_MISS 1u     /* keys 0 and 1 belong to no slot */

typedef struct ebra__weak_head_s {
  /* base[k]: the address of segment k minus the bytes of the slots before
   * it, so slot idx is at base[k] + (idx << SLOT_SHIFT).  Never 0: while k
   * is absent (and after destroy) it is the same sum into ebra's zero
   * region, whose keys are 0.  Loaded with acquire (paired with the
   * segment's publication). */
  uintptr_t base[EBRA__WEAK_NSEG];
} ebra__weak_head_t;

typedef struct ebra__weak_slot_s {
  uint64_t key; /* == the handle while its object is alive, never 0 in a
                   segment; acquire */
  void *obj;    /* the object; ordered by the key's acquire */
} ebra__weak_slot_t;

#if defined(__SANITIZE_THREAD__)
#define EBRA__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EBRA__TSAN 1
#endif
#endif

typedef void *ebra__weak_miss_fn(const ebra_weak_table_t *t, ebra_weak_t h);

/* ebra_weak_get under the layout's name: the inline resolve's miss path. */
EBRA_API void *EBRA__WEAK_MISS(const ebra_weak_table_t *t, ebra_weak_t h);

/* The one body of ebra_weak_get, inline and exported. */
static inline __attribute__((always_inline)) void *
ebra__weak_get(const ebra_weak_table_t *t, ebra_weak_t h, ebra__weak_miss_fn *miss) {
  if (__builtin_expect(t == NULL, 0))
    return miss(t, h);
  const ebra__weak_head_t *hd =
      (const ebra__weak_head_t *)(const void *)((const char *)t + EBRA__WEAK_HEAD_OFFSET);
  const uint64_t idx = h & EBRA__WEAK_IDX_MASK;
  /* segment k = floor(log2(idx / SEG_BASE + 1)) = floor(log2(idx +
   * SEG_BASE)) - SEG_SHIFT: one bsr of a 64-bit word (never 0), no
   * division and no sign extension; the - SEG_SHIFT folds into the base
   * load's displacement.  On x86-64 the bsr is written out, because gcc
   * and clang each turn 63 - clzll into extra instructions there. */
  uint64_t log2;
#if defined(__x86_64__)
  __asm__("bsrq %1, %0" : "=r"(log2) : "r"(idx + EBRA__WEAK_SEG_BASE));
#else
  log2 = 63u - (uint64_t)__builtin_clzll(idx + EBRA__WEAK_SEG_BASE);
#endif
  const uintptr_t *basep = (const uintptr_t *)(const void *)((uintptr_t)hd->base +
      log2 * sizeof(uintptr_t) - EBRA__WEAK_SEG_SHIFT * sizeof(uintptr_t));
  const uintptr_t base = __atomic_load_n(basep, __ATOMIC_ACQUIRE);
  const uintptr_t off = (uintptr_t)idx << EBRA__WEAK_SLOT_SHIFT; /* the slot: base + off */
#if defined(__x86_64__) && !defined(EBRA__TSAN)
  /* The key's compare reads it from memory and jumps on a mismatch: the
   * same load as the acquire below, in asm because neither gcc nor clang
   * folds an atomic load into a compare.  x86-64 keeps a load after an
   * earlier load, so the object is read after the key, as the acquire
   * orders it; the "memory" clobber keeps the object's load and the
   * caller's later accesses after it, as an acquire does.  ThreadSanitizer
   * cannot see inside asm: under it the C below. */
  __asm__ goto("cmpq %[h], (%[b],%[o])\n\t"
               "jne %l[mismatch]"
               : /* no outputs */
               : [h] "r"(h), [b] "r"(base), [o] "r"(off)
               : "cc", "memory"
               : mismatch);
  /* Named base + off, not through a slot pointer, so that the compilers
   * index both loads instead of adding base and off first. */
  return __atomic_load_n((void *const *)(base + off + sizeof(uint64_t)), __ATOMIC_RELAXED);
mismatch:;
  uint64_t key; /* the cold path: the key again */
  __asm__("movq (%[b],%[o]), %[k]" : [k] "=r"(key) : [b] "r"(base), [o] "r"(off) : "memory");
#else
  const ebra__weak_slot_t *s = (const ebra__weak_slot_t *)(base + off);
  const uint64_t key = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
  if (__builtin_expect(key == h, 1))
    return __atomic_load_n(&s->obj, __ATOMIC_RELAXED);
#endif
  /* Dead, stale or another table's handle: NULL here.  A key of at most
   * EBRA__WEAK_KEY_MISS is no slot (an absent segment, a destroyed table):
   * the miss path. */
  return key <= EBRA__WEAK_KEY_MISS ? miss(t, h) : NULL;
}

#endif /* __GNUC__ */

#if defined(__GNUC__) && !defined(EBRA_NO_INLINE) && !defined(EBRA__TSAN)
/** ebra_weak_get compiled into the caller: same contract and reports (see
 * "Inline resolve" above).  Returns the object, or NULL if it died or the
 * handle is not valid here. */
static inline __attribute__((always_inline)) void *ebra_weak_get_inline(const ebra_weak_table_t *t,
                                                                       ebra_weak_t h) {
  return ebra__weak_get(t, h, EBRA__WEAK_MISS);
}
#else
static inline void *ebra_weak_get_inline(const ebra_weak_table_t *t, ebra_weak_t h) {
  return ebra_weak_get(t, h);
}
#endif

#if defined(EBRA_INLINE) && EBRA_INLINE
#define ebra_weak_get(t, h) ebra_weak_get_inline(t, h)
#endif

#ifdef __cplusplus
}
#endif
#endif /* EBRA_WEAK_H */

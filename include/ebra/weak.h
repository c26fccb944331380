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
 * At most 255 tables exist at once.  Returns the table, or NULL with errno EINVAL (NULL domain, bad
 * config), EBADF (destroyed domain), EMFILE (255 tables) or ENOMEM. */
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

#ifdef __cplusplus
}
#endif
#endif /* EBRA_WEAK_H */

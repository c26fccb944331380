/* SPDX-License-Identifier: MIT */
/** @file ebra/pool.h
 * @brief typed fixed-size object pools.
 *
 * A pool hands out objects of one size and alignment.  Each thread keeps a
 * per-pool cache of two magazines (Bonwick, "Magazines and Vmem", 2001) over
 * a lock-free global depot, over slabs mapped from the OS.  See
 * docs/DESIGN.md for the algorithm, its invariants and progress guarantees.
 *
 * Calling context, in short:
 *  - ebra_pool_alloc / ebra_pool_free / ebra_pool_of: any thread, any time
 *    while the pool exists.  An object may be freed by a thread other than
 *    the one that allocated it.
 *  - ebra_pool_destroy must not run concurrently with any other call on the
 *    same pool.  Calls made *after* destroy are detected and fail with EBADF.
 *  - ebra_pool_audit must run while no thread is using the pool.
 */
#ifndef EBRA_POOL_H
#define EBRA_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "ebra/error.h"
#include "ebra/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A pool of fixed-size objects (opaque). */
typedef struct ebra_pool_s ebra_pool_t;

/* Limits of a pool config. */
#define EBRA_MAX_OBJECT_SIZE   ((size_t)1 << 20) /**< the largest object_size: 1 MiB */
#define EBRA_MIN_ALIGNMENT     ((size_t)8)       /**< the smallest alignment (0 means it) */
#define EBRA_MAX_ALIGNMENT     ((size_t)4096)    /**< the largest alignment */
#define EBRA_MAX_MAGAZINE_CAPACITY 4096u         /**< the most rounds per magazine */
#define EBRA_POOL_NAME_MAX     48 /**< bytes kept of the name, with its NUL */

/* Pool flags. */
#define EBRA_POOL_SECURE_CLEAR 0x1u /**< zero every object on free; alloc then
                                       always returns zeroed memory */
#define EBRA_POOL_STRICT_CHECKS 0x2u /**< the strict check level (README, "What
                                        free checks"): also refuse a double
                                        free after the freed object was
                                        written, and one of two frees of the
                                        same object racing on two threads;
                                        an atomic RMW on alloc and on free.
                                        The option EBRA_STRICT sets it for
                                        every pool. */

/** Options of ebra_pool_create. */
typedef struct ebra_pool_config_s {
  const char *name;          /**< for stats and reports; copied; NULL = "pool" */
  size_t object_size;        /**< 1 .. EBRA_MAX_OBJECT_SIZE bytes */
  size_t alignment;          /**< 0 (means 8) or a power of two, 8 .. 4096 */
  size_t prealloc;           /**< objects carved from the OS at create (<= cap) */
  size_t max_objects;        /**< hard cap on objects in existence; 0 = none */
  unsigned flags;            /**< EBRA_POOL_* */
  unsigned magazine_capacity; /**< rounds per magazine; 0 = start at the
                                option EBRA_MAGAZINE_SIZE (default 64) and
                                let depot traffic grow it, up to 8 x (at
                                most 256 KiB of objects); non-zero pins it
                                (only high-throughput grows a pinned
                                capacity, up to 4 x; memory-efficient
                                shrinks any pool's to 1/4) */
} ebra_pool_config_t;

/** Create a pool.  Returns NULL with errno EINVAL for a bad config (and a
 * report naming the field), or ENOMEM if preallocation failed. */
EBRA_API ebra_pool_t *ebra_pool_create(const ebra_pool_config_t *cfg);

/** Destroy a pool and return all of its memory to the OS: slabs, magazines
 * and the caches of every thread, including threads that are still running.
 * Objects still live are released with it (their memory is unmapped); a
 * report lists how many were live.  The handle stays a valid tombstone, so
 * any later call with it fails with EBADF instead of touching freed memory.
 * Returns 0, or -EBADF if the pool was already destroyed.
 * Must not run concurrently with other calls on the same pool. */
EBRA_API int ebra_pool_destroy(ebra_pool_t *pool);

/** Allocate one object, aligned as configured.  Returns NULL with errno
 * ENOMEM if the cap is reached or the OS refuses memory (the pool stays
 * usable), or EBADF on a destroyed pool.  Fast path: thread-local only. */
EBRA_API void *ebra_pool_alloc(ebra_pool_t *pool);

/** Free an object to the calling thread's cache.  Returns 0, or a negative
 * errno with a report, and leaves the pool untouched:
 *   -EFAULT    p is not memory of any ebra pool        (every build)
 *   -EXDEV     p belongs to another pool               (every build)
 *   -EINVAL    p is inside an object, not at its start,
 *              or was never handed out                 (every build)
 *   -EALREADY  p is already free                       (see DESIGN.md:
 *              exact with EBRA_DEBUG_CHECKS, a free-marker check otherwise),
 *              or p was retired or has a weak handle    (every build): the
 *              reclamation layer frees it after a grace period
 *   -EBADF     the pool was destroyed
 * ebra_pool_free(pool, NULL) is a no-op returning 0, even on a destroyed pool. */
EBRA_API int ebra_pool_free(ebra_pool_t *pool, void *p);

/** Returns the pool that owns p, or NULL if p is not a pool object (no
 * report).  Any thread; lock-free. */
EBRA_API ebra_pool_t *ebra_pool_of(const void *p);

/** Return the calling thread's cached objects of this pool to the depot, so
 * other threads can use them (the thread's cache stays attached).
 * Returns 0 or -EBADF. */
EBRA_API int ebra_pool_thread_flush(ebra_pool_t *pool);

/** Release all of ebra's state of the calling thread, as its exit would:
 * its pool caches go back to the depots, and it leaves every domain it is
 * registered with (closing its retire batches).  Call it early from a
 * thread that will not use ebra for a long time; it may use ebra again
 * later.  Not inside a read section (reported, and the section is ended).
 * Cannot fail. */
EBRA_API void ebra_thread_exit(void);

/** Returns the pool's name as configured (truncated); NULL (with a report)
 * for a NULL or destroyed pool. */
EBRA_API const char *ebra_pool_name(const ebra_pool_t *pool);
/** Returns the pool's object size; 0 (with a report) for a NULL or
 * destroyed pool. */
EBRA_API size_t ebra_pool_object_size(const ebra_pool_t *pool);

/* ---- statistics --------------------------------------------------------- */

/** A pool's counters (ebra_pool_stats).  Counters are kept per thread and
 * summed on demand: alloc and free make no shared write.  Stats taken
 * while other threads run are a consistent sum of counters each read
 * atomically, not an instant of the whole pool. */
typedef struct ebra_pool_stats_s {
  uint64_t allocs;            /**< successful allocations */
  uint64_t frees;             /**< successful frees */
  uint64_t magazine_hits;     /**< allocs+frees served by the thread's magazines */
  uint64_t magazine_misses;   /**< allocs+frees that went to the depot or slabs */
  uint64_t depot_exchanges;   /**< magazines taken from or given to the depot */
  uint64_t depot_contention;  /**< depot CAS attempts that lost a race */
  uint64_t slabs;             /**< slabs currently mapped */
  uint64_t bytes_reserved;    /**< bytes mapped from the OS for slabs */
  uint64_t bytes_live;        /**< objects_live * object_size */
  uint64_t objects_live;      /**< handed out and not yet freed */
  uint64_t objects_carved;    /**< objects ever cut from slabs (<= cap) */
  uint64_t depot_full;        /**< non-empty magazines in the depot now */
  uint64_t depot_empty;       /**< empty magazines in the depot now */
  uint64_t errors;            /**< misuse detected on this pool */
  uint32_t threads;           /**< threads with a cache attached */
  uint32_t magazine_capacity; /**< current rounds per magazine */
  size_t object_size;         /**< as configured */
  size_t stride;              /**< bytes per object slot in a slab */
  uint64_t objects_in_slabs;  /**< free objects trimmed back to their slabs
                                 (by the strategy engine, ebra_maintain) */
  uint64_t bytes_purged;      /**< bytes of whole slabs given back to the OS
                                 (madvise); still mapped, reused before new
                                 mappings (a current slab's free tail, given
                                 back in place, is not counted here) */
  uint64_t slabs_purged;      /**< purges, ever: whole slabs, and free tails
                                 of the current slab (pages only) */
  uint64_t magazines_trimmed; /**< full magazines trimmed from the depot, ever */
  uint64_t depot_parked;      /**< empty magazines of a resized-away capacity */
  uint64_t max_objects;       /**< the cap (0 = none) */
  uint64_t depot_objects;     /**< objects moved through the depot, in full
                                 magazines given or taken by thread caches */
  uint64_t bytes_magazines;   /**< heap bytes of the pool's magazines (all
                                 it made; freed with the pool) */
} ebra_pool_stats_t;

/** Fill *out with the pool's stats.  Any thread; takes the registry lock
 * briefly (alloc and free never wait for it).  Returns 0, or -EBADF
 * (destroyed) / -EINVAL (NULL pool or out), with a report. */
EBRA_API int ebra_pool_stats(const ebra_pool_t *pool, ebra_pool_stats_t *out);

/* ebra_pool_print_stats, the printed form of these, is in ebra/monitor.h. */

/* ---- audit (tests, debugging) -------------------------------------------- */

/** What ebra_pool_audit found. */
typedef struct ebra_pool_audit_s {
  uint64_t carved;      /**< objects ever cut from slabs */
  uint64_t cached;      /**< objects in magazines, depot and threads */
  uint64_t live;        /**< allocs - frees, from the counters */
  uint64_t duplicates;  /**< objects found in two magazine slots */
  uint64_t invalid;     /**< cached pointers that are not slots of the pool */
  uint64_t magazines;   /**< magazines the pool made */
  uint64_t lost_magazines; /**< ...that neither the depot nor a cache holds */
} ebra_pool_audit_t;

/** Walk every magazine reachable from the pool (the depot's stacks and
 * every attached thread cache) and the overflow list, and check that every
 * cached object is a valid slot of this pool, that no object is cached
 * twice, that no magazine the pool made is unreachable, and that
 * carved == cached + live; the findings go to *out.  The caller guarantees
 * no thread uses the pool meanwhile.  Returns 0 if consistent, -EUCLEAN
 * with a report if not, -ENOMEM if the audit's own bookkeeping could not
 * be allocated, -EBADF on a destroyed pool. */
EBRA_API int ebra_pool_audit(ebra_pool_t *pool, ebra_pool_audit_t *out);

#ifdef __cplusplus
}
#endif
#endif /* EBRA_POOL_H */

/* SPDX-License-Identifier: MIT */
/** @file ebra/cache.h
 * @brief a weak cache: a concurrent map from a key to a weak
 * handle, built on liburcu's lock-free hash table (cds_lfht).
 *
 * An entry never keeps its object alive.  When the object dies, its entry
 * is removed by a cleanup registered on the handle (no sweep).  Keys are
 * uint64 or byte strings, chosen at creation.
 *
 * Options: a maximum number of entries, evicted in approximate-LRU order
 * (CLOCK: a lookup sets the entry's referenced bit, the eviction hand
 * clears it or evicts); a time to live after which an entry is dropped
 * lazily by lookups and by ebra_cache_maintain; and on_evict, called
 * exactly once for every entry that leaves the cache, with the reason.
 *
 * Calling context:
 *  - ebra_cache_lookup*: inside ebra_read_lock(domain of the cache's weak
 *    table).  Lock-free; the object returned stays valid until the
 *    section ends.  It never returns a recycled object, nor an entry whose
 *    key was erased (or replaced) before the lookup began.
 *  - store, erase, maintain: any thread, inside or outside a section.
 *    Store takes the cache's eviction lock when max_entries is set (never
 *    a lookup); erase and maintain are lock-free.
 *  - on_evict may run on any thread: the one that erased, stored, looked
 *    up or maintained, or the domain's reclaimer thread (reason DIED),
 *    possibly inside a read section: it must not block for a grace period
 *    (no ebra_domain_barrier) and must not call ebra_cache_destroy.
 *  - ebra_cache_destroy: after every other call on the cache returned.
 *
 * The domain must use a liburcu backend (urcu-memb or urcu-qsbr): cds_lfht
 * is created with the domain's flavour so that ebra's read sections
 * protect its nodes.  A ck-epoch domain is refused (ENOTSUP).
 */
#ifndef EBRA_CACHE_H
#define EBRA_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "ebra/export.h"
#include "ebra/weak.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A weak cache (opaque). */
typedef struct ebra_cache_s ebra_cache_t;

/** The kind of key a cache takes, fixed at creation. */
typedef enum ebra_cache_key_kind_e {
  EBRA_CACHE_KEY_U64 = 0, /**< keys are uint64_t: the *_u64 calls */
  EBRA_CACHE_KEY_BYTES    /**< keys are byte strings (1..EBRA_CACHE_KEY_MAX) */
} ebra_cache_key_kind_t;

/** The longest byte-string key, in bytes. */
#define EBRA_CACHE_KEY_MAX 4096

/** Why an entry left the cache (the on_evict argument). */
typedef enum ebra_cache_reason_e {
  EBRA_CACHE_EVICTED = 1, /**< max_entries reached: the CLOCK hand chose it */
  EBRA_CACHE_EXPIRED,     /**< older than ttl_ns (lookup or maintain) */
  EBRA_CACHE_DIED,        /**< its object died (the handle's cleanup) */
  EBRA_CACHE_ERASED,      /**< ebra_cache_erase, or ebra_cache_destroy */
  EBRA_CACHE_REPLACED     /**< a store of the same key replaced it */
} ebra_cache_reason_t;

/** Called once per entry that leaves the cache.  key/key_len: the entry's
 * key (a uint64_t for U64 caches, len 8).  obj: the object if it is still
 * alive, else NULL; for DIED, the dead object, readable during the call
 * only (its memory returns to its pool afterwards). */
typedef void ebra_cache_evict_fn(void *arg, const void *key, size_t key_len, void *obj,
                                 ebra_cache_reason_t why);

/** Options of ebra_cache_create (a NULL config is all defaults). */
typedef struct ebra_cache_config_s {
  const char *name;               /**< copied; NULL = "cache" */
  ebra_cache_key_kind_t key_kind; /**< EBRA_CACHE_KEY_U64 (0) or _BYTES */
  size_t max_entries;             /**< 0 = unbounded */
  uint64_t ttl_ns;                /**< 0 = entries never expire */
  ebra_cache_evict_fn *on_evict;  /**< NULL = none */
  void *evict_arg;                /**< on_evict's first argument */
  size_t expected_entries;        /**< sizes the initial hash table (at least
                                     2 buckets per entry, up to 2^20);
                                     0 = max_entries, or 512 if unbounded.
                                     The table also grows by itself. */
} ebra_cache_config_t;

/** A cache of handles of table t (cfg NULL: uint64 keys, no bound, no ttl).
 * NULL with errno EINVAL (bad config or NULL table, reported), EBADF
 * (destroyed table), ENOTSUP (t's domain uses ck-epoch) or ENOMEM. */
EBRA_API ebra_cache_t *ebra_cache_create(ebra_weak_table_t *t, const ebra_cache_config_t *cfg);

/** Remove every entry (on_evict ERASED), then release the cache.  Entries
 * whose objects are still alive leave a few bytes each until those
 * objects die (their cleanups cannot be withdrawn).  Returns 0.
 *
 * Every call on a cache returns -EINVAL for a NULL cache (or a key of the
 * wrong kind, or a byte key that is empty or longer than
 * EBRA_CACHE_KEY_MAX) and -EBADF for a destroyed cache, a second destroy
 * included; each is also reported (EBRA_ERR_BAD_CALL,
 * EBRA_ERR_USE_AFTER_DESTROY).  The comments below name the other errors. */
EBRA_API int ebra_cache_destroy(ebra_cache_t *c);

/** Map key to h, replacing an older entry of the key (on_evict REPLACED).
 * Returns 0, -ESTALE (h's object is dead), -ENOMEM. */
EBRA_API int ebra_cache_store_u64(ebra_cache_t *c, uint64_t key, ebra_weak_t h);
/** ebra_cache_store_u64 for a byte-string key of key_len bytes
 * (1..EBRA_CACHE_KEY_MAX; the cache copies it).  Returns the same. */
EBRA_API int ebra_cache_store(ebra_cache_t *c, const void *key, size_t key_len, ebra_weak_t h);

/** A lookup (ebra/error.h): 0 and key's live object in *out, or -ENOENT for
 * a miss (*out = NULL).  Inside a read section.  out must not be NULL
 * (-EINVAL). */
EBRA_API int ebra_cache_lookup_u64(ebra_cache_t *c, uint64_t key, void **out);
/** ebra_cache_lookup_u64 for a byte-string key.  Returns the same. */
EBRA_API int ebra_cache_lookup(ebra_cache_t *c, const void *key, size_t key_len, void **out);

/** Remove key's entry.  Returns 0 (on_evict ERASED) or -ENOENT. */
EBRA_API int ebra_cache_erase_u64(ebra_cache_t *c, uint64_t key);
/** ebra_cache_erase_u64 for a byte-string key.  Returns the same. */
EBRA_API int ebra_cache_erase(ebra_cache_t *c, const void *key, size_t key_len);

/** Drop every expired entry now; how many goes to *removed (may be NULL).
 * Returns 0. */
EBRA_API int ebra_cache_maintain(ebra_cache_t *c, size_t *removed);

/** A cache's counters (ebra_cache_stats): relaxed loads, each exact. */
typedef struct ebra_cache_stats_s {
  uint64_t hits;          /**< lookups that returned a live object */
  uint64_t misses;        /**< lookups that returned nothing */
  uint64_t stores;        /**< entries stored */
  uint64_t evictions;     /**< removed by the CLOCK hand (max_entries) */
  uint64_t expirations;   /**< removed after their time to live */
  uint64_t deaths;        /**< removed because their object died */
  uint64_t erasures;      /**< removed by ebra_cache_erase */
  uint64_t replacements;  /**< replaced by a store of the same key */
  uint64_t size;          /**< entries now */
  uint64_t max_entries;   /**< 0 = unbounded */
} ebra_cache_stats_t;

/** Fill *out with c's counters; any thread, lock-free.  Returns 0, -EINVAL
 * (NULL c or out) or -EBADF (destroyed), with a report. */
EBRA_API int ebra_cache_stats(ebra_cache_t *c, ebra_cache_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* EBRA_CACHE_H */

/* SPDX-License-Identifier: MIT */
/** @file ebra/monitor.h
 * @brief snapshots of every pool and domain, and three ways to
 * print them: text for people, JSON for tools, Prometheus for scrapers.
 *
 * Calling context:
 *  - ebra_snapshot: any thread, any time, including while other threads
 *    allocate, free, retire, or create and destroy pools and domains.  It
 *    never stops a thread: it sums each pool's per-thread counters (read
 *    relaxed) under the registry lock, as ebra_pool_stats does, so each
 *    pool's numbers are a consistent sum of atomically read counters, not
 *    an instant of the whole process.  alloc/free never wait for it; thread
 *    attach/detach and pool/domain create/destroy wait for it briefly.
 *    A pool or domain destroyed concurrently is either in the snapshot
 *    (taken before its destroy) or not; destroyed ones never appear.
 *  - ebra_snapshot_print_*: any thread; they read only the snapshot and
 *    take no lock, so `out` may call into ebra (even take a snapshot).
 */
#ifndef EBRA_MONITOR_H
#define EBRA_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "ebra/engine.h"
#include "ebra/error.h"
#include "ebra/export.h"
#include "ebra/pool.h"
#include "ebra/reclaim.h"
#include "ebra/cache.h"
#include "ebra/observer.h"
#include "ebra/weak.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One pool in a snapshot. */
typedef struct ebra_snapshot_pool_s {
  uint32_t id;                   /**< unique among live pools; reused later */
  char name[EBRA_POOL_NAME_MAX]; /**< as configured (truncated), NUL-ended */
  ebra_pool_stats_t stats;       /**< what ebra_pool_stats returns */
} ebra_snapshot_pool_t;

/** One reclamation domain in a snapshot. */
typedef struct ebra_snapshot_domain_s {
  uint32_t id;                   /**< unique among live domains; reused later */
  char name[EBRA_POOL_NAME_MAX]; /**< as configured (truncated), NUL-ended */
  ebra_reclaim_backend_t backend; /**< the backend it runs on */
  const char *backend_name;      /**< ebra_reclaim_backend_name(backend) */
  ebra_domain_stats_t stats;     /**< what ebra_domain_stats returns */
} ebra_snapshot_domain_t;

/** One weak cache in a snapshot. */
typedef struct ebra_snapshot_cache_s {
  uint32_t id;                   /**< unique among live caches; reused later */
  char name[EBRA_POOL_NAME_MAX]; /**< as configured (truncated), NUL-ended */
  ebra_cache_stats_t stats;      /**< what ebra_cache_stats returns */
} ebra_snapshot_cache_t;

/** One weak table in a snapshot. */
typedef struct ebra_snapshot_weak_table_s {
  uint32_t id;                   /**< unique among live weak tables; reused later */
  char name[EBRA_POOL_NAME_MAX]; /**< as configured (truncated), NUL-ended */
  uint32_t domain_id;            /**< the id of its domain in domains[] */
  ebra_weak_stats_t stats;       /**< what ebra_weak_table_stats returns */
} ebra_snapshot_weak_table_t;

/** One weak-observer subject in a snapshot. */
typedef struct ebra_snapshot_subject_s {
  uint32_t id;                   /**< unique among live subjects; reused later */
  char name[EBRA_POOL_NAME_MAX]; /**< as configured (truncated), NUL-ended */
  ebra_subject_stats_t stats;    /**< what ebra_subject_stats returns */
} ebra_snapshot_subject_t;

/** Everything ebra_snapshot captured.  The arrays belong to the snapshot. */
typedef struct ebra_snapshot_s {
  uint64_t timestamp_ns;   /**< CLOCK_REALTIME when taken */
  uint64_t resident_bytes; /**< the OS's view: /proc/self/statm resident
                              pages * page size; 0 if it could not be read */
  uint64_t bytes_reserved; /**< slabs mapped by all pools (the sums here are
                              ebra's view, over the entries below) */
  uint64_t bytes_live;     /**< objects handed out, all pools */
  uint64_t pending_bytes;  /**< retired, awaiting a grace period, all domains */
  uint32_t npools;         /**< entries in pools */
  uint32_t ndomains;       /**< entries in domains */
  ebra_snapshot_pool_t *pools;     /**< npools entries, by id */
  ebra_snapshot_domain_t *domains; /**< ndomains entries, by id */
  uint32_t ncaches;        /**< entries in caches */
  ebra_snapshot_cache_t *caches;   /**< ncaches weak caches, by id */
  ebra_engine_stats_t engine;      /**< the strategy engine, as of its last
                                      step (ebra_engine_stats) */
  /* Fields below were added after 0.1; a snapshot is allocated by ebra, so
   * new fields only ever go at the end. */
  ebra_report_stats_t reports;     /**< reports delivered and suppressed per
                                      kind (ebra_report_stats) */
  uint32_t nweak_tables;   /**< entries in weak_tables */
  ebra_snapshot_weak_table_t *weak_tables; /**< nweak_tables, by id */
  uint32_t nsubjects;      /**< entries in subjects */
  ebra_snapshot_subject_t *subjects;       /**< nsubjects weak-observer
                                              subjects, by id */
} ebra_snapshot_t;

/** Take a snapshot of every live pool, domain, weak table, weak cache and
 * observer subject into a new *out (release
 * it with ebra_snapshot_free).  Returns 0, -EINVAL (out is NULL; with an
 * EBRA_ERR_BAD_CALL report) or -ENOMEM. */
EBRA_API int ebra_snapshot(ebra_snapshot_t **out);

/** Release a snapshot; NULL is a no-op. */
EBRA_API void ebra_snapshot_free(ebra_snapshot_t *snap);

/** Where the printers below write: called with NUL-ended pieces of text,
 * each valid only during the call. */
typedef void ebra_output_fn(const char *text, void *arg);

/** Print a snapshot through out(text, arg) (NULL = stdout), in pieces of
 * at most a few KiB; text is NUL-ended and valid only during the call.
 * Returns 0, or -EINVAL with an EBRA_ERR_BAD_CALL report if snap is NULL.
 * Every number of the stats structs is in all three formats, under the
 * same key in text and JSON.
 *
 *  - text: a human-readable report: a header line per pool, domain and
 *    cache (`pool "name" (id N):`, names quoted with C-style escapes), then
 *    its fields as `key value`; the engine last.
 *  - json: one JSON object (RFC 8259): global fields, "pools",
 *    "domains" and "caches" arrays; names are escaped, and bytes that are not UTF-8 (a
 *    name truncated inside a character) become U+FFFD.  Latencies in ns.
 *  - prometheus: the Prometheus text exposition format (version 0.0.4).
 *    Families ebra_pool_* carry labels pool="name",id="N", families
 *    ebra_domain_* carry domain, backend and id, ebra_weak_table_* carry
 *    weak_table, domain_id (its domain's id) and id, ebra_cache_* carry
 *    cache and id, ebra_subject_* subject and id (names need not be unique,
 *    ids are); counters end in _total, sizes are _bytes, latencies
 *    _seconds.  Grace-period and retire-to-reuse latencies are histograms
 *    (ebra_domain_grace_period_seconds, ebra_domain_reuse_seconds; buckets
 *    EBRA_LATENCY_BOUNDS_NS, every period since the domain was created), so
 *    they aggregate across domains and processes; the p50/p90/p99/max
 *    gauges beside them cover the last 1024 periods.  ebra_build_info{version,
 *    debug_checks, tsan, asan, urcu_inline} is 1; ebra_reports_total and
 *    ebra_reports_suppressed_total count reports by kind.
 *  The JSON adds "version", "build_features", "latency_bounds_ns", each
 *  domain's "gp_ns_hist"/"gp_ns_sum" and "reuse_ns_hist"/"reuse_ns_sum",
 *  and "reports"; the text adds a histogram line per domain, a "reports:"
 *  line (kinds seen) and a "build:" line.  The project's tests check all
 *  three with real parsers (json.loads, prometheus_client, promtool). */
EBRA_API int ebra_snapshot_print_text(const ebra_snapshot_t *snap, ebra_output_fn *out,
                                      void *arg);
/** Print snap as one JSON object through out (see ebra_snapshot_print_text
 * for the formats).  Any thread; takes no lock.  Returns 0, or -EINVAL with
 * an EBRA_ERR_BAD_CALL report if snap is NULL. */
EBRA_API int ebra_snapshot_print_json(const ebra_snapshot_t *snap, ebra_output_fn *out,
                                      void *arg);
/** Print snap in the Prometheus text exposition format through out (see
 * ebra_snapshot_print_text).  Any thread; takes no lock.  Returns 0, or
 * -EINVAL with an EBRA_ERR_BAD_CALL report if snap is NULL. */
EBRA_API int ebra_snapshot_print_prometheus(const ebra_snapshot_t *snap, ebra_output_fn *out,
                                            void *arg);

/** Print one pool's stats through out (NULL = stdout): the text printer's
 * block for that pool.  Returns 0, or -EBADF (destroyed) / -EINVAL (NULL
 * pool), as ebra_pool_stats. */
EBRA_API int ebra_pool_print_stats(const ebra_pool_t *pool, ebra_output_fn *out,
                                   void *arg);

#ifdef __cplusplus
}
#endif
#endif /* EBRA_MONITOR_H */

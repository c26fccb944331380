/* SPDX-License-Identifier: MIT */
/** @file ebra/engine.h
 * @brief the strategy engine: ebra tunes its own knobs from
 * measured rates, enforces memory limits, raises alerts and keeps a
 * history of samples.
 *
 * What it tunes (docs/DESIGN.md, "Strategy engine"):
 *  - the bounds of each pool's magazine capacity (the pool grows it on
 *    depot traffic itself; memory-efficient and soft-limit pressure shrink it);
 *  - depot trimming: full magazines beyond the working set go back to the
 *    slab layer, and wholly free slabs go back to the OS (madvise);
 *  - retire batch size and maximum batch age of every domain;
 *  - forced grace periods when memory is short.
 *
 * When it runs: each call of ebra_maintain() is one step (sample, decide,
 * apply, check alerts, record history).  A server calls it from its own
 * loop, or asks ebra_engine_init for a background thread that calls it
 * every interval.  Nothing is tuned until the first step; allocation fast
 * paths never run engine code.  A step can trim only what the depots hold:
 * objects cached by a thread stay with it until it flushes
 * (ebra_pool_thread_flush), exits, or (for the caller of a memory-efficient
 * step) the step flushes the caller's own caches.  Steps are serialised by one lock; they
 * take the registry lock while they apply knobs (thread attach and pool
 * create/destroy wait for them, alloc/free/retire never do).
 */
#ifndef EBRA_ENGINE_H
#define EBRA_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ebra/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How the engine sets the knobs (ebra_engine_init, ebra_engine_set_strategy,
 * EBRA_STRATEGY). */
typedef enum ebra_strategy_e {
  EBRA_STRATEGY_ADAPTIVE = 0,     /**< picks one of the three below, with
                                     hysteresis, from measured rates */
  EBRA_STRATEGY_LOW_LATENCY,      /**< small retire batches, short batch age:
                                     objects come back soon after retire;
                                     the depot keeps its working set */
  EBRA_STRATEGY_HIGH_THROUGHPUT,  /**< bigger magazines while the depot is
                                     busy (pools with a configured
                                     magazine_capacity too; the others grow
                                     on depot traffic under any strategy
                                     but memory-efficient), big retire
                                     batches */
  EBRA_STRATEGY_MEMORY_EFFICIENT  /**< small magazines, depots trimmed to
                                     nothing, free slabs purged each step */
} ebra_strategy_t;

/** Options of ebra_engine_init (NULL: all defaults). */
typedef struct ebra_engine_config_s {
  ebra_strategy_t strategy; /**< a non-zero value wins; 0 (adaptive) takes the
                               strategy option: EBRA_STRATEGY or
                               ebra_option_set, else adaptive (the
                               precedence rule, ebra/options.h) */
  bool background;          /**< run ebra_maintain on a thread of ebra's */
  uint64_t interval_ns;     /**< its period; 0 = 100 ms */
  uint32_t history_len;     /**< samples kept; 0 = 1000 */
} ebra_engine_config_t;

/** Configure the engine (and start its thread if asked).  NULL = defaults.
 * Returns 0, -EINVAL (bad strategy), -EALREADY (already configured: by an
 * earlier ebra_engine_init, or with defaults by a first ebra_maintain or
 * ebra_engine_set_strategy; call ebra_engine_shutdown first), -ENOMEM or
 * -EAGAIN (no thread).  -EINVAL and -EALREADY come with a report. */
EBRA_API int ebra_engine_init(const ebra_engine_config_t *cfg);

/** Stop the background thread (waits for a step in progress and for alert
 * callbacks running) and forget the configuration, alerts and history.
 * Knobs keep their last values.  Returns 0, or -EDEADLK (called from an
 * alert callback). */
EBRA_API int ebra_engine_shutdown(void);

/** One engine step.  Any thread that holds no read section and no ebra
 * lock; initialises the engine with defaults on first use.  Returns 0,
 * -EDEADLK (called from an alert callback) or -ENOMEM. */
EBRA_API int ebra_maintain(void);

/** Change the strategy (takes effect at the next step); configures the
 * engine with defaults first if nothing did.  Returns 0, or -EINVAL with
 * an EBRA_ERR_BAD_CALL report for an unknown strategy. */
EBRA_API int ebra_engine_set_strategy(ebra_strategy_t s);
/** Returns the strategy's name ("adaptive", "low-latency",
 * "high-throughput", "memory-efficient"), or "unknown"; never NULL.  Any
 * thread. */
EBRA_API const char *ebra_strategy_name(ebra_strategy_t s);

/** Memory limits, in bytes of slab memory ebra holds from the OS (mapped
 * minus purged; 0 = none).  Same as EBRA_SOFT_LIMIT / EBRA_HARD_LIMIT.
 *  - soft: a step that finds ebra above it trims every depot, purges free
 *    slabs and forces grace periods, whatever the strategy.
 *  - hard: a slab that would pass it is not mapped; the allocation that
 *    needed it fails with ENOMEM and an EBRA_ERR_MEMORY_LIMIT report.
 *    Freed objects are reused at once; memory freed in other pools counts
 *    again after the step that purges it.
 * Returns 0, or -EINVAL if hard != 0 and soft > hard. */
EBRA_API int ebra_set_memory_limits(uint64_t soft_bytes, uint64_t hard_bytes);

/** What the engine did and measured (ebra_engine_stats). */
typedef struct ebra_engine_stats_s {
  ebra_strategy_t configured;  /**< what was asked */
  ebra_strategy_t active;      /**< what is applied (adaptive's pick) */
  uint64_t steps;              /**< ebra_maintain calls completed */
  uint64_t switches;           /**< changes of the active strategy */
  uint64_t knob_changes;       /**< magazine capacities and domain batching
                                  changed */
  uint64_t magazines_trimmed;  /**< by the engine, all pools */
  uint64_t caches_drained;     /**< idle threads' pool caches taken back */
  uint64_t bytes_purged;       /**< slab bytes given back to the OS, ever */
  uint64_t forced_grace_periods; /**< domain flushes requested */
  uint64_t soft_limit_steps;   /**< steps that found ebra above the soft limit */
  uint64_t hard_limit_refusals; /**< slabs the hard limit refused */
  uint64_t committed_bytes;    /**< slab bytes held from the OS now */
  uint64_t soft_limit;         /**< bytes; 0 = none */
  uint64_t hard_limit;         /**< bytes; 0 = none */
  uint64_t alloc_rate;         /**< allocations per second over the last step */
  uint64_t free_rate;          /**< frees per second over the last step */
  uint64_t exchange_rate;      /**< depot exchanges per second */
  uint64_t contention_rate;    /**< depot CAS failures per second */
  uint64_t retire_rate;        /**< retires per second */
} ebra_engine_stats_t;

/** Fill *out: the stats as of the last step (never waits for one), and the
 * limits and committed bytes as of now.  Returns 0, or -EINVAL (out NULL). */
EBRA_API int ebra_engine_stats(ebra_engine_stats_t *out);

/* ---- alerts ------------------------------------------------------------ */

/** The measure an alert watches.
 *
 * An alert is a threshold on one measure, checked at each step (never on
 * an allocation path).  The callback runs once when the value reaches `threshold`
 * (raised = true), then not again until the value falls below
 * `clear_below` (raised = false, once), and so on: one call per crossing,
 * with hysteresis between the two levels.  All alerts of a step are
 * checked against the step's one snapshot.  Callbacks run on the thread of
 * the step, after the engine's lock is released; ebra_maintain,
 * ebra_alert_remove and ebra_engine_shutdown called from one return
 * -EDEADLK. */
typedef enum ebra_alert_metric_e {
  EBRA_ALERT_RESIDENT_BYTES = 0, /**< process resident bytes, from the OS */
  EBRA_ALERT_PENDING_BYTES,      /**< bytes retired and awaiting a grace period */
  EBRA_ALERT_GRACE_PERIOD_NS,    /**< worst p99 grace-period latency of a domain */
  EBRA_ALERT_CAP_USAGE_PERMILLE, /**< worst live objects / max_objects of a capped
                                    pool, in thousandths */
  EBRA_ALERT_STALLED_NS          /**< age of the oldest grace period past its
                                    domain's stall threshold (0: no stall);
                                    e.g. threshold 1, clear_below 0 */
} ebra_alert_metric_t;

/** One crossing, as an alert callback receives it. */
typedef struct ebra_alert_event_s {
  int id;                     /**< what ebra_alert_add gave in *id */
  ebra_alert_metric_t metric; /**< the measure */
  bool raised;                /**< true: crossed up; false: cleared */
  uint64_t value;             /**< the measure at this step */
  uint64_t threshold;         /**< as given to ebra_alert_add */
  uint64_t clear_below;       /**< as given to ebra_alert_add */
  const char *subject;        /**< the pool or domain name, or "process";
                                 valid during the call */
} ebra_alert_event_t;

/** An alert callback: ev is valid during the call; arg as registered. */
typedef void ebra_alert_fn(const ebra_alert_event_t *ev, void *arg);

/** Add an alert; its id (>= 0) goes to *id.  Returns 0, -EINVAL with an
 * EBRA_ERR_BAD_CALL report (fn or id NULL, unknown metric, clear_below >
 * threshold), or -ENOSPC (64 alerts). */
EBRA_API int ebra_alert_add(ebra_alert_metric_t metric, uint64_t threshold,
                            uint64_t clear_below, ebra_alert_fn *fn, void *arg, int *id);
/** Remove an alert; -ENOENT if there is none with that id.  After it
 * returns, the callback is not running and will not run. */
EBRA_API int ebra_alert_remove(int id);

/* ---- history ------------------------------------------------------------ */

/** One engine step's sample; each step records one in a ring of the last
 * history_len (ebra_history). */
typedef struct ebra_sample_s {
  uint64_t t_ns;             /**< CLOCK_MONOTONIC */
  uint64_t resident_bytes;   /**< from the OS */
  uint64_t committed_bytes;  /**< slab bytes ebra holds from the OS */
  uint64_t live_bytes;       /**< objects handed out */
  uint64_t pending_bytes;    /**< awaiting a grace period */
  uint64_t alloc_rate;       /**< allocations per second */
  uint64_t free_rate;        /**< frees per second */
  uint64_t exchange_rate;    /**< depot exchanges per second */
  uint64_t contention_rate;  /**< depot CAS failures per second */
  uint64_t retire_rate;      /**< retires per second */
  uint64_t gp_p99_ns;        /**< worst domain p99 */
  ebra_strategy_t active;    /**< the strategy applied at this step */
} ebra_sample_t;

/** Copy up to max of the newest samples into out, oldest first, and how
 * many were copied into *n (0 while the engine is not configured).  Never
 * waits for a step.  Returns 0, or -EINVAL with an EBRA_ERR_BAD_CALL report
 * (n NULL, or out NULL with max > 0). */
EBRA_API int ebra_history(ebra_sample_t *out, size_t max, size_t *n);

#ifdef __cplusplus
}
#endif
#endif /* EBRA_ENGINE_H */

/* SPDX-License-Identifier: MIT */
/** @file ebra/options.h
 * @brief process-wide options, mimalloc style.
 *
 * Each option is read once, at ebra's first use of any option (the first
 * pool, domain or engine call), from the environment variable
 * EBRA_<NAME> (for example EBRA_MAGAZINE_SIZE=64, EBRA_SHOW_STATS=on), and
 * can be changed later with ebra_option_set().  Values:
 *   - numbers and sizes: decimal, with an optional suffix K, M, G, T or P
 *     (powers of 1024; "Ki", "KiB", "KB" and lower case spell the same); with
 *     a suffix, a fraction is accepted and rounded down to a whole number
 *     ("1.5G" = 1610612736 bytes, "0.5K" = 512); "1.5" alone is refused;
 *   - booleans: 1/0, on/off, true/false, yes/no, enable/disable;
 *   - names (strategy, reclaim): the names listed below, or their number.
 * A bad value is reported as EBRA_ERR_BAD_OPTION (a warning) naming what
 * the option accepts, and the previous value is kept; it never aborts and
 * never makes a later call fail.  An EBRA_* variable that is no option (a
 * misspelling such as EBRA_MAGAZNE_SIZE) is reported once, at first use,
 * with the nearest option's name; EBRA_TEST_* and EBRA_BENCH_* belong to
 * ebra's test and benchmark harnesses and are not reported.
 *
 * Precedence, the one rule for every option:
 *   1. a field of a config struct (ebra_pool_config_t.magazine_capacity,
 *      ebra_domain_config_t.backend, ebra_engine_config_t.strategy) that is
 *      not zero wins, for the object it creates;
 *   2. otherwise the option's current value: the latest ebra_option_set /
 *      ebra_option_set_text (or a setter that stores the option, such as
 *      ebra_set_memory_limits) ...
 *   3. ... else the EBRA_* environment variable, read at first use ...
 *   4. ... else the built-in default.
 * A zero config field therefore means "not stated": the environment still
 * applies (ebra_engine_init(&(ebra_engine_config_t){.background = true})
 * with EBRA_STRATEGY=memory-efficient runs memory-efficient).  A flag
 * (EBRA_POOL_SECURE_CLEAR) is the or of the config and the option.  An
 * option is taken when the object it shapes is created (a pool's magazine
 * size, a domain's backend, the engine's strategy at ebra_engine_init or
 * its first step); the memory limits, verbosity and report limit are read
 * at each use.
 *
 * EBRA_VERBOSE=1 prints (through the report hook, kind EBRA_INFO_OPTIONS,
 * else on stderr) every option's effective value at first use, and where it
 * came from: "strategy = memory-efficient (environment EBRA_STRATEGY)".
 */
#ifndef EBRA_OPTIONS_H
#define EBRA_OPTIONS_H

#include "ebra/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The options; each is read from EBRA_<NAME IN CAPITALS>. */
typedef enum ebra_option_e {
  EBRA_OPT_MAGAZINE_SIZE = 0, /**< starting rounds per magazine (64), 1..4096;
                                 depot traffic grows it up to 8 x */
  EBRA_OPT_SHOW_STATS,        /**< bool: print the monitor text report of live
                                 pools and domains to stderr at exit */
  EBRA_OPT_VERBOSE,           /**< bool: report informational messages, and
                                 the effective options at first use */
  EBRA_OPT_SECURE,            /**< bool: secure clearing for every pool */
  EBRA_OPT_SOFT_LIMIT,        /**< bytes (size suffixes); 0 = none: above it
                                 ebra_maintain trims, purges and forces
                                 grace periods (ebra/engine.h) */
  EBRA_OPT_HARD_LIMIT,        /**< bytes; 0 = none: no slab is mapped or
                                 reused past it; allocation fails ENOMEM */
  EBRA_OPT_STRATEGY,          /**< the strategy engine's strategy: adaptive,
                                 low-latency, high-throughput,
                                 memory-efficient, or 0..3 (ebra_strategy_t) */
  EBRA_OPT_STRICT,            /**< bool: the strict check level for every
                                 pool (EBRA_POOL_STRICT_CHECKS) */
  EBRA_OPT_RECLAIM,           /**< the reclamation backend of a domain created
                                 with EBRA_RECLAIM_DEFAULT: default (= urcu-memb),
                                 urcu-memb, urcu-qsbr, ck-epoch, or 0..3
                                 (ebra_reclaim_backend_t) */
  EBRA_OPT_REPORT_LIMIT,      /**< reports of one kind delivered (32); after
                                 them one "further reports suppressed" line,
                                 then only counts (ebra_report_stats); 0 = no
                                 limit */
  EBRA_OPT_PURGE_DELAY,       /**< milliseconds (100): memory of a malloc size
                                 class that saw no alloc or free for this
                                 long goes back to the OS, checked on slow
                                 paths; 0 = never on its own */
  EBRA_OPT_COUNT_             /**< the number of options (not an option) */
} ebra_option_t;

/** Where an option's current value came from (ebra_option_origin). */
typedef enum ebra_option_origin_e {
  EBRA_OPTION_FROM_DEFAULT = 0, /**< the built-in default */
  EBRA_OPTION_FROM_ENV,         /**< its EBRA_* environment variable */
  EBRA_OPTION_FROM_API          /**< ebra_option_set, _set_text, or a setter */
} ebra_option_origin_t;

/** The current value in *out (the environment is read on first use).
 * Returns 0, or -EINVAL (with a report) for an unknown option or a NULL
 * out. */
EBRA_API int ebra_option_get(ebra_option_t opt, long *out);

/** Set a value.  Returns 0, or -EINVAL (with a report) if opt is unknown or
 * value is out of range; the previous value is kept. */
EBRA_API int ebra_option_set(ebra_option_t opt, long value);

/** Parse text as the environment would ("64", "1M", "off").  Returns 0 or
 * -EINVAL with a report. */
EBRA_API int ebra_option_set_text(ebra_option_t opt, const char *text);

/** Where opt's current value came from.  Returns the origin, or
 * EBRA_OPTION_FROM_DEFAULT with an EBRA_ERR_BAD_CALL report for an unknown
 * option (an accessor, ebra/error.h). */
EBRA_API ebra_option_origin_t ebra_option_origin(ebra_option_t opt);

/** Returns the option's name as in its variable, lower case
 * ("magazine_size"), or NULL for an unknown option.  Thread-safe. */
EBRA_API const char *ebra_option_name(ebra_option_t opt);

#define EBRA_FEATURE_DEBUG_CHECKS 0x1u /**< built with EBRA_DEBUG_CHECKS */
#define EBRA_FEATURE_TSAN         0x2u /**< built with ThreadSanitizer */
#define EBRA_FEATURE_ASAN         0x4u /**< built with AddressSanitizer+UBSan */
#define EBRA_FEATURE_URCU_INLINE  0x8u /**< built with EBRA_URCU_INLINE (liburcu's
                                          read side compiled in) */
/** How the library was built.  Returns a mask of EBRA_FEATURE_* bits.
 * Tests use it to know which checks to expect (for example exact
 * double-free detection); ebra_build_info in the monitor shows it.
 * Thread-safe. */
EBRA_API unsigned ebra_build_features(void);

#ifdef __cplusplus
}
#endif
#endif /* EBRA_OPTIONS_H */

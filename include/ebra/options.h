/* SPDX-License-Identifier: MIT */
/* ebra/options.h — process-wide options, mimalloc style.
 *
 * Each option is read once, lazily, from the environment variable
 * EBRA_<NAME> (for example EBRA_MAGAZINE_SIZE=64, EBRA_SHOW_STATS=on), and
 * can be changed later with ebra_option_set().  Values:
 *   - numbers, decimal, with an optional size suffix: K, M, G (powers of
 *     1024; "KiB", "k", "KB" spell the same);
 *   - booleans: 1/0, on/off, true/false, yes/no, enable/disable.
 * A bad value is reported as EBRA_ERR_BAD_OPTION (a warning) and the
 * default is kept; it never aborts.
 */
#ifndef EBRA_OPTIONS_H
#define EBRA_OPTIONS_H

#include "ebra/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ebra_option_e {
  EBRA_OPT_MAGAZINE_SIZE = 0, /* default rounds per magazine (64), 1..4096 */
  EBRA_OPT_SHOW_STATS,        /* bool: print the monitor text report of live
                                 pools and domains to stderr at exit */
  EBRA_OPT_VERBOSE,           /* bool: report informational messages */
  EBRA_OPT_SECURE,            /* bool: secure clearing for every pool */
  EBRA_OPT_SOFT_LIMIT,        /* bytes (size suffixes); 0 = none: above it
                                 ebra_maintain trims, purges and forces
                                 grace periods (ebra/engine.h) */
  EBRA_OPT_HARD_LIMIT,        /* bytes; 0 = none: no slab is mapped or
                                 reused past it; allocation fails ENOMEM */
  EBRA_OPT_STRATEGY,          /* the strategy engine's strategy: 0..3 or
                                 adaptive, low-latency, high-throughput,
                                 memory-efficient (ebra_strategy_t) */
  EBRA_OPT_STRICT,            /* bool: the strict check level for every
                                 pool (EBRA_POOL_STRICT_CHECKS) */
  EBRA_OPT_COUNT_
} ebra_option_t;

/* The current value in *out (the environment is read on first use).
 * Returns 0, or -EINVAL (with a report) for an unknown option or a NULL
 * out. */
EBRA_API int ebra_option_get(ebra_option_t opt, long *out);

/* Set a value.  Returns 0, or -EINVAL (with a report) if opt is unknown or
 * value is out of range; the previous value is kept. */
EBRA_API int ebra_option_set(ebra_option_t opt, long value);

/* Parse text as the environment would ("64", "1M", "off").  Returns 0 or
 * -EINVAL with a report. */
EBRA_API int ebra_option_set_text(ebra_option_t opt, const char *text);

/* "magazine_size", ...; NULL for an unknown option. */
EBRA_API const char *ebra_option_name(ebra_option_t opt);

/* How the library was built: a mask of EBRA_FEATURE_* bits.  Tests use it
 * to know which checks to expect (for example exact double-free detection). */
#define EBRA_FEATURE_DEBUG_CHECKS 0x1u /* built with EBRA_DEBUG_CHECKS */
#define EBRA_FEATURE_TSAN         0x2u /* built with ThreadSanitizer */
#define EBRA_FEATURE_ASAN         0x4u /* built with AddressSanitizer+UBSan */
EBRA_API unsigned ebra_build_features(void);

#ifdef __cplusplus
}
#endif
#endif /* EBRA_OPTIONS_H */

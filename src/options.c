/* SPDX-License-Identifier: MIT */
/* src/options.c — EBRA_* options: read once from the environment, settable
 * through the API.  Values live in relaxed atomics: an option is a tuning
 * hint, read on slow paths, with no ordering duty. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

typedef struct option_desc_s {
  const char *name;
  long defval;
  long min;
  long max;
  bool is_bool;
  const char *const *names; /* value i may be spelled names[i] */
} option_desc_t;

const char *const ebi_strategy_names[EBI_STRATEGY_COUNT + 1] = {
    [EBRA_STRATEGY_ADAPTIVE] = "adaptive",
    [EBRA_STRATEGY_LOW_LATENCY] = "low-latency",
    [EBRA_STRATEGY_HIGH_THROUGHPUT] = "high-throughput",
    [EBRA_STRATEGY_MEMORY_EFFICIENT] = "memory-efficient",
    [EBI_STRATEGY_COUNT] = NULL,
};

static const option_desc_t option_descs[EBRA_OPT_COUNT_] = {
    [EBRA_OPT_MAGAZINE_SIZE] = {"magazine_size", 64, 1, EBRA_MAX_MAGAZINE_CAPACITY, false},
    [EBRA_OPT_SHOW_STATS] = {"show_stats", 0, 0, 1, true},
    [EBRA_OPT_VERBOSE] = {"verbose", 0, 0, 1, true},
    [EBRA_OPT_SECURE] = {"secure", 0, 0, 1, true},
    [EBRA_OPT_STRICT] = {"strict", 0, 0, 1, true},
    [EBRA_OPT_SOFT_LIMIT] = {"soft_limit", 0, 0, LONG_MAX, false},
    [EBRA_OPT_HARD_LIMIT] = {"hard_limit", 0, 0, LONG_MAX, false},
    [EBRA_OPT_STRATEGY] = {"strategy", EBRA_STRATEGY_ADAPTIVE, 0, EBI_STRATEGY_COUNT - 1, false,
                           ebi_strategy_names},
};

static _Atomic long option_values[EBRA_OPT_COUNT_];
static pthread_once_t options_once = PTHREAD_ONCE_INIT;

const char *ebra_option_name(ebra_option_t opt) {
  return (unsigned)opt < EBRA_OPT_COUNT_ ? option_descs[opt].name : NULL;
}

static int parse_bool(const char *s, long *out) {
  static const char *const on[] = {"1", "on", "true", "yes", "enable", "enabled"};
  static const char *const off[] = {"0", "off", "false", "no", "disable", "disabled"};
  for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
    if (strcasecmp(s, on[i]) == 0) {
      *out = 1;
      return 0;
    }
    if (strcasecmp(s, off[i]) == 0) {
      *out = 0;
      return 0;
    }
  }
  return -EINVAL;
}

/* Decimal with an optional K/M/G suffix (powers of 1024), optionally
 * followed by "i", "iB" or "B", in either case. */
static int parse_size(const char *s, long *out) {
  if (!isdigit((unsigned char)*s))
    return -EINVAL;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno)
    return -EINVAL;
  unsigned shift = 0;
  switch (toupper((unsigned char)*end)) {
  case 'K': shift = 10; end++; break;
  case 'M': shift = 20; end++; break;
  case 'G': shift = 30; end++; break;
  default: break;
  }
  if (shift && (*end == 'i' || *end == 'I'))
    end++;
  if (shift && (*end == 'b' || *end == 'B'))
    end++;
  if (*end != '\0' || v > ((unsigned long long)LONG_MAX >> shift))
    return -EINVAL;
  *out = (long)(v << shift);
  return 0;
}

static int parse_name(const char *const *names, const char *s, long *out) {
  for (long i = 0; names[i]; i++) {
    if (strcasecmp(s, names[i]) == 0) {
      *out = i;
      return 0;
    }
  }
  return -EINVAL;
}

static int option_parse(ebra_option_t opt, const char *text, long *out) {
  if (!text || !*text)
    return -EINVAL;
  if (option_descs[opt].names && parse_name(option_descs[opt].names, text, out) == 0)
    return 0;
  return option_descs[opt].is_bool ? parse_bool(text, out) : parse_size(text, out);
}

static int option_store(ebra_option_t opt, long v, const char *origin) {
  const option_desc_t *d = &option_descs[opt];
  if (v < d->min || v > d->max) {
    ebi_report(EBRA_ERR_BAD_OPTION, "%s: %s=%ld is out of range [%ld, %ld]; kept %ld",
                origin, d->name, v, d->min, d->max,
                ebi_atomic_load_relaxed(&option_values[opt]));
    return -EINVAL;
  }
  ebi_atomic_store_relaxed(&option_values[opt], v);
  return 0;
}

static void options_read_env(void) {
  for (int i = 0; i < EBRA_OPT_COUNT_; i++) {
    ebi_atomic_store_relaxed(&option_values[i], option_descs[i].defval);
    char var[64] = "EBRA_";
    for (size_t k = 0; option_descs[i].name[k] && k + 6 < sizeof var; k++)
      var[5 + k] = (char)toupper((unsigned char)option_descs[i].name[k]);
    const char *text = getenv(var);
    if (!text)
      continue;
    long v;
    if (option_parse((ebra_option_t)i, text, &v) != 0) {
      ebi_report(EBRA_ERR_BAD_OPTION, "environment: %s=\"%s\" is not a valid %s; kept %ld",
                  var, text, option_descs[i].is_bool ? "boolean" : "number",
                  option_descs[i].defval);
      continue;
    }
    option_store((ebra_option_t)i, v, "environment");
  }
}

static void options_init(void) { pthread_once(&options_once, options_read_env); }

long ebi_option_value(ebra_option_t opt) {
  options_init();
  return ebi_atomic_load_relaxed(&option_values[opt]);
}

int ebra_option_get(ebra_option_t opt, long *out) {
  if (out)
    *out = 0; /* what a failed call leaves (ebra/error.h) */
  if ((unsigned)opt >= EBRA_OPT_COUNT_ || !out)
    return ebi_bad_call(out ? "ebra_option_get: unknown option" : "ebra_option_get: NULL out");
  *out = ebi_option_value(opt);
  return 0;
}

bool ebi_option_is_on(ebra_option_t opt) { return ebi_option_value(opt) != 0; }

int ebra_option_set(ebra_option_t opt, long value) {
  if ((unsigned)opt >= EBRA_OPT_COUNT_) {
    ebi_report(EBRA_ERR_BAD_OPTION, "ebra_option_set: unknown option %d", (int)opt);
    return -EINVAL;
  }
  options_init();
  return option_store(opt, value, "ebra_option_set");
}

int ebra_option_set_text(ebra_option_t opt, const char *text) {
  if ((unsigned)opt >= EBRA_OPT_COUNT_) {
    ebi_report(EBRA_ERR_BAD_OPTION, "ebra_option_set_text: unknown option %d", (int)opt);
    return -EINVAL;
  }
  options_init();
  long v;
  if (option_parse(opt, text, &v) != 0) {
    ebi_report(EBRA_ERR_BAD_OPTION, "ebra_option_set_text: \"%s\" is not a valid %s for %s",
                text ? text : "(null)", option_descs[opt].is_bool ? "boolean" : "number",
                option_descs[opt].name);
    return -EINVAL;
  }
  return option_store(opt, v, "ebra_option_set_text");
}

unsigned ebra_build_features(void) {
  unsigned f = 0;
#if EBI_DEBUG
  f |= EBRA_FEATURE_DEBUG_CHECKS;
#endif
#if defined(EBRA_TSAN)
  f |= EBRA_FEATURE_TSAN;
#endif
#if defined(EBRA_ASAN)
  f |= EBRA_FEATURE_ASAN;
#endif
  return f;
}

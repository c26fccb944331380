/* SPDX-License-Identifier: MIT */
/* src/options.c — EBRA_* options: read once from the environment, settable
 * through the API.  Values live in relaxed atomics: an option is a tuning
 * hint, read on slow paths, with no ordering duty. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* How an option's text is read, and how its errors name what is accepted. */
typedef enum option_type_e { OPT_NUMBER, OPT_SIZE, OPT_BOOL, OPT_NAME } option_type_t;

typedef struct option_desc_s {
  const char *name;
  long defval;
  long min;
  long max;
  option_type_t type;
  const char *const *names; /* OPT_NAME: value i is spelled names[i], NULL-ended */
} option_desc_t;

const char *const ebi_strategy_names[EBI_STRATEGY_COUNT + 1] = {
    [EBRA_STRATEGY_ADAPTIVE] = "adaptive",
    [EBRA_STRATEGY_LOW_LATENCY] = "low-latency",
    [EBRA_STRATEGY_HIGH_THROUGHPUT] = "high-throughput",
    [EBRA_STRATEGY_MEMORY_EFFICIENT] = "memory-efficient",
    [EBI_STRATEGY_COUNT] = NULL,
};

const char *const ebi_reclaim_names[EBRA_RECLAIM_CK_EPOCH + 2] = {
    [EBRA_RECLAIM_DEFAULT] = "default", /* = urcu-memb */
    [EBRA_RECLAIM_URCU_MEMB] = "urcu-memb",
    [EBRA_RECLAIM_URCU_QSBR] = "urcu-qsbr",
    [EBRA_RECLAIM_CK_EPOCH] = "ck-epoch",
    [EBRA_RECLAIM_CK_EPOCH + 1] = NULL,
};

#define EBI_DEFAULT_REPORT_LIMIT 32
#define EBI_DEFAULT_PURGE_DELAY_MS 100

static const option_desc_t option_descs[EBRA_OPT_COUNT_] = {
    [EBRA_OPT_MAGAZINE_SIZE] = {"magazine_size", 64, 1, EBRA_MAX_MAGAZINE_CAPACITY, OPT_NUMBER, NULL},
    [EBRA_OPT_SHOW_STATS] = {"show_stats", 0, 0, 1, OPT_BOOL, NULL},
    [EBRA_OPT_VERBOSE] = {"verbose", 0, 0, 1, OPT_BOOL, NULL},
    [EBRA_OPT_SECURE] = {"secure", 0, 0, 1, OPT_BOOL, NULL},
    [EBRA_OPT_STRICT] = {"strict", 0, 0, 1, OPT_BOOL, NULL},
    [EBRA_OPT_SOFT_LIMIT] = {"soft_limit", 0, 0, LONG_MAX, OPT_SIZE, NULL},
    [EBRA_OPT_HARD_LIMIT] = {"hard_limit", 0, 0, LONG_MAX, OPT_SIZE, NULL},
    [EBRA_OPT_STRATEGY] = {"strategy", EBRA_STRATEGY_ADAPTIVE, 0, EBI_STRATEGY_COUNT - 1, OPT_NAME,
                           ebi_strategy_names},
    [EBRA_OPT_RECLAIM] = {"reclaim", EBRA_RECLAIM_URCU_MEMB, EBRA_RECLAIM_DEFAULT,
                          EBRA_RECLAIM_CK_EPOCH, OPT_NAME, ebi_reclaim_names},
    [EBRA_OPT_REPORT_LIMIT] = {"report_limit", EBI_DEFAULT_REPORT_LIMIT, 0, LONG_MAX, OPT_NUMBER,
                               NULL},
    [EBRA_OPT_PURGE_DELAY] = {"purge_delay", EBI_DEFAULT_PURGE_DELAY_MS, 0, 3600000, OPT_NUMBER,
                              NULL},
};

/* Environment variables of ebra's own test and benchmark harnesses: not
 * options, and not misspellings of one. */
static const char *const harness_prefixes[] = {"EBRA_TEST_", "EBRA_BENCH_"};

/* The defaults, statically, so a value read before the environment is (a
 * report made while it is being read) is the default, never 0. */
static _Atomic long option_values[EBRA_OPT_COUNT_] = {
    [EBRA_OPT_MAGAZINE_SIZE] = 64,
    [EBRA_OPT_STRATEGY] = EBRA_STRATEGY_ADAPTIVE,
    [EBRA_OPT_RECLAIM] = EBRA_RECLAIM_URCU_MEMB,
    [EBRA_OPT_REPORT_LIMIT] = EBI_DEFAULT_REPORT_LIMIT,
    [EBRA_OPT_PURGE_DELAY] = EBI_DEFAULT_PURGE_DELAY_MS,
};
static _Atomic int option_origins[EBRA_OPT_COUNT_]; /* ebra_option_origin_t */
static pthread_once_t options_once = PTHREAD_ONCE_INIT;
/* Set while this thread reads the environment: a report made then must
 * not wait for the pthread_once it runs inside. */
static _Thread_local bool reading_env;

const char *ebra_option_name(ebra_option_t opt) {
  return (unsigned)opt < EBRA_OPT_COUNT_ ? option_descs[opt].name : NULL;
}

/* ---- parsing --------------------------------------------------------------- */

static const char *const bool_on[] = {"1", "on", "true", "yes", "enable", "enabled"};
static const char *const bool_off[] = {"0", "off", "false", "no", "disable", "disabled"};

static int parse_bool(const char *s, long *out) {
  for (size_t i = 0; i < sizeof bool_on / sizeof bool_on[0]; i++) {
    if (strcasecmp(s, bool_on[i]) == 0) {
      *out = 1;
      return 0;
    }
    if (strcasecmp(s, bool_off[i]) == 0) {
      *out = 0;
      return 0;
    }
  }
  return -EINVAL;
}

/* The power of 1024 a suffix letter stands for; 0 for none, -1 for a
 * letter that is no suffix. */
static int suffix_shift(char c) {
  switch (toupper((unsigned char)c)) {
  case '\0': return 0;
  case 'K': return 10;
  case 'M': return 20;
  case 'G': return 30;
  case 'T': return 40;
  case 'P': return 50;
  default: return -1;
  }
}

/* Decimal, optionally with a fraction, and an optional suffix K, M, G, T
 * or P (powers of 1024) optionally followed by "i", "iB" or "B", in either
 * case.  A fraction needs a suffix and the result is rounded down to a
 * whole number ("1.5G" = 1610612736, "0.5K" = 512; "1.5" is refused). */
static int parse_size(const char *s, long *out) {
  if (!isdigit((unsigned char)*s))
    return -EINVAL;
  errno = 0;
  char *end;
  const unsigned long long whole = strtoull(s, &end, 10);
  if (errno)
    return -EINVAL;
  unsigned long long frac = 0, frac_div = 1; /* the fraction is frac / frac_div */
  if (*end == '.') {
    end++;
    if (!isdigit((unsigned char)*end))
      return -EINVAL;
    for (; isdigit((unsigned char)*end); end++) {
      if (frac_div < 1000000000000ull) { /* digits past 12 cannot matter below 2^63 */
        frac = frac * 10 + (unsigned long long)(*end - '0');
        frac_div *= 10;
      }
    }
  }
  const int shift = suffix_shift(*end);
  if (shift < 0 || (frac_div > 1 && shift == 0))
    return -EINVAL;
  if (shift) {
    end++;
    if (*end == 'i' || *end == 'I')
      end++;
    if (*end == 'b' || *end == 'B')
      end++;
  }
  if (*end != '\0' || whole > ((unsigned long long)LONG_MAX >> shift))
    return -EINVAL;
  /* frac < frac_div <= 10^12 < 2^40, so frac << shift fits up to shift 23;
   * beyond, scale the unit down first (exact: both are powers of two). */
  const unsigned long long unit = 1ull << shift;
  const unsigned long long part = unit > (1ull << 20) ? frac * (unit >> 20) / frac_div << 20
                                                      : frac * unit / frac_div;
  const unsigned long long v = (whole << shift) + part;
  if (v > (unsigned long long)LONG_MAX)
    return -EINVAL;
  *out = (long)v;
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
  const option_desc_t *d = &option_descs[opt];
  switch (d->type) {
  case OPT_BOOL: return parse_bool(text, out);
  case OPT_NAME: /* a name, or its number */
    if (parse_name(d->names, text, out) == 0)
      return 0;
    return parse_size(text, out);
  case OPT_NUMBER:
  case OPT_SIZE: return parse_size(text, out);
  }
  return -EINVAL;
}

/* What opt accepts, for the message that refuses a value. */
static void option_accepted(ebra_option_t opt, char *buf, size_t len) {
  const option_desc_t *d = &option_descs[opt];
  switch (d->type) {
  case OPT_BOOL:
    snprintf(buf, len, "a boolean: 1/0, on/off, true/false, yes/no, enable/disable");
    return;
  case OPT_NAME: {
    size_t used = (size_t)snprintf(buf, len, "one of");
    for (long i = d->min; i <= d->max && used < len; i++)
      used += (size_t)snprintf(buf + used, len - used, "%s %s", i == d->min ? "" : ",",
                               d->names[i]);
    if (used < len)
      snprintf(buf + used, len - used, " (or %ld..%ld)", d->min, d->max);
    return;
  }
  case OPT_NUMBER:
  case OPT_SIZE:
    snprintf(buf, len,
             "a %s in [%ld, %ld]: decimal, optionally with a suffix K, M, G, T or P "
             "(powers of 1024; \"Ki\", \"KiB\", \"KB\" spell the same) and then a "
             "fraction such as 1.5G",
             d->type == OPT_SIZE ? "size in bytes" : "number", d->min, d->max);
    return;
  }
}

/* A value as the environment would spell it, into buf. */
static const char *option_spell(ebra_option_t opt, long v, char *buf, size_t len) {
  const option_desc_t *d = &option_descs[opt];
  if (d->type == OPT_NAME && v >= d->min && v <= d->max)
    return d->names[v];
  if (d->type == OPT_BOOL)
    return v ? "on" : "off";
  snprintf(buf, len, "%ld", v);
  return buf;
}

/* ---- values and where they came from ---------------------------------------- */

/* label names the source and the option: "environment: EBRA_STRATEGY",
 * "ebra_option_set: strategy". */
static void report_refused(ebra_option_t opt, const char *label, const char *text) {
  char accepted[320], kept[32];
  option_accepted(opt, accepted, sizeof accepted);
  ebi_report(EBRA_ERR_BAD_OPTION, "%s=\"%s\" is refused: %s expects %s; kept %s", label,
             text ? text : "(null)", option_descs[opt].name, accepted,
             option_spell(opt, ebi_atomic_load_relaxed(&option_values[opt]), kept, sizeof kept));
}

static int option_store(ebra_option_t opt, long v, const char *label, ebra_option_origin_t origin) {
  const option_desc_t *d = &option_descs[opt];
  if (v < d->min || v > d->max) {
    char text[32];
    snprintf(text, sizeof text, "%ld", v);
    report_refused(opt, label, text);
    return -EINVAL;
  }
  ebi_atomic_store_relaxed(&option_values[opt], v);
  ebi_atomic_store_relaxed(&option_origins[opt], (int)origin);
  return 0;
}

static void env_name(ebra_option_t opt, char *var, size_t len) {
  size_t k = 0;
  for (const char *p = "EBRA_"; *p && k + 1 < len; p++)
    var[k++] = *p;
  for (const char *p = option_descs[opt].name; *p && k + 1 < len; p++)
    var[k++] = (char)toupper((unsigned char)*p);
  var[k] = '\0';
}

/* ---- unknown EBRA_* variables ------------------------------------------------ */

/* Edit distance (insert, delete, substitute, swap two neighbours) between
 * a and the first n characters of b; both short. */
static size_t edit_distance(const char *a, size_t na, const char *b, size_t nb) {
  enum { MAXLEN = 48 };
  if (na >= MAXLEN || nb >= MAXLEN)
    return (size_t)-1;
  size_t dp[MAXLEN][MAXLEN];
  for (size_t i = 0; i <= na; i++)
    dp[i][0] = i;
  for (size_t j = 0; j <= nb; j++)
    dp[0][j] = j;
  for (size_t i = 1; i <= na; i++) {
    for (size_t j = 1; j <= nb; j++) {
      const size_t sub = dp[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      size_t best = dp[i - 1][j] + 1 < dp[i][j - 1] + 1 ? dp[i - 1][j] + 1 : dp[i][j - 1] + 1;
      best = sub < best ? sub : best;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && dp[i - 2][j - 2] + 1 < best)
        best = dp[i - 2][j - 2] + 1;
      dp[i][j] = best;
    }
  }
  return dp[na][nb];
}

static bool is_option_var(const char *entry, size_t n) {
  for (int i = 0; i < EBRA_OPT_COUNT_; i++) {
    char var[64];
    env_name((ebra_option_t)i, var, sizeof var);
    if (strlen(var) == n && strncmp(entry, var, n) == 0)
      return true;
  }
  for (size_t i = 0; i < sizeof harness_prefixes / sizeof harness_prefixes[0]; i++)
    if (strncmp(entry, harness_prefixes[i], strlen(harness_prefixes[i])) == 0)
      return true;
  return false;
}

/* Report entry (an EBRA_* variable that is no option) once, with the
 * option variable nearest to its name. */
static void report_unknown_var(const char *entry, size_t n) {
  size_t best = (size_t)-1;
  char nearest[64] = "";
  for (int i = 0; i < EBRA_OPT_COUNT_; i++) {
    char var[64];
    env_name((ebra_option_t)i, var, sizeof var);
    const size_t dist = edit_distance(var, strlen(var), entry, n);
    if (dist < best) {
      best = dist;
      memcpy(nearest, var, sizeof var);
    }
  }
  ebi_report(EBRA_ERR_BAD_OPTION, "environment: %.*s is not an ebra option and is ignored; "
             "the nearest option is %s (include/ebra/options.h lists them)",
             (int)n, entry, nearest);
}

extern char **environ;

static void check_unknown_vars(void) {
  for (char **e = environ; e && *e; e++) {
    if (strncmp(*e, "EBRA_", 5) != 0)
      continue;
    const char *eq = strchr(*e, '=');
    const size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
    if (!is_option_var(*e, n))
      report_unknown_var(*e, n);
  }
}

/* ---- first use ---------------------------------------------------------------- */

static const char *const origin_names[] = {
    [EBRA_OPTION_FROM_DEFAULT] = "default",
    [EBRA_OPTION_FROM_ENV] = "environment",
    [EBRA_OPTION_FROM_API] = "ebra_option_set",
};

/* EBRA_VERBOSE: one EBRA_INFO_OPTIONS report per option, with its origin. */
static void print_effective(void) {
  for (int i = 0; i < EBRA_OPT_COUNT_; i++) {
    char var[64], val[32];
    env_name((ebra_option_t)i, var, sizeof var);
    const long v = ebi_atomic_load_relaxed(&option_values[i]);
    const int origin = ebi_atomic_load_relaxed(&option_origins[i]);
    ebi_report(EBRA_INFO_OPTIONS, "%s = %s (%s%s%s)", option_descs[i].name,
               option_spell((ebra_option_t)i, v, val, sizeof val), origin_names[origin],
               origin == EBRA_OPTION_FROM_ENV ? " " : "",
               origin == EBRA_OPTION_FROM_ENV ? var : "");
  }
}

static void options_read_env(void) {
  reading_env = true;
  for (int i = 0; i < EBRA_OPT_COUNT_; i++) {
    char var[64];
    env_name((ebra_option_t)i, var, sizeof var);
    const char *text = getenv(var);
    if (!text)
      continue;
    char label[96];
    snprintf(label, sizeof label, "environment: %s", var);
    long v;
    if (option_parse((ebra_option_t)i, text, &v) != 0) {
      report_refused((ebra_option_t)i, label, text);
      continue;
    }
    option_store((ebra_option_t)i, v, label, EBRA_OPTION_FROM_ENV);
  }
  check_unknown_vars();
  if (ebi_atomic_load_relaxed(&option_values[EBRA_OPT_VERBOSE]))
    print_effective();
  reading_env = false;
}

static void options_init(void) {
  if (!reading_env)
    pthread_once(&options_once, options_read_env);
}

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

ebra_option_origin_t ebra_option_origin(ebra_option_t opt) {
  if ((unsigned)opt >= EBRA_OPT_COUNT_) {
    ebi_bad_call("ebra_option_origin: unknown option");
    return EBRA_OPTION_FROM_DEFAULT;
  }
  options_init();
  return (ebra_option_origin_t)ebi_atomic_load_relaxed(&option_origins[opt]);
}

bool ebi_option_is_on(ebra_option_t opt) { return ebi_option_value(opt) != 0; }

int ebra_option_set(ebra_option_t opt, long value) {
  if ((unsigned)opt >= EBRA_OPT_COUNT_) {
    ebi_report(EBRA_ERR_BAD_OPTION, "ebra_option_set: unknown option %d", (int)opt);
    return -EINVAL;
  }
  options_init();
  char label[64];
  snprintf(label, sizeof label, "ebra_option_set: %s", option_descs[opt].name);
  return option_store(opt, value, label, EBRA_OPTION_FROM_API);
}

int ebra_option_set_text(ebra_option_t opt, const char *text) {
  if ((unsigned)opt >= EBRA_OPT_COUNT_) {
    ebi_report(EBRA_ERR_BAD_OPTION, "ebra_option_set_text: unknown option %d", (int)opt);
    return -EINVAL;
  }
  options_init();
  char label[64];
  snprintf(label, sizeof label, "ebra_option_set_text: %s", option_descs[opt].name);
  long v;
  if (option_parse(opt, text, &v) != 0) {
    report_refused(opt, label, text);
    return -EINVAL;
  }
  return option_store(opt, v, label, EBRA_OPTION_FROM_API);
}

const char *ebra_version(void) { return EBRA_VERSION_STRING; }

unsigned ebra_version_number(void) { return EBRA_VERSION; }

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
#if defined(_LGPL_SOURCE)
  f |= EBRA_FEATURE_URCU_INLINE;
#endif
  return f;
}

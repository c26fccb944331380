/* SPDX-License-Identifier: MIT */
/* control/monitor.c — the printers: a snapshot as text, JSON or the
 * Prometheus text exposition format, and one pool's stats as text.
 *
 * One formatter.  Each kind of entry (the snapshot's global part, pools,
 * domains, caches, the engine) has one field table: the key that text and
 * JSON print, the storage type, and the Prometheus family (name, type,
 * help).  The printers walk the tables, so a field is listed once and
 * appears in all three formats; ebra_pool_print_stats prints the text
 * block of one pool.  Names go through one escaper with a mode per format
 * (JSON string, Prometheus label value, quoted text).
 *
 * State: none.  The printers read only the snapshot they are given and
 * take no lock.  They format into a 4 KiB buffer handed to the output
 * callback when nearly full; every single piece they format is far
 * shorter than the buffer (names are at most EBRA_POOL_NAME_MAX - 1 bytes,
 * at most 6 bytes each once escaped).
 *
 * Lock order: none taken here (ebra_pool_print_stats calls ebra_pool_stats,
 * and the report at exit ebra_snapshot; see snapshot.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control_internal.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- buffered output ----------------------------------------------------------- */

typedef struct emit_s {
  ebra_output_fn *out;
  void *arg;
  size_t len;
  char buf[4096];
} emit_t;

/* The output callback for out == NULL (arg: stdout) and the report at exit
 * (arg: stderr). */
static void print_file(const char *text, void *arg) { fputs(text, (FILE *)arg); }

static void emit_init(emit_t *e, ebra_output_fn *out, void *arg) {
  e->out = out ? out : print_file;
  e->arg = out ? arg : stdout;
  e->len = 0;
  e->buf[0] = '\0';
}

static void emit_flush(emit_t *e) {
  if (e->len)
    e->out(e->buf, e->arg);
  e->len = 0;
  e->buf[0] = '\0';
}

static void emit_vf(emit_t *e, const char *fmt, va_list ap) {
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(e->buf + e->len, sizeof e->buf - e->len, fmt, ap);
  if (n >= 0 && (size_t)n >= sizeof e->buf - e->len) { /* did not fit */
    e->buf[e->len] = '\0';
    emit_flush(e);
    n = vsnprintf(e->buf, sizeof e->buf, fmt, again);
  }
  va_end(again);
  if (n < 0)
    EBI_DIE("monitor: bad format");
  if ((size_t)n >= sizeof e->buf)
    EBI_DIE("monitor: one formatted piece longer than the output buffer");
  e->len += (size_t)n;
}

static void emitf(emit_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emitf(emit_t *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit_vf(e, fmt, ap);
  va_end(ap);
}

static void emit_bytes(emit_t *e, const char *p, size_t n) {
  if (e->len + n >= sizeof e->buf)
    emit_flush(e);
  memcpy(e->buf + e->len, p, n);
  e->len += n;
  e->buf[e->len] = '\0';
}

/* ---- the escaper --------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * surrogates or code points above U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s) {
  const unsigned c = s[0];
  size_t n;
  unsigned lo = 0x80, hi = 0xBF;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    lo = c == 0xE0 ? 0xA0 : 0x80;
    hi = c == 0xED ? 0x9F : 0xBF;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    lo = c == 0xF0 ? 0x90 : 0x80;
    hi = c == 0xF4 ? 0x8F : 0xBF;
  } else
    return 0;
  if (s[1] < lo || s[1] > hi) /* also stops at the NUL */
    return 0;
  for (size_t i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xBF)
      return 0;
  return n;
}

typedef enum esc_mode_e {
  ESC_JSON, /* a JSON string (RFC 8259 section 7): every control byte escaped */
  ESC_PROM, /* a Prometheus label value: exactly \\, \" and \n are escaped */
  ESC_TEXT  /* text for people: \\, \", \n, \t, other control bytes as \xNN */
} esc_mode_t;

/* str in double quotes, escaped for mode.  Every mode wants UTF-8: bytes
 * that are not (a name cut inside a character) become U+FFFD. */
static void emit_quoted(emit_t *e, const char *str, esc_mode_t mode) {
  static const char REPLACEMENT[] = "\xEF\xBF\xBD";
  const unsigned char *s = (const unsigned char *)str;
  emit_bytes(e, "\"", 1);
  while (*s) {
    const size_t n = utf8_seq(s);
    const unsigned c = *s;
    if (n == 0)
      emit_bytes(e, REPLACEMENT, 3);
    else if (c == '"' || c == '\\')
      emitf(e, "\\%c", c);
    else if (c == '\n')
      emit_bytes(e, "\\n", 2);
    else if (c >= 0x20 || mode == ESC_PROM)
      emit_bytes(e, (const char *)s, n);
    else if (c == '\t')
      emit_bytes(e, "\\t", 2);
    else
      emitf(e, mode == ESC_JSON ? "\\u%04x" : "\\x%02x", c);
    s += n ? n : 1;
  }
  emit_bytes(e, "\"", 1);
}

/* ---- field tables ---------------------------------------------------------------- */

typedef enum field_type_e { F_U64, F_U32, F_UINT, F_SIZE } field_type_t;

#define FF_NS 0x1u           /* nanoseconds: Prometheus prints seconds */
#define FF_ZERO_UNKNOWN 0x2u /* 0 means unknown: Prometheus omits the family */

/* One number of a stats struct: its key in text and JSON, and its
 * Prometheus family. */
typedef struct field_s {
  const char *key;
  size_t off;
  field_type_t type;
  unsigned flags;
  const char *metric;
  const char *prom_type; /* counter | gauge */
  const char *help;
} field_t;

/* S is the struct of the table being defined. */
#define COUNTER(f, m, h) {#f, offsetof(S, f), F_U64, 0, m, "counter", h}
#define GAUGE(f, m, h) {#f, offsetof(S, f), F_U64, 0, m, "gauge", h}
#define GAUGE_AS(f, t, fl, m, h) {#f, offsetof(S, f), t, fl, m, "gauge", h}

#define S ebra_snapshot_t
static const field_t global_fields[] = {
  GAUGE_AS(resident_bytes, F_U64, FF_ZERO_UNKNOWN, "ebra_process_resident_bytes",
           "Resident memory of the process, from /proc/self/statm."),
  GAUGE(bytes_reserved, "ebra_reserved_bytes", "Bytes mapped from the OS for slabs, all pools."),
  GAUGE(bytes_live, "ebra_live_bytes", "Bytes of objects handed out, all pools."),
  GAUGE(pending_bytes, "ebra_pending_bytes",
        "Bytes of pool objects awaiting a grace period, all domains."),
  GAUGE_AS(npools, F_U32, 0, "ebra_pools", "Live pools."),
  GAUGE_AS(ndomains, F_U32, 0, "ebra_domains", "Live reclamation domains."),
  GAUGE_AS(ncaches, F_U32, 0, "ebra_caches", "Live weak caches."),
  GAUGE_AS(nweak_tables, F_U32, 0, "ebra_weak_tables", "Live weak tables."),
  GAUGE_AS(nsubjects, F_U32, 0, "ebra_subjects", "Live weak-observer subjects."),
};
#undef S

#define S ebra_pool_stats_t
static const field_t pool_fields[] = {
  COUNTER(allocs, "ebra_pool_allocations_total", "Successful allocations."),
  COUNTER(frees, "ebra_pool_frees_total", "Successful frees."),
  COUNTER(magazine_hits, "ebra_pool_magazine_hits_total",
          "Allocations and frees served by the thread's magazines."),
  COUNTER(magazine_misses, "ebra_pool_magazine_misses_total",
          "Allocations and frees that went to the depot or the slabs."),
  COUNTER(depot_exchanges, "ebra_pool_depot_exchanges_total",
          "Magazines taken from or given to the depot."),
  COUNTER(depot_contention, "ebra_pool_depot_contention_total",
          "Depot compare-and-swap attempts that lost a race."),
  GAUGE(slabs, "ebra_pool_slabs", "Slabs currently mapped."),
  GAUGE(bytes_reserved, "ebra_pool_reserved_bytes", "Bytes mapped from the OS for slabs."),
  GAUGE(bytes_live, "ebra_pool_live_bytes", "Bytes of objects handed out."),
  GAUGE(objects_live, "ebra_pool_live_objects", "Objects handed out and not yet freed."),
  COUNTER(objects_carved, "ebra_pool_carved_objects_total",
          "Objects ever cut from slabs (at most the cap)."),
  GAUGE(depot_full, "ebra_pool_depot_full_magazines", "Non-empty magazines in the depot."),
  GAUGE(depot_empty, "ebra_pool_depot_empty_magazines", "Empty magazines in the depot."),
  COUNTER(errors, "ebra_pool_errors_total", "Misuse detected on the pool."),
  GAUGE_AS(threads, F_U32, 0, "ebra_pool_threads", "Threads with a cache attached."),
  GAUGE_AS(magazine_capacity, F_U32, 0, "ebra_pool_magazine_capacity", "Rounds per magazine."),
  GAUGE_AS(object_size, F_SIZE, 0, "ebra_pool_object_size_bytes", "Object size."),
  GAUGE_AS(stride, F_SIZE, 0, "ebra_pool_stride_bytes", "Bytes per object slot in a slab."),
  GAUGE(objects_in_slabs, "ebra_pool_slab_free_objects",
        "Free objects trimmed from the depot back to their slabs."),
  GAUGE(bytes_purged, "ebra_pool_purged_bytes",
        "Slab bytes given back to the OS and not yet reused."),
  COUNTER(slabs_purged, "ebra_pool_slab_purges_total", "Wholly free slabs given back to the OS."),
  COUNTER(magazines_trimmed, "ebra_pool_magazines_trimmed_total",
          "Full magazines trimmed from the depot back to the slabs."),
  GAUGE(depot_parked, "ebra_pool_depot_parked_magazines",
        "Empty magazines of a capacity the pool no longer uses."),
  COUNTER(depot_objects, "ebra_pool_depot_objects_total",
          "Objects moved through the depot in full magazines."),
  GAUGE(max_objects, "ebra_pool_max_objects", "The pool's object cap (0: none)."),
  GAUGE(bytes_magazines, "ebra_pool_magazine_bytes",
        "Heap bytes of the pool's magazines (freed with the pool)."),
};
#undef S

#define S ebra_domain_stats_t
static const field_t domain_fields[] = {
  COUNTER(retired, "ebra_domain_retired_total", "Objects and calls retired."),
  COUNTER(reclaimed, "ebra_domain_reclaimed_total",
          "Retired objects returned to their pools and calls run."),
  GAUGE(pending, "ebra_domain_pending_objects", "Retired, awaiting a grace period."),
  GAUGE(pending_bytes, "ebra_domain_pending_bytes",
        "Bytes of pool objects awaiting a grace period."),
  COUNTER(grace_periods, "ebra_domain_grace_periods_total",
          "Grace periods completed by the reclaimer."),
  COUNTER(batches, "ebra_domain_batches_total", "Batches reclaimed."),
  GAUGE_AS(gp_ns_p50, F_U64, FF_NS, "ebra_domain_grace_period_p50_seconds",
           "Median grace-period latency over the last 1024 grace periods."),
  GAUGE_AS(gp_ns_p90, F_U64, FF_NS, "ebra_domain_grace_period_p90_seconds",
           "90th percentile grace-period latency over the last 1024 grace periods."),
  GAUGE_AS(gp_ns_p99, F_U64, FF_NS, "ebra_domain_grace_period_p99_seconds",
           "99th percentile grace-period latency over the last 1024 grace periods."),
  GAUGE_AS(gp_ns_max, F_U64, FF_NS, "ebra_domain_grace_period_max_seconds",
           "Longest grace period among the last 1024."),
  GAUGE_AS(reuse_ns_p50, F_U64, FF_NS, "ebra_domain_reuse_p50_seconds",
           "Median retire-to-reusable time per sampled object (one per batch), last 1024."),
  GAUGE_AS(reuse_ns_p99, F_U64, FF_NS, "ebra_domain_reuse_p99_seconds",
           "99th percentile retire-to-reusable time per sampled object, last 1024."),
  GAUGE_AS(reuse_ns_max, F_U64, FF_NS, "ebra_domain_reuse_max_seconds",
           "Longest retire-to-reusable time among the last 1024 samples."),
  GAUGE_AS(cleanup_ns_p50, F_U64, FF_NS, "ebra_domain_cleanup_p50_seconds",
           "Median retire-to-cleanup-done time per sampled object, last 1024."),
  GAUGE_AS(cleanup_ns_p99, F_U64, FF_NS, "ebra_domain_cleanup_p99_seconds",
           "99th percentile retire-to-cleanup-done time per sampled object, last 1024."),
  GAUGE_AS(cleanup_ns_max, F_U64, FF_NS, "ebra_domain_cleanup_max_seconds",
           "Longest retire-to-cleanup-done time among the last 1024 samples."),
  GAUGE(max_pending, "ebra_domain_max_pending", "The backlog bound in force."),
  COUNTER(helped_rounds, "ebra_domain_helped_rounds_total",
          "Rounds run by retiring threads past the backlog bound."),
  COUNTER(stalls, "ebra_domain_stalls_total",
          "Grace periods held up past the stall threshold (each reported once)."),
  GAUGE_AS(stalled_ns, F_U64, FF_NS, "ebra_domain_stalled_seconds",
           "Age of the running grace period if past the stall threshold, else 0."),
  GAUGE_AS(threads, F_U32, 0, "ebra_domain_threads", "Registered threads."),
  GAUGE_AS(batch_size, F_UINT, 0, "ebra_domain_batch_size", "Retired objects per batch."),
  GAUGE_AS(max_batch_age_ns, F_U64, FF_NS, "ebra_domain_max_batch_age_seconds",
           "Age at which an open batch is closed."),
};
#undef S

#define S ebra_cache_stats_t
static const field_t cache_fields[] = {
  COUNTER(hits, "ebra_cache_hits_total", "Lookups that returned a live object."),
  COUNTER(misses, "ebra_cache_misses_total", "Lookups that returned nothing."),
  COUNTER(stores, "ebra_cache_stores_total", "Entries stored."),
  COUNTER(evictions, "ebra_cache_evictions_total",
          "Entries evicted by the CLOCK hand (max_entries)."),
  COUNTER(expirations, "ebra_cache_expirations_total", "Entries dropped after their time to live."),
  COUNTER(deaths, "ebra_cache_deaths_total", "Entries removed because their object died."),
  COUNTER(erasures, "ebra_cache_erasures_total", "Entries erased."),
  COUNTER(replacements, "ebra_cache_replacements_total",
          "Entries replaced by a store of the same key."),
  GAUGE(size, "ebra_cache_entries", "Entries in the cache."),
  GAUGE(max_entries, "ebra_cache_max_entries", "Entry limit (0: none)."),
};
#undef S

#define S ebra_weak_stats_t
static const field_t weak_table_fields[] = {
  GAUGE(live, "ebra_weak_table_live_objects",
        "Objects alive, or dead and not yet reclaimed, owned by the table's handles."),
  GAUGE(slots, "ebra_weak_table_slots", "Handle slots allocated."),
  GAUGE(retired_slots, "ebra_weak_table_retired_slots",
        "Slots retired for good (generation wrap)."),
  COUNTER(created, "ebra_weak_table_created_total", "Weak handles created."),
  COUNTER(killed, "ebra_weak_table_killed_total", "Weak handles killed."),
  COUNTER(cleanups_run, "ebra_weak_table_cleanups_run_total", "Cleanup callbacks run."),
};
#undef S

#define S ebra_subject_stats_t
static const field_t subject_fields[] = {
  GAUGE(observers, "ebra_subject_observers", "Observers subscribed now."),
  COUNTER(subscribed, "ebra_subject_subscriptions_total", "Subscriptions made."),
  COUNTER(unlinked, "ebra_subject_unlinked_total",
          "Observers unlinked: unsubscribed, dead or destroyed."),
  COUNTER(notifies, "ebra_subject_notifies_total", "Notifications sent."),
  COUNTER(calls, "ebra_subject_observer_calls_total", "Observer callbacks run by notifications."),
};
#undef S

#define S ebra_engine_stats_t
static const field_t engine_fields[] = {
  COUNTER(steps, "ebra_engine_steps_total", "Strategy engine steps (ebra_maintain)."),
  COUNTER(switches, "ebra_engine_strategy_switches_total", "Changes of the active strategy."),
  COUNTER(knob_changes, "ebra_engine_knob_changes_total",
          "Magazine capacities and retire batching changed by the engine."),
  COUNTER(magazines_trimmed, "ebra_engine_magazines_trimmed_total",
          "Full magazines trimmed from depots by the engine."),
  COUNTER(caches_drained, "ebra_engine_caches_drained_total",
          "Pool caches of idle threads taken back by the engine."),
  COUNTER(bytes_purged, "ebra_engine_purged_bytes_total",
          "Slab bytes given back to the OS by the engine."),
  COUNTER(forced_grace_periods, "ebra_engine_forced_grace_periods_total",
          "Grace periods forced because the soft limit was passed."),
  COUNTER(soft_limit_steps, "ebra_engine_soft_limit_steps_total",
          "Steps that found ebra above the soft limit."),
  COUNTER(hard_limit_refusals, "ebra_engine_hard_limit_refusals_total",
          "Slabs the hard limit refused."),
  GAUGE(committed_bytes, "ebra_engine_committed_bytes",
        "Slab bytes ebra holds from the OS (mapped minus purged)."),
  GAUGE(soft_limit, "ebra_engine_soft_limit_bytes", "Soft memory limit (0: none)."),
  GAUGE(hard_limit, "ebra_engine_hard_limit_bytes", "Hard memory limit (0: none)."),
  GAUGE(alloc_rate, "ebra_engine_alloc_rate", "Allocations per second over the last step."),
  GAUGE(free_rate, "ebra_engine_free_rate", "Frees per second over the last step."),
  GAUGE(exchange_rate, "ebra_engine_exchange_rate",
        "Depot exchanges per second over the last step."),
  GAUGE(contention_rate, "ebra_engine_contention_rate",
        "Depot CAS failures per second over the last step."),
  GAUGE(retire_rate, "ebra_engine_retire_rate", "Retires per second over the last step."),
};
#undef S
#undef COUNTER
#undef GAUGE
#undef GAUGE_AS

static uint64_t field_get(const field_t *f, const void *stats) {
  const char *p = (const char *)stats + f->off;
  switch (f->type) {
  case F_U32: return *(const uint32_t *)p;
  case F_UINT: return *(const unsigned *)p;
  case F_SIZE: return *(const size_t *)p;
  default: return *(const uint64_t *)p;
  }
}

/* ---- the kinds of entry ------------------------------------------------------------ */

/* One entry of a snapshot, as the printers see it: a label set (none for
 * the global part and the engine) and the stats its field table reads. */
typedef struct entry_s {
  uint32_t id;
  const char *name;      /* NULL: no labels */
  const char *extra_key; /* one more label: a domain's "backend", a weak
                            table's "domain_id"; NULL: none */
  const char *extra;     /* its value */
  const void *stats;
  char extra_buf[16];    /* holds extra when it is a number */
} entry_t;

static bool global_at(const ebra_snapshot_t *s, uint32_t i, entry_t *e) {
  *e = (entry_t){.stats = s};
  return i == 0;
}

static bool pool_at(const ebra_snapshot_t *s, uint32_t i, entry_t *e) {
  if (i >= s->npools)
    return false;
  *e = (entry_t){s->pools[i].id, s->pools[i].name, NULL, NULL, &s->pools[i].stats, ""};
  return true;
}

static bool domain_at(const ebra_snapshot_t *s, uint32_t i, entry_t *e) {
  if (i >= s->ndomains)
    return false;
  const ebra_snapshot_domain_t *d = &s->domains[i];
  *e = (entry_t){d->id, d->name, "backend", d->backend_name, &d->stats, ""};
  return true;
}

static bool cache_at(const ebra_snapshot_t *s, uint32_t i, entry_t *e) {
  if (i >= s->ncaches)
    return false;
  *e = (entry_t){s->caches[i].id, s->caches[i].name, NULL, NULL, &s->caches[i].stats, ""};
  return true;
}

static bool weak_table_at(const ebra_snapshot_t *s, uint32_t i, entry_t *e) {
  if (i >= s->nweak_tables)
    return false;
  const ebra_snapshot_weak_table_t *t = &s->weak_tables[i];
  *e = (entry_t){t->id, t->name, "domain_id", NULL, &t->stats, ""};
  snprintf(e->extra_buf, sizeof e->extra_buf, "%" PRIu32, t->domain_id);
  e->extra = e->extra_buf;
  return true;
}

static bool subject_at(const ebra_snapshot_t *s, uint32_t i, entry_t *e) {
  if (i >= s->nsubjects)
    return false;
  *e = (entry_t){s->subjects[i].id, s->subjects[i].name, NULL, NULL, &s->subjects[i].stats, ""};
  return true;
}

static bool engine_at(const ebra_snapshot_t *s, uint32_t i, entry_t *e) {
  *e = (entry_t){.stats = &s->engine};
  return i == 0;
}

typedef struct kind_s {
  const char *what;  /* text word and Prometheus label name; NULL: one
                        unlabelled entry (the global part, the engine) */
  const char *array; /* JSON array of the entries */
  const field_t *fields;
  size_t nfields;
  bool (*at)(const ebra_snapshot_t *s, uint32_t i, entry_t *e); /* false past the end */
} kind_t;

#define KIND(what, array, fields, at) {what, array, fields, NELEMS(fields), at}
enum { K_GLOBAL, K_POOL, K_DOMAIN, K_WEAK_TABLE, K_CACHE, K_SUBJECT, K_ENGINE, K_COUNT };
static const kind_t kinds[K_COUNT] = {
  [K_GLOBAL] = KIND(NULL, NULL, global_fields, global_at),
  [K_POOL] = KIND("pool", "pools", pool_fields, pool_at),
  [K_DOMAIN] = KIND("domain", "domains", domain_fields, domain_at),
  [K_WEAK_TABLE] = KIND("weak_table", "weak_tables", weak_table_fields, weak_table_at),
  [K_CACHE] = KIND("cache", "caches", cache_fields, cache_at),
  [K_SUBJECT] = KIND("subject", "subjects", subject_fields, subject_at),
  [K_ENGINE] = KIND(NULL, NULL, engine_fields, engine_at),
};
#undef KIND

/* ---- latency histograms (domains) ----------------------------------------------- */

static const uint64_t latency_bounds[EBRA_LATENCY_BUCKETS - 1] = EBRA_LATENCY_BOUNDS_NS;

typedef struct hist_s {
  const char *key;    /* text and JSON: key, and key "_sum" is the sum */
  const char *metric; /* Prometheus histogram family, in seconds */
  const char *help;
  size_t hist_off, sum_off;
} hist_t;

static const hist_t domain_hists[] = {
  {"gp_ns", "ebra_domain_grace_period_seconds", "Grace-period latency, every grace period.",
   offsetof(ebra_domain_stats_t, gp_ns_hist), offsetof(ebra_domain_stats_t, gp_ns_sum)},
  {"reuse_ns", "ebra_domain_reuse_seconds",
   "Retire-to-reuse time of each batch's oldest object, every batch.",
   offsetof(ebra_domain_stats_t, reuse_ns_hist), offsetof(ebra_domain_stats_t, reuse_ns_sum)},
};

static const uint64_t *hist_counts(const hist_t *h, const void *stats) {
  return (const uint64_t *)((const char *)stats + h->hist_off);
}
static uint64_t hist_sum(const hist_t *h, const void *stats) {
  return *(const uint64_t *)((const char *)stats + h->sum_off);
}

/* Exact decimal seconds of ns, no rounding through double. */
static void emit_seconds(emit_t *e, uint64_t ns) {
  emitf(e, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
}

/* ---- text ------------------------------------------------------------------------ */

#define TEXT_WIDTH 96

/* "key value" pairs, comma-separated, wrapped below a header line. */
static void text_fields(emit_t *e, const kind_t *k, const void *stats) {
  size_t col = TEXT_WIDTH; /* the first pair starts a line */
  for (size_t i = 0; i < k->nfields; i++) {
    char pair[96];
    const int n = snprintf(pair, sizeof pair, "%s %" PRIu64, k->fields[i].key,
                           field_get(&k->fields[i], stats));
    if (col + 2 + (size_t)n > TEXT_WIDTH) {
      emit_bytes(e, "\n  ", 3);
      col = 2;
    } else {
      emit_bytes(e, ", ", 2);
      col += 2;
    }
    emit_bytes(e, pair, (size_t)n);
    col += (size_t)n;
  }
  emit_bytes(e, "\n", 1);
}

/* "  gp_ns_hist c0 c1 ... c13, gp_ns_sum N": each bucket's own count, in
 * the order of EBRA_LATENCY_BOUNDS_NS (the last: above every bound). */
static void text_hists(emit_t *e, const void *stats) {
  for (size_t h = 0; h < NELEMS(domain_hists); h++) {
    const uint64_t *c = hist_counts(&domain_hists[h], stats);
    emitf(e, "  %s_hist", domain_hists[h].key);
    for (size_t i = 0; i < EBRA_LATENCY_BUCKETS; i++)
      emitf(e, " %" PRIu64, c[i]);
    emitf(e, ", %s_sum %" PRIu64 "\n", domain_hists[h].key, hist_sum(&domain_hists[h], stats));
  }
}

/* pool "name" (id N): ...; domain "name" (id N, backend): ... */
static void text_entry(emit_t *e, const kind_t *k, const entry_t *en) {
  emitf(e, "%s ", k->what);
  emit_quoted(e, en->name, ESC_TEXT);
  emitf(e, " (id %" PRIu32, en->id);
  if (en->extra_key && strcmp(en->extra_key, "backend") == 0)
    emitf(e, ", %s", en->extra);
  else if (en->extra_key)
    emitf(e, ", %s %s", en->extra_key, en->extra);
  emit_bytes(e, "):", 2);
  text_fields(e, k, en->stats);
  if (k == &kinds[K_DOMAIN])
    text_hists(e, en->stats);
}

/* ---- reports: per kind, delivered and suppressed ---------------------------- */

static bool report_kind_named(unsigned k) {
  return strcmp(ebra_error_kind_name((ebra_error_kind_t)k), "unknown") != 0;
}

/* "reports: <kind> delivered N suppressed M, ..." for kinds seen; nothing
 * when no report was made. */
static void text_reports(emit_t *e, const ebra_report_stats_t *r) {
  bool any = false;
  for (unsigned k = 1; k < EBRA_REPORT_KINDS; k++) {
    if (!r->delivered[k] && !r->suppressed[k])
      continue;
    emitf(e, "%s %s delivered %llu suppressed %llu", any ? "," : "reports:",
          ebra_error_kind_name((ebra_error_kind_t)k), r->delivered[k], r->suppressed[k]);
    any = true;
  }
  if (any)
    emit_bytes(e, "\n", 1);
}

int ebra_snapshot_print_text(const ebra_snapshot_t *snap, ebra_output_fn *out, void *arg) {
  if (!snap)
    return ebi_bad_call("ebra_snapshot_print_text: snap is NULL");
  emit_t e;
  emit_init(&e, out, arg);
  emit_bytes(&e, "ebra:", 5);
  text_fields(&e, &kinds[K_GLOBAL], snap);
  for (int k = K_POOL; k <= K_SUBJECT; k++) {
    entry_t en;
    for (uint32_t i = 0; kinds[k].at(snap, i, &en); i++)
      text_entry(&e, &kinds[k], &en);
  }
  emitf(&e, "engine: %s (configured %s):", ebra_strategy_name(snap->engine.active),
        ebra_strategy_name(snap->engine.configured));
  text_fields(&e, &kinds[K_ENGINE], &snap->engine);
  text_reports(&e, &snap->reports);
  emitf(&e, "build: version %s, features %u\n", ebra_version(), ebra_build_features());
  emit_flush(&e);
  return 0;
}

int ebra_pool_print_stats(const ebra_pool_t *pool, ebra_output_fn *out, void *arg) {
  ebra_pool_stats_t st;
  const int rc = ebra_pool_stats(pool, &st);
  if (rc)
    return rc;
  emit_t e;
  emit_init(&e, out, arg);
  text_entry(&e, &kinds[K_POOL], &(entry_t){pool->life.id, pool->life.name, NULL, NULL, &st, ""});
  emit_flush(&e);
  return 0;
}

/* ---- JSON ------------------------------------------------------------------------ */

static void json_fields(emit_t *e, const kind_t *k, const void *stats) {
  for (size_t i = 0; i < k->nfields; i++)
    emitf(e, ",\"%s\":%" PRIu64, k->fields[i].key, field_get(&k->fields[i], stats));
}

/* ,"gp_ns_hist":[c0,...],"gp_ns_sum":N,... */
static void json_hists(emit_t *e, const void *stats) {
  for (size_t h = 0; h < NELEMS(domain_hists); h++) {
    const uint64_t *c = hist_counts(&domain_hists[h], stats);
    emitf(e, ",\"%s_hist\":[", domain_hists[h].key);
    for (size_t i = 0; i < EBRA_LATENCY_BUCKETS; i++)
      emitf(e, "%s%" PRIu64, i ? "," : "", c[i]);
    emitf(e, "],\"%s_sum\":%" PRIu64, domain_hists[h].key, hist_sum(&domain_hists[h], stats));
  }
}

/* ,"pools":[{"id":N,"name":"...",...},...] */
static void json_array(emit_t *e, const ebra_snapshot_t *snap, const kind_t *k) {
  entry_t en;
  emitf(e, ",\"%s\":[", k->array);
  for (uint32_t i = 0; k->at(snap, i, &en); i++) {
    emitf(e, "%s{\"id\":%" PRIu32 ",\"name\":", i ? "," : "", en.id);
    emit_quoted(e, en.name, ESC_JSON);
    if (en.extra_key) {
      emitf(e, ",\"%s\":", en.extra_key);
      emit_quoted(e, en.extra, ESC_JSON);
    }
    json_fields(e, k, en.stats);
    if (k == &kinds[K_DOMAIN])
      json_hists(e, en.stats);
    emit_bytes(e, "}", 1);
  }
  emit_bytes(e, "]", 1);
}

/* ,"reports":{"<kind>":{"delivered":N,"suppressed":M},...}: every named kind */
static void json_reports(emit_t *e, const ebra_report_stats_t *r) {
  emit_bytes(e, ",\"reports\":{", 12);
  bool first = true;
  for (unsigned k = 1; k < EBRA_REPORT_KINDS; k++) {
    if (!report_kind_named(k))
      continue;
    emitf(e, "%s\"%s\":{\"delivered\":%llu,\"suppressed\":%llu}", first ? "" : ",",
          ebra_error_kind_name((ebra_error_kind_t)k), r->delivered[k], r->suppressed[k]);
    first = false;
  }
  emit_bytes(e, "}", 1);
}

int ebra_snapshot_print_json(const ebra_snapshot_t *snap, ebra_output_fn *out, void *arg) {
  if (!snap)
    return ebi_bad_call("ebra_snapshot_print_json: snap is NULL");
  emit_t e;
  emit_init(&e, out, arg);
  emitf(&e, "{\"timestamp_ns\":%" PRIu64 ",\"version\":\"%s\",\"build_features\":%u",
        snap->timestamp_ns, ebra_version(), ebra_build_features());
  json_fields(&e, &kinds[K_GLOBAL], snap);
  emit_bytes(&e, ",\"latency_bounds_ns\":[", 22);
  for (size_t i = 0; i < NELEMS(latency_bounds); i++)
    emitf(&e, "%s%" PRIu64, i ? "," : "", latency_bounds[i]);
  emit_bytes(&e, "]", 1);
  for (int k = K_POOL; k <= K_SUBJECT; k++)
    json_array(&e, snap, &kinds[k]);
  emitf(&e, ",\"engine\":{\"configured\":\"%s\",\"active\":\"%s\"",
        ebra_strategy_name(snap->engine.configured), ebra_strategy_name(snap->engine.active));
  json_fields(&e, &kinds[K_ENGINE], &snap->engine);
  emit_bytes(&e, "}", 1);
  json_reports(&e, &snap->reports);
  emit_bytes(&e, "}\n", 2);
  emit_flush(&e);
  return 0;
}

/* ---- Prometheus ------------------------------------------------------------------ */

static void prom_family(emit_t *e, const char *name, const char *type, const char *help) {
  emitf(e, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* kind="name",extra="...",id="N" (no braces) */
static void prom_labels(emit_t *e, const kind_t *k, const entry_t *en) {
  emitf(e, "%s=", k->what);
  emit_quoted(e, en->name, ESC_PROM);
  if (en->extra_key) {
    emitf(e, ",%s=", en->extra_key);
    emit_quoted(e, en->extra, ESC_PROM);
  }
  emitf(e, ",id=\"%" PRIu32 "\"", en->id);
}

/* One sample: name{labels} value. */
static void prom_sample(emit_t *e, const kind_t *k, const field_t *f, const entry_t *en) {
  emit_bytes(e, f->metric, strlen(f->metric));
  if (k->what) {
    emit_bytes(e, "{", 1);
    prom_labels(e, k, en);
    emit_bytes(e, "}", 1);
  }
  const uint64_t v = field_get(f, en->stats);
  if (f->flags & FF_NS) /* exact decimal seconds, no rounding through double */
    emitf(e, " %" PRIu64 ".%09" PRIu64 "\n", v / 1000000000u, v % 1000000000u);
  else
    emitf(e, " %" PRIu64 "\n", v);
}

/* Every family of one kind, each with a sample per entry. */
static void prom_kind(emit_t *e, const ebra_snapshot_t *snap, const kind_t *k) {
  for (size_t j = 0; j < k->nfields; j++) {
    const field_t *f = &k->fields[j];
    entry_t en;
    if (!k->what && k->at(snap, 0, &en) && (f->flags & FF_ZERO_UNKNOWN) && !field_get(f, en.stats))
      continue; /* unknown: export nothing rather than 0 */
    prom_family(e, f->metric, f->prom_type, f->help);
    for (uint32_t i = 0; k->at(snap, i, &en); i++)
      prom_sample(e, k, f, &en);
  }
}

/* The domains' latency histograms: cumulative _bucket{le} samples, _sum
 * in seconds, _count. */
static void prom_hists(emit_t *e, const ebra_snapshot_t *snap) {
  const kind_t *k = &kinds[K_DOMAIN];
  for (size_t h = 0; h < NELEMS(domain_hists); h++) {
    prom_family(e, domain_hists[h].metric, "histogram", domain_hists[h].help);
    entry_t en;
    for (uint32_t i = 0; k->at(snap, i, &en); i++) {
      const uint64_t *c = hist_counts(&domain_hists[h], en.stats);
      uint64_t cum = 0;
      for (size_t b = 0; b < EBRA_LATENCY_BUCKETS; b++) {
        cum += c[b];
        emitf(e, "%s_bucket{", domain_hists[h].metric);
        prom_labels(e, k, &en);
        emit_bytes(e, ",le=\"", 5);
        if (b < NELEMS(latency_bounds))
          emit_seconds(e, latency_bounds[b]);
        else
          emit_bytes(e, "+Inf", 4);
        emitf(e, "\"} %" PRIu64 "\n", cum);
      }
      emitf(e, "%s_sum{", domain_hists[h].metric);
      prom_labels(e, k, &en);
      emit_bytes(e, "} ", 2);
      emit_seconds(e, hist_sum(&domain_hists[h], en.stats));
      emitf(e, "\n%s_count{", domain_hists[h].metric);
      prom_labels(e, k, &en);
      emitf(e, "} %" PRIu64 "\n", cum);
    }
  }
}

/* ebra_build_info{version, features} 1 */
static void prom_build_info(emit_t *e) {
  const unsigned f = ebra_build_features();
  prom_family(e, "ebra_build_info", "gauge", "Always 1; the labels describe the ebra library.");
  emitf(e,
        "ebra_build_info{version=\"%s\",debug_checks=\"%d\",tsan=\"%d\",asan=\"%d\","
        "urcu_inline=\"%d\"} 1\n",
        ebra_version(), !!(f & EBRA_FEATURE_DEBUG_CHECKS), !!(f & EBRA_FEATURE_TSAN),
        !!(f & EBRA_FEATURE_ASAN), !!(f & EBRA_FEATURE_URCU_INLINE));
}

/* A 0/1 gauge per strategy from `from` on: 1 for `value`. */
static void prom_strategy(emit_t *e, const char *metric, const char *help, ebra_strategy_t value,
                          ebra_strategy_t from) {
  prom_family(e, metric, "gauge", help);
  for (int s = (int)from; s < EBI_STRATEGY_COUNT; s++)
    emitf(e, "%s{strategy=\"%s\"} %d\n", metric, ebi_strategy_names[s], (int)value == s);
}

/* Two counter families with a sample per named kind. */
static void prom_reports(emit_t *e, const ebra_report_stats_t *r) {
  static const struct { const char *metric, *help; bool suppressed; } fam[] = {
      {"ebra_reports_total", "Reports delivered to the hook or stderr, by kind.", false},
      {"ebra_reports_suppressed_total",
       "Reports held back by the per-kind limit (EBRA_REPORT_LIMIT), by kind.", true},
  };
  for (size_t f = 0; f < NELEMS(fam); f++) {
    prom_family(e, fam[f].metric, "counter", fam[f].help);
    for (unsigned k = 1; k < EBRA_REPORT_KINDS; k++)
      if (report_kind_named(k))
        emitf(e, "%s{kind=\"%s\"} %llu\n", fam[f].metric,
              ebra_error_kind_name((ebra_error_kind_t)k),
              fam[f].suppressed ? r->suppressed[k] : r->delivered[k]);
  }
}

int ebra_snapshot_print_prometheus(const ebra_snapshot_t *snap, ebra_output_fn *out,
                                   void *arg) {
  if (!snap)
    return ebi_bad_call("ebra_snapshot_print_prometheus: snap is NULL");
  emit_t e;
  emit_init(&e, out, arg);
  prom_build_info(&e);
  for (int k = 0; k < K_COUNT; k++)
    prom_kind(&e, snap, &kinds[k]);
  prom_hists(&e, snap);
  prom_strategy(&e, "ebra_engine_active_strategy",
                "1 for the strategy the engine applies, 0 for the others.", snap->engine.active,
                EBRA_STRATEGY_LOW_LATENCY);
  prom_strategy(&e, "ebra_engine_configured_strategy",
                "1 for the strategy configured, 0 for the others.", snap->engine.configured,
                EBRA_STRATEGY_ADAPTIVE);
  prom_reports(&e, &snap->reports);
  emit_flush(&e);
  return 0;
}

/* ---- the report at exit ------------------------------------------------------- */

/* atexit: EBRA_SHOW_STATS=1 prints the text report (every live pool,
 * domain and cache) to stderr.  Registered by the constructor below, so the
 * floors under this one never call up into it. */
static void print_all_at_exit(void) {
  if (!ebi_option_is_on(EBRA_OPT_SHOW_STATS))
    return;
  ebra_snapshot_t *snap = NULL;
  if (ebra_snapshot(&snap) != 0) {
    fputs("ebra: stats at exit: no memory for a snapshot\n", stderr);
    return;
  }
  fputs("ebra: stats at exit\n", stderr);
  ebra_snapshot_print_text(snap, print_file, stderr);
  ebra_snapshot_free(snap);
}

__attribute__((constructor)) static void monitor_init(void) { atexit(print_all_at_exit); }

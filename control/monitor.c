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
  const char *name;    /* NULL: no labels */
  const char *backend; /* domains only */
  const void *stats;
} entry_t;

static bool global_at(const ebra_snapshot_t *s, uint32_t i, entry_t *e) {
  *e = (entry_t){.stats = s};
  return i == 0;
}

static bool pool_at(const ebra_snapshot_t *s, uint32_t i, entry_t *e) {
  if (i >= s->npools)
    return false;
  *e = (entry_t){s->pools[i].id, s->pools[i].name, NULL, &s->pools[i].stats};
  return true;
}

static bool domain_at(const ebra_snapshot_t *s, uint32_t i, entry_t *e) {
  if (i >= s->ndomains)
    return false;
  const ebra_snapshot_domain_t *d = &s->domains[i];
  *e = (entry_t){d->id, d->name, d->backend_name, &d->stats};
  return true;
}

static bool cache_at(const ebra_snapshot_t *s, uint32_t i, entry_t *e) {
  if (i >= s->ncaches)
    return false;
  *e = (entry_t){s->caches[i].id, s->caches[i].name, NULL, &s->caches[i].stats};
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
enum { K_GLOBAL, K_POOL, K_DOMAIN, K_CACHE, K_ENGINE, K_COUNT };
static const kind_t kinds[K_COUNT] = {
  [K_GLOBAL] = KIND(NULL, NULL, global_fields, global_at),
  [K_POOL] = KIND("pool", "pools", pool_fields, pool_at),
  [K_DOMAIN] = KIND("domain", "domains", domain_fields, domain_at),
  [K_CACHE] = KIND("cache", "caches", cache_fields, cache_at),
  [K_ENGINE] = KIND(NULL, NULL, engine_fields, engine_at),
};
#undef KIND

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

/* pool "name" (id N): ...; domain "name" (id N, backend): ... */
static void text_entry(emit_t *e, const kind_t *k, const entry_t *en) {
  emitf(e, "%s ", k->what);
  emit_quoted(e, en->name, ESC_TEXT);
  emitf(e, " (id %" PRIu32 "%s%s):", en->id, en->backend ? ", " : "",
        en->backend ? en->backend : "");
  text_fields(e, k, en->stats);
}

int ebra_snapshot_print_text(const ebra_snapshot_t *snap, ebra_output_fn *out, void *arg) {
  if (!snap)
    return ebi_bad_call("ebra_snapshot_print_text: snap is NULL");
  emit_t e;
  emit_init(&e, out, arg);
  emit_bytes(&e, "ebra:", 5);
  text_fields(&e, &kinds[K_GLOBAL], snap);
  for (int k = K_POOL; k <= K_CACHE; k++) {
    entry_t en;
    for (uint32_t i = 0; kinds[k].at(snap, i, &en); i++)
      text_entry(&e, &kinds[k], &en);
  }
  emitf(&e, "engine: %s (configured %s):", ebra_strategy_name(snap->engine.active),
        ebra_strategy_name(snap->engine.configured));
  text_fields(&e, &kinds[K_ENGINE], &snap->engine);
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
  text_entry(&e, &kinds[K_POOL], &(entry_t){pool->life.id, pool->life.name, NULL, &st});
  emit_flush(&e);
  return 0;
}

/* ---- JSON ------------------------------------------------------------------------ */

static void json_fields(emit_t *e, const kind_t *k, const void *stats) {
  for (size_t i = 0; i < k->nfields; i++)
    emitf(e, ",\"%s\":%" PRIu64, k->fields[i].key, field_get(&k->fields[i], stats));
}

/* ,"pools":[{"id":N,"name":"...",...},...] */
static void json_array(emit_t *e, const ebra_snapshot_t *snap, const kind_t *k) {
  entry_t en;
  emitf(e, ",\"%s\":[", k->array);
  for (uint32_t i = 0; k->at(snap, i, &en); i++) {
    emitf(e, "%s{\"id\":%" PRIu32 ",\"name\":", i ? "," : "", en.id);
    emit_quoted(e, en.name, ESC_JSON);
    if (en.backend) {
      emit_bytes(e, ",\"backend\":", 11);
      emit_quoted(e, en.backend, ESC_JSON);
    }
    json_fields(e, k, en.stats);
    emit_bytes(e, "}", 1);
  }
  emit_bytes(e, "]", 1);
}

int ebra_snapshot_print_json(const ebra_snapshot_t *snap, ebra_output_fn *out, void *arg) {
  if (!snap)
    return ebi_bad_call("ebra_snapshot_print_json: snap is NULL");
  emit_t e;
  emit_init(&e, out, arg);
  emitf(&e, "{\"timestamp_ns\":%" PRIu64, snap->timestamp_ns);
  json_fields(&e, &kinds[K_GLOBAL], snap);
  for (int k = K_POOL; k <= K_CACHE; k++)
    json_array(&e, snap, &kinds[k]);
  emitf(&e, ",\"engine\":{\"configured\":\"%s\",\"active\":\"%s\"",
        ebra_strategy_name(snap->engine.configured), ebra_strategy_name(snap->engine.active));
  json_fields(&e, &kinds[K_ENGINE], &snap->engine);
  emit_bytes(&e, "}}\n", 3);
  emit_flush(&e);
  return 0;
}

/* ---- Prometheus ------------------------------------------------------------------ */

static void prom_family(emit_t *e, const char *name, const char *type, const char *help) {
  emitf(e, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: name{labels} value. */
static void prom_sample(emit_t *e, const kind_t *k, const field_t *f, const entry_t *en) {
  emit_bytes(e, f->metric, strlen(f->metric));
  if (k->what) {
    emitf(e, "{%s=", k->what);
    emit_quoted(e, en->name, ESC_PROM);
    if (en->backend) {
      emit_bytes(e, ",backend=", 9);
      emit_quoted(e, en->backend, ESC_PROM);
    }
    emitf(e, ",id=\"%" PRIu32 "\"}", en->id);
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

/* A 0/1 gauge per strategy from `from` on: 1 for `value`. */
static void prom_strategy(emit_t *e, const char *metric, const char *help, ebra_strategy_t value,
                          ebra_strategy_t from) {
  prom_family(e, metric, "gauge", help);
  for (int s = (int)from; s < EBI_STRATEGY_COUNT; s++)
    emitf(e, "%s{strategy=\"%s\"} %d\n", metric, ebi_strategy_names[s], (int)value == s);
}

int ebra_snapshot_print_prometheus(const ebra_snapshot_t *snap, ebra_output_fn *out,
                                   void *arg) {
  if (!snap)
    return ebi_bad_call("ebra_snapshot_print_prometheus: snap is NULL");
  emit_t e;
  emit_init(&e, out, arg);
  for (int k = 0; k < K_COUNT; k++)
    prom_kind(&e, snap, &kinds[k]);
  prom_strategy(&e, "ebra_engine_active_strategy",
                "1 for the strategy the engine applies, 0 for the others.", snap->engine.active,
                EBRA_STRATEGY_LOW_LATENCY);
  prom_strategy(&e, "ebra_engine_configured_strategy",
                "1 for the strategy configured, 0 for the others.", snap->engine.configured,
                EBRA_STRATEGY_ADAPTIVE);
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

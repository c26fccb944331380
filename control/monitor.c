/* src/monitor.c — snapshots of every pool and domain, printed as text,
 * JSON or the Prometheus text exposition format.
 *
 * Taking a snapshot
 *   One hold of the registry lock walks both id tables.  For each live pool
 *   it sums the per-thread counters (ebi_pool_stats_locked: relaxed loads,
 *   exactly what ebra_pool_stats does); for each live domain it calls
 *   ebra_domain_stats, which takes the domain's threads_lock and then its
 *   lock, in the documented order (registry -> threads_lock; the domain
 *   lock is a leaf).  No thread is stopped: alloc, free, retire and read
 *   sections never take the registry lock.  Pool and domain destroy take
 *   it to remove their entry, so a destroy either completes before the
 *   walk (the entry is gone) or waits for it (the object is still alive);
 *   both leave tombstones, never freed memory.  The resident size is read
 *   from the OS outside the lock.
 *
 * Printing
 *   The printers read only the snapshot and take no lock.  They format into
 *   a 4 KiB buffer handed to the output callback when nearly full; every
 *   single piece they format is far shorter than the buffer (names are at
 *   most EBRA_POOL_NAME_MAX - 1 bytes, at most 6 bytes each once escaped).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weak_internal.h"
#include "ebra/monitor.h"

/* ---- snapshot -------------------------------------------------------------- */

static void snapshot_pools_locked(ebra_snapshot_t *s) {
  for (uint32_t id = 0; id < ebi_registry_capacity(); id++) {
    const ebra_pool_t *pool = ebi_registry_at(id);
    if (!pool) /* free id, or destroyed: the registry holds live pools only */
      continue;
    ebra_snapshot_pool_t *e = &s->pools[s->npools++];
    e->id = id;
    memcpy(e->name, pool->life.name, sizeof e->name);
    ebi_pool_stats_locked(pool, &e->stats);
  }
}

static void snapshot_domains_locked(ebra_snapshot_t *s) {
  for (uint32_t id = 0; id < ebi_domain_registry_capacity(); id++) {
    ebra_domain_t *d = ebi_domain_registry_at(id);
    if (!d)
      continue;
    ebra_snapshot_domain_t *e = &s->domains[s->ndomains];
    if (ebra_domain_stats(d, &e->stats) != 0)
      continue; /* not reached: destroy unlists a domain under this lock */
    s->ndomains++;
    e->id = id;
    memcpy(e->name, d->life.name, sizeof e->name);
    e->backend = d->backend;
    e->backend_name = ebra_reclaim_backend_name(d->backend);
  }
}

static void snapshot_caches_locked(ebra_snapshot_t *s) {
  for (uint32_t id = 0; id < ebi_cache_registry_capacity(); id++) {
    ebra_cache_t *c = ebi_cache_registry_at(id);
    if (!c) /* destroy unlists a cache under this lock */
      continue;
    ebra_snapshot_cache_t *e = &s->caches[s->ncaches++];
    e->id = id;
    snprintf(e->name, sizeof e->name, "%s", ebi_cache_name(c));
    ebra_cache_stats(c, &e->stats); /* relaxed loads, no lock */
  }
}

/* Registry lock held.  The arrays are sized by the id tables' capacities,
 * which bound the live entries while the lock is held. */
static int snapshot_locked(ebra_snapshot_t *s) {
  const uint32_t npools = ebi_registry_capacity();
  const uint32_t ndomains = ebi_domain_registry_capacity();
  const uint32_t ncaches = ebi_cache_registry_capacity();
  s->pools = calloc(npools ? npools : 1, sizeof *s->pools);
  s->domains = calloc(ndomains ? ndomains : 1, sizeof *s->domains);
  s->caches = calloc(ncaches ? ncaches : 1, sizeof *s->caches);
  if (!s->pools || !s->domains || !s->caches)
    return -ENOMEM;
  snapshot_pools_locked(s);
  snapshot_domains_locked(s);
  snapshot_caches_locked(s);
  return 0;
}

static void snapshot_totals(ebra_snapshot_t *s) {
  for (uint32_t i = 0; i < s->npools; i++) {
    s->bytes_reserved += s->pools[i].stats.bytes_reserved;
    s->bytes_live += s->pools[i].stats.bytes_live;
  }
  for (uint32_t i = 0; i < s->ndomains; i++)
    s->pending_bytes += s->domains[i].stats.pending_bytes;
}

int ebra_snapshot(ebra_snapshot_t **out) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  ebra_snapshot_t *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  ebi_registry_lock();
  const int rc = snapshot_locked(s);
  ebi_registry_unlock();
  if (rc) {
    ebra_snapshot_free(s);
    return rc;
  }
  snapshot_totals(s);
  ebra_engine_stats(&s->engine); /* published stats: never waits for a step */
  if (ebi_os_resident_bytes(&s->resident_bytes) != 0)
    s->resident_bytes = 0; /* documented: 0 = unknown (no /proc) */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  s->timestamp_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
  *out = s;
  return 0;
}

void ebra_snapshot_free(ebra_snapshot_t *snap) {
  if (!snap)
    return;
  free(snap->pools);
  free(snap->domains);
  free(snap->caches);
  free(snap);
}

/* ---- buffered output ----------------------------------------------------------- */

typedef struct emit_s {
  ebra_output_fn *out;
  void *arg;
  size_t len;
  char buf[4096];
} emit_t;

static void print_stdout(const char *text, void *arg) {
  (void)arg;
  fputs(text, stdout);
}

static void emit_init(emit_t *e, ebra_output_fn *out, void *arg) {
  e->out = out ? out : print_stdout;
  e->arg = arg;
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

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* A JSON string literal (RFC 8259 section 7), quotes included. */
static void emit_json_string(emit_t *e, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  emit_bytes(e, "\"", 1);
  while (*s) {
    const size_t n = utf8_seq(s);
    if (n == 0) {
      emit_bytes(e, REPLACEMENT, 3);
      s++;
    } else if (*s == '"' || *s == '\\') {
      emitf(e, "\\%c", *s++);
    } else if (*s == '\n' || *s == '\t') {
      emitf(e, "\\%c", *s++ == '\n' ? 'n' : 't');
    } else if (*s < 0x20) {
      emitf(e, "\\u%04x", *s++);
    } else {
      emit_bytes(e, (const char *)s, n);
      s += n;
    }
  }
  emit_bytes(e, "\"", 1);
}

/* A Prometheus label value, quotes included: the format escapes exactly
 * backslash, double quote and line feed; the value must be UTF-8. */
static void emit_prom_value(emit_t *e, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  emit_bytes(e, "\"", 1);
  while (*s) {
    const size_t n = utf8_seq(s);
    if (n == 0) {
      emit_bytes(e, REPLACEMENT, 3);
      s++;
    } else if (*s == '"' || *s == '\\') {
      emitf(e, "\\%c", *s++);
    } else if (*s == '\n') {
      emit_bytes(e, "\\n", 2);
      s++;
    } else {
      emit_bytes(e, (const char *)s, n);
      s += n;
    }
  }
  emit_bytes(e, "\"", 1);
}

/* ---- field tables ---------------------------------------------------------------- */

typedef enum field_kind_e { F_U64, F_U32, F_UINT, F_SIZE, F_NS } field_kind_t;

/* One number of a stats struct: its JSON key, and its Prometheus family
 * (NULL: not exported there). */
typedef struct field_s {
  const char *key;
  size_t off;
  field_kind_t kind;
  const char *metric; /* Prometheus name */
  const char *type;   /* counter | gauge */
  const char *help;
} field_t;

#define PF(f, k, m, t, h) {#f, offsetof(ebra_pool_stats_t, f), k, m, t, h}
static const field_t pool_fields[] = {
  PF(allocs, F_U64, "ebra_pool_allocations_total", "counter", "Successful allocations."),
  PF(frees, F_U64, "ebra_pool_frees_total", "counter", "Successful frees."),
  PF(magazine_hits, F_U64, "ebra_pool_magazine_hits_total", "counter",
     "Allocations and frees served by the thread's magazines."),
  PF(magazine_misses, F_U64, "ebra_pool_magazine_misses_total", "counter",
     "Allocations and frees that went to the depot or the slabs."),
  PF(depot_exchanges, F_U64, "ebra_pool_depot_exchanges_total", "counter",
     "Magazines taken from or given to the depot."),
  PF(depot_contention, F_U64, "ebra_pool_depot_contention_total", "counter",
     "Depot compare-and-swap attempts that lost a race."),
  PF(slabs, F_U64, "ebra_pool_slabs", "gauge", "Slabs currently mapped."),
  PF(bytes_reserved, F_U64, "ebra_pool_reserved_bytes", "gauge",
     "Bytes mapped from the OS for slabs."),
  PF(bytes_live, F_U64, "ebra_pool_live_bytes", "gauge", "Bytes of objects handed out."),
  PF(objects_live, F_U64, "ebra_pool_live_objects", "gauge",
     "Objects handed out and not yet freed."),
  PF(objects_carved, F_U64, NULL, NULL, NULL),
  PF(depot_full, F_U64, "ebra_pool_depot_full_magazines", "gauge",
     "Non-empty magazines in the depot."),
  PF(depot_empty, F_U64, "ebra_pool_depot_empty_magazines", "gauge",
     "Empty magazines in the depot."),
  PF(errors, F_U64, "ebra_pool_errors_total", "counter", "Misuse detected on the pool."),
  PF(threads, F_U32, "ebra_pool_threads", "gauge", "Threads with a cache attached."),
  PF(magazine_capacity, F_U32, "ebra_pool_magazine_capacity", "gauge",
     "Rounds per magazine."),
  PF(object_size, F_SIZE, "ebra_pool_object_size_bytes", "gauge", "Object size."),
  PF(stride, F_SIZE, NULL, NULL, NULL),
  PF(objects_in_slabs, F_U64, "ebra_pool_slab_free_objects", "gauge",
     "Free objects trimmed from the depot back to their slabs."),
  PF(bytes_purged, F_U64, "ebra_pool_purged_bytes", "gauge",
     "Slab bytes given back to the OS and not yet reused."),
  PF(slabs_purged, F_U64, "ebra_pool_slab_purges_total", "counter",
     "Wholly free slabs given back to the OS."),
  PF(magazines_trimmed, F_U64, "ebra_pool_magazines_trimmed_total", "counter",
     "Full magazines trimmed from the depot back to the slabs."),
  PF(depot_parked, F_U64, "ebra_pool_depot_parked_magazines", "gauge",
     "Empty magazines of a capacity the pool no longer uses."),
  PF(depot_objects, F_U64, "ebra_pool_depot_objects_total", "counter",
     "Objects moved through the depot in full magazines."),
  PF(max_objects, F_U64, "ebra_pool_max_objects", "gauge", "The pool's object cap (0: none)."),
};
#undef PF

#define DF(f, k, m, t, h) {#f, offsetof(ebra_domain_stats_t, f), k, m, t, h}
static const field_t domain_fields[] = {
  DF(retired, F_U64, "ebra_domain_retired_total", "counter", "Objects and calls retired."),
  DF(reclaimed, F_U64, "ebra_domain_reclaimed_total", "counter",
     "Retired objects returned to their pools and calls run."),
  DF(pending, F_U64, "ebra_domain_pending_objects", "gauge",
     "Retired, awaiting a grace period."),
  DF(pending_bytes, F_U64, "ebra_domain_pending_bytes", "gauge",
     "Bytes of pool objects awaiting a grace period."),
  DF(grace_periods, F_U64, "ebra_domain_grace_periods_total", "counter",
     "Grace periods completed by the reclaimer."),
  DF(batches, F_U64, "ebra_domain_batches_total", "counter", "Batches reclaimed."),
  DF(gp_ns_p50, F_NS, "ebra_domain_grace_period_p50_seconds", "gauge",
     "Median grace-period latency over the last 1024 grace periods."),
  DF(gp_ns_p90, F_NS, "ebra_domain_grace_period_p90_seconds", "gauge",
     "90th percentile grace-period latency over the last 1024 grace periods."),
  DF(gp_ns_p99, F_NS, "ebra_domain_grace_period_p99_seconds", "gauge",
     "99th percentile grace-period latency over the last 1024 grace periods."),
  DF(gp_ns_max, F_NS, "ebra_domain_grace_period_max_seconds", "gauge",
     "Longest grace period among the last 1024."),
  DF(reuse_ns_p50, F_NS, "ebra_domain_reuse_p50_seconds", "gauge",
     "Median retire-to-reuse time of a batch's oldest object, last 1024 batches."),
  DF(reuse_ns_p99, F_NS, "ebra_domain_reuse_p99_seconds", "gauge",
     "99th percentile retire-to-reuse time, last 1024 batches."),
  DF(threads, F_U32, "ebra_domain_threads", "gauge", "Registered threads."),
  DF(batch_size, F_UINT, "ebra_domain_batch_size", "gauge", "Retired objects per batch."),
  DF(max_batch_age_ns, F_NS, "ebra_domain_max_batch_age_seconds", "gauge",
     "Age at which an open batch is closed."),
};
#undef DF

#define CF(f, k, m, t, h) {#f, offsetof(ebra_cache_stats_t, f), k, m, t, h}
static const field_t cache_fields[] = {
  CF(hits, F_U64, "ebra_cache_hits_total", "counter", "Lookups that returned a live object."),
  CF(misses, F_U64, "ebra_cache_misses_total", "counter", "Lookups that returned nothing."),
  CF(stores, F_U64, "ebra_cache_stores_total", "counter", "Entries stored."),
  CF(evictions, F_U64, "ebra_cache_evictions_total", "counter",
     "Entries evicted by the CLOCK hand (max_entries)."),
  CF(expirations, F_U64, "ebra_cache_expirations_total", "counter",
     "Entries dropped after their time to live."),
  CF(deaths, F_U64, "ebra_cache_deaths_total", "counter",
     "Entries removed because their object died."),
  CF(erasures, F_U64, "ebra_cache_erasures_total", "counter", "Entries erased."),
  CF(replacements, F_U64, "ebra_cache_replacements_total", "counter",
     "Entries replaced by a store of the same key."),
  CF(size, F_U64, "ebra_cache_entries", "gauge", "Entries in the cache."),
  CF(max_entries, F_U64, "ebra_cache_max_entries", "gauge", "Entry limit (0: none)."),
};
#undef CF

#define EF(f, k, m, t, h) {#f, offsetof(ebra_engine_stats_t, f), k, m, t, h}
static const field_t engine_fields[] = {
  EF(steps, F_U64, "ebra_engine_steps_total", "counter", "Strategy engine steps (ebra_maintain)."),
  EF(switches, F_U64, "ebra_engine_strategy_switches_total", "counter",
     "Changes of the active strategy."),
  EF(knob_changes, F_U64, "ebra_engine_knob_changes_total", "counter",
     "Magazine capacities and retire batching changed by the engine."),
  EF(magazines_trimmed, F_U64, "ebra_engine_magazines_trimmed_total", "counter",
     "Full magazines trimmed from depots by the engine."),
  EF(bytes_purged, F_U64, "ebra_engine_purged_bytes_total", "counter",
     "Slab bytes given back to the OS by the engine."),
  EF(forced_grace_periods, F_U64, "ebra_engine_forced_grace_periods_total", "counter",
     "Grace periods forced because the soft limit was passed."),
  EF(soft_limit_steps, F_U64, "ebra_engine_soft_limit_steps_total", "counter",
     "Steps that found ebra above the soft limit."),
  EF(hard_limit_refusals, F_U64, "ebra_engine_hard_limit_refusals_total", "counter",
     "Slabs the hard limit refused."),
  EF(committed_bytes, F_U64, "ebra_engine_committed_bytes", "gauge",
     "Slab bytes ebra holds from the OS (mapped minus purged)."),
  EF(soft_limit, F_U64, "ebra_engine_soft_limit_bytes", "gauge", "Soft memory limit (0: none)."),
  EF(hard_limit, F_U64, "ebra_engine_hard_limit_bytes", "gauge", "Hard memory limit (0: none)."),
  EF(alloc_rate, F_U64, NULL, NULL, NULL),
  EF(free_rate, F_U64, NULL, NULL, NULL),
  EF(exchange_rate, F_U64, NULL, NULL, NULL),
  EF(contention_rate, F_U64, NULL, NULL, NULL),
  EF(retire_rate, F_U64, NULL, NULL, NULL),
};
#undef EF

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t field_get(const field_t *f, const void *stats) {
  const char *p = (const char *)stats + f->off;
  switch (f->kind) {
  case F_U32: return *(const uint32_t *)p;
  case F_UINT: return *(const unsigned *)p;
  case F_SIZE: return *(const size_t *)p;
  default: return *(const uint64_t *)p;
  }
}

/* ---- text ------------------------------------------------------------------------ */

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

static void text_pool(emit_t *e, const ebra_snapshot_pool_t *p) {
  const ebra_pool_stats_t *st = &p->stats;
  const uint64_t ops = st->allocs + st->frees;
  emit_bytes(e, "pool ", 5);
  emit_json_string(e, p->name);
  emitf(e,
        " (id %" PRIu32 "): object %zu B (stride %zu B), %" PRIu32 " rounds per magazine\n"
        "  allocs %" PRIu64 ", frees %" PRIu64 ", live %" PRIu64 " (%" PRIu64 " B)\n"
        "  magazine hits %" PRIu64 " (%.2f%%), misses %" PRIu64 "\n"
        "  depot exchanges %" PRIu64 ", contention %" PRIu64 ", holding %" PRIu64
        " full + %" PRIu64 " empty magazines\n"
        "  slabs %" PRIu64 ", reserved %" PRIu64 " B, threads %" PRIu32 ", errors %" PRIu64 "\n"
        "  trimmed %" PRIu64 " magazines, %" PRIu64 " objects free in slabs, purged %" PRIu64
        " slabs (%" PRIu64 " B now)\n",
        p->id, st->object_size, st->stride, st->magazine_capacity, st->allocs, st->frees,
        st->objects_live, st->bytes_live, st->magazine_hits,
        ops ? 100.0 * (double)st->magazine_hits / (double)ops : 0.0, st->magazine_misses,
        st->depot_exchanges, st->depot_contention, st->depot_full, st->depot_empty, st->slabs,
        st->bytes_reserved, st->threads, st->errors, st->magazines_trimmed,
        st->objects_in_slabs, st->slabs_purged, st->bytes_purged);
}

static void text_domain(emit_t *e, const ebra_snapshot_domain_t *d) {
  const ebra_domain_stats_t *st = &d->stats;
  emit_bytes(e, "domain ", 7);
  emit_json_string(e, d->name);
  emitf(e,
        " (id %" PRIu32 ", %s): %" PRIu32 " threads, batches of %u or %.3f ms\n"
        "  retired %" PRIu64 ", reclaimed %" PRIu64 ", pending %" PRIu64 " (%" PRIu64 " B)\n"
        "  grace periods %" PRIu64 " (p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms), "
        "batches %" PRIu64 "\n"
        "  retire to reuse p50 %.3f ms, p99 %.3f ms\n",
        d->id, d->backend_name, st->threads, st->batch_size, (double)st->max_batch_age_ns / 1e6,
        st->retired, st->reclaimed, st->pending, st->pending_bytes, st->grace_periods,
        (double)st->gp_ns_p50 / 1e6, (double)st->gp_ns_p90 / 1e6, (double)st->gp_ns_p99 / 1e6,
        (double)st->gp_ns_max / 1e6, st->batches, (double)st->reuse_ns_p50 / 1e6,
        (double)st->reuse_ns_p99 / 1e6);
}

static void text_cache(emit_t *e, const ebra_snapshot_cache_t *c) {
  const ebra_cache_stats_t *st = &c->stats;
  const uint64_t lookups = st->hits + st->misses;
  emit_bytes(e, "cache ", 6);
  emit_json_string(e, c->name);
  emitf(e,
        " (id %" PRIu32 "): %" PRIu64 " entries (max %" PRIu64 "), %" PRIu64 " stores\n"
        "  hits %" PRIu64 " (%.2f%%), misses %" PRIu64 "\n"
        "  removed: evicted %" PRIu64 ", expired %" PRIu64 ", died %" PRIu64 ", erased %" PRIu64
        ", replaced %" PRIu64 "\n",
        c->id, st->size, st->max_entries, st->stores, st->hits,
        lookups ? 100.0 * (double)st->hits / (double)lookups : 0.0, st->misses, st->evictions,
        st->expirations, st->deaths, st->erasures, st->replacements);
}

int ebra_snapshot_print_text(const ebra_snapshot_t *snap, ebra_output_fn *out, void *arg) {
  if (!snap)
    return -EINVAL;
  emit_t e;
  emit_init(&e, out, arg);
  emitf(&e,
        "ebra: resident %.1f MiB (%" PRIu64 " B, from the OS); %" PRIu32
        " pools reserve %.1f MiB, %.1f MiB live; %" PRIu32 " domains, %" PRIu64
        " B pending reclaim\n",
        mib(snap->resident_bytes), snap->resident_bytes, snap->npools,
        mib(snap->bytes_reserved), mib(snap->bytes_live), snap->ndomains, snap->pending_bytes);
  for (uint32_t i = 0; i < snap->npools; i++)
    text_pool(&e, &snap->pools[i]);
  for (uint32_t i = 0; i < snap->ndomains; i++)
    text_domain(&e, &snap->domains[i]);
  for (uint32_t i = 0; i < snap->ncaches; i++)
    text_cache(&e, &snap->caches[i]);
  const ebra_engine_stats_t *g = &snap->engine;
  emitf(&e,
        "engine: %s (configured %s), %" PRIu64 " steps, %" PRIu64 " switches, %" PRIu64
        " knob changes\n"
        "  committed %.1f MiB (soft limit %.1f MiB, hard %.1f MiB, %" PRIu64
        " refusals); trimmed %" PRIu64 " magazines, purged %.1f MiB, forced %" PRIu64
        " grace periods\n",
        ebra_strategy_name(g->active), ebra_strategy_name(g->configured), g->steps, g->switches,
        g->knob_changes, mib(g->committed_bytes), mib(g->soft_limit), mib(g->hard_limit),
        g->hard_limit_refusals, g->magazines_trimmed, mib(g->bytes_purged),
        g->forced_grace_periods);
  emit_flush(&e);
  return 0;
}

/* ---- JSON ------------------------------------------------------------------------ */

static void json_fields(emit_t *e, const field_t *f, size_t n, const void *stats) {
  for (size_t i = 0; i < n; i++)
    emitf(e, ",\"%s\":%" PRIu64, f[i].key, field_get(&f[i], stats));
}

int ebra_snapshot_print_json(const ebra_snapshot_t *snap, ebra_output_fn *out, void *arg) {
  if (!snap)
    return -EINVAL;
  emit_t e;
  emit_init(&e, out, arg);
  emitf(&e,
        "{\"timestamp_ns\":%" PRIu64 ",\"resident_bytes\":%" PRIu64 ",\"bytes_reserved\":%" PRIu64
        ",\"bytes_live\":%" PRIu64 ",\"pending_bytes\":%" PRIu64 ",\"pools\":[",
        snap->timestamp_ns, snap->resident_bytes, snap->bytes_reserved, snap->bytes_live,
        snap->pending_bytes);
  for (uint32_t i = 0; i < snap->npools; i++) {
    const ebra_snapshot_pool_t *p = &snap->pools[i];
    emitf(&e, "%s{\"id\":%" PRIu32 ",\"name\":", i ? "," : "", p->id);
    emit_json_string(&e, p->name);
    json_fields(&e, pool_fields, NELEMS(pool_fields), &p->stats);
    emit_bytes(&e, "}", 1);
  }
  emit_bytes(&e, "],\"domains\":[", 13);
  for (uint32_t i = 0; i < snap->ndomains; i++) {
    const ebra_snapshot_domain_t *d = &snap->domains[i];
    emitf(&e, "%s{\"id\":%" PRIu32 ",\"name\":", i ? "," : "", d->id);
    emit_json_string(&e, d->name);
    emit_bytes(&e, ",\"backend\":", 11);
    emit_json_string(&e, d->backend_name);
    json_fields(&e, domain_fields, NELEMS(domain_fields), &d->stats);
    emit_bytes(&e, "}", 1);
  }
  emit_bytes(&e, "],\"caches\":[", 12);
  for (uint32_t i = 0; i < snap->ncaches; i++) {
    const ebra_snapshot_cache_t *c = &snap->caches[i];
    emitf(&e, "%s{\"id\":%" PRIu32 ",\"name\":", i ? "," : "", c->id);
    emit_json_string(&e, c->name);
    json_fields(&e, cache_fields, NELEMS(cache_fields), &c->stats);
    emit_bytes(&e, "}", 1);
  }
  emitf(&e, "],\"engine\":{\"configured\":\"%s\",\"active\":\"%s\"",
        ebra_strategy_name(snap->engine.configured), ebra_strategy_name(snap->engine.active));
  json_fields(&e, engine_fields, NELEMS(engine_fields), &snap->engine);
  emit_bytes(&e, "}}\n", 3);
  emit_flush(&e);
  return 0;
}

/* ---- Prometheus ------------------------------------------------------------------ */

static void prom_family(emit_t *e, const char *name, const char *type, const char *help) {
  emitf(e, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_value(emit_t *e, const field_t *f, const void *stats) {
  const uint64_t v = field_get(f, stats);
  if (f->kind == F_NS) /* exact decimal seconds, no rounding through double */
    emitf(e, " %" PRIu64 ".%09" PRIu64 "\n", v / 1000000000u, v % 1000000000u);
  else
    emitf(e, " %" PRIu64 "\n", v);
}

static void prom_pools(emit_t *e, const ebra_snapshot_t *snap) {
  for (size_t k = 0; k < NELEMS(pool_fields); k++) {
    const field_t *f = &pool_fields[k];
    if (!f->metric)
      continue;
    prom_family(e, f->metric, f->type, f->help);
    for (uint32_t i = 0; i < snap->npools; i++) {
      emitf(e, "%s{pool=", f->metric);
      emit_prom_value(e, snap->pools[i].name);
      emitf(e, ",id=\"%" PRIu32 "\"}", snap->pools[i].id);
      prom_value(e, f, &snap->pools[i].stats);
    }
  }
}

static void prom_domains(emit_t *e, const ebra_snapshot_t *snap) {
  for (size_t k = 0; k < NELEMS(domain_fields); k++) {
    const field_t *f = &domain_fields[k];
    if (!f->metric)
      continue;
    prom_family(e, f->metric, f->type, f->help);
    for (uint32_t i = 0; i < snap->ndomains; i++) {
      const ebra_snapshot_domain_t *d = &snap->domains[i];
      emitf(e, "%s{domain=", f->metric);
      emit_prom_value(e, d->name);
      emit_bytes(e, ",backend=", 9);
      emit_prom_value(e, d->backend_name);
      emitf(e, ",id=\"%" PRIu32 "\"}", d->id);
      prom_value(e, f, &d->stats);
    }
  }
}

static void prom_caches(emit_t *e, const ebra_snapshot_t *snap) {
  for (size_t k = 0; k < NELEMS(cache_fields); k++) {
    const field_t *f = &cache_fields[k];
    prom_family(e, f->metric, f->type, f->help);
    for (uint32_t i = 0; i < snap->ncaches; i++) {
      emitf(e, "%s{cache=", f->metric);
      emit_prom_value(e, snap->caches[i].name);
      emitf(e, ",id=\"%" PRIu32 "\"}", snap->caches[i].id);
      prom_value(e, f, &snap->caches[i].stats);
    }
  }
}

static void prom_engine(emit_t *e, const ebra_engine_stats_t *g) {
  for (size_t k = 0; k < NELEMS(engine_fields); k++) {
    const field_t *f = &engine_fields[k];
    if (!f->metric)
      continue;
    prom_family(e, f->metric, f->type, f->help);
    emitf(e, "%s", f->metric);
    prom_value(e, f, g);
  }
  prom_family(e, "ebra_engine_active_strategy", "gauge",
              "1 for the strategy the engine applies, 0 for the others.");
  for (int s = EBRA_STRATEGY_LOW_LATENCY; s <= EBRA_STRATEGY_MEMORY_EFFICIENT; s++)
    emitf(e, "ebra_engine_active_strategy{strategy=\"%s\"} %d\n",
          ebra_strategy_name((ebra_strategy_t)s), g->active == (ebra_strategy_t)s);
}

int ebra_snapshot_print_prometheus(const ebra_snapshot_t *snap, ebra_output_fn *out,
                                   void *arg) {
  if (!snap)
    return -EINVAL;
  emit_t e;
  emit_init(&e, out, arg);
  if (snap->resident_bytes) { /* 0 means unknown: export nothing rather than 0 */
    prom_family(&e, "ebra_process_resident_bytes", "gauge",
                "Resident memory of the process, from /proc/self/statm.");
    emitf(&e, "ebra_process_resident_bytes %" PRIu64 "\n", snap->resident_bytes);
  }
  prom_family(&e, "ebra_pools", "gauge", "Live pools.");
  emitf(&e, "ebra_pools %" PRIu32 "\n", snap->npools);
  prom_family(&e, "ebra_domains", "gauge", "Live reclamation domains.");
  emitf(&e, "ebra_domains %" PRIu32 "\n", snap->ndomains);
  prom_family(&e, "ebra_caches", "gauge", "Live weak caches.");
  emitf(&e, "ebra_caches %" PRIu32 "\n", snap->ncaches);
  prom_pools(&e, snap);
  prom_domains(&e, snap);
  prom_caches(&e, snap);
  prom_engine(&e, &snap->engine);
  emit_flush(&e);
  return 0;
}

/* ---- ebra_pool_print_stats and the report at exit --------------------------- */

int ebra_pool_print_stats(const ebra_pool_t *pool, ebra_output_fn *out, void *arg) {
  ebra_pool_stats_t st;
  int rc = ebra_pool_stats(pool, &st);
  if (rc)
    return rc;
  if (!out)
    out = print_stdout;
  const uint64_t ops = st.allocs + st.frees;
  char buf[1024];
  snprintf(buf, sizeof buf,
           "pool '%s': object %zu B (stride %zu B), %" PRIu32 " rounds per magazine\n"
           "  allocs %" PRIu64 ", frees %" PRIu64 ", live %" PRIu64 " (%" PRIu64 " B)\n"
           "  magazine hits %" PRIu64 " (%.2f%%), misses %" PRIu64 "\n"
           "  depot exchanges %" PRIu64 ", contention %" PRIu64 ", holding %" PRIu64
           " full + %" PRIu64 " empty magazines\n"
           "  slabs %" PRIu64 ", reserved %" PRIu64 " B, carved %" PRIu64
           " objects, threads %" PRIu32 ", errors %" PRIu64 "\n",
           pool->life.name, st.object_size, st.stride, st.magazine_capacity, st.allocs, st.frees,
           st.objects_live, st.bytes_live, st.magazine_hits,
           ops ? 100.0 * (double)st.magazine_hits / (double)ops : 0.0, st.magazine_misses,
           st.depot_exchanges, st.depot_contention, st.depot_full, st.depot_empty, st.slabs,
           st.bytes_reserved, st.objects_carved, st.threads, st.errors);
  out(buf, arg);
  return 0;
}

static void print_stderr(const char *text, void *arg) {
  (void)arg;
  fputs(text, stderr);
}

/* atexit: EBRA_SHOW_STATS=1 prints the monitor's text report (every live
 * pool and domain) to stderr.  Registered by the constructor below, so the
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
  ebra_snapshot_print_text(snap, print_stderr, NULL);
  ebra_snapshot_free(snap);
}

__attribute__((constructor)) static void monitor_init(void) { atexit(print_all_at_exit); }

/* SPDX-License-Identifier: MIT */
/* control/snapshot.c — a snapshot of every pool, domain, weak table, weak
 * cache and observer subject.
 *
 * Taking a snapshot
 *   One hold of the registry lock walks the five id tables (pools,
 *   domains, caches, weak tables, subjects).  For each live
 *   pool it sums the per-thread counters (ebi_pool_stats_locked: relaxed
 *   loads, exactly what ebra_pool_stats does); for each live domain it calls
 *   ebra_domain_stats, which takes the domain's threads_lock and then its
 *   lock, in the documented order (registry -> threads_lock; the domain
 *   lock is a leaf); each cache's counters are relaxed loads.  No thread is
 *   stopped: alloc, free, retire and read sections never take the registry
 *   lock.  Destroy takes it to remove the entry, so a destroy either
 *   completes before the walk (the entry is gone) or waits for it (the
 *   object is still alive); both leave tombstones, never freed memory.
 *   The engine's published stats (pub_lock, a leaf) and the resident size
 *   are read after the registry lock is released.
 *
 * State: none of its own.  A snapshot belongs to its taker.  The engine
 * takes exactly one per step (ebi_snap_take) and derives every signal of
 * the step from it; the serials let it tell, under a later hold of the
 * registry lock, whether the pool at an id is still the one it measured.
 *
 * Lock order: registry -> domain threads_lock -> domain lock; then, with
 * nothing held, engine pub_lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control_internal.h"

static void snapshot_pools_locked(ebi_snap_t *s) {
  for (uint32_t id = 0; id < ebi_registry_capacity(); id++) {
    const ebra_pool_t *pool = ebi_registry_at(id);
    if (!pool) /* free id, or destroyed: the registry holds live pools only */
      continue;
    s->pool_serial[s->pub.npools] = pool->life.serial;
    ebra_snapshot_pool_t *e = &s->pub.pools[s->pub.npools++];
    e->id = id;
    memcpy(e->name, pool->life.name, sizeof e->name);
    ebi_pool_stats_locked(pool, &e->stats);
  }
}

static void snapshot_domains_locked(ebi_snap_t *s) {
  for (uint32_t id = 0; id < ebi_domain_registry_capacity(); id++) {
    ebra_domain_t *d = ebi_domain_registry_at(id);
    if (!d)
      continue;
    ebra_snapshot_domain_t *e = &s->pub.domains[s->pub.ndomains];
    if (ebra_domain_stats(d, &e->stats) != 0)
      continue; /* not reached: destroy unlists a domain under this lock */
    s->domain_serial[s->pub.ndomains++] = d->life.serial;
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

/* Weak tables and subjects: relaxed counter loads, no lock of theirs
 * (ebra_subject_stats states why it takes none). */
static void snapshot_weak_locked(ebra_snapshot_t *s) {
  for (uint32_t id = 0; id < ebi_weak_table_registry_capacity(); id++) {
    ebra_weak_table_t *t = ebi_weak_table_registry_at(id);
    if (!t || ebra_weak_table_stats(t, &s->weak_tables[s->nweak_tables].stats) != 0)
      continue; /* destroy unlists a table under this lock */
    ebra_snapshot_weak_table_t *e = &s->weak_tables[s->nweak_tables++];
    e->id = id;
    snprintf(e->name, sizeof e->name, "%s", ebi_weak_table_name(t));
    const ebra_domain_t *d = ebi_weak_table_domain(t);
    e->domain_id = d ? d->life.id : 0;
  }
  for (uint32_t id = 0; id < ebi_subject_registry_capacity(); id++) {
    ebra_subject_t *sub = ebi_subject_registry_at(id);
    if (!sub || ebra_subject_stats(sub, &s->subjects[s->nsubjects].stats) != 0)
      continue;
    ebra_snapshot_subject_t *e = &s->subjects[s->nsubjects++];
    e->id = id;
    snprintf(e->name, sizeof e->name, "%s", ebi_subject_name(sub));
  }
}

static void *calloc_entries(uint32_t n, size_t size) { return calloc(n ? n : 1, size); }

/* Registry lock held.  The arrays are sized by the id tables' capacities,
 * which bound the live entries while the lock is held. */
static int snapshot_locked(ebi_snap_t *s) {
  const uint32_t npools = ebi_registry_capacity();
  const uint32_t ndomains = ebi_domain_registry_capacity();
  s->pub.pools = calloc_entries(npools, sizeof *s->pub.pools);
  s->pool_serial = calloc_entries(npools, sizeof *s->pool_serial);
  s->pub.domains = calloc_entries(ndomains, sizeof *s->pub.domains);
  s->domain_serial = calloc_entries(ndomains, sizeof *s->domain_serial);
  s->pub.caches = calloc_entries(ebi_cache_registry_capacity(), sizeof *s->pub.caches);
  s->pub.weak_tables =
      calloc_entries(ebi_weak_table_registry_capacity(), sizeof *s->pub.weak_tables);
  s->pub.subjects = calloc_entries(ebi_subject_registry_capacity(), sizeof *s->pub.subjects);
  if (!s->pub.pools || !s->pool_serial || !s->pub.domains || !s->domain_serial ||
      !s->pub.caches || !s->pub.weak_tables || !s->pub.subjects)
    return -ENOMEM;
  snapshot_pools_locked(s);
  snapshot_domains_locked(s);
  snapshot_caches_locked(&s->pub);
  snapshot_weak_locked(&s->pub);
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

int ebi_snap_take(ebi_snap_t **out) {
  *out = NULL;
  ebi_snap_t *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  ebi_registry_lock();
  const int rc = snapshot_locked(s);
  ebi_registry_unlock();
  if (rc) {
    ebra_snapshot_free(&s->pub);
    return rc;
  }
  s->mono_ns = ebi_now_ns();
  snapshot_totals(&s->pub);
  ebra_engine_stats(&s->pub.engine); /* published stats: never waits for a step */
  ebra_report_stats(&s->pub.reports);
  if (ebi_os_resident_bytes(&s->pub.resident_bytes) != 0)
    s->pub.resident_bytes = 0; /* documented: 0 = unknown (no /proc) */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  s->pub.timestamp_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
  *out = s;
  return 0;
}

int ebra_snapshot(ebra_snapshot_t **out) {
  if (!out)
    return ebi_bad_call("ebra_snapshot: out is NULL");
  ebi_snap_t *s;
  const int rc = ebi_snap_take(&s);
  *out = rc ? NULL : &s->pub;
  return rc;
}

void ebra_snapshot_free(ebra_snapshot_t *snap) {
  if (!snap)
    return;
  ebi_snap_t *s = (ebi_snap_t *)snap; /* pub is the first member */
  free(snap->pools);
  free(snap->domains);
  free(snap->caches);
  free(snap->weak_tables);
  free(snap->subjects);
  free(s->pool_serial);
  free(s->domain_serial);
  free(s);
}

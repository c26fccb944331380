/* SPDX-License-Identifier: MIT */
/* src/stats.c — stats snapshots, the text report and the audit.
 *
 * Counters live in each thread cache (single writer, relaxed readers) and,
 * for caches already gone, in pool->detached.  A snapshot sums them under
 * the registry lock, which keeps the list of caches stable; it never stops
 * a thread, and alloc/free never wait for it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct counters_sum_s {
  uint64_t allocs, frees, misses, depot_exchanges, depot_contention, depot_rounds;
} counters_sum_t;

static void sum_add(counters_sum_t *into, const ebi_counters_t *c) {
  into->allocs += ebi_atomic_load_relaxed(&c->allocs);
  into->frees += ebi_atomic_load_relaxed(&c->frees);
  into->misses += ebi_atomic_load_relaxed(&c->misses);
  into->depot_exchanges += ebi_atomic_load_relaxed(&c->depot_exchanges);
  into->depot_contention += ebi_atomic_load_relaxed(&c->depot_contention);
  into->depot_rounds += ebi_atomic_load_relaxed(&c->depot_rounds);
}

/* into is written only under the registry lock (pool->detached) or by its
 * owner; from is read relaxed. */
void ebi_counters_add(ebi_counters_t *into, const ebi_counters_t *from) {
  ebi_counter_add_owner(&into->allocs, ebi_atomic_load_relaxed(&from->allocs));
  ebi_counter_add_owner(&into->frees, ebi_atomic_load_relaxed(&from->frees));
  ebi_counter_add_owner(&into->misses, ebi_atomic_load_relaxed(&from->misses));
  ebi_counter_add_owner(&into->depot_exchanges, ebi_atomic_load_relaxed(&from->depot_exchanges));
  ebi_counter_add_owner(&into->depot_contention,
                         ebi_atomic_load_relaxed(&from->depot_contention));
  ebi_counter_add_owner(&into->depot_rounds, ebi_atomic_load_relaxed(&from->depot_rounds));
}

static counters_sum_t sum_locked(const ebra_pool_t *pool) {
  counters_sum_t s = {0};
  sum_add(&s, &pool->detached);
  for (const ebi_tcache_t *tc = pool->tcaches; tc; tc = tc->pool_next)
    sum_add(&s, &tc->c);
  return s;
}

uint64_t ebi_pool_live_locked(ebra_pool_t *pool) {
  const counters_sum_t s = sum_locked(pool);
  return s.allocs - s.frees;
}

static int64_t clamp0(int64_t v) { return v < 0 ? 0 : v; }

/* Registry lock held (the cache list cannot change); pool alive. */
void ebi_pool_stats_locked(const ebra_pool_t *pool, ebra_pool_stats_t *out) {
  const counters_sum_t s = sum_locked(pool);
  memset(out, 0, sizeof *out);
  out->allocs = s.allocs;
  out->frees = s.frees;
  out->magazine_misses = s.misses;
  out->magazine_hits = s.allocs + s.frees - s.misses;
  out->depot_exchanges = s.depot_exchanges;
  out->depot_contention = s.depot_contention;
  out->depot_objects = s.depot_rounds;
  /* Counters of different threads are read one by one: a free counted on
   * one thread can be seen before the alloc counted on another. */
  out->objects_live = s.allocs >= s.frees ? s.allocs - s.frees : 0;
  out->bytes_live = out->objects_live * pool->object_size;
  out->threads = pool->ntcaches;
  out->slabs = ebi_atomic_load_relaxed(&pool->xslabs);
  out->bytes_reserved = ebi_atomic_load_relaxed(&pool->xbytes_reserved);
  out->objects_carved = ebi_atomic_load_relaxed(&pool->xcarved);
  out->depot_full = (uint64_t)clamp0(ebi_atomic_load_relaxed(&pool->depot.xnfull));
  out->depot_empty = (uint64_t)clamp0(ebi_atomic_load_relaxed(&pool->depot.xnempty));
  out->errors = ebi_atomic_load_relaxed(&pool->xerrors);
  out->magazine_capacity = ebi_magazine_capacity(pool);
  out->bytes_magazines = ebi_atomic_load_relaxed(&pool->xmag_bytes);
  out->object_size = pool->object_size;
  out->stride = pool->stride;
  out->objects_in_slabs = ebi_atomic_load_relaxed(&pool->xslab_free);
  out->bytes_purged = ebi_atomic_load_relaxed(&pool->xbytes_purged);
  out->slabs_purged = ebi_atomic_load_relaxed(&pool->xpurges);
  out->magazines_trimmed = ebi_atomic_load_relaxed(&pool->xtrimmed);
  out->depot_parked = (uint64_t)clamp0(ebi_atomic_load_relaxed(&pool->depot.xnparked));
  out->max_objects = pool->max_objects;
}

int ebra_pool_stats(const ebra_pool_t *pool, ebra_pool_stats_t *out) {
  int rc0 = EBI_LIFE_CHECK(pool, EBI_KIND_POOL, "ebra_pool_stats");
  if (rc0)
    return rc0;
  if (!out)
    return ebi_bad_call("ebra_pool_stats: NULL out");
  ebi_registry_lock();
  if (!ebi_pool_is_alive(pool)) {
    ebi_registry_unlock();
    ebi_report_pool((ebra_pool_t *)pool, EBRA_ERR_USE_AFTER_DESTROY,
                     "ebra_pool_stats on destroyed pool '%s'", pool->life.name);
    return -EBADF;
  }
  ebi_pool_stats_locked(pool, out);
  ebi_registry_unlock();
  return 0;
}

/* ---- audit ---------------------------------------------------------------- */

typedef struct audit_slab_s {
  const ebi_slab_t *slab;
  uint64_t *seen;
} audit_slab_t;

typedef struct audit_s {
  ebra_pool_t *pool;
  audit_slab_t *slabs;
  size_t nslabs;
  ebra_pool_audit_t r;
} audit_t;

static void audit_object(audit_t *a, const void *p) {
  const ebi_slab_t *s = ebi_segmap_lookup(p);
  if (!s || s->pool != a->pool || !ebi_slab_slot_valid(s, p)) {
    a->r.invalid++;
    return;
  }
  for (size_t i = 0; i < a->nslabs; i++) {
    if (a->slabs[i].slab != s)
      continue;
    const size_t k = ebi_slab_slot_index(s, p);
    const uint64_t bit = 1ull << (k % 64);
    if (a->slabs[i].seen[k / 64] & bit)
      a->r.duplicates++;
    a->slabs[i].seen[k / 64] |= bit;
    a->r.cached++;
    return;
  }
  a->r.invalid++; /* a slab the pool's list does not know */
}

static void audit_magazine(audit_t *a, const ebi_magazine_t *m) {
  if (m->rounds > m->capacity)
    a->r.invalid++;
  for (uint32_t i = 0; i < m->rounds && i < m->capacity; i++)
    audit_object(a, m->objs[i]);
}

static size_t list_length(const ebi_slab_t *s) {
  size_t n = 0;
  for (; s; s = s->lnext)
    n++;
  return n;
}

/* Objects trimmed back to their slabs (grow_lock held), and the slab
 * lists' own consistency: nfree matches the bits, purged slabs hold none,
 * pool->partial holds exactly the slabs with free objects and pool->purged
 * exactly the purged ones. */
static void audit_slab_free(audit_t *a) {
  size_t partial = 0, purged = 0;
  for (const ebi_slab_t *s = a->pool->slabs; s; s = s->next) {
    uint64_t n = 0;
    for (size_t w = 0; w < (s->count + 63) / 64; w++) {
      for (uint64_t bits = s->free_bits[w]; bits; bits &= bits - 1) {
        audit_object(a, s->first + (w * 64 + (size_t)__builtin_ctzll(bits)) * s->stride);
        n++;
      }
    }
    const bool is_purged = ebi_atomic_load_relaxed(&s->xcarve) & EBI_SLAB_PURGED;
    if (n != s->nfree || (is_purged && n))
      a->r.invalid++;
    partial += n > 0;
    purged += is_purged;
  }
  if (partial != list_length(a->pool->partial) || purged != list_length(a->pool->purged))
    a->r.invalid++;
}

static int audit_prepare(audit_t *a) {
  for (const ebi_slab_t *s = a->pool->slabs; s; s = s->next)
    a->nslabs++;
  a->slabs = calloc(a->nslabs ? a->nslabs : 1, sizeof *a->slabs);
  if (!a->slabs)
    return ENOMEM;
  size_t i = 0;
  for (const ebi_slab_t *s = a->pool->slabs; s; s = s->next, i++) {
    a->slabs[i].slab = s;
    a->slabs[i].seen = calloc((s->count + 63) / 64, sizeof(uint64_t));
    if (!a->slabs[i].seen)
      return ENOMEM;
  }
  return 0;
}

static void audit_release(audit_t *a) {
  for (size_t i = 0; a->slabs && i < a->nslabs; i++)
    free(a->slabs[i].seen);
  free(a->slabs);
}

/* Registry lock held (the caches cannot change); the pool is quiescent. */
int ebi_pool_audit_locked(ebra_pool_t *pool, ebra_pool_audit_t *out) {
  audit_t a = {.pool = pool};
  /* The owners are quiescent: make their loaded magazines' counts true. */
  for (ebi_tcache_t *tc = pool->tcaches; tc; tc = tc->pool_next)
    ebi_tcache_sync_out(tc);
  pthread_mutex_lock(&pool->grow_lock);
  int err = audit_prepare(&a);
  if (!err) {
    /* Paired with the CAS release in ebi_magazine_new. */
    for (const ebi_magazine_t *m = ebi_atomic_load_acquire(&pool->xall_mags); m;
         m = m->all_next)
      a.r.magazines++;
    uint64_t reached = 0;
    ck_stack_t *stacks[3] = {&pool->depot.full, &pool->depot.empty, &pool->depot.parked};
    for (int k = 0; k < 3; k++) {
      ck_stack_entry_t *e;
      CK_STACK_FOREACH(stacks[k], e) {
        audit_magazine(&a, (const ebi_magazine_t *)((char *)e - offsetof(ebi_magazine_t, link)));
        reached++;
      }
    }
    for (const ebi_tcache_t *tc = pool->tcaches; tc; tc = tc->pool_next) {
      audit_magazine(&a, tc->loaded);
      audit_magazine(&a, tc->previous);
      reached += 2;
    }
    a.r.lost_magazines = a.r.magazines > reached ? a.r.magazines - reached : 0;
    pthread_mutex_lock(&pool->overflow_lock);
    for (void *p = pool->overflow; p; p = *(void **)p)
      audit_object(&a, p);
    pthread_mutex_unlock(&pool->overflow_lock);
    audit_slab_free(&a);
  }
  pthread_mutex_unlock(&pool->grow_lock);
  audit_release(&a);
  a.r.carved = ebi_atomic_load_relaxed(&pool->xcarved);
  a.r.live = ebi_pool_live_locked(pool);
  if (out)
    *out = a.r;
  if (err) {
    ebi_report_pool(pool, EBRA_ERR_NOMEM, "pool '%s': no memory to audit", pool->life.name);
    return -ENOMEM;
  }
  if (a.r.duplicates || a.r.invalid || a.r.lost_magazines ||
      a.r.carved != a.r.cached + a.r.live) {
    ebi_report_pool(pool, EBRA_ERR_INTERNAL,
                     "pool '%s' audit failed: carved %" PRIu64 ", cached %" PRIu64
                     ", live %" PRIu64 ", duplicates %" PRIu64 ", invalid %" PRIu64
                     ", lost magazines %" PRIu64 " of %" PRIu64,
                     pool->life.name, a.r.carved, a.r.cached, a.r.live, a.r.duplicates,
                     a.r.invalid, a.r.lost_magazines, a.r.magazines);
    return -EUCLEAN;
  }
  return 0;
}

int ebra_pool_audit(ebra_pool_t *pool, ebra_pool_audit_t *out) {
  int rc0 = EBI_LIFE_CHECK(pool, EBI_KIND_POOL, "ebra_pool_audit");
  if (rc0)
    return rc0;
  ebi_registry_lock();
  if (!ebi_pool_is_alive(pool)) {
    ebi_registry_unlock();
    ebi_report_pool(pool, EBRA_ERR_USE_AFTER_DESTROY, "ebra_pool_audit on destroyed pool '%s'",
                     pool->life.name);
    return -EBADF;
  }
  int rc = ebi_pool_audit_locked(pool, out);
  ebi_registry_unlock();
  return rc;
}

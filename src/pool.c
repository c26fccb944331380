/* SPDX-License-Identifier: MIT */
/* src/pool.c — pool lifecycle and the alloc/free paths.
 *
 * Fast paths (ebra_pool_alloc / ebra_pool_free when the loaded magazine can
 * serve): thread-local only.  One TLS load, the thread's slot for the pool,
 * the loaded magazine, and a single-writer counter store.  No atomic
 * read-modify-write, no lock, no shared write; wait-free.  Free adds the
 * pointer checks: a wait-free segment-map lookup and arithmetic on the
 * slab header, which is constant while the pool lives.
 *
 * Slow paths, in Bonwick's order: swap loaded and previous (still
 * thread-local); then exchange a magazine with the depot (lock-free); then
 * carve new objects from the slab layer (lock-free, except while the OS maps
 * a new slab).  If the OS refuses memory for a magazine on free, the object
 * goes on the pool's overflow list, so free never fails for a valid object.
 *
 * Object state (the free marker, the held bit, the debug live bit) and the
 * checks of a pointer belong to object.c; alloc and free call its inline
 * transitions.  Free has two entries: ebra_pool_free, the user's, runs
 * every check; ebi_pool_free_owned, a holder's return of an object it
 * claimed (object.c), runs none.  Both end in pool_put.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"



/* ebra/pool_inline.h reads these fields at these offsets (layout
 * EBRA__LAYOUT); a change here must change that header and its number. */
#define EBI_AT(type, field, off) _Static_assert(offsetof(type, field) == (off), #field)
EBI_AT(ebra_pool_t, life.serial, EBRA__POOL_SERIAL);
EBI_AT(ebra_pool_t, tslot_off, EBRA__POOL_TSLOT);
EBI_AT(ebra_pool_t, cookie, EBRA__POOL_COOKIE);
EBI_AT(ebi_pool_slot_t, slot.serial, EBRA__SLOT_SERIAL);
EBI_AT(ebi_pool_slot_t, tc, EBRA__SLOT_TC);
_Static_assert(EBRA__SLOT_TC + EBRA__TC_FREES + 8 <= 64, "slot serial, top and counters: one line");
EBI_AT(ebi_tcache_t, top, EBRA__TC_TOP);
EBI_AT(ebi_tcache_t, base, EBRA__TC_BASE);
EBI_AT(ebi_tcache_t, limit, EBRA__TC_LIMIT);
EBI_AT(ebi_tcache_t, c.allocs, EBRA__TC_ALLOCS);
EBI_AT(ebi_tcache_t, c.frees, EBRA__TC_FREES);
EBI_AT(ebi_slab_t, pool, EBRA__SLAB_POOL);
EBI_AT(ebi_slab_t, first, EBRA__SLAB_FIRST);
EBI_AT(ebi_slab_t, stride_inv, EBRA__SLAB_INV);
EBI_AT(ebi_slab_t, stride_tz, EBRA__SLAB_TZ);
EBI_AT(ebi_slab_t, xcarve, EBRA__SLAB_CARVE);
_Static_assert(EBRA__SLAB_HELD_EVER == EBI_SLAB_HELD_EVER, "held-ever flag");
_Static_assert(sizeof(ebi_slab_t) <= EBRA__SLAB_HELD, "held bits overlap the slab header");
_Static_assert(EBRA__SLAB_HELD % 8 == 0, "held bits alignment");
_Static_assert(EBRA__GRANULE_SHIFT == EBI_GRANULE_SHIFT, "segment map geometry");
EBI_AT(ebi_segmap_t, xmask, EBRA__SEGMAP_MASK);
EBI_AT(ebi_segmap_t, xtable, EBRA__SEGMAP_TABLE);
_Static_assert(sizeof(ebi_segmap_t) == 16, "ebra__segmap_t");
_Static_assert(sizeof(_Atomic uintptr_t) == sizeof(uintptr_t) &&
                   sizeof(_Atomic(ebi_slab_t *)) == sizeof(void *) &&
                   sizeof(_Atomic uint64_t) == sizeof(uint64_t),
               "atomic pointers and counters have the plain representation");
#undef EBI_AT

/* ---- overflow list: frees while the OS refuses magazine memory ---------- */

static void overflow_push(ebra_pool_t *pool, void *p) {
  pthread_mutex_lock(&pool->overflow_lock);
  *(void **)p = pool->overflow;
  pool->overflow = p;
  ebi_atomic_add_relaxed(&pool->xnoverflow, 1);
  pthread_mutex_unlock(&pool->overflow_lock);
}

static uint32_t overflow_take(ebra_pool_t *pool, void **out, uint32_t want) {
  if (ebi_atomic_load_relaxed(&pool->xnoverflow) == 0)
    return 0;
  uint32_t n = 0;
  pthread_mutex_lock(&pool->overflow_lock);
  while (n < want && pool->overflow) {
    void *p = pool->overflow;
    pool->overflow = *(void **)p;
    *(uint64_t *)p = ebi_object_free_marker(pool, p);
    out[n++] = p;
  }
  ebi_atomic_sub_relaxed(&pool->xnoverflow, n);
  pthread_mutex_unlock(&pool->overflow_lock);
  return n;
}

/* ---- alloc ---------------------------------------------------------------- */

static void *alloc_failed(ebra_pool_t *pool, int err, ebra_error_kind_t kind) {
  if (kind == EBRA_ERR_CAP_REACHED)
    ebi_report_pool(pool, kind, "pool '%s': cap of %zu objects reached", pool->life.name,
                     pool->max_objects);
  else if (kind == EBRA_ERR_USE_AFTER_DESTROY)
    ebi_report_pool(pool, kind, "ebra_pool_alloc on destroyed pool '%s'", pool->life.name);
  else if (kind == EBRA_ERR_MEMORY_LIMIT)
    ebi_report_pool(pool, kind,
                     "pool '%s': the hard memory limit (%llu bytes) refused a new slab",
                     pool->life.name, (unsigned long long)ebi_slab_hard_limit());
  else
    ebi_report_pool(pool, kind, "pool '%s': the OS refused memory", pool->life.name);
  errno = err;
  return NULL;
}

/* How many new objects one refill carves: a magazine's worth, but at most
 * about 256 KiB of them (at least one), so a pool of large objects does not
 * map and touch megabytes for its first alloc. */
static uint32_t carve_batch(const ebra_pool_t *pool, uint32_t capacity) {
  const size_t by_bytes = ((size_t)256 << 10) / pool->stride;
  const uint32_t n = by_bytes < capacity ? (uint32_t)by_bytes : capacity;
  return n ? n : 1;
}

/* Refill tc->loaded (empty; previous empty too): a full magazine from the
 * depot, else the overflow list, else free objects the slabs took back,
 * else new objects carved from the slabs. */
static bool alloc_refill(ebra_pool_t *pool, ebi_tcache_t *tc, ebra_error_kind_t *why) {
  ebi_counter_add_owner(&tc->c.misses, 1);
  ebi_magazine_t *full = ebi_depot_pop_full(&pool->depot, &tc->c);
  if (full) {
    ebi_magazine_note_move(pool, tc, full->capacity); /* the capacity policy */
    if (full->capacity < tc->loaded->capacity) {
      /* MC3: a full magazine of an older, smaller capacity is poured into
       * the empty loaded one and goes back empty, to be parked (MC4), so
       * it leaves circulation instead of coming back full every time the
       * working set passes the cache. */
      memcpy(tc->loaded->objs, full->objs, full->rounds * sizeof(void *));
      tc->loaded->rounds = full->rounds;
      full->rounds = 0;
      ebi_magazine_give(pool, full, &tc->c);
      return true;
    }
    ebi_magazine_give(pool, tc->previous, &tc->c);
    tc->previous = tc->loaded;
    tc->loaded = full;
    return true;
  }
  /* MC3: the empty loaded magazine takes the pool's capacity first, so a
   * lean pool carves lean batches and a grown one full ones. */
  ebi_magazine_refit(pool, &tc->loaded, &tc->c);
  ebi_magazine_t *m = tc->loaded;
  m->rounds = overflow_take(pool, m->objs, m->capacity);
  if (m->rounds == 0)
    m->rounds = ebi_slab_fill(pool, m->objs, carve_batch(pool, m->capacity), why);
  return m->rounds > 0;
}

static __attribute__((noinline)) void *alloc_null(void) {
  ebi_report(EBRA_ERR_BAD_CALL, "ebra_pool_alloc(NULL)");
  errno = EINVAL;
  return NULL;
}

static void *alloc_slow_in_op(ebra_pool_t *pool, ebi_tcache_t *tc) {
  if (!tc)
    tc = ebi_tcache_of(pool); /* an id with no inline slot */
  if (!tc) {
    tc = ebi_tcache_attach(pool);
    if (!tc)
      return errno == EBADF ? alloc_failed(pool, EBADF, EBRA_ERR_USE_AFTER_DESTROY)
                            : alloc_failed(pool, ENOMEM, EBRA_ERR_NOMEM);
  }
  ebi_tcache_sync_out(tc);
  if (tc->loaded->rounds == 0) {
    ebra_error_kind_t why = EBRA_ERR_NOMEM;
    bool ok = true;
    if (tc->previous->rounds > 0) { /* previous is full: swap */
      ebi_magazine_t *t = tc->loaded;
      tc->loaded = tc->previous;
      tc->previous = t;
    } else {
      ok = alloc_refill(pool, tc, &why);
    }
    ebi_tcache_sync_in(tc);
    if (!ok)
      return alloc_failed(pool, ENOMEM, why);
  }
  void *p;
  if (tc->bypass) {
    p = tc->loaded->objs[--tc->loaded->rounds];
    ebi_object_on_alloc_hooked(pool, p);
  } else {
    p = *--tc->top;
  }
  ebi_counter_add_owner(&tc->c.allocs, 1);
  ebi_object_on_alloc(pool, p);
  return p;
}

/* Inside a pool operation, which it leaves (so the fast path can jump
 * here with nothing to restore). */
static __attribute__((noinline)) void *alloc_slow(ebra_pool_t *pool, ebi_tcache_t *tc) {
  ebi_pool_slow_enter(); /* reports may call out; see ebi_pool_op_enter */
  void *p = alloc_slow_in_op(pool, tc);
  ebi_pool_slow_leave();
  ebi_pool_op_leave();
  ebi_giveback_tick(); /* outside the operation (giveback.c, G3) */
  return p;
}

/* Fast path: pop the loaded magazine through the cached stack pointers. */
void *ebra_pool_alloc(ebra_pool_t *pool) {
  if (EBI_LIKELY(pool != NULL)) {
    ebi_pool_op_enter();
    ebi_tcache_t *tc;
    void *p = ebi_tcache_pop_in_op(pool, &tc);
    if (EBI_LIKELY(p != NULL)) {
      ebi_pool_op_leave();
      ebi_object_on_alloc(pool, p);
      return p;
    }
    return alloc_slow(pool, tc); /* leaves the operation */
  }
  return alloc_null();
}

/* ---- free ----------------------------------------------------------------- */

/* p's free-state transition, with the pool's object hooks (user: the
 * user's free, whose live bit decides a race of two frees, O3): 0, or
 * -EALREADY for the loser, reported. */
static int free_transition_hooked(ebra_pool_t *pool, void *p, bool user) {
  if (user && ebi_object_tracks_live(pool) &&
      !ebi_object_set_live(ebi_segmap_lookup(p), p, false)) {
    ebi_report_pool(pool, EBRA_ERR_DOUBLE_FREE, "pool '%s': double free of %p", pool->life.name,
                     p);
    return -EALREADY;
  }
  ebi_object_on_free_hooked(pool, p);
  ebi_object_on_free(pool, p);
  return 0;
}

static int free_slow_in_op(ebra_pool_t *pool, ebi_tcache_t *tc, void *p, bool user) {
  if (ebi_pool_has_object_hooks(pool)) {
    const int rc = free_transition_hooked(pool, p, user);
    if (rc)
      return rc;
  } else {
    ebi_object_on_free(pool, p);
  }
  if (!tc)
    tc = ebi_tcache_of(pool); /* an id with no inline slot */
  if (!tc)
    tc = ebi_tcache_attach(pool);
  if (!tc) { /* no memory for a cache: keep the object anyway */
    overflow_push(pool, p);
    return 0;
  }
  ebi_tcache_sync_out(tc);
  ebi_magazine_t *m = tc->loaded;
  if (m->rounds == m->capacity) {
    if (tc->previous->rounds == 0) { /* previous is empty: swap */
      ebi_magazine_refit(pool, &tc->previous, &tc->c); /* the capacity policy */
      tc->loaded = tc->previous;
      tc->previous = m;
    } else { /* both full: previous goes to the depot */
      ebi_counter_add_owner(&tc->c.misses, 1);
      ebi_magazine_t *e = ebi_magazine_get_empty(pool, &tc->c);
      if (!e) {
        overflow_push(pool, p);
        ebi_counter_add_owner(&tc->c.frees, 1);
        return 0;
      }
      const uint32_t moved = tc->previous->capacity; /* before the push gives it away */
      ebi_depot_push_full(&pool->depot, tc->previous, &tc->c);
      ebi_magazine_note_move(pool, tc, moved); /* the capacity policy */
      tc->previous = m;
      tc->loaded = e;
    }
    ebi_tcache_sync_in(tc);
  }
  if (tc->bypass)
    tc->loaded->objs[tc->loaded->rounds++] = p;
  else
    *tc->top++ = p;
  ebi_counter_add_owner(&tc->c.frees, 1);
  return 0;
}

/* Inside a pool operation, which it leaves. */
static __attribute__((noinline)) int free_slow(ebra_pool_t *pool, ebi_tcache_t *tc, void *p,
                                               bool user) {
  ebi_pool_slow_enter(); /* reports may call out; see ebi_pool_op_enter */
  const int rc = free_slow_in_op(pool, tc, p, user);
  ebi_pool_slow_leave();
  ebi_pool_op_leave();
  ebi_giveback_tick(); /* outside the operation (giveback.c, G3) */
  return rc;
}

/* p enters the free state and goes to the thread's loaded magazine. */
static inline int pool_put(ebra_pool_t *pool, void *p, uint64_t marker, bool user) {
  ebi_pool_op_enter();
  ebi_tcache_t *tc;
  if (EBI_LIKELY(ebi_tcache_push_in_op(pool, &tc, p, marker))) {
    ebi_pool_op_leave();
    return 0;
  }
  return free_slow(pool, tc, p, user); /* leaves the operation */
}

/* The user's free of p, refused by the default checks, or by a live bit
 * that was already clear (pools that track it).  Also the NULL cases: the
 * fast path leaves them to the lookup, which finds no slab for either. */
static __attribute__((noinline)) int free_refused(ebra_pool_t *pool, void *p) {
  if (p == NULL)
    return 0;
  if (pool == NULL) {
    ebi_report(EBRA_ERR_BAD_CALL, "ebra_pool_free(NULL, %p)", p);
    return -EINVAL;
  }
  /* The lookup again: the fast path keeps no register for the slab. */
  return ebi_object_free_refused(pool, ebi_segmap_lookup(p), p);
}

int ebra_pool_free(ebra_pool_t *pool, void *p) {
  /* NULL p or pool: the lookup of NULL finds no slab, and no slab's
   * owner is NULL; free_refused sorts them out.  The marker is computed
   * once, for the check and for the store. */
  uint64_t marker;
  if (EBI_UNLIKELY(!ebi_object_user_free(pool, ebi_segmap_lookup(p), p, &marker)))
    return free_refused(pool, p);
  return pool_put(pool, p, marker, true);
}

/* A holder's return (object.c): the object was checked when it was
 * claimed, and held since, so only the free itself remains. */
void ebi_pool_free_owned(ebra_pool_t *pool, void *p) {
  pool_put(pool, p, ebi_object_free_marker(pool, p), false);
}

ebra_pool_t *ebra_pool_of(const void *p) {
  const ebi_slab_t *s = p ? ebi_segmap_lookup(p) : NULL;
  return s && ebi_slab_slot_valid(s, p) ? s->pool : NULL;
}

/* ---- create / destroy --------------------------------------------------- */

static bool is_pow2(size_t x) { return x && !(x & (x - 1)); }

static int config_check(const ebra_pool_config_t *cfg) {
  const char *name = cfg && cfg->name ? cfg->name : "pool";
  if (!cfg)
    ebi_report(EBRA_ERR_BAD_CALL, "ebra_pool_create: config is NULL");
  else if (cfg->object_size == 0 || cfg->object_size > EBRA_MAX_OBJECT_SIZE)
    ebi_report(EBRA_ERR_BAD_CONFIG, "pool '%s': object_size %zu is not in [1, %zu]", name,
                cfg->object_size, EBRA_MAX_OBJECT_SIZE);
  else if (cfg->alignment != 0 && (!is_pow2(cfg->alignment) ||
                                   cfg->alignment < EBRA_MIN_ALIGNMENT ||
                                   cfg->alignment > EBRA_MAX_ALIGNMENT))
    ebi_report(EBRA_ERR_BAD_CONFIG,
                "pool '%s': alignment %zu is not 0 or a power of two in [%zu, %zu]", name,
                cfg->alignment, EBRA_MIN_ALIGNMENT, EBRA_MAX_ALIGNMENT);
  else if (cfg->magazine_capacity > EBRA_MAX_MAGAZINE_CAPACITY)
    ebi_report(EBRA_ERR_BAD_CONFIG, "pool '%s': magazine_capacity %u is above %u", name,
                cfg->magazine_capacity, EBRA_MAX_MAGAZINE_CAPACITY);
  else if (cfg->max_objects && cfg->prealloc > cfg->max_objects)
    ebi_report(EBRA_ERR_BAD_CONFIG, "pool '%s': prealloc %zu exceeds max_objects %zu", name,
                cfg->prealloc, cfg->max_objects);
  else if (cfg->flags & ~(EBRA_POOL_SECURE_CLEAR | EBRA_POOL_STRICT_CHECKS))
    ebi_report(EBRA_ERR_BAD_CONFIG, "pool '%s': unknown flags 0x%x", name,
                cfg->flags & ~(EBRA_POOL_SECURE_CLEAR | EBRA_POOL_STRICT_CHECKS));
  else
    return 0;
  return EINVAL;
}

static void pool_init_fields(ebra_pool_t *pool, const ebra_pool_config_t *cfg,
                             uint32_t internal_flags) {
  pool->object_size = cfg->object_size;
  pool->alignment = cfg->alignment ? cfg->alignment : EBRA_MIN_ALIGNMENT;
  const size_t size = cfg->object_size < 8 ? 8 : cfg->object_size;
  pool->stride = (size + pool->alignment - 1) & ~(pool->alignment - 1);
  ebi_slab_geometry(pool);
  pool->max_objects = cfg->max_objects;
  pool->flags = cfg->flags | internal_flags |
                (ebi_option_is_on(EBRA_OPT_SECURE) ? EBRA_POOL_SECURE_CLEAR : 0) |
                (ebi_option_is_on(EBRA_OPT_STRICT) ? EBRA_POOL_STRICT_CHECKS : 0);
  pool->cookie = ebi_os_random();
  const long cap = cfg->magazine_capacity ? (long)cfg->magazine_capacity
                                          : ebi_option_value(EBRA_OPT_MAGAZINE_SIZE);
  ebi_magazine_policy_init(pool, (uint32_t)cap, cfg->magazine_capacity != 0);
  ebi_depot_init(&pool->depot);
  pthread_mutex_init(&pool->grow_lock, NULL);
  pthread_mutex_init(&pool->overflow_lock, NULL);
}

/* Carve n objects into full magazines in the depot. */
static int pool_prealloc(ebra_pool_t *pool, size_t n) {
  ebi_counters_t c = {0};
  int err = 0;
  while (n > 0) {
    ebi_magazine_t *m = ebi_magazine_get_empty(pool, &c);
    if (!m) {
      err = ENOMEM;
      break;
    }
    const uint32_t want = n < m->capacity ? (uint32_t)n : m->capacity;
    ebra_error_kind_t why;
    m->rounds = ebi_slab_fill(pool, m->objs, want, &why);
    ebi_magazine_give(pool, m, &c);
    if (m->rounds < want) {
      err = ENOMEM;
      break;
    }
    n -= want;
  }
  ebi_registry_lock();
  ebi_counters_add(&pool->detached, &c);
  ebi_registry_unlock();
  return err;
}

ebra_pool_t *ebra_pool_create(const ebra_pool_config_t *cfg) {
  return ebi_pool_create_flagged(cfg, 0);
}

ebra_pool_t *ebi_pool_create_flagged(const ebra_pool_config_t *cfg, uint32_t internal_flags) {
  if (config_check(cfg) != 0) {
    errno = EINVAL;
    return NULL;
  }
  ebra_pool_t *pool = ebi_life_alloc(sizeof *pool);
  if (!pool) {
    ebi_report(EBRA_ERR_NOMEM, "ebra_pool_create: no memory for the pool");
    return NULL;
  }
  pool_init_fields(pool, cfg, internal_flags);
  if (ebi_life_begin(&pool->life, EBI_KIND_POOL, cfg->name) != 0) {
    free(pool);
    ebi_report(EBRA_ERR_NOMEM, "ebra_pool_create: no memory for the registry");
    errno = ENOMEM;
    return NULL;
  }
  pool->tslot_off = pool->life.id < EBI_INLINE_SLOTS
                        ? (uint32_t)(offsetof(ebi_thread_t, pool_inl) +
                                     pool->life.id * sizeof(ebi_pool_slot_t))
                        : (uint32_t)offsetof(ebi_thread_t, no_slot);
  if (cfg->prealloc && pool_prealloc(pool, cfg->prealloc) != 0) {
    ebi_report_pool(pool, EBRA_ERR_NOMEM, "pool '%s': preallocation of %zu objects failed",
                     pool->life.name, cfg->prealloc);
    ebra_pool_destroy(pool); /* nothing is live: no warning */
    errno = ENOMEM;
    return NULL;
  }
  return pool;
}

int ebra_pool_destroy(ebra_pool_t *pool) {
  int rc = EBI_LIFE_CHECK(pool, EBI_KIND_POOL, "ebra_pool_destroy");
  if (rc)
    return rc;
  ebi_registry_lock();
  if (!ebi_pool_is_alive(pool)) { /* a racing destroy won */
    ebi_registry_unlock();
    return ebi_life_check_slow(&pool->life, EBI_KIND_POOL, "ebra_pool_destroy");
  }
  if (EBI_DEBUG)
    ebi_pool_audit_locked(pool, NULL);
  const uint64_t live = ebi_pool_live_locked(pool);
  ebi_life_end_locked(&pool->life); /* every thread's slot for it is now stale */
  ebi_tcache_detach_all(pool);
  ebi_registry_unlock();

  if (live)
    ebi_report_pool(pool, EBRA_WARN_LIVE_AT_DESTROY,
                     "pool '%s' destroyed with %llu objects live; their memory is released",
                     pool->life.name, (unsigned long long)live);
  ebi_magazine_free_all(pool);
  ebi_slab_release_all(pool);
  pool->overflow = NULL;
  ebi_atomic_store_relaxed(&pool->xnoverflow, 0);
  ebi_depot_init(&pool->depot);
  pthread_mutex_destroy(&pool->grow_lock);
  pthread_mutex_destroy(&pool->overflow_lock);
  return 0;
}

int ebra_pool_thread_flush(ebra_pool_t *pool) {
  int rc = EBI_LIFE_CHECK(pool, EBI_KIND_POOL, "ebra_pool_thread_flush");
  if (rc)
    return rc;
  ebi_pool_op_enter();
  ebi_pool_slow_enter();
  ebi_tcache_t *tc = ebi_tcache_of(pool);
  if (tc)
    ebi_tcache_flush(pool, tc);
  ebi_pool_slow_leave();
  ebi_pool_op_leave();
  return 0;
}

const char *ebra_pool_name(const ebra_pool_t *pool) {
  return EBI_LIFE_CHECK(pool, EBI_KIND_POOL, "ebra_pool_name") ? NULL : pool->life.name;
}

size_t ebra_pool_object_size(const ebra_pool_t *pool) {
  return EBI_LIFE_CHECK(pool, EBI_KIND_POOL, "ebra_pool_object_size") ? 0 : pool->object_size;
}

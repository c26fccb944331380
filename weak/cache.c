/* SPDX-License-Identifier: MIT */
/* weak/cache.c — the weak cache: key -> weak handle in liburcu's
 * lock-free hash table (cds_lfht), created with the RCU flavour of the
 * cache's domain, so an ebra read section is an lfht read section.
 *
 * Entry (centry_t): an lfht node, the key, the handle, the object pointer
 * seen at store time (for on_evict DIED), an expiry time, a CLOCK
 * referenced bit, a removed flag and a hold count.
 *
 * Invariants
 *   C1  exactly one party removes an entry: whoever gets 0 from
 *       cds_lfht_del (erase, eviction, expiry, death, destroy) or receives
 *       it from cds_lfht_add_replace (store of the same key).  liburcu
 *       makes that unique: both set REMOVAL_OWNER_FLAG on the node with an
 *       exchange and succeed only if it was clear.  The owner alone counts
 *       the removal, sets xremoved and calls on_evict, so each entry that
 *       was inserted leaves with exactly one on_evict and one reason.
 *   C2  an entry's memory is held by: the table (from insertion until a
 *       grace period after its removal: ebra_retire_call), the CLOCK ring
 *       (while a ring slot points to it) and the death cleanup registered
 *       on its handle (until it has run).  It is freed when the last hold
 *       goes (xholds), so the cleanup and the ring may look at a removed
 *       entry, and lfht readers never see freed memory.
 *   C3  the cache struct is held by its owner and by every entry not yet
 *       freed, so a cleanup that runs after ebra_cache_destroy finds it;
 *       destroy sets `dead` under death_lock and the cleanup skips the
 *       (destroyed) lfht then.
 *   C4  with max_entries M, every entry in the table occupies one of the M
 *       ring slots (a store takes a slot before it inserts), so size <= M.
 *       xsize counts entries not yet removed; a removal decrements it before
 *       it marks the entry removed (xremoved), and a victim the hand evicts
 *       is decremented under clock_lock before the store's increment, so
 *       the counter never exceeds the ring slots in use either.
 *   C5  on_evict gets an object only while it is protected: inside the
 *       caller's section, alive (resolved there), or held by a strong
 *       reference (a store whose object died before its cleanup was
 *       registered), or from the death cleanup, which runs before the
 *       object goes back to its pool.
 *
 * Ordering
 *   Entries are published by cds_lfht_add_replace, which issues full
 *   barriers around its commit; lookups read them through liburcu's
 *   rcu_dereference inside the section.  Fields written after
 *   publication are atomics: xref (relaxed: a hint), xremoved (store
 *   release by the owner, paired with the ring hand's load acquire),
 *   xholds (acq_rel: the last holder frees).  The handle resolves through
 *   ebra_weak_get (its acquire/release pairs are in weak.c).
 *
 * Progress: lookup is lock-free (lfht lookup, wait-free weak_get, a
 * per-thread counter, a referenced-bit store only when clear).  Erase
 * and maintain are lock-free.  Store is lock-free without max_entries and
 * takes clock_lock with it (the CLOCK hand).  The death cleanup runs on
 * the reclaimer and takes death_lock (a leaf; only destroy contends).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h" /* liburcu flavours, before rculfhash.h */
#include <urcu/rculfhash.h>

/* liburcu declares each flavour's struct through urcu/flavor.h, which is
 * included once: with both flavours in one file, only the first (memb) is
 * declared.  The qsbr one is in liburcu-qsbr.so. */
extern const struct rcu_flavor_struct urcu_qsbr_flavor;

#include "weak_internal.h"
#include "tsan.h"

#define NOWNED EBI_THREAD_NUMBERS /* stripes with one writer each */
#define NSHARED 16 /* stripes shared (atomic add) by later threads */
#define MAX_INIT_BUCKETS (1ul << 20)

typedef struct centry_s {
  struct cds_lfht_node node;
  ebra_cache_t *cache;
  ebra_weak_t h;
  void *obj;               /* the object when stored: on_evict DIED */
  uint64_t expires_ns;     /* UINT64_MAX without a ttl */
  _Atomic uint32_t xref;   /* CLOCK referenced bit; a hint, relaxed */
  _Atomic uint32_t xremoved; /* set once by the removal owner (C1) */
  _Atomic uint32_t xholds; /* table + ring + cleanup (C2) */
  uint32_t key_len;
  uint64_t key_u64;
  unsigned char key[];     /* byte keys */
} centry_t;

/* Hit/miss counters.  A thread numbered below NOWNED by ebra's thread
 * registry (thread.c: the smallest number no live thread holds, reused
 * after a thread exits or detaches) owns that stripe and bumps it with a
 * plain load and store (ebi_counter_add_owner: no read-modify-write on
 * the hot path).  The registry lock orders a number's previous holder
 * before its next one, so each stripe has one writer at a time.  Threads
 * beyond the first NOWNED alive at once share NSHARED stripes with an
 * atomic add. */
typedef struct stripe_s {
  _Atomic uint64_t xhits, xmisses;
} __attribute__((aligned(64))) stripe_t;

struct ebra_cache_s {
  ebi_life_t life;            /* first member (src/life.c) */
  struct cds_lfht *ht;
  ebra_weak_table_t *table;
  ebra_domain_t *domain;
  ebra_cache_key_kind_t kind; /* KIND_DEAD once destroyed */
  uint64_t seed;
  uint64_t ttl_ns;
  size_t max_entries;
  ebra_cache_evict_fn *on_evict;
  void *evict_arg;
  pthread_mutex_t clock_lock; /* ring and hand (max_entries > 0) */
  centry_t **ring;
  size_t hand;
  pthread_mutex_t death_lock; /* dead; held by cleanups and destroy */
  bool dead;
  _Atomic uint32_t xholds;    /* owner + live entries (C3) */
  _Atomic uint64_t xsize, xstores, xevictions, xexpirations, xdeaths, xerasures, xreplacements;
  stripe_t owned[NOWNED];
  stripe_t shared[NSHARED];
};

/* A key as the match functions see it. */
typedef struct ckey_s {
  const ebra_cache_t *c;
  uint64_t u64;
  const void *bytes;
  size_t len;
} ckey_t;

/* A destroyed cache's key kind: no call's kind matches it, so the checks
 * of the public calls send every call on it to their slow path, which
 * reports the use after destroy; the fast paths test nothing more. */
#define KIND_DEAD ((ebra_cache_key_kind_t)0x7fff)

const char *ebi_cache_name(const ebra_cache_t *c) { return c->life.name; }

/* ---- keys and hashing -------------------------------------------------------- */

static inline uint64_t mix64(uint64_t x) { /* murmur3's finaliser */
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

static uint64_t hash_key(const ebra_cache_t *c, const ckey_t *k) {
  if (c->kind == EBRA_CACHE_KEY_U64)
    return mix64(k->u64 ^ c->seed);
  const unsigned char *p = k->bytes;
  uint64_t h = c->seed ^ (k->len * 0x9e3779b97f4a7c15ull);
  size_t n = k->len;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = mix64(h ^ w);
  }
  uint64_t w = 0;
  memcpy(&w, p, n);
  return mix64(h ^ w ^ n);
}

static inline const void *entry_key(const centry_t *e) {
  return e->cache->kind == EBRA_CACHE_KEY_U64 ? (const void *)&e->key_u64 : e->key;
}

/* A reader reached e through the lfht (a lookup's match, or a walk):
 * under TSan, acquire it (the storer released it before add_replace) and
 * note it for the section, so the free after the grace period is ordered
 * after this reader's accesses.  Every path that reads an entry it found
 * in the table goes through here first. */
static void entry_reached(const ebra_cache_t *c, centry_t *e) {
  ebi_tsan_consume(e);
#if defined(EBRA_TSAN)
  ebi_dthread_t *dt = ebi_dthread_of(c->domain);
  if (dt)
    ebi_tsan_note(dt, e);
#else
  (void)c;
#endif
}

/* cds_lfht match: runs in the caller's section on every node of the chain
 * whose hash equals the key's. */
static int entry_match(struct cds_lfht_node *n, const void *key) {
  centry_t *e = caa_container_of(n, centry_t, node);
  const ckey_t *k = key;
  entry_reached(k->c, e);
  if (k->c->kind == EBRA_CACHE_KEY_U64)
    return e->key_u64 == k->u64;
  return e->key_len == k->len && memcmp(e->key, k->bytes, k->len) == 0;
}

/* ---- holds (C2, C3) ------------------------------------------------------------ */

/* Free what the cache owns; the struct itself only if it never became
 * alive (a failed create): a destroyed one stays as a tombstone (life.c). */
static void cache_free(ebra_cache_t *c) {
  free(c->ring);
  c->ring = NULL;
  pthread_mutex_destroy(&c->clock_lock);
  pthread_mutex_destroy(&c->death_lock);
  if (ebi_life_state(&c->life) != EBI_DEAD)
    free(c);
}

static void cache_unhold(ebra_cache_t *c) {
  /* acq_rel: the last holder sees every other holder's accesses. */
  if (ebi_atomic_sub_acq_rel(&c->xholds, 1) == 1)
    cache_free(c);
}

static void entry_unhold(centry_t *e, uint32_t n) {
  /* acq_rel: the last holder sees every other holder's accesses. */
  if (ebi_atomic_sub_acq_rel(&e->xholds, n) == n) {
    ebra_cache_t *c = e->cache;
    free(e);
    cache_unhold(c);
  }
}

/* After the grace period that follows the removal: no lfht reader holds
 * the node any more; drop the table's hold. */
static void entry_table_hold_gone(void *arg) { entry_unhold(arg, 1); }

/* ---- removal (C1) -------------------------------------------------------------- */

static _Atomic uint64_t *reason_counter(ebra_cache_t *c, ebra_cache_reason_t why) {
  switch (why) {
  case EBRA_CACHE_EVICTED: return &c->xevictions;
  case EBRA_CACHE_EXPIRED: return &c->xexpirations;
  case EBRA_CACHE_DIED: return &c->xdeaths;
  case EBRA_CACHE_REPLACED: return &c->xreplacements;
  default: return &c->xerasures;
  }
}

/* The caller owns e's removal (C1) and is inside a read section;
 * counted: xsize was already decremented for e (an evicted victim, C4). */
static void entry_removed_counted(ebra_cache_t *c, centry_t *e, ebra_cache_reason_t why,
                                  bool counted) {
  if (!counted)
    ebi_atomic_sub_relaxed(&c->xsize, 1); /* before xremoved (C4) */
  /* Release: paired with the ring hand's load acquire (clock_take_slot). */
  ebi_atomic_store_release(&e->xremoved, 1);
  ebi_atomic_add_relaxed(reason_counter(c, why), 1);
  if (c->on_evict) {
    void *obj = why == EBRA_CACHE_DIED ? e->obj : ebi_weak_resolve(c->table, e->h);
    c->on_evict(c->evict_arg, entry_key(e), e->key_len, obj, why);
  }
  if (ebi_retire_call_nowait(c->domain, entry_table_hold_gone, e) != 0)
    ebi_report(EBRA_ERR_NOMEM, "cache '%s': no memory to retire an entry; it leaks", c->life.name);
}

static void entry_removed(ebra_cache_t *c, centry_t *e, ebra_cache_reason_t why) {
  entry_removed_counted(c, e, why, false);
}

/* Try to remove e for why; true if this caller owned the removal. */
static bool entry_try_remove(ebra_cache_t *c, centry_t *e, ebra_cache_reason_t why) {
  if (cds_lfht_del(c->ht, &e->node) != 0)
    return false; /* someone else owns it */
  entry_removed(c, e, why);
  return true;
}

/* Death cleanup, on the reclaimer thread after the object died (W4: once).
 * The reclaimer is registered with the domain only for this section, so
 * ebra_domain_destroy does not count it as a user. */
static void entry_died(void *arg, ebra_weak_t h) {
  (void)h;
  centry_t *e = arg;
  ebra_cache_t *c = e->cache;
  pthread_mutex_lock(&c->death_lock);
  if (!c->dead) {
    const bool registered = ebi_dthread_of(c->domain) != NULL;
    ebi_read_lock(c->domain);
    entry_try_remove(c, e, EBRA_CACHE_DIED);
    ebi_read_unlock(c->domain);
    if (!registered)
      ebra_domain_unregister_thread(c->domain);
  }
  pthread_mutex_unlock(&c->death_lock);
  entry_unhold(e, 1);
}

/* ---- CLOCK eviction (C4) --------------------------------------------------------- */

static void ring_release(ebra_cache_t *c, size_t i) {
  centry_t *e = c->ring[i];
  c->ring[i] = NULL;
  if (e)
    entry_unhold(e, 1);
}

/* A free ring slot, evicting one entry if the ring is full.  clock_lock
 * held, inside a read section.  Each step clears a referenced bit or
 * frees a slot; after two turns the hand evicts whatever it points at, so
 * a store never loops on lookups that keep setting bits. */
static size_t clock_take_slot(ebra_cache_t *c, centry_t **victim) {
  const size_t m = c->max_entries;
  for (size_t steps = 0;; steps++) {
    const size_t i = c->hand;
    c->hand = i + 1 == m ? 0 : i + 1;
    centry_t *e = c->ring[i];
    if (!e)
      return i;
    /* Paired with the store release in entry_removed. */
    if (!ebi_atomic_load_acquire(&e->xremoved)) {
      if (steps < 2 * m && ebi_atomic_load_relaxed(&e->xref)) {
        ebi_atomic_store_relaxed(&e->xref, 0);
        continue;
      }
      if (cds_lfht_del(c->ht, &e->node) == 0) {
        *victim = e; /* the ring's hold goes with it */
        c->ring[i] = NULL;
        ebi_atomic_sub_relaxed(&c->xsize, 1); /* before the store's increment (C4) */
        return i;
      }
    }
    ring_release(c, i); /* removed by another owner: the slot is free */
    return i;
  }
}

/* ---- store, lookup, erase --------------------------------------------------------- */

static centry_t *entry_new(ebra_cache_t *c, const ckey_t *k, ebra_weak_t h, void *obj) {
  const size_t extra = c->kind == EBRA_CACHE_KEY_BYTES ? k->len : 0;
  centry_t *e = malloc(sizeof *e + extra);
  if (!e)
    return NULL;
  memset(e, 0, sizeof *e);
  cds_lfht_node_init(&e->node);
  e->cache = c;
  e->h = h;
  e->obj = obj;
  e->expires_ns = c->ttl_ns ? ebi_now_ns() + c->ttl_ns : UINT64_MAX;
  if (c->kind == EBRA_CACHE_KEY_U64) {
    e->key_u64 = k->u64;
    e->key_len = sizeof(uint64_t);
  } else {
    memcpy(e->key, k->bytes, k->len);
    e->key_len = (uint32_t)k->len;
  }
  /* table + cleanup, + ring when bounded (C2) */
  ebi_atomic_store_relaxed(&e->xholds, c->max_entries ? 3u : 2u);
  ebi_atomic_add_relaxed(&c->xholds, 1);
  return e;
}

/* Insert e (a new entry) inside a read section; the displaced entries'
 * on_evict run after clock_lock is released. */
static void store_insert(ebra_cache_t *c, centry_t *e, const ckey_t *k, uint64_t hash) {
  centry_t *victim = NULL;
  size_t slot = 0;
  if (c->max_entries) {
    pthread_mutex_lock(&c->clock_lock);
    slot = clock_take_slot(c, &victim);
  }
  ebi_atomic_add_relaxed(&c->xsize, 1);
  ebi_tsan_publish(e); /* after the last plain write to e */
  struct cds_lfht_node *old = cds_lfht_add_replace(c->ht, hash, entry_match, k, &e->node);
  if (c->max_entries) {
    c->ring[slot] = e;
    pthread_mutex_unlock(&c->clock_lock);
  }
  if (victim) {
    entry_removed_counted(c, victim, EBRA_CACHE_EVICTED, true);
    entry_unhold(victim, 1); /* the ring's hold */
  }
  if (old) /* add_replace made us the owner of old's removal (C1) */
    entry_removed(c, caa_container_of(old, centry_t, node), EBRA_CACHE_REPLACED);
}

/* The store holds a strong reference on h's object from before the entry
 * is inserted until after its death cleanup is registered: if the object
 * dies meanwhile (the cleanup is refused), the entry is removed with reason
 * DIED while the reference still keeps the object from being retired, so
 * on_evict reads it alive (C5). */
static int store_key(ebra_cache_t *c, const ckey_t *k, ebra_weak_t h) {
  void *obj;
  int rc = ebra_weak_upgrade(c->table, h, &obj);
  if (rc)
    return rc == -ENOENT ? -ESTALE : rc;
  centry_t *e = entry_new(c, k, h, obj);
  if (!e) {
    ebra_weak_release(c->table, h);
    return -ENOMEM;
  }
  ebi_read_lock(c->domain);
  store_insert(c, e, k, hash_key(c, k));
  ebi_read_unlock(c->domain);
  ebi_atomic_add_relaxed(&c->xstores, 1);
  /* The cleanup is added after insertion, so it always finds a node that
   * was in the table.  If the object died meanwhile its cleanups are
   * closed: remove the entry here instead (reason DIED). */
  rc = ebra_weak_add_cleanup(c->table, h, entry_died, e);
  if (rc != 0) {
    ebi_read_lock(c->domain);
    entry_try_remove(c, e, rc == -ESTALE ? EBRA_CACHE_DIED : EBRA_CACHE_ERASED);
    ebi_read_unlock(c->domain);
    entry_unhold(e, 1); /* the cleanup's hold: it will never run */
  }
  ebra_weak_release(c->table, h); /* may retire the object (after on_evict) */
  return rc;
}

static void count_lookup(ebra_cache_t *c, bool hit) {
  const ebi_thread_t *t = ebi_tls_thread;
  if (EBI_LIKELY(t->number < NOWNED)) {
    stripe_t *s = &c->owned[t->number];
    ebi_counter_add_owner(hit ? &s->xhits : &s->xmisses, 1);
  } else {
    stripe_t *s = &c->shared[((uintptr_t)t >> 6) % NSHARED];
    ebi_atomic_add_relaxed(hit ? &s->xhits : &s->xmisses, 1);
  }
}

/* A lookup's work: 0 and the object in *out, or -ENOENT (*out = NULL).
 * Inlined into both lookups: no call between the public entry and it. */
static inline __attribute__((always_inline)) int lookup_key(ebra_cache_t *c, const ckey_t *k,
                                                            void **out) {
  struct cds_lfht_iter it;
  cds_lfht_lookup(c->ht, hash_key(c, k), entry_match, k, &it);
  struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
  void *obj = NULL;
  if (n) {
    centry_t *e = caa_container_of(n, centry_t, node);
    if (EBI_UNLIKELY(c->ttl_ns && ebi_now_ns() >= e->expires_ns))
      entry_try_remove(c, e, EBRA_CACHE_EXPIRED);
    else if ((obj = ebi_weak_resolve(c->table, e->h)) && !ebi_atomic_load_relaxed(&e->xref))
      ebi_atomic_store_relaxed(&e->xref, 1); /* no shared write once set */
  }
  count_lookup(c, obj != NULL);
  *out = obj;
  return obj ? 0 : -ENOENT;
}

static int erase_key(ebra_cache_t *c, const ckey_t *k) {
  int rc = -ENOENT;
  ebi_read_lock(c->domain);
  struct cds_lfht_iter it;
  cds_lfht_lookup(c->ht, hash_key(c, k), entry_match, k, &it);
  struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
  if (n && entry_try_remove(c, caa_container_of(n, centry_t, node), EBRA_CACHE_ERASED))
    rc = 0;
  ebi_read_unlock(c->domain);
  return rc;
}

/* ---- checks of the public calls -------------------------------------------------- */

/* The slow path of bad_call: which misuse it is, reported. */
static __attribute__((noinline)) int misuse(const ebra_cache_t *c, ebra_cache_key_kind_t kind,
                                            const char *fn) {
  int rc = EBI_LIFE_CHECK(c, EBI_KIND_CACHE, fn);
  if (rc)
    return rc;
  if (c->kind != kind) {
    ebi_report(EBRA_ERR_BAD_CALL, "%s: cache '%s' has %s keys", fn, c->life.name,
                c->kind == EBRA_CACHE_KEY_U64 ? "uint64" : "byte-string");
    return -EINVAL;
  }
  ebi_report(EBRA_ERR_BAD_CALL, "%s: cache '%s': key must be 1..%d bytes", fn, c->life.name,
              EBRA_CACHE_KEY_MAX);
  return -EINVAL;
}


/* True when a keyed call is refused (a NULL or destroyed cache, the other
 * key kind, a bad byte key); nothing reported. */
static inline bool bad_call_fast(const ebra_cache_t *c, ebra_cache_key_kind_t kind,
                                 const void *key, size_t len) {
  return !(EBI_LIKELY(c != NULL && c->kind == kind) &&
           (kind == EBRA_CACHE_KEY_U64 || (key && len > 0 && len <= EBRA_CACHE_KEY_MAX)));
}

/* The check of every keyed call: 0, or the misuse's negative errno. */
static inline int bad_call(const ebra_cache_t *c, ebra_cache_key_kind_t kind, const void *key,
                           size_t len, const char *fn) {
  return bad_call_fast(c, kind, key, len) ? misuse(c, kind, fn) : 0;
}

/* The slow path of a refused lookup: *out, if there is one, holds NULL
 * (ebra/error.h); then the misuse is named and reported. */
static __attribute__((noinline)) int lookup_refused(const ebra_cache_t *c,
                                                    ebra_cache_key_kind_t kind, const void *key,
                                                    size_t len, void **out, const char *fn) {
  if (out)
    *out = NULL;
  int rc = bad_call(c, kind, key, len, fn);
  if (rc)
    return rc;
  ebi_report(EBRA_ERR_BAD_CALL, "%s: NULL out", fn);
  return -EINVAL;
}

int ebra_cache_store_u64(ebra_cache_t *c, uint64_t key, ebra_weak_t h) {
  int rc = bad_call(c, EBRA_CACHE_KEY_U64, NULL, 0, __func__);
  if (rc)
    return rc;
  const ckey_t k = {.c = c, .u64 = key};
  return store_key(c, &k, h);
}

int ebra_cache_store(ebra_cache_t *c, const void *key, size_t key_len, ebra_weak_t h) {
  int rc = bad_call(c, EBRA_CACHE_KEY_BYTES, key, key_len, __func__);
  if (rc)
    return rc;
  const ckey_t k = {.c = c, .bytes = key, .len = key_len};
  return store_key(c, &k, h);
}

int ebra_cache_lookup_u64(ebra_cache_t *c, uint64_t key, void **out) {
  if (EBI_UNLIKELY(!c || c->kind != EBRA_CACHE_KEY_U64 || !out))
    return lookup_refused(c, EBRA_CACHE_KEY_U64, NULL, 0, out, __func__);
  const ckey_t k = {.c = c, .u64 = key};
  return lookup_key(c, &k, out);
}

int ebra_cache_lookup(ebra_cache_t *c, const void *key, size_t key_len, void **out) {
  if (EBI_UNLIKELY(bad_call_fast(c, EBRA_CACHE_KEY_BYTES, key, key_len) || !out))
    return lookup_refused(c, EBRA_CACHE_KEY_BYTES, key, key_len, out, __func__);
  const ckey_t k = {.c = c, .bytes = key, .len = key_len};
  return lookup_key(c, &k, out);
}

int ebra_cache_erase_u64(ebra_cache_t *c, uint64_t key) {
  int rc = bad_call(c, EBRA_CACHE_KEY_U64, NULL, 0, __func__);
  if (rc)
    return rc;
  const ckey_t k = {.c = c, .u64 = key};
  return erase_key(c, &k);
}

int ebra_cache_erase(ebra_cache_t *c, const void *key, size_t key_len) {
  int rc = bad_call(c, EBRA_CACHE_KEY_BYTES, key, key_len, __func__);
  if (rc)
    return rc;
  const ckey_t k = {.c = c, .bytes = key, .len = key_len};
  return erase_key(c, &k);
}

/* Remove, for `why`, every entry that expires at or before `by` (UINT64_MAX:
 * every entry, a ttl or not); returns how many this call removed. */
static size_t cache_remove_by(ebra_cache_t *c, uint64_t by, ebra_cache_reason_t why) {
  size_t n = 0;
  ebi_read_lock(c->domain);
  struct cds_lfht_iter it;
  struct cds_lfht_node *node;
  cds_lfht_for_each(c->ht, &it, node) {
    centry_t *e = caa_container_of(node, centry_t, node);
    entry_reached(c, e);
    if (by >= e->expires_ns && entry_try_remove(c, e, why))
      n++;
  }
  ebi_read_unlock(c->domain);
  return n;
}

int ebra_cache_maintain(ebra_cache_t *c, size_t *removed) {
  if (removed)
    *removed = 0; /* what a failed call leaves (ebra/error.h) */
  int rc = EBI_LIFE_CHECK(c, EBI_KIND_CACHE, "ebra_cache_maintain");
  if (rc)
    return rc;
  if (!c->ttl_ns)
    return 0;
  const size_t n = cache_remove_by(c, ebi_now_ns(), EBRA_CACHE_EXPIRED);
  if (removed)
    *removed = n;
  return 0;
}

/* ---- create, destroy, stats ------------------------------------------------------- */

/* Two buckets per expected entry: lfht's accounting grows the table only
 * once chains average four nodes, and every node walked is a cache miss. */
static unsigned long initial_buckets(const ebra_cache_config_t *cfg) {
  const size_t want = cfg->expected_entries ? cfg->expected_entries
                      : cfg->max_entries    ? cfg->max_entries
                                            : 512;
  unsigned long b = 1024;
  while (b < 2 * want && b < MAX_INIT_BUCKETS)
    b <<= 1;
  return b;
}

static int cache_check_config(ebra_weak_table_t *t, const ebra_cache_config_t *cfg) {
  int rc = EBI_LIFE_CHECK(t, EBI_KIND_WEAK_TABLE, "ebra_cache_create");
  if (rc)
    return -rc;
  ebra_domain_t *d = ebi_weak_table_domain(t);
  if ((cfg->key_kind != EBRA_CACHE_KEY_U64 && cfg->key_kind != EBRA_CACHE_KEY_BYTES) ||
      cfg->max_entries > ((size_t)1 << 32)) {
    ebi_report(EBRA_ERR_BAD_CONFIG, "ebra_cache_create: bad key kind or max_entries");
    return EINVAL;
  }
  if (ebra_domain_backend(d) == EBRA_RECLAIM_CK_EPOCH) {
    ebi_report(EBRA_ERR_BAD_CONFIG, "ebra_cache_create: domain '%s' uses ck-epoch; the cache "
                "needs a liburcu backend (urcu-memb or urcu-qsbr)", d->life.name);
    return ENOTSUP;
  }
  return 0;
}

static int cache_init(ebra_cache_t *c, ebra_weak_table_t *t, const ebra_cache_config_t *cfg) {
  c->table = t;
  c->domain = ebi_weak_table_domain(t);
  c->kind = cfg->key_kind;
  c->seed = ebi_os_random();
  c->ttl_ns = cfg->ttl_ns;
  c->max_entries = cfg->max_entries;
  c->on_evict = cfg->on_evict;
  c->evict_arg = cfg->evict_arg;
  pthread_mutex_init(&c->clock_lock, NULL);
  pthread_mutex_init(&c->death_lock, NULL);
  ebi_atomic_store_relaxed(&c->xholds, 1);
  if (c->max_entries && !(c->ring = calloc(c->max_entries, sizeof *c->ring)))
    return ENOMEM;
  const unsigned long b = initial_buckets(cfg);
  const struct rcu_flavor_struct *flavor =
      ebra_domain_backend(c->domain) == EBRA_RECLAIM_URCU_QSBR ? &urcu_qsbr_flavor
                                                                : &urcu_memb_flavor;
  c->ht = cds_lfht_new_flavor(b, b, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, flavor, NULL);
  return c->ht ? 0 : ENOMEM;
}

ebra_cache_t *ebra_cache_create(ebra_weak_table_t *t, const ebra_cache_config_t *cfg) {
  static const ebra_cache_config_t defaults; /* uint64 keys, unbounded, no ttl */
  if (!cfg)
    cfg = &defaults;
  int err = cache_check_config(t, cfg);
  if (err) {
    errno = err;
    return NULL;
  }
  ebra_cache_t *c = ebi_life_alloc(sizeof *c);
  if (!c)
    return NULL;
  err = cache_init(c, t, cfg);
  if (!err)
    err = ebi_life_begin(&c->life, EBI_KIND_CACHE, cfg->name);
  if (err) {
    if (c->ht)
      cds_lfht_destroy(c->ht, NULL);
    cache_free(c);
    errno = err;
    return NULL;
  }
  return c;
}

/* Remove every entry (ERASED).  death_lock held: no cleanup runs. */
static void cache_clear(ebra_cache_t *c) { cache_remove_by(c, UINT64_MAX, EBRA_CACHE_ERASED); }

int ebra_cache_destroy(ebra_cache_t *c) {
  int rc = EBI_LIFE_CHECK(c, EBI_KIND_CACHE, "ebra_cache_destroy");
  if (rc)
    return rc;
  if ((rc = ebi_life_end(&c->life, EBI_KIND_CACHE, "ebra_cache_destroy")) != 0)
    return rc; /* the struct stays as a tombstone either way */
  pthread_mutex_lock(&c->death_lock);
  cache_clear(c);
  c->dead = true; /* later cleanups skip the lfht (C3) */
  pthread_mutex_unlock(&c->death_lock);
  pthread_mutex_lock(&c->clock_lock);
  for (size_t i = 0; i < c->max_entries; i++)
    ring_release(c, i);
  pthread_mutex_unlock(&c->clock_lock);
  if (cds_lfht_destroy(c->ht, NULL) != 0)
    ebi_report(EBRA_ERR_INTERNAL, "cache '%s': cds_lfht_destroy failed", c->life.name);
  c->ht = NULL;
  c->kind = KIND_DEAD; /* every later keyed call takes its misuse path */
  cache_unhold(c); /* the owner's hold; entries keep the struct (C3) */
  return 0;
}

int ebra_cache_stats(ebra_cache_t *c, ebra_cache_stats_t *out) {
  int rc = EBI_LIFE_CHECK(c, EBI_KIND_CACHE, "ebra_cache_stats");
  if (rc)
    return rc;
  if (!out)
    return ebi_bad_call("ebra_cache_stats: NULL out");
  memset(out, 0, sizeof *out);
  for (int i = 0; i < NOWNED; i++) {
    out->hits += ebi_atomic_load_relaxed(&c->owned[i].xhits);
    out->misses += ebi_atomic_load_relaxed(&c->owned[i].xmisses);
  }
  for (int i = 0; i < NSHARED; i++) {
    out->hits += ebi_atomic_load_relaxed(&c->shared[i].xhits);
    out->misses += ebi_atomic_load_relaxed(&c->shared[i].xmisses);
  }
  out->stores = ebi_atomic_load_relaxed(&c->xstores);
  out->evictions = ebi_atomic_load_relaxed(&c->xevictions);
  out->expirations = ebi_atomic_load_relaxed(&c->xexpirations);
  out->deaths = ebi_atomic_load_relaxed(&c->xdeaths);
  out->erasures = ebi_atomic_load_relaxed(&c->xerasures);
  out->replacements = ebi_atomic_load_relaxed(&c->xreplacements);
  out->size = ebi_atomic_load_relaxed(&c->xsize);
  out->max_entries = c->max_entries;
  return 0;
}

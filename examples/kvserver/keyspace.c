/* SPDX-License-Identifier: MIT */
/* keyspace.c — keys in cds_lfht, read lock-free inside ebra read sections.
 *
 * An entry (kv_entry) is one block from values.c: the lfht node, the
 * expiry time, and the key and value bytes.  It is immutable once
 * published: SET, INCR and EXPIRE build a new entry and swap it in; the
 * old one is retired to the domain and reclaimed after a grace period.
 *
 * Invariants
 *   K1  an entry's fields are written only before it is published
 *       (cds_lfht_add_replace / add_unique / replace); after that, readers
 *       and writers only read them.
 *   K2  exactly one thread retires an entry: the one whose cds_lfht_del
 *       returned 0, whose add_replace returned it as the old node, or
 *       whose cds_lfht_replace(old) returned 0 (liburcu makes removal
 *       unique with the node's removal flag).
 *   K3  an entry is reclaimed only after a grace period of the domain that
 *       began after its removal (value_retire), and every lfht call runs
 *       inside a read section of that domain, whose RCU flavour the table
 *       uses: no reader or lfht walk ever reaches reclaimed memory.
 *   K4  nkeys counts entries in the table (+1 on an insert that replaced
 *       nothing, -1 on each retire by del); nexpiring counts those with an
 *       expiry.  Both are hints for DBSIZE and the sweep (relaxed).
 *   K5  INCR and EXPIRE are atomic read-modify-writes: the new entry
 *       replaces exactly the entry read (cds_lfht_replace on its
 *       iterator) or the loop retries; a concurrent SET/DEL makes it retry.
 *
 * Ordering: publication and lookup go through liburcu (full barriers at
 * the commit, rcu_dereference on the walk).  Under ThreadSanitizer, which
 * does not see them, the publisher releases the entry before publishing
 * and every reader acquires it where the walk first reaches it (match) and
 * notes it with ebra_deref, so ebra releases it at the end of the section
 * and its reclaimer acquires it after the grace period.
 */
#define _GNU_SOURCE
#include "keyspace.h"

#include "values.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <urcu/urcu-memb.h>
#include <urcu/urcu-qsbr.h>
#include <urcu/rculfhash.h>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

/* liburcu's flavor.h declares only the flavour included first. */
extern const struct rcu_flavor_struct urcu_qsbr_flavor;

typedef struct kv_entry {
  struct cds_lfht_node node;
  int64_t expire_ms; /* CLOCK_REALTIME ms; 0 = none */
  uint32_t klen, vlen;
  char data[];       /* key, then value */
} kv_entry;

typedef struct ks_key {
  const char *k;
  size_t n;
} ks_key;

static struct cds_lfht *ht;
static ebra_domain_t *dom;
static ks_event_fn *event_hook;
static uint64_t hash_seed;
static atomic_int_fast64_t nkeys, nexpiring; /* K4 */
static atomic_uint_fast64_t nexpired;

int64_t ks_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t hash_key(const char *k, size_t n) {
  uint64_t h = hash_seed ^ (n * 0x9E3779B97F4A7C15ull);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, k, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    k += 8, n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, k, n);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 29;
  return h * 0x9E3779B97F4A7C15ull;
}

/* A reader reached e through the table (see Ordering). */
static inline void reached(kv_entry *e) {
#if defined(__SANITIZE_THREAD__) && !defined(KV_BROKEN)
  __tsan_acquire(e);
  void *_Atomic slot = e;
  (void)ebra_deref(dom, (void *const *)&slot);
#else
  (void)e;
#endif
}

static inline void publishing(kv_entry *e) {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(e);
#else
  (void)e;
#endif
}

static int match(struct cds_lfht_node *n, const void *key) {
  kv_entry *e = caa_container_of(n, kv_entry, node);
  const ks_key *q = key;
  reached(e);
  return e->klen == q->n && memcmp(e->data, q->k, q->n) == 0;
}

static bool expired(const kv_entry *e, int64_t now) {
  return e->expire_ms != 0 && e->expire_ms <= now;
}

/* K2: the caller removed e; K3: reclaim after a grace period. */
static void retire_removed(kv_entry *e) {
  if (e->expire_ms)
    atomic_fetch_sub_explicit(&nexpiring, 1, memory_order_relaxed);
  int rc = value_retire(dom, e);
  if (rc != 0)
    fprintf(stderr, "kvserver: retire failed: %s\n", ebra_strerror(rc));
}

/* A new entry, written before publication (K1). */
static kv_entry *entry_new(const char *k, size_t klen, const char *v, size_t vlen,
                           int64_t expire_ms) {
  kv_entry *e = value_alloc(sizeof *e + klen + vlen);
  if (!e)
    return NULL;
  cds_lfht_node_init(&e->node);
  e->expire_ms = expire_ms;
  e->klen = (uint32_t)klen;
  e->vlen = (uint32_t)vlen;
  memcpy(e->data, k, klen);
  memcpy(e->data + klen, v, vlen);
  publishing(e);
  return e;
}

/* value_alloc with the memory limit: if retired memory awaits a grace
 * period, wait for it once (outside any section) and try again. */
static kv_entry *entry_new_waiting(const char *k, size_t klen, const char *v, size_t vlen,
                                   int64_t expire_ms) {
  kv_entry *e = entry_new(k, klen, v, vlen, expire_ms);
  if (e || errno != ENOMEM)
    return e;
  ebra_domain_stats_t ds;
  if (ebra_domain_stats(dom, &ds) == 0 && ds.pending > 0) {
    ebra_domain_barrier(dom);
    e = entry_new(k, klen, v, vlen, expire_ms);
  }
  if (!e)
    errno = ENOMEM;
  return e;
}

static void emit_event(ks_event_t ev, const char *k, size_t klen) {
  if (event_hook)
    event_hook(ev, k, klen);
}

int ks_init(ebra_domain_t *d, ks_event_fn *on_event) {
  const struct rcu_flavor_struct *flavor;
  switch (ebra_domain_backend(d)) {
  case EBRA_RECLAIM_URCU_MEMB: flavor = &urcu_memb_flavor; break;
  case EBRA_RECLAIM_URCU_QSBR: flavor = &urcu_qsbr_flavor; break;
  default: return -ENOTSUP;
  }
  if (getrandom(&hash_seed, sizeof hash_seed, 0) != sizeof hash_seed)
    hash_seed = (uint64_t)ks_now_ms();
  dom = d;
  event_hook = on_event;
  ht = cds_lfht_new_flavor(1u << 12, 1u << 12, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
                           flavor, NULL);
  return ht ? 0 : -ENOMEM;
}

void ks_fini(void) {
  ks_flush();
  ebra_domain_barrier(dom);
  if (cds_lfht_destroy(ht, NULL) != 0)
    fprintf(stderr, "kvserver: cds_lfht_destroy failed\n");
  ht = NULL;
}

/* Find the live entry of key; the iterator is left on it.  In a section. */
static kv_entry *find(const ks_key *q, uint64_t hash, struct cds_lfht_iter *it) {
  cds_lfht_lookup(ht, hash, match, q, it);
  struct cds_lfht_node *n = cds_lfht_iter_get_node(it);
  return n ? caa_container_of(n, kv_entry, node) : NULL;
}

/* e was found expired: remove it if nobody else did.  In a section. */
static bool remove_expired(kv_entry *e) {
  if (cds_lfht_del(ht, &e->node) != 0)
    return false;
  atomic_fetch_sub_explicit(&nkeys, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&nexpired, 1, memory_order_relaxed);
  retire_removed(e);
  return true;
}

int ks_get(const char *k, size_t klen, ks_emit_fn *emit, void *arg) {
  ks_key q = {k, klen};
  struct cds_lfht_iter it;
  bool gone = false;
  int found = 0;
  ebra_read_lock(dom);
  kv_entry *e = find(&q, hash_key(k, klen), &it);
  if (e && e->expire_ms && expired(e, ks_now_ms())) /* the clock only for a TTL */
    gone = remove_expired(e);
  else if (e) {
    emit(arg, e->data + e->klen, e->vlen);
    found = 1;
  }
  ebra_read_unlock(dom);
  if (gone)
    emit_event(KS_EV_EXPIRED, k, klen);
  return found;
}

int ks_exists(const char *k, size_t klen) {
  ks_key q = {k, klen};
  struct cds_lfht_iter it;
  bool gone = false;
  ebra_read_lock(dom);
  kv_entry *e = find(&q, hash_key(k, klen), &it);
  int found = e && !expired(e, ks_now_ms());
  if (e && !found)
    gone = remove_expired(e);
  ebra_read_unlock(dom);
  if (gone)
    emit_event(KS_EV_EXPIRED, k, klen);
  return found;
}

int ks_set(const char *k, size_t klen, const char *v, size_t vlen, int64_t expire_ms) {
  kv_entry *e = entry_new_waiting(k, klen, v, vlen, expire_ms);
  if (!e)
    return -ENOMEM;
  ks_key q = {k, klen};
  if (expire_ms)
    atomic_fetch_add_explicit(&nexpiring, 1, memory_order_relaxed);
  ebra_read_lock(dom);
  struct cds_lfht_node *old = cds_lfht_add_replace(ht, hash_key(k, klen), match, &q, &e->node);
  if (old)
    retire_removed(caa_container_of(old, kv_entry, node));
  else
    atomic_fetch_add_explicit(&nkeys, 1, memory_order_relaxed);
  ebra_read_unlock(dom);
  emit_event(KS_EV_SET, k, klen);
  return 0;
}

int ks_mset(const ks_pair_t *kv, size_t n) {
  kv_entry **fresh = calloc(n, sizeof *fresh);
  if (!fresh)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) { /* all or nothing: allocate first */
    fresh[i] = entry_new_waiting(kv[i].k, kv[i].klen, kv[i].v, kv[i].vlen, 0);
    if (!fresh[i]) {
      while (i--)
        value_free(fresh[i]); /* never published */
      free(fresh);
      return -ENOMEM;
    }
  }
  for (size_t i = 0; i < n; i++) {
    ks_key q = {kv[i].k, kv[i].klen};
    ebra_read_lock(dom);
    struct cds_lfht_node *old =
        cds_lfht_add_replace(ht, hash_key(q.k, q.n), match, &q, &fresh[i]->node);
    if (old)
      retire_removed(caa_container_of(old, kv_entry, node));
    else
      atomic_fetch_add_explicit(&nkeys, 1, memory_order_relaxed);
    ebra_read_unlock(dom);
    emit_event(KS_EV_SET, q.k, q.n);
  }
  free(fresh);
  return 0;
}

int ks_del(const char *k, size_t klen) {
  ks_key q = {k, klen};
  struct cds_lfht_iter it;
  int removed = 0;
  ebra_read_lock(dom);
  kv_entry *e = find(&q, hash_key(k, klen), &it);
  if (e && cds_lfht_del(ht, &e->node) == 0) {
    removed = !expired(e, ks_now_ms());
    atomic_fetch_sub_explicit(&nkeys, 1, memory_order_relaxed);
    retire_removed(e);
  }
  ebra_read_unlock(dom);
  if (removed)
    emit_event(KS_EV_DEL, k, klen);
  return removed;
}

/* Redis's integer syntax: optional '-', digits, no leading zeros or
 * spaces, fits int64. */
static bool parse_i64(const char *s, size_t n, int64_t *out) {
  if (n == 0 || n > 20)
    return false;
  char buf[24];
  memcpy(buf, s, n);
  buf[n] = '\0';
  char *end;
  errno = 0;
  long long v = strtoll(buf, &end, 10);
  if (errno || end != buf + n || buf[0] == ' ' || buf[0] == '+' ||
      (buf[0] == '0' && n > 1) || (buf[0] == '-' && (n == 1 || buf[1] == '0')))
    return false;
  *out = v;
  return true;
}

/* One attempt of a read-modify-write (K5), in a section: replace exactly
 * `e` (or insert if it is NULL) with `fresh`.  true if it took effect. */
static bool swap_in(kv_entry *e, struct cds_lfht_iter *it, uint64_t hash, const ks_key *q,
                    kv_entry *fresh) {
  if (!e) {
    struct cds_lfht_node *n = cds_lfht_add_unique(ht, hash, match, q, &fresh->node);
    if (n != &fresh->node)
      return false;
    atomic_fetch_add_explicit(&nkeys, 1, memory_order_relaxed);
    return true;
  }
  if (cds_lfht_replace(ht, it, hash, match, q, &fresh->node) != 0)
    return false;
  retire_removed(e);
  return true;
}

int ks_incr(const char *k, size_t klen, int64_t by, int64_t *out) {
  ks_key q = {k, klen};
  const uint64_t hash = hash_key(k, klen);
  for (;;) {
    struct cds_lfht_iter it;
    char num[24];
    int64_t cur = 0, expire = 0;
    ebra_read_lock(dom);
    kv_entry *e = find(&q, hash, &it);
    if (e && !expired(e, ks_now_ms())) {
      if (!parse_i64(e->data + e->klen, e->vlen, &cur)) {
        ebra_read_unlock(dom);
        return -EINVAL;
      }
      expire = e->expire_ms;
    }
    if ((by > 0 && cur > INT64_MAX - by) || (by < 0 && cur < INT64_MIN - by)) {
      ebra_read_unlock(dom);
      return -ERANGE;
    }
    const int64_t next = cur + by;
    const size_t nlen = (size_t)snprintf(num, sizeof num, "%lld", (long long)next);
    kv_entry *fresh = entry_new(k, klen, num, nlen, expire);
    if (!fresh) { /* memory limit: wait outside the section, retry once */
      ebra_read_unlock(dom);
      fresh = entry_new_waiting(k, klen, num, nlen, expire);
      if (!fresh)
        return -ENOMEM;
      value_free(fresh); /* never published */
      continue;
    }
    if (expire)
      atomic_fetch_add_explicit(&nexpiring, 1, memory_order_relaxed);
    const bool done = swap_in(e, &it, hash, &q, fresh);
    ebra_read_unlock(dom);
    if (done) {
      *out = next;
      emit_event(KS_EV_SET, k, klen);
      return 0;
    }
    if (expire)
      atomic_fetch_sub_explicit(&nexpiring, 1, memory_order_relaxed);
    value_free(fresh); /* never published */
  }
}

int ks_expire_at(const char *k, size_t klen, int64_t expire_ms) {
  if (expire_ms <= ks_now_ms())
    return ks_del(k, klen);
  ks_key q = {k, klen};
  const uint64_t hash = hash_key(k, klen);
  for (;;) {
    struct cds_lfht_iter it;
    ebra_read_lock(dom);
    kv_entry *e = find(&q, hash, &it);
    if (!e || expired(e, ks_now_ms())) {
      ebra_read_unlock(dom);
      return 0;
    }
    kv_entry *fresh = entry_new(k, klen, e->data + e->klen, e->vlen, expire_ms);
    if (!fresh) {
      ebra_read_unlock(dom);
      ebra_domain_barrier(dom); /* memory limit: let retired entries return */
      ebra_read_lock(dom);
      e = find(&q, hash, &it);
      fresh = e ? entry_new(k, klen, e->data + e->klen, e->vlen, expire_ms) : NULL;
      if (!fresh) {
        ebra_read_unlock(dom);
        return e ? -ENOMEM : 0;
      }
    }
    atomic_fetch_add_explicit(&nexpiring, 1, memory_order_relaxed);
    const bool done = swap_in(e, &it, hash, &q, fresh);
    ebra_read_unlock(dom);
    if (done)
      return 1;
    atomic_fetch_sub_explicit(&nexpiring, 1, memory_order_relaxed);
    value_free(fresh);
  }
}

int64_t ks_ttl_ms(const char *k, size_t klen) {
  ks_key q = {k, klen};
  struct cds_lfht_iter it;
  const int64_t now = ks_now_ms();
  ebra_read_lock(dom);
  kv_entry *e = find(&q, hash_key(k, klen), &it);
  int64_t ttl = !e || expired(e, now) ? -2 : e->expire_ms == 0 ? -1 : e->expire_ms - now;
  ebra_read_unlock(dom);
  return ttl;
}

/* Remove every entry (all) or every expired one; how many.  One section
 * for the walk: lfht iteration is safe against concurrent updates. */
static uint64_t remove_where(bool all) {
  uint64_t removed = 0;
  struct cds_lfht_iter it;
  kv_entry *e;
  const int64_t now = ks_now_ms();
  ebra_read_lock(dom);
  cds_lfht_for_each_entry(ht, &it, e, node) {
    reached(e);
    if (!all && !expired(e, now))
      continue;
    if (cds_lfht_del(ht, &e->node) == 0) {
      atomic_fetch_sub_explicit(&nkeys, 1, memory_order_relaxed);
      if (!all) { /* e stays readable until the section ends (K3) */
        atomic_fetch_add_explicit(&nexpired, 1, memory_order_relaxed);
        emit_event(KS_EV_EXPIRED, e->data, e->klen);
      }
      retire_removed(e);
      removed++;
    }
  }
  ebra_read_unlock(dom);
  return removed;
}

uint64_t ks_flush(void) { return remove_where(true); }

uint64_t ks_expire_sweep(void) {
  if (atomic_load_explicit(&nexpiring, memory_order_relaxed) <= 0)
    return 0;
  return remove_where(false);
}

void ks_stats(ks_stats_t *out) {
  int64_t k = atomic_load_explicit(&nkeys, memory_order_relaxed);
  int64_t x = atomic_load_explicit(&nexpiring, memory_order_relaxed);
  out->keys = k > 0 ? (uint64_t)k : 0;
  out->expiring = x > 0 ? (uint64_t)x : 0;
  out->expired = atomic_load_explicit(&nexpired, memory_order_relaxed);
}

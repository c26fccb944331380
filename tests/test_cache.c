/* SPDX-License-Identifier: MIT */
/* test_cache.c — the weak cache, every option and every on_evict reason.
 *
 * Claims checked (each case runs for urcu-memb and urcu-qsbr):
 *  - store/lookup/erase with uint64 keys and with byte-string keys; a
 *    lookup inside a section returns the object; other keys miss; stats
 *    count hits, misses, stores and size.
 *  - ERASED: erase calls on_evict once with the key and the live object;
 *    the key then misses; a second erase is -ENOENT.
 *  - DIED: killing the object makes lookups miss at once; after a barrier
 *    the entry is gone (size 0, deaths 1) and on_evict got the object.
 *  - REPLACED: a store of the same key replaces the entry: on_evict with
 *    the old object, lookups return the new one, size stays 1.
 *  - EVICTED: with max_entries 4 the CLOCK hand skips (and clears)
 *    referenced entries and evicts the first unreferenced one; size never
 *    exceeds 4.
 *  - EXPIRED: with a ttl, a lookup after expiry misses and drops the
 *    entry; maintain drops every expired entry and gives their number.
 *  - storing a dead handle is -ESTALE and leaves nothing behind; wrong
 *    key kind / empty key / NULL cache are -EINVAL with a report.
 *  - destroy calls on_evict ERASED for every entry left; objects that die
 *    afterwards run their cleanups against the destroyed cache safely
 *    (ASan/LSan builds check the memory), and the domain can be destroyed.
 *  - the hash table grows past its initial size (20000 entries in 1024
 *    buckets: lfht's resize worker runs) while stores and lookups go on;
 *    every key still finds its object, deaths remove exactly their half.
 *  - hit and miss counts stay exact over 150 threads that run one after
 *    another and 80 that look up at once (more than the 64 owned stripes).
 *  - a ck-epoch domain is refused with ENOTSUP and a report.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "check.h"
#include "clock.h"

static const ebra_reclaim_backend_t backends[] = {EBRA_RECLAIM_URCU_MEMB, EBRA_RECLAIM_URCU_QSBR};
#define NBACKENDS (sizeof backends / sizeof backends[0])

typedef struct obj_s {
  uint64_t key;
  uint64_t canary;
} obj_t;

#define CANARY 0x0b1ec7ca7a11ull

static ebra_pool_t *pool;
static ebra_domain_t *dom;
static ebra_weak_table_t *tab;

/* on_evict recorder: may run on the reclaimer thread. */
static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static int ev_count[8];
static uint64_t ev_last_key;
static char ev_last_bytes[64];
static void *ev_last_obj;
static ebra_cache_reason_t ev_last_why;

static void on_evict(void *arg, const void *key, size_t len, void *obj, ebra_cache_reason_t why) {
  CHECK(arg == (void *)&ev_lock);
  pthread_mutex_lock(&ev_lock);
  ev_count[why]++;
  if (len == sizeof(uint64_t))
    memcpy(&ev_last_key, key, sizeof ev_last_key);
  if (len < sizeof ev_last_bytes) {
    memcpy(ev_last_bytes, key, len);
    ev_last_bytes[len] = '\0';
  }
  ev_last_obj = obj;
  ev_last_why = why;
  if (obj && why != EBRA_CACHE_DIED)
    CHECK_EQ(((obj_t *)obj)->canary, CANARY);
  pthread_mutex_unlock(&ev_lock);
}

static int evictions_of(ebra_cache_reason_t why) {
  pthread_mutex_lock(&ev_lock);
  const int n = ev_count[why];
  pthread_mutex_unlock(&ev_lock);
  return n;
}

static void setup(ebra_reclaim_backend_t be) {
  pool = test_pool("cache", sizeof(obj_t));
  ebra_domain_config_t c = {.name = "cache", .backend = be};
  dom = ebra_domain_create(&c);
  CHECK(dom != NULL);
  tab = ebra_weak_table_create(dom, NULL);
  CHECK(tab != NULL);
  memset(ev_count, 0, sizeof ev_count);
}

static void teardown(void) {
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_weak_table_destroy(tab), 0);
  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_EQ(test_stats(pool).objects_live, 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

static ebra_weak_t new_obj(uint64_t key, obj_t **out) {
  obj_t *o = ebra_pool_alloc(pool);
  CHECK(o != NULL);
  o->key = key;
  o->canary = CANARY;
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(tab, o, &h), 0);
  CHECK(h != EBRA_WEAK_NONE);
  if (out)
    *out = o;
  return h;
}

static ebra_cache_t *new_cache(ebra_cache_key_kind_t kind, size_t max, uint64_t ttl) {
  ebra_cache_config_t cfg = {.name = "test", .key_kind = kind, .max_entries = max,
                             .ttl_ns = ttl, .on_evict = on_evict, .evict_arg = &ev_lock};
  ebra_cache_t *c = ebra_cache_create(tab, &cfg);
  CHECK(c != NULL);
  return c;
}

/* A lookup in its own section: the object of a hit (0 and *out set), or
 * NULL for a miss, which must be -ENOENT with *out NULL (out starts
 * non-NULL, so the NULL is the call's). */
static void *lookup(ebra_cache_t *c, uint64_t key) {
  CHECK_EQ(ebra_read_lock(dom), 0);
  void *p = &p;
  const int rc = ebra_cache_lookup_u64(c, key, &p);
  obj_t *o = p;
  if (rc == 0) {
    CHECK(o != NULL);
    CHECK_EQ(o->canary, CANARY);
    CHECK_EQ(o->key, key);
  } else {
    CHECK_EQ(rc, -ENOENT);
    CHECK(o == NULL);
  }
  ebra_read_unlock(dom);
  return o;
}

/* A byte-key lookup must hit with obj / miss (-ENOENT, *out NULL). */
#define CHECK_LOOKUP_HIT(c, key, len, obj)                                \
  do {                                                                    \
    void *lk_ = NULL;                                                     \
    CHECK_EQ(ebra_cache_lookup((c), (key), (len), &lk_), 0);              \
    CHECK(lk_ == (obj));                                                  \
  } while (0)
#define CHECK_LOOKUP_MISS(c, key, len)                                    \
  do {                                                                    \
    void *lk_ = &lk_;                                                     \
    CHECK_EQ(ebra_cache_lookup((c), (key), (len), &lk_), -ENOENT);        \
    CHECK(lk_ == NULL);                                                   \
  } while (0)

static ebra_cache_stats_t stats(ebra_cache_t *c) {
  ebra_cache_stats_t s;
  CHECK_EQ(ebra_cache_stats(c, &s), 0);
  return s;
}

/* ---- cases ---------------------------------------------------------------------- */

static void case_basic(ebra_reclaim_backend_t be) {
  setup(be);
  ebra_cache_t *c = new_cache(EBRA_CACHE_KEY_U64, 0, 0);
  obj_t *a, *b;
  ebra_weak_t ha = new_obj(1, &a), hb = new_obj(2, &b);
  CHECK_EQ(ebra_cache_store_u64(c, 1, ha), 0);
  CHECK_EQ(ebra_cache_store_u64(c, 2, hb), 0);
  CHECK(lookup(c, 1) == a);
  CHECK(lookup(c, 2) == b);
  CHECK(lookup(c, 3) == NULL);
  ebra_cache_stats_t s = stats(c);
  CHECK_EQ(s.hits, 2);
  CHECK_EQ(s.misses, 1);
  CHECK_EQ(s.stores, 2);
  CHECK_EQ(s.size, 2);
  CHECK_EQ(ebra_cache_destroy(c), 0);
  CHECK_EQ(evictions_of(EBRA_CACHE_ERASED), 2); /* destroy */
  CHECK_EQ(ebra_weak_kill(tab, ha), 0);
  CHECK_EQ(ebra_weak_kill(tab, hb), 0);
  teardown();
}

static void case_bytes(ebra_reclaim_backend_t be) {
  setup(be);
  ebra_cache_t *c = new_cache(EBRA_CACHE_KEY_BYTES, 0, 0);
  obj_t *a, *b;
  ebra_weak_t ha = new_obj(1, &a), hb = new_obj(2, &b);
  CHECK_EQ(ebra_cache_store(c, "alpha", 5, ha), 0);
  CHECK_EQ(ebra_cache_store(c, "alphabet soup, long key", 23, hb), 0);
  CHECK_EQ(ebra_read_lock(dom), 0);
  CHECK_LOOKUP_HIT(c, "alpha", 5, a);
  CHECK_LOOKUP_HIT(c, "alphabet soup, long key", 23, b);
  CHECK_LOOKUP_MISS(c, "alph", 4);
  CHECK_LOOKUP_MISS(c, "alphabet soup, long kez", 23);
  /* misuse is not a miss: a u64 lookup on a byte cache, a NULL out */
  void *lk = NULL;
  CHECK_EQ(ebra_cache_lookup_u64(c, 1, &lk), -EINVAL);
  CHECK(lk == NULL);
  CHECK_EQ(ebra_cache_lookup(c, "alpha", 5, NULL), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 2);
  ebra_read_unlock(dom);
  CHECK_EQ(ebra_cache_erase(c, "alpha", 5), 0);
  CHECK_EQ(evictions_of(EBRA_CACHE_ERASED), 1);
  CHECK(strcmp(ev_last_bytes, "alpha") == 0);
  CHECK(ev_last_obj == a);
  CHECK_EQ(ebra_cache_erase(c, "alpha", 5), -ENOENT);
  /* bad calls */
  CHECK_EQ(ebra_cache_store_u64(c, 1, ha), -EINVAL);
  CHECK_EQ(ebra_cache_store(c, "", 0, ha), -EINVAL);
  CHECK_EQ(ebra_cache_store(NULL, "x", 1, ha), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 3);
  CHECK_EQ(ebra_cache_destroy(c), 0);
  CHECK_EQ(ebra_weak_kill(tab, ha), 0);
  CHECK_EQ(ebra_weak_kill(tab, hb), 0);
  teardown();
}

static void case_erased(ebra_reclaim_backend_t be) {
  setup(be);
  ebra_cache_t *c = new_cache(EBRA_CACHE_KEY_U64, 0, 0);
  obj_t *a;
  ebra_weak_t ha = new_obj(7, &a);
  CHECK_EQ(ebra_cache_store_u64(c, 7, ha), 0);
  CHECK_EQ(ebra_cache_erase_u64(c, 7), 0);
  CHECK_EQ(evictions_of(EBRA_CACHE_ERASED), 1);
  CHECK_EQ(ev_last_key, 7);
  CHECK(ev_last_obj == a);
  CHECK(lookup(c, 7) == NULL);
  CHECK_EQ(ebra_cache_erase_u64(c, 7), -ENOENT);
  CHECK_EQ(stats(c).erasures, 1);
  CHECK_EQ(stats(c).size, 0);
  /* the object's death later does not fire on_evict again */
  CHECK_EQ(ebra_weak_kill(tab, ha), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(evictions_of(EBRA_CACHE_DIED), 0);
  CHECK_EQ(ebra_cache_destroy(c), 0);
  CHECK_EQ(evictions_of(EBRA_CACHE_ERASED), 1);
  teardown();
}

static void case_died(ebra_reclaim_backend_t be) {
  setup(be);
  ebra_cache_t *c = new_cache(EBRA_CACHE_KEY_U64, 0, 0);
  obj_t *a;
  ebra_weak_t ha = new_obj(9, &a);
  CHECK_EQ(ebra_cache_store_u64(c, 9, ha), 0);
  CHECK_EQ(ebra_weak_kill(tab, ha), 0);
  CHECK(lookup(c, 9) == NULL); /* at once, before the cleanup ran */
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(evictions_of(EBRA_CACHE_DIED), 1);
  CHECK_EQ(ev_last_key, 9);
  CHECK(ev_last_obj == a);
  ebra_cache_stats_t s = stats(c);
  CHECK_EQ(s.deaths, 1);
  CHECK_EQ(s.size, 0);
  CHECK_EQ(ebra_cache_erase_u64(c, 9), -ENOENT);
  /* a dead handle cannot be stored */
  CHECK_EQ(ebra_cache_store_u64(c, 9, ha), -ESTALE);
  CHECK_EQ(stats(c).size, 0);
  CHECK_EQ(ebra_cache_destroy(c), 0);
  CHECK_EQ(evictions_of(EBRA_CACHE_ERASED), 0);
  teardown();
}

static void case_replaced(ebra_reclaim_backend_t be) {
  setup(be);
  ebra_cache_t *c = new_cache(EBRA_CACHE_KEY_U64, 0, 0);
  obj_t *a, *b;
  ebra_weak_t ha = new_obj(5, &a), hb = new_obj(5, &b);
  CHECK_EQ(ebra_cache_store_u64(c, 5, ha), 0);
  CHECK_EQ(ebra_cache_store_u64(c, 5, hb), 0);
  CHECK_EQ(evictions_of(EBRA_CACHE_REPLACED), 1);
  CHECK(ev_last_obj == a);
  CHECK(lookup(c, 5) == b);
  CHECK_EQ(stats(c).size, 1);
  CHECK_EQ(stats(c).replacements, 1);
  /* the replaced object's death touches nothing */
  CHECK_EQ(ebra_weak_kill(tab, ha), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(evictions_of(EBRA_CACHE_DIED), 0);
  CHECK(lookup(c, 5) == b);
  CHECK_EQ(ebra_weak_kill(tab, hb), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(evictions_of(EBRA_CACHE_DIED), 1);
  CHECK_EQ(ebra_cache_destroy(c), 0);
  teardown();
}

static void case_evicted(ebra_reclaim_backend_t be) {
  setup(be);
  ebra_cache_t *c = new_cache(EBRA_CACHE_KEY_U64, 4, 0);
  ebra_weak_t h[8];
  for (int i = 0; i < 4; i++) {
    h[i] = new_obj((uint64_t)i, NULL);
    CHECK_EQ(ebra_cache_store_u64(c, (uint64_t)i, h[i]), 0);
  }
  CHECK_EQ(stats(c).size, 4);
  CHECK(lookup(c, 0) && lookup(c, 1)); /* referenced */
  h[4] = new_obj(4, NULL);
  CHECK_EQ(ebra_cache_store_u64(c, 4, h[4]), 0); /* hand: 0, 1 cleared; 2 goes */
  CHECK_EQ(evictions_of(EBRA_CACHE_EVICTED), 1);
  CHECK_EQ(ev_last_key, 2);
  CHECK(lookup(c, 2) == NULL);
  CHECK_EQ(stats(c).size, 4);
  h[5] = new_obj(5, NULL);
  CHECK_EQ(ebra_cache_store_u64(c, 5, h[5]), 0); /* hand at 3: unreferenced */
  CHECK_EQ(ev_last_key, 3);
  /* an erased entry's slot is reused without evicting */
  CHECK_EQ(ebra_cache_erase_u64(c, 0), 0);
  for (int i = 6; i < 8; i++) {
    h[i] = new_obj((uint64_t)i, NULL);
    CHECK_EQ(ebra_cache_store_u64(c, (uint64_t)i, h[i]), 0);
    CHECK(stats(c).size <= 4);
  }
  CHECK_EQ(evictions_of(EBRA_CACHE_EVICTED), 3);
  CHECK(lookup(c, 6) && lookup(c, 7));
  ebra_cache_stats_t s = stats(c);
  CHECK_EQ(s.evictions, 3);
  CHECK_EQ(s.size, 4);
  CHECK_EQ(s.max_entries, 4);
  CHECK_EQ(ebra_cache_destroy(c), 0);
  for (int i = 0; i < 8; i++)
    CHECK_EQ(ebra_weak_kill(tab, h[i]), 0);
  teardown();
}

static void case_expired(ebra_reclaim_backend_t be) {
  setup(be);
  ebra_cache_t *c = new_cache(EBRA_CACHE_KEY_U64, 0, 50 * 1000000ull);
  ebra_weak_t h[5];
  for (int i = 0; i < 5; i++) {
    h[i] = new_obj((uint64_t)i, NULL);
    CHECK_EQ(ebra_cache_store_u64(c, (uint64_t)i, h[i]), 0);
  }
  CHECK(lookup(c, 0) != NULL);
  size_t removed = 99;
  CHECK_EQ(ebra_cache_maintain(c, &removed), 0);
  CHECK_EQ(removed, 0);
  sleep_ms(80);
  CHECK(lookup(c, 0) == NULL); /* lazily dropped by the lookup */
  CHECK_EQ(evictions_of(EBRA_CACHE_EXPIRED), 1);
  CHECK_EQ(ev_last_key, 0);
  removed = 99;
  CHECK_EQ(ebra_cache_maintain(c, &removed), 0);
  CHECK_EQ(removed, 4);
  CHECK_EQ(evictions_of(EBRA_CACHE_EXPIRED), 5);
  ebra_cache_stats_t s = stats(c);
  CHECK_EQ(s.expirations, 5);
  CHECK_EQ(s.size, 0);
  /* a fresh store lives again for the ttl */
  CHECK_EQ(ebra_cache_store_u64(c, 1, h[1]), 0);
  CHECK(lookup(c, 1) != NULL);
  CHECK_EQ(ebra_cache_destroy(c), 0);
  for (int i = 0; i < 5; i++)
    CHECK_EQ(ebra_weak_kill(tab, h[i]), 0);
  teardown();
}

static void case_destroy_then_death(ebra_reclaim_backend_t be) {
  setup(be);
  ebra_cache_t *c = new_cache(EBRA_CACHE_KEY_U64, 16, 0);
  ebra_weak_t h[10];
  for (int i = 0; i < 10; i++) {
    h[i] = new_obj((uint64_t)i, NULL);
    CHECK_EQ(ebra_cache_store_u64(c, (uint64_t)i, h[i]), 0);
  }
  CHECK_EQ(ebra_cache_destroy(c), 0);
  CHECK_EQ(evictions_of(EBRA_CACHE_ERASED), 10);
  for (int i = 0; i < 10; i++)
    CHECK_EQ(ebra_weak_kill(tab, h[i]), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(evictions_of(EBRA_CACHE_DIED), 0); /* after destroy: never */
  teardown();
}

/* The lfht grows by itself (its resize worker, with the domain's flavour)
 * while entries are stored and looked up; destroy then empties it. */
static void case_grow(ebra_reclaim_backend_t be) {
  setup(be);
  enum { N = 20000 };
  ebra_cache_t *c = new_cache(EBRA_CACHE_KEY_U64, 0, 0);
  static ebra_weak_t h[N];
  static obj_t *o[N];
  for (int i = 0; i < N; i++) {
    h[i] = new_obj((uint64_t)i * 7919, &o[i]);
    CHECK_EQ(ebra_cache_store_u64(c, (uint64_t)i * 7919, h[i]), 0);
    if (i % 1000 == 999)
      for (int j = 0; j <= i; j += 97)
        CHECK(lookup(c, (uint64_t)j * 7919) == o[j]);
  }
  for (int i = 0; i < N; i++)
    CHECK(lookup(c, (uint64_t)i * 7919) == o[i]);
  CHECK_EQ(stats(c).size, N);
  for (int i = 0; i < N; i += 2)
    CHECK_EQ(ebra_weak_kill(tab, h[i]), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(stats(c).size, N / 2);
  CHECK_EQ(evictions_of(EBRA_CACHE_DIED), N / 2);
  for (int i = 0; i < N; i++)
    CHECK(lookup(c, (uint64_t)i * 7919) == (i % 2 ? o[i] : NULL));
  CHECK_EQ(ebra_cache_destroy(c), 0);
  CHECK_EQ(evictions_of(EBRA_CACHE_ERASED), N / 2);
  for (int i = 1; i < N; i += 2)
    CHECK_EQ(ebra_weak_kill(tab, h[i]), 0);
  teardown();
}

/* Hit and miss counts stay exact while threads come and go (each thread
 * counts in the stripe of its registry number, reused after it exits) and
 * while more threads than owned stripes look up at once (the rest share
 * stripes with an atomic add). */
enum { COUNT_SERIAL = 150, COUNT_TOGETHER = 80 };
static ebra_cache_t *count_cache;
static pthread_barrier_t count_barrier;

typedef struct count_arg_s {
  int hits, misses;
  bool together; /* wait for all, look up, wait for all */
} count_arg_t;

static void *count_lookups(void *arg) {
  const count_arg_t *a = arg;
  if (a->together)
    pthread_barrier_wait(&count_barrier);
  for (int i = 0; i < a->hits; i++)
    CHECK(lookup(count_cache, 1) != NULL);
  for (int i = 0; i < a->misses; i++)
    CHECK(lookup(count_cache, 2) == NULL);
  if (a->together) /* every one still alive, holding its number */
    pthread_barrier_wait(&count_barrier);
  return NULL;
}

static void case_thread_counts(ebra_reclaim_backend_t be) {
  setup(be);
  count_cache = new_cache(EBRA_CACHE_KEY_U64, 0, 0);
  const ebra_weak_t h = new_obj(1, NULL);
  CHECK_EQ(ebra_cache_store_u64(count_cache, 1, h), 0);
  pthread_t t[COUNT_TOGETHER];
  const count_arg_t serial = {7, 3, false}, together = {1000, 500, true};
  for (int i = 0; i < COUNT_SERIAL; i++) { /* one after another */
    CHECK_EQ(pthread_create(&t[0], NULL, count_lookups, (void *)&serial), 0);
    CHECK_EQ(pthread_join(t[0], NULL), 0);
  }
  CHECK_EQ(pthread_barrier_init(&count_barrier, NULL, COUNT_TOGETHER), 0);
  for (int i = 0; i < COUNT_TOGETHER; i++)
    CHECK_EQ(pthread_create(&t[i], NULL, count_lookups, (void *)&together), 0);
  for (int i = 0; i < COUNT_TOGETHER; i++)
    CHECK_EQ(pthread_join(t[i], NULL), 0);
  pthread_barrier_destroy(&count_barrier);
  const ebra_cache_stats_t st = stats(count_cache);
  CHECK_EQ(st.hits, COUNT_SERIAL * serial.hits + COUNT_TOGETHER * together.hits);
  CHECK_EQ(st.misses, COUNT_SERIAL * serial.misses + COUNT_TOGETHER * together.misses);
  CHECK_EQ(ebra_cache_destroy(count_cache), 0);
  CHECK_EQ(ebra_weak_kill(tab, h), 0);
  teardown();
}

static void case_ck_refused(ebra_reclaim_backend_t be) {
  (void)be;
  pool = test_pool("cache", sizeof(obj_t));
  ebra_domain_config_t dc = {.name = "ck", .backend = EBRA_RECLAIM_CK_EPOCH};
  dom = ebra_domain_create(&dc);
  CHECK(dom != NULL);
  tab = ebra_weak_table_create(dom, NULL);
  ebra_cache_config_t cfg = {.key_kind = EBRA_CACHE_KEY_U64};
  errno = 0;
  CHECK(ebra_cache_create(tab, &cfg) == NULL);
  CHECK_EQ(errno, ENOTSUP);
  CHECK_REPORTS(EBRA_ERR_BAD_CONFIG, 1);
  errno = 0;
  CHECK(ebra_cache_create(NULL, &cfg) == NULL);
  CHECK_EQ(errno, EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1); /* a NULL table is a bad call */
  teardown();
}

static const check_backend_case_t cases[] = {
    {"basic", case_basic},       {"bytes", case_bytes},       {"erased", case_erased},
    {"died", case_died},         {"replaced", case_replaced}, {"evicted", case_evicted},
    {"expired", case_expired},   {"destroy_then_death", case_destroy_then_death},
    {"grow", case_grow},         {"thread_counts", case_thread_counts},
    {"ck_refused", case_ck_refused},
};
#define NCASES (sizeof cases / sizeof cases[0])

int main(int argc, char **argv) {
  return check_main_backends(cases, NCASES, backends, NBACKENDS, argc, argv);
}

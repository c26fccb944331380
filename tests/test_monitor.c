/* SPDX-License-Identifier: MIT */
/* test_monitor.c — snapshots and their three output formats.
 *
 * Two halves.  This program checks the snapshot's numbers against the
 * stats calls and a few literal output lines; run as `test_monitor --emit
 * DIR` it builds a known scene and writes the three outputs and the
 * snapshot's numbers (expected.txt) to DIR, and tests/check_monitor.py
 * checks the formats with real parsers: Python's json module, the
 * prometheus_client text parser and `promtool check metrics`, and that
 * every number of expected.txt is in each format under its key or its
 * documented family (ctest runs both: test_monitor, monitor_formats).
 *
 * Claims checked here:
 *  - after known work on two pools and a domain (one pool's name holds a
 *    double quote, a backslash and a newline; the domain's a tab and a
 *    control byte), a snapshot lists both pools and the domain, each pool's
 *    stats equal ebra_pool_stats field for field, the domain's retire
 *    counts are exact, the totals are the sums, and resident bytes > 0;
 *  - weak-cache metrics: the snapshot's cache entry equals
 *    ebra_cache_stats after known work; a destroyed cache is absent;
 *  - weak tables and subjects: the snapshot's entries equal
 *    ebra_weak_table_stats and ebra_subject_stats after known work (3
 *    handles, 1 killed and cleaned up; 2 observers, 2 notifies, 4 calls,
 *    then one unsubscribed); destroyed ones are absent;
 *  - latency histograms: each domain's grace-period buckets add up to its
 *    grace periods and its reuse buckets to its batches, the sum lies between count x the smallest and count x the
 *    largest recorded latency, and p50 <= max;
 *  - ebra_version() equals EBRA_VERSION_STRING, ebra_version_number()
 *    EBRA_VERSION, and ebra_build_info carries both;
 *  - large output comes in several pieces; a destroyed pool is absent from
 *    a later snapshot, and NULL arguments give -EINVAL and a report;
 *  - snapshots taken while another thread creates, uses and destroys pools
 *    and domains, and allocates, frees and retires, see only consistent
 *    entries whose counters never go back, and cause no report.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "check.h"

enum { SIZE = 40 };

static const char WEIRD[] = "we\"ird\\pool\nname";
static const char DOMAIN_NAME[] = "dom\tain\x01";

/* ---- output capture ----------------------------------------------------- */

typedef struct buf_s {
  char *p;
  size_t len, cap;
  unsigned calls;
} buf_t;

static void buf_append(const char *text, void *arg)
{
  buf_t *b = arg;
  const size_t n = strlen(text);
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    CHECK(b->p != NULL);
  }
  memcpy(b->p + b->len, text, n + 1);
  b->len += n;
  b->calls++;
}

static const ebra_snapshot_pool_t *find_pool(const ebra_snapshot_t *s, const char *name)
{
  for (uint32_t i = 0; i < s->npools; i++)
    if (strcmp(s->pools[i].name, name) == 0)
      return &s->pools[i];
  return NULL;
}

static void check_pool_entry(const ebra_snapshot_t *s, const char *name, ebra_pool_t *pool)
{
  const ebra_snapshot_pool_t *e = find_pool(s, name);
  CHECK(e != NULL);
  const ebra_pool_stats_t now = test_stats(pool);
  CHECK_EQ(e->stats.allocs, now.allocs);
  CHECK_EQ(e->stats.frees, now.frees);
  CHECK_EQ(e->stats.bytes_live, now.bytes_live);
  CHECK(memcmp(&e->stats, &now, sizeof now) == 0);
}

static void test_snapshot_and_formats(void)
{
  CHECK_EQ(ebra_maintain(), 0); /* one engine step, before the domain exists */
  ebra_pool_t *conn = test_pool("conn", SIZE);
  ebra_pool_t *weird = test_pool(WEIRD, SIZE * 2);
  ebra_domain_config_t dc = {.name = DOMAIN_NAME};
  ebra_domain_t *dom = ebra_domain_create(&dc);
  CHECK(dom != NULL);

  static void *obj[100];
  for (int i = 0; i < 100; i++)
    CHECK((obj[i] = ebra_pool_alloc(conn)) != NULL);
  for (int i = 0; i < 40; i++)
    CHECK_EQ(ebra_pool_free(conn, obj[i]), 0);
  for (int i = 40; i < 45; i++)
    CHECK_EQ(ebra_retire(dom, obj[i]), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  for (int i = 0; i < 10; i++)
    CHECK(ebra_pool_alloc(weird) != NULL);

  ebra_snapshot_t *s = NULL;
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK(s != NULL);
  CHECK_EQ(s->npools, 2);
  CHECK_EQ(s->ndomains, 1);
  CHECK(s->resident_bytes > 0);
  check_pool_entry(s, "conn", conn);
  check_pool_entry(s, WEIRD, weird);
  CHECK_EQ(find_pool(s, "conn")->stats.objects_live, 55);
  CHECK_EQ(find_pool(s, WEIRD)->stats.bytes_live, 10 * SIZE * 2);
  CHECK_EQ(s->bytes_live, 55 * SIZE + 10 * SIZE * 2);
  CHECK_EQ(s->bytes_reserved,
           test_stats(conn).bytes_reserved + test_stats(weird).bytes_reserved);
  const ebra_snapshot_domain_t *d = &s->domains[0];
  CHECK(strcmp(d->name, DOMAIN_NAME) == 0);
  CHECK(strcmp(d->backend_name, ebra_reclaim_backend_name(ebra_domain_backend(dom))) == 0);
  CHECK_EQ(d->stats.retired, 5);
  CHECK_EQ(d->stats.reclaimed, 5);
  CHECK_EQ(d->stats.pending, 0);
  CHECK(d->stats.grace_periods >= 1);

  buf_t prom = {0}, json = {0}, text = {0};
  CHECK_EQ(ebra_snapshot_print_prometheus(s, buf_append, &prom), 0);
  CHECK_EQ(ebra_snapshot_print_json(s, buf_append, &json), 0);
  CHECK_EQ(ebra_snapshot_print_text(s, buf_append, &text), 0);
  if (getenv("EBRA_TEST_VERBOSE"))
    printf("\n%s%s%s", text.p, json.p, prom.p);

  /* The formats themselves are checked by real parsers (check_monitor.py
   * runs json.loads, prometheus_client's parser and promtool on the
   * --emit output); here, a few literal lines. */
  CHECK(strstr(prom.p, "\nebra_engine_steps_total 1\n") != NULL);
  CHECK(strstr(prom.p, "\nebra_engine_active_strategy{strategy=\"low-latency\"} 1\n") != NULL);
  CHECK(strstr(prom.p, "\nebra_engine_active_strategy{strategy=\"memory-efficient\"} 0\n") != NULL);
  CHECK(strstr(prom.p, "ebra_pool_allocations_total{pool=\"conn\",id=") != NULL);
  CHECK(strstr(prom.p, "{pool=\"we\\\"ird\\\\pool\\nname\",id=") != NULL);
  CHECK(strstr(json.p, "\"dom\\tain\\u0001\"") != NULL);
  CHECK(strstr(json.p, "\"engine\":{\"configured\":\"adaptive\",\"active\":\"low-latency\","
                       "\"steps\":1,") != NULL);

  CHECK(strstr(text.p, "pool \"conn\"") != NULL);
  CHECK(strstr(text.p, "domain ") != NULL);
  CHECK(strstr(text.p, "engine: low-latency (configured adaptive):\n  steps 1,") != NULL);
  free(prom.p);
  free(json.p);
  free(text.p);
  ebra_snapshot_free(s);

  /* A destroyed pool is gone from the next snapshot. */
  for (int i = 45; i < 100; i++)
    CHECK_EQ(ebra_pool_free(conn, obj[i]), 0);
  CHECK_EQ(ebra_pool_destroy(conn), 0);
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK_EQ(s->npools, 1);
  CHECK(find_pool(s, "conn") == NULL);
  CHECK(find_pool(s, WEIRD) != NULL);
  ebra_snapshot_free(s);

  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK_EQ(s->ndomains, 0);
  ebra_snapshot_free(s);
  CHECK_EQ(ebra_pool_destroy(weird), 0); /* 10 objects still live */
  test_hook_reset(); /* the weird pool's live objects were reported */
}

static void test_invalid(void)
{
  CHECK_EQ(ebra_snapshot(NULL), -EINVAL);
  ebra_snapshot_free(NULL);
  CHECK_EQ(ebra_snapshot_print_text(NULL, NULL, NULL), -EINVAL);
  CHECK_EQ(ebra_snapshot_print_json(NULL, NULL, NULL), -EINVAL);
  CHECK_EQ(ebra_snapshot_print_prometheus(NULL, NULL, NULL), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 4); /* every misuse is reported (error.h) */
}

/* Weak-cache metrics: after known work, the snapshot's entry equals
 * ebra_cache_stats, and every format carries it (literal lines here; the
 * parsers' checks are check_monitor.py's).  A destroyed cache is absent afterwards. */
static const char CACHE_NAME[] = "ca\"che\n";

/* 1 for a hit (0, object set), 0 for a miss (-ENOENT, *out NULL); any
 * other result fails.  Inside a read section. */
static int cache_hit(ebra_cache_t *c, uint64_t key)
{
  void *o = &o;
  const int rc = ebra_cache_lookup_u64(c, key, &o);
  if (rc == 0) {
    CHECK(o != NULL);
    return 1;
  }
  CHECK_EQ(rc, -ENOENT);
  CHECK(o == NULL);
  return 0;
}

static void test_cache_metrics(void)
{
  ebra_pool_t *pool = test_pool("cached", SIZE);
  ebra_domain_t *dom = ebra_domain_create(&(ebra_domain_config_t){.name = "cd"});
  CHECK(dom != NULL);
  ebra_weak_table_t *tab = ebra_weak_table_create(dom, NULL);
  CHECK(tab != NULL);
  ebra_cache_config_t cfg = {.name = CACHE_NAME, .key_kind = EBRA_CACHE_KEY_U64,
                             .max_entries = 2, .ttl_ns = 3600000000000ull};
  ebra_cache_t *c = ebra_cache_create(tab, &cfg);
  CHECK(c != NULL);
  ebra_weak_t h[4];
  for (int i = 0; i < 4; i++) {
    void *o = ebra_pool_alloc(pool);
    CHECK(o != NULL);
    CHECK_EQ(ebra_weak_create(tab, o, &h[i]), 0);
    CHECK(h[i] != EBRA_WEAK_NONE);
  }
  CHECK_EQ(ebra_cache_store_u64(c, 0, h[0]), 0);
  CHECK_EQ(ebra_cache_store_u64(c, 1, h[1]), 0);
  CHECK_EQ(ebra_cache_store_u64(c, 1, h[2]), 0);  /* replaces; its slot evicts key 0 */
  CHECK_EQ(ebra_cache_store_u64(c, 3, h[3]), 0);  /* takes the replaced entry's slot */
  CHECK_EQ(ebra_read_lock(dom), 0);
  const int hits = cache_hit(c, 0) + cache_hit(c, 1) + cache_hit(c, 3);
  CHECK_EQ(cache_hit(c, 9), 0);
  ebra_read_unlock(dom);
  CHECK_EQ(hits, 2);
  CHECK_EQ(ebra_weak_kill(tab, h[3]), 0);         /* dies */
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  ebra_cache_stats_t want;
  CHECK_EQ(ebra_cache_stats(c, &want), 0);
  CHECK_EQ(want.hits, 2);
  CHECK_EQ(want.misses, 2);
  CHECK_EQ(want.stores, 4);
  CHECK_EQ(want.replacements, 1);
  CHECK_EQ(want.evictions, 1);
  CHECK_EQ(want.deaths, 1);
  CHECK_EQ(want.size, 1); /* key 1 */

  ebra_snapshot_t *s = NULL;
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK_EQ(s->ncaches, 1);
  CHECK(strcmp(s->caches[0].name, CACHE_NAME) == 0);
  CHECK(memcmp(&s->caches[0].stats, &want, sizeof want) == 0);
  buf_t prom = {0}, json = {0}, text = {0};
  CHECK_EQ(ebra_snapshot_print_prometheus(s, buf_append, &prom), 0);
  CHECK_EQ(ebra_snapshot_print_json(s, buf_append, &json), 0);
  CHECK_EQ(ebra_snapshot_print_text(s, buf_append, &text), 0);
  if (getenv("EBRA_TEST_VERBOSE"))
    printf("\n%s%s%s", text.p, json.p, prom.p);
  char line[256];
  snprintf(line, sizeof line, "ebra_cache_hits_total{cache=\"ca\\\"che\\n\",id=\"%u\"} 2\n",
           s->caches[0].id);
  CHECK(strstr(prom.p, line) != NULL);
  CHECK(strstr(prom.p, "ebra_cache_evictions_total{cache=") != NULL);
  CHECK(strstr(prom.p, "ebra_cache_max_entries{cache=\"ca\\\"che\\n\",id=") != NULL);
  CHECK(strstr(json.p, "\"caches\":[{\"id\":") != NULL);
  CHECK(strstr(json.p, "\"deaths\":1,") != NULL);
  CHECK(strstr(text.p, "cache \"ca\\\"che\\n\"") != NULL);
  free(prom.p);
  free(json.p);
  free(text.p);
  ebra_snapshot_free(s);

  CHECK_EQ(ebra_cache_destroy(c), 0);
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK_EQ(s->ncaches, 0);
  ebra_snapshot_free(s);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(ebra_weak_kill(tab, h[i]), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_weak_table_destroy(tab), 0);
  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

/* ---- weak tables and subjects --------------------------------------------------- */

static const char TABLE_NAME[] = "weak\"table";
static const char SUBJECT_NAME[] = "sub\\ject";

static void count_call(void *arg, void *obj, uint64_t value)
{
  (void)obj;
  (void)value;
  ++*(int *)arg;
}

typedef struct weak_scene_s {
  ebra_pool_t *pool;
  ebra_domain_t *dom;
  ebra_weak_table_t *tab;
  ebra_subject_t *sub;
  ebra_weak_t h[3];
  ebra_subscription_t s[2];
  int calls;
} weak_scene_t;

/* 3 handles, the third killed and reclaimed; 2 observers, 2 notifies. */
static void weak_scene(weak_scene_t *w)
{
  w->pool = test_pool("weak-objects", SIZE);
  w->dom = ebra_domain_create(&(ebra_domain_config_t){.name = "weak-dom"});
  CHECK(w->dom != NULL);
  w->tab = ebra_weak_table_create(w->dom, &(ebra_weak_table_config_t){.name = TABLE_NAME});
  CHECK(w->tab != NULL);
  for (int i = 0; i < 3; i++) {
    void *o = ebra_pool_alloc(w->pool);
    CHECK(o != NULL);
    CHECK_EQ(ebra_weak_create(w->tab, o, &w->h[i]), 0);
  }
  w->sub = ebra_subject_create(w->tab, &(ebra_subject_config_t){.name = SUBJECT_NAME});
  CHECK(w->sub != NULL);
  w->calls = 0;
  for (int i = 0; i < 2; i++)
    CHECK_EQ(ebra_subject_subscribe(w->sub, w->h[i], count_call, &w->calls, &w->s[i]), 0);
  for (int i = 0; i < 2; i++) {
    size_t n = 0;
    CHECK_EQ(ebra_subject_notify(w->sub, (uint64_t)i, &n), 0);
    CHECK_EQ(n, 2);
  }
  CHECK_EQ(w->calls, 4);
  CHECK_EQ(ebra_weak_kill(w->tab, w->h[2]), 0);
  CHECK_EQ(ebra_domain_barrier(w->dom), 0);
}

static void weak_scene_end(weak_scene_t *w)
{
  CHECK_EQ(ebra_subject_destroy(w->sub), 0);
  for (int i = 0; i < 2; i++)
    CHECK_EQ(ebra_weak_kill(w->tab, w->h[i]), 0);
  CHECK_EQ(ebra_domain_barrier(w->dom), 0);
  CHECK_EQ(ebra_weak_table_destroy(w->tab), 0);
  CHECK_EQ(ebra_domain_unregister_thread(w->dom), 0);
  CHECK_EQ(ebra_domain_destroy(w->dom), 0);
  CHECK_EQ(ebra_pool_destroy(w->pool), 0);
}

static void test_weak_and_observers(void)
{
  weak_scene_t w;
  weak_scene(&w);
  ebra_weak_stats_t ws;
  CHECK_EQ(ebra_weak_table_stats(w.tab, &ws), 0);
  CHECK_EQ(ws.created, 3);
  CHECK_EQ(ws.killed, 1);
  CHECK_EQ(ws.live, 2);
  ebra_subject_stats_t ss;
  CHECK_EQ(ebra_subject_stats(w.sub, &ss), 0);
  CHECK_EQ(ss.observers, 2);
  CHECK_EQ(ss.subscribed, 2);
  CHECK_EQ(ss.notifies, 2);
  CHECK_EQ(ss.calls, 4);
  CHECK_EQ(ss.unlinked, 0);
  CHECK_EQ(ebra_subject_unsubscribe(w.sub, w.s[1]), 0);
  CHECK_EQ(ebra_subject_stats(w.sub, &ss), 0);
  CHECK_EQ(ss.observers, 1);
  CHECK_EQ(ss.unlinked, 1);

  ebra_snapshot_t *s = NULL;
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK_EQ(s->nweak_tables, 1);
  CHECK_EQ(s->nsubjects, 1);
  CHECK(strcmp(s->weak_tables[0].name, TABLE_NAME) == 0);
  CHECK(memcmp(&s->weak_tables[0].stats, &ws, sizeof ws) == 0);
  CHECK_EQ(s->weak_tables[0].domain_id, s->domains[0].id);
  CHECK(strcmp(s->subjects[0].name, SUBJECT_NAME) == 0);
  CHECK(memcmp(&s->subjects[0].stats, &ss, sizeof ss) == 0);
  buf_t text = {0};
  CHECK_EQ(ebra_snapshot_print_text(s, buf_append, &text), 0);
  CHECK(strstr(text.p, "weak_table \"weak\\\"table\" (id ") != NULL);
  CHECK(strstr(text.p, "subject \"sub\\\\ject\" (id ") != NULL);
  free(text.p);
  ebra_snapshot_free(s);

  CHECK_EQ(ebra_subject_stats(NULL, &ss), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  weak_scene_end(&w);
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK_EQ(s->nweak_tables, 0);
  CHECK_EQ(s->nsubjects, 0);
  ebra_snapshot_free(s);
  CHECK_NO_REPORTS();
}

/* ---- histograms and version ------------------------------------------------------ */

static void test_histograms(void)
{
  ebra_pool_t *pool = test_pool("hist", SIZE);
  ebra_domain_t *dom = ebra_domain_create(&(ebra_domain_config_t){.name = "hist"});
  CHECK(dom != NULL);
  for (int r = 0; r < 5; r++) {
    void *o = ebra_pool_alloc(pool);
    CHECK(o != NULL);
    CHECK_EQ(ebra_retire(dom, o), 0);
    CHECK_EQ(ebra_domain_barrier(dom), 0);
  }
  ebra_domain_stats_t st;
  CHECK_EQ(ebra_domain_stats(dom, &st), 0);
  CHECK(st.grace_periods >= 5);
  uint64_t n = 0, r = 0;
  for (int i = 0; i < EBRA_LATENCY_BUCKETS; i++) {
    n += st.gp_ns_hist[i];
    r += st.reuse_ns_hist[i];
  }
  CHECK_EQ(n, st.grace_periods); /* one per grace period */
  CHECK_EQ(r, st.batches);       /* one reuse sample per batch */
  CHECK(st.gp_ns_sum <= n * st.gp_ns_max);
  CHECK(st.gp_ns_sum >= st.gp_ns_max); /* the largest is one of the summed */
  static const uint64_t bounds[EBRA_LATENCY_BUCKETS - 1] = EBRA_LATENCY_BOUNDS_NS;
  for (int i = 1; i < EBRA_LATENCY_BUCKETS - 1; i++)
    CHECK(bounds[i] > bounds[i - 1]);
  /* The bucket of the longest grace period is not empty. */
  int b = 0;
  while (b < EBRA_LATENCY_BUCKETS - 1 && st.gp_ns_max > bounds[b])
    b++;
  CHECK(st.gp_ns_hist[b] >= 1);
  CHECK_EQ(ebra_domain_unregister_thread(dom), 0);
  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

static void test_version(void)
{
  CHECK(strcmp(ebra_version(), EBRA_VERSION_STRING) == 0);
  CHECK_EQ(ebra_version_number(), EBRA_VERSION);
  char v[32];
  snprintf(v, sizeof v, "%d.%d.%d", EBRA_VERSION_MAJOR, EBRA_VERSION_MINOR, EBRA_VERSION_PATCH);
  CHECK(strcmp(v, EBRA_VERSION_STRING) == 0);
  ebra_snapshot_t *s = NULL;
  CHECK_EQ(ebra_snapshot(&s), 0);
  buf_t prom = {0};
  CHECK_EQ(ebra_snapshot_print_prometheus(s, buf_append, &prom), 0);
  char want[96];
  snprintf(want, sizeof want, "ebra_build_info{version=\"%s\",", EBRA_VERSION_STRING);
  CHECK(strstr(prom.p, want) != NULL);
  free(prom.p);
  ebra_snapshot_free(s);
}

/* Large output goes out in several pieces. */
static void test_many_pools(void)
{
  enum { N = 60 };
  ebra_pool_t *pools[N];
  char name[32];
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "many-%d", i);
    pools[i] = test_pool(name, SIZE);
  }
  ebra_snapshot_t *s = NULL;
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK_EQ(s->npools, N);
  buf_t prom = {0}, json = {0};
  CHECK_EQ(ebra_snapshot_print_prometheus(s, buf_append, &prom), 0);
  CHECK_EQ(ebra_snapshot_print_json(s, buf_append, &json), 0);
  CHECK(prom.calls > 1);
  CHECK(json.calls > 1);
  free(prom.p);
  free(json.p);
  ebra_snapshot_free(s);
  for (int i = 0; i < N; i++)
    CHECK_EQ(ebra_pool_destroy(pools[i]), 0);
  CHECK_NO_REPORTS();
}

/* ---- --emit DIR: the scene for check_monitor.py ------------------------------------ */

#define POOL_FIELDS(X)                                                                    \
  X(allocs) X(frees) X(magazine_hits) X(magazine_misses) X(depot_exchanges)               \
  X(depot_contention) X(slabs) X(bytes_reserved) X(bytes_live) X(objects_live)            \
  X(objects_carved) X(depot_full) X(depot_empty) X(errors) X(threads) X(magazine_capacity) \
  X(object_size) X(stride) X(objects_in_slabs) X(bytes_purged) X(slabs_purged)            \
  X(magazines_trimmed) X(depot_parked) X(depot_objects) X(max_objects) X(bytes_magazines)
#define DOMAIN_FIELDS(X)                                                                  \
  X(retired) X(reclaimed) X(pending) X(pending_bytes) X(grace_periods) X(batches)         \
  X(gp_ns_p50) X(gp_ns_p90) X(gp_ns_p99) X(gp_ns_max) X(reuse_ns_p50) X(reuse_ns_p99)     \
  X(reuse_ns_max) X(cleanup_ns_p50) X(cleanup_ns_p99) X(cleanup_ns_max) X(max_pending)     \
  X(helped_rounds) X(stalls) X(stalled_ns)                                                 \
  X(threads) X(batch_size) X(max_batch_age_ns) X(gp_ns_sum) X(reuse_ns_sum)
#define WEAK_FIELDS(X) X(live) X(slots) X(retired_slots) X(created) X(killed) X(cleanups_run)
#define CACHE_FIELDS(X)                                                                   \
  X(hits) X(misses) X(stores) X(evictions) X(expirations) X(deaths) X(erasures)           \
  X(replacements) X(size) X(max_entries)
#define SUBJECT_FIELDS(X) X(observers) X(subscribed) X(unlinked) X(notifies) X(calls)
#define ENGINE_FIELDS(X)                                                                  \
  X(steps) X(switches) X(knob_changes) X(magazines_trimmed) X(caches_drained) X(bytes_purged) \
  X(forced_grace_periods) X(soft_limit_steps) X(hard_limit_refusals) X(committed_bytes)   \
  X(soft_limit) X(hard_limit) X(alloc_rate) X(free_rate) X(exchange_rate)                 \
  X(contention_rate) X(retire_rate)
#define GLOBAL_FIELDS(X)                                                                  \
  X(resident_bytes) X(bytes_reserved) X(bytes_live) X(pending_bytes) X(npools)            \
  X(ndomains) X(ncaches) X(nweak_tables) X(nsubjects)

static FILE *open_in(const char *dir, const char *file)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  return f;
}

static void to_file(const char *text, void *arg) { fputs(text, (FILE *)arg); }

/* "name <kind> <id> <tag>": which entry carries which of the test's names
 * (the checker knows each tag's exact bytes). */
static void name_tag(FILE *f, const char *kind, uint32_t id, const char *name)
{
  static const struct { const char *name, *tag; } tags[] = {
      {"conn", "conn"}, {WEIRD, "weird"}, {DOMAIN_NAME, "domain"},
      {TABLE_NAME, "weak_table"}, {SUBJECT_NAME, "subject"}, {CACHE_NAME, "cache"}};
  for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
    if (strcmp(name, tags[i].name) == 0)
      fprintf(f, "name %s %u %s\n", kind, id, tags[i].tag);
  if (strlen(name) == EBRA_POOL_NAME_MAX - 1 && name[0] == 'a')
    fprintf(f, "name %s %u truncated\n", kind, id);
}

static void write_expected(FILE *f, const ebra_snapshot_t *s)
{
  fprintf(f, "version %s\nfeatures %u\nname_max %d\n", ebra_version(), ebra_build_features(),
          EBRA_POOL_NAME_MAX);
#define OUT(kind, id, st, x) fprintf(f, "field %s %s %s %llu\n", kind, id, #x, \
                                     (unsigned long long)(st)->x);
  char id[16];
#define G(x) OUT("global", "-", s, x)
  GLOBAL_FIELDS(G)
#define E(x) OUT("engine", "-", &s->engine, x)
  ENGINE_FIELDS(E)
  fprintf(f, "strategy %s %s\n", ebra_strategy_name(s->engine.configured),
          ebra_strategy_name(s->engine.active));
  for (uint32_t i = 0; i < s->npools; i++) {
    snprintf(id, sizeof id, "%u", s->pools[i].id);
    name_tag(f, "pool", s->pools[i].id, s->pools[i].name);
#define P(x) OUT("pool", id, &s->pools[i].stats, x)
    POOL_FIELDS(P)
  }
  for (uint32_t i = 0; i < s->ndomains; i++) {
    const ebra_snapshot_domain_t *d = &s->domains[i];
    snprintf(id, sizeof id, "%u", d->id);
    name_tag(f, "domain", d->id, d->name);
    fprintf(f, "label domain %u backend %s\n", d->id, d->backend_name);
#define D(x) OUT("domain", id, &d->stats, x)
    DOMAIN_FIELDS(D)
    for (int b = 0; b < EBRA_LATENCY_BUCKETS; b++)
      fprintf(f, "hist domain %u gp_ns %d %llu\nhist domain %u reuse_ns %d %llu\n", d->id, b,
              (unsigned long long)d->stats.gp_ns_hist[b], d->id, b,
              (unsigned long long)d->stats.reuse_ns_hist[b]);
  }
  for (uint32_t i = 0; i < s->nweak_tables; i++) {
    const ebra_snapshot_weak_table_t *t = &s->weak_tables[i];
    snprintf(id, sizeof id, "%u", t->id);
    name_tag(f, "weak_table", t->id, t->name);
    fprintf(f, "label weak_table %u domain_id %u\n", t->id, t->domain_id);
#define W(x) OUT("weak_table", id, &t->stats, x)
    WEAK_FIELDS(W)
  }
  for (uint32_t i = 0; i < s->ncaches; i++) {
    snprintf(id, sizeof id, "%u", s->caches[i].id);
    name_tag(f, "cache", s->caches[i].id, s->caches[i].name);
#define C(x) OUT("cache", id, &s->caches[i].stats, x)
    CACHE_FIELDS(C)
  }
  for (uint32_t i = 0; i < s->nsubjects; i++) {
    snprintf(id, sizeof id, "%u", s->subjects[i].id);
    name_tag(f, "subject", s->subjects[i].id, s->subjects[i].name);
#define S_(x) OUT("subject", id, &s->subjects[i].stats, x)
    SUBJECT_FIELDS(S_)
  }
  static const uint64_t bounds[EBRA_LATENCY_BUCKETS - 1] = EBRA_LATENCY_BOUNDS_NS;
  for (int b = 0; b < EBRA_LATENCY_BUCKETS - 1; b++)
    fprintf(f, "bound %d %llu\n", b, (unsigned long long)bounds[b]);
  for (unsigned k = 1; k < EBRA_REPORT_KINDS; k++)
    if (strcmp(ebra_error_kind_name((ebra_error_kind_t)k), "unknown") != 0)
      fprintf(f, "report %s %llu %llu\n", ebra_error_kind_name((ebra_error_kind_t)k),
              s->reports.delivered[k], s->reports.suppressed[k]);
}

static int emit(const char *dir)
{
  test_hook_install();
  CHECK_EQ(ebra_maintain(), 0);
  ebra_pool_t *conn = test_pool("conn", SIZE);
  ebra_pool_t *weird = test_pool(WEIRD, SIZE * 2);
  char trunc[EBRA_POOL_NAME_MAX + 8]; /* cut inside a UTF-8 character */
  memset(trunc, 'a', EBRA_POOL_NAME_MAX - 2);
  strcpy(trunc + EBRA_POOL_NAME_MAX - 2, "\xC3\xA9");
  CHECK(test_pool(trunc, SIZE) != NULL);
  ebra_domain_t *dom = ebra_domain_create(&(ebra_domain_config_t){.name = DOMAIN_NAME});
  CHECK(dom != NULL);
  static void *obj[100];
  for (int i = 0; i < 100; i++)
    CHECK((obj[i] = ebra_pool_alloc(conn)) != NULL);
  for (int i = 0; i < 40; i++)
    CHECK_EQ(ebra_pool_free(conn, obj[i]), 0);
  for (int i = 40; i < 45; i++) {
    CHECK_EQ(ebra_retire(dom, obj[i]), 0);
    CHECK_EQ(ebra_domain_barrier(dom), 0);
  }
  for (int i = 0; i < 10; i++)
    CHECK(ebra_pool_alloc(weird) != NULL);
  weak_scene_t w;
  weak_scene(&w);
  ebra_cache_t *c = ebra_cache_create(w.tab, &(ebra_cache_config_t){
      .name = CACHE_NAME, .key_kind = EBRA_CACHE_KEY_U64, .max_entries = 8});
  CHECK(c != NULL);
  CHECK_EQ(ebra_cache_store_u64(c, 1, w.h[0]), 0);
  CHECK_EQ(ebra_read_lock(w.dom), 0);
  CHECK_EQ(cache_hit(c, 1) + cache_hit(c, 2), 1);
  ebra_read_unlock(w.dom);
  /* Some reports suppressed: limit 2, 5 bad calls. */
  CHECK_EQ(ebra_option_set(EBRA_OPT_REPORT_LIMIT, 2), 0);
  for (int i = 0; i < 5; i++)
    CHECK_EQ(ebra_snapshot(NULL), -EINVAL);
  CHECK_EQ(ebra_option_set(EBRA_OPT_REPORT_LIMIT, 0), 0);
  CHECK_EQ(ebra_maintain(), 0);

  ebra_snapshot_t *s = NULL;
  CHECK_EQ(ebra_snapshot(&s), 0);
  FILE *f = open_in(dir, "snapshot.prom");
  CHECK_EQ(ebra_snapshot_print_prometheus(s, to_file, f), 0);
  fclose(f);
  f = open_in(dir, "snapshot.json");
  CHECK_EQ(ebra_snapshot_print_json(s, to_file, f), 0);
  fclose(f);
  f = open_in(dir, "snapshot.txt");
  CHECK_EQ(ebra_snapshot_print_text(s, to_file, f), 0);
  fclose(f);
  f = open_in(dir, "expected.txt");
  write_expected(f, s);
  fclose(f);
  ebra_snapshot_free(s);
  return 0; /* everything left live: the process ends here */
}

static _Atomic int churn_stop;
static _Atomic unsigned churn_turns;
static ebra_pool_t *steady_pool;
static ebra_domain_t *steady_dom;

/* Create, use and destroy a pool each turn, and a domain every 16th; keep
 * allocating, freeing and retiring on the steady pool and domain. */
static void *churn(void *arg)
{
  (void)arg;
  for (unsigned turn = 0; !atomic_load(&churn_stop); turn++) {
    ebra_pool_t *pool = test_pool("churn", SIZE);
    void *o[8];
    for (int i = 0; i < 8; i++)
      CHECK((o[i] = ebra_pool_alloc(pool)) != NULL);
    for (int i = 0; i < 8; i++)
      CHECK_EQ(ebra_pool_free(pool, o[i]), 0);
    CHECK_EQ(ebra_pool_destroy(pool), 0);
    for (int i = 0; i < 8; i++)
      CHECK((o[i] = ebra_pool_alloc(steady_pool)) != NULL);
    for (int i = 0; i < 4; i++)
      CHECK_EQ(ebra_pool_free(steady_pool, o[i]), 0);
    for (int i = 4; i < 8; i++)
      CHECK_EQ(ebra_retire(steady_dom, o[i]), 0);
    if (turn % 16 == 0) {
      ebra_domain_t *d = ebra_domain_create(&(ebra_domain_config_t){.name = "churn"});
      CHECK(d != NULL);
      CHECK_EQ(ebra_domain_destroy(d), 0);
    }
    atomic_fetch_add(&churn_turns, 1);
  }
  return NULL;
}

/* Snapshots during concurrent create/use/destroy: every entry consistent,
 * counters of the steady pool and domain never go back, no report (a pool
 * or domain destroyed meanwhile is simply absent). */
static void test_concurrent_destroy(void)
{
  steady_pool = test_pool("steady", SIZE);
  steady_dom = ebra_domain_create(&(ebra_domain_config_t){.name = "steady"});
  CHECK(steady_dom != NULL);
  pthread_t t;
  atomic_store(&churn_stop, 0);
  atomic_store(&churn_turns, 0);
  CHECK_EQ(pthread_create(&t, NULL, churn, NULL), 0);
  uint64_t last_allocs = 0, last_retired = 0;
  /* At least 300 snapshots, over at least 64 churn turns (4 domains); the
   * turns are counted before each snapshot, so the last one is taken after
   * the 64th turn even if this thread was descheduled meanwhile. */
  unsigned turns_before = 0;
  for (int k = 0; k < 300 || turns_before < 64; k++) {
    turns_before = atomic_load(&churn_turns);
    ebra_snapshot_t *s = NULL;
    CHECK_EQ(ebra_snapshot(&s), 0);
    CHECK(s->npools >= 1 && s->npools <= 2);
    CHECK(s->ndomains >= 1 && s->ndomains <= 2);
    for (uint32_t i = 0; i < s->npools; i++) {
      const ebra_pool_stats_t *st = &s->pools[i].stats;
      CHECK_EQ(st->objects_live, st->allocs - st->frees);
      CHECK_EQ(st->magazine_hits + st->magazine_misses, st->allocs + st->frees);
      if (strcmp(s->pools[i].name, "steady") == 0) {
        CHECK(st->allocs >= last_allocs);
        last_allocs = st->allocs;
      } else {
        CHECK(strcmp(s->pools[i].name, "churn") == 0);
        CHECK(st->objects_live <= 8);
      }
    }
    for (uint32_t i = 0; i < s->ndomains; i++) {
      const ebra_domain_stats_t *st = &s->domains[i].stats;
      CHECK(st->reclaimed <= st->retired);
      CHECK_EQ(st->pending, st->retired - st->reclaimed);
      if (strcmp(s->domains[i].name, "steady") == 0) {
        CHECK(st->retired >= last_retired);
        last_retired = st->retired;
      }
    }
    ebra_snapshot_free(s);
  }
  atomic_store(&churn_stop, 1);
  CHECK_EQ(pthread_join(t, NULL), 0);
  CHECK(last_allocs > 0);
  CHECK_EQ(ebra_domain_barrier(steady_dom), 0);
  CHECK_EQ(ebra_domain_destroy(steady_dom), 0);
  CHECK_EQ(ebra_pool_destroy(steady_pool), 0);
  CHECK_NO_REPORTS();
}

int main(int argc, char **argv)
{
  if (argc == 3 && strcmp(argv[1], "--emit") == 0)
    return emit(argv[2]);
  test_hook_install();
  TEST_RUN(test_invalid);
  TEST_RUN(test_snapshot_and_formats);
  TEST_RUN(test_many_pools);
  TEST_RUN(test_cache_metrics);
  TEST_RUN(test_weak_and_observers);
  TEST_RUN(test_histograms);
  TEST_RUN(test_version);
  TEST_RUN(test_concurrent_destroy);
  return 0;
}

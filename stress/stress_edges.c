/* SPDX-License-Identifier: MIT */
/* stress/stress_edges.c — reclamation under pressure and at its edges, one
 * mode per run (-m), on one backend (-b):
 *
 *   backlog  -t threads retire as fast as they can (half ebra_retire of
 *            pool objects, half weak kills with a cleanup each), while the
 *            main thread samples ebra_domain_stats every 200 us.  Fails if
 *            pending ever exceeds the documented bound
 *              max_pending + 2 x batch x threads + threads
 *            (closed batches up to max_pending; each thread's open batch;
 *            each thread's batch closed inside a kill's section before it
 *            throttles; a retire counter bumped after its append), or if
 *            anything is left pending after the run (reclaim keeps up).
 *   stall    a reader holds a section (qsbr: an online thread that never
 *            calls ebra_quiescent) for 4 x the stall threshold (100 ms)
 *            while a writer retires: exactly one EBRA_WARN_STALL report,
 *            within 2 x the threshold of the retire, naming the domain and
 *            the stalled thread's kernel id; stats.stalls == 1;
 *            ebra_domain_barrier_timeout returns -ETIMEDOUT meanwhile, and 0
 *            after the reader leaves.
 *   chain    per round a fresh domain: chains of deferred calls, each link
 *            retiring a pool object and deferring the next, and weak
 *            cleanups that kill other handles, defer calls and try a
 *            barrier (-EDEADLK).  Every thread exits; then table and domain
 *            destroy return 0 at once, every link ran, every object is back
 *            in its pool.
 *   tdestroy readers resolve stale handles of a table in their sections
 *            while it is destroyed (ASan: no use after free; release: no
 *            crash); misses after the destroy are reported use-after-destroy.
 *   nomem    with allocation failing (RLIMIT_AS at the current size, batches
 *            of 65536 entries that need a fresh mapping): threads kill
 *            handles (inside sections) and retire objects (outside); every
 *            object returns to its pool, the table can be destroyed.  Not
 *            under sanitizers (their allocators need the address space).
 *
 * Arguments: -b backend -m mode -t threads (8) -d ms (2000) -s seed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stress_util.h"

enum mode { M_BACKLOG, M_STALL, M_CHAIN, M_TDESTROY, M_NOMEM };
static const char *const mode_names[] = {"backlog", "stall", "chain", "tdestroy", "nomem", NULL};

static stress_args_t args = {.threads = 8, .duration_ms = 2000, .seed = 1};
static unsigned long backend_index, mode_index;
static ebra_reclaim_backend_t backend;
static ebra_pool_t *pool;
static ebra_domain_t *dom;
static ebra_weak_table_t *tab;
static _Atomic int stop;

static ebra_domain_t *make_domain(const char *name, unsigned batch, uint64_t max_pending,
                                  uint64_t stall_ns) {
  const ebra_domain_config_t dc = {.name = name, .backend = backend, .batch_size = batch,
                                   .max_pending = max_pending, .stall_threshold_ns = stall_ns};
  ebra_domain_t *d = ebra_domain_create(&dc);
  STRESS_CHECK(d, "domain create: %s", strerror(errno));
  return d;
}

static uint64_t pool_live(void) {
  ebra_pool_stats_t st;
  STRESS_CHECK(ebra_pool_stats(pool, &st) == 0, "pool stats");
  return st.objects_live;
}

/* ---- backlog ------------------------------------------------------------------ */

static _Atomic uint64_t cleanups_run;
static void count_cleanup(void *arg, ebra_weak_t h) {
  (void)arg, (void)h;
  atomic_fetch_add_explicit(&cleanups_run, 1, memory_order_relaxed);
}

static void *backlog_worker(void *arg) {
  const uintptr_t id = (uintptr_t)arg;
  uint64_t n = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    void *o = ebra_pool_alloc(pool);
    STRESS_CHECK(o, "alloc: %s", strerror(errno));
    if (id % 2) {
      STRESS_CHECK(ebra_retire(dom, o) == 0, "retire");
    } else {
      ebra_weak_t h;
      STRESS_CHECK(ebra_weak_create(tab, o, &h) == 0, "weak create");
      STRESS_CHECK(ebra_weak_add_cleanup(tab, h, count_cleanup, NULL) == 0, "add cleanup");
      STRESS_CHECK(ebra_weak_kill(tab, h) == 0, "kill");
    }
    n++;
  }
  ebra_thread_exit();
  return NULL;
}

static void run_backlog(void) {
  const unsigned batch = 64;
  const uint64_t max_pending = 32 * batch;
  dom = make_domain("edges-backlog", batch, max_pending, 0);
  tab = ebra_weak_table_create(dom, NULL);
  STRESS_CHECK(tab, "table");
  stress_threads_t *t = stress_spawn(args.threads, backlog_worker, NULL, 1);
  const uint64_t bound = max_pending + 2ull * batch * args.threads + args.threads;
  uint64_t worst = 0, samples = 0;
  const uint64_t t0 = now_ms();
  ebra_domain_stats_t st;
  while (now_ms() - t0 < args.duration_ms) {
    STRESS_CHECK(ebra_domain_stats(dom, &st) == 0, "stats");
    worst = st.pending > worst ? st.pending : worst;
    samples++;
    sleep_us(200);
  }
  atomic_store(&stop, 1);
  stress_join(t);
  STRESS_CHECK(ebra_domain_barrier(dom) == 0, "barrier");
  STRESS_CHECK(ebra_domain_stats(dom, &st) == 0, "stats");
  stress_say("%s: %lu threads, %" PRIu64 " retired in %lu ms, pending max %" PRIu64
             " (bound %" PRIu64 ", %" PRIu64 " samples), %" PRIu64
             " helper rounds, cleanup p50/p99/max %" PRIu64 "/%" PRIu64 "/%" PRIu64
             " us, reusable p50/p99/max %" PRIu64 "/%" PRIu64 "/%" PRIu64 " us",
             ebra_reclaim_backend_name(backend), args.threads, st.retired, args.duration_ms,
             worst, bound, samples, st.helped_rounds, st.cleanup_ns_p50 / 1000,
             st.cleanup_ns_p99 / 1000, st.cleanup_ns_max / 1000, st.reuse_ns_p50 / 1000,
             st.reuse_ns_p99 / 1000, st.reuse_ns_max / 1000);
  STRESS_CHECK(worst <= bound, "pending reached %" PRIu64 ", above the bound %" PRIu64, worst,
               bound);
  STRESS_CHECK(st.pending == 0 && st.retired == st.reclaimed, "left pending: %" PRIu64,
               st.pending);
  STRESS_CHECK(st.cleanup_ns_max > 0 && st.reuse_ns_max >= st.reuse_ns_p99,
               "no latency samples");
  STRESS_CHECK(ebra_weak_table_destroy(tab) == 0, "table destroy");
  STRESS_CHECK(ebra_domain_destroy(dom) == 0, "domain destroy");
  STRESS_CHECK(pool_live() == 0, "pool live %" PRIu64, pool_live());
}

/* ---- stall ------------------------------------------------------------------- */

#define STALL_NS 100000000ull
static pthread_mutex_t rep_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rep_stalls, rep_first_ns, rep_other;
static char rep_msg[1024];

static void stall_hook(ebra_error_kind_t kind, const char *msg, void *arg) {
  (void)arg;
  pthread_mutex_lock(&rep_lock);
  if (kind == EBRA_WARN_STALL && strstr(msg, "grace period has been held up")) {
    if (rep_stalls++ == 0) {
      rep_first_ns = now_ns();
      snprintf(rep_msg, sizeof rep_msg, "%s", msg);
    }
  } else if (kind != EBRA_WARN_STALL && kind != EBRA_INFO_ENGINE) {
    rep_other++;
    fprintf(stderr, "unexpected report: %s\n", msg);
  }
  pthread_mutex_unlock(&rep_lock);
}

static _Atomic int reader_in, reader_out;
static _Atomic int reader_tid;

static void *stall_reader(void *arg) {
  (void)arg;
  reader_tid = (int)syscall(SYS_gettid);
  if (backend == EBRA_RECLAIM_URCU_QSBR) {
    STRESS_CHECK(ebra_domain_register_thread(dom) == 0, "register"); /* online */
  } else {
    STRESS_CHECK(ebra_read_lock(dom) == 0, "read lock");
  }
  atomic_store(&reader_in, 1);
  sleep_us(4 * STALL_NS / 1000);
  if (backend == EBRA_RECLAIM_URCU_QSBR)
    ebra_domain_thread_offline(dom);
  else
    ebra_read_unlock(dom);
  atomic_store(&reader_out, 1);
  while (atomic_load(&stop) == 0)
    sleep_us(1000);
  ebra_thread_exit();
  return NULL;
}

static _Atomic int alert_raised;
static void on_stall_alert(const ebra_alert_event_t *ev, void *arg) {
  (void)arg;
  if (ev->raised && ev->metric == EBRA_ALERT_STALLED_NS && strcmp(ev->subject, "edges-stall") == 0)
    atomic_store(&alert_raised, 1);
}

static char prom[1 << 16];
static size_t prom_len;
static void prom_out(const char *text, void *arg) {
  (void)arg;
  const size_t n = strlen(text);
  if (prom_len + n < sizeof prom) {
    memcpy(prom + prom_len, text, n + 1);
    prom_len += n;
  }
}

/* While the stall lasts: the alert on EBRA_ALERT_STALLED_NS raises, and
 * the monitor's ebra_domain_stalls_total counts it. */
static void check_stall_alert_and_metric(void) {
  for (int i = 0; i < 400; i++) {
    pthread_mutex_lock(&rep_lock);
    const uint64_t n = rep_stalls;
    pthread_mutex_unlock(&rep_lock);
    if (n)
      break;
    sleep_us(1000);
  }
  int aid;
  STRESS_CHECK(ebra_alert_add(EBRA_ALERT_STALLED_NS, 1, 0, on_stall_alert, NULL, &aid) == 0,
               "alert add");
  STRESS_CHECK(ebra_maintain() == 0, "maintain");
  STRESS_CHECK(atomic_load(&alert_raised), "the stall alert did not raise during the stall");
  STRESS_CHECK(ebra_alert_remove(aid) == 0, "alert remove");
  ebra_snapshot_t *snap;
  STRESS_CHECK(ebra_snapshot(&snap) == 0, "snapshot");
  prom_len = 0;
  ebra_snapshot_print_prometheus(snap, prom_out, NULL);
  ebra_snapshot_free(snap);
  bool found = false;
  for (char *l = strtok(prom, "\n"); l && !found; l = strtok(NULL, "\n"))
    found = strncmp(l, "ebra_domain_stalls_total{", 25) == 0 && strstr(l, "edges-stall") &&
            strcmp(l + strlen(l) - 2, " 1") == 0;
  STRESS_CHECK(found, "no ebra_domain_stalls_total 1 for the stalled domain");
}

static void run_stall(void) {
  ebra_set_report_hook(stall_hook, NULL);
  dom = make_domain("edges-stall", 0, 0, STALL_NS);
  stress_threads_t *t = stress_spawn(1, stall_reader, NULL, 0);
  while (!atomic_load(&reader_in))
    sleep_us(100);
  void *o = ebra_pool_alloc(pool);
  STRESS_CHECK(o, "alloc");
  const uint64_t t0 = now_ns();
  STRESS_CHECK(ebra_retire(dom, o) == 0, "retire");
  const int brc = ebra_domain_barrier_timeout(dom, STALL_NS / 2);
  STRESS_CHECK(brc == -ETIMEDOUT, "barrier_timeout during the stall: %d", brc);
  check_stall_alert_and_metric();
  while (!atomic_load(&reader_out))
    sleep_us(1000);
  STRESS_CHECK(ebra_domain_barrier_timeout(dom, 20 * STALL_NS) == 0, "barrier after the stall");
  ebra_domain_stats_t st;
  STRESS_CHECK(ebra_domain_stats(dom, &st) == 0, "stats");
  atomic_store(&stop, 1);
  stress_join(t);
  pthread_mutex_lock(&rep_lock);
  const uint64_t after = rep_first_ns ? rep_first_ns - t0 : 0;
  char tid[32];
  snprintf(tid, sizeof tid, "%d '", reader_tid);
  stress_say("%s: %" PRIu64 " stall report(s), the first %" PRIu64 " ms after the retire "
             "(threshold %llu ms): %s", ebra_reclaim_backend_name(backend), rep_stalls,
             after / 1000000, STALL_NS / 1000000, rep_msg);
  STRESS_CHECK(rep_stalls == 1, "%" PRIu64 " stall reports for one stall", rep_stalls);
  /* The goal is 2 x the threshold.  Under TSan on a loaded 2-CPU machine
   * the watchdog's own wake-ups run several times slower (seen: 200 ms
   * late once in several runs), so there the bound is 4 x; the other
   * builds check 2 x. */
  const uint64_t bound = (stress_sanitizers() & EBRA_FEATURE_TSAN ? 4 : 2) * STALL_NS;
  STRESS_CHECK(after > 0 && after <= bound, "stall reported %" PRIu64 " ms after the "
               "retire (threshold %llu ms, bound %" PRIu64 " ms)", after / 1000000,
               STALL_NS / 1000000, bound / 1000000);
  STRESS_CHECK(strstr(rep_msg, "edges-stall") && strstr(rep_msg, tid),
               "the report names neither the domain nor thread %d", reader_tid);
  STRESS_CHECK(rep_other == 0, "other reports");
  pthread_mutex_unlock(&rep_lock);
  STRESS_CHECK(st.stalls == 1, "stats.stalls %" PRIu64, st.stalls);
  ebra_set_report_hook(NULL, NULL);
  STRESS_CHECK(ebra_domain_destroy(dom) == 0, "domain destroy");
}

/* ---- chain ------------------------------------------------------------------- */

#define CHAINS 16
#define LINKS 40
static _Atomic uint64_t links_run, deadlk_seen;
static ebra_weak_t chain_handles[CHAINS];

static void chain_link(void *arg) {
  uintptr_t left = (uintptr_t)arg;
  atomic_fetch_add(&links_run, 1);
  void *o = ebra_pool_alloc(pool);
  STRESS_CHECK(o, "alloc in a link");
  STRESS_CHECK(ebra_retire(dom, o) == 0, "retire in a link");
  if (left > 1)
    STRESS_CHECK(ebra_retire_call(dom, chain_link, (void *)(left - 1)) == 0, "defer a link");
}

/* A weak cleanup that calls into the domain: kills the next chain's
 * handle, starts a chain, tries a barrier. */
static void chain_cleanup(void *arg, ebra_weak_t h) {
  (void)h;
  const uintptr_t i = (uintptr_t)arg;
  if (i + 1 < CHAINS)
    ebra_weak_kill(tab, chain_handles[i + 1]); /* -ESTALE if already dead */
  STRESS_CHECK(ebra_retire_call(dom, chain_link, (void *)(uintptr_t)LINKS) == 0, "start chain");
  if (ebra_domain_barrier(dom) == -EDEADLK)
    atomic_fetch_add(&deadlk_seen, 1);
}

static void *chain_thread(void *arg) {
  const uintptr_t i = (uintptr_t)arg;
  void *o = ebra_pool_alloc(pool);
  STRESS_CHECK(o, "alloc");
  STRESS_CHECK(ebra_weak_create(tab, o, &chain_handles[i]) == 0, "create");
  return NULL;
}

static void run_chain(void) {
  stress_hook_install();
  stress_hook_allow(EBRA_ERR_BAD_CALL, true); /* the barriers refused in cleanups */
  uint64_t rounds = 0;
  const uint64_t t0 = now_ms();
  do {
    atomic_store(&links_run, 0);
    atomic_store(&deadlk_seen, 0);
    char name[32];
    snprintf(name, sizeof name, "edges-chain-%" PRIu64, rounds);
    dom = make_domain(name, 4, 0, 0);
    tab = ebra_weak_table_create(dom, NULL);
    STRESS_CHECK(tab, "table");
    for (uintptr_t i = 0; i < CHAINS; i++)
      stress_join(stress_spawn(1, chain_thread, (void *)i, 0));
    for (uintptr_t i = 0; i < CHAINS; i++)
      STRESS_CHECK(ebra_weak_add_cleanup(tab, chain_handles[i], chain_cleanup, (void *)i) == 0,
                   "add cleanup");
    ebra_weak_kill(tab, chain_handles[0]); /* the rest die in cleanups */
    STRESS_CHECK(ebra_domain_unregister_thread(dom) == 0, "unregister");
    /* Wait until every handle died and was reclaimed, not for the chains. */
    ebra_weak_stats_t ws;
    for (int k = 0; k < 20000; k++) {
      STRESS_CHECK(ebra_weak_table_stats(tab, &ws) == 0, "table stats");
      if (ws.live == 0)
        break;
      sleep_us(100);
    }
    STRESS_CHECK(ws.live == 0, "handles still live: %" PRIu64, ws.live);
    int rc = ebra_weak_table_destroy(tab);
    STRESS_CHECK(rc == 0, "table destroy: %d", rc);
    rc = ebra_domain_destroy(dom);
    STRESS_CHECK(rc == 0, "domain destroy after cleanups that called into it: %d", rc);
    STRESS_CHECK(atomic_load(&links_run) == (uint64_t)CHAINS * LINKS,
                 "destroy returned with %" PRIu64 " of %d links run", atomic_load(&links_run),
                 CHAINS * LINKS);
    STRESS_CHECK(atomic_load(&deadlk_seen) == CHAINS, "barrier in a cleanup: %" PRIu64
                 " of %d refused", atomic_load(&deadlk_seen), CHAINS);
    STRESS_CHECK(pool_live() == 0, "pool live %" PRIu64 " after destroy", pool_live());
    rounds++;
  } while (now_ms() - t0 < args.duration_ms / 4 && rounds < 200);
  stress_say("%s: %" PRIu64 " rounds of %d chains x %d links, destroy lost nothing",
             ebra_reclaim_backend_name(backend), rounds, CHAINS, LINKS);
}

/* ---- tdestroy ---------------------------------------------------------------- */

#define TD_HANDLES 4096
static ebra_weak_t td_handles[TD_HANDLES];
static ebra_weak_table_t *_Atomic td_table;
static _Atomic uint64_t td_resolves;

static void *td_reader(void *arg) {
  stress_rng_t rng;
  stress_rng_init(&rng, args.seed, (uintptr_t)arg);
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    ebra_weak_table_t *t = atomic_load(&td_table);
    STRESS_CHECK(ebra_read_lock(dom) == 0, "read lock");
    for (int i = 0; i < 256; i++) {
      void *o = ebra_weak_get(t, td_handles[stress_rng_below(&rng, TD_HANDLES)]);
      STRESS_CHECK(o == NULL, "a stale handle resolved");
    }
    ebra_read_unlock(dom);
    atomic_fetch_add_explicit(&td_resolves, 256, memory_order_relaxed);
  }
  ebra_thread_exit();
  return NULL;
}

static void run_tdestroy(void) {
  stress_hook_install();
  stress_hook_allow(EBRA_ERR_USE_AFTER_DESTROY, true); /* misses on the destroyed table */
  dom = make_domain("edges-tdestroy", 0, 0, 0);
  uint64_t rounds = 0;
  ebra_weak_table_t *t = ebra_weak_table_create(dom, NULL);
  STRESS_CHECK(t, "table");
  for (int i = 0; i < TD_HANDLES; i++) { /* stale handles: created, killed */
    void *o = ebra_pool_alloc(pool);
    STRESS_CHECK(o && ebra_weak_create(t, o, &td_handles[i]) == 0, "create");
    STRESS_CHECK(ebra_weak_kill(t, td_handles[i]) == 0, "kill");
  }
  STRESS_CHECK(ebra_domain_barrier(dom) == 0, "barrier");
  atomic_store(&td_table, t);
  const size_t nr = args.threads > 1 ? args.threads - 1 : 1;
  stress_threads_t *th = stress_spawn(nr, td_reader, NULL, 0);
  const uint64_t t0 = now_ms();
  while (now_ms() - t0 < args.duration_ms) {
    sleep_us(2000);
    STRESS_CHECK(ebra_weak_table_destroy(t) == 0, "table destroy");
    rounds++;
    /* The next table: new handles over the same slots' memory, killed. */
    ebra_weak_table_t *n = ebra_weak_table_create(dom, NULL);
    STRESS_CHECK(n, "table");
    for (int i = 0; i < 64; i++) {
      void *o = ebra_pool_alloc(pool);
      ebra_weak_t h;
      STRESS_CHECK(o && ebra_weak_create(n, o, &h) == 0, "create");
      STRESS_CHECK(ebra_weak_kill(n, h) == 0, "kill");
    }
    STRESS_CHECK(ebra_domain_barrier(dom) == 0, "barrier");
    atomic_store(&td_table, n); /* readers move on; some still use t */
    t = n;
  }
  atomic_store(&stop, 1);
  stress_join(th);
  STRESS_CHECK(ebra_weak_table_destroy(t) == 0, "table destroy");
  STRESS_CHECK(ebra_domain_destroy(dom) == 0, "domain destroy");
  STRESS_CHECK(pool_live() == 0, "pool live %" PRIu64, pool_live());
  stress_say("%s: %" PRIu64 " table destroys under %zu readers, %" PRIu64 " stale resolves",
             ebra_reclaim_backend_name(backend), rounds, nr, atomic_load(&td_resolves));
}

/* ---- nomem ------------------------------------------------------------------- */

#define NM_PER 2048
static ebra_weak_t *nm_handles;
static void **nm_objs;
static _Atomic int nm_go, nm_ready;
static _Atomic uint64_t nm_fail;

static void *nm_worker(void *arg) {
  const uintptr_t id = (uintptr_t)arg;
  STRESS_CHECK(ebra_read_lock(dom) == 0, "register");
  ebra_read_unlock(dom);
  atomic_fetch_add(&nm_ready, 1);
  while (!atomic_load(&nm_go))
    sleep_us(100);
  for (size_t i = id * NM_PER; i < (id + 1) * NM_PER; i++) {
    if (ebra_weak_kill(tab, nm_handles[i]) != 0)
      atomic_fetch_add(&nm_fail, 1);
    int rc = ebra_retire(dom, nm_objs[i]);
    if (rc == -ENOMEM) /* only inside a section: not here */
      atomic_fetch_add(&nm_fail, 1);
  }
  return NULL;
}

static void run_nomem(void) {
  if (stress_sanitizers()) {
    stress_say("nomem: skipped under sanitizers (their allocators need the address space)");
    return;
  }
  stress_hook_install();
  stress_hook_allow(EBRA_ERR_NOMEM, true);
  dom = make_domain("edges-nomem", 65536, UINT64_MAX, 0);
  tab = ebra_weak_table_create(dom, NULL);
  STRESS_CHECK(tab, "table");
  const size_t n = args.threads * NM_PER;
  nm_handles = calloc(n, sizeof *nm_handles);
  nm_objs = calloc(n, sizeof *nm_objs);
  STRESS_CHECK(nm_handles && nm_objs, "calloc");
  for (size_t i = 0; i < n; i++) {
    void *o = ebra_pool_alloc(pool);
    nm_objs[i] = ebra_pool_alloc(pool);
    STRESS_CHECK(o && nm_objs[i] && ebra_weak_create(tab, o, &nm_handles[i]) == 0, "create");
  }
  stress_threads_t *t = stress_spawn(args.threads, nm_worker, NULL, 1); /* i-th gets (void *)i */
  (void)t;
  while (atomic_load(&nm_ready) < (int)args.threads)
    sleep_us(100);
  /* The address space as it is now, plus 1 MiB: no new 2.6 MB batch fits. */
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  STRESS_CHECK(f && fscanf(f, "%lu", &pages) == 1, "statm");
  fclose(f);
  struct rlimit old, lim;
  getrlimit(RLIMIT_AS, &old);
  lim = old;
  lim.rlim_cur = pages * (rlim_t)sysconf(_SC_PAGESIZE) + (1u << 20);
  STRESS_CHECK(setrlimit(RLIMIT_AS, &lim) == 0, "setrlimit");
  void *probe = malloc(65536u * 48u);
  const bool limited = probe == NULL;
  free(probe);
  atomic_store(&nm_go, 1);
  stress_join(t);
  setrlimit(RLIMIT_AS, &old);
  STRESS_CHECK(limited, "the address-space limit did not make a batch allocation fail");
  STRESS_CHECK(atomic_load(&nm_fail) == 0, "%" PRIu64 " kills/retires failed",
               atomic_load(&nm_fail));
  STRESS_CHECK(ebra_domain_barrier(dom) == 0, "barrier");
  ebra_weak_stats_t ws;
  STRESS_CHECK(ebra_weak_table_stats(tab, &ws) == 0 && ws.live == 0, "weak live %" PRIu64,
               ws.live);
  STRESS_CHECK(pool_live() == 0, "pool live %" PRIu64 " after kills and retires under ENOMEM",
               pool_live());
  STRESS_CHECK(ebra_weak_table_destroy(tab) == 0, "table destroy");
  STRESS_CHECK(ebra_domain_destroy(dom) == 0, "domain destroy");
  stress_say("%s: %zu kills and %zu retires with allocation failing (%" PRIu64
             " ENOMEM reports): every object back in its pool",
             ebra_reclaim_backend_name(backend), n, n, stress_hook_count(EBRA_ERR_NOMEM));
  free(nm_handles);
  free(nm_objs);
}

int main(int argc, char **argv) {
  const stress_opt_t extra[] = {
      {.letter = 'b', .help = "reclamation backend", .value = &backend_index,
       .names = stress_backend_names},
      {.letter = 'm', .help = "mode", .value = &mode_index, .names = mode_names},
  };
  stress_parse_args("stress_edges", argc, argv, &args, 1000, extra, 2);
  static char name[64];
  backend = stress_backend(backend_index);
  snprintf(name, sizeof name, "stress_edges %s/%s", mode_names[mode_index],
           ebra_reclaim_backend_name(backend));
  stress_set_name(name);
  const ebra_pool_config_t pc = {.name = "edges", .object_size = 64,
                                 .flags = EBRA_POOL_SECURE_CLEAR};
  pool = ebra_pool_create(&pc);
  STRESS_CHECK(pool, "pool");
  switch ((enum mode)mode_index) {
  case M_BACKLOG: run_backlog(); break;
  case M_STALL: run_stall(); break;
  case M_CHAIN: run_chain(); break;
  case M_TDESTROY: run_tdestroy(); break;
  case M_NOMEM: run_nomem(); break;
  }
  STRESS_CHECK(ebra_pool_destroy(pool) == 0, "pool destroy");
  return stress_failures() ? 1 : 0;
}

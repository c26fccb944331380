/* SPDX-License-Identifier: MIT */
/* test_reclaim.c — reclamation domains: backends, sections, retire,
 * barrier, batching, stats, registration and destroy.
 *
 * Claims checked (every per-backend case runs for urcu-memb, urcu-qsbr and
 * ck-epoch):
 *  - ebra_domain_create takes the backend from the config; DEFAULT reads
 *    EBRA_RECLAIM (checked in children re-executed with the variable set):
 *    urcu-memb, urcu-qsbr, ck-epoch select them, unset means urcu-memb, and
 *    a bad value is one EBRA_ERR_BAD_OPTION report (once, not per domain)
 *    with memb kept: domains are still created; an explicit backend wins,
 *    and ebra_option_set_text(EBRA_OPT_RECLAIM) applies to later domains.  batch_size > 65536 or an unknown backend: NULL, EINVAL, one
 *    EBRA_ERR_BAD_CONFIG.  ebra_domain_backend and ebra_reclaim_backend_name
 *    round-trip.
 *  - sections nest; ebra_domain_barrier inside one is -EDEADLK; an unlock
 *    without a lock is -EPERM, a NULL domain -EINVAL (EBRA_ERR_BAD_CALL).
 *  - ebra_retire of pool objects: after a barrier they are back in their
 *    pool (objects_live drops by the count), and the domain's stats say
 *    retired == reclaimed, pending == 0, pending_bytes == 0,
 *    grace_periods >= 1, p50 <= p90 <= p99 <= max.
 *  - retire of malloc'd memory -EFAULT, of an interior pointer -EINVAL, of
 *    a free object -EALREADY (DOUBLE_FREE), twice -EALREADY (HELD: the
 *    reclamation layer holds it, a kind of its own); the object
 *    retired once is freed once.
 *  - a retired object comes back once (src/object.c's return, no second
 *    lookup): afterwards a free or a retire of it is -EALREADY, secure
 *    clearing zeroed it, the audit finds no duplicate, alloc hands it out
 *    again, it can be retired again, and it is freed exactly once.
 *  - a retired object whose pool was destroyed is skipped by the
 *    reclaimer, which leaves a new pool's objects alone.
 *  - ebra_retire_call runs fn(arg) exactly once, by the barrier, on a
 *    thread other than the caller.
 *  - a reader whose section began before the retire keeps the object: while
 *    the reader holds its section, and a barrier from a third thread waits,
 *    the object is not reclaimed (stats reclaimed == 0, pending == 1,
 *    pending_bytes == object size, pool objects_live unchanged, contents
 *    intact as the reader sees them, the barrier has not returned); once
 *    the reader leaves, the barrier returns and the object is reclaimed.
 *  - batching: a batch of batch_size entries is submitted and reclaimed
 *    without a barrier; a batch older than max_batch_age_ns is stolen and
 *    reclaimed without a barrier.
 *  - stats.threads counts registered threads; register/unregister change
 *    it; a thread that exits is unregistered.
 *  - ebra_domain_destroy: -EBUSY with a weak table or another registered
 *    thread (EBRA_ERR_BAD_CALL); waits for what is retired; then every
 *    call on it, a second destroy included, is -EBADF
 *    (EBRA_ERR_USE_AFTER_DESTROY).
 *  - qsbr: a thread explicitly registered (online) with one qsbr domain and
 *    implicitly with another is still protected by its sections in the
 *    first.
 *
 * Each case runs in its own forked child; with a case name as argument only
 * that case runs, in process.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"

extern char **environ;

static const ebra_reclaim_backend_t backends[] = {
    EBRA_RECLAIM_URCU_MEMB, EBRA_RECLAIM_URCU_QSBR, EBRA_RECLAIM_CK_EPOCH};
#define NBACKENDS (sizeof backends / sizeof backends[0])

enum { OBJ_SIZE = 64 };

/* ---- helpers ------------------------------------------------------------ */

static ebra_domain_t *domain_new(ebra_reclaim_backend_t be, unsigned batch, uint64_t age_ns)
{
  ebra_domain_config_t c = {.name = ebra_reclaim_backend_name(be), .backend = be,
                            .batch_size = batch, .max_batch_age_ns = age_ns};
  ebra_domain_t *d = ebra_domain_create(&c);
  CHECK(d != NULL);
  CHECK_EQ(ebra_domain_backend(d), be);
  return d;
}

static ebra_domain_stats_t dstats(ebra_domain_t *d)
{
  ebra_domain_stats_t s;
  memset(&s, 0xa5, sizeof s);
  CHECK_EQ(ebra_domain_stats(d, &s), 0);
  return s;
}

/* Poll the domain's stats until reclaimed >= want or ms passed. */
static int wait_reclaimed(ebra_domain_t *d, uint64_t want, long ms)
{
  const uint64_t end = now_ms() + (uint64_t)ms;
  for (;;) {
    if (dstats(d).reclaimed >= want)
      return 1;
    if (now_ms() >= end)
      return 0;
    sleep_ms(2);
  }
}

static void check_drained(ebra_domain_t *d, uint64_t retired)
{
  ebra_domain_stats_t s = dstats(d);
  CHECK_EQ(s.retired, retired);
  CHECK_EQ(s.reclaimed, retired);
  CHECK_EQ(s.pending, 0);
  CHECK_EQ(s.pending_bytes, 0);
  if (retired)
    CHECK(s.grace_periods >= 1);
  CHECK(s.gp_ns_p50 <= s.gp_ns_p90);
  CHECK(s.gp_ns_p90 <= s.gp_ns_p99);
  CHECK(s.gp_ns_p99 <= s.gp_ns_max);
  CHECK(s.reuse_ns_p50 <= s.reuse_ns_p99);
}

/* ---- config, names, environment ----------------------------------------- */

static void test_names(void)
{
  CHECK(strcmp(ebra_reclaim_backend_name(EBRA_RECLAIM_URCU_MEMB), "urcu-memb") == 0);
  CHECK(strcmp(ebra_reclaim_backend_name(EBRA_RECLAIM_URCU_QSBR), "urcu-qsbr") == 0);
  CHECK(strcmp(ebra_reclaim_backend_name(EBRA_RECLAIM_CK_EPOCH), "ck-epoch") == 0);
  for (size_t b = 0; b < NBACKENDS; b++) {
    ebra_domain_t *d = domain_new(backends[b], 0, 0);
    CHECK(strcmp(ebra_reclaim_backend_name(ebra_domain_backend(d)),
                 ebra_reclaim_backend_name(backends[b])) == 0);
    ebra_domain_stats_t s = dstats(d);
    CHECK_EQ(s.batch_size, 64);               /* documented default */
    CHECK_EQ(s.max_batch_age_ns, 1000000);    /* documented default: 1 ms */
    CHECK_EQ(s.retired, 0);
    CHECK_EQ(s.threads, 0);
    CHECK_EQ(ebra_domain_destroy(d), 0);
  }
  CHECK_NO_REPORTS();
}

static void test_bad_config(void)
{
  ebra_domain_config_t c = {.backend = EBRA_RECLAIM_URCU_MEMB, .batch_size = 65537};
  errno = 0;
  CHECK(ebra_domain_create(&c) == NULL);
  CHECK_EQ(errno, EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CONFIG, 1);

  c.batch_size = 0;
  c.backend = (ebra_reclaim_backend_t)99;
  errno = 0;
  CHECK(ebra_domain_create(&c) == NULL);
  CHECK_EQ(errno, EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CONFIG, 1);

  /* The largest batch is accepted, by create and by set_batching. */
  c.backend = EBRA_RECLAIM_CK_EPOCH;
  c.batch_size = 65536;
  ebra_domain_t *d = ebra_domain_create(&c);
  CHECK(d != NULL);
  CHECK_EQ(dstats(d).batch_size, 65536);
  CHECK_EQ(ebra_domain_set_batching(d, 65537, 0), -EINVAL);
  CHECK_EQ(dstats(d).batch_size, 65536);
  CHECK_EQ(ebra_domain_set_batching(d, 65536, 5000000), 0);
  CHECK_EQ(dstats(d).max_batch_age_ns, 5000000);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  test_hook_reset(); /* set_batching's rejection may or may not report */
}

/* Child: EBRA_RECLAIM is set (or not) by the parent; mode names the
 * expected backend, or "bad". */
static int env_child(const char *mode)
{
  test_hook_install();
  if (strcmp(mode, "bad") == 0) {
    /* A bad EBRA_RECLAIM is an option like any other: reported once, at
     * first use, and the default (memb) kept; creating domains works. */
    ebra_domain_t *d0 = ebra_domain_create(NULL);
    CHECK(d0 != NULL);
    CHECK_EQ(ebra_domain_backend(d0), EBRA_RECLAIM_URCU_MEMB);
    CHECK_REPORTS(EBRA_ERR_BAD_OPTION, 1);
    long v = -1;
    CHECK_EQ(ebra_option_get(EBRA_OPT_RECLAIM, &v), 0);
    CHECK_EQ(v, EBRA_RECLAIM_URCU_MEMB);
    CHECK_EQ(ebra_option_origin(EBRA_OPT_RECLAIM), EBRA_OPTION_FROM_DEFAULT);
    ebra_domain_config_t c = {.name = "bad-env"};
    ebra_domain_t *d1 = ebra_domain_create(&c);
    CHECK(d1 != NULL);
    CHECK_EQ(ebra_domain_backend(d1), EBRA_RECLAIM_URCU_MEMB);
    CHECK_NO_REPORTS(); /* once, not per domain */
    /* An explicit backend wins over the option. */
    c.backend = EBRA_RECLAIM_CK_EPOCH;
    ebra_domain_t *d = ebra_domain_create(&c);
    CHECK(d != NULL);
    CHECK_EQ(ebra_domain_backend(d), EBRA_RECLAIM_CK_EPOCH);
    /* The option set by API applies to domains created after. */
    CHECK_EQ(ebra_option_set_text(EBRA_OPT_RECLAIM, "urcu-qsbr"), 0);
    ebra_domain_t *d2 = ebra_domain_create(NULL);
    CHECK(d2 != NULL);
    CHECK_EQ(ebra_domain_backend(d2), EBRA_RECLAIM_URCU_QSBR);
    CHECK_EQ(ebra_domain_destroy(d2), 0);
    CHECK_EQ(ebra_domain_destroy(d), 0);
    CHECK_EQ(ebra_domain_destroy(d1), 0);
    CHECK_EQ(ebra_domain_destroy(d0), 0);
    CHECK_NO_REPORTS();
    return 0;
  }
  ebra_reclaim_backend_t want = EBRA_RECLAIM_DEFAULT;
  for (size_t b = 0; b < NBACKENDS; b++)
    if (strcmp(mode, ebra_reclaim_backend_name(backends[b])) == 0)
      want = backends[b];
  CHECK(want != EBRA_RECLAIM_DEFAULT);
  ebra_domain_t *d1 = ebra_domain_create(NULL);
  CHECK(d1 != NULL);
  CHECK_EQ(ebra_domain_backend(d1), want);
  ebra_domain_config_t c = {.name = "from-env", .backend = EBRA_RECLAIM_DEFAULT};
  ebra_domain_t *d2 = ebra_domain_create(&c);
  CHECK(d2 != NULL);
  CHECK_EQ(ebra_domain_backend(d2), want);
  /* It works: one retire, one barrier. */
  ebra_pool_t *pool = test_pool("env-pool", OBJ_SIZE);
  void *p = ebra_pool_alloc(pool);
  CHECK(p != NULL);
  CHECK_EQ(ebra_retire(d2, p), 0);
  CHECK_EQ(ebra_domain_barrier(d2), 0);
  CHECK_EQ(test_stats(pool).objects_live, 0);
  CHECK_EQ(ebra_domain_destroy(d1), 0);
  CHECK_EQ(ebra_domain_destroy(d2), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
  return 0;
}

/* Re-execute this binary as "--env-child mode" with every EBRA_* variable
 * removed and var (if not NULL) added; the child must exit 0. */
static void expect_env_child(const char *mode, const char *var)
{
  size_t n = 0;
  while (environ[n] != NULL)
    n++;
  char **envp = calloc(n + 2, sizeof *envp);
  CHECK(envp != NULL);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "EBRA_", 5) != 0)
      envp[k++] = environ[i];
  if (var)
    envp[k++] = (char *)var;
  envp[k] = NULL;
  char *argv[] = {"test_reclaim", "--env-child", (char *)mode, NULL};
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    execve("/proc/self/exe", argv, envp);
    _exit(127);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  free(envp);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "env child %s (%s) failed: status %#x\n", mode, var ? var : "unset",
            status);
    exit(1);
  }
}

static void test_environment(void)
{
  expect_env_child("urcu-memb", NULL);
  expect_env_child("urcu-memb", "EBRA_RECLAIM=urcu-memb");
  expect_env_child("urcu-qsbr", "EBRA_RECLAIM=urcu-qsbr");
  expect_env_child("ck-epoch", "EBRA_RECLAIM=ck-epoch");
  expect_env_child("bad", "EBRA_RECLAIM=hazard-pointers");
}

/* ---- per backend: sections, retire, barrier ------------------------------ */

static void case_nested_sections(ebra_reclaim_backend_t be)
{
  ebra_pool_t *pool = test_pool("nested", OBJ_SIZE);
  ebra_domain_t *d = domain_new(be, 0, 0);
  CHECK_EQ(ebra_read_lock(d), 0);
  CHECK_EQ(ebra_read_lock(d), 0);
  void *p = ebra_pool_alloc(pool);
  CHECK(p != NULL);
  CHECK_EQ(ebra_retire(d, p), 0); /* retire inside a section is allowed */
  ebra_read_unlock(d);
  /* Still inside the outer section: a barrier would wait for ourselves. */
  CHECK_EQ(ebra_domain_barrier(d), -EDEADLK);
  test_hook_reset(); /* the kind of that report is not part of the contract */
  ebra_read_unlock(d);
  CHECK_EQ(ebra_domain_barrier(d), 0);
  CHECK_EQ(test_stats(pool).objects_live, 0);
  check_drained(d, 1);
  /* Sections work again after the barrier, nested three deep. */
  for (int i = 0; i < 3; i++)
    CHECK_EQ(ebra_read_lock(d), 0);
  for (int i = 0; i < 3; i++)
    ebra_read_unlock(d);
  CHECK_EQ(ebra_domain_barrier(d), 0);
  CHECK_NO_REPORTS();
  /* An unlock without a lock, and NULL domains, are bad calls. */
  ebra_read_unlock(d);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  CHECK_EQ(ebra_read_lock(NULL), -EINVAL);
  ebra_read_unlock(NULL);
  CHECK_EQ(ebra_quiescent(NULL), -EINVAL);
  CHECK_EQ(ebra_domain_thread_offline(NULL), -EINVAL);
  CHECK_EQ(ebra_domain_thread_online(NULL), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 5);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

static void case_retire_objects(ebra_reclaim_backend_t be)
{
  enum { N = 100 }; /* more than one default batch */
  ebra_pool_t *pool = test_pool("retire", OBJ_SIZE);
  ebra_domain_t *d = domain_new(be, 0, 0);
  void *obj[N];
  for (int i = 0; i < N; i++) {
    obj[i] = ebra_pool_alloc(pool);
    CHECK(obj[i] != NULL);
  }
  const uint64_t live0 = test_stats(pool).objects_live;
  CHECK_EQ(live0, N);
  for (int i = 0; i < N; i++)
    CHECK_EQ(ebra_retire(d, obj[i]), 0);
  CHECK_EQ(dstats(d).retired, N);
  CHECK_EQ(ebra_domain_barrier(d), 0);
  CHECK_EQ(test_stats(pool).objects_live, live0 - N);
  check_drained(d, N);
  ebra_domain_stats_t s = dstats(d);
  CHECK(s.batches >= 2); /* 100 entries, batches of 64 */
  CHECK(s.grace_periods >= 1);
  CHECK(s.gp_ns_max > 0 || s.grace_periods == 0);
  CHECK_EQ(s.threads, 1); /* the caller, registered by its first retire */
  CHECK_AUDIT(pool);
  /* The objects are reusable. */
  for (int i = 0; i < N; i++)
    CHECK((obj[i] = ebra_pool_alloc(pool)) != NULL);
  for (int i = 0; i < N; i++)
    CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  CHECK_NO_REPORTS();
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

static void case_retire_errors(ebra_reclaim_backend_t be)
{
  ebra_pool_t *pool = test_pool("retire-errors", OBJ_SIZE);
  /* Batches age for a minute: p below stays retired until the barrier, so
   * the misuse checks never race the reclaimer's free of it (on a loaded
   * machine a 1 ms batch could be reclaimed in between). */
  ebra_domain_t *d = domain_new(be, 0, 60ull * 1000000000ull);

  void *m = malloc(OBJ_SIZE);
  CHECK(m != NULL);
  CHECK_EQ(ebra_retire(d, m), -EFAULT);
  CHECK_REPORTS(EBRA_ERR_FOREIGN_PTR, 1);
  free(m);

  unsigned char *p = ebra_pool_alloc(pool);
  CHECK(p != NULL);
  CHECK_EQ(ebra_retire(d, p + 8), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_MISALIGNED, 1);

  void *f = ebra_pool_alloc(pool);
  CHECK(f != NULL);
  CHECK_EQ(ebra_pool_free(pool, f), 0);
  CHECK_EQ(ebra_retire(d, f), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_DOUBLE_FREE, 1);

  const uint64_t live = test_stats(pool).objects_live;
  CHECK_EQ(live, 1);
  CHECK_EQ(ebra_retire(d, p), 0);
  CHECK_EQ(ebra_retire(d, p), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_HELD, 1);
  /* Freeing it directly while it awaits its grace period: refused in every
   * build (its held bit), so the reclaimer's free stays the only one. */
  CHECK_EQ(ebra_pool_free(pool, p), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_HELD, 1);
  CHECK_EQ(test_stats(pool).objects_live, 1);
  CHECK_EQ(ebra_retire(d, NULL), -EINVAL);
  test_hook_reset();

  CHECK_EQ(ebra_domain_barrier(d), 0);
  check_drained(d, 1); /* only the successful retire counts */
  CHECK_EQ(test_stats(pool).objects_live, 0);
  CHECK_AUDIT(pool);
  /* Once reclaimed it is a free object: retiring it again is -EALREADY. */
  CHECK_EQ(ebra_retire(d, p), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_DOUBLE_FREE, 1);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

/* Allocate from pool until it hands out want (at most MAX_FIND objects);
 * the others stay allocated in got[], their count in *n. */
enum { MAX_FIND = 8192 };
static void *find_got[MAX_FIND];

static int alloc_until(ebra_pool_t *pool, const void *want, size_t *n)
{
  for (*n = 0; *n < MAX_FIND;) {
    void *q = ebra_pool_alloc(pool);
    CHECK(q != NULL);
    if (q == want)
      return 1;
    find_got[(*n)++] = q;
  }
  return 0;
}

static void free_got(ebra_pool_t *pool, size_t n)
{
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(ebra_pool_free(pool, find_got[i]), 0);
}

/* The reclaimer gives a retired object back through the claim ebra_retire
 * made, without looking it up or checking it again (src/object.c), so this
 * checks that the return does all a free must: afterwards the object is a
 * free object (a user free or a retire is -EALREADY: its free marker was
 * written, once: the audit finds no duplicate), secure clearing zeroed it,
 * its held bit is clear (it can be retired again), alloc hands it out
 * again and it is freed exactly once. */
static void case_return_once(ebra_reclaim_backend_t be)
{
  ebra_pool_config_t c = test_config("return-once", OBJ_SIZE);
  c.flags = EBRA_POOL_SECURE_CLEAR;
  ebra_pool_t *pool = ebra_pool_create(&c);
  CHECK(pool != NULL);
  ebra_domain_t *d = domain_new(be, 0, 60ull * 1000000000ull); /* see retire_errors */
  unsigned char *p = ebra_pool_alloc(pool);
  CHECK(p != NULL);
  memset(p, 0x5a, OBJ_SIZE);

  for (int round = 0; round < 2; round++) {
    CHECK_EQ(ebra_retire(d, p), 0);
    CHECK_EQ(ebra_pool_free(pool, p), -EALREADY); /* held */
    CHECK_REPORTS(EBRA_ERR_HELD, 1);
    CHECK_EQ(ebra_retire(d, p), -EALREADY);
    CHECK_REPORTS(EBRA_ERR_HELD, 1);
    CHECK_EQ(ebra_domain_barrier(d), 0);
    check_drained(d, (uint64_t)round + 1);
    CHECK_EQ(test_stats(pool).objects_live, 0);
    CHECK_AUDIT(pool);
    CHECK_EQ(ebra_pool_free(pool, p), -EALREADY); /* free, not held */
    CHECK_REPORTS(EBRA_ERR_DOUBLE_FREE, 1);
    CHECK_EQ(ebra_retire(d, p), -EALREADY);
    CHECK_REPORTS(EBRA_ERR_DOUBLE_FREE, 1);
    CHECK_AUDIT(pool);

    size_t n;
    CHECK(alloc_until(pool, p, &n));
    for (int i = 0; i < OBJ_SIZE; i++)
      CHECK_EQ(p[i], 0); /* the return cleared it */
    free_got(pool, n);
    memset(p, 0x5a, OBJ_SIZE);
  }
  CHECK_EQ(ebra_pool_free(pool, p), 0);
  CHECK_EQ(ebra_pool_free(pool, p), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_DOUBLE_FREE, 1);
  CHECK_EQ(test_stats(pool).objects_live, 0);
  CHECK_AUDIT(pool);
  CHECK_NO_REPORTS();
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

/* A retired object whose pool is destroyed before the grace period ends is
 * skipped at reclaim time (docs/DESIGN.md, "Limits"): its slab is unmapped,
 * so the reclaimer must not touch it, even when a new pool's slab now sits
 * at the same address. */
static void case_pool_gone(ebra_reclaim_backend_t be)
{
  ebra_pool_t *a = test_pool("gone", OBJ_SIZE);
  ebra_domain_t *d = domain_new(be, 0, 60ull * 1000000000ull);
  void *p = ebra_pool_alloc(a);
  CHECK(p != NULL);
  CHECK_EQ(ebra_retire(d, p), 0);
  CHECK_EQ(ebra_pool_destroy(a), 0);
  CHECK_REPORTS(EBRA_WARN_LIVE_AT_DESTROY, 1);
  ebra_pool_t *b = test_pool("after", OBJ_SIZE);
  void *q = ebra_pool_alloc(b); /* likely maps a slab where a's was */
  CHECK(q != NULL);
  CHECK_EQ(ebra_domain_barrier(d), 0);
  CHECK_EQ(dstats(d).reclaimed, 1);
  CHECK_EQ(test_stats(b).objects_live, 1);
  CHECK_AUDIT(b);
  CHECK_EQ(ebra_pool_free(b, q), 0);
  CHECK_NO_REPORTS();
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(ebra_pool_destroy(b), 0);
}

static _Atomic int call_count;
static pthread_t call_thread;
static void *_Atomic call_arg;

static void record_call(void *arg)
{
  call_thread = pthread_self();
  atomic_store(&call_arg, arg);
  atomic_fetch_add(&call_count, 1);
}

static void case_retire_call(ebra_reclaim_backend_t be)
{
  ebra_domain_t *d = domain_new(be, 0, 0);
  static int token;
  atomic_store(&call_count, 0);
  atomic_store(&call_arg, NULL);
  CHECK_EQ(ebra_retire_call(d, record_call, &token), 0);
  CHECK_EQ(ebra_domain_barrier(d), 0);
  CHECK_EQ(atomic_load(&call_count), 1);
  CHECK(atomic_load(&call_arg) == &token);
  CHECK(!pthread_equal(call_thread, pthread_self()));
  CHECK_EQ(ebra_domain_barrier(d), 0);
  CHECK_EQ(atomic_load(&call_count), 1); /* exactly once */
  check_drained(d, 1);
  CHECK_EQ(ebra_retire_call(d, NULL, &token), -EINVAL);
  test_hook_reset();
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(atomic_load(&call_count), 1);
}

/* A reader thread that enters a section, loads the published object with
 * ebra_deref, and holds the section until told to leave; it checks the
 * object's contents after the main thread retired it. */
typedef struct holder_s {
  ebra_domain_t *d;
  void *_Atomic slot; /* the published object */
  _Atomic int in_section, checked, after_done, leave;
  _Atomic int intact_before, intact_after;
} holder_t;

static int pattern_ok(const unsigned char *p, unsigned char v)
{
  for (size_t i = 0; i < OBJ_SIZE; i++)
    if (p[i] != v)
      return 0;
  return 1;
}

static void *holder_main(void *arg)
{
  holder_t *h = arg;
  /* Implicit registration: for qsbr this thread stays offline between
   * sections, and its section brings it online and keeps it there: it
   * announces no quiescent state until ebra_read_unlock. */
  CHECK_EQ(ebra_read_lock(h->d), 0);
  unsigned char *p = ebra_deref(h->d, (void *const *)&h->slot);
  atomic_store(&h->intact_before, pattern_ok(p, 0x5a));
  atomic_store(&h->in_section, 1);
  while (!atomic_load(&h->checked))
    sleep_ms(1);
  atomic_store(&h->intact_after, pattern_ok(p, 0x5a));
  atomic_store(&h->after_done, 1);
  while (!atomic_load(&h->leave))
    sleep_ms(1);
  ebra_read_unlock(h->d);
  return NULL;
}

typedef struct barrier_thread_s {
  ebra_domain_t *d;
  _Atomic int started, done;
  int rc;
} barrier_thread_t;

static void *barrier_main(void *arg)
{
  barrier_thread_t *b = arg;
  atomic_store(&b->started, 1);
  b->rc = ebra_domain_barrier(b->d); /* this thread is not registered */
  atomic_store(&b->done, 1);
  return NULL;
}

static void case_reader_keeps_object(ebra_reclaim_backend_t be)
{
  ebra_pool_t *pool = test_pool("held", OBJ_SIZE);
  ebra_domain_t *d = domain_new(be, 0, 0);
  unsigned char *p = ebra_pool_alloc(pool);
  CHECK(p != NULL);
  memset(p, 0x5a, OBJ_SIZE);
  static holder_t h;
  memset(&h, 0, sizeof h);
  h.d = d;
  atomic_store_explicit(&h.slot, p, memory_order_release);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, holder_main, &h), 0);
  while (!atomic_load(&h.in_section))
    sleep_ms(1);

  const uint64_t live = test_stats(pool).objects_live;
  CHECK_EQ(ebra_retire(d, p), 0);
  /* qsbr: the retire registered this thread implicitly, which leaves it
   * offline; going offline explicitly states what the test relies on: the
   * only thread the grace period may wait for is the reader.  Were this
   * thread online without announcing quiescent states, the grace period
   * would also wait for us, and reclaimed == 0 below would prove nothing
   * about the reader. */
  CHECK_EQ(ebra_domain_thread_offline(d), 0);
  /* Make sure a grace period is under way while the reader holds its
   * section: the reclaimer steals aged batches by itself, and a barrier
   * from a third (unregistered) thread steals every open batch.  Either
   * way the grace period must wait for the reader. */
  static barrier_thread_t bt;
  memset(&bt, 0, sizeof bt);
  bt.d = d;
  pthread_t tb;
  CHECK_EQ(pthread_create(&tb, NULL, barrier_main, &bt), 0);
  while (!atomic_load(&bt.started))
    sleep_ms(1);
  sleep_ms(50);
  ebra_domain_stats_t s = dstats(d);
  CHECK_EQ(s.retired, 1);
  CHECK_EQ(s.reclaimed, 0);
  CHECK_EQ(s.pending, 1);
  CHECK_EQ(s.pending_bytes, ebra_pool_object_size(pool));
  CHECK_EQ(test_stats(pool).objects_live, live);
  CHECK_EQ(atomic_load(&bt.done), 0); /* the barrier waits for the reader */
  atomic_store(&h.checked, 1);
  while (!atomic_load(&h.after_done))
    sleep_ms(1);
  CHECK_EQ(dstats(d).reclaimed, 0);
  CHECK_EQ(atomic_load(&bt.done), 0);
  atomic_store(&h.leave, 1);
  CHECK_EQ(pthread_join(th, NULL), 0);
  CHECK_EQ(pthread_join(tb, NULL), 0);
  CHECK_EQ(bt.rc, 0);
  CHECK_EQ(atomic_load(&h.intact_before), 1);
  CHECK_EQ(atomic_load(&h.intact_after), 1);
  /* The third thread's barrier returned after the reader left: the object
   * was reclaimed by then. */
  check_drained(d, 1);
  CHECK_EQ(test_stats(pool).objects_live, live - 1);
  CHECK_EQ(ebra_domain_barrier(d), 0);
  CHECK_EQ(dstats(d).threads, 1); /* the reader left at its exit */
  CHECK_NO_REPORTS();
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

static void case_batch_size(ebra_reclaim_backend_t be)
{
  ebra_pool_t *pool = test_pool("batch", OBJ_SIZE);
  /* A batch never ages out during the test: only its size can close it. */
  const uint64_t minute = 60ull * 1000000000ull;
  ebra_domain_t *d = domain_new(be, 0, minute);
  CHECK_EQ(ebra_domain_set_batching(d, 4, 0), 0);
  ebra_domain_stats_t s = dstats(d);
  CHECK_EQ(s.batch_size, 4);
  CHECK_EQ(s.max_batch_age_ns, minute); /* 0 keeps the value */
  void *obj[4];
  for (int i = 0; i < 4; i++)
    CHECK((obj[i] = ebra_pool_alloc(pool)) != NULL);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(ebra_retire(d, obj[i]), 0);
  sleep_ms(30);
  CHECK_EQ(dstats(d).reclaimed, 0); /* the batch is still open */
  CHECK_EQ(ebra_retire(d, obj[3]), 0); /* closes it */
  CHECK(wait_reclaimed(d, 4, 2000));
  s = dstats(d);
  CHECK_EQ(s.reclaimed, 4);
  CHECK_EQ(s.pending, 0);
  CHECK(s.batches >= 1);
  CHECK_EQ(test_stats(pool).objects_live, 0);
  CHECK_NO_REPORTS();
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

static void case_batch_age(ebra_reclaim_backend_t be)
{
  ebra_pool_t *pool = test_pool("age", OBJ_SIZE);
  ebra_domain_t *d = domain_new(be, 0, 0);
  CHECK_EQ(ebra_domain_set_batching(d, 1000, 1000000), 0);
  ebra_domain_stats_t s = dstats(d);
  CHECK_EQ(s.batch_size, 1000);
  CHECK_EQ(s.max_batch_age_ns, 1000000);
  /* Let the reclaimer go to sleep on an idle domain first. */
  sleep_ms(20);
  void *p = ebra_pool_alloc(pool);
  CHECK(p != NULL);
  CHECK_EQ(ebra_retire(d, p), 0);
  if (!wait_reclaimed(d, 1, 2000)) {
    fprintf(stderr, "%s: an aged batch (1 entry, max age 1 ms) was not reclaimed "
            "within 2 s without a barrier (stats: retired %llu reclaimed %llu)\n",
            ebra_reclaim_backend_name(be), (unsigned long long)dstats(d).retired,
            (unsigned long long)dstats(d).reclaimed);
    exit(1);
  }
  CHECK_EQ(test_stats(pool).objects_live, 0);
  CHECK_NO_REPORTS();
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

/* ---- registration and destroy ------------------------------------------- */

typedef struct regthread_s {
  ebra_domain_t *d;
  pthread_barrier_t *bar;
  int explicit_unregister;
  int rc;
} regthread_t;

static void *reg_main(void *arg)
{
  regthread_t *r = arg;
  r->rc = ebra_domain_register_thread(r->d);
  /* qsbr: explicitly registered means online; go offline before blocking,
   * or a grace period elsewhere in the process could wait for us. */
  CHECK_EQ(ebra_domain_thread_offline(r->d), 0);
  pthread_barrier_wait(r->bar); /* 1: registered */
  pthread_barrier_wait(r->bar); /* 2: main checked */
  if (r->explicit_unregister)
    CHECK_EQ(ebra_domain_unregister_thread(r->d), 0);
  return NULL;
}

static void case_thread_counts(ebra_reclaim_backend_t be)
{
  ebra_domain_t *d = domain_new(be, 0, 0);
  CHECK_EQ(dstats(d).threads, 0);
  CHECK_EQ(ebra_domain_register_thread(d), 0);
  CHECK_EQ(dstats(d).threads, 1);
  CHECK_EQ(ebra_domain_register_thread(d), 0); /* idempotent */
  CHECK_EQ(dstats(d).threads, 1);
  /* qsbr: we are online now; go offline before waiting for other threads. */
  CHECK_EQ(ebra_domain_thread_offline(d), 0);

  pthread_barrier_t bar;
  CHECK_EQ(pthread_barrier_init(&bar, NULL, 3), 0);
  regthread_t r1 = {.d = d, .bar = &bar, .explicit_unregister = 1};
  regthread_t r2 = {.d = d, .bar = &bar, .explicit_unregister = 0};
  pthread_t t1, t2;
  CHECK_EQ(pthread_create(&t1, NULL, reg_main, &r1), 0);
  CHECK_EQ(pthread_create(&t2, NULL, reg_main, &r2), 0);
  pthread_barrier_wait(&bar);
  CHECK_EQ(r1.rc, 0);
  CHECK_EQ(r2.rc, 0);
  CHECK_EQ(dstats(d).threads, 3);
  pthread_barrier_wait(&bar);
  CHECK_EQ(pthread_join(t1, NULL), 0); /* unregistered explicitly */
  CHECK_EQ(pthread_join(t2, NULL), 0); /* unregistered by its exit */
  CHECK_EQ(dstats(d).threads, 1);
  pthread_barrier_destroy(&bar);

  CHECK_EQ(ebra_domain_unregister_thread(d), 0);
  CHECK_EQ(dstats(d).threads, 0);
  CHECK_EQ(ebra_domain_unregister_thread(d), 0); /* not registered: no-op */
  CHECK_EQ(dstats(d).threads, 0);
  /* First use registers implicitly. */
  CHECK_EQ(ebra_read_lock(d), 0);
  ebra_read_unlock(d);
  CHECK_EQ(dstats(d).threads, 1);
  CHECK_NO_REPORTS();
  CHECK_EQ(ebra_domain_destroy(d), 0);
}

static void case_destroy(ebra_reclaim_backend_t be)
{
  ebra_pool_t *pool = test_pool("destroy", OBJ_SIZE);
  ebra_domain_t *d = domain_new(be, 0, 0);

  ebra_weak_table_t *t = ebra_weak_table_create(d, NULL);
  CHECK(t != NULL);
  CHECK_EQ(ebra_domain_destroy(d), -EBUSY);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1); /* a busy destroy is a bad call */
  CHECK_EQ(ebra_weak_table_destroy(t), 0);

  pthread_barrier_t bar;
  CHECK_EQ(pthread_barrier_init(&bar, NULL, 2), 0);
  regthread_t r = {.d = d, .bar = &bar, .explicit_unregister = 0};
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, reg_main, &r), 0);
  pthread_barrier_wait(&bar);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(ebra_domain_destroy(d), -EBUSY);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  pthread_barrier_wait(&bar);
  CHECK_EQ(pthread_join(th, NULL), 0);
  pthread_barrier_destroy(&bar);

  /* Destroy waits for what was retired, without a barrier of ours. */
  void *p = ebra_pool_alloc(pool);
  CHECK(p != NULL);
  CHECK_EQ(ebra_domain_set_batching(d, 1000, 60ull * 1000000000ull), 0);
  CHECK_EQ(ebra_retire(d, p), 0);
  CHECK_EQ(test_stats(pool).objects_live, 1);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(test_stats(pool).objects_live, 0);
  CHECK_NO_REPORTS();

  CHECK_EQ(ebra_domain_destroy(d), -EBADF);
  CHECK_EQ(ebra_domain_barrier(d), -EBADF);
  ebra_domain_stats_t s;
  CHECK_EQ(ebra_domain_stats(d, &s), -EBADF);
  CHECK_EQ(ebra_read_lock(d), -EBADF);
  ebra_read_unlock(d);
  CHECK_EQ(ebra_quiescent(d), -EBADF);
  CHECK_EQ(ebra_domain_thread_offline(d), -EBADF);
  CHECK_EQ(ebra_domain_thread_online(d), -EBADF);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 8);
  errno = 0;
  CHECK(ebra_weak_table_create(d, NULL) == NULL);
  CHECK_EQ(errno, EBADF);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

/* ---- qsbr: two domains on one thread --------------------------------------
 *
 * liburcu's online/offline state is per thread, shared by every qsbr
 * domain.  This thread registers explicitly with A (online: its sections
 * cost nothing) and then uses B implicitly.  A section of A entered after
 * that must still hold back A's grace periods. */

typedef struct retirer_s {
  ebra_domain_t *d;
  void *obj;
  _Atomic int done;
} retirer_t;

static void *retirer_main(void *arg)
{
  retirer_t *r = arg;
  CHECK_EQ(ebra_retire(r->d, r->obj), 0);
  CHECK_EQ(ebra_domain_barrier(r->d), 0);
  atomic_store(&r->done, 1);
  return NULL;
}

static void test_qsbr_two_domains(void)
{
  ebra_pool_t *pool = test_pool("qsbr-two", OBJ_SIZE);
  ebra_domain_t *a = domain_new(EBRA_RECLAIM_URCU_QSBR, 0, 0);
  ebra_domain_t *b = domain_new(EBRA_RECLAIM_URCU_QSBR, 0, 0);
  CHECK_EQ(ebra_domain_register_thread(a), 0); /* online, owes quiescent states */
  CHECK_EQ(ebra_quiescent(a), 0);
  CHECK_EQ(ebra_read_lock(b), 0); /* implicit registration with b: offline between sections */
  ebra_read_unlock(b);

  unsigned char *p = ebra_pool_alloc(pool);
  CHECK(p != NULL);
  memset(p, 0x5a, OBJ_SIZE);
  static void *_Atomic slot;
  atomic_store_explicit(&slot, p, memory_order_release);

  CHECK_EQ(ebra_read_lock(a), 0);
  unsigned char *q = ebra_deref(a, (void *const *)&slot);
  static retirer_t r;
  r.d = a;
  r.obj = q;
  atomic_store(&r.done, 0);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, retirer_main, &r), 0);
  sleep_ms(100);
  /* We are inside a section of a: the retirer's barrier cannot return. */
  const int early = atomic_load(&r.done);
  const uint64_t reclaimed = dstats(a).reclaimed;
  const int intact = pattern_ok(q, 0x5a);
  ebra_read_unlock(a);
  CHECK_EQ(ebra_domain_thread_offline(a), 0); /* let the retirer's grace period finish */
  CHECK_EQ(pthread_join(th, NULL), 0);
  if (early || reclaimed != 0 || !intact) {
    fprintf(stderr, "qsbr: object retired in domain A was reclaimed while this thread "
            "was inside ebra_read_lock(A) (barrier returned: %d, reclaimed: %llu, "
            "contents intact: %d)\n", early, (unsigned long long)reclaimed, intact);
    exit(1);
  }
  CHECK_EQ(ebra_domain_unregister_thread(a), 0);
  CHECK_EQ(ebra_domain_unregister_thread(b), 0);
  CHECK_NO_REPORTS();
  CHECK_EQ(ebra_domain_destroy(a), 0);
  CHECK_EQ(ebra_domain_destroy(b), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

/* ---- driver ----------------------------------------------------------------- *
 *
 * Each case (per backend) runs in a forked child of a parent that never
 * calls ebra, so a failing case cannot hide the others and no per-thread
 * backend state (liburcu's online state) leaks from one case into the
 * next.  With a case name as argument only that case runs, in process. */

typedef void backend_case_fn(ebra_reclaim_backend_t be);
typedef void plain_case_fn(void);

typedef struct test_case_s {
  const char *name;
  plain_case_fn *plain;
  backend_case_fn *per_backend;
} test_case_t;

static const test_case_t cases[] = {
    {"names", test_names, NULL},
    {"bad_config", test_bad_config, NULL},
    {"environment", test_environment, NULL},
    {"nested_sections", NULL, case_nested_sections},
    {"retire_objects", NULL, case_retire_objects},
    {"retire_errors", NULL, case_retire_errors},
    {"return_once", NULL, case_return_once},
    {"pool_gone", NULL, case_pool_gone},
    {"retire_call", NULL, case_retire_call},
    {"reader_keeps_object", NULL, case_reader_keeps_object},
    {"batch_size", NULL, case_batch_size},
    {"batch_age", NULL, case_batch_age},
    {"thread_counts", NULL, case_thread_counts},
    {"destroy", NULL, case_destroy},
    {"qsbr_two_domains", test_qsbr_two_domains, NULL},
};
#define NCASES (sizeof cases / sizeof cases[0])

typedef struct case_run_s {
  const test_case_t *c;
  size_t b;
} case_run_t;

static void run_one(const void *arg)
{
  const case_run_t *r = arg;
  if (r->c->plain)
    r->c->plain();
  else
    r->c->per_backend(backends[r->b]);
}

int main(int argc, char **argv)
{
  if (argc == 3 && strcmp(argv[1], "--env-child") == 0)
    return env_child(argv[2]);
  int failed = 0, ran = 0;
  for (size_t i = 0; i < NCASES; i++) {
    const test_case_t *c = &cases[i];
    if (argc == 2 && strcmp(argv[1], c->name) != 0)
      continue;
    for (size_t b = 0; b < (c->plain ? 1 : NBACKENDS); b++) {
      printf("%-22s %-10s", c->name, c->plain ? "" : ebra_reclaim_backend_name(backends[b]));
      fflush(stdout);
      ran++;
      const case_run_t r = {c, b};
      failed += !check_run_case(run_one, &r, argc == 2);
    }
  }
  if (ran == 0) {
    fprintf(stderr, "no case named %s\n", argc == 2 ? argv[1] : "?");
    return 2;
  }
  if (failed)
    printf("%d of %d cases FAILED\n", failed, ran);
  return failed ? 1 : 0;
}

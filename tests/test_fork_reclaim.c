/* SPDX-License-Identifier: MIT */
/* test_fork_reclaim.c — a fork child uses every backend's domains.
 *
 * For each backend, a parent whose other threads are registered with the
 * domain at the moment of the fork: one is nearly always inside a read
 * section, one left its section (qsbr: online, quiescent every ms), one
 * retires objects in a loop, so a grace period is usually in flight when
 * the fork comes.  The child, whose copy holds all of their registrations:
 *   - starts new threads (which take over the dead threads' stacks) that
 *     enter read sections, resolve weak handles and retire objects;
 *   - allocates, frees, retires, kills weak handles, runs barriers;
 *   - checks that every object it retired or killed went back to its pool
 *     (pool live count) and that every cleanup ran exactly once.
 * The child must exit 0 within 20 s (alarm), 4 forks per backend; the
 * parent checks each child's status.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

enum { FORKS = 4, CHILD_OBJECTS = 2000 };

static ebra_domain_t *dom;
static ebra_pool_t *pool;
static ebra_weak_table_t *tab;
static _Atomic bool stop;
static _Atomic int ready;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Mostly inside a section: 2 ms in, a moment out. */
static void *in_section(void *arg) {
  (void)arg;
  atomic_fetch_add(&ready, 1);
  while (!atomic_load(&stop)) {
    CHECK_EQ(ebra_read_lock(dom), 0);
    sleep_ms(2);
    ebra_read_unlock(dom);
    if (ebra_domain_backend(dom) == EBRA_RECLAIM_URCU_QSBR)
      ebra_quiescent(dom);
  }
  return NULL;
}

/* Registered, outside sections (qsbr: online, quiescent each ms). */
static void *left_section(void *arg) {
  (void)arg;
  CHECK_EQ(ebra_read_lock(dom), 0);
  ebra_read_unlock(dom);
  atomic_fetch_add(&ready, 1);
  while (!atomic_load(&stop)) {
    sleep_ms(1);
    if (ebra_domain_backend(dom) == EBRA_RECLAIM_URCU_QSBR)
      ebra_quiescent(dom);
  }
  return NULL;
}

static void *retiring(void *arg) {
  (void)arg;
  atomic_fetch_add(&ready, 1);
  while (!atomic_load(&stop)) {
    void *o = ebra_pool_alloc(pool);
    CHECK(o != NULL);
    CHECK_EQ(ebra_retire(dom, o), 0);
    if (ebra_domain_backend(dom) == EBRA_RECLAIM_URCU_QSBR)
      ebra_quiescent(dom);
  }
  return NULL;
}

static _Atomic uint64_t cleanups;
static void on_cleanup(void *arg, ebra_weak_t h) {
  (void)arg, (void)h;
  atomic_fetch_add(&cleanups, 1);
}

static void *child_reader(void *arg) {
  ebra_weak_t *h = arg;
  for (int i = 0; i < 200; i++) {
    CHECK_EQ(ebra_read_lock(dom), 0);
    (void)ebra_weak_get(tab, h[i % 16]);
    ebra_read_unlock(dom);
    void *o = ebra_pool_alloc(pool);
    CHECK(o != NULL);
    CHECK_EQ(ebra_retire(dom, o), 0);
    if (ebra_domain_backend(dom) == EBRA_RECLAIM_URCU_QSBR)
      ebra_quiescent(dom);
  }
  ebra_thread_exit();
  return NULL;
}

/* The child's whole life; returns its exit status. */
static int child_main(void) {
  alarm(20);
  atomic_store(&cleanups, 0);
  ebra_weak_t h[16];
  for (int i = 0; i < 16; i++) {
    void *o = ebra_pool_alloc(pool);
    CHECK(o != NULL);
    CHECK_EQ(ebra_weak_create(tab, o, &h[i]), 0);
    CHECK_EQ(ebra_weak_add_cleanup(tab, h[i], on_cleanup, NULL), 0);
  }
  pthread_t t[3];
  for (int i = 0; i < 3; i++)
    CHECK_EQ(pthread_create(&t[i], NULL, child_reader, h), 0);
  for (int i = 0; i < CHILD_OBJECTS; i++) {
    void *o = ebra_pool_alloc(pool);
    CHECK(o != NULL);
    if (i % 2)
      CHECK_EQ(ebra_pool_free(pool, o), 0);
    else
      CHECK_EQ(ebra_retire(dom, o), 0);
  }
  for (int i = 0; i < 3; i++)
    CHECK_EQ(pthread_join(t[i], NULL), 0);
  for (int i = 0; i < 16; i++)
    CHECK_EQ(ebra_weak_kill(tab, h[i]), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0); /* the cleanups' own returns */
  CHECK_EQ(atomic_load(&cleanups), 16);
  return 0;
}

static void run_backend(ebra_reclaim_backend_t be) {
  ebra_domain_config_t dc;
  memset(&dc, 0, sizeof dc);
  dc.name = "fork";
  dc.backend = be;
  dom = ebra_domain_create(&dc);
  CHECK(dom != NULL);
  pool = test_pool("fork-objs", 64);
  tab = ebra_weak_table_create(dom, NULL);
  CHECK(tab != NULL);
  for (int f = 0; f < FORKS; f++) {
    atomic_store(&stop, false);
    atomic_store(&ready, 0);
    pthread_t t[3];
    CHECK_EQ(pthread_create(&t[0], NULL, in_section, NULL), 0);
    CHECK_EQ(pthread_create(&t[1], NULL, left_section, NULL), 0);
    CHECK_EQ(pthread_create(&t[2], NULL, retiring, NULL), 0);
    while (atomic_load(&ready) < 3)
      sleep_ms(1);
    sleep_ms(5 + 7 * f);
    fflush(NULL);
    const pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
      _exit(child_main());
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "%s: fork %d: child %s %d\n", ebra_reclaim_backend_name(be), f,
              WIFSIGNALED(status) ? "killed by signal" : "exited with",
              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
      exit(1);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 3; i++)
      CHECK_EQ(pthread_join(t[i], NULL), 0);
  }
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_weak_table_destroy(tab), 0);
  CHECK_EQ(ebra_domain_destroy(dom), 0);
  ebra_pool_stats_t s = test_stats(pool);
  CHECK_EQ(s.objects_live, 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

int main(void) {
  test_hook_install();
  run_backend(EBRA_RECLAIM_URCU_MEMB);
  printf("urcu-memb: %d forks, children ok\n", FORKS);
  run_backend(EBRA_RECLAIM_URCU_QSBR);
  printf("urcu-qsbr: %d forks, children ok\n", FORKS);
  run_backend(EBRA_RECLAIM_CK_EPOCH);
  printf("ck-epoch: %d forks, children ok\n", FORKS);
  return 0;
}

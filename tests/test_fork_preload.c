/* SPDX-License-Identifier: MIT */
/* test_fork_preload.c — fork from a multithreaded program whose malloc is
 * ebra's (linked with libebra-malloc.so), with a reclamation domain and its
 * background reclaimer running.
 *
 * The parent: three workers allocate and free through malloc and
 * ebra_malloc, and retire pool objects and kill weak handles into a domain
 * (so its reclaimer and the stall watchdog run); a fourth thread, which
 * has allocated nothing itself, forks FORKS times.  Each child starts
 * three threads that allocate and free at once (malloc, ebra_malloc, pool
 * objects retired into the domain and killed weak handles), joins them,
 * waits for the domain's barrier and exits 0; it must do so within
 * CHILD_LIMIT_S, or the parent kills it and fails.
 *
 * What it checks: the child's fork handler restarts the domain's reclaimer
 * and the watchdog with pthread_create, which allocates the new thread's
 * TLS vector with calloc, that is with ebra's malloc.  The forking thread
 * has no cache for that size class, so the calloc attaches one, which takes
 * the registry lock.  Restarted under that lock (and the pools' locks), the
 * child deadlocked on its first fork.  With "threads":
 * pthread_setattr_default_np gives later threads a stack size unlike the
 * parent's threads', so the C library cannot hand the child's new threads a
 * stack (and TLS vector) left by a parent thread: every restart allocates.
 *
 * Usage: test_fork_preload [forks]
 */
#define _GNU_SOURCE /* pthread_setattr_default_np */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

enum { WORKERS = 3, CHILD_THREADS = 3, LIVE = 128, CHILD_LIMIT_S = 20 };

static ebra_pool_t *pool;
static ebra_domain_t *dom;
static ebra_weak_table_t *tab;
static _Atomic bool stop;
static unsigned forks = 16;

/* One round of everything a thread does: malloc/free and ebra_malloc/
 * ebra_free of assorted sizes, a pool object retired, another given a weak
 * handle and killed.  0, or the step that failed. */
static int churn_step(unsigned *seed, void **live) {
  *seed = *seed * 1103515245u + 12345u;
  const unsigned i = (*seed >> 8) % LIVE;
  const size_t n = (*seed >> 4) % 2000 + 1;
  if (i & 1) {
    free(live[i]);
    live[i] = malloc(n);
  } else {
    ebra_free(live[i]);
    live[i] = ebra_malloc(n);
  }
  if (!live[i])
    return 1;
  void *o = ebra_pool_alloc(pool);
  if (!o || ebra_retire(dom, o) != 0)
    return 2;
  o = ebra_pool_alloc(pool);
  ebra_weak_t h;
  if (!o || ebra_weak_create(tab, o, &h) != 0 || ebra_weak_kill(tab, h) != 0)
    return 3;
  return 0;
}

static void churn_free(void **live) {
  for (unsigned i = 0; i < LIVE; i++) {
    if (i & 1)
      free(live[i]);
    else
      ebra_free(live[i]);
    live[i] = NULL;
  }
}

static void *worker(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  void *live[LIVE] = {0};
  while (!atomic_load_explicit(&stop, memory_order_relaxed))
    CHECK_EQ(churn_step(&seed, live), 0);
  churn_free(live);
  ebra_thread_exit();
  return NULL;
}

/* ---- child ------------------------------------------------------------------ */

static void *child_thread(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  void *live[LIVE] = {0};
  for (int k = 0; k < 2000; k++) {
    const int rc = churn_step(&seed, live);
    if (rc)
      return (void *)(intptr_t)(10 + rc);
  }
  churn_free(live);
  ebra_thread_exit();
  return NULL;
}

static int child_main(void) {
  pthread_t t[CHILD_THREADS];
  for (unsigned i = 0; i < CHILD_THREADS; i++)
    if (pthread_create(&t[i], NULL, child_thread, (void *)(uintptr_t)(100 + i)) != 0)
      return 4;
  int status = 0;
  for (unsigned i = 0; i < CHILD_THREADS; i++) {
    void *rc;
    pthread_join(t[i], &rc);
    if (rc && !status)
      status = (int)(intptr_t)rc;
  }
  if (status)
    return status;
  if (ebra_domain_barrier(dom) != 0)
    return 5;
  /* Every handle the child killed was reclaimed; a parent worker may
   * have been between its create and its kill at the fork. */
  ebra_weak_stats_t ws;
  if (ebra_weak_table_stats(tab, &ws) != 0 || ws.live > WORKERS)
    return 6;
  return 0;
}

/* ---- parent ------------------------------------------------------------------- */

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The child's status, or -1 if it has not ended within CHILD_LIMIT_S
 * (then it is killed).  A child stuck inside fork() never reaches its own
 * alarm, so the parent keeps the time. */
static int child_wait(pid_t pid) {
  for (int waited_ms = 0; waited_ms < CHILD_LIMIT_S * 1000; waited_ms += 10) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    CHECK(r == 0 || r == pid);
    if (r == pid)
      return status;
    sleep_ms(10);
  }
  kill(pid, SIGKILL);
  CHECK(waitpid(pid, NULL, 0) == pid);
  return -1;
}

/* The forking thread: it allocates nothing of its own before the fork. */
static void *forker(void *arg) {
  (void)arg;
  for (unsigned k = 0; k < forks; k++) {
    sleep_ms(3);
    const pid_t pid = fork();
    if (pid == 0)
      _exit(child_main());
    CHECK(pid > 0);
    const int status = child_wait(pid);
    if (status < 0) {
      fprintf(stderr, "fork %u: the child hung for %d s (killed); a deadlock in fork() itself "
              "if it never reached its own code\n", k, CHILD_LIMIT_S);
      exit(1);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "fork %u: child %s %d\n", k,
              WIFEXITED(status) ? "exited with" : "killed by signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
      exit(1);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1)
    forks = (unsigned)strtoul(argv[1], NULL, 10);
  const ebra_pool_config_t pc = {.name = "fork_preload", .object_size = 64};
  const ebra_domain_config_t dc = {.name = "fork_preload", .backend = EBRA_RECLAIM_URCU_MEMB};
  pool = ebra_pool_create(&pc);
  dom = pool ? ebra_domain_create(&dc) : NULL;
  tab = dom ? ebra_weak_table_create(dom, NULL) : NULL;
  CHECK(tab != NULL);
  pthread_t w[WORKERS];
  for (unsigned i = 0; i < WORKERS; i++)
    CHECK_EQ(pthread_create(&w[i], NULL, worker, (void *)(uintptr_t)(i + 1)), 0);
  /* Later threads (the forker; in the children, the restarted reclaimer
   * and watchdog and the child's own) get a stack size no parent thread
   * has, so none of them reuses a parent thread's stack and TLS vector. */
  pthread_attr_t a;
  CHECK_EQ(pthread_attr_init(&a), 0);
  CHECK_EQ(pthread_attr_setstacksize(&a, 1u << 20), 0);
  CHECK_EQ(pthread_setattr_default_np(&a), 0);
  pthread_attr_destroy(&a);
  pthread_t f;
  CHECK_EQ(pthread_create(&f, NULL, forker, NULL), 0);
  CHECK_EQ(pthread_join(f, NULL), 0);
  atomic_store(&stop, true);
  for (unsigned i = 0; i < WORKERS; i++)
    CHECK_EQ(pthread_join(w[i], NULL), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_weak_table_destroy(tab), 0);
  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  printf("test_fork_preload: %u forks, every child exited 0\n", forks);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* stress/stress_fork.c — fork() while worker threads use the pools.
 *
 * Workers allocate, free and swap stamped objects through shared slots
 * (as in stress_owner) for the whole run.  The main thread forks -f times,
 * alternating two kinds of fork:
 *
 *   quiesced: the workers park at a gate between two pool calls first, so
 *     the child inherits a pool state that is exactly consistent.  The
 *     parent audits the pools while they are parked (live objects = the
 *     workers' and the slots').  In the child the library's fork handler
 *     must have released the dead workers' caches: stats.threads == 0, and
 *     after the child's own work the audit balances exactly, with
 *     live == live at fork - objects the child freed from the slots, and
 *     the child can allocate every cached object (the dead workers' cached
 *     objects included) without the pool carving new ones.
 *   wild: the workers are not stopped and may be anywhere inside alloc or
 *     free.  A worker caught halfway may lose the objects it was moving
 *     (they are neither cached nor counted live in the child), so the
 *     child's audit may legitimately be off by those; it must still find no
 *     duplicate and no invalid pointer, and the child must not deadlock.
 *     The child's copy of memory is not one instant of the parent (fork
 *     copies mapping by mapping while the workers run): the library
 *     rebuilds the depot in the child and drops an object cached twice,
 *     with a report this test allows for wild forks only; and the test's
 *     own inherited state can disagree with the library's copy (an object
 *     both in a slot and cached; owned in the owner table by a worker whose
 *     free the copy shows), so a wild child drops the inherited slots and
 *     owners unread and checks its own threads' work.
 *
 * The child, single-threaded at first: takes every object left in the
 * slots and (quiesced forks) checks its stamp (the copy of the parent's
 * memory must hold intact objects) and frees it, allocates/stamps/verifies/frees a batch of
 * its own, then starts two threads that do the same (exchanging through the
 * slots), joins them, audits, destroys the pools (quiesced children: each
 * destroy returns 0 and a later alloc fails with EBADF) and exits 0.
 * The parent waits for each child (failing on a non-zero status, a signal,
 * or a child that hangs for 30 s — killed by its pid) while its own workers
 * keep running, and at the end drains the slots, joins the workers and
 * requires the usual balanced audit and allocs == the test's own count.
 *
 * Arguments: -t threads (8) -d ms (2000) -s seed -f forks (4)
 *            -o operations per child thread (4000; 1000 under sanitizers).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stress_util.h"

#define NPOOLS 2
#define HOLD 48
#define CHILD_THREADS 2
#define CHILD_STACK ((size_t)1 << 20)

static stress_pool_t pools[NPOOLS] = {
    {.cfg = {.name = "fork-64", .object_size = 64}},
    {.cfg = {.name = "fork-200a64", .object_size = 200, .alignment = 64,
             .magazine_capacity = 16}},
};

static stress_args_t args = {.threads = 8, .duration_ms = 2000, .seed = 0x0E8A0003};
static unsigned long nforks = 4;
static unsigned long child_ops = 4000;
static unsigned long nslots = 256;

static _Atomic(void *) *slots;
static _Atomic bool stop;
static _Atomic bool gate;        /* workers park while set */
static _Atomic unsigned parked;  /* workers parked at the gate */
static _Atomic uint64_t total_allocs[NPOOLS];
static uint32_t main_id, child_id;

typedef struct thr_s {
  pthread_t tid;
  uint32_t id;
  stress_rng_t rng;
  uint64_t seq;
  void *held[HOLD];
  size_t nheld;
  uint64_t allocs[NPOOLS];
  uint64_t frees[NPOOLS];
} thr_t;

static void thr_alloc(thr_t *t) {
  stress_pool_t *sp = &pools[stress_rng_below(&t->rng, NPOOLS)];
  void *p = ebra_pool_alloc(sp->pool);
  STRESS_CHECK(p, "thread %u: ebra_pool_alloc('%s') failed: %s", t->id, sp->cfg.name,
               strerror(errno));
  stress_obj_claim(sp, p, t->id, ++t->seq);
  t->allocs[sp->index]++;
  t->held[t->nheld++] = p;
}

static void thr_free_at(thr_t *t, size_t i) {
  void *p = t->held[i];
  t->held[i] = t->held[--t->nheld];
  t->frees[stress_obj_free(p, t->id, "free")->index]++;
}

/* One random step: alloc, free, or swap with a slot. */
static void thr_step(thr_t *t) {
  const unsigned r = (unsigned)stress_rng_below(&t->rng, 100);
  if (r < 40 && t->nheld < HOLD) {
    thr_alloc(t);
  } else if (r < 75 && t->nheld) {
    thr_free_at(t, stress_rng_below(&t->rng, t->nheld));
  } else {
    void *give = NULL;
    if (t->nheld && stress_rng_pct(&t->rng, 50)) {
      size_t i = stress_rng_below(&t->rng, t->nheld);
      give = t->held[i];
      t->held[i] = t->held[--t->nheld];
    }
    void *got = stress_slot_swap(slots, stress_rng_below(&t->rng, nslots), give);
    if (got) {
      stress_obj_take(got, t->id, ++t->seq, "object taken from a shared slot");
      if (t->nheld < HOLD)
        t->held[t->nheld++] = got;
      else
        t->frees[stress_obj_free(got, t->id, "free")->index]++;
    }
  }
}

static void *worker_main(void *arg) {
  thr_t *t = arg;
  while (!atomic_load_explicit(&stop, memory_order_acquire)) {
    if (atomic_load_explicit(&gate, memory_order_acquire)) {
      /* acq_rel: this thread's pool calls happen before the main thread's
       * fork (its acquire load of parked); paired both ways. */
      atomic_fetch_add_explicit(&parked, 1, memory_order_acq_rel);
      while (atomic_load_explicit(&gate, memory_order_acquire))
        sched_yield();
      atomic_fetch_sub_explicit(&parked, 1, memory_order_acq_rel);
    }
    for (int k = 0; k < 32; k++)
      thr_step(t);
  }
  while (t->nheld)
    thr_free_at(t, t->nheld - 1);
  for (unsigned i = 0; i < NPOOLS; i++)
    atomic_fetch_add_explicit(&total_allocs[i], t->allocs[i], memory_order_relaxed);
  return NULL;
}

/* ---- the child ----------------------------------------------------------------- */

static void *child_thread_main(void *arg) {
  thr_t *t = arg;
  for (unsigned long k = 0; k < child_ops; k++)
    thr_step(t);
  while (t->nheld)
    thr_free_at(t, t->nheld - 1);
  return NULL;
}

static _Noreturn void child_main(unsigned k, bool quiesced, const uint64_t *live_at_fork) {
  const char *kind = quiesced ? "quiesced" : "wild";
  /* The fork handler released the caches of the threads that did not
   * survive the fork; main never used the pools in the parent. */
  for (unsigned i = 0; i < NPOOLS; i++) {
    ebra_pool_stats_t s = stress_stats(&pools[i]);
    STRESS_CHECK(s.threads == 0,
                 "child %u (%s fork): pool '%s' has %u thread caches attached; the dead "
                 "workers' caches must be released in the child",
                 k, kind, pools[i].cfg.name, s.threads);
  }
  thr_t *me = calloc(1, sizeof *me);
  STRESS_CHECK(me, "out of memory");
  me->id = child_id;
  stress_rng_init(&me->rng, args.seed ^ 0xC41D, k);
  uint64_t drained[NPOOLS] = {0};
  /* Quiesced: the objects left in the slots are intact in the child's copy,
   * and freeing them must balance the audit.  Wild: the copy may show an
   * object in a slot that the library's copy also caches, or owned in the
   * owner table by a worker whose hand-off to the pool it does not show
   * (see the header): the inherited slots and owners are dropped unread,
   * and the child checks only what its own threads do. */
  if (!quiesced)
    stress_table_forget_owners();
  for (size_t i = 0; i < nslots; i++) {
    void *p = stress_slot_swap(slots, i, NULL);
    if (p && quiesced) {
      stress_obj_take(p, me->id, ++me->seq, "child: object inherited in a slot");
      drained[stress_obj_free(p, me->id, "child: free of an inherited object")->index]++;
    }
  }
  /* Single-threaded work. */
  for (unsigned long n = 0; n < child_ops; n++)
    thr_step(me);
  /* Two threads of the child's own. */
  thr_t *ct = calloc(CHILD_THREADS, sizeof *ct);
  STRESS_CHECK(ct, "out of memory");
  /* Fresh stacks: glibc's fork handler recycles the dead workers' stacks,
   * so a new thread would get a dead worker's pthread_t, which TSan (gcc
   * 12) rejects with "dup thread with used id". */
  void *stacks[CHILD_THREADS];
  for (unsigned i = 0; i < CHILD_THREADS; i++) {
    ct[i].id = child_id + 1 + i;
    stress_rng_init(&ct[i].rng, args.seed ^ 0xC41D, 100 * (k + 1) + i);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    int rc = posix_memalign(&stacks[i], 65536, CHILD_STACK);
    STRESS_CHECK(rc == 0, "child %u: no memory for a thread stack", k);
    pthread_attr_setstack(&attr, stacks[i], CHILD_STACK);
    rc = pthread_create(&ct[i].tid, &attr, child_thread_main, &ct[i]);
    STRESS_CHECK(rc == 0, "child %u: pthread_create: %s", k, strerror(rc));
    pthread_attr_destroy(&attr);
  }
  for (unsigned long n = 0; n < child_ops; n++)
    thr_step(me);
  for (unsigned i = 0; i < CHILD_THREADS; i++) {
    int rc = pthread_join(ct[i].tid, NULL);
    STRESS_CHECK(rc == 0, "child %u: pthread_join: %s", k, strerror(rc));
    free(stacks[i]);
  }
  while (me->nheld)
    thr_free_at(me, me->nheld - 1);
  /* The child's own objects went back; what is left in the slots now came
   * from the child's threads: free it too. */
  for (size_t i = 0; i < nslots; i++) {
    void *p = stress_slot_swap(slots, i, NULL);
    if (p) {
      stress_obj_take(p, me->id, ++me->seq, "child: object left in a slot");
      stress_obj_free(p, me->id, "child: free of a slot object");
    }
  }

  if (quiesced) {
    char when[96];
    snprintf(when, sizeof when, "child %u (quiesced fork)", k);
    for (unsigned i = 0; i < NPOOLS; i++)
      stress_check_quiescent(&pools[i], live_at_fork[i] - drained[i], STRESS_ANY, when);
    /* The dead workers' caches went back to the depot: reachable. */
    for (unsigned i = 0; i < NPOOLS; i++) {
      ebra_pool_stats_t s = stress_stats(&pools[i]);
      ebra_pool_audit_t a;
      STRESS_CHECK(ebra_pool_audit(pools[i].pool, &a) == 0, "%s: audit", when);
      const uint64_t cached = a.cached;
      void **objs = malloc((cached ? cached : 1) * sizeof *objs);
      STRESS_CHECK(objs, "out of memory");
      for (uint64_t n = 0; n < cached; n++) {
        objs[n] = ebra_pool_alloc(pools[i].pool);
        STRESS_CHECK(objs[n], "%s: alloc failed", when);
        stress_obj_claim(&pools[i], objs[n], me->id, ++me->seq);
      }
      const uint64_t carved = stress_stats(&pools[i]).objects_carved;
      STRESS_CHECK(carved == s.objects_carved,
                   "%s: pool '%s': allocating its %" PRIu64 " cached objects carved %" PRIu64
                   " new ones: the dead workers' cached objects are unreachable in the child",
                   when, pools[i].cfg.name, cached, carved - s.objects_carved);
      for (uint64_t n = 0; n < cached; n++)
        stress_obj_free(objs[n], me->id, "child: free in the reachability check");
      free(objs);
    }
    /* The dead workers' objects are still live: destroy releases them. */
    stress_hook_allow(EBRA_WARN_LIVE_AT_DESTROY, true);
    ebra_pool_t *tomb = pools[0].pool;
    stress_pools_destroy(pools, NPOOLS);
    errno = 0;
    void *p = ebra_pool_alloc(tomb);
    STRESS_CHECK(!p && errno == EBADF,
                 "child %u: alloc after destroy returned %p, errno %d; expected NULL, EBADF", k,
                 p, errno);
  } else {
    stress_hook_allow(EBRA_ERR_INTERNAL, true); /* an audit imbalance is reported */
    for (unsigned i = 0; i < NPOOLS; i++) {
      ebra_pool_audit_t a;
      memset(&a, 0, sizeof a);
      int rc = ebra_pool_audit(pools[i].pool, &a);
      STRESS_CHECK(a.duplicates == 0 && a.invalid == 0,
                   "child %u (wild fork): audit of '%s' returned %d with %" PRIu64
                   " duplicates and %" PRIu64 " invalid pointers",
                   k, pools[i].cfg.name, rc, a.duplicates, a.invalid);
      stress_log("child %u (wild): pool '%s' audit %d: carved %" PRIu64 " cached %" PRIu64
                 " live %" PRIu64 "\n",
                 k, pools[i].cfg.name, rc, a.carved, a.cached, a.live);
    }
  }
  stress_log("child %u (%s fork) ok\n", k, kind);
  fflush(stdout);
  /* _exit: the dead workers' state (their stacks, their held objects) is
   * deliberately not cleaned up in the child; leak checking is the
   * parent's. */
  _exit(0);
}

/* ---- the parent ---------------------------------------------------------------- */

static void wait_child(pid_t pid, unsigned k, bool quiesced) {
  const uint64_t limit = now_ns() + 30ull * 1000000000u;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      break;
    STRESS_CHECK(r == 0, "waitpid(child %u): %s", k, strerror(errno));
    if (now_ns() > limit) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      STRESS_FAIL("child %u (%s fork) did not finish in 30 s: deadlocked after fork? "
                  "(killed)",
                  k, quiesced ? "quiesced" : "wild");
    }
    sleep_us(1000);
  }
  STRESS_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "child %u (%s fork) %s %d", k, quiesced ? "quiesced" : "wild",
               WIFEXITED(status) ? "exited with status" : "was killed by signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

static void do_fork(unsigned k, bool quiesced) {
  uint64_t live[NPOOLS] = {0};
  if (quiesced) {
    while (atomic_load_explicit(&parked, memory_order_acquire) != 0)
      sched_yield(); /* the previous gate is fully open */
    atomic_store_explicit(&gate, true, memory_order_release);
    while (atomic_load_explicit(&parked, memory_order_acquire) != args.threads)
      sched_yield();
    /* Nobody is inside the pools now: the parent's view must balance. */
    char when[96];
    snprintf(when, sizeof when, "parent, workers parked for fork %u", k);
    for (unsigned i = 0; i < NPOOLS; i++) {
      live[i] = stress_stats(&pools[i]).objects_live;
      stress_check_quiescent(&pools[i], live[i], STRESS_ANY, when);
    }
  }
  fflush(stdout);
  fflush(stderr);
  /* A wild child may find objects its copy of memory holds twice (the
   * library drops one copy and reports it, kind internal: see
   * src/depot.c); the hook state crosses the fork, so it is allowed for
   * the fork alone.  Quiesced forks allow nothing. */
  if (!quiesced)
    stress_hook_allow(EBRA_ERR_INTERNAL, true);
  pid_t pid = fork();
  if (!quiesced && pid != 0)
    stress_hook_allow(EBRA_ERR_INTERNAL, false);
  STRESS_CHECK(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0)
    child_main(k, quiesced, live);
  if (quiesced)
    atomic_store_explicit(&gate, false, memory_order_release);
  wait_child(pid, k, quiesced);
  stress_log("fork %u (%s): child ok\n", k, quiesced ? "quiesced" : "wild");
}

int main(int argc, char **argv) {
  const stress_opt_t extra[] = {
      {.letter = 'f', .help = "forks", .value = &nforks,
       .min = 1, .max = 1000},
      {.letter = 'o', .help = "operations per child thread", .value = &child_ops,
       .min = 1, .max = 1u << 30, .san_default = 1000},
  };
  stress_parse_args("stress_fork", argc, argv, &args, 0, extra, 2);
  const uint64_t t0 = now_ns();
  stress_hook_install();
  stress_pools_create(pools, NPOOLS);
  main_id = (uint32_t)args.threads + 1;
  child_id = main_id + 1;
  stress_stamp_setup(pools, NPOOLS, child_id + CHILD_THREADS);
  stress_table_enable(18);
  slots = calloc(nslots, sizeof *slots);
  thr_t *w = calloc(args.threads, sizeof *w);
  STRESS_CHECK(slots && w, "out of memory");
  for (uint32_t i = 0; i < args.threads; i++) {
    w[i].id = i + 1;
    stress_rng_init(&w[i].rng, args.seed, i + 1);
  }
  stress_threads_t *workers = stress_spawn(args.threads, worker_main, w, sizeof *w);
  const uint64_t step = args.duration_ms * 1000000ull / (nforks + 1);
  for (unsigned k = 0; k < nforks; k++) {
    const uint64_t at = t0 + step * (k + 1);
    while (now_ns() < at)
      sleep_us(1000);
    do_fork(k, k % 2 == 0);
  }
  while (now_ns() < t0 + args.duration_ms * 1000000ull)
    sleep_us(1000);
  atomic_store_explicit(&stop, true, memory_order_release);
  stress_join(workers);
  uint64_t seq = 0, drained = 0;
  for (size_t i = 0; i < nslots; i++) {
    void *p = stress_slot_swap(slots, i, NULL);
    if (p) {
      stress_obj_take(p, main_id, ++seq, "object drained from a slot");
      stress_obj_free(p, main_id, "free of a drained object");
      drained++;
    }
  }
  uint64_t allocs = 0;
  for (unsigned i = 0; i < NPOOLS; i++) {
    stress_check_quiescent(&pools[i], 0, atomic_load(&total_allocs[i]), "end of run");
    allocs += atomic_load(&total_allocs[i]);
    stress_check_reachable(&pools[i], main_id, "end of run");
  }
  stress_pools_destroy(pools, NPOOLS);
  ebra_thread_exit();
  free(w);
  free(slots);
  stress_say("ok: %lu threads, %lu forks, %" PRIu64 " allocs, %" PRIu64
             " drained; %.2f s\n",
             args.threads, nforks, allocs, drained, (double)(now_ns() - t0) / 1e9);
  return 0;
}

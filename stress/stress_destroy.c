/* SPDX-License-Identifier: MIT */
/* stress/stress_destroy.c — threads that used a pool exit while the pool is
 * destroyed, and other pools live on.
 *
 * Rounds, until -r rounds or -d ms: create a pool P with a random config
 * (size, alignment, magazine size, prealloc, secure clearing), start -t
 * threads.  Each uses P (alloc, stamp, verify, free), then announces it is
 * done with P (an atomic counter; after that it never calls P again), then
 * keeps using two long-lived pools Q for a random while (some not at all),
 * and exits at a random moment: by return, by pthread_exit, or after an
 * explicit ebra_thread_exit().  The main thread waits for every "done with
 * P" and destroys P at once, so the destroy runs while threads are in their
 * exit teardown handing back their caches of P: the contract allows that
 * (destroy must not run concurrently with calls on P; thread exit may).
 * Some rounds the main thread uses P too, so destroy must also free the
 * cache of a thread that keeps running.  Every fourth round is a control:
 * the main thread joins the threads first and audits P before destroying it.
 * Every third round the threads leave some objects of P live: destroy
 * releases them and reports EBRA_WARN_LIVE_AT_DESTROY; other rounds must
 * not warn.
 * Checks per round:
 *   - stamps on every object (stress_util.h); Q's objects are also in the
 *     owner table, P's are not, since P's memory goes away with it;
 *   - control rounds: P's audit balances (live == 0, or the objects left
 *     live) before destroy;
 *   - ebra_pool_destroy(P) returns 0; the tombstone then fails alloc with
 *     EBADF, free with -EBADF, stats with -EBADF, and a second destroy with
 *     -EBADF;
 *   - after the threads are joined, each Q audits balanced with the objects
 *     left in the shared slots as its only live ones, and has no thread
 *     attached: exits during a destroy lose nothing of Q.
 * At the end Q is drained, every carved object of Q is reachable again
 * (stress_check_reachable), Q is destroyed; under ASan, LSan finds no leak.
 *
 * Arguments: -t threads (8) -d ms (2500) -s seed -r rounds (1000).  The run
 *            stops at whichever limit comes first: about 1000 rounds in a
 *            normal build, ~70 under TSan, ~300 under ASan.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stress_util.h"

#define NQ 2
#define HOLD 64
#define NSLOTS 64

/* Q pools at 0..NQ-1; P takes index NQ, re-created every round. */
static stress_pool_t pools[NQ + 1] = {
    {.cfg = {.name = "destroy-q64", .object_size = 64}},
    {.cfg = {.name = "destroy-q200a64", .object_size = 200, .alignment = 64,
             .magazine_capacity = 8}},
    {.cfg = {.name = "destroy-p", .object_size = 64}},
};
static stress_pool_t *const P = &pools[NQ];

static stress_args_t args = {.threads = 8, .duration_ms = 2500, .seed = 0x0E8A0004};
static unsigned long rounds = 1000;

static _Atomic(void *) slots[NSLOTS]; /* Q objects only */
static _Atomic unsigned done_with_p;
static bool leak_round; /* written before the threads start */
static _Atomic uint64_t total_q_allocs[NQ];
static _Atomic uint64_t p_left_live;
static _Atomic uintptr_t p_sample; /* an address P handed out, for the tombstone check */

typedef struct thr_s {
  uint32_t id;
  stress_rng_t rng;
  uint64_t seq;
  void *held[HOLD];
  size_t nheld;
  uint64_t q_allocs[NQ];
} thr_t;

static void *obj_alloc(thr_t *t, stress_pool_t *sp) {
  void *p = ebra_pool_alloc(sp->pool);
  STRESS_CHECK(p, "thread %u: ebra_pool_alloc('%s') failed: %s", t->id, sp->cfg.name,
               strerror(errno));
  stress_obj_claim(sp, p, t->id, ++t->seq);
  return p;
}

static void use_p(thr_t *t) {
  const size_t n = 1 + stress_rng_below(&t->rng, 300);
  for (size_t k = 0; k < n; k++) {
    if (t->nheld < HOLD && stress_rng_pct(&t->rng, 55)) {
      void *p = obj_alloc(t, P);
      atomic_store_explicit(&p_sample, (uintptr_t)p, memory_order_relaxed);
      t->held[t->nheld++] = p;
    } else if (t->nheld) {
      size_t i = stress_rng_below(&t->rng, t->nheld);
      void *p = t->held[i];
      t->held[i] = t->held[--t->nheld];
      stress_obj_free(p, t->id, "free of a P object");
    }
  }
  uint64_t left = 0;
  while (t->nheld) {
    void *p = t->held[--t->nheld];
    if (leak_round && stress_rng_pct(&t->rng, 30)) {
      stress_obj_verify(p, t->id, "P object left live");
      left++; /* destroy releases it */
    } else {
      stress_obj_free(p, t->id, "free of a P object");
    }
  }
  atomic_fetch_add_explicit(&p_left_live, left, memory_order_relaxed);
}

static void use_q(thr_t *t, size_t n) {
  for (size_t k = 0; k < n; k++) {
    const unsigned r = (unsigned)stress_rng_below(&t->rng, 100);
    if (r < 45 && t->nheld < HOLD) {
      stress_pool_t *sp = &pools[stress_rng_below(&t->rng, NQ)];
      t->held[t->nheld++] = obj_alloc(t, sp);
      t->q_allocs[sp->index]++;
    } else if (r < 85 && t->nheld) {
      size_t i = stress_rng_below(&t->rng, t->nheld);
      void *p = t->held[i];
      t->held[i] = t->held[--t->nheld];
      stress_obj_free(p, t->id, "free of a Q object");
    } else {
      void *give = t->nheld ? t->held[--t->nheld] : NULL;
      void *got = stress_slot_swap(slots, stress_rng_below(&t->rng, NSLOTS), give);
      if (got) {
        stress_obj_take(got, t->id, ++t->seq, "Q object taken from a slot");
        stress_obj_free(got, t->id, "free of a Q object");
      }
    }
  }
  while (t->nheld) /* Q objects either freed or left in a slot */
    stress_obj_free(t->held[--t->nheld], t->id, "free of a Q object");
}

static void *thr_main(void *arg) {
  thr_t *t = arg;
  if (stress_rng_pct(&t->rng, 50))
    use_q(t, stress_rng_below(&t->rng, 50)); /* attach to Q first */
  use_p(t);
  /* release: every call on P happens before main's destroy (its acquire). */
  atomic_fetch_add_explicit(&done_with_p, 1, memory_order_release);
  const unsigned how = (unsigned)stress_rng_below(&t->rng, 8);
  if (how >= 3)
    use_q(t, stress_rng_below(&t->rng, 400));
  for (unsigned i = 0; i < NQ; i++)
    atomic_fetch_add_explicit(&total_q_allocs[i], t->q_allocs[i], memory_order_relaxed);
  if (how == 0 || how == 3)
    pthread_exit(NULL);
  if (how == 1)
    ebra_thread_exit(); /* the same hand-back as exit, done early */
  return NULL;
}

static void random_p_config(stress_rng_t *r, unsigned round) {
  static const size_t sizes[] = {32, 40, 64, 100, 200, 512, 1000, 4096, 5000};
  static const size_t aligns[] = {0, 8, 16, 64, 256, 4096};
  static const unsigned mags[] = {0, 1, 4, 64, 200};
  ebra_pool_config_t *c = &P->cfg;
  c->object_size = sizes[stress_rng_below(r, sizeof sizes / sizeof sizes[0])];
  c->alignment = aligns[stress_rng_below(r, sizeof aligns / sizeof aligns[0])];
  c->magazine_capacity = mags[stress_rng_below(r, sizeof mags / sizeof mags[0])];
  c->prealloc = stress_rng_pct(r, 25) ? stress_rng_below(r, 200) : 0;
  c->flags = stress_rng_pct(r, 20) ? EBRA_POOL_SECURE_CLEAR : 0;
  c->max_objects = 0;
  (void)round;
}

static void check_tombstone(void) {
  errno = 0;
  void *p = ebra_pool_alloc(P->pool);
  STRESS_CHECK(!p && errno == EBADF,
               "alloc on a destroyed pool returned %p with errno %d, expected NULL/EBADF", p,
               errno);
  /* An address P once handed out: its memory is gone with P; free must
   * see the tombstone without touching it. */
  void *old = (void *)atomic_load_explicit(&p_sample, memory_order_relaxed);
  int rc = ebra_pool_free(P->pool, old);
  STRESS_CHECK(rc == -EBADF, "free on a destroyed pool returned %d, expected -EBADF", rc);
  ebra_pool_stats_t s;
  rc = ebra_pool_stats(P->pool, &s);
  STRESS_CHECK(rc == -EBADF, "stats on a destroyed pool returned %d, expected -EBADF", rc);
  rc = ebra_pool_destroy(P->pool);
  STRESS_CHECK(rc == -EBADF, "second destroy returned %d, expected -EBADF", rc);
}

int main(int argc, char **argv) {
  const stress_opt_t extra[] = {
      {.letter = 'r', .help = "rounds", .value = &rounds,
       .min = 1, .max = 1u << 24},
  };
  stress_parse_args("stress_destroy", argc, argv, &args, 0, extra, 1);
  const uint64_t t0 = now_ns();
  const uint64_t deadline = t0 + args.duration_ms * 1000000ull;
  const uint32_t main_id = (uint32_t)args.threads + 1;
  stress_hook_install();
  stress_hook_allow(EBRA_ERR_USE_AFTER_DESTROY, true);
  stress_pools_create(pools, NQ);
  P->index = NQ;
  stress_stamp_setup(pools, NQ + 1, main_id);
  /* Only Q's objects go in the owner table: P's addresses are unmapped with
   * P and reused by the next P, while objects left live at destroy would
   * stay "owned". */
  P->untracked = true;
  stress_table_enable(18);
  thr_t *t = calloc(args.threads, sizeof *t);
  STRESS_CHECK(t, "out of memory");
  stress_rng_t rng;
  stress_rng_init(&rng, args.seed, 0);

  unsigned long r = 0, warned_rounds = 0, control_rounds = 0;
  uint64_t main_seq = 0;
  for (; r < rounds && now_ns() < deadline; r++) {
    char pname[32];
    snprintf(pname, sizeof pname, "destroy-p%lu", r);
    random_p_config(&rng, (unsigned)r);
    P->cfg.name = pname;
    P->pool = ebra_pool_create(&P->cfg);
    STRESS_CHECK(P->pool, "round %lu: ebra_pool_create(size %zu, align %zu, mag %u) failed: %s",
                 r, P->cfg.object_size, P->cfg.alignment, P->cfg.magazine_capacity,
                 strerror(errno));
    leak_round = r % 3 == 2;
    const bool control = r % 4 == 3;
    const bool main_uses_p = r % 2 == 1;
    atomic_store(&done_with_p, 0);
    atomic_store(&p_left_live, 0);

    /* Main attaches to P and keeps a few objects live across the round. */
    void *main_held[8];
    size_t main_n = 0;
    if (main_uses_p) {
      for (size_t k = 0; k < 8; k++) {
        void *p = ebra_pool_alloc(P->pool);
        STRESS_CHECK(p, "main: ebra_pool_alloc(P) failed");
        stress_obj_claim(P, p, main_id, ++main_seq);
        main_held[main_n++] = p;
      }
      for (size_t k = 0; k < 4; k++)
        stress_obj_free(main_held[--main_n], main_id, "main free of a P object");
    }

    for (uint32_t i = 0; i < args.threads; i++) {
      memset(&t[i], 0, sizeof t[i]);
      t[i].id = i + 1;
      stress_rng_init(&t[i].rng, args.seed, (uint64_t)r * 1000 + i + 1);
    }
    stress_threads_t *threads = stress_spawn(args.threads, thr_main, t, sizeof *t);
    while (atomic_load_explicit(&done_with_p, memory_order_acquire) != args.threads)
      sched_yield();

    uint64_t live = atomic_load(&p_left_live) + main_n;
    if (!leak_round) {
      for (size_t k = 0; k < main_n; k++)
        stress_obj_free(main_held[k], main_id, "main free of a P object");
      live = atomic_load(&p_left_live);
      main_n = 0;
    }
    STRESS_CHECK(leak_round || live == 0, "test bookkeeping: %" PRIu64 " P objects left", live);
    if (control) {
      stress_join(threads);
      char when[64];
      snprintf(when, sizeof when, "round %lu, before destroy", r);
      stress_check_quiescent(P, live, STRESS_ANY, when);
      control_rounds++;
    } else if (stress_rng_pct(&rng, 50)) {
      /* Land the destroy at a different point of the threads' exits. */
      sleep_us(stress_rng_below(&rng, 300));
    }
    const uint64_t warns = stress_hook_count(EBRA_WARN_LIVE_AT_DESTROY);
    stress_hook_allow(EBRA_WARN_LIVE_AT_DESTROY, live > 0);
    int rc = ebra_pool_destroy(P->pool);
    STRESS_CHECK(rc == 0, "round %lu: ebra_pool_destroy(P) returned %d, expected 0", r, rc);
    stress_hook_allow(EBRA_WARN_LIVE_AT_DESTROY, false);
    const uint64_t warned = stress_hook_count(EBRA_WARN_LIVE_AT_DESTROY) - warns;
    STRESS_CHECK(live == 0 || warned >= 1,
                 "round %lu: P was destroyed with %" PRIu64
                 " objects live but no EBRA_WARN_LIVE_AT_DESTROY was reported",
                 r, live);
    warned_rounds += warned > 0;
    check_tombstone();
    if (!control)
      stress_join(threads);

    /* Every thread is gone: Q must balance, with the slots' objects live. */
    uint64_t in_slots[NQ] = {0};
    for (size_t i = 0; i < NSLOTS; i++) {
      void *p = atomic_load_explicit(&slots[i], memory_order_acquire);
      if (p)
        in_slots[stress_obj_verify(p, 0, "Q object in a slot between rounds")->index]++;
    }
    char when[64];
    snprintf(when, sizeof when, "round %lu, after destroy and join", r);
    for (unsigned i = 0; i < NQ; i++) {
      stress_check_quiescent(&pools[i], in_slots[i], STRESS_ANY, when);
      ebra_pool_stats_t s = stress_stats(&pools[i]);
      STRESS_CHECK(s.threads == 0,
                   "%s: Q pool '%s' has %u threads attached after all its threads exited",
                   when, pools[i].cfg.name, s.threads);
    }
  }
  stress_hook_allow(EBRA_ERR_USE_AFTER_DESTROY, false);

  /* Drain Q and finish. */
  uint64_t drained[NQ] = {0}, seq = 0;
  for (size_t i = 0; i < NSLOTS; i++) {
    void *p = stress_slot_swap(slots, i, NULL);
    if (p) {
      stress_obj_take(p, main_id, ++seq, "Q object drained from a slot");
      drained[stress_obj_free(p, main_id, "free of a drained Q object")->index]++;
    }
  }
  for (unsigned i = 0; i < NQ; i++) {
    stress_check_quiescent(&pools[i], 0, atomic_load(&total_q_allocs[i]), "end of run");
    stress_check_reachable(&pools[i], main_id, "end of run");
  }
  stress_pools_destroy(pools, NQ);
  ebra_thread_exit();
  free(t);
  STRESS_CHECK(r >= 1, "no round ran");
  stress_say("ok: %lu rounds x %lu threads, %lu control rounds, %lu destroys with live "
             "objects; %.2f s\n",
             r, args.threads, control_rounds, warned_rounds,
             (double)(now_ns() - t0) / 1e9);
  return 0;
}

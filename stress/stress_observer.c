/* SPDX-License-Identifier: MIT */
/* stress/stress_observer.c — notifies of a subject against subscribes,
 * unsubscribes and observer deaths.
 *
 * Churners (-c) each own a few observer slots.  A slot holds at most one
 * subscription at a time; a churner ends it (unsubscribe, or kill of its
 * object: a death) and starts a new one with a new object, continuously.
 * Every subscription has a sequence number s (its callback's argument).
 * A cleanup registered on each object (before it subscribes) sets
 * cleaned[s] when the object is reclaimed.  Notifiers call notify with
 * values unique per notify; the pool clears freed objects.
 *
 * A global ticket (seq_cst) orders events: churners take one after a
 * subscribe returned (sub_tick[s]) and one before they begin to end a
 * subscription (end_tick[s]); a notifier takes one before and after each
 * notify.
 *
 * Properties checked (the test fails on the first violation):
 *   Q1  no callback runs on a dead observer: the object's canary is
 *       intact, it is the subscription's own object, and its cleanup has
 *       not run (cleaned[s] == 0);
 *   Q2  a notify calls a subscription at most once (last[s][n] != value);
 *   Q3  every subscription made before a notify began and not ended before
 *       it finished (sub_tick < t0, end_tick still 0 after t1) was called
 *       by it (last[s][n] == value), in particular with its object alive;
 *   Q4  after everything stopped and every object was killed, a barrier
 *       leaves the subject empty (dead observers were unlinked), every
 *       cleanup ran exactly once, and the library reported nothing.
 *
 * Usage: stress_observer [-b memb|qsbr|ck] [-t threads] [-c churners] [-d ms] [-s seed]
 * Durations shrink under TSan/ASan (ebra_build_features()).
 */
#include <inttypes.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "stress_util.h"

#define CANARY 0x0B5E4FE40B5E4FE4ull
#define SLOTS_PER_CHURNER 8
#define MAX_NOTIFIERS 8
#define MAX_SUBS (1u << 20)

typedef struct obj_s {
  uint64_t pool_word;
  uint64_t canary;
  uint64_t sub; /* the subscription it serves */
} obj_t;

static stress_args_t args = {.threads = 8, .duration_ms = 2500, .seed = 1,
                             .tsan_duration_pct = 40, .asan_duration_pct = 50};
static unsigned long backend_index; /* -b, in stress_backend_names */
static unsigned long nchurners = 5;
static int nnotifiers;
static ebra_reclaim_backend_t backend;

static ebra_pool_t *pool;
static ebra_domain_t *dom;
static ebra_weak_table_t *tab;
static ebra_subject_t *subj;
static _Atomic int stop;
static _Atomic uint64_t ticket = 1;
static _Atomic uint64_t next_sub = 1;
static _Atomic uint64_t notifies, calls, checked, deaths, unsubs, cleanups;

/* Per subscription s, never in the object. */
static _Atomic uint64_t *sub_tick, *end_tick;
static _Atomic uint8_t *cleaned;
static _Atomic uint64_t (*last)[MAX_NOTIFIERS];

/* Per slot: the current subscription (0: none); written by its churner. */
static _Atomic uint64_t *slot_sub;
static int nslots;

/* The value of notifier n's k-th notify: unique, never 0. */
static uint64_t value_of(int n, uint64_t k) { return ((uint64_t)n << 48) | (k + 1); }

static void callback(void *arg, void *obj, uint64_t value) {
  const uint64_t s = (uint64_t)(uintptr_t)arg;
  const obj_t *o = obj;
  const int n = (int)(value >> 48);
  STRESS_CHECK(o->canary == CANARY, "callback of sub %" PRIu64 ": canary %#" PRIx64, s, o->canary);
  STRESS_CHECK(o->sub == s, "callback of sub %" PRIu64 " got the object of sub %" PRIu64, s,
               o->sub);
  STRESS_CHECK(!atomic_load(&cleaned[s]), "callback of sub %" PRIu64 " after its cleanup ran", s);
  const uint64_t prev = atomic_exchange_explicit(&last[s][n], value, memory_order_relaxed);
  STRESS_CHECK(prev != value, "sub %" PRIu64 " called twice by one notify", s); /* Q2 */
}

static void on_reclaimed(void *arg, ebra_weak_t h) {
  (void)h;
  const uint64_t s = (uint64_t)(uintptr_t)arg;
  STRESS_CHECK(atomic_exchange(&cleaned[s], 1) == 0, "cleanup of sub %" PRIu64 " ran twice", s);
  atomic_fetch_add_explicit(&cleanups, 1, memory_order_relaxed);
}

/* ---- churners -------------------------------------------------------------------- */

typedef struct slot_state_s {
  ebra_weak_t h;
  ebra_subscription_t sub;
  uint64_t s;
} slot_state_t;

static void start_sub(int slot, slot_state_t *st) {
  const uint64_t s = atomic_fetch_add(&next_sub, 1);
  STRESS_CHECK(s < MAX_SUBS, "too many subscriptions (raise MAX_SUBS)");
  obj_t *o = ebra_pool_alloc(pool);
  STRESS_CHECK(o != NULL, "alloc");
  o->canary = CANARY;
  o->sub = s;
  STRESS_CHECK(ebra_weak_create(tab, o, &st->h) == 0, "weak create");
  STRESS_CHECK(ebra_weak_add_cleanup(tab, st->h, on_reclaimed, (void *)(uintptr_t)s) == 0,
               "add_cleanup");
  STRESS_CHECK(ebra_subject_subscribe(subj, st->h, callback, (void *)(uintptr_t)s, &st->sub) == 0 &&
                   st->sub != 0,
               "subscribe of a live object failed");
  st->s = s;
  atomic_store(&sub_tick[s], atomic_fetch_add(&ticket, 1));
  atomic_store(&slot_sub[slot], s);
}

static void end_sub(int slot, slot_state_t *st, bool die) {
  atomic_store(&end_tick[st->s], atomic_fetch_add(&ticket, 1)); /* before it begins */
  atomic_store(&slot_sub[slot], 0);
  if (die) {
    STRESS_CHECK(ebra_weak_kill(tab, st->h) == 0, "kill");
    atomic_fetch_add_explicit(&deaths, 1, memory_order_relaxed);
  } else {
    STRESS_CHECK(ebra_subject_unsubscribe(subj, st->sub) == 0, "unsubscribe of a live one");
    STRESS_CHECK(ebra_weak_kill(tab, st->h) == 0, "kill");
    atomic_fetch_add_explicit(&unsubs, 1, memory_order_relaxed);
  }
  st->h = 0;
}

static void *churner(void *arg) {
  const int c = (int)*(const unsigned *)arg;
  stress_rng_t r;
  stress_rng_init(&r, args.seed, (uint64_t)c + 1);
  slot_state_t st[SLOTS_PER_CHURNER] = {{0}};
  const int base = c * SLOTS_PER_CHURNER;
  for (int i = 0; i < SLOTS_PER_CHURNER; i++)
    start_sub(base + i, &st[i]);
  for (uint64_t n = 0; !atomic_load_explicit(&stop, memory_order_relaxed); n++) {
    const int i = (int)stress_rng_below(&r, SLOTS_PER_CHURNER);
    end_sub(base + i, &st[i], stress_rng_below(&r, 2));
    start_sub(base + i, &st[i]);
    if (n % 8 == 0)
      sched_yield();
  }
  for (int i = 0; i < SLOTS_PER_CHURNER; i++)
    end_sub(base + i, &st[i], true);
  return NULL;
}

/* ---- notifiers -------------------------------------------------------------------- */

static void *notifier(void *arg) {
  const int n = (int)*(const unsigned *)arg;
  uint64_t *before = calloc((size_t)nslots, sizeof *before);
  STRESS_CHECK(before != NULL, "calloc");
  uint64_t k = 0, ncalls = 0, nchecked = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    for (int i = 0; i < nslots; i++)
      before[i] = atomic_load(&slot_sub[i]);
    const uint64_t t0 = atomic_fetch_add(&ticket, 1);
    const uint64_t v = value_of(n, k++);
    size_t called = 0;
    const int nrc = ebra_subject_notify(subj, v, &called);
    STRESS_CHECK(nrc == 0, "notify: %d", nrc);
    const uint64_t t1 = atomic_fetch_add(&ticket, 1);
    ncalls += (uint64_t)called;
    for (int i = 0; i < nslots; i++) { /* Q3 */
      const uint64_t s = before[i];
      if (!s)
        continue;
      const uint64_t sub = atomic_load(&sub_tick[s]);
      if (sub && sub < t0 && atomic_load(&end_tick[s]) == 0) {
        STRESS_CHECK(atomic_load_explicit(&last[s][n], memory_order_relaxed) == v,
                     "sub %" PRIu64 " (subscribed at %" PRIu64 ", notify %" PRIu64 "..%" PRIu64
                     ", still subscribed and alive) was not called",
                     s, sub, t0, t1);
        nchecked++;
      }
    }
  }
  atomic_fetch_add(&notifies, k);
  atomic_fetch_add(&calls, ncalls);
  atomic_fetch_add(&checked, nchecked);
  free(before);
  return NULL;
}

/* ---- main ------------------------------------------------------------------------- */

static void parse(int argc, char **argv) {
  const stress_opt_t extra[] = {
      {.letter = 'b', .help = "reclamation backend", .value = &backend_index,
       .names = stress_backend_names},
      {.letter = 'c', .help = "churners (the other threads notify)", .value = &nchurners,
       .min = 1, .max = 64},
  };
  stress_parse_args("stress_observer", argc, argv, &args, 0, extra, 2);
  if (args.threads > 64 || args.threads <= nchurners || args.threads - nchurners > MAX_NOTIFIERS)
    stress_usage_error("bad thread counts: -t %lu -c %lu (1 to %d notifiers, 64 threads)",
                       args.threads, nchurners, MAX_NOTIFIERS);
  nnotifiers = (int)(args.threads - nchurners);
  backend = stress_backend(backend_index);
  static char name[64];
  snprintf(name, sizeof name, "stress_observer %s", ebra_reclaim_backend_name(backend));
  stress_set_name(name);
}

int main(int argc, char **argv) {
  parse(argc, argv);
  stress_hook_install();
  nslots = nchurners * SLOTS_PER_CHURNER;
  sub_tick = calloc(MAX_SUBS, sizeof *sub_tick);
  end_tick = calloc(MAX_SUBS, sizeof *end_tick);
  cleaned = calloc(MAX_SUBS, sizeof *cleaned);
  last = calloc(MAX_SUBS, sizeof *last);
  slot_sub = calloc((size_t)nslots, sizeof *slot_sub);
  STRESS_CHECK(sub_tick && end_tick && cleaned && last && slot_sub, "calloc");
  ebra_pool_config_t pc = {.name = "stress_observer", .object_size = sizeof(obj_t),
                           .flags = EBRA_POOL_SECURE_CLEAR};
  pool = ebra_pool_create(&pc);
  STRESS_CHECK(pool != NULL, "pool create");
  ebra_domain_config_t dc = {.name = "stress_observer", .backend = backend};
  dom = ebra_domain_create(&dc);
  STRESS_CHECK(dom != NULL, "domain create");
  tab = ebra_weak_table_create(dom, NULL);
  STRESS_CHECK(tab != NULL, "table create");
  subj = ebra_subject_create(tab, NULL);
  STRESS_CHECK(subj != NULL, "subject create");

  unsigned ids[64]; /* churner c gets ids[c], notifier n ids[n] */
  for (unsigned i = 0; i < 64; i++)
    ids[i] = i;
  stress_threads_t *churners = stress_spawn(nchurners, churner, ids, sizeof ids[0]);
  stress_threads_t *notifiers = stress_spawn((size_t)nnotifiers, notifier, ids, sizeof ids[0]);
  sleep_ms(args.duration_ms);
  atomic_store(&stop, 1);
  stress_join(churners);
  stress_join(notifiers);
  STRESS_CHECK(ebra_domain_barrier(dom) == 0, "barrier");

  /* Q4 */
  const uint64_t made = atomic_load(&next_sub) - 1;
  size_t left = 0;
  STRESS_CHECK(ebra_subject_count(subj, &left) == 0 && left == 0,
               "%zu observers left linked after every death", left);
  STRESS_CHECK(atomic_load(&cleanups) == made, "%" PRIu64 " cleanups for %" PRIu64 " objects",
               atomic_load(&cleanups), made);
  STRESS_CHECK(atomic_load(&checked) > 0 && atomic_load(&deaths) > 0 && atomic_load(&unsubs) > 0,
               "a path was never exercised");
  stress_say("%" PRIu64 " notifies, %" PRIu64 " callbacks, %" PRIu64
             " exactly-once checks; %" PRIu64 " subscriptions, %" PRIu64 " deaths, %" PRIu64
             " unsubscribes\n",
             atomic_load(&notifies), atomic_load(&calls), atomic_load(&checked), made,
             atomic_load(&deaths), atomic_load(&unsubs));
  STRESS_CHECK(ebra_subject_destroy(subj) == 0, "subject destroy");
  STRESS_CHECK(ebra_domain_barrier(dom) == 0, "barrier");
  STRESS_CHECK(ebra_weak_table_destroy(tab) == 0, "table destroy");
  STRESS_CHECK(ebra_domain_destroy(dom) == 0, "domain destroy");
  ebra_pool_stats_t ps;
  STRESS_CHECK(ebra_pool_stats(pool, &ps) == 0 && ps.objects_live == 0, "objects left live");
  STRESS_CHECK(ebra_pool_destroy(pool) == 0, "pool destroy");
  free(sub_tick);
  free(end_tick);
  free(cleaned);
  free(last);
  free((void *)slot_sub);
  return 0;
}

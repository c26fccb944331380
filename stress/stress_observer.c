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
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ebra.h>

#define CANARY 0x0B5E4FE40B5E4FE4ull
#define SLOTS_PER_CHURNER 8
#define MAX_NOTIFIERS 8
#define MAX_SUBS (1u << 20)

typedef struct obj_s {
  uint64_t pool_word;
  uint64_t canary;
  uint64_t sub; /* the subscription it serves */
} obj_t;

static ebra_reclaim_backend_t backend = EBRA_RECLAIM_URCU_MEMB;
static int nthreads = 8, nchurners = 5, nnotifiers, verbose;
static long duration_ms = 2500;
static uint64_t seed = 1;

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

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "stress_observer: FAIL: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}
#define REQUIRE(cond, ...)                                                    \
  do {                                                                        \
    if (!(cond))                                                              \
      fail(__VA_ARGS__);                                                      \
  } while (0)

static void on_report(ebra_error_kind_t kind, const char *msg, void *arg) {
  (void)arg;
  fail("unexpected library report %d: %s", (int)kind, msg);
}

static uint64_t rng(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* The value of notifier n's k-th notify: unique, never 0. */
static uint64_t value_of(int n, uint64_t k) { return ((uint64_t)n << 48) | (k + 1); }

static void callback(void *arg, void *obj, uint64_t value) {
  const uint64_t s = (uint64_t)(uintptr_t)arg;
  const obj_t *o = obj;
  const int n = (int)(value >> 48);
  REQUIRE(o->canary == CANARY, "callback of sub %" PRIu64 ": canary %#" PRIx64, s, o->canary);
  REQUIRE(o->sub == s, "callback of sub %" PRIu64 " got the object of sub %" PRIu64, s, o->sub);
  REQUIRE(!atomic_load(&cleaned[s]), "callback of sub %" PRIu64 " after its cleanup ran", s);
  const uint64_t prev = atomic_exchange_explicit(&last[s][n], value, memory_order_relaxed);
  REQUIRE(prev != value, "sub %" PRIu64 " called twice by one notify", s); /* Q2 */
}

static void on_reclaimed(void *arg, ebra_weak_t h) {
  (void)h;
  const uint64_t s = (uint64_t)(uintptr_t)arg;
  REQUIRE(atomic_exchange(&cleaned[s], 1) == 0, "cleanup of sub %" PRIu64 " ran twice", s);
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
  REQUIRE(s < MAX_SUBS, "too many subscriptions (raise MAX_SUBS)");
  obj_t *o = ebra_pool_alloc(pool);
  REQUIRE(o != NULL, "alloc");
  o->canary = CANARY;
  o->sub = s;
  st->h = ebra_weak_create(tab, o);
  REQUIRE(st->h != EBRA_WEAK_NONE, "weak create");
  REQUIRE(ebra_weak_add_cleanup(tab, st->h, on_reclaimed, (void *)(uintptr_t)s) == 0,
          "add_cleanup");
  st->sub = ebra_subject_subscribe(subj, st->h, callback, (void *)(uintptr_t)s);
  REQUIRE(st->sub != 0, "subscribe of a live object failed");
  st->s = s;
  atomic_store(&sub_tick[s], atomic_fetch_add(&ticket, 1));
  atomic_store(&slot_sub[slot], s);
}

static void end_sub(int slot, slot_state_t *st, bool die) {
  atomic_store(&end_tick[st->s], atomic_fetch_add(&ticket, 1)); /* before it begins */
  atomic_store(&slot_sub[slot], 0);
  if (die) {
    REQUIRE(ebra_weak_kill(tab, st->h) == 0, "kill");
    atomic_fetch_add_explicit(&deaths, 1, memory_order_relaxed);
  } else {
    REQUIRE(ebra_subject_unsubscribe(subj, st->sub) == 0, "unsubscribe of a live one");
    REQUIRE(ebra_weak_kill(tab, st->h) == 0, "kill");
    atomic_fetch_add_explicit(&unsubs, 1, memory_order_relaxed);
  }
  st->h = 0;
}

static void *churner(void *arg) {
  const int c = (int)(intptr_t)arg;
  uint64_t r = seed * 31 + (uint64_t)c;
  slot_state_t st[SLOTS_PER_CHURNER] = {{0}};
  const int base = c * SLOTS_PER_CHURNER;
  for (int i = 0; i < SLOTS_PER_CHURNER; i++)
    start_sub(base + i, &st[i]);
  for (uint64_t n = 0; !atomic_load_explicit(&stop, memory_order_relaxed); n++) {
    const int i = (int)(rng(&r) % SLOTS_PER_CHURNER);
    end_sub(base + i, &st[i], rng(&r) & 1);
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
  const int n = (int)(intptr_t)arg;
  uint64_t *before = calloc((size_t)nslots, sizeof *before);
  REQUIRE(before != NULL, "calloc");
  uint64_t k = 0, ncalls = 0, nchecked = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    for (int i = 0; i < nslots; i++)
      before[i] = atomic_load(&slot_sub[i]);
    const uint64_t t0 = atomic_fetch_add(&ticket, 1);
    const uint64_t v = value_of(n, k++);
    const long called = ebra_subject_notify(subj, v);
    REQUIRE(called >= 0, "notify: %ld", called);
    const uint64_t t1 = atomic_fetch_add(&ticket, 1);
    ncalls += (uint64_t)called;
    for (int i = 0; i < nslots; i++) { /* Q3 */
      const uint64_t s = before[i];
      if (!s)
        continue;
      const uint64_t sub = atomic_load(&sub_tick[s]);
      if (sub && sub < t0 && atomic_load(&end_tick[s]) == 0) {
        REQUIRE(atomic_load_explicit(&last[s][n], memory_order_relaxed) == v,
                "sub %" PRIu64 " (subscribed at %" PRIu64 ", notify %" PRIu64 "..%" PRIu64
                ", still subscribed and alive) was not called", s, sub, t0, t1);
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
  int opt;
  while ((opt = getopt(argc, argv, "b:t:c:d:s:v")) != -1) {
    switch (opt) {
    case 'b':
      backend = !strcmp(optarg, "qsbr") ? EBRA_RECLAIM_URCU_QSBR
                : !strcmp(optarg, "ck") ? EBRA_RECLAIM_CK_EPOCH
                                        : EBRA_RECLAIM_URCU_MEMB;
      break;
    case 't': nthreads = atoi(optarg); break;
    case 'c': nchurners = atoi(optarg); break;
    case 'd': duration_ms = atol(optarg); break;
    case 's': seed = strtoull(optarg, NULL, 0); break;
    case 'v': verbose = 1; break;
    default:
      fprintf(stderr, "usage: stress_observer [-b memb|qsbr|ck] [-t threads] [-c churners] "
                      "[-d ms] [-s seed] [-v]\n");
      exit(2);
    }
  }
  nnotifiers = nthreads - nchurners;
  if (nchurners < 1 || nnotifiers < 1 || nnotifiers > MAX_NOTIFIERS || nthreads > 64)
    fail("bad thread counts");
  const unsigned f = ebra_build_features();
  if (f & EBRA_FEATURE_TSAN)
    duration_ms = duration_ms * 2 / 5;
  else if (f & EBRA_FEATURE_ASAN)
    duration_ms = duration_ms / 2;
}

int main(int argc, char **argv) {
  parse(argc, argv);
  ebra_set_report_hook(on_report, NULL);
  nslots = nchurners * SLOTS_PER_CHURNER;
  sub_tick = calloc(MAX_SUBS, sizeof *sub_tick);
  end_tick = calloc(MAX_SUBS, sizeof *end_tick);
  cleaned = calloc(MAX_SUBS, sizeof *cleaned);
  last = calloc(MAX_SUBS, sizeof *last);
  slot_sub = calloc((size_t)nslots, sizeof *slot_sub);
  REQUIRE(sub_tick && end_tick && cleaned && last && slot_sub, "calloc");
  ebra_pool_config_t pc = {.name = "stress_observer", .object_size = sizeof(obj_t),
                           .flags = EBRA_POOL_SECURE_CLEAR};
  pool = ebra_pool_create(&pc);
  REQUIRE(pool != NULL, "pool create");
  ebra_domain_config_t dc = {.name = "stress_observer", .backend = backend};
  dom = ebra_domain_create(&dc);
  REQUIRE(dom != NULL, "domain create");
  tab = ebra_weak_table_create(dom);
  REQUIRE(tab != NULL, "table create");
  subj = ebra_subject_create(tab);
  REQUIRE(subj != NULL, "subject create");

  pthread_t th[64];
  for (int i = 0; i < nthreads; i++)
    REQUIRE(pthread_create(&th[i], NULL, i < nchurners ? churner : notifier,
                           (void *)(intptr_t)(i < nchurners ? i : i - nchurners)) == 0,
            "pthread_create");
  struct timespec ts = {duration_ms / 1000, (duration_ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  atomic_store(&stop, 1);
  for (int i = 0; i < nthreads; i++)
    pthread_join(th[i], NULL);
  REQUIRE(ebra_domain_barrier(dom) == 0, "barrier");

  /* Q4 */
  const uint64_t made = atomic_load(&next_sub) - 1;
  REQUIRE(ebra_subject_count(subj) == 0, "%ld observers left linked after every death",
          ebra_subject_count(subj));
  REQUIRE(atomic_load(&cleanups) == made, "%" PRIu64 " cleanups for %" PRIu64 " objects",
          atomic_load(&cleanups), made);
  REQUIRE(atomic_load(&checked) > 0 && atomic_load(&deaths) > 0 && atomic_load(&unsubs) > 0,
          "a path was never exercised");
  printf("stress_observer %s: %" PRIu64 " notifies, %" PRIu64 " callbacks, %" PRIu64
         " exactly-once checks; %" PRIu64 " subscriptions, %" PRIu64 " deaths, %" PRIu64
         " unsubscribes\n",
         ebra_reclaim_backend_name(backend), atomic_load(&notifies), atomic_load(&calls),
         atomic_load(&checked), made, atomic_load(&deaths), atomic_load(&unsubs));
  REQUIRE(ebra_subject_destroy(subj) == 0, "subject destroy");
  REQUIRE(ebra_domain_barrier(dom) == 0, "barrier");
  REQUIRE(ebra_weak_table_destroy(tab) == 0, "table destroy");
  REQUIRE(ebra_domain_destroy(dom) == 0, "domain destroy");
  ebra_pool_stats_t ps;
  REQUIRE(ebra_pool_stats(pool, &ps) == 0 && ps.objects_live == 0, "objects left live");
  REQUIRE(ebra_pool_destroy(pool) == 0, "pool destroy");
  free(sub_tick);
  free(end_tick);
  free(cleaned);
  free(last);
  free((void *)slot_sub);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* test_engine.c — the strategy engine, memory limits, alerts and history.
 *
 * Each case runs in a forked child (the engine is process-wide state).  The
 * assertions are on direction, with generous margins, never on times:
 *  - trimming returns depot objects to their slabs, purging gives wholly
 *    free slabs back to the OS, and the audit still balances; a purged slab
 *    is reused before a new one is mapped; a free into a purged slab fails;
 *  - memory-efficient gives back most of a freed burst (resident drops);
 *  - high-throughput grows a pinned pool's magazines under depot traffic
 *    and cuts the depot exchanges of the same workload;
 *  - the capacity policy: a pool whose thread cycles a working set through
 *    the depot grows its magazines with no engine step, up to the cap
 *    (16 x base) and no further; memory-efficient and soft-limit pressure
 *    shrink them and keep them small under the same traffic; low-latency
 *    restores the base; a pinned pool does not grow; growth stops short of
 *    a soft limit; magazine bytes are in the pool's stats;
 *  - a thread that made many operations exits and its cached objects go
 *    back to their slabs, so the next threads take whole cache lines; a
 *    short-lived thread's magazines go to the depot as they are; objects
 *    given back to a slab below where its last take stopped are taken
 *    again (the take's hint moves down), not passed over;
 *  - low-latency shortens retire -> reuse against high-throughput;
 *  - adaptive picks high-throughput, low-latency and memory-efficient for
 *    the burst, steady and idle phases of one workload;
 *  - the hard limit makes allocation fail with ENOMEM and a report, and
 *    allocation works again after a free; the soft limit trims and purges;
 *  - alerts fire exactly once per crossing, with hysteresis (cap usage,
 *    pending bytes held by a reader's section, resident bytes);
 *  - the history keeps the newest samples, oldest first, and refuses NULL
 *    out-parameters with a report;
 *  - ebra_engine_init on a configured engine (by init, a step or
 *    set_strategy) gives -EALREADY and a report, until shutdown;
 *  - switches and knob changes are counted and reported through the hook;
 *  - the background thread steps on its own and stops at shutdown.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/wait.h>

#include "check.h"
#include "clock.h"

static uint64_t resident(void) {
  ebra_snapshot_t *s;
  CHECK_EQ(ebra_snapshot(&s), 0);
  const uint64_t r = s->resident_bytes;
  ebra_snapshot_free(s);
  return r;
}

static ebra_engine_stats_t engine_stats(void) {
  ebra_engine_stats_t st;
  CHECK_EQ(ebra_engine_stats(&st), 0);
  return st;
}

static void fixed_strategy(ebra_strategy_t s) {
  ebra_engine_config_t cfg = {.strategy = s};
  CHECK_EQ(ebra_engine_init(&cfg), 0);
}

/* ---- a burst on several threads -------------------------------------------- */

typedef struct burst_s {
  pthread_barrier_t *all_allocated; /* one round: every thread holds n at once */
  ebra_pool_t *pool;
  size_t n;       /* objects per thread */
  int rounds;     /* alloc n, free n, this many times */
  void **objs;
} burst_t;

static void *burst_main(void *arg) {
  burst_t *b = arg;
  for (int r = 0; r < b->rounds; r++) {
    for (size_t i = 0; i < b->n; i++) {
      b->objs[i] = ebra_pool_alloc(b->pool);
      CHECK(b->objs[i] != NULL);
      *(size_t *)b->objs[i] = i;
    }
    if (b->rounds == 1)
      pthread_barrier_wait(b->all_allocated);
    for (size_t i = 0; i < b->n; i++) {
      CHECK_EQ(*(size_t *)b->objs[i], i);
      CHECK_EQ(ebra_pool_free(b->pool, b->objs[i]), 0);
    }
  }
  return NULL;
}

/* nthreads threads run the burst and exit (their caches go to the depot). */
static void run_burst(ebra_pool_t *pool, int nthreads, size_t n, int rounds) {
  pthread_t th[8];
  burst_t b[8];
  pthread_barrier_t bar;
  CHECK_EQ(pthread_barrier_init(&bar, NULL, (unsigned)nthreads), 0);
  for (int t = 0; t < nthreads; t++) {
    b[t] = (burst_t){.all_allocated = &bar, .pool = pool, .n = n, .rounds = rounds, .objs = calloc(n, sizeof(void *))};
    CHECK(b[t].objs != NULL);
    CHECK_EQ(pthread_create(&th[t], NULL, burst_main, &b[t]), 0);
  }
  for (int t = 0; t < nthreads; t++) {
    CHECK_EQ(pthread_join(th[t], NULL), 0);
    free(b[t].objs);
  }
  pthread_barrier_destroy(&bar);
}

/* ---- cases ------------------------------------------------------------------- */

static void case_trim_purge_reuse(const void *arg) {
  (void)arg;
  ebra_pool_t *pool = test_pool("trim", 256);
  enum { N = 40000 }; /* about 10 MiB */
  void **objs = calloc(N, sizeof *objs);
  CHECK(objs != NULL);
  for (int i = 0; i < N; i++)
    CHECK((objs[i] = ebra_pool_alloc(pool)) != NULL);
  for (int i = 0; i < N; i++)
    CHECK_EQ(ebra_pool_free(pool, objs[i]), 0);
  CHECK_EQ(ebra_pool_thread_flush(pool), 0);
  const ebra_pool_stats_t before = test_stats(pool);
  fixed_strategy(EBRA_STRATEGY_MEMORY_EFFICIENT);
  CHECK_EQ(ebra_maintain(), 0);
  const ebra_pool_stats_t after = test_stats(pool);
  CHECK(after.magazines_trimmed > 0);
  CHECK(after.slabs_purged > 0);
  CHECK(after.bytes_purged >= before.bytes_reserved / 2);
  CHECK_EQ(after.depot_full, 0);
  CHECK_AUDIT(pool);
  /* A late double free of an object whose slab was purged is refused. */
  test_hook_reset();
  CHECK(ebra_pool_free(pool, objs[0]) < 0);
  CHECK(test_reports_all() == 1);
  test_hook_reset();
  /* Allocating again reuses purged slabs before mapping new ones. */
  for (int i = 0; i < N; i++)
    CHECK((objs[i] = ebra_pool_alloc(pool)) != NULL);
  const ebra_pool_stats_t again = test_stats(pool);
  CHECK_EQ(again.slabs, before.slabs);
  CHECK_EQ(again.bytes_reserved, before.bytes_reserved);
  CHECK(again.bytes_purged < after.bytes_purged);
  CHECK_AUDIT(pool);
  for (int i = 0; i < N; i++)
    CHECK_EQ(ebra_pool_free(pool, objs[i]), 0);
  CHECK_AUDIT(pool);
  free(objs);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

/* A tail give-back (slab.c S7) in a slab with a weak-owned object: the
 * slab's held-ever flag (object.c O5) survives it, so the user's free of
 * that object is still refused as held afterwards.  Broken if the purge
 * reopened the slab with a plain store of the count. */
static void case_tail_purge_keeps_held(const void *arg) {
  (void)arg;
  ebra_pool_t *pool = test_pool("held-tail", 256);
  ebra_domain_t *d = ebra_domain_create(&(ebra_domain_config_t){.name = "held-tail"});
  ebra_weak_table_t *t = d ? ebra_weak_table_create(d, NULL) : NULL;
  CHECK(t != NULL);
  enum { N = 1000 }; /* one slab: the current one */
  void *objs[N];
  for (int i = 0; i < N; i++)
    CHECK((objs[i] = ebra_pool_alloc(pool)) != NULL);
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(t, objs[0], &h), 0);
  for (int i = 1; i < N; i++)
    CHECK_EQ(ebra_pool_free(pool, objs[i]), 0);
  CHECK_EQ(ebra_pool_thread_flush(pool), 0);
  fixed_strategy(EBRA_STRATEGY_MEMORY_EFFICIENT);
  CHECK_EQ(ebra_maintain(), 0);
  const ebra_pool_stats_t st = test_stats(pool);
  CHECK_EQ(st.slabs, 1);
  CHECK_EQ(st.slabs_purged, 1);   /* the current slab's tail after slot 0 */
  CHECK_EQ(st.objects_carved, 1); /* went back: slot 0 alone is left */
  test_hook_reset();
  CHECK_EQ(ebra_pool_free(pool, objs[0]), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_HELD, 1);
  CHECK_EQ(ebra_weak_kill(t, h), 0); /* the table returns it after a grace period */
  CHECK_EQ(ebra_domain_barrier(d), 0);
  CHECK_EQ(test_stats(pool).objects_live, 0);
  CHECK_AUDIT(pool);
  CHECK_EQ(ebra_weak_table_destroy(t), 0);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

/* A tail give-back lowers committed bytes, not only the resident size
 * (slab.c, S8): the soft limit sees the burst gone.  Carving into the
 * given-back tail commits the pages again, and a hard limit that leaves
 * no room for them refuses it as it refuses a new slab. */
static void case_tail_purge_commits(const void *arg) {
  (void)arg;
  ebra_pool_t *pool = test_pool("tail-commit", 256);
  enum { N = 3000 }; /* 750 KiB: one slab, the current one */
  void *objs[N];
  /* committed_bytes counts every pool's slabs, and under libebra-malloc.so
   * the malloc classes' too: the pool's magazines are malloc blocks, and
   * the memory-efficient steps below give back those classes' free tails
   * as well.  So one burst first, and its give-back, while nothing is
   * measured: the magazines exist and the classes have nothing left to
   * give back.  And no delayed give-back (0: never on its own). */
  long delay;
  CHECK_EQ(ebra_option_get(EBRA_OPT_PURGE_DELAY, &delay), 0);
  CHECK_EQ(ebra_option_set(EBRA_OPT_PURGE_DELAY, 0), 0);
  for (int i = 0; i < N; i++)
    CHECK((objs[i] = ebra_pool_alloc(pool)) != NULL);
  for (int i = 0; i < N; i++)
    CHECK_EQ(ebra_pool_free(pool, objs[i]), 0);
  CHECK_EQ(ebra_pool_thread_flush(pool), 0);
  fixed_strategy(EBRA_STRATEGY_MEMORY_EFFICIENT);
  CHECK_EQ(ebra_maintain(), 0);
  CHECK_EQ(ebra_maintain(), 0);
  const uint64_t base = engine_stats().committed_bytes;
  for (int i = 0; i < N; i++)
    CHECK((objs[i] = ebra_pool_alloc(pool)) != NULL);
  const uint64_t full = engine_stats().committed_bytes;
  const uint64_t slab = test_stats(pool).bytes_reserved; /* all of it committed */
  CHECK(full >= base + (700u << 10)); /* the slab's pages again */
  for (int i = 0; i < N; i++)
    CHECK_EQ(ebra_pool_free(pool, objs[i]), 0);
  CHECK_EQ(ebra_pool_thread_flush(pool), 0);
  CHECK_EQ(ebra_maintain(), 0);
  CHECK_EQ(test_stats(pool).slabs, 1);
  CHECK_EQ(test_stats(pool).objects_carved, 0); /* all of it went back */
  const uint64_t purged = engine_stats().committed_bytes;
  CHECK(purged + (700u << 10) <= full);
  /* No room for the tail's pages: refused, reported, nothing carved. */
  CHECK_EQ(ebra_set_memory_limits(0, purged + 4096), 0);
  test_hook_reset();
  CHECK(ebra_pool_alloc(pool) == NULL);
  CHECK_EQ(errno, ENOMEM);
  CHECK(test_reports_of(EBRA_ERR_MEMORY_LIMIT) >= 1);
  test_hook_reset();
  CHECK_EQ(engine_stats().committed_bytes, purged);
  /* Room again: the same slab is carved past its tail, committed again. */
  CHECK_EQ(ebra_set_memory_limits(0, 0), 0);
  for (int i = 0; i < N; i++) {
    CHECK((objs[i] = ebra_pool_alloc(pool)) != NULL);
    memset(objs[i], 0x5A, 256);
  }
  CHECK_EQ(test_stats(pool).slabs, 1);
  CHECK_EQ(engine_stats().committed_bytes, full);
  CHECK_AUDIT(pool);
  for (int i = 0; i < N; i++)
    CHECK_EQ(ebra_pool_free(pool, objs[i]), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_EQ(engine_stats().committed_bytes, full - slab); /* the other pools' */
  CHECK_EQ(ebra_option_set(EBRA_OPT_PURGE_DELAY, delay), 0);
}

static void case_memory_efficient_burst(const void *arg) {
  (void)arg;
  ebra_pool_t *pool = test_pool("burst", 1024);
  const uint64_t r0 = resident();
  run_burst(pool, 4, 8000, 1); /* 4 x 8000 x 1 KiB = 31 MiB */
  const uint64_t r1 = resident();
  const uint64_t burst = 4ull * 8000 * 1024;
  CHECK(r1 > r0 + burst / 2); /* the burst was resident */
  fixed_strategy(EBRA_STRATEGY_MEMORY_EFFICIENT);
  CHECK_EQ(ebra_maintain(), 0);
  const uint64_t r2 = resident();
  printf(" [resident %.1f -> %.1f -> %.1f MiB]", r0 / 1048576.0, r1 / 1048576.0,
         r2 / 1048576.0);
  CHECK(r1 > r2 && r1 - r2 >= burst * 3 / 4); /* most of the burst went back */
  CHECK(test_stats(pool).magazine_capacity < 64); /* and magazines shrank */
  CHECK_AUDIT(pool);
}

/* Depot exchanges per alloc+free of a fixed multithreaded workload. */
static double exchanges_per_op(ebra_pool_t *pool) {
  const ebra_pool_stats_t a = test_stats(pool);
  run_burst(pool, 4, 1000, 20);
  const ebra_pool_stats_t b = test_stats(pool);
  return (double)(b.depot_exchanges - a.depot_exchanges) /
         (double)(b.allocs + b.frees - a.allocs - a.frees);
}

static void case_high_throughput_grows(const void *arg) {
  (void)arg;
  /* A pinned capacity: only high-throughput lets it grow (MC2). */
  ebra_pool_config_t c = test_config("ht", 64);
  c.magazine_capacity = 64;
  ebra_pool_t *pool = ebra_pool_create(&c);
  CHECK(pool != NULL);
  fixed_strategy(EBRA_STRATEGY_LOW_LATENCY);
  CHECK_EQ(ebra_maintain(), 0);
  run_burst(pool, 4, 1000, 2); /* warm: carve the working set */
  const double base = exchanges_per_op(pool);
  CHECK_EQ(test_stats(pool).magazine_capacity, 64);
  CHECK_EQ(ebra_engine_set_strategy(EBRA_STRATEGY_HIGH_THROUGHPUT), 0);
  for (int i = 0; i < 4; i++) {
    run_burst(pool, 4, 1000, 5);
    CHECK_EQ(ebra_maintain(), 0);
  }
  const uint32_t cap = test_stats(pool).magazine_capacity;
  run_burst(pool, 4, 1000, 2); /* threads pick up magazines of the new size */
  const double grown = exchanges_per_op(pool);
  printf(" [capacity 64 -> %u, exchanges/op %.4f -> %.4f]", cap, base, grown);
  CHECK(cap >= 128);
  CHECK(grown < base * 0.6);
  CHECK(engine_stats().knob_changes > 0);
  CHECK_AUDIT(pool);
}

/* ---- the magazine capacity policy (src/magazine.c) ------------------------- */

/* One thread cycles a working set of n objects through pool `rounds`
 * times: alloc all, free all (the bench's 1000-live shape). */
static void cycle(ebra_pool_t *pool, void **objs, size_t n, int rounds) {
  for (int r = 0; r < rounds; r++) {
    for (size_t i = 0; i < n; i++)
      CHECK((objs[i] = ebra_pool_alloc(pool)) != NULL);
    for (size_t i = 0; i < n; i++)
      CHECK_EQ(ebra_pool_free(pool, objs[i]), 0);
  }
}

/* Full-magazine exchanges per alloc+free of `rounds` more cycles. */
static double cycle_exchanges_per_op(ebra_pool_t *pool, void **objs, size_t n, int rounds) {
  const ebra_pool_stats_t a = test_stats(pool);
  cycle(pool, objs, n, rounds);
  const ebra_pool_stats_t b = test_stats(pool);
  return (double)(b.depot_exchanges - a.depot_exchanges) /
         (double)(b.allocs + b.frees - a.allocs - a.frees);
}

/* Depot traffic grows the capacity with no engine step; it stops at the
 * cap; lean (memory-efficient, then soft-limit pressure) shrinks it and
 * holds it there under the same traffic; a pinned pool does not grow. */
static void case_capacity_policy(const void *arg) {
  (void)arg;
  enum { SET = 1000, BIG = 20000 };
  void **objs = calloc(BIG, sizeof *objs);
  CHECK(objs != NULL);
  /* The same traffic on a pool pinned at 64: the depot's share today. */
  ebra_pool_config_t c = test_config("pinned", 64);
  c.magazine_capacity = 64;
  ebra_pool_t *pool = ebra_pool_create(&c);
  CHECK(pool != NULL);
  cycle(pool, objs, SET, 2);
  const double before = cycle_exchanges_per_op(pool, objs, SET, 20);
  CHECK_EQ(test_stats(pool).magazine_capacity, 64); /* a pinned pool does not grow */
  CHECK(before > 0.005); /* 1000 live does not fit two magazines of 64 */
  CHECK_EQ(ebra_pool_destroy(pool), 0);

  pool = test_pool("policy", 64); /* capacity from the option: 64 */
  const ebra_pool_stats_t s0 = test_stats(pool);
  CHECK_EQ(s0.magazine_capacity, 64);
  cycle(pool, objs, SET, 20);
  const ebra_pool_stats_t s1 = test_stats(pool);
  const double after = cycle_exchanges_per_op(pool, objs, SET, 20);
  printf(" [capacity 64 -> %u, exchanges/op %.4f -> %.4f, magazines %llu -> %llu B]",
         s1.magazine_capacity, before, after, (unsigned long long)s0.bytes_magazines,
         (unsigned long long)s1.bytes_magazines);
  CHECK_EQ(s1.magazine_capacity, 512); /* two magazines hold the set */
  CHECK(after < before / 10);
  /* No old 64-round magazine keeps cycling: a refill pours it into the
   * loaded one (pool.c, alloc_refill); 0.0020 per op without that. */
  CHECK(after < 0.0005);
  CHECK(s1.bytes_magazines > s0.bytes_magazines); /* counted in the stats */
  /* A working set no cap fits: the capacity stops at the cap, 16 x 64. */
  cycle(pool, objs, BIG, 5);
  CHECK_EQ(test_stats(pool).magazine_capacity, 1024);
  /* Memory-efficient: base / 4, and traffic does not grow it back. */
  fixed_strategy(EBRA_STRATEGY_MEMORY_EFFICIENT);
  CHECK_EQ(ebra_maintain(), 0);
  CHECK_EQ(test_stats(pool).magazine_capacity, 16);
  cycle(pool, objs, SET, 10);
  CHECK_EQ(test_stats(pool).magazine_capacity, 16);
  CHECK_AUDIT(pool);
  /* Low-latency: back to the base, and traffic grows it again. */
  CHECK_EQ(ebra_engine_set_strategy(EBRA_STRATEGY_LOW_LATENCY), 0);
  CHECK_EQ(ebra_maintain(), 0);
  CHECK_EQ(test_stats(pool).magazine_capacity, 64);
  cycle(pool, objs, SET, 20);
  CHECK(test_stats(pool).magazine_capacity >= 512);
  /* Soft-limit pressure under low-latency: lean again. */
  CHECK_EQ(ebra_set_memory_limits(1, 0), 0);
  CHECK_EQ(ebra_maintain(), 0);
  CHECK_EQ(test_stats(pool).magazine_capacity, 16);
  cycle(pool, objs, SET, 10);
  CHECK_EQ(test_stats(pool).magazine_capacity, 16);
  CHECK(engine_stats().soft_limit_steps >= 1);
  CHECK_EQ(ebra_set_memory_limits(0, 0), 0);
  CHECK_AUDIT(pool);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  free(objs);
}

/* ---- a departing cache (src/magazine.c, MC7) ------------------------------ */

/* 48 rounds: a refill takes 48 objects, so a take from the free bits
 * stops inside a bitmap word (free_bits_hint). */
enum { DEPART_CAP = 48, DEPART_SET = 2 * DEPART_CAP };

typedef struct {
  ebra_pool_t *pool;
  int cycles;              /* alloc DEPART_SET, free them shuffled, this many times */
  void *kept[DEPART_CAP];  /* or (cycles == 0) allocate DEPART_CAP and keep them */
} depart_arg_t;

/* Exits holding whatever its cache holds: two full magazines, in the
 * shuffled order of its last frees, or (cycles == 0) nothing. */
static void *depart_main(void *arg) {
  depart_arg_t *a = arg;
  void *objs[DEPART_SET];
  uint64_t x = 88172645463325252ull;
  for (int r = 0; r < a->cycles; r++) {
    for (int i = 0; i < DEPART_SET; i++)
      CHECK((objs[i] = ebra_pool_alloc(a->pool)) != NULL);
    for (int i = DEPART_SET - 1; i > 0; i--) { /* Fisher-Yates, xorshift */
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      void *t = objs[i];
      const int j = (int)(x % (uint64_t)(i + 1));
      objs[i] = objs[j], objs[j] = t;
    }
    for (int i = 0; i < DEPART_SET; i++)
      CHECK_EQ(ebra_pool_free(a->pool, objs[i]), 0);
  }
  if (a->cycles == 0)
    for (int i = 0; i < DEPART_CAP; i++)
      CHECK((a->kept[i] = ebra_pool_alloc(a->pool)) != NULL);
  return NULL;
}

static void depart_run(depart_arg_t *a) {
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, depart_main, a), 0);
  CHECK_EQ(pthread_join(t, NULL), 0);
}

static int uptr_cmp(const void *x, const void *y) {
  const uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;
  return a < b ? -1 : a > b;
}

/* Objects of c in a cache line that holds an object of b. */
static int lines_shared(void *const *b, void *const *c) {
  uintptr_t lb[DEPART_CAP];
  for (int i = 0; i < DEPART_CAP; i++)
    lb[i] = (uintptr_t)b[i] / 64;
  qsort(lb, DEPART_CAP, sizeof lb[0], uptr_cmp);
  int shared = 0;
  for (int i = 0; i < DEPART_CAP; i++) {
    const uintptr_t l = (uintptr_t)c[i] / 64;
    shared += bsearch(&l, lb, DEPART_CAP, sizeof lb[0], uptr_cmp) != NULL;
  }
  return shared;
}

/* A thread that made many operations exits holding two full magazines of
 * objects freed in random order: its rounds go back to their slabs, and
 * the next two threads' refills take them in address order, so no cache
 * line holds objects of both (through the depot, in the order they were
 * freed, 44 of the third thread's 48 objects shared a line with the
 * second's).  A thread that made few operations
 * gives its full magazine to the depot as it is. */
static void case_departing_cache(const void *arg) {
  (void)arg;
  ebra_pool_config_t cfg = test_config("depart", 16);
  cfg.magazine_capacity = DEPART_CAP; /* pinned: no growth */
  ebra_pool_t *pool = ebra_pool_create(&cfg);
  CHECK(pool != NULL);
  depart_arg_t a = {.pool = pool, .cycles = 100}; /* 19 200 operations, 96 rounds held */
  depart_run(&a);
  ebra_pool_stats_t s = test_stats(pool);
  CHECK_EQ(s.objects_in_slabs, DEPART_SET);
  CHECK_EQ(s.depot_full, 0);
  depart_arg_t b = {.pool = pool}, c = {.pool = pool};
  depart_run(&b);
  depart_run(&c);
  const int shared = lines_shared(b.kept, c.kept);
  printf(" [objects of the third thread in lines of the second's: %d of %d]", shared,
         DEPART_CAP);
  CHECK(shared <= 3); /* one boundary line at most; 44 of 48 through the depot */
  CHECK_EQ(test_stats(pool).objects_in_slabs, 0);
  /* Short-lived: 2 cycles (384 operations) and 96 rounds held: the
   * depot. */
  depart_arg_t d = {.pool = pool, .cycles = 2};
  depart_run(&d);
  s = test_stats(pool);
  CHECK_EQ(s.depot_full, 2);
  CHECK_EQ(s.objects_in_slabs, 0);
  for (int i = 0; i < DEPART_CAP; i++) {
    CHECK_EQ(ebra_pool_free(pool, b.kept[i]), 0);
    CHECK_EQ(ebra_pool_free(pool, c.kept[i]), 0);
  }
  CHECK_AUDIT(pool);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

/* A thread that allocates and frees one object `cycles` times (each
 * cycle two operations on its loaded magazine), then frees `give`
 * (DEPART_CAP objects), and exits: with enough cycles its cache departs
 * to the slabs (MC7). */
typedef struct {
  ebra_pool_t *pool;
  int cycles;
  void **give;
} giver_arg_t;

static void *giver_main(void *arg) {
  const giver_arg_t *a = arg;
  for (int i = 0; i < a->cycles; i++) {
    void *p = ebra_pool_alloc(a->pool);
    CHECK(p != NULL);
    CHECK_EQ(ebra_pool_free(a->pool, p), 0);
  }
  for (int i = 0; i < DEPART_CAP; i++)
    CHECK_EQ(ebra_pool_free(a->pool, a->give[i]), 0);
  return NULL;
}

/* A take from a slab's free bits starts at the slab's hint (slab.c,
 * free_hint), below which the bitmap is empty; objects given back below
 * it must move it down, or the next take would pass over them and the
 * pool carve new ones while they sit in the free bits. */
static void case_free_bits_hint(const void *arg) {
  (void)arg;
  ebra_pool_config_t cfg = test_config("hint", 16);
  cfg.magazine_capacity = DEPART_CAP;
  ebra_pool_t *pool = ebra_pool_create(&cfg);
  CHECK(pool != NULL);
  test_hook_reset();
  depart_arg_t a = {.pool = pool, .cycles = 100}; /* 96 objects to the slabs */
  depart_run(&a);
  /* Take them: b the lower 48, stopping inside a bitmap word, c the rest. */
  depart_arg_t b = {.pool = pool}, c = {.pool = pool};
  depart_run(&b);
  depart_run(&c);
  CHECK_EQ(test_stats(pool).objects_in_slabs, 0);
  /* b's objects back to the slabs, below where c's take stopped, with 48
   * newly carved ones above (the giver's own loaded magazine): 8 248
   * operations for 96 rounds held. */
  giver_arg_t g = {.pool = pool, .cycles = 4100, .give = b.kept};
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, giver_main, &g), 0);
  CHECK_EQ(pthread_join(t, NULL), 0);
  ebra_pool_stats_t s = test_stats(pool);
  CHECK_EQ(s.objects_in_slabs, DEPART_SET);
  const uint64_t carved = s.objects_carved;
  /* The next take starts at the lowest free object: b's, and nothing is
   * carved. */
  depart_arg_t e = {.pool = pool};
  depart_run(&e);
  CHECK_EQ(test_stats(pool).objects_carved, carved);
  qsort(b.kept, DEPART_CAP, sizeof b.kept[0], uptr_cmp);
  qsort(e.kept, DEPART_CAP, sizeof e.kept[0], uptr_cmp);
  CHECK(memcmp(b.kept, e.kept, sizeof b.kept) == 0);
  for (int i = 0; i < DEPART_CAP; i++) {
    CHECK_EQ(ebra_pool_free(pool, c.kept[i]), 0);
    CHECK_EQ(ebra_pool_free(pool, e.kept[i]), 0);
  }
  /* A take that found nothing from the hint on reports it (slab.c). */
  CHECK_EQ(test_reports_of(EBRA_ERR_INTERNAL), 0);
  CHECK_AUDIT(pool);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

/* Growth stops short of a memory limit (MC6): with a soft limit the process
 * is already past (and no engine step to shrink anything), the same
 * traffic leaves the capacity alone; without it, the capacity grows. */
static void case_capacity_limit(const void *arg) {
  (void)arg;
  enum { SET = 1000 };
  void *objs[SET];
  ebra_pool_t *pool = test_pool("limited", 64);
  CHECK_EQ(ebra_set_memory_limits(4096, 0), 0);
  cycle(pool, objs, SET, 20);
  CHECK_EQ(test_stats(pool).magazine_capacity, 64);
  CHECK_EQ(ebra_set_memory_limits(0, 0), 0);
  cycle(pool, objs, SET, 20);
  CHECK(test_stats(pool).magazine_capacity > 64); /* the limit was the reason */
  CHECK_AUDIT(pool);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
}

/* Median retire -> reuse of a steady trickle of retires under strategy s. */
static uint64_t reuse_p50_under(ebra_strategy_t s, ebra_pool_t *pool) {
  CHECK_EQ(ebra_engine_set_strategy(s), 0);
  ebra_domain_config_t dc = {.name = ebra_strategy_name(s), .backend = EBRA_RECLAIM_URCU_MEMB};
  ebra_domain_t *d = ebra_domain_create(&dc);
  CHECK(d != NULL);
  CHECK_EQ(ebra_maintain(), 0); /* applies the strategy's batching to d */
  for (int i = 0; i < 2000; i++) {
    void *p = ebra_pool_alloc(pool);
    CHECK(p != NULL);
    CHECK_EQ(ebra_retire(d, p), 0);
    if (i % 4 == 0)
      sleep_ms(1) /* about 4000 retires per second */;
  }
  CHECK_EQ(ebra_domain_barrier(d), 0);
  ebra_domain_stats_t st;
  CHECK_EQ(ebra_domain_stats(d, &st), 0);
  CHECK_EQ(st.pending, 0);
  CHECK_EQ(ebra_domain_unregister_thread(d), 0);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  return st.reuse_ns_p50;
}

static void case_low_latency_reuse(const void *arg) {
  (void)arg;
  ebra_pool_t *pool = test_pool("ll", 64);
  fixed_strategy(EBRA_STRATEGY_HIGH_THROUGHPUT);
  const uint64_t ht = reuse_p50_under(EBRA_STRATEGY_HIGH_THROUGHPUT, pool);
  const uint64_t ll = reuse_p50_under(EBRA_STRATEGY_LOW_LATENCY, pool);
  printf(" [reuse p50: high-throughput %.2f ms, low-latency %.2f ms]", ht / 1e6, ll / 1e6);
  CHECK(ll < ht / 2);
}

/* ---- adaptive over three phases -------------------------------------------- */

typedef struct phase_s {
  ebra_pool_t *pool;
  ebra_domain_t *domain;
  _Atomic int stop;
} phase_t;

static void *burst_phase_main(void *arg) {
  phase_t *ph = arg;
  void **objs = calloc(2000, sizeof *objs);
  CHECK(objs != NULL);
  while (!atomic_load(&ph->stop)) {
    for (int i = 0; i < 2000; i++)
      CHECK((objs[i] = ebra_pool_alloc(ph->pool)) != NULL);
    for (int i = 0; i < 2000; i++)
      CHECK_EQ(ebra_pool_free(ph->pool, objs[i]), 0);
  }
  free(objs);
  return NULL;
}

static void *steady_phase_main(void *arg) {
  phase_t *ph = arg;
  while (!atomic_load(&ph->stop)) {
    for (int i = 0; i < 200; i++) { /* pairs the thread cache serves */
      void *p = ebra_pool_alloc(ph->pool);
      CHECK(p != NULL);
      CHECK_EQ(ebra_pool_free(ph->pool, p), 0);
    }
    void *p = ebra_pool_alloc(ph->pool);
    CHECK(p != NULL);
    CHECK_EQ(ebra_retire(ph->domain, p), 0);
    sleep_ms(1);
  }
  CHECK_EQ(ebra_domain_unregister_thread(ph->domain), 0);
  return NULL;
}

/* Step every 50 ms for `ms`; returns the active strategy at the end. */
static ebra_strategy_t maintain_for(long ms) {
  for (long t = 0; t < ms; t += 50) {
    sleep_ms(50);
    CHECK_EQ(ebra_maintain(), 0);
  }
  return engine_stats().active;
}

static ebra_strategy_t run_phase(phase_t *ph, void *(*fn)(void *), int nthreads, long ms) {
  pthread_t th[4];
  atomic_store(&ph->stop, 0);
  for (int t = 0; t < nthreads; t++)
    CHECK_EQ(pthread_create(&th[t], NULL, fn, ph), 0);
  const ebra_strategy_t s = maintain_for(ms);
  atomic_store(&ph->stop, 1);
  for (int t = 0; t < nthreads; t++)
    CHECK_EQ(pthread_join(th[t], NULL), 0);
  return s;
}

static void case_adaptive_phases(const void *arg) {
  (void)arg;
  phase_t ph = {.pool = test_pool("phases", 1024)};
  ebra_domain_config_t dc = {.name = "phases", .backend = EBRA_RECLAIM_URCU_MEMB};
  CHECK((ph.domain = ebra_domain_create(&dc)) != NULL);
  CHECK_EQ(ebra_engine_init(NULL), 0); /* adaptive */
  CHECK_EQ(engine_stats().configured, EBRA_STRATEGY_ADAPTIVE);
  const ebra_strategy_t burst = run_phase(&ph, burst_phase_main, 4, 600);
  const ebra_strategy_t steady = run_phase(&ph, steady_phase_main, 1, 600);
  const ebra_strategy_t idle = maintain_for(400);
  const uint64_t switches = engine_stats().switches;
  printf(" [%s, %s, %s; %llu switches]", ebra_strategy_name(burst), ebra_strategy_name(steady),
         ebra_strategy_name(idle), (unsigned long long)switches);
  CHECK_EQ(burst, EBRA_STRATEGY_HIGH_THROUGHPUT);
  CHECK_EQ(steady, EBRA_STRATEGY_LOW_LATENCY);
  CHECK_EQ(idle, EBRA_STRATEGY_MEMORY_EFFICIENT);
  CHECK(switches <= 4); /* no flapping: three phases need three switches */
  CHECK_AUDIT(ph.pool);
}

/* ---- limits -------------------------------------------------------------------- */

static void case_hard_limit(const void *arg) {
  (void)arg;
  ebra_pool_t *pool = test_pool("hard", 4096);
  const uint64_t hard = engine_stats().committed_bytes + (8u << 20);
  CHECK_EQ(ebra_set_memory_limits(0, hard), 0);
  enum { MAX = 8192 };
  void **objs = calloc(MAX, sizeof *objs);
  CHECK(objs != NULL);
  int n = 0;
  test_hook_reset();
  while (n < MAX && (objs[n] = ebra_pool_alloc(pool)) != NULL)
    n++;
  CHECK(n < MAX);
  CHECK_EQ(errno, ENOMEM);
  CHECK(test_reports_of(EBRA_ERR_MEMORY_LIMIT) >= 1);
  test_hook_reset();
  ebra_engine_stats_t st = engine_stats();
  CHECK(st.committed_bytes <= hard);
  CHECK(st.hard_limit_refusals >= 1);
  CHECK(n >= 1000); /* most of 8 MiB was usable */
  /* Freed memory is usable again at once. */
  CHECK_EQ(ebra_pool_free(pool, objs[--n]), 0);
  CHECK((objs[n++] = ebra_pool_alloc(pool)) != NULL);
  for (int i = 0; i < n; i++)
    CHECK_EQ(ebra_pool_free(pool, objs[i]), 0);
  CHECK_AUDIT(pool);
  free(objs);
  CHECK_EQ(ebra_set_memory_limits(4, 2), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CONFIG, 1);
}

static void case_soft_limit(const void *arg) {
  (void)arg;
  ebra_pool_t *pool = test_pool("soft", 1024);
  run_burst(pool, 4, 4000, 1); /* about 16 MiB, all freed */
  fixed_strategy(EBRA_STRATEGY_HIGH_THROUGHPUT); /* would keep it all */
  CHECK_EQ(ebra_maintain(), 0);
  const uint64_t before = engine_stats().committed_bytes;
  CHECK(before > (12u << 20));
  CHECK_EQ(ebra_set_memory_limits(4u << 20, 0), 0);
  CHECK_EQ(ebra_maintain(), 0);
  const ebra_engine_stats_t st = engine_stats();
  printf(" [committed %.1f -> %.1f MiB]", before / 1048576.0, st.committed_bytes / 1048576.0);
  CHECK(st.committed_bytes <= (4u << 20));
  CHECK(st.soft_limit_steps >= 1);
  CHECK_EQ(st.active, EBRA_STRATEGY_HIGH_THROUGHPUT); /* fixed strategy kept */
  CHECK_AUDIT(pool);
}

/* ---- alerts, history, visibility, background ------------------------------------ */

static int raised, cleared;

static void on_alert(const ebra_alert_event_t *ev, void *arg) {
  CHECK(arg == &raised);
  CHECK_EQ(ev->metric, EBRA_ALERT_CAP_USAGE_PERMILLE);
  CHECK(strcmp(ev->subject, "capped") == 0);
  if (ev->raised)
    raised++;
  else
    cleared++;
  CHECK_EQ(ebra_maintain(), -EDEADLK); /* not from a callback */
}

static void case_alerts_once_per_crossing(const void *arg) {
  (void)arg;
  ebra_pool_config_t c = test_config("capped", 64);
  c.max_objects = 1000;
  ebra_pool_t *pool = ebra_pool_create(&c);
  CHECK(pool != NULL);
  void *objs[1000];
  int id = -1;
  CHECK_EQ(ebra_alert_add(EBRA_ALERT_CAP_USAGE_PERMILLE, 500, 300, on_alert, &raised, &id), 0);
  CHECK(id >= 0);
  int live = 0;
  const struct { int to, raised, cleared; } steps[] = {
      {400, 0, 0}, {600, 1, 0}, {700, 1, 0}, {450, 1, 0}, /* above clear_below: stays */
      {250, 1, 1}, {200, 1, 1}, {550, 2, 1}, {100, 2, 2},
  };
  for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
    while (live < steps[k].to)
      CHECK((objs[live++] = ebra_pool_alloc(pool)) != NULL);
    while (live > steps[k].to)
      CHECK_EQ(ebra_pool_free(pool, objs[--live]), 0);
    CHECK_EQ(ebra_maintain(), 0);
    CHECK_EQ(ebra_maintain(), 0); /* a second step sees no new crossing */
    CHECK_EQ(raised, steps[k].raised);
    CHECK_EQ(cleared, steps[k].cleared);
  }
  CHECK_EQ(ebra_alert_remove(id), 0);
  CHECK_EQ(ebra_alert_remove(id), -ENOENT);
  while (live < 900)
    CHECK((objs[live++] = ebra_pool_alloc(pool)) != NULL);
  CHECK_EQ(ebra_maintain(), 0);
  CHECK_EQ(raised, 2); /* removed: never called again */
  test_hook_reset();
  int other = -1;
  CHECK_EQ(ebra_alert_add(EBRA_ALERT_PENDING_BYTES, 10, 20, on_alert, NULL, &other), -EINVAL);
  CHECK_EQ(ebra_alert_add(EBRA_ALERT_PENDING_BYTES, 10, 5, NULL, NULL, &other), -EINVAL);
  CHECK_EQ(ebra_alert_add(EBRA_ALERT_PENDING_BYTES, 10, 5, on_alert, NULL, NULL), -EINVAL);
  CHECK_EQ(other, -1); /* untouched by a refused add */
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 3);
  while (live > 0)
    CHECK_EQ(ebra_pool_free(pool, objs[--live]), 0);
}

/* Pending bytes and resident bytes, with the subject each names. */
typedef struct seen_s {
  int raised[4], cleared[4];
  char subject[4][64];
} seen_t;

static void on_any_alert(const ebra_alert_event_t *ev, void *arg) {
  seen_t *s = arg;
  CHECK((unsigned)ev->metric < 4);
  if (ev->raised)
    s->raised[ev->metric]++;
  else
    s->cleared[ev->metric]++;
  snprintf(s->subject[ev->metric], sizeof s->subject[0], "%s", ev->subject);
}

typedef struct reader_s {
  ebra_domain_t *d;
  pthread_barrier_t in, out;
} reader_t;

static void *reader_main(void *arg) {
  reader_t *r = arg;
  CHECK_EQ(ebra_read_lock(r->d), 0);
  pthread_barrier_wait(&r->in);  /* the main thread retires now */
  pthread_barrier_wait(&r->out); /* and steps while we hold the section */
  ebra_read_unlock(r->d);
  CHECK_EQ(ebra_domain_unregister_thread(r->d), 0);
  return NULL;
}

static void case_alerts_pending_and_resident(const void *arg) {
  (void)arg;
  seen_t seen = {0};
  int id[2] = {-1, -1};
  CHECK_EQ(ebra_alert_add(EBRA_ALERT_PENDING_BYTES, 64, 1, on_any_alert, &seen, &id[0]), 0);
  CHECK_EQ(ebra_alert_add(EBRA_ALERT_RESIDENT_BYTES, 1, 0, on_any_alert, &seen, &id[1]), 0);
  CHECK(id[0] >= 0 && id[1] >= 0 && id[0] != id[1]);
  ebra_pool_t *pool = test_pool("pending", 128);
  ebra_domain_config_t dc = {.name = "slow", .backend = EBRA_RECLAIM_URCU_MEMB};
  reader_t r = {.d = ebra_domain_create(&dc)};
  CHECK(r.d != NULL);
  pthread_barrier_init(&r.in, NULL, 2);
  pthread_barrier_init(&r.out, NULL, 2);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, reader_main, &r), 0);
  pthread_barrier_wait(&r.in);
  void *p = ebra_pool_alloc(pool);
  CHECK(p != NULL);
  CHECK_EQ(ebra_retire(r.d, p), 0); /* cannot be reclaimed: a reader holds on */
  CHECK_EQ(ebra_maintain(), 0);
  CHECK_EQ(ebra_maintain(), 0);
  CHECK_EQ(seen.raised[EBRA_ALERT_PENDING_BYTES], 1);
  CHECK_EQ(seen.cleared[EBRA_ALERT_PENDING_BYTES], 0);
  CHECK(strcmp(seen.subject[EBRA_ALERT_PENDING_BYTES], "process") == 0);
  CHECK_EQ(seen.raised[EBRA_ALERT_RESIDENT_BYTES], 1); /* always above 1 byte */
  pthread_barrier_wait(&r.out);
  CHECK_EQ(pthread_join(th, NULL), 0);
  CHECK_EQ(ebra_domain_barrier(r.d), 0);
  CHECK_EQ(ebra_maintain(), 0);
  CHECK_EQ(ebra_maintain(), 0);
  CHECK_EQ(seen.raised[EBRA_ALERT_PENDING_BYTES], 1);
  CHECK_EQ(seen.cleared[EBRA_ALERT_PENDING_BYTES], 1);
  CHECK_EQ(seen.raised[EBRA_ALERT_RESIDENT_BYTES], 1);
  CHECK_EQ(seen.cleared[EBRA_ALERT_RESIDENT_BYTES], 0);
  CHECK_EQ(ebra_domain_unregister_thread(r.d), 0);
  CHECK_EQ(ebra_domain_destroy(r.d), 0);
}

static void case_history(const void *arg) {
  (void)arg;
  ebra_engine_config_t cfg = {.history_len = 5};
  CHECK_EQ(ebra_engine_init(&cfg), 0);
  ebra_sample_t s[16];
  size_t n = 99;
  CHECK_EQ(ebra_history(s, 16, &n), 0);
  CHECK_EQ(n, 0);
  for (int i = 0; i < 8; i++)
    CHECK_EQ(ebra_maintain(), 0);
  CHECK_EQ(ebra_history(s, 16, &n), 0);
  CHECK_EQ(n, 5);
  for (int i = 1; i < 5; i++)
    CHECK(s[i].t_ns > s[i - 1].t_ns);
  ebra_sample_t last[2];
  CHECK_EQ(ebra_history(last, 2, &n), 0);
  CHECK_EQ(n, 2);
  CHECK_EQ(last[0].t_ns, s[3].t_ns);
  CHECK_EQ(last[1].t_ns, s[4].t_ns);
  CHECK_NO_REPORTS();
  CHECK_EQ(ebra_history(NULL, 2, &n), -EINVAL);
  CHECK_EQ(ebra_history(s, 16, NULL), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 2);
  CHECK_EQ(ebra_history(NULL, 0, &n), 0); /* nothing asked, nothing copied */
  CHECK_EQ(n, 0);
  CHECK_EQ(ebra_engine_init(&cfg), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  CHECK_EQ(ebra_engine_shutdown(), 0);
  CHECK_EQ(ebra_history(s, 16, &n), 0);
  CHECK_EQ(n, 0);
}

/* ebra_engine_init on a configured engine is refused, however it was
 * configured, until ebra_engine_shutdown; the first configuration stays. */
static void case_init_twice(const void *arg) {
  (void)arg;
  ebra_engine_config_t cfg = {.strategy = EBRA_STRATEGY_HIGH_THROUGHPUT};
  CHECK_EQ(ebra_engine_init(&cfg), 0);
  ebra_engine_config_t other = {.strategy = EBRA_STRATEGY_MEMORY_EFFICIENT};
  CHECK_EQ(ebra_engine_init(&other), -EALREADY); /* no step in between */
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  CHECK_EQ(engine_stats().configured, EBRA_STRATEGY_HIGH_THROUGHPUT);
  CHECK_EQ(ebra_engine_init(NULL), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  CHECK_EQ(ebra_engine_shutdown(), 0);
  CHECK_EQ(ebra_engine_init(&other), 0); /* after shutdown: allowed again */
  CHECK_EQ(engine_stats().configured, EBRA_STRATEGY_MEMORY_EFFICIENT);
  CHECK_EQ(ebra_engine_shutdown(), 0);
  CHECK_EQ(ebra_maintain(), 0); /* configures with defaults */
  CHECK_EQ(ebra_engine_init(&cfg), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  CHECK_EQ(ebra_engine_shutdown(), 0);
  CHECK_EQ(ebra_engine_set_strategy(EBRA_STRATEGY_LOW_LATENCY), 0); /* likewise */
  CHECK_EQ(ebra_engine_init(&cfg), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  CHECK_EQ(ebra_engine_shutdown(), 0);
}

static void case_visibility(const void *arg) {
  (void)arg;
  ebra_pool_t *pool = test_pool("visible", 64);
  run_burst(pool, 2, 1000, 1);
  CHECK_EQ(ebra_engine_init(NULL), 0); /* adaptive starts at low-latency */
  CHECK_EQ(ebra_maintain(), 0);
  test_hook_reset();
  CHECK_EQ(ebra_engine_set_strategy(EBRA_STRATEGY_MEMORY_EFFICIENT), 0);
  CHECK_EQ(ebra_maintain(), 0);
  const ebra_engine_stats_t st = engine_stats();
  CHECK_EQ(st.switches, 1); /* low-latency -> memory-efficient */
  CHECK(st.knob_changes >= 1);
  CHECK(test_reports_of(EBRA_INFO_ENGINE) >= 2); /* the switch and the capacity */
  CHECK_EQ(test_reports_all(), test_reports_of(EBRA_INFO_ENGINE));
  test_hook_reset();
  /* Options spell limits with size suffixes and strategies by name. */
  CHECK_EQ(ebra_option_set_text(EBRA_OPT_SOFT_LIMIT, "4M"), 0);
  CHECK_EQ(opt_value(EBRA_OPT_SOFT_LIMIT), 4 << 20);
  CHECK_EQ(ebra_option_set_text(EBRA_OPT_HARD_LIMIT, "1GiB"), 0);
  CHECK_EQ(engine_stats().hard_limit, 1ull << 30);
  CHECK_EQ(ebra_option_set_text(EBRA_OPT_STRATEGY, "high-throughput"), 0);
  CHECK_EQ(opt_value(EBRA_OPT_STRATEGY), EBRA_STRATEGY_HIGH_THROUGHPUT);
  CHECK_EQ(ebra_option_set_text(EBRA_OPT_STRATEGY, "fastest"), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_OPTION, 1);
  CHECK_EQ(ebra_engine_set_strategy((ebra_strategy_t)9), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1); /* a bad argument, not a configuration */
}

static void case_background(const void *arg) {
  (void)arg;
  ebra_engine_config_t cfg = {.background = true, .interval_ns = 10000000};
  CHECK_EQ(ebra_engine_init(&cfg), 0);
  sleep_ms(200);
  CHECK(engine_stats().steps >= 3);
  CHECK_EQ(ebra_engine_shutdown(), 0);
  const uint64_t steps = engine_stats().steps; /* shutdown forgets: 0 */
  sleep_ms(50);
  CHECK_EQ(engine_stats().steps, steps);
}

int main(int argc, char **argv) {
  const int in_process = argc > 1;
  static const struct {
    const char *name;
    void (*fn)(const void *);
  } cases[] = {
      {"trim_purge_reuse", case_trim_purge_reuse},
      {"tail_purge_keeps_held", case_tail_purge_keeps_held},
      {"tail_purge_commits", case_tail_purge_commits},
      {"memory_efficient_burst", case_memory_efficient_burst},
      {"high_throughput_grows", case_high_throughput_grows},
      {"low_latency_reuse", case_low_latency_reuse},
      {"adaptive_phases", case_adaptive_phases},
      {"hard_limit", case_hard_limit},
      {"soft_limit", case_soft_limit},
      {"capacity_policy", case_capacity_policy},
      {"capacity_limit", case_capacity_limit},
      {"departing_cache", case_departing_cache},
      {"free_bits_hint", case_free_bits_hint},
      {"alerts_once_per_crossing", case_alerts_once_per_crossing},
      {"alerts_pending_and_resident", case_alerts_pending_and_resident},
      {"history", case_history},
      {"init_twice", case_init_twice},
      {"visibility", case_visibility},
      {"background", case_background},
  };
  int failed = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (in_process && strcmp(argv[1], cases[i].name) != 0)
      continue;
    printf("%-40s", cases[i].name);
    failed += !check_run_case(cases[i].fn, NULL, in_process);
  }
  return failed ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/* bench/ops_count.c — a fixed loop of one hot-path operation, for counting
 * instructions per operation under callgrind (bench/callgrind.sh), the
 * figure that stays put when this VM's timings drift.
 *   ops_count MODE N     run N operations of MODE
 *   ops_count --list     every mode with what it runs, tab-separated
 * Pool modes (64-byte objects; one operation = one alloc+free pair):
 *   pair              ebra_pool_alloc + ebra_pool_free (exported calls)
 *   pair_inline       ebra_pool_alloc_inline + ebra_pool_free_inline
 *                     (ebra/pool_inline.h; also accepted as pair-inline)
 *   pair_strict       pair on a pool with EBRA_POOL_STRICT_CHECKS
 *   pair_held         pair on the pool whose objects the weak modes' handles
 *                     own: its slab has had held objects, so free reads the
 *                     held bitmap (the other pool modes' pool never had one)
 *   live_lifo         1000 ebra_pool_alloc, then 1000 frees newest first
 *   live_fifo         the same, freed oldest first
 *   live_lifo_inline, live_fifo_inline   the same through the inline path
 *   floor_pair        per-thread freelist, called out of line (pool_floor.h)
 *   floor_inline_pair per-thread freelist, inlined
 *   floor_live_lifo, floor_live_fifo     1000 live through the called floor
 *   malloc_pair, malloc_live_lifo, malloc_live_fifo   malloc(64) + free, the
 *                     process's malloc (callgrind.sh preloads the peers)
 *   larson, floor_larson, malloc_larson   bench_pool's BM_larson on one
 *                     thread without cross-thread frees: a window of 1024
 *                     live objects of six classes 16-512 B (one ebra pool /
 *                     one called floor per class, malloc of the class size);
 *                     free a random one, allocate a random class, write it;
 *   larson_inline     larson through the inline fast path
 * Weak modes (memb domain unless named; the thread is registered, so a
 * qsbr thread is online, except in section_qsbr_implicit):
 *   loop     the resolve loops' own work (load a handle, store the sink):
 *            subtract it for the calls alone
 *   resolve, resolve_inline   ebra_weak_get / ebra_weak_get_inline in a
 *            held section
 *   section, section_inline   ebra_read_lock + ebra_weak_get +
 *            ebra_read_unlock, or their _inline variants, one section per
 *            resolve
 *   section_qsbr, section_qsbr_inline, section_ck, section_ck_inline
 *            the same on a qsbr and a ck domain
 *   section_qsbr_implicit     section_qsbr_inline on a thread that never
 *            registered (it rests offline between sections)
 *   ck_bare  ck_epoch_begin + ck_epoch_end on a record of a ck_epoch_t of
 *            the benchmark's own: the floor of a ck section
 *   memb_floor  section_inline with liburcu memb's own read lock and
 *            unlock inlined into this program in place of ebra's
 *            (weak_floor.c, _LGPL_SOURCE): the floor of a memb section
 *   lookup   ebra_cache_lookup_u64 hit in a held section
 * Setup is the same for every N (the live modes' 1000 objects are allocated
 * and freed once through each allocator before the loop; a larson mode fills
 * its window first), so (Ir(N) - Ir(0)) / N is the cost of one operation,
 * the caller's loop included.  N is a multiple of 1000 for the live modes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ck_epoch.h>

#include <ebra.h>

#include "pool_floor.h"
#include "weak_floor.h"

#define NOBJ 64   /* handles for the weak modes; a power of two (masked) */
#define NLIVE 1000 /* objects live at once in the live modes */
#define OBJ_SIZE 64
#define NCLASSES 6 /* larson: 16, 32, ..., 512 B */
#define WINDOW 1024 /* larson: live objects; a power of two (masked) */

static void die(const char *what) {
  fprintf(stderr, "ops_count: %s failed\n", what);
  exit(1);
}

/* Everything a mode may use, set up once, the same for every mode. */
struct ctx {
  ebra_pool_t *pool;   /* no object of it is ever held (retired, weak) */
  ebra_pool_t *wpool;  /* the weak modes' objects */
  ebra_pool_t *strict; /* the same with EBRA_POOL_STRICT_CHECKS */
  bench_floor_t *floor;
  ebra_domain_t *domain;
  ebra_weak_table_t *table;
  ebra_cache_t *cache;
  ebra_weak_t handles[NOBJ];
  ebra_domain_t *dq, *dc;          /* qsbr and ck domains */
  ebra_weak_table_t *tq, *tc;
  ebra_weak_t hq[NOBJ], hc[NOBJ];
  ck_epoch_t epoch;                /* ck_bare */
  ck_epoch_record_t record;
  void *live[NLIVE];
  ebra_pool_t *classes[NCLASSES]; /* larson: one pool per class */
  bench_floor_t *floors[NCLASSES]; /* larson: one floor per class */
  uint64_t rng;                    /* larson: xorshift64 state */
  uintptr_t window[WINDOW];        /* larson: object | class */
};

static void *volatile sink;

/* p escapes to code the compiler cannot see, which may change p and read or
 * write any memory: what Google Benchmark's DoNotOptimize does in the timed
 * loops of bench_pool, so the counts here are of the code timed there.
 * Without it an inlined alloc followed by an inlined free of the same object
 * folds into nothing (the pop cancelled against the push: the inlined floor
 * then counts 8 instructions per pair instead of 15).  The cost is the same
 * for every allocator: after the escape, the loop reloads the allocator's
 * handle from memory (the exported calls clobber it anyway). */
#define ESCAPE(p) __asm__ volatile("" : "+r"(p) : : "memory")

/* The allocator shapes the pair and live loops are written once for. */
static void *a_pool(struct ctx *c) { return ebra_pool_alloc(c->pool); }
static void f_pool(struct ctx *c, void *p) { ebra_pool_free(c->pool, p); }
static void *a_wpool(struct ctx *c) { return ebra_pool_alloc(c->wpool); }
static void f_wpool(struct ctx *c, void *p) { ebra_pool_free(c->wpool, p); }
static void *a_strict(struct ctx *c) { return ebra_pool_alloc(c->strict); }
static void f_strict(struct ctx *c, void *p) { ebra_pool_free(c->strict, p); }
static void *a_floor(struct ctx *c) { return bench_floor_alloc(c->floor); }
static void f_floor(struct ctx *c, void *p) { bench_floor_free(c->floor, p); }
static void *a_malloc(struct ctx *c) { (void)c; return malloc(OBJ_SIZE); }
static void f_malloc(struct ctx *c, void *p) { (void)c; free(p); }

/* One definition per allocator and loop, so the allocator's calls inline
 * into the loop (they are calls into libebra, pool_floor.c or libc; only
 * the floor_inline and pair_inline modes inline the allocator itself). */
#define PAIR_LOOP(name, A, F)                                                  \
  static void name(struct ctx *c, long n) {                                    \
    for (long i = 0; i < n; i++) {                                             \
      void *p = A(c);                                                          \
      ESCAPE(p);                                                               \
      F(c, p);                                                                 \
    }                                                                          \
  }
#define LIVE_LOOP(name, A, F, FIFO)                                            \
  static void name(struct ctx *c, long n) {                                    \
    for (long r = 0; r < n / NLIVE; r++) {                                     \
      for (int i = 0; i < NLIVE; i++) {                                        \
        c->live[i] = A(c);                                                     \
        ESCAPE(c->live[i]);                                                    \
      }                                                                        \
      for (int i = 0; i < NLIVE; i++)                                          \
        F(c, c->live[FIFO ? i : NLIVE - 1 - i]);                               \
    }                                                                          \
  }

static inline void *a_floor_inline(struct ctx *c) { return bench_floor_alloc_inline(c->floor); }
static inline void f_floor_inline(struct ctx *c, void *p) { bench_floor_free_inline(c->floor, p); }

PAIR_LOOP(run_pair, a_pool, f_pool)
PAIR_LOOP(run_pair_strict, a_strict, f_strict)
PAIR_LOOP(run_pair_held, a_wpool, f_wpool)
PAIR_LOOP(run_floor_pair, a_floor, f_floor)
PAIR_LOOP(run_floor_inline_pair, a_floor_inline, f_floor_inline)
PAIR_LOOP(run_malloc_pair, a_malloc, f_malloc)
LIVE_LOOP(run_live_lifo, a_pool, f_pool, 0)
LIVE_LOOP(run_live_fifo, a_pool, f_pool, 1)
LIVE_LOOP(run_floor_live_lifo, a_floor, f_floor, 0)
LIVE_LOOP(run_floor_live_fifo, a_floor, f_floor, 1)
LIVE_LOOP(run_malloc_live_lifo, a_malloc, f_malloc, 0)
LIVE_LOOP(run_malloc_live_fifo, a_malloc, f_malloc, 1)

/* larson: the pointer carries its class in its low three bits. */
static inline uint64_t xorshift64(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}
static void *ac_pool(struct ctx *c, unsigned k) { return ebra_pool_alloc(c->classes[k]); }
static void fc_pool(struct ctx *c, unsigned k, void *p) { ebra_pool_free(c->classes[k], p); }
static void *ac_floor(struct ctx *c, unsigned k) { return bench_floor_alloc(c->floors[k]); }
static void fc_floor(struct ctx *c, unsigned k, void *p) { bench_floor_free(c->floors[k], p); }
static void *ac_malloc(struct ctx *c, unsigned k) { (void)c; return malloc((size_t)16 << k); }
static void fc_malloc(struct ctx *c, unsigned k, void *p) { (void)c; (void)k; free(p); }

#define LARSON_LOOP(name, A, F)                                                \
  static void name(struct ctx *c, long n) {                                    \
    for (long i = 0; i < n; i++) {                                             \
      const uint64_t r = xorshift64(&c->rng);                                  \
      uintptr_t *slot = &c->window[r & (WINDOW - 1)];                          \
      if (*slot != 0)                                                          \
        F(c, (unsigned)(*slot & 7u), (void *)(*slot & ~(uintptr_t)7));         \
      const unsigned k = (unsigned)((r >> 32) % NCLASSES);                     \
      void *p = A(c, k);                                                       \
      if (p != NULL)                                                           \
        *(volatile uint64_t *)p = r;                                           \
      *slot = (uintptr_t)p | k;                                                \
    }                                                                          \
  }
LARSON_LOOP(run_larson, ac_pool, fc_pool)
LARSON_LOOP(run_floor_larson, ac_floor, fc_floor)
LARSON_LOOP(run_malloc_larson, ac_malloc, fc_malloc)
static inline void *ac_pool_inline(struct ctx *c, unsigned k) {
  return ebra_pool_alloc_inline(c->classes[k]);
}
static inline void fc_pool_inline(struct ctx *c, unsigned k, void *p) {
  ebra_pool_free_inline(c->classes[k], p);
}
LARSON_LOOP(run_larson_inline, ac_pool_inline, fc_pool_inline)

static inline void *a_pool_inline(struct ctx *c) { return ebra_pool_alloc_inline(c->pool); }
static inline void f_pool_inline(struct ctx *c, void *p) { ebra_pool_free_inline(c->pool, p); }
PAIR_LOOP(run_pair_inline, a_pool_inline, f_pool_inline)
LIVE_LOOP(run_live_lifo_inline, a_pool_inline, f_pool_inline, 0)
LIVE_LOOP(run_live_fifo_inline, a_pool_inline, f_pool_inline, 1)

static void run_resolve(struct ctx *c, long n) {
  ebra_read_lock(c->domain);
  for (long i = 0; i < n; i++)
    sink = ebra_weak_get(c->table, c->handles[i & (NOBJ - 1)]);
  ebra_read_unlock(c->domain);
}

static void run_section(struct ctx *c, long n) {
  for (long i = 0; i < n; i++) {
    ebra_read_lock(c->domain);
    sink = ebra_weak_get(c->table, c->handles[i & (NOBJ - 1)]);
    ebra_read_unlock(c->domain);
  }
}

static void run_loop(struct ctx *c, long n) {
  for (long i = 0; i < n; i++)
    sink = (void *)(uintptr_t)c->handles[i & (NOBJ - 1)];
}

static void run_resolve_inline(struct ctx *c, long n) {
  ebra_read_lock_inline(c->domain);
  for (long i = 0; i < n; i++)
    sink = ebra_weak_get_inline(c->table, c->handles[i & (NOBJ - 1)]);
  ebra_read_unlock_inline(c->domain);
}

/* One section per resolve on d / t, exported or inline. */
#define SECTION_LOOP(name, D, T, H, LOCK, GET, UNLOCK)                         \
  static void name(struct ctx *c, long n) {                                    \
    for (long i = 0; i < n; i++) {                                             \
      LOCK(c->D);                                                              \
      sink = GET(c->T, c->H[i & (NOBJ - 1)]);                                  \
      UNLOCK(c->D);                                                            \
    }                                                                          \
  }
SECTION_LOOP(run_section_inline, domain, table, handles, ebra_read_lock_inline,
             ebra_weak_get_inline, ebra_read_unlock_inline)
SECTION_LOOP(run_section_qsbr, dq, tq, hq, ebra_read_lock, ebra_weak_get, ebra_read_unlock)
SECTION_LOOP(run_section_qsbr_inline, dq, tq, hq, ebra_read_lock_inline, ebra_weak_get_inline,
             ebra_read_unlock_inline)
SECTION_LOOP(run_section_ck, dc, tc, hc, ebra_read_lock, ebra_weak_get, ebra_read_unlock)
SECTION_LOOP(run_section_ck_inline, dc, tc, hc, ebra_read_lock_inline, ebra_weak_get_inline,
             ebra_read_unlock_inline)
/* The same loop as section_qsbr_inline; setup leaves the thread implicit. */
static void run_section_qsbr_implicit(struct ctx *c, long n) { run_section_qsbr_inline(c, n); }

static void run_ck_bare(struct ctx *c, long n) {
  for (long i = 0; i < n; i++) {
    ck_epoch_begin(&c->record, NULL);
    sink = (void *)(uintptr_t)c->hc[i & (NOBJ - 1)];
    ck_epoch_end(&c->record, NULL);
  }
}

/* liburcu memb's read lock and unlock inlined here (weak_floor.c) around
 * ebra_weak_get_inline: the floor of section_inline.  NOBJ is 64, the
 * floor's mask. */
static void run_memb_floor(struct ctx *c, long n) {
  ebra_bench_floor_memb_sections(c->table, c->handles, n, &sink);
}

static void run_lookup(struct ctx *c, long n) {
  ebra_read_lock(c->domain);
  for (long i = 0; i < n; i++) {
    void *o;
    ebra_cache_lookup_u64(c->cache, (uint64_t)(i & (NOBJ - 1)), &o);
    sink = o;
  }
  ebra_read_unlock(c->domain);
}

static const struct mode {
  const char *name;
  void (*run)(struct ctx *, long);
  const char *what;
} modes[] = {
    {"pair", run_pair, "ebra pool alloc+free, 64 B, exported calls"},
    {"pair_inline", run_pair_inline, "ebra pool alloc+free, 64 B, inline fast path"},
    {"pair_strict", run_pair_strict, "ebra pool alloc+free, 64 B, EBRA_POOL_STRICT_CHECKS"},
    {"pair_held", run_pair_held, "pair on a pool whose slab has had weak-owned objects"},
    {"live_lifo", run_live_lifo, "ebra pool, 1000 live then free newest first, per pair"},
    {"live_fifo", run_live_fifo, "ebra pool, 1000 live then free oldest first, per pair"},
    {"live_lifo_inline", run_live_lifo_inline, "live_lifo through the inline fast path"},
    {"live_fifo_inline", run_live_fifo_inline, "live_fifo through the inline fast path"},
    {"floor_pair", run_floor_pair, "per-thread freelist called out of line, pair"},
    {"floor_inline_pair", run_floor_inline_pair, "per-thread freelist inlined, pair"},
    {"floor_live_lifo", run_floor_live_lifo, "freelist called out of line, 1000 live, LIFO"},
    {"floor_live_fifo", run_floor_live_fifo, "freelist called out of line, 1000 live, FIFO"},
    {"malloc_pair", run_malloc_pair, "malloc(64) + free"},
    {"malloc_live_lifo", run_malloc_live_lifo, "malloc, 1000 live then free newest first"},
    {"malloc_live_fifo", run_malloc_live_fifo, "malloc, 1000 live then free oldest first"},
    {"larson", run_larson, "larson, 1 thread, 6 ebra pools 16-512 B, per free+alloc"},
    {"larson_inline", run_larson_inline, "larson through the inline fast path"},
    {"floor_larson", run_floor_larson, "larson, 1 thread, 6 called floors, per free+alloc"},
    {"malloc_larson", run_malloc_larson, "larson, 1 thread, malloc, per free+alloc"},
    {"loop", run_loop, "the resolve loops' own work (handle load, sink store)"},
    {"resolve", run_resolve, "ebra_weak_get in a held memb section"},
    {"resolve_inline", run_resolve_inline, "ebra_weak_get_inline in a held memb section"},
    {"section", run_section, "memb read lock + ebra_weak_get + unlock"},
    {"section_inline", run_section_inline, "memb section, _inline lock, get and unlock"},
    {"section_qsbr", run_section_qsbr, "qsbr (online) read lock + ebra_weak_get + unlock"},
    {"section_qsbr_inline", run_section_qsbr_inline, "qsbr (online) section, _inline"},
    {"section_ck", run_section_ck, "ck read lock + ebra_weak_get + unlock"},
    {"section_ck_inline", run_section_ck_inline, "ck section, _inline"},
    {"section_qsbr_implicit", run_section_qsbr_implicit,
     "qsbr section, _inline, thread never registered (offline between sections)"},
    {"ck_bare", run_ck_bare, "bare ck_epoch_begin + ck_epoch_end (the ck floor)"},
    {"memb_floor", run_memb_floor,
     "liburcu memb read lock/unlock inlined + ebra_weak_get_inline (the memb floor)"},
    {"lookup", run_lookup, "ebra_cache_lookup_u64 hit in a held memb section"},
};

/* A qsbr and a ck domain with NOBJ handles each; the thread registers with
 * both unless implicit (then its first qsbr section registers it). */
static void setup_backends(struct ctx *c, int implicit) {
  c->dq = ebra_domain_create(
      &(ebra_domain_config_t){.name = "ops-qsbr", .backend = EBRA_RECLAIM_URCU_QSBR});
  c->dc = ebra_domain_create(
      &(ebra_domain_config_t){.name = "ops-ck", .backend = EBRA_RECLAIM_CK_EPOCH});
  c->tq = c->dq ? ebra_weak_table_create(c->dq, NULL) : NULL;
  c->tc = c->dc ? ebra_weak_table_create(c->dc, NULL) : NULL;
  if (!c->tq || !c->tc)
    die("backend setup");
  for (int i = 0; i < NOBJ; i++) {
    void *a = ebra_pool_alloc(c->wpool), *b = ebra_pool_alloc(c->wpool);
    if (!a || !b || ebra_weak_create(c->tq, a, &c->hq[i]) != 0 ||
        ebra_weak_create(c->tc, b, &c->hc[i]) != 0)
      die("backend objects");
  }
  if (!implicit && (ebra_domain_register_thread(c->dq) != 0 ||
                    ebra_domain_register_thread(c->dc) != 0))
    die("register");
  if (ebra_read_lock(c->dq) != 0 || ebra_read_lock(c->dc) != 0)
    die("first sections");
  ebra_read_unlock(c->dc);
  ebra_read_unlock(c->dq);
  ck_epoch_init(&c->epoch);
  ck_epoch_register(&c->epoch, &c->record, NULL);
}

static void setup(struct ctx *c) {
  c->pool = ebra_pool_create(&(ebra_pool_config_t){.name = "ops", .object_size = OBJ_SIZE});
  c->wpool = ebra_pool_create(&(ebra_pool_config_t){.name = "ops-weak", .object_size = OBJ_SIZE});
  c->strict = ebra_pool_create(&(ebra_pool_config_t){
      .name = "ops-strict", .object_size = OBJ_SIZE, .flags = EBRA_POOL_STRICT_CHECKS});
  c->floor = bench_floor_create(OBJ_SIZE);
  c->domain = ebra_domain_create(
      &(ebra_domain_config_t){.name = "ops", .backend = EBRA_RECLAIM_URCU_MEMB});
  c->table = c->domain ? ebra_weak_table_create(c->domain, NULL) : NULL;
  c->cache = c->table ? ebra_cache_create(c->table, NULL) : NULL;
  if (!c->pool || !c->wpool || !c->strict || !c->floor || !c->cache)
    die("setup");
  for (int k = 0; k < NCLASSES; k++) {
    c->classes[k] = ebra_pool_create(
        &(ebra_pool_config_t){.name = "ops-larson", .object_size = (size_t)16 << k});
    c->floors[k] = bench_floor_create((size_t)16 << k);
    if (!c->classes[k] || !c->floors[k])
      die("larson setup");
  }
  for (int i = 0; i < NOBJ; i++) {
    void *o = ebra_pool_alloc(c->wpool);
    if (!o || ebra_weak_create(c->table, o, &c->handles[i]) != 0 ||
        ebra_cache_store_u64(c->cache, (uint64_t)i, c->handles[i]) != 0)
      die("objects");
  }
  if (ebra_read_lock(c->domain) != 0) /* registers the thread */
    die("first section");
  ebra_read_unlock(c->domain);
  /* One round of 1000 live through each allocator: slabs, chunks and
   * magazines the live modes need exist before the loop, for every mode. */
  run_live_lifo(c, NLIVE);
  run_pair_strict(c, 1); /* the strict pool's first slab and magazine */
  run_pair_held(c, 1);
  run_floor_live_lifo(c, NLIVE);
  run_malloc_live_lifo(c, NLIVE);
  c->rng = 0x9e3779b97f4a7c15ull;
}

int main(int argc, char **argv) {
  const size_t nmodes = sizeof modes / sizeof modes[0];
  if (argc == 2 && !strcmp(argv[1], "--list")) {
    for (size_t i = 0; i < nmodes; i++)
      printf("%s\t%s\n", modes[i].name, modes[i].what);
    return 0;
  }
  if (argc != 3) {
    fprintf(stderr, "usage: ops_count MODE N | ops_count --list\n");
    return 2;
  }
  const struct mode *m = NULL;
  const char *name = !strcmp(argv[1], "pair-inline") ? "pair_inline" : argv[1];
  for (size_t i = 0; i < nmodes; i++)
    if (!strcmp(name, modes[i].name))
      m = &modes[i];
  if (m == NULL)
    die(argv[1]);
  const long n = atol(argv[2]);
  if (!strncmp(m->name, "live", 4) || strstr(m->name, "_live_")) {
    if (n % NLIVE != 0) {
      fprintf(stderr, "ops_count: %s needs N a multiple of %d\n", m->name, NLIVE);
      return 2;
    }
  }
  static struct ctx c; /* zeroed: the larson window starts empty */
  setup(&c);
  setup_backends(&c, m->run == run_section_qsbr_implicit);
  /* A larson mode first fills its window (and its pools' magazines) with
   * its own allocator; that is part of Ir(0) as much as of Ir(N). */
  if (m->run == run_larson || m->run == run_larson_inline || m->run == run_floor_larson ||
      m->run == run_malloc_larson)
    m->run(&c, 8 * WINDOW);
  m->run(&c, n);
  _exit(0); /* no teardown: the same instructions for every N */
}

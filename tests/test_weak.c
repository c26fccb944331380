/* SPDX-License-Identifier: MIT */
/* test_weak.c — weak handles over pool objects, for every backend.
 *
 * Claims checked (each case runs for urcu-memb, urcu-qsbr and ck-epoch):
 *  - create gives a non-zero handle; ebra_weak_get inside a section returns
 *    the object; after ebra_weak_kill it returns NULL at once; after a
 *    barrier the object is back in its pool and its cleanups ran.
 *  - create of malloc'd memory: -EFAULT, *out EBRA_WEAK_NONE.
 *  - upgrade adds a strong reference: a kill by the creator makes the
 *    handle resolve to NULL at once but does not free the object (after a
 *    barrier it is still live, no cleanup ran) until the upgraded
 *    reference is released; then it is freed and its cleanups run once.
 *  - releasing the last strong reference kills: get NULL, upgrade -ENOENT.
 *  - release / kill of a dead or stale handle -ESTALE; kill twice, the
 *    second -ESTALE; add_cleanup on a dead handle -ESTALE.
 *  - cleanups run once each, in registration order, on the reclaimer
 *    thread, with their argument and the handle.
 *  - generations never lie: a slot reused for a new object (same index,
 *    new generation) resolves the new handle only; forged handles (index
 *    past the table, other tag, 0, generation 0 or not yet issued) and
 *    handles of another table resolve to NULL and are -ESTALE for release
 *    and kill.
 *  - with max_generation 3 a slot serves at most 3 objects, is then
 *    retired for good (stats.retired_slots), and the table keeps working.
 *  - a destroyed table's tag reused by a new table: no old handle resolves.
 *  - table destroy: -EBUSY while an object is alive or awaits reclamation;
 *    0 after kill and barrier; afterwards get NULL, every other call -EBADF.
 *  - stats: created, killed, live, cleanups_run after a known sequence.
 *  - a dead handle's object comes back once (src/object.c's return, no
 *    user check): then a free or a new handle of it is EALREADY, the audit
 *    finds no duplicate, alloc hands it out again for a new handle, and it
 *    is freed exactly once.
 *  - an object whose pool was destroyed before its reclamation (the handle
 *    dead before or after the destroy) is skipped by the reclaimer.
 *
 * Handle layout (weak.h): tag 8 | generation 28 | index 28 bits.
 * Each case runs in its own forked child; with a case name as argument only
 * that case runs, in process.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static const ebra_reclaim_backend_t backends[] = {
    EBRA_RECLAIM_URCU_MEMB, EBRA_RECLAIM_URCU_QSBR, EBRA_RECLAIM_CK_EPOCH};
#define NBACKENDS (sizeof backends / sizeof backends[0])

enum { OBJ_SIZE = 64 };

#define H_TAG(h) ((uint32_t)((h) >> 56))
#define H_GEN(h) ((uint32_t)(((h) >> 28) & 0xfffffffu))
#define H_IDX(h) ((uint32_t)((h) & 0xfffffffu))
#define MAKE_H(tag, gen, idx) \
  (((uint64_t)(tag) << 56) | ((uint64_t)(gen) << 28) | (uint64_t)(idx))

/* ---- fixtures ---------------------------------------------------------------- */

static ebra_pool_t *pool;
static ebra_domain_t *dom;
static ebra_weak_table_t *tab;

static void setup(ebra_reclaim_backend_t be)
{
  pool = test_pool("weak", OBJ_SIZE);
  ebra_domain_config_t c = {.name = "weak", .backend = be};
  dom = ebra_domain_create(&c);
  CHECK(dom != NULL);
  tab = ebra_weak_table_create(dom, NULL);
  CHECK(tab != NULL);
}

static void teardown(void)
{
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  if (tab)
    CHECK_EQ(ebra_weak_table_destroy(tab), 0);
  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_EQ(test_stats(pool).objects_live, 0);
  CHECK_AUDIT(pool);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
  tab = NULL;
  dom = NULL;
  pool = NULL;
}

static uint64_t live_objects(void) { return test_stats(pool).objects_live; }

static ebra_weak_stats_t wstats(ebra_weak_table_t *t)
{
  ebra_weak_stats_t s;
  memset(&s, 0xa5, sizeof s);
  CHECK_EQ(ebra_weak_table_stats(t, &s), 0);
  return s;
}

/* ebra_weak_get inside a section of the table's domain. */
static void *get(ebra_weak_table_t *t, ebra_weak_t h)
{
  CHECK_EQ(ebra_read_lock(dom), 0);
  void *p = ebra_weak_get(t, h);
  ebra_read_unlock(dom);
  return p;
}

/* ebra_weak_upgrade of a dead or stale handle: -ENOENT and *out NULL (out
 * starts non-NULL, so the NULL is the call's). */
#define CHECK_UPGRADE_MISS(t, h)                                          \
  do {                                                                    \
    void *up_ = &up_;                                                     \
    CHECK_EQ(ebra_weak_upgrade((t), (h), &up_), -ENOENT);                 \
    CHECK(up_ == NULL);                                                   \
  } while (0)

/* ebra_weak_upgrade of a live handle: 0 and the object in *out. */
#define CHECK_UPGRADE_HIT(t, h, obj)                                      \
  do {                                                                    \
    void *up_ = NULL;                                                     \
    CHECK_EQ(ebra_weak_upgrade((t), (h), &up_), 0);                       \
    CHECK(up_ == (obj));                                                  \
  } while (0)

/* A value no ebra_weak_create returns, to see that a failing create
 * writes EBRA_WEAK_NONE to *out. */
#define H_UNSET (~(ebra_weak_t)0)

static void *new_object(unsigned char fill)
{
  unsigned char *p = ebra_pool_alloc(pool);
  CHECK(p != NULL);
  memset(p, fill, OBJ_SIZE);
  return p;
}

/* ---- cleanup recorder --------------------------------------------------------- */

#define MAX_CALLS 64
typedef struct call_s {
  void *arg;
  ebra_weak_t h;
  pthread_t thread;
} call_t;
static call_t calls[MAX_CALLS];
static _Atomic int ncalls;

static void record_cleanup(void *arg, ebra_weak_t h)
{
  const int i = atomic_fetch_add(&ncalls, 1);
  if (i < MAX_CALLS)
    calls[i] = (call_t){.arg = arg, .h = h, .thread = pthread_self()};
}

static void calls_reset(void) { atomic_store(&ncalls, 0); }

static int args[8]; /* distinct addresses for cleanup arguments */

/* ---- cases ---------------------------------------------------------------------- */

static void case_basic(ebra_reclaim_backend_t be)
{
  setup(be);
  calls_reset();
  void *obj = new_object(0x11);
  const uint64_t live = live_objects();
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(tab, obj, &h), 0);
  CHECK(h != EBRA_WEAK_NONE);
  CHECK(H_TAG(h) != 0);
  CHECK(get(tab, h) == obj);
  CHECK_EQ(ebra_weak_add_cleanup(tab, h, record_cleanup, &args[0]), 0);
  CHECK_EQ(ebra_weak_kill(tab, h), 0);
  CHECK(get(tab, h) == NULL);
  CHECK_UPGRADE_MISS(tab, h);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(live_objects(), live - 1);
  CHECK_EQ(atomic_load(&ncalls), 1);
  CHECK(calls[0].arg == &args[0]);
  CHECK_EQ(calls[0].h, h);
  CHECK(get(tab, h) == NULL);
  teardown();
}

static void case_create_errors(ebra_reclaim_backend_t be)
{
  setup(be);
  void *m = malloc(OBJ_SIZE);
  CHECK(m != NULL);
  ebra_weak_t h = H_UNSET;
  CHECK_EQ(ebra_weak_create(tab, m, &h), -EFAULT);
  CHECK_EQ(h, EBRA_WEAK_NONE);
  CHECK_REPORTS(EBRA_ERR_FOREIGN_PTR, 1);
  free(m);
  /* Not the start of an object (-EINVAL), and a free object (-EALREADY):
   * refused too (weak.h). */
  unsigned char *p = new_object(0);
  h = H_UNSET;
  CHECK_EQ(ebra_weak_create(tab, p + 8, &h), -EINVAL);
  CHECK_EQ(h, EBRA_WEAK_NONE);
  test_hook_reset();
  CHECK_EQ(ebra_pool_free(pool, p), 0);
  h = H_UNSET;
  CHECK_EQ(ebra_weak_create(tab, p, &h), -EALREADY);
  CHECK_EQ(h, EBRA_WEAK_NONE);
  test_hook_reset();
  /* A NULL out is refused, and nothing is created. */
  void *o = new_object(1);
  CHECK_EQ(ebra_weak_create(tab, o, NULL), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  CHECK_EQ(ebra_pool_free(pool, o), 0);
  ebra_weak_stats_t s = wstats(tab);
  CHECK_EQ(s.created, 0);
  CHECK_EQ(s.live, 0);
  teardown();
}

static void case_upgrade(ebra_reclaim_backend_t be)
{
  setup(be);
  calls_reset();
  void *obj = new_object(0x22);
  const uint64_t live = live_objects();
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(tab, obj, &h), 0);
  CHECK(h != EBRA_WEAK_NONE);
  CHECK_EQ(ebra_weak_add_cleanup(tab, h, record_cleanup, &args[1]), 0);
  CHECK_UPGRADE_HIT(tab, h, obj); /* refs: creator + upgrade */
  CHECK_EQ(ebra_weak_kill(tab, h), 0);     /* drops the creator's */
  CHECK(get(tab, h) == NULL);              /* dead at once */
  CHECK_UPGRADE_MISS(tab, h);
  CHECK_EQ(ebra_weak_add_cleanup(tab, h, record_cleanup, &args[2]), -ESTALE);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(live_objects(), live); /* the upgraded reference holds it */
  CHECK_EQ(atomic_load(&ncalls), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(live_objects(), live);
  CHECK_EQ(ebra_weak_release(tab, h), 0); /* the upgraded reference */
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(live_objects(), live - 1);
  CHECK_EQ(atomic_load(&ncalls), 1);
  CHECK(calls[0].arg == &args[1]);
  CHECK_EQ(ebra_weak_release(tab, h), -ESTALE);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(atomic_load(&ncalls), 1);

  /* Without a kill: releasing the creator's reference while an upgraded
   * one is held keeps the object alive; releasing the last kills it. */
  calls_reset();
  obj = new_object(0x23);
  CHECK_EQ(ebra_weak_create(tab, obj, &h), 0);
  CHECK(h != EBRA_WEAK_NONE);
  CHECK_EQ(ebra_weak_add_cleanup(tab, h, record_cleanup, &args[3]), 0);
  CHECK_UPGRADE_HIT(tab, h, obj);
  CHECK_EQ(ebra_weak_release(tab, h), 0);
  CHECK(get(tab, h) == obj);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(atomic_load(&ncalls), 0);
  CHECK_EQ(ebra_weak_release(tab, h), 0);
  CHECK(get(tab, h) == NULL);
  CHECK_UPGRADE_MISS(tab, h);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(atomic_load(&ncalls), 1);
  CHECK(calls[0].arg == &args[3]);
  teardown();
}

static void case_release_kills(ebra_reclaim_backend_t be)
{
  setup(be);
  calls_reset();
  void *obj = new_object(0x33);
  const uint64_t live = live_objects();
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(tab, obj, &h), 0);
  CHECK(h != EBRA_WEAK_NONE);
  CHECK_EQ(ebra_weak_add_cleanup(tab, h, record_cleanup, &args[0]), 0);
  CHECK_EQ(ebra_weak_release(tab, h), 0);
  CHECK(get(tab, h) == NULL);
  CHECK_UPGRADE_MISS(tab, h);
  CHECK_EQ(ebra_weak_kill(tab, h), -ESTALE);
  CHECK_EQ(ebra_weak_release(tab, h), -ESTALE);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(live_objects(), live - 1);
  CHECK_EQ(atomic_load(&ncalls), 1);
  teardown();
}

static void case_stale(ebra_reclaim_backend_t be)
{
  setup(be);
  void *obj = new_object(0x44);
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(tab, obj, &h), 0);
  CHECK(h != EBRA_WEAK_NONE);
  CHECK_EQ(ebra_weak_kill(tab, h), 0);
  CHECK_EQ(ebra_weak_kill(tab, h), -ESTALE); /* before reclamation */
  CHECK_EQ(ebra_weak_release(tab, h), -ESTALE);
  CHECK_EQ(ebra_weak_add_cleanup(tab, h, record_cleanup, &args[0]), -ESTALE);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_weak_kill(tab, h), -ESTALE); /* after reclamation */
  CHECK_EQ(ebra_weak_release(tab, h), -ESTALE);
  CHECK_UPGRADE_MISS(tab, h);
  CHECK_EQ(ebra_weak_add_cleanup(tab, h, record_cleanup, &args[0]), -ESTALE);
  CHECK(get(tab, h) == NULL);
  ebra_weak_stats_t s = wstats(tab);
  CHECK_EQ(s.created, 1);
  CHECK_EQ(s.killed, 1);
  teardown();
}

static void case_cleanups(ebra_reclaim_backend_t be)
{
  setup(be);
  calls_reset();
  void *obj = new_object(0x55);
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(tab, obj, &h), 0);
  CHECK(h != EBRA_WEAK_NONE);
  for (int i = 0; i < 5; i++)
    CHECK_EQ(ebra_weak_add_cleanup(tab, h, record_cleanup, &args[i]), 0);
  CHECK_EQ(ebra_weak_add_cleanup(tab, h, NULL, &args[0]), -EINVAL);
  test_hook_reset();
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(atomic_load(&ncalls), 0); /* alive: nothing runs */
  CHECK_EQ(ebra_weak_kill(tab, h), 0);
  CHECK_EQ(ebra_weak_add_cleanup(tab, h, record_cleanup, &args[5]), -ESTALE);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(atomic_load(&ncalls), 5);
  for (int i = 0; i < 5; i++) {
    CHECK(calls[i].arg == &args[i]); /* registration order, each once */
    CHECK_EQ(calls[i].h, h);
    CHECK(!pthread_equal(calls[i].thread, pthread_self()));
  }
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(atomic_load(&ncalls), 5);
  CHECK_EQ(wstats(tab).cleanups_run, 5);
  teardown();
}

static void case_generations(ebra_reclaim_backend_t be)
{
  setup(be);
  void *o1 = new_object(0x66);
  ebra_weak_t h1;
  CHECK_EQ(ebra_weak_create(tab, o1, &h1), 0);
  CHECK(h1 != EBRA_WEAK_NONE);
  CHECK_EQ(ebra_weak_kill(tab, h1), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  /* The only free slot is h1's: the new object takes it. */
  void *o2 = new_object(0x77);
  ebra_weak_t h2;
  CHECK_EQ(ebra_weak_create(tab, o2, &h2), 0);
  CHECK(h2 != EBRA_WEAK_NONE);
  CHECK_EQ(H_IDX(h2), H_IDX(h1));
  CHECK_EQ(H_TAG(h2), H_TAG(h1));
  CHECK(H_GEN(h2) != H_GEN(h1));
  CHECK(h2 != h1);
  CHECK(get(tab, h1) == NULL);
  CHECK(get(tab, h2) == o2);
  CHECK_UPGRADE_MISS(tab, h1);
  CHECK_EQ(ebra_weak_kill(tab, h1), -ESTALE);
  CHECK_EQ(ebra_weak_release(tab, h1), -ESTALE);
  CHECK_EQ(ebra_weak_add_cleanup(tab, h1, record_cleanup, &args[0]), -ESTALE);
  CHECK(get(tab, h2) == o2); /* untouched by the stale calls */
  CHECK_EQ(wstats(tab).live, 1);
  CHECK_EQ(ebra_weak_kill(tab, h2), 0);
  teardown();
}

static void case_forged(ebra_reclaim_backend_t be)
{
  setup(be);
  void *obj = new_object(0x12);
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(tab, obj, &h), 0);
  CHECK(h != EBRA_WEAK_NONE);
  const uint32_t tag = H_TAG(h), gen = H_GEN(h), idx = H_IDX(h);
  const ebra_weak_t forged[] = {
      0,
      MAKE_H(tag, gen, idx + 1),              /* a slot never issued */
      MAKE_H(tag, gen, idx + 1000),
      MAKE_H(tag, gen, 0xfffffffu),           /* far beyond the table */
      MAKE_H(tag, gen, 1u << 27),
      MAKE_H((tag + 1) & 0xff, gen, idx),     /* another tag */
      MAKE_H((tag + 1) & 0xff ? (tag + 1) & 0xff : 2, gen, idx),
      MAKE_H(0, gen, idx),
      MAKE_H(0xff, gen, idx),
      MAKE_H(tag, 0, idx),                    /* generation 0 */
      MAKE_H(tag, gen + 1, idx),              /* a generation not yet issued */
      MAKE_H(tag, 0xfffffffu, idx),
      ~(uint64_t)0,
  };
  for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
    if (forged[i] == h)
      continue;
    CHECK(get(tab, forged[i]) == NULL);
    CHECK_UPGRADE_MISS(tab, forged[i]);
    CHECK_EQ(ebra_weak_release(tab, forged[i]), -ESTALE);
    CHECK_EQ(ebra_weak_kill(tab, forged[i]), -ESTALE);
    CHECK_EQ(ebra_weak_add_cleanup(tab, forged[i], record_cleanup, &args[0]), -ESTALE);
  }
  CHECK(get(tab, h) == obj); /* the real one is untouched */
  ebra_weak_stats_t s = wstats(tab);
  CHECK_EQ(s.live, 1);
  CHECK_EQ(s.killed, 0);
  CHECK_EQ(ebra_weak_kill(tab, h), 0);
  teardown();
}

static void case_two_tables(ebra_reclaim_backend_t be)
{
  setup(be);
  ebra_weak_table_t *tb = ebra_weak_table_create(dom, NULL);
  CHECK(tb != NULL);
  void *oa = new_object(0x81), *ob = new_object(0x82);
  ebra_weak_t ha, hb;
  CHECK_EQ(ebra_weak_create(tab, oa, &ha), 0);
  CHECK_EQ(ebra_weak_create(tb, ob, &hb), 0);
  CHECK(ha != EBRA_WEAK_NONE && hb != EBRA_WEAK_NONE);
  CHECK(H_TAG(ha) != H_TAG(hb));
  CHECK_EQ(H_IDX(ha), H_IDX(hb)); /* both first slots: same index */
  CHECK(get(tb, ha) == NULL);
  CHECK(get(tab, hb) == NULL);
  CHECK_UPGRADE_MISS(tb, ha);
  CHECK_EQ(ebra_weak_release(tb, ha), -ESTALE);
  CHECK_EQ(ebra_weak_kill(tb, ha), -ESTALE);
  CHECK_EQ(ebra_weak_kill(tab, hb), -ESTALE);
  CHECK_EQ(ebra_weak_add_cleanup(tb, ha, record_cleanup, &args[0]), -ESTALE);
  CHECK(get(tab, ha) == oa);
  CHECK(get(tb, hb) == ob);
  CHECK_EQ(ebra_weak_kill(tab, ha), 0);
  CHECK_EQ(ebra_weak_kill(tb, hb), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_weak_table_destroy(tb), 0);
  teardown();
}

static void case_slot_retirement(ebra_reclaim_backend_t be)
{
  setup(be);
  enum { MAXGEN = 3, ROUNDS = 10 };
  ebra_weak_table_t *t =
      ebra_weak_table_create(dom, &(ebra_weak_table_config_t){.max_generation = MAXGEN});
  CHECK(t != NULL);
  ebra_weak_t old[ROUNDS];
  uint32_t uses[ROUNDS + 1] = {0}; /* by slot index */
  uint64_t retired_before = 0;
  for (int r = 0; r < ROUNDS; r++) {
    void *obj = new_object((unsigned char)r);
    ebra_weak_t h;
    CHECK_EQ(ebra_weak_create(t, obj, &h), 0);
    CHECK(h != EBRA_WEAK_NONE);
    CHECK(H_IDX(h) <= ROUNDS);
    for (int i = 0; i < r; i++)
      CHECK(h != old[i]);
    uses[H_IDX(h)]++;
    CHECK(uses[H_IDX(h)] <= MAXGEN); /* a slot serves at most MAXGEN objects */
    CHECK(get(t, h) == obj);
    old[r] = h;
    CHECK_EQ(ebra_weak_kill(t, h), 0);
    CHECK_EQ(ebra_domain_barrier(dom), 0);
    for (int i = 0; i <= r; i++) {
      CHECK(get(t, old[i]) == NULL);
      CHECK_UPGRADE_MISS(t, old[i]);
    }
    ebra_weak_stats_t s = wstats(t);
    CHECK(s.retired_slots >= retired_before);
    retired_before = s.retired_slots;
    uint64_t exhausted = 0;
    for (int i = 0; i <= ROUNDS; i++)
      exhausted += uses[i] == MAXGEN;
    CHECK_EQ(s.retired_slots, exhausted);
  }
  CHECK(retired_before >= 1);
  /* The table keeps working with fresh slots; no old handle resolves. */
  void *obj = new_object(0x99);
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(t, obj, &h), 0);
  CHECK(h != EBRA_WEAK_NONE);
  CHECK(get(t, h) == obj);
  for (int i = 0; i < ROUNDS; i++)
    CHECK(get(t, old[i]) == NULL);
  ebra_weak_stats_t s = wstats(t);
  CHECK_EQ(s.created, ROUNDS + 1);
  CHECK_EQ(s.killed, ROUNDS);
  CHECK_EQ(s.live, 1);
  CHECK_EQ(ebra_weak_kill(t, h), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_weak_table_destroy(t), 0);
  teardown();
}

static void case_tag_reuse(ebra_reclaim_backend_t be)
{
  setup(be);
  enum { N = 6 };
  ebra_weak_table_t *ta = ebra_weak_table_create(dom, NULL);
  CHECK(ta != NULL);
  ebra_weak_t old[2 * N];
  int n = 0;
  /* Slot 0..N-1 at their first generation, then slots 0..N-1 again at the
   * second; all killed and reclaimed. */
  for (int round = 0; round < 2; round++) {
    ebra_weak_t hs[N];
    for (int i = 0; i < N; i++) {
      CHECK_EQ(ebra_weak_create(ta, new_object((unsigned char)i), &hs[i]), 0);
      CHECK(hs[i] != EBRA_WEAK_NONE);
      old[n++] = hs[i];
    }
    for (int i = 0; i < N; i++)
      CHECK_EQ(ebra_weak_kill(ta, hs[i]), 0);
    CHECK_EQ(ebra_domain_barrier(dom), 0);
  }
  const uint32_t tag_a = H_TAG(old[0]);
  CHECK_EQ(ebra_weak_table_destroy(ta), 0);

  ebra_weak_table_t *tb = ebra_weak_table_create(dom, NULL);
  CHECK(tb != NULL);
  ebra_weak_t fresh[2 * N];
  void *fresh_obj[2 * N];
  for (int i = 0; i < 2 * N; i++) {
    fresh_obj[i] = new_object((unsigned char)(0x40 + i));
    CHECK_EQ(ebra_weak_create(tb, fresh_obj[i], &fresh[i]), 0);
    CHECK(fresh[i] != EBRA_WEAK_NONE);
  }
  /* With one other table alive, the lowest free tag is tag_a again: the
   * case exercises tag reuse.  DESIGN.md: a reused tag starts its slots
   * above the highest generation its previous table reached. */
  const int same_tag = H_TAG(fresh[0]) == tag_a;
  uint32_t top_a = 0;
  for (int i = 0; i < n; i++)
    top_a = H_GEN(old[i]) > top_a ? H_GEN(old[i]) : top_a;
  if (same_tag)
    for (int i = 0; i < 2 * N; i++)
      CHECK(H_GEN(fresh[i]) > top_a);
  for (int i = 0; i < n; i++) {
    CHECK(get(tb, old[i]) == NULL);
    CHECK_UPGRADE_MISS(tb, old[i]);
    CHECK_EQ(ebra_weak_kill(tb, old[i]), -ESTALE);
    CHECK_EQ(ebra_weak_release(tb, old[i]), -ESTALE);
    for (int j = 0; j < 2 * N; j++)
      CHECK(old[i] != fresh[j]);
  }
  for (int i = 0; i < 2 * N; i++)
    CHECK(get(tb, fresh[i]) == fresh_obj[i]);
  for (int i = 0; i < 2 * N; i++)
    CHECK_EQ(ebra_weak_kill(tb, fresh[i]), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_weak_table_destroy(tb), 0);
  /* A third table on the same tag again (if reused): still nothing old. */
  ebra_weak_table_t *tc = ebra_weak_table_create(dom, NULL);
  CHECK(tc != NULL);
  void *o = new_object(0x7e);
  ebra_weak_t hc;
  CHECK_EQ(ebra_weak_create(tc, o, &hc), 0);
  CHECK(hc != EBRA_WEAK_NONE);
  for (int i = 0; i < n; i++)
    CHECK(get(tc, old[i]) == NULL);
  for (int i = 0; i < 2 * N; i++)
    CHECK(get(tc, fresh[i]) == NULL);
  CHECK(get(tc, hc) == o);
  CHECK_EQ(ebra_weak_kill(tc, hc), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_weak_table_destroy(tc), 0);
  teardown();
}

static void case_table_destroy(ebra_reclaim_backend_t be)
{
  setup(be);
  /* Batches never age out and never fill during this case: only a barrier
   * reclaims, so "not yet reclaimed" is a state the test controls. */
  CHECK_EQ(ebra_domain_set_batching(dom, 1000, 60ull * 1000000000ull), 0);
  void *obj = new_object(0xab);
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(tab, obj, &h), 0);
  CHECK(h != EBRA_WEAK_NONE);
  CHECK_EQ(ebra_weak_table_destroy(tab), -EBUSY); /* alive */
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1); /* a busy destroy is a bad call */
  CHECK_EQ(ebra_weak_kill(tab, h), 0);
  CHECK_EQ(ebra_weak_table_destroy(tab), -EBUSY); /* dead, not reclaimed */
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_weak_table_destroy(tab), 0);
  /* A destroyed table: every call misses (and reports). */
  CHECK(get(tab, h) == NULL);
  CHECK(get(tab, 0) == NULL);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 2);
  void *o2 = new_object(0xac);
  ebra_weak_t h2 = H_UNSET;
  CHECK_EQ(ebra_weak_create(tab, o2, &h2), -EBADF);
  CHECK_EQ(h2, EBRA_WEAK_NONE);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);
  void *up = NULL;
  CHECK_EQ(ebra_weak_upgrade(tab, h, &up), -EBADF);
  CHECK(up == NULL);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);
  CHECK_EQ(ebra_weak_kill(tab, h), -EBADF);
  CHECK_EQ(ebra_weak_release(tab, h), -EBADF);
  ebra_weak_stats_t s;
  CHECK_EQ(ebra_weak_table_stats(tab, &s), -EBADF);
  CHECK_EQ(ebra_weak_table_destroy(tab), -EBADF);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 4);
  CHECK_EQ(ebra_pool_free(pool, o2), 0);
  tab = NULL;
  teardown();
}

static void case_stats(ebra_reclaim_backend_t be)
{
  setup(be);
  calls_reset();
  ebra_weak_stats_t s = wstats(tab);
  CHECK_EQ(s.created, 0);
  CHECK_EQ(s.killed, 0);
  CHECK_EQ(s.live, 0);
  CHECK_EQ(s.cleanups_run, 0);
  CHECK_EQ(s.retired_slots, 0);
  void *o[3];
  ebra_weak_t h[3];
  for (int i = 0; i < 3; i++) {
    o[i] = new_object((unsigned char)i);
    CHECK_EQ(ebra_weak_create(tab, o[i], &h[i]), 0);
    CHECK(h[i] != EBRA_WEAK_NONE);
  }
  CHECK_EQ(ebra_weak_add_cleanup(tab, h[0], record_cleanup, &args[0]), 0);
  CHECK_EQ(ebra_weak_add_cleanup(tab, h[0], record_cleanup, &args[1]), 0);
  CHECK_EQ(ebra_weak_add_cleanup(tab, h[1], record_cleanup, &args[2]), 0);
  CHECK_EQ(ebra_weak_add_cleanup(tab, h[2], record_cleanup, &args[3]), 0);
  s = wstats(tab);
  CHECK_EQ(s.created, 3);
  CHECK_EQ(s.live, 3);
  CHECK(s.slots >= 3);
  CHECK_UPGRADE_HIT(tab, h[2], o[2]);
  CHECK_EQ(ebra_weak_kill(tab, h[0]), 0);    /* dies */
  CHECK_EQ(ebra_weak_release(tab, h[1]), 0); /* last reference: dies */
  CHECK_EQ(ebra_weak_kill(tab, h[2]), 0);    /* dies; upgraded ref holds it */
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  s = wstats(tab);
  CHECK_EQ(s.created, 3);
  CHECK_EQ(s.killed, 3);
  CHECK_EQ(s.cleanups_run, 3); /* h[0]'s two and h[1]'s one */
  CHECK_EQ(atomic_load(&ncalls), 3);
  CHECK_EQ(ebra_weak_release(tab, h[2]), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  s = wstats(tab);
  CHECK_EQ(s.created, 3);
  CHECK_EQ(s.killed, 3);
  CHECK_EQ(s.live, 0);
  CHECK_EQ(s.cleanups_run, 4);
  CHECK_EQ(atomic_load(&ncalls), 4);
  teardown();
}

/* weak.h: "live: handles whose object is alive".  A killed object is dead
 * at once (ebra_weak_get is NULL), so it must leave "live" at its death,
 * not at its reclamation. */
/* An object owned by a weak handle belongs to the handle: freeing it,
 * retiring it or giving it a second handle (in this or another table) is
 * refused, so the reclaimer can never free a recycled object.  After the
 * kill and the barrier the object is back in its pool and usable again. */
static void case_ownership(ebra_reclaim_backend_t be)
{
  setup(be);
  /* Batches age for a minute: after the kill, o stays unreclaimed until the
   * barrier, so the refused free below never races the reclaimer's free (a
   * 1 ms batch could be reclaimed in between on a loaded machine). */
  CHECK_EQ(ebra_domain_set_batching(dom, 1000, 60ull * 1000000000ull), 0);
  ebra_weak_table_t *other = ebra_weak_table_create(dom, NULL);
  CHECK(other != NULL);
  unsigned char *o = new_object(7);
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(tab, o, &h), 0);
  CHECK(h != EBRA_WEAK_NONE);

  CHECK_EQ(ebra_pool_free(pool, o), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_HELD, 1);
  ebra_weak_t h2 = H_UNSET;
  CHECK_EQ(ebra_weak_create(tab, o, &h2), -EALREADY);
  CHECK_EQ(h2, EBRA_WEAK_NONE);
  CHECK_REPORTS(EBRA_ERR_HELD, 1);
  h2 = H_UNSET;
  CHECK_EQ(ebra_weak_create(other, o, &h2), -EALREADY);
  CHECK_EQ(h2, EBRA_WEAK_NONE);
  CHECK_REPORTS(EBRA_ERR_HELD, 1);
  CHECK_EQ(ebra_retire(dom, o), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_HELD, 1);

  CHECK(get(tab, h) == o); /* untouched by the refused calls */
  CHECK_EQ(o[OBJ_SIZE - 1], 7);
  CHECK_EQ(live_objects(), 1);

  CHECK_EQ(ebra_weak_kill(tab, h), 0);
  CHECK_EQ(ebra_pool_free(pool, o), -EALREADY); /* dead, not yet reclaimed */
  CHECK_REPORTS(EBRA_ERR_HELD, 1);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(live_objects(), 0);
  CHECK_EQ(ebra_weak_table_destroy(other), 0);
  teardown();
}

/* Allocate from pool until it hands out want; the others are freed. */
static int alloc_back(const void *want)
{
  enum { MAX_FIND = 8192 };
  static void *got[MAX_FIND];
  size_t n = 0;
  int found = 0;
  while (!found && n < MAX_FIND) {
    void *q = ebra_pool_alloc(pool);
    CHECK(q != NULL);
    if (q == want)
      found = 1;
    else
      got[n++] = q;
  }
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(ebra_pool_free(pool, got[i]), 0);
  return found;
}

/* The reclaimer gives a dead handle's object back through the claim
 * ebra_weak_create made (src/object.c's return: no user check), so check
 * that it does all a free must: afterwards the object is free (a user free
 * and a new handle are refused with EALREADY), listed once (audit), its
 * held bit is clear (a new handle can own it once alloc hands it out
 * again), and it is freed exactly once. */
static void case_return_once(ebra_reclaim_backend_t be)
{
  setup(be);
  CHECK_EQ(ebra_domain_set_batching(dom, 1000, 60ull * 1000000000ull), 0);
  unsigned char *o = new_object(3);
  for (int round = 0; round < 2; round++) {
    ebra_weak_t h;
    CHECK_EQ(ebra_weak_create(tab, o, &h), 0);
    CHECK(h != EBRA_WEAK_NONE);
    CHECK_EQ(ebra_weak_kill(tab, h), 0);
    CHECK_EQ(ebra_pool_free(pool, o), -EALREADY); /* dead, not reclaimed */
    CHECK_REPORTS(EBRA_ERR_HELD, 1);
    CHECK_EQ(ebra_domain_barrier(dom), 0);
    CHECK_EQ(live_objects(), 0);
    CHECK_AUDIT(pool);
    CHECK_EQ(ebra_pool_free(pool, o), -EALREADY); /* free */
    CHECK_REPORTS(EBRA_ERR_DOUBLE_FREE, 1);
    ebra_weak_t again = 1;
    CHECK_EQ(ebra_weak_create(tab, o, &again), -EALREADY);
    CHECK_EQ(again, EBRA_WEAK_NONE);
    CHECK_REPORTS(EBRA_ERR_DOUBLE_FREE, 1);
    CHECK(alloc_back(o));
  }
  CHECK_EQ(ebra_pool_free(pool, o), 0);
  CHECK_EQ(ebra_pool_free(pool, o), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_DOUBLE_FREE, 1);
  teardown();
}

/* A handle's object whose pool is destroyed before it is reclaimed is
 * skipped (docs/DESIGN.md, "Limits"): whether the handle died before the
 * destroy (its entry already holds the claim) or after it. */
static void case_pool_gone(ebra_reclaim_backend_t be)
{
  setup(be);
  CHECK_EQ(ebra_domain_set_batching(dom, 1000, 60ull * 1000000000ull), 0);
  ebra_weak_t h1, h2;
  CHECK_EQ(ebra_weak_create(tab, new_object(1), &h1), 0);
  CHECK_EQ(ebra_weak_create(tab, new_object(2), &h2), 0);
  CHECK(h1 != EBRA_WEAK_NONE && h2 != EBRA_WEAK_NONE);
  CHECK_EQ(ebra_weak_kill(tab, h1), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_REPORTS(EBRA_WARN_LIVE_AT_DESTROY, 1);
  CHECK_EQ(ebra_weak_kill(tab, h2), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(wstats(tab).live, 0);
  CHECK_EQ(ebra_weak_table_destroy(tab), 0);
  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_NO_REPORTS();
  tab = NULL;
  dom = NULL;
  pool = NULL;
}

static void case_stats_live_at_death(ebra_reclaim_backend_t be)
{
  setup(be);
  CHECK_EQ(ebra_domain_set_batching(dom, 1000, 60ull * 1000000000ull), 0);
  void *o = new_object(1);
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(tab, o, &h), 0);
  CHECK(h != EBRA_WEAK_NONE);
  CHECK_EQ(wstats(tab).live, 1);
  CHECK_EQ(ebra_weak_kill(tab, h), 0);
  CHECK(get(tab, h) == NULL);
  /* weak.h: live counts objects alive or dead but not yet reclaimed. */
  CHECK_EQ(wstats(tab).live, 1);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(wstats(tab).live, 0);
  teardown();
}

/* ---- driver ----------------------------------------------------------------- *
 *
 * Each case (per backend) runs in a forked child of a parent that never
 * calls ebra, so a failing case cannot hide the others and no per-thread
 * backend state leaks between cases.  With a case name as argument only
 * that case runs, in process. */

static const check_backend_case_t cases[] = {
    {"basic", case_basic},
    {"create_errors", case_create_errors},
    {"upgrade", case_upgrade},
    {"release_kills", case_release_kills},
    {"stale", case_stale},
    {"cleanups", case_cleanups},
    {"generations", case_generations},
    {"forged", case_forged},
    {"two_tables", case_two_tables},
    {"slot_retirement", case_slot_retirement},
    {"tag_reuse", case_tag_reuse},
    {"table_destroy", case_table_destroy},
    {"stats", case_stats},
    {"stats_live_at_death", case_stats_live_at_death},
    {"ownership", case_ownership},
    {"return_once", case_return_once},
    {"pool_gone", case_pool_gone},
};
#define NCASES (sizeof cases / sizeof cases[0])

int main(int argc, char **argv) {
  return check_main_backends(cases, NCASES, backends, NBACKENDS, argc, argv);
}

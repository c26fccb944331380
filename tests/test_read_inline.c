/* SPDX-License-Identifier: MIT */
/* test_read_inline.c — the inline read side of the public headers
 * (ebra_read_lock_inline, ebra_read_unlock_inline, ebra_weak_get_inline)
 * against the exported functions, for every backend.  test_reclaim and
 * test_weak also run whole through the inline paths (EBRA_INLINE=1:
 * test_reclaim_inline, test_weak_inline); this file checks what mixes them.
 *
 * Claims checked (each case runs for urcu-memb, urcu-qsbr and ck-epoch):
 *  - mixed: a section opened inline and closed by the exported unlock (and
 *    the other way round), nested three deep, is one section: a barrier
 *    inside it is -EDEADLK at every depth, none after it; an unlock too many
 *    is reported once (EBRA_ERR_BAD_CALL) by either variant.
 *  - the first section of a new thread, opened inline, registers it
 *    (ebra_domain_stats().threads goes 0 -> 1).
 *  - a section opened inline holds back reclamation: an object killed while
 *    a reader thread holds it is not reclaimed (its cleanup has not run)
 *    while the section is open, and is reclaimed after the inline unlock.
 *  - ebra_weak_get_inline and ebra_weak_get agree on a live handle, a
 *    killed one, a reused slot's old and new handles, a handle of another
 *    table, EBRA_WEAK_NONE, an index past every segment, and a NULL or
 *    destroyed table (NULL, each reported once by either variant).
 *  - absent segments: in a table whose first two segments exist, the
 *    first, a middle and the last index of every segment a handle can
 *    name (the highest index included) resolve to their object if issued,
 *    else to NULL, unreported; after every object is killed and reclaimed,
 *    as many creates reuse exactly those slots (the table does not grow)
 *    and the old handles stay dead; once the table is destroyed, every one
 *    of those indices, a handle of a grown segment and EBRA_WEAK_NONE is
 *    NULL and reported as use after destroy by either variant.
 *  - a domain whose registry id has no TLS slot (the 17th live domain) works
 *    inline through the exported slow path: nesting, EDEADLK, misuse report.
 *  - a NULL or destroyed domain: inline lock -EINVAL / -EBADF, reported.
 *  - qsbr: an online (registered) thread's slot calls nothing at its
 *    outermost lock (outer == 0, not under TSan); a thread that reads without
 *    registering is told once per domain (EBRA_WARN_SLOW_READER), however
 *    many sections and threads; a registered thread is not told; a thread
 *    that goes offline in d while a section of another qsbr domain is open
 *    stays online until that section ends and ends it offline, so a
 *    barrier on another thread completes while it idles.
 */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static const ebra_reclaim_backend_t backends[] = {
    EBRA_RECLAIM_URCU_MEMB, EBRA_RECLAIM_URCU_QSBR, EBRA_RECLAIM_CK_EPOCH};
#define NBACKENDS (sizeof backends / sizeof backends[0])

static ebra_domain_t *domain_of(ebra_reclaim_backend_t be, const char *name)
{
  ebra_domain_t *d = ebra_domain_create(&(ebra_domain_config_t){.name = name, .backend = be});
  CHECK(d != NULL);
  return d;
}

static uint32_t threads_of(ebra_domain_t *d)
{
  ebra_domain_stats_t st;
  CHECK_EQ(ebra_domain_stats(d, &st), 0);
  return st.threads;
}

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- mixed nesting ---------------------------------------------------------- */

static void case_mixed(ebra_reclaim_backend_t be)
{
  ebra_domain_t *d = domain_of(be, "mixed");
  CHECK_EQ(ebra_read_lock_inline(d), 0); /* first use: the exported slow path */
  ebra_read_unlock(d);
  CHECK_EQ(ebra_domain_barrier(d), 0);
  CHECK_NO_REPORTS();

  CHECK_EQ(ebra_read_lock_inline(d), 0);
  CHECK_EQ(ebra_domain_barrier(d), -EDEADLK);
  CHECK_EQ(ebra_read_lock(d), 0);
  CHECK_EQ(ebra_read_lock_inline(d), 0);
  CHECK_EQ(ebra_domain_barrier(d), -EDEADLK);
  ebra_read_unlock(d);
  CHECK_EQ(ebra_domain_barrier(d), -EDEADLK);
  ebra_read_unlock_inline(d);
  CHECK_EQ(ebra_domain_barrier(d), -EDEADLK);
  ebra_read_unlock(d);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 4); /* each -EDEADLK */
  CHECK_EQ(ebra_domain_barrier(d), 0);

  ebra_read_unlock_inline(d); /* one too many */
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  ebra_read_unlock(d);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  CHECK_EQ(ebra_domain_unregister_thread(d), 0);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_NO_REPORTS();
}

/* ---- first section registers ------------------------------------------------ */

typedef struct reader_s {
  ebra_domain_t *d;
  ebra_weak_table_t *t;
  ebra_weak_t h;
  void *seen;
  ebra_domain_t *e;
  _Atomic int step; /* 1: inside the section; 2: may unlock; 3: done */
  int rc;
} reader_t;

static void *first_section(void *arg)
{
  reader_t *r = arg;
  r->rc = ebra_read_lock_inline(r->d);
  if (r->rc == 0) {
    atomic_store(&r->step, 1);
    while (atomic_load(&r->step) != 2)
      sched_yield();
    ebra_read_unlock_inline(r->d);
  }
  atomic_store(&r->step, 3);
  ebra_domain_thread_offline(r->d); /* qsbr: stall no grace period */
  return NULL;
}

static void case_registers(ebra_reclaim_backend_t be)
{
  ebra_domain_t *d = domain_of(be, "registers");
  reader_t r = {.d = d};
  pthread_t th;
  CHECK_EQ(threads_of(d), 0);
  CHECK_EQ(pthread_create(&th, NULL, first_section, &r), 0);
  while (atomic_load(&r.step) == 0)
    sched_yield();
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(threads_of(d), 1);
  atomic_store(&r.step, 2);
  CHECK_EQ(pthread_join(th, NULL), 0);
  CHECK_EQ(threads_of(d), 0); /* thread exit unregistered it */
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_NO_REPORTS();
}

/* ---- an inline section holds back reclamation -------------------------------- */

static _Atomic int cleanups;
static void on_cleanup(void *arg, ebra_weak_t h)
{
  (void)arg, (void)h;
  atomic_fetch_add(&cleanups, 1);
}

static void *holding_reader(void *arg)
{
  reader_t *r = arg;
  CHECK_EQ(ebra_domain_register_thread(r->d), 0); /* qsbr: online */
  CHECK_EQ(ebra_read_lock_inline(r->d), 0);
  r->seen = ebra_weak_get_inline(r->t, r->h);
  atomic_store(&r->step, 1);
  while (atomic_load(&r->step) != 2)
    sched_yield();
  CHECK(ebra_weak_get_inline(r->t, r->h) == NULL); /* killed meanwhile */
  ebra_read_unlock_inline(r->d);
  ebra_domain_thread_offline(r->d); /* qsbr: the grace period may pass */
  atomic_store(&r->step, 3);
  return NULL;
}

static void noop(void *arg) { (void)arg; }

static void *barrier_thread(void *arg)
{
  ebra_domain_barrier(arg);
  return NULL;
}

static void case_holds_back(ebra_reclaim_backend_t be)
{
  atomic_store(&cleanups, 0);
  ebra_pool_t *pool = test_pool("holds", 64);
  ebra_domain_t *d = domain_of(be, "holds");
  ebra_weak_table_t *t = ebra_weak_table_create(d, NULL);
  CHECK(t != NULL);
  void *obj = ebra_pool_alloc(pool);
  CHECK(obj != NULL);
  reader_t r = {.d = d, .t = t};
  CHECK_EQ(ebra_weak_create(t, obj, &r.h), 0);
  CHECK_EQ(ebra_weak_add_cleanup(t, r.h, on_cleanup, NULL), 0);
  pthread_t rd, bar;
  CHECK_EQ(pthread_create(&rd, NULL, holding_reader, &r), 0);
  while (atomic_load(&r.step) == 0)
    sched_yield();
  CHECK(r.seen == obj);
  CHECK_EQ(ebra_weak_kill(t, r.h), 0);
  CHECK_EQ(pthread_create(&bar, NULL, barrier_thread, d), 0);
  sleep_ms(100); /* a grace period here would take well under this */
  CHECK_EQ(atomic_load(&cleanups), 0);
  atomic_store(&r.step, 2);
  CHECK_EQ(pthread_join(rd, NULL), 0);
  CHECK_EQ(pthread_join(bar, NULL), 0);
  CHECK_EQ(ebra_domain_barrier(d), 0);
  CHECK_EQ(atomic_load(&cleanups), 1);
  CHECK_EQ(ebra_weak_table_destroy(t), 0);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

/* ---- weak_get: inline and exported agree ------------------------------------- */

static void agree(const ebra_weak_table_t *t, ebra_weak_t h, const void *want)
{
  CHECK(ebra_weak_get_inline(t, h) == want);
  CHECK(ebra_weak_get(t, h) == want);
}

static void case_resolve(ebra_reclaim_backend_t be)
{
  ebra_pool_t *pool = test_pool("resolve", 64);
  ebra_domain_t *d = domain_of(be, "resolve");
  CHECK_EQ(ebra_domain_register_thread(d), 0);
  ebra_weak_table_t *t = ebra_weak_table_create(d, NULL);
  ebra_weak_table_t *u = ebra_weak_table_create(d, NULL);
  CHECK(t != NULL && u != NULL);
  void *a = ebra_pool_alloc(pool), *b = ebra_pool_alloc(pool);
  CHECK(a != NULL && b != NULL);
  ebra_weak_t ha, hb, hu;
  CHECK_EQ(ebra_weak_create(t, a, &ha), 0);
  CHECK_EQ(ebra_weak_create(u, b, &hu), 0);

  CHECK_EQ(ebra_read_lock_inline(d), 0);
  agree(t, ha, a);
  agree(u, hu, b);
  agree(t, hu, NULL);                          /* another table's handle */
  agree(t, EBRA_WEAK_NONE, NULL);
  agree(t, ha | 0x0ffffffull, NULL);           /* index past every segment */
  agree(t, ha ^ (1ull << 28), NULL);           /* another generation */
  ebra_read_unlock_inline(d);
  CHECK_NO_REPORTS();

  CHECK_EQ(ebra_weak_kill(t, ha), 0);
  CHECK_EQ(ebra_read_lock_inline(d), 0);
  agree(t, ha, NULL);                          /* killed: NULL at once */
  ebra_read_unlock_inline(d);
  ebra_quiescent(d);
  CHECK_EQ(ebra_domain_barrier(d), 0);         /* reclaimed: slot free */
  void *c = ebra_pool_alloc(pool);
  CHECK(c != NULL);
  CHECK_EQ(ebra_weak_create(t, c, &hb), 0);
  CHECK_EQ(hb & 0x0fffffffull, ha & 0x0fffffffull); /* the same slot, reused */
  CHECK(hb != ha);
  CHECK_EQ(ebra_read_lock(d), 0);
  agree(t, ha, NULL);                          /* the old handle stays dead */
  agree(t, hb, c);
  agree(NULL, hb, NULL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 2);         /* NULL table, once per variant */
  ebra_read_unlock(d);

  CHECK_EQ(ebra_weak_kill(t, hb), 0);
  CHECK_EQ(ebra_weak_kill(u, hu), 0);
  ebra_quiescent(d);
  CHECK_EQ(ebra_domain_barrier(d), 0);
  CHECK_EQ(ebra_weak_table_destroy(t), 0);
  CHECK_EQ(ebra_read_lock_inline(d), 0);
  agree(t, hb, NULL);                          /* destroyed table */
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 2);
  ebra_read_unlock_inline(d);
  CHECK_EQ(ebra_weak_table_destroy(u), 0);
  CHECK_EQ(ebra_domain_unregister_thread(d), 0);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

/* ---- weak_get: every absent segment, and a destroyed table's ---------------- */

/* idx's handle in t: the tag and generation every fresh slot of t has. */
static ebra_weak_t fresh_handle(ebra_weak_t h0, uint64_t idx)
{
  return (h0 & ~(ebra_weak_t)EBRA__WEAK_IDX_MASK) | idx;
}

/* Resolve, inline and exported, the first, a middle and the last index of
 * every segment a handle can name (the last index a handle encodes
 * included): want[idx] for the first n indices, NULL past them.  Returns
 * how many resolves were made.  A zero region too small for the largest
 * segment faults here. */
static unsigned resolve_every_segment(const ebra_weak_table_t *t, ebra_weak_t h0, void **want,
                                      unsigned n)
{
  unsigned made = 0;
  for (uint32_t k = 0; k < EBRA__WEAK_NSEG; k++) {
    const uint64_t first = (uint64_t)EBRA__WEAK_SEG_BASE * ((1ull << k) - 1);
    if (first > EBRA__WEAK_IDX_MASK)
      break;
    uint64_t last = first + ((uint64_t)EBRA__WEAK_SEG_BASE << k) - 1;
    last = last > EBRA__WEAK_IDX_MASK ? EBRA__WEAK_IDX_MASK : last;
    const uint64_t idx[3] = {first, first + (last - first) / 2, last};
    for (int i = 0; i < 3; i++) {
      agree(t, fresh_handle(h0, idx[i]), idx[i] < n && want ? want[idx[i]] : NULL);
      made += 2;
    }
  }
  return made;
}

static void case_absent_segments(ebra_reclaim_backend_t be)
{
  enum { N = 100 }; /* segment 0 (64 slots) and 1 (128) exist, the rest not */
  ebra_pool_t *pool = test_pool("absent", 64);
  ebra_domain_t *d = domain_of(be, "absent");
  CHECK_EQ(ebra_domain_register_thread(d), 0);
  ebra_weak_table_t *t = ebra_weak_table_create(d, NULL);
  CHECK(t != NULL);
  void *obj[N];
  ebra_weak_t h[N];
  for (int i = 0; i < N; i++) {
    obj[i] = ebra_pool_alloc(pool);
    CHECK(obj[i] != NULL);
    CHECK_EQ(ebra_weak_create(t, obj[i], &h[i]), 0);
    CHECK_EQ(h[i], fresh_handle(h[0], (uint64_t)i)); /* fresh indices in order */
  }
  CHECK_EQ(ebra_read_lock_inline(d), 0);
  /* Live table: issued handles resolve, every other index is NULL, and
   * nothing is reported (an index never issued is no misuse). */
  CHECK(resolve_every_segment(t, h[0], obj, N) > 0);
  agree(t, h[N - 1] + 1, NULL); /* the next index, in a grown segment */
  CHECK_NO_REPORTS();
  ebra_read_unlock_inline(d);

  /* Killed and reclaimed: every slot free again, reused by the next
   * creates (the free list holds them all), and the old handles stay
   * dead. */
  for (int i = 0; i < N; i++)
    CHECK_EQ(ebra_weak_kill(t, h[i]), 0);
  ebra_quiescent(d);
  CHECK_EQ(ebra_domain_barrier(d), 0);
  ebra_weak_stats_t st0, st1;
  CHECK_EQ(ebra_weak_table_stats(t, &st0), 0);
  ebra_weak_t h2[N];
  unsigned seen[N] = {0};
  for (int i = 0; i < N; i++) { /* the objects went back to the pool */
    obj[i] = ebra_pool_alloc(pool);
    CHECK(obj[i] != NULL);
    CHECK_EQ(ebra_weak_create(t, obj[i], &h2[i]), 0);
    const uint64_t idx = h2[i] & EBRA__WEAK_IDX_MASK;
    CHECK(idx < N);
    CHECK_EQ(seen[idx]++, 0u);
  }
  CHECK_EQ(ebra_weak_table_stats(t, &st1), 0);
  CHECK_EQ(st1.slots, st0.slots); /* no growth: all N came off the free list */
  CHECK_EQ(ebra_read_lock_inline(d), 0);
  for (int i = 0; i < N; i++) {
    agree(t, h[i], NULL);
    agree(t, h2[i], obj[i]);
  }
  ebra_read_unlock_inline(d);
  for (int i = 0; i < N; i++)
    CHECK_EQ(ebra_weak_kill(t, h2[i]), 0);
  ebra_quiescent(d);
  CHECK_EQ(ebra_domain_barrier(d), 0);
  CHECK_NO_REPORTS();

  /* Destroyed: every index of every segment, grown or not, and
   * EBRA_WEAK_NONE, is NULL and reported, by either variant. */
  CHECK_EQ(ebra_weak_table_destroy(t), 0);
  CHECK_EQ(ebra_read_lock_inline(d), 0);
  const unsigned made = resolve_every_segment(t, h[0], NULL, 0);
  agree(t, h2[0], NULL);
  agree(t, EBRA_WEAK_NONE, NULL);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, made + 4);
  ebra_read_unlock_inline(d);
  CHECK_EQ(ebra_domain_unregister_thread(d), 0);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

/* ---- ids past the TLS table; NULL and destroyed domains ---------------------- */

static void case_past_slots(ebra_reclaim_backend_t be)
{
  enum { N = EBRA__RD_SLOTS + 1 };
  ebra_domain_t *ds[N];
  for (int i = 0; i < N; i++)
    ds[i] = domain_of(be, "many");
  ebra_domain_t *d = ds[N - 1]; /* ids 0..N-1 are taken in this process */
  CHECK(ebra__rd_slot(d) == NULL);
  CHECK_EQ(ebra_read_lock_inline(d), 0);
  CHECK(ebra__rd_slot(d) == NULL); /* still the exported path */
  CHECK_EQ(ebra_read_lock_inline(d), 0);
  CHECK_EQ(ebra_domain_barrier(d), -EDEADLK);
  ebra_read_unlock_inline(d);
  CHECK_EQ(ebra_domain_barrier(d), -EDEADLK);
  ebra_read_unlock(d);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 2);
  CHECK_EQ(ebra_domain_barrier(d), 0);
  ebra_read_unlock_inline(d);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  ebra_domain_unregister_thread(d);
  for (int i = 0; i < N; i++)
    CHECK_EQ(ebra_domain_destroy(ds[i]), 0);

  CHECK_EQ(ebra_read_lock_inline(NULL), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  ebra_read_unlock_inline(NULL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  ebra_domain_t *gone = domain_of(be, "gone");
  CHECK_EQ(ebra_read_lock_inline(gone), 0);
  ebra_read_unlock_inline(gone);
  CHECK_EQ(ebra_domain_unregister_thread(gone), 0);
  CHECK_EQ(ebra_domain_destroy(gone), 0);
  CHECK_EQ(ebra_read_lock_inline(gone), -EBADF);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);
  ebra_read_unlock_inline(gone);
  CHECK_REPORTS(EBRA_ERR_USE_AFTER_DESTROY, 1);
}

/* ---- qsbr: online costs nothing; an unregistered reader is told once -------- */

static void *implicit_reader(void *arg)
{
  ebra_domain_t *d = arg;
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(ebra_read_lock_inline(d), 0);
    ebra_read_unlock_inline(d);
  }
  return NULL;
}

/* Online in d and in a second domain e of its backend; goes offline in d while a
 * section of e is open (after its section of d): the thread must stay
 * online until that section ends, then end it offline. */
static void *offline_inside(void *arg)
{
  reader_t *r = arg;
  const ebra_reclaim_backend_t be = ebra_domain_backend(r->d);
  ebra_domain_t *e = domain_of(be, "other");
  CHECK_EQ(ebra_domain_register_thread(r->d), 0);
  CHECK_EQ(ebra_domain_register_thread(e), 0);
  CHECK_EQ(ebra_read_lock_inline(e), 0);
  CHECK_EQ(ebra_read_lock_inline(r->d), 0);
  ebra_read_unlock_inline(r->d);
  CHECK_EQ(ebra_domain_thread_offline(r->d), 0); /* deferred: e's section */
  if (be == EBRA_RECLAIM_URCU_QSBR)
    CHECK(ebra__rd_slot(e)->nest & EBRA__RD_OUTER); /* resting offline from now */
  ebra_read_unlock_inline(e);                    /* ends offline */
  r->e = e;
  atomic_store(&r->step, 1);
  while (atomic_load(&r->step) != 2) /* idle, registered, offline */
    sleep_ms(1);
  return NULL;
}

static void case_qsbr_modes(ebra_reclaim_backend_t be)
{
  ebra_domain_t *d = domain_of(be, "modes");
  CHECK_EQ(ebra_domain_register_thread(d), 0);
  CHECK_EQ(ebra_read_lock_inline(d), 0);
  const ebra__rd_slot_t *s = ebra__rd_slot(d);
  CHECK(s != NULL && (s->nest & EBRA__RD_NEST) == 1);
  if (be == EBRA_RECLAIM_URCU_QSBR && !test_has_feature(EBRA_FEATURE_TSAN))
    CHECK_EQ(s->nest & EBRA__RD_OUTER, 0); /* online qsbr: the inline path calls nothing */
  else
    CHECK(s->nest & EBRA__RD_OUTER);
  ebra_read_unlock_inline(d);
  CHECK_EQ(ebra_domain_thread_offline(d), 0);
  CHECK(ebra__rd_slot(d)->nest & EBRA__RD_OUTER); /* offline: sections come online */
  CHECK_EQ(ebra_domain_thread_online(d), 0);
  ebra_quiescent(d);
  CHECK_EQ(test_reports_of(EBRA_WARN_SLOW_READER), 0);

  /* Two threads read without registering: told once, qsbr only. */
  for (int i = 0; i < 2; i++) {
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, implicit_reader, d), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
  }
  CHECK_EQ(test_reports_of(EBRA_WARN_SLOW_READER), be == EBRA_RECLAIM_URCU_QSBR ? 1u : 0u);
  CHECK_NO_REPORTS();

  /* Offline inside a section: a barrier elsewhere completes while the
   * reader idles registered. */
  reader_t r = {.d = d};
  pthread_t th, bar;
  CHECK_EQ(ebra_domain_thread_offline(d), 0); /* main waits below */
  CHECK_EQ(pthread_create(&th, NULL, offline_inside, &r), 0);
  while (atomic_load(&r.step) == 0)
    sched_yield();
  CHECK_EQ(ebra_retire_call(d, noop, NULL), 0);
  CHECK_EQ(pthread_create(&bar, NULL, barrier_thread, d), 0);
  CHECK_EQ(pthread_join(bar, NULL), 0); /* hangs if the reader stayed online */
  atomic_store(&r.step, 2);
  CHECK_EQ(pthread_join(th, NULL), 0);
  CHECK_EQ(ebra_domain_unregister_thread(d), 0);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(ebra_domain_destroy(r.e), 0);
  CHECK_NO_REPORTS();
}

static const check_backend_case_t cases[] = {
    {"mixed", case_mixed},           {"registers", case_registers},
    {"holds_back", case_holds_back}, {"resolve", case_resolve},
    {"past_slots", case_past_slots}, {"qsbr_modes", case_qsbr_modes},
    {"absent_segments", case_absent_segments},
};

int main(int argc, char **argv)
{
  return check_main_backends(cases, sizeof cases / sizeof cases[0], backends, NBACKENDS, argc,
                             argv);
}

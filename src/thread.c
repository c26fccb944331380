/* SPDX-License-Identifier: MIT */
/* src/thread.c — per-thread state, the pool registry, thread exit and fork.
 *
 * Each thread has one ebi_thread_t, found through an initial-exec TLS
 * pointer, holding one slot table per kind of object (pools, domains):
 * {serial, state} by registry id.  A slot is valid only while its serial
 * equals the object's, so destroying an object (serial := EBI_SERIAL_DEAD)
 * or reusing its id (fresh serial) makes every thread's stale slot miss on
 * its next use without touching that thread (src/internal.h).
 *
 * The registry lock serialises the control plane: pool create and destroy,
 * attaching a cache to a thread, thread exit, stats, and fork.  It is never
 * taken by alloc or free fast paths, nor by the depot or slab paths; a
 * pool slow path only tries it (ebi_registry_trylock, for the delayed
 * give-back in giveback.c) and goes on without it if it is held.
 *
 * Lock order: locks of floors that rank above the registry (control/) ->
 * registry_lock -> locks of floors below it (reclaim/) -> pool->grow_lock
 * -> pool->overflow_lock (docs/DESIGN.md, the lock-order table).
 * Grow and overflow paths never take the registry lock.
 *
 * Thread exit (pthread key destructor) and destroy both take the registry
 * lock, so a thread that exits while its pool is destroyed either flushes
 * its cache into the live pool first, or finds the pool gone (serial
 * mismatch) and skips the cache, which destroy already freed.
 *
 * Thread exit and fork reach the floors above (reclaim/, control/) only
 * through the hooks they register (ebi_thread_hooks_add), never by calls.
 *
 * Fork: prepare takes every lock in lock order; the parent releases them;
 * the child releases them and then, being single-threaded, releases the
 * state of threads that do not exist in the child (their caches go back to
 * the depots, so their objects are usable again).  Only once every lock is
 * released does the child start threads again (fork_restart hooks):
 * creating a thread may allocate through ebra's own malloc.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A thread with no caches: every lookup misses (ncaches == 0), so the fast
 * path needs no NULL check. */
static ebi_thread_t thread_empty = {.number = EBI_THREAD_UNNUMBERED};

__thread ebra__tls_t EBRA__TLS __attribute__((tls_model("initial-exec"))) = {
    .thread = &thread_empty};

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static uint64_t thread_numbers_held; /* bit i: a live thread state holds number i; registry lock */
static ebi_thread_t *threads;  /* all threads with state; registry lock */
static pthread_key_t thread_key;

/* 1 while the calling thread holds the registry lock: its reports wait
 * until the lock is released (src/report.c, R1).  A fork child inherits
 * the forking thread's 1 with the lock, and fork_child releases both. */
static __thread uint8_t registry_held __attribute__((tls_model("initial-exec")));

void ebi_registry_lock(void) { /* released in ebi_registry_unlock */
  pthread_mutex_lock(&registry_mutex);
  registry_held = 1;
}

void ebi_registry_unlock(void) {
  registry_held = 0;
  pthread_mutex_unlock(&registry_mutex);
  ebi_report_deliver_deferred(); /* reports made while it was held (R1) */
}

bool ebi_registry_trylock(void) { /* released in ebi_registry_unlock */
  if (pthread_mutex_trylock(&registry_mutex) != 0)
    return false;
  registry_held = 1;
  return true;
}

bool ebi_registry_held(void) { return registry_held != 0; }

/* The fork handlers' release: the floors above still hold their locks
 * (and, in libebra-malloc.so's parent, meta_lock), under which no hook may
 * run; waiting reports are delivered by the next ordinary release (in the
 * child, at the end of fork_child). */
static void registry_unlock_in_fork(void) {
  registry_held = 0;
  pthread_mutex_unlock(&registry_mutex);
}

/* ---- thread state --------------------------------------------------------- */

/* Thread state lives on the heap, not in a private mapping: leak checkers
 * (LeakSanitizer) look for pointers in heap blocks, and this one holds the
 * only pointers to the growable slot arrays and to the heap caches of pool
 * ids >= EBI_INLINE_SLOTS.  calloc gives 16-byte alignment; the inline
 * pool slots want their first line to themselves, so the block is
 * over-allocated and the state placed at the next 64-byte boundary. */
static ebi_thread_t *thread_state_new(void) {
  void *raw = calloc(1, sizeof(ebi_thread_t) + 63);
  if (!raw)
    return NULL;
  ebi_thread_t *t = (ebi_thread_t *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
  t->block = raw;
  return t;
}

/* The calling thread's state, created on first use.  Registry lock held. */
ebi_thread_t *ebi_thread_get_locked(void) {
  ebi_thread_t *t = ebi_tls_thread;
  if (t != &thread_empty)
    return t;
  t = thread_state_new();
  if (!t)
    return NULL;
  _Static_assert(EBI_THREAD_NUMBERS == 64, "one bit per number in thread_numbers_held");
  if (~thread_numbers_held) {
    t->number = (uint32_t)__builtin_ctzll(~thread_numbers_held);
    thread_numbers_held |= 1ull << t->number;
  } else {
    t->number = EBI_THREAD_UNNUMBERED;
  }
  t->next = threads;
  if (threads)
    threads->prev = t;
  threads = t;
  pthread_setspecific(thread_key, t); /* so the destructor runs at exit */
  t->tls = &EBRA__TLS;
  EBRA__TLS.thread = t;
  return t;
}

int ebi_thread_reserve_slot(ebi_thread_t *t, ebi_slot_kind_t kind, uint32_t id) {
  if (ebi_thread_slot(t, kind, id))
    return 0;
  ebi_slots_t *s = &t->slots[kind];
  id -= EBI_INLINE_SLOTS;
  uint32_t n = s->nmore ? s->nmore : 8;
  while (n <= id)
    n *= 2;
  ebi_slot_t *more = realloc(s->more, n * sizeof *more);
  if (!more)
    return ENOMEM;
  memset(more + s->nmore, 0, (n - s->nmore) * sizeof *more);
  s->more = more;
  s->nmore = n;
  return 0;
}

static void tcache_link(ebra_pool_t *pool, ebi_tcache_t *tc) {
  tc->pool_prev = NULL;
  tc->pool_next = pool->tcaches;
  if (pool->tcaches)
    pool->tcaches->pool_prev = tc;
  pool->tcaches = tc;
  pool->ntcaches++;
}

static void tcache_unlink(ebra_pool_t *pool, ebi_tcache_t *tc) {
  if (tc->pool_prev)
    tc->pool_prev->pool_next = tc->pool_next;
  else
    pool->tcaches = tc->pool_next;
  if (tc->pool_next)
    tc->pool_next->pool_prev = tc->pool_prev;
  pool->ntcaches--;
}

/* A zeroed cache for pool id in thread t: in place in t's inline slot for
 * that id (ebi_pool_slot_t; its previous user, a pool with the same id,
 * was destroyed or detached, or the slot would still match), else on the
 * heap, aligned so that top and the counters share a line.  NULL if memory
 * is short. */
static ebi_tcache_t *tcache_new(ebi_thread_t *t, uint32_t id) {
  ebi_tcache_t *tc;
  if (id < EBI_INLINE_SLOTS) {
    tc = &t->pool_inl[id].tc;
    memset(tc, 0, sizeof *tc);
    tc->embedded = true;
    return tc;
  }
  tc = aligned_alloc(64, (sizeof *tc + 63) & ~(size_t)63);
  if (tc)
    memset(tc, 0, sizeof *tc);
  return tc;
}

/* The end of tc's life: a heap cache is freed; one in place is left as it
 * is (its slot no longer matches, and the next attach zeroes it). */
static void tcache_free(ebi_tcache_t *tc) {
  if (!tc->embedded)
    free(tc);
}

/* Attach a cache for pool to the calling thread.  NULL if the pool is
 * destroyed (errno EBADF) or memory is short (errno ENOMEM). */
ebi_tcache_t *ebi_tcache_attach(ebra_pool_t *pool) {
  ebi_tcache_t *tc = NULL;
  int err = ENOMEM;
  ebi_registry_lock();
  if (!ebi_pool_is_alive(pool)) {
    err = EBADF;
    goto out;
  }
  ebi_thread_t *t = ebi_thread_get_locked();
  if (!t || ebi_thread_reserve_slot(t, EBI_SLOTS_POOL, pool->life.id) != 0)
    goto out;
  /* A drainer that gave up put the slot back while we waited for the
   * lock (ebi_tcache_drain_idle_locked): the cache is still ours. */
  ebi_slot_t *slot = ebi_thread_slot(t, EBI_SLOTS_POOL, pool->life.id);
  if (slot->state && slot->serial == pool->life.serial) {
    tc = slot->state;
    goto out;
  }
  tc = tcache_new(t, pool->life.id);
  if (!tc)
    goto out;
  tc->loaded = ebi_magazine_get_empty(pool, &tc->c);
  tc->previous = ebi_magazine_get_empty(pool, &tc->c);
  if (!tc->loaded || !tc->previous) {
    if (tc->loaded)
      ebi_depot_push_empty(&pool->depot, tc->loaded, &tc->c);
    if (tc->previous)
      ebi_depot_push_empty(&pool->depot, tc->previous, &tc->c);
    tcache_free(tc);
    tc = NULL;
    goto out;
  }
  tc->pool = pool;
  tc->thread = t;
  tc->bypass = ebi_pool_has_object_hooks(pool);
  ebi_tcache_sync_in(tc);
  tcache_link(pool, tc);
  tc->drain_seen = UINT64_MAX; /* not yet observed by a drainer */
  slot->state = tc;
  ebi_atomic_store_relaxed(&slot->serial, pool->life.serial);
out:
  ebi_registry_unlock();
  if (!tc)
    errno = err;
  return tc;
}

/* Move every object of tc to the depot; tc keeps two empty magazines when
 * memory allows (otherwise it keeps what it has).  Caller owns tc. */
void ebi_tcache_flush(ebra_pool_t *pool, ebi_tcache_t *tc) {
  ebi_tcache_sync_out(tc);
  ebi_magazine_t **slots[2] = {&tc->loaded, &tc->previous};
  for (int i = 0; i < 2; i++) {
    ebi_magazine_t *m = *slots[i];
    if (m->rounds == 0)
      continue;
    ebi_magazine_t *e = ebi_magazine_get_empty(pool, &tc->c);
    if (!e)
      continue;
    ebi_depot_push_full(&pool->depot, m, &tc->c);
    *slots[i] = e;
  }
  ebi_tcache_sync_in(tc);
}

/* Give tc's magazines back (to the depot, their rounds perhaps to their
 * slabs: magazine.c, MC7), fold its counters into the pool and free it.
 * Registry lock held; the owner thread no longer uses tc. */
static void tcache_retire_locked(ebra_pool_t *pool, ebi_tcache_t *tc, bool after_fork) {
  if (after_fork) { /* ebi_depot_reconcile_after_fork gives the magazines */
    ebi_tcache_sync_out_after_fork(tc);
  } else {
    ebi_tcache_sync_out(tc);
    ebi_magazine_give_departing(pool, tc); /* MC7 */
  }
  ebi_counters_add(&pool->detached, &tc->c);
  tcache_unlink(pool, tc);
  tcache_free(tc);
}

/* Destroy: free the caches of every thread still attached to pool.  Their
 * magazines are freed with the pool's magazine list.  The owners' slots go
 * stale by the serial change.  Registry lock held. */
void ebi_tcache_detach_all(ebra_pool_t *pool) {
  ebi_tcache_t *tc = pool->tcaches;
  while (tc) {
    ebi_tcache_t *next = tc->pool_next;
    ebi_counters_add(&pool->detached, &tc->c);
    tcache_free(tc);
    tc = next;
  }
  pool->tcaches = NULL;
  pool->ntcaches = 0;
}

/* ---- taking an idle thread's cache ---------------------------------------
 * The handshake (docs/DESIGN.md, "Taking an idle thread's cache"):
 *   owner    busy := 1 (ebi_pool_op_enter); compiler barrier; load its
 *            slot's serial; use the cache (a slow path also counts
 *            nested); compiler barrier; busy := 0
 *   drainer  store serial := 0 in the slot; membarrier(); load busy and
 *            nested; if both 0, the cache is the drainer's; else store
 *            the serial back
 * membarrier runs a full barrier on every CPU running a thread of this
 * process, between the drainer's store and its load; so either the
 * owner's busy := 1 is visible to the drainer's load, or the owner's load
 * of the serial comes after the barrier and sees 0 and misses (then the
 * slow path finds no cache and attaches, under the registry lock the
 * drainer holds).  Without the barrier both could miss each other (x86
 * lets a load pass an earlier store).  ThreadSanitizer builds use
 * sequentially consistent atomics on both sides instead, which TSan can
 * follow. */

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

static int membarrier_state; /* 0 unknown, 1 ready, -1 unavailable; registry lock */

static bool membarrier_ready_locked(void) {
  if (membarrier_state == 0)
    membarrier_state =
        syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 ? 1 : -1;
  return membarrier_state > 0;
}

/* The barrier between the drainer's stores and its loads of busy.  Under
 * TSan none: both sides' accesses are sequentially consistent. */
static void drain_barrier(void) {
#if !defined(EBRA_TSAN)
  syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
#endif
}

/* Has tc's owner done no pool operation on it since the last call, for
 * min_idle calls in a row?  Relaxed: the counters are the owner's. */
static bool tcache_idle(ebi_tcache_t *tc, uint32_t min_idle) {
  const uint64_t act =
      ebi_atomic_load_relaxed(&tc->c.allocs) + ebi_atomic_load_relaxed(&tc->c.frees);
  if (act != tc->drain_seen) {
    tc->drain_seen = act;
    tc->idle_steps = 0;
    return false;
  }
  return ++tc->idle_steps >= min_idle;
}

uint32_t ebi_tcache_drain_idle_locked(ebra_pool_t *pool, uint32_t min_idle) {
  if (!membarrier_ready_locked())
    return 0;
  const ebi_thread_t *self = ebi_tls_thread;
  uint32_t asked = 0, taken = 0;
  for (ebi_tcache_t *tc = pool->tcaches; tc; tc = tc->pool_next) {
    tc->draining = tc->thread != self && tcache_idle(tc, min_idle);
    if (tc->draining) {
      ebi_slot_t *slot = ebi_thread_slot(tc->thread, EBI_SLOTS_POOL, pool->life.id);
      ebi_slot_serial_store_drain(slot, 0);
      asked++;
    }
  }
  if (!asked)
    return 0;
  drain_barrier();
  ebi_tcache_t *next;
  for (ebi_tcache_t *tc = pool->tcaches; tc; tc = next) {
    next = tc->pool_next;
    if (!tc->draining)
      continue;
    ebi_slot_t *slot = ebi_thread_slot(tc->thread, EBI_SLOTS_POOL, pool->life.id);
#if defined(EBI_SEEDED_BUG_DRAIN) /* stress_drain_caught only: ignore the owner */
    if (0) {
#else
    if (ebi_thread_in_pool_op_drain(tc->thread)) {
#endif
      /* In an operation: give the slot back; a miss it caused meanwhile
       * finds the cache again in ebi_tcache_attach. */
      ebi_atomic_store_relaxed(&slot->serial, pool->life.serial);
      tc->draining = false;
      continue;
    }
    slot->state = NULL;
    tcache_retire_locked(pool, tc, false);
    taken++;
  }
  return taken;
}

/* ---- hooks of the floors above ----------------------------------------- */

static const ebi_thread_hooks_t *hooks[EBI_MAX_HOOKS];
static uint32_t nhooks; /* written by constructors only, before any thread */

void ebi_thread_hooks_add(const ebi_thread_hooks_t *h) {
  if (nhooks == EBI_MAX_HOOKS)
    EBI_DIE("too many thread hooks");
  hooks[nhooks++] = h;
}

/* t's pool cache in slot id, if that slot is still valid.  Registry lock. */
static ebi_tcache_t *thread_tcache_at(ebi_thread_t *t, uint32_t id, ebra_pool_t **pool_out) {
  ebi_slot_t *s = ebi_thread_slot(t, EBI_SLOTS_POOL, id);
  ebra_pool_t *pool = ebi_registry_at(id);
  if (!s->state || !pool || pool->life.serial != s->serial)
    return NULL;
  *pool_out = pool;
  return s->state;
}

/* Release all of thread t's state.  Registry lock held; t is the calling
 * thread, or (fork child, after_fork) a thread that no longer exists. */
static void thread_release_locked(ebi_thread_t *t, bool after_fork) {
  /* The floors above first: closing a batch or leaving liburcu never needs
   * a pool cache, and reclaimers may free into pools meanwhile. */
  for (uint32_t i = 0; i < nhooks; i++)
    if (hooks[i]->thread_release_locked)
      hooks[i]->thread_release_locked(t);
  ebra_pool_t *pool;
  for (uint32_t id = 0; id < ebi_thread_nslots(t, EBI_SLOTS_POOL); id++) {
    ebi_tcache_t *tc = thread_tcache_at(t, id, &pool);
    if (tc)
      tcache_retire_locked(pool, tc, after_fork);
  }
  for (uint32_t k = 0; k < EBI_SLOT_KINDS; k++)
    free(t->slots[k].more);
  if (t->number < EBI_THREAD_NUMBERS)
    thread_numbers_held &= ~(1ull << t->number);
  if (t->prev)
    t->prev->next = t->next;
  else
    threads = t->next;
  if (t->next)
    t->next->prev = t->prev;
  free(t->block);
}

/* Move the calling thread's cached objects of every live pool to the
 * depots (the reclaimer does this after each round, so reclaimed objects
 * do not sit in its magazines). */
void ebi_thread_flush_caches(void) {
  ebi_thread_t *t = ebi_tls_thread;
  ebi_registry_lock();
  ebra_pool_t *pool;
  for (uint32_t id = 0; id < ebi_thread_nslots(t, EBI_SLOTS_POOL); id++) {
    ebi_tcache_t *tc = thread_tcache_at(t, id, &pool);
    if (tc)
      ebi_tcache_flush(pool, tc);
  }
  ebi_registry_unlock();
}

void ebra_thread_exit(void) {
  ebi_thread_t *t = ebi_tls_thread;
  if (t == &thread_empty)
    return;
  ebi_registry_lock();
  pthread_setspecific(thread_key, NULL);
  thread_release_locked(t, false); /* still the TLS thread: it leaves liburcu itself */
  EBRA__TLS.thread = &thread_empty;
  ebi_registry_unlock();
}

static void thread_key_destructor(void *arg) {
  (void)arg;
  ebra_thread_exit();
}

/* ---- fork ----------------------------------------------------------------- */

typedef enum { FORK_PREPARE, FORK_PARENT, FORK_CHILD, FORK_RESTART } fork_step_t;

/* Run one fork step of the hooks on one side of the registry lock: in
 * registration order, or in reverse for FORK_PARENT (releases). */
static void hooks_run(bool above_registry, fork_step_t step) {
  for (uint32_t k = 0; k < nhooks; k++) {
    const ebi_thread_hooks_t *h = hooks[step == FORK_PARENT ? nhooks - 1 - k : k];
    void (*fn)(void) = step == FORK_PREPARE  ? h->fork_prepare
                       : step == FORK_PARENT ? h->fork_parent
                       : step == FORK_CHILD  ? h->fork_child
                                             : h->fork_restart;
    if (h->above_registry == above_registry && fn)
      fn();
  }
}

static void pool_fork_lock(ebi_life_t *l) {
  ebra_pool_t *pool = (ebra_pool_t *)l;
  pthread_mutex_lock(&pool->grow_lock);
  pthread_mutex_lock(&pool->overflow_lock);
}

static void pool_fork_unlock(ebi_life_t *l) {
  ebra_pool_t *pool = (ebra_pool_t *)l;
  pthread_mutex_unlock(&pool->overflow_lock);
  pthread_mutex_unlock(&pool->grow_lock);
}

/* A thread that did not cross the fork may have stopped between two steps
 * of a magazine exchange: a magazine pushed to the depot while its cache
 * still names it, or popped and not yet installed.  Its cache's magazines
 * were therefore not given back one by one (tcache_retire_locked); the
 * depot is rebuilt from the pool's list of every magazine instead. */
static void pool_reconcile_after_fork(ebi_life_t *l) {
  ebra_pool_t *pool = (ebra_pool_t *)l;
  ebi_tcache_t *self = ebi_tcache_of(pool);
  if (self)
    ebi_tcache_sync_out(self);
  ebi_depot_reconcile_after_fork(pool, self);
}

static void fork_prepare(void) {
  hooks_run(true, FORK_PREPARE); /* their locks rank first */
  ebi_registry_lock();
  hooks_run(false, FORK_PREPARE);
  ebi_life_each_locked(EBI_KIND_POOL, pool_fork_lock);
  ebi_report_fork_lock(); /* a leaf: last */
}

static void fork_unlock_pools(void) { ebi_life_each_locked(EBI_KIND_POOL, pool_fork_unlock); }

static void fork_parent(void) {
  ebi_report_fork_unlock();
  fork_unlock_pools();
  hooks_run(false, FORK_PARENT);
  registry_unlock_in_fork();
  hooks_run(true, FORK_PARENT);
}

/* The child has one thread: give back the state of all the others. */
static void fork_child(void) {
  ebi_report_fork_unlock();
  hooks_run(false, FORK_PARENT); /* unlock the floors' locks first */
  ebi_thread_t *self = ebi_tls_thread;
  ebi_thread_t *t = threads;
  while (t) {
    ebi_thread_t *next = t->next;
    if (t != self)
      thread_release_locked(t, true);
    t = next;
  }
  ebi_life_each_locked(EBI_KIND_POOL, pool_reconcile_after_fork);
  hooks_run(false, FORK_CHILD);
  fork_unlock_pools();
  registry_unlock_in_fork();
  hooks_run(true, FORK_PARENT);
  hooks_run(true, FORK_CHILD);
  /* Every ebra lock is free now (meta_lock's child handler ran first):
   * threads may start (their creation may allocate through ebra's malloc,
   * which may take any of them), and reports reach the hook. */
  hooks_run(true, FORK_RESTART);
  hooks_run(false, FORK_RESTART);
  ebi_report_deliver_deferred();
}

/* ---- library init ------------------------------------------------------- */

__attribute__((constructor)) static void ebi_thread_init(void) {
  if (pthread_key_create(&thread_key, thread_key_destructor) != 0)
    EBI_DIE("pthread_key_create failed");
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}

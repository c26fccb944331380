/* src/thread.c — per-thread state, the pool registry, thread exit and fork.
 *
 * Each thread has one ebra_thread_t, found through an initial-exec TLS
 * pointer, holding a slot per pool id: {pool serial, thread cache}.  A slot
 * is valid only while its serial equals the pool's, so destroying a pool
 * (serial := EBRA_SERIAL_DEAD) or reusing its id for a new pool (fresh serial) makes every
 * thread's stale slot miss on its next use without touching that thread.
 *
 * The registry lock serialises the control plane: pool create and destroy,
 * attaching a cache to a thread, thread exit, stats, and fork.  It is never
 * taken by alloc or free fast paths, nor by the depot or slab paths.
 *
 * Lock order: engine locks (engine.c) -> registry_lock -> pool->grow_lock -> pool->overflow_lock.
 * Grow and overflow paths never take the registry lock.
 *
 * Thread exit (pthread key destructor) and destroy both take the registry
 * lock, so a thread that exits while its pool is destroyed either flushes
 * its cache into the live pool first, or finds the pool gone (serial
 * mismatch) and skips the cache, which destroy already freed.
 *
 * Fork: prepare takes every lock in lock order; the parent releases them;
 * the child releases them and then, being single-threaded, returns the
 * caches of threads that do not exist in the child to the depots, so their
 * objects are usable again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A thread with no caches: every lookup misses (ncaches == 0), so the fast
 * path needs no NULL check. */
static ebra_thread_t thread_empty = {.number = EBRA_THREAD_UNNUMBERED};

__thread ebra_thread_t *ebra_tls_thread __attribute__((tls_model("initial-exec"))) =
    &thread_empty;

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static ebra_idtable_t registry; /* pools by id; registry lock */
static uint64_t thread_numbers_held; /* bit i: a live thread state holds number i; registry lock */
static ebra_thread_t *threads;  /* all threads with state; registry lock */
static pthread_key_t thread_key;

void ebra_registry_lock(void) { pthread_mutex_lock(&registry_mutex); }
void ebra_registry_unlock(void) { pthread_mutex_unlock(&registry_mutex); }

/* ---- pool registry (registry lock held) ---------------------------------- */

int ebra_idtable_put(ebra_idtable_t *t, void *item, uint32_t min_cap, uint32_t *id) {
  uint32_t i = 0;
  while (i < t->cap && t->items[i])
    i++;
  if (i == t->cap) {
    const uint32_t cap = t->cap ? t->cap * 2 : min_cap;
    void **r = realloc(t->items, cap * sizeof *r);
    if (!r)
      return ENOMEM;
    memset(r + t->cap, 0, (cap - t->cap) * sizeof *r);
    t->items = r;
    t->cap = cap;
  }
  t->items[i] = item;
  *id = i;
  return 0;
}

int ebra_registry_add(ebra_pool_t *pool) { return ebra_idtable_put(&registry, pool, 64, &pool->id); }

void ebra_registry_remove(ebra_pool_t *pool) {
  if (ebra_idtable_at(&registry, pool->id) == pool)
    registry.items[pool->id] = NULL;
}

ebra_pool_t *ebra_registry_at(uint32_t id) { return ebra_idtable_at(&registry, id); }
uint32_t ebra_registry_capacity(void) { return registry.cap; }

/* ---- thread state --------------------------------------------------------- */

/* The calling thread's state, created on first use.  Registry lock held. */
ebra_thread_t *ebra_thread_get_locked(void) {
  ebra_thread_t *t = ebra_tls_thread;
  if (t != &thread_empty)
    return t;
  t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  _Static_assert(EBRA_THREAD_NUMBERS == 64, "one bit per number in thread_numbers_held");
  if (~thread_numbers_held) {
    t->number = (uint32_t)__builtin_ctzll(~thread_numbers_held);
    thread_numbers_held |= 1ull << t->number;
  } else {
    t->number = EBRA_THREAD_UNNUMBERED;
  }
  t->next = threads;
  if (threads)
    threads->prev = t;
  threads = t;
  pthread_setspecific(thread_key, t); /* so the destructor runs at exit */
  ebra_tls_thread = t;
  return t;
}

static int thread_reserve_slot(ebra_thread_t *t, uint32_t id) {
  if (ebra_thread_slot(t, id))
    return 0;
  id -= EBRA_INLINE_CACHES;
  uint32_t n = t->ncaches ? t->ncaches : 8;
  while (n <= id)
    n *= 2;
  ebra_cache_slot_t *c = realloc(t->caches, n * sizeof *c);
  if (!c)
    return ENOMEM;
  memset(c + t->ncaches, 0, (n - t->ncaches) * sizeof *c);
  t->caches = c;
  t->ncaches = n;
  return 0;
}

int ebra_thread_reserve_domain(ebra_thread_t *t, uint32_t id) {
  if (ebra_thread_domain_slot(t, id))
    return 0;
  id -= EBRA_INLINE_DOMAINS;
  uint32_t n = t->ndomains ? t->ndomains : 4;
  while (n <= id)
    n *= 2;
  ebra_domain_slot_t *d = realloc(t->domains, n * sizeof *d);
  if (!d)
    return ENOMEM;
  memset(d + t->ndomains, 0, (n - t->ndomains) * sizeof *d);
  t->domains = d;
  t->ndomains = n;
  return 0;
}

static void tcache_link(ebra_pool_t *pool, ebra_tcache_t *tc) {
  tc->pool_prev = NULL;
  tc->pool_next = pool->tcaches;
  if (pool->tcaches)
    pool->tcaches->pool_prev = tc;
  pool->tcaches = tc;
  pool->ntcaches++;
}

static void tcache_unlink(ebra_pool_t *pool, ebra_tcache_t *tc) {
  if (tc->pool_prev)
    tc->pool_prev->pool_next = tc->pool_next;
  else
    pool->tcaches = tc->pool_next;
  if (tc->pool_next)
    tc->pool_next->pool_prev = tc->pool_prev;
  pool->ntcaches--;
}

/* Attach a cache for pool to the calling thread.  NULL if the pool is
 * destroyed (errno EBADF) or memory is short (errno ENOMEM). */
ebra_tcache_t *ebra_tcache_attach(ebra_pool_t *pool) {
  ebra_tcache_t *tc = NULL;
  int err = ENOMEM;
  ebra_registry_lock();
  if (!ebra_pool_is_alive(pool)) {
    err = EBADF;
    goto out;
  }
  ebra_thread_t *t = ebra_thread_get_locked();
  if (!t || thread_reserve_slot(t, pool->id) != 0)
    goto out;
  tc = calloc(1, sizeof *tc);
  if (!tc)
    goto out;
  tc->loaded = ebra_magazine_get_empty(pool, &tc->c);
  tc->previous = ebra_magazine_get_empty(pool, &tc->c);
  if (!tc->loaded || !tc->previous) {
    if (tc->loaded)
      ebra_depot_push_empty(&pool->depot, tc->loaded, &tc->c);
    if (tc->previous)
      ebra_depot_push_empty(&pool->depot, tc->previous, &tc->c);
    free(tc);
    tc = NULL;
    goto out;
  }
  tc->pool = pool;
  tc->thread = t;
  ebra_tcache_sync_in(tc);
  tcache_link(pool, tc);
  *ebra_thread_slot(t, pool->id) = (ebra_cache_slot_t){.serial = pool->serial, .tcache = tc};
out:
  ebra_registry_unlock();
  if (!tc)
    errno = err;
  return tc;
}

/* Move every object of tc to the depot; tc keeps two empty magazines when
 * memory allows (otherwise it keeps what it has).  Caller owns tc. */
void ebra_tcache_flush(ebra_pool_t *pool, ebra_tcache_t *tc) {
  ebra_tcache_sync_out(tc);
  ebra_magazine_t **slots[2] = {&tc->loaded, &tc->previous};
  for (int i = 0; i < 2; i++) {
    ebra_magazine_t *m = *slots[i];
    if (m->rounds == 0)
      continue;
    ebra_magazine_t *e = ebra_magazine_get_empty(pool, &tc->c);
    if (!e)
      continue;
    ebra_depot_push_full(&pool->depot, m, &tc->c);
    *slots[i] = e;
  }
  ebra_tcache_sync_in(tc);
}

/* Return tc's magazines to the depot, fold its counters into the pool and
 * free it.  Registry lock held; the owner thread no longer uses tc. */
static void tcache_retire_locked(ebra_pool_t *pool, ebra_tcache_t *tc) {
  ebra_tcache_sync_out(tc);
  ebra_magazine_give(pool, tc->loaded, &tc->c);
  ebra_magazine_give(pool, tc->previous, &tc->c);
  ebra_counters_add(&pool->detached, &tc->c);
  tcache_unlink(pool, tc);
  free(tc);
}

/* Destroy: free the caches of every thread still attached to pool.  Their
 * magazines are freed with the pool's magazine list.  The owners' slots go
 * stale by the serial change.  Registry lock held. */
void ebra_tcache_detach_all(ebra_pool_t *pool) {
  ebra_tcache_t *tc = pool->tcaches;
  while (tc) {
    ebra_tcache_t *next = tc->pool_next;
    ebra_counters_add(&pool->detached, &tc->c);
    free(tc);
    tc = next;
  }
  pool->tcaches = NULL;
  pool->ntcaches = 0;
}

/* Release all of thread t's state.  Registry lock held; t is the calling
 * thread, or (fork child) a thread that no longer exists. */
static void thread_release_locked(ebra_thread_t *t) {
  /* Domains first: closing a batch or leaving liburcu never needs a pool
   * cache, and reclaimers may free into pools meanwhile. */
  for (uint32_t id = 0; id < ebra_thread_ndomain_slots(t); id++) {
    ebra_domain_slot_t *s = ebra_thread_domain_slot(t, id);
    ebra_domain_t *d = ebra_domain_registry_at(id);
    if (s->dthread && d && d->serial == s->serial)
      ebra_dthread_release_locked(s->dthread, t);
  }
  free(t->domains);
  for (uint32_t id = 0; id < ebra_thread_nslots(t); id++) {
    ebra_cache_slot_t *s = ebra_thread_slot(t, id);
    ebra_pool_t *pool = ebra_registry_at(id);
    if (s->tcache && pool && pool->serial == s->serial)
      tcache_retire_locked(pool, s->tcache);
  }
  free(t->caches);
  if (t->number < EBRA_THREAD_NUMBERS)
    thread_numbers_held &= ~(1ull << t->number);
  if (t->prev)
    t->prev->next = t->next;
  else
    threads = t->next;
  if (t->next)
    t->next->prev = t->prev;
  free(t);
}

/* Move the calling thread's cached objects of every live pool to the
 * depots (the reclaimer does this after each round, so reclaimed objects
 * do not sit in its magazines). */
void ebra_thread_flush_caches(void) {
  ebra_thread_t *t = ebra_tls_thread;
  ebra_registry_lock();
  for (uint32_t id = 0; id < ebra_thread_nslots(t); id++) {
    ebra_cache_slot_t *s = ebra_thread_slot(t, id);
    ebra_pool_t *pool = ebra_registry_at(id);
    if (s->tcache && pool && pool->serial == s->serial)
      ebra_tcache_flush(pool, s->tcache);
  }
  ebra_registry_unlock();
}

void ebra_thread_detach(void) {
  ebra_thread_t *t = ebra_tls_thread;
  if (t == &thread_empty)
    return;
  ebra_registry_lock();
  pthread_setspecific(thread_key, NULL);
  thread_release_locked(t); /* still the TLS thread: it leaves liburcu itself */
  ebra_tls_thread = &thread_empty;
  ebra_registry_unlock();
}

static void thread_key_destructor(void *arg) {
  (void)arg;
  ebra_thread_detach();
}

/* ---- fork ----------------------------------------------------------------- */

static void fork_prepare(void) {
  ebra_engine_fork_prepare(); /* engine locks come before the registry */
  ebra_registry_lock();
  ebra_domains_fork_prepare();
  for (uint32_t id = 0; id < registry.cap; id++) {
    ebra_pool_t *pool = registry.items[id];
    if (pool) {
      pthread_mutex_lock(&pool->grow_lock);
      pthread_mutex_lock(&pool->overflow_lock);
    }
  }
}

static void fork_unlock_all(void) {
  for (uint32_t id = 0; id < registry.cap; id++) {
    ebra_pool_t *pool = registry.items[id];
    if (pool) {
      pthread_mutex_unlock(&pool->overflow_lock);
      pthread_mutex_unlock(&pool->grow_lock);
    }
  }
  ebra_registry_unlock();
}

static void fork_parent(void) {
  ebra_domains_fork_parent();
  fork_unlock_all();
  ebra_engine_fork_parent();
}

/* The child has one thread: give back the caches of all the others. */
static void fork_child(void) {
  ebra_domains_fork_parent(); /* unlock the domain locks first */
  ebra_thread_t *self = ebra_tls_thread;
  ebra_thread_t *t = threads;
  while (t) {
    ebra_thread_t *next = t->next;
    if (t != self)
      thread_release_locked(t);
    t = next;
  }
  ebra_domains_fork_child();
  fork_unlock_all();
  ebra_engine_fork_child();
}

/* ---- library init ------------------------------------------------------- */

__attribute__((constructor)) static void ebra_thread_init(void) {
  if (pthread_key_create(&thread_key, thread_key_destructor) != 0)
    EBRA_DIE("pthread_key_create failed");
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  atexit(ebra_pool_print_all_at_exit);
}

/* SPDX-License-Identifier: MIT */
/* src/giveback.c — delayed give-back: memory of malloc size classes that
 * went quiet returns to the OS after EBRA_PURGE_DELAY milliseconds, in a
 * busy process, with no soft limit and no strategy engine.
 *
 * No thread of its own: a pass runs on a pool slow path (a magazine
 * exchange, after the pool operation is left) once the delay has passed
 * since the previous pass.  A pass looks at every malloc class pool: one
 * whose thread caches counted no alloc or free since the previous pass is
 * quiet; a quiet pool's idle caches are taken (a cache idle over two quiet
 * passes, by the drain handshake in thread.c), its depot is trimmed to nothing, and its
 * wholly free slabs and its current slab's free tail are purged (slab.c,
 * S5 and S7).  So a class's memory goes back between one and three delays
 * after the class was last used, and a class in use keeps its memory.
 *
 * Invariants
 *   G1  at most one pass runs at a time, and passes start at least one
 *       delay apart: a pass starts only by the CAS that moves xnext_ns from
 *       the value it read (<= now) to now + delay.
 *   G2  a pass holds the registry lock, taken by trylock: a slow path that
 *       already holds it (thread state creation allocates) or meets it
 *       held skips the pass instead of waiting, so no lock cycle can form;
 *       the pool locks it then takes come after the registry lock in the
 *       lock order (thread.c).  No pass starts inside a report's delivery
 *       (the hook may run with a pool's grow_lock held, and a pass waits
 *       for grow_locks); a pool slow path holds no pool lock otherwise.  The pass's per-pool state (gb_seen,
 *       gb_quiet in ebra_pool_t) is under the registry lock.
 *   G3  a pass runs outside any pool operation of its thread (the caller
 *       has left it), so taking other threads' caches follows the same
 *       handshake as the engine's, and the thread's own caches are never
 *       taken (ebi_tcache_drain_idle_locked skips them).
 *
 * Cost: per slow path a thread-local countdown; every TICK_EVERY-th slow
 * path of a thread reads CLOCK_MONOTONIC_COARSE (vDSO, no syscall);
 * per pass, a walk of the pools under the registry lock, and per quiet
 * pool with something to give: at most one membarrier (the drain), the
 * trimmed magazines' slab returns, one madvise per purged slab or tail.
 * A pool already given back costs one read of its counters per pass.
 *
 * Progress: the tick is wait-free; a pass is blocking (pool locks) but
 * bounded by the pools' size, and at most one runs per delay.
 */
#include <time.h>

#include "internal.h"

static _Atomic uint64_t xnext_ns; /* when the next pass may start (G1) */
static _Atomic uint64_t xpasses, xpools_given, xbytes_given;

static uint64_t coarse_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Allocs and frees counted by pool's caches, attached and detached;
 * registry lock held.  Relaxed: each cache's counters are its owner's. */
static uint64_t pool_activity_locked(const ebra_pool_t *pool) {
  uint64_t n = ebi_atomic_load_relaxed(&pool->detached.allocs) +
               ebi_atomic_load_relaxed(&pool->detached.frees);
  for (const ebi_tcache_t *tc = pool->tcaches; tc; tc = tc->pool_next)
    n += ebi_atomic_load_relaxed(&tc->c.allocs) + ebi_atomic_load_relaxed(&tc->c.frees);
  return n;
}

/* One pool in a pass; registry lock held (G2). */
static void giveback_pool(ebi_life_t *l) {
  ebra_pool_t *pool = (ebra_pool_t *)l;
  if (!(pool->flags & EBI_POOL_MALLOC_CLASS))
    return;
  const uint64_t act = pool_activity_locked(pool);
  if (act != pool->gb_seen) {
    pool->gb_seen = act;
    pool->gb_quiet = 0;
    return;
  }
  if (pool->gb_quiet < UINT32_MAX)
    pool->gb_quiet++;
  /* A cache is taken once its own counters stood still over two quiet
   * passes (tcache_idle in thread.c): a thread that only hit its
   * magazines counts nothing until its next slow path. */
  if (pool->ntcaches)
    (void)ebi_tcache_drain_idle_locked(pool, 1);
  /* The drain never takes the caller's own cache; the caller owns it and
   * is outside any pool operation (G3), so it flushes it itself. */
  ebi_tcache_t *own = ebi_tcache_of(pool);
  if (own && pool->gb_quiet >= 2)
    ebi_tcache_flush(pool, own);
  const uint64_t trimmed = ebi_depot_trim(pool, 0);
  if (!trimmed && ebi_atomic_load_relaxed(&pool->xslab_free) == 0)
    return;
  const uint64_t bytes = ebi_slab_purge_free(pool);
  if (bytes) {
    ebi_atomic_add_relaxed(&xpools_given, 1);
    ebi_atomic_add_relaxed(&xbytes_given, bytes);
  }
}

static void giveback_pass(void) {
  if (ebi_report_emitting() || ebi_registry_held() || !ebi_registry_trylock())
    return; /* G2 */
  ebi_life_each_locked(EBI_KIND_POOL, giveback_pool);
  ebi_registry_unlock();
  ebi_atomic_add_relaxed(&xpasses, 1);
}

/* Slow paths of this thread until it next reads the clock. */
#define TICK_EVERY 8u
static __thread uint32_t tick_countdown __attribute__((tls_model("initial-exec")));

void ebi_giveback_tick(void) {
  if (tick_countdown) {
    tick_countdown--;
    return;
  }
  tick_countdown = TICK_EVERY - 1;
  const long delay_ms = ebi_option_value(EBRA_OPT_PURGE_DELAY);
  if (delay_ms <= 0)
    return;
  const uint64_t now = coarse_now_ns();
  uint64_t due = ebi_atomic_load_relaxed(&xnext_ns);
  if (now < due)
    return;
  /* G1: one winner per delay; a 0 (first tick) only starts the clock. */
  if (!ebi_atomic_cas_relaxed(&xnext_ns, &due, now + (uint64_t)delay_ms * 1000000ull))
    return;
  if (due)
    giveback_pass();
}

void ebi_giveback_stats(uint64_t *passes, uint64_t *pools, uint64_t *bytes) {
  *passes = ebi_atomic_load_relaxed(&xpasses);
  *pools = ebi_atomic_load_relaxed(&xpools_given);
  *bytes = ebi_atomic_load_relaxed(&xbytes_given);
}

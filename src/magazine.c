/* SPDX-License-Identifier: MIT */
/* src/magazine.c — magazines: bounded stacks of free objects that move
 * whole between thread caches and the depot, and the policy that sizes
 * them.  A magazine has one owner at a time, so its fields need no
 * atomics; ownership moves through the depot's release/acquire
 * (src/depot.c, lockfree/stack.h).
 *
 * Capacity policy.  A pool's magazines start at the configured capacity
 * (the base).  When a thread's magazines keep moving through the depot (a
 * working set larger than the two magazines of its cache, cycled through
 * the shared depot), the pool's capacity doubles, up to a cap; magazines
 * taken from then on have the new capacity, so the working set fits in the
 * thread's cache again and stops migrating between cores.  Bonwick grows
 * the magazine size when the depot lock is contended; this depot is
 * lock-free, so the signal is its traffic: the share of a thread's allocs
 * and frees whose objects went through the depot in full magazines.
 *
 * Where it lives: here, run by the slow paths of the thread whose traffic
 * it measures, not by the strategy engine.  The engine runs only when the
 * application steps it (ebra_maintain or its background thread), at 100 ms
 * by default; a slow path sees the traffic at the exchange that makes it,
 * with no clock, and costs nothing on the fast paths (it runs only when a
 * full magazine moves).  The engine keeps what it is good at: it sets the
 * mode from the strategy (ebi_magazine_set_mode), which bounds the
 * capacity: lean (memory-efficient, or soft-limit pressure) shrinks it.
 *
 * Invariants (pool->xmag_shape = capacity | ceiling << 32):
 *   MC1  Only the functions of this file write xmag_shape, and every write
 *       is one CAS of the whole word: growth (a thread's slow path) and
 *       the engine's mode change never lose each other's bound.
 *   MC2  1 <= capacity <= ceiling <= mag_capacity_max <= EBRA_MAX_MAGAZINE_CAPACITY
 *       after every write.  mag_capacity_max (the growth cap, constant):
 *       pools that take the option's capacity: 16 x base, and no more
 *       rounds than fit EBI_MAG_GROW_BYTES of objects, but never below base;
 *       pinned pools (a configured magazine_capacity): 4 x base.
 *       The ceiling by mode: lean: base / 4 (at least 4, at most base);
 *       normal: the cap for pools that grow, base for pinned ones; grow
 *       (high-throughput): the cap.
 *   MC3  A magazine's `capacity` changes only while it is empty and owned
 *       (ebi_magazine_get_empty sets it to the pool's capacity when its
 *       `size` allows), so rounds <= capacity <= size always holds, and a
 *       full magazine of an older capacity stays valid until it empties.
 *       A thread cache refits its empty previous magazine the same way
 *       before it swaps it in (ebi_magazine_refit), so the cache moves to
 *       the new capacity at its next swap, and a refill that pops a full
 *       magazine smaller than its empty loaded one pours the rounds over
 *       and gives the small one back empty (pool.c, alloc_refill), so old
 *       full magazines do not keep cycling through the depot; a refill
 *       that carves refits its empty loaded magazine first, so the carve
 *       batch follows the pool's capacity (a lean pool does not carve a
 *       grown magazine's worth).
 *   MC4  The depot's `empty` stack holds magazines whose size fits the
 *       pool's capacity when they were pushed; `parked` holds the ones too
 *       small (D4).  A shrink therefore reuses bigger magazines (their
 *       capacity is lowered, MC3) and makes none; a growth parks the small
 *       ones.  Magazines are freed with the pool (D3): their bytes are
 *       counted in xmag_bytes (ebra_pool_stats.bytes_magazines) and in the
 *       engine's soft-limit test.
 *   MC5  The growth signal is the owner's own: tc->win_* are written only
 *       by the cache's owner thread, in its slow paths.  After every
 *       EBI_MAG_WINDOW full-magazine moves, it compares the objects moved
 *       with its allocs + frees in the same window; a share of at least
 *       1 / EBI_MAG_SHARE_DIV asks for twice the smaller of the pool's
 *       capacity and the biggest magazine moved in the window: a thread
 *       still on old small magazines does not double an already grown pool
 *       again, and big magazines left from before a shrink do not make it
 *       jump to the ceiling.
 *   MC6  Growth is refused while a memory limit (soft or hard) is within a
 *       few magazines of the new size of being passed: bigger magazines
 *       must not be what pushes the process over.
 *   MC7  A departing cache (its thread exits, or a drainer takes it) whose
 *       owner made at least EBI_MAG_DEPART_OPS allocs and frees per round
 *       it still holds gives its rounds to their slabs' free bits, and
 *       its magazines to the depot empty; any other departing cache gives
 *       its magazines to the depot as they are.  A magazine's rounds are
 *       in the order its owner freed them, scattered over its slabs, and
 *       the blocks of one cache line end up in several magazines, so
 *       threads that take a departed thread's magazines from the depot
 *       share lines: two threads cycling 2000 random-sized malloc blocks
 *       each, generation after generation, had 25-40% of their live
 *       blocks in lines shared with the other thread after the first
 *       generation, and ran slower for it (docs/DESIGN.md, "Magazine
 *       capacity", has the figures; bench/malloc_mix measures it).  The
 *       slabs' free bits hand objects out in address order (slab.c), so the
 *       next refills take whole lines.  The rule bounds what the return costs
 *       (a segment-map lookup per round, and a refill from the free bits
 *       instead of a depot pop) to a sixty-fourth of the departed
 *       thread's own work: a short-lived thread, whose magazines are
 *       mostly rounds it never used, gives them to the depot whole.
 */
#include <stdlib.h>

#include "internal.h"

#define EBI_MAG_DEPART_OPS 64u           /* MC7: operations per round held */
#define EBI_MAG_GROW_FACTOR 16u          /* the cap: 16 x base ... */
#define EBI_MAG_PINNED_FACTOR 4u         /* ... 4 x base for pinned pools */
#define EBI_MAG_GROW_BYTES ((size_t)256 << 10) /* object bytes per magazine */
#define EBI_MAG_LEAN_DIV 4u              /* lean: base / 4 ... */
#define EBI_MAG_LEAN_MIN 4u              /* ... at least this */
#define EBI_MAG_WINDOW 8u                /* full-magazine moves per look */
#define EBI_MAG_SHARE_DIV 4u             /* share >= 1/4 grows */
#define EBI_MAG_LIMIT_ROOM 4u            /* magazines of room a limit must leave */

/* Magazine bytes of every pool, for the limits (MC4, MC6). */
static _Atomic uint64_t xmag_bytes_all;

uint64_t ebi_magazine_bytes_all(void) { return ebi_atomic_load_relaxed(&xmag_bytes_all); }

static size_t magazine_bytes(uint32_t size) {
  return sizeof(ebi_magazine_t) + (size_t)size * sizeof(void *);
}

/* ---- the capacity policy ------------------------------------------------ */

static uint64_t shape(uint32_t capacity, uint32_t ceiling) {
  return (uint64_t)capacity | (uint64_t)ceiling << 32;
}
static uint32_t shape_capacity(uint64_t s) { return (uint32_t)s; }
static uint32_t shape_ceiling(uint64_t s) { return (uint32_t)(s >> 32); }
static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

void ebi_magazine_policy_init(ebra_pool_t *pool, uint32_t base, bool pinned) {
  uint32_t cap;
  if (pinned) {
    cap = min_u32(base * EBI_MAG_PINNED_FACTOR, EBRA_MAX_MAGAZINE_CAPACITY);
  } else {
    const size_t by_bytes = EBI_MAG_GROW_BYTES / pool->stride;
    cap = min_u32(base * EBI_MAG_GROW_FACTOR, EBRA_MAX_MAGAZINE_CAPACITY);
    if (by_bytes < cap)
      cap = (uint32_t)by_bytes;
    cap = max_u32(cap, base);
  }
  pool->mag_capacity_base = base;
  pool->mag_capacity_max = cap;
  pool->mag_pinned = pinned;
  ebi_atomic_store_relaxed(&pool->xmag_bytes, 0);
  ebi_atomic_store_relaxed(&pool->xmag_shape, shape(base, pinned ? base : cap));
}

static uint32_t ceiling_for(const ebra_pool_t *pool, ebi_mag_mode_t mode) {
  const uint32_t base = pool->mag_capacity_base;
  switch (mode) {
  case EBI_MAG_LEAN:
    return min_u32(base, max_u32(base / EBI_MAG_LEAN_DIV, EBI_MAG_LEAN_MIN));
  case EBI_MAG_GROW:
    return pool->mag_capacity_max;
  default:
    return pool->mag_pinned ? base : pool->mag_capacity_max;
  }
}

/* The engine's mode (MC2): the ceiling it implies; a capacity above it comes
 * down to it, and one below the base (a lean mode that ended) goes back
 * to the base. */
bool ebi_magazine_set_mode(ebra_pool_t *pool, ebi_mag_mode_t mode, ebi_mag_shape_t *was,
                           ebi_mag_shape_t *now) {
  const uint32_t ceiling = ceiling_for(pool, mode);
  const uint32_t floor = min_u32(pool->mag_capacity_base, ceiling);
  uint64_t cur = ebi_atomic_load_relaxed(&pool->xmag_shape);
  uint64_t next;
  do {
    const uint32_t cap = min_u32(max_u32(shape_capacity(cur), floor), ceiling);
    next = shape(cap, ceiling);
    if (next == cur)
      break;
    /* Relaxed: the word is the whole state (MC1); magazines are sized from
     * whatever value a reader sees. */
  } while (!ebi_atomic_cas_relaxed(&pool->xmag_shape, &cur, next));
  *was = (ebi_mag_shape_t){shape_capacity(cur), shape_ceiling(cur)};
  *now = (ebi_mag_shape_t){shape_capacity(next), shape_ceiling(next)};
  return next != cur;
}

/* Would magazines of `rounds` leave a limit too little room (MC6)? */
static bool limit_near(uint32_t rounds) {
  const uint64_t used = ebi_slab_committed_bytes() + ebi_magazine_bytes_all();
  const uint64_t room = (uint64_t)EBI_MAG_LIMIT_ROOM * magazine_bytes(rounds);
  const long soft = ebi_option_value(EBRA_OPT_SOFT_LIMIT);
  const long hard = ebi_option_value(EBRA_OPT_HARD_LIMIT);
  return (soft > 0 && used + room > (uint64_t)soft) || (hard > 0 && used + room > (uint64_t)hard);
}

/* Ask for `want` rounds (MC5): the capacity rises to min(want, ceiling). */
static void capacity_grow(ebra_pool_t *pool, uint32_t want) {
  uint64_t cur = ebi_atomic_load_relaxed(&pool->xmag_shape);
  if (min_u32(want, shape_ceiling(cur)) <= shape_capacity(cur) || limit_near(want))
    return;
  uint64_t next;
  do {
    const uint32_t cap = min_u32(want, shape_ceiling(cur));
    if (cap <= shape_capacity(cur))
      return;
    next = shape(cap, shape_ceiling(cur));
  } while (!ebi_atomic_cas_relaxed(&pool->xmag_shape, &cur, next)); /* MC1 */
}

void ebi_magazine_note_move(ebra_pool_t *pool, ebi_tcache_t *tc, uint32_t capacity) {
  if (capacity > tc->win_capacity)
    tc->win_capacity = capacity;
  if (++tc->win_moves < EBI_MAG_WINDOW)
    return;
  capacity = tc->win_capacity;
  tc->win_capacity = 0;
  const uint64_t ops = ebi_atomic_load_relaxed(&tc->c.allocs) +
                       ebi_atomic_load_relaxed(&tc->c.frees); /* the owner's own */
  const uint64_t rounds = ebi_atomic_load_relaxed(&tc->c.depot_rounds);
  /* A cache's counters start at 0 with its first window. */
  const uint64_t d_ops = ops - tc->win_ops, d_rounds = rounds - tc->win_rounds;
  tc->win_moves = 0;
  tc->win_ops = ops;
  tc->win_rounds = rounds;
  /* A window that moved magazines of the pool's capacity (or bigger ones
   * left from before a shrink) asks for twice that capacity. */
  capacity = min_u32(capacity, ebi_magazine_capacity(pool));
  if (d_rounds * EBI_MAG_SHARE_DIV >= d_ops && capacity < pool->mag_capacity_max)
    capacity_grow(pool, capacity * 2);
}

/* ---- magazines ---------------------------------------------------------- */

/* A new empty magazine with the pool's current capacity, linked into the
 * pool's list of all magazines (push-only CAS; read only by destroy and
 * audit, which run with the pool quiescent). */
ebi_magazine_t *ebi_magazine_new(ebra_pool_t *pool) {
  const uint32_t cap = ebi_magazine_capacity(pool);
  ebi_magazine_t *m = malloc(magazine_bytes(cap));
  if (!m)
    return NULL;
  m->link.next = NULL;
  m->rounds = 0;
  m->capacity = cap;
  m->size = cap;
  ebi_atomic_add_relaxed(&pool->xmag_bytes, magazine_bytes(cap));
  ebi_atomic_add_relaxed(&xmag_bytes_all, magazine_bytes(cap));
  ebi_magazine_t *head = ebi_atomic_load_relaxed(&pool->xall_mags);
  do {
    m->all_next = head;
    /* Release publishes all_next; paired with the acquire in the walkers. */
  } while (!ebi_atomic_cas_acq_rel(&pool->xall_mags, &head, m));
  return m;
}

/* m, empty and owned, takes cap rounds if its size allows (MC3). */
static bool fit(ebi_magazine_t *m, uint32_t cap) {
  if (m->size < cap)
    return false;
  m->capacity = cap;
  return true;
}

/* An empty magazine of the pool's current capacity: from the depot's
 * empty stack (parking the too small ones met on the way, MC4), else a
 * parked one that fits, else a new one.  NULL only if the OS refuses
 * memory.  The search is bounded: a few pops, then malloc. */
ebi_magazine_t *ebi_magazine_get_empty(ebra_pool_t *pool, ebi_counters_t *c) {
  const uint32_t cap = ebi_magazine_capacity(pool);
  for (int i = 0; i < 4; i++) {
    ebi_magazine_t *m = ebi_depot_pop_empty(&pool->depot, c);
    if (!m)
      break;
    if (fit(m, cap))
      return m;
    ebi_depot_park(&pool->depot, m, c);
  }
  if (ebi_atomic_load_relaxed(&pool->depot.xnparked) > 0) {
    ebi_magazine_t *m = ebi_depot_unpark(&pool->depot, c);
    if (m && fit(m, cap))
      return m;
    if (m)
      ebi_depot_park(&pool->depot, m, c);
  }
  return ebi_magazine_new(pool);
}

void ebi_magazine_refit(ebra_pool_t *pool, ebi_magazine_t **mp, ebi_counters_t *c) {
  ebi_magazine_t *m = *mp;
  const uint32_t cap = ebi_magazine_capacity(pool);
  if (m->capacity == cap || fit(m, cap))
    return;
  ebi_magazine_t *e = ebi_magazine_get_empty(pool, c);
  if (!e) /* no memory: the old one still works */
    return;
  ebi_magazine_give(pool, m, c); /* parked (MC4) */
  *mp = e;
}

/* Hand a magazine to the depot, on the stack its contents call for (D2),
 * or parked if it is empty and too small for the pool's capacity (MC4). */
void ebi_magazine_give(ebra_pool_t *pool, ebi_magazine_t *m, ebi_counters_t *c) {
  if (EBI_DEBUG && !ebi_magazine_is_valid(pool, m))
    ebi_report_pool(pool, EBRA_ERR_INTERNAL, "pool '%s': corrupt magazine %p given to the depot",
                     pool->life.name, (void *)m);
  if (m->rounds > 0)
    ebi_depot_push_full(&pool->depot, m, c);
  else if (m->size >= ebi_magazine_capacity(pool))
    ebi_depot_push_empty(&pool->depot, m, c);
  else
    ebi_depot_park(&pool->depot, m, c);
}

void ebi_magazine_give_departing(ebra_pool_t *pool, ebi_tcache_t *tc) {
  ebi_magazine_t *const ms[2] = {tc->loaded, tc->previous};
  const uint64_t held = (uint64_t)ms[0]->rounds + ms[1]->rounds;
  /* Relaxed: the owner no longer runs in tc (thread exit, or a drainer's
   * handshake), and only the owner writes its counters. */
  const uint64_t ops =
      ebi_atomic_load_relaxed(&tc->c.allocs) + ebi_atomic_load_relaxed(&tc->c.frees);
  const bool to_slabs = held > 0 && ops / EBI_MAG_DEPART_OPS >= held; /* MC7 */
  for (int i = 0; i < 2; i++) {
    if (to_slabs && ms[i]->rounds > 0) {
      ebi_slab_return(pool, ms[i]->objs, ms[i]->rounds);
      ms[i]->rounds = 0;
    }
    ebi_magazine_give(pool, ms[i], &tc->c);
  }
}

void ebi_magazine_free_all(ebra_pool_t *pool) {
  ebi_magazine_t *m = ebi_atomic_load_acquire(&pool->xall_mags); /* paired with magazine_new */
  uint64_t bytes = 0;
  while (m) {
    ebi_magazine_t *next = m->all_next;
    bytes += magazine_bytes(m->size);
    free(m);
    m = next;
  }
  ebi_atomic_store_relaxed(&pool->xall_mags, NULL);
  ebi_atomic_sub_relaxed(&xmag_bytes_all, bytes);
  ebi_atomic_store_relaxed(&pool->xmag_bytes, 0);
}

/* Checker: rounds within capacity within size, and every round a carved
 * slot of pool. */
bool ebi_magazine_is_valid(const ebra_pool_t *pool, const ebi_magazine_t *m) {
  if (m->rounds > m->capacity || m->capacity > m->size)
    return false;
  for (uint32_t i = 0; i < m->rounds; i++) {
    const ebi_slab_t *s = ebi_segmap_lookup(m->objs[i]);
    if (!s || s->pool != pool || !ebi_slab_slot_valid(s, m->objs[i]))
      return false;
  }
  return true;
}

/* SPDX-License-Identifier: MIT */
/* src/depot.c — the depot: two lock-free stacks of magazines, one of
 * non-empty ("full") and one of empty magazines, per pool.
 *
 * Built on Concurrency Kit's ck_stack: push is a single-word CAS on the
 * head; pop is ck's double-width CAS on {head, generation}, so a magazine
 * that is popped and pushed back between another popper's read of head and
 * its CAS changes the generation and fails that CAS (no ABA).
 *
 * Invariants
 *   D1  a magazine is on at most one stack, and while it is there no thread
 *       cache references it (ownership moves with push/pop).
 *   D2  every magazine on `empty` has rounds == 0; every magazine on `full`
 *       has rounds > 0.
 *   D3  magazines are never freed while the pool lives, because a popper may
 *       still read `link.next` of a magazine another popper just took; the
 *       generation CAS then fails and the value read is discarded.
 *   D4  `parked` holds empty magazines whose capacity differs from the
 *       pool's current one (the strategy engine resized magazines).  D3
 *       forbids freeing them, so they wait there until the capacity comes
 *       back to their size (ebi_magazine_get_empty) or the pool dies.
 *
 * Trimming (ebi_depot_trim) pops full magazines beyond the working set the
 * strategy engine asks to keep, gives their objects back to the slab layer
 * (slab.c) and pushes the magazines on `empty`.  It is one more popper and
 * pusher: the same lock-free operations, the same ownership rules.
 *
 * Ordering
 *   ck's CAS is a full barrier on x86 (lock cmpxchg / cmpxchg16b).  A push
 *   therefore releases the pusher's writes to the magazine (rounds, objs[])
 *   and, transitively, to the objects in it; the pop that returns the
 *   magazine acquires them.  ThreadSanitizer cannot see ck's asm, so
 *   lockfree/annotate.h states the same edge per magazine.
 *
 * Progress
 *   Lock-free: a try-push or try-pop fails only when another thread's CAS on
 *   the same stack succeeded.  Each failure is counted as contention.
 */
#include "internal.h"
#include "stack.h"

void ebi_depot_init(ebi_depot_t *d) {
  ck_stack_init(&d->full);
  ck_stack_init(&d->empty);
  ck_stack_init(&d->parked);
  ebi_atomic_store_relaxed(&d->xnfull, 0);
  ebi_atomic_store_relaxed(&d->xnempty, 0);
  ebi_atomic_store_relaxed(&d->xnparked, 0);
}

static void stack_push(ck_stack_t *st, ebi_magazine_t *m, ebi_counters_t *c) {
  const uint64_t lost = ebi_stack_push_mpmc(st, &m->link);
  ebi_counter_add_owner(&c->depot_exchanges, 1);
  if (lost)
    ebi_counter_add_owner(&c->depot_contention, lost);
}

static ebi_magazine_t *stack_pop(ck_stack_t *st, ebi_counters_t *c) {
  uint64_t lost = 0;
  ck_stack_entry_t *e = ebi_stack_pop_mpmc(st, &lost);
  if (lost)
    ebi_counter_add_owner(&c->depot_contention, lost);
  if (!e)
    return NULL;
  ebi_counter_add_owner(&c->depot_exchanges, 1);
  return (ebi_magazine_t *)((char *)e - offsetof(ebi_magazine_t, link));
}

void ebi_depot_push_full(ebi_depot_t *d, ebi_magazine_t *m, ebi_counters_t *c) {
  ebi_counter_add_owner(&c->depot_rounds, m->rounds); /* before the push gives m away */
  stack_push(&d->full, m, c);
  ebi_atomic_add_relaxed(&d->xnfull, 1);
}

void ebi_depot_push_empty(ebi_depot_t *d, ebi_magazine_t *m, ebi_counters_t *c) {
  stack_push(&d->empty, m, c);
  ebi_atomic_add_relaxed(&d->xnempty, 1);
}

ebi_magazine_t *ebi_depot_pop_full(ebi_depot_t *d, ebi_counters_t *c) {
  ebi_magazine_t *m = stack_pop(&d->full, c);
  if (m) {
    ebi_atomic_sub_relaxed(&d->xnfull, 1);
    ebi_counter_add_owner(&c->depot_rounds, m->rounds);
  }
  return m;
}

ebi_magazine_t *ebi_depot_pop_empty(ebi_depot_t *d, ebi_counters_t *c) {
  ebi_magazine_t *m = stack_pop(&d->empty, c);
  if (m)
    ebi_atomic_sub_relaxed(&d->xnempty, 1);
  return m;
}

void ebi_depot_park(ebi_depot_t *d, ebi_magazine_t *m, ebi_counters_t *c) {
  stack_push(&d->parked, m, c);
  ebi_atomic_add_relaxed(&d->xnparked, 1);
}

ebi_magazine_t *ebi_depot_unpark(ebi_depot_t *d, ebi_counters_t *c) {
  ebi_magazine_t *m = stack_pop(&d->parked, c);
  if (m)
    ebi_atomic_sub_relaxed(&d->xnparked, 1);
  return m;
}

uint64_t ebi_depot_trim(ebra_pool_t *pool, uint64_t keep) {
  ebi_counters_t c = {0}; /* trimming is not a thread cache's traffic */
  uint64_t n = 0;
  while (ebi_atomic_load_relaxed(&pool->depot.xnfull) > (int64_t)keep) {
    ebi_magazine_t *m = ebi_depot_pop_full(&pool->depot, &c);
    if (!m)
      break;
    ebi_slab_return(pool, m->objs, m->rounds);
    m->rounds = 0;
    ebi_magazine_give(pool, m, &c);
    n++;
  }
  ebi_atomic_add_relaxed(&pool->xtrimmed, n);
  return n;
}

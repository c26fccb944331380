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
 *       back to their size (ebra_magazine_get_empty) or the pool dies.
 *
 * Trimming (ebra_depot_trim) pops full magazines beyond the working set the
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

void ebra_depot_init(ebra_depot_t *d) {
  ck_stack_init(&d->full);
  ck_stack_init(&d->empty);
  ck_stack_init(&d->parked);
  ebra_atomic_store_relaxed(&d->xnfull, 0);
  ebra_atomic_store_relaxed(&d->xnempty, 0);
  ebra_atomic_store_relaxed(&d->xnparked, 0);
}

static void stack_push(ck_stack_t *st, ebra_magazine_t *m, ebra_counters_t *c) {
  const uint64_t lost = ebi_stack_push_mpmc(st, &m->link);
  ebra_counter_add_owner(&c->depot_exchanges, 1);
  if (lost)
    ebra_counter_add_owner(&c->depot_contention, lost);
}

static ebra_magazine_t *stack_pop(ck_stack_t *st, ebra_counters_t *c) {
  uint64_t lost = 0;
  ck_stack_entry_t *e = ebi_stack_pop_mpmc(st, &lost);
  if (lost)
    ebra_counter_add_owner(&c->depot_contention, lost);
  if (!e)
    return NULL;
  ebra_counter_add_owner(&c->depot_exchanges, 1);
  return (ebra_magazine_t *)((char *)e - offsetof(ebra_magazine_t, link));
}

void ebra_depot_push_full(ebra_depot_t *d, ebra_magazine_t *m, ebra_counters_t *c) {
  ebra_counter_add_owner(&c->depot_rounds, m->rounds); /* before the push gives m away */
  stack_push(&d->full, m, c);
  ebra_atomic_add_relaxed(&d->xnfull, 1);
}

void ebra_depot_push_empty(ebra_depot_t *d, ebra_magazine_t *m, ebra_counters_t *c) {
  stack_push(&d->empty, m, c);
  ebra_atomic_add_relaxed(&d->xnempty, 1);
}

ebra_magazine_t *ebra_depot_pop_full(ebra_depot_t *d, ebra_counters_t *c) {
  ebra_magazine_t *m = stack_pop(&d->full, c);
  if (m) {
    ebra_atomic_sub_relaxed(&d->xnfull, 1);
    ebra_counter_add_owner(&c->depot_rounds, m->rounds);
  }
  return m;
}

ebra_magazine_t *ebra_depot_pop_empty(ebra_depot_t *d, ebra_counters_t *c) {
  ebra_magazine_t *m = stack_pop(&d->empty, c);
  if (m)
    ebra_atomic_sub_relaxed(&d->xnempty, 1);
  return m;
}

void ebra_depot_park(ebra_depot_t *d, ebra_magazine_t *m, ebra_counters_t *c) {
  stack_push(&d->parked, m, c);
  ebra_atomic_add_relaxed(&d->xnparked, 1);
}

ebra_magazine_t *ebra_depot_unpark(ebra_depot_t *d, ebra_counters_t *c) {
  ebra_magazine_t *m = stack_pop(&d->parked, c);
  if (m)
    ebra_atomic_sub_relaxed(&d->xnparked, 1);
  return m;
}

uint64_t ebra_depot_trim(ebra_pool_t *pool, uint64_t keep) {
  ebra_counters_t c = {0}; /* trimming is not a thread cache's traffic */
  uint64_t n = 0;
  while (ebra_atomic_load_relaxed(&pool->depot.xnfull) > (int64_t)keep) {
    ebra_magazine_t *m = ebra_depot_pop_full(&pool->depot, &c);
    if (!m)
      break;
    ebra_slab_return(pool, m->objs, m->rounds);
    m->rounds = 0;
    ebra_magazine_give(pool, m, &c);
    n++;
  }
  ebra_atomic_add_relaxed(&pool->xtrimmed, n);
  return n;
}

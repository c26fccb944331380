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
 *   D4  `parked` holds empty magazines too small for the pool's current
 *       capacity (the capacity policy grew it, src/magazine.c MC4).  D3
 *       forbids freeing them, so they wait there until the capacity comes
 *       down to their size (ebi_magazine_get_empty) or the pool dies.
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
#include <stdlib.h>
#include <string.h>

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

/* The child's copy of memory is not one instant of the parent: fork copies
 * the address space mapping by mapping while the other threads run, so a
 * thread's later store can be in the child without an earlier one
 * (measured: an object cached in two magazines; one cached while its
 * first word was no longer the free marker).  No object may be handed out
 * twice in the child, so the rebuild keeps every cached object once and
 * only if it still carries its free marker: the slabs' free bits first,
 * then the surviving thread's magazines, then the rest.  A second copy is
 * dropped from its magazine (the object stays reachable through the
 * first); an object without its marker was being handed out by a dead
 * thread and is dropped (lost to the child, as that thread's objects are). */
typedef struct seen_s {
  const ebi_slab_t *slab;
  uint64_t *bits;
} seen_t;

typedef struct dedupe_s {
  const ebra_pool_t *pool;
  seen_t *seen;
  size_t nslabs;
  uint64_t dropped;
} dedupe_t;

/* Mark the slabs' free objects seen; false if memory is short. */
static bool dedupe_init(dedupe_t *d, const ebra_pool_t *pool) {
  d->pool = pool;
  for (const ebi_slab_t *s = pool->slabs; s; s = s->next)
    d->nslabs++;
  if (!(d->seen = calloc(d->nslabs ? d->nslabs : 1, sizeof *d->seen)))
    return false;
  size_t i = 0;
  for (const ebi_slab_t *s = pool->slabs; s; s = s->next, i++) {
    const size_t words = (s->count + 63) / 64;
    d->seen[i].slab = s;
    if (!(d->seen[i].bits = malloc(words * sizeof(uint64_t))))
      return false;
    memcpy(d->seen[i].bits, s->free_bits, words * sizeof(uint64_t));
  }
  return true;
}

static void dedupe_fini(dedupe_t *d) {
  for (size_t i = 0; d->seen && i < d->nslabs; i++)
    free(d->seen[i].bits);
  free(d->seen);
}

/* True the first time p is seen; a pointer that is no slot of the pool's
 * slabs counts as seen already. */
static bool seen_once(dedupe_t *d, const void *p) {
  const ebi_slab_t *s = ebi_segmap_lookup(p);
  for (size_t i = 0; s && i < d->nslabs; i++) {
    if (d->seen[i].slab != s)
      continue;
    const size_t k = ebi_slab_slot_index(s, p);
    const uint64_t bit = 1ull << (k % 64);
    const bool first = !(d->seen[i].bits[k / 64] & bit);
    d->seen[i].bits[k / 64] |= bit;
    return first;
  }
  return false;
}

/* Keep each cached object once, and only if it is free: a free object
 * holds its free marker in its first word, and one a dead thread was
 * handing out (its pop not in the copy, its alloc's clearing of the marker
 * or the user's first store in it) does not. */
static void magazine_dedupe(dedupe_t *d, ebi_magazine_t *m) {
  if (m->rounds > m->capacity) /* a torn count: keep what fits */
    m->rounds = m->capacity;
  for (uint32_t i = 0; i < m->rounds;) {
    void *p = m->objs[i];
    if (seen_once(d, p) && *(const uint64_t *)p == ebi_object_free_marker(d->pool, p)) {
      i++;
    } else {
      m->objs[i] = m->objs[--m->rounds];
      d->dropped++;
    }
  }
}

static int cmp_ptr(const void *a, const void *b) {
  const uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

/* Append the magazines on st to v[*n..]; single-threaded (fork child). */
static void stack_collect(ck_stack_t *st, uintptr_t *v, size_t *n, size_t cap) {
  for (ck_stack_entry_t *e = CK_STACK_FIRST(st); e && *n < cap; e = CK_STACK_NEXT(e))
    v[(*n)++] = (uintptr_t)((char *)e - offsetof(ebi_magazine_t, link));
}

void ebi_depot_reconcile_after_fork(ebra_pool_t *pool, ebi_tcache_t *self) {
  size_t total = 0;
  ebi_magazine_t *all = ebi_atomic_load_acquire(&pool->xall_mags); /* paired with magazine_new */
  for (ebi_magazine_t *m = all; m; m = m->all_next)
    total++;
  /* Empty and parked magazines hold nothing: they stay where they are.
   * Everything else is taken in hand: the full stack, and every magazine on
   * no stack that the surviving thread does not hold (a dead thread's). */
  uintptr_t *kept = malloc((total + 2) * sizeof *kept);
  dedupe_t d = {0};
  const bool dedupe = dedupe_init(&d, pool);
  if (!kept) {
    ebi_report_pool(pool, EBRA_ERR_NOMEM,
                    "pool '%s': fork: no memory to rebuild the depot; the objects cached by "
                    "threads that did not cross the fork are lost to the child",
                    pool->life.name);
    dedupe_fini(&d);
    return;
  }
  size_t n = 0;
  stack_collect(&pool->depot.empty, kept, &n, total);
  stack_collect(&pool->depot.parked, kept, &n, total);
  for (size_t k = 0; k < n; k++) /* D2, D4: they hold nothing, whatever the copy says */
    ((ebi_magazine_t *)kept[k])->rounds = 0;
  if (self) {
    kept[n++] = (uintptr_t)self->loaded;
    kept[n++] = (uintptr_t)self->previous;
  }
  qsort(kept, n, sizeof *kept, cmp_ptr);
  /* Every magazine of the full stack is on `all` and is given back below;
   * emptying the stack by its head also undoes a link the copy may hold
   * twice (no walk of it can loop). */
  ck_stack_init(&pool->depot.full);
  ebi_atomic_store_relaxed(&pool->depot.xnfull, 0);
  ebi_counters_t c = {0}; /* the rebuild is no thread cache's traffic */
  if (self && dedupe) {
    magazine_dedupe(&d, self->loaded);
    magazine_dedupe(&d, self->previous);
    ebi_tcache_sync_in(self);
  }
  for (ebi_magazine_t *m = all; m; m = m->all_next) {
    const uintptr_t key = (uintptr_t)m;
    if (bsearch(&key, kept, n, sizeof key, cmp_ptr))
      continue;
    if (dedupe)
      magazine_dedupe(&d, m);
    ebi_magazine_give(pool, m, &c);
  }
  free(kept);
  dedupe_fini(&d);
  if (d.dropped)
    ebi_report_pool(pool, EBRA_ERR_INTERNAL,
                    "pool '%s': fork: the child's copy cached %llu objects twice, or while "
                    "a thread that did not cross the fork was handing them out; they were "
                    "dropped from the caches", pool->life.name, (unsigned long long)d.dropped);
}

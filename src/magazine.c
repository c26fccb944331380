/* SPDX-License-Identifier: MIT */
/* src/magazine.c — magazines: fixed-capacity stacks of free objects that
 * move whole between thread caches and the depot.  A magazine has one owner
 * at a time, so its fields need no atomics; ownership moves through the
 * depot's release/acquire (src/depot.c, lockfree/stack.h). */
#include <stdlib.h>

#include "internal.h"

/* A new empty magazine with the pool's current capacity, linked into the
 * pool's list of all magazines (push-only CAS; read only by destroy and
 * audit, which run with the pool quiescent). */
ebi_magazine_t *ebi_magazine_new(ebra_pool_t *pool) {
  const uint32_t cap = ebi_atomic_load_relaxed(&pool->xmag_capacity);
  ebi_magazine_t *m = malloc(sizeof *m + (size_t)cap * sizeof(void *));
  if (!m)
    return NULL;
  m->link.next = NULL;
  m->rounds = 0;
  m->capacity = cap;
  ebi_magazine_t *head = ebi_atomic_load_relaxed(&pool->xall_mags);
  do {
    m->all_next = head;
    /* Release publishes all_next; paired with the acquire in the walkers. */
  } while (!ebi_atomic_cas_acq_rel(&pool->xall_mags, &head, m));
  return m;
}

/* An empty magazine of the pool's current capacity: from the depot's
 * empty stack (parking the resized-away ones met on the way, D4), else a
 * parked one of the right size, else a new one.  NULL only if the OS
 * refuses memory.  The search is bounded: a few pops, then malloc. */
ebi_magazine_t *ebi_magazine_get_empty(ebra_pool_t *pool, ebi_counters_t *c) {
  const uint32_t cap = ebi_atomic_load_relaxed(&pool->xmag_capacity);
  for (int i = 0; i < 4; i++) {
    ebi_magazine_t *m = ebi_depot_pop_empty(&pool->depot, c);
    if (!m)
      break;
    if (m->capacity == cap)
      return m;
    ebi_depot_park(&pool->depot, m, c);
  }
  if (ebi_atomic_load_relaxed(&pool->depot.xnparked) > 0) {
    ebi_magazine_t *m = ebi_depot_unpark(&pool->depot, c);
    if (m && m->capacity == cap)
      return m;
    if (m)
      ebi_depot_park(&pool->depot, m, c);
  }
  return ebi_magazine_new(pool);
}

/* Hand a magazine to the depot, on the stack its contents call for (D2),
 * or parked if it is empty and of a capacity the pool no longer uses. */
void ebi_magazine_give(ebra_pool_t *pool, ebi_magazine_t *m, ebi_counters_t *c) {
  if (EBI_DEBUG && !ebi_magazine_is_valid(pool, m))
    ebi_report_pool(pool, EBRA_ERR_INTERNAL, "pool '%s': corrupt magazine %p given to the depot",
                     pool->life.name, (void *)m);
  if (m->rounds > 0)
    ebi_depot_push_full(&pool->depot, m, c);
  else if (m->capacity == ebi_atomic_load_relaxed(&pool->xmag_capacity))
    ebi_depot_push_empty(&pool->depot, m, c);
  else
    ebi_depot_park(&pool->depot, m, c);
}

void ebi_magazine_free_all(ebra_pool_t *pool) {
  ebi_magazine_t *m = ebi_atomic_load_acquire(&pool->xall_mags); /* paired with magazine_new */
  while (m) {
    ebi_magazine_t *next = m->all_next;
    free(m);
    m = next;
  }
  ebi_atomic_store_relaxed(&pool->xall_mags, NULL);
}

/* Checker: rounds within capacity and every round a carved slot of pool. */
bool ebi_magazine_is_valid(const ebra_pool_t *pool, const ebi_magazine_t *m) {
  if (m->rounds > m->capacity)
    return false;
  for (uint32_t i = 0; i < m->rounds; i++) {
    const ebi_slab_t *s = ebi_segmap_lookup(m->objs[i]);
    if (!s || s->pool != pool || !ebi_slab_slot_valid(s, m->objs[i]))
      return false;
  }
  return true;
}

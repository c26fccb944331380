/* SPDX-License-Identifier: MIT */
/* src/life.c — one lifecycle for every object kind users create and
 * destroy: pools, domains, weak tables, weak caches, subjects.
 *
 * Each such object embeds an ebi_life_t as its first member.  Birth gives it
 * a registry id (the lowest free one of its kind, so ids stay small and
 * index the threads' slot tables) and a serial that no other object of any
 * kind ever had.  Death retires the id, sets the serial to EBI_SERIAL_DEAD
 * (no thread slot matches it, so per-thread state of the object goes stale
 * without touching the threads) and keeps the memory as a tombstone: a call
 * on a destroyed object, and a second destroy, read the tombstone, are
 * refused with -EBADF and reported, and never touch freed memory.
 *
 * Invariants (all under the registry lock, src/thread.c)
 *   L1  registries[k].items[id] == l  <=>  l is alive, of kind k, with id.
 *   L2  l->state == EBI_ALIVE  <=>  l is in its registry; EBI_DEAD once its
 *       destroy began; never back.  Objects are never freed after birth
 *       succeeded: a dead one is on tombstones[kind] for the process's life.
 *   L3  serials are unique over all kinds and never reused; a dead object's
 *       serial is EBI_SERIAL_DEAD, which no thread slot holds.
 * Readers outside the lock (the entry checks of public calls) read `state`
 * relaxed and `serial` plain: a call racing with the destroy of its own
 * object is the caller's bug; L2 keeps even that one memory-safe. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct idtable_s {
  ebi_life_t **items;
  uint32_t cap;
} idtable_t;

static idtable_t registries[EBI_KINDS];     /* registry lock */
static ebi_life_t *tombstones[EBI_KINDS];   /* registry lock */
static _Atomic uint64_t next_serial;

static const char *const kind_names[EBI_KINDS] = {
    [EBI_KIND_POOL] = "pool",         [EBI_KIND_DOMAIN] = "domain",
    [EBI_KIND_WEAK_TABLE] = "weak table", [EBI_KIND_CACHE] = "cache",
    [EBI_KIND_SUBJECT] = "subject",
};

/* The lowest free id of t, growing it when full; 0 or ENOMEM. */
static int idtable_put(idtable_t *t, ebi_life_t *l) {
  uint32_t i = 0;
  while (i < t->cap && t->items[i])
    i++;
  if (i == t->cap) {
    const uint32_t cap = t->cap ? t->cap * 2 : 16;
    ebi_life_t **r = realloc(t->items, cap * sizeof *r);
    if (!r)
      return ENOMEM;
    memset(r + t->cap, 0, (cap - t->cap) * sizeof *r);
    t->items = r;
    t->cap = cap;
  }
  t->items[i] = l;
  l->id = i;
  return 0;
}

int ebi_life_begin_locked(ebi_life_t *l, ebi_kind_t kind, const char *name) {
  l->kind = kind;
  snprintf(l->name, sizeof l->name, "%s", name ? name : kind_names[kind]);
  if (idtable_put(&registries[kind], l) != 0)
    return ENOMEM;
  /* Relaxed: only uniqueness matters, and the RMW gives it (L3: >= 1). */
  l->serial = ebi_atomic_add_relaxed(&next_serial, 1) + 1;
  ebi_atomic_store_relaxed(&l->state, EBI_ALIVE);
  return 0;
}

void ebi_life_end_locked(ebi_life_t *l) {
  idtable_t *t = &registries[l->kind];
  if (l->id < t->cap && t->items[l->id] == l)
    t->items[l->id] = NULL; /* L1 */
  l->serial = EBI_SERIAL_DEAD; /* L3: every thread's slot for it is stale */
  ebi_atomic_store_relaxed(&l->state, EBI_DEAD); /* L2 */
  l->tomb_next = tombstones[l->kind];
  tombstones[l->kind] = l;
}

void ebi_life_abort_locked(ebi_life_t *l) {
  idtable_t *t = &registries[l->kind];
  if (ebi_life_is_alive(l) && l->id < t->cap && t->items[l->id] == l)
    t->items[l->id] = NULL;
  ebi_atomic_store_relaxed(&l->state, 0);
}

ebi_life_t *ebi_life_at_locked(ebi_kind_t kind, uint32_t id) {
  const idtable_t *t = &registries[kind];
  return id < t->cap ? t->items[id] : NULL;
}

uint32_t ebi_life_capacity_locked(ebi_kind_t kind) { return registries[kind].cap; }

int ebi_life_check_slow(const ebi_life_t *l, ebi_kind_t kind, const char *call) {
  if (!l) {
    ebi_report(EBRA_ERR_BAD_CALL, "%s: NULL %s", call, kind_names[kind]);
    return -EINVAL;
  }
  if (l->kind != kind || (ebi_life_state(l) != EBI_ALIVE && ebi_life_state(l) != EBI_DEAD)) {
    ebi_report(EBRA_ERR_BAD_CALL, "%s: %p is not a %s", call, (const void *)l, kind_names[kind]);
    return -EINVAL;
  }
  ebi_report(EBRA_ERR_USE_AFTER_DESTROY, "%s on destroyed %s '%s'", call, kind_names[kind],
             l->name);
  return -EBADF;
}

void *ebi_life_alloc(size_t size) {
  const size_t rounded = (size + 63) & ~(size_t)63;
  void *p = aligned_alloc(64, rounded);
  if (p)
    memset(p, 0, rounded);
  else
    errno = ENOMEM;
  return p;
}

int ebi_life_begin(ebi_life_t *l, ebi_kind_t kind, const char *name) {
  ebi_registry_lock();
  const int err = ebi_life_begin_locked(l, kind, name);
  ebi_registry_unlock();
  return err;
}

int ebi_life_end(ebi_life_t *l, ebi_kind_t kind, const char *call) {
  ebi_registry_lock();
  if (!ebi_life_is_alive(l)) { /* a racing destroy won */
    ebi_registry_unlock();
    return ebi_life_check_slow(l, kind, call);
  }
  ebi_life_end_locked(l);
  ebi_registry_unlock();
  return 0;
}

void ebi_life_each_locked(ebi_kind_t kind, void (*fn)(ebi_life_t *l)) {
  const idtable_t *t = &registries[kind];
  for (uint32_t id = 0; id < t->cap; id++)
    if (t->items[id])
      fn(t->items[id]);
}

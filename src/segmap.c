/* SPDX-License-Identifier: MIT */
/* src/segmap.c — the segment map: from any address to the slab that
 * covers it, or NULL.  This is what makes free()'s pointer checks cheap and
 * safe for foreign pointers: the map is consulted, never the pointed-to
 * memory.
 *
 * Design: a two-level radix table over 1 MiB granules of a 47-bit user
 * address space (2^13 top entries x 2^14 leaf entries).  Leaves are mapped
 * lazily (zero pages cost nothing until written) and never freed.
 *
 * Ordering: a slab's header is fully written before its entries are
 * published with a store release; ebi_segmap_lookup's load acquire pairs
 * with it, so a reader that finds the slab sees its constant fields.  Leaf
 * pointers are installed by CAS (acq_rel) and read with load acquire.
 *
 * Progress: lookup is wait-free (two loads).  Insert is lock-free (one CAS
 * per new leaf; a loser unmaps its leaf).  Remove stores NULL; it runs when
 * the pool is destroyed, which the API forbids concurrently with frees to
 * that pool, so no reader can be using the entry.
 */
#include <errno.h>
#include <stdint.h>

#include "internal.h"

_Atomic(ebi_segmap_leaf_t *) ebi_segmap_top[EBI_SEGMAP_TOP_LEN];

static ebi_segmap_leaf_t *leaf_get_or_create(size_t hi) {
  /* Paired with the CAS below (acq_rel) by whoever installed the leaf. */
  ebi_segmap_leaf_t *leaf = ebi_atomic_load_acquire(&ebi_segmap_top[hi]);
  if (leaf)
    return leaf;
  void *fresh;
  if (ebi_os_map_aligned(sizeof(ebi_segmap_leaf_t), 4096, &fresh) != 0)
    return NULL;
  ebi_segmap_leaf_t *expected = NULL;
  if (ebi_atomic_cas_acq_rel(&ebi_segmap_top[hi], &expected, (ebi_segmap_leaf_t *)fresh))
    return fresh;
  ebi_os_unmap(fresh, sizeof(ebi_segmap_leaf_t)); /* lost the race */
  return expected;
}

/* The map entry for granule g; creates its leaf when `create`. */
static _Atomic(ebi_slab_t *) *segmap_entry(uintptr_t g, bool create) {
  const uintptr_t hi = g >> EBI_SEGMAP_LEAF_BITS;
  if (hi >= EBI_SEGMAP_TOP_LEN)
    return NULL; /* outside the 47-bit space: never on x86-64 Linux */
  ebi_segmap_leaf_t *leaf =
      /* The acquire pairs with the CAS in leaf_get_or_create. */
      create ? leaf_get_or_create(hi) : ebi_atomic_load_acquire(&ebi_segmap_top[hi]);
  return leaf ? &leaf->xslab[g & (EBI_SEGMAP_LEAF_LEN - 1)] : NULL;
}

/* Publish the slab in the entries of all its granules.  The header must be
 * complete: the store release pairs with the load acquire in lookup. */
int ebi_segmap_insert(ebi_slab_t *slab) {
  const uintptr_t base = (uintptr_t)slab >> EBI_GRANULE_SHIFT;
  const size_t n = slab->map_size >> EBI_GRANULE_SHIFT;
  for (size_t i = 0; i < n; i++) {
    _Atomic(ebi_slab_t *) *e = segmap_entry(base + i, true);
    if (!e) {
      ebi_segmap_remove(slab); /* undo what was published */
      return ENOMEM;
    }
    ebi_atomic_store_release(e, slab);
  }
  return 0;
}

void ebi_segmap_remove(ebi_slab_t *slab) {
  const uintptr_t base = (uintptr_t)slab >> EBI_GRANULE_SHIFT;
  const size_t n = slab->map_size >> EBI_GRANULE_SHIFT;
  for (size_t i = 0; i < n; i++) {
    _Atomic(ebi_slab_t *) *e = segmap_entry(base + i, false);
    if (e && ebi_atomic_load_relaxed(e) == slab)
      ebi_atomic_store_release(e, NULL);
  }
}

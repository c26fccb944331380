/* SPDX-License-Identifier: MIT */
/* src/segmap.c — the segment map: from any address to the slab that
 * covers it, or NULL.  This is what makes free()'s pointer checks cheap and
 * safe for foreign pointers: the map is consulted, never the pointed-to
 * memory.
 *
 * Design: one flat table with an entry per 1 MiB granule of the 47-bit
 * user address space (2^27 entries of 8 bytes).  Its 1 GiB is reserved
 * once, when the first slab is published, with MAP_NORESERVE: untouched
 * pages cost nothing, and one page of entries covers 512 MiB of address
 * space, so a process whose slabs lie in a few GiB touches a few pages.
 * A lookup is a shift, a mask and one load (no level to test for NULL).
 *
 * Invariants:
 *   G1  ebi_segmap.xtable points at a table of xmask + 1 entries: the
 *       one-entry boot table (always NULL) with mask 0, then the real
 *       table with mask EBI_SEGMAP_LEN - 1.  The table is installed before
 *       the mask (both release); a reader loads the mask first (acquire),
 *       so a mask that covers the real table comes with its pointer.  A
 *       reader that sees the old mask reads entry 0 of either table, which
 *       is NULL: granule 0 (the first MiB of the address space) is never
 *       mapped.
 *   G2  The table is never unmapped: a lookup may use it at any time.
 *   G3  A slab's header is fully written before its entries are published
 *       with a store release; ebi_segmap_lookup's load acquire pairs with
 *       it, so a reader that finds the slab sees its constant fields.
 *
 * Progress: lookup is wait-free (three loads).  Insert is lock-free (one
 * CAS the first time, whose loser unmaps its reservation).  Remove stores
 * NULL; it runs when the slab goes (pool destroy, which the API forbids
 * concurrently with frees to that pool, or a large block's free), so no
 * reader can be using the entry.
 */
#include <errno.h>
#include <stdint.h>

#include "internal.h"

static _Atomic(ebi_slab_t *) segmap_boot[1]; /* G1: stays NULL */

ebi_segmap_t ebi_segmap = {.xmask = 0, .xtable = segmap_boot};

/* The table, reserved on first use; NULL if the OS refuses the address
 * space (then no slab can be published: the caller fails with ENOMEM). */
static _Atomic(ebi_slab_t *) *table_get_or_create(void) {
  /* Paired with the CAS below (acq_rel) by whoever installed the table. */
  _Atomic(ebi_slab_t *) *t = ebi_atomic_load_acquire(&ebi_segmap.xtable);
  if (t != segmap_boot)
    return t;
  void *fresh;
  if (ebi_os_reserve(EBI_SEGMAP_LEN * sizeof *t, &fresh) != 0)
    return NULL;
  _Atomic(ebi_slab_t *) *expected = segmap_boot;
  if (ebi_atomic_cas_acq_rel(&ebi_segmap.xtable, &expected, (_Atomic(ebi_slab_t *) *)fresh))
    return fresh;
  ebi_os_unmap(fresh, EBI_SEGMAP_LEN * sizeof *t); /* lost the race */
  return expected;
}

/* Publish the slab in the entries of all its granules, counted from its
 * mapping's base (the header itself sits further in, slab.c S6).  The
 * header must be complete: the store release pairs with the load acquire
 * in lookup (G3). */
int ebi_segmap_insert(ebi_slab_t *slab) {
  _Atomic(ebi_slab_t *) *t = table_get_or_create();
  if (!t)
    return ENOMEM;
  /* G1: the mask after the table, by every inserter that still sees it 0
   * (the same value), so no slab is published before lookups can see it.
   * Stored once, not per insert: every free reads this line, and large
   * malloc blocks insert often.  The acquire pairs with the store release
   * here by whichever inserter stored it first. */
  if (ebi_atomic_load_acquire(&ebi_segmap.xmask) == 0)
    ebi_atomic_store_release(&ebi_segmap.xmask, (uintptr_t)(EBI_SEGMAP_LEN - 1));
  const uintptr_t base = (uintptr_t)slab->base >> EBI_GRANULE_SHIFT;
  if (base == 0)
    return ENOMEM; /* G1: granule 0 stays empty (no mmap lands there) */
  const size_t n = slab->map_size >> EBI_GRANULE_SHIFT;
  for (size_t i = 0; i < n; i++)
    ebi_atomic_store_release(&t[(base + i) & (EBI_SEGMAP_LEN - 1)], slab);
  return 0;
}

void ebi_segmap_remove(ebi_slab_t *slab) {
  /* Paired with the CAS (acq_rel) in table_get_or_create; a slab that was
   * published was published after it. */
  _Atomic(ebi_slab_t *) *t = ebi_atomic_load_acquire(&ebi_segmap.xtable);
  if (t == segmap_boot)
    return; /* nothing was ever published */
  const uintptr_t base = (uintptr_t)slab->base >> EBI_GRANULE_SHIFT;
  const size_t n = slab->map_size >> EBI_GRANULE_SHIFT;
  for (size_t i = 0; i < n; i++) {
    _Atomic(ebi_slab_t *) *e = &t[(base + i) & (EBI_SEGMAP_LEN - 1)];
    if (ebi_atomic_load_relaxed(e) == slab)
      ebi_atomic_store_release(e, NULL);
  }
}

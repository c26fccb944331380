/* SPDX-License-Identifier: MIT */
/* reclaim/tsan.h — the ThreadSanitizer happens-before annotations of the
 * reclamation layer, all of them.  Empty unless built with EBRA_TSAN.
 *
 * Why (measured: docs/DESIGN.md, "Dependency facts", "TSan and the
 * dependencies"): liburcu 0.13 and ck 0.7.1 run
 * their grace periods in inline assembly and uninstrumented shared
 * objects, so TSan sees no happens-before from a reader's accesses to the
 * reclaimer's reuse of the object after a grace period.
 *
 * What, precisely and per object (one global sync object was measured to
 * hide real bugs, so there is none):
 *   - a reader notes every object it obtains in a section (ebra_weak_get,
 *     ebra_deref) in a per-thread list;
 *   - at the outermost unlock (or a qsbr quiescent state) it releases each
 *     noted object: __tsan_release(obj), after its last access;
 *   - the reclaimer, right after the grace period and before the object is
 *     reused, acquires it: __tsan_acquire(obj).
 * Pointer publication needs nothing here: every pointer ebra publishes is a
 * C11 atomic, which TSan understands.  Reading an object after the section
 * ended, or reusing it without a grace period, stays a reported race
 * (stress/stress_weak.c built with STRESS_BROKEN=1 or 2 proves it per backend).
 */
#ifndef EBI_RECLAIM_TSAN_H
#define EBI_RECLAIM_TSAN_H

#include <stdlib.h>

#include "reclaim_internal.h"

#if defined(EBRA_TSAN)
#include <sanitizer/tsan_interface.h>

static inline void ebi_tsan_note(ebi_dthread_t *dt, void *obj) {
  ebi_tsan_notes_t *n = &dt->notes;
  if (!obj || (n->n && n->objs[n->n - 1] == obj))
    return;
  if (n->n == n->cap) {
    const uint32_t cap = n->cap ? n->cap * 2 : 64;
    void **o = realloc(n->objs, cap * sizeof *o);
    if (!o)
      EBI_DIE("no memory for TSan read-side notes");
    n->objs = o;
    n->cap = cap;
  }
  n->objs[n->n++] = obj;
}

static inline void ebi_tsan_release_notes(ebi_dthread_t *dt) {
  for (uint32_t i = 0; i < dt->notes.n; i++)
    __tsan_release(dt->notes.objs[i]);
  dt->notes.n = 0;
}

static inline void ebi_tsan_free_notes(ebi_dthread_t *dt) {
  free(dt->notes.objs);
  dt->notes.objs = NULL;
  dt->notes.n = dt->notes.cap = 0;
}

#define ebi_tsan_after_grace_period(obj) __tsan_acquire(obj)

/* Publication through a liburcu structure (cds_lfht, rculist), whose
 * stores and loads are volatile accesses TSan does not take for atomics:
 * the publisher releases the node after its last write to it, before the
 * publishing call; a reader acquires the node it reached before reading
 * its fields.  Reads of rculist links are ignored (a plain volatile load
 * racing with the writer's volatile store, ordered by liburcu's barriers);
 * the fields behind them stay checked. */
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define ebi_tsan_publish(node) __tsan_release(node)
#define ebi_tsan_consume(node) __tsan_acquire(node)
#define EBI_TSAN_LINK_READ_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define EBI_TSAN_LINK_READ_END() AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
static inline void ebi_tsan_note(ebi_dthread_t *dt, void *obj) { (void)dt, (void)obj; }
static inline void ebi_tsan_release_notes(ebi_dthread_t *dt) { (void)dt; }
static inline void ebi_tsan_free_notes(ebi_dthread_t *dt) { (void)dt; }
#define ebi_tsan_after_grace_period(obj) ((void)(obj))
#define ebi_tsan_publish(node) ((void)(node))
#define ebi_tsan_consume(node) ((void)(node))
#define EBI_TSAN_LINK_READ_BEGIN() ((void)0)
#define EBI_TSAN_LINK_READ_END() ((void)0)
#endif

#endif /* EBI_RECLAIM_TSAN_H */

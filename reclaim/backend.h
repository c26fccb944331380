/* SPDX-License-Identifier: MIT */
/* reclaim/backend.h — the backend's share of a read section, inline so the
 * outermost lock costs one switch over the dependency's own inline code
 * (liburcu's with EBRA_URCU_INLINE, the default, which defines
 * _LGPL_SOURCE; ck_epoch's always).  Nesting is ebra's (domain.c and
 * ebra/reclaim.h); only the outermost lock and unlock come here.
 * Everything else a backend does is in backend.c.
 *
 * Backends, all from Debian packages, none written here:
 *   memb  liburcu urcu_memb_*: read lock = a nesting counter store; the
 *         writer's sys_membarrier makes it visible.
 *   qsbr  liburcu urcu_qsbr_*: read lock = nothing; the thread reports
 *         quiescent states (ebra_quiescent) or goes offline.
 *   ck    ck_epoch_begin/end on the thread's record in the domain's epoch.
 */
#ifndef EBI_RECLAIM_BACKEND_H
#define EBI_RECLAIM_BACKEND_H

#include <urcu/urcu-memb.h>
#include <urcu/urcu-qsbr.h>
#include <ck_epoch.h>

#include "reclaim_internal.h"

/* The backend's share of an outermost lock and unlock, one pair per
 * backend: called only when the thread's slot has `outer` set (every memb
 * and ck section; qsbr only while the thread rests offline, and under
 * TSan), after the nesting count went 0 -> 1, and after it went 1 -> 0.
 * For an online qsbr thread liburcu's read lock is empty, and the inline
 * path does not call at all.  A domain keeps the pair of its backend
 * (ebra__domain_rd_t, set by ebi_domain_locate_rd), so the inline read
 * side calls it without a switch. */
static inline void ebi_memb_lock_outer(void) { urcu_memb_read_lock(); }
static inline void ebi_memb_unlock_outer(void) { urcu_memb_read_unlock(); }

static inline void ebi_qsbr_lock_outer(ebra_domain_t *d) {
  if (EBI_UNLIKELY(ebi_tls_rcu.qsbr_resting_offline))
    ebi_backend_qsbr_enter_resting(d); /* a section needs the thread online */
  urcu_qsbr_read_lock();
}
static inline void ebi_qsbr_unlock_outer(void) {
  urcu_qsbr_read_unlock();
  if (EBI_UNLIKELY(ebi_tls_rcu.qsbr_resting_offline))
    ebi_backend_qsbr_leave_resting();
}

static inline void ebi_ck_lock_outer(ebi_dthread_t *dt) { ck_epoch_begin(dt->ck_record, NULL); }
static inline void ebi_ck_unlock_outer(ebi_dthread_t *dt) { ck_epoch_end(dt->ck_record, NULL); }

/* The same chosen by d's backend: the library's own lock and unlock
 * (ebi_rd_lock_outer, domain.c, which compiles it into ebra_read_lock), and
 * a thread that leaves inside a section.  memb, the default (d->backend is
 * never EBRA_RECLAIM_DEFAULT), is tested first: one compare. */
static inline void ebi_backend_lock_outer(ebra_domain_t *d, ebi_dthread_t *dt) {
  if (EBI_LIKELY(d->backend == EBRA_RECLAIM_URCU_MEMB))
    ebi_memb_lock_outer();
  else if (d->backend == EBRA_RECLAIM_URCU_QSBR)
    ebi_qsbr_lock_outer(d);
  else
    ebi_ck_lock_outer(dt);
}
static inline void ebi_backend_unlock_outer(const ebra_domain_t *d, ebi_dthread_t *dt) {
  if (EBI_LIKELY(d->backend == EBRA_RECLAIM_URCU_MEMB))
    ebi_memb_unlock_outer();
  else if (d->backend == EBRA_RECLAIM_URCU_QSBR)
    ebi_qsbr_unlock_outer();
  else
    ebi_ck_unlock_outer(dt);
}

#endif /* EBI_RECLAIM_BACKEND_H */

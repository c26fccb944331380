/* SPDX-License-Identifier: MIT */
/* reclaim/backend.h — the read-side fast path of each backend, inline so
 * ebra_read_lock costs one switch over the dependency's own inline code
 * (liburcu's with EBRA_URCU_INLINE, which defines _LGPL_SOURCE; ck_epoch's
 * always).  Everything else a backend does is in backend.c.
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

static inline void ebi_backend_lock_inline(const ebra_domain_t *d, ebi_dthread_t *dt) {
  switch (d->backend) {
  case EBRA_RECLAIM_URCU_QSBR: {
    ebi_rcu_thread_t *t = &ebi_tls_rcu;
    if (t->qsbr_nest++ == 0 && EBI_UNLIKELY(t->qsbr_resting_offline))
      urcu_qsbr_thread_online(); /* a section needs the thread online */
    urcu_qsbr_read_lock();
    break;
  }
  case EBRA_RECLAIM_CK_EPOCH:
    ck_epoch_begin(dt->ck_record, NULL);
    break;
  default:
    urcu_memb_read_lock();
    break;
  }
}

static inline void ebi_backend_unlock_inline(const ebra_domain_t *d, ebi_dthread_t *dt) {
  switch (d->backend) {
  case EBRA_RECLAIM_URCU_QSBR: {
    ebi_rcu_thread_t *t = &ebi_tls_rcu;
    urcu_qsbr_read_unlock();
    if (--t->qsbr_nest == 0 && EBI_UNLIKELY(t->qsbr_resting_offline))
      urcu_qsbr_thread_offline();
    break;
  }
  case EBRA_RECLAIM_CK_EPOCH:
    ck_epoch_end(dt->ck_record, NULL);
    break;
  default:
    urcu_memb_read_unlock();
    break;
  }
}

#endif /* EBI_RECLAIM_BACKEND_H */

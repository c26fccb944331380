/* SPDX-License-Identifier: MIT */
/* reclaim/backend.c — registration, grace periods and quiescent states of
 * each backend.  The read-side fast path is in backend.h.
 *
 * liburcu's flavours are process-wide: every memb domain shares liburcu's
 * memb grace periods (and qsbr likewise), so a thread registers with a
 * flavour once, however many domains of it it uses; t->urcu_*_users counts
 * them.  Registration and unregistration must run on the thread itself.
 * ck_epoch is per domain: one ck_epoch_t per domain, one record per thread
 * and domain; records are recycled, never freed, as ck requires.
 *
 * Grace periods are driven by the domain's reclaimer thread, which is not
 * registered with any backend: urcu_*_synchronize_rcu and
 * ck_epoch_synchronize_wait both work from an unregistered thread.  We never
 * use call_rcu, whose worker sleeps ~10 ms between batches.
 */
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>

#include "backend.h"

int ebi_backend_init_domain(ebra_domain_t *d) {
  if (d->backend != EBRA_RECLAIM_CK_EPOCH)
    return 0;
  d->ck_epoch = calloc(1, sizeof *d->ck_epoch);
  if (!d->ck_epoch)
    return ENOMEM;
  ck_epoch_init(d->ck_epoch);
  return 0;
}

/* The domain is destroyed with no registered thread left.  ck keeps its
 * records in the epoch's list; free them with it. */
void ebi_backend_fini_domain(ebra_domain_t *d) {
  if (!d->ck_epoch)
    return;
  ck_stack_entry_t *e = CK_STACK_FIRST(&d->ck_epoch->records);
  while (e) {
    ck_stack_entry_t *next = CK_STACK_NEXT(e);
    free((char *)e - offsetof(ck_epoch_record_t, record_next)); /* records we calloc'd */
    e = next;
  }
  free(d->ck_epoch);
  d->ck_epoch = NULL;
}

__thread ebi_rcu_thread_t ebi_tls_rcu __attribute__((tls_model("initial-exec")));

/* Called by the thread itself. */
int ebi_backend_register(ebra_domain_t *d, ebi_dthread_t *dt) {
  ebi_rcu_thread_t *t = &ebi_tls_rcu;
  switch (d->backend) {
  case EBRA_RECLAIM_URCU_QSBR:
    if (t->qsbr_users++ == 0) {
      urcu_qsbr_register_thread(); /* liburcu: online from here */
      t->qsbr_resting_offline = false;
      t->qsbr_nest = 0;
    }
    dt->urcu_node = ebi_urcu_own_node(d->backend);
    return 0;
  case EBRA_RECLAIM_CK_EPOCH: {
    ck_epoch_record_t *r = ck_epoch_recycle(d->ck_epoch, NULL);
    if (!r) {
      r = calloc(1, sizeof *r);
      if (!r)
        return ENOMEM;
      ck_epoch_register(d->ck_epoch, r, NULL);
    }
    dt->ck_record = r;
    return 0;
  }
  default:
    if (t->memb_users++ == 0)
      urcu_memb_register_thread();
    dt->urcu_node = ebi_urcu_own_node(d->backend);
    return 0;
  }
}

/* Called by the thread itself, outside any section; or, in a fork child,
 * for a thread that no longer exists (t != the caller's): then liburcu
 * cannot be told (its registration is the dead thread's TLS), so its
 * record is unlinked from liburcu's registry by hand (fork.c, F3),
 * and the ck record is given back. */
void ebi_backend_unregister(ebra_domain_t *d, ebi_dthread_t *dt, ebi_thread_t *thread) {
  const bool self = (thread == ebi_tls_thread);
  ebi_rcu_thread_t *t = &ebi_tls_rcu;
  switch (d->backend) {
  case EBRA_RECLAIM_URCU_QSBR:
    if (!self)
      ebi_urcu_forget_dead(dt->urcu_node);
    if (self && --t->qsbr_users == 0) {
      if (t->qsbr_resting_offline)
        urcu_qsbr_thread_online(); /* unregister expects an online thread */
      urcu_qsbr_unregister_thread();
      t->qsbr_resting_offline = false;
    }
    break;
  case EBRA_RECLAIM_CK_EPOCH:
    if (dt->ck_record)
      ck_epoch_unregister(dt->ck_record);
    dt->ck_record = NULL;
    break;
  default:
    if (!self)
      ebi_urcu_forget_dead(dt->urcu_node);
    if (self && --t->memb_users == 0)
      urcu_memb_unregister_thread();
    break;
  }
}

void ebi_backend_read_lock(ebra_domain_t *d, ebi_dthread_t *dt) {
  ebi_backend_lock_inline(d, dt);
}

void ebi_backend_read_unlock(ebra_domain_t *d, ebi_dthread_t *dt) {
  ebi_backend_unlock_inline(d, dt);
}

static void ck_wait_yield(ck_epoch_t *e, ck_epoch_record_t *r, void *arg) {
  (void)e, (void)r, (void)arg;
  sched_yield(); /* readers may need this CPU to leave their sections */
}

/* Wait for a grace period.  Reclaimer thread (unregistered). */
void ebi_backend_synchronize(ebra_domain_t *d) {
  switch (d->backend) {
  case EBRA_RECLAIM_URCU_QSBR:
    ebi_urcu_gate_enter(); /* fork.c F2: released below */
    urcu_qsbr_synchronize_rcu();
    ebi_urcu_gate_leave();
    break;
  case EBRA_RECLAIM_CK_EPOCH:
    ck_epoch_synchronize_wait(d->ck_epoch, ck_wait_yield, NULL);
    break;
  default:
    ebi_urcu_gate_enter(); /* fork.c F2: released below */
    urcu_memb_synchronize_rcu();
    ebi_urcu_gate_leave();
    break;
  }
}

/* qsbr online/offline is the thread's (liburcu's) state, not the
 * domain's: these act on ebi_tls_rcu.  No-ops for memb and ck. */
void ebi_backend_quiescent(ebra_domain_t *d, ebi_dthread_t *dt) {
  (void)dt;
  ebi_rcu_thread_t *t = &ebi_tls_rcu;
  if (d->backend == EBRA_RECLAIM_URCU_QSBR && !t->qsbr_resting_offline && t->qsbr_nest == 0)
    urcu_qsbr_quiescent_state();
}

void ebi_backend_offline(ebra_domain_t *d, ebi_dthread_t *dt) {
  (void)dt;
  ebi_rcu_thread_t *t = &ebi_tls_rcu;
  if (d->backend == EBRA_RECLAIM_URCU_QSBR && !t->qsbr_resting_offline) {
    if (t->qsbr_nest == 0)
      urcu_qsbr_thread_offline();
    t->qsbr_resting_offline = true; /* a section open now ends offline */
  }
}

void ebi_backend_online(ebra_domain_t *d, ebi_dthread_t *dt) {
  (void)dt;
  ebi_rcu_thread_t *t = &ebi_tls_rcu;
  if (d->backend == EBRA_RECLAIM_URCU_QSBR && t->qsbr_resting_offline) {
    if (t->qsbr_nest == 0)
      urcu_qsbr_thread_online();
    t->qsbr_resting_offline = false;
  }
}

bool ebi_backend_is_online(const ebra_domain_t *d) {
  const ebi_rcu_thread_t *t = &ebi_tls_rcu;
  return d->backend == EBRA_RECLAIM_URCU_QSBR && t->qsbr_users > 0 &&
         !t->qsbr_resting_offline;
}

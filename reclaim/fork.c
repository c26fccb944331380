/* SPDX-License-Identifier: MIT */
/* reclaim/fork.c — what ebra does so that a fork child can use its domains,
 * liburcu's (memb, qsbr) included.
 *
 * Two things a fork can cut in half:
 *   - a reclaim round (the reclaimer's or a retiring thread's help): its
 *     batches live on the running thread's stack, so a child forked in the
 *     middle of one would lose them (objects never returned, cleanups
 *     never run) or, if the round had started running them, could not tell
 *     which had run;
 *   - liburcu's own state: a thread inside synchronize_rcu holds liburcu's
 *     grace-period and registry mutexes, which the child inherits held;
 *     and each registered thread's reader record lives in that thread's
 *     TLS, linked into a process-wide registry that every grace period
 *     walks.  The child inherits the records of threads that do not exist
 *     in it; liburcu has no call to remove another thread's record, and
 *     glibc gives the dead threads' stacks (TLS included) to the child's
 *     next threads, which overwrite records still linked: the first grace
 *     period walks garbage (SIGSEGV), or waits forever for a dead reader
 *     that was online (qsbr) or inside a section (memb).
 *
 * Invariants
 *   F1  every reclaim round is counted in rounds_active from before it
 *       takes its batches until its last entry ran; fork closes rounds
 *       (rounds_closed) and waits for the count to reach 0, so a child has
 *       no round in flight: every entry is on a pending list or in an open
 *       batch, or ran in the parent.
 *   F2  every ebra call into liburcu that takes liburcu's registry or
 *       grace-period mutex runs under the registry lock (register,
 *       unregister: backend.c) or under `gate` (synchronize); fork holds
 *       both, so the child's liburcu mutexes are free.
 *   F3  each dthread of a liburcu domain knows its thread's reader record
 *       (`urcu_node`, the record's registry link); in the child the link of
 *       every thread that did not survive is unlinked, once
 *       (ebi_urcu_forget_dead, from the dead thread's release), before the
 *       child can start a thread.
 *   F4  a batch is always reachable from shared state: a thread's open
 *       batch (under its batch_lock), the domain's pending list (under its
 *       lock), or a round's hands (F1).  Retire hands a full batch to the
 *       pending list before it releases batch_lock, and a leaving thread
 *       moves its batch under the registry lock; fork prepare takes all
 *       three kinds of lock, so the child finds every batch in one of them.
 *
 * Lock order: rounds_mu -> gate -> registry lock (these hooks rank above
 * the registry).  rounds_mu is held only to count (and by fork across the
 * fork itself); a round, once counted, takes domain locks and the registry
 * lock, and `gate` only around synchronize, holding no ebra lock.
 *
 * So fork waits for the rounds in flight, whose grace periods wait for the
 * readers then inside sections (qsbr: for online threads to pass a
 * quiescent state).  The forking thread must not be inside a read section
 * (a round would wait for it): reported, and the fork goes on without
 * waiting; a forking qsbr thread that is online is taken offline for the
 * fork and put back online in parent and child.  A reader that holds its
 * section until after the fork would make the wait endless: past
 * FORK_WAIT_S seconds fork reports it and goes on without the locks it
 * could not get (the child then recounts its backlog; a round cut in half
 * is lost to it).
 *
 * What this cannot cover: liburcu used outside ebra (a thread the program
 * registered itself, call_rcu workers), which the program must quiesce
 * before fork as liburcu's documentation asks.
 */
#define _LGPL_SOURCE 1 /* liburcu's reader record layout (docs/DESIGN.md) */
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <urcu/list.h>
#include <urcu/static/urcu-memb.h>
#include <urcu/static/urcu-qsbr.h>

#include "backend.h"

#define FORK_WAIT_S 2

/* Rounds in flight, and a fork that waits for them to end.  Not a rwlock:
 * a fork child must release what the parent's forking thread held, and a
 * glibc rwlock held for writing can only be released by the thread id
 * that took it, which the child's copy of that thread does not have. */
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t rounds_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rounds_cv = PTHREAD_COND_INITIALIZER;
static uint32_t rounds_active;  /* under rounds_mu */
static bool rounds_closed;      /* a fork is waiting or under way; under rounds_mu */

void ebi_round_enter(void) { /* released in ebi_round_leave */
  pthread_mutex_lock(&rounds_mu);
  while (rounds_closed)
    pthread_cond_wait(&rounds_cv, &rounds_mu);
  rounds_active++;
  pthread_mutex_unlock(&rounds_mu);
}

void ebi_round_leave(void) {
  pthread_mutex_lock(&rounds_mu);
  if (--rounds_active == 0)
    pthread_cond_broadcast(&rounds_cv);
  pthread_mutex_unlock(&rounds_mu);
}

void ebi_urcu_gate_enter(void) { pthread_mutex_lock(&gate); }    /* released in: */
void ebi_urcu_gate_leave(void) { pthread_mutex_unlock(&gate); }  /* ebi_urcu_gate_enter */

struct cds_list_head *ebi_urcu_own_node(ebra_reclaim_backend_t b) {
  if (b == EBRA_RECLAIM_URCU_QSBR)
    return &URCU_TLS(urcu_qsbr_reader).node;
  return &URCU_TLS(urcu_memb_reader).node;
}

void ebi_urcu_forget_dead(struct cds_list_head *node) {
  if (!node || node->next == node)
    return; /* unlinked already: another domain of the same flavour */
  cds_list_del(node);
  CDS_INIT_LIST_HEAD(node);
}

/* ---- fork hooks ------------------------------------------------------------- */

static bool fork_has_rounds, fork_has_gate; /* the forking thread's */
static pid_t fork_pid;                       /* the parent's, at prepare */
static bool fork_went_offline;

/* Is the calling thread inside a read section of any domain? */
static bool caller_in_section(void) {
  const ebi_thread_t *t = ebi_tls_thread;
  for (uint32_t id = 0; id < ebi_thread_nslots(t, EBI_SLOTS_DOMAIN); id++) {
    const ebi_dthread_t *dt = ebi_thread_slot(t, EBI_SLOTS_DOMAIN, id)->state;
    if (dt && ebi_dthread_nest(dt) > 0)
      return true;
  }
  return false;
}

static struct timespec deadline(void) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += FORK_WAIT_S;
  return until;
}

static void fork_prepare(void) {
  fork_pid = getpid();
  fork_went_offline = fork_has_rounds = fork_has_gate = false;
  if (caller_in_section()) {
    ebi_report(EBRA_ERR_BAD_CALL, "fork inside a read section: the child may lose a reclaim "
                                  "round, and its liburcu domains may block");
    return;
  }
  ebi_rcu_thread_t *r = &ebi_tls_rcu;
  if (r->qsbr_users > 0 && !r->qsbr_resting_offline) {
    urcu_qsbr_thread_offline(); /* a round in flight may wait for us */
    fork_went_offline = true;
  }
  const struct timespec until = deadline();
  /* rounds_mu and gate are held across the fork, released in fork_parent
   * (which src/thread.c runs in the child too). */
  pthread_mutex_lock(&rounds_mu);
  rounds_closed = true;
  int rc = 0;
  while (rounds_active > 0 && rc == 0)
    rc = pthread_cond_timedwait(&rounds_cv, &rounds_mu, &until);
  fork_has_rounds = rounds_active == 0;
  fork_has_gate = pthread_mutex_timedlock(&gate, &until) == 0;
  if (!fork_has_rounds || !fork_has_gate)
    ebi_report(EBRA_ERR_BAD_CALL,
               "fork: a reclaim round has been waiting %d s for a reader to leave its section; "
               "forking anyway: the child may lose that round, and its liburcu domains may block",
               FORK_WAIT_S);
}

/* Open rounds again (closed in fork_prepare, unless it returned early for
 * a caller in a section). */
static void rounds_reopen(void) {
  rounds_closed = false;
  pthread_cond_broadcast(&rounds_cv);
  pthread_mutex_unlock(&rounds_mu);
}

/* src/thread.c runs this in the parent, and in the child before
 * fork_child (the floors below the registry start their threads after
 * that, once every lock is released: their fork_restart hooks). */
static void fork_parent(void) {
  if (getpid() != fork_pid && rounds_closed) {
    /* Child: the rounds counted ran on threads it does not have, and the
     * cond's waiters were such threads too. */
    rounds_active = 0;
    pthread_cond_init(&rounds_cv, NULL);
  }
  if (fork_has_gate)
    ebi_urcu_gate_leave();
  if (rounds_closed)
    rounds_reopen();
  if (fork_went_offline)
    urcu_qsbr_thread_online();
}

static void fork_child(void) {
  if (!fork_has_gate) /* held, maybe, by a thread now gone; nobody waits */
    pthread_mutex_init(&gate, NULL);
}

bool ebi_fork_lost_rounds(void) { return !fork_has_rounds; }

static const ebi_thread_hooks_t fork_hooks = {
    .above_registry = true, /* rounds -> gate -> registry lock */
    .fork_prepare = fork_prepare,
    .fork_parent = fork_parent,
    .fork_child = fork_child,
};

__attribute__((constructor)) static void fork_hooks_init(void) {
  ebi_thread_hooks_add(&fork_hooks);
}

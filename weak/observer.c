/* SPDX-License-Identifier: MIT */
/* weak/observer.c — weak observers on liburcu's RCU list (rculist.h).
 *
 * A subject is a cds_list of observer nodes: {weak handle, callback, arg,
 * id}.  Writers (subscribe, unsubscribe, the death cleanup, notify's
 * opportunistic unlink, destroy) hold the subject's writer lock; notify
 * reads the list inside a read section of the handles' domain and takes
 * no lock.
 *
 * Invariants
 *   O1  a node is linked at most once and unlinked at most once, both
 *       under the writer lock (`linked` says which); the unlinker retires
 *       the list's hold with ebra_retire_call, so a node is freed only
 *       after a grace period that began after it was unlinked: a notify
 *       that still walks through it keeps it valid, and keeps following
 *       its next pointer (cds_list_del_rcu leaves it in place).
 *   O2  nodes are added at the tail only and never re-linked, so a walk
 *       visits each node at most once, in subscription order, and reaches
 *       every node that was linked when the walk began and is not
 *       unlinked before the walk gets there.
 *   O3  notify calls fn only with the object ebra_weak_get returned in the
 *       same section; the object's cleanups (and its reuse) wait for a
 *       grace period after its death, so they run after that section.
 *   O4  a node is held by the list (until a grace period after unlink) and
 *       by its death cleanup (until it ran); the subject is held by its
 *       owner and by every node not yet freed, so a cleanup that runs
 *       after destroy still finds the subject's lock.
 *
 * Ordering: liburcu's rcu_assign_pointer (a release barrier then the
 * store) publishes a node; notify reads links with rcu_dereference.
 * Under TSan those are volatile accesses it does not treat as atomics, so
 * reads of links are ignored and each node is released before it is
 * published and acquired when reached (tsan.h); the node's fields stay
 * checked.  xholds is acq_rel: the last holder frees.
 *
 * Progress: notify is lock-free (a bounded walk, wait-free weak_get, a
 * try-lock); subscribe and unsubscribe block on the writer lock only
 * against each other and against unlinking.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include <urcu/rculist.h>

#include "weak_internal.h"
#include "tsan.h"

typedef struct obs_s {
  struct cds_list_head link; /* in subject->head while linked */
  ebra_subject_t *subject;
  ebra_weak_t h;
  ebra_observer_fn *fn;
  void *arg;
  ebra_subscription_t id;
  bool linked;               /* writer lock (O1) */
  _Atomic uint32_t xholds;   /* list + cleanup (O4) */
} obs_t;

struct ebra_subject_s {
  ebi_life_t life;           /* first member (src/life.c) */
  struct cds_list_head head; /* nodes, subscription order */
  ebra_weak_table_t *table;
  ebra_domain_t *domain;
  pthread_mutex_t lock;      /* writer lock: the list, linked, next_id */
  ebra_subscription_t next_id;
  _Atomic size_t xcount;     /* linked nodes: written under the writer
                                lock, read relaxed (stats) */
  /* Statistics, relaxed: no ordering duty. */
  _Atomic uint64_t xsubscribed, xunlinked, xnotifies, xcalls;
  _Atomic uint32_t xholds;   /* owner + nodes not yet freed (O4) */
};

/* ---- holds (O4) --------------------------------------------------------------- */

static void subject_unhold(ebra_subject_t *s) {
  /* acq_rel: the last holder sees every other holder's accesses. */
  if (ebi_atomic_sub_acq_rel(&s->xholds, 1) == 1)
    pthread_mutex_destroy(&s->lock); /* the struct stays: a tombstone (life.c) */
}

static void obs_unhold(obs_t *o) {
  /* acq_rel: the last holder sees every other holder's accesses. */
  if (ebi_atomic_sub_acq_rel(&o->xholds, 1) == 1) {
    ebra_subject_t *s = o->subject;
    free(o);
    subject_unhold(s);
  }
}

/* After the grace period that followed the unlink (O1). */
static void obs_list_hold_gone(void *arg) { obs_unhold(arg); }

/* ---- writers (lock held) ----------------------------------------------------------- */

static void obs_unlink_locked(ebra_subject_t *s, obs_t *o) {
  cds_list_del_rcu(&o->link);
  o->linked = false;
  ebi_atomic_store_relaxed(&s->xcount, ebi_atomic_load_relaxed(&s->xcount) - 1);
  ebi_atomic_add_relaxed(&s->xunlinked, 1);
  if (ebi_retire_call_nowait(s->domain, obs_list_hold_gone, o) != 0)
    ebi_report(EBRA_ERR_NOMEM, "subject: no memory to retire an observer; it leaks");
}

static obs_t *obs_find_locked(ebra_subject_t *s, ebra_subscription_t id) {
  obs_t *o;
  cds_list_for_each_entry(o, &s->head, link)
    if (o->id == id)
      return o;
  return NULL;
}

/* Unlink the observers whose objects are dead.  Lock held, inside a
 * read section (ebra_weak_get). */
static void unlink_dead_locked(ebra_subject_t *s) {
  obs_t *o, *tmp;
  cds_list_for_each_entry_safe(o, tmp, &s->head, link)
    if (!ebi_weak_resolve(s->table, o->h))
      obs_unlink_locked(s, o);
}

/* Death cleanup, on the reclaimer thread (runs once: W4).  Retiring the
 * node registers the reclaimer with the domain; it leaves again, so
 * ebra_domain_destroy does not count it as a user. */
static void obs_died(void *arg, ebra_weak_t h) {
  (void)h;
  obs_t *o = arg;
  ebra_subject_t *s = o->subject;
  ebra_domain_t *d = s->domain;
  const bool registered = ebi_dthread_of(d) != NULL;
  pthread_mutex_lock(&s->lock);
  if (o->linked)
    obs_unlink_locked(s, o);
  pthread_mutex_unlock(&s->lock);
  if (!registered)
    ebra_domain_unregister_thread(d);
  obs_unhold(o);
}

/* ---- the API ---------------------------------------------------------------- */

ebra_subject_t *ebra_subject_create(ebra_weak_table_t *t, const ebra_subject_config_t *cfg) {
  int rc = EBI_LIFE_CHECK(t, EBI_KIND_WEAK_TABLE, "ebra_subject_create");
  if (rc) {
    errno = -rc;
    return NULL;
  }
  ebra_subject_t *s = calloc(1, sizeof *s);
  if (!s) {
    errno = ENOMEM;
    return NULL;
  }
  CDS_INIT_LIST_HEAD(&s->head);
  s->table = t;
  s->domain = ebi_weak_table_domain(t);
  pthread_mutex_init(&s->lock, NULL);
  ebi_atomic_store_relaxed(&s->xholds, 1);
  int err = ebi_life_begin(&s->life, EBI_KIND_SUBJECT, cfg ? cfg->name : NULL);
  if (err) {
    pthread_mutex_destroy(&s->lock);
    free(s);
    ebi_report(EBRA_ERR_NOMEM, "ebra_subject_create: no memory for the registry");
    errno = err;
    return NULL;
  }
  return s;
}

int ebra_subject_destroy(ebra_subject_t *s) {
  int rc = EBI_LIFE_CHECK(s, EBI_KIND_SUBJECT, "ebra_subject_destroy");
  if (rc)
    return rc;
  if ((rc = ebi_life_end(&s->life, EBI_KIND_SUBJECT, "ebra_subject_destroy")) != 0)
    return rc;
  pthread_mutex_lock(&s->lock);
  while (!cds_list_empty(&s->head))
    obs_unlink_locked(s, cds_list_entry(s->head.next, obs_t, link));
  pthread_mutex_unlock(&s->lock);
  subject_unhold(s);
  return 0;
}

int ebra_subject_subscribe(ebra_subject_t *s, ebra_weak_t h, ebra_observer_fn *fn, void *arg,
                           ebra_subscription_t *out) {
  if (out)
    *out = 0; /* what a failed call leaves (ebra/error.h) */
  int rc = EBI_LIFE_CHECK(s, EBI_KIND_SUBJECT, "ebra_subject_subscribe");
  if (rc)
    return rc;
  if (!fn || !out)
    return ebi_bad_call("ebra_subject_subscribe: NULL callback or out");
  obs_t *o = calloc(1, sizeof *o);
  if (!o)
    return -ENOMEM;
  o->subject = s;
  o->h = h;
  o->fn = fn;
  o->arg = arg;
  ebi_atomic_store_relaxed(&o->xholds, 2); /* list + cleanup */
  ebi_atomic_add_relaxed(&s->xholds, 1);
  pthread_mutex_lock(&s->lock);
  o->id = ++s->next_id;
  o->linked = true;
  ebi_atomic_store_relaxed(&s->xcount, ebi_atomic_load_relaxed(&s->xcount) + 1);
  ebi_atomic_add_relaxed(&s->xsubscribed, 1);
  const ebra_subscription_t id = o->id;
  ebi_tsan_publish(o); /* after the last plain write before publication */
  cds_list_add_tail_rcu(&o->link, &s->head);
  pthread_mutex_unlock(&s->lock);
  /* The cleanup is added once the node is linked; if the object is
   * already dead, unlink it here instead. */
  rc = ebra_weak_add_cleanup(s->table, h, obs_died, o);
  if (rc == 0) {
    *out = id;
    return 0;
  }
  pthread_mutex_lock(&s->lock);
  if (o->linked)
    obs_unlink_locked(s, o);
  pthread_mutex_unlock(&s->lock);
  obs_unhold(o); /* the cleanup's hold: it will never run */
  return rc;
}

int ebra_subject_unsubscribe(ebra_subject_t *s, ebra_subscription_t sub) {
  int rc = EBI_LIFE_CHECK(s, EBI_KIND_SUBJECT, "ebra_subject_unsubscribe");
  if (rc)
    return rc;
  rc = -ENOENT;
  pthread_mutex_lock(&s->lock);
  obs_t *o = sub ? obs_find_locked(s, sub) : NULL;
  if (o) {
    obs_unlink_locked(s, o);
    rc = 0;
  }
  pthread_mutex_unlock(&s->lock);
  return rc;
}

/* The node after pos, or NULL at the end.  Inside a read section. */
static obs_t *walk_next(ebra_subject_t *s, struct cds_list_head *pos) {
  EBI_TSAN_LINK_READ_BEGIN();
  struct cds_list_head *n = rcu_dereference(pos->next);
  EBI_TSAN_LINK_READ_END();
  if (n == &s->head)
    return NULL;
  obs_t *o = caa_container_of(n, obs_t, link);
  ebi_tsan_consume(o); /* paired with ebi_tsan_publish in subscribe */
#if defined(EBRA_TSAN)
  ebi_dthread_t *dt = ebi_dthread_of(s->domain);
  if (dt)
    ebi_tsan_note(dt, o);
#endif
  return o;
}

int ebra_subject_notify(ebra_subject_t *s, uint64_t value, size_t *notified) {
  if (notified)
    *notified = 0; /* what a failed call leaves (ebra/error.h) */
  int rc = EBI_LIFE_CHECK(s, EBI_KIND_SUBJECT, "ebra_subject_notify");
  if (rc)
    return rc;
  size_t called = 0;
  bool dead_seen = false;
  if ((rc = ebi_read_lock(s->domain)) != 0)
    return rc;
  for (obs_t *o = walk_next(s, &s->head); o; o = walk_next(s, &o->link)) {
    void *obj = ebi_weak_resolve(s->table, o->h);
    if (obj) {
      o->fn(o->arg, obj, value);
      called++;
    } else {
      dead_seen = true;
    }
  }
  if (dead_seen && pthread_mutex_trylock(&s->lock) == 0) { /* never wait */
    unlink_dead_locked(s);
    pthread_mutex_unlock(&s->lock);
  }
  ebi_read_unlock(s->domain);
  ebi_atomic_add_relaxed(&s->xnotifies, 1);
  ebi_atomic_add_relaxed(&s->xcalls, called);
  if (notified)
    *notified = called;
  return 0;
}

int ebra_subject_count(ebra_subject_t *s, size_t *out) {
  if (out)
    *out = 0; /* what a failed call leaves (ebra/error.h) */
  int rc = EBI_LIFE_CHECK(s, EBI_KIND_SUBJECT, "ebra_subject_count");
  if (rc)
    return rc;
  if (!out)
    return ebi_bad_call("ebra_subject_count: NULL out");
  pthread_mutex_lock(&s->lock);
  *out = ebi_atomic_load_relaxed(&s->xcount);
  pthread_mutex_unlock(&s->lock);
  return 0;
}

/* Relaxed loads, no lock: the snapshot calls it under the registry lock,
 * which subscribe may take (a thread's first read section) while it holds
 * the writer lock. */
int ebra_subject_stats(ebra_subject_t *s, ebra_subject_stats_t *out) {
  if (out)
    memset(out, 0, sizeof *out); /* what a failed call leaves (ebra/error.h) */
  int rc = EBI_LIFE_CHECK(s, EBI_KIND_SUBJECT, "ebra_subject_stats");
  if (rc)
    return rc;
  if (!out)
    return ebi_bad_call("ebra_subject_stats: NULL out");
  out->observers = ebi_atomic_load_relaxed(&s->xcount);
  out->subscribed = ebi_atomic_load_relaxed(&s->xsubscribed);
  out->unlinked = ebi_atomic_load_relaxed(&s->xunlinked);
  out->notifies = ebi_atomic_load_relaxed(&s->xnotifies);
  out->calls = ebi_atomic_load_relaxed(&s->xcalls);
  return 0;
}

const char *ebi_subject_name(const ebra_subject_t *s) { return s->life.name; }

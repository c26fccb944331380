/* SPDX-License-Identifier: MIT */
/* control/alerts.c — alerts, checked at each engine step, and the history
 * ring, one sample per step.
 *
 * State and who owns it: this file owns the alert table (alerts.lock) and
 * the history ring (hist.lock).  The engine's step feeds both with engine.lock
 * held: ebi_alerts_check with its snapshot, ebi_history_put with its sample;
 * it runs the crossings found (ebi_alerts_fire) after dropping engine.lock.
 * Callbacks run under alerts.cb_lock and under no other lock of ebra, so
 * ebra_alert_remove, which takes cb_lock, can promise that a removed
 * callback is not running and will not run.  A thread running a callback is
 * marked (in_callback, thread-local), so the calls that would wait for
 * cb_lock (ebra_alert_remove, ebra_maintain, ebra_engine_shutdown) refuse
 * with -EDEADLK instead.  ebra_history reads the ring under hist.lock
 * alone, so it never waits for a step.
 *
 * Lock order: alerts.cb_lock -> engine.lock -> alerts.lock; engine.lock ->
 * hist.lock.  alerts.lock and hist.lock are leaves.  cb_lock ranks first
 * because a callback may take engine.lock (ebra_engine_set_strategy).
 * Progress: blocking (locks), off every allocation and read-side path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control_internal.h"

typedef struct alert_s {
  bool used, raised;
  int id;
  ebra_alert_metric_t metric;
  uint64_t threshold, clear_below; /* clear_below <= threshold */
  ebra_alert_fn *fn;
  void *arg;
} alert_t;

static struct {
  pthread_mutex_t cb_lock; /* held while callbacks run */
  pthread_mutex_t lock;    /* the table */
  alert_t a[EBI_MAX_ALERTS];
  int next_id;
} alerts = {.cb_lock = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER};

static struct {
  pthread_mutex_t lock;
  ebra_sample_t *ring; /* len samples; NULL while the engine is not configured */
  uint32_t len, next;  /* next: where the next sample goes */
  uint64_t count;      /* samples ever put since the reset */
} hist = {.lock = PTHREAD_MUTEX_INITIALIZER};

static __thread bool in_callback;

bool ebi_alerts_in_callback(void) { return in_callback; }

/* ---- alerts -------------------------------------------------------------------- */

/* The alert's measure in snap, and what it is about. */
static uint64_t alert_value(ebra_alert_metric_t metric, const ebra_snapshot_t *snap,
                            const char **subject) {
  *subject = "process";
  uint64_t worst = 0;
  switch (metric) {
  case EBRA_ALERT_RESIDENT_BYTES: return snap->resident_bytes;
  case EBRA_ALERT_PENDING_BYTES: return snap->pending_bytes;
  case EBRA_ALERT_GRACE_PERIOD_NS:
    for (uint32_t i = 0; i < snap->ndomains; i++)
      if (snap->domains[i].stats.gp_ns_p99 >= worst) {
        worst = snap->domains[i].stats.gp_ns_p99;
        *subject = snap->domains[i].name;
      }
    return worst;
  case EBRA_ALERT_CAP_USAGE_PERMILLE:
    for (uint32_t i = 0; i < snap->npools; i++) {
      const ebra_pool_stats_t *p = &snap->pools[i].stats;
      if (!p->max_objects)
        continue;
      const uint64_t v = p->objects_live * 1000 / p->max_objects;
      if (v >= worst) {
        worst = v;
        *subject = snap->pools[i].name;
      }
    }
    return worst;
  case EBRA_ALERT_STALLED_NS:
    for (uint32_t i = 0; i < snap->ndomains; i++)
      if (snap->domains[i].stats.stalled_ns > worst) {
        worst = snap->domains[i].stats.stalled_ns;
        *subject = snap->domains[i].name;
      }
    return worst;
  }
  return 0;
}

size_t ebi_alerts_check(const ebra_snapshot_t *snap, ebi_alert_fire_t *out) {
  size_t n = 0;
  pthread_mutex_lock(&alerts.lock);
  for (int i = 0; i < EBI_MAX_ALERTS; i++) {
    alert_t *a = &alerts.a[i];
    if (!a->used)
      continue;
    const char *subject;
    const uint64_t v = alert_value(a->metric, snap, &subject);
    const bool cross_up = !a->raised && v >= a->threshold;
    const bool cross_down = a->raised && v < a->clear_below;
    if (!cross_up && !cross_down)
      continue;
    a->raised = cross_up;
    ebi_alert_fire_t *f = &out[n++];
    f->ev = (ebra_alert_event_t){.id = a->id, .metric = a->metric, .raised = cross_up,
                                 .value = v, .threshold = a->threshold,
                                 .clear_below = a->clear_below, .subject = f->subject};
    snprintf(f->subject, sizeof f->subject, "%s", subject);
    f->fn = a->fn;
    f->arg = a->arg;
  }
  pthread_mutex_unlock(&alerts.lock);
  return n;
}

static bool alert_exists_locked(int id) {
  for (int k = 0; k < EBI_MAX_ALERTS; k++)
    if (alerts.a[k].used && alerts.a[k].id == id)
      return true;
  return false;
}

/* An alert removed since the check is skipped: removal takes cb_lock, and
 * we look again under it. */
void ebi_alerts_fire(ebi_alert_fire_t *fire, size_t n) {
  if (!n)
    return;
  pthread_mutex_lock(&alerts.cb_lock);
  in_callback = true;
  for (size_t i = 0; i < n; i++) {
    pthread_mutex_lock(&alerts.lock);
    const bool still = alert_exists_locked(fire[i].ev.id);
    pthread_mutex_unlock(&alerts.lock);
    if (still)
      fire[i].fn(&fire[i].ev, fire[i].arg);
  }
  in_callback = false;
  pthread_mutex_unlock(&alerts.cb_lock);
}

int ebra_alert_add(ebra_alert_metric_t metric, uint64_t threshold, uint64_t clear_below,
                   ebra_alert_fn *fn, void *arg, int *id) {
  if (!id || !fn || (unsigned)metric > EBRA_ALERT_STALLED_NS || clear_below > threshold)
    return ebi_bad_call("ebra_alert_add: bad metric, callback, levels or id pointer");
  int rc = -ENOSPC;
  pthread_mutex_lock(&alerts.lock);
  for (int i = 0; i < EBI_MAX_ALERTS; i++) {
    if (!alerts.a[i].used) {
      *id = alerts.next_id++;
      alerts.a[i] = (alert_t){.used = true, .id = *id, .metric = metric,
                              .threshold = threshold, .clear_below = clear_below,
                              .fn = fn, .arg = arg};
      rc = 0;
      break;
    }
  }
  pthread_mutex_unlock(&alerts.lock);
  return rc;
}

int ebra_alert_remove(int id) {
  if (in_callback) {
    ebi_report(EBRA_ERR_BAD_CALL, "ebra_alert_remove from an alert callback");
    return -EDEADLK;
  }
  int rc = -ENOENT;
  pthread_mutex_lock(&alerts.cb_lock); /* no callback is running past here */
  pthread_mutex_lock(&alerts.lock);
  for (int i = 0; i < EBI_MAX_ALERTS; i++) {
    if (alerts.a[i].used && alerts.a[i].id == id) {
      alerts.a[i].used = false;
      rc = 0;
    }
  }
  pthread_mutex_unlock(&alerts.lock);
  pthread_mutex_unlock(&alerts.cb_lock);
  return rc;
}

void ebi_alerts_clear(void) {
  pthread_mutex_lock(&alerts.cb_lock);
  pthread_mutex_lock(&alerts.lock);
  memset(alerts.a, 0, sizeof alerts.a);
  pthread_mutex_unlock(&alerts.lock);
  pthread_mutex_unlock(&alerts.cb_lock);
}

/* ---- history ------------------------------------------------------------------- */

int ebi_history_reset(uint32_t len) {
  ebra_sample_t *ring = NULL;
  if (len && !(ring = calloc(len, sizeof *ring)))
    return -ENOMEM;
  pthread_mutex_lock(&hist.lock);
  ebra_sample_t *old = hist.ring;
  hist.ring = ring;
  hist.len = len;
  hist.next = 0;
  hist.count = 0;
  pthread_mutex_unlock(&hist.lock);
  free(old);
  return 0;
}

void ebi_history_put(const ebra_sample_t *s) {
  pthread_mutex_lock(&hist.lock);
  if (hist.ring) {
    hist.ring[hist.next] = *s;
    hist.next = (hist.next + 1) % hist.len;
    hist.count++;
  }
  pthread_mutex_unlock(&hist.lock);
}

int ebra_history(ebra_sample_t *out, size_t max, size_t *n) {
  if (!n || (!out && max))
    return ebi_bad_call("ebra_history: out or n is NULL");
  pthread_mutex_lock(&hist.lock);
  const uint64_t have = hist.count < hist.len ? hist.count : hist.len;
  const size_t k = have < max ? (size_t)have : max;
  for (size_t i = 0; i < k; i++) /* the k newest, oldest first */
    out[i] = hist.ring[(hist.next + hist.len - k + i) % hist.len];
  pthread_mutex_unlock(&hist.lock);
  *n = k;
  return 0;
}

/* ---- fork ------------------------------------------------------------------------ */

void ebi_alerts_fork_lock_callbacks(void) { pthread_mutex_lock(&alerts.cb_lock); }

void ebi_alerts_fork_lock_tables(void) {
  pthread_mutex_lock(&alerts.lock);
  pthread_mutex_lock(&hist.lock);
}

void ebi_alerts_fork_unlock(void) {
  pthread_mutex_unlock(&hist.lock);
  pthread_mutex_unlock(&alerts.lock);
  pthread_mutex_unlock(&alerts.cb_lock);
}

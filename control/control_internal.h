/* SPDX-License-Identifier: MIT */
/* control/control_internal.h — what the files of the control floor share,
 * grouped by the file that defines it.  The floor sees every lower floor's
 * internal header (through weak_internal.h); nothing below sees this one.
 *
 *   snapshot.c  ebi_snap_take: one snapshot, with what only the engine needs
 *   alerts.c    the alert table and the history ring, each behind its own
 *               lock, fed by the engine's step
 *   engine.c    the strategy engine (uses both)
 *   monitor.c   the printers (read snapshots only)
 */
#ifndef EBRA_CONTROL_INTERNAL_H
#define EBRA_CONTROL_INTERNAL_H

#include "weak_internal.h"
#include "ebra/engine.h"
#include "ebra/monitor.h"

/* ---- snapshot.c ------------------------------------------------------------ */

/* Every snapshot is one of these; ebra_snapshot hands out &pub, and
 * ebra_snapshot_free releases the whole (pub is the first member). */
typedef struct ebi_snap_s {
  ebra_snapshot_t pub;
  uint64_t *pool_serial;   /* pub.npools entries: the serial of pub.pools[i],
                              which tells a pool from a later one at its id */
  uint64_t *domain_serial; /* pub.ndomains entries, likewise */
  uint64_t mono_ns;        /* CLOCK_MONOTONIC when the registry walk ended */
} ebi_snap_t;

/* Take a snapshot (as ebra_snapshot).  Returns 0 or -ENOMEM. */
EBI_INTERNAL_FN int ebi_snap_take(ebi_snap_t **out);

/* ---- alerts.c -------------------------------------------------------------- */

#define EBI_MAX_ALERTS 64

/* One crossing found by a step, to be run after engine.lock is dropped. */
typedef struct ebi_alert_fire_s {
  ebra_alert_event_t ev; /* ev.subject points at subject */
  ebra_alert_fn *fn;
  void *arg;
  char subject[EBRA_POOL_NAME_MAX];
} ebi_alert_fire_t;

/* The crossings snap shows against the alerts' last state, into out
 * (EBI_MAX_ALERTS entries); returns how many.  engine.lock held, so the
 * steps' checks are ordered like the steps. */
EBI_INTERNAL_FN size_t ebi_alerts_check(const ebra_snapshot_t *snap, ebi_alert_fire_t *out);
/* Run the callbacks of the crossings that are still alerts.  No engine
 * lock held. */
EBI_INTERNAL_FN void ebi_alerts_fire(ebi_alert_fire_t *fire, size_t n);
/* True on a thread that is running an alert callback. */
EBI_INTERNAL_FN bool ebi_alerts_in_callback(void);
/* Forget every alert (engine shutdown).  Not from a callback. */
EBI_INTERNAL_FN void ebi_alerts_clear(void);

/* A new, empty history ring of len samples (0: none).  Returns 0 or
 * -ENOMEM (the old ring is kept). */
EBI_INTERNAL_FN int ebi_history_reset(uint32_t len);
/* Record one sample (a step, engine.lock held). */
EBI_INTERNAL_FN void ebi_history_put(const ebra_sample_t *s);

/* fork: the callback lock ranks before engine.lock, the table and ring
 * locks after it, so the engine's fork handler takes them around its own. */
EBI_INTERNAL_FN void ebi_alerts_fork_lock_callbacks(void);
EBI_INTERNAL_FN void ebi_alerts_fork_lock_tables(void);
EBI_INTERNAL_FN void ebi_alerts_fork_unlock(void);

#endif /* EBRA_CONTROL_INTERNAL_H */

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

#endif /* EBRA_CONTROL_INTERNAL_H */

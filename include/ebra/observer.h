/* SPDX-License-Identifier: MIT */
/** @file ebra/observer.h
 * @brief weak observers: a subject notifies a list of
 * observers, each held by a weak handle plus a callback.  An observer
 * never keeps its object alive.
 *
 *  - ebra_subject_notify(s, value) calls fn(arg, obj, value) for every
 *    live observer, in subscription order, inside a read section of the
 *    handles' domain (obj stays valid during the call).  Dead observers
 *    are skipped, and unlinked (by notify if the subject's writer lock is
 *    free at that moment, else by their death cleanup).
 *  - A notify calls every observer that was subscribed before it began
 *    and is still subscribed and alive when reached, exactly once; one
 *    subscribed during a notify may or may not be called by it.  An
 *    observer killed during a notify is called before it died or not at
 *    all, never after its cleanups ran.
 *  - subscribe/unsubscribe take the subject's writer lock; notify never
 *    takes it (a try-lock for unlinking dead observers), so it never
 *    waits for them.  A callback may subscribe, or unsubscribe itself or
 *    any other observer; it must not destroy the subject or wait for a
 *    grace period (ebra_domain_barrier).
 *  - Works with every backend (urcu-memb, urcu-qsbr, ck-epoch).
 *  - ebra_subject_destroy: after every other call on the subject returned.
 */
#ifndef EBRA_OBSERVER_H
#define EBRA_OBSERVER_H

#include <stddef.h>
#include <stdint.h>

#include "ebra/export.h"
#include "ebra/weak.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A subject that notifies weak observers (opaque). */
typedef struct ebra_subject_s ebra_subject_t;
/** A subscription's id; 0 is never a subscription. */
typedef uint64_t ebra_subscription_t;

/** An observer callback: arg as subscribed, obj the observer's live object
 * (valid during the call), value as given to ebra_subject_notify. */
typedef void ebra_observer_fn(void *arg, void *obj, uint64_t value);

/** Options for a subject (a NULL config is all defaults).  name is copied
 * (NULL = "subject"). */
typedef struct ebra_subject_config_s {
  const char *name; /**< copied; NULL = "subject" */
} ebra_subject_config_t;

/** A subject whose observers are handles of table t.  NULL with errno EINVAL
 * (NULL table), EBADF (destroyed table) or ENOMEM.
 *
 * Every call on a subject returns -EINVAL for a NULL subject and -EBADF for
 * a destroyed one, a second destroy included; each is also reported
 * (EBRA_ERR_BAD_CALL, EBRA_ERR_USE_AFTER_DESTROY).  The comments below name
 * the other errors. */
EBRA_API ebra_subject_t *ebra_subject_create(ebra_weak_table_t *t,
                                             const ebra_subject_config_t *cfg);

/** Unlink every observer and release the subject.  Returns 0. */
EBRA_API int ebra_subject_destroy(ebra_subject_t *s);

/** Subscribe the object of h; the subscription goes to *out.  Returns 0, or
 * -EINVAL (NULL fn or out, reported), -ESTALE (h's object is dead) or
 * -ENOMEM. */
EBRA_API int ebra_subject_subscribe(ebra_subject_t *s, ebra_weak_t h, ebra_observer_fn *fn,
                                    void *arg, ebra_subscription_t *out);

/** Unsubscribe.  Returns 0, or -ENOENT (not subscribed: unsubscribed, or unlinked
 * after its object died). */
EBRA_API int ebra_subject_unsubscribe(ebra_subject_t *s, ebra_subscription_t sub);

/** Call every live observer; how many were called goes to *notified (may be
 * NULL).  Returns 0, or what ebra_read_lock returned. */
EBRA_API int ebra_subject_notify(ebra_subject_t *s, uint64_t value, size_t *notified);

/** Observers subscribed now (dead ones not yet unlinked included), in *out.
 * Returns 0, or -EINVAL for a NULL out. */
EBRA_API int ebra_subject_count(ebra_subject_t *s, size_t *out);

/** A subject's counters (ebra_subject_stats). */
typedef struct ebra_subject_stats_s {
  uint64_t observers;  /**< linked now (ebra_subject_count) */
  uint64_t subscribed; /**< subscriptions ever made */
  uint64_t unlinked;   /**< observers unlinked: unsubscribed, dead, destroy */
  uint64_t notifies;   /**< ebra_subject_notify calls completed */
  uint64_t calls;      /**< observer callbacks those notifies ran */
} ebra_subject_stats_t;

/** Fill *out with s's counters (relaxed loads, no lock; each exact, not one
 * instant together).  Returns 0, -EINVAL (NULL s or out) or -EBADF
 * (destroyed), each with a report; *out is zeroed on failure. */
EBRA_API int ebra_subject_stats(ebra_subject_t *s, ebra_subject_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* EBRA_OBSERVER_H */

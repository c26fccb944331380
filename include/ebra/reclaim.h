/* SPDX-License-Identifier: MIT */
/* ebra/reclaim.h — reclamation domains: read-side sections, retire, barrier.
 *
 * A domain defers the return of retired objects to their pools until every
 * read-side section that might still see them has ended (a grace period).
 * The grace periods come from a backend chosen at run time, all from
 * Debian's packages: liburcu's memb flavour (default), liburcu's qsbr
 * flavour, or Concurrency Kit's ck_epoch.  ebra batches retired objects per
 * thread and drives grace periods from its own reclaimer thread per domain,
 * so a grace period is paid per batch, never per object, and latency never
 * waits on liburcu's call_rcu worker.
 *
 * Calling context:
 *  - ebra_read_lock/unlock: any thread; nestable; never blocks.  A thread is
 *    registered with the domain on first use (or explicitly).
 *  - ebra_retire: any thread, inside or outside a section; never blocks.
 *  - ebra_domain_barrier: outside any section of that domain (-EDEADLK).
 *  - qsbr domains: a thread that called ebra_domain_register_thread is
 *    "online" and reads at no cost, and must call ebra_quiescent() between
 *    sections regularly (for a server: once per request or event-loop
 *    turn), or ebra_domain_thread_offline() before it blocks or idles; otherwise
 *    grace periods stall and retired memory grows (never corrupts).  A
 *    thread registered implicitly (first use) stays offline between its
 *    sections instead: safe, but each section pays liburcu's online and
 *    offline.  memb and ck_epoch need no such calls.
 *  - ebra_domain_destroy: after every other thread stopped using it.
 *
 * Errors: every call on a domain returns -EINVAL for a NULL domain
 * (EBRA_ERR_BAD_CALL) and -EBADF for a destroyed one, a second destroy
 * included (EBRA_ERR_USE_AFTER_DESTROY), each also reported; the comments
 * below name the other errors.  ebra_deref is a read-side resolve
 * (ebra/error.h): it returns what it loads, or NULL (reported) for a NULL
 * or destroyed domain or a NULL pp.
 */
#ifndef EBRA_RECLAIM_H
#define EBRA_RECLAIM_H

#include <stddef.h>
#include <stdint.h>

#include "ebra/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ebra_domain_s ebra_domain_t;

typedef enum ebra_reclaim_backend_e {
  EBRA_RECLAIM_DEFAULT = 0, /* EBRA_RECLAIM from the environment, else memb */
  EBRA_RECLAIM_URCU_MEMB,   /* liburcu memb: sys_membarrier-based readers */
  EBRA_RECLAIM_URCU_QSBR,   /* liburcu qsbr: free readers, explicit QS */
  EBRA_RECLAIM_CK_EPOCH     /* Concurrency Kit ck_epoch */
} ebra_reclaim_backend_t;

typedef struct ebra_domain_config_s {
  const char *name;               /* copied; NULL = "domain" */
  ebra_reclaim_backend_t backend;
  unsigned batch_size;            /* retired objects per batch; 0 = 64 */
  uint64_t max_batch_age_ns;      /* a batch older than this is closed;
                                     0 = 1 ms */
  uint64_t max_pending;           /* backlog bound: retired entries in
                                     closed batches past which retiring
                                     threads help or wait (see ebra_retire);
                                     0 = 32 x batch_size; UINT64_MAX = none */
  uint64_t stall_threshold_ns;    /* a grace period running this long is
                                     reported once (EBRA_WARN_STALL);
                                     0 = 1 s; UINT64_MAX = never */
} ebra_domain_config_t;

/* Create a domain and its reclaimer thread.  NULL with errno EINVAL (bad
 * config or EBRA_RECLAIM value, reported) or ENOMEM / EAGAIN. */
EBRA_API ebra_domain_t *ebra_domain_create(const ebra_domain_config_t *cfg);

/* Run everything retired (deferred calls that retire or defer more
 * included, to the end of the chain), stop the reclaimer, release the
 * domain.  Returns 0, -EBUSY if a weak table still uses it or another
 * thread is still registered (ebra's own threads never count), -EDEADLK
 * from a cleanup or deferred call, -EBADF if destroyed. */
EBRA_API int ebra_domain_destroy(ebra_domain_t *d);

/* Explicit registration of the calling thread (automatic on first use;
 * for qsbr see above).  Unregistering closes the thread's batch; a thread
 * exit does it too. */
EBRA_API int ebra_domain_register_thread(ebra_domain_t *d);
EBRA_API int ebra_domain_unregister_thread(ebra_domain_t *d);

/* Read-side section.  Nestable.  Pointers obtained inside stay valid until
 * the outermost unlock.  ebra_read_lock returns 0, or (nothing is locked)
 * -ENOMEM when the thread cannot be registered with d, -EBADF on a
 * destroyed domain, -EINVAL for NULL.  ebra_read_unlock ends the section
 * and returns nothing (ebra/error.h: the end of a section); an unlock
 * without a matching lock, or on a NULL or destroyed domain, does nothing
 * but a report (EBRA_ERR_BAD_CALL, EBRA_ERR_USE_AFTER_DESTROY).  Both are
 * wait-free after the thread's first section in d. */
EBRA_API int ebra_read_lock(ebra_domain_t *d);
EBRA_API void ebra_read_unlock(ebra_domain_t *d);

/* Load an RCU-published pointer inside a section (an acquire load); *pp
 * must be an _Atomic(void *) (std::atomic<void *> in C++) that the writer
 * stores with release.  Use it for pointers you publish yourself and later
 * retire: under ThreadSanitizer it also records the object, so the
 * reclaimer's grace period is visible to TSan (docs/DESIGN.md). */
EBRA_API void *ebra_deref(ebra_domain_t *d, void *const *pp);

/* Retire an object allocated from an ebra pool: it returns to its pool
 * after a grace period.  Returns 0, or -EFAULT (not a pool object), -EINVAL
 * (not the start of a live object), -EALREADY (already retired or free).
 *
 * Bounded backlog: when the entries retired and not yet reclaimed pass the
 * domain's max_pending, a thread that retires outside every read section
 * it could hold up (and is not running a cleanup or deferred call) takes
 * the pending batches and reclaims them itself (a grace period, then their
 * cleanups, deferred calls and secure clearing, on this thread), or waits
 * until the reclaimer has made room.  So cleanups and deferred calls may
 * run on any thread that retires into the domain: they must not take locks
 * a retiring thread may hold.  A retire inside a section is never held
 * back; the next retire or weak call outside one is.
 *
 * Memory exhaustion: with no memory for a batch, a thread that may wait
 * runs the grace period itself and reclaims obj at once; inside a section
 * the call returns -ENOMEM and obj stays the caller's. */
EBRA_API int ebra_retire(ebra_domain_t *d, void *obj);

/* Run fn(arg) after a grace period, on the domain's reclaimer thread, or
 * on a retiring thread that helps (see ebra_retire).  fn may retire and
 * defer more; ebra_domain_destroy runs such chains to their end. */
typedef void ebra_reclaim_fn(void *arg);
EBRA_API int ebra_retire_call(ebra_domain_t *d, ebra_reclaim_fn *fn, void *arg);

/* Wait until everything retired before the call (by any thread) has been
 * reclaimed.  -EDEADLK inside a section of d, or from a cleanup or deferred
 * call (it would wait for the round that runs it), reported. */
EBRA_API int ebra_domain_barrier(ebra_domain_t *d);

/* ebra_domain_barrier that gives up after timeout_ns: 0, or -ETIMEDOUT
 * with an EBRA_WARN_STALL report saying why (a grace period held up by a
 * section or an unquiescent qsbr thread, or cleanups still running); the
 * wait's work still completes later.  Other errors as the barrier. */
EBRA_API int ebra_domain_barrier_timeout(ebra_domain_t *d, uint64_t timeout_ns);

/* The backlog bound (see ebra_retire); 0 restores the default, UINT64_MAX
 * turns it off.  0, or -EBADF / -EINVAL. */
EBRA_API int ebra_domain_set_backlog(ebra_domain_t *d, uint64_t max_pending);

/* qsbr: announce a quiescent state / take the calling thread offline in d
 * / bring it back online.  Cheap no-ops for the other backends and for a
 * thread not registered with d.  0, or -EBADF (destroyed) / -EINVAL (NULL). */
EBRA_API int ebra_quiescent(ebra_domain_t *d);
EBRA_API int ebra_domain_thread_offline(ebra_domain_t *d);
EBRA_API int ebra_domain_thread_online(ebra_domain_t *d);

/* Batching knobs (the strategy engine tunes them).  0 keeps a value. */
EBRA_API int ebra_domain_set_batching(ebra_domain_t *d, unsigned batch_size,
                                      uint64_t max_batch_age_ns);

/* The backend d runs on; EBRA_RECLAIM_DEFAULT (and a report) for a NULL or
 * destroyed domain. */
EBRA_API ebra_reclaim_backend_t ebra_domain_backend(const ebra_domain_t *d);
EBRA_API const char *ebra_reclaim_backend_name(ebra_reclaim_backend_t b);

typedef struct ebra_domain_stats_s {
  uint64_t retired;          /* objects and calls retired */
  uint64_t reclaimed;        /* returned to pools / called */
  uint64_t pending;          /* retired - reclaimed */
  uint64_t pending_bytes;    /* bytes of pool objects among pending */
  uint64_t grace_periods;    /* completed by the reclaimer */
  uint64_t batches;          /* batches reclaimed */
  uint64_t gp_ns_p50, gp_ns_p90, gp_ns_p99, gp_ns_max; /* grace-period
                                latency over the last 1024 periods */
  uint64_t reuse_ns_p50, reuse_ns_p99; /* retire -> back in its pool
                                (reusable), per sampled object: one per
                                batch, last 1024 samples (DESIGN.md) */
  uint32_t threads;          /* registered threads (not ebra's own) */
  unsigned batch_size;
  uint64_t max_batch_age_ns;
  uint64_t reuse_ns_max;
  uint64_t cleanup_ns_p50, cleanup_ns_p99, cleanup_ns_max; /* retire -> its
                                cleanup / deferred call / return has run,
                                same samples */
  uint64_t max_pending;      /* the backlog bound in force */
  uint64_t helped_rounds;    /* rounds run by retiring threads */
  uint64_t stalls;           /* stalled grace periods reported */
  uint64_t stalled_ns;       /* age of the running grace period, if it is
                                past the stall threshold; else 0 */
} ebra_domain_stats_t;

EBRA_API int ebra_domain_stats(ebra_domain_t *d, ebra_domain_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* EBRA_RECLAIM_H */

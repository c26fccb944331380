/* SPDX-License-Identifier: MIT */
/** @file ebra/reclaim.h
 * @brief reclamation domains: read-side sections, retire, barrier.
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
 *    offline (two full fences); its first section in a domain reports
 *    EBRA_WARN_SLOW_READER, once per domain, with this fix.  memb and
 *    ck_epoch need no such calls.
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

/** A reclamation domain (opaque). */
typedef struct ebra_domain_s ebra_domain_t;

/** Where a domain's grace periods come from. */
typedef enum ebra_reclaim_backend_e {
  EBRA_RECLAIM_DEFAULT = 0, /**< the reclaim option: EBRA_RECLAIM or
                                 ebra_option_set, else memb */
  EBRA_RECLAIM_URCU_MEMB,   /**< liburcu memb: sys_membarrier-based readers */
  EBRA_RECLAIM_URCU_QSBR,   /**< liburcu qsbr: free readers, explicit QS */
  EBRA_RECLAIM_CK_EPOCH     /**< Concurrency Kit ck_epoch */
} ebra_reclaim_backend_t;

/** Options of ebra_domain_create (a NULL config is all defaults). */
typedef struct ebra_domain_config_s {
  const char *name;               /**< copied; NULL = "domain" */
  ebra_reclaim_backend_t backend; /**< EBRA_RECLAIM_DEFAULT (0): the reclaim
                                     option (ebra/options.h, precedence) */
  unsigned batch_size;            /**< retired objects per batch; 0 = 64 */
  uint64_t max_batch_age_ns;      /**< a batch older than this is closed;
                                     0 = 1 ms */
  uint64_t max_pending;           /**< backlog bound: retired entries in
                                     closed batches past which retiring
                                     threads help or wait (see ebra_retire);
                                     0 = 32 x batch_size; UINT64_MAX = none */
  uint64_t stall_threshold_ns;    /**< a grace period running this long is
                                     reported once (EBRA_WARN_STALL);
                                     0 = 1 s; UINT64_MAX = never */
} ebra_domain_config_t;

/** Create a domain and its reclaimer thread.  Returns the domain, or NULL
 * with errno EINVAL (bad config, reported), ENOMEM or EAGAIN (no thread).
 * A bad EBRA_RECLAIM value is no error here: it was reported once when the
 * options were read, and memb is used. */
EBRA_API ebra_domain_t *ebra_domain_create(const ebra_domain_config_t *cfg);

/** Run everything retired (deferred calls that retire or defer more
 * included, to the end of the chain), stop the reclaimer, release the
 * domain.  Returns 0, -EBUSY if a weak table still uses it or another
 * thread is still registered (ebra's own threads never count), -EDEADLK
 * from a cleanup or deferred call, -EBADF if destroyed. */
EBRA_API int ebra_domain_destroy(ebra_domain_t *d);

/** Register the calling thread with d explicitly (it is registered
 * automatically on first use; for qsbr see above: an explicitly registered
 * thread is online).  Takes the registry lock.  Returns 0 (also when
 * already registered), -ENOMEM (the thread's state could not be
 * allocated), -EINVAL (NULL d) or -EBADF (destroyed). */
EBRA_API int ebra_domain_register_thread(ebra_domain_t *d);
/** Unregister the calling thread from d: its open retire batch is closed
 * and handed to the reclaimer; a thread's exit does the same.  Takes the
 * registry lock.  Returns 0 (also when not registered), -EBUSY with a
 * report inside a read section of d, -EINVAL or -EBADF. */
EBRA_API int ebra_domain_unregister_thread(ebra_domain_t *d);

/** Read-side section.  Nestable.  Pointers obtained inside stay valid until
 * the outermost unlock.  ebra_read_lock returns 0, or (nothing is locked)
 * -ENOMEM when the thread cannot be registered with d, -EBADF on a
 * destroyed domain, -EINVAL for NULL.  ebra_read_unlock ends the section
 * and returns nothing (ebra/error.h: the end of a section); an unlock
 * without a matching lock, or on a NULL or destroyed domain, does nothing
 * but a report (EBRA_ERR_BAD_CALL, EBRA_ERR_USE_AFTER_DESTROY).  Both are
 * wait-free after the thread's first section in d. */
EBRA_API int ebra_read_lock(ebra_domain_t *d);
/** End the innermost section of d (see ebra_read_lock).  Returns nothing:
 * misuse is only reported.  Wait-free. */
EBRA_API void ebra_read_unlock(ebra_domain_t *d);

/** Returns the RCU-published pointer *pp, loaded inside a section (an acquire load); *pp
 * must be an _Atomic(void *) (std::atomic<void *> in C++) that the writer
 * stores with release.  Use it for pointers you publish yourself and later
 * retire: under ThreadSanitizer it also records the object, so the
 * reclaimer's grace period is visible to TSan (docs/DESIGN.md). */
EBRA_API void *ebra_deref(ebra_domain_t *d, void *const *pp);

/** Retire an object allocated from an ebra pool: it returns to its pool
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

/** A function ebra_retire_call runs after a grace period. */
typedef void ebra_reclaim_fn(void *arg);
/** Run fn(arg) once, after a grace period that begins after this call, on
 * the domain's reclaimer thread or on a retiring thread that helps (see
 * ebra_retire); ebra_domain_barrier waits for it.  fn may retire and defer
 * more; ebra_domain_destroy runs such chains to their end.  Any thread,
 * inside or outside a section; held back only by the backlog bound, as
 * ebra_retire.
 * Returns 0, -EINVAL with a report (NULL d or fn), -EBADF (destroyed) or
 * -ENOMEM (the thread's state or a new retire batch could not be
 * allocated). */
EBRA_API int ebra_retire_call(ebra_domain_t *d, ebra_reclaim_fn *fn, void *arg);

/** Wait until everything retired before the call (by any thread) has been
 * reclaimed.  Blocks.  Returns 0, or -EDEADLK with a report inside a
 * section of d or from a cleanup or deferred call (it would wait for the
 * round that runs it), -EINVAL or -EBADF. */
EBRA_API int ebra_domain_barrier(ebra_domain_t *d);

/** ebra_domain_barrier that gives up after timeout_ns.  Returns 0, or
 * -ETIMEDOUT with an EBRA_WARN_STALL report saying why (a grace period
 * held up by a section or an unquiescent qsbr thread, or cleanups still
 * running); the wait's work still completes later.  Other errors as the
 * barrier. */
EBRA_API int ebra_domain_barrier_timeout(ebra_domain_t *d, uint64_t timeout_ns);

/** Set the backlog bound (see ebra_retire); 0 restores the default,
 * UINT64_MAX turns it off.  Returns 0, or -EBADF / -EINVAL. */
EBRA_API int ebra_domain_set_backlog(ebra_domain_t *d, uint64_t max_pending);

/** qsbr: announce a quiescent state of the calling thread in d.  A cheap
 * no-op for the other backends and for a thread not registered with d.
 * Returns 0, or -EBADF (destroyed) / -EINVAL (NULL). */
EBRA_API int ebra_quiescent(ebra_domain_t *d);
/** qsbr: take the calling thread offline in d (before it blocks or idles).
 * A no-op otherwise.  Returns 0, -EBADF or -EINVAL. */
EBRA_API int ebra_domain_thread_offline(ebra_domain_t *d);
/** qsbr: bring the calling thread back online in d.  A no-op otherwise.
 * Returns 0, -EBADF or -EINVAL. */
EBRA_API int ebra_domain_thread_online(ebra_domain_t *d);

/** Set the batching knobs: retired objects per batch (at most 65536) and
 * the age at which an open batch is closed; 0 keeps a value.  The strategy
 * engine tunes them too; the last writer wins.  Any thread.  Returns 0,
 * -EINVAL with a report (batch_size above 65536, NULL d) or -EBADF. */
EBRA_API int ebra_domain_set_batching(ebra_domain_t *d, unsigned batch_size,
                                      uint64_t max_batch_age_ns);

/** Returns the backend d runs on; EBRA_RECLAIM_DEFAULT (and a report) for a
 * NULL or destroyed domain. */
EBRA_API ebra_reclaim_backend_t ebra_domain_backend(const ebra_domain_t *d);
/** Returns the backend's name: "urcu-memb", "urcu-qsbr", "ck-epoch", or
 * "default" for anything else.  Never NULL; thread-safe. */
EBRA_API const char *ebra_reclaim_backend_name(ebra_reclaim_backend_t b);

/** The latency histograms' buckets (ebra_domain_stats_t.gp_ns_hist and
 * reuse_ns_hist): bucket i counts latencies <= EBRA_LATENCY_BOUNDS_NS[i]
 * and above the bound before it; the last bucket counts those above every
 * bound.  Bounds in ns, 10 us to 10 s, about three per decade. */
#define EBRA_LATENCY_BUCKETS 14
/** The bucket bounds in ns, an initialiser of EBRA_LATENCY_BUCKETS - 1
 * uint64_t values. */
#define EBRA_LATENCY_BOUNDS_NS                                                        \
  {10000ull, 30000ull, 100000ull, 300000ull, 1000000ull, 3000000ull, 10000000ull,     \
   30000000ull, 100000000ull, 300000000ull, 1000000000ull, 3000000000ull, 10000000000ull}

/** A domain's counters and latencies (ebra_domain_stats). */
typedef struct ebra_domain_stats_s {
  uint64_t retired;          /**< objects and calls retired */
  uint64_t reclaimed;        /**< returned to pools / called */
  uint64_t pending;          /**< retired - reclaimed */
  uint64_t pending_bytes;    /**< bytes of pool objects among pending */
  uint64_t grace_periods;    /**< completed by the reclaimer */
  uint64_t batches;          /**< batches reclaimed */
  uint64_t gp_ns_p50;        /**< median grace-period latency, last 1024 periods */
  uint64_t gp_ns_p90;        /**< 90th percentile, last 1024 periods */
  uint64_t gp_ns_p99;        /**< 99th percentile, last 1024 periods */
  uint64_t gp_ns_max;        /**< longest of the last 1024 periods */
  uint64_t reuse_ns_p50;     /**< median retire -> back in its pool
                                (reusable), per sampled object: one per
                                batch, last 1024 samples (DESIGN.md) */
  uint64_t reuse_ns_p99;     /**< its 99th percentile */
  uint32_t threads;          /**< registered threads (not ebra's own) */
  unsigned batch_size;       /**< retired objects per batch now */
  uint64_t max_batch_age_ns; /**< age at which an open batch is closed */
  uint64_t reuse_ns_max;     /**< the longest of those samples */
  uint64_t cleanup_ns_p50;   /**< median retire -> its cleanup / deferred
                                call / return has run, same samples */
  uint64_t cleanup_ns_p99;   /**< its 99th percentile */
  uint64_t cleanup_ns_max;   /**< its longest */
  uint64_t max_pending;      /**< the backlog bound in force */
  uint64_t helped_rounds;    /**< rounds run by retiring threads */
  uint64_t stalls;           /**< stalled grace periods reported */
  uint64_t stalled_ns;       /**< age of the running grace period, if it is
                                past the stall threshold; else 0 */
  /** Every grace period since the domain was created, by latency
   * (EBRA_LATENCY_BOUNDS_NS; each bucket alone, not cumulative): a
   * histogram that adds up across domains and processes. */
  uint64_t gp_ns_hist[EBRA_LATENCY_BUCKETS];
  uint64_t gp_ns_sum;        /**< the sum of those grace periods, ns */
  uint64_t reuse_ns_hist[EBRA_LATENCY_BUCKETS]; /**< every reuse sample
                                (retire -> reusable), by latency, likewise */
  uint64_t reuse_ns_sum;     /**< the sum of those samples, ns */
} ebra_domain_stats_t;

/** Fill *out with d's stats.  Any thread; takes d's threads_lock and lock
 * briefly (never waits for a grace period).  Returns 0, -EINVAL with a
 * report (NULL d or out) or -EBADF. */
EBRA_API int ebra_domain_stats(ebra_domain_t *d, ebra_domain_stats_t *out);

/* ---- Inline read sections ---------------------------------------------------
 * ebra_read_lock_inline / ebra_read_unlock_inline are ebra_read_lock /
 * ebra_read_unlock compiled into the caller: same contract, same errors,
 * same reports.  Define EBRA_INLINE to 1 before including ebra.h and the
 * plain names expand to them (a call through a function pointer, or
 * &ebra_read_lock, still reaches the exported function).  The exported
 * functions are built from the same code (ebra__read_lock below, with
 * the library's own slow paths), so the two cannot differ.
 *
 * They reach the calling thread's state in d through a thread-local table
 * of ebra's (initial-exec TLS) and contain no code of a dependency: what a
 * backend does at the outermost lock and unlock (liburcu memb's reader
 * counter, ck_epoch_begin/end, a qsbr thread coming online) is a call into
 * libebra, through the function d keeps for its backend (one indirect
 * call: no PLT stub, no switch on the backend).  A qsbr thread that is
 * online does nothing but its nesting count.
 * The first section of a thread in d, a domain with a registry id >= 16,
 * and every misuse take the exported function.  The slot is found from d
 * in two loads and an add to the thread pointer: d's serial and the slot's
 * offset, which d keeps from its creation.
 *
 * Everything named ebra__* / EBRA__* is ebra's private layout for these
 * inline paths, not API: do not use it.  Its exported symbols carry the
 * read-side layout number (_R3), so an application built against one
 * layout fails to link or load against a libebra with another (the pool's
 * inline paths, ebra/pool_inline.h, do the same with their own number).
 * A program that dlopen()s libebra cannot use them (initial-exec TLS); a
 * compiler without GNU C extensions, or EBRA_NO_INLINE defined, makes them
 * the exported calls. */

#if defined(__GNUC__)
#define EBRA__RD_LAYOUT 3
#define EBRA__RD_TLS ebra__rd_tls_R3
#define EBRA__RD_SLOTS 16

/* A thread's read-side state in one domain. */
typedef struct ebra__rd_slot_s {
  uint64_t serial; /* the domain's serial while this thread is registered
                      with it; 0: none.  Owner thread only, like the rest */
  uint32_t nest;   /* open sections (EBRA__RD_NEST), and
                      EBRA__RD_OUTER: the outermost lock and unlock call
                      the backend (the domain's lock_outer / unlock_outer) */
  uint32_t pad_;
  void *owner;     /* ebra's */
} ebra__rd_slot_t;
#define EBRA__RD_OUTER 0x80000000u
#define EBRA__RD_NEST 0x7fffffffu

typedef int ebra__lock_slow_fn(ebra_domain_t *d);
typedef void ebra__unlock_slow_fn(ebra_domain_t *d);
typedef void ebra__outer_fn(ebra_domain_t *d, ebra__rd_slot_t *s);

/* The head of every ebra_domain_t (ebra checks this at build time):
 * its serial at EBRA__DOMAIN_SERIAL, then at EBRA__DOMAIN_RD, in the same
 * cache line, the thread's slot in it: a
 * thread-pointer offset, and an index into EBRA__RD_TLS (the
 * EBRA__RD_SLOTS-th slot, never anybody's, for a domain with no slot
 * of its own); then the backend's share of the outermost lock and unlock,
 * functions of libebra chosen at create for d's backend.  Written once,
 * before d is handed out. */
#define EBRA__DOMAIN_SERIAL 64
#define EBRA__DOMAIN_RD 80
typedef struct ebra__domain_rd_s {
  intptr_t tpoff;
  uint32_t index;
  uint32_t pad_;
  ebra__outer_fn *lock_outer;
  ebra__outer_fn *unlock_outer;
} ebra__domain_rd_t;

/* The calling thread's slots, by domain registry id. */
EBRA_API extern __thread ebra__rd_slot_t EBRA__RD_TLS[EBRA__RD_SLOTS + 1]
    __attribute__((tls_model("initial-exec")));

#if defined(__has_builtin)
#if __has_builtin(__builtin_thread_pointer)
#define EBRA__TP 1 /* the slot is one add from the thread pointer */
#endif
#endif

static inline __attribute__((always_inline)) const ebra__domain_rd_t *
ebra__domain_rd(const ebra_domain_t *d) {
  return (const ebra__domain_rd_t *)(const void *)((const char *)d + EBRA__DOMAIN_RD);
}

/* The calling thread's slot in d, or NULL (NULL d, no slot for d's id,
 * not registered, or d destroyed: its serial no longer matches). */
static inline __attribute__((always_inline)) ebra__rd_slot_t *
ebra__rd_slot(const ebra_domain_t *d) {
  if (__builtin_expect(d == NULL, 0))
    return NULL;
  const ebra__domain_rd_t *rd = ebra__domain_rd(d);
#if defined(EBRA__TP)
  ebra__rd_slot_t *s =
      (ebra__rd_slot_t *)(void *)((char *)__builtin_thread_pointer() + rd->tpoff);
#else
  ebra__rd_slot_t *s = &EBRA__RD_TLS[rd->index];
#endif
  const uint64_t serial =
      *(const uint64_t *)(const void *)((const char *)d + EBRA__DOMAIN_SERIAL);
  return __builtin_expect(s->serial == serial, 1) ? s : NULL;
}

/* Open (or nest) / close a section on the thread's slot s in d: the count
 * and the OUTER flag in one word, so "outermost, and the backend needs a
 * call" is one compare. */
static inline __attribute__((always_inline)) void
ebra__rd_enter(ebra_domain_t *d, ebra__rd_slot_t *s, ebra__outer_fn *outer) {
  if (s->nest++ == EBRA__RD_OUTER)
    outer(d, s);
}
static inline __attribute__((always_inline)) void
ebra__rd_leave(ebra_domain_t *d, ebra__rd_slot_t *s, ebra__outer_fn *outer) {
  if (--s->nest == EBRA__RD_OUTER)
    outer(d, s);
}

/* The outer calls of the inline paths: d's own function for its backend,
 * one indirect call (no PLT stub, no switch on the backend).  The library
 * passes its own outer functions instead, which compile the backend's code
 * into its exported lock and unlock. */
static inline __attribute__((always_inline)) void ebra__rd_lock_outer(ebra_domain_t *d,
                                                                      ebra__rd_slot_t *s) {
  ebra__domain_rd(d)->lock_outer(d, s);
}
static inline __attribute__((always_inline)) void ebra__rd_unlock_outer(ebra_domain_t *d,
                                                                        ebra__rd_slot_t *s) {
  ebra__domain_rd(d)->unlock_outer(d, s);
}

/* The one body of ebra_read_lock, inline and exported. */
static inline __attribute__((always_inline)) int
ebra__read_lock(ebra_domain_t *d, ebra__lock_slow_fn *slow, ebra__outer_fn *outer) {
  ebra__rd_slot_t *s = ebra__rd_slot(d);
  if (__builtin_expect(s == NULL, 0))
    return slow(d);
  ebra__rd_enter(d, s, outer);
  return 0;
}

/* The one body of ebra_read_unlock, inline and exported. */
static inline __attribute__((always_inline)) void
ebra__read_unlock(ebra_domain_t *d, ebra__unlock_slow_fn *slow, ebra__outer_fn *outer) {
  ebra__rd_slot_t *s = ebra__rd_slot(d);
  if (__builtin_expect(s == NULL || (s->nest & EBRA__RD_NEST) == 0, 0)) {
    slow(d);
    return;
  }
  ebra__rd_leave(d, s, outer);
}

#endif /* __GNUC__ */

#if defined(__GNUC__) && !defined(EBRA_NO_INLINE)
/** ebra_read_lock compiled into the caller: same contract, errors and
 * reports (see "Inline read sections" above).  Returns what
 * ebra_read_lock returns: 0, -ENOMEM, -EBADF or -EINVAL. */
static inline __attribute__((always_inline)) int ebra_read_lock_inline(ebra_domain_t *d) {
  return ebra__read_lock(d, ebra_read_lock, ebra__rd_lock_outer);
}

/** ebra_read_unlock compiled into the caller: same contract and reports. */
static inline __attribute__((always_inline)) void ebra_read_unlock_inline(ebra_domain_t *d) {
  ebra__read_unlock(d, ebra_read_unlock, ebra__rd_unlock_outer);
}
#else
static inline int ebra_read_lock_inline(ebra_domain_t *d) { return ebra_read_lock(d); }
static inline void ebra_read_unlock_inline(ebra_domain_t *d) { ebra_read_unlock(d); }
#endif

#if defined(EBRA_INLINE) && EBRA_INLINE
#define ebra_read_lock(d) ebra_read_lock_inline(d)
#define ebra_read_unlock(d) ebra_read_unlock_inline(d)
#endif

#ifdef __cplusplus
}
#endif
#endif /* EBRA_RECLAIM_H */

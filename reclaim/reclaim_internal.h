/* SPDX-License-Identifier: MIT */
/* reclaim/reclaim_internal.h — the reclamation floor's internal
 * declarations: domains, per-thread domain state, retire batches, the
 * backends.  Included by reclaim/ and the floors above it, never below.
 * Types first, with their invariants next to the fields; then functions
 * grouped by the file that defines them. */
#ifndef EBI_RECLAIM_INTERNAL_H
#define EBI_RECLAIM_INTERNAL_H

#include "internal.h"
#include "ebra/reclaim.h"

#if defined(EBRA_INLINE) && EBRA_INLINE
#error "EBRA_INLINE is for applications: libebra defines the exported functions"
#endif

/* ---- types ---------------------------------------------------------------- */

typedef struct ebi_dthread_s ebi_dthread_t;

/* One deferred action, run by the reclaimer after a grace period:
 * run(e).  ref.obj is what readers may have touched (the TSan acquire
 * target).  An entry that gives a pool object back carries the holder's
 * claim in ref (src/internal.h, "object.c"), so the reclaimer returns it
 * with no lookup; the pending-bytes stat counts ref.pool's object size.
 * Other entries have ref.pool == NULL.  ctx/aux are the action's own (a
 * user callback, a weak table and handle, ...). */
typedef struct ebi_retired_s ebi_retired_t;
struct ebi_retired_s {
  void (*run)(const ebi_retired_t *e);
  ebi_objref_t ref;
  void *ctx;
  uint64_t aux;
};

/* A batch of retired entries.  Owned by one thread while open (under its
 * dthread's batch_lock), then by the domain's pending stack, then by the
 * reclaimer. */
typedef struct ebi_batch_s {
  struct ebi_batch_s *next; /* domain->pending, under domain->lock */
  uint64_t opened_ns;     /* when the first entry went in */
  uint64_t bytes;
  uint32_t n, cap;
  /* Latency sample (docs/DESIGN.md, "Per-object latency"): the entry at
   * sample_i was retired at sample_ns (entry 0 and opened_ns when the batch
   * closed before reaching sample_i); cleanup_ns: retire -> its run ended. */
  uint32_t sample_i;
  uint64_t sample_ns, cleanup_ns;
  ebi_retired_t ent[];
} ebi_batch_t;

/* TSan builds: objects a reader dereferenced in its current section. */
typedef struct ebi_tsan_notes_s {
  void **objs;
  uint32_t n, cap;
} ebi_tsan_notes_t;

/* One thread's state in one domain.  Its read side (nesting, whether the
 * outermost lock calls the backend) is in rd, which the inline fast paths
 * of ebra/reclaim.h read too: the thread's slot in EBRA__RD_TLS for a
 * domain id below EBRA__RD_SLOTS, else rd_own.  Owner thread only. */
struct ebi_dthread_s {
  ebra_domain_t *domain;
  ebra__rd_slot_t *rd;     /* rd->owner == this dthread */
  ebra__rd_slot_t rd_own;  /* rd for ids >= EBRA__RD_SLOTS */
  ebi_dthread_t *qsbr_next;    /* the thread's qsbr registrations
                                  (ebi_rcu_thread_t.qsbr_list) */
  struct ck_epoch_record *ck_record; /* ck backend */
  pthread_mutex_t batch_lock;  /* guards open; owner, barrier, reclaimer */
  ebi_batch_t *open;          /* the batch being filled, or NULL */
  _Atomic uint64_t xopen_since_ns; /* 0 when no open batch has entries */
  _Atomic uint64_t xretired;   /* owner single-writer counters */
  _Atomic uint64_t xretired_bytes;
  ebi_tsan_notes_t notes;
  bool ebra_own;               /* a reclaimer or helper of ebra's own: never
                                  counts against destroy (set at attach) */
  int tid;                     /* the owner's kernel thread id (stall reports) */
  pthread_t self;              /* the owner, for its name (stall reports) */
  struct cds_list_head *urcu_node; /* liburcu backends: the owner's reader
                                      record's registry link (fork.c) */
  ebi_dthread_t *next, *prev; /* domain->threads, under domain->threads_lock */
};

/* A source of retired entries that needed no memory to retire (the
 * retire-under-ENOMEM path, docs/DESIGN.md): take() empties it (lock-free),
 * at the start of a round before its grace period; run() then runs what it
 * took, after the grace period.  Linked into domain->sources under
 * domain->lock by its owner (a weak table), which unlinks it before it
 * goes. */
typedef struct ebi_reclaim_source_s {
  void *(*take)(void *ctx);
  uint64_t (*run)(void *ctx, void *taken); /* returns how many entries ran */
  void *ctx;
  struct ebi_reclaim_source_s *next;
} ebi_reclaim_source_t;

#define EBI_LATENCY_RING 1024

struct ebra_domain_s {
  /* Read by every section (life.serial and .id by ebi_dthread_of, backend
   * by the lock and unlock): written only at create and destroy. */
  ebi_life_t life;             /* first member (src/life.c) */
  ebra__domain_rd_t rd;    /* where a thread's slot for this domain is
                                  (ebra/reclaim.h, EBRA__DOMAIN_RD) */
  ebra_reclaim_backend_t backend;
  _Atomic uint32_t xbatch_size;
  _Atomic uint64_t xmax_age_ns;
  struct ck_epoch *ck_epoch;   /* ck backend */

  /* What the reclaimer and registration write starts on a cache line of
   * its own (the domain is 64-byte aligned), so those writes never evict
   * the line that readers' sections load. */
  pthread_mutex_t threads_lock __attribute__((aligned(64))); /* threads list;
                                  then a dthread's batch_lock */
  ebi_dthread_t *threads;
  uint32_t nthreads;
  uint32_t nown;               /* of nthreads, ebra's own (ebra_own) */
  uint64_t exited_retired, exited_retired_bytes; /* threads gone; threads_lock */

  pthread_mutex_t lock;        /* reclaimer state below */
  pthread_cond_t wake;         /* reclaimer waits here */
  pthread_cond_t done;         /* barrier waiters wait here */
  pthread_t reclaimer;
  ebi_batch_t *pending;       /* closed batches awaiting a grace period */
  bool stop, reclaimer_idle, reclaimer_running;
  bool kicked;                 /* a source has entries (ebi_domain_kick) */
  uint64_t barrier_req, barrier_done;
  _Atomic uint32_t xweak_tables;
  _Atomic uint32_t xtold_implicit_qsbr; /* 1 once EBRA_WARN_SLOW_READER was
                                  reported for this domain (backend.c) */
  uint64_t open_seq;           /* batches opened; under lock (wakes the reclaimer) */
  /* Backlog (docs/DESIGN.md, "Bounded backlog"): entries in closed batches,
   * on the pending list or in a running round; written under lock, read
   * relaxed by the retire path's check. */
  _Atomic uint64_t xinflight;
  _Atomic uint64_t xmax_pending; /* 0: EBI_BACKLOG_BATCHES x batch size */
  uint32_t helping;            /* rounds run by retiring threads; under lock */
  pthread_cond_t room;         /* throttled retirers and the reclaimer wait */
  ebi_reclaim_source_t *sources; /* under lock */

  /* Stall watch (docs/DESIGN.md, "Stalls"): written by the reclaimer, read
   * by the watchdog thread. */
  _Atomic uint64_t xgp_since_ns; /* start of the running grace period, or 0 */
  _Atomic uint64_t xgp_seq;      /* grace periods started */
  _Atomic uint64_t xstall_ns;    /* the report threshold */
  _Atomic uint64_t xstalls;      /* stalls reported */
  uint64_t stall_reported_seq;   /* watchdog only (registry lock) */

  /* Reclaimer-written stats, read relaxed. */
  _Atomic uint64_t xreclaimed, xreclaimed_bytes, xgrace_periods, xbatches, xhelped;
  uint64_t nsamples;                     /* under lock */
  uint64_t gp_ns[EBI_LATENCY_RING];      /* under lock */
  uint64_t reuse_ns[EBI_LATENCY_RING];   /* per-object samples; under lock */
  uint64_t cleanup_ns[EBI_LATENCY_RING]; /* per-object samples; under lock */
  uint64_t gp_hist[EBRA_LATENCY_BUCKETS], gp_sum;       /* every grace period; under lock */
  uint64_t reuse_hist[EBRA_LATENCY_BUCKETS], reuse_sum; /* every reuse sample; under lock */
};

#define EBI_BACKLOG_BATCHES 32u

/* ---- backend.c: the one place that calls liburcu and ck_epoch ---------- */

/* The calling thread's liburcu state.  liburcu registers threads, and keeps
 * qsbr's online state, per thread, shared by every domain of a flavour, so
 * ebra keeps it per thread too, in the reclamation floor's own TLS.
 *   memb_users, qsbr_users: domains of that flavour the thread is in; it is
 *       registered with liburcu while > 0;
 *   qsbr_list: its dthreads in qsbr domains (qsbr_users of them), whose
 *       rd->nest say which qsbr sections are open: the thread is online
 *       while any is;
 *   qsbr_resting_offline: the thread is offline outside sections; every
 *       rd of qsbr_list has EBRA__RD_OUTER set exactly while this is
 *       true (or always, under TSan);
 *   qsbr_implicit: it rests offline because it was registered by first
 *       use, not by choice (told once per domain, on its first section).
 * Owner thread only. */
typedef struct ebi_rcu_thread_s {
  uint32_t memb_users;
  uint32_t qsbr_users;
  ebi_dthread_t *qsbr_list;
  bool qsbr_resting_offline;
  bool qsbr_implicit;
} ebi_rcu_thread_t;
EBI_INTERNAL_FN extern __thread ebi_rcu_thread_t ebi_tls_rcu
    __attribute__((tls_model("initial-exec")));

/* fork.c: domains across fork (F1-F3 there).  Every reclaim round runs
 * between round_enter and round_leave; the gate is held around every
 * grace period ebra asks liburcu for; own_node is the calling thread's
 * reader record link; forget_dead unlinks a record of a thread that did
 * not survive a fork (fork child only); lost_rounds: in a fork child,
 * whether the fork went ahead with a round possibly in flight. */
struct cds_list_head;
EBI_INTERNAL_FN void ebi_round_enter(void);
EBI_INTERNAL_FN void ebi_round_leave(void);
EBI_INTERNAL_FN bool ebi_fork_lost_rounds(void);
EBI_INTERNAL_FN void ebi_urcu_gate_enter(void);
EBI_INTERNAL_FN void ebi_urcu_gate_leave(void);
EBI_INTERNAL_FN struct cds_list_head *ebi_urcu_own_node(ebra_reclaim_backend_t b);
EBI_INTERNAL_FN void ebi_urcu_forget_dead(struct cds_list_head *node);

EBI_INTERNAL_FN int ebi_backend_init_domain(ebra_domain_t *d);
EBI_INTERNAL_FN void ebi_backend_fini_domain(ebra_domain_t *d);
EBI_INTERNAL_FN int ebi_backend_register(ebra_domain_t *d, ebi_dthread_t *dt);
EBI_INTERNAL_FN void ebi_backend_unregister(ebra_domain_t *d, ebi_dthread_t *dt, ebi_thread_t *t);
/* qsbr: the calling thread's first section rests offline (reported once per
 * domain when the thread never chose it); its last one went offline. */
EBI_INTERNAL_FN void ebi_backend_qsbr_enter_resting(ebra_domain_t *d);
EBI_INTERNAL_FN void ebi_backend_qsbr_leave_resting(void);
/* The calling thread's qsbr domains with a section open (liburcu's qsbr
 * flavour is process-wide: any of them holds every qsbr grace period). */
EBI_INTERNAL_FN uint32_t ebi_backend_qsbr_sections_open(void);
EBI_INTERNAL_FN void ebi_backend_synchronize(ebra_domain_t *d);
EBI_INTERNAL_FN void ebi_backend_quiescent(ebra_domain_t *d, ebi_dthread_t *dt);
EBI_INTERNAL_FN void ebi_backend_offline(ebra_domain_t *d, ebi_dthread_t *dt);
EBI_INTERNAL_FN void ebi_backend_online(ebra_domain_t *d, ebi_dthread_t *dt);
EBI_INTERNAL_FN bool ebi_backend_is_online(const ebra_domain_t *d);

/* ---- domain.c ------------------------------------------------------------- */
EBI_INTERNAL_FN ebi_dthread_t *ebi_dthread_get(ebra_domain_t *d);
EBI_INTERNAL_FN int ebi_retire_entry(ebra_domain_t *d, const ebi_retired_t *e);
/* ebra_retire_call without the backlog wait, for ebra's own callers that
 * may hold a lock a cleanup takes (ebi_retire_entry never waits either). */
EBI_INTERNAL_FN int ebi_retire_call_nowait(ebra_domain_t *d, ebra_reclaim_fn *fn, void *arg);
/* Past the backlog bound, a thread that can wait for a grace period (not
 * inside a section, not one of ebra's own threads) helps reclaim or waits
 * for room.  The public retire calls do it after they retired; ebra's own
 * callers call it once they hold no lock and have left their section. */
EBI_INTERNAL_FN void ebi_domain_throttle(ebra_domain_t *d);
/* Link / unlink a source of memory-free retired entries (see the type). */
EBI_INTERNAL_FN void ebi_domain_add_source(ebra_domain_t *d, ebi_reclaim_source_t *s);
EBI_INTERNAL_FN void ebi_domain_remove_source(ebra_domain_t *d, ebi_reclaim_source_t *s);
/* Ask the reclaimer for a round soon (a source has entries). */
EBI_INTERNAL_FN void ebi_domain_kick(ebra_domain_t *d);
/* True while the calling thread runs retired entries (the reclaimer, or a
 * helper): it must not wait for a grace period or a barrier. */
EBI_INTERNAL_FN bool ebi_in_reclaim(void);
EBI_INTERNAL_FN void ebi_dthread_release_locked(ebi_dthread_t *dt, ebi_thread_t *t);
/* The live domain at registry id, or NULL; the registry's length.  Registry
 * lock held. */
static inline ebra_domain_t *ebi_domain_registry_at(uint32_t id) {
  return (ebra_domain_t *)ebi_life_at_locked(EBI_KIND_DOMAIN, id);
}
static inline uint32_t ebi_domain_registry_capacity(void) {
  return ebi_life_capacity_locked(EBI_KIND_DOMAIN);
}
/* Ask the reclaimer to close every open batch and run a grace period now,
 * without waiting for it (the engine's forced grace period). */
EBI_INTERNAL_FN void ebi_domain_request_flush(ebra_domain_t *d);

/* The calling thread's state in d, or NULL (src/internal.h, thread slots). */
static inline ebi_dthread_t *ebi_dthread_of(const ebra_domain_t *d) {
  return (ebi_dthread_t *)ebi_thread_state_of(EBI_SLOTS_DOMAIN, d->life.id, d->life.serial);
}

/* Sections of d the owner of dt has open. */
static inline uint32_t ebi_dthread_nest(const ebi_dthread_t *dt) {
  return dt->rd->nest & EBRA__RD_NEST;
}
/* Whether dt's outermost lock and unlock call the backend (backend.c). */
static inline void ebi_dthread_set_outer(ebi_dthread_t *dt, bool outer) {
  dt->rd->nest = (dt->rd->nest & EBRA__RD_NEST) | (outer ? EBRA__RD_OUTER : 0);
}
/* Where the calling thread's slot for d is, for every thread (static TLS:
 * the same thread-pointer offset in each), and d's backend's share of the
 * outermost lock and unlock; at create, once d->life.id is known. */
EBI_INTERNAL_FN void ebi_domain_locate_rd(ebra_domain_t *d);

/* The library's own read lock and unlock: the bodies the exported functions
 * and ebra/reclaim.h's inline ones share (domain.c). */
EBI_INTERNAL_FN int ebi_read_lock_slow(ebra_domain_t *d);
EBI_INTERNAL_FN void ebi_read_unlock_slow(ebra_domain_t *d);
/* The backend's share of the outermost lock and unlock, compiled into the
 * library's lock and unlock (a switch on d->backend, then the backend's
 * inline code: no call); domain.c. */
EBI_INTERNAL_FN void ebi_rd_lock_outer(ebra_domain_t *d, ebra__rd_slot_t *s);
EBI_INTERNAL_FN void ebi_rd_unlock_outer(ebra_domain_t *d, ebra__rd_slot_t *s);
static inline __attribute__((always_inline)) int ebi_read_lock(ebra_domain_t *d) {
  return ebra__read_lock(d, ebi_read_lock_slow, ebi_rd_lock_outer);
}
static inline __attribute__((always_inline)) void ebi_read_unlock(ebra_domain_t *d) {
  ebra__read_unlock(d, ebi_read_unlock_slow, ebi_rd_unlock_outer);
}

#endif /* EBI_RECLAIM_INTERNAL_H */

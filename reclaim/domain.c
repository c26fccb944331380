/* SPDX-License-Identifier: MIT */
/* reclaim/domain.c — reclamation domains: sections, per-thread retire
 * batches, and the reclaimer thread that drives grace periods.
 *
 * Invariants
 *   R1  every retired entry is in exactly one place: a thread's open batch,
 *       the domain's pending list, or the reclaimer's current round; it is
 *       executed exactly once, after a grace period that began after it was
 *       retired.
 *   R2  an open batch is touched only under its dthread's batch_lock, by
 *       its owner (append), the reclaimer (steal when aged, or for a
 *       barrier) or the owner's exit.
 *   R3  barrier_done <= barrier_req; a barrier with ticket k returns once a
 *       round that started after ticket k was taken has finished.
 *
 * Ordering
 *   Batches move between threads under mutexes (batch_lock, domain lock),
 *   which order the entries.  The grace period orders readers' accesses to
 *   an object before its reuse: liburcu/ck provide it, and reclaim/tsan.h
 *   states it to ThreadSanitizer per object.
 *
 * Progress
 *   ebra_read_lock/unlock are wait-free with memb/qsbr and ck_epoch (the
 *   dependencies' read sides), after a thread's one-time registration,
 *   which takes the registry lock.  ebra_retire takes only its own
 *   thread's batch_lock (contended only by the reclaimer stealing an aged
 *   batch) and the domain lock once per batch; it never waits for a grace
 *   period.  ebra_domain_barrier blocks.  The reclaimer blocks in the
 *   backend's synchronize; a stalled reader stalls it, and only it.
 *
 * Lock order: registry lock -> domain threads_lock -> dthread batch_lock;
 *             domain lock is a leaf.  The reclaimer never holds a domain
 *             lock while it waits for a grace period or frees to a pool.
 */
#define _GNU_SOURCE /* pthread_getname_np, pthread_setname_np */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "tsan.h"

#define DEFAULT_BATCH 64u
#define DEFAULT_AGE_NS 1000000ull
#define MAX_BATCH 65536u
#define DEFAULT_STALL_NS 1000000000ull


const char *ebra_reclaim_backend_name(ebra_reclaim_backend_t b) {
  return b >= EBRA_RECLAIM_URCU_MEMB && b <= EBRA_RECLAIM_CK_EPOCH ? ebi_reclaim_names[b]
                                                                    : "default";
}

ebra_reclaim_backend_t ebra_domain_backend(const ebra_domain_t *d) {
  return EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, "ebra_domain_backend") ? EBRA_RECLAIM_DEFAULT
                                                                    : d->backend;
}

/* The reclaim option (EBRA_RECLAIM or ebra_option_set; src/options.c
 * reports a bad value and keeps the default): "default" means memb. */
static ebra_reclaim_backend_t backend_from_option(void) {
  const ebra_reclaim_backend_t b = (ebra_reclaim_backend_t)ebi_option_value(EBRA_OPT_RECLAIM);
  return b == EBRA_RECLAIM_DEFAULT ? EBRA_RECLAIM_URCU_MEMB : b;
}

static void note_own_attached(void);
static int watchdog_start(void);
static void watchdog_poke(void);

/* ---- batches ------------------------------------------------------------- */

static ebi_batch_t *batch_new(uint32_t cap) {
  ebi_batch_t *b = malloc(sizeof *b + (size_t)cap * sizeof(ebi_retired_t));
  if (b) {
    b->next = NULL;
    b->n = 0;
    b->cap = cap;
    b->bytes = 0;
    b->opened_ns = 0;
  }
  return b;
}

/* Hand a closed batch to the reclaimer. */
static void batch_submit(ebra_domain_t *d, ebi_batch_t *b) {
  pthread_mutex_lock(&d->lock);
  ebi_atomic_store_relaxed(&d->xinflight, ebi_atomic_load_relaxed(&d->xinflight) + b->n);
  b->next = d->pending;
  d->pending = b;
  if (d->reclaimer_idle)
    pthread_cond_signal(&d->wake);
  pthread_mutex_unlock(&d->lock);
}

/* A batch just got its first entry: a reclaimer sleeping without a
 * deadline must now wake by the batch's maximum age.  open_seq changes
 * under the lock, so the reclaimer cannot miss it (see reclaimer_wait). */
static void note_batch_opened(ebra_domain_t *d) {
  pthread_mutex_lock(&d->lock);
  d->open_seq++;
  if (d->reclaimer_idle)
    pthread_cond_signal(&d->wake);
  pthread_mutex_unlock(&d->lock);
}

/* Take dt's open batch if it has entries and is older than min_age_ns
 * (0: any age).  Caller holds d->threads_lock or is dt's owner. */
static ebi_batch_t *batch_steal(ebi_dthread_t *dt, uint64_t now, uint64_t min_age_ns) {
  ebi_batch_t *b = NULL;
  pthread_mutex_lock(&dt->batch_lock);
  if (dt->open && dt->open->n > 0 && now - dt->open->opened_ns >= min_age_ns) {
    b = dt->open;
    dt->open = NULL;
    ebi_atomic_store_relaxed(&dt->xopen_since_ns, 0);
  }
  pthread_mutex_unlock(&dt->batch_lock);
  return b;
}

/* ---- per-thread state -------------------------------------------------- */

static ebi_dthread_t *dthread_attach(ebra_domain_t *d) {
  ebi_dthread_t *dt = NULL;
  ebi_registry_lock();
  if (!ebi_life_is_alive(&d->life)) { /* destroyed since the caller's check */
    errno = EBADF;
    goto out;
  }
  ebi_thread_t *t = ebi_thread_get_locked();
  if (!t || ebi_thread_reserve_slot(t, EBI_SLOTS_DOMAIN, d->life.id) != 0 || !(dt = calloc(1, sizeof *dt))) {
    errno = ENOMEM;
    goto out;
  }
  dt->domain = d;
  dt->rd = d->life.id < EBRA__RD_SLOTS ? &EBRA__RD_TLS[d->life.id] : &dt->rd_own;
  *dt->rd = (ebra__rd_slot_t){.owner = dt}; /* serial 0: not found yet */
  dt->ebra_own = ebi_in_reclaim(); /* released when its run ends */
  dt->tid = (int)syscall(SYS_gettid);
  dt->self = pthread_self();
  pthread_mutex_init(&dt->batch_lock, NULL);
  if (ebi_backend_register(d, dt) != 0) {
    pthread_mutex_destroy(&dt->batch_lock);
    free(dt);
    dt = NULL;
    errno = ENOMEM;
    goto out;
  }
  /* qsbr: a thread that liburcu has just registered implicitly (first
   * ebra_read_lock, retire or weak call) never promised quiescent states,
   * so it rests offline between sections; ebra_domain_register_thread
   * makes it online.  A thread already registered keeps its state. */
  if (d->backend == EBRA_RECLAIM_URCU_QSBR && ebi_tls_rcu.qsbr_users == 1) {
    ebi_backend_offline(d, dt);
    ebi_tls_rcu.qsbr_implicit = true;
  }
  pthread_mutex_lock(&d->threads_lock);
  dt->next = d->threads;
  if (d->threads)
    d->threads->prev = dt;
  d->threads = dt;
  d->nthreads++;
  d->nown += dt->ebra_own;
  pthread_mutex_unlock(&d->threads_lock);
  if (dt->ebra_own)
    note_own_attached();
  *ebi_thread_slot(t, EBI_SLOTS_DOMAIN, d->life.id) = (ebi_slot_t){.serial = d->life.serial, .state = dt};
  dt->rd->serial = d->life.serial; /* the read side finds dt from here on */
out:
  ebi_registry_unlock();
  return dt;
}

ebi_dthread_t *ebi_dthread_get(ebra_domain_t *d) {
  ebi_dthread_t *dt = ebi_dthread_of(d);
  return dt ? dt : dthread_attach(d);
}

/* Leave the domain: close the batch, leave the backend, free the state.
 * Registry lock held; t is the caller's thread state, or a thread that no
 * longer exists (fork child). */
void ebi_dthread_release_locked(ebi_dthread_t *dt, ebi_thread_t *t) {
  ebra_domain_t *d = dt->domain;
  const bool self = (t == ebi_tls_thread); /* else dt->rd is a dead thread's */
  if (self && ebi_dthread_nest(dt) > 0) {
    ebi_report(EBRA_ERR_BAD_CALL, "domain '%s': thread left inside a read section", d->life.name);
    dt->rd->nest &= EBRA__RD_OUTER;
    ebi_tsan_release_notes(dt);
    if (dt->rd->nest & EBRA__RD_OUTER)
      ebi_backend_unlock_outer(d, dt);
  }
  ebi_batch_t *b = batch_steal(dt, ebi_now_ns(), 0);
  if (b)
    batch_submit(d, b);
  else if (dt->open)
    free(dt->open); /* empty */
  ebi_backend_unregister(d, dt, t);
  pthread_mutex_lock(&d->threads_lock);
  if (dt->prev)
    dt->prev->next = dt->next;
  else
    d->threads = dt->next;
  if (dt->next)
    dt->next->prev = dt->prev;
  d->nthreads--;
  d->nown -= dt->ebra_own;
  d->exited_retired += ebi_atomic_load_relaxed(&dt->xretired);
  d->exited_retired_bytes += ebi_atomic_load_relaxed(&dt->xretired_bytes);
  pthread_mutex_unlock(&d->threads_lock);
  ebi_slot_t *slot = ebi_thread_slot(t, EBI_SLOTS_DOMAIN, d->life.id);
  if (slot)
    *slot = (ebi_slot_t){0};
  if (self)
    *dt->rd = (ebra__rd_slot_t){0}; /* the read side misses from here on */
  ebi_tsan_free_notes(dt);
  pthread_mutex_destroy(&dt->batch_lock);
  free(dt);
}

/* Explicit registration.  For qsbr it also puts the thread online: from
 * here on the thread reads at no cost and owes ebra_quiescent calls. */
int ebra_domain_register_thread(ebra_domain_t *d) {
  int rc = EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, "ebra_domain_register_thread");
  if (rc)
    return rc;
  ebi_dthread_t *dt = ebi_dthread_get(d);
  if (!dt)
    return -errno;
  if (d->backend == EBRA_RECLAIM_URCU_QSBR)
    ebi_tls_rcu.qsbr_implicit = false; /* chosen */
  ebi_backend_online(d, dt);
  return 0;
}

int ebra_domain_unregister_thread(ebra_domain_t *d) {
  int rc = EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, "ebra_domain_unregister_thread");
  if (rc)
    return rc;
  ebi_dthread_t *dt = ebi_dthread_of(d);
  if (!dt)
    return 0;
  if (ebi_dthread_nest(dt) > 0) {
    ebi_report(EBRA_ERR_BAD_CALL, "ebra_domain_unregister_thread inside a read section of '%s'",
               d->life.name);
    return -EBUSY;
  }
  ebi_registry_lock();
  ebi_dthread_release_locked(dt, ebi_tls_thread);
  ebi_registry_unlock();
  return 0;
}

/* ---- read side ------------------------------------------------------------
 * One body for every read lock and unlock: ebra__read_lock/_unlock
 * (ebra/reclaim.h), here with the library's own slow paths and outer
 * functions (ebi_read_lock, reclaim_internal.h, which the weak floor's
 * sections use too: no PLT), in an application with the exported slow
 * paths and the pair of outer functions d keeps for its backend
 * (ebi_domain_locate_rd).  Nesting is counted in the thread's slot
 * (dt->rd); the backend is called only at the outermost lock and unlock,
 * only when the slot says so (backend.c keeps `outer`). */

/* Slot EBRA__RD_SLOTS is nobody's: its serial stays 0, so the domains
 * whose id has no slot of its own, which point there, always miss. */
__thread ebra__rd_slot_t EBRA__RD_TLS[EBRA__RD_SLOTS + 1]
    __attribute__((tls_model("initial-exec")));

_Static_assert(offsetof(ebra_domain_t, life.serial) == EBRA__DOMAIN_SERIAL &&
                   sizeof(((ebi_life_t *)0)->serial) == sizeof(uint64_t) &&
                   offsetof(ebra_domain_t, rd) == EBRA__DOMAIN_RD &&
                   sizeof(((ebra_domain_t *)0)->rd) == sizeof(ebra__domain_rd_t),
               "ebra_domain_t no longer matches ebra/reclaim.h's ebra__ layout: change it "
               "and the version in every ebra__ name");

#if !defined(EBRA__TP)
#error "libebra needs __builtin_thread_pointer (gcc >= 11, clang) for EBRA__DOMAIN_RD"
#endif

/* Each backend's share of the outermost lock and unlock (backend.h), as
 * the functions a domain keeps in its rd (ebra/reclaim.h): the inline read
 * side calls them through d, without a switch (the exported one has the
 * backend's code compiled in, ebi_rd_lock_outer below).  Every unlock
 * releases the reader's TSan notes first, after its last access. */
static void memb_lock_outer(ebra_domain_t *d, ebra__rd_slot_t *s) {
  (void)d;
  (void)s;
  ebi_memb_lock_outer();
}
static void memb_unlock_outer(ebra_domain_t *d, ebra__rd_slot_t *s) {
  (void)d;
  ebi_tsan_release_notes((ebi_dthread_t *)s->owner);
  ebi_memb_unlock_outer();
}
static void qsbr_lock_outer(ebra_domain_t *d, ebra__rd_slot_t *s) {
  (void)s;
  ebi_qsbr_lock_outer(d);
}
static void qsbr_unlock_outer(ebra_domain_t *d, ebra__rd_slot_t *s) {
  (void)d;
  ebi_tsan_release_notes((ebi_dthread_t *)s->owner);
  ebi_qsbr_unlock_outer();
}
static void ck_lock_outer(ebra_domain_t *d, ebra__rd_slot_t *s) {
  (void)d;
  ebi_ck_lock_outer(s->owner);
}
static void ck_unlock_outer(ebra_domain_t *d, ebra__rd_slot_t *s) {
  (void)d;
  ebi_tsan_release_notes((ebi_dthread_t *)s->owner);
  ebi_ck_unlock_outer(s->owner);
}

/* The library's own: compiled into ebra_read_lock / _unlock (the same
 * translation unit), a direct call from the weak floor's sections. */
void ebi_rd_lock_outer(ebra_domain_t *d, ebra__rd_slot_t *s) {
  ebi_backend_lock_outer(d, s->owner);
}
void ebi_rd_unlock_outer(ebra_domain_t *d, ebra__rd_slot_t *s) {
  ebi_dthread_t *dt = s->owner;
  ebi_tsan_release_notes(dt); /* after the reader's last access */
  ebi_backend_unlock_outer(d, dt);
}

void ebi_domain_locate_rd(ebra_domain_t *d) {
  d->rd.index = d->life.id < EBRA__RD_SLOTS ? d->life.id : EBRA__RD_SLOTS;
  d->rd.tpoff = (char *)&EBRA__RD_TLS[d->rd.index] - (char *)__builtin_thread_pointer();
  switch (d->backend) {
  case EBRA_RECLAIM_URCU_QSBR:
    d->rd.lock_outer = qsbr_lock_outer;
    d->rd.unlock_outer = qsbr_unlock_outer;
    break;
  case EBRA_RECLAIM_CK_EPOCH:
    d->rd.lock_outer = ck_lock_outer;
    d->rd.unlock_outer = ck_unlock_outer;
    break;
  default:
    d->rd.lock_outer = memb_lock_outer;
    d->rd.unlock_outer = memb_unlock_outer;
    break;
  }
}

/* The slow path of ebra_read_lock: a domain whose id has no TLS slot, the
 * thread's first use of d, or misuse. */
__attribute__((noinline)) int ebi_read_lock_slow(ebra_domain_t *d) {
  int rc = EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, "ebra_read_lock");
  if (rc)
    return rc;
  ebi_dthread_t *dt = ebi_dthread_of(d);
  if (!dt && !(dt = dthread_attach(d))) {
    if (errno == EBADF) /* destroyed since the check */
      return ebi_life_check_slow(&d->life, EBI_KIND_DOMAIN, "ebra_read_lock");
    ebi_report(EBRA_ERR_NOMEM, "ebra_read_lock: cannot register with domain '%s'",
               d->life.name);
    return -ENOMEM;
  }
  ebra__rd_enter(d, dt->rd, ebi_rd_lock_outer);
  return 0;
}

/* The slow path of ebra_read_unlock: a domain whose id has no TLS slot, or
 * misuse (no matching lock, a NULL or destroyed domain). */
__attribute__((noinline)) void ebi_read_unlock_slow(ebra_domain_t *d) {
  ebi_dthread_t *dt = d ? ebi_dthread_of(d) : NULL;
  if (dt && ebi_dthread_nest(dt) > 0) {
    ebra__rd_leave(d, dt->rd, ebi_rd_unlock_outer);
    return;
  }
  if (!EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, "ebra_read_unlock"))
    ebi_report(EBRA_ERR_BAD_CALL, "ebra_read_unlock without ebra_read_lock on domain '%s'",
               d->life.name);
}

int ebra_read_lock(ebra_domain_t *d) { return ebi_read_lock(d); }

void ebra_read_unlock(ebra_domain_t *d) { ebi_read_unlock(d); }

void *ebra_deref(ebra_domain_t *d, void *const *pp) {
  if (EBI_UNLIKELY(!d || !pp || !ebi_life_is_alive(&d->life))) {
    if (!EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, "ebra_deref"))
      ebi_report(EBRA_ERR_BAD_CALL, "ebra_deref: NULL pointer to load");
    return NULL;
  }
  /* Paired with the user's store release that published *pp. */
  void *p = ebi_atomic_load_acquire((void *const _Atomic *)pp);
#if defined(EBRA_TSAN)
  ebi_dthread_t *dt = ebi_dthread_of(d);
  if (dt)
    ebi_tsan_note(dt, p);
#else
  (void)d;
#endif
  return p;
}

/* The calling thread's state in d for the qsbr calls: NULL with *rc set
 * when d is misused, or when the thread is not registered (then *rc = 0:
 * nothing to announce). */
static ebi_dthread_t *qsbr_thread(ebra_domain_t *d, const char *call, int *rc) {
  *rc = EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, call);
  return *rc ? NULL : ebi_dthread_of(d);
}

int ebra_quiescent(ebra_domain_t *d) {
  int rc;
  ebi_dthread_t *dt = qsbr_thread(d, "ebra_quiescent", &rc);
  if (dt && ebi_dthread_nest(dt) == 0)
    ebi_backend_quiescent(d, dt);
  return rc;
}

int ebra_domain_thread_offline(ebra_domain_t *d) {
  int rc;
  ebi_dthread_t *dt = qsbr_thread(d, "ebra_domain_thread_offline", &rc);
  if (dt && d->backend == EBRA_RECLAIM_URCU_QSBR)
    ebi_tls_rcu.qsbr_implicit = false; /* chosen */
  if (dt && ebi_dthread_nest(dt) == 0)
    ebi_backend_offline(d, dt);
  return rc;
}

int ebra_domain_thread_online(ebra_domain_t *d) {
  int rc;
  ebi_dthread_t *dt = qsbr_thread(d, "ebra_domain_thread_online", &rc);
  if (dt && d->backend == EBRA_RECLAIM_URCU_QSBR)
    ebi_tls_rcu.qsbr_implicit = false; /* chosen */
  if (dt)
    ebi_backend_online(d, dt);
  return rc;
}

/* ---- retire ---------------------------------------------------------------- */

/* >0 while the calling thread runs retired entries (the reclaimer, a helper,
 * or the synchronous ENOMEM path): such a thread never waits for a grace
 * period, a barrier or backlog room, since what it waits for may wait for
 * it.  Dthreads attached meanwhile are ebra's own (ebra_own), released when
 * the run ends (own_attached says there are some). */
static __thread uint32_t tls_reclaiming;
static __thread bool tls_own_attached;

static void ring_put(uint64_t *ring, uint64_t count, uint64_t v) {
  ring[count % EBI_LATENCY_RING] = v;
}

/* Count v (ns) in its EBRA_LATENCY_BOUNDS_NS bucket, and in the sum. */
static void hist_put(uint64_t *hist, uint64_t *sum, uint64_t v) {
  static const uint64_t bounds[EBRA_LATENCY_BUCKETS - 1] = EBRA_LATENCY_BOUNDS_NS;
  size_t i = 0;
  while (i < EBRA_LATENCY_BUCKETS - 1 && v > bounds[i])
    i++;
  hist[i]++;
  *sum += v;
}

bool ebi_in_reclaim(void) { return tls_reclaiming > 0; }
static void note_own_attached(void) { tls_own_attached = true; }

/* Release the calling thread's dthreads that were attached while it ran
 * retired entries: ebra's threads never stay registered (the destroy of a
 * domain whose cleanups called into it succeeds). */
static void release_own_dthreads(void) {
  if (!tls_own_attached)
    return;
  tls_own_attached = false;
  ebi_registry_lock();
  ebi_thread_t *t = ebi_tls_thread;
  for (uint32_t id = 0; t && id < ebi_thread_nslots(t, EBI_SLOTS_DOMAIN); id++) {
    ebi_slot_t *s = ebi_thread_slot(t, EBI_SLOTS_DOMAIN, id);
    ebra_domain_t *d = ebi_domain_registry_at(id);
    if (s->state && d && d->life.serial == s->serial && ((ebi_dthread_t *)s->state)->ebra_own)
      ebi_dthread_release_locked(s->state, t);
  }
  ebi_registry_unlock();
}

static uint64_t backlog_bound(const ebra_domain_t *d) {
  const uint64_t m = ebi_atomic_load_relaxed(&((ebra_domain_t *)d)->xmax_pending);
  return m ? m : (uint64_t)EBI_BACKLOG_BATCHES * ebi_atomic_load_relaxed(&((ebra_domain_t *)d)->xbatch_size);
}

/* True if the calling thread may wait for a grace period of d: it is not
 * running retired entries and holds no section the grace period waits for
 * (liburcu's flavours are process-wide, so a section of any memb domain
 * counts for memb, and likewise qsbr). */
static bool can_wait_for_gp(const ebra_domain_t *d) {
  if (tls_reclaiming)
    return false;
  const ebi_dthread_t *dt = ebi_dthread_of(d);
  if (dt && ebi_dthread_nest(dt))
    return false;
  switch (d->backend) {
  case EBRA_RECLAIM_URCU_QSBR: return ebi_backend_qsbr_sections_open() == 0;
  case EBRA_RECLAIM_CK_EPOCH: return true;
  default: return !urcu_memb_read_ongoing();
  }
}

static void gp_begin(ebra_domain_t *d, uint64_t now) {
  ebi_atomic_add_relaxed(&d->xgp_seq, 1);
  ebi_atomic_store_relaxed(&d->xgp_since_ns, now ? now : 1);
}
static void gp_end(ebra_domain_t *d) { ebi_atomic_store_relaxed(&d->xgp_since_ns, 0); }

/* Run every entry of a round, after its grace period; sample latencies,
 * free the batches, give the room back (R1). */
static void round_run(ebra_domain_t *d, ebi_batch_t *list, bool flush, uint64_t gp_start) {
  uint64_t n = 0, bytes = 0, batches = 0;
  tls_reclaiming++;
  for (ebi_batch_t *b = list; b; b = b->next) {
    const uint32_t si = b->sample_i < b->n ? b->sample_i : 0;
    if (si != b->sample_i)
      b->sample_ns = b->opened_ns; /* closed early: its first entry */
    for (uint32_t i = 0; i < b->n; i++) {
      ebi_tsan_after_grace_period(b->ent[i].ref.obj);
      b->ent[i].run(&b->ent[i]);
      if (i == si)
        b->cleanup_ns = ebi_now_ns() - b->sample_ns;
    }
    n += b->n;
    bytes += b->bytes;
    batches++;
  }
  tls_reclaiming--;
  if (flush)
    ebi_thread_flush_caches(); /* reclaimed objects go to the depots */
  const uint64_t now = ebi_now_ns();
  /* Counted reclaimed before the room is given back, so retired - reclaimed
   * never shows this round twice. */
  ebi_atomic_add_relaxed(&d->xreclaimed, n);
  ebi_atomic_add_relaxed(&d->xreclaimed_bytes, bytes);
  ebi_atomic_add_relaxed(&d->xbatches, batches);
  pthread_mutex_lock(&d->lock);
  const uint64_t gps = ebi_atomic_load_relaxed(&d->xgrace_periods);
  ring_put(d->gp_ns, gps, now - gp_start);
  hist_put(d->gp_hist, &d->gp_sum, now - gp_start);
  ebi_atomic_store_relaxed(&d->xgrace_periods, gps + 1);
  for (ebi_batch_t *b = list; b; b = b->next, d->nsamples++) {
    ring_put(d->cleanup_ns, d->nsamples, b->cleanup_ns);
    ring_put(d->reuse_ns, d->nsamples, now - b->sample_ns);
    hist_put(d->reuse_hist, &d->reuse_sum, now - b->sample_ns);
  }
  ebi_atomic_store_relaxed(&d->xinflight, ebi_atomic_load_relaxed(&d->xinflight) - n);
  pthread_cond_broadcast(&d->room);
  pthread_mutex_unlock(&d->lock);
  while (list) {
    ebi_batch_t *b = list;
    list = b->next;
    free(b);
  }
  release_own_dthreads();
}

/* A retiring thread reclaims the pending list itself: the grace period and
 * the entries' work (cleanups, secure clearing) spread over the retirers
 * instead of queueing behind the reclaimer.  d->lock held on entry and
 * exit; helping counted so a barrier waits for this round (R3). */
static void help_round_locked(ebra_domain_t *d) {
  pthread_mutex_unlock(&d->lock);
  ebi_round_enter(); /* fork.c F1; released after the round */
  pthread_mutex_lock(&d->lock);
  ebi_batch_t *list = d->pending;
  d->pending = NULL;
  d->helping++;
  pthread_mutex_unlock(&d->lock);
  if (list) { /* another helper may have taken it meanwhile */
    const uint64_t t0 = ebi_now_ns();
    ebi_backend_synchronize(d);
    round_run(d, list, false, t0);
    ebi_atomic_add_relaxed(&d->xhelped, 1);
  }
  ebi_round_leave();
  pthread_mutex_lock(&d->lock);
  d->helping--;
  pthread_cond_broadcast(&d->room);
}

void ebi_domain_throttle(ebra_domain_t *d) {
  const uint64_t bound = backlog_bound(d);
  if (EBI_LIKELY(ebi_atomic_load_relaxed(&d->xinflight) <= bound) || !can_wait_for_gp(d))
    return;
  ebi_dthread_t *dt = ebi_dthread_of(d);
  const bool was_online = dt && ebi_backend_is_online(d);
  if (was_online) /* the grace period must not wait for us */
    ebi_backend_offline(d, dt);
  pthread_mutex_lock(&d->lock);
  while (ebi_atomic_load_relaxed(&d->xinflight) > bound && !d->stop) {
    if (d->pending && d->barrier_req == d->barrier_done)
      help_round_locked(d);
    else /* the rest is in a running round: its end broadcasts room */
      pthread_cond_wait(&d->room, &d->lock);
  }
  pthread_mutex_unlock(&d->lock);
  if (was_online)
    ebi_backend_online(d, dt);
}

/* No memory for a batch: wait for a grace period here and run e now. */
static void retire_synchronously(ebra_domain_t *d, ebi_dthread_t *dt, const ebi_retired_t *e) {
  const bool was_online = ebi_backend_is_online(d);
  if (was_online)
    ebi_backend_offline(d, dt);
  ebi_round_enter(); /* a round of one (fork.c F1); released below */
  ebi_backend_synchronize(d);
  if (was_online)
    ebi_backend_online(d, dt);
  ebi_counter_add_owner(&dt->xretired, 1);
  tls_reclaiming++;
  ebi_tsan_after_grace_period(e->ref.obj);
  e->run(e);
  tls_reclaiming--;
  ebi_round_leave();
  ebi_atomic_add_relaxed(&d->xreclaimed, 1);
  release_own_dthreads();
}

static __thread uint32_t tls_sample_rng;

/* A batch's first entry: when it opened and which entry it samples. */
static void batch_open(ebra_domain_t *d, ebi_dthread_t *dt, ebi_batch_t *b) {
  b->opened_ns = ebi_now_ns();
  tls_sample_rng = tls_sample_rng * 1664525u + 1013904223u + (uint32_t)(uintptr_t)dt;
  const uint32_t size = ebi_atomic_load_relaxed(&d->xbatch_size);
  const uint32_t span = b->cap < size ? b->cap : size;
  b->sample_i = (tls_sample_rng >> 8) % (span ? span : 1);
  b->sample_ns = b->opened_ns;
  b->cleanup_ns = 0;
  ebi_atomic_store_relaxed(&dt->xopen_since_ns, b->opened_ns);
}

int ebi_retire_entry(ebra_domain_t *d, const ebi_retired_t *e) {
  ebi_dthread_t *dt = ebi_dthread_get(d);
  if (!dt)
    return -errno;
  const uint64_t bytes = e->ref.pool ? e->ref.pool->object_size : 0; /* a pool object? */
  ebi_batch_t *full = NULL;
  pthread_mutex_lock(&dt->batch_lock);
  if (!dt->open && !(dt->open = batch_new(ebi_atomic_load_relaxed(&d->xbatch_size)))) {
    pthread_mutex_unlock(&dt->batch_lock);
    if (!can_wait_for_gp(d))
      return -ENOMEM;
    retire_synchronously(d, dt, e);
    return 0;
  }
  ebi_batch_t *b = dt->open;
  const bool opened = (b->n == 0);
  if (opened)
    batch_open(d, dt, b);
  else if (b->n == b->sample_i)
    b->sample_ns = ebi_now_ns();
  b->ent[b->n++] = *e;
  b->bytes += bytes;
  if (b->n >= b->cap || b->n >= ebi_atomic_load_relaxed(&d->xbatch_size)) {
    full = b;
    dt->open = NULL;
    ebi_atomic_store_relaxed(&dt->xopen_since_ns, 0);
    /* Still under batch_lock (rank 8, then the domain lock, rank 9): a
     * full batch is never reachable from this stack alone, where a fork
     * taken between the two locks would lose it (fork.c F4). */
    batch_submit(d, full);
  }
  pthread_mutex_unlock(&dt->batch_lock);
  ebi_counter_add_owner(&dt->xretired, 1);
  ebi_counter_add_owner(&dt->xretired_bytes, bytes);
  if (!full && opened)
    note_batch_opened(d);
  return 0;
}

/* After the grace period: the object goes back to its pool's magazines
 * (the reclaimer's, flushed to the depot after the round), through the
 * claim ebra_retire made: no lookup, no check. */
static void return_to_pool(const ebi_retired_t *e) { ebi_object_return(&e->ref); }

/* The claim (one segment-map lookup) checks obj and sets its held bit, so
 * until the reclaimer returns it the user can neither free it, retire it
 * again nor give it a weak handle. */
int ebra_retire(ebra_domain_t *d, void *obj) {
  int lrc = EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, "ebra_retire");
  if (lrc)
    return lrc;
  if (!obj)
    return -EINVAL;
  ebi_retired_t e = {.run = return_to_pool};
  int rc = ebi_object_claim(obj, &e.ref);
  if (rc)
    return rc;
  rc = ebi_retire_entry(d, &e);
  if (rc)
    ebi_object_unclaim(&e.ref);
  else
    ebi_domain_throttle(d);
  return rc;
}

static void call_user(const ebi_retired_t *e) { ((ebra_reclaim_fn *)e->ctx)(e->ref.obj); }

int ebra_retire_call(ebra_domain_t *d, ebra_reclaim_fn *fn, void *arg) {
  int rc = EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, "ebra_retire_call");
  if (rc)
    return rc;
  if (!fn)
    return ebi_bad_call("ebra_retire_call: NULL function");
  rc = ebi_retire_call_nowait(d, fn, arg);
  if (!rc)
    ebi_domain_throttle(d);
  return rc;
}

int ebi_retire_call_nowait(ebra_domain_t *d, ebra_reclaim_fn *fn, void *arg) {
  const ebi_retired_t e = {.run = call_user, .ref = {.obj = arg}, .ctx = (void *)fn};
  return ebi_retire_entry(d, &e);
}

/* ---- sources of memory-free retired entries ------------------------------- */

void ebi_domain_add_source(ebra_domain_t *d, ebi_reclaim_source_t *s) {
  pthread_mutex_lock(&d->lock);
  s->next = d->sources;
  d->sources = s;
  pthread_mutex_unlock(&d->lock);
}

void ebi_domain_remove_source(ebra_domain_t *d, ebi_reclaim_source_t *s) {
  pthread_mutex_lock(&d->lock);
  for (ebi_reclaim_source_t **p = &d->sources; *p; p = &(*p)->next) {
    if (*p == s) {
      *p = s->next;
      break;
    }
  }
  pthread_mutex_unlock(&d->lock);
}

void ebi_domain_kick(ebra_domain_t *d) {
  pthread_mutex_lock(&d->lock);
  d->kicked = true;
  pthread_cond_signal(&d->wake);
  pthread_mutex_unlock(&d->lock);
}

#define MAX_SOURCES 256

/* Empty every source, before the round's grace period.  d->lock held. */
static uint32_t sources_take_locked(ebra_domain_t *d, ebi_reclaim_source_t **src, void **taken) {
  uint32_t n = 0;
  for (ebi_reclaim_source_t *s = d->sources; s && n < MAX_SOURCES; s = s->next) {
    void *t = s->take(s->ctx);
    if (t) {
      src[n] = s;
      taken[n++] = t;
    }
  }
  d->kicked = false;
  return n;
}

/* ---- the reclaimer ------------------------------------------------------- */

/* Steal open batches: all of them for a barrier or stop, else the aged.
 * The entries they hold join the backlog (xinflight). */
static ebi_batch_t *steal_open(ebra_domain_t *d, bool all) {
  const uint64_t now = ebi_now_ns();
  const uint64_t age = all ? 0 : ebi_atomic_load_relaxed(&d->xmax_age_ns);
  ebi_batch_t *list = NULL;
  uint64_t n = 0;
  pthread_mutex_lock(&d->threads_lock);
  for (ebi_dthread_t *dt = d->threads; dt; dt = dt->next) {
    const uint64_t since = ebi_atomic_load_relaxed(&dt->xopen_since_ns);
    if (!since || (!all && now - since < age))
      continue;
    ebi_batch_t *b = batch_steal(dt, now, age);
    if (b) {
      b->next = list;
      list = b;
      n += b->n;
    }
  }
  pthread_mutex_unlock(&d->threads_lock);
  if (n) {
    pthread_mutex_lock(&d->lock);
    ebi_atomic_store_relaxed(&d->xinflight, ebi_atomic_load_relaxed(&d->xinflight) + n);
    pthread_mutex_unlock(&d->lock);
  }
  return list;
}

static bool any_open(ebra_domain_t *d) {
  bool open = false;
  pthread_mutex_lock(&d->threads_lock);
  for (ebi_dthread_t *dt = d->threads; dt && !open; dt = dt->next)
    open = ebi_atomic_load_relaxed(&dt->xopen_since_ns) != 0;
  pthread_mutex_unlock(&d->threads_lock);
  return open;
}

static bool reclaimer_has_work(const ebra_domain_t *d) {
  return d->pending || d->stop || d->kicked || d->barrier_req != d->barrier_done;
}

/* Sleep until there is work: pending batches, a barrier, stop, a source
 * with entries, or an open batch reaching its maximum age.  d->lock held. */
static void reclaimer_wait(ebra_domain_t *d) {
  while (!reclaimer_has_work(d)) {
    d->reclaimer_idle = true;
    const uint64_t seq = d->open_seq;
    pthread_mutex_unlock(&d->lock);
    const bool open = any_open(d);
    pthread_mutex_lock(&d->lock);
    if (reclaimer_has_work(d)) {
      d->reclaimer_idle = false;
      break;
    }
    if (d->open_seq != seq) /* a batch opened after any_open looked */
      continue;
    if (open) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      const uint64_t age = ebi_atomic_load_relaxed(&d->xmax_age_ns);
      const uint64_t at = (uint64_t)ts.tv_nsec + age;
      ts.tv_sec += (time_t)(at / 1000000000ull);
      ts.tv_nsec = (long)(at % 1000000000ull);
      const int rc = pthread_cond_timedwait(&d->wake, &d->lock, &ts);
      d->reclaimer_idle = false;
      if (rc == ETIMEDOUT)
        return; /* go steal aged batches */
    } else {
      pthread_cond_wait(&d->wake, &d->lock);
      d->reclaimer_idle = false;
    }
  }
  d->reclaimer_idle = false;
}

/* One round of the reclaimer: the pending list, the stolen batches and the
 * sources' entries, after one grace period. */
static void reclaimer_round(ebra_domain_t *d, ebi_batch_t *list, bool steal_all,
                            uint32_t nsrc, ebi_reclaim_source_t **src, void **taken) {
  ebi_batch_t *stolen = steal_open(d, steal_all);
  while (stolen) {
    ebi_batch_t *b = stolen;
    stolen = b->next;
    b->next = list;
    list = b;
  }
  if (!list && !nsrc)
    return;
  const uint64_t t0 = ebi_now_ns();
  gp_begin(d, t0);
  ebi_backend_synchronize(d);
  gp_end(d);
  for (uint32_t i = 0; i < nsrc; i++) {
    tls_reclaiming++;
    src[i]->run(src[i]->ctx, taken[i]);
    tls_reclaiming--;
  }
  if (list)
    round_run(d, list, true, t0);
  else
    release_own_dthreads();
}

static void *reclaimer_main(void *arg) {
  ebra_domain_t *d = arg;
  ebi_reclaim_source_t *src[MAX_SOURCES];
  void *taken[MAX_SOURCES];
  pthread_mutex_lock(&d->lock);
  for (;;) {
    reclaimer_wait(d);
    pthread_mutex_unlock(&d->lock);
    ebi_round_enter(); /* fork.c F1; released after the round */
    pthread_mutex_lock(&d->lock);
    const uint64_t req = d->barrier_req;
    const bool stop = d->stop;
    const bool all = stop || req != d->barrier_done;
    ebi_batch_t *list = d->pending;
    d->pending = NULL;
    const uint32_t nsrc = sources_take_locked(d, src, taken);
    pthread_mutex_unlock(&d->lock);

    reclaimer_round(d, list, all, nsrc, src, taken);
    ebi_round_leave();

    pthread_mutex_lock(&d->lock);
    while (d->helping > 0 && req != d->barrier_done) /* R3: helpers' rounds too */
      pthread_cond_wait(&d->room, &d->lock);
    d->barrier_done = req;
    pthread_cond_broadcast(&d->done);
    /* Stop once a round left nothing: entries that the round's own entries
     * retired are pending again (release_own_dthreads closed them). */
    if (stop && !d->pending && !d->kicked)
      break;
  }
  pthread_mutex_unlock(&d->lock);
  ebra_thread_exit();
  return NULL;
}

static int reclaimer_start(ebra_domain_t *d) {
  d->stop = false;
  d->reclaimer_running = true; /* before the thread reads its neighbours */
  int rc = pthread_create(&d->reclaimer, NULL, reclaimer_main, d);
  if (rc)
    d->reclaimer_running = false;
  return rc;
}

/* ---- barrier ---------------------------------------------------------------- */

/* Report why a barrier on d has not completed after waited_ns. */
static void report_barrier_timeout(ebra_domain_t *d, uint64_t waited_ns) {
  const uint64_t since = ebi_atomic_load_relaxed(&d->xgp_since_ns);
  const uint64_t now = ebi_now_ns();
  if (since)
    ebi_report(EBRA_WARN_STALL, "ebra_domain_barrier_timeout: domain '%s' after %llu ms: its "
               "grace period has run for %llu ms (a read section that does not end, or a "
               "qsbr thread that is online and never calls ebra_quiescent)", d->life.name,
               (unsigned long long)(waited_ns / 1000000),
               (unsigned long long)((now - since) / 1000000));
  else
    ebi_report(EBRA_WARN_STALL, "ebra_domain_barrier_timeout: domain '%s' after %llu ms: the "
               "reclaimer is still running deferred calls and cleanups", d->life.name,
               (unsigned long long)(waited_ns / 1000000));
}

static int barrier_wait(ebra_domain_t *d, uint64_t timeout_ns, const char *call) {
  int rc = EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, call);
  if (rc)
    return rc;
  if (tls_reclaiming) {
    ebi_report(EBRA_ERR_BAD_CALL, "%s on '%s' from a cleanup or deferred call: it would wait "
               "for the round that runs it", call, d->life.name);
    return -EDEADLK;
  }
  ebi_dthread_t *dt = ebi_dthread_of(d);
  if (dt && ebi_dthread_nest(dt) > 0) {
    ebi_report(EBRA_ERR_BAD_CALL, "%s inside a read section of '%s'", call, d->life.name);
    return -EDEADLK;
  }
  const bool was_online = dt && ebi_backend_is_online(d);
  if (was_online) /* the grace period must not wait for us */
    ebi_backend_offline(d, dt);
  struct timespec ts;
  const uint64_t start = ebi_now_ns();
  if (timeout_ns != UINT64_MAX) {
    clock_gettime(CLOCK_REALTIME, &ts);
    const uint64_t at = (uint64_t)ts.tv_nsec + timeout_ns % 1000000000ull;
    ts.tv_sec += (time_t)(timeout_ns / 1000000000ull + at / 1000000000ull);
    ts.tv_nsec = (long)(at % 1000000000ull);
  }
  pthread_mutex_lock(&d->lock);
  const uint64_t ticket = ++d->barrier_req;
  pthread_cond_signal(&d->wake);
  while (d->barrier_done < ticket && rc == 0) {
    if (timeout_ns == UINT64_MAX)
      pthread_cond_wait(&d->done, &d->lock);
    else if (pthread_cond_timedwait(&d->done, &d->lock, &ts) == ETIMEDOUT &&
             d->barrier_done < ticket)
      rc = -ETIMEDOUT;
  }
  pthread_mutex_unlock(&d->lock);
  if (rc)
    report_barrier_timeout(d, ebi_now_ns() - start);
  if (was_online)
    ebi_backend_online(d, dt);
  return rc;
}

int ebra_domain_barrier(ebra_domain_t *d) {
  return barrier_wait(d, UINT64_MAX, "ebra_domain_barrier");
}

int ebra_domain_barrier_timeout(ebra_domain_t *d, uint64_t timeout_ns) {
  return barrier_wait(d, timeout_ns == UINT64_MAX ? UINT64_MAX - 1 : timeout_ns,
                      "ebra_domain_barrier_timeout");
}

void ebi_domain_request_flush(ebra_domain_t *d) {
  pthread_mutex_lock(&d->lock);
  ++d->barrier_req; /* a ticket nobody waits for: the reclaimer steals all */
  pthread_cond_signal(&d->wake);
  pthread_mutex_unlock(&d->lock);
}

/* ---- create / destroy / knobs / stats ---------------------------------------- */

static int domain_config_check(const ebra_domain_config_t *cfg, ebra_reclaim_backend_t *be) {
  const char *name = cfg && cfg->name ? cfg->name : "domain";
  if (cfg && cfg->batch_size > MAX_BATCH) {
    ebi_report(EBRA_ERR_BAD_CONFIG, "domain '%s': batch_size %u is above %u", name,
                cfg->batch_size, MAX_BATCH);
    return EINVAL;
  }
  if (cfg && cfg->backend > EBRA_RECLAIM_CK_EPOCH) {
    ebi_report(EBRA_ERR_BAD_CONFIG, "domain '%s': unknown backend %d", name, (int)cfg->backend);
    return EINVAL;
  }
  if (cfg && cfg->backend != EBRA_RECLAIM_DEFAULT) {
    *be = cfg->backend;
    return 0;
  }
  *be = backend_from_option();
  return 0;
}

ebra_domain_t *ebra_domain_create(const ebra_domain_config_t *cfg) {
  ebra_reclaim_backend_t be;
  if (domain_config_check(cfg, &be) != 0) {
    errno = EINVAL;
    return NULL;
  }
  ebra_domain_t *d = ebi_life_alloc(sizeof *d); /* 64-byte aligned */
  if (!d) {
    errno = ENOMEM;
    return NULL;
  }
  d->backend = be;
  ebi_atomic_store_relaxed(&d->xbatch_size,
                            cfg && cfg->batch_size ? cfg->batch_size : DEFAULT_BATCH);
  ebi_atomic_store_relaxed(&d->xmax_age_ns, cfg && cfg->max_batch_age_ns
                                                 ? cfg->max_batch_age_ns
                                                 : DEFAULT_AGE_NS);
  ebi_atomic_store_relaxed(&d->xmax_pending, cfg ? cfg->max_pending : 0);
  ebi_atomic_store_relaxed(&d->xstall_ns, cfg && cfg->stall_threshold_ns
                                               ? cfg->stall_threshold_ns
                                               : DEFAULT_STALL_NS);
  pthread_mutex_init(&d->threads_lock, NULL);
  pthread_mutex_init(&d->lock, NULL);
  pthread_cond_init(&d->wake, NULL);
  pthread_cond_init(&d->done, NULL);
  pthread_cond_init(&d->room, NULL);
  int err = ebi_backend_init_domain(d);
  if (!err)
    err = watchdog_start();
  if (!err) {
    err = ebi_life_begin(&d->life, EBI_KIND_DOMAIN, cfg ? cfg->name : NULL);
  }
  if (!err)
    ebi_domain_locate_rd(d); /* before d is handed out */
  if (!err && (err = reclaimer_start(d)) != 0) {
    ebi_registry_lock();
    ebi_life_abort_locked(&d->life);
    ebi_registry_unlock();
  }
  if (err) {
    ebi_backend_fini_domain(d);
    free(d);
    ebi_report(EBRA_ERR_NOMEM, "ebra_domain_create: %s", strerror(err));
    errno = err;
    return NULL;
  }
  watchdog_poke();
  return d;
}

int ebra_domain_destroy(ebra_domain_t *d) {
  int rc = EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, "ebra_domain_destroy");
  if (rc)
    return rc;
  if (tls_reclaiming) {
    ebi_report(EBRA_ERR_BAD_CALL, "ebra_domain_destroy of '%s' from a cleanup or deferred call",
               d->life.name);
    return -EDEADLK;
  }
  if (ebi_atomic_load_relaxed(&d->xweak_tables) > 0) {
    ebi_report(EBRA_ERR_BAD_CALL, "ebra_domain_destroy: domain '%s' still has weak tables",
               d->life.name);
    return -EBUSY;
  }
  ebra_domain_unregister_thread(d); /* the caller, if it was registered */
  pthread_mutex_lock(&d->threads_lock);
  const uint32_t others = d->nthreads - d->nown; /* ebra's own threads never count */
  pthread_mutex_unlock(&d->threads_lock);
  if (others) {
    ebi_report(EBRA_ERR_BAD_CALL,
                "domain '%s': %u threads still registered (they unregister at exit or "
                "with ebra_domain_unregister_thread)", d->life.name, others);
    return -EBUSY;
  }
  /* The reclaimer runs rounds until one leaves nothing pending, so chains
   * of deferred calls that defer more all run (R1). */
  pthread_mutex_lock(&d->lock);
  d->stop = true;
  pthread_cond_signal(&d->wake);
  pthread_cond_broadcast(&d->room);
  pthread_mutex_unlock(&d->lock);
  pthread_join(d->reclaimer, NULL);
  ebi_life_end(&d->life, EBI_KIND_DOMAIN, "ebra_domain_destroy");
  ebi_backend_fini_domain(d);
  /* Like pools, the struct stays as a tombstone: later calls get EBADF. */
  return 0;
}

int ebra_domain_set_backlog(ebra_domain_t *d, uint64_t max_pending) {
  int rc = EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, "ebra_domain_set_backlog");
  if (rc)
    return rc;
  ebi_atomic_store_relaxed(&d->xmax_pending, max_pending);
  pthread_mutex_lock(&d->lock);
  pthread_cond_broadcast(&d->room); /* a raised bound lets waiters go */
  pthread_mutex_unlock(&d->lock);
  return 0;
}

int ebra_domain_set_batching(ebra_domain_t *d, unsigned batch_size, uint64_t max_age_ns) {
  int rc = EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, "ebra_domain_set_batching");
  if (rc)
    return rc;
  if (batch_size > MAX_BATCH) {
    ebi_report(EBRA_ERR_BAD_CALL, "ebra_domain_set_batching: batch_size %u is above %u",
               batch_size, MAX_BATCH);
    return -EINVAL;
  }
  if (batch_size)
    ebi_atomic_store_relaxed(&d->xbatch_size, batch_size);
  if (max_age_ns)
    ebi_atomic_store_relaxed(&d->xmax_age_ns, max_age_ns);
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void percentiles(const uint64_t *ring, uint64_t count, uint64_t *p50, uint64_t *p90,
                        uint64_t *p99, uint64_t *max) {
  const size_t n = count < EBI_LATENCY_RING ? (size_t)count : EBI_LATENCY_RING;
  *p50 = *p99 = 0;
  if (p90)
    *p90 = 0;
  if (max)
    *max = 0;
  if (!n)
    return;
  uint64_t v[EBI_LATENCY_RING];
  memcpy(v, ring, n * sizeof *v);
  qsort(v, n, sizeof *v, cmp_u64);
  *p50 = v[(n - 1) * 50 / 100];
  if (p90)
    *p90 = v[(n - 1) * 90 / 100];
  *p99 = v[(n - 1) * 99 / 100];
  if (max)
    *max = v[n - 1];
}

int ebra_domain_stats(ebra_domain_t *d, ebra_domain_stats_t *out) {
  int rc = EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, "ebra_domain_stats");
  if (rc)
    return rc;
  if (!out)
    return ebi_bad_call("ebra_domain_stats: NULL out");
  memset(out, 0, sizeof *out);
  uint64_t retired, bytes;
  pthread_mutex_lock(&d->threads_lock);
  retired = d->exited_retired;
  bytes = d->exited_retired_bytes;
  for (ebi_dthread_t *dt = d->threads; dt; dt = dt->next) {
    retired += ebi_atomic_load_relaxed(&dt->xretired);
    bytes += ebi_atomic_load_relaxed(&dt->xretired_bytes);
  }
  out->threads = d->nthreads - d->nown;
  pthread_mutex_unlock(&d->threads_lock);
  out->reclaimed = ebi_atomic_load_relaxed(&d->xreclaimed);
  const uint64_t rbytes = ebi_atomic_load_relaxed(&d->xreclaimed_bytes);
  out->retired = retired > out->reclaimed ? retired : out->reclaimed;
  out->pending = out->retired - out->reclaimed;
  out->pending_bytes = bytes > rbytes ? bytes - rbytes : 0;
  out->grace_periods = ebi_atomic_load_relaxed(&d->xgrace_periods);
  out->batches = ebi_atomic_load_relaxed(&d->xbatches);
  out->batch_size = ebi_atomic_load_relaxed(&d->xbatch_size);
  out->max_batch_age_ns = ebi_atomic_load_relaxed(&d->xmax_age_ns);
  out->max_pending = backlog_bound(d);
  out->helped_rounds = ebi_atomic_load_relaxed(&d->xhelped);
  out->stalls = ebi_atomic_load_relaxed(&d->xstalls);
  const uint64_t since = ebi_atomic_load_relaxed(&d->xgp_since_ns);
  const uint64_t now = ebi_now_ns();
  if (since && now > since && now - since >= ebi_atomic_load_relaxed(&d->xstall_ns))
    out->stalled_ns = now - since;
  pthread_mutex_lock(&d->lock);
  percentiles(d->gp_ns, out->grace_periods, &out->gp_ns_p50, &out->gp_ns_p90, &out->gp_ns_p99,
              &out->gp_ns_max);
  percentiles(d->reuse_ns, d->nsamples, &out->reuse_ns_p50, NULL, &out->reuse_ns_p99,
              &out->reuse_ns_max);
  percentiles(d->cleanup_ns, d->nsamples, &out->cleanup_ns_p50, NULL, &out->cleanup_ns_p99,
              &out->cleanup_ns_max);
  memcpy(out->gp_ns_hist, d->gp_hist, sizeof out->gp_ns_hist);
  out->gp_ns_sum = d->gp_sum;
  memcpy(out->reuse_ns_hist, d->reuse_hist, sizeof out->reuse_ns_hist);
  out->reuse_ns_sum = d->reuse_sum;
  pthread_mutex_unlock(&d->lock);
  return 0;
}

/* ---- stall watchdog ------------------------------------------------------------ */

/* One thread per process (ebra's own; started with the first domain, again
 * in a fork child) looks at every domain's running grace period every
 * quarter of the smallest stall threshold (at most 250 ms), and reports a
 * grace period older than its domain's threshold once (EBRA_WARN_STALL),
 * naming the domain, the age, the pending bytes and the threads that can
 * hold it.  The reports are made after the registry lock is released, so a
 * report hook may call into ebra. */
#define WD_MAX_REPORTS 8
#define WD_MSG 768
#define WD_MAX_PERIOD_NS 250000000ull

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond = PTHREAD_COND_INITIALIZER; /* wd_lock */
static bool wd_running, wd_poke;                          /* wd_lock */
static pthread_t wd_thread;
/* Watchdog thread only: */
static uint64_t wd_period_ns;
static uint32_t wd_nmsgs;
static char wd_msgs[WD_MAX_REPORTS][WD_MSG];

/* Append the threads registered with d that can hold its grace period:
 * for ck-epoch the ones inside a section; for liburcu every registered
 * one (liburcu keeps the section state in each thread's TLS).  Registry
 * lock held (then threads_lock). */
static void stall_threads(ebra_domain_t *d, char *buf, size_t cap, size_t len) {
  pthread_mutex_lock(&d->threads_lock);
  uint32_t shown = 0;
  for (ebi_dthread_t *dt = d->threads; dt && len + 64 < cap; dt = dt->next) {
    if (dt->ebra_own)
      continue;
    if (d->backend == EBRA_RECLAIM_CK_EPOCH &&
        !(dt->ck_record && ck_pr_load_uint(&dt->ck_record->active)))
      continue;
    char name[16] = "?";
    pthread_getname_np(dt->self, name, sizeof name);
    len += (size_t)snprintf(buf + len, cap - len, "%s%d '%s'", shown++ ? ", " : "", dt->tid,
                            name);
  }
  pthread_mutex_unlock(&d->threads_lock);
  if (!shown && len + 1 < cap)
    snprintf(buf + len, cap - len, "none registered here (another domain of the same "
             "liburcu flavour, or a thread that left without ending its section)");
}

static void stall_check(ebi_life_t *l) {
  ebra_domain_t *d = (ebra_domain_t *)l;
  const uint64_t thr = ebi_atomic_load_relaxed(&d->xstall_ns);
  if (thr == UINT64_MAX)
    return;
  if (thr / 4 < wd_period_ns)
    wd_period_ns = thr / 4 ? thr / 4 : 1;
  const uint64_t since = ebi_atomic_load_relaxed(&d->xgp_since_ns);
  const uint64_t seq = ebi_atomic_load_relaxed(&d->xgp_seq);
  const uint64_t now = ebi_now_ns();
  if (!since || now < since || now - since < thr || d->stall_reported_seq == seq)
    return;
  d->stall_reported_seq = seq;
  ebi_atomic_add_relaxed(&d->xstalls, 1);
  if (wd_nmsgs == WD_MAX_REPORTS)
    return;
  ebra_domain_stats_t st;
  ebra_domain_stats(d, &st);
  char *buf = wd_msgs[wd_nmsgs++];
  const int n = snprintf(buf, WD_MSG,
                         "domain '%s' (%s): a grace period has been held up for %llu ms "
                         "(threshold %llu ms); %llu entries, %llu bytes pending; threads "
                         "that can hold it (kernel id, name): ",
                         l->name, ebra_reclaim_backend_name(d->backend),
                         (unsigned long long)((now - since) / 1000000),
                         (unsigned long long)(thr / 1000000), (unsigned long long)st.pending,
                         (unsigned long long)st.pending_bytes);
  if (n > 0 && n < WD_MSG)
    stall_threads(d, buf, WD_MSG, (size_t)n);
}

static void *watchdog_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "ebra-watchdog");
  for (;;) {
    wd_period_ns = WD_MAX_PERIOD_NS;
    wd_nmsgs = 0;
    ebi_registry_lock();
    ebi_life_each_locked(EBI_KIND_DOMAIN, stall_check);
    ebi_registry_unlock();
    for (uint32_t i = 0; i < wd_nmsgs; i++)
      ebi_report(EBRA_WARN_STALL, "%s", wd_msgs[i]);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const uint64_t at = (uint64_t)ts.tv_nsec + wd_period_ns;
    ts.tv_sec += (time_t)(at / 1000000000ull);
    ts.tv_nsec = (long)(at % 1000000000ull);
    pthread_mutex_lock(&wd_lock);
    if (!wd_poke) /* a new domain may have a shorter threshold */
      pthread_cond_timedwait(&wd_cond, &wd_lock, &ts);
    wd_poke = false;
    pthread_mutex_unlock(&wd_lock);
  }
  return NULL;
}

static int watchdog_start(void) {
  int err = 0;
  pthread_mutex_lock(&wd_lock);
  if (!wd_running) {
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    err = pthread_create(&wd_thread, &a, watchdog_main, NULL);
    pthread_attr_destroy(&a);
    wd_running = (err == 0);
  }
  pthread_mutex_unlock(&wd_lock);
  return err;
}

/* A domain was created: look at it now (its threshold may be shorter). */
static void watchdog_poke(void) {
  pthread_mutex_lock(&wd_lock);
  wd_poke = true;
  pthread_cond_signal(&wd_cond);
  pthread_mutex_unlock(&wd_lock);
}

/* ---- fork ------------------------------------------------------------------ */

/* Registry lock held by the caller in all three.  Prepare takes every
 * domain lock in lock order; "parent" releases them (the child calls it
 * too, before it releases the threads that did not survive the fork). */
static void domain_fork_lock(ebi_life_t *l) {
  ebra_domain_t *d = (ebra_domain_t *)l;
  pthread_mutex_lock(&d->threads_lock);
  for (ebi_dthread_t *dt = d->threads; dt; dt = dt->next)
    pthread_mutex_lock(&dt->batch_lock);
  pthread_mutex_lock(&d->lock);
}

static void domain_fork_unlock(ebi_life_t *l) {
  ebra_domain_t *d = (ebra_domain_t *)l;
  pthread_mutex_unlock(&d->lock);
  for (ebi_dthread_t *dt = d->threads; dt; dt = dt->next)
    pthread_mutex_unlock(&dt->batch_lock);
  pthread_mutex_unlock(&d->threads_lock);
}

static void domains_fork_prepare(void) { ebi_life_each_locked(EBI_KIND_DOMAIN, domain_fork_lock); }
static void domains_fork_parent(void) { ebi_life_each_locked(EBI_KIND_DOMAIN, domain_fork_unlock); }

/* The child has no reclaimer threads: reset each domain's reclaimer state
 * here (registry lock held); domains_fork_restart starts one per domain
 * once every lock is released.  Batches the parent's reclaimer held at the
 * fork are not in the child (leaked there, never run twice). */
static void domain_fork_reset(ebi_life_t *l) {
  ebra_domain_t *d = (ebra_domain_t *)l;
  /* The parent's reclaimer may have been waiting on these: no waiter
   * exists in the child, so they are re-initialised. */
  pthread_cond_init(&d->wake, NULL);
  pthread_cond_init(&d->done, NULL);
  pthread_cond_init(&d->room, NULL);
  d->reclaimer_idle = false;
  d->helping = 0; /* helper threads did not survive the fork */
  ebi_atomic_store_relaxed(&d->xgp_since_ns, 0);
  d->barrier_done = d->barrier_req;
  if (ebi_fork_lost_rounds()) { /* a round cut in half is gone: recount */
    uint64_t n = 0;
    for (const ebi_batch_t *b = d->pending; b; b = b->next)
      n += b->n;
    ebi_atomic_store_relaxed(&d->xinflight, n);
  }
}

static bool fork_restart_watchdog; /* set by domains_fork_child, in the child */

/* Registry lock held: no thread is started here (domains_fork_restart). */
static void domains_fork_child(void) {
  /* The watchdog did not survive the fork; wd_lock was not held across it
   * (only domain creation takes it, never under the registry lock). */
  pthread_mutex_init(&wd_lock, NULL);
  pthread_cond_init(&wd_cond, NULL);
  wd_running = wd_poke = false;
  fork_restart_watchdog = ebi_life_capacity_locked(EBI_KIND_DOMAIN) > 0;
  ebi_life_each_locked(EBI_KIND_DOMAIN, domain_fork_reset);
}

/* The live domain at id, or NULL; takes the registry lock for the lookup
 * only.  In a fork child before fork() returns nothing can destroy it:
 * the program's one thread is the caller, and reclaimers destroy nothing. */
static ebra_domain_t *domain_at(uint32_t id, bool *past_end) {
  ebi_registry_lock();
  *past_end = id >= ebi_domain_registry_capacity();
  ebra_domain_t *d = *past_end ? NULL : ebi_domain_registry_at(id);
  ebi_registry_unlock();
  return d;
}

/* Last in the child, with no ebra lock held: pthread_create may allocate
 * through ebra's malloc (libebra-malloc.so), whose slow path takes the
 * registry lock or a pool's grow_lock, and so may a report hook. */
static void domains_fork_restart(void) {
  if (fork_restart_watchdog && watchdog_start() != 0)
    ebi_report(EBRA_ERR_NOMEM, "fork: cannot restart the stall watchdog");
  bool past_end = false;
  for (uint32_t id = 0; !past_end; id++) {
    ebra_domain_t *d = domain_at(id, &past_end);
    if (d && reclaimer_start(d) != 0)
      ebi_report(EBRA_ERR_NOMEM, "fork: cannot restart the reclaimer of domain '%s'",
                 d->life.name);
  }
}

/* ---- thread exit and fork, reached through src/thread.c's hooks ----------- */

/* Thread t is going away: leave every live domain it is in.  Registry lock. */
static void domains_thread_release_locked(ebi_thread_t *t) {
  for (uint32_t id = 0; id < ebi_thread_nslots(t, EBI_SLOTS_DOMAIN); id++) {
    ebi_slot_t *s = ebi_thread_slot(t, EBI_SLOTS_DOMAIN, id);
    ebra_domain_t *d = ebi_domain_registry_at(id);
    if (s->state && d && d->life.serial == s->serial)
      ebi_dthread_release_locked(s->state, t);
  }
}

static const ebi_thread_hooks_t domain_hooks = {
    .above_registry = false, /* domain locks rank below the registry lock */
    .thread_release_locked = domains_thread_release_locked,
    .fork_prepare = domains_fork_prepare,
    .fork_parent = domains_fork_parent,
    .fork_child = domains_fork_child,
    .fork_restart = domains_fork_restart,
};

__attribute__((constructor)) static void domains_init(void) { ebi_thread_hooks_add(&domain_hooks); }

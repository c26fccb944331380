/* SPDX-License-Identifier: MIT */
/* src/report.c — error reporting: the user's hook, or stderr; at most
 * EBRA_REPORT_LIMIT reports of each kind, the rest counted.
 *
 * Invariants
 *   P1  made[k] = delivered[k] + suppressed[k] + (reports of kind k in
 *       flight); a report is delivered iff its rank (made[k] after its own
 *       increment) is within the limit read at that moment.
 *   P2  announced[k] goes false -> true once: the one "further reports
 *       suppressed" line per kind.
 *   R1  the hook (or stderr) is never called by a thread that holds the
 *       registry lock.  A report made under it is formatted and queued in
 *       `deferred` (counted as delivered), and delivered by
 *       ebi_registry_unlock, after the release: by the reporting thread,
 *       before the call that made it returns, unless another thread's
 *       release got there first.  So a hook may call ebra_pool_stats,
 *       ebra_snapshot or anything else that takes that lock.  At most
 *       DEFERRED_MAX wait; one more is counted as suppressed instead (P1
 *       still holds) and the first such is announced when the queue is
 *       delivered.  The fork handlers release the registry lock without
 *       delivering (src/thread.c); the child delivers at its end.
 *   R2  a thread delivering the queue does not deliver it again from
 *       inside the hook (a hook that takes and releases the registry lock):
 *       the outer loop takes the rest, so the hook is not re-entered on
 *       its own thread.
 * Ordering: every counter is a relaxed atomic; they are statistics with no
 * ordering duty.  The hook and the queue are guarded by report_lock (a
 * leaf); xdeferred_n is a relaxed hint, rechecked under it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static ebra_report_fn *report_hook; /* under report_lock */
static void *report_arg;            /* under report_lock */

static const char *const kind_names[] = {
    [EBRA_ERR_BAD_CONFIG] = "bad-config",
    [EBRA_ERR_NOMEM] = "out-of-memory",
    [EBRA_ERR_CAP_REACHED] = "cap-reached",
    [EBRA_ERR_FOREIGN_PTR] = "foreign-pointer",
    [EBRA_ERR_WRONG_POOL] = "wrong-pool",
    [EBRA_ERR_MISALIGNED] = "misaligned-pointer",
    [EBRA_ERR_DOUBLE_FREE] = "double-free",
    [EBRA_ERR_USE_AFTER_FREE] = "use-after-free",
    [EBRA_ERR_USE_AFTER_DESTROY] = "use-after-destroy",
    [EBRA_ERR_BAD_OPTION] = "bad-option",
    [EBRA_ERR_INTERNAL] = "internal-error",
    [EBRA_WARN_LIVE_AT_DESTROY] = "live-at-destroy",
    [EBRA_ERR_BAD_CALL] = "bad-call",
    [EBRA_ERR_MEMORY_LIMIT] = "memory-limit",
    [EBRA_INFO_ENGINE] = "engine",
    [EBRA_WARN_STALL] = "stall",
    [EBRA_ERR_HELD] = "held-by-reclamation",
    [EBRA_INFO_OPTIONS] = "options",
    [EBRA_WARN_SLOW_READER] = "slow-reader",
};
_Static_assert(sizeof kind_names / sizeof kind_names[0] <= EBRA_REPORT_KINDS,
               "EBRA_REPORT_KINDS must exceed every kind");

/* R1: reports waiting for the registry lock to be released. */
#define DEFERRED_MAX 16
typedef struct {
  ebra_error_kind_t kind;
  char msg[512];
} deferred_t;
static deferred_t deferred[DEFERRED_MAX]; /* report_lock */
static unsigned deferred_head;            /* report_lock: oldest */
static unsigned deferred_n;               /* report_lock */
static bool deferred_overflowed;          /* report_lock: one was counted suppressed */
static _Atomic unsigned xdeferred_n;      /* deferred_n, for a lock-free look */
static __thread bool delivering __attribute__((tls_model("initial-exec"))); /* R2 */

static _Atomic unsigned long long made[EBRA_REPORT_KINDS];
static _Atomic unsigned long long delivered[EBRA_REPORT_KINDS];
static _Atomic unsigned long long suppressed[EBRA_REPORT_KINDS];
static _Atomic bool announced[EBRA_REPORT_KINDS];
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

const char *ebra_error_kind_name(ebra_error_kind_t kind) {
  if ((unsigned)kind < sizeof kind_names / sizeof kind_names[0] && kind_names[kind])
    return kind_names[kind];
  return "unknown";
}

void ebra_set_report_hook(ebra_report_fn *fn, void *arg) {
  pthread_mutex_lock(&report_lock);
  report_hook = fn;
  report_arg = arg;
  pthread_mutex_unlock(&report_lock);
}

/* > 0 while this thread is in the hook or writing a report to stderr: a
 * report may be made with a pool's grow_lock held, so what the hook does
 * (allocate, say) must not start work that takes pool locks
 * (ebi_giveback_tick asks). */
static __thread unsigned emitting __attribute__((tls_model("initial-exec")));

bool ebi_report_emitting(void) { return emitting != 0; }

static void emit(ebra_report_fn *fn, void *arg, ebra_error_kind_t kind, const char *msg) {
  emitting++;
  if (fn)
    fn(kind, msg, arg);
  else
    fprintf(stderr, "ebra: %s: %s\n", ebra_error_kind_name(kind), msg);
  emitting--;
}

/* R1: queue a report made under the registry lock; false if the queue is
 * full (the caller counts it as suppressed). */
static bool defer(ebra_error_kind_t kind, const char *msg) {
  pthread_mutex_lock(&report_lock);
  const bool room = deferred_n < DEFERRED_MAX;
  if (room) {
    deferred_t *d = &deferred[(deferred_head + deferred_n) % DEFERRED_MAX];
    d->kind = kind;
    snprintf(d->msg, sizeof d->msg, "%s", msg);
    ebi_atomic_store_relaxed(&xdeferred_n, ++deferred_n);
  } else {
    deferred_overflowed = true;
  }
  pthread_mutex_unlock(&report_lock);
  return room;
}

/* To the hook or stderr now, or, while this thread holds the registry
 * lock, once it is released (R1). */
static void deliver(ebra_report_fn *fn, void *arg, ebra_error_kind_t kind, unsigned k,
                    const char *msg) {
  if (!ebi_registry_held()) {
    emit(fn, arg, kind, msg);
  } else if (!defer(kind, msg)) { /* P1: it was counted as delivered */
    ebi_atomic_sub_relaxed(&delivered[k], 1);
    ebi_atomic_add_relaxed(&suppressed[k], 1);
  }
}

/* Fork: report_lock is the last lock ebra's prepare takes (no hook runs
 * under it, and nothing under it allocates), so a child never inherits it
 * held by a thread that is not there, with the queue half-changed. */
void ebi_report_fork_lock(void) { pthread_mutex_lock(&report_lock); } /* released in: */
void ebi_report_fork_unlock(void) { pthread_mutex_unlock(&report_lock); }

void ebi_report_deliver_deferred(void) {
  if (!ebi_atomic_load_relaxed(&xdeferred_n) || delivering)
    return; /* nothing waits, or R2 */
  delivering = true;
  for (;;) {
    deferred_t d;
    bool overflowed = false;
    pthread_mutex_lock(&report_lock);
    if (deferred_n == 0) {
      pthread_mutex_unlock(&report_lock);
      break;
    }
    d = deferred[deferred_head];
    deferred_head = (deferred_head + 1) % DEFERRED_MAX;
    ebi_atomic_store_relaxed(&xdeferred_n, --deferred_n);
    if (deferred_n == 0) {
      overflowed = deferred_overflowed;
      deferred_overflowed = false;
    }
    ebra_report_fn *fn = report_hook;
    void *arg = report_arg;
    pthread_mutex_unlock(&report_lock);
    emit(fn, arg, d.kind, d.msg);
    if (overflowed)
      emit(fn, arg, d.kind, "further reports made under the registry lock were suppressed "
                            "(more than 16 waited for it); ebra_report_stats counts them");
  }
  delivering = false;
}

/* atexit, once some report was suppressed: how many, per kind, on stderr
 * (a hook got the announcement; at exit it may no longer be callable). */
static void print_suppressed_at_exit(void) {
  pthread_mutex_lock(&report_lock);
  const bool hooked = report_hook != NULL;
  pthread_mutex_unlock(&report_lock);
  if (hooked)
    return;
  for (unsigned k = 0; k < EBRA_REPORT_KINDS; k++) {
    const unsigned long long n = ebi_atomic_load_relaxed(&suppressed[k]);
    if (n)
      fprintf(stderr, "ebra: %s: %llu further reports of this kind were suppressed "
                      "(EBRA_REPORT_LIMIT)\n", ebra_error_kind_name((ebra_error_kind_t)k), n);
  }
}

static void register_exit_line(void) { atexit(print_suppressed_at_exit); }

/* P1: is this report, of kind k, within the limit?  If not, count it, and
 * announce the first one held back (P2). */
static bool within_limit(ebra_report_fn *fn, void *arg, ebra_error_kind_t kind, unsigned k) {
  const long limit = kind == EBRA_INFO_OPTIONS ? 0 : ebi_option_value(EBRA_OPT_REPORT_LIMIT);
  const unsigned long long rank = ebi_atomic_add_relaxed(&made[k], 1) + 1;
  if (limit <= 0 || rank <= (unsigned long long)limit) {
    ebi_atomic_add_relaxed(&delivered[k], 1);
    return true;
  }
  ebi_atomic_add_relaxed(&suppressed[k], 1);
  if (!ebi_atomic_exchange_relaxed(&announced[k], true)) {
    char msg[200];
    snprintf(msg, sizeof msg, "further %s reports suppressed after %ld (EBRA_REPORT_LIMIT); "
             "ebra_report_stats and the monitor count them", ebra_error_kind_name(kind), limit);
    if (!ebi_registry_held())
      emit(fn, arg, kind, msg);
    else
      defer(kind, msg); /* R1; if full, the overflow line says it */
    pthread_once(&exit_once, register_exit_line);
  }
  return false;
}

static void report_v(ebra_error_kind_t kind, const char *fmt, va_list ap) {
  pthread_mutex_lock(&report_lock);
  ebra_report_fn *fn = report_hook;
  void *arg = report_arg;
  pthread_mutex_unlock(&report_lock);
  /* Informational reports reach a hook, or stderr only when verbose. */
  if (!fn && kind == EBRA_INFO_ENGINE && !ebi_option_is_on(EBRA_OPT_VERBOSE))
    return;
  const unsigned k = (unsigned)kind < EBRA_REPORT_KINDS ? (unsigned)kind : 0;
  if (!within_limit(fn, arg, kind, k))
    return;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  deliver(fn, arg, kind, k, msg);
}

int ebra_report_stats(ebra_report_stats_t *out) {
  if (!out)
    return ebi_bad_call("ebra_report_stats: out is NULL");
  for (unsigned k = 0; k < EBRA_REPORT_KINDS; k++) {
    out->delivered[k] = ebi_atomic_load_relaxed(&delivered[k]);
    out->suppressed[k] = ebi_atomic_load_relaxed(&suppressed[k]);
  }
  return 0;
}

void ebi_report(ebra_error_kind_t kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report_v(kind, fmt, ap);
  va_end(ap);
}

/* Count the error against the pool, then report it. */
void ebi_report_pool(ebra_pool_t *pool, ebra_error_kind_t kind, const char *fmt, ...) {
  if (pool && kind != EBRA_WARN_LIVE_AT_DESTROY)
    ebi_atomic_add_relaxed(&pool->xerrors, 1);
  va_list ap;
  va_start(ap, fmt);
  report_v(kind, fmt, ap);
  va_end(ap);
}

void ebi_die(const char *file, int line, const char *why) {
  fprintf(stderr, "ebra: fatal internal error at %s:%d: %s\n", file, line, why);
  abort();
}

int ebi_bad_call(const char *msg) {
  ebi_report(EBRA_ERR_BAD_CALL, "%s", msg);
  return -EINVAL;
}

const char *ebra_strerror(int err) {
  switch (err < 0 ? -err : err) {
  case 0: return "success";
  case EINVAL: return "bad argument or configuration (a NULL object, a value out of range, "
                      "a pointer inside an object, a key of the wrong kind)";
  case ENOMEM: return "out of memory, or the pool's object cap or the hard memory limit reached";
  case EFAULT: return "not an object of any ebra pool";
  case EXDEV: return "the object belongs to another pool";
  case EALREADY: return "the object is already free, retired, or owned by a weak handle; "
                        "or the engine is already configured";
  case EBADF: return "the pool, domain, weak table, cache or subject was destroyed";
  case EBUSY: return "still in use (objects alive, threads registered, weak tables open, or "
                     "inside a read section)";
  case EDEADLK: return "the call would wait for itself (inside a read section of the domain, or "
                       "inside an alert callback, or from a cleanup or deferred call)";
  case EPERM: return "no matching ebra_read_lock";
  case ETIMEDOUT: return "timed out (a grace period held up by a read section or an "
                         "unquiescent qsbr thread)";
  case ENOENT: return "not found (a lookup miss, a dead object, or no such subscription)";
  case ESTALE: return "the handle's object is dead or the handle is stale";
  case EMFILE: return "all 255 weak-table tags are in use";
  case ENOTSUP: return "the domain's backend does not support it (the weak cache needs liburcu)";
  case ENOSPC: return "no room left (all 64 alerts in use)";
  case EUCLEAN: return "the audit found an inconsistency (reported with the details)";
  case EAGAIN: return "a thread could not be started";
  default: return "unknown error";
  }
}

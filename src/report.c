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
 * Ordering: every counter is a relaxed atomic; they are statistics with no
 * ordering duty.  The hook itself is guarded by report_lock (a leaf). */
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
};
_Static_assert(sizeof kind_names / sizeof kind_names[0] <= EBRA_REPORT_KINDS,
               "EBRA_REPORT_KINDS must exceed every kind");

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

static void emit(ebra_report_fn *fn, void *arg, ebra_error_kind_t kind, const char *msg) {
  if (fn)
    fn(kind, msg, arg);
  else
    fprintf(stderr, "ebra: %s: %s\n", ebra_error_kind_name(kind), msg);
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
    emit(fn, arg, kind, msg);
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
  emit(fn, arg, kind, msg);
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

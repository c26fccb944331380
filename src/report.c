/* SPDX-License-Identifier: MIT */
/* src/report.c — error reporting: the user's hook, or stderr. */
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
};

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

static void report_v(ebra_error_kind_t kind, const char *fmt, va_list ap) {
  pthread_mutex_lock(&report_lock);
  ebra_report_fn *fn = report_hook;
  void *arg = report_arg;
  pthread_mutex_unlock(&report_lock);
  /* Informational reports reach a hook, or stderr only when verbose. */
  if (!fn && kind == EBRA_INFO_ENGINE && !ebi_option_is_on(EBRA_OPT_VERBOSE))
    return;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  if (fn)
    fn(kind, msg, arg);
  else
    fprintf(stderr, "ebra: %s: %s\n", ebra_error_kind_name(kind), msg);
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

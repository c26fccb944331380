/* ebra/error.h — error kinds and the report hook.
 *
 * Every misuse ebra detects is reported in two ways:
 *  1. through the return value: NULL with errno set, or a negative errno;
 *  2. through the report hook, with a kind and a human-readable message.
 * The default hook prints "ebra: <kind>: <message>" to stderr.  Reports are
 * never made on a fast path that succeeded, so a hook costs nothing until
 * something goes wrong.
 */
#ifndef EBRA_ERROR_H
#define EBRA_ERROR_H

#include "ebra/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What was detected.  The errno each kind is returned with is in brackets. */
typedef enum ebra_error_kind_e {
  EBRA_ERR_BAD_CONFIG = 1,   /* pool config rejected                 [EINVAL]  */
  EBRA_ERR_NOMEM,            /* the OS refused memory                [ENOMEM]  */
  EBRA_ERR_CAP_REACHED,      /* the pool's hard object cap is reached [ENOMEM] */
  EBRA_ERR_FOREIGN_PTR,      /* free of memory no ebra pool owns     [EFAULT]  */
  EBRA_ERR_WRONG_POOL,       /* free of another pool's object        [EXDEV]   */
  EBRA_ERR_MISALIGNED,       /* free of a pointer inside an object,
                                or past what the pool has handed out [EINVAL]  */
  EBRA_ERR_DOUBLE_FREE,      /* free of an object that is already free [EALREADY] */
  EBRA_ERR_USE_AFTER_FREE,   /* (debug checks) a free object was written      */
  EBRA_ERR_USE_AFTER_DESTROY,/* call on a destroyed pool             [EBADF]   */
  EBRA_ERR_BAD_OPTION,       /* an EBRA_* variable or option value was invalid;
                                the previous value is kept (a warning) */
  EBRA_ERR_INTERNAL,         /* an invariant checker failed: a bug in ebra   */
  EBRA_WARN_LIVE_AT_DESTROY, /* destroy released objects still live (a warning) */
  EBRA_ERR_BAD_CALL,         /* a call in the wrong context, e.g. a barrier
                                inside a read section        [EDEADLK/EBUSY] */
  EBRA_ERR_MEMORY_LIMIT,     /* the hard memory limit refused a slab [ENOMEM] */
  EBRA_INFO_ENGINE           /* the strategy engine switched strategy or
                                changed a knob (reported only with
                                EBRA_VERBOSE or a hook installed)          */
} ebra_error_kind_t;

/* The hook receives the kind, a NUL-terminated message, and the argument that
 * was registered with it.  It may be called from any thread, concurrently; it
 * must not call back into the pool that reported. */
typedef void ebra_report_fn(ebra_error_kind_t kind, const char *msg, void *arg);

/* Install a report hook; NULL restores the default (stderr).  Thread-safe. */
EBRA_API void ebra_set_report_hook(ebra_report_fn *fn, void *arg);

/* A short stable name for a kind, e.g. "double-free". */
EBRA_API const char *ebra_error_kind_name(ebra_error_kind_t kind);

#ifdef __cplusplus
}
#endif
#endif /* EBRA_ERROR_H */

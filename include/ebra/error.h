/* SPDX-License-Identifier: MIT */
/** @file ebra/error.h
 * @brief the calling convention, error kinds and the report hook.
 *
 * Every public function follows one row of this table:
 *
 *   kind of function      returns                                example
 *   --------------------  -------------------------------------  -------------------------
 *   constructor           the object, or NULL with errno set;    ebra_pool_create(&cfg)
 *                         takes a config struct pointer; NULL    ebra_weak_table_create(d, NULL)
 *                         is all defaults, where every field
 *                         has one
 *   allocation            the object, or NULL with errno set     ebra_pool_alloc(pool)
 *                         (as malloc)
 *   operation             0, or a negative errno                 ebra_pool_free, ebra_read_lock
 *   count or value        0 or a negative errno; the count goes  ebra_cache_maintain(c, &n)
 *                         through an out-parameter
 *   lookup                0 and the result in an out-parameter;  ebra_cache_lookup_u64(c, k, &p)
 *                         -ENOENT for a miss; any other negative
 *                         errno is misuse
 *   read-side resolve     the object, or NULL (dead or stale     ebra_weak_get, ebra_deref
 *                         handle, or misuse; misuse alone is
 *                         reported); the fast path of a section
 *   end of a section      void: misuse (no matching lock, a      ebra_read_unlock
 *                         NULL or destroyed domain) is only
 *                         reported.  Returning nothing lets it
 *                         end in a tail call into the backend
 *                         (measured: an int return cost about
 *                         1.5 ns, 8%, per memb section)
 *   accessor              the value; for a destroyed or NULL     ebra_pool_name, ebra_domain_backend
 *                         object a documented default and a
 *                         report
 *   release of a result   void: nothing can fail                 ebra_snapshot_free
 *
 * A call that fails leaves its out-parameter (when not NULL) holding the
 * empty value of its type: NULL, 0 or EBRA_WEAK_NONE.
 *
 * Every misuse is reported twice: through the return value, and through the
 * report hook with one kind (below).  The kinds of misuse that every object
 * shares:
 *   EBRA_ERR_BAD_CALL          bad arguments (NULL, out of range) or a call
 *                              in the wrong context            [EINVAL, EDEADLK, EBUSY, EPERM]
 *   EBRA_ERR_BAD_CONFIG        a configuration struct or option value was
 *                              rejected; nothing else          [EINVAL]
 *   EBRA_ERR_USE_AFTER_DESTROY a call on a destroyed pool, domain, weak
 *                              table, cache or subject, or a second destroy
 *                                                               [EBADF]
 * Names say whose thread state a call touches: ebra_pool_thread_* the
 * calling thread's pool caches, ebra_domain_thread_* its registration in one
 * domain, ebra_thread_exit all of ebra's state of the calling thread.
 *
 * The default hook prints "ebra: <kind>: <message>" to stderr.  Reports are
 * never made on a fast path that succeeded, so a hook costs nothing until
 * something goes wrong.  Reports are bounded: at most EBRA_REPORT_LIMIT
 * (default 32) of each kind reach the hook or stderr, then one line says
 * that further reports of that kind are suppressed, and at exit one line
 * per kind gives how many were; ebra_report_stats and the monitor count
 * them.
 */
#ifndef EBRA_ERROR_H
#define EBRA_ERROR_H

#include "ebra/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What was detected.  The errno each kind is returned with is in brackets. */
typedef enum ebra_error_kind_e {
  EBRA_ERR_BAD_CONFIG = 1,   /**< a configuration was rejected         [EINVAL]  */
  EBRA_ERR_NOMEM,            /**< the OS refused memory                [ENOMEM]  */
  EBRA_ERR_CAP_REACHED,      /**< the pool's hard object cap is reached [ENOMEM] */
  EBRA_ERR_FOREIGN_PTR,      /**< free of memory no ebra pool owns     [EFAULT]  */
  EBRA_ERR_WRONG_POOL,       /**< free of another pool's object        [EXDEV]   */
  EBRA_ERR_MISALIGNED,       /**< free of a pointer inside an object,
                                or past what the pool has handed out [EINVAL]  */
  EBRA_ERR_DOUBLE_FREE,      /**< free of an object that is already free [EALREADY] */
  EBRA_ERR_USE_AFTER_FREE,   /**< (debug checks) a free object was written      */
  EBRA_ERR_USE_AFTER_DESTROY,/**< call on a destroyed object of any kind,
                                or a second destroy               [EBADF]   */
  EBRA_ERR_BAD_OPTION,       /**< an EBRA_* variable or option value was invalid;
                                the previous value is kept (a warning) */
  EBRA_ERR_INTERNAL,         /**< an invariant checker failed: a bug in ebra   */
  EBRA_WARN_LIVE_AT_DESTROY, /**< destroy released objects still live (a warning) */
  EBRA_ERR_BAD_CALL,         /**< bad arguments, or a call in the wrong
                                context (a barrier inside a read section)
                                              [EINVAL/EDEADLK/EBUSY/EPERM] */
  EBRA_ERR_MEMORY_LIMIT,     /**< the hard memory limit refused a slab [ENOMEM] */
  EBRA_INFO_ENGINE,          /**< the strategy engine switched strategy or
                                changed a knob (reported only with
                                EBRA_VERBOSE or a hook installed)          */
  EBRA_WARN_STALL,           /**< a grace period has been held up past the
                                domain's stall threshold (once per stall),
                                or a timed barrier gave up   [ETIMEDOUT]   */
  EBRA_ERR_HELD,             /**< free (or a second retire or weak handle) of
                                an object the reclamation layer holds: it
                                was retired or has a weak handle, and
                                returns to its pool after a grace period
                                                                 [EALREADY] */
  EBRA_INFO_OPTIONS,         /**< EBRA_VERBOSE: an option's effective value
                                and its origin, once per option at first use */
  EBRA_WARN_SLOW_READER      /**< read sections work but pay a cost the
                                message says how to avoid (a qsbr thread
                                that never registered); once per domain
                                (a warning) */
} ebra_error_kind_t;

/** Every kind is below this (the size of ebra_report_stats_t's arrays,
 * fixed so that new kinds do not change the struct). */
#define EBRA_REPORT_KINDS 32

/** The hook receives the kind, a NUL-terminated message, and the argument that
 * was registered with it.  It may be called from any thread, concurrently; it
 * must not call back into the pool that reported.  It is never called while
 * the library holds its registry lock: a report made under it is delivered
 * once the lock is released, before the reporting call returns, so a hook
 * may call ebra_pool_stats, ebra_snapshot and the other stats calls. */
typedef void ebra_report_fn(ebra_error_kind_t kind, const char *msg, void *arg);

/** Install a report hook; NULL restores the default (stderr).  Thread-safe. */
EBRA_API void ebra_set_report_hook(ebra_report_fn *fn, void *arg);

/** Reports made and held back, per kind (index: ebra_error_kind_t; 0 is
 * unused).  At most EBRA_OPT_REPORT_LIMIT reports of one kind are
 * delivered (to the hook or stderr); the next is replaced by one line
 * "further <kind> reports suppressed" and the rest are only counted here.
 * EBRA_INFO_OPTIONS is never limited. */
typedef struct ebra_report_stats_s {
  unsigned long long delivered[EBRA_REPORT_KINDS];  /**< to the hook or stderr */
  unsigned long long suppressed[EBRA_REPORT_KINDS]; /**< held back by the limit */
} ebra_report_stats_t;

/** Fill *out with the counts since the process started.  Returns 0, or
 * -EINVAL (out NULL, with an EBRA_ERR_BAD_CALL report).  Thread-safe;
 * the counts are read one by one, not as one atomic snapshot. */
EBRA_API int ebra_report_stats(ebra_report_stats_t *out);

/** Returns a short stable name for a kind, e.g. "double-free"; "unknown"
 * for a value that is no kind.  Never NULL; thread-safe. */
EBRA_API const char *ebra_error_kind_name(ebra_error_kind_t kind);

/** What an errno means when an ebra call returns it, in ebra's terms: err is
 * the negative value a call returned (or the errno a constructor set).
 * strerror(EXDEV) says "Invalid cross-device link"; ebra_strerror(-EXDEV)
 * says the object belongs to another pool.  Never NULL: a static string,
 * "unknown error" for a value no ebra call returns.  Thread-safe. */
EBRA_API const char *ebra_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* EBRA_ERROR_H */

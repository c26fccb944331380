/* SPDX-License-Identifier: MIT */
/* stress/stress_util.h — shared helpers of the stress tests.
 *
 * Every stress test checks a property and exits non-zero with a message
 * naming it when the property fails; "did not crash" is never the check.
 * The helpers here give the tests a common shape:
 *
 *  - arguments: -t threads, -d duration (ms), -s seed, -v, plus a few
 *    test-specific numbers or names (-b backend); defaults are smaller
 *    under TSan/ASan;
 *  - worker threads started and joined as one group (stress_spawn);
 *  - a seeded per-thread RNG (xoshiro256**), so a run is repeatable up to
 *    scheduling;
 *  - object stamps: the owner of an object writes its id, a sequence number
 *    and a check word into the object and fills the rest with a pattern
 *    derived from them; every hand-over and every free verifies the stamp;
 *  - an owner table, keyed by address and independent of object contents:
 *    claiming an address that another thread still owns is reported as a
 *    duplicate hand-out;
 *  - a report hook that fails the test on any report it was not told to
 *    expect, and counts the expected ones;
 *  - the quiescent check: audit and stats of a pool nobody is using.
 *
 * All cross-thread state is C11 atomics, so TSan can follow it: the tests
 * need no annotations.
 */
#ifndef STRESS_UTIL_H
#define STRESS_UTIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ebra.h>

#include "clock.h"

/* ---- failing -------------------------------------------------------------- */

/* Print "<test>: FAIL: <where>: <message>" and exit 1 (abort() instead if
 * STRESS_ABORT=1 is set, for a core dump). */
_Noreturn void stress_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define STRESS_FAIL(...) stress_fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define STRESS_CHECK(cond, ...)                                                \
  do {                                                                         \
    if (!(cond))                                                               \
      STRESS_FAIL(__VA_ARGS__);                                                \
  } while (0)

/* Checks that count instead of ending the test: print the first 10
 * failures as STRESS_FAIL does, count all, and go on; stress_failures()
 * is the count.  For a test whose deliberately broken build must run to
 * its end after its own checks failed, so that the sanitizer gets to see
 * the seeded bug; the test decides its exit status at the end. */
void stress_fail_soft_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define STRESS_FAIL_SOFT(...) stress_fail_soft_at(__FILE__, __LINE__, __VA_ARGS__)
#define STRESS_EXPECT(cond, ...)                                               \
  do {                                                                         \
    if (!(cond))                                                               \
      STRESS_FAIL_SOFT(__VA_ARGS__);                                           \
  } while (0)
uint64_t stress_failures(void);

/* The name that starts every message (stress_parse_args sets it to its
 * `test`); e.g. with the mode and backend once they are parsed.  The
 * string must outlive the test. */
void stress_set_name(const char *name);

/* printf to stdout, only with -v. */
void stress_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* printf to stdout, always (the one-line summary of a run). */
void stress_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- arguments ------------------------------------------------------------ */

/* A test-specific option "-<letter> N", or "-<letter> NAME" when names is
 * set.  *value holds the default on entry; when the option was not given,
 * san_default (if nonzero) replaces it under TSan or ASan, and
 * tsan_default (if nonzero) under TSan.  A named option takes one of the
 * NULL-terminated names and sets *value to its index (min and max are not
 * used). */
typedef struct stress_opt_s {
  char letter;
  const char *help;
  unsigned long *value;
  unsigned long min, max;
  unsigned long san_default;
  unsigned long tsan_default;
  const char *const *names;
} stress_opt_t;

typedef struct stress_args_s {
  unsigned long threads;       /* -t; >= 8 by default */
  unsigned long duration_ms;   /* -d */
  unsigned long seed;          /* -s */
  bool verbose;                /* -v */
  /* Inputs, 0 if unused: under TSan (ASan) the duration, given or not,
   * becomes this percentage of itself. */
  unsigned tsan_duration_pct, asan_duration_pct;
} stress_args_t;

/* Parse argv into *a (which holds the defaults, and the sanitizer default
 * of the duration in san_duration_ms if nonzero) and the extra options.
 * A malformed option prints the usage and exits 2. */
void stress_parse_args(const char *test, int argc, char **argv, stress_args_t *a,
                       unsigned long san_duration_ms, const stress_opt_t *extra,
                       size_t nextra);
/* Options that parse but do not fit together: print the message and a
 * hint to -h, and exit 2 like a malformed option. */
_Noreturn void stress_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The names of a -b option: *value + EBRA_RECLAIM_URCU_MEMB is the
 * backend (the enum's order). */
extern const char *const stress_backend_names[];
static inline ebra_reclaim_backend_t stress_backend(unsigned long index) {
  return (ebra_reclaim_backend_t)(EBRA_RECLAIM_URCU_MEMB + (int)index);
}

/* EBRA_FEATURE_TSAN / EBRA_FEATURE_ASAN bits of the library build. */
unsigned stress_sanitizers(void);

/* ---- randomness ----------------------------------------------------------- *
 * (Time: now_ns(), sleep_us() ... of tests/clock.h, included here.) */

typedef struct stress_rng_s {
  uint64_t s[4];
} stress_rng_t;

/* Stream `stream` of the generator for `seed`: distinct streams differ. */
void stress_rng_init(stress_rng_t *r, uint64_t seed, uint64_t stream);
uint64_t stress_rng_next(stress_rng_t *r);
/* Uniform in [0, n); n > 0. */
static inline uint64_t stress_rng_below(stress_rng_t *r, uint64_t n) {
  return (uint64_t)(((unsigned __int128)stress_rng_next(r) * n) >> 64);
}
/* True with probability pct/100. */
static inline bool stress_rng_pct(stress_rng_t *r, unsigned pct) {
  return stress_rng_below(r, 100) < pct;
}

/* ---- pools under test ----------------------------------------------------- */

typedef struct stress_pool_s {
  ebra_pool_config_t cfg;
  ebra_pool_t *pool;
  unsigned index;             /* position in the test's pool table */
  bool untracked;             /* keep its objects out of the owner table */
} stress_pool_t;

/* Create every pool of the table (index := position); fails the test if a
 * create fails. */
void stress_pools_create(stress_pool_t *pools, size_t n);
/* Destroy them: each destroy must return 0, a second one -EBADF. */
void stress_pools_destroy(stress_pool_t *pools, size_t n);

/* The quiescent check of a pool that no thread is using:
 *   ebra_pool_audit() == 0, duplicates == invalid == 0,
 *   live == expect_live, cached + live == carved,
 *   stats: allocs - frees == objects_live == live, objects_carved == carved,
 *   carved <= max_objects if capped,
 *   allocs == expect_allocs unless expect_allocs == STRESS_ANY. */
#define STRESS_ANY UINT64_MAX
void stress_check_quiescent(const stress_pool_t *sp, uint64_t expect_live,
                            uint64_t expect_allocs, const char *when);
/* No object is lost: with live == 0 and no thread but the caller holding a
 * cache of the pool, the caller allocates as many objects as the pool has
 * carved, and the pool must not carve a new one for that: every carved
 * object is reachable from the depot or the caller's cache.  (The audit
 * cannot see this: it counts objects in every magazine the pool ever
 * made, reachable or not.)  Frees them all again. */
void stress_check_reachable(const stress_pool_t *sp, uint32_t me, const char *when);
/* stats of sp; fails the test if ebra_pool_stats does not return 0. */
ebra_pool_stats_t stress_stats(const stress_pool_t *sp);

/* ---- object stamps -------------------------------------------------------- *
 * Layout of a stamped object (object_size >= STRESS_MIN_OBJECT):
 *   word 0  owner: STRESS_OWNER_TAG | id while owned, 0 just before free
 *           (ebra's alloc clears word 0, so a fresh object reads 0);
 *   word 1  seq:   the stamping thread's sequence number;
 *   word 2  check: mix(address, owner, seq, pool index);
 *   word 3  pool index (low 32 bits) and object size (high 32 bits);
 *   bytes [32, size): a pattern derived from check. */
#define STRESS_MIN_OBJECT 32u
#define STRESS_OWNER_TAG 0xEB4A000000000000ull
#define STRESS_OWNER_MASK 0xFFFF000000000000ull

typedef struct stress_stamp_s {
  _Atomic uint64_t owner;
  uint64_t seq;
  uint64_t check;
  uint32_t pool_index;
  uint32_t size;
} stress_stamp_t;

/* The test's pools, so that an object taken from a shared slot can be
 * matched with its pool; and the highest owner id in use. */
void stress_stamp_setup(const stress_pool_t *pools, size_t npools, uint32_t max_owner);
/* Use the owner table (default on); capacity 2^log2 addresses. */
void stress_table_enable(unsigned log2);
/* Forget every recorded owner (single-threaded: a fork child whose copy of
 * the table holds owners that do not exist in it). */
void stress_table_forget_owners(void);

/* After a successful ebra_pool_alloc: checks alignment, ebra_pool_of, zeroed
 * memory for a SECURE_CLEAR pool; claims the object for `me` (owner word CAS
 * 0 -> me, owner table CAS free -> me) and stamps it. */
void stress_obj_claim(const stress_pool_t *sp, void *p, uint32_t me, uint64_t seq);
/* Verify an object's stamp; expect_owner 0 accepts any valid owner id.
 * Returns the pool of the object.  `where` names the step for messages. */
const stress_pool_t *stress_obj_verify(const void *p, uint32_t expect_owner,
                                       const char *where);
/* The owner id stamped in p (no verification). */
uint32_t stress_obj_owner(const void *p);
/* Hand-over: verify (any owner), then move ownership from the stamped owner
 * to `me` (both CAS) and re-stamp with seq.  Returns the pool. */
const stress_pool_t *stress_obj_take(void *p, uint32_t me, uint64_t seq, const char *where);
/* Verify, release ownership (owner word and table back to 0) and free;
 * fails the test if ebra_pool_free does not return 0.  Returns the pool. */
const stress_pool_t *stress_obj_free(void *p, uint32_t me, const char *where);
/* Release without freeing: the object stays live (stress_destroy leaves
 * such objects to ebra_pool_destroy). */
void stress_obj_abandon(void *p, uint32_t me);

/* ---- shared slots --------------------------------------------------------- */

/* Put `give` (may be NULL) into slot i and return what was there. */
static inline void *stress_slot_swap(_Atomic(void *) *slots, size_t i, void *give) {
  /* acq_rel: release publishes give's stamp; acquire pairs with the release
   * of whoever put the returned object in. */
  return atomic_exchange_explicit(&slots[i], give, memory_order_acq_rel);
}

/* ---- worker threads ------------------------------------------------------- */

/* Threads started together by one stress_spawn and joined together. */
typedef struct stress_threads_s stress_threads_t;
/* Start n threads running fn; thread i gets (char *)args + i * size, the
 * i-th element of the caller's array of per-thread state (size 0: every
 * thread gets args).  Fails the test if a thread cannot be created. */
stress_threads_t *stress_spawn(size_t n, void *(*fn)(void *), void *args, size_t size);
/* Join every thread of t, fail the test if a join fails, and free t. */
void stress_join(stress_threads_t *t);

/* ---- report hook ---------------------------------------------------------- */

/* Install the hook: any report whose kind is not allowed fails the test at
 * once, naming the kind and message. */
void stress_hook_install(void);
void stress_hook_allow(ebra_error_kind_t kind, bool allowed);
uint64_t stress_hook_count(ebra_error_kind_t kind);

#endif /* STRESS_UTIL_H */

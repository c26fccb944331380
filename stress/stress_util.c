/* SPDX-License-Identifier: MIT */
/* stress/stress_util.c — shared helpers of the stress tests (see the header). */
#define _GNU_SOURCE
#include "stress_util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *test_name = "stress";
static bool verbose;
static _Atomic uint64_t soft_failures;

/* ---- failing and printing ------------------------------------------------- */

/* One line "<test>: FAIL (<file>:<line>, pid N): <message>" on stderr. */
static void print_failure(const char *file, int line, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  fflush(stdout);
  fprintf(stderr, "%s: FAIL (%s:%d, pid %d): %s\n", test_name, file, line, (int)getpid(), msg);
  fflush(stderr);
}

void stress_fail_at(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  print_failure(file, line, fmt, ap);
  va_end(ap);
  const char *ab = getenv("STRESS_ABORT");
  if (ab && ab[0] == '1')
    abort();
  /* _exit: other threads are still running; exit() would run atexit
   * handlers and the leak checker under them. */
  _exit(1);
}

void stress_fail_soft_at(const char *file, int line, const char *fmt, ...) {
  if (atomic_fetch_add_explicit(&soft_failures, 1, memory_order_relaxed) >= 10)
    return;
  va_list ap;
  va_start(ap, fmt);
  print_failure(file, line, fmt, ap);
  va_end(ap);
}

uint64_t stress_failures(void) {
  return atomic_load_explicit(&soft_failures, memory_order_relaxed);
}

void stress_set_name(const char *name) { test_name = name; }

static void print_line(const char *fmt, va_list ap) {
  printf("%s: ", test_name);
  vprintf(fmt, ap);
  fflush(stdout);
}

void stress_log(const char *fmt, ...) {
  if (!verbose)
    return;
  va_list ap;
  va_start(ap, fmt);
  print_line(fmt, ap);
  va_end(ap);
}

void stress_say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  print_line(fmt, ap);
  va_end(ap);
}

/* ---- arguments ------------------------------------------------------------ */

unsigned stress_sanitizers(void) {
  return ebra_build_features() & (EBRA_FEATURE_TSAN | EBRA_FEATURE_ASAN);
}

const char *const stress_backend_names[] = {"memb", "qsbr", "ck", NULL};

static unsigned long parse_name(char letter, const char *text, const char *const *names) {
  for (unsigned long i = 0; names[i]; i++)
    if (strcmp(text, names[i]) == 0)
      return i;
  fprintf(stderr, "%s: -%c %s: expected one of", test_name, letter, text);
  for (unsigned long i = 0; names[i]; i++)
    fprintf(stderr, " %s", names[i]);
  fputc('\n', stderr);
  exit(2);
}

static unsigned long parse_num(char letter, const char *text, unsigned long min,
                               unsigned long max) {
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(text, &end, 0);
  if (errno || !end || end == text || *end || v < min || v > max) {
    fprintf(stderr, "%s: -%c %s: expected a number in [%lu, %lu]\n", test_name, letter, text,
            min, max);
    exit(2);
  }
  return v;
}

static void usage(const stress_args_t *a, const stress_opt_t *extra, size_t nextra) {
  printf("usage: %s [-t threads] [-d ms] [-s seed] [-v]", test_name);
  for (size_t i = 0; i < nextra; i++)
    printf(" [-%c %s]", extra[i].letter, extra[i].names ? "NAME" : "N");
  printf("\n  -t N   worker threads (default %lu)\n  -d MS  duration in ms (default %lu)\n"
         "  -s N   seed (default %lu)\n  -v     verbose\n",
         a->threads, a->duration_ms, a->seed);
  for (size_t i = 0; i < nextra; i++) {
    if (!extra[i].names) {
      printf("  -%c N   %s (default %lu)\n", extra[i].letter, extra[i].help, *extra[i].value);
      continue;
    }
    printf("  -%c NAME  %s:", extra[i].letter, extra[i].help);
    for (size_t k = 0; extra[i].names[k]; k++)
      printf(" %s", extra[i].names[k]);
    printf(" (default %s)\n", extra[i].names[*extra[i].value]);
  }
  printf("Defaults are smaller under TSan/ASan.\n");
}

void stress_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", test_name);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (run with -h for the options)\n");
  exit(2);
}

void stress_parse_args(const char *test, int argc, char **argv, stress_args_t *a,
                       unsigned long san_duration_ms, const stress_opt_t *extra,
                       size_t nextra) {
  test_name = test;
  char spec[128] = "t:d:s:vh";
  size_t len = strlen(spec);
  bool given[64] = {false};
  for (size_t i = 0; i < nextra && len + 3 < sizeof spec; i++) {
    spec[len++] = extra[i].letter;
    spec[len++] = ':';
    spec[len] = '\0';
  }
  bool t_given = false, d_given = false;
  int c;
  while ((c = getopt(argc, argv, spec)) != -1) {
    switch (c) {
    case 't':
      a->threads = parse_num('t', optarg, 1, 4096);
      t_given = true;
      break;
    case 'd':
      a->duration_ms = parse_num('d', optarg, 1, 3600u * 1000u);
      d_given = true;
      break;
    case 's':
      a->seed = parse_num('s', optarg, 0, ULONG_MAX);
      break;
    case 'v':
      a->verbose = true;
      break;
    case 'h':
      usage(a, extra, nextra);
      exit(0);
    default: {
      size_t i = 0;
      while (i < nextra && extra[i].letter != c)
        i++;
      if (i == nextra) {
        usage(a, extra, nextra);
        exit(2);
      }
      *extra[i].value = extra[i].names
                            ? parse_name(extra[i].letter, optarg, extra[i].names)
                            : parse_num(extra[i].letter, optarg, extra[i].min, extra[i].max);
      given[i] = true;
    }
    }
  }
  if (optind != argc) {
    usage(a, extra, nextra);
    exit(2);
  }
  (void)t_given;
  if (stress_sanitizers()) {
    if (!d_given && san_duration_ms)
      a->duration_ms = san_duration_ms;
    const bool tsan = stress_sanitizers() & EBRA_FEATURE_TSAN;
    const unsigned pct = tsan ? a->tsan_duration_pct : a->asan_duration_pct;
    if (pct)
      a->duration_ms = a->duration_ms * pct / 100;
    for (size_t i = 0; i < nextra; i++) {
      if (given[i])
        continue;
      if (tsan && extra[i].tsan_default)
        *extra[i].value = extra[i].tsan_default;
      else if (extra[i].san_default)
        *extra[i].value = extra[i].san_default;
    }
  }
  verbose = a->verbose;
}

/* ---- randomness ----------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void stress_rng_init(stress_rng_t *r, uint64_t seed, uint64_t stream) {
  uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t stress_rng_next(stress_rng_t *r) { /* xoshiro256** */
  uint64_t *s = r->s;
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

/* ---- pools ---------------------------------------------------------------- */

void stress_pools_create(stress_pool_t *pools, size_t n) {
  for (size_t i = 0; i < n; i++) {
    pools[i].index = (unsigned)i;
    pools[i].pool = ebra_pool_create(&pools[i].cfg);
    if (!pools[i].pool)
      STRESS_FAIL("ebra_pool_create('%s', size %zu, align %zu) failed: %s", pools[i].cfg.name,
                  pools[i].cfg.object_size, pools[i].cfg.alignment, strerror(errno));
  }
}

void stress_pools_destroy(stress_pool_t *pools, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int rc = ebra_pool_destroy(pools[i].pool);
    STRESS_CHECK(rc == 0, "ebra_pool_destroy('%s') returned %d, expected 0", pools[i].cfg.name,
                 rc);
  }
  /* The handles are tombstones now: a second destroy must say so. */
  stress_hook_allow(EBRA_ERR_USE_AFTER_DESTROY, true);
  for (size_t i = 0; i < n; i++) {
    int rc = ebra_pool_destroy(pools[i].pool);
    STRESS_CHECK(rc == -EBADF, "second ebra_pool_destroy('%s') returned %d, expected -EBADF",
                 pools[i].cfg.name, rc);
    pools[i].pool = NULL;
  }
}

ebra_pool_stats_t stress_stats(const stress_pool_t *sp) {
  ebra_pool_stats_t s;
  memset(&s, 0, sizeof s);
  int rc = ebra_pool_stats(sp->pool, &s);
  STRESS_CHECK(rc == 0, "ebra_pool_stats('%s') returned %d", sp->cfg.name, rc);
  return s;
}

void stress_check_quiescent(const stress_pool_t *sp, uint64_t expect_live,
                            uint64_t expect_allocs, const char *when) {
  const char *name = sp->cfg.name;
  ebra_pool_audit_t a;
  memset(&a, 0, sizeof a);
  int rc = ebra_pool_audit(sp->pool, &a);
  STRESS_CHECK(rc == 0 && a.duplicates == 0 && a.invalid == 0 && a.live == expect_live &&
                   a.cached + a.live == a.carved,
               "%s: audit of pool '%s' returned %d: carved %" PRIu64 " cached %" PRIu64
               " live %" PRIu64 " (expected live %" PRIu64 ", cached + live == carved)"
               " duplicates %" PRIu64 " invalid %" PRIu64,
               when, name, rc, a.carved, a.cached, a.live, expect_live, a.duplicates,
               a.invalid);
  ebra_pool_stats_t s = stress_stats(sp);
  STRESS_CHECK(s.allocs - s.frees == expect_live && s.objects_live == expect_live &&
                   s.objects_carved == a.carved,
               "%s: stats of pool '%s': allocs %" PRIu64 " frees %" PRIu64
               " objects_live %" PRIu64 " objects_carved %" PRIu64
               "; expected allocs - frees == objects_live == %" PRIu64
               ", objects_carved == audit.carved == %" PRIu64,
               when, name, s.allocs, s.frees, s.objects_live, s.objects_carved, expect_live,
               a.carved);
  STRESS_CHECK(expect_allocs == STRESS_ANY || s.allocs == expect_allocs,
               "%s: pool '%s' counted %" PRIu64 " allocs, the test made %" PRIu64, when, name,
               s.allocs, expect_allocs);
  STRESS_CHECK(sp->cfg.max_objects == 0 || a.carved <= sp->cfg.max_objects,
               "%s: pool '%s' carved %" PRIu64 " objects, above its cap %zu", when, name,
               a.carved, sp->cfg.max_objects);
  stress_log("%s: pool '%s' quiescent: carved %" PRIu64 " cached %" PRIu64 " live %" PRIu64
             " allocs %" PRIu64 " slabs %" PRIu64 " threads %u\n",
             when, name, a.carved, a.cached, a.live, s.allocs, s.slabs, s.threads);
}

void stress_check_reachable(const stress_pool_t *sp, uint32_t me, const char *when) {
  const char *name = sp->cfg.name;
  ebra_pool_stats_t s = stress_stats(sp);
  STRESS_CHECK(s.objects_live == 0 && s.threads <= 1,
               "%s: reachability check of pool '%s' needs live == 0 and at most the caller "
               "attached, got live %" PRIu64 " threads %u",
               when, name, s.objects_live, s.threads);
  const uint64_t carved = s.objects_carved;
  void **all = malloc((carved ? carved : 1) * sizeof *all);
  STRESS_CHECK(all, "out of memory");
  for (uint64_t i = 0; i < carved; i++) {
    all[i] = ebra_pool_alloc(sp->pool);
    STRESS_CHECK(all[i], "%s: pool '%s': alloc %" PRIu64 " of %" PRIu64 " failed: %s", when,
                 name, i + 1, carved, strerror(errno));
    stress_obj_claim(sp, all[i], me, i + 1);
  }
  ebra_pool_stats_t s2 = stress_stats(sp);
  STRESS_CHECK(s2.objects_carved == carved,
               "%s: objects lost in pool '%s': with nothing live and no other thread "
               "attached, allocating its %" PRIu64 " carved objects made it carve %" PRIu64
               " more, so some cached objects are unreachable (in no thread cache and not "
               "in the depot)",
               when, name, carved, s2.objects_carved - carved);
  for (uint64_t i = 0; i < carved; i++)
    stress_obj_free(all[i], me, "free in the reachability check");
  free(all);
  stress_check_quiescent(sp, 0, STRESS_ANY, when);
}

/* ---- stamps --------------------------------------------------------------- */

static const stress_pool_t *stamp_pools;
static size_t stamp_npools;
static uint32_t stamp_max_owner;

void stress_stamp_setup(const stress_pool_t *pools, size_t npools, uint32_t max_owner) {
  for (size_t i = 0; i < npools; i++)
    STRESS_CHECK(pools[i].cfg.object_size >= STRESS_MIN_OBJECT,
                 "pool '%s': object size %zu is below the stamp size %u", pools[i].cfg.name,
                 pools[i].cfg.object_size, STRESS_MIN_OBJECT);
  stamp_pools = pools;
  stamp_npools = npools;
  stamp_max_owner = max_owner;
}

static uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xFF51AFD7ED558CCDull;
  k ^= k >> 33;
  k *= 0xC4CEB9FE1A85EC53ull;
  k ^= k >> 33;
  return k;
}

static uint64_t stamp_check(const void *p, uint64_t owner, uint64_t seq, uint32_t idx) {
  return fmix64((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull ^ fmix64(owner) ^
                (seq * 0xC2B2AE3D27D4EB4Full) ^ idx) | 1u;
}

/* Pattern word i of the body: never equal for two different checks. */
static inline uint64_t body_word(uint64_t check, size_t i) {
  return check ^ ((uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull);
}

static void body_fill(unsigned char *p, size_t size, uint64_t check) {
  size_t off = sizeof(stress_stamp_t), i = 0;
  for (; off + 8 <= size; off += 8, i++) {
    uint64_t w = body_word(check, i);
    memcpy(p + off, &w, 8);
  }
  if (off < size) {
    uint64_t w = body_word(check, i);
    memcpy(p + off, &w, size - off);
  }
}

/* Offset of the first byte that differs from the pattern, or 0. */
static size_t body_bad(const unsigned char *p, size_t size, uint64_t check) {
  size_t off = sizeof(stress_stamp_t), i = 0;
  for (; off + 8 <= size; off += 8, i++) {
    uint64_t w = body_word(check, i), got;
    memcpy(&got, p + off, 8);
    if (got != w)
      return off;
  }
  if (off < size) {
    uint64_t w = body_word(check, i);
    if (memcmp(p + off, &w, size - off) != 0)
      return off;
  }
  return 0;
}

static void stamp_write(const stress_pool_t *sp, void *p, uint64_t owner, uint64_t seq) {
  stress_stamp_t *st = p;
  st->seq = seq;
  st->pool_index = sp->index;
  st->size = (uint32_t)sp->cfg.object_size;
  st->check = stamp_check(p, owner, seq, sp->index);
  body_fill(p, sp->cfg.object_size, st->check);
}

/* ---- owner table ---------------------------------------------------------- *
 * Open addressing, linear probing, keys never removed (a pool reuses its
 * addresses, so the table holds at most the objects ever carved).  The
 * owner word of an entry goes 0 -> owner -> (other owner ->)* 0 by CAS. */
typedef struct table_entry_s {
  _Atomic uintptr_t key;
  _Atomic uint64_t owner;
} table_entry_t;

static table_entry_t *table;
static size_t table_mask;
static _Atomic size_t table_used;

void stress_table_enable(unsigned log2) {
  free(table);
  table = calloc((size_t)1 << log2, sizeof *table);
  STRESS_CHECK(table, "cannot allocate the owner table (2^%u entries)", log2);
  table_mask = ((size_t)1 << log2) - 1;
}

void stress_table_forget_owners(void) {
  for (size_t i = 0; table && i <= table_mask; i++)
    atomic_store_explicit(&table[i].owner, 0, memory_order_relaxed);
}

static table_entry_t *table_find(const void *p) {
  const uintptr_t key = (uintptr_t)p;
  size_t i = (size_t)(fmix64(key) & table_mask);
  for (size_t n = 0; n <= table_mask; n++, i = (i + 1) & table_mask) {
    table_entry_t *e = &table[i];
    uintptr_t k = atomic_load_explicit(&e->key, memory_order_acquire);
    if (k == key)
      return e;
    if (k == 0) {
      /* acq_rel: the entry's owner word is only touched after this CAS. */
      if (atomic_compare_exchange_strong_explicit(&e->key, &k, key, memory_order_acq_rel,
                                                  memory_order_acquire)) {
        size_t used = atomic_fetch_add_explicit(&table_used, 1, memory_order_relaxed) + 1;
        STRESS_CHECK(used < table_mask - table_mask / 8,
                     "owner table is full (%zu distinct object addresses): do the pools "
                     "keep carving new objects instead of reusing freed ones?",
                     used);
        return e;
      }
      if (k == key)
        return e;
    }
  }
  STRESS_FAIL("owner table is full");
}

static uint32_t owner_id(uint64_t w) { return (uint32_t)w; }
static uint64_t owner_word(uint32_t id) { return STRESS_OWNER_TAG | id; }

static void table_move(const void *p, uint32_t from, uint32_t to, const char *what) {
  if (!table)
    return;
  table_entry_t *e = table_find(p);
  uint64_t want = from ? owner_word(from) : 0;
  if (!atomic_compare_exchange_strong_explicit(&e->owner, &want, to ? owner_word(to) : 0,
                                               memory_order_acq_rel, memory_order_acquire)) {
    if (from == 0)
      STRESS_FAIL("duplicate hand-out: ebra_pool_alloc returned %p to thread %u while the "
                  "owner table says thread %u owns it (%s)",
                  p, to, owner_id(want), what);
    STRESS_FAIL("ownership of %p: thread %u expected owner %u in the owner table, found "
                "%s%u (%s)",
                p, to ? to : from, from, want ? "" : "none, ", owner_id(want), what);
  }
}

/* ---- claim, verify, take, free ------------------------------------------------ */

void stress_obj_claim(const stress_pool_t *sp, void *p, uint32_t me, uint64_t seq) {
  const size_t align = sp->cfg.alignment ? sp->cfg.alignment : 8;
  STRESS_CHECK(((uintptr_t)p & (align - 1)) == 0,
               "pool '%s' returned %p, not aligned to %zu", sp->cfg.name, p, align);
  ebra_pool_t *of = ebra_pool_of(p);
  STRESS_CHECK(of == sp->pool, "ebra_pool_of(%p) = %p, but pool '%s' (%p) returned it", p,
               (void *)of, sp->cfg.name, (void *)sp->pool);
  if (sp->cfg.flags & EBRA_POOL_SECURE_CLEAR) {
    const unsigned char *b = p;
    for (size_t i = 0; i < sp->cfg.object_size; i++)
      STRESS_CHECK(b[i] == 0,
                   "SECURE_CLEAR pool '%s' returned %p with byte %zu = 0x%02x, expected "
                   "zeroed memory",
                   sp->cfg.name, p, i, b[i]);
  }
  stress_stamp_t *st = p;
  uint64_t want = 0;
  /* acq_rel: pairs with the release in stress_obj_free of the last owner
   * (through the pool's own hand-off). */
  if (!atomic_compare_exchange_strong_explicit(&st->owner, &want, owner_word(me),
                                               memory_order_acq_rel, memory_order_acquire)) {
    if ((want & STRESS_OWNER_MASK) == STRESS_OWNER_TAG)
      STRESS_FAIL("duplicate hand-out: pool '%s' returned %p to thread %u, but its owner "
                  "word says thread %u owns it",
                  sp->cfg.name, p, me, owner_id(want));
    STRESS_FAIL("pool '%s' returned %p to thread %u with first word 0x%016" PRIx64
                ", expected 0 (alloc clears the free marker; the test cleared the owner "
                "before freeing)",
                sp->cfg.name, p, me, want);
  }
  if (!sp->untracked)
    table_move(p, 0, me, sp->cfg.name);
  stamp_write(sp, p, owner_word(me), seq);
}

uint32_t stress_obj_owner(const void *p) {
  const stress_stamp_t *st = p;
  return owner_id(atomic_load_explicit(&((stress_stamp_t *)st)->owner, memory_order_acquire));
}

const stress_pool_t *stress_obj_verify(const void *p, uint32_t expect_owner, const char *where) {
  stress_stamp_t *st = (stress_stamp_t *)p;
  const uint64_t ow = atomic_load_explicit(&st->owner, memory_order_acquire);
  const uint32_t id = owner_id(ow);
  STRESS_CHECK((ow & STRESS_OWNER_MASK) == STRESS_OWNER_TAG && (ow >> 32 & 0xFFFF) == 0 &&
                   id >= 1 && id <= stamp_max_owner,
               "%s: object %p has owner word 0x%016" PRIx64 ", not a valid owner stamp", where,
               p, ow);
  STRESS_CHECK(expect_owner == 0 || id == expect_owner,
               "%s: object %p is stamped with owner %u, expected %u", where, p, id,
               expect_owner);
  STRESS_CHECK(st->pool_index < stamp_npools,
               "%s: object %p (owner %u) has pool index %u, out of range", where, p, id,
               st->pool_index);
  const stress_pool_t *sp = &stamp_pools[st->pool_index];
  STRESS_CHECK(st->size == sp->cfg.object_size &&
                   st->check == stamp_check(p, ow, st->seq, st->pool_index),
               "%s: object %p of pool '%s' (owner %u, seq %" PRIu64
               "): stamp corrupted (size %u, check 0x%016" PRIx64 ")",
               where, p, sp->cfg.name, id, st->seq, st->size, st->check);
  size_t bad = body_bad(p, sp->cfg.object_size, st->check);
  STRESS_CHECK(bad == 0,
               "%s: object %p of pool '%s' (owner %u, seq %" PRIu64
               "): byte %zu of %zu overwritten while owned",
               where, p, sp->cfg.name, id, st->seq, bad, sp->cfg.object_size);
  ebra_pool_t *of = ebra_pool_of(p);
  STRESS_CHECK(of == sp->pool, "%s: ebra_pool_of(%p) = %p, expected pool '%s' (%p)", where, p,
               (void *)of, sp->cfg.name, (void *)sp->pool);
  return sp;
}

const stress_pool_t *stress_obj_take(void *p, uint32_t me, uint64_t seq, const char *where) {
  const stress_pool_t *sp = stress_obj_verify(p, 0, where);
  stress_stamp_t *st = p;
  uint64_t prev = atomic_load_explicit(&st->owner, memory_order_relaxed);
  uint64_t want = prev;
  if (!atomic_compare_exchange_strong_explicit(&st->owner, &want, owner_word(me),
                                               memory_order_acq_rel, memory_order_acquire))
    STRESS_FAIL("%s: object %p changed owner from %u to word 0x%016" PRIx64
                " while thread %u took it: two owners at once",
                where, p, owner_id(prev), want, me);
  if (!sp->untracked)
    table_move(p, owner_id(prev), me, where);
  stamp_write(sp, p, owner_word(me), seq);
  return sp;
}

static const stress_pool_t *release(void *p, uint32_t me, const char *where) {
  const stress_pool_t *sp = stress_obj_verify(p, me, where);
  if (!sp->untracked)
    table_move(p, me, 0, where);
  stress_stamp_t *st = p;
  uint64_t want = owner_word(me);
  /* release: the next owner's claim CAS (through the pool) sees 0. */
  if (!atomic_compare_exchange_strong_explicit(&st->owner, &want, 0, memory_order_acq_rel,
                                               memory_order_acquire))
    STRESS_FAIL("%s: object %p: thread %u's owner word became 0x%016" PRIx64
                " while it owned the object",
                where, p, me, want);
  return sp;
}

const stress_pool_t *stress_obj_free(void *p, uint32_t me, const char *where) {
  const stress_pool_t *sp = release(p, me, where);
  int rc = ebra_pool_free(sp->pool, p);
  STRESS_CHECK(rc == 0, "%s: ebra_pool_free('%s', %p) returned %d, expected 0", where,
               sp->cfg.name, p, rc);
  return sp;
}

void stress_obj_abandon(void *p, uint32_t me) { (void)release(p, me, "abandon"); }

/* ---- worker threads ------------------------------------------------------- */

struct stress_threads_s {
  size_t n;
  pthread_t tid[];
};

stress_threads_t *stress_spawn(size_t n, void *(*fn)(void *), void *args, size_t size) {
  stress_threads_t *t = malloc(sizeof *t + n * sizeof t->tid[0]);
  STRESS_CHECK(t, "out of memory");
  t->n = n;
  for (size_t i = 0; i < n; i++) {
    void *arg = size ? (char *)args + i * size : args;
    const int rc = pthread_create(&t->tid[i], NULL, fn, arg);
    STRESS_CHECK(rc == 0, "pthread_create (thread %zu of %zu): %s", i + 1, n, strerror(rc));
  }
  return t;
}

void stress_join(stress_threads_t *t) {
  for (size_t i = 0; i < t->n; i++) {
    const int rc = pthread_join(t->tid[i], NULL);
    STRESS_CHECK(rc == 0, "pthread_join (thread %zu of %zu): %s", i + 1, t->n, strerror(rc));
  }
  free(t);
}

/* ---- report hook ------------------------------------------------------------ */

#define KINDS 32
static _Atomic uint64_t hook_counts[KINDS];
static _Atomic bool hook_allowed[KINDS];

static void hook(ebra_error_kind_t kind, const char *msg, void *arg) {
  (void)arg;
  const unsigned k = (unsigned)kind < KINDS ? (unsigned)kind : 0;
  atomic_fetch_add_explicit(&hook_counts[k], 1, memory_order_relaxed);
  if (!atomic_load_explicit(&hook_allowed[k], memory_order_relaxed))
    STRESS_FAIL("unexpected ebra report %s (%d): %s", ebra_error_kind_name(kind), (int)kind,
                msg ? msg : "(null)");
  stress_log("expected report %s: %s\n", ebra_error_kind_name(kind), msg ? msg : "");
}

/* The report limit is lifted: a stress test counts or refuses every
 * report, and a limited kind would hide the ones past the limit.  The qsbr
 * slow-reader warning is expected: stress threads that read without
 * registering do so on purpose (the implicit, offline-resting mode is part
 * of what is stressed).  So is a stall warning: 8+ threads on 2 CPUs,
 * slowed further by a sanitizer, can hold a grace period past the 1 s
 * threshold without any bug (stress_edges' stall mode, which tests the
 * warning, installs its own hook and counts it). */
void stress_hook_install(void) {
  ebra_option_set(EBRA_OPT_REPORT_LIMIT, 0);
  stress_hook_allow(EBRA_WARN_SLOW_READER, true);
  stress_hook_allow(EBRA_WARN_STALL, true);
  ebra_set_report_hook(hook, NULL);
}

void stress_hook_allow(ebra_error_kind_t kind, bool allowed) {
  if ((unsigned)kind < KINDS)
    atomic_store_explicit(&hook_allowed[kind], allowed, memory_order_relaxed);
}

uint64_t stress_hook_count(ebra_error_kind_t kind) {
  return (unsigned)kind < KINDS ? atomic_load_explicit(&hook_counts[kind], memory_order_relaxed)
                                : 0;
}

/* SPDX-License-Identifier: MIT */
/* stress/stress_malloc.c — the ebra_malloc API under threads: random sizes
 * and lifetimes, blocks handed between threads, realloc, calloc and
 * aligned blocks, and short threads coming and going.
 *
 * -t workers run for -d ms.  Each keeps up to 64 blocks of its own and
 * swaps blocks with 1024 shared slots (atomic exchange).  Sizes: 70% up to
 * 256 B, 25% up to 32 KiB, 5% mapped (256 KiB .. 2 MiB).  Operations:
 * malloc, calloc (checked zero), aligned_alloc (checked aligned), realloc
 * (contents checked after the move or stay), free, free_sized, and
 * swapping with a slot (the block taken is verified and freed or kept).
 * Meanwhile main runs short threads (-n in all) that allocate, leave
 * blocks in the slots and exit without any cleanup call.
 * Checks:
 *   - every block carries a stamp (its address, size and a check word) and
 *     a pattern over its first and last 64 bytes, verified on every
 *     hand-over, realloc and free: no block is handed out twice, none is
 *     overwritten by another owner;
 *   - usable size >= size asked, on every block;
 *   - no report at all (any report fails the test);
 *   - at the end, after every block is freed and every worker exited: each
 *     class pool has objects_live == 0 and at most one thread (main)
 *     attached, its audit balances, and no mapped block is live.
 *
 * Built with STRESS_BROKEN, every free is followed by a write into the
 * block: ASan must name it (free class blocks are poisoned by their pool;
 * large blocks are unmapped, so the write faults).
 *
 * Arguments: -t workers (8) -d ms (2500) -n short threads (2000; 300 under
 * TSan/ASan) -s seed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stress_util.h"

#define OWN 64
#define NSLOTS 1024
#define STAMP_TAG 0x6562726153544d50ull /* "ebraSTMP" */

static stress_args_t args = {.threads = 8, .duration_ms = 2500, .seed = 0x3A110C};
static unsigned long nshort = 2000;
static _Atomic(void *) slots[NSLOTS];
static _Atomic bool stop;

typedef struct block_s {
  uint64_t tag;
  uint64_t size;
  uint64_t check;
} block_t;

static uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  return x ^ (x >> 29);
}

static size_t pick_size(stress_rng_t *r) {
  const unsigned c = (unsigned)stress_rng_below(r, 100);
  if (c < 70)
    return sizeof(block_t) + stress_rng_below(r, 232);
  if (c < 95)
    return sizeof(block_t) + stress_rng_below(r, 32 << 10);
  return (256 << 10) + stress_rng_below(r, 7 << 18);
}

static unsigned char pattern(uint64_t check, size_t i) { return (unsigned char)(check >> (i % 56)) ^ (unsigned char)i; }

/* The last 64 bytes, after the header. */
static size_t tail_start(size_t size) {
  return size > 64 + sizeof(block_t) ? size - 64 : size;
}

static void stamp(void *p, size_t size) {
  block_t *b = p;
  b->tag = STAMP_TAG;
  b->size = size;
  b->check = mix((uintptr_t)p, size);
  unsigned char *c = p;
  for (size_t i = sizeof *b; i < size && i < 64; i++)
    c[i] = pattern(b->check, i);
  for (size_t i = tail_start(size); i < size; i++)
    c[i] = pattern(b->check, i);
}

/* Verify the stamp of p, which was stamped at address `at` (the old
 * address, after a realloc moved it); returns its size. */
static size_t verify(const void *p, const void *at, const char *where) {
  const block_t *b = p;
  STRESS_CHECK(b->tag == STAMP_TAG, "%s: block %p lost its stamp (tag %#llx)", where, p,
               (unsigned long long)b->tag);
  const size_t size = b->size;
  STRESS_CHECK(b->check == mix((uintptr_t)at, size), "%s: block %p has another's check word",
               where, p);
  STRESS_CHECK(ebra_usable_size(p) >= size, "%s: block %p: usable %zu < size %zu", where, p,
               ebra_usable_size(p), size);
  const unsigned char *c = p;
  for (size_t i = sizeof *b; i < size && i < 64; i++)
    STRESS_CHECK(c[i] == pattern(b->check, i), "%s: block %p overwritten at byte %zu", where,
                 p, i);
  for (size_t i = tail_start(size); i < size; i++)
    STRESS_CHECK(c[i] == pattern(b->check, i), "%s: block %p overwritten at byte %zu", where,
                 p, i);
  return size;
}

static void release(void *p, stress_rng_t *r) {
  const size_t size = verify(p, p, "free");
  ((block_t *)p)->tag = 0;
  if (stress_rng_pct(r, 30))
    ebra_free_sized(p, size);
  else
    ebra_free(p);
#ifdef STRESS_BROKEN
  ((volatile char *)p)[8] = 1; /* the seeded bug: a write after free */
#endif
}

static void *fresh(stress_rng_t *r) {
  const size_t size = pick_size(r);
  const unsigned how = (unsigned)stress_rng_below(r, 10);
  void *p;
  if (how < 6) {
    p = ebra_malloc(size);
  } else if (how < 8) {
    p = ebra_calloc(1, size);
    STRESS_CHECK(p, "calloc(%zu) failed", size);
    const unsigned char *c = p;
    for (size_t i = 0; i < size; i += 97)
      STRESS_CHECK(c[i] == 0, "calloc(%zu) gave a non-zero byte at %zu", size, i);
  } else {
    const size_t align = (size_t)32 << stress_rng_below(r, 8); /* 32 .. 4096 */
    p = ebra_aligned_alloc(align, size);
    STRESS_CHECK(p && ((uintptr_t)p & (align - 1)) == 0, "aligned_alloc(%zu, %zu) = %p", align,
                 size, p);
  }
  STRESS_CHECK(p, "allocation of %zu bytes failed", size);
  stamp(p, size);
  return p;
}

static void *grow(void *p, stress_rng_t *r) {
  const size_t old = verify(p, p, "realloc");
  const size_t size = pick_size(r);
  void *q = ebra_realloc(p, size);
  STRESS_CHECK(q, "realloc(%p, %zu) failed", p, size);
  /* The kept prefix is the old stamp and pattern; check the part that
   * was both stamped and kept, then stamp afresh. */
  const size_t kept = old < size ? old : size;
  const block_t *b = q;
  STRESS_CHECK(b->tag == STAMP_TAG && b->check == mix((uintptr_t)p, old),
               "realloc(%p -> %p): stamp not kept", p, q);
  const unsigned char *c = q;
  for (size_t i = sizeof *b; i < kept && i < 64; i++)
    STRESS_CHECK(c[i] == pattern(b->check, i), "realloc(%p -> %p): byte %zu not kept", p, q, i);
  stamp(q, size);
  return q;
}

static void *worker(void *arg) {
  const uintptr_t id = (uintptr_t)arg;
  stress_rng_t r;
  stress_rng_init(&r, args.seed, id);
  void *own[OWN] = {0};
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    const size_t i = (size_t)stress_rng_below(&r, OWN);
    const unsigned op = (unsigned)stress_rng_below(&r, 100);
    if (!own[i]) {
      own[i] = fresh(&r);
    } else if (op < 40) {
      release(own[i], &r);
      own[i] = NULL;
    } else if (op < 55) {
      own[i] = grow(own[i], &r);
    } else {
      void *got = atomic_exchange(&slots[stress_rng_below(&r, NSLOTS)], own[i]);
      own[i] = NULL;
      if (got) {
        verify(got, got, "hand-over");
        if (stress_rng_pct(&r, 50))
          release(got, &r);
        else
          own[i] = got;
      }
    }
  }
  for (size_t i = 0; i < OWN; i++)
    if (own[i])
      release(own[i], &r);
  return NULL;
}

static void *short_thread(void *arg) {
  stress_rng_t r;
  stress_rng_init(&r, args.seed, 1000 + (uintptr_t)arg);
  for (int k = 0; k < 8; k++) {
    void *p = fresh(&r);
    void *got = atomic_exchange(&slots[stress_rng_below(&r, NSLOTS)], p);
    if (got)
      release(got, &r);
  }
  return NULL; /* exits without a cleanup call: thread exit releases its caches */
}

static void check_classes_idle(void) {
  for (size_t size = 16; size <= EBRA_MALLOC_CLASS_MAX; size += size / 4 > 16 ? size / 4 : 16) {
    void *p = ebra_malloc(size);
    ebra_pool_t *pool = ebra_pool_of(p);
    STRESS_CHECK(pool, "malloc(%zu) is not from a class", size);
    ebra_free(p);
    ebra_pool_stats_t st;
    STRESS_CHECK(ebra_pool_stats(pool, &st) == 0, "stats of %s", ebra_pool_name(pool));
    STRESS_CHECK(st.objects_live == 0, "class %s: %llu objects live after every free",
                 ebra_pool_name(pool), (unsigned long long)st.objects_live);
    STRESS_CHECK(st.threads <= 1, "class %s: %u threads attached after the workers exited",
                 ebra_pool_name(pool), st.threads);
    ebra_pool_audit_t au;
    STRESS_CHECK(ebra_pool_audit(pool, &au) == 0 && au.duplicates == 0 && au.invalid == 0,
                 "class %s: audit failed", ebra_pool_name(pool));
  }
  ebra_malloc_stats_t ms;
  STRESS_CHECK(ebra_malloc_stats(&ms) == 0 && ms.large_live == 0,
               "%llu mapped blocks live after every free", ms.large_live);
}

int main(int argc, char **argv) {
  const stress_opt_t extra[] = {
      {.letter = 'n', .help = "short threads in all", .value = &nshort, .min = 0,
       .max = 1000000, .san_default = 300}};
  stress_parse_args("stress_malloc", argc, argv, &args, 1500, extra, 1);
  stress_hook_install();
  stress_threads_t *w = stress_spawn(args.threads, worker, NULL, 0);
  pthread_t tids[4];
  const uint64_t end = now_ns() + args.duration_ms * 1000000ull;
  unsigned long started = 0;
  while (started < nshort && now_ns() < end) {
    for (int k = 0; k < 4; k++)
      STRESS_CHECK(pthread_create(&tids[k], NULL, short_thread, (void *)(uintptr_t)(started + k)) == 0,
                   "pthread_create");
    for (int k = 0; k < 4; k++)
      pthread_join(tids[k], NULL);
    started += 4;
  }
  while (now_ns() < end)
    sleep_us(10000);
  atomic_store(&stop, true);
  stress_join(w);
  stress_rng_t r;
  stress_rng_init(&r, args.seed, 999);
  for (size_t i = 0; i < NSLOTS; i++) {
    void *p = atomic_exchange(&slots[i], NULL);
    if (p)
      release(p, &r);
  }
  check_classes_idle();
  stress_say("ok: %lu workers, %lu short threads, every block verified\n",
             args.threads, started);
  return 0;
}

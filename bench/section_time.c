/* SPDX-License-Identifier: MIT */
/* bench/section_time.c — a plain C loop of read sections around one
 * resolve, timed with the monotonic clock: the exported functions against
 * the inline ones, built twice (section_time against libebra.so,
 * section_time_static against libebra.a) to show what the calls into the
 * shared library cost.
 *   section_time memb|qsbr|ck [N]     best of 7 rounds of N sections
 *                                     (default 5000000), ns per section
 * The thread registers (qsbr: online) and resolves 64 live handles in turn.
 * For memb it also times the floor: the same loop with liburcu's own read
 * lock and unlock inlined into this program (weak_floor.c, _LGPL_SOURCE)
 * in place of ebra's, and prints inline / floor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ebra.h>

#include "weak_floor.h"

static void *volatile sink;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static __attribute__((noinline)) double run(ebra_domain_t *d, const ebra_weak_table_t *t,
                                            const ebra_weak_t *h, long n, int inl) {
  const double t0 = now_s();
  if (inl) {
    for (long i = 0; i < n; i++) {
      ebra_read_lock_inline(d);
      sink = ebra_weak_get_inline(t, h[i & 63]);
      ebra_read_unlock_inline(d);
    }
  } else {
    for (long i = 0; i < n; i++) {
      ebra_read_lock(d);
      sink = ebra_weak_get(t, h[i & 63]);
      ebra_read_unlock(d);
    }
  }
  return (now_s() - t0) / (double)n * 1e9;
}

/* The memb floor: liburcu's read lock and unlock inlined here
 * (weak_floor.c) in place of ebra's, around the same inline resolve. */
static __attribute__((noinline)) double run_floor(const ebra_weak_table_t *t,
                                                  const ebra_weak_t *h, long n) {
  const double t0 = now_s();
  ebra_bench_floor_memb_sections(t, h, n, &sink);
  return (now_s() - t0) / (double)n * 1e9;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: section_time memb|qsbr|ck [N]\n");
    return 2;
  }
  const ebra_reclaim_backend_t be = !strcmp(argv[1], "qsbr") ? EBRA_RECLAIM_URCU_QSBR
                                    : !strcmp(argv[1], "ck") ? EBRA_RECLAIM_CK_EPOCH
                                                             : EBRA_RECLAIM_URCU_MEMB;
  const long n = argc > 2 ? atol(argv[2]) : 5000000;
  ebra_pool_t *p = ebra_pool_create(&(ebra_pool_config_t){.name = "st", .object_size = 64});
  ebra_domain_t *d = ebra_domain_create(&(ebra_domain_config_t){.name = "st", .backend = be});
  ebra_weak_table_t *t = d ? ebra_weak_table_create(d, NULL) : NULL;
  if (!p || !t || ebra_domain_register_thread(d) != 0)
    return 1;
  ebra_weak_t h[64];
  for (int i = 0; i < 64; i++) {
    void *o = ebra_pool_alloc(p);
    if (!o || ebra_weak_create(t, o, &h[i]) != 0)
      return 1;
  }
  const int floor = be == EBRA_RECLAIM_URCU_MEMB;
  double best[3] = {1e30, 1e30, 1e30};
  for (int r = 0; r < 7; r++)
    for (int inl = 0; inl < 2 + floor; inl++) {
      const double x = inl < 2 ? run(d, t, h, n, inl) : run_floor(t, h, n);
      best[inl] = x < best[inl] ? x : best[inl];
    }
  printf("%s: exported %.2f ns, inline %.2f ns per lock + get + unlock", argv[1], best[0],
         best[1]);
  if (floor)
    printf("; floor %.2f ns (inline x %.2f)", best[2], best[1] / best[2]);
  printf("\n");
  ebra_domain_thread_offline(d); /* qsbr: stall no grace period at exit */
  return 0;
}

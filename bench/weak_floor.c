/* SPDX-License-Identifier: MIT */
/* weak_floor.c — the read-section floor for bench_weak: liburcu memb's read
 * lock and unlock inlined into the benchmark executable (_LGPL_SOURCE, so
 * LGPL-2.1 code is compiled into this benchmark only; libebra is untouched)
 * around the exported ebra_weak_get.  It shows what an inline header fast
 * path of ebra_read_lock/unlock could reach: in an executable, liburcu's
 * thread-local reader is reached with the initial-exec TLS model, without
 * the __tls_get_addr call that code inside libebra.so (PIC, general-dynamic
 * TLS) pays.  The calling thread must be registered with a memb domain. */
#define _LGPL_SOURCE 1
#include <urcu/urcu-memb.h>

#include "weak_floor.h"

size_t ebra_bench_floor_memb(const ebra_weak_table_t *t, const ebra_weak_t *hs, int n,
                             void **sink) {
  size_t misses = 0;
  for (int i = 0; i < n; i++) {
    urcu_memb_read_lock();
    void *p = ebra_weak_get(t, hs[i]);
    misses += (p == NULL);
    *(void *volatile *)sink = p;
    urcu_memb_read_unlock();
  }
  return misses;
}

size_t ebra_bench_floor_memb_empty(int n) {
  for (int i = 0; i < n; i++) {
    urcu_memb_read_lock();
    __asm__ __volatile__("" ::: "memory");
    urcu_memb_read_unlock();
  }
  return 0;
}

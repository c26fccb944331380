/* SPDX-License-Identifier: MIT */
/* weak_floor.c — the read-section floor for bench_weak: liburcu memb's read
 * lock and unlock inlined into the benchmark executable (_LGPL_SOURCE, so
 * LGPL-2.1 code is compiled into this benchmark only; libebra is untouched)
 * around the exported ebra_weak_get.  It shows what an inline header fast
 * path of ebra_read_lock/unlock could reach: in an executable, liburcu's
 * thread-local reader is reached with the initial-exec TLS model, without
 * the __tls_get_addr call that code inside libebra.so (PIC, general-dynamic
 * TLS) pays.  ebra_bench_floor_memb_sections is the same around the
 * inline ebra_weak_get_inline, the loop of bench/section_time and
 * bench/ops_count (mode memb_floor): the floor of an inline memb section.
 * The calling thread must be registered with a memb domain. */
#define _LGPL_SOURCE 1
#include <urcu/urcu-memb.h>

#include <ck_epoch.h>
#include <pthread.h>
#include <stdlib.h>

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

void ebra_bench_floor_memb_sections(const ebra_weak_table_t *t, const ebra_weak_t *hs, long n,
                                    void *volatile *sink) {
  for (long i = 0; i < n; i++) {
    urcu_memb_read_lock();
    *sink = ebra_weak_get_inline(t, hs[i & 63]);
    urcu_memb_read_unlock();
  }
}

size_t ebra_bench_floor_memb_empty(int n) {
  for (int i = 0; i < n; i++) {
    urcu_memb_read_lock();
    __asm__ __volatile__("" ::: "memory");
    urcu_memb_read_unlock();
  }
  return 0;
}

/* The ck floor: Concurrency Kit's own read side, no ebra in it. */
static ck_epoch_t floor_epoch;
static pthread_once_t floor_once = PTHREAD_ONCE_INIT;
static __thread ck_epoch_record_t *floor_record;

static void floor_epoch_init(void) { ck_epoch_init(&floor_epoch); }

void *ebra_bench_floor_ck_record(void) {
  pthread_once(&floor_once, floor_epoch_init);
  if (!floor_record) {
    floor_record = ck_epoch_recycle(&floor_epoch, NULL);
    if (!floor_record) {
      floor_record = calloc(1, sizeof *floor_record);
      if (!floor_record)
        abort();
      ck_epoch_register(&floor_epoch, floor_record, NULL);
    }
  }
  return floor_record;
}

size_t ebra_bench_floor_ck_empty(void *record, int n) {
  ck_epoch_record_t *r = record;
  for (int i = 0; i < n; i++) {
    ck_epoch_begin(r, NULL);
    __asm__ __volatile__("" ::: "memory");
    ck_epoch_end(r, NULL);
  }
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* weak_floor.h — see weak_floor.c. */
#ifndef EBRA_BENCH_WEAK_FLOOR_H
#define EBRA_BENCH_WEAK_FLOOR_H
#include <stddef.h>
#include "ebra/weak.h"
#ifdef __cplusplus
extern "C" {
#endif
/* n x (inline urcu_memb_read_lock + ebra_weak_get(t, hs[i]) + unlock);
 * returns the number of NULL results; the last result goes to *sink. */
size_t ebra_bench_floor_memb(const ebra_weak_table_t *t, const ebra_weak_t *hs, int n,
                             void **sink);
/* n x (inline urcu_memb_read_lock + *sink = ebra_weak_get_inline(t,
 * hs[i & 63]) + unlock): section_time's and ops_count's loop with liburcu's
 * read side inlined where ebra's lock and unlock were. */
void ebra_bench_floor_memb_sections(const ebra_weak_table_t *t, const ebra_weak_t *hs, long n,
                                    void *volatile *sink);
/* n x (inline urcu_memb_read_lock + unlock), nothing inside. */
size_t ebra_bench_floor_memb_empty(int n);
/* The calling thread's record in the benchmark's own ck_epoch_t (registered
 * on first call, kept for the thread's life), and n x (ck_epoch_begin +
 * ck_epoch_end) on it, nothing inside. */
void *ebra_bench_floor_ck_record(void);
size_t ebra_bench_floor_ck_empty(void *record, int n);
#ifdef __cplusplus
}
#endif
#endif

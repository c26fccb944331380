/* SPDX-License-Identifier: MIT */
/* pool_inline.h — how the benchmarks call the pool's inline fast path (an
 * alloc and a free compiled into the caller from include/ebra/pool.h), in
 * one place for bench_pool (the ebra_inline rows) and ops_count (the
 * pair_inline mode).
 *
 * BENCH_POOL_INLINE is 1 when the public header has that fast path; the
 * rows and the mode exist only then.  To follow a rename, change the two
 * macros below. */
#ifndef EBRA_BENCH_POOL_INLINE_H
#define EBRA_BENCH_POOL_INLINE_H

#include <ebra.h>

#if defined(EBRA_POOL_INLINE_FAST_PATH)
#define BENCH_POOL_INLINE 1
#define BENCH_POOL_ALLOC_INLINE(pool) ebra_pool_alloc_inline(pool)
#define BENCH_POOL_FREE_INLINE(pool, p) ebra_pool_free_inline((pool), (p))
#else
#define BENCH_POOL_INLINE 0
#endif

#endif

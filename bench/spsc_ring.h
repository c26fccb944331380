/* SPDX-License-Identifier: MIT */
/* spsc_ring.h — a single-producer/single-consumer pointer ring for the
 * producer→consumer benchmark, backed by Concurrency Kit's ck_ring.
 *
 * ck_ring.h does not compile as C++ (it returns `false` from a function
 * returning void *), so the ring lives behind this small C interface,
 * implemented in spsc_ring.c.  The bench target is built with LTO when the
 * toolchain supports it, so these calls inline into the C++ loops.
 *
 * Calling context: bench_ring_push from exactly one thread, bench_ring_pop
 * from exactly one (other) thread; create/destroy while neither runs. */
#ifndef EBRA_BENCH_SPSC_RING_H
#define EBRA_BENCH_SPSC_RING_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bench_ring_s bench_ring_t;

/* slots must be a power of two >= 8; the ring holds slots - 1 pointers.
 * Returns NULL if slots is invalid or memory is short. */
bench_ring_t *bench_ring_create(unsigned slots);
void bench_ring_destroy(bench_ring_t *ring);

/* Producer side: false if the ring is full. */
bool bench_ring_push(bench_ring_t *ring, void *p);

/* Consumer side: false if the ring is empty; otherwise *out is the oldest
 * pointer pushed. */
bool bench_ring_pop(bench_ring_t *ring, void **out);

#ifdef __cplusplus
}
#endif
#endif /* EBRA_BENCH_SPSC_RING_H */

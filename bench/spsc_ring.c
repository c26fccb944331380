/* SPDX-License-Identifier: MIT */
/* spsc_ring.c — bench_ring_* over ck_ring's spsc operations.  ck_ring's
 * enqueue_spsc publishes the slot with a store-release of p_tail that the
 * consumer's dequeue_spsc load-acquires (ck_pr fences inside ck_ring.h), so
 * the consumer sees the producer's writes to the object it dequeues. */
#include "spsc_ring.h"

#include <ck_ring.h>
#include <stdlib.h>

struct bench_ring_s {
  ck_ring_t ring; /* heads on separate cache lines (ck_ring layout) */
  ck_ring_buffer_t *slots;
};

bench_ring_t *bench_ring_create(unsigned slots) {
  if (slots < 8 || (slots & (slots - 1)) != 0)
    return NULL;
  /* aligned_alloc wants a size that is a multiple of the alignment; 8 or
   * more slots of 8 bytes make a whole number of 64-byte lines. */
  size_t line = CK_MD_CACHELINE;
  bench_ring_t *r = aligned_alloc(line, (sizeof(*r) + line - 1) / line * line);
  if (r == NULL)
    return NULL;
  r->slots = aligned_alloc(line, sizeof(ck_ring_buffer_t) * slots);
  if (r->slots == NULL) {
    free(r);
    return NULL;
  }
  ck_ring_init(&r->ring, slots);
  return r;
}

void bench_ring_destroy(bench_ring_t *r) {
  if (r == NULL)
    return;
  free(r->slots);
  free(r);
}

bool bench_ring_push(bench_ring_t *r, void *p) {
  return ck_ring_enqueue_spsc(&r->ring, r->slots, p);
}

bool bench_ring_pop(bench_ring_t *r, void **out) {
  return ck_ring_dequeue_spsc(&r->ring, r->slots, out);
}

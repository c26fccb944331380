/* SPDX-License-Identifier: MIT */
/* pool_floor.c — the out-of-line half of pool_floor.h (the invariants are
 * numbered there): the called variant of the floor's alloc and free, and
 * the slow paths both variants share. */
#include "pool_floor.h"

#include <stdint.h>
#include <stdlib.h>

/* Kept out of line even across translation units under LTO: noipa (gcc)
 * also stops cloning and interprocedural propagation, so the caller pays a
 * real call with the floor's pointer in a register, as it does for
 * ebra_pool_alloc in libebra. */
#if defined(__clang__)
#define BENCH_FLOOR_CALLED __attribute__((noinline))
#else
#define BENCH_FLOOR_CALLED __attribute__((noinline, noipa))
#endif

#define CHUNK_BYTES ((size_t)64 << 10)
#define CHUNK_HEADER 64 /* the chunk link, padded so objects stay 64-aligned */

__thread void *bench_floor_heads[BENCH_FLOOR_MAX] __attribute__((tls_model("initial-exec")));

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned slots_used; /* bit per slot; under slots_lock */

BENCH_FLOOR_CALLED void *bench_floor_alloc(bench_floor_t *f) {
  return bench_floor_alloc_inline(f);
}

BENCH_FLOOR_CALLED void bench_floor_free(bench_floor_t *f, void *p) {
  bench_floor_free_inline(f, p);
}

bench_floor_t *bench_floor_create(size_t size) {
  const size_t stride = size < 16 ? 16 : (size + 15) & ~(size_t)15;
  if (stride > (CHUNK_BYTES - CHUNK_HEADER) / BENCH_FLOOR_REFILL)
    return NULL;
  bench_floor_t *f = calloc(1, sizeof *f);
  if (f == NULL)
    return NULL;
  pthread_mutex_lock(&slots_lock); /* released below, on both paths */
  unsigned slot = 0;
  while (slot < BENCH_FLOOR_MAX && (slots_used & (1u << slot)) != 0)
    slot++;
  if (slot < BENCH_FLOOR_MAX)
    slots_used |= 1u << slot;
  pthread_mutex_unlock(&slots_lock);
  if (slot == BENCH_FLOOR_MAX) {
    free(f);
    return NULL;
  }
  f->slot = slot;
  f->stride = stride;
  pthread_mutex_init(&f->lock, NULL);
  bench_floor_heads[slot] = NULL; /* a list left by an earlier floor (3.) */
  return f;
}

void bench_floor_destroy(bench_floor_t *f) {
  if (f == NULL)
    return;
  bench_floor_thread_drop(f);
  void *c = f->chunks;
  while (c != NULL) {
    void *next = *(void **)c;
    free(c);
    c = next;
  }
  pthread_mutex_destroy(&f->lock);
  pthread_mutex_lock(&slots_lock); /* released right after */
  slots_used &= ~(1u << f->slot);
  pthread_mutex_unlock(&slots_lock);
  free(f);
}

void bench_floor_thread_drop(bench_floor_t *f) { bench_floor_heads[f->slot] = NULL; }

size_t bench_floor_carved(bench_floor_t *f) {
  pthread_mutex_lock(&f->lock); /* released right after */
  const size_t n = f->carved;
  pthread_mutex_unlock(&f->lock);
  return n;
}

void *bench_floor_refill(bench_floor_t *f) {
  pthread_mutex_lock(&f->lock); /* released on every path below */
  if ((size_t)(f->end - f->cursor) < f->stride * BENCH_FLOOR_REFILL) {
    void *c = aligned_alloc(64, CHUNK_BYTES);
    if (c == NULL) {
      pthread_mutex_unlock(&f->lock);
      return NULL;
    }
    *(void **)c = f->chunks;
    f->chunks = c;
    f->cursor = (char *)c + CHUNK_HEADER;
    f->end = (char *)c + CHUNK_BYTES;
  }
  char *first = f->cursor;
  f->cursor += f->stride * BENCH_FLOOR_REFILL;
  f->carved += BENCH_FLOOR_REFILL;
  pthread_mutex_unlock(&f->lock);
  /* Objects 1..REFILL-1 go on this thread's list, lowest address on top. */
  void **head = &bench_floor_heads[f->slot];
  for (size_t i = BENCH_FLOOR_REFILL; i-- > 1;) {
    void *p = first + i * f->stride;
    *(void **)p = *head;
    *head = p;
  }
  return first;
}

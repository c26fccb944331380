/* SPDX-License-Identifier: MIT */
/* pool_floor.h — the floor rows of the pool benchmarks: about the least an
 * allocator of fixed-size objects can do per operation, so the pool tables
 * can say how far ebra is from it and not only from the peers.
 *
 * A floor is one object size.  Each thread keeps one LIFO freelist per
 * floor, linked through the objects' first word, at a fixed slot of a
 * thread-local array (the benchmark's own TLS, initial-exec).  Alloc pops,
 * free pushes; an empty list is refilled with BENCH_FLOOR_REFILL objects
 * carved from the floor's chunks under the floor's mutex (the only shared
 * state, out of line in both variants).
 *
 * Two ways in, one body:
 *   bench_floor_alloc / bench_floor_free      out of line: defined in
 *       pool_floor.c with noinline and noipa, so even with the link-time
 *       optimisation bench_pool is built with, every call is a real call
 *   bench_floor_alloc_inline / bench_floor_free_inline   static inline here
 *
 * What it leaves out, and what makes it a floor rather than a peer:
 *   - no check of any kind: a foreign, misaligned or double-freed pointer
 *     corrupts the list silently;
 *   - no way back: an object freed by another thread joins the *freeing*
 *     thread's list, so memory drifts towards the threads that free and
 *     nothing is returned before bench_floor_destroy (a producer→consumer
 *     hand-off would make the consumer's list grow without bound while the
 *     producer carves new chunks: the harness does not run the floor there);
 *   - no statistics, no per-thread teardown on thread exit.
 *
 * Contract (single owner per piece of state):
 *   1. bench_floor_heads[slot] is read and written only by its own thread.
 *   2. A floor's chunks, cursor and carved count are touched only under
 *      floor->lock (refill, carved, destroy).
 *   3. Every thread that used a floor calls bench_floor_thread_drop for it,
 *      or exits, before bench_floor_destroy; destroy drops the calling
 *      thread's list itself.  At most BENCH_FLOOR_MAX floors exist at once.
 */
#ifndef EBRA_BENCH_POOL_FLOOR_H
#define EBRA_BENCH_POOL_FLOOR_H

#include <pthread.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_FLOOR_MAX 8     /* floors alive at once (one per size class) */
#define BENCH_FLOOR_REFILL 64 /* objects carved per refill */

typedef struct bench_floor {
  unsigned slot;        /* index into bench_floor_heads; fixed at create */
  size_t stride;        /* object size rounded up to 16 bytes */
  pthread_mutex_t lock; /* guards the fields below (2.) */
  void *chunks;         /* singly linked through each chunk's first word */
  char *cursor, *end;   /* the current chunk's uncarved part */
  size_t carved;        /* objects carved so far */
} bench_floor_t;

/* Each thread's list heads, one per floor slot (1.). */
extern __thread void *bench_floor_heads[BENCH_FLOOR_MAX]
    __attribute__((tls_model("initial-exec")));

/* A floor for objects of `size` bytes (16-byte aligned); NULL when
 * BENCH_FLOOR_MAX floors exist or memory is short. */
bench_floor_t *bench_floor_create(size_t size);
/* Frees every chunk; see 3. for the other threads' lists. */
void bench_floor_destroy(bench_floor_t *f);
/* Forgets the calling thread's list of f (its objects stay in f's chunks). */
void bench_floor_thread_drop(bench_floor_t *f);
/* Objects carved so far: live + on some thread's list. */
size_t bench_floor_carved(bench_floor_t *f);
/* The slow path of both variants: carves a batch, returns one object and
 * puts the rest on the calling thread's list; NULL when memory is short. */
void *bench_floor_refill(bench_floor_t *f);

/* Out of line (pool_floor.c). */
void *bench_floor_alloc(bench_floor_t *f);
void bench_floor_free(bench_floor_t *f, void *p);

static inline void *bench_floor_alloc_inline(bench_floor_t *f) {
  void **head = &bench_floor_heads[f->slot];
  void *p = *head;
  if (__builtin_expect(p == NULL, 0))
    return bench_floor_refill(f);
  *head = *(void **)p;
  return p;
}

static inline void bench_floor_free_inline(bench_floor_t *f, void *p) {
  void **head = &bench_floor_heads[f->slot];
  *(void **)p = *head;
  *head = p;
}

#ifdef __cplusplus
}
#endif
#endif

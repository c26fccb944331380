/* SPDX-License-Identifier: MIT */
/* bench/malloc_ops.c — a fixed loop of malloc+free pairs on the process's
 * malloc, for instructions per pair under callgrind (bench/callgrind_malloc.sh
 * runs it under each allocator by LD_PRELOAD).
 *   malloc_ops SIZE N    N pairs of malloc(SIZE) + free, 16 blocks in flight
 *   malloc_ops random N  N pairs of bench_malloc's BM_random on one thread:
 *                        2000 live blocks of 8 B .. 64 KiB (geometric: most
 *                        are small), 1 in 512 of 256 KiB; each pair frees a
 *                        random one and mallocs a new size in its place
 *   malloc_ops larson N  N pairs of bench_malloc's BM_larson on one thread:
 *                        4096 slots; each pair mallocs 16..1024 B into a
 *                        random slot and frees the block it held
 *   malloc_ops fifo N    N pairs of bench_malloc's BM_prodcons on one
 *                        thread: a ring of 1024 blocks of 16..512 B; each
 *                        pair mallocs a new one into the ring and frees
 *                        the oldest
 *   malloc_ops cSIZE N   as SIZE, with calloc(1, SIZE) for malloc(SIZE)
 * Setup is the same for every N (the random sequence too), so
 * (Ir(N) - Ir(0)) / N is one pair, the loop included. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static size_t below(size_t n) { return (size_t)(((unsigned __int128)next() * n) >> 64); }

/* bench_malloc.cc's random_size. */
static size_t random_size(void) {
  if (below(512) == 0)
    return 256 << 10;
  unsigned k = 3;
  while (k < 16 && (next() & 1))
    k++;
  return ((size_t)1 << k) + below((size_t)1 << k);
}

#define NLIVE 2000

static void run_random(long n) {
  static void *live[NLIVE];
  for (int i = 0; i < NLIVE; i++)
    live[i] = malloc(random_size());
  for (long i = 0; i < n; i++) {
    void **p = &live[below(NLIVE)];
    free(*p);
    const size_t size = random_size();
    *p = malloc(size);
    ((volatile char *)*p)[size - 1] = 1;
  }
  for (int i = 0; i < NLIVE; i++)
    free(live[i]);
}

#define NSLOTS 4096

static void run_larson(long n) {
  static void *slots[NSLOTS];
  for (long i = 0; i < n; i++) {
    char *p = malloc(16 + below(1009));
    p[0] = 1;
    void **slot = &slots[below(NSLOTS)];
    free(*slot);
    *slot = p;
  }
  for (int i = 0; i < NSLOTS; i++)
    free(slots[i]);
}

#define NRING 1024

static void run_fifo(long n) {
  static void *ring[NRING];
  for (int i = 0; i < NRING; i++)
    ring[i] = malloc(16 + below(497));
  for (long i = 0; i < n; i++) {
    void **slot = &ring[i % NRING];
    free(*slot);
    *slot = malloc(16 + below(497));
    ((char *)*slot)[0] = 1;
  }
  for (int i = 0; i < NRING; i++)
    free(ring[i]);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: malloc_ops SIZE|cSIZE|random|larson|fifo N\n");
    return 2;
  }
  const long n = atol(argv[2]);
  if (strcmp(argv[1], "random") == 0) {
    run_random(n);
    return 0;
  }
  if (strcmp(argv[1], "larson") == 0) {
    run_larson(n);
    return 0;
  }
  if (strcmp(argv[1], "fifo") == 0) {
    run_fifo(n);
    return 0;
  }
  const bool zeroed = argv[1][0] == 'c';
  const size_t size = (size_t)atol(argv[1] + zeroed);
  void *volatile live[16];
  for (int i = 0; i < 16; i++) /* warm: every path taken once before counting */
    live[i] = zeroed ? calloc(1, size) : malloc(size);
  for (int i = 0; i < 16; i++)
    free(live[i]);
  for (int i = 0; i < 16; i++)
    live[i] = zeroed ? calloc(1, size) : malloc(size);
  for (long i = 0; i < n; i++) {
    free(live[i & 15]);
    live[i & 15] = zeroed ? calloc(1, size) : malloc(size);
  }
  for (int i = 0; i < 16; i++)
    free(live[i]);
  return 0;
}

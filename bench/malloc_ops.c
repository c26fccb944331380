/* SPDX-License-Identifier: MIT */
/* bench/malloc_ops.c — a fixed loop of malloc+free pairs on the process's
 * malloc, for instructions per pair under callgrind (bench/callgrind_malloc.sh
 * runs it under each allocator by LD_PRELOAD).
 *   malloc_ops SIZE N    N pairs of malloc(SIZE) + free, 16 blocks in flight
 * Setup is the same for every N, so (Ir(N) - Ir(0)) / N is one pair, the
 * loop included. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: malloc_ops SIZE N\n");
    return 2;
  }
  const size_t size = (size_t)atol(argv[1]);
  const long n = atol(argv[2]);
  void *volatile live[16];
  for (int i = 0; i < 16; i++) /* warm: every path taken once before counting */
    live[i] = malloc(size);
  for (int i = 0; i < 16; i++)
    free(live[i]);
  for (int i = 0; i < 16; i++)
    live[i] = malloc(size);
  for (long i = 0; i < n; i++) {
    free(live[i & 15]);
    live[i & 15] = malloc(size);
  }
  for (int i = 0; i < 16; i++)
    free(live[i]);
  return 0;
}

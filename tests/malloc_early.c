/* SPDX-License-Identifier: MIT */
/* malloc_early.c — a library whose constructor allocates before
 * libebra-malloc.so's constructors have run (test_malloc_override links it
 * after libebra-malloc.so, so the dynamic loader initialises it first).
 * The blocks are kept for the test to check, realloc and free. */
#include <stdlib.h>
#include <string.h>

#define EARLY_N 64
__attribute__((visibility("default"))) void *early_blocks[EARLY_N];
__attribute__((visibility("default"))) size_t early_sizes[EARLY_N];

__attribute__((constructor)) static void early_init(void) {
  for (int i = 0; i < EARLY_N; i++) {
    early_sizes[i] = (size_t)(i * 37 + 1);
    early_blocks[i] = i % 3 ? malloc(early_sizes[i]) : calloc(1, early_sizes[i]);
    if (early_blocks[i])
      memset(early_blocks[i], i, early_sizes[i]);
  }
  /* A free and a realloc before init as well. */
  free(malloc(100));
  early_blocks[0] = realloc(early_blocks[0], early_sizes[0] + 50);
  early_sizes[0] += 50;
  if (early_blocks[0])
    memset(early_blocks[0], 0, early_sizes[0]);
}

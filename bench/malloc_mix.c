/* SPDX-License-Identifier: MIT */
/* bench/malloc_mix.c — do the blocks of two threads share cache lines after
 * threads come and go?  Runs on the process's malloc (LD_PRELOAD picks the
 * allocator).
 *
 *   malloc_mix T GENERATIONS N
 *
 * Each generation starts T threads that keep 2000 live blocks each, of
 * bench_malloc's BM_random sizes (8 B .. 64 KiB, geometric, 1 in 512 of
 * 256 KiB), make N replacements (free a random one, malloc a new size in
 * its place, write its last byte) and free everything before they exit.
 * Half way through, with every thread stopped, the main thread measures
 * the share of live blocks whose first or last cache line also holds a
 * live block of another thread.  Prints, per generation,
 * `M replacements per second / share`.  An allocator whose exiting
 * threads' blocks are handed to the next threads in the order they were
 * freed shows a share that grows after the first generation, and the
 * speed that goes with it (docs/DESIGN.md, "Magazine capacity", MC7). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { LIVE = 2000, MAX_THREADS = 8, LINE = 64 };

static int nthreads;
static long nops;
static pthread_barrier_t halfway; /* T threads + main, twice */
static void *blocks[MAX_THREADS][LIVE];
static size_t sizes[MAX_THREADS][LIVE];

typedef struct {
  uint64_t s;
} rng_t;

static uint64_t rng_next(rng_t *r) {
  r->s ^= r->s << 13;
  r->s ^= r->s >> 7;
  r->s ^= r->s << 17;
  return r->s;
}

static size_t rng_below(rng_t *r, size_t n) {
  return (size_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

static size_t random_size(rng_t *r) {
  if (rng_below(r, 512) == 0)
    return (size_t)256 << 10;
  unsigned k = 3;
  while (k < 16 && (rng_next(r) & 1))
    k++;
  return ((size_t)1 << k) + rng_below(r, (size_t)1 << k);
}

static void replace(int t, int i, rng_t *r) {
  const size_t size = random_size(r);
  char *p = malloc(size);
  if (!p) {
    perror("malloc");
    exit(1);
  }
  p[size - 1] = 1;
  blocks[t][i] = p;
  sizes[t][i] = size;
}

typedef struct {
  int t;
  uint64_t seed;
} worker_arg_t;

static void *worker(void *arg) {
  const worker_arg_t *a = arg;
  rng_t r = {a->seed * 0x9E3779B97F4A7C15ull + 1};
  for (int i = 0; i < LIVE; i++)
    replace(a->t, i, &r);
  for (long k = 0; k < nops; k++) {
    if (k == nops / 2) { /* the main thread looks */
      pthread_barrier_wait(&halfway);
      pthread_barrier_wait(&halfway);
    }
    const int i = (int)rng_below(&r, LIVE);
    free(blocks[a->t][i]);
    replace(a->t, i, &r);
  }
  for (int i = 0; i < LIVE; i++)
    free(blocks[a->t][i]);
  return NULL;
}

typedef struct {
  uintptr_t line;
  int thread;
} line_t;

static int line_cmp(const void *x, const void *y) {
  const line_t *a = x, *b = y;
  return a->line < b->line ? -1 : a->line > b->line;
}

static int uptr_cmp(const void *x, const void *y) {
  const uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;
  return a < b ? -1 : a > b;
}

static uintptr_t first_line(int t, int i) { return (uintptr_t)blocks[t][i] / LINE; }
static uintptr_t last_line(int t, int i) {
  return ((uintptr_t)blocks[t][i] + sizes[t][i] - 1) / LINE;
}

/* The share of live blocks whose first or last line holds another
 * thread's block (the lines in between belong to the block alone). */
static double shared_share(void) {
  size_t n = 0;
  for (int t = 0; t < nthreads; t++)
    for (int i = 0; i < LIVE; i++)
      n += last_line(t, i) - first_line(t, i) + 1;
  line_t *lines = malloc(n * sizeof *lines);
  uintptr_t *shared = malloc(n * sizeof *shared);
  if (!lines || !shared) {
    perror("malloc");
    exit(1);
  }
  size_t k = 0;
  for (int t = 0; t < nthreads; t++)
    for (int i = 0; i < LIVE; i++)
      for (uintptr_t l = first_line(t, i); l <= last_line(t, i); l++)
        lines[k++] = (line_t){l, t};
  qsort(lines, n, sizeof *lines, line_cmp);
  size_t nshared = 0;
  for (size_t i = 0, j; i < n; i = j) {
    unsigned owners = 0;
    for (j = i; j < n && lines[j].line == lines[i].line; j++)
      owners |= 1u << lines[j].thread;
    if (owners & (owners - 1))
      shared[nshared++] = lines[i].line;
  }
  size_t mixed = 0;
  for (int t = 0; t < nthreads; t++)
    for (int i = 0; i < LIVE; i++) {
      const uintptr_t ends[2] = {first_line(t, i), last_line(t, i)};
      mixed += bsearch(&ends[0], shared, nshared, sizeof *shared, uptr_cmp) != NULL ||
               bsearch(&ends[1], shared, nshared, sizeof *shared, uptr_cmp) != NULL;
    }
  free(shared);
  free(lines);
  return (double)mixed / (double)(nthreads * LIVE);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc != 4 || (nthreads = atoi(argv[1])) < 2 || nthreads > MAX_THREADS ||
      atoi(argv[2]) < 1 || (nops = atol(argv[3])) < 2) {
    fprintf(stderr, "usage: malloc_mix THREADS(2..%d) GENERATIONS N(>=2)\n", MAX_THREADS);
    return 2;
  }
  const int generations = atoi(argv[2]);
  pthread_barrier_init(&halfway, NULL, (unsigned)nthreads + 1);
  for (int g = 0; g < generations; g++) {
    pthread_t tid[MAX_THREADS];
    worker_arg_t args[MAX_THREADS];
    const double t0 = now();
    for (int t = 0; t < nthreads; t++) {
      args[t] = (worker_arg_t){t, (uint64_t)g * MAX_THREADS + (uint64_t)t + 1};
      if (pthread_create(&tid[t], NULL, worker, &args[t]) != 0) {
        fprintf(stderr, "malloc_mix: pthread_create failed\n");
        return 1;
      }
    }
    pthread_barrier_wait(&halfway);
    const double t1 = now();
    const double share = shared_share();
    const double t2 = now();
    pthread_barrier_wait(&halfway);
    for (int t = 0; t < nthreads; t++)
      pthread_join(tid[t], NULL);
    const double secs = now() - t0 - (t2 - t1); /* without the look */
    printf("%.1f/%.2f%s", (double)nthreads * (double)nops / secs / 1e6, share,
           g + 1 < generations ? " " : "\n");
    fflush(stdout);
  }
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* stress/stress_broken.c — a deliberately broken user of the pool, to show
 * that the depot's ThreadSanitizer annotations (lockfree/annotate.h) and the
 * ASan poisoning of free objects do not hide real bugs.
 *
 * Each thread allocates a batch, frees all of it (enough to push full
 * magazines to the depot, where other threads pick them up), and then —
 * only when built with STRESS_BROKEN — writes into the objects it has
 * already freed.  Another thread may by then own them, so:
 *   - under TSan the late write races with the new owner's accesses;
 *   - under ASan the late write hits a poisoned free object.
 * Built with STRESS_BROKEN, the test must fail (ctest WILL_FAIL); built
 * without, the same program is clean and checks its stamps.
 *
 * Usage: stress_broken [-t threads] [-r rounds]
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stress_util.h"

#define BATCH 48

typedef struct obj_s {
  uint64_t marker_space; /* the pool keeps its free marker here while free */
  uint64_t owner;
  uint64_t check;
} obj_t;

static ebra_pool_t *pool;
static int rounds = 300;
static atomic_int failures;

static void *worker(void *arg) {
  const uint64_t me = *(const unsigned *)arg + 1;
  obj_t *batch[BATCH];
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < BATCH; i++) {
      batch[i] = ebra_pool_alloc(pool);
      if (!batch[i]) {
        atomic_fetch_add(&failures, 1);
        return NULL;
      }
      batch[i]->owner = me;
      batch[i]->check = ~me;
    }
    for (int i = 0; i < BATCH; i++) {
      if (batch[i]->owner != me || batch[i]->check != ~me)
        atomic_fetch_add(&failures, 1);
      ebra_pool_free(pool, batch[i]);
    }
#ifdef STRESS_BROKEN
    for (int i = 0; i < BATCH; i++)
      batch[i]->owner = me; /* BUG: write after free */
#endif
  }
  return NULL;
}

int main(int argc, char **argv) {
  int threads = 8, opt;
  while ((opt = getopt(argc, argv, "t:r:")) != -1) {
    if (opt == 't')
      threads = atoi(optarg);
    else if (opt == 'r')
      rounds = atoi(optarg);
  }
  /* Small magazines: objects reach the depot and other threads quickly. */
  ebra_pool_config_t cfg = {.name = "broken", .object_size = sizeof(obj_t),
                            .magazine_capacity = 4};
  pool = ebra_pool_create(&cfg);
  if (!pool)
    return 2;
  unsigned *ids = calloc((size_t)threads, sizeof *ids);
  if (!ids)
    return 2;
  for (int i = 0; i < threads; i++)
    ids[i] = (unsigned)i;
  stress_join(stress_spawn((size_t)threads, worker, ids, sizeof *ids));
  free(ids);
  ebra_pool_audit_t a;
  const int audit = ebra_pool_audit(pool, &a);
  ebra_pool_destroy(pool);
  if (failures || audit) {
    fprintf(stderr, "stress_broken: %d stamp failures, audit %d\n", atomic_load(&failures),
            audit);
    return 1;
  }
  printf("stress_broken: %d threads x %d rounds: clean\n", threads, rounds);
  return 0;
}

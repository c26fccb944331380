/* SPDX-License-Identifier: MIT */
/* test_slab_colour.c — slab colouring (src/slab.c, S6), checked from the
 * inside: this test is linked with the library's objects and reads the
 * slab headers through src/internal.h.
 *
 *  - geometry: for strides from 8 B to 1 MiB, alignments up to 4 KiB and
 *    the tightest strides (16 objects with no room to spare), every slab's
 *    mapping is granule-aligned, its header sits at a line offset below the
 *    pool's colour window, its bitmaps end before slot 0, slot 0 is
 *    aligned, the last slot ends inside the mapping, the slab holds at
 *    least EBI_SLAB_MIN_OBJECTS and at most floor(colour / stride) + 1
 *    fewer objects than at colour 0; a pool's slabs take several colours;
 *  - the segment map finds the slab from the first and the last byte of
 *    every object handed out;
 *  - pointers in the colour gap (base, the word below the header), in the
 *    header and its bitmaps, and just before slot 0 are refused by
 *    ebra_pool_free, ebra_free and the claim that retire and weak-handle
 *    creation make (test_wrong checks the inline free): -EINVAL (MISALIGNED)
 *    from the owner and the claim, -EXDEV (WRONG_POOL) from another pool;
 *    nothing crashes;
 *  - pools created one after another start on distinct colours;
 *  - purge gives a coloured slab's object pages back and keeps its header
 *    page; reuse hands out the same slots under the same header; destroy
 *    unmaps every mapping from its base (mincore fails there after);
 *  - two threads allocate and free across slabs while a third trims and
 *    purges (for ASan and TSan).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"
#include <ebra/malloc.h>

static size_t colour_of(const ebi_slab_t *s) { return (size_t)((const char *)s - s->base); }

static size_t nslabs(const ebra_pool_t *pool) {
  size_t n = 0;
  for (const ebi_slab_t *s = pool->slabs; s; s = s->next)
    n++;
  return n;
}

/* Slots at colour 0, computed apart from slab.c's own arithmetic: header
 * struct, three bitmaps of one bit per possible slot, aligned. */
static size_t slots_uncoloured(const ebra_pool_t *pool) {
  const size_t words = (pool->slab_size / pool->stride + 63) / 64;
  const size_t hdr = EBRA__SLAB_HELD + 3 * words * 8;
  const size_t first = (hdr + pool->alignment - 1) & ~(pool->alignment - 1);
  return (pool->slab_size - first) / pool->stride;
}

/* S6 for every slab of pool. */
static void check_layout(const ebra_pool_t *pool) {
  const size_t full = slots_uncoloured(pool);
  for (const ebi_slab_t *s = pool->slabs; s; s = s->next) {
    const size_t c = colour_of(s);
    CHECK_EQ((uintptr_t)s->base % EBI_GRANULE_SIZE, 0);
    CHECK_EQ(c % EBI_SLAB_COLOUR_STEP, 0);
    CHECK(c < pool->colours * EBI_SLAB_COLOUR_STEP);
    CHECK(c < 4096);
    const size_t words = (s->map_size / s->stride + 63) / 64;
    CHECK((char *)ebi_slab_held_bits(s) == (char *)s + sizeof(ebi_slab_t) ||
          (char *)ebi_slab_held_bits(s) >= (char *)s + sizeof(ebi_slab_t));
    CHECK((char *)(s->xlive_bits + words) <= s->first);
    CHECK_EQ((uintptr_t)s->first % pool->alignment, 0);
    CHECK(s->first + (size_t)s->count * s->stride <= s->base + s->map_size);
    CHECK_EQ(s->map_size, pool->slab_size);
    CHECK(s->count >= EBI_SLAB_MIN_OBJECTS);
    CHECK(s->count <= full);
    CHECK(full - s->count <= c / s->stride + 1);
  }
}

/* Allocate until the pool has `want` slabs (or `max` objects). */
static size_t fill_slabs(ebra_pool_t *pool, void **objs, size_t max, size_t want) {
  size_t n = 0;
  while (n < max && nslabs(pool) < want) {
    objs[n] = ebra_pool_alloc(pool);
    CHECK(objs[n] != NULL);
    n++;
  }
  return n;
}

/* The segment map finds each object's slab from its first and last byte. */
static void check_lookups(ebra_pool_t *pool, void **objs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    ebi_slab_t *s = ebi_segmap_lookup(objs[i]);
    CHECK(s != NULL && s->pool == pool);
    CHECK((char *)objs[i] >= s->first);
    CHECK((char *)objs[i] + pool->stride <= s->base + s->map_size);
    CHECK(ebi_segmap_lookup((char *)objs[i] + pool->stride - 1) == s);
    CHECK(ebra_pool_of(objs[i]) == pool);
  }
}

/* Addresses between the mapping's start and slot 0 that are not objects. */
static size_t gap_pointers(const ebi_slab_t *s, void **out) {
  size_t n = 0;
  out[n++] = s->base;
  out[n++] = s->base + 8;
  if (colour_of(s) >= 16)
    out[n++] = (char *)s - 8;
  out[n++] = (void *)s;
  out[n++] = (char *)s + 64;
  out[n++] = (char *)ebi_slab_held_bits(s);
  out[n++] = s->first - 8;
  return n;
}

static int s_magic_ok(const ebra_pool_t *pool) {
  for (const ebi_slab_t *s = pool->slabs; s; s = s->next)
    if (s->magic != EBI_SLAB_MAGIC)
      return 0;
  return 1;
}

static void check_gap_refused(ebra_pool_t *pool, ebra_pool_t *other) {
  for (const ebi_slab_t *s = pool->slabs; s; s = s->next) {
    void *gap[8];
    const size_t n = gap_pointers(s, gap);
    for (size_t i = 0; i < n; i++) {
      CHECK(ebi_segmap_lookup(gap[i]) == s);
      CHECK_EQ(ebra_pool_free(pool, gap[i]), -EINVAL);
      CHECK_REPORTS(EBRA_ERR_MISALIGNED, 1);
      CHECK_EQ(ebra_pool_free(other, gap[i]), -EXDEV);
      CHECK_REPORTS(EBRA_ERR_WRONG_POOL, 1);
      ebi_objref_t ref; /* what retire and weak-handle creation ask first */
      CHECK_EQ(ebi_object_claim(gap[i], &ref), -EINVAL);
      CHECK_REPORTS(EBRA_ERR_MISALIGNED, 1);
    }
  }
  CHECK_EQ(s_magic_ok(pool), 1);
}

static void one_geometry(size_t object_size, size_t alignment, size_t want_slabs) {
  ebra_pool_t *pool = ebra_pool_create(
      &(ebra_pool_config_t){.name = "colour", .object_size = object_size, .alignment = alignment});
  ebra_pool_t *other = ebra_pool_create(&(ebra_pool_config_t){.name = "other", .object_size = 64});
  CHECK(pool && other);
  const size_t max = 400000;
  void **objs = malloc(max * sizeof *objs);
  CHECK(objs != NULL);
  const size_t n = fill_slabs(pool, objs, max, want_slabs);
  CHECK(nslabs(pool) >= want_slabs);
  check_layout(pool);
  check_lookups(pool, objs, n);
  check_gap_refused(pool, other);
  /* A pool with room for colours uses several. */
  if (pool->colours > 1) {
    size_t distinct = 0;
    for (const ebi_slab_t *s = pool->slabs; s; s = s->next) {
      bool seen = false;
      for (const ebi_slab_t *t = pool->slabs; t != s; t = t->next)
        seen |= colour_of(t) == colour_of(s);
      distinct += !seen;
    }
    CHECK(distinct >= 2);
  }
  ebra_pool_audit_t a;
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(ebra_pool_free(pool, objs[i]), 0);
  CHECK_EQ(ebra_pool_audit(pool, &a), 0);
  CHECK_EQ(a.invalid, 0);
  CHECK_EQ(a.duplicates, 0);
  CHECK_NO_REPORTS();
  free(objs);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_EQ(ebra_pool_destroy(other), 0);
  CHECK_NO_REPORTS();
}

static void test_geometry(void) {
  one_geometry(8, 0, 3);
  one_geometry(64, 0, 3);
  one_geometry(100, 0, 3);
  one_geometry(24, 16, 3);
  one_geometry(4096, 4096, 3);
  one_geometry(5000, 128, 3);
  one_geometry(65000, 0, 3);  /* 16 objects, room for every colour */
  one_geometry(65520, 0, 3);  /* 16 objects with 104 B to spare: two colours */
  one_geometry(65528, 0, 3);  /* 15 would fit a granule: a 2 MiB slab */
  one_geometry((size_t)1 << 20, 0, 2);
}

/* Tight and roomy strides: the colour window is cut to keep 16 objects.
 * 65520 B: 16 slots take 1048320 B of a granule, the header 152, which
 * leaves 104: room for colour 64 but not 128. */
static void test_colour_window(void) {
  ebra_pool_t *tight = ebra_pool_create(&(ebra_pool_config_t){.name = "tight", .object_size = 65520});
  ebra_pool_t *roomy = ebra_pool_create(&(ebra_pool_config_t){.name = "roomy", .object_size = 64});
  CHECK(tight && roomy);
  CHECK_EQ(tight->slab_size, EBI_GRANULE_SIZE);
  CHECK_EQ(tight->colours, 2);
  CHECK_EQ(roomy->slab_size, EBI_GRANULE_SIZE);
  CHECK_EQ(roomy->colours, EBI_SLAB_COLOURS);
  CHECK_EQ(ebra_pool_destroy(tight), 0);
  CHECK_EQ(ebra_pool_destroy(roomy), 0);
}

/* Pools made one after another put their first slabs on distinct lines. */
static void test_pools_distinct(void) {
  enum { N = 8 };
  ebra_pool_t *pools[N];
  void *objs[N];
  for (int i = 0; i < N; i++) {
    pools[i] = ebra_pool_create(&(ebra_pool_config_t){.name = "p", .object_size = 48});
    CHECK(pools[i] != NULL);
  }
  for (int i = 0; i < N; i++) {
    objs[i] = ebra_pool_alloc(pools[i]);
    CHECK(objs[i] != NULL);
  }
  for (int i = 0; i < N; i++)
    for (int j = 0; j < i; j++)
      CHECK(colour_of(pools[i]->slabs) != colour_of(pools[j]->slabs));
  for (int i = 0; i < N; i++) {
    CHECK_EQ(ebra_pool_free(pools[i], objs[i]), 0);
    CHECK_EQ(ebra_pool_destroy(pools[i]), 0);
  }
  CHECK_NO_REPORTS();
}

static bool resident(const void *p) {
  unsigned char v = 0;
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  CHECK_EQ(mincore((void *)((uintptr_t)p & ~(page - 1)), page, &v), 0);
  return v & 1;
}

static bool mapped(const void *p) {
  unsigned char v = 0;
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  return mincore((void *)((uintptr_t)p & ~(page - 1)), page, &v) == 0;
}

/* Every object back to its slab, every wholly free slab purged. */
static uint64_t trim_and_purge(ebra_pool_t *pool) {
  CHECK_EQ(ebra_pool_thread_flush(pool), 0);
  ebi_depot_trim(pool, 0);
  return ebi_slab_purge_free(pool);
}

static void test_purge_reuse_destroy(void) {
  ebra_pool_t *pool = ebra_pool_create(&(ebra_pool_config_t){.name = "purge", .object_size = 200});
  CHECK(pool != NULL);
  const size_t max = 100000;
  void **objs = malloc(max * sizeof *objs);
  CHECK(objs != NULL);
  const size_t n = fill_slabs(pool, objs, max, 4);
  for (size_t i = 0; i < n; i++)
    memset(objs[i], 0xAB, pool->object_size);
  enum { MAXS = 8 };
  const ebi_slab_t *slabs[MAXS];
  size_t colour[MAXS], ns = 0;
  char *bases[MAXS];
  for (const ebi_slab_t *s = pool->slabs; s && ns < MAXS; s = s->next, ns++) {
    slabs[ns] = s;
    colour[ns] = colour_of(s);
    bases[ns] = s->base;
  }
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(ebra_pool_free(pool, objs[i]), 0);
  CHECK(trim_and_purge(pool) >= 2 * pool->slab_size); /* all but the current one */
  CHECK_NO_REPORTS(); /* a purge that failed would report INTERNAL */
  CHECK_EQ(s_magic_ok(pool), 1); /* no purge reached another header */
  check_layout(pool);
  size_t purged = 0;
  for (size_t k = 0; k < ns; k++) {
    const ebi_slab_t *s = slabs[k];
    if (!(ebi_atomic_load_relaxed(&s->xcarve) & EBI_SLAB_PURGED))
      continue;
    purged++;
    CHECK(resident(s));          /* the header page stays */
    CHECK(s->magic == EBI_SLAB_MAGIC);
    CHECK(!resident(s->base + s->map_size - 1)); /* the last object page went back */
    CHECK(!resident(s->first + 8192));
  }
  CHECK(purged >= 2);
  /* Reuse: the same slabs, headers and colours. */
  const size_t m = fill_slabs(pool, objs, max, ns + 1) - 1;
  CHECK_EQ(ebra_pool_free(pool, objs[m]), 0); /* the one that grew a new slab */
  for (size_t k = 0; k < ns; k++) {
    CHECK(colour_of(slabs[k]) == colour[k]);
    CHECK(slabs[k]->base == bases[k]);
    CHECK(!(ebi_atomic_load_relaxed(&slabs[k]->xcarve) & EBI_SLAB_PURGED));
  }
  check_layout(pool);
  check_lookups(pool, objs, m);
  for (size_t i = 0; i < m; i++)
    CHECK_EQ(ebra_pool_free(pool, objs[i]), 0);
  char *all[64];
  size_t na = 0;
  for (const ebi_slab_t *s = pool->slabs; s && na < 64; s = s->next)
    all[na++] = s->base;
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS(); /* an unmap that failed would report INTERNAL */
  for (size_t k = 0; k < na; k++) {
    CHECK(!mapped(all[k]));
    CHECK(!mapped(all[k] + EBI_GRANULE_SIZE - 1));
  }
  free(objs);
}

/* ebra_free of a gap pointer in a malloc class's slab: refused, reported. */
static void test_malloc_gap(void) {
  void *p = ebra_malloc(48);
  CHECK(p != NULL);
  const ebi_slab_t *s = ebi_segmap_lookup(p);
  CHECK(s != NULL);
  void *gap[8];
  const size_t n = gap_pointers(s, gap);
  for (size_t i = 0; i < n; i++) {
    ebra_free(gap[i]);
    CHECK_REPORTS(EBRA_ERR_MISALIGNED, 1);
  }
  ebra_free(p);
  CHECK_NO_REPORTS();
}

/* ---- threads: churn across slabs while a trimmer purges ------------------- */

static ebra_pool_t *churn_pool;
static _Atomic int churn_stop;

static void *churn(void *arg) {
  (void)arg;
  enum { BATCH = 3000 };
  static __thread void *held[BATCH];
  for (int round = 0; round < 40; round++) {
    for (int i = 0; i < BATCH; i++) {
      held[i] = ebra_pool_alloc(churn_pool);
      CHECK(held[i] != NULL);
      memset(held[i], round, 64);
    }
    for (int i = 0; i < BATCH; i++)
      CHECK_EQ(ebra_pool_free(churn_pool, held[i]), 0);
    CHECK_EQ(ebra_pool_thread_flush(churn_pool), 0);
  }
  ebra_thread_exit();
  return NULL;
}

static void *trimmer(void *arg) {
  (void)arg;
  while (!atomic_load(&churn_stop)) {
    ebi_depot_trim(churn_pool, 0);
    ebi_slab_purge_free(churn_pool);
    usleep(200);
  }
  return NULL;
}

static void test_threads(void) {
  churn_pool = ebra_pool_create(&(ebra_pool_config_t){.name = "churn", .object_size = 4000});
  CHECK(churn_pool != NULL);
  pthread_t t[3];
  CHECK_EQ(pthread_create(&t[0], NULL, churn, NULL), 0);
  CHECK_EQ(pthread_create(&t[1], NULL, churn, NULL), 0);
  CHECK_EQ(pthread_create(&t[2], NULL, trimmer, NULL), 0);
  pthread_join(t[0], NULL);
  pthread_join(t[1], NULL);
  atomic_store(&churn_stop, 1);
  pthread_join(t[2], NULL);
  check_layout(churn_pool);
  ebra_pool_stats_t st;
  CHECK_EQ(ebra_pool_stats(churn_pool, &st), 0);
  CHECK(st.slabs_purged > 0); /* purges ran beside the churn */
  ebra_pool_audit_t a;
  CHECK_EQ(ebra_pool_audit(churn_pool, &a), 0);
  CHECK_EQ(a.invalid, 0);
  CHECK_EQ(a.duplicates, 0);
  CHECK_EQ(ebra_pool_destroy(churn_pool), 0);
  CHECK_NO_REPORTS();
}

int main(void) {
  test_hook_install();
  TEST_RUN(test_colour_window);
  TEST_RUN(test_geometry);
  TEST_RUN(test_pools_distinct);
  TEST_RUN(test_purge_reuse_destroy);
  TEST_RUN(test_malloc_gap);
  TEST_RUN(test_threads);
  return 0;
}

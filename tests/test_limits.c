/* SPDX-License-Identifier: MIT */
/* test_limits.c — where a pool's memory comes from and where it stops.
 *
 * Claims checked:
 *  - cap: on one thread exactly max_objects allocations succeed, the next
 *    returns NULL with errno ENOMEM and one EBRA_ERR_CAP_REACHED report;
 *    after one free an allocation succeeds again; objects_carved never
 *    exceeds max_objects (for several caps and magazine capacities, with
 *    and without prealloc);
 *  - prealloc N: after create objects_carved >= N, and N allocations map
 *    no new slab;
 *  - secure clearing (flag EBRA_POOL_SECURE_CLEAR, or option
 *    EBRA_OPT_SECURE): alloc returns zeroed memory even after the previous
 *    user filled the object;
 *  - the OS refusing memory (RLIMIT_AS = usage + 32 MiB in a forked child): alloc returns
 *    NULL with errno ENOMEM and one EBRA_ERR_NOMEM report; after freeing
 *    everything the pool allocates again.  Skipped under ASan/TSan, whose
 *    shadow memory needs far more address space than any sane limit.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* ---- cap ----------------------------------------------------------------- */

static void check_cap(size_t cap, unsigned magazine, size_t prealloc)
{
  ebra_pool_config_t c = test_config("cap", 32);
  c.max_objects = cap;
  c.magazine_capacity = magazine;
  c.prealloc = prealloc;
  ebra_pool_t *pool = ebra_pool_create(&c);
  CHECK(pool != NULL);
  CHECK(test_stats(pool).objects_carved <= cap);

  void **obj = calloc(cap, sizeof *obj);
  CHECK(obj != NULL);
  for (size_t i = 0; i < cap; i++) {
    obj[i] = ebra_pool_alloc(pool);
    if (obj[i] == NULL) {
      fprintf(stderr, "cap %zu magazine %u prealloc %zu: allocation %zu of %zu "
              "failed (errno %d)\n", cap, magazine, prealloc, i + 1, cap, errno);
      exit(1);
    }
    if (i % 16 == 0)
      CHECK(test_stats(pool).objects_carved <= cap);
  }
  CHECK_NO_REPORTS();

  for (int round = 0; round < 2; round++) {
    errno = 0;
    void *extra = ebra_pool_alloc(pool);
    if (extra != NULL) {
      fprintf(stderr, "cap %zu magazine %u prealloc %zu: allocation %zu succeeded\n",
              cap, magazine, prealloc, cap + 1);
      exit(1);
    }
    CHECK_EQ(errno, ENOMEM);
    CHECK_REPORTS(EBRA_ERR_CAP_REACHED, 1);
    ebra_pool_stats_t s = test_stats(pool);
    CHECK_EQ(s.objects_carved, cap);
    CHECK_EQ(s.objects_live, cap);
    CHECK_EQ(s.allocs, cap + round);
    CHECK_EQ(s.frees, round);

    /* Free one; the next allocation must succeed again. */
    size_t k = (cap / 2 + round) % cap;
    CHECK_EQ(ebra_pool_free(pool, obj[k]), 0);
    obj[k] = ebra_pool_alloc(pool);
    CHECK(obj[k] != NULL);
    CHECK_NO_REPORTS();
  }

  /* Free all and take them all again: the cap counts objects, not calls. */
  for (size_t i = 0; i < cap; i++)
    CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  for (size_t i = 0; i < cap; i++) {
    obj[i] = ebra_pool_alloc(pool);
    CHECK(obj[i] != NULL);
  }
  CHECK(test_stats(pool).objects_carved <= cap);
  for (size_t i = 0; i < cap; i++)
    CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  CHECK_AUDIT(pool);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  free(obj);
  CHECK_NO_REPORTS();
}

static void test_cap(void)
{
  check_cap(1, 0, 0);
  check_cap(1, 1, 0);
  check_cap(2, 1, 0);
  check_cap(7, 4, 0);
  check_cap(63, 64, 0);
  check_cap(64, 64, 0);
  check_cap(65, 64, 0);
  check_cap(100, 0, 0);
  check_cap(100, 8, 0);
  check_cap(100, 16, 100);
  check_cap(100, 16, 37);
  check_cap(1000, 64, 0);
  check_cap(1000, 1000, 0);
  check_cap(5000, EBRA_MAX_MAGAZINE_CAPACITY, 0);
}

/* ---- prealloc -------------------------------------------------------------- */

static void check_prealloc(size_t size, size_t n, size_t cap)
{
  ebra_pool_config_t c = test_config("prealloc", size);
  c.prealloc = n;
  c.max_objects = cap;
  ebra_pool_t *pool = ebra_pool_create(&c);
  CHECK(pool != NULL);
  ebra_pool_stats_t s0 = test_stats(pool);
  CHECK(s0.objects_carved >= n);
  CHECK(s0.slabs > 0);
  CHECK(s0.bytes_reserved >= n * size);

  void **obj = calloc(n, sizeof *obj);
  CHECK(obj != NULL);
  for (size_t i = 0; i < n; i++) {
    obj[i] = ebra_pool_alloc(pool);
    CHECK(obj[i] != NULL);
  }
  ebra_pool_stats_t s1 = test_stats(pool);
  CHECK_EQ(s1.slabs, s0.slabs);
  CHECK_EQ(s1.bytes_reserved, s0.bytes_reserved);
  CHECK_EQ(s1.objects_live, n);
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  CHECK_AUDIT(pool);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  free(obj);
  CHECK_NO_REPORTS();
}

static void test_prealloc(void)
{
  check_prealloc(64, 1, 0);
  check_prealloc(64, 1000, 0);
  check_prealloc(256, 500, 500);
  check_prealloc(4096, 300, 0);
  check_prealloc(100000, 20, 0);
}

/* ---- secure clear ------------------------------------------------------------ */

static int all_zero(const unsigned char *p, size_t n)
{
  return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

static void check_zeroed_reuse(ebra_pool_t *pool, size_t size)
{
  enum { N = 300 };
  unsigned char *obj[N];
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < N; i++) {
      obj[i] = ebra_pool_alloc(pool);
      CHECK(obj[i] != NULL);
      if (!all_zero(obj[i], size)) {
        fprintf(stderr, "round %d object %d: secure pool returned dirty memory\n",
                round, i);
        exit(1);
      }
      memset(obj[i], 0xA5, size);
    }
    for (int i = 0; i < N; i++)
      CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  }
  /* Immediate reuse of the object just freed (the magazine's top). */
  for (int i = 0; i < 100; i++) {
    unsigned char *p = ebra_pool_alloc(pool);
    CHECK(p != NULL);
    CHECK(all_zero(p, size));
    memset(p, 0xFF, size);
    CHECK_EQ(ebra_pool_free(pool, p), 0);
  }
  CHECK_AUDIT(pool);
}

static void test_secure_clear_flag(void)
{
  static const size_t sizes[] = {1, 24, 200, 4096};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    ebra_pool_config_t c = test_config("secure", sizes[i]);
    c.flags = EBRA_POOL_SECURE_CLEAR;
    ebra_pool_t *pool = ebra_pool_create(&c);
    CHECK(pool != NULL);
    check_zeroed_reuse(pool, sizes[i]);
    CHECK_EQ(ebra_pool_destroy(pool), 0);
  }
  CHECK_NO_REPORTS();
}

static void test_secure_clear_option(void)
{
  long old = opt_value(EBRA_OPT_SECURE);
  CHECK_EQ(ebra_option_set(EBRA_OPT_SECURE, 1), 0);
  ebra_pool_t *pool = test_pool("secure-option", 200);
  check_zeroed_reuse(pool, 200);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_EQ(ebra_option_set(EBRA_OPT_SECURE, old), 0);
  CHECK_NO_REPORTS();
}

/* ---- the OS refuses memory ----------------------------------------------------- */

static size_t address_space_used(void)
{
  FILE *f = fopen("/proc/self/statm", "r");
  CHECK(f != NULL);
  unsigned long pages = 0;
  CHECK(fscanf(f, "%lu", &pages) == 1);
  fclose(f);
  return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Runs in the forked child; returns the exit status. */
static int nomem_child(size_t size)
{
  size_t max = ((size_t)256 << 20) / size + 1024; /* far past the limit */
  void **obj = calloc(max, sizeof *obj);
  CHECK(obj != NULL);
  ebra_pool_t *pool = test_pool("nomem", size);
  obj[0] = ebra_pool_alloc(pool); /* attach this thread before the limit */
  CHECK(obj[0] != NULL);
  size_t n = 1;

  struct rlimit rl;
  CHECK(getrlimit(RLIMIT_AS, &rl) == 0);
  rlim_t saved_cur = rl.rlim_cur;
  rl.rlim_cur = address_space_used() + ((size_t)32 << 20);
  CHECK(setrlimit(RLIMIT_AS, &rl) == 0);

  for (;;) {
    if (n == max) {
      fprintf(stderr, "size %zu: %zu objects and the OS never refused\n", size, n);
      return 1;
    }
    errno = 0;
    obj[n] = ebra_pool_alloc(pool);
    if (obj[n] == NULL)
      break;
    n++;
  }
  CHECK_EQ(errno, ENOMEM);
  CHECK_REPORTS(EBRA_ERR_NOMEM, 1);
  CHECK(n > 1); /* 32 MiB of headroom holds more than one object */
  ebra_pool_stats_t s = test_stats(pool);
  CHECK_EQ(s.objects_live, n);
  CHECK_EQ(s.allocs, n);

  /* Free everything: the pool is usable again, from its own caches. */
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  for (size_t i = 0; i < n; i++) {
    obj[i] = ebra_pool_alloc(pool);
    if (obj[i] == NULL) {
      fprintf(stderr, "size %zu: after freeing all %zu, allocation %zu failed "
              "(errno %d)\n", size, n, i + 1, errno);
      return 1;
    }
  }
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(ebra_pool_free(pool, obj[i]), 0);
  CHECK_NO_REPORTS();
  /* The audit needs memory of its own (a bitmap per slab): lift the limit. */
  rl.rlim_cur = saved_cur;
  CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
  CHECK_AUDIT(pool);
  CHECK_NO_REPORTS();
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
  return 0;
}

static void check_nomem(size_t size)
{
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0)
    exit(nomem_child(size));
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "nomem child (object size %zu) failed: %s %d\n", size,
            WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    exit(1);
  }
}

static void test_os_refuses_memory(void)
{
  if (test_has_feature(EBRA_FEATURE_ASAN | EBRA_FEATURE_TSAN)) {
    printf(" skipped (sanitizer build)");
    return;
  }
  check_nomem(65536);
  check_nomem(2048); /* ~32K objects: frees under pressure are slow */
}

int main(void)
{
  test_hook_install();
  TEST_RUN(test_cap);
  TEST_RUN(test_prealloc);
  TEST_RUN(test_secure_clear_flag);
  TEST_RUN(test_secure_clear_option);
  TEST_RUN(test_os_refuses_memory);
  return 0;
}

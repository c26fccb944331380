/* SPDX-License-Identifier: MIT */
/* test_lifecycle.c — every object kind shares one lifecycle (src/life.c):
 * every public call on a destroyed pool, domain, weak table, weak cache or
 * subject, and a second destroy of each, returns its documented error and
 * makes exactly one report of kind EBRA_ERR_USE_AFTER_DESTROY; a NULL
 * object gives -EINVAL (or NULL + EINVAL) and one EBRA_ERR_BAD_CALL report.
 * None of it may crash, hang or touch freed memory (run under ASan and TSan
 * too).  The process must also be able to keep working afterwards. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

#define DESTROYED EBRA_ERR_USE_AFTER_DESTROY

/* One call on a destroyed object: its return value, then one report. */
#define EXPECT_DEAD(call, want)                                                \
  do {                                                                         \
    CHECK_EQ((call), (want));                                                  \
    CHECK_REPORTS(DESTROYED, 1);                                               \
  } while (0)

/* A constructor or allocation given a destroyed object: NULL, errno EBADF. */
#define EXPECT_DEAD_NULL(call)                                                 \
  do {                                                                         \
    errno = 0;                                                                 \
    CHECK((call) == NULL);                                                     \
    CHECK_EQ(errno, EBADF);                                                    \
    CHECK_REPORTS(DESTROYED, 1);                                               \
  } while (0)

static void on_cleanup(void *arg, ebra_weak_t h) { (void)arg, (void)h; }
static void on_notify(void *arg, void *obj, uint64_t v) { (void)arg, (void)obj, (void)v; }
static void on_reclaim(void *arg) { (void)arg; }

static ebra_pool_t *new_pool(const char *name) {
  ebra_pool_t *p = ebra_pool_create(&(ebra_pool_config_t){.name = name, .object_size = 64});
  CHECK(p != NULL);
  return p;
}

static ebra_domain_t *new_domain(void) {
  ebra_domain_t *d = ebra_domain_create(&(ebra_domain_config_t){
      .name = "life", .backend = EBRA_RECLAIM_URCU_MEMB});
  CHECK(d != NULL);
  return d;
}

static void pool_after_destroy(void) {
  ebra_pool_t *p = new_pool("dead-pool");
  void *obj = ebra_pool_alloc(p);
  CHECK(obj != NULL);
  CHECK_EQ(ebra_pool_destroy(p), 0);
  CHECK_REPORTS(EBRA_WARN_LIVE_AT_DESTROY, 1); /* obj was still live */
  EXPECT_DEAD(ebra_pool_destroy(p), -EBADF);
  EXPECT_DEAD_NULL(ebra_pool_alloc(p));
  EXPECT_DEAD(ebra_pool_free(p, obj), -EBADF);
  EXPECT_DEAD(ebra_pool_thread_flush(p), -EBADF);
  EXPECT_DEAD(ebra_pool_name(p) == NULL, 1);
  EXPECT_DEAD(ebra_pool_object_size(p), 0);
  ebra_pool_stats_t st;
  EXPECT_DEAD(ebra_pool_stats(p, &st), -EBADF);
  ebra_pool_audit_t au;
  EXPECT_DEAD(ebra_pool_audit(p, &au), -EBADF);
  EXPECT_DEAD(ebra_pool_print_stats(p, NULL, NULL), -EBADF);
}

static void domain_after_destroy(void) {
  ebra_domain_t *d = new_domain();
  ebra_pool_t *p = new_pool("domain-objects");
  void *obj = ebra_pool_alloc(p);
  CHECK(obj != NULL);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  EXPECT_DEAD(ebra_domain_destroy(d), -EBADF);
  EXPECT_DEAD(ebra_read_lock(d), -EBADF); /* it used to abort the process */
  ebra_read_unlock(d); /* returns nothing: the report is the error */
  CHECK_REPORTS(DESTROYED, 1);
  void *_Atomic slot = obj;
  EXPECT_DEAD(ebra_deref(d, (void *const *)&slot) == NULL, 1);
  EXPECT_DEAD(ebra_retire(d, obj), -EBADF);
  EXPECT_DEAD(ebra_retire_call(d, on_reclaim, NULL), -EBADF);
  EXPECT_DEAD(ebra_domain_barrier(d), -EBADF);
  EXPECT_DEAD(ebra_domain_register_thread(d), -EBADF);
  EXPECT_DEAD(ebra_domain_unregister_thread(d), -EBADF);
  EXPECT_DEAD(ebra_quiescent(d), -EBADF);
  EXPECT_DEAD(ebra_domain_thread_offline(d), -EBADF);
  EXPECT_DEAD(ebra_domain_thread_online(d), -EBADF);
  EXPECT_DEAD(ebra_domain_set_batching(d, 8, 0), -EBADF);
  EXPECT_DEAD(ebra_domain_backend(d), EBRA_RECLAIM_DEFAULT);
  ebra_domain_stats_t st;
  EXPECT_DEAD(ebra_domain_stats(d, &st), -EBADF);
  EXPECT_DEAD_NULL(ebra_weak_table_create(d, NULL));
  /* The object was never retired: it is still the user's to free. */
  CHECK_EQ(ebra_pool_free(p, obj), 0);
  CHECK_EQ(ebra_pool_destroy(p), 0);
  CHECK_REPORTS(DESTROYED, 0);
}

/* A table destroyed, then its domain too: the table's calls must not reach
 * the dead domain (they used to abort in ebra_read_lock). */
static void table_after_destroy(void) {
  ebra_domain_t *d = new_domain();
  ebra_pool_t *p = new_pool("table-objects");
  ebra_weak_table_t *t = ebra_weak_table_create(d, &(ebra_weak_table_config_t){.name = "t"});
  CHECK(t != NULL);
  void *obj = ebra_pool_alloc(p);
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(t, obj, &h), 0);
  CHECK_EQ(ebra_weak_kill(t, h), 0);
  CHECK_EQ(ebra_domain_barrier(d), 0); /* obj is back in its pool */
  CHECK_EQ(ebra_weak_table_destroy(t), 0);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  EXPECT_DEAD(ebra_weak_table_destroy(t), -EBADF);
  void *fresh = ebra_pool_alloc(p);
  CHECK(fresh != NULL);
  ebra_weak_t h2 = 1;
  EXPECT_DEAD(ebra_weak_create(t, fresh, &h2), -EBADF);
  CHECK_EQ(h2, EBRA_WEAK_NONE); /* a failed call leaves the empty value */
  EXPECT_DEAD(ebra_weak_get(t, h) == NULL, 1);
  void *up = obj;
  EXPECT_DEAD(ebra_weak_upgrade(t, h, &up), -EBADF);
  CHECK(up == NULL);
  EXPECT_DEAD(ebra_weak_release(t, h), -EBADF);
  EXPECT_DEAD(ebra_weak_kill(t, h), -EBADF);
  EXPECT_DEAD(ebra_weak_add_cleanup(t, h, on_cleanup, NULL), -EBADF);
  ebra_weak_stats_t st;
  EXPECT_DEAD(ebra_weak_table_stats(t, &st), -EBADF);
  EXPECT_DEAD_NULL(ebra_cache_create(t, &(ebra_cache_config_t){.key_kind = EBRA_CACHE_KEY_U64}));
  EXPECT_DEAD_NULL(ebra_subject_create(t, NULL));
  /* fresh was refused a handle: still the user's, freed exactly once. */
  CHECK_EQ(ebra_pool_free(p, fresh), 0);
  CHECK_EQ(ebra_pool_destroy(p), 0);
  CHECK_REPORTS(DESTROYED, 0);
}

static void cache_after_destroy(void) {
  ebra_domain_t *d = new_domain();
  ebra_weak_table_t *t = ebra_weak_table_create(d, NULL);
  CHECK(t != NULL);
  ebra_cache_t *cu = ebra_cache_create(t, &(ebra_cache_config_t){
      .name = "u64", .key_kind = EBRA_CACHE_KEY_U64, .max_entries = 8});
  ebra_cache_t *cb = ebra_cache_create(t, &(ebra_cache_config_t){
      .name = "bytes", .key_kind = EBRA_CACHE_KEY_BYTES, .ttl_ns = 1000000});
  CHECK(cu != NULL && cb != NULL);
  CHECK_EQ(ebra_cache_destroy(cu), 0);
  CHECK_EQ(ebra_cache_destroy(cb), 0);
  EXPECT_DEAD(ebra_cache_destroy(cu), -EBADF); /* it used to crash */
  EXPECT_DEAD(ebra_cache_destroy(cb), -EBADF);
  void *out = &out;
  size_t n = 7;
  ebra_cache_stats_t st;
  for (int i = 0; i < 2; i++) {
    ebra_cache_t *c = i ? cb : cu;
    EXPECT_DEAD(ebra_cache_store_u64(c, 1, 1), -EBADF);
    EXPECT_DEAD(ebra_cache_store(c, "k", 1, 1), -EBADF);
    CHECK_EQ(ebra_read_lock(d), 0);
    EXPECT_DEAD(ebra_cache_lookup_u64(c, 1, &out), -EBADF);
    EXPECT_DEAD(ebra_cache_lookup(c, "k", 1, &out), -EBADF);
    ebra_read_unlock(d);
    EXPECT_DEAD(ebra_cache_erase_u64(c, 1), -EBADF);
    EXPECT_DEAD(ebra_cache_erase(c, "k", 1), -EBADF);
    EXPECT_DEAD(ebra_cache_maintain(c, &n), -EBADF);
    EXPECT_DEAD(ebra_cache_stats(c, &st), -EBADF);
  }
  CHECK(out == NULL && n == 0); /* failed calls leave the empty value */
  CHECK_EQ(ebra_weak_table_destroy(t), 0);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_REPORTS(DESTROYED, 0);
}

static void subject_after_destroy(void) {
  ebra_domain_t *d = new_domain();
  ebra_weak_table_t *t = ebra_weak_table_create(d, NULL);
  ebra_subject_t *s = ebra_subject_create(t, &(ebra_subject_config_t){.name = "s"});
  CHECK(t != NULL && s != NULL);
  CHECK_EQ(ebra_subject_destroy(s), 0);
  EXPECT_DEAD(ebra_subject_destroy(s), -EBADF); /* it used to crash */
  ebra_subscription_t sub = 5;
  EXPECT_DEAD(ebra_subject_subscribe(s, 1, on_notify, NULL, &sub), -EBADF);
  CHECK_EQ(sub, 0);
  EXPECT_DEAD(ebra_subject_unsubscribe(s, 1), -EBADF);
  size_t n = 9;
  EXPECT_DEAD(ebra_subject_notify(s, 0, &n), -EBADF);
  EXPECT_DEAD(ebra_subject_count(s, &n), -EBADF);
  CHECK_EQ(n, 0);
  CHECK_EQ(ebra_domain_barrier(d), 0);
  CHECK_EQ(ebra_weak_table_destroy(t), 0);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_REPORTS(DESTROYED, 0);
}

/* NULL objects: -EINVAL (or NULL + EINVAL) and one BAD_CALL report each. */
#define EXPECT_NULL_OBJ(call, want)                                            \
  do {                                                                         \
    CHECK_EQ((call), (want));                                                  \
    CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);                                       \
  } while (0)

static void null_objects(void) {
  size_t n;
  void *out;
  ebra_weak_t h;
  ebra_subscription_t sub;
  EXPECT_NULL_OBJ(ebra_pool_destroy(NULL), -EINVAL);
  EXPECT_NULL_OBJ(ebra_domain_destroy(NULL), -EINVAL);
  EXPECT_NULL_OBJ(ebra_read_lock(NULL), -EINVAL);
  ebra_read_unlock(NULL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  EXPECT_NULL_OBJ(ebra_quiescent(NULL), -EINVAL);
  EXPECT_NULL_OBJ(ebra_weak_table_destroy(NULL), -EINVAL);
  EXPECT_NULL_OBJ(ebra_weak_create(NULL, &h, &h), -EINVAL);
  EXPECT_NULL_OBJ(ebra_weak_get(NULL, 1) == NULL, 1);
  EXPECT_NULL_OBJ(ebra_weak_upgrade(NULL, 1, &out), -EINVAL);
  EXPECT_NULL_OBJ(ebra_cache_destroy(NULL), -EINVAL);
  EXPECT_NULL_OBJ(ebra_cache_lookup_u64(NULL, 1, &out), -EINVAL);
  EXPECT_NULL_OBJ(ebra_cache_maintain(NULL, &n), -EINVAL);
  EXPECT_NULL_OBJ(ebra_subject_destroy(NULL), -EINVAL);
  EXPECT_NULL_OBJ(ebra_subject_subscribe(NULL, 1, on_notify, NULL, &sub), -EINVAL);
  EXPECT_NULL_OBJ(ebra_subject_count(NULL, &n), -EINVAL);
  errno = 0;
  EXPECT_NULL_OBJ(ebra_weak_table_create(NULL, NULL) == NULL, 1);
  CHECK_EQ(errno, EINVAL);
}

/* After all of the above the library still works: ids and names of the
 * dead were given back, and a new object of each kind lives normally. */
static void works_afterwards(void) {
  ebra_domain_t *d = new_domain();
  ebra_pool_t *p = new_pool("after");
  ebra_weak_table_t *t = ebra_weak_table_create(d, NULL);
  ebra_cache_t *c = ebra_cache_create(t, &(ebra_cache_config_t){.key_kind = EBRA_CACHE_KEY_U64});
  CHECK(t != NULL && c != NULL);
  void *obj = ebra_pool_alloc(p);
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(t, obj, &h), 0);
  CHECK_EQ(ebra_cache_store_u64(c, 42, h), 0);
  void *got = NULL;
  CHECK_EQ(ebra_read_lock(d), 0);
  CHECK_EQ(ebra_cache_lookup_u64(c, 42, &got), 0);
  CHECK(got == obj);
  CHECK_EQ(ebra_cache_lookup_u64(c, 43, &got), -ENOENT); /* a miss is no misuse */
  CHECK(got == NULL);
  ebra_read_unlock(d);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 0);
  CHECK_EQ(ebra_cache_destroy(c), 0);
  CHECK_EQ(ebra_weak_kill(t, h), 0);
  CHECK_EQ(ebra_domain_barrier(d), 0);
  CHECK_EQ(ebra_weak_table_destroy(t), 0);
  CHECK_EQ(ebra_pool_destroy(p), 0);
  CHECK_EQ(ebra_domain_destroy(d), 0);
  CHECK_EQ(test_reports_total, 0);
}

/* ebra_strerror explains every errno an ebra call returns, in ebra's
 * terms, whichever sign it is given; other values are "unknown error". */
static void strerror_messages(void) {
  const int returned[] = {EINVAL, ENOMEM, EFAULT, EXDEV,  EALREADY, EBADF,  EBUSY, EDEADLK,
                          EPERM,  ENOENT, ESTALE, EMFILE, ENOTSUP,  ENOSPC, EUCLEAN, EAGAIN,
                          ETIMEDOUT};
  for (size_t i = 0; i < sizeof returned / sizeof returned[0]; i++) {
    const char *m = ebra_strerror(-returned[i]);
    CHECK(m != NULL && strcmp(m, "unknown error") != 0);
    CHECK(m == ebra_strerror(returned[i]));
  }
  CHECK(strstr(ebra_strerror(-EXDEV), "another pool") != NULL);
  CHECK(strstr(ebra_strerror(-EBADF), "destroyed") != NULL);
  CHECK(strstr(ebra_strerror(-EFAULT), "not an object") != NULL);
  CHECK(strcmp(ebra_strerror(0), "success") == 0);
  CHECK(strcmp(ebra_strerror(-12345), "unknown error") == 0);
  /* What a real misuse returns maps to its message. */
  ebra_pool_t *a = new_pool("strerror-a"), *b = new_pool("strerror-b");
  void *o = ebra_pool_alloc(a);
  const int rc = ebra_pool_free(b, o);
  CHECK_EQ(rc, -EXDEV);
  CHECK_REPORTS(EBRA_ERR_WRONG_POOL, 1);
  CHECK(strstr(ebra_strerror(rc), "another pool") != NULL);
  CHECK_EQ(ebra_pool_free(a, o), 0);
  CHECK_EQ(ebra_pool_destroy(a), 0);
  CHECK_EQ(ebra_pool_destroy(b), 0);
}

int main(void) {
  test_hook_install();
  TEST_RUN(pool_after_destroy);
  TEST_RUN(domain_after_destroy);
  TEST_RUN(table_after_destroy);
  TEST_RUN(cache_after_destroy);
  TEST_RUN(subject_after_destroy);
  TEST_RUN(null_objects);
  TEST_RUN(works_afterwards);
  TEST_RUN(strerror_messages);
  printf("test_lifecycle: all passed\n");
  return 0;
}

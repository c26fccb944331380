/* SPDX-License-Identifier: MIT */
/* consumer.c — a program built against an *installed* ebra, the way a user
 * would build it (CMake package or pkg-config).  It uses only <ebra.h>,
 * checks what it gets, prints "consumer ok" and exits 0; anything else
 * exits 1. */
#include <ebra.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define OBJECTS 1000

static int failures;
static int reports;

#define CHECK(cond)                                                    \
  do {                                                                 \
    if (!(cond)) {                                                     \
      fprintf(stderr, "consumer: %s:%d: check failed: %s\n", __FILE__, \
              __LINE__, #cond);                                        \
      failures++;                                                      \
    }                                                                  \
  } while (0)

static void count_report(ebra_error_kind_t kind, const char *msg, void *arg) {
  (void)kind;
  (void)msg;
  (void)arg;
  reports++;
}

struct item {
  uint64_t id;
  char text[40];
};

int main(void) {
  ebra_pool_config_t cfg = {
      .name = "consumer-items",
      .object_size = sizeof(struct item),
      .alignment = 16,
  };
  ebra_pool_t *pool = ebra_pool_create(&cfg);
  CHECK(pool != NULL);
  if (pool == NULL)
    return 1;
  CHECK(strcmp(ebra_pool_name(pool), "consumer-items") == 0);
  CHECK(ebra_pool_object_size(pool) == sizeof(struct item));

  /* Allocate, fill, then verify nothing overlapped. */
  static struct item *items[OBJECTS];
  for (int i = 0; i < OBJECTS; i++) {
    items[i] = ebra_pool_alloc(pool);
    CHECK(items[i] != NULL);
    if (items[i] == NULL)
      return 1;
    CHECK((uintptr_t)items[i] % 16 == 0);
    CHECK(ebra_pool_of(items[i]) == pool);
    items[i]->id = (uint64_t)i;
    snprintf(items[i]->text, sizeof items[i]->text, "item %d", i);
  }
  for (int i = 0; i < OBJECTS; i++) {
    char want[40];
    snprintf(want, sizeof want, "item %d", i);
    CHECK(items[i]->id == (uint64_t)i && strcmp(items[i]->text, want) == 0);
  }
  for (int i = 0; i < OBJECTS; i++)
    CHECK(ebra_pool_free(pool, items[i]) == 0);

  /* Misuse is reported through the hook and the return value. */
  ebra_set_report_hook(count_report, NULL);
  int local;
  CHECK(ebra_pool_free(pool, &local) == -EFAULT);
  CHECK(reports == 1);

  ebra_pool_stats_t st;
  CHECK(ebra_pool_stats(pool, &st) == 0);
  CHECK(st.allocs == OBJECTS && st.frees == OBJECTS && st.objects_live == 0);

  /* The inline read side of the installed headers, against the installed
   * library (its thread-local state through initial-exec TLS). */
  ebra_domain_t *dom = ebra_domain_create(NULL);
  ebra_weak_table_t *tab = dom ? ebra_weak_table_create(dom, NULL) : NULL;
  CHECK(tab != NULL);
  if (tab == NULL)
    return 1;
  struct item *it = ebra_pool_alloc(pool);
  ebra_weak_t h;
  CHECK(it != NULL && ebra_weak_create(tab, it, &h) == 0);
  CHECK(ebra_read_lock_inline(dom) == 0);
  CHECK(ebra_read_lock_inline(dom) == 0);
  CHECK(ebra_weak_get_inline(tab, h) == it && ebra_weak_get(tab, h) == it);
  ebra_read_unlock_inline(dom);
  CHECK(ebra_weak_get_inline(tab, h) == it);
  ebra_read_unlock(dom);
  CHECK(ebra_weak_kill(tab, h) == 0);
  CHECK(ebra_domain_barrier(dom) == 0); /* the item goes back to the pool */
  CHECK(ebra_weak_table_destroy(tab) == 0);
  CHECK(ebra_domain_destroy(dom) == 0);
  CHECK(reports == 1); /* none from the read side */


  CHECK(ebra_pool_destroy(pool) == 0);
  CHECK(ebra_pool_alloc(pool) == NULL && errno == EBADF); /* tombstone */
  CHECK(reports == 2);
  ebra_set_report_hook(NULL, NULL);

  if (failures != 0) {
    fprintf(stderr, "consumer: %d check(s) failed\n", failures);
    return 1;
  }
  printf("consumer ok (ebra %d.%d.%d)\n", EBRA_VERSION_MAJOR, EBRA_VERSION_MINOR,
         EBRA_VERSION_PATCH);
  return 0;
}

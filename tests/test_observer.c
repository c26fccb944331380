/* SPDX-License-Identifier: MIT */
/* test_observer.c — weak observers, for every backend.
 *
 * Claims checked (each case runs for urcu-memb, urcu-qsbr and ck-epoch):
 *  - notify calls every live observer once, in subscription order, with
 *    its object and the value, and gives how many it called (*notified).
 *  - a dead observer is skipped at once (after its kill, before any grace
 *    period) and unlinked by that notify; an observer that dies with no
 *    notify is unlinked by its death cleanup (count drops after a barrier).
 *  - unsubscribe: 0 then -ENOENT; an unsubscribed observer is not called.
 *  - a callback may unsubscribe itself (called once, never again) or
 *    another observer (a later one is then not called by this notify), and
 *    may subscribe a new observer.
 *  - subscribing a dead handle: -ESTALE with *out 0, nothing linked.
 *  - destroy with observers left, then their deaths: nothing is called,
 *    no memory error (ASan), the domain can be destroyed.
 *  - NULL subject / callback / out: -EINVAL with a BAD_CALL report.
 */
#include <errno.h>
#include <stdint.h>

#include "check.h"

static const ebra_reclaim_backend_t backends[] = {
    EBRA_RECLAIM_URCU_MEMB, EBRA_RECLAIM_URCU_QSBR, EBRA_RECLAIM_CK_EPOCH};
#define NBACKENDS (sizeof backends / sizeof backends[0])

typedef struct obj_s {
  int id;
  int calls;
  uint64_t last_value;
} obj_t;

static ebra_pool_t *pool;
static ebra_domain_t *dom;
static ebra_weak_table_t *tab;
static ebra_subject_t *subj;

/* the order in which observers were called */
static int order[64];
static int norder;

static void setup(ebra_reclaim_backend_t be) {
  pool = test_pool("observer", sizeof(obj_t));
  ebra_domain_config_t c = {.name = "observer", .backend = be};
  dom = ebra_domain_create(&c);
  CHECK(dom != NULL);
  tab = ebra_weak_table_create(dom, NULL);
  CHECK(tab != NULL);
  subj = ebra_subject_create(tab, NULL);
  CHECK(subj != NULL);
  norder = 0;
}

static void teardown(void) {
  if (subj)
    CHECK_EQ(ebra_subject_destroy(subj), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_weak_table_destroy(tab), 0);
  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_EQ(test_stats(pool).objects_live, 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

static ebra_weak_t new_obj(int id, obj_t **out) {
  obj_t *o = ebra_pool_alloc(pool);
  CHECK(o != NULL);
  memset(o, 0, sizeof *o);
  o->id = id;
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(tab, o, &h), 0);
  CHECK(h != EBRA_WEAK_NONE);
  if (out)
    *out = o;
  return h;
}

/* notify must succeed and call exactly `want` observers. */
#define CHECK_NOTIFY(value, want)                                         \
  do {                                                                    \
    size_t nt_ = 999;                                                     \
    CHECK_EQ(ebra_subject_notify(subj, (value), &nt_), 0);                \
    CHECK_EQ(nt_, (want));                                                \
  } while (0)

/* The subject has exactly `want` observers. */
#define CHECK_COUNT(want)                                                 \
  do {                                                                    \
    size_t ct_ = 999;                                                     \
    CHECK_EQ(ebra_subject_count(subj, &ct_), 0);                          \
    CHECK_EQ(ct_, (want));                                                \
  } while (0)

/* subscribe must succeed, with a non-zero subscription in *(out). */
#define CHECK_SUBSCRIBE(h, fn, arg, out)                                  \
  do {                                                                    \
    CHECK_EQ(ebra_subject_subscribe(subj, (h), (fn), (arg), (out)), 0);   \
    CHECK(*(out) != 0);                                                   \
  } while (0)

static void record(void *arg, void *obj, uint64_t value) {
  obj_t *o = obj;
  CHECK_EQ(o->id, (int)(intptr_t)arg);
  o->calls++;
  o->last_value = value;
  CHECK(norder < 64);
  order[norder++] = o->id;
}

static void case_order(ebra_reclaim_backend_t be) {
  setup(be);
  obj_t *o[3];
  ebra_weak_t h[3];
  for (int i = 0; i < 3; i++) {
    h[i] = new_obj(i, &o[i]);
    ebra_subscription_t sub;
    CHECK_SUBSCRIBE(h[i], record, (void *)(intptr_t)i, &sub);
  }
  CHECK_COUNT(3);
  CHECK_NOTIFY(42, 3);
  CHECK_EQ(norder, 3);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(order[i], i);
    CHECK_EQ(o[i]->calls, 1);
    CHECK_EQ(o[i]->last_value, 42);
  }
  for (int i = 0; i < 3; i++)
    CHECK_EQ(ebra_weak_kill(tab, h[i]), 0);
  teardown();
}

static void case_dead_skipped(ebra_reclaim_backend_t be) {
  setup(be);
  obj_t *o[3];
  ebra_weak_t h[3];
  for (int i = 0; i < 3; i++) {
    h[i] = new_obj(i, &o[i]);
    ebra_subscription_t sub;
    CHECK_SUBSCRIBE(h[i], record, (void *)(intptr_t)i, &sub);
  }
  CHECK_EQ(ebra_weak_kill(tab, h[1]), 0);
  CHECK_NOTIFY(1, 2); /* before any grace period */
  CHECK_EQ(norder, 2);
  CHECK_EQ(order[0], 0);
  CHECK_EQ(order[1], 2);
  CHECK_COUNT(2); /* unlinked by the notify */
  /* death with no notify: the cleanup unlinks */
  CHECK_EQ(ebra_weak_kill(tab, h[2]), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_COUNT(1);
  norder = 0;
  CHECK_NOTIFY(2, 1);
  CHECK_EQ(order[0], 0);
  CHECK_EQ(ebra_weak_kill(tab, h[0]), 0);
  teardown();
}

static void case_unsubscribe(ebra_reclaim_backend_t be) {
  setup(be);
  obj_t *a, *b;
  ebra_weak_t ha = new_obj(0, &a), hb = new_obj(1, &b);
  ebra_subscription_t sa, sb;
  CHECK_SUBSCRIBE(ha, record, (void *)0, &sa);
  CHECK_SUBSCRIBE(hb, record, (void *)1, &sb);
  CHECK(sa != sb);
  CHECK_EQ(ebra_subject_unsubscribe(subj, sa), 0);
  CHECK_EQ(ebra_subject_unsubscribe(subj, sa), -ENOENT);
  CHECK_EQ(ebra_subject_unsubscribe(subj, 0), -ENOENT);
  CHECK_NOTIFY(3, 1);
  CHECK_EQ(a->calls, 0);
  CHECK_EQ(b->calls, 1);
  /* the same object may observe twice */
  ebra_subscription_t sb2;
  CHECK_SUBSCRIBE(hb, record, (void *)1, &sb2);
  CHECK(sb2 != sa && sb2 != sb);
  CHECK_NOTIFY(4, 2);
  CHECK_EQ(b->calls, 3);
  CHECK_EQ(ebra_weak_kill(tab, ha), 0);
  CHECK_EQ(ebra_weak_kill(tab, hb), 0);
  teardown();
}

/* Callbacks that change the list during notify. */
static ebra_subscription_t subs[4];
static ebra_weak_t handles[4];
static int calls[4];

static void self_unsub(void *arg, void *obj, uint64_t value) {
  const int i = (int)(intptr_t)arg;
  calls[i]++;
  CHECK_EQ(ebra_subject_unsubscribe(subj, subs[i]), 0);
}

static void unsub_next(void *arg, void *obj, uint64_t value) {
  const int i = (int)(intptr_t)arg;
  calls[i]++;
  if (subs[i + 1])
    CHECK_EQ(ebra_subject_unsubscribe(subj, subs[i + 1]), 0);
  subs[i + 1] = 0;
}

static void plain(void *arg, void *obj, uint64_t value) { calls[(int)(intptr_t)arg]++; }

static void subscribe_more(void *arg, void *obj, uint64_t value) {
  const int i = (int)(intptr_t)arg;
  calls[i]++;
  if (!subs[3])
    CHECK_SUBSCRIBE(handles[3], plain, (void *)3, &subs[3]);
}

static void case_change_during_notify(ebra_reclaim_backend_t be) {
  setup(be);
  memset(calls, 0, sizeof calls);
  memset(subs, 0, sizeof subs);
  for (int i = 0; i < 4; i++)
    handles[i] = new_obj(i, NULL);
  CHECK_SUBSCRIBE(handles[0], self_unsub, (void *)0, &subs[0]);
  CHECK_SUBSCRIBE(handles[1], unsub_next, (void *)1, &subs[1]);
  CHECK_SUBSCRIBE(handles[2], plain, (void *)2, &subs[2]);
  CHECK_NOTIFY(0, 2); /* 0 (leaves), 1 (removes 2) */
  CHECK_EQ(calls[0], 1);
  CHECK_EQ(calls[1], 1);
  CHECK_EQ(calls[2], 0);
  CHECK_COUNT(1);
  CHECK_NOTIFY(0, 1);
  CHECK_EQ(calls[0], 1);
  CHECK_EQ(calls[1], 2);
  /* a callback that subscribes: the new one is at the tail */
  CHECK_EQ(ebra_subject_unsubscribe(subj, subs[1]), 0);
  CHECK_SUBSCRIBE(handles[2], subscribe_more, (void *)2, &subs[2]);
  size_t n = 999;
  CHECK_EQ(ebra_subject_notify(subj, 0, &n), 0);
  CHECK(n == 1 || n == 2); /* the new one may or may not be reached */
  CHECK_EQ(calls[3], (long long)n - 1);
  CHECK_NOTIFY(0, 2);
  CHECK_EQ(calls[3], n);
  for (int i = 0; i < 4; i++)
    CHECK_EQ(ebra_weak_kill(tab, handles[i]), 0);
  teardown();
}

static void case_dead_subscribe(ebra_reclaim_backend_t be) {
  setup(be);
  ebra_weak_t h = new_obj(0, NULL);
  CHECK_EQ(ebra_weak_kill(tab, h), 0);
  ebra_subscription_t sub = 12345; /* the call must write 0 */
  CHECK_EQ(ebra_subject_subscribe(subj, h, record, NULL, &sub), -ESTALE);
  CHECK_EQ(sub, 0);
  CHECK_COUNT(0);
  CHECK_NOTIFY(0, 0);
  teardown();
}

static void case_destroy_then_death(ebra_reclaim_backend_t be) {
  setup(be);
  ebra_weak_t h[5];
  for (int i = 0; i < 5; i++) {
    h[i] = new_obj(i, NULL);
    ebra_subscription_t sub;
    CHECK_SUBSCRIBE(h[i], record, (void *)(intptr_t)i, &sub);
  }
  CHECK_EQ(ebra_subject_destroy(subj), 0);
  subj = NULL;
  for (int i = 0; i < 5; i++)
    CHECK_EQ(ebra_weak_kill(tab, h[i]), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(norder, 0);
  teardown();
}

static void case_bad_calls(ebra_reclaim_backend_t be) {
  setup(be);
  ebra_weak_t h = new_obj(0, NULL);
  ebra_subscription_t sub = 0;
  CHECK_EQ(ebra_subject_subscribe(NULL, h, record, NULL, &sub), -EINVAL);
  CHECK_EQ(sub, 0);
  CHECK_EQ(ebra_subject_subscribe(subj, h, NULL, NULL, &sub), -EINVAL);
  CHECK_EQ(sub, 0);
  CHECK_EQ(ebra_subject_subscribe(subj, h, record, NULL, NULL), -EINVAL);
  size_t n = 0;
  CHECK_EQ(ebra_subject_notify(NULL, 0, &n), -EINVAL);
  CHECK_EQ(ebra_subject_unsubscribe(NULL, 1), -EINVAL);
  CHECK_EQ(ebra_subject_count(NULL, &n), -EINVAL);
  CHECK_EQ(ebra_subject_count(subj, NULL), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 7);
  CHECK_COUNT(0); /* none of the refused calls subscribed */
  errno = 0;
  CHECK(ebra_subject_create(NULL, NULL) == NULL);
  CHECK_EQ(errno, EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1); /* a NULL table is a bad call */
  CHECK_EQ(ebra_weak_kill(tab, h), 0);
  teardown();
}

static const check_backend_case_t cases[] = {
    {"order", case_order},
    {"dead_skipped", case_dead_skipped},
    {"unsubscribe", case_unsubscribe},
    {"change_during_notify", case_change_during_notify},
    {"dead_subscribe", case_dead_subscribe},
    {"destroy_then_death", case_destroy_then_death},
    {"bad_calls", case_bad_calls},
};
#define NCASES (sizeof cases / sizeof cases[0])

int main(int argc, char **argv) {
  return check_main_backends(cases, NCASES, backends, NBACKENDS, argc, argv);
}

/* SPDX-License-Identifier: MIT */
/* test_reports.c — bounded reports and the kinds misuse is reported as.
 *
 * Claims checked:
 *  - with EBRA_OPT_REPORT_LIMIT = 5, 20 reports of one kind reach the hook
 *    as 5 reports and one "further ... suppressed" line; ebra_report_stats
 *    counts 5 delivered and 15 suppressed; another kind is not affected;
 *    the snapshot carries the same counts and the text, JSON and
 *    Prometheus printers show them;
 *  - limit 0 delivers every report;
 *  - on stderr (no hook, default limit 32, in a forked child): 1000
 *    allocations past a pool's cap print 32 cap-reached lines, one
 *    "suppressed" line, and at exit one line giving the 968 suppressed;
 *  - kinds: a free of an object with a weak handle is EBRA_ERR_HELD
 *    ("held-by-reclamation", -EALREADY), a free of a free object is
 *    double-free; destroying a domain that still has a weak table is
 *    EBRA_ERR_BAD_CALL with -EBUSY, not bad-config;
 *  - a hook may call ebra_pool_stats (which takes the registry lock) for a
 *    report the library makes under that lock (a thread that exits inside
 *    a read section): the report is delivered once the lock is released,
 *    before the call that made it returns, instead of deadlocking.
 */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static char last_msg[512];
static unsigned long hook_calls;

static void keep_hook(ebra_error_kind_t kind, const char *msg, void *arg)
{
  (void)arg;
  test_hook(kind, msg, NULL);
  hook_calls++;
  snprintf(last_msg, sizeof last_msg, "%s", msg);
}

static ebra_report_stats_t stats_now(void)
{
  ebra_report_stats_t r;
  CHECK_EQ(ebra_report_stats(&r), 0);
  return r;
}

static size_t count(const char *hay, const char *needle)
{
  size_t c = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
    c++;
  return c;
}

/* Collect printer output into a buffer. */
typedef struct { char buf[1 << 17]; size_t len; } sink_t;
static void to_sink(const char *text, void *arg)
{
  sink_t *s = arg;
  size_t n = strlen(text);
  CHECK(s->len + n < sizeof s->buf);
  memcpy(s->buf + s->len, text, n + 1);
  s->len += n;
}
static sink_t sink;

static void test_limit_hook(void)
{
  test_hook_reset();
  ebra_set_report_hook(keep_hook, NULL);
  CHECK_EQ(ebra_option_set(EBRA_OPT_REPORT_LIMIT, 5), 0);
  const ebra_report_stats_t before = stats_now();
  for (int i = 0; i < 20; i++)
    CHECK_EQ(ebra_option_get(EBRA_OPT_VERBOSE, NULL), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 6); /* 5, then the one line */
  CHECK(strstr(last_msg, "further bad-call reports suppressed") != NULL);
  const ebra_report_stats_t after = stats_now();
  CHECK_EQ(after.delivered[EBRA_ERR_BAD_CALL] - before.delivered[EBRA_ERR_BAD_CALL], 5);
  CHECK_EQ(after.suppressed[EBRA_ERR_BAD_CALL] - before.suppressed[EBRA_ERR_BAD_CALL], 15);
  /* Another kind has its own count. */
  CHECK_EQ(ebra_option_set(EBRA_OPT_MAGAZINE_SIZE, 0), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_OPTION, 1);
  /* No second announcement. */
  CHECK_EQ(ebra_option_get(EBRA_OPT_VERBOSE, NULL), -EINVAL);
  CHECK_NO_REPORTS();

  /* The snapshot and the three printers carry the counts. */
  const ebra_report_stats_t now = stats_now();
  ebra_snapshot_t *snap = NULL;
  CHECK_EQ(ebra_snapshot(&snap), 0);
  for (unsigned k = 0; k < EBRA_REPORT_KINDS; k++) {
    CHECK_EQ(snap->reports.delivered[k], now.delivered[k]);
    CHECK_EQ(snap->reports.suppressed[k], now.suppressed[k]);
  }
  char want[160];
  sink.len = 0;
  CHECK_EQ(ebra_snapshot_print_text(snap, to_sink, &sink), 0);
  snprintf(want, sizeof want, "bad-call delivered %llu suppressed %llu",
           now.delivered[EBRA_ERR_BAD_CALL], now.suppressed[EBRA_ERR_BAD_CALL]);
  CHECK(strstr(sink.buf, want) != NULL);
  sink.len = 0;
  CHECK_EQ(ebra_snapshot_print_json(snap, to_sink, &sink), 0);
  snprintf(want, sizeof want, "\"bad-call\":{\"delivered\":%llu,\"suppressed\":%llu}",
           now.delivered[EBRA_ERR_BAD_CALL], now.suppressed[EBRA_ERR_BAD_CALL]);
  CHECK(strstr(sink.buf, want) != NULL);
  sink.len = 0;
  CHECK_EQ(ebra_snapshot_print_prometheus(snap, to_sink, &sink), 0);
  snprintf(want, sizeof want, "\nebra_reports_suppressed_total{kind=\"bad-call\"} %llu\n",
           now.suppressed[EBRA_ERR_BAD_CALL]);
  CHECK(strstr(sink.buf, want) != NULL);
  snprintf(want, sizeof want, "\nebra_reports_total{kind=\"bad-call\"} %llu\n",
           now.delivered[EBRA_ERR_BAD_CALL]);
  CHECK(strstr(sink.buf, want) != NULL);
  ebra_snapshot_free(snap);

  /* Limit 0: everything is delivered. */
  CHECK_EQ(ebra_option_set(EBRA_OPT_REPORT_LIMIT, 0), 0);
  for (int i = 0; i < 50; i++)
    CHECK_EQ(ebra_option_get(EBRA_OPT_VERBOSE, NULL), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 50);
  CHECK_EQ(ebra_report_stats(NULL), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  test_hook_install();
}

/* A forked child with the default hook and limit hits a pool's cap 1000
 * times; its stderr comes back through a pipe. */
static void limit_child(void *unused)
{
  (void)unused;
  ebra_set_report_hook(NULL, NULL);
  if (ebra_option_set(EBRA_OPT_REPORT_LIMIT, 32) != 0)
    _exit(3);
  ebra_pool_config_t c = test_config("capped", 32);
  c.max_objects = 4;
  ebra_pool_t *pool = ebra_pool_create(&c);
  void *obj[4];
  for (int i = 0; i < 4; i++)
    if (!(obj[i] = ebra_pool_alloc(pool)))
      _exit(4);
  for (int i = 0; i < 1000; i++)
    if (ebra_pool_alloc(pool) != NULL)
      _exit(5);
  exit(0); /* atexit prints the suppressed count */
}

static void test_limit_stderr(void)
{
  static char out[1 << 16];
  const int status = check_fork_captured(limit_child, NULL, 0, out, sizeof out);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
  if (count(out, "ebra: cap-reached: ") != 32 + 1 + 1 ||
      count(out, "ebra: cap-reached: further cap-reached reports suppressed after 32") != 1 ||
      count(out, "ebra: cap-reached: 968 further reports of this kind were suppressed") != 1) {
    fprintf(stderr, "stderr of the capped child:\n%s\n", out);
    exit(1);
  }
}

static void test_kinds(void)
{
  CHECK(strcmp(ebra_error_kind_name(EBRA_ERR_HELD), "held-by-reclamation") == 0);
  CHECK(strcmp(ebra_error_kind_name(EBRA_INFO_OPTIONS), "options") == 0);
  ebra_pool_t *pool = test_pool("kinds", 32);
  ebra_domain_t *dom = ebra_domain_create(&(ebra_domain_config_t){.name = "kinds"});
  CHECK(dom != NULL);
  ebra_weak_table_t *tab = ebra_weak_table_create(dom, NULL);
  CHECK(tab != NULL);
  void *o = ebra_pool_alloc(pool);
  CHECK(o != NULL);
  ebra_weak_t h;
  CHECK_EQ(ebra_weak_create(tab, o, &h), 0);
  CHECK_EQ(ebra_pool_free(pool, o), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_HELD, 1);
  CHECK_EQ(ebra_domain_destroy(dom), -EBUSY);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  CHECK_EQ(ebra_weak_kill(tab, h), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  void *f = ebra_pool_alloc(pool);
  CHECK(f != NULL);
  CHECK_EQ(ebra_pool_free(pool, f), 0);
  CHECK_EQ(ebra_pool_free(pool, f), -EALREADY);
  CHECK_REPORTS(EBRA_ERR_DOUBLE_FREE, 1);
  CHECK_EQ(ebra_weak_table_destroy(tab), 0);
  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

/* ---- a hook that calls back into the library -------------------------------- */

static ebra_pool_t *stats_pool;
static _Atomic int stats_calls, stats_failures;
static _Atomic int hook_kind;

static void stats_hook(ebra_error_kind_t kind, const char *msg, void *arg)
{
  (void)arg;
  test_hook(kind, msg, NULL);
  atomic_store(&hook_kind, (int)kind);
  ebra_pool_stats_t st;
  if (ebra_pool_stats(stats_pool, &st) != 0) /* takes the registry lock */
    atomic_fetch_add(&stats_failures, 1);
  atomic_fetch_add(&stats_calls, 1);
}

/* Leaves the thread inside a read section: reported while the library
 * holds its registry lock (the thread's domain state is released under
 * it). */
static void *exit_in_section(void *arg)
{
  ebra_domain_t *dom = arg;
  CHECK_EQ(ebra_read_lock(dom), 0);
  ebra_thread_exit();
  return NULL;
}

static void test_hook_calls_stats(void)
{
  stats_pool = test_pool("hook-stats", 32);
  ebra_domain_t *dom = ebra_domain_create(&(ebra_domain_config_t){.name = "hook-stats"});
  CHECK(dom != NULL);
  ebra_set_report_hook(stats_hook, NULL);
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, exit_in_section, dom), 0);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  const int rc = pthread_timedjoin_np(t, NULL, &until);
  if (rc == ETIMEDOUT) {
    fprintf(stderr, "deadlock: a report hook that calls ebra_pool_stats did not return in 10 s "
            "(the report was made under the registry lock)\n");
    _exit(1);
  }
  CHECK_EQ(rc, 0);
  test_hook_install(); /* the hook of the other cases again */
  /* Delivered before ebra_thread_exit returned, once, and the hook's call
   * succeeded. */
  CHECK_EQ(atomic_load(&stats_calls), 1);
  CHECK_EQ(atomic_load(&stats_failures), 0);
  CHECK_EQ(atomic_load(&hook_kind), EBRA_ERR_BAD_CALL);
  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_EQ(ebra_pool_destroy(stats_pool), 0);
  CHECK_NO_REPORTS();
}

int main(void)
{
  test_hook_install();
  TEST_RUN(test_limit_hook);
  TEST_RUN(test_limit_stderr);
  TEST_RUN(test_kinds);
  TEST_RUN(test_hook_calls_stats);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* check.h — the few helpers every ebra unit test shares.
 *
 *  - CHECK(cond) and CHECK_EQ(got, want): on failure print file:line, the
 *    expression (and both values) and exit(1).  They are not assert(), so
 *    NDEBUG cannot compile them out and a Release build checks the same.
 *  - A report-hook recorder: test_hook_install() routes every ebra report
 *    into per-kind atomic counters (the hook may run on any thread), and
 *    CHECK_REPORTS(kind, n) asserts that exactly n reports arrived since the
 *    last check, all of that kind, then clears the counters.
 *  - TEST_RUN(fn): run one case, print its name, so a failure shows where.
 *
 * Set EBRA_TEST_VERBOSE=1 to echo every report to stderr.
 */
#ifndef EBRA_TEST_CHECK_H
#define EBRA_TEST_CHECK_H

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "ebra.h"

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,    \
              #cond);                                                     \
      exit(1);                                                            \
    }                                                                     \
  } while (0)

/* Integer comparison that prints both sides (as long long). */
#define CHECK_EQ(got, want)                                               \
  do {                                                                    \
    long long check_got_ = (long long)(got);                              \
    long long check_want_ = (long long)(want);                            \
    if (check_got_ != check_want_) {                                      \
      fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (got %lld, want %lld)\n", \
              __FILE__, __LINE__, #got, #want, check_got_, check_want_);  \
      exit(1);                                                            \
    }                                                                     \
  } while (0)

/* An option's value; the call must succeed. */
static inline long opt_value(ebra_option_t opt)
{
  long v = -1;
  CHECK_EQ(ebra_option_get(opt, &v), 0);
  return v;
}

/* ---- report hook recorder --------------------------------------------- */

#define TEST_KINDS 32 /* > every ebra_error_kind_t value */

static _Atomic unsigned long test_reports[TEST_KINDS];
static _Atomic unsigned long test_reports_total;

static inline void test_hook(ebra_error_kind_t kind, const char *msg, void *arg)
{
  (void)arg;
  unsigned k = (unsigned)kind < TEST_KINDS ? (unsigned)kind : 0;
  atomic_fetch_add_explicit(&test_reports[k], 1, memory_order_relaxed);
  /* The qsbr slow-reader warning (once per domain, for a thread that reads
   * without registering, as many cases do on purpose) is counted apart:
   * test_reclaim checks it with test_reports_of; CHECK_REPORTS and
   * CHECK_NO_REPORTS see every other kind. */
  if (kind != EBRA_WARN_SLOW_READER)
    atomic_fetch_add_explicit(&test_reports_total, 1, memory_order_relaxed);
  const char *v = getenv("EBRA_TEST_VERBOSE");
  if (v != NULL && v[0] != '\0' && v[0] != '0')
    fprintf(stderr, "  [report] %s (%d): %s\n", ebra_error_kind_name(kind),
            (int)kind, msg != NULL ? msg : "(null)");
}

static inline void test_hook_reset(void)
{
  for (unsigned k = 0; k < TEST_KINDS; k++)
    atomic_store(&test_reports[k], 0);
  atomic_store(&test_reports_total, 0);
}

/* Also lifts the report limit (EBRA_OPT_REPORT_LIMIT = 0): these tests
 * count every report a misuse makes; test_reports.c checks the limit. */
static inline void test_hook_install(void)
{
  test_hook_reset();
  ebra_set_report_hook(test_hook, NULL);
  /* After the hook: this first option call reads the environment, and
   * what that reports is counted. */
  CHECK_EQ(ebra_option_set(EBRA_OPT_REPORT_LIMIT, 0), 0);
}

static inline unsigned long test_reports_of(ebra_error_kind_t kind)
{
  return atomic_load(&test_reports[(unsigned)kind < TEST_KINDS ? (unsigned)kind : 0]);
}

static inline unsigned long test_reports_all(void)
{
  return atomic_load(&test_reports_total);
}

/* Exactly n reports since the last check, all of kind; then clear. */
#define CHECK_REPORTS(kind, n)                                            \
  do {                                                                    \
    unsigned long check_k_ = test_reports_of(kind);                       \
    unsigned long check_t_ = test_reports_all();                          \
    if (check_k_ != (unsigned long)(n) || check_t_ != (unsigned long)(n)) { \
      fprintf(stderr, "%s:%d: CHECK_REPORTS failed: want %lu x %s, got %lu of it " \
              "and %lu reports in all\n", __FILE__, __LINE__,             \
              (unsigned long)(n), #kind, check_k_, check_t_);             \
      exit(1);                                                            \
    }                                                                     \
    test_hook_reset();                                                    \
  } while (0)

/* No report at all since the last check. */
#define CHECK_NO_REPORTS()                                                \
  do {                                                                    \
    unsigned long check_t_ = test_reports_all();                          \
    if (check_t_ != 0) {                                                  \
      fprintf(stderr, "%s:%d: CHECK_NO_REPORTS failed: %lu unexpected reports\n", \
              __FILE__, __LINE__, check_t_);                              \
      exit(1);                                                            \
    }                                                                     \
  } while (0)

/* ---- helpers ------------------------------------------------------------ */

#define TEST_RUN(fn)                                                      \
  do {                                                                    \
    printf("%-40s", #fn);                                                 \
    fflush(stdout);                                                       \
    fn();                                                                 \
    printf(" ok\n");                                                      \
    fflush(stdout);                                                       \
  } while (0)

static inline int test_has_feature(unsigned f)
{
  return (ebra_build_features() & f) != 0;
}

/* A pool config with every field set to its neutral value. */
static inline ebra_pool_config_t test_config(const char *name, size_t size)
{
  ebra_pool_config_t c;
  memset(&c, 0, sizeof c);
  c.name = name;
  c.object_size = size;
  return c;
}

static inline ebra_pool_t *test_pool(const char *name, size_t size)
{
  ebra_pool_config_t c = test_config(name, size);
  ebra_pool_t *p = ebra_pool_create(&c);
  CHECK(p != NULL);
  return p;
}

static inline ebra_pool_stats_t test_stats(const ebra_pool_t *pool)
{
  ebra_pool_stats_t s;
  memset(&s, 0, sizeof s);
  int rc = ebra_pool_stats(pool, &s);
  CHECK_EQ(rc, 0);
  return s;
}

/* Audit a quiescent pool: consistent, and carved == cached + live. */
#define CHECK_AUDIT(pool)                                                 \
  do {                                                                    \
    ebra_pool_audit_t check_a_;                                           \
    memset(&check_a_, 0, sizeof check_a_);                                \
    CHECK_EQ(ebra_pool_audit((pool), &check_a_), 0);                      \
    CHECK_EQ(check_a_.carved, check_a_.cached + check_a_.live);           \
    CHECK_EQ(check_a_.duplicates, 0);                                     \
    CHECK_EQ(check_a_.invalid, 0);                                        \
  } while (0)

/* Run one test case: in process when `in_process` (for a debugger), else in
 * a forked child so that a failure cannot hide the cases after it and no
 * per-thread library state carries over.  The child installs the report
 * hook, runs fn(arg) and exits 0; exit() (not _exit) lets LeakSanitizer and
 * ebra's atexit work run.  Prints " ok" or " FAILED (...)"; returns 1 if the
 * case passed. */
static inline int check_run_case(void (*fn)(const void *), const void *arg, int in_process) {
  if (in_process) {
    test_hook_install();
    fn(arg);
    printf(" ok\n");
    return 1;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    test_hook_install();
    fn(arg);
    exit(0);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  const int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (ok)
    printf(" ok\n");
  else
    printf(" FAILED (%s %d)\n", WIFEXITED(status) ? "exit" : "signal",
           WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  fflush(stdout);
  return ok;
}

/* Run child(arg) in a forked process whose stderr (and stdout, when
 * `with_stdout`) is a pipe; read everything it writes into out (at most
 * cap - 1 bytes kept, the rest read and dropped, so the child never blocks
 * on a full pipe), NUL-terminate it and return the child's wait status.
 * child() should end the process itself (exit() runs atexit work, as a
 * real program's end would); if it returns, the child exits 0. */
static inline int check_fork_captured(void (*child)(void *), void *arg, int with_stdout,
                                      char *out, size_t cap) {
  int fd[2];
  CHECK(pipe(fd) == 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    if (with_stdout)
      dup2(fd[1], 1);
    dup2(fd[1], 2);
    close(fd[0]);
    close(fd[1]);
    child(arg);
    exit(0);
  }
  close(fd[1]);
  size_t len = 0;
  for (;;) {
    char sink[4096];
    const int keep = len < cap - 1;
    ssize_t r = read(fd[0], keep ? out + len : sink, keep ? cap - 1 - len : sizeof sink);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    if (keep)
      len += (size_t)r;
  }
  out[len] = '\0';
  close(fd[0]);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  return status;
}

/* ---- cases run once per reclamation backend ------------------------------ */

typedef struct check_backend_case_s {
  const char *name;
  void (*fn)(ebra_reclaim_backend_t be);
} check_backend_case_t;

typedef struct check_backend_run_s {
  const check_backend_case_t *c;
  ebra_reclaim_backend_t be;
} check_backend_run_t;

static inline void check_backend_run_one(const void *arg) {
  const check_backend_run_t *r = arg;
  r->c->fn(r->be);
}

/* A test's main: every case on every backend, each in a forked child
 * (check_run_case); with one argument, only the case of that name, in
 * process.  Returns the exit status: 0, 1 if a case failed, 2 if no case
 * has that name. */
static inline int check_main_backends(const check_backend_case_t *cases, size_t ncases,
                                      const ebra_reclaim_backend_t *backends, size_t nbackends,
                                      int argc, char **argv) {
  int failed = 0, ran = 0;
  for (size_t i = 0; i < ncases; i++) {
    const check_backend_case_t *c = &cases[i];
    if (argc == 2 && strcmp(argv[1], c->name) != 0)
      continue;
    for (size_t b = 0; b < nbackends; b++) {
      printf("%-22s %-10s", c->name, ebra_reclaim_backend_name(backends[b]));
      ran++;
      const check_backend_run_t r = {c, backends[b]};
      failed += !check_run_case(check_backend_run_one, &r, argc == 2);
    }
  }
  if (ran == 0) {
    fprintf(stderr, "no case named %s\n", argc == 2 ? argv[1] : "?");
    return 2;
  }
  if (failed)
    printf("%d of %d cases FAILED\n", failed, ran);
  return failed ? 1 : 0;
}

#endif /* EBRA_TEST_CHECK_H */

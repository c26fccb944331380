/* SPDX-License-Identifier: MIT */
/* test_options.c — process-wide options: set/get, text parsing, and the
 * environment.
 *
 * Claims checked:
 *  - ebra_option_set/get round-trip every option; ebra_option_name names
 *    them and returns NULL for an unknown one;
 *  - an out-of-range value or unknown option gives -EINVAL and exactly one
 *    EBRA_ERR_BAD_OPTION report, and the old value is kept;
 *  - ebra_option_set_text accepts decimal numbers with K/M/G suffixes
 *    (1K = 1024, and "k", "KB", "KiB" spell the same) and the boolean words;
 *    it rejects "abc", "12Q", "" and values that overflow, with -EINVAL, one
 *    report, and the old value kept;
 *  - the environment, in a child re-executed with a controlled environment:
 *    no EBRA_* variables gives the defaults; EBRA_MAGAZINE_SIZE=1K and
 *    EBRA_SHOW_STATS=on give 1024 and 1 (and new pools use 1024 rounds);
 *    EBRA_MAGAZINE_SIZE=banana, EBRA_SHOW_STATS=maybe and EBRA_STRATEGY=fast
 *    give one warning report each (the strategy's lists the names) and the
 *    defaults; EBRA_SHOW_STATS=1 prints, at exit, the stats of a pool left
 *    live, under its name;
 *  - sizes: K..P suffixes, fractions with a suffix (1.5G, 0.5K, 1.5T),
 *    rounded down; "1.5", ".5K", "1X" and past LONG_MAX refused; names:
 *    strategy and reclaim by name (any case) or number;
 *  - a refused value's report lists what the option accepts (names,
 *    suffixes, range, boolean words) and the value kept;
 *  - an unknown EBRA_* variable is reported once with the nearest option's
 *    name; EBRA_TEST_* is not reported;
 *  - EBRA_VERBOSE=1 prints each option once with value and origin;
 *  - precedence: EBRA_STRATEGY applies to ebra_engine_init with a config
 *    whose strategy is 0 and with NULL; a stated strategy wins; a later
 *    ebra_option_set wins over the environment.
 */
#include <errno.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

extern char **environ;

static const ebra_option_t bools[] = {EBRA_OPT_SHOW_STATS, EBRA_OPT_VERBOSE,
                                      EBRA_OPT_SECURE};
#define NBOOLS (sizeof bools / sizeof bools[0])

static void test_names(void)
{
  CHECK(strcmp(ebra_option_name(EBRA_OPT_MAGAZINE_SIZE), "magazine_size") == 0);
  CHECK(strcmp(ebra_option_name(EBRA_OPT_SHOW_STATS), "show_stats") == 0);
  CHECK(strcmp(ebra_option_name(EBRA_OPT_VERBOSE), "verbose") == 0);
  CHECK(strcmp(ebra_option_name(EBRA_OPT_SECURE), "secure") == 0);
  CHECK(ebra_option_name(EBRA_OPT_COUNT_) == NULL);
  CHECK(ebra_option_name((ebra_option_t)99) == NULL);
}

static void test_round_trip(void)
{
  long old = opt_value(EBRA_OPT_MAGAZINE_SIZE);
  static const long values[] = {1, 2, 63, 64, 100, 1024, 4096};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    CHECK_EQ(ebra_option_set(EBRA_OPT_MAGAZINE_SIZE, values[i]), 0);
    CHECK_EQ(opt_value(EBRA_OPT_MAGAZINE_SIZE), values[i]);
  }
  /* A new pool with magazine_capacity 0 takes the option. */
  CHECK_EQ(ebra_option_set(EBRA_OPT_MAGAZINE_SIZE, 100), 0);
  ebra_pool_t *pool = test_pool("takes-option", 32);
  CHECK_EQ(test_stats(pool).magazine_capacity, 100);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_EQ(ebra_option_set(EBRA_OPT_MAGAZINE_SIZE, old), 0);

  for (size_t b = 0; b < NBOOLS; b++) {
    long was = opt_value(bools[b]);
    CHECK_EQ(ebra_option_set(bools[b], 1), 0);
    CHECK_EQ(opt_value(bools[b]), 1);
    CHECK_EQ(ebra_option_set(bools[b], 0), 0);
    CHECK_EQ(opt_value(bools[b]), 0);
    CHECK_EQ(ebra_option_set(bools[b], was), 0);
  }
  CHECK_NO_REPORTS();
}

static void expect_set_rejected(ebra_option_t opt, long value)
{
  long was = opt_value(opt);
  int rc = ebra_option_set(opt, value);
  if (rc != -EINVAL) {
    fprintf(stderr, "ebra_option_set(%d, %ld) = %d, want -EINVAL\n", (int)opt, value, rc);
    exit(1);
  }
  CHECK_REPORTS(EBRA_ERR_BAD_OPTION, 1);
  CHECK_EQ(opt_value(opt), was);
}

static void test_out_of_range(void)
{
  CHECK_EQ(ebra_option_set(EBRA_OPT_MAGAZINE_SIZE, 77), 0);
  expect_set_rejected(EBRA_OPT_MAGAZINE_SIZE, 0);
  expect_set_rejected(EBRA_OPT_MAGAZINE_SIZE, -1);
  expect_set_rejected(EBRA_OPT_MAGAZINE_SIZE, 4097);
  expect_set_rejected(EBRA_OPT_MAGAZINE_SIZE, LONG_MAX);
  expect_set_rejected(EBRA_OPT_MAGAZINE_SIZE, LONG_MIN);
  CHECK_EQ(opt_value(EBRA_OPT_MAGAZINE_SIZE), 77);
  CHECK_EQ(ebra_option_set(EBRA_OPT_MAGAZINE_SIZE, 64), 0);

  for (size_t b = 0; b < NBOOLS; b++) { /* a boolean is 0 or 1 */
    expect_set_rejected(bools[b], 2);
    expect_set_rejected(bools[b], -1);
  }

  CHECK_EQ(ebra_option_set(EBRA_OPT_COUNT_, 1), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_OPTION, 1);
  CHECK_EQ(ebra_option_set((ebra_option_t)99, 1), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_OPTION, 1);
  CHECK_EQ(ebra_option_set((ebra_option_t)-1, 1), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_OPTION, 1);
  CHECK_EQ(ebra_option_set_text(EBRA_OPT_COUNT_, "1"), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_OPTION, 1);

  /* ebra_option_get: an unknown option or a NULL out is a bad call, and
   * the out-parameter holds 0 after a failure. */
  long v = 5;
  CHECK_EQ(ebra_option_get(EBRA_OPT_COUNT_, &v), -EINVAL);
  CHECK_EQ(v, 0);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
  CHECK_EQ(ebra_option_get(EBRA_OPT_MAGAZINE_SIZE, NULL), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
}

static void expect_text(ebra_option_t opt, const char *text, long want)
{
  int rc = ebra_option_set_text(opt, text);
  long got = opt_value(opt);
  if (rc != 0 || got != want) {
    fprintf(stderr, "ebra_option_set_text(%s, \"%s\") = %d, value %ld; want 0, %ld\n",
            ebra_option_name(opt), text, rc, got, want);
    exit(1);
  }
  CHECK_NO_REPORTS();
}

static void expect_text_rejected(ebra_option_t opt, const char *text)
{
  long was = opt_value(opt);
  int rc = ebra_option_set_text(opt, text);
  if (rc != -EINVAL) {
    fprintf(stderr, "ebra_option_set_text(%s, \"%s\") = %d (value now %ld), want -EINVAL\n",
            ebra_option_name(opt), text, rc, opt_value(opt));
    exit(1);
  }
  CHECK_REPORTS(EBRA_ERR_BAD_OPTION, 1);
  CHECK_EQ(opt_value(opt), was);
}

static void test_text(void)
{
  const ebra_option_t M = EBRA_OPT_MAGAZINE_SIZE;
  expect_text(M, "64", 64);
  expect_text(M, "1K", 1024);
  expect_text(M, "4K", 4096);
  expect_text(M, "4k", 4096);
  expect_text(M, "4KB", 4096);
  expect_text(M, "4KiB", 4096);
  expect_text(M, "1", 1);
  expect_text(M, "4096", 4096);
  expect_text(M, "100", 100);

  expect_text(M, "77", 77);
  /* "2M" parses (2097152) but no option accepts it: magazine_size is
   * 1..4096, the others booleans.  Out of range: rejected, value kept. */
  expect_text_rejected(M, "2M");
  expect_text_rejected(M, "1G");
  expect_text_rejected(M, "abc");
  expect_text_rejected(M, "12Q");
  expect_text_rejected(M, "");
  expect_text_rejected(M, "K");
  expect_text_rejected(M, "0");
  expect_text_rejected(M, "-5");
  expect_text_rejected(M, "4097");
  expect_text_rejected(M, "64 apples");
  /* Overflow must not wrap into range: 2^64 + 64, and (2^54 + 1) KiB. */
  expect_text_rejected(M, "18446744073709551680");
  expect_text_rejected(M, "18014398509481985K");
  CHECK_EQ(opt_value(M), 77);
  expect_text(M, "64", 64);

  static const struct { const char *text; long value; } words[] = {
    {"on", 1}, {"off", 0}, {"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0},
    {"1", 1}, {"0", 0}, {"enable", 1}, {"disable", 0},
  };
  for (size_t b = 0; b < NBOOLS; b++) {
    long was = opt_value(bools[b]);
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
      expect_text(bools[b], words[w].text, words[w].value);
    expect_text(bools[b], "on", 1);
    expect_text_rejected(bools[b], "abc");
    expect_text_rejected(bools[b], "maybe");
    expect_text_rejected(bools[b], "");
    expect_text_rejected(bools[b], "12Q");
    CHECK_EQ(opt_value(bools[b]), 1);
    CHECK_EQ(ebra_option_set(bools[b], was), 0);
  }
  CHECK_NO_REPORTS();
}

/* Sizes take K..P suffixes and, with a suffix, a fraction; names take
 * their spelling or number. */
static void test_sizes_and_names(void)
{
  const ebra_option_t H = EBRA_OPT_HARD_LIMIT;
  expect_text(H, "1T", 1L << 40);
  expect_text(H, "1TiB", 1L << 40);
  expect_text(H, "2P", 2L << 50);
  expect_text(H, "1.5G", 1610612736L);
  expect_text(H, "0.5K", 512);
  expect_text(H, "2.25M", 2359296L);
  expect_text(H, "1.0000001K", 1024); /* rounded down to whole bytes */
  expect_text(H, "0.001K", 1);
  expect_text(H, "1.5T", 3L << 39);
  expect_text(H, "0", 0);
  expect_text_rejected(H, "1.5");   /* a fraction needs a unit */
  expect_text_rejected(H, "1.K");
  expect_text_rejected(H, ".5K");
  expect_text_rejected(H, "1X");
  expect_text_rejected(H, "1.5Q");
  expect_text_rejected(H, "8192P"); /* 2^63: past LONG_MAX */
  CHECK_EQ(opt_value(H), 0);

  const ebra_option_t S = EBRA_OPT_STRATEGY;
  expect_text(S, "memory-efficient", EBRA_STRATEGY_MEMORY_EFFICIENT);
  expect_text(S, "Low-Latency", EBRA_STRATEGY_LOW_LATENCY);
  expect_text(S, "2", EBRA_STRATEGY_HIGH_THROUGHPUT);
  expect_text_rejected(S, "fast");
  expect_text_rejected(S, "4");
  expect_text(S, "adaptive", EBRA_STRATEGY_ADAPTIVE);

  const ebra_option_t R = EBRA_OPT_RECLAIM;
  CHECK_EQ(opt_value(R), EBRA_RECLAIM_URCU_MEMB);
  expect_text(R, "ck-epoch", EBRA_RECLAIM_CK_EPOCH);
  expect_text(R, "urcu-qsbr", EBRA_RECLAIM_URCU_QSBR);
  expect_text(R, "default", EBRA_RECLAIM_DEFAULT);
  expect_text_rejected(R, "hazard-pointers");
  expect_text(R, "urcu-memb", EBRA_RECLAIM_URCU_MEMB);
  CHECK(strcmp(ebra_option_name(R), "reclaim") == 0);
  CHECK(strcmp(ebra_option_name(EBRA_OPT_REPORT_LIMIT), "report_limit") == 0);
  CHECK_EQ(ebra_option_origin(R), EBRA_OPTION_FROM_API);
  CHECK_EQ(ebra_option_origin(EBRA_OPT_COUNT_), EBRA_OPTION_FROM_DEFAULT);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 1);
}

static char last_msg[1024];
static void keep_msg(ebra_error_kind_t kind, const char *msg, void *arg)
{
  (void)kind;
  (void)arg;
  snprintf(last_msg, sizeof last_msg, "%s", msg);
}

static void expect_msg_lists(ebra_option_t opt, const char *text, const char *listed)
{
  last_msg[0] = '\0';
  CHECK_EQ(ebra_option_set_text(opt, text), -EINVAL);
  if (strstr(last_msg, listed) == NULL) {
    fprintf(stderr, "set_text(%s, \"%s\"): the report does not list \"%s\": %s\n",
            ebra_option_name(opt), text, listed, last_msg);
    exit(1);
  }
}

/* A refused value's report names what the option accepts. */
static void test_messages(void)
{
  ebra_set_report_hook(keep_msg, NULL);
  expect_msg_lists(EBRA_OPT_STRATEGY, "fast",
                   "adaptive, low-latency, high-throughput, memory-efficient");
  expect_msg_lists(EBRA_OPT_RECLAIM, "nonsense", "urcu-memb, urcu-qsbr, ck-epoch");
  expect_msg_lists(EBRA_OPT_HARD_LIMIT, "1X", "K, M, G, T or P");
  expect_msg_lists(EBRA_OPT_HARD_LIMIT, "1X", "1.5G");
  expect_msg_lists(EBRA_OPT_MAGAZINE_SIZE, "5000", "[1, 4096]");
  expect_msg_lists(EBRA_OPT_SECURE, "maybe", "on/off");
  expect_msg_lists(EBRA_OPT_STRATEGY, "fast", "kept adaptive");
  test_hook_install();
}

/* ---- the environment, in a re-executed child ------------------------------- */

#define LIVE_POOL_NAME "env-live-pool-7f3a"

static int env_child(const char *mode)
{
  if (strcmp(mode, "defaults") == 0) {
    test_hook_install();
    CHECK_EQ(opt_value(EBRA_OPT_MAGAZINE_SIZE), 64);
    CHECK_EQ(opt_value(EBRA_OPT_SHOW_STATS), 0);
    CHECK_EQ(opt_value(EBRA_OPT_VERBOSE), 0);
    CHECK_EQ(opt_value(EBRA_OPT_SECURE), 0);
    CHECK_NO_REPORTS();
    return 0;
  }
  if (strcmp(mode, "good") == 0) {
    test_hook_install();
    CHECK_EQ(opt_value(EBRA_OPT_MAGAZINE_SIZE), 1024);
    CHECK_EQ(opt_value(EBRA_OPT_SHOW_STATS), 1);
    ebra_pool_t *pool = test_pool("env-good", 16);
    CHECK_EQ(test_stats(pool).magazine_capacity, 1024);
    CHECK_EQ(ebra_pool_destroy(pool), 0);
    /* ebra_option_set still overrides the environment. */
    CHECK_EQ(ebra_option_set(EBRA_OPT_SHOW_STATS, 0), 0);
    CHECK_EQ(opt_value(EBRA_OPT_SHOW_STATS), 0);
    CHECK_NO_REPORTS();
    return 0;
  }
  if (strcmp(mode, "bad") == 0) {
    /* No hook of ours: the environment may be read before main runs, so
     * the default hook's stderr line is what the parent counts. */
    for (int i = 0; i < 2; i++) { /* read once: no second report */
      CHECK_EQ(opt_value(EBRA_OPT_MAGAZINE_SIZE), 64);
      CHECK_EQ(opt_value(EBRA_OPT_SHOW_STATS), 0);
    }
    ebra_pool_t *pool = test_pool("env-bad", 16);
    CHECK_EQ(test_stats(pool).magazine_capacity, 64);
    CHECK_EQ(ebra_pool_destroy(pool), 0);
    return 0;
  }
  if (strcmp(mode, "quiet") == 0) { /* the default hook; the parent reads stderr */
    for (int i = 0; i < 2; i++)
      CHECK_EQ(opt_value(EBRA_OPT_MAGAZINE_SIZE), 64);
    ebra_pool_t *pool = test_pool("env-quiet", 16);
    CHECK_EQ(ebra_pool_destroy(pool), 0);
    return 0;
  }
  if (strcmp(mode, "strategy") == 0) { /* EBRA_STRATEGY=memory-efficient */
    test_hook_install();
    ebra_engine_stats_t st;
    /* A config whose strategy is 0 (adaptive: not stated) takes the option. */
    CHECK_EQ(ebra_engine_init(&(ebra_engine_config_t){.history_len = 8}), 0);
    CHECK_EQ(ebra_engine_stats(&st), 0);
    CHECK_EQ(st.configured, EBRA_STRATEGY_MEMORY_EFFICIENT);
    CHECK_EQ(st.active, EBRA_STRATEGY_MEMORY_EFFICIENT);
    CHECK_EQ(ebra_engine_shutdown(), 0);
    CHECK_EQ(ebra_engine_init(NULL), 0);
    CHECK_EQ(ebra_engine_stats(&st), 0);
    CHECK_EQ(st.configured, EBRA_STRATEGY_MEMORY_EFFICIENT);
    CHECK_EQ(ebra_engine_shutdown(), 0);
    /* A stated strategy wins over the environment. */
    CHECK_EQ(ebra_engine_init(&(ebra_engine_config_t){.strategy = EBRA_STRATEGY_LOW_LATENCY}), 0);
    CHECK_EQ(ebra_engine_stats(&st), 0);
    CHECK_EQ(st.configured, EBRA_STRATEGY_LOW_LATENCY);
    CHECK_EQ(ebra_engine_shutdown(), 0);
    /* ebra_option_set wins over the environment for later inits. */
    CHECK_EQ(ebra_option_origin(EBRA_OPT_STRATEGY), EBRA_OPTION_FROM_ENV);
    CHECK_EQ(ebra_option_set(EBRA_OPT_STRATEGY, EBRA_STRATEGY_HIGH_THROUGHPUT), 0);
    CHECK_EQ(ebra_option_origin(EBRA_OPT_STRATEGY), EBRA_OPTION_FROM_API);
    CHECK_EQ(ebra_engine_init(&(ebra_engine_config_t){.history_len = 8}), 0);
    CHECK_EQ(ebra_engine_stats(&st), 0);
    CHECK_EQ(st.configured, EBRA_STRATEGY_HIGH_THROUGHPUT);
    CHECK_EQ(ebra_engine_shutdown(), 0);
    CHECK_NO_REPORTS();
    return 0;
  }
  if (strcmp(mode, "show") == 0) {
    test_hook_install();
    CHECK_EQ(opt_value(EBRA_OPT_SHOW_STATS), 1);
    ebra_pool_t *pool = test_pool(LIVE_POOL_NAME, 16);
    void *p = ebra_pool_alloc(pool);
    CHECK(p != NULL);
    CHECK_NO_REPORTS();
    return 0; /* pool and object deliberately left live */
  }
  fprintf(stderr, "unknown child mode %s\n", mode);
  return 2;
}

typedef struct exec_s {
  char **argv, **envp;
} exec_t;

static void exec_child(void *arg)
{
  const exec_t *e = arg;
  execve("/proc/self/exe", e->argv, e->envp);
  _exit(127);
}

/* Run this binary again as "--env-child mode" with no EBRA_* variable but
 * the given ones; return its exit status, its stdout+stderr in out. */
static int spawn_child(const char *self, const char *mode, const char *const *vars,
                       char *out, size_t cap)
{
  size_t n = 0;
  while (environ[n] != NULL)
    n++;
  char **envp = calloc(n + 8, sizeof *envp);
  CHECK(envp != NULL);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "EBRA_", 5) != 0)
      envp[k++] = environ[i];
  for (size_t i = 0; vars[i] != NULL; i++)
    envp[k++] = (char *)vars[i];
  envp[k] = NULL;
  char *argv[] = {(char *)self, "--env-child", (char *)mode, NULL};
  exec_t e = {argv, envp};
  const int status = check_fork_captured(exec_child, &e, 1, out, cap);
  free(envp);
  if (!WIFEXITED(status)) {
    fprintf(stderr, "child %s killed by signal %d; output:\n%s\n", mode,
            WTERMSIG(status), out);
    exit(1);
  }
  return WEXITSTATUS(status);
}

static size_t count(const char *hay, const char *needle)
{
  size_t c = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
    c++;
  return c;
}

static char child_out[1 << 16];

static void expect_child(const char *self, const char *mode, const char *const *vars)
{
  int st = spawn_child(self, mode, vars, child_out, sizeof child_out);
  if (st != 0) {
    fprintf(stderr, "child %s exited %d; output:\n%s\n", mode, st, child_out);
    exit(1);
  }
}

static const char *self_path;

/* The last child's output holds needle exactly n times. */
static void expect_output(const char *needle, size_t n, const char *what)
{
  if (count(child_out, needle) != n) {
    fprintf(stderr, "%s: want %zu x \"%s\", got %zu; output:\n%s\n", what, n, needle,
            count(child_out, needle), child_out);
    exit(1);
  }
}

static void test_environment(void)
{
  static const char *const none[] = {NULL};
  expect_child(self_path, "defaults", none);

  static const char *const good[] = {"EBRA_MAGAZINE_SIZE=1K", "EBRA_SHOW_STATS=on", NULL};
  expect_child(self_path, "good", good);

  static const char *const bad[] = {"EBRA_MAGAZINE_SIZE=banana", "EBRA_SHOW_STATS=maybe",
                                    "EBRA_STRATEGY=fast", NULL};
  expect_child(self_path, "bad", bad);
  char tag[64];
  snprintf(tag, sizeof tag, "ebra: %s:", ebra_error_kind_name(EBRA_ERR_BAD_OPTION));
  expect_output(tag, 3, "bad environment");
  expect_output("EBRA_STRATEGY=\"fast\" is refused: strategy expects one of adaptive, "
                "low-latency, high-throughput, memory-efficient", 1, "EBRA_STRATEGY=fast");

  /* A misspelt variable: one report naming the nearest option; the
   * harnesses' own EBRA_TEST_* variables are not options and not reported. */
  static const char *const typo[] = {"EBRA_MAGAZNE_SIZE=32", "EBRA_TEST_SOMETHING=1",
                                     "EBRA_STRATEGYY=adaptive", NULL};
  expect_child(self_path, "quiet", typo);
  expect_output(tag, 2, "misspelt variables");
  expect_output("EBRA_MAGAZNE_SIZE is not an ebra option and is ignored; the nearest option "
                "is EBRA_MAGAZINE_SIZE", 1, "EBRA_MAGAZNE_SIZE");
  expect_output("the nearest option is EBRA_STRATEGY ", 1, "EBRA_STRATEGYY");
  expect_output("EBRA_TEST_SOMETHING", 0, "EBRA_TEST_SOMETHING");

  /* EBRA_VERBOSE=1: every option once, with its value and origin. */
  static const char *const verbose[] = {"EBRA_VERBOSE=1", "EBRA_STRATEGY=memory-efficient",
                                        "EBRA_HARD_LIMIT=1.5G", NULL};
  expect_child(self_path, "quiet", verbose);
  snprintf(tag, sizeof tag, "ebra: %s: ", ebra_error_kind_name(EBRA_INFO_OPTIONS));
  expect_output(tag, EBRA_OPT_COUNT_, "EBRA_VERBOSE=1");
  expect_output("ebra: options: strategy = memory-efficient (environment EBRA_STRATEGY)\n", 1,
                "EBRA_VERBOSE=1");
  expect_output("ebra: options: hard_limit = 1610612736 (environment EBRA_HARD_LIMIT)\n", 1,
                "EBRA_VERBOSE=1");
  expect_output("ebra: options: magazine_size = 64 (default)\n", 1, "EBRA_VERBOSE=1");
  expect_output("ebra: options: verbose = on (environment EBRA_VERBOSE)\n", 1, "EBRA_VERBOSE=1");
  expect_output("ebra: options: reclaim = urcu-memb (default)\n", 1, "EBRA_VERBOSE=1");

  /* The precedence rule for the strategy (ebra/options.h). */
  static const char *const strategy[] = {"EBRA_STRATEGY=memory-efficient", NULL};
  expect_child(self_path, "strategy", strategy);

  static const char *const show[] = {"EBRA_SHOW_STATS=1", NULL};
  expect_child(self_path, "show", show);
  if (strstr(child_out, LIVE_POOL_NAME) == NULL) {
    fprintf(stderr, "EBRA_SHOW_STATS=1: the live pool's name is not in the output:\n%s\n",
            child_out);
    exit(1);
  }
}

int main(int argc, char **argv)
{
  if (argc == 3 && strcmp(argv[1], "--env-child") == 0)
    return env_child(argv[2]);
  self_path = argv[0];
  test_hook_install();
  TEST_RUN(test_names);
  TEST_RUN(test_round_trip);
  TEST_RUN(test_out_of_range);
  TEST_RUN(test_text);
  TEST_RUN(test_sizes_and_names);
  TEST_RUN(test_messages);
  TEST_RUN(test_environment);
  return 0;
}

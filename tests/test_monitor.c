/* SPDX-License-Identifier: MIT */
/* test_monitor.c — snapshots and their three output formats.
 *
 * Claims checked:
 *  - after known work on two pools and a domain (one pool's name holds a
 *    double quote, a backslash and a newline; the domain's a tab and a
 *    control byte), a snapshot lists both pools and the domain, each pool's
 *    stats equal ebra_pool_stats field for field, the domain's retire
 *    counts are exact, the totals are the sums, and resident bytes > 0;
 *  - the Prometheus output obeys the text exposition format (checked by
 *    prom_validate below: line grammar, names, escaped label values, float
 *    values, one HELP and one TYPE per family before its samples, samples
 *    of a family contiguous, counters end in _total, no duplicate series)
 *    and its pool label values decode back to the pool names;
 *  - the JSON output is one valid JSON value (json_* below: a
 *    recursive-descent parser of RFC 8259) whose "name" strings decode back
 *    to the pool and domain names;
 *  - the text output names every pool;
 *  - both validators accept valid samples of their formats and reject
 *    each kind of violation they claim to catch;
 *  - a name cut inside a UTF-8 character prints U+FFFD in its place;
 *  - weak-cache metrics: the snapshot's cache entry equals
 *    ebra_cache_stats after known work (hits, misses, stores, one
 *    replacement, eviction and death), and each ebra_cache_* family appears
 *    once in valid Prometheus output, the cache in valid JSON and text;
 *  - a destroyed pool is absent from a later snapshot, and NULL arguments
 *    give -EINVAL and a report;
 *  - text, JSON and Prometheus print the same fields: for a pool, a domain
 *    and the engine, text and JSON carry the same keys in the same order
 *    with the same values, and Prometheus one family per key (for pools the
 *    documented family of each key, with the same value);
 *    ebra_pool_print_stats prints the pool's text block;
 *  - `promtool check metrics` accepts the Prometheus output (skipped with a
 *    message when promtool is not installed);
 *  - snapshots taken while another thread creates, uses and destroys pools
 *    and domains, and allocates, frees and retires, see only consistent
 *    entries whose counters never go back, and cause no report.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "check.h"

enum { SIZE = 40 };

static const char WEIRD[] = "we\"ird\\pool\nname";
static const char DOMAIN_NAME[] = "dom\tain\x01";

/* ---- output capture ----------------------------------------------------- */

typedef struct buf_s {
  char *p;
  size_t len, cap;
  unsigned calls;
} buf_t;

static void buf_append(const char *text, void *arg)
{
  buf_t *b = arg;
  const size_t n = strlen(text);
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    CHECK(b->p != NULL);
  }
  memcpy(b->p + b->len, text, n + 1);
  b->len += n;
  b->calls++;
}

/* ---- Prometheus text format validator ------------------------------------ */

#define MAXFAM 128
#define MAXSERIES 4096

typedef struct prom_s {
  char fam[MAXFAM][128];
  char type[MAXFAM][16];
  int help[MAXFAM], typed[MAXFAM], sampled[MAXFAM], closed[MAXFAM];
  int nfam, last_fam;
  char *series[MAXSERIES];
  int nseries;
  char pool_labels[8][256]; /* decoded pool="" values of one family */
  int npool_labels;
} prom_t;

static int prom_family(prom_t *p, const char *name, size_t len, int create)
{
  for (int i = 0; i < p->nfam; i++)
    if (strlen(p->fam[i]) == len && memcmp(p->fam[i], name, len) == 0)
      return i;
  if (!create)
    return -1;
  CHECK(p->nfam < MAXFAM && len < sizeof p->fam[0]);
  memcpy(p->fam[p->nfam], name, len);
  p->fam[p->nfam][len] = '\0';
  return p->nfam++;
}

static bool is_name_start(char c, bool colon)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

static bool is_name_char(char c, bool colon)
{
  return is_name_start(c, colon) || (c >= '0' && c <= '9');
}

/* Length of a metric name (colon true) or label name at s; 0 if none. */
static size_t name_len(const char *s, bool colon)
{
  if (!is_name_start(s[0], colon))
    return 0;
  size_t n = 1;
  while (is_name_char(s[n], colon))
    n++;
  return n;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
  const size_t k = strlen(suffix);
  return len >= k && memcmp(s + len - k, suffix, k) == 0;
}

static void prom_comment(prom_t *p, const char *line)
{
  const bool help = strncmp(line, "# HELP ", 7) == 0;
  const bool type = strncmp(line, "# TYPE ", 7) == 0;
  if (!help && !type)
    return; /* a plain comment */
  const char *name = line + 7;
  const size_t n = name_len(name, true);
  CHECK(n > 0);
  CHECK(name[n] == ' ');
  const int f = prom_family(p, name, n, 1);
  CHECK(!p->sampled[f]); /* HELP and TYPE come before the first sample */
  if (help) {
    CHECK(!p->help[f]);
    p->help[f] = 1;
    CHECK(name[n + 1] != '\0');
    return;
  }
  CHECK(!p->typed[f]);
  p->typed[f] = 1;
  const char *t = name + n + 1;
  CHECK(strcmp(t, "counter") == 0 || strcmp(t, "gauge") == 0 || strcmp(t, "summary") == 0 ||
        strcmp(t, "histogram") == 0 || strcmp(t, "untyped") == 0);
  snprintf(p->type[f], sizeof p->type[f], "%s", t);
  if (strcmp(t, "counter") == 0)
    CHECK(ends_with(name, n, "_total"));
}

/* The family a sample name belongs to: itself, or for summaries and
 * histograms the name without _sum / _count / _bucket. */
static int prom_sample_family(prom_t *p, const char *name, size_t n)
{
  int f = prom_family(p, name, n, 0);
  if (f >= 0)
    return f;
  static const char *const suffixes[] = {"_sum", "_count", "_bucket"};
  for (int i = 0; i < 3; i++) {
    if (!ends_with(name, n, suffixes[i]))
      continue;
    f = prom_family(p, name, n - strlen(suffixes[i]), 0);
    if (f >= 0 && (strcmp(p->type[f], "summary") == 0 || strcmp(p->type[f], "histogram") == 0))
      return f;
  }
  return -1;
}

/* Parse a quoted label value at *s, decoding into out; advance *s. */
static void prom_label_value(const char **s, char *out, size_t cap)
{
  const char *q = *s;
  size_t k = 0;
  CHECK(*q == '"');
  q++;
  while (*q != '"') {
    CHECK(*q != '\0');
    char c = *q++;
    if (c == '\\') {
      c = *q++;
      CHECK(c == '\\' || c == '"' || c == 'n');
      c = c == 'n' ? '\n' : c;
    }
    CHECK(k + 1 < cap);
    out[k++] = c;
  }
  out[k] = '\0';
  *s = q + 1;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Labels at s ("{...}" or nothing): validated, canonicalised (sorted) into
 * key for the duplicate check; returns the end. */
static const char *prom_labels(prom_t *p, const char *s, char *key, size_t cap, bool pool_family)
{
  char *labels[16];
  int n = 0;
  if (*s != '{')
    return s;
  s++;
  while (*s != '}') {
    const size_t ln = name_len(s, false);
    CHECK(ln > 0);
    CHECK(!(ln >= 2 && s[0] == '_' && s[1] == '_')); /* reserved */
    char value[256];
    const char *v = s + ln;
    CHECK(*v == '=');
    v++;
    prom_label_value(&v, value, sizeof value);
    CHECK(n < 16);
    labels[n] = malloc(ln + 2 + strlen(value) + 1);
    CHECK(labels[n] != NULL);
    sprintf(labels[n], "%.*s=%s", (int)ln, s, value);
    for (int i = 0; i < n; i++) /* a label name once per sample */
      CHECK(strncmp(labels[i], labels[n], ln + 1) != 0);
    n++;
    if (pool_family && ln == 4 && memcmp(s, "pool", 4) == 0 && p->npool_labels < 8)
      snprintf(p->pool_labels[p->npool_labels++], sizeof p->pool_labels[0], "%s", value);
    s = v;
    if (*s == ',')
      s++;
    else
      CHECK(*s == '}');
  }
  qsort(labels, (size_t)n, sizeof *labels, cmp_str);
  for (int i = 0; i < n; i++) {
    strncat(key, "\x1f", cap - strlen(key) - 1);
    strncat(key, labels[i], cap - strlen(key) - 1);
    free(labels[i]);
  }
  return s + 1;
}

static void prom_sample(prom_t *p, const char *line)
{
  const size_t n = name_len(line, true);
  CHECK(n > 0);
  const int f = prom_sample_family(p, line, n);
  CHECK(f >= 0); /* a family with HELP or TYPE seen */
  CHECK(p->help[f] && p->typed[f]);
  CHECK(!p->closed[f]); /* samples of a family are one group */
  if (p->last_fam >= 0 && p->last_fam != f)
    p->closed[p->last_fam] = 1;
  p->last_fam = f;
  p->sampled[f] = 1;
  char key[1024];
  snprintf(key, sizeof key, "%.*s", (int)n, line);
  const bool pool_family = strcmp(p->fam[f], "ebra_pool_allocations_total") == 0;
  const char *s = prom_labels(p, line + n, key, sizeof key, pool_family);
  CHECK(*s == ' ');
  char *end;
  const double v = strtod(s + 1, &end);
  CHECK(end != s + 1);
  CHECK(*end == '\0' || *end == ' '); /* optional timestamp */
  if (*end == ' ') {
    strtoll(end + 1, &end, 10);
    CHECK(*end == '\0');
  }
  if (strcmp(p->type[f], "counter") == 0)
    CHECK(v >= 0);
  for (int i = 0; i < p->nseries; i++)
    CHECK(strcmp(p->series[i], key) != 0);
  CHECK(p->nseries < MAXSERIES);
  p->series[p->nseries] = strdup(key);
  CHECK(p->series[p->nseries++] != NULL);
}

/* Validate a whole exposition; p keeps what was seen. */
static void prom_validate(prom_t *p, const char *text)
{
  memset(p, 0, sizeof *p);
  p->last_fam = -1;
  const size_t len = strlen(text);
  CHECK(len > 0 && text[len - 1] == '\n');
  char *copy = strdup(text);
  CHECK(copy != NULL);
  for (char *line = copy, *nl; *line; line = nl + 1) {
    nl = strchr(line, '\n');
    *nl = '\0';
    CHECK(*line != '\0'); /* we emit no blank lines */
    if (line[0] == '#')
      prom_comment(p, line);
    else
      prom_sample(p, line);
  }
  free(copy);
}

static void prom_release(prom_t *p)
{
  for (int i = 0; i < p->nseries; i++)
    free(p->series[i]);
}

static int prom_count(const prom_t *p, const char *prefix)
{
  int n = 0;
  for (int i = 0; i < p->nseries; i++)
    n += strncmp(p->series[i], prefix, strlen(prefix)) == 0;
  return n;
}

/* ---- JSON validator ------------------------------------------------------- */

typedef struct json_s {
  const char *s;
  int depth;
  char names[8][64]; /* decoded values of "name" keys */
  int nnames;
} json_t;

static void json_value(json_t *j);

static void json_ws(json_t *j)
{
  while (*j->s == ' ' || *j->s == '\t' || *j->s == '\n' || *j->s == '\r')
    j->s++;
}

static unsigned json_hex4(json_t *j)
{
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    const char c = *j->s++;
    CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
    v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

static size_t put_utf8(char *out, unsigned cp)
{
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | cp >> 18);
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* A string at j->s, decoded into out (cap bytes, truncating). */
static void json_string(json_t *j, char *out, size_t cap)
{
  size_t k = 0;
  char tmp[4];
  CHECK(*j->s == '"');
  j->s++;
  while (*j->s != '"') {
    const unsigned char c = (unsigned char)*j->s++;
    CHECK(c >= 0x20); /* raw control characters are not allowed */
    size_t n = 1;
    tmp[0] = (char)c;
    if (c == '\\') {
      const char e = *j->s++;
      const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
      const char *at = e ? strchr(from, e) : NULL;
      if (at) {
        tmp[0] = to[at - from];
      } else {
        CHECK(e == 'u');
        unsigned cp = json_hex4(j);
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* a surrogate pair */
          CHECK(j->s[0] == '\\' && j->s[1] == 'u');
          j->s += 2;
          const unsigned lo = json_hex4(j);
          CHECK(lo >= 0xDC00 && lo <= 0xDFFF);
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else {
          CHECK(cp < 0xDC00 || cp > 0xDFFF);
        }
        n = put_utf8(tmp, cp);
      }
    }
    for (size_t i = 0; i < n && out && k + 1 < cap; i++)
      out[k++] = tmp[i];
  }
  j->s++;
  if (out)
    out[k] = '\0';
}

static void json_digits(json_t *j)
{
  CHECK(*j->s >= '0' && *j->s <= '9');
  while (*j->s >= '0' && *j->s <= '9')
    j->s++;
}

static void json_number(json_t *j)
{
  if (*j->s == '-')
    j->s++;
  if (*j->s == '0')
    j->s++;
  else
    json_digits(j);
  if (*j->s == '.') {
    j->s++;
    json_digits(j);
  }
  if (*j->s == 'e' || *j->s == 'E') {
    j->s++;
    if (*j->s == '+' || *j->s == '-')
      j->s++;
    json_digits(j);
  }
}

static void json_object(json_t *j)
{
  j->s++; /* { */
  json_ws(j);
  if (*j->s == '}') {
    j->s++;
    return;
  }
  for (;;) {
    char key[64];
    json_ws(j);
    json_string(j, key, sizeof key);
    json_ws(j);
    CHECK(*j->s == ':');
    j->s++;
    json_ws(j);
    if (strcmp(key, "name") == 0 && *j->s == '"' && j->nnames < 8)
      json_string(j, j->names[j->nnames++], sizeof j->names[0]);
    else
      json_value(j);
    json_ws(j);
    if (*j->s == '}') {
      j->s++;
      return;
    }
    CHECK(*j->s == ',');
    j->s++;
  }
}

static void json_array(json_t *j)
{
  j->s++; /* [ */
  json_ws(j);
  if (*j->s == ']') {
    j->s++;
    return;
  }
  for (;;) {
    json_value(j);
    json_ws(j);
    if (*j->s == ']') {
      j->s++;
      return;
    }
    CHECK(*j->s == ',');
    j->s++;
  }
}

static void json_value(json_t *j)
{
  CHECK(++j->depth < 64);
  json_ws(j);
  const char c = *j->s;
  if (c == '{')
    json_object(j);
  else if (c == '[')
    json_array(j);
  else if (c == '"')
    json_string(j, NULL, 0);
  else if (c == '-' || (c >= '0' && c <= '9'))
    json_number(j);
  else if (strncmp(j->s, "true", 4) == 0)
    j->s += 4;
  else if (strncmp(j->s, "false", 5) == 0)
    j->s += 5;
  else if (strncmp(j->s, "null", 4) == 0)
    j->s += 4;
  else
    CHECK(!"a JSON value");
  j->depth--;
}

/* Validate text as exactly one JSON value; j keeps the names seen. */
static void json_validate(json_t *j, const char *text)
{
  memset(j, 0, sizeof *j);
  j->s = text;
  json_value(j);
  json_ws(j);
  CHECK(*j->s == '\0');
}

static bool json_has_name(const json_t *j, const char *name)
{
  for (int i = 0; i < j->nnames; i++)
    if (strcmp(j->names[i], name) == 0)
      return true;
  return false;
}

/* ---- the validators reject what they should -------------------------------- */

/* Run validate(text) in a child with stderr closed; it must fail. */
static void expect_reject(void (*validate)(const char *), const char *text)
{
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    freopen("/dev/null", "w", stderr);
    validate(text);
    exit(0);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    fprintf(stderr, "validator accepted: %s\n", text);
    exit(1);
  }
}

static void prom_check(const char *text)
{
  prom_t *p = calloc(1, sizeof *p);
  CHECK(p != NULL);
  prom_validate(p, text);
  prom_release(p);
  free(p);
}

static void json_check(const char *text)
{
  json_t j;
  json_validate(&j, text);
}

#define FAM(n, t) "# HELP " n " h\n# TYPE " n " " t "\n"

static void test_validators(void)
{
  prom_check(FAM("a_total", "counter") "a_total{x=\"1\",y=\"\\\"\\\\\\n\"} 1\n"
             FAM("s", "summary") "s{quantile=\"0.5\"} 1.5e-3\ns_sum 2\ns_count 3\n"
             FAM("g", "gauge") "g -Inf\ng{a=\"b\"} NaN 1700000000000\n");
  expect_reject(prom_check, "a 1\n");                                   /* no HELP/TYPE */
  expect_reject(prom_check, FAM("a", "gauge") "# HELP a again\na 1\n"); /* two HELPs */
  expect_reject(prom_check, "# HELP a h\na 1\n# TYPE a gauge\n");      /* TYPE late */
  expect_reject(prom_check, FAM("a", "counter") "a 1\n");              /* no _total */
  expect_reject(prom_check, FAM("a", "gauges") "a 1\n");               /* bad type */
  expect_reject(prom_check, FAM("a", "gauge") "a{x=\"q\"q\"} 1\n");     /* raw quote */
  expect_reject(prom_check, FAM("a", "gauge") "a{x=\"\\t\"} 1\n");     /* bad escape */
  expect_reject(prom_check, FAM("a", "gauge") "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n");
  expect_reject(prom_check, FAM("1a", "gauge") "1a 1\n");              /* bad name */
  expect_reject(prom_check, FAM("a", "gauge") "a{1x=\"1\"} 1\n");       /* bad label */
  expect_reject(prom_check, FAM("a", "gauge") "a{__x=\"1\"} 1\n");      /* reserved */
  expect_reject(prom_check, FAM("a", "gauge") "a one\n");              /* bad value */
  expect_reject(prom_check, FAM("a", "gauge") FAM("b", "gauge") "a 1\nb 1\na{x=\"1\"} 1\n");
  expect_reject(prom_check, FAM("a", "gauge") "a 1");                   /* no final LF */

  json_check("{\"a\":[1,-0.5e+3,true,false,null,\"\\u00e9\\ud83d\\ude00\\n\"],\"b\":{}}");
  expect_reject(json_check, "{\"a\":1,}");
  expect_reject(json_check, "[1,]");
  expect_reject(json_check, "\"a\x01\"");
  expect_reject(json_check, "\"\\x\"");
  expect_reject(json_check, "01");
  expect_reject(json_check, "\"abc");
  expect_reject(json_check, "1 2");
  expect_reject(json_check, "{'a':1}");
  expect_reject(json_check, "\"\\udc00\"");
}

/* ---- the cases ------------------------------------------------------------ */

static const ebra_snapshot_pool_t *find_pool(const ebra_snapshot_t *s, const char *name)
{
  for (uint32_t i = 0; i < s->npools; i++)
    if (strcmp(s->pools[i].name, name) == 0)
      return &s->pools[i];
  return NULL;
}

static void check_pool_entry(const ebra_snapshot_t *s, const char *name, ebra_pool_t *pool)
{
  const ebra_snapshot_pool_t *e = find_pool(s, name);
  CHECK(e != NULL);
  const ebra_pool_stats_t now = test_stats(pool);
  CHECK_EQ(e->stats.allocs, now.allocs);
  CHECK_EQ(e->stats.frees, now.frees);
  CHECK_EQ(e->stats.bytes_live, now.bytes_live);
  CHECK(memcmp(&e->stats, &now, sizeof now) == 0);
}

static void test_snapshot_and_formats(void)
{
  CHECK_EQ(ebra_maintain(), 0); /* one engine step, before the domain exists */
  ebra_pool_t *conn = test_pool("conn", SIZE);
  ebra_pool_t *weird = test_pool(WEIRD, SIZE * 2);
  ebra_domain_config_t dc = {.name = DOMAIN_NAME};
  ebra_domain_t *dom = ebra_domain_create(&dc);
  CHECK(dom != NULL);

  static void *obj[100];
  for (int i = 0; i < 100; i++)
    CHECK((obj[i] = ebra_pool_alloc(conn)) != NULL);
  for (int i = 0; i < 40; i++)
    CHECK_EQ(ebra_pool_free(conn, obj[i]), 0);
  for (int i = 40; i < 45; i++)
    CHECK_EQ(ebra_retire(dom, obj[i]), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  for (int i = 0; i < 10; i++)
    CHECK(ebra_pool_alloc(weird) != NULL);

  ebra_snapshot_t *s = NULL;
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK(s != NULL);
  CHECK_EQ(s->npools, 2);
  CHECK_EQ(s->ndomains, 1);
  CHECK(s->resident_bytes > 0);
  check_pool_entry(s, "conn", conn);
  check_pool_entry(s, WEIRD, weird);
  CHECK_EQ(find_pool(s, "conn")->stats.objects_live, 55);
  CHECK_EQ(find_pool(s, WEIRD)->stats.bytes_live, 10 * SIZE * 2);
  CHECK_EQ(s->bytes_live, 55 * SIZE + 10 * SIZE * 2);
  CHECK_EQ(s->bytes_reserved,
           test_stats(conn).bytes_reserved + test_stats(weird).bytes_reserved);
  const ebra_snapshot_domain_t *d = &s->domains[0];
  CHECK(strcmp(d->name, DOMAIN_NAME) == 0);
  CHECK(strcmp(d->backend_name, ebra_reclaim_backend_name(ebra_domain_backend(dom))) == 0);
  CHECK_EQ(d->stats.retired, 5);
  CHECK_EQ(d->stats.reclaimed, 5);
  CHECK_EQ(d->stats.pending, 0);
  CHECK(d->stats.grace_periods >= 1);

  buf_t prom = {0}, json = {0}, text = {0};
  CHECK_EQ(ebra_snapshot_print_prometheus(s, buf_append, &prom), 0);
  CHECK_EQ(ebra_snapshot_print_json(s, buf_append, &json), 0);
  CHECK_EQ(ebra_snapshot_print_text(s, buf_append, &text), 0);
  if (getenv("EBRA_TEST_VERBOSE"))
    printf("\n%s%s%s", text.p, json.p, prom.p);

  prom_t *p = calloc(1, sizeof *p);
  CHECK(p != NULL);
  prom_validate(p, prom.p);
  CHECK_EQ(p->npool_labels, 2);
  CHECK(strcmp(p->pool_labels[0], "conn") == 0 || strcmp(p->pool_labels[1], "conn") == 0);
  CHECK(strcmp(p->pool_labels[0], WEIRD) == 0 || strcmp(p->pool_labels[1], WEIRD) == 0);
  CHECK_EQ(prom_count(p, "ebra_pool_allocations_total\x1f"), 2);
  CHECK_EQ(prom_count(p, "ebra_domain_retired_total\x1f"), 1);
  CHECK_EQ(prom_count(p, "ebra_process_resident_bytes"), 1);
  CHECK_EQ(prom_count(p, "ebra_engine_steps_total"), 1);
  CHECK(strstr(prom.p, "\nebra_engine_steps_total 1\n") != NULL);
  CHECK(strstr(prom.p, "\nebra_engine_active_strategy{strategy=\"low-latency\"} 1\n") != NULL);
  CHECK(strstr(prom.p, "\nebra_engine_active_strategy{strategy=\"memory-efficient\"} 0\n") != NULL);
  CHECK(strstr(prom.p, "ebra_pool_allocations_total{pool=\"conn\",id=") != NULL);
  CHECK(strstr(prom.p, "{pool=\"we\\\"ird\\\\pool\\nname\",id=") != NULL);
  prom_release(p);
  free(p);

  json_t j;
  json_validate(&j, json.p);
  CHECK_EQ(j.nnames, 3);
  CHECK(json_has_name(&j, "conn"));
  CHECK(json_has_name(&j, WEIRD));
  CHECK(json_has_name(&j, DOMAIN_NAME));
  CHECK(strstr(json.p, "\"dom\\tain\\u0001\"") != NULL);
  CHECK(strstr(json.p, "\"engine\":{\"configured\":\"adaptive\",\"active\":\"low-latency\","
                       "\"steps\":1,") != NULL);

  CHECK(strstr(text.p, "pool \"conn\"") != NULL);
  CHECK(strstr(text.p, "domain ") != NULL);
  CHECK(strstr(text.p, "engine: low-latency (configured adaptive):\n  steps 1,") != NULL);
  free(prom.p);
  free(json.p);
  free(text.p);
  ebra_snapshot_free(s);

  /* A destroyed pool is gone from the next snapshot. */
  for (int i = 45; i < 100; i++)
    CHECK_EQ(ebra_pool_free(conn, obj[i]), 0);
  CHECK_EQ(ebra_pool_destroy(conn), 0);
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK_EQ(s->npools, 1);
  CHECK(find_pool(s, "conn") == NULL);
  CHECK(find_pool(s, WEIRD) != NULL);
  ebra_snapshot_free(s);

  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK_EQ(s->ndomains, 0);
  ebra_snapshot_free(s);
  CHECK_EQ(ebra_pool_destroy(weird), 0); /* 10 objects still live */
  test_hook_reset(); /* the weird pool's live objects were reported */
}

static void test_invalid(void)
{
  CHECK_EQ(ebra_snapshot(NULL), -EINVAL);
  ebra_snapshot_free(NULL);
  CHECK_EQ(ebra_snapshot_print_text(NULL, NULL, NULL), -EINVAL);
  CHECK_EQ(ebra_snapshot_print_json(NULL, NULL, NULL), -EINVAL);
  CHECK_EQ(ebra_snapshot_print_prometheus(NULL, NULL, NULL), -EINVAL);
  CHECK_REPORTS(EBRA_ERR_BAD_CALL, 4); /* every misuse is reported (error.h) */
}

/* Large output goes out in several pieces, and still validates. */
static void test_many_pools(void)
{
  enum { N = 60 };
  ebra_pool_t *pools[N];
  char name[32];
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "many-%d", i);
    pools[i] = test_pool(name, SIZE);
  }
  ebra_snapshot_t *s = NULL;
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK_EQ(s->npools, N);
  buf_t prom = {0}, json = {0};
  CHECK_EQ(ebra_snapshot_print_prometheus(s, buf_append, &prom), 0);
  CHECK_EQ(ebra_snapshot_print_json(s, buf_append, &json), 0);
  CHECK(prom.calls > 1);
  prom_t *p = calloc(1, sizeof *p);
  CHECK(p != NULL);
  prom_validate(p, prom.p);
  CHECK_EQ(prom_count(p, "ebra_pool_live_bytes\x1f"), N);
  prom_release(p);
  free(p);
  json_t j;
  json_validate(&j, json.p);
  free(prom.p);
  free(json.p);
  ebra_snapshot_free(s);
  for (int i = 0; i < N; i++)
    CHECK_EQ(ebra_pool_destroy(pools[i]), 0);
  CHECK_NO_REPORTS();
}

/* A name cut inside a UTF-8 character (at EBRA_POOL_NAME_MAX - 1 bytes)
 * comes out with U+FFFD in its place, in JSON and in Prometheus. */
static void test_truncated_utf8(void)
{
  char name[EBRA_POOL_NAME_MAX + 8];
  memset(name, 'a', EBRA_POOL_NAME_MAX - 2);
  strcpy(name + EBRA_POOL_NAME_MAX - 2, "\xC3\xA9"); /* U+00E9 across the cut */
  ebra_pool_t *pool = test_pool(name, SIZE);
  ebra_snapshot_t *s = NULL;
  CHECK_EQ(ebra_snapshot(&s), 0);
  buf_t prom = {0}, json = {0};
  CHECK_EQ(ebra_snapshot_print_prometheus(s, buf_append, &prom), 0);
  CHECK_EQ(ebra_snapshot_print_json(s, buf_append, &json), 0);
  char want[EBRA_POOL_NAME_MAX + 8];
  memset(want, 'a', EBRA_POOL_NAME_MAX - 2);
  strcpy(want + EBRA_POOL_NAME_MAX - 2, "\xEF\xBF\xBD");
  json_t j;
  json_validate(&j, json.p);
  CHECK(json_has_name(&j, want));
  prom_t *p = calloc(1, sizeof *p);
  CHECK(p != NULL);
  prom_validate(p, prom.p);
  CHECK_EQ(p->npool_labels, 1);
  CHECK(strcmp(p->pool_labels[0], want) == 0);
  prom_release(p);
  free(p);
  CHECK(strstr(prom.p, "\xC3\"") == NULL);
  free(prom.p);
  free(json.p);
  ebra_snapshot_free(s);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

/* Weak-cache metrics: after known work, the snapshot's entry equals
 * ebra_cache_stats, and every format carries it: Prometheus (validated;
 * each ebra_cache_* family has one sample, labelled with the escaped name
 * and id, with the exact value), JSON (validated; a "caches" array whose
 * name decodes back) and text.  A destroyed cache is absent afterwards. */
static const char CACHE_NAME[] = "ca\"che\n";

/* 1 for a hit (0, object set), 0 for a miss (-ENOENT, *out NULL); any
 * other result fails.  Inside a read section. */
static int cache_hit(ebra_cache_t *c, uint64_t key)
{
  void *o = &o;
  const int rc = ebra_cache_lookup_u64(c, key, &o);
  if (rc == 0) {
    CHECK(o != NULL);
    return 1;
  }
  CHECK_EQ(rc, -ENOENT);
  CHECK(o == NULL);
  return 0;
}

static void test_cache_metrics(void)
{
  ebra_pool_t *pool = test_pool("cached", SIZE);
  ebra_domain_t *dom = ebra_domain_create(&(ebra_domain_config_t){.name = "cd"});
  CHECK(dom != NULL);
  ebra_weak_table_t *tab = ebra_weak_table_create(dom, NULL);
  CHECK(tab != NULL);
  ebra_cache_config_t cfg = {.name = CACHE_NAME, .key_kind = EBRA_CACHE_KEY_U64,
                             .max_entries = 2, .ttl_ns = 3600000000000ull};
  ebra_cache_t *c = ebra_cache_create(tab, &cfg);
  CHECK(c != NULL);
  ebra_weak_t h[4];
  for (int i = 0; i < 4; i++) {
    void *o = ebra_pool_alloc(pool);
    CHECK(o != NULL);
    CHECK_EQ(ebra_weak_create(tab, o, &h[i]), 0);
    CHECK(h[i] != EBRA_WEAK_NONE);
  }
  CHECK_EQ(ebra_cache_store_u64(c, 0, h[0]), 0);
  CHECK_EQ(ebra_cache_store_u64(c, 1, h[1]), 0);
  CHECK_EQ(ebra_cache_store_u64(c, 1, h[2]), 0);  /* replaces; its slot evicts key 0 */
  CHECK_EQ(ebra_cache_store_u64(c, 3, h[3]), 0);  /* takes the replaced entry's slot */
  CHECK_EQ(ebra_read_lock(dom), 0);
  const int hits = cache_hit(c, 0) + cache_hit(c, 1) + cache_hit(c, 3);
  CHECK_EQ(cache_hit(c, 9), 0);
  ebra_read_unlock(dom);
  CHECK_EQ(hits, 2);
  CHECK_EQ(ebra_weak_kill(tab, h[3]), 0);         /* dies */
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  ebra_cache_stats_t want;
  CHECK_EQ(ebra_cache_stats(c, &want), 0);
  CHECK_EQ(want.hits, 2);
  CHECK_EQ(want.misses, 2);
  CHECK_EQ(want.stores, 4);
  CHECK_EQ(want.replacements, 1);
  CHECK_EQ(want.evictions, 1);
  CHECK_EQ(want.deaths, 1);
  CHECK_EQ(want.size, 1); /* key 1 */

  ebra_snapshot_t *s = NULL;
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK_EQ(s->ncaches, 1);
  CHECK(strcmp(s->caches[0].name, CACHE_NAME) == 0);
  CHECK(memcmp(&s->caches[0].stats, &want, sizeof want) == 0);
  buf_t prom = {0}, json = {0}, text = {0};
  CHECK_EQ(ebra_snapshot_print_prometheus(s, buf_append, &prom), 0);
  CHECK_EQ(ebra_snapshot_print_json(s, buf_append, &json), 0);
  CHECK_EQ(ebra_snapshot_print_text(s, buf_append, &text), 0);
  if (getenv("EBRA_TEST_VERBOSE"))
    printf("\n%s%s%s", text.p, json.p, prom.p);
  prom_t *p = calloc(1, sizeof *p);
  CHECK(p != NULL);
  prom_validate(p, prom.p);
  static const char *const families[] = {
      "ebra_cache_hits_total", "ebra_cache_misses_total", "ebra_cache_stores_total",
      "ebra_cache_evictions_total", "ebra_cache_expirations_total", "ebra_cache_deaths_total",
      "ebra_cache_erasures_total", "ebra_cache_replacements_total", "ebra_cache_entries",
      "ebra_cache_max_entries"};
  for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
    char key[128];
    snprintf(key, sizeof key, "%s\x1f", families[i]);
    CHECK_EQ(prom_count(p, key), 1);
  }
  CHECK_EQ(prom_count(p, "ebra_caches"), 1);
  char line[256];
  snprintf(line, sizeof line, "ebra_cache_hits_total{cache=\"ca\\\"che\\n\",id=\"%u\"} 2\n",
           s->caches[0].id);
  CHECK(strstr(prom.p, line) != NULL);
  CHECK(strstr(prom.p, "ebra_cache_evictions_total{cache=") != NULL);
  CHECK(strstr(prom.p, "ebra_cache_max_entries{cache=\"ca\\\"che\\n\",id=") != NULL);
  prom_release(p);
  free(p);
  json_t j;
  json_validate(&j, json.p);
  CHECK(json_has_name(&j, CACHE_NAME));
  CHECK(strstr(json.p, "\"caches\":[{\"id\":") != NULL);
  CHECK(strstr(json.p, "\"deaths\":1,") != NULL);
  CHECK(strstr(text.p, "cache \"ca\\\"che\\n\"") != NULL);
  free(prom.p);
  free(json.p);
  free(text.p);
  ebra_snapshot_free(s);

  CHECK_EQ(ebra_cache_destroy(c), 0);
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK_EQ(s->ncaches, 0);
  ebra_snapshot_free(s);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(ebra_weak_kill(tab, h[i]), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_weak_table_destroy(tab), 0);
  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

/* ---- the three formats print the same fields ------------------------------------ */

/* Each field of ebra_pool_stats_t: its key in text and JSON, and its
 * Prometheus family (the documented contract, listed here independently of
 * the library's table). */
static const struct {
  const char *key, *metric;
} POOL_FIELDS[] = {
    {"allocs", "ebra_pool_allocations_total"},
    {"frees", "ebra_pool_frees_total"},
    {"magazine_hits", "ebra_pool_magazine_hits_total"},
    {"magazine_misses", "ebra_pool_magazine_misses_total"},
    {"depot_exchanges", "ebra_pool_depot_exchanges_total"},
    {"depot_contention", "ebra_pool_depot_contention_total"},
    {"slabs", "ebra_pool_slabs"},
    {"bytes_reserved", "ebra_pool_reserved_bytes"},
    {"bytes_live", "ebra_pool_live_bytes"},
    {"objects_live", "ebra_pool_live_objects"},
    {"objects_carved", "ebra_pool_carved_objects_total"},
    {"depot_full", "ebra_pool_depot_full_magazines"},
    {"depot_empty", "ebra_pool_depot_empty_magazines"},
    {"errors", "ebra_pool_errors_total"},
    {"threads", "ebra_pool_threads"},
    {"magazine_capacity", "ebra_pool_magazine_capacity"},
    {"object_size", "ebra_pool_object_size_bytes"},
    {"stride", "ebra_pool_stride_bytes"},
    {"objects_in_slabs", "ebra_pool_slab_free_objects"},
    {"bytes_purged", "ebra_pool_purged_bytes"},
    {"slabs_purged", "ebra_pool_slab_purges_total"},
    {"magazines_trimmed", "ebra_pool_magazines_trimmed_total"},
    {"depot_parked", "ebra_pool_depot_parked_magazines"},
    {"depot_objects", "ebra_pool_depot_objects_total"},
    {"max_objects", "ebra_pool_max_objects"},
};

enum { MAXKEYS = 64 };

typedef struct keys_s {
  char key[MAXKEYS][40];
  unsigned long long val[MAXKEYS];
  int n;
} keys_t;

static void keys_add(keys_t *k, const char *key, unsigned long long v)
{
  CHECK(k->n < MAXKEYS && strlen(key) < sizeof k->key[0]);
  strcpy(k->key[k->n], key);
  k->val[k->n++] = v;
}

/* The "key value" pairs of the text block whose first line starts with
 * head: the indented lines below it, "key value" separated by ", ". */
static void text_keys(const char *text, const char *head, keys_t *k)
{
  memset(k, 0, sizeof *k);
  const char *p = strstr(text, head);
  CHECK(p != NULL && (p == text || p[-1] == '\n'));
  p = strchr(p, '\n') + 1;
  while (p[0] == ' ' && p[1] == ' ') {
    p += 2;
    for (;;) {
      char key[40];
      unsigned long long v;
      int used = 0;
      CHECK(sscanf(p, "%39s %llu%n", key, &v, &used) == 2);
      keys_add(k, key, v);
      p += used;
      if (p[0] == ',' && p[1] == ' ') {
        p += 2;
        continue;
      }
      CHECK(*p == '\n');
      p++;
      break;
    }
  }
}

/* The numeric members that follow head inside one JSON object, up to its
 * closing brace. */
static void json_keys(const char *json, const char *head, keys_t *k)
{
  memset(k, 0, sizeof *k);
  const char *p = strstr(json, head);
  CHECK(p != NULL);
  p += strlen(head);
  while (*p == ',') {
    char key[40];
    unsigned long long v;
    int used = 0;
    CHECK(sscanf(p, ",\"%39[^\"]\":%llu%n", key, &v, &used) == 2);
    keys_add(k, key, v);
    p += used;
  }
  CHECK(*p == '}');
}

static void check_same_keys(const keys_t *a, const keys_t *b)
{
  CHECK_EQ(a->n, b->n);
  for (int i = 0; i < a->n; i++) {
    CHECK(strcmp(a->key[i], b->key[i]) == 0);
    CHECK_EQ(a->val[i], b->val[i]); /* one snapshot: the same numbers */
  }
}

/* Lines of prom that start with prefix and contain needle. */
static int prom_lines(const char *prom, const char *prefix, const char *needle)
{
  int n = 0;
  for (const char *line = prom; *line; line = strchr(line, '\n') + 1) {
    const char *end = strchr(line, '\n');
    if (strncmp(line, prefix, strlen(prefix)) == 0) {
      const char *at = strstr(line, needle);
      n += at != NULL && at < end;
    }
  }
  return n;
}

/* Text, JSON and Prometheus print the same fields of each pool, domain and
 * the engine: text and JSON the same keys in the same order with the same
 * values, Prometheus one family per key (for pools, the family the key is
 * documented to have, with the same value). */
static void test_same_fields(void)
{
  ebra_pool_t *pool = test_pool("same", SIZE);
  ebra_domain_t *dom = ebra_domain_create(&(ebra_domain_config_t){.name = "sd"});
  CHECK(dom != NULL);
  void *o = ebra_pool_alloc(pool);
  CHECK(o != NULL);
  CHECK_EQ(ebra_retire(dom, o), 0);
  CHECK_EQ(ebra_domain_barrier(dom), 0);
  CHECK_EQ(ebra_maintain(), 0);
  test_hook_reset(); /* the step reported the new domain's batching */
  ebra_snapshot_t *s = NULL;
  CHECK_EQ(ebra_snapshot(&s), 0);
  CHECK_EQ(s->npools, 1);
  CHECK_EQ(s->ndomains, 1);
  const uint32_t pid = s->pools[0].id, did = s->domains[0].id;
  buf_t prom = {0}, json = {0}, text = {0};
  CHECK_EQ(ebra_snapshot_print_prometheus(s, buf_append, &prom), 0);
  CHECK_EQ(ebra_snapshot_print_json(s, buf_append, &json), 0);
  CHECK_EQ(ebra_snapshot_print_text(s, buf_append, &text), 0);

  keys_t t, j;
  char head[128];
  /* pools */
  text_keys(text.p, "pool \"same\" (id ", &t);
  snprintf(head, sizeof head, "{\"id\":%u,\"name\":\"same\"", pid);
  json_keys(json.p, head, &j);
  check_same_keys(&t, &j);
  CHECK_EQ(t.n, (int)(sizeof POOL_FIELDS / sizeof POOL_FIELDS[0]));
  for (int i = 0; i < t.n; i++) {
    CHECK(strcmp(t.key[i], POOL_FIELDS[i].key) == 0);
    char line[160];
    snprintf(line, sizeof line, "\n%s{pool=\"same\",id=\"%u\"} %llu\n", POOL_FIELDS[i].metric,
             pid, t.val[i]);
    CHECK(strstr(prom.p, line) != NULL);
  }
  CHECK_EQ(prom_lines(prom.p, "ebra_pool_", "{pool=\"same\","), t.n);
  /* the pool's text block is ebra_pool_print_stats's output */
  buf_t one = {0};
  CHECK_EQ(ebra_pool_print_stats(pool, buf_append, &one), 0);
  keys_t p1;
  text_keys(one.p, "pool \"same\" (id ", &p1);
  CHECK_EQ(p1.n, t.n);
  for (int i = 0; i < t.n; i++)
    CHECK(strcmp(p1.key[i], t.key[i]) == 0);
  /* domains */
  text_keys(text.p, "domain \"sd\" (id ", &t);
  snprintf(head, sizeof head, "{\"id\":%u,\"name\":\"sd\",\"backend\":\"%s\"", did,
           s->domains[0].backend_name);
  json_keys(json.p, head, &j);
  check_same_keys(&t, &j);
  CHECK(t.n >= 15);
  CHECK_EQ(prom_lines(prom.p, "ebra_domain_", "{domain=\"sd\","), t.n);
  /* the engine (its families have no labels; the strategy gauges do) */
  text_keys(text.p, "engine: ", &t);
  json_keys(json.p, "\"active\":\"low-latency\"", &j);
  check_same_keys(&t, &j);
  CHECK(t.n >= 16);
  int unlabelled = 0;
  for (const char *line = prom.p; *line; line = strchr(line, '\n') + 1)
    unlabelled += strncmp(line, "ebra_engine_", 12) == 0 && strcspn(line, "{\n") == strcspn(line, "\n");
  CHECK_EQ(unlabelled, t.n);

  free(one.p);
  free(prom.p);
  free(json.p);
  free(text.p);
  ebra_snapshot_free(s);
  CHECK_EQ(ebra_domain_unregister_thread(dom), 0);
  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

/* The Prometheus output passes `promtool check metrics` (the reference
 * parser and linter), when promtool is installed. */
static void test_promtool(void)
{
  if (system("command -v promtool >/dev/null 2>&1") != 0) {
    printf(" [skipped: promtool not installed]");
    return;
  }
  ebra_pool_t *pool = test_pool(WEIRD, SIZE);
  ebra_domain_t *dom = ebra_domain_create(&(ebra_domain_config_t){.name = DOMAIN_NAME});
  CHECK(dom != NULL);
  CHECK_EQ(ebra_maintain(), 0);
  test_hook_reset(); /* the step reported the new domain's batching */
  ebra_snapshot_t *s = NULL;
  CHECK_EQ(ebra_snapshot(&s), 0);
  buf_t prom = {0};
  CHECK_EQ(ebra_snapshot_print_prometheus(s, buf_append, &prom), 0);
  char path[] = "/tmp/ebra-promtool-XXXXXX";
  const int fd = mkstemp(path);
  CHECK(fd >= 0);
  FILE *f = fdopen(fd, "w");
  CHECK(f != NULL);
  CHECK_EQ(fwrite(prom.p, 1, prom.len, f), prom.len);
  CHECK_EQ(fclose(f), 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
  fflush(stdout);
  const int rc = system(cmd);
  unlink(path);
  CHECK(rc == 0); /* promtool printed what it rejected */
  free(prom.p);
  ebra_snapshot_free(s);
  CHECK_EQ(ebra_domain_destroy(dom), 0);
  CHECK_EQ(ebra_pool_destroy(pool), 0);
  CHECK_NO_REPORTS();
}

static _Atomic int churn_stop;
static _Atomic unsigned churn_turns;
static ebra_pool_t *steady_pool;
static ebra_domain_t *steady_dom;

/* Create, use and destroy a pool each turn, and a domain every 16th; keep
 * allocating, freeing and retiring on the steady pool and domain. */
static void *churn(void *arg)
{
  (void)arg;
  for (unsigned turn = 0; !atomic_load(&churn_stop); turn++) {
    ebra_pool_t *pool = test_pool("churn", SIZE);
    void *o[8];
    for (int i = 0; i < 8; i++)
      CHECK((o[i] = ebra_pool_alloc(pool)) != NULL);
    for (int i = 0; i < 8; i++)
      CHECK_EQ(ebra_pool_free(pool, o[i]), 0);
    CHECK_EQ(ebra_pool_destroy(pool), 0);
    for (int i = 0; i < 8; i++)
      CHECK((o[i] = ebra_pool_alloc(steady_pool)) != NULL);
    for (int i = 0; i < 4; i++)
      CHECK_EQ(ebra_pool_free(steady_pool, o[i]), 0);
    for (int i = 4; i < 8; i++)
      CHECK_EQ(ebra_retire(steady_dom, o[i]), 0);
    if (turn % 16 == 0) {
      ebra_domain_t *d = ebra_domain_create(&(ebra_domain_config_t){.name = "churn"});
      CHECK(d != NULL);
      CHECK_EQ(ebra_domain_destroy(d), 0);
    }
    atomic_fetch_add(&churn_turns, 1);
  }
  return NULL;
}

/* Snapshots during concurrent create/use/destroy: every entry consistent,
 * counters of the steady pool and domain never go back, no report (a pool
 * or domain destroyed meanwhile is simply absent). */
static void test_concurrent_destroy(void)
{
  steady_pool = test_pool("steady", SIZE);
  steady_dom = ebra_domain_create(&(ebra_domain_config_t){.name = "steady"});
  CHECK(steady_dom != NULL);
  pthread_t t;
  atomic_store(&churn_stop, 0);
  atomic_store(&churn_turns, 0);
  CHECK_EQ(pthread_create(&t, NULL, churn, NULL), 0);
  uint64_t last_allocs = 0, last_retired = 0;
  /* At least 300 snapshots, over at least 64 churn turns (4 domains); the
   * turns are counted before each snapshot, so the last one is taken after
   * the 64th turn even if this thread was descheduled meanwhile. */
  unsigned turns_before = 0;
  for (int k = 0; k < 300 || turns_before < 64; k++) {
    turns_before = atomic_load(&churn_turns);
    ebra_snapshot_t *s = NULL;
    CHECK_EQ(ebra_snapshot(&s), 0);
    CHECK(s->npools >= 1 && s->npools <= 2);
    CHECK(s->ndomains >= 1 && s->ndomains <= 2);
    for (uint32_t i = 0; i < s->npools; i++) {
      const ebra_pool_stats_t *st = &s->pools[i].stats;
      CHECK_EQ(st->objects_live, st->allocs - st->frees);
      CHECK_EQ(st->magazine_hits + st->magazine_misses, st->allocs + st->frees);
      if (strcmp(s->pools[i].name, "steady") == 0) {
        CHECK(st->allocs >= last_allocs);
        last_allocs = st->allocs;
      } else {
        CHECK(strcmp(s->pools[i].name, "churn") == 0);
        CHECK(st->objects_live <= 8);
      }
    }
    for (uint32_t i = 0; i < s->ndomains; i++) {
      const ebra_domain_stats_t *st = &s->domains[i].stats;
      CHECK(st->reclaimed <= st->retired);
      CHECK_EQ(st->pending, st->retired - st->reclaimed);
      if (strcmp(s->domains[i].name, "steady") == 0) {
        CHECK(st->retired >= last_retired);
        last_retired = st->retired;
      }
    }
    ebra_snapshot_free(s);
  }
  atomic_store(&churn_stop, 1);
  CHECK_EQ(pthread_join(t, NULL), 0);
  CHECK(last_allocs > 0);
  CHECK_EQ(ebra_domain_barrier(steady_dom), 0);
  CHECK_EQ(ebra_domain_destroy(steady_dom), 0);
  CHECK_EQ(ebra_pool_destroy(steady_pool), 0);
  CHECK_NO_REPORTS();
}

int main(void)
{
  test_hook_install();
  TEST_RUN(test_validators);
  TEST_RUN(test_invalid);
  TEST_RUN(test_snapshot_and_formats);
  TEST_RUN(test_many_pools);
  TEST_RUN(test_truncated_utf8);
  TEST_RUN(test_cache_metrics);
  TEST_RUN(test_same_fields);
  TEST_RUN(test_promtool);
  TEST_RUN(test_concurrent_destroy);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* demo.c — ebra in a small server-shaped program.
 *
 * Acceptor threads open connections and turn them into requests; handler
 * threads process the requests and free them.  Every request is therefore
 * allocated by one thread and freed by another: the freed objects land in
 * the handler's magazines and flow back to the acceptors through the depot.
 *
 *     acceptor 0 --+                      +--> handler 0 --> free(request)
 *     acceptor 1 --+-- one inbox queue ---+--> handler 1 --> free(request)
 *     ...          |   per handler        |    ...           last reference:
 *                                                            free(connection)
 *
 * A few connections per acceptor live for the whole run; most are short (a
 * handful of requests, then closed).  A connection is reference counted:
 * one reference for its acceptor plus one per request in flight, and the
 * thread that drops the last one frees it, so connections too are usually
 * freed by a thread other than the one that allocated them.
 *
 * The program checks its own results and exits 1 if any check fails:
 *   - every request is processed exactly once (a counter per request id);
 *   - every request's payload arrives intact (no two live objects overlap);
 *   - a connection has seen all of its requests when it is freed;
 *   - at the end both pools have no live object, and allocs == frees.
 *
 * Usage: ebra_demo [threads [requests]]      (default: 8 threads, 3000000)
 */
#define _POSIX_C_SOURCE 200809L

#include <ebra.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the objects ----------------------------------------------------------- */

/* A connection, about 200 bytes.  Every handler that finishes one of its
 * requests writes its counters, so the pool aligns connections to a cache
 * line (alignment 64): two connections never share one. */
struct conn {
  atomic_uint refs;              /* 1 for the acceptor + 1 per request in flight */
  atomic_uint requests_done;     /* requests processed by handlers */
  atomic_uint_fast64_t bytes_in; /* payload bytes processed */
  unsigned requests_sent;        /* written by the acceptor only, before it
                                    drops its reference */
  unsigned acceptor;
  uint64_t id;
  char peer[48];                 /* "10.0.3.7:51234" */
  char user_agent[120];
};

/* A request, exactly 64 bytes.  Its payload is a pattern derived from its
 * id, so the handler can tell whether anything else wrote into it. */
struct request {
  uint64_t id;      /* unique over the run: 0 .. requests-1 */
  struct conn *conn;
  uint32_t len;     /* payload bytes used */
  uint32_t check;   /* checksum of payload[0..len) */
  uint8_t payload[40];
};
_Static_assert(sizeof(struct request) == 64, "a request is 64 bytes");

enum {
  LONG_LIVED_PER_ACCEPTOR = 16, /* connections open for the whole run */
  LONG_LIVED_PERCENT = 10,      /* share of requests sent on them */
  MAX_SHORT_REQUESTS = 8,       /* a short connection sends 1..8 requests */
  QUEUE_CAPACITY = 1024,        /* requests waiting per handler */
  HANDLER_BATCH = 64,           /* requests a handler takes per lock */
  MAX_THREADS = 64,
};

/* ---- program state and failure reporting ----------------------------------- */

struct queue;

static struct {
  ebra_pool_t *conns;
  ebra_pool_t *requests;
  struct queue *inbox;          /* one per handler */
  unsigned handlers;
  atomic_uchar *seen;           /* seen[id]: times request id was processed */
  atomic_uint_fast64_t conns_freed;
  atomic_uint failures;
} g;

/* Count a failed check; print the first few. */
static void fail(const char *fmt, ...) {
  if (atomic_fetch_add_explicit(&g.failures, 1, memory_order_relaxed) >= 10)
    return;
  va_list ap;
  va_start(ap, fmt);
  fputs("ebra_demo: FAILED: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* Only for setup errors the demo cannot go on from. */
static void die(const char *what) {
  perror(what);
  exit(1);
}

/* ---- a bounded queue of requests --------------------------------------------
 * A plain mutex and two condition variables: the subject of this demo is the
 * pool, not the queue.  push() blocks while the queue is full; pop_batch()
 * blocks while it is empty and returns 0 once it is empty and closed. */

struct queue {
  pthread_mutex_t lock;
  pthread_cond_t not_empty;
  pthread_cond_t not_full;
  size_t head;  /* index of the oldest request */
  size_t count; /* requests waiting */
  bool closed;  /* no more pushes will come */
  struct request *slot[QUEUE_CAPACITY];
};

static void queue_init(struct queue *q) {
  memset(q, 0, sizeof *q);
  pthread_mutex_init(&q->lock, NULL);
  pthread_cond_init(&q->not_empty, NULL);
  pthread_cond_init(&q->not_full, NULL);
}

static void queue_push(struct queue *q, struct request *r) {
  pthread_mutex_lock(&q->lock);
  while (q->count == QUEUE_CAPACITY)
    pthread_cond_wait(&q->not_full, &q->lock);
  q->slot[(q->head + q->count) % QUEUE_CAPACITY] = r;
  q->count++;
  pthread_cond_signal(&q->not_empty);
  pthread_mutex_unlock(&q->lock);
}

static size_t queue_pop_batch(struct queue *q, struct request **out, size_t max) {
  pthread_mutex_lock(&q->lock);
  while (q->count == 0 && !q->closed)
    pthread_cond_wait(&q->not_empty, &q->lock);
  size_t n = q->count < max ? q->count : max;
  for (size_t i = 0; i < n; i++)
    out[i] = q->slot[(q->head + i) % QUEUE_CAPACITY];
  q->head = (q->head + n) % QUEUE_CAPACITY;
  q->count -= n;
  pthread_cond_broadcast(&q->not_full);
  pthread_mutex_unlock(&q->lock);
  return n;
}

static void queue_close(struct queue *q) {
  pthread_mutex_lock(&q->lock);
  q->closed = true;
  pthread_cond_broadcast(&q->not_empty);
  pthread_mutex_unlock(&q->lock);
}

static void queue_fini(struct queue *q) {
  pthread_mutex_destroy(&q->lock);
  pthread_cond_destroy(&q->not_empty);
  pthread_cond_destroy(&q->not_full);
}

/* ---- connections --------------------------------------------------------------- */

static struct conn *conn_open(unsigned acceptor, uint64_t id) {
  struct conn *c = ebra_pool_alloc(g.conns);
  if (c == NULL)
    die("ebra_pool_alloc(connection)");
  if ((uintptr_t)c % 64 != 0)
    fail("connection %p is not 64-byte aligned", (void *)c);
  atomic_init(&c->refs, 1);
  atomic_init(&c->requests_done, 0);
  atomic_init(&c->bytes_in, 0);
  c->requests_sent = 0;
  c->acceptor = acceptor;
  c->id = id;
  snprintf(c->peer, sizeof c->peer, "10.0.%u.%u:%u", acceptor,
           (unsigned)(id % 251), (unsigned)(1024 + id % 60000));
  snprintf(c->user_agent, sizeof c->user_agent, "ebra-demo/1.0 (conn %" PRIu64 ")", id);
  return c;
}

/* Drop one reference; the last one frees the connection.  The acq_rel
 * decrement orders each holder's writes (requests_sent by the acceptor,
 * the counters by the handlers) before the final check and the free. */
static void conn_release(struct conn *c) {
  if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
    return;
  unsigned done = atomic_load_explicit(&c->requests_done, memory_order_relaxed);
  if (done != c->requests_sent)
    fail("connection %" PRIu64 " freed after %u of its %u requests", c->id, done,
         c->requests_sent);
  int rc = ebra_pool_free(g.conns, c);
  if (rc != 0)
    fail("ebra_pool_free(connection) returned %d", rc);
  atomic_fetch_add_explicit(&g.conns_freed, 1, memory_order_relaxed);
}

/* ---- requests ------------------------------------------------------------------ */

static uint32_t checksum(const uint8_t *p, size_t n) { /* FNV-1a */
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

static uint8_t pattern(uint64_t id, size_t i) {
  return (uint8_t)(id * 131 + i * 7 + 1);
}

/* Acceptor side: allocate a request on c and hand it to a handler. */
static void send_request(struct conn *c, uint64_t id, unsigned handler) {
  struct request *r = ebra_pool_alloc(g.requests);
  if (r == NULL)
    die("ebra_pool_alloc(request)");
  r->id = id;
  r->conn = c;
  r->len = 8 + (uint32_t)(id % (sizeof r->payload - 7));
  for (size_t i = 0; i < r->len; i++)
    r->payload[i] = pattern(id, i);
  r->check = checksum(r->payload, r->len);

  /* Relaxed is enough: the acceptor already holds a reference. */
  atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
  c->requests_sent++;
  queue_push(&g.inbox[handler], r);
}

/* Handler side: verify, account, free.  Usually not the allocating thread. */
static void process_request(struct request *r) {
  uint64_t id = r->id;
  bool intact = r->len <= sizeof r->payload && checksum(r->payload, r->len) == r->check;
  for (size_t i = 0; intact && i < r->len; i++)
    intact = r->payload[i] == pattern(id, i);
  if (!intact) {
    fail("request %" PRIu64 " arrived corrupted", id);
    return; /* do not trust its connection pointer either */
  }
  if (ebra_pool_of(r) != g.requests)
    fail("ebra_pool_of(request %" PRIu64 ") is not the request pool", id);
  atomic_fetch_add_explicit(&g.seen[id], 1, memory_order_relaxed);

  struct conn *c = r->conn;
  atomic_fetch_add_explicit(&c->bytes_in, r->len, memory_order_relaxed);
  atomic_fetch_add_explicit(&c->requests_done, 1, memory_order_relaxed);

  int rc = ebra_pool_free(g.requests, r);
  if (rc != 0)
    fail("ebra_pool_free(request %" PRIu64 ") returned %d", id, rc);
  conn_release(c);
}

/* ---- threads -------------------------------------------------------------------- */

struct acceptor {
  pthread_t thread;
  unsigned index;
  uint64_t first_id, count;  /* this acceptor sends requests [first_id, +count) */
  uint64_t conns_opened;     /* result */
};

static uint64_t xorshift64(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void *acceptor_main(void *arg) {
  struct acceptor *a = arg;
  uint64_t rng = 0x9E3779B97F4A7C15u * (a->index + 1); /* fixed seed per thread */
  uint64_t conn_id = (uint64_t)a->index << 40;
  unsigned handler = a->index % g.handlers;

  struct conn *long_lived[LONG_LIVED_PER_ACCEPTOR];
  for (int i = 0; i < LONG_LIVED_PER_ACCEPTOR; i++)
    long_lived[i] = conn_open(a->index, conn_id++);

  uint64_t id = a->first_id, end = a->first_id + a->count;
  while (id < end) {
    uint64_t x = xorshift64(&rng);
    if (x % 100 < LONG_LIVED_PERCENT) {
      struct conn *c = long_lived[(x >> 8) % LONG_LIVED_PER_ACCEPTOR];
      send_request(c, id++, handler);
      handler = (handler + 1) % g.handlers;
    } else {
      struct conn *c = conn_open(a->index, conn_id++);
      unsigned n = 1 + (unsigned)((x >> 8) % MAX_SHORT_REQUESTS);
      for (unsigned k = 0; k < n && id < end; k++) {
        send_request(c, id++, handler);
        handler = (handler + 1) % g.handlers;
      }
      conn_release(c); /* close: the last request processed frees it */
    }
  }
  for (int i = 0; i < LONG_LIVED_PER_ACCEPTOR; i++)
    conn_release(long_lived[i]);

  a->conns_opened = conn_id - ((uint64_t)a->index << 40);
  return NULL;
}

static void *handler_main(void *arg) {
  struct queue *inbox = arg;
  struct request *batch[HANDLER_BATCH];
  size_t n;
  while ((n = queue_pop_batch(inbox, batch, HANDLER_BATCH)) > 0)
    for (size_t i = 0; i < n; i++)
      process_request(batch[i]);
  return NULL;
}

/* ---- checks and main ------------------------------------------------------------ */

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* At the end no object may be live and every alloc must have its free. */
static void check_pool_drained(ebra_pool_t *pool, uint64_t expected_allocs) {
  ebra_pool_stats_t st;
  int rc = ebra_pool_stats(pool, &st);
  if (rc != 0) {
    fail("ebra_pool_stats(%s) returned %d", ebra_pool_name(pool), rc);
    return;
  }
  if (st.allocs != expected_allocs || st.frees != expected_allocs || st.objects_live != 0)
    fail("pool %s: %" PRIu64 " allocs, %" PRIu64 " frees, %" PRIu64
         " live; expected %" PRIu64 " allocs and frees, 0 live",
         ebra_pool_name(pool), st.allocs, st.frees, st.objects_live, expected_allocs);
}

static unsigned long parse_arg(const char *s, unsigned long min, unsigned long max,
                               const char *what) {
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < min || v > max) {
    fprintf(stderr, "ebra_demo: %s must be %lu..%lu\n", what, min, max);
    fprintf(stderr, "usage: ebra_demo [threads [requests]]\n");
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  unsigned threads = argc > 1 ? (unsigned)parse_arg(argv[1], 2, MAX_THREADS, "threads") : 8;
  uint64_t total = argc > 2 ? parse_arg(argv[2], 1, 1ul << 30, "requests") : 3000000;
  unsigned acceptors = threads / 2;
  g.handlers = threads - acceptors;

  /* Two typed pools.  Connections: cache-line aligned, 256 made up front.
   * Requests: 64 bytes, default alignment, grown on demand. */
  g.conns = ebra_pool_create(&(ebra_pool_config_t){
      .name = "connection",
      .object_size = sizeof(struct conn),
      .alignment = 64,
      .prealloc = 256,
  });
  g.requests = ebra_pool_create(&(ebra_pool_config_t){
      .name = "request",
      .object_size = sizeof(struct request),
  });
  if (g.conns == NULL || g.requests == NULL)
    die("ebra_pool_create");

  g.seen = calloc(total, sizeof *g.seen);
  g.inbox = malloc(g.handlers * sizeof *g.inbox);
  struct acceptor *acc = calloc(acceptors, sizeof *acc);
  pthread_t *hthreads = calloc(g.handlers, sizeof *hthreads);
  if (g.seen == NULL || g.inbox == NULL || acc == NULL || hthreads == NULL)
    die("malloc");

  double t0 = now_seconds();
  for (unsigned h = 0; h < g.handlers; h++) {
    queue_init(&g.inbox[h]);
    if (pthread_create(&hthreads[h], NULL, handler_main, &g.inbox[h]) != 0)
      die("pthread_create");
  }
  for (unsigned i = 0; i < acceptors; i++) {
    acc[i].index = i;
    acc[i].first_id = total * i / acceptors;
    acc[i].count = total * (i + 1) / acceptors - acc[i].first_id;
    if (pthread_create(&acc[i].thread, NULL, acceptor_main, &acc[i]) != 0)
      die("pthread_create");
  }
  for (unsigned i = 0; i < acceptors; i++)
    pthread_join(acc[i].thread, NULL);
  for (unsigned h = 0; h < g.handlers; h++)
    queue_close(&g.inbox[h]);
  for (unsigned h = 0; h < g.handlers; h++)
    pthread_join(hthreads[h], NULL);
  double elapsed = now_seconds() - t0;

  /* Every request exactly once. */
  uint64_t missing = 0, repeated = 0;
  for (uint64_t id = 0; id < total; id++) {
    unsigned n = atomic_load_explicit(&g.seen[id], memory_order_relaxed);
    missing += n == 0;
    repeated += n > 1;
  }
  if (missing != 0 || repeated != 0)
    fail("%" PRIu64 " requests never processed, %" PRIu64 " processed more than once",
         missing, repeated);

  /* Every connection freed exactly once, and both pools drained. */
  uint64_t conns_opened = 0;
  for (unsigned i = 0; i < acceptors; i++)
    conns_opened += acc[i].conns_opened;
  uint64_t conns_freed = atomic_load(&g.conns_freed);
  if (conns_freed != conns_opened)
    fail("%" PRIu64 " connections opened but %" PRIu64 " freed", conns_opened, conns_freed);
  check_pool_drained(g.conns, conns_opened);
  check_pool_drained(g.requests, total);

  ebra_pool_print_stats(g.conns, NULL, NULL);
  ebra_pool_print_stats(g.requests, NULL, NULL);
  printf("ebra_demo: %" PRIu64 " requests on %" PRIu64 " connections in %.2f s, "
         "%u acceptor + %u handler threads: %.2f M requests/s\n",
         total, conns_opened, elapsed, acceptors, g.handlers,
         (double)total / elapsed / 1e6);

  if (ebra_pool_destroy(g.conns) != 0 || ebra_pool_destroy(g.requests) != 0)
    fail("ebra_pool_destroy");
  for (unsigned h = 0; h < g.handlers; h++)
    queue_fini(&g.inbox[h]);
  free(hthreads);
  free(acc);
  free(g.inbox);
  free(g.seen);

  unsigned failures = atomic_load(&g.failures);
  if (failures != 0) {
    fprintf(stderr, "ebra_demo: %u check(s) FAILED\n", failures);
    return 1;
  }
  printf("ebra_demo: all checks passed\n");
  return 0;
}

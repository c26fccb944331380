/* SPDX-License-Identifier: MIT */
/* kvserver.c — a multithreaded key-value server on ebra that speaks
 * enough of the Redis protocol (RESP2) for redis-cli and redis-benchmark.
 *
 *   N workers, each with its own SO_REUSEPORT listening socket and epoll
 *   loop; a connection lives on the worker that accepted it.
 *
 * Where ebra is used:
 *   - connections are objects of an ebra pool, each with a weak handle;
 *     closing kills the handle, and the object returns to its pool after a
 *     grace period (its cleanup frees its push buffer first);
 *   - the client registry is a weak cache (ebra/cache.h) of handles by
 *     client id: CLIENT LIST and CLIENT KILL look connections of other
 *     workers up in it, lock-free, and a closed connection leaves it by
 *     itself;
 *   - keyspace notifications (SUBSCRIBE __keyevent@0__:set|del|expired)
 *     are weak observers (ebra/observer.h): a subscriber that disconnects
 *     drops out of the subject without unsubscribing;
 *   - the keyspace (keyspace.c) is a cds_lfht read inside ebra read
 *     sections, its entries retired to the domain; values come from
 *     values.c (ebra size-class pools);
 *   - --maxmemory is ebra's hard limit: a write that cannot allocate
 *     answers -OOM as Redis does, and serving resumes once keys are
 *     deleted;
 *   - the strategy engine runs in the background; /metrics serves
 *     ebra_snapshot_print_prometheus plus the server's counters
 *     (libmicrohttpd); EBRA_SHOW_STATS=1 prints the snapshot at shutdown.
 *
 * SIGTERM or SIGINT: the workers close every connection, then everything
 * is destroyed in order, and the exit status is 0 only if every destroy
 * found nothing live.
 *
 * Invariants (ownership is in server.h)
 *   W1  a connection is closed only by its owner worker, once: conn_close
 *       unlinks it (under list_mu) and kills its handle, so it leaves the
 *       client cache and the event subjects by itself and returns to its
 *       pool after a grace period.
 *   W2  a worker handles its eventfd after the other events of an
 *       epoll_wait batch: the eventfd may close any of its connections,
 *       and a batch event of a closed connection would point at an object
 *       already on its way back to the pool.  A connection event closes
 *       only that connection, which appears once per batch.
 *   W3  another thread touches a connection only inside a read section of
 *       the domain, reached through its weak handle (the cache or a
 *       subject), so the object cannot be reclaimed under it; it reads only
 *       immutable fields and atomics and writes only the push buffer
 *       (under push_mu, a leaf lock) and the kill/push flags.
 *   W4  every ebra object is created before the workers start and
 *       destroyed after they are joined; the keyspace's entries are all
 *       reclaimed (ks_fini) before the domain and the pools are destroyed.
 *
 * Usage: kvserver [--port N] [--threads N] [--maxmemory SIZE]
 *                 [--metrics-port N|-1] [--port-file FILE]
 */
#define _GNU_SOURCE
#include "server.h"
#include "values.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
  MAX_WORKERS = 64,
  READ_CHUNK = 16 * 1024,
  MAX_ARGS = 1024 * 1024,
  MAX_OUT = 256 * 1024 * 1024, /* client output limit: closed beyond it */
};
#define MAX_BULK ((size_t)512 * 1024 * 1024)

static const char *const cmd_name[] = {
#define KV_NAME(id, name) name,
    KV_COMMANDS(KV_NAME)
#undef KV_NAME
};

static const char *const event_channel[KS_EV_COUNT_] = {
    "__keyevent@0__:set", "__keyevent@0__:del", "__keyevent@0__:expired"};

/* ---- process state (set up by main before any worker runs) --------------- */

static struct {
  int port, metrics_port, nworkers;
  uint64_t maxmemory;
  int64_t start_ms;
  ebra_domain_t *dom;
  ebra_weak_table_t *conns;
  ebra_pool_t *conn_pool;
  ebra_cache_t *clients;
  ebra_subject_t *events[KS_EV_COUNT_];
  atomic_uint subscribers[KS_EV_COUNT_]; /* a hint: notify only if > 0 */
  atomic_uint_fast64_t next_id;
  atomic_bool stop;
  atomic_uint_fast64_t maxmemory_now; /* CONFIG SET maxmemory */
  kv_worker_t workers[MAX_WORKERS];
} S;

/* The owner's counter update (server.h): no RMW needed, one writer. */
static inline void stat_add(atomic_uint_fast64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}
static inline uint64_t stat_read(atomic_uint_fast64_t *c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* ---- output ---------------------------------------------------------------- */

static void out_reserve(kv_conn_t *c, size_t n) {
  if (c->out_len + n <= c->out_cap)
    return;
  if (c->out_pos > 0 && c->out_pos == c->out_len)
    c->out_pos = c->out_len = 0;
  size_t cap = c->out_cap ? c->out_cap : 16384;
  while (cap < c->out_len + n)
    cap *= 2;
  char *o = realloc(c->out, cap);
  if (!o)
    die("realloc output");
  c->out = o;
  c->out_cap = cap;
}

static void reply_raw(kv_conn_t *c, const char *s, size_t n) {
  out_reserve(c, n);
  memcpy(c->out + c->out_len, s, n);
  c->out_len += n;
}

#define REPLY_LIT(c, s) reply_raw((c), (s), sizeof(s) - 1)

static void reply_fmt(kv_conn_t *c, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n >= (int)sizeof buf)
    n = sizeof buf - 1;
  reply_raw(c, buf, (size_t)n);
}

/* "<prefix><decimal>\r\n" into out (at least 24 bytes); its length.  The
 * reply headers of every GET and SET: snprintf cost more than the lookup
 * (callgrind). */
static size_t fmt_u64_line(char *out, char prefix, bool neg, uint64_t v) {
  char digits[20];
  size_t n = 0, len = 0;
  do
    digits[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  out[len++] = prefix;
  if (neg)
    out[len++] = '-';
  while (n)
    out[len++] = digits[--n];
  out[len++] = '\r';
  out[len++] = '\n';
  return len;
}

static void reply_int(kv_conn_t *c, int64_t v) {
  char buf[32];
  const bool neg = v < 0;
  reply_raw(c, buf, fmt_u64_line(buf, ':', neg, neg ? 0 - (uint64_t)v : (uint64_t)v));
}
static void reply_nil(kv_conn_t *c) { REPLY_LIT(c, "$-1\r\n"); }
static void reply_ok(kv_conn_t *c) { REPLY_LIT(c, "+OK\r\n"); }
static void reply_array(kv_conn_t *c, size_t n) { reply_fmt(c, "*%zu\r\n", n); }

static void reply_bulk(kv_conn_t *c, const char *p, size_t n) {
  char hdr[32];
  const size_t h = fmt_u64_line(hdr, '$', false, n);
  out_reserve(c, h + n + 2);
  memcpy(c->out + c->out_len, hdr, h);
  memcpy(c->out + c->out_len + h, p, n);
  memcpy(c->out + c->out_len + h + n, "\r\n", 2);
  c->out_len += h + n + 2;
}

static void reply_cstr(kv_conn_t *c, const char *s) { reply_bulk(c, s, strlen(s)); }

static void reply_err(kv_conn_t *c, const char *msg) {
  reply_raw(c, "-", 1);
  reply_raw(c, msg, strlen(msg));
  REPLY_LIT(c, "\r\n");
}

static void reply_arity(kv_conn_t *c, kv_cmd_t cmd) {
  reply_fmt(c, "-ERR wrong number of arguments for '%s' command\r\n", cmd_name[cmd]);
}

static const char OOM_ERR[] = "OOM command not allowed when used memory > 'maxmemory'.";

static void emit_bulk(void *arg, const char *v, size_t n) { reply_bulk(arg, v, n); }

/* ---- connections ------------------------------------------------------------ */

static void epoll_set(kv_worker_t *w, kv_conn_t *c, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
    perror("kvserver: epoll_ctl");
}

/* The connection's weak-handle cleanup: it is dead and no reader can
 * reach it; runs on the domain's reclaimer before the object returns to
 * its pool. */
static void conn_cleanup(void *arg, ebra_weak_t h) {
  kv_conn_t *c = arg;
  free(c->push);
  pthread_mutex_destroy(&c->push_mu);
}

static void worker_link(kv_worker_t *w, kv_conn_t *c) {
  pthread_mutex_lock(&w->list_mu); /* released below */
  c->prev = NULL;
  c->next = w->head;
  if (w->head)
    w->head->prev = c;
  w->head = c;
  pthread_mutex_unlock(&w->list_mu);
}

static void worker_unlink(kv_worker_t *w, kv_conn_t *c) {
  pthread_mutex_lock(&w->list_mu); /* released below */
  if (c->prev)
    c->prev->next = c->next;
  else
    w->head = c->next;
  if (c->next)
    c->next->prev = c->prev;
  pthread_mutex_unlock(&w->list_mu);
}

static kv_conn_t *conn_open(kv_worker_t *w, int fd, const struct sockaddr_in *peer) {
  kv_conn_t *c = ebra_pool_alloc(S.conn_pool);
  if (!c)
    return NULL;
  memset(c, 0, sizeof *c);
  c->id = atomic_fetch_add_explicit(&S.next_id, 1, memory_order_relaxed);
  c->fd = fd;
  c->owner = w;
  c->created_ms = ks_now_ms();
  atomic_store_explicit(&c->last_ms, c->created_ms, memory_order_relaxed);
  atomic_store_explicit(&c->last_cmd, CMD_UNKNOWN, memory_order_relaxed);
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &peer->sin_addr, ip, sizeof ip);
  snprintf(c->addr, sizeof c->addr, "%s:%u", ip, ntohs(peer->sin_port));
  pthread_mutex_init(&c->push_mu, NULL);
  if (ebra_weak_create(S.conns, c, &c->h) != 0) {
    pthread_mutex_destroy(&c->push_mu);
    ebra_pool_free(S.conn_pool, c);
    return NULL;
  }
  /* From here the connection dies only through ebra_weak_kill. */
  if (ebra_weak_add_cleanup(S.conns, c->h, conn_cleanup, c) != 0 ||
      ebra_cache_store_u64(S.clients, c->id, c->h) != 0) {
    ebra_weak_kill(S.conns, c->h);
    return NULL;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    ebra_weak_kill(S.conns, c->h);
    return NULL;
  }
  worker_link(w, c);
  return c;
}

/* Owner only.  Other threads may still hold c inside a read section; its
 * memory stays valid until they leave (the kill retires it). */
static void conn_close(kv_worker_t *w, kv_conn_t *c) {
  epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  worker_unlink(w, c);
  for (int ev = 0; ev < KS_EV_COUNT_; ev++)
    if (c->sub_mask & (1u << ev))
      atomic_fetch_sub_explicit(&S.subscribers[ev], 1, memory_order_relaxed);
  free(c->in);
  free(c->out);
  c->in = c->out = NULL;
  stat_add(&w->closed, 1);
  int rc = ebra_weak_kill(S.conns, c->h);
  if (rc != 0)
    fprintf(stderr, "kvserver: kill of client %" PRIu64 ": %s\n", c->id, ebra_strerror(rc));
}

/* Write what is buffered; false if the connection must close. */
static bool conn_flush(kv_worker_t *w, kv_conn_t *c) {
  while (c->out_pos < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_pos += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c->writing) { /* stop reading until the client drains its replies */
        c->writing = true;
        epoll_set(w, c, EPOLLOUT);
      }
      return c->out_len - c->out_pos <= MAX_OUT;
    }
    return false;
  }
  c->out_pos = c->out_len = 0;
  if (c->writing) {
    c->writing = false;
    epoll_set(w, c, EPOLLIN);
  }
  return !c->closing;
}

/* ---- keyspace notifications: weak observers ------------------------------- */

typedef struct key_event {
  ks_event_t ev;
  const char *key;
  size_t klen;
} key_event_t;

static void wake_worker(kv_worker_t *w) {
  uint64_t one = 1;
  if (write(w->evfd, &one, sizeof one) < 0 && errno != EAGAIN)
    perror("kvserver: eventfd");
}

/* An observer: runs on the thread that changed the key, inside a read
 * section, with `obj` a live subscriber.  It appends the message to the
 * subscriber's push buffer and wakes its owner, which sends it. */
static void on_key_event(void *arg, void *obj, uint64_t value) {
  kv_conn_t *c = obj;
  const key_event_t *e = (const key_event_t *)(uintptr_t)value;
  const char *ch = event_channel[e->ev];
  char hdr[128];
  int h = snprintf(hdr, sizeof hdr, "*3\r\n$7\r\nmessage\r\n$%zu\r\n%s\r\n$%zu\r\n", strlen(ch),
                   ch, e->klen);
  pthread_mutex_lock(&c->push_mu); /* released below */
  size_t need = c->push_len + (size_t)h + e->klen + 2;
  if (need > c->push_cap) {
    size_t cap = c->push_cap ? c->push_cap * 2 : 1024;
    while (cap < need)
      cap *= 2;
    char *p = realloc(c->push, cap);
    if (!p) {
      pthread_mutex_unlock(&c->push_mu);
      return; /* the message is dropped, as Redis drops for a slow subscriber */
    }
    c->push = p;
    c->push_cap = cap;
  }
  memcpy(c->push + c->push_len, hdr, (size_t)h);
  memcpy(c->push + c->push_len + h, e->key, e->klen);
  memcpy(c->push + c->push_len + h + e->klen, "\r\n", 2);
  c->push_len = need;
  pthread_mutex_unlock(&c->push_mu);
  atomic_store_explicit(&c->push_pending, true, memory_order_release);
  wake_worker(c->owner);
}

static void on_keyspace_event(ks_event_t ev, const char *key, size_t klen) {
  if (atomic_load_explicit(&S.subscribers[ev], memory_order_relaxed) == 0)
    return;
  key_event_t e = {ev, key, klen};
  ebra_subject_notify(S.events[ev], (uint64_t)(uintptr_t)&e, NULL);
}

/* Owner: move pushed messages into the output. */
static void conn_take_push(kv_conn_t *c) {
  if (!atomic_exchange_explicit(&c->push_pending, false, memory_order_acquire))
    return;
  pthread_mutex_lock(&c->push_mu); /* released below */
  reply_raw(c, c->push, c->push_len);
  c->push_len = 0;
  pthread_mutex_unlock(&c->push_mu);
}

static void cmd_subscribe(kv_conn_t *c, size_t argc, const char **argv, const size_t *argl) {
  for (size_t i = 1; i < argc; i++) {
    for (int ev = 0; ev < KS_EV_COUNT_; ev++) {
      if (argl[i] != strlen(event_channel[ev]) || memcmp(argv[i], event_channel[ev], argl[i]))
        continue;
      if (c->sub_mask & (1u << ev))
        break;
      ebra_subscription_t sub;
      if (ebra_subject_subscribe(S.events[ev], c->h, on_key_event, NULL, &sub) == 0) {
        c->sub_mask |= 1u << ev;
        atomic_fetch_add_explicit(&S.subscribers[ev], 1, memory_order_relaxed);
      }
    }
    unsigned n = atomic_fetch_add_explicit(&c->subscribed, 1, memory_order_relaxed) + 1;
    REPLY_LIT(c, "*3\r\n$9\r\nsubscribe\r\n");
    reply_bulk(c, argv[i], argl[i]);
    reply_int(c, n);
  }
}

/* ---- CLIENT ---------------------------------------------------------------- */

/* Ids of every open connection, from each worker's list. */
static uint64_t *client_ids(size_t *n) {
  size_t cap = 64, len = 0;
  uint64_t *ids = malloc(cap * sizeof *ids);
  for (int i = 0; ids && i < S.nworkers; i++) {
    kv_worker_t *w = &S.workers[i];
    pthread_mutex_lock(&w->list_mu); /* released below */
    for (kv_conn_t *c = w->head; c; c = c->next) {
      if (len == cap) {
        uint64_t *m = realloc(ids, (cap *= 2) * sizeof *ids);
        if (!m) {
          free(ids);
          ids = NULL;
          break;
        }
        ids = m;
      }
      ids[len++] = c->id;
    }
    pthread_mutex_unlock(&w->list_mu);
  }
  *n = len;
  return ids;
}

static void client_list(kv_conn_t *self) {
  size_t n;
  uint64_t *ids = client_ids(&n);
  if (!ids) {
    reply_err(self, "ERR out of memory");
    return;
  }
  size_t cap = 256 * (n + 1), len = 0;
  char *text = malloc(cap);
  const int64_t now = ks_now_ms();
  for (size_t i = 0; text && i < n; i++) {
    void *obj;
    ebra_read_lock(S.dom); /* c stays valid until the unlock */
    if (ebra_cache_lookup_u64(S.clients, ids[i], &obj) == 0) {
      kv_conn_t *c = obj;
      int64_t last = atomic_load_explicit(&c->last_ms, memory_order_relaxed);
      int cmd = atomic_load_explicit(&c->last_cmd, memory_order_relaxed);
      int w = snprintf(
          text + len, cap - len,
          "id=%" PRIu64 " addr=%s fd=%d name= age=%" PRId64 " idle=%" PRId64
          " flags=%s db=0 sub=%u psub=0 multi=-1 cmd=%s worker=%d\n",
          c->id, c->addr, c->fd, (now - c->created_ms) / 1000, (now - last) / 1000,
          atomic_load_explicit(&c->subscribed, memory_order_relaxed) ? "P" : "N",
          atomic_load_explicit(&c->subscribed, memory_order_relaxed), cmd_name[cmd],
          c->owner->idx);
      if (w > 0 && (size_t)w < cap - len)
        len += (size_t)w; /* a line that would not fit is left out */
    }
    ebra_read_unlock(S.dom);
  }
  if (text)
    reply_bulk(self, text, len);
  else
    reply_err(self, "ERR out of memory");
  free(text);
  free(ids);
}

static bool parse_u64(const char *s, size_t n, uint64_t *out) {
  if (n == 0 || n > 20)
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
      return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return true;
}

static bool parse_i64(const char *s, size_t n, int64_t *out) {
  bool neg = n > 0 && s[0] == '-';
  uint64_t u;
  if (!parse_u64(s + neg, n - neg, &u) || u > (uint64_t)INT64_MAX)
    return false;
  *out = neg ? -(int64_t)u : (int64_t)u;
  return true;
}

/* CLIENT KILL ID n: another worker's connection, found in the weak cache;
 * its owner closes it.  Like Redis, the caller itself is skipped. */
static void client_kill(kv_conn_t *self, uint64_t id) {
  void *obj;
  int killed = 0;
  ebra_read_lock(S.dom);
  if (id != self->id && ebra_cache_lookup_u64(S.clients, id, &obj) == 0) {
    kv_conn_t *c = obj;
    atomic_store_explicit(&c->kill_requested, true, memory_order_release);
    wake_worker(c->owner);
    killed = 1;
  }
  ebra_read_unlock(S.dom);
  reply_int(self, killed);
}

static bool arg_is(const char *a, size_t n, const char *lit) {
  return n == strlen(lit) && strncasecmp(a, lit, n) == 0;
}

static void cmd_client(kv_conn_t *c, size_t argc, const char **argv, const size_t *argl) {
  uint64_t id;
  if (argc == 2 && arg_is(argv[1], argl[1], "list"))
    client_list(c);
  else if (argc == 2 && arg_is(argv[1], argl[1], "id"))
    reply_int(c, (int64_t)c->id);
  else if (argc == 4 && arg_is(argv[1], argl[1], "kill") && arg_is(argv[2], argl[2], "id")) {
    if (parse_u64(argv[3], argl[3], &id))
      client_kill(c, id);
    else
      reply_err(c, "ERR client-id should be greater than 0");
  } else if (argc == 3 && arg_is(argv[1], argl[1], "setname"))
    reply_ok(c);
  else
    reply_err(c, "ERR unknown subcommand or wrong number of arguments for 'client'");
}

/* ---- INFO and /metrics: sums of the workers' counters ---------------------- */

typedef struct totals {
  uint64_t cmds[CMD_COUNT_], all, hits, misses, oom, accepted, rejected, closed;
} totals_t;

static void sum_workers(totals_t *t) {
  memset(t, 0, sizeof *t);
  for (int i = 0; i < S.nworkers; i++) {
    kv_worker_t *w = &S.workers[i];
    for (int k = 0; k < CMD_COUNT_; k++) {
      uint64_t v = stat_read(&w->cmds[k]);
      t->cmds[k] += v;
      t->all += v;
    }
    t->hits += stat_read(&w->hits);
    t->misses += stat_read(&w->misses);
    t->oom += stat_read(&w->oom);
    t->accepted += stat_read(&w->accepted);
    t->rejected += stat_read(&w->rejected);
    t->closed += stat_read(&w->closed);
  }
}

typedef struct text {
  char *p;
  size_t len, cap;
  bool failed;
} text_t;

static void text_add(text_t *t, const char *s, size_t n) {
  if (t->failed)
    return;
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + n + 1)
      cap *= 2;
    char *p = realloc(t->p, cap);
    if (!p) {
      t->failed = true;
      return;
    }
    t->p = p;
    t->cap = cap;
  }
  memcpy(t->p + t->len, s, n);
  t->len += n;
  t->p[t->len] = '\0';
}

static void text_fmt(text_t *t, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  text_add(t, buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void text_out(const char *s, void *arg) { text_add(arg, s, strlen(s)); }

static uint64_t used_memory(const ebra_snapshot_t *snap) {
  return snap->bytes_live + values_large_bytes();
}

static bool section_on(const char *want, const char *name) {
  return !want || !strcasecmp(want, "all") || !strcasecmp(want, "everything") ||
         !strcasecmp(want, "default") || !strcasecmp(want, name);
}

static void cmd_info(kv_conn_t *c, const char *want) {
  ebra_snapshot_t *snap = NULL;
  if (ebra_snapshot(&snap) != 0) {
    reply_err(c, "ERR snapshot failed");
    return;
  }
  totals_t t;
  sum_workers(&t);
  ks_stats_t ks;
  ks_stats(&ks);
  ebra_domain_stats_t ds = {0};
  ebra_domain_stats(S.dom, &ds);
  text_t x = {0};
  if (section_on(want, "server"))
    text_fmt(&x,
             "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\n"
             "server_name:ebra-kvserver\r\nmultiplexing_api:epoll\r\nprocess_id:%d\r\n"
             "tcp_port:%d\r\nuptime_in_seconds:%" PRId64 "\r\nworker_threads:%d\r\n"
             "ebra_reclaim_backend:%s\r\n\r\n",
             (int)getpid(), S.port, (ks_now_ms() - S.start_ms) / 1000, S.nworkers,
             ebra_reclaim_backend_name(ebra_domain_backend(S.dom)));
  if (section_on(want, "clients"))
    text_fmt(&x, "# Clients\r\nconnected_clients:%" PRIu64 "\r\n\r\n", t.accepted - t.closed);
  if (section_on(want, "memory"))
    text_fmt(&x,
             "# Memory\r\nused_memory:%" PRIu64 "\r\nused_memory_rss:%" PRIu64
             "\r\nmaxmemory:%" PRIu64 "\r\nmaxmemory_policy:noeviction\r\n"
             "mem_allocator:ebra-pools\r\nebra_bytes_reserved:%" PRIu64
             "\r\nebra_bytes_live:%" PRIu64 "\r\nebra_pending_bytes:%" PRIu64
             "\r\nebra_large_value_bytes:%" PRIu64 "\r\nebra_committed_bytes:%" PRIu64
             "\r\nebra_hard_limit_refusals:%" PRIu64 "\r\nebra_strategy:%s\r\n"
             "ebra_pools:%u\r\n\r\n",
             used_memory(snap), snap->resident_bytes,
             atomic_load_explicit(&S.maxmemory_now, memory_order_relaxed), snap->bytes_reserved,
             snap->bytes_live, snap->pending_bytes, values_large_bytes(),
             snap->engine.committed_bytes, snap->engine.hard_limit_refusals,
             ebra_strategy_name(snap->engine.active), snap->npools);
  if (section_on(want, "stats"))
    text_fmt(&x,
             "# Stats\r\ntotal_connections_received:%" PRIu64
             "\r\ntotal_commands_processed:%" PRIu64 "\r\nrejected_connections:%" PRIu64
             "\r\nexpired_keys:%" PRIu64 "\r\nkeyspace_hits:%" PRIu64
             "\r\nkeyspace_misses:%" PRIu64 "\r\noom_rejections:%" PRIu64
             "\r\nebra_retired:%" PRIu64 "\r\nebra_reclaimed:%" PRIu64
             "\r\nebra_grace_periods:%" PRIu64 "\r\nebra_grace_period_p99_ns:%" PRIu64
             "\r\n\r\n",
             t.accepted, t.all, t.rejected, ks.expired, t.hits, t.misses, t.oom, ds.retired,
             ds.reclaimed, ds.grace_periods, ds.gp_ns_p99);
  if (section_on(want, "keyspace") && ks.keys)
    text_fmt(&x, "# Keyspace\r\ndb0:keys=%" PRIu64 ",expires=%" PRIu64 ",avg_ttl=0\r\n",
             ks.keys, ks.expiring);
  ebra_snapshot_free(snap);
  if (x.failed)
    reply_err(c, "ERR out of memory");
  else
    reply_bulk(c, x.p ? x.p : "", x.len);
  free(x.p);
}

static void metric(text_t *x, const char *name, const char *type, const char *help,
                   uint64_t v) {
  text_fmt(x, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, v);
}

static void metrics_text(text_t *x) {
  ebra_snapshot_t *snap = NULL;
  if (ebra_snapshot(&snap) == 0) {
    ebra_snapshot_print_prometheus(snap, text_out, x);
    ebra_snapshot_free(snap);
  }
  totals_t t;
  sum_workers(&t);
  ks_stats_t ks;
  ks_stats(&ks);
  text_fmt(x, "# HELP kvserver_commands_total Commands processed, by command.\n"
              "# TYPE kvserver_commands_total counter\n");
  for (int k = 0; k < CMD_COUNT_; k++)
    text_fmt(x, "kvserver_commands_total{cmd=\"%s\"} %" PRIu64 "\n", cmd_name[k], t.cmds[k]);
  metric(x, "kvserver_connections_received_total", "counter", "Connections accepted.",
         t.accepted);
  metric(x, "kvserver_connections_rejected_total", "counter",
         "Connections refused (no memory for the connection object).", t.rejected);
  metric(x, "kvserver_connected_clients", "gauge", "Open connections.", t.accepted - t.closed);
  metric(x, "kvserver_keyspace_hits_total", "counter", "GET/MGET of a present key.", t.hits);
  metric(x, "kvserver_keyspace_misses_total", "counter", "GET/MGET of an absent key.", t.misses);
  metric(x, "kvserver_oom_rejections_total", "counter",
         "Writes answered -OOM (the hard memory limit).", t.oom);
  metric(x, "kvserver_keys", "gauge", "Keys in the keyspace.", ks.keys);
  metric(x, "kvserver_expiring_keys", "gauge", "Keys with a time to live.", ks.expiring);
  metric(x, "kvserver_expired_keys_total", "counter", "Keys removed by expiry.", ks.expired);
  metric(x, "kvserver_large_value_bytes", "gauge",
         "Bytes of entries above the largest size class (malloc).", values_large_bytes());
  metric(x, "kvserver_maxmemory_bytes", "gauge", "The hard memory limit (0: none).",
         atomic_load_explicit(&S.maxmemory_now, memory_order_relaxed));
  metric(x, "kvserver_worker_threads", "gauge", "Worker threads.", (uint64_t)S.nworkers);
}

static enum MHD_Result on_http(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **state) {
  if (strcmp(method, "GET") != 0)
    return MHD_NO;
  text_t x = {0};
  unsigned status = MHD_HTTP_OK;
  if (strcmp(url, "/metrics") == 0)
    metrics_text(&x);
  else {
    status = MHD_HTTP_NOT_FOUND;
    text_fmt(&x, "not found: try /metrics\n");
  }
  if (x.failed) {
    free(x.p);
    return MHD_NO;
  }
  struct MHD_Response *r = MHD_create_response_from_buffer(x.len, x.p, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(x.p);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  enum MHD_Result ret = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ret;
}

/* ---- commands ---------------------------------------------------------------- */

/* GET and SET first: they are most of the traffic. */
static kv_cmd_t lookup_cmd(const char *a, size_t n) {
  if (n == 3 && (a[1] | 0x20) == 'e' && (a[2] | 0x20) == 't') {
    if ((a[0] | 0x20) == 'g')
      return CMD_GET;
    if ((a[0] | 0x20) == 's')
      return CMD_SET;
  }
  for (int k = 0; k < CMD_UNKNOWN; k++)
    if (arg_is(a, n, cmd_name[k]))
      return (kv_cmd_t)k;
  return CMD_UNKNOWN;
}

static void cmd_set(kv_worker_t *w, kv_conn_t *c, size_t argc, const char **argv,
                    const size_t *argl) {
  int64_t expire = 0;
  for (size_t i = 3; i < argc; i++) {
    int64_t v;
    const bool ex = arg_is(argv[i], argl[i], "ex"), px = arg_is(argv[i], argl[i], "px");
    if (!(ex || px) || i + 1 >= argc || expire) {
      reply_err(c, "ERR syntax error");
      return;
    }
    if (!parse_i64(argv[i + 1], argl[i + 1], &v)) {
      reply_err(c, "ERR value is not an integer or out of range");
      return;
    }
    if (v <= 0 || v > INT64_MAX / 1000) {
      reply_err(c, "ERR invalid expire time in 'set' command");
      return;
    }
    expire = ks_now_ms() + (ex ? v * 1000 : v);
    i++;
  }
  if (ks_set(argv[1], argl[1], argv[2], argl[2], expire) != 0) {
    stat_add(&w->oom, 1);
    reply_err(c, OOM_ERR);
    return;
  }
  reply_ok(c);
}

static void cmd_incr(kv_worker_t *w, kv_conn_t *c, const char *k, size_t kl, int64_t by) {
  int64_t v;
  int rc = ks_incr(k, kl, by, &v);
  if (rc == 0)
    reply_int(c, v);
  else if (rc == -ENOMEM) {
    stat_add(&w->oom, 1);
    reply_err(c, OOM_ERR);
  } else if (rc == -ERANGE)
    reply_err(c, "ERR increment or decrement would overflow");
  else
    reply_err(c, "ERR value is not an integer or out of range");
}

static void cmd_mset(kv_worker_t *w, kv_conn_t *c, size_t argc, const char **argv,
                     const size_t *argl) {
  const size_t n = (argc - 1) / 2;
  ks_pair_t stackv[16], *kv = n <= 16 ? stackv : malloc(n * sizeof *kv);
  if (!kv) {
    reply_err(c, "ERR out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++)
    kv[i] = (ks_pair_t){.k = argv[1 + 2 * i], .klen = argl[1 + 2 * i],
                        .v = argv[2 + 2 * i], .vlen = argl[2 + 2 * i]};
  if (ks_mset(kv, n) == 0)
    reply_ok(c);
  else {
    stat_add(&w->oom, 1);
    reply_err(c, OOM_ERR);
  }
  if (kv != stackv)
    free(kv);
}

static void cmd_expire(kv_worker_t *w, kv_conn_t *c, const char **argv, const size_t *argl,
                       int64_t unit_ms) {
  int64_t v;
  if (!parse_i64(argv[2], argl[2], &v) || v > INT64_MAX / 1000 || v < INT64_MIN / 1000) {
    reply_err(c, "ERR value is not an integer or out of range");
    return;
  }
  int rc = ks_expire_at(argv[1], argl[1], ks_now_ms() + v * unit_ms);
  if (rc == -ENOMEM) {
    stat_add(&w->oom, 1);
    reply_err(c, OOM_ERR);
  } else
    reply_int(c, rc);
}

static void cmd_config(kv_conn_t *c, size_t argc, const char **argv, const size_t *argl) {
  if (argc == 3 && arg_is(argv[1], argl[1], "get")) {
    char val[32];
    const char *v = NULL;
    if (arg_is(argv[2], argl[2], "maxmemory")) {
      snprintf(val, sizeof val, "%" PRIu64,
               atomic_load_explicit(&S.maxmemory_now, memory_order_relaxed));
      v = val;
    } else if (arg_is(argv[2], argl[2], "save"))
      v = "";
    else if (arg_is(argv[2], argl[2], "appendonly"))
      v = "no";
    if (!v) {
      reply_array(c, 0);
      return;
    }
    reply_array(c, 2);
    reply_bulk(c, argv[2], argl[2]);
    reply_cstr(c, v);
  } else if (argc == 4 && arg_is(argv[1], argl[1], "set") &&
             arg_is(argv[2], argl[2], "maxmemory")) {
    uint64_t v;
    if (!parse_u64(argv[3], argl[3], &v) || ebra_set_memory_limits(0, v) != 0) {
      reply_err(c, "ERR Invalid argument for CONFIG SET 'maxmemory'");
      return;
    }
    atomic_store_explicit(&S.maxmemory_now, v, memory_order_relaxed);
    reply_ok(c);
  } else
    reply_err(c, "ERR unknown subcommand or wrong number of arguments for 'config'");
}

/* Minimum and maximum argc per command (0: no maximum). */
static bool arity_ok(kv_cmd_t cmd, size_t argc) {
  switch (cmd) {
  case CMD_PING: return argc <= 2;
  case CMD_ECHO: case CMD_GET: case CMD_INCR: case CMD_DECR: case CMD_TTL: case CMD_PTTL:
  case CMD_SELECT: return argc == 2;
  case CMD_SET: return argc >= 3;
  case CMD_DEL: case CMD_EXISTS: case CMD_MGET: case CMD_SUBSCRIBE: case CMD_CLIENT:
  case CMD_CONFIG: return argc >= 2;
  case CMD_INCRBY: case CMD_DECRBY: case CMD_EXPIRE: case CMD_PEXPIRE: return argc == 3;
  case CMD_MSET: return argc >= 3 && argc % 2 == 1;
  case CMD_DBSIZE: case CMD_QUIT: return argc == 1;
  case CMD_FLUSHALL: case CMD_FLUSHDB: case CMD_INFO: return argc <= 2;
  default: return true;
  }
}

static void execute(kv_worker_t *w, kv_conn_t *c, size_t argc, const char **argv,
                    const size_t *argl) {
  const kv_cmd_t cmd = lookup_cmd(argv[0], argl[0]);
  stat_add(&w->cmds[cmd], 1);
  atomic_store_explicit(&c->last_cmd, cmd, memory_order_relaxed);
  atomic_store_explicit(&c->ncmds, atomic_load_explicit(&c->ncmds, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  if (cmd == CMD_UNKNOWN) { /* the name, printable only: an error is one line */
    char name[65];
    size_t n = argl[0] < 64 ? argl[0] : 64;
    for (size_t i = 0; i < n; i++)
      name[i] = isprint((unsigned char)argv[0][i]) ? argv[0][i] : '?';
    name[n] = '\0';
    reply_fmt(c, "-ERR unknown command '%s'\r\n", name);
    return;
  }
  if (!arity_ok(cmd, argc)) {
    reply_arity(c, cmd);
    return;
  }
  if (c->sub_mask && cmd != CMD_SUBSCRIBE && cmd != CMD_PING && cmd != CMD_QUIT) {
    reply_fmt(c, "-ERR Can't execute '%s': only SUBSCRIBE / PING / QUIT are allowed in "
                 "this context\r\n", cmd_name[cmd]);
    return;
  }
  int64_t by, n = 0;
  switch (cmd) {
  case CMD_PING:
    if (argc == 2)
      reply_bulk(c, argv[1], argl[1]);
    else
      REPLY_LIT(c, "+PONG\r\n");
    break;
  case CMD_ECHO: reply_bulk(c, argv[1], argl[1]); break;
  case CMD_GET:
    if (ks_get(argv[1], argl[1], emit_bulk, c))
      stat_add(&w->hits, 1);
    else {
      stat_add(&w->misses, 1);
      reply_nil(c);
    }
    break;
  case CMD_MGET:
    reply_array(c, argc - 1);
    for (size_t i = 1; i < argc; i++) {
      if (ks_get(argv[i], argl[i], emit_bulk, c))
        stat_add(&w->hits, 1);
      else {
        stat_add(&w->misses, 1);
        reply_nil(c);
      }
    }
    break;
  case CMD_SET: cmd_set(w, c, argc, argv, argl); break;
  case CMD_MSET: cmd_mset(w, c, argc, argv, argl); break;
  case CMD_DEL:
    for (size_t i = 1; i < argc; i++)
      n += ks_del(argv[i], argl[i]);
    reply_int(c, n);
    break;
  case CMD_EXISTS:
    for (size_t i = 1; i < argc; i++)
      n += ks_exists(argv[i], argl[i]);
    reply_int(c, n);
    break;
  case CMD_INCR: cmd_incr(w, c, argv[1], argl[1], 1); break;
  case CMD_DECR: cmd_incr(w, c, argv[1], argl[1], -1); break;
  case CMD_INCRBY: case CMD_DECRBY:
    if (!parse_i64(argv[2], argl[2], &by) || (cmd == CMD_DECRBY && by == INT64_MIN))
      reply_err(c, "ERR value is not an integer or out of range");
    else
      cmd_incr(w, c, argv[1], argl[1], cmd == CMD_DECRBY ? -by : by);
    break;
  case CMD_EXPIRE: cmd_expire(w, c, argv, argl, 1000); break;
  case CMD_PEXPIRE: cmd_expire(w, c, argv, argl, 1); break;
  case CMD_TTL: case CMD_PTTL:
    n = ks_ttl_ms(argv[1], argl[1]);
    reply_int(c, n < 0 ? n : cmd == CMD_TTL ? (n + 500) / 1000 : n);
    break;
  case CMD_DBSIZE: {
    ks_stats_t ks;
    ks_stats(&ks);
    reply_int(c, (int64_t)ks.keys);
    break;
  }
  case CMD_FLUSHALL: case CMD_FLUSHDB: ks_flush(); reply_ok(c); break;
  case CMD_INFO: {
    char want[32] = "";
    if (argc == 2)
      snprintf(want, sizeof want, "%.*s", (int)(argl[1] > 31 ? 31 : argl[1]), argv[1]);
    cmd_info(c, argc == 2 ? want : NULL);
    break;
  }
  case CMD_CLIENT: cmd_client(c, argc, argv, argl); break;
  case CMD_CONFIG: cmd_config(c, argc, argv, argl); break;
  case CMD_SUBSCRIBE: cmd_subscribe(c, argc, argv, argl); break;
  case CMD_SELECT:
    if (arg_is(argv[1], argl[1], "0"))
      reply_ok(c);
    else
      reply_err(c, "ERR DB index is out of range");
    break;
  case CMD_COMMAND: reply_array(c, 0); break;
  case CMD_QUIT: reply_ok(c); c->closing = true; break;
  default: break;
  }
}

/* ---- RESP parsing ------------------------------------------------------------ */

static bool argv_reserve(kv_worker_t *w, size_t n) {
  if (n <= w->argcap)
    return true;
  size_t cap = w->argcap ? w->argcap : 64;
  while (cap < n)
    cap *= 2;
  const char **a = realloc(w->argv, cap * sizeof *a);
  if (!a)
    return false;
  w->argv = a;
  size_t *l = realloc(w->argl, cap * sizeof *l);
  if (!l)
    return false;
  w->argl = l;
  w->argcap = cap;
  return true;
}

/* A number ended by \r\n at p (at most end); its end in *next.  1 ok,
 * 0 incomplete, -1 malformed. */
static int parse_line_num(const char *p, const char *end, int64_t *out, const char **next) {
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  if (!nl)
    return end - p > 32 ? -1 : 0;
  if (nl == p || nl[-1] != '\r' || !parse_i64(p, (size_t)(nl - 1 - p), out))
    return -1;
  *next = nl + 1;
  return 1;
}

/* One command from c->in at *pos: 1 and argc, 0 incomplete, -1 protocol
 * error (the message in *err). */
static int parse_command(kv_worker_t *w, kv_conn_t *c, size_t *pos, size_t *argc,
                         const char **err) {
  const char *p = c->in + *pos, *end = c->in + c->in_len;
  if (*p != '*') { /* inline command: words up to \n */
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) {
      if (end - p > 64 * 1024) {
        *err = "ERR Protocol error: too big inline request";
        return -1;
      }
      return 0;
    }
    size_t n = 0;
    const char *q = p, *lend = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
    while (q < lend) {
      while (q < lend && (*q == ' ' || *q == '\t'))
        q++;
      if (q == lend)
        break;
      const char *s = q;
      while (q < lend && *q != ' ' && *q != '\t')
        q++;
      if (!argv_reserve(w, n + 1)) {
        *err = "ERR out of memory";
        return -1;
      }
      w->argv[n] = s;
      w->argl[n++] = (size_t)(q - s);
    }
    *argc = n;
    *pos = (size_t)(nl + 1 - c->in);
    return 1;
  }
  int64_t n;
  int r = parse_line_num(p + 1, end, &n, &p);
  if (r <= 0) {
    *err = "ERR Protocol error: invalid multibulk length";
    return r;
  }
  if (n < 0 || n > MAX_ARGS || !argv_reserve(w, (size_t)n)) {
    *err = "ERR Protocol error: invalid multibulk length";
    return -1;
  }
  for (int64_t i = 0; i < n; i++) {
    if (p >= end)
      return 0;
    if (*p != '$') {
      *err = "ERR Protocol error: expected '$'";
      return -1;
    }
    int64_t len;
    r = parse_line_num(p + 1, end, &len, &p);
    if (r <= 0) {
      *err = "ERR Protocol error: invalid bulk length";
      return r;
    }
    if (len < 0 || (uint64_t)len > MAX_BULK) {
      *err = "ERR Protocol error: invalid bulk length";
      return -1;
    }
    if (end - p < len + 2)
      return 0;
    w->argv[i] = p;
    w->argl[i] = (size_t)len;
    p += len + 2;
  }
  *argc = (size_t)n;
  *pos = (size_t)(p - c->in);
  return 1;
}

/* Execute every complete command in c->in; false on a protocol error. */
static bool conn_process(kv_worker_t *w, kv_conn_t *c) {
  size_t pos = 0;
  bool ok = true;
  while (pos < c->in_len && !c->closing) {
    size_t argc = 0;
    const char *err = NULL;
    int r = parse_command(w, c, &pos, &argc, &err);
    if (r == 0)
      break;
    if (r < 0) {
      reply_err(c, err);
      c->closing = true;
      ok = false;
      break;
    }
    if (argc > 0)
      execute(w, c, argc, w->argv, w->argl);
  }
  memmove(c->in, c->in + pos, c->in_len - pos);
  c->in_len -= pos;
  atomic_store_explicit(&c->last_ms, ks_now_ms(), memory_order_relaxed);
  return ok;
}

static void conn_readable(kv_worker_t *w, kv_conn_t *c) {
  if (c->in_cap - c->in_len < READ_CHUNK / 2) {
    size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK;
    char *in = realloc(c->in, cap);
    if (!in) {
      conn_close(w, c);
      return;
    }
    c->in = in;
    c->in_cap = cap;
  }
  ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    conn_close(w, c);
    return;
  }
  if (n < 0)
    return;
  c->in_len += (size_t)n;
  conn_process(w, c);
  if (!conn_flush(w, c))
    conn_close(w, c);
}

/* ---- workers ------------------------------------------------------------------ */

static void worker_accept(kv_worker_t *w) {
  for (;;) {
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int fd = accept4(w->lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return; /* EAGAIN, or a transient error: the next event retries */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!conn_open(w, fd, &peer)) {
      stat_add(&w->rejected, 1);
      static const char msg[] = "-ERR max number of clients reached\r\n";
      if (send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL) < 0) { /* best effort */
      }
      close(fd);
      continue;
    }
    stat_add(&w->accepted, 1);
  }
}

/* The eventfd: connections to kill, messages to push, or shutdown. */
static void worker_wakeup(kv_worker_t *w) {
  uint64_t v;
  if (read(w->evfd, &v, sizeof v) < 0 && errno != EAGAIN)
    perror("kvserver: eventfd read");
  kv_conn_t *next;
  for (kv_conn_t *c = w->head; c; c = next) {
    next = c->next;
    if (atomic_load_explicit(&c->kill_requested, memory_order_acquire)) {
      conn_close(w, c);
      continue;
    }
    if (atomic_load_explicit(&c->push_pending, memory_order_relaxed)) {
      conn_take_push(c);
      if (!conn_flush(w, c))
        conn_close(w, c);
    }
  }
}

static void *worker_main(void *arg) {
  kv_worker_t *w = arg;
  const bool qsbr = ebra_domain_backend(S.dom) == EBRA_RECLAIM_URCU_QSBR;
  if (qsbr)
    ebra_domain_register_thread(S.dom); /* online: quiescent once per turn */
  struct epoll_event evs[256];
  while (!atomic_load_explicit(&S.stop, memory_order_acquire)) {
    if (qsbr)
      ebra_domain_thread_offline(S.dom); /* epoll_wait may block */
    int n = epoll_wait(w->epfd, evs, 256, 1000);
    if (qsbr)
      ebra_domain_thread_online(S.dom);
    bool woken = false;
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == &w->lfd)
        worker_accept(w);
      else if (evs[i].data.ptr == &w->evfd)
        woken = true; /* after the batch: it may close connections (W2) */
      else {
        kv_conn_t *c = evs[i].data.ptr;
        if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN))
          conn_close(w, c);
        else if (c->writing) {
          if (!conn_flush(w, c))
            conn_close(w, c);
          else if (!c->writing && c->in_len) { /* replies drained: resume */
            conn_process(w, c);
            if (!conn_flush(w, c))
              conn_close(w, c);
          }
        } else
          conn_readable(w, c);
      }
    }
    if (woken)
      worker_wakeup(w);
    ebra_quiescent(S.dom);
  }
  while (w->head)
    conn_close(w, w->head);
  free(w->argv);
  free(w->argl);
  return NULL;
}

static int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1024) != 0)
    die("bind/listen");
  return fd;
}

static void worker_init(kv_worker_t *w, int idx, int port) {
  w->idx = idx;
  w->lfd = listen_on(port);
  w->epfd = epoll_create1(EPOLL_CLOEXEC);
  w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->epfd < 0 || w->evfd < 0)
    die("epoll/eventfd");
  pthread_mutex_init(&w->list_mu, NULL);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->lfd};
  struct epoll_event ev2 = {.events = EPOLLIN, .data.ptr = &w->evfd};
  if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->lfd, &ev) != 0 ||
      epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev2) != 0)
    die("epoll_ctl");
}

static void worker_fini(kv_worker_t *w) {
  close(w->lfd);
  close(w->evfd);
  close(w->epfd);
  pthread_mutex_destroy(&w->list_mu);
}

/* ---- the expiry sweep ---------------------------------------------------------- */

static pthread_mutex_t sweep_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sweep_cv = PTHREAD_COND_INITIALIZER;
static bool sweep_stop; /* under sweep_mu */

static void *sweeper_main(void *arg) {
  pthread_mutex_lock(&sweep_mu); /* released around each sweep and at exit */
  while (!sweep_stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&sweep_cv, &sweep_mu, &ts);
    if (sweep_stop)
      break;
    pthread_mutex_unlock(&sweep_mu);
    ks_expire_sweep();
    pthread_mutex_lock(&sweep_mu);
  }
  pthread_mutex_unlock(&sweep_mu);
  return NULL;
}

/* ---- setup and shutdown ---------------------------------------------------------- */

static bool parse_size(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s)
    return false;
  switch (tolower((unsigned char)*end)) {
  case 'k': v <<= 10; end++; break;
  case 'm': v <<= 20; end++; break;
  case 'g': v <<= 30; end++; break;
  default: break;
  }
  if (*end == 'b' || *end == 'B')
    end++;
  *out = v;
  return *end == '\0';
}

static void usage(void) {
  fprintf(stderr, "usage: kvserver [--port N] [--threads N] [--maxmemory SIZE] "
                  "[--metrics-port N|-1] [--port-file FILE]\n");
  exit(2);
}

static void check(int rc, const char *what, int *failures) {
  if (rc != 0) {
    fprintf(stderr, "kvserver: %s: %s\n", what, ebra_strerror(rc));
    (*failures)++;
  }
}

/* Count reports during shutdown: a pool destroyed with live objects is a
 * leak of the server's, and fails the exit status. */
static atomic_int shutdown_reports;
static atomic_uint_fast64_t limit_reports;
static void on_report(ebra_error_kind_t kind, const char *msg, void *arg) {
  if (kind == EBRA_INFO_ENGINE)
    return; /* knob changes: visible in the snapshot */
  if (kind == EBRA_ERR_MEMORY_LIMIT && atomic_fetch_add(&limit_reports, 1) > 0)
    return; /* expected under --maxmemory: the first one is printed */
  fprintf(stderr, "ebra: %s: %s\n", ebra_error_kind_name(kind), msg);
  if (atomic_load(&S.stop))
    atomic_fetch_add(&shutdown_reports, 1);
}

static void print_stderr(const char *text, void *arg) { fputs(text, stderr); }

static void show_stats(void) {
  long on = 0;
  ebra_snapshot_t *snap = NULL;
  if (ebra_option_get(EBRA_OPT_SHOW_STATS, &on) != 0 || !on || ebra_snapshot(&snap) != 0)
    return;
  fprintf(stderr, "kvserver: ebra at shutdown, before teardown:\n");
  ebra_snapshot_print_text(snap, print_stderr, NULL);
  ebra_snapshot_free(snap);
}

typedef struct options {
  int threads, port, metrics_port;
  const char *port_file;
} options_t;

static options_t parse_args(int argc, char **argv) {
  options_t o = {.threads = 2, .port = 6379, .metrics_port = 9121};
  for (int i = 1; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v)
      usage();
    if (!strcmp(a, "--port"))
      o.port = atoi(v);
    else if (!strcmp(a, "--threads"))
      o.threads = atoi(v);
    else if (!strcmp(a, "--metrics-port"))
      o.metrics_port = atoi(v);
    else if (!strcmp(a, "--port-file"))
      o.port_file = v;
    else if (!strcmp(a, "--maxmemory")) {
      if (!parse_size(v, &S.maxmemory))
        usage();
    } else
      usage();
  }
  if (o.threads < 1 || o.threads > MAX_WORKERS || o.port < 0 || o.port > 65535)
    usage();
  return o;
}

/* Every ebra object the server uses (W4).  0, or 1 after a message. */
static int setup_ebra(void) {
  S.start_ms = ks_now_ms();
  atomic_store(&S.next_id, 1);
  int rc;
  if ((rc = values_init()) != 0) {
    fprintf(stderr, "kvserver: value storage: %s\n", ebra_strerror(rc));
    return 1;
  }
  S.conn_pool = ebra_pool_create(&(ebra_pool_config_t){
      .name = "kv-conn", .object_size = sizeof(kv_conn_t), .alignment = 64});
  S.dom = ebra_domain_create(&(ebra_domain_config_t){.name = "kv"});
  if (!S.conn_pool || !S.dom)
    die("ebra setup");
  if ((rc = ks_init(S.dom, on_keyspace_event)) != 0) {
    fprintf(stderr, "kvserver: the keyspace needs a liburcu backend (EBRA_RECLAIM=urcu-memb "
                    "or urcu-qsbr): %s\n", strerror(-rc));
    return 1;
  }
  S.conns = ebra_weak_table_create(S.dom, &(ebra_weak_table_config_t){.name = "kv-conns"});
  S.clients = S.conns ? ebra_cache_create(S.conns, &(ebra_cache_config_t){
                                                       .name = "kv-clients",
                                                       .key_kind = EBRA_CACHE_KEY_U64})
                      : NULL;
  if (!S.clients)
    die("client registry");
  for (int ev = 0; ev < KS_EV_COUNT_; ev++)
    if (!(S.events[ev] = ebra_subject_create(S.conns, &(ebra_subject_config_t){
                                                          .name = event_channel[ev]})))
      die("keyspace-event subject");
  if ((rc = ebra_engine_init(&(ebra_engine_config_t){.background = true})) != 0)
    fprintf(stderr, "kvserver: strategy engine: %s\n", ebra_strerror(rc));
  if (S.maxmemory && (rc = ebra_set_memory_limits(0, S.maxmemory)) != 0) {
    fprintf(stderr, "kvserver: --maxmemory: %s\n", ebra_strerror(rc));
    return 1;
  }
  atomic_store(&S.maxmemory_now, S.maxmemory);
  return 0;
}

/* Listening sockets (the first picks the port if it is 0), then the
 * metrics daemon, the workers and the sweeper. */
static struct MHD_Daemon *start_serving(const options_t *o, pthread_t *sweeper) {
  S.nworkers = o->threads;
  worker_init(&S.workers[0], 0, o->port);
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  getsockname(S.workers[0].lfd, (struct sockaddr *)&a, &alen);
  S.port = ntohs(a.sin_port);
  for (int i = 1; i < o->threads; i++)
    worker_init(&S.workers[i], i, S.port);

  struct MHD_Daemon *httpd = NULL;
  if (o->metrics_port >= 0) {
    struct sockaddr_in ma = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)o->metrics_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    httpd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, (uint16_t)o->metrics_port, NULL,
                             NULL, on_http, NULL, MHD_OPTION_SOCK_ADDR,
                             (struct sockaddr *)&ma, MHD_OPTION_END);
    if (!httpd)
      die("metrics http server");
    S.metrics_port = MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_BIND_PORT)->port;
  }
  for (int i = 0; i < o->threads; i++)
    if (pthread_create(&S.workers[i].thread, NULL, worker_main, &S.workers[i]) != 0)
      die("pthread_create");
  if (pthread_create(sweeper, NULL, sweeper_main, NULL) != 0)
    die("pthread_create");
  return httpd;
}

static void announce(const options_t *o, bool http) {
  printf("kvserver: ready on 127.0.0.1:%d, %d threads, metrics %s%d%s\n", S.port, o->threads,
         http ? "on http://127.0.0.1:" : "off", http ? S.metrics_port : 0,
         http ? "/metrics" : "");
  fflush(stdout);
  if (!o->port_file)
    return;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", o->port_file);
  FILE *f = fopen(tmp, "w");
  if (!f || fprintf(f, "%d %d\n", S.port, S.metrics_port) < 0 || fclose(f) != 0 ||
      rename(tmp, o->port_file) != 0)
    die("port file");
}

/* Workers first (they close their connections), then the threads that
 * read ebra's state. */
static void stop_serving(struct MHD_Daemon *httpd, pthread_t sweeper) {
  atomic_store_explicit(&S.stop, true, memory_order_release);
  for (int i = 0; i < S.nworkers; i++)
    wake_worker(&S.workers[i]);
  for (int i = 0; i < S.nworkers; i++)
    pthread_join(S.workers[i].thread, NULL);
  pthread_mutex_lock(&sweep_mu); /* released below */
  sweep_stop = true;
  pthread_cond_signal(&sweep_cv);
  pthread_mutex_unlock(&sweep_mu);
  pthread_join(sweeper, NULL);
  if (httpd)
    MHD_stop_daemon(httpd);
  check(ebra_engine_shutdown(), "engine shutdown", &(int){0});
}

/* Destroy in dependency order (W4); how many destroys failed. */
static int teardown_ebra(void) {
  int failures = 0;
  ks_fini();
  for (int ev = 0; ev < KS_EV_COUNT_; ev++)
    check(ebra_subject_destroy(S.events[ev]), "subject destroy", &failures);
  check(ebra_cache_destroy(S.clients), "client cache destroy", &failures);
  check(ebra_domain_barrier(S.dom), "barrier", &failures);
  check(ebra_weak_table_destroy(S.conns), "weak table destroy", &failures);
  check(ebra_domain_destroy(S.dom), "domain destroy", &failures);
  values_fini();
  check(ebra_pool_destroy(S.conn_pool), "connection pool destroy", &failures);
  for (int i = 0; i < S.nworkers; i++)
    worker_fini(&S.workers[i]);
  return failures;
}

int main(int argc, char **argv) {
  const options_t o = parse_args(argc, argv);
  /* Every thread (ebra's, liburcu's, libmicrohttpd's) inherits this mask;
   * main takes SIGTERM/SIGINT with sigwait. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);
  ebra_set_report_hook(on_report, NULL);
  if (setup_ebra() != 0)
    return 1;
  pthread_t sweeper;
  struct MHD_Daemon *httpd = start_serving(&o, &sweeper);
  announce(&o, httpd != NULL);

  int sig;
  sigwait(&sigs, &sig);
  fprintf(stderr, "kvserver: signal %d, shutting down\n", sig);
  stop_serving(httpd, sweeper);
  show_stats();
  const int failures = teardown_ebra();
  const int reports = atomic_load(&shutdown_reports);
  if (failures || reports) {
    fprintf(stderr, "kvserver: shutdown found %d failures and %d reports\n", failures,
            reports);
    return 1;
  }
  fprintf(stderr, "kvserver: clean shutdown\n");
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* server.h — the kvserver's connections, workers and shared state.
 *
 * Ownership (one owner per piece of state):
 *   - a connection's buffers, socket and list links belong to the worker
 *     that accepted it (its owner); other threads reach a connection only
 *     through its weak handle (the client cache, the keyspace-event
 *     subjects) inside a read section, and touch only its immutable fields,
 *     its atomics and its push buffer (under push_mu, a leaf lock).
 *   - a worker's connection list changes only on its owner, under list_mu;
 *     CLIENT LIST reads the ids under list_mu.
 *   - the per-worker counters are written by their worker only (a relaxed
 *     load and store), read by anyone (relaxed): INFO and /metrics sums.
 */
#ifndef KV_SERVER_H
#define KV_SERVER_H

#include <ebra.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyspace.h"

#define KV_COMMANDS(X)                                                                     \
  X(PING, "ping") X(ECHO, "echo") X(GET, "get") X(SET, "set") X(DEL, "del")                \
  X(EXISTS, "exists") X(INCR, "incr") X(INCRBY, "incrby") X(DECR, "decr")                  \
  X(DECRBY, "decrby") X(MGET, "mget") X(MSET, "mset") X(EXPIRE, "expire")                  \
  X(PEXPIRE, "pexpire") X(TTL, "ttl") X(PTTL, "pttl") X(DBSIZE, "dbsize")                  \
  X(FLUSHALL, "flushall") X(FLUSHDB, "flushdb") X(INFO, "info") X(CLIENT, "client")        \
  X(QUIT, "quit") X(CONFIG, "config") X(SUBSCRIBE, "subscribe") X(SELECT, "select")        \
  X(COMMAND, "command") X(UNKNOWN, "unknown")

#define KV_ENUM(id, name) CMD_##id,
typedef enum kv_cmd_e { KV_COMMANDS(KV_ENUM) CMD_COUNT_ } kv_cmd_t;
#undef KV_ENUM

struct kv_worker;

typedef struct kv_conn {
  /* immutable once the connection is registered */
  uint64_t id;
  int fd;
  struct kv_worker *owner;
  ebra_weak_t h;
  int64_t created_ms;
  char addr[64];
  /* any thread */
  atomic_bool kill_requested;
  atomic_bool push_pending;
  atomic_int last_cmd;
  atomic_int_fast64_t last_ms;
  atomic_uint_fast64_t ncmds;
  atomic_uint subscribed; /* channels, for CLIENT LIST */
  pthread_mutex_t push_mu; /* leaf: guards push* */
  char *push;
  size_t push_len, push_cap;
  /* owner only */
  char *in;
  size_t in_len, in_cap;
  char *out;
  size_t out_len, out_pos, out_cap;
  bool closing, writing;
  unsigned sub_mask; /* keyspace-event channels subscribed */
  struct kv_conn *next, *prev;
} kv_conn_t;

typedef struct kv_worker {
  int idx, epfd, lfd, evfd;
  pthread_t thread;
  pthread_mutex_t list_mu; /* guards the links of the list at head */
  kv_conn_t *head;
  /* written by this worker only */
  atomic_uint_fast64_t cmds[CMD_COUNT_];
  atomic_uint_fast64_t hits, misses, oom, accepted, rejected, closed;
  /* argv of the command being parsed (owner only) */
  const char **argv;
  size_t *argl;
  size_t argcap;
} kv_worker_t;

#endif

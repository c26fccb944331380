/* SPDX-License-Identifier: MIT */
/* keyspace.h — the server's keys: liburcu's lock-free hash table
 * (cds_lfht) of immutable entries, read inside ebra read sections.
 *
 * Calling context: any thread, outside a read section of the keyspace's
 * domain (each call opens its own, and a write that hits the memory limit
 * waits for a grace period outside it).  ks_init/ks_fini: one thread,
 * with no other call running.
 */
#ifndef KV_KEYSPACE_H
#define KV_KEYSPACE_H

#include <ebra.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ks_event_e { KS_EV_SET = 0, KS_EV_DEL, KS_EV_EXPIRED, KS_EV_COUNT_ } ks_event_t;

/* Called after a key changed; inside a read section of the keyspace's
 * domain when the expiry sweep removed the key, else outside one.  It must
 * not wait for a grace period. */
typedef void ks_event_fn(ks_event_t ev, const char *key, size_t klen);

/* The table uses d's RCU flavour (urcu-memb or urcu-qsbr; -ENOTSUP for
 * ck-epoch).  0 or a negative errno. */
int ks_init(ebra_domain_t *d, ks_event_fn *on_event);
/* Remove and reclaim every entry, then destroy the table. */
void ks_fini(void);

/* GET: emit(arg, value, len) inside the read section if key is present
 * and not expired.  Returns 1 if found, 0 if not. */
typedef void ks_emit_fn(void *arg, const char *v, size_t vlen);
int ks_get(const char *k, size_t klen, ks_emit_fn *emit, void *arg);

/* SET: expire_ms is an absolute CLOCK_REALTIME time in ms, 0 for none.
 * 0, or -ENOMEM (memory limit, after waiting once for a grace period). */
int ks_set(const char *k, size_t klen, const char *v, size_t vlen, int64_t expire_ms);

/* MSET: every pair or none (-ENOMEM); readers may see some pairs before
 * others (no isolation, unlike Redis). */
typedef struct ks_pair_s {
  const char *k, *v;
  size_t klen, vlen;
} ks_pair_t;
int ks_mset(const ks_pair_t *kv, size_t n);

/* 1 if the key was removed, 0 if it was absent. */
int ks_del(const char *k, size_t klen);

/* 1 if the key exists (and is not expired). */
int ks_exists(const char *k, size_t klen);

/* INCRBY: the new value in *out.  0, -EINVAL (not an integer), -ERANGE
 * (overflow) or -ENOMEM. */
int ks_incr(const char *k, size_t klen, int64_t by, int64_t *out);

/* EXPIRE to an absolute time (ms; <= now deletes).  1 if set, 0 if the
 * key is absent; -ENOMEM. */
int ks_expire_at(const char *k, size_t klen, int64_t expire_ms);

/* TTL in ms: -2 absent, -1 no expiry. */
int64_t ks_ttl_ms(const char *k, size_t klen);

/* Remove every key; how many. */
uint64_t ks_flush(void);
/* Remove expired keys; how many. */
uint64_t ks_expire_sweep(void);

typedef struct ks_stats_s {
  uint64_t keys, expiring, expired;
} ks_stats_t;
void ks_stats(ks_stats_t *out);

int64_t ks_now_ms(void);

#endif

/* SPDX-License-Identifier: MIT */
/* stress/stress_owner.c — every object has exactly one owner at a time.
 *
 * Three pools (64 B; 200 B aligned to 64; 61 B with SECURE_CLEAR).  Every
 * object a worker holds carries its stamp (owner id, sequence number, check
 * word, pattern over the whole object: stress_util.h) and is registered in
 * the owner table; alloc claims it with a CAS from "no owner", every
 * hand-over moves it with a CAS, free releases it.  So:
 *   - the pool handing out an object that someone still owns fails the
 *     claim CAS (owner word or owner table): "duplicate hand-out";
 *   - a write into an owned object by anybody else (the pool, or a second
 *     owner) breaks the stamp, checked at every hand-over and before free.
 *
 * Phase 1 (half the duration): each worker allocates, frees, and swaps
 * objects with a random slot of a shared array (atomic_exchange): what it
 * takes out must carry an intact stamp of a valid owner; it re-stamps it.
 * Phase 2: half the workers produce (alloc + stamp + enqueue), half consume
 * (dequeue + verify + free) through a lock-free bounded MPMC queue, so
 * nearly every object is freed by a thread other than the one that
 * allocated it.  A consumer must see each producer's objects in the order
 * the producer stamped them (FIFO queue), and every produced object is
 * consumed exactly once.
 * Meanwhile the main thread samples ebra_pool_stats: allocs, frees and
 * objects_carved never decrease (no thread exits during the run).
 * At the end: slots drained, everything freed, workers joined; per pool
 * ebra_pool_audit() == 0 with live == 0 and cached == carved, stats allocs
 * equal the test's own count and allocs == frees, at most one thread
 * (main) still has a cache attached, and every carved object is reachable
 * (stress_check_reachable: main gets them all back without new carving).
 *
 * Arguments: -t threads (8) -d ms (2000) -s seed -n slots (256)
 *            -m objects held per worker (48).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "stress_util.h"

#define NPOOLS 3
#define QUEUE_LOG2 10

static stress_pool_t pools[NPOOLS] = {
    {.cfg = {.name = "owner-64", .object_size = 64}},
    {.cfg = {.name = "owner-200a64", .object_size = 200, .alignment = 64}},
    {.cfg = {.name = "owner-61-secure", .object_size = 61, .flags = EBRA_POOL_SECURE_CLEAR,
             .magazine_capacity = 16}},
};

static stress_args_t args = {.threads = 8, .duration_ms = 2000, .seed = 0x0E8A0001};
static unsigned long nslots = 256;
static unsigned long hold_max = 48;

static _Atomic(void *) *slots;
static pthread_barrier_t barrier;
static uint64_t deadline1_ns, deadline2_ns; /* written before the workers start */
static uint32_t main_id;

static _Atomic uint64_t total_allocs[NPOOLS], total_frees[NPOOLS];
static _Atomic uint64_t produced, consumed;
static _Atomic unsigned producers_done;
static unsigned nproducers;

/* ---- bounded MPMC queue (Vyukov) ------------------------------------------
 * Cell i is free for the enqueue at position pos when seq == pos, and full
 * for the dequeue at pos when seq == pos + 1.  The store release of seq
 * publishes data; the load acquire of seq is paired with it. */
typedef struct cell_s {
  _Atomic size_t seq;
  void *data;
} cell_t;

static struct {
  cell_t cells[1u << QUEUE_LOG2];
  _Atomic size_t enq __attribute__((aligned(64)));
  _Atomic size_t deq __attribute__((aligned(64)));
} queue;

static void queue_init(void) {
  for (size_t i = 0; i < (1u << QUEUE_LOG2); i++)
    atomic_init(&queue.cells[i].seq, i);
  atomic_init(&queue.enq, 0);
  atomic_init(&queue.deq, 0);
}

static bool queue_push(void *data) {
  const size_t mask = (1u << QUEUE_LOG2) - 1;
  size_t pos = atomic_load_explicit(&queue.enq, memory_order_relaxed);
  for (;;) {
    cell_t *c = &queue.cells[pos & mask];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    intptr_t dif = (intptr_t)seq - (intptr_t)pos;
    if (dif == 0) {
      if (atomic_compare_exchange_weak_explicit(&queue.enq, &pos, pos + 1,
                                                memory_order_relaxed, memory_order_relaxed)) {
        c->data = data;
        atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
        return true;
      }
    } else if (dif < 0) {
      return false; /* full */
    } else {
      pos = atomic_load_explicit(&queue.enq, memory_order_relaxed);
    }
  }
}

static void *queue_pop(void) {
  const size_t mask = (1u << QUEUE_LOG2) - 1;
  size_t pos = atomic_load_explicit(&queue.deq, memory_order_relaxed);
  for (;;) {
    cell_t *c = &queue.cells[pos & mask];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
    if (dif == 0) {
      if (atomic_compare_exchange_weak_explicit(&queue.deq, &pos, pos + 1,
                                                memory_order_relaxed, memory_order_relaxed)) {
        void *data = c->data;
        atomic_store_explicit(&c->seq, pos + mask + 1, memory_order_release);
        return data;
      }
    } else if (dif < 0) {
      return NULL; /* empty */
    } else {
      pos = atomic_load_explicit(&queue.deq, memory_order_relaxed);
    }
  }
}

/* ---- workers --------------------------------------------------------------- */

typedef struct worker_s {
  uint32_t id; /* 1..threads */
  stress_rng_t rng;
  uint64_t seq;
  void **held;
  size_t nheld;
  uint64_t allocs[NPOOLS], frees[NPOOLS];
  uint64_t *last_seq; /* phase 2 consumer: last seq seen per producer id */
} worker_t;

static void do_alloc(worker_t *w) {
  stress_pool_t *sp = &pools[stress_rng_below(&w->rng, NPOOLS)];
  void *p = ebra_pool_alloc(sp->pool);
  STRESS_CHECK(p, "thread %u: ebra_pool_alloc('%s') failed: %s (the pools have no cap)", w->id,
               sp->cfg.name, strerror(errno));
  stress_obj_claim(sp, p, w->id, ++w->seq);
  w->allocs[sp->index]++;
  w->held[w->nheld++] = p;
}

static void *take_random(worker_t *w) {
  size_t i = stress_rng_below(&w->rng, w->nheld);
  void *p = w->held[i];
  w->held[i] = w->held[--w->nheld];
  return p;
}

static void free_obj(worker_t *w, void *p, const char *where) {
  const stress_pool_t *sp = stress_obj_free(p, w->id, where);
  w->frees[sp->index]++;
}

static void keep_or_free(worker_t *w, void *p) {
  if (w->nheld < hold_max)
    w->held[w->nheld++] = p;
  else
    free_obj(w, p, "free of a surplus object");
}

static void do_exchange(worker_t *w) {
  const size_t i = stress_rng_below(&w->rng, nslots);
  void *give = (w->nheld && stress_rng_pct(&w->rng, 60)) ? take_random(w) : NULL;
  void *got = stress_slot_swap(slots, i, give);
  if (got) {
    stress_obj_take(got, w->id, ++w->seq, "object taken from a shared slot");
    keep_or_free(w, got);
  }
}

static void free_all_held(worker_t *w) {
  while (w->nheld)
    free_obj(w, w->held[--w->nheld], "free at end of phase");
}

static void phase_exchange(worker_t *w) {
  for (uint64_t iter = 1;; iter++) {
    if ((iter & 63) == 0 && now_ns() >= deadline1_ns)
      break;
    const unsigned r = (unsigned)stress_rng_below(&w->rng, 100);
    if (r < 40) {
      if (w->nheld < hold_max)
        do_alloc(w);
      else
        free_obj(w, take_random(w), "free");
    } else if (r < 70) {
      if (w->nheld)
        free_obj(w, take_random(w), "free");
      else
        do_alloc(w);
    } else if (r < 97) {
      do_exchange(w);
    } else if (w->nheld) {
      stress_obj_verify(w->held[stress_rng_below(&w->rng, w->nheld)], w->id,
                        "re-check of a held object");
    }
  }
  free_all_held(w);
}

static bool is_producer(uint32_t id) { return id % 2 == 1; }

static void phase_produce(worker_t *w) {
  for (uint64_t iter = 1;; iter++) {
    if ((iter & 15) == 0 && now_ns() >= deadline2_ns)
      break;
    stress_pool_t *sp = &pools[stress_rng_below(&w->rng, NPOOLS)];
    void *p = ebra_pool_alloc(sp->pool);
    STRESS_CHECK(p, "producer %u: ebra_pool_alloc('%s') failed: %s", w->id, sp->cfg.name,
                 strerror(errno));
    stress_obj_claim(sp, p, w->id, ++w->seq);
    w->allocs[sp->index]++;
    while (!queue_push(p)) {
      if (now_ns() >= deadline2_ns) {
        free_obj(w, p, "producer free of an unqueued object");
        p = NULL;
        break;
      }
      sched_yield();
    }
    if (p)
      atomic_fetch_add_explicit(&produced, 1, memory_order_relaxed);
  }
  /* release: every push of this producer happens before this increment;
   * paired with the acquire load of the consumers. */
  atomic_fetch_add_explicit(&producers_done, 1, memory_order_release);
}

static void phase_consume(worker_t *w) {
  uint64_t n = 0;
  for (;;) {
    void *p = queue_pop();
    if (!p) {
      if (atomic_load_explicit(&producers_done, memory_order_acquire) == nproducers) {
        p = queue_pop(); /* all pushes are visible now: empty means done */
        if (!p)
          break;
      } else {
        sched_yield();
        continue;
      }
    }
    const uint32_t from = stress_obj_owner(p);
    stress_obj_verify(p, 0, "object dequeued by a consumer");
    STRESS_CHECK(from <= args.threads && is_producer(from),
                 "consumer %u dequeued %p stamped by %u, which is not a producer", w->id, p,
                 from);
    const uint64_t seq = ((stress_stamp_t *)p)->seq;
    STRESS_CHECK(seq > w->last_seq[from],
                 "consumer %u: producer %u's objects out of order: seq %" PRIu64
                 " after %" PRIu64 " (a FIFO queue keeps each producer's order)",
                 w->id, from, seq, w->last_seq[from]);
    w->last_seq[from] = seq;
    stress_obj_take(p, w->id, ++w->seq, "object dequeued by a consumer");
    n++;
    if (w->nheld < hold_max && stress_rng_pct(&w->rng, 50))
      w->held[w->nheld++] = p;
    else
      free_obj(w, p, "consumer free");
    if (w->nheld && stress_rng_pct(&w->rng, 40))
      free_obj(w, take_random(w), "consumer free");
  }
  free_all_held(w);
  atomic_fetch_add_explicit(&consumed, n, memory_order_relaxed);
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  pthread_barrier_wait(&barrier); /* start */
  phase_exchange(w);
  pthread_barrier_wait(&barrier); /* phase 1 done */
  if (is_producer(w->id))
    phase_produce(w);
  else
    phase_consume(w);
  for (unsigned i = 0; i < NPOOLS; i++) {
    atomic_fetch_add_explicit(&total_allocs[i], w->allocs[i], memory_order_relaxed);
    atomic_fetch_add_explicit(&total_frees[i], w->frees[i], memory_order_relaxed);
  }
  return NULL; /* the thread's caches are flushed by its exit */
}

/* ---- main thread: monitor, drain, check -------------------------------------- */

static void monitor(uint64_t until_ns, ebra_pool_stats_t *prev) {
  while (now_ns() < until_ns) {
    sleep_us(5000);
    for (unsigned i = 0; i < NPOOLS; i++) {
      ebra_pool_stats_t s = stress_stats(&pools[i]);
      STRESS_CHECK(s.allocs >= prev[i].allocs && s.frees >= prev[i].frees &&
                       s.objects_carved >= prev[i].objects_carved,
                   "pool '%s': stats went backwards while no thread exited: allocs %" PRIu64
                   " -> %" PRIu64 ", frees %" PRIu64 " -> %" PRIu64 ", carved %" PRIu64
                   " -> %" PRIu64,
                   pools[i].cfg.name, prev[i].allocs, s.allocs, prev[i].frees, s.frees,
                   prev[i].objects_carved, s.objects_carved);
      prev[i] = s;
    }
  }
}

int main(int argc, char **argv) {
  const stress_opt_t extra[] = {
      {.letter = 'n', .help = "shared slots", .value = &nslots,
       .min = 1, .max = 1u << 20},
      {.letter = 'm', .help = "objects held per worker", .value = &hold_max,
       .min = 1, .max = 1u << 16},
  };
  stress_parse_args("stress_owner", argc, argv, &args, 0, extra, 2);
  STRESS_CHECK(args.threads >= 2, "-t: need at least 2 threads (a producer and a consumer)");
  const uint64_t t0 = now_ns();
  stress_hook_install();
  stress_pools_create(pools, NPOOLS);
  main_id = (uint32_t)args.threads + 1;
  stress_stamp_setup(pools, NPOOLS, main_id);
  stress_table_enable(20);
  queue_init();
  slots = calloc(nslots, sizeof *slots);
  worker_t *w = calloc(args.threads, sizeof *w);
  STRESS_CHECK(slots && w, "out of memory");
  nproducers = 0;
  for (uint32_t i = 1; i <= args.threads; i++)
    nproducers += is_producer(i);

  pthread_barrier_init(&barrier, NULL, (unsigned)args.threads + 1);
  deadline1_ns = now_ns() + args.duration_ms * 1000000ull / 2;
  deadline2_ns = deadline1_ns + args.duration_ms * 1000000ull / 2;
  for (unsigned i = 0; i < args.threads; i++) {
    w[i].id = i + 1;
    stress_rng_init(&w[i].rng, args.seed, i + 1);
    w[i].held = calloc(hold_max, sizeof(void *));
    w[i].last_seq = calloc(args.threads + 2, sizeof(uint64_t));
    STRESS_CHECK(w[i].held && w[i].last_seq, "out of memory");
  }
  stress_threads_t *workers = stress_spawn(args.threads, worker_main, w, sizeof *w);
  ebra_pool_stats_t prev[NPOOLS];
  memset(prev, 0, sizeof prev);
  pthread_barrier_wait(&barrier);
  monitor(deadline1_ns, prev);
  pthread_barrier_wait(&barrier);
  monitor(deadline2_ns, prev);
  stress_join(workers);

  STRESS_CHECK(atomic_load(&produced) == atomic_load(&consumed),
               "producer/consumer: %" PRIu64 " objects queued but %" PRIu64 " consumed",
               atomic_load(&produced), atomic_load(&consumed));

  /* Drain the slots: the main thread takes over and frees what is left. */
  uint64_t seq = 0, drained = 0;
  uint64_t main_frees[NPOOLS] = {0};
  for (size_t i = 0; i < nslots; i++) {
    void *p = stress_slot_swap(slots, i, NULL);
    if (!p)
      continue;
    stress_obj_take(p, main_id, ++seq, "object drained from a slot");
    main_frees[stress_obj_free(p, main_id, "free of a drained object")->index]++;
    drained++;
  }

  uint64_t allocs_all = 0;
  for (unsigned i = 0; i < NPOOLS; i++) {
    const uint64_t a = atomic_load(&total_allocs[i]);
    STRESS_CHECK(a == atomic_load(&total_frees[i]) + main_frees[i],
                 "test bookkeeping: pool '%s' allocs %" PRIu64 " != frees %" PRIu64,
                 pools[i].cfg.name, a, atomic_load(&total_frees[i]) + main_frees[i]);
    stress_check_quiescent(&pools[i], 0, a, "end of run");
    ebra_pool_stats_t s = stress_stats(&pools[i]);
    STRESS_CHECK(s.threads <= 1,
                 "pool '%s': %u threads still have a cache after all workers exited "
                 "(only main may)",
                 pools[i].cfg.name, s.threads);
    allocs_all += a;
    stress_check_reachable(&pools[i], main_id, "end of run");
  }
  stress_pools_destroy(pools, NPOOLS);
  ebra_thread_exit();
  for (unsigned i = 0; i < args.threads; i++) {
    free(w[i].held);
    free(w[i].last_seq);
  }
  free(w);
  free(slots);
  pthread_barrier_destroy(&barrier);
  stress_say("ok: %lu threads, %" PRIu64 " allocs, %" PRIu64 " queued, %" PRIu64
             " drained from slots, %.2f s\n",
             args.threads, allocs_all, atomic_load(&produced), drained,
             (double)(now_ns() - t0) / 1e9);
  return 0;
}

/* src/engine.c — the strategy engine: one step measures, decides, applies,
 * checks alerts and records a sample.
 *
 * Signals (per step, from the counters the pools and domains already keep;
 * rates are deltas over the measured interval of CLOCK_MONOTONIC):
 *   activity     allocs + frees + retires per second, all pools/domains;
 *   depot_share  objects moved through the depots (in full magazines,
 *                counted by the thread caches) per alloc or free.
 *                It does not depend on machine speed or on the capacity the
 *                engine chose, so growing magazines does not make it fall
 *                and flap the choice back;
 *   contention   depot CAS failures per exchange;
 *   pending bytes, worst grace-period p99, committed vs live bytes.
 *
 * Adaptive's pick, from these (thresholds in engine_pick):
 *   soft limit passed                           -> memory-efficient, at once
 *   depot busy (share or contention high)       -> high-throughput
 *   grace periods slow, reclaimer load high,
 *   or pending piling up                        -> high-throughput (batch)
 *   idle, and slab memory beyond live to return -> memory-efficient
 *   otherwise                                   -> low-latency
 * Hysteresis twice over: each test has an enter and a (looser) stay level,
 * and a new pick must win two steps in a row before it is applied.
 *
 * Knobs per strategy (apply_pool / apply_domain):
 *                     magazine cap       depot keeps          slabs   batching
 *   low-latency       kept, >= config    2 x last exchanges   kept    16, 200 us
 *   high-throughput   x2 per busy step,  2 x last exchanges   kept    256, 10 ms
 *                     up to 4 x config
 *   memory-efficient  config / 4         nothing              purged  64, 1 ms
 *
 * Concurrency.  engine.lock serialises steps, configuration, alerts and the
 * history; pub_lock (a leaf) guards the stats a step publishes at its end,
 * so ebra_engine_stats never waits for a step.  A step takes the registry
 * lock to apply pool knobs, so pools
 * cannot be destroyed under it (lock order: engine.lock -> registry ->
 * pool->grow_lock, as thread.c documents).  Alert callbacks run after
 * engine.lock is dropped, under engine.cb_lock, so ebra_alert_remove can
 * promise that a removed callback is not running.  The background thread
 * waits on a condition variable, so shutdown interrupts its sleep.
 * Progress: blocking (locks), off every allocation and read-side path.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weak_internal.h"
#include "ebra/engine.h"

#define MAX_ALERTS 64
#define DEFAULT_INTERVAL_NS 100000000ull /* 100 ms */
#define DEFAULT_HISTORY 1000u

/* Adaptive thresholds: enter / stay levels. */
#define IDLE_ENTER_PER_S 1000.0      /* activity below: idle */
#define IDLE_STAY_PER_S 5000.0
#define BUSY_MIN_OPS_PER_S 10000.0   /* below this the depot share is noise */
#define SHARE_ENTER 0.25             /* objects through the depot per op */
#define SHARE_STAY 0.10
#define CONTENTION_ENTER 0.05        /* CAS failures per exchange */
#define GP_SLOW_ENTER_NS 20000000ull /* p99: grace periods are costly */
#define GP_SLOW_STAY_NS 10000000ull
#define PENDING_HIGH_BYTES (64ull << 20)
#define LL_BATCH 16u                 /* low-latency's retire batch */
#define GP_BUSY_ENTER 0.5            /* share of a second that low-latency's */
#define GP_BUSY_STAY 0.25            /*   batching would spend in grace periods */
#define CONFIRM_STEPS 2
#define CONFIRM_STEPS_LEAN 4         /* to memory-efficient: purging is costly
                                        to undo, and a loaded machine can
                                        starve the workers for a step or two */

typedef struct alert_s {
  bool used, raised;
  int id;
  ebra_alert_metric_t metric;
  uint64_t threshold, clear_below;
  ebra_alert_fn *fn;
  void *arg;
} alert_t;

typedef struct event_s {
  ebra_alert_event_t ev;
  ebra_alert_fn *fn;
  void *arg;
  char subject[EBRA_POOL_NAME_MAX];
} event_t;

/* What a step hands to the code that runs after engine.lock is dropped:
 * alert crossings, and informational reports (a report hook is user code
 * that may call into ebra, so none runs under the engine's or registry's
 * locks). */
#define MAX_INFO 32
typedef struct step_out_s {
  event_t ev[MAX_ALERTS];
  size_t nev;
  char info[MAX_INFO][160];
  size_t ninfo;
} step_out_t;

static step_out_t *cur_out; /* the running step's, under engine.lock */

static void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void info(const char *fmt, ...) {
  if (!cur_out || cur_out->ninfo == MAX_INFO)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cur_out->info[cur_out->ninfo++], sizeof cur_out->info[0], fmt, ap);
  va_end(ap);
}

/* What one step measured. */
typedef struct measure_s {
  uint64_t t_ns, ops, allocs, frees, exchanges, depot_objects, contention, retired;
  uint64_t resident, committed, live, pending, gp_p99, grace_periods;
  uint64_t gp_p50;     /* worst domain median grace-period latency */
  double dt_s;
  ebra_sample_t rates;
} measure_t;

static struct {
  pthread_mutex_t lock, cb_lock;
  pthread_cond_t wake;
  bool inited, background, stop;
  pthread_t thread;
  uint64_t interval_ns;
  ebra_strategy_t configured, active, candidate;
  uint32_t candidate_steps;
  ebra_sample_t *hist;
  uint32_t hist_len, hist_next;
  uint64_t hist_count;
  alert_t alerts[MAX_ALERTS];
  int next_alert_id;
  measure_t prev;
  bool have_prev;
  ebra_engine_stats_t st;  /* the working copy, under lock */
  pthread_mutex_t pub_lock; /* a leaf lock: guards pub only */
  ebra_engine_stats_t pub; /* st as of the last step, for readers that must
                              not wait for a step (the monitor's snapshot,
                              which a step itself takes) */
} eng = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .pub_lock = PTHREAD_MUTEX_INITIALIZER,
    .cb_lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

static __thread bool in_alert_callback;

/* Copy the working stats to the published ones (engine.lock held). */
static void publish_locked(void) {
  pthread_mutex_lock(&eng.pub_lock);
  eng.pub = eng.st;
  eng.pub.configured = eng.inited ? eng.configured
                                  : (ebra_strategy_t)ebra_option_get(EBRA_OPT_STRATEGY);
  eng.pub.active = eng.inited ? eng.active : EBRA_STRATEGY_LOW_LATENCY;
  pthread_mutex_unlock(&eng.pub_lock);
}

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *ebra_strategy_name(ebra_strategy_t s) {
  return (unsigned)s < EBI_STRATEGY_COUNT ? ebi_strategy_names[s] : "unknown";
}

/* ---- configuration (engine.lock held) ------------------------------------ */

static int init_locked(const ebra_engine_config_t *cfg) {
  const ebra_engine_config_t defaults = {
      .strategy = (ebra_strategy_t)ebra_option_get(EBRA_OPT_STRATEGY)};
  if (!cfg)
    cfg = &defaults;
  if ((unsigned)cfg->strategy > EBRA_STRATEGY_MEMORY_EFFICIENT)
    return -EINVAL;
  const uint32_t len = cfg->history_len ? cfg->history_len : DEFAULT_HISTORY;
  ebra_sample_t *hist = calloc(len, sizeof *hist);
  if (!hist)
    return -ENOMEM;
  free(eng.hist);
  eng.hist = hist;
  eng.hist_len = len;
  eng.hist_next = 0;
  eng.hist_count = 0;
  eng.configured = cfg->strategy;
  eng.active = cfg->strategy == EBRA_STRATEGY_ADAPTIVE ? EBRA_STRATEGY_LOW_LATENCY : cfg->strategy;
  eng.candidate = eng.active;
  eng.candidate_steps = 0;
  eng.interval_ns = cfg->interval_ns ? cfg->interval_ns : DEFAULT_INTERVAL_NS;
  eng.have_prev = false;
  eng.inited = true;
  publish_locked();
  return 0;
}

/* ---- measure ------------------------------------------------------------------ */

static double per_s(uint64_t now, uint64_t before, double dt) {
  return dt > 0 && now >= before ? (double)(now - before) / dt : 0.0;
}

static int measure(measure_t *m) {
  ebra_snapshot_t *snap;
  int rc = ebra_snapshot(&snap);
  if (rc)
    return rc;
  memset(m, 0, sizeof *m);
  m->t_ns = monotonic_ns();
  for (uint32_t i = 0; i < snap->npools; i++) {
    const ebra_pool_stats_t *p = &snap->pools[i].stats;
    m->allocs += p->allocs;
    m->frees += p->frees;
    m->exchanges += p->depot_exchanges;
    m->depot_objects += p->depot_objects;
    m->contention += p->depot_contention;
  }
  m->ops = m->allocs + m->frees;
  for (uint32_t i = 0; i < snap->ndomains; i++) {
    const ebra_domain_stats_t *d = &snap->domains[i].stats;
    m->retired += d->retired;
    m->grace_periods += d->grace_periods;
    if (d->gp_ns_p50 > m->gp_p50)
      m->gp_p50 = d->gp_ns_p50;
    if (d->gp_ns_p99 > m->gp_p99)
      m->gp_p99 = d->gp_ns_p99;
  }
  m->resident = snap->resident_bytes;
  m->live = snap->bytes_live;
  m->pending = snap->pending_bytes;
  m->committed = ebi_slab_committed_bytes();
  ebra_snapshot_free(snap);
  return 0;
}

/* Rates of m over the interval since prev (zero on the first step). */
static void measure_rates(measure_t *m, const measure_t *prev, bool have_prev) {
  ebra_sample_t *r = &m->rates;
  m->dt_s = have_prev ? (double)(m->t_ns - prev->t_ns) / 1e9 : 0.0;
  r->t_ns = m->t_ns;
  r->resident_bytes = m->resident;
  r->committed_bytes = m->committed;
  r->live_bytes = m->live;
  r->pending_bytes = m->pending;
  r->gp_p99_ns = m->gp_p99;
  if (!have_prev)
    return;
  r->alloc_rate = (uint64_t)per_s(m->allocs, prev->allocs, m->dt_s);
  r->free_rate = (uint64_t)per_s(m->frees, prev->frees, m->dt_s);
  r->exchange_rate = (uint64_t)per_s(m->exchanges, prev->exchanges, m->dt_s);
  r->contention_rate = (uint64_t)per_s(m->contention, prev->contention, m->dt_s);
  r->retire_rate = (uint64_t)per_s(m->retired, prev->retired, m->dt_s);
}

/* ---- decide ------------------------------------------------------------------- */

static bool depot_busy(const measure_t *m, const measure_t *prev, bool staying) {
  const double ops_rate = per_s(m->ops, prev->ops, m->dt_s);
  if (ops_rate < BUSY_MIN_OPS_PER_S || m->ops <= prev->ops)
    return false;
  const double ops = (double)(m->ops - prev->ops);
  const double moved = m->depot_objects >= prev->depot_objects
                           ? (double)(m->depot_objects - prev->depot_objects) : 0.0;
  const double xchg = m->exchanges > prev->exchanges ? (double)(m->exchanges - prev->exchanges) : 0;
  const double lost = m->contention > prev->contention
                          ? (double)(m->contention - prev->contention) : 0.0;
  if (moved / ops >= (staying ? SHARE_STAY : SHARE_ENTER))
    return true;
  return xchg > 0 && lost / xchg >= CONTENTION_ENTER;
}

/* Adaptive's pick for this step (before the confirmation rule). */
static ebra_strategy_t engine_pick(const measure_t *m, const measure_t *prev, bool pressure) {
  if (pressure)
    return EBRA_STRATEGY_MEMORY_EFFICIENT;
  const ebra_strategy_t cur = eng.active;
  if (depot_busy(m, prev, cur == EBRA_STRATEGY_HIGH_THROUGHPUT))
    return EBRA_STRATEGY_HIGH_THROUGHPUT;
  const double activity = per_s(m->ops + m->retired, prev->ops + prev->retired, m->dt_s);
  const bool idle = activity < (cur == EBRA_STRATEGY_MEMORY_EFFICIENT ? IDLE_STAY_PER_S
                                                                       : IDLE_ENTER_PER_S);
  const bool spare = m->committed > m->live + EBI_GRANULE_SIZE; /* a slab to give back */
  if (idle && (spare || cur == EBRA_STRATEGY_MEMORY_EFFICIENT))
    return EBRA_STRATEGY_MEMORY_EFFICIENT;
  /* The p99 covers the last 1024 grace periods: only news if some ran. */
  const bool fresh_gp = m->grace_periods > prev->grace_periods;
  const uint64_t slow = cur == EBRA_STRATEGY_HIGH_THROUGHPUT ? GP_SLOW_STAY_NS : GP_SLOW_ENTER_NS;
  /* Would low-latency's small batches keep the reclaimer waiting for grace
   * periods most of the time?  Then bigger batches, which amortise each
   * grace period, win.  Estimated from the retire rate, the batch size and
   * the median grace period, so it does not fall when high-throughput's
   * bigger batches make grace periods rarer (that would flap). */
  const double retire_rate = per_s(m->retired, prev->retired, m->dt_s);
  const double busy = retire_rate / LL_BATCH * (double)m->gp_p50 / 1e9;
  const double busy_level = cur == EBRA_STRATEGY_HIGH_THROUGHPUT ? GP_BUSY_STAY : GP_BUSY_ENTER;
  if (!idle && ((fresh_gp && m->gp_p99 >= slow) || busy >= busy_level ||
                m->pending >= PENDING_HIGH_BYTES))
    return EBRA_STRATEGY_HIGH_THROUGHPUT;
  return idle ? cur : EBRA_STRATEGY_LOW_LATENCY;
}

static void decide(const measure_t *m, bool pressure) {
  ebra_strategy_t want = eng.configured;
  if (want == EBRA_STRATEGY_ADAPTIVE) {
    if (!eng.have_prev)
      return;
    want = engine_pick(m, &eng.prev, pressure);
    if (want != eng.active && !pressure) {
      eng.candidate_steps = want == eng.candidate ? eng.candidate_steps + 1 : 1;
      eng.candidate = want;
      if (eng.candidate_steps <
          (want == EBRA_STRATEGY_MEMORY_EFFICIENT ? CONFIRM_STEPS_LEAN : CONFIRM_STEPS))
        return;
    }
  }
  eng.candidate_steps = 0;
  if (want == eng.active)
    return;
  info("strategy %s -> %s (%s)", ebra_strategy_name(eng.active),
              ebra_strategy_name(want), pressure ? "soft limit" : "measured rates");
  eng.active = want;
  eng.candidate = want;
  eng.st.switches++;
}

/* ---- apply (registry lock held) --------------------------------------------- */

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

/* The magazine capacity the active strategy wants for pool (busy: the
 * depot is this pool's hot path this step). */
static uint32_t capacity_for(const ebra_pool_t *pool, bool busy) {
  const uint32_t base = pool->mag_capacity_base;
  const uint32_t kept = max_u32(ebi_atomic_load_relaxed(&pool->xmag_capacity), base);
  switch (eng.active) {
  case EBRA_STRATEGY_HIGH_THROUGHPUT: /* x2 per busy step, up to 4 x base */
    return busy ? max_u32(kept, min_u32(kept * 2, min_u32(base * 4, EBRA_MAX_MAGAZINE_CAPACITY)))
                : kept;
  case EBRA_STRATEGY_MEMORY_EFFICIENT: /* base / 4, at least 4 (or base) */
    return min_u32(base, max_u32(base / 4, 4));
  default: /* low-latency: what high-throughput grew stays (bigger
              magazines mean fewer slow paths) */
    return kept;
  }
}

static void apply_pool(ebra_pool_t *pool, bool pressure) {
  ebra_pool_stats_t st;
  ebi_pool_stats_locked(pool, &st);
  const uint64_t ops = st.allocs + st.frees;
  const uint64_t d_ops = ops - pool->eng_prev_ops;
  const uint64_t d_xchg = st.depot_exchanges - pool->eng_prev_exchanges;
  const uint64_t d_lost = st.depot_contention - pool->eng_prev_contention;
  const uint64_t d_moved = st.depot_objects - pool->eng_prev_objects;
  const bool seen = pool->eng_prev_ops || pool->eng_prev_exchanges;
  pool->eng_prev_objects = st.depot_objects;
  pool->eng_prev_ops = ops;
  pool->eng_prev_exchanges = st.depot_exchanges;
  pool->eng_prev_contention = st.depot_contention;
  /* Bonwick's rule, per pool: grow when the depot is this pool's busy path. */
  const bool busy = seen && d_ops > 0 &&
                    ((double)d_moved / (double)d_ops >= SHARE_STAY ||
                     (d_xchg && (double)d_lost / (double)d_xchg >= CONTENTION_ENTER));
  const uint32_t cap = capacity_for(pool, busy);
  if (cap != st.magazine_capacity) {
    ebi_atomic_store_relaxed(&pool->xmag_capacity, cap);
    eng.st.knob_changes++;
    info("pool '%s': magazine capacity %u -> %u (%s)", pool->name,
                st.magazine_capacity, cap, ebra_strategy_name(eng.active));
  }
  const bool lean = pressure || eng.active == EBRA_STRATEGY_MEMORY_EFFICIENT;
  eng.st.magazines_trimmed += ebi_depot_trim(pool, lean ? 0 : 2 * d_xchg + 8);
  if (lean)
    eng.st.bytes_purged += ebi_slab_purge_free(pool);
}

static void apply_domain(ebra_domain_t *d, bool pressure) {
  unsigned batch = 64;
  uint64_t age = 1000000;
  if (eng.active == EBRA_STRATEGY_LOW_LATENCY) {
    batch = 16;
    age = 200000;
  } else if (eng.active == EBRA_STRATEGY_HIGH_THROUGHPUT) {
    batch = 256;
    age = 10000000;
  }
  if (ebi_atomic_load_relaxed(&d->xbatch_size) != batch ||
      ebi_atomic_load_relaxed(&d->xmax_age_ns) != age) {
    ebra_domain_set_batching(d, batch, age);
    eng.st.knob_changes++;
    info("domain '%s': batches of %u or %.1f ms (%s)", d->name, batch,
                (double)age / 1e6, ebra_strategy_name(eng.active));
  }
  if (pressure) {
    ebi_domain_request_flush(d);
    eng.st.forced_grace_periods++;
  }
}

static void apply(bool pressure) {
  ebi_registry_lock();
  for (uint32_t id = 0; id < ebi_registry_capacity(); id++) {
    ebra_pool_t *pool = ebi_registry_at(id);
    if (pool)
      apply_pool(pool, pressure);
  }
  for (uint32_t id = 0; id < ebi_domain_registry_capacity(); id++) {
    ebra_domain_t *d = ebi_domain_registry_at(id);
    if (d && d->state == EBI_POOL_ALIVE)
      apply_domain(d, pressure);
  }
  ebi_registry_unlock();
}

/* ---- alerts ------------------------------------------------------------------- */

/* The alert's measure now, and what it is about. */
static uint64_t alert_value(ebra_alert_metric_t metric, const ebra_snapshot_t *snap,
                            const measure_t *m, const char **subject) {
  *subject = "process";
  uint64_t worst = 0;
  switch (metric) {
  case EBRA_ALERT_RESIDENT_BYTES: return m->resident;
  case EBRA_ALERT_PENDING_BYTES: return m->pending;
  case EBRA_ALERT_GRACE_PERIOD_NS:
    for (uint32_t i = 0; i < snap->ndomains; i++)
      if (snap->domains[i].stats.gp_ns_p99 >= worst) {
        worst = snap->domains[i].stats.gp_ns_p99;
        *subject = snap->domains[i].name;
      }
    return worst;
  case EBRA_ALERT_CAP_USAGE_PERMILLE:
    for (uint32_t i = 0; i < snap->npools; i++) {
      const ebra_pool_stats_t *p = &snap->pools[i].stats;
      if (!p->max_objects)
        continue;
      const uint64_t v = p->objects_live * 1000 / p->max_objects;
      if (v >= worst) {
        worst = v;
        *subject = snap->pools[i].name;
      }
    }
    return worst;
  }
  return 0;
}

/* Crossings since the last step, into ev[] (engine.lock held). */
static size_t alerts_check(const measure_t *m, event_t *ev) {
  size_t n = 0;
  ebra_snapshot_t *snap = NULL;
  for (int i = 0; i < MAX_ALERTS; i++) {
    alert_t *a = &eng.alerts[i];
    if (!a->used)
      continue;
    if (!snap && ebra_snapshot(&snap) != 0)
      return n;
    const char *subject;
    const uint64_t v = alert_value(a->metric, snap, m, &subject);
    const bool cross_up = !a->raised && v >= a->threshold;
    const bool cross_down = a->raised && v < a->clear_below;
    if (!cross_up && !cross_down)
      continue;
    a->raised = cross_up;
    event_t *e = &ev[n++];
    e->ev = (ebra_alert_event_t){.id = a->id, .metric = a->metric, .raised = cross_up,
                                 .value = v, .threshold = a->threshold,
                                 .clear_below = a->clear_below, .subject = e->subject};
    snprintf(e->subject, sizeof e->subject, "%s", subject);
    e->fn = a->fn;
    e->arg = a->arg;
  }
  ebra_snapshot_free(snap);
  return n;
}

/* Run the callbacks, after engine.lock was dropped.  An alert removed in
 * between is skipped: removal takes cb_lock, and we look again under it. */
static void alerts_fire(event_t *ev, size_t n) {
  pthread_mutex_lock(&eng.cb_lock);
  in_alert_callback = true;
  for (size_t i = 0; i < n; i++) {
    pthread_mutex_lock(&eng.lock);
    bool still = false;
    for (int k = 0; k < MAX_ALERTS; k++)
      still |= eng.alerts[k].used && eng.alerts[k].id == ev[i].ev.id;
    pthread_mutex_unlock(&eng.lock);
    if (still)
      ev[i].fn(&ev[i].ev, ev[i].arg);
  }
  in_alert_callback = false;
  pthread_mutex_unlock(&eng.cb_lock);
}

int ebra_alert_add(ebra_alert_metric_t metric, uint64_t threshold, uint64_t clear_below,
                   ebra_alert_fn *fn, void *arg) {
  if (!fn || (unsigned)metric > EBRA_ALERT_CAP_USAGE_PERMILLE || clear_below > threshold) {
    ebi_report(EBRA_ERR_BAD_CONFIG, "ebra_alert_add: bad metric, callback or levels");
    return -EINVAL;
  }
  int id = -ENOSPC;
  pthread_mutex_lock(&eng.lock);
  for (int i = 0; i < MAX_ALERTS; i++) {
    if (!eng.alerts[i].used) {
      id = eng.next_alert_id++;
      eng.alerts[i] = (alert_t){.used = true, .id = id, .metric = metric,
                                .threshold = threshold, .clear_below = clear_below,
                                .fn = fn, .arg = arg};
      break;
    }
  }
  pthread_mutex_unlock(&eng.lock);
  return id;
}

int ebra_alert_remove(int id) {
  if (in_alert_callback) {
    ebi_report(EBRA_ERR_BAD_CALL, "ebra_alert_remove from an alert callback");
    return -EDEADLK;
  }
  int rc = -ENOENT;
  pthread_mutex_lock(&eng.cb_lock); /* no callback is running past here */
  pthread_mutex_lock(&eng.lock);
  for (int i = 0; i < MAX_ALERTS; i++) {
    if (eng.alerts[i].used && eng.alerts[i].id == id) {
      eng.alerts[i].used = false;
      rc = 0;
    }
  }
  pthread_mutex_unlock(&eng.lock);
  pthread_mutex_unlock(&eng.cb_lock);
  return rc;
}

/* ---- history ------------------------------------------------------------------ */

static void history_put(const ebra_sample_t *s) {
  eng.hist[eng.hist_next] = *s;
  eng.hist_next = (eng.hist_next + 1) % eng.hist_len;
  eng.hist_count++;
}

size_t ebra_history(ebra_sample_t *out, size_t max) {
  if (!out)
    return 0;
  pthread_mutex_lock(&eng.lock);
  size_t n = 0;
  if (eng.inited) {
    const uint64_t have = eng.hist_count < eng.hist_len ? eng.hist_count : eng.hist_len;
    n = have < max ? (size_t)have : max;
    for (size_t i = 0; i < n; i++) /* the n newest, oldest first */
      out[i] = eng.hist[(eng.hist_next + eng.hist_len - n + i) % eng.hist_len];
  }
  pthread_mutex_unlock(&eng.lock);
  return n;
}

/* ---- the step ------------------------------------------------------------------ */

static int step_locked(step_out_t *out) {
  if (!eng.inited) {
    const int rc = init_locked(NULL);
    if (rc)
      return rc;
  }
  measure_t m;
  int rc = measure(&m);
  if (rc)
    return rc;
  measure_rates(&m, &eng.prev, eng.have_prev);
  const uint64_t soft = (uint64_t)ebra_option_get(EBRA_OPT_SOFT_LIMIT);
  const bool pressure = soft && m.committed > soft;
  if (pressure)
    eng.st.soft_limit_steps++;
  decide(&m, pressure);
  if (pressure || eng.active == EBRA_STRATEGY_MEMORY_EFFICIENT)
    ebi_thread_flush_caches(); /* the caller's own caches; others' are theirs */
  apply(pressure);
  m.rates.active = eng.active;
  m.rates.committed_bytes = ebi_slab_committed_bytes(); /* after purging */
  history_put(&m.rates);
  out->nev = alerts_check(&m, out->ev);
  eng.st.alloc_rate = m.rates.alloc_rate;
  eng.st.free_rate = m.rates.free_rate;
  eng.st.exchange_rate = m.rates.exchange_rate;
  eng.st.contention_rate = m.rates.contention_rate;
  eng.st.retire_rate = m.rates.retire_rate;
  eng.st.steps++;
  eng.prev = m;
  eng.have_prev = true;
  publish_locked();
  return 0;
}

int ebra_maintain(void) {
  if (in_alert_callback) {
    ebi_report(EBRA_ERR_BAD_CALL, "ebra_maintain from an alert callback");
    return -EDEADLK;
  }
  step_out_t *out = calloc(1, sizeof *out);
  if (!out)
    return -ENOMEM;
  pthread_mutex_lock(&eng.lock);
  cur_out = out;
  const int rc = step_locked(out);
  cur_out = NULL;
  pthread_mutex_unlock(&eng.lock);
  for (size_t i = 0; i < out->ninfo; i++)
    ebi_report(EBRA_INFO_ENGINE, "%s", out->info[i]);
  if (out->nev)
    alerts_fire(out->ev, out->nev);
  free(out);
  return rc;
}

/* ---- background thread ------------------------------------------------------- */

static void *engine_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&eng.lock);
  while (!eng.stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const uint64_t at = (uint64_t)ts.tv_nsec + eng.interval_ns;
    ts.tv_sec += (time_t)(at / 1000000000ull);
    ts.tv_nsec = (long)(at % 1000000000ull);
    pthread_cond_timedwait(&eng.wake, &eng.lock, &ts);
    if (eng.stop)
      break;
    pthread_mutex_unlock(&eng.lock);
    ebra_maintain();
    pthread_mutex_lock(&eng.lock);
  }
  pthread_mutex_unlock(&eng.lock);
  ebra_thread_detach();
  return NULL;
}

int ebra_engine_init(const ebra_engine_config_t *cfg) {
  pthread_mutex_lock(&eng.lock);
  if (eng.inited && (eng.background || eng.st.steps)) {
    pthread_mutex_unlock(&eng.lock);
    return -EALREADY;
  }
  int rc = init_locked(cfg);
  if (!rc && cfg && cfg->background) {
    eng.stop = false;
    rc = -pthread_create(&eng.thread, NULL, engine_main, NULL);
    eng.background = rc == 0;
  }
  if (rc)
    eng.inited = false;
  pthread_mutex_unlock(&eng.lock);
  if (rc == -EINVAL)
    ebi_report(EBRA_ERR_BAD_CONFIG, "ebra_engine_init: unknown strategy");
  return rc;
}

int ebra_engine_shutdown(void) {
  pthread_mutex_lock(&eng.lock);
  const bool join = eng.background;
  eng.stop = true;
  pthread_cond_broadcast(&eng.wake);
  pthread_mutex_unlock(&eng.lock);
  if (join)
    pthread_join(eng.thread, NULL);
  pthread_mutex_lock(&eng.cb_lock);
  pthread_mutex_lock(&eng.lock);
  eng.background = false;
  eng.inited = false;
  free(eng.hist);
  eng.hist = NULL;
  memset(eng.alerts, 0, sizeof eng.alerts);
  memset(&eng.st, 0, sizeof eng.st);
  eng.have_prev = false;
  publish_locked();
  pthread_mutex_unlock(&eng.lock);
  pthread_mutex_unlock(&eng.cb_lock);
  return 0;
}

int ebra_engine_set_strategy(ebra_strategy_t s) {
  if ((unsigned)s > EBRA_STRATEGY_MEMORY_EFFICIENT) {
    ebi_report(EBRA_ERR_BAD_CONFIG, "ebra_engine_set_strategy: unknown strategy %d", (int)s);
    return -EINVAL;
  }
  pthread_mutex_lock(&eng.lock);
  int rc = eng.inited ? 0 : init_locked(NULL);
  if (!rc) {
    eng.configured = s;
    eng.candidate_steps = 0;
    publish_locked();
  }
  pthread_mutex_unlock(&eng.lock);
  return rc;
}

int ebra_set_memory_limits(uint64_t soft_bytes, uint64_t hard_bytes) {
  if ((hard_bytes && soft_bytes > hard_bytes) || soft_bytes > LONG_MAX || hard_bytes > LONG_MAX) {
    ebi_report(EBRA_ERR_BAD_CONFIG, "ebra_set_memory_limits: soft %" PRIu64 " > hard %" PRIu64,
                soft_bytes, hard_bytes);
    return -EINVAL;
  }
  ebra_option_set(EBRA_OPT_SOFT_LIMIT, (long)soft_bytes);
  ebra_option_set(EBRA_OPT_HARD_LIMIT, (long)hard_bytes);
  return 0;
}

int ebra_engine_stats(ebra_engine_stats_t *out) {
  if (!out)
    return -EINVAL;
  pthread_mutex_lock(&eng.pub_lock);
  *out = eng.pub;
  pthread_mutex_unlock(&eng.pub_lock);
  if (out->active == EBRA_STRATEGY_ADAPTIVE) { /* never active: nothing published yet */
    out->configured = (ebra_strategy_t)ebra_option_get(EBRA_OPT_STRATEGY);
    out->active = EBRA_STRATEGY_LOW_LATENCY;
  }
  out->hard_limit_refusals = ebi_slab_limit_refusals();
  out->committed_bytes = ebi_slab_committed_bytes();
  out->soft_limit = (uint64_t)ebra_option_get(EBRA_OPT_SOFT_LIMIT);
  out->hard_limit = (uint64_t)ebra_option_get(EBRA_OPT_HARD_LIMIT);
  return 0;
}

/* fork: the child has no engine thread; it starts unconfigured. */
static void engine_fork_prepare(void) {
  pthread_mutex_lock(&eng.cb_lock);
  pthread_mutex_lock(&eng.lock);
  pthread_mutex_lock(&eng.pub_lock);
}

static void engine_fork_parent(void) {
  pthread_mutex_unlock(&eng.pub_lock);
  pthread_mutex_unlock(&eng.lock);
  pthread_mutex_unlock(&eng.cb_lock);
}

static void engine_fork_child(void) {
  eng.background = false; /* the thread did not cross the fork */
  eng.stop = false;
}

static const ebi_thread_hooks_t engine_hooks = {
    .above_registry = true, /* engine locks rank before the registry lock */
    .thread_release_locked = NULL,
    .fork_prepare = engine_fork_prepare,
    .fork_parent = engine_fork_parent,
    .fork_child = engine_fork_child,
};

__attribute__((constructor)) static void engine_hooks_init(void) { ebi_thread_hooks_add(&engine_hooks); }

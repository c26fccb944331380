/* SPDX-License-Identifier: MIT */
/* control/engine.c — the strategy engine.  One step (ebra_maintain) takes
 * one snapshot, derives every signal from it, decides, applies, and hands
 * the snapshot to the alerts and a sample to the history (alerts.c).
 *
 * Signals (per step, all from the step's snapshot; rates are deltas over
 * the CLOCK_MONOTONIC interval since the previous step's snapshot).  Deltas
 * are taken per pool and per domain against the counters the previous step
 * kept, keyed by serial (eng.pools, eng.domains), and then summed: a pool
 * destroyed in between drops out instead of making a sum go back, and one
 * created in between counts from zero (a serial is never reused, so all of
 * its counts belong to the interval).
 *   activity     allocs + frees + retires per second;
 *   depot_share  objects moved through the depots (in full magazines,
 *                counted by the thread caches) per alloc or free.
 *                It does not depend on machine speed or on the capacity the
 *                engine chose, so growing magazines does not make it fall
 *                and flap the choice back;
 *   contention   depot CAS failures per exchange;
 *   pending bytes, worst grace-period p50 and p99, committed vs live bytes.
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
 *                     magazine mode      depot keeps          slabs   batching
 *   low-latency       normal             2 x last exchanges   kept    16, 200 us
 *                                        + spare (trim_keep)
 *   high-throughput   grow               2 x last exchanges   kept    256, 10 ms
 *   memory-efficient  lean               nothing              purged  64, 1 ms
 * (soft-limit pressure: lean, whatever the strategy).  The magazine
 * capacity itself is the pool's (src/magazine.c, MC1-MC6): its slow paths
 * double it when a thread's depot traffic is high, up to the cap; the mode
 * only bounds it: normal lets pools that take the option's capacity grow
 * to the cap and keeps pinned ones at their configured capacity, grow lets
 * pinned pools grow to 4 x theirs, lean holds every pool at config / 4.
 *
 * State and who owns it:
 *   eng, under engine.lock: the configuration, the active strategy and its
 *     candidate, the previous step's counters by serial, the working stats,
 *     the background thread.
 *   eng.pub, under pub_lock (a leaf): the stats as of the last step, for
 *     readers that must not wait for a step (the snapshot a step takes).
 *   step_t, the stepping thread's own: the step's snapshot, signals and
 *     per-pool deltas, and the info lines and alert crossings it hands to
 *     the code that runs after engine.lock is dropped.  Nothing of a step
 *     is global.
 *   alerts.c: the alert table and the history ring, behind their own locks.
 *   The knobs (a pool's magazine mode, a domain's batching): the engine is
 *     their only writer, under engine.lock.  A pool's magazine capacity is
 *     not the engine's: src/magazine.c owns it (the mode is one of its
 *     inputs, set through ebi_magazine_set_mode).
 *   The memory limits are options (src/options.c); ebra_set_memory_limits
 *     checks and stores them, a step reads them from its snapshot.
 *
 * Lock order: alerts cb_lock -> engine.lock -> registry -> pool->grow_lock
 * (as thread.c documents); engine.lock -> alerts lock, history lock,
 * pub_lock (leaves).  A step applies knobs under the registry lock, so a
 * pool cannot be destroyed under it; a pool or domain whose id now holds
 * another serial was destroyed since the snapshot and is skipped, one
 * created since waits for the next step.  Reports (user code, through the
 * hook) and alert callbacks run after engine.lock is dropped.  The
 * background thread waits on a condition variable, so shutdown interrupts
 * its sleep.
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

#include "control_internal.h"

#define DEFAULT_INTERVAL_NS 100000000ull /* 100 ms */
#define DEFAULT_HISTORY 1000u
#define IDLE_STEPS 16u /* quiet steps before a thread's pool cache is taken */

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

/* ---- counters by serial ---------------------------------------------------- */

/* The counters a step takes deltas of: a pool's, then a domain's (each row
 * holds zeros in the other's slots, so rows of both sum into one total). */
enum {
  C_ALLOCS, C_FREES, C_EXCHANGES, C_CONTENTION, C_MOVED,
  C_RETIRED, C_GRACE_PERIODS,
  C_COUNT
};

typedef struct counts_s {
  uint64_t serial;
  uint64_t c[C_COUNT];
} counts_t;

/* One step's counters of every pool (or domain), sorted by serial. */
typedef struct count_table_s {
  counts_t *row;
  uint32_t n;
} count_table_t;

static int cmp_serial(const void *a, const void *b) {
  const uint64_t x = ((const counts_t *)a)->serial, y = ((const counts_t *)b)->serial;
  return x < y ? -1 : x > y;
}

/* What t held for now's serial, subtracted from now; all of now if t did
 * not hold it (the object is younger than t). */
static counts_t counts_delta(const count_table_t *t, const counts_t *now) {
  const counts_t *was = t->n ? bsearch(now, t->row, t->n, sizeof *t->row, cmp_serial) : NULL;
  counts_t d = {.serial = now->serial};
  for (int k = 0; k < C_COUNT; k++) {
    const uint64_t base = was ? was->c[k] : 0;
    d.c[k] = now->c[k] >= base ? now->c[k] - base : 0;
  }
  return d;
}

static void count_table_free(count_table_t *t) {
  free(t->row);
  *t = (count_table_t){0};
}

/* ---- the engine's state -------------------------------------------------- */

static struct {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  bool inited, background, stop;
  pthread_t thread;
  uint64_t interval_ns;
  ebra_strategy_t configured, active, candidate;
  uint32_t candidate_steps;
  bool have_prev;              /* pools, domains and prev_ns hold a step */
  uint64_t prev_ns;            /* the previous step's snapshot time */
  count_table_t pools, domains; /* the previous step's counters */
  ebra_engine_stats_t st;      /* the working copy */
  pthread_mutex_t pub_lock;    /* a leaf lock: guards pub only */
  ebra_engine_stats_t pub;     /* st as of the last step */
} eng = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .pub_lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

/* ---- one step's own state ------------------------------------------------ */

#define MAX_INFO 32

typedef struct step_s {
  ebi_snap_t *snap;
  counts_t *pool_delta;          /* snap->pub.npools: each pool's growth */
  count_table_t pools, domains;  /* this step's counters, for the next */
  /* Signals, from snap: */
  bool have_prev;                /* the deltas cover one interval */
  double dt_s;                   /* its length; 0 on the first step */
  uint64_t d[C_COUNT];           /* deltas summed over pools and domains */
  uint64_t gp_p50, gp_p99;       /* worst domain's */
  bool pressure;                 /* above the soft limit */
  ebra_sample_t sample;
  /* For after engine.lock: */
  ebi_alert_fire_t fire[EBI_MAX_ALERTS];
  size_t nfire;
  char info[MAX_INFO][160];      /* EBRA_INFO_ENGINE reports */
  size_t ninfo;
} step_t;

static void step_info(step_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void step_info(step_t *s, const char *fmt, ...) {
  if (s->ninfo == MAX_INFO)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->info[s->ninfo++], sizeof s->info[0], fmt, ap);
  va_end(ap);
}

static void step_free(step_t *s) {
  if (s->snap)
    ebra_snapshot_free(&s->snap->pub);
  free(s->pool_delta);
  count_table_free(&s->pools);
  count_table_free(&s->domains);
  free(s);
}

/* ---- configuration (engine.lock held) ------------------------------------ */

/* Copy the working stats to the published ones. */
static void publish_locked(void) {
  pthread_mutex_lock(&eng.pub_lock);
  eng.pub = eng.st;
  eng.pub.configured = eng.inited ? eng.configured
                                  : (ebra_strategy_t)ebi_option_value(EBRA_OPT_STRATEGY);
  eng.pub.active = eng.inited ? eng.active : EBRA_STRATEGY_LOW_LATENCY;
  pthread_mutex_unlock(&eng.pub_lock);
}

const char *ebra_strategy_name(ebra_strategy_t s) {
  return (unsigned)s < EBI_STRATEGY_COUNT ? ebi_strategy_names[s] : "unknown";
}

static void forget_counts_locked(void) {
  count_table_free(&eng.pools);
  count_table_free(&eng.domains);
  eng.have_prev = false;
}

/* The precedence rule (ebra/options.h): a non-zero strategy field wins;
 * a zero one (adaptive, or no config) takes the strategy option, which is
 * EBRA_STRATEGY or ebra_option_set, else adaptive. */
static int init_locked(const ebra_engine_config_t *cfg) {
  const ebra_engine_config_t defaults = {0};
  if (!cfg)
    cfg = &defaults;
  if ((unsigned)cfg->strategy >= EBI_STRATEGY_COUNT)
    return -EINVAL;
  const ebra_strategy_t strategy = cfg->strategy != EBRA_STRATEGY_ADAPTIVE
                                       ? cfg->strategy
                                       : (ebra_strategy_t)ebi_option_value(EBRA_OPT_STRATEGY);
  const int rc = ebi_history_reset(cfg->history_len ? cfg->history_len : DEFAULT_HISTORY);
  if (rc)
    return rc;
  eng.configured = strategy;
  eng.active = strategy == EBRA_STRATEGY_ADAPTIVE ? EBRA_STRATEGY_LOW_LATENCY : strategy;
  eng.candidate = eng.active;
  eng.candidate_steps = 0;
  eng.interval_ns = cfg->interval_ns ? cfg->interval_ns : DEFAULT_INTERVAL_NS;
  forget_counts_locked();
  eng.inited = true;
  publish_locked();
  return 0;
}

/* ---- measure: the signals, from one snapshot -------------------------------- */

static double per_s(uint64_t n, double dt) { return dt > 0 ? (double)n / dt : 0.0; }

static void *calloc_rows(uint32_t n, size_t size) { return calloc(n ? n : 1, size); }

/* Record now in the step's table t and add its growth since prev (the
 * previous step's table) to the step's sums; returns the growth. */
static counts_t count_one(step_t *s, count_table_t *t, const count_table_t *prev,
                          const counts_t *now) {
  const counts_t d = counts_delta(prev, now);
  for (int k = 0; k < C_COUNT; k++)
    s->d[k] += d.c[k];
  t->row[t->n++] = *now;
  return d;
}

static int measure(step_t *s) {
  int rc = ebi_snap_take(&s->snap);
  if (rc)
    return rc;
  const ebra_snapshot_t *snap = &s->snap->pub;
  s->pool_delta = calloc_rows(snap->npools, sizeof *s->pool_delta);
  s->pools.row = calloc_rows(snap->npools, sizeof *s->pools.row);
  s->domains.row = calloc_rows(snap->ndomains, sizeof *s->domains.row);
  if (!s->pool_delta || !s->pools.row || !s->domains.row)
    return -ENOMEM;
  for (uint32_t i = 0; i < snap->npools; i++) {
    const ebra_pool_stats_t *p = &snap->pools[i].stats;
    const counts_t now = {s->snap->pool_serial[i],
                          {[C_ALLOCS] = p->allocs, [C_FREES] = p->frees,
                           [C_EXCHANGES] = p->depot_exchanges,
                           [C_CONTENTION] = p->depot_contention, [C_MOVED] = p->depot_objects}};
    s->pool_delta[i] = count_one(s, &s->pools, &eng.pools, &now);
  }
  for (uint32_t i = 0; i < snap->ndomains; i++) {
    const ebra_domain_stats_t *d = &snap->domains[i].stats;
    const counts_t now = {s->snap->domain_serial[i],
                          {[C_RETIRED] = d->retired, [C_GRACE_PERIODS] = d->grace_periods}};
    count_one(s, &s->domains, &eng.domains, &now);
    if (d->gp_ns_p50 > s->gp_p50)
      s->gp_p50 = d->gp_ns_p50;
    if (d->gp_ns_p99 > s->gp_p99)
      s->gp_p99 = d->gp_ns_p99;
  }
  qsort(s->pools.row, s->pools.n, sizeof *s->pools.row, cmp_serial);
  qsort(s->domains.row, s->domains.n, sizeof *s->domains.row, cmp_serial);
  s->have_prev = eng.have_prev;
  s->dt_s = s->have_prev ? (double)(s->snap->mono_ns - eng.prev_ns) / 1e9 : 0.0;
  /* Slab bytes and the magazines' heap bytes (src/magazine.c, MC4). */
  uint64_t mag_bytes = 0;
  for (uint32_t i = 0; i < snap->npools; i++)
    mag_bytes += snap->pools[i].stats.bytes_magazines;
  const uint64_t soft = snap->engine.soft_limit;
  s->pressure = soft && snap->engine.committed_bytes + mag_bytes > soft;

  ebra_sample_t *r = &s->sample;
  r->t_ns = s->snap->mono_ns;
  r->resident_bytes = snap->resident_bytes;
  r->committed_bytes = snap->engine.committed_bytes;
  r->live_bytes = snap->bytes_live;
  r->pending_bytes = snap->pending_bytes;
  r->gp_p99_ns = s->gp_p99;
  r->alloc_rate = (uint64_t)per_s(s->d[C_ALLOCS], s->dt_s);
  r->free_rate = (uint64_t)per_s(s->d[C_FREES], s->dt_s);
  r->exchange_rate = (uint64_t)per_s(s->d[C_EXCHANGES], s->dt_s);
  r->contention_rate = (uint64_t)per_s(s->d[C_CONTENTION], s->dt_s);
  r->retire_rate = (uint64_t)per_s(s->d[C_RETIRED], s->dt_s);
  return 0;
}

/* ---- decide ------------------------------------------------------------------- */

/* Bonwick's rule: the depot is the busy path of this traffic (c: deltas). */
static bool depot_share_high(const uint64_t c[C_COUNT], double share) {
  const uint64_t ops = c[C_ALLOCS] + c[C_FREES];
  if (!ops)
    return false;
  if ((double)c[C_MOVED] / (double)ops >= share)
    return true;
  return c[C_EXCHANGES] && (double)c[C_CONTENTION] / (double)c[C_EXCHANGES] >= CONTENTION_ENTER;
}

static bool depot_busy(const step_t *s, bool staying) {
  return per_s(s->d[C_ALLOCS] + s->d[C_FREES], s->dt_s) >= BUSY_MIN_OPS_PER_S &&
         depot_share_high(s->d, staying ? SHARE_STAY : SHARE_ENTER);
}

/* Adaptive's pick for this step (before the confirmation rule). */
static ebra_strategy_t engine_pick(const step_t *s) {
  if (s->pressure)
    return EBRA_STRATEGY_MEMORY_EFFICIENT;
  const ebra_snapshot_t *snap = &s->snap->pub;
  const ebra_strategy_t cur = eng.active;
  if (depot_busy(s, cur == EBRA_STRATEGY_HIGH_THROUGHPUT))
    return EBRA_STRATEGY_HIGH_THROUGHPUT;
  const double activity = per_s(s->d[C_ALLOCS] + s->d[C_FREES] + s->d[C_RETIRED], s->dt_s);
  const bool idle = activity < (cur == EBRA_STRATEGY_MEMORY_EFFICIENT ? IDLE_STAY_PER_S
                                                                       : IDLE_ENTER_PER_S);
  /* a slab to give back */
  const bool spare = snap->engine.committed_bytes > snap->bytes_live + EBI_GRANULE_SIZE;
  if (idle && (spare || cur == EBRA_STRATEGY_MEMORY_EFFICIENT))
    return EBRA_STRATEGY_MEMORY_EFFICIENT;
  /* The p99 covers the last 1024 grace periods: only news if some ran. */
  const bool fresh_gp = s->d[C_GRACE_PERIODS] > 0;
  const uint64_t slow = cur == EBRA_STRATEGY_HIGH_THROUGHPUT ? GP_SLOW_STAY_NS : GP_SLOW_ENTER_NS;
  /* Would low-latency's small batches keep the reclaimer waiting for grace
   * periods most of the time?  Then bigger batches, which amortise each
   * grace period, win.  Estimated from the retire rate, the batch size and
   * the median grace period, so it does not fall when high-throughput's
   * bigger batches make grace periods rarer (that would flap). */
  const double busy = per_s(s->d[C_RETIRED], s->dt_s) / LL_BATCH * (double)s->gp_p50 / 1e9;
  const double busy_level = cur == EBRA_STRATEGY_HIGH_THROUGHPUT ? GP_BUSY_STAY : GP_BUSY_ENTER;
  if (!idle && ((fresh_gp && s->gp_p99 >= slow) || busy >= busy_level ||
                snap->pending_bytes >= PENDING_HIGH_BYTES))
    return EBRA_STRATEGY_HIGH_THROUGHPUT;
  return idle ? cur : EBRA_STRATEGY_LOW_LATENCY;
}

static void decide(step_t *s) {
  ebra_strategy_t want = eng.configured;
  if (want == EBRA_STRATEGY_ADAPTIVE) {
    if (!s->have_prev)
      return;
    want = engine_pick(s);
    if (want != eng.active && !s->pressure) {
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
  step_info(s, "strategy %s -> %s (%s)", ebra_strategy_name(eng.active),
            ebra_strategy_name(want), s->pressure ? "soft limit" : "measured rates");
  eng.active = want;
  eng.candidate = want;
  eng.st.switches++;
}

/* ---- apply (registry lock held) --------------------------------------------- */

/* The magazine mode the active strategy sets (src/magazine.c owns the
 * capacity; the mode bounds it, MC2). */
static ebi_mag_mode_t mag_mode(const step_t *s) {
  if (s->pressure || eng.active == EBRA_STRATEGY_MEMORY_EFFICIENT)
    return EBI_MAG_LEAN;
  return eng.active == EBRA_STRATEGY_HIGH_THROUGHPUT ? EBI_MAG_GROW : EBI_MAG_NORMAL;
}

/* Full magazines the depot keeps between steps: twice the last step's
 * exchanges (in magazines of the current capacity, which the exchange
 * count already reflects) and a spare of 8 magazines of the configured
 * capacity, counted in objects, so a pool whose magazines grew keeps no
 * more idle objects than before (at least one magazine). */
static uint64_t trim_keep(const ebra_pool_t *pool, const counts_t *d) {
  const uint32_t cap = ebi_magazine_capacity(pool);
  const uint64_t spare = 8ull * pool->mag_capacity_base / (cap ? cap : 1);
  return 2 * d->c[C_EXCHANGES] + (spare ? spare : 1);
}

/* st: the pool in the step's snapshot; d: its growth since the last step. */
static void apply_pool(step_t *s, ebra_pool_t *pool, const ebra_pool_stats_t *st,
                       const counts_t *d) {
  (void)st;
  ebi_mag_shape_t was, now;
  if (ebi_magazine_set_mode(pool, mag_mode(s), &was, &now)) { /* growth is the pool's own */
    eng.st.knob_changes++;
    step_info(s, "pool '%s': magazine capacity %u -> %u, ceiling %u -> %u (%s)",
              pool->life.name, was.capacity, now.capacity, was.ceiling, now.ceiling,
              ebra_strategy_name(eng.active));
  }
  const bool lean = mag_mode(s) == EBI_MAG_LEAN;
  /* Caches of threads that stopped using the pool: after one quiet step
   * when lean, after IDLE_STEPS otherwise (their objects then reach the
   * depot, the trim and the purge below). */
  eng.st.caches_drained += ebi_tcache_drain_idle_locked(pool, lean ? 1 : IDLE_STEPS);
  eng.st.magazines_trimmed += ebi_depot_trim(pool, lean ? 0 : trim_keep(pool, d));
  if (lean)
    eng.st.bytes_purged += ebi_slab_purge_free(pool);
}

static void apply_domain(step_t *s, ebra_domain_t *d, const ebra_domain_stats_t *st) {
  unsigned batch = 64;
  uint64_t age = 1000000;
  if (eng.active == EBRA_STRATEGY_LOW_LATENCY) {
    batch = LL_BATCH;
    age = 200000;
  } else if (eng.active == EBRA_STRATEGY_HIGH_THROUGHPUT) {
    batch = 256;
    age = 10000000;
  }
  if (st->batch_size != batch || st->max_batch_age_ns != age) {
    ebra_domain_set_batching(d, batch, age);
    eng.st.knob_changes++;
    step_info(s, "domain '%s': batches of %u or %.1f ms (%s)", d->life.name, batch,
              (double)age / 1e6, ebra_strategy_name(eng.active));
  }
  /* The backlog bound (reclaim.h): tight where memory or latency matters,
   * loose for throughput (fewer retiring threads held back to help). */
  uint64_t backlog = 32ull * batch;
  if (eng.active == EBRA_STRATEGY_LOW_LATENCY || eng.active == EBRA_STRATEGY_MEMORY_EFFICIENT ||
      s->pressure)
    backlog = 8ull * batch;
  else if (eng.active == EBRA_STRATEGY_HIGH_THROUGHPUT)
    backlog = 64ull * batch;
  if (st->max_pending != backlog) {
    ebra_domain_set_backlog(d, backlog);
    eng.st.knob_changes++;
    step_info(s, "domain '%s': backlog bound %llu entries (%s)", d->life.name,
              (unsigned long long)backlog, ebra_strategy_name(eng.active));
  }
  if (s->pressure) {
    ebi_domain_request_flush(d);
    eng.st.forced_grace_periods++;
  }
}

/* The pools and domains of the snapshot that are still alive: the object at
 * the id carries the serial the snapshot saw. */
static void apply(step_t *s) {
  const ebra_snapshot_t *snap = &s->snap->pub;
  ebi_registry_lock();
  for (uint32_t i = 0; i < snap->npools; i++) {
    ebra_pool_t *pool = ebi_registry_at(snap->pools[i].id);
    if (pool && pool->life.serial == s->snap->pool_serial[i])
      apply_pool(s, pool, &snap->pools[i].stats, &s->pool_delta[i]);
  }
  for (uint32_t i = 0; i < snap->ndomains; i++) {
    ebra_domain_t *d = ebi_domain_registry_at(snap->domains[i].id);
    if (d && d->life.serial == s->snap->domain_serial[i])
      apply_domain(s, d, &snap->domains[i].stats);
  }
  ebi_registry_unlock();
}

/* ---- the step ------------------------------------------------------------------ */

static int step_locked(step_t *s) {
  if (!eng.inited) {
    const int rc = init_locked(NULL);
    if (rc)
      return rc;
  }
  const int rc = measure(s);
  if (rc)
    return rc;
  if (s->pressure)
    eng.st.soft_limit_steps++;
  decide(s);
  if (s->pressure || eng.active == EBRA_STRATEGY_MEMORY_EFFICIENT)
    ebi_thread_flush_caches(); /* the caller's own caches; others' are theirs */
  apply(s);
  s->sample.active = eng.active;
  /* The one reading past the snapshot: what the step gave back, for the
   * record (no decision uses it). */
  s->sample.committed_bytes = ebi_slab_committed_bytes();
  ebi_history_put(&s->sample);
  s->nfire = ebi_alerts_check(&s->snap->pub, s->fire);
  eng.st.alloc_rate = s->sample.alloc_rate;
  eng.st.free_rate = s->sample.free_rate;
  eng.st.exchange_rate = s->sample.exchange_rate;
  eng.st.contention_rate = s->sample.contention_rate;
  eng.st.retire_rate = s->sample.retire_rate;
  eng.st.steps++;
  /* This step's counters are the next step's base. */
  count_table_free(&eng.pools);
  count_table_free(&eng.domains);
  eng.pools = s->pools;
  eng.domains = s->domains;
  s->pools = s->domains = (count_table_t){0};
  eng.prev_ns = s->snap->mono_ns;
  eng.have_prev = true;
  publish_locked();
  return 0;
}

int ebra_maintain(void) {
  if (ebi_alerts_in_callback()) {
    ebi_report(EBRA_ERR_BAD_CALL, "ebra_maintain from an alert callback");
    return -EDEADLK;
  }
  step_t *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  pthread_mutex_lock(&eng.lock);
  const int rc = step_locked(s);
  pthread_mutex_unlock(&eng.lock);
  for (size_t i = 0; i < s->ninfo; i++)
    ebi_report(EBRA_INFO_ENGINE, "%s", s->info[i]);
  ebi_alerts_fire(s->fire, s->nfire);
  step_free(s);
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
  ebra_thread_exit();
  return NULL;
}

int ebra_engine_init(const ebra_engine_config_t *cfg) {
  pthread_mutex_lock(&eng.lock);
  if (eng.inited) {
    pthread_mutex_unlock(&eng.lock);
    ebi_report(EBRA_ERR_BAD_CALL, "ebra_engine_init: already initialised (call "
                                  "ebra_engine_shutdown first)");
    return -EALREADY;
  }
  int rc = init_locked(cfg);
  if (!rc && cfg && cfg->background) {
    eng.stop = false;
    rc = -pthread_create(&eng.thread, NULL, engine_main, NULL);
    eng.background = rc == 0;
  }
  if (rc) {
    eng.inited = false;
    ebi_history_reset(0);
    publish_locked();
  }
  pthread_mutex_unlock(&eng.lock);
  if (rc == -EINVAL)
    ebi_report(EBRA_ERR_BAD_CONFIG, "ebra_engine_init: unknown strategy");
  return rc;
}

int ebra_engine_shutdown(void) {
  if (ebi_alerts_in_callback()) {
    ebi_report(EBRA_ERR_BAD_CALL, "ebra_engine_shutdown from an alert callback");
    return -EDEADLK;
  }
  pthread_mutex_lock(&eng.lock);
  const bool join = eng.background;
  eng.stop = true;
  pthread_cond_broadcast(&eng.wake);
  pthread_mutex_unlock(&eng.lock);
  if (join)
    pthread_join(eng.thread, NULL);
  ebi_alerts_clear(); /* waits for callbacks still running */
  pthread_mutex_lock(&eng.lock);
  eng.background = false;
  eng.inited = false;
  ebi_history_reset(0);
  memset(&eng.st, 0, sizeof eng.st);
  forget_counts_locked();
  publish_locked();
  pthread_mutex_unlock(&eng.lock);
  return 0;
}

int ebra_engine_set_strategy(ebra_strategy_t s) {
  if ((unsigned)s >= EBI_STRATEGY_COUNT) {
    ebi_report(EBRA_ERR_BAD_CALL, "ebra_engine_set_strategy: unknown strategy %d", (int)s);
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
    return ebi_bad_call("ebra_engine_stats: out is NULL");
  pthread_mutex_lock(&eng.pub_lock);
  *out = eng.pub;
  pthread_mutex_unlock(&eng.pub_lock);
  if (out->active == EBRA_STRATEGY_ADAPTIVE) { /* never active: nothing published yet */
    out->configured = (ebra_strategy_t)ebi_option_value(EBRA_OPT_STRATEGY);
    out->active = EBRA_STRATEGY_LOW_LATENCY;
  }
  out->hard_limit_refusals = ebi_slab_limit_refusals();
  out->committed_bytes = ebi_slab_committed_bytes();
  out->soft_limit = (uint64_t)ebi_option_value(EBRA_OPT_SOFT_LIMIT);
  out->hard_limit = (uint64_t)ebi_option_value(EBRA_OPT_HARD_LIMIT);
  return 0;
}

/* fork: the child has no engine thread; it starts unconfigured.  The
 * handlers take every control lock in the order above. */
static void engine_fork_prepare(void) {
  ebi_alerts_fork_lock_callbacks();
  pthread_mutex_lock(&eng.lock);
  ebi_alerts_fork_lock_tables();
  pthread_mutex_lock(&eng.pub_lock);
}

static void engine_fork_parent(void) {
  pthread_mutex_unlock(&eng.pub_lock);
  pthread_mutex_unlock(&eng.lock);
  ebi_alerts_fork_unlock();
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

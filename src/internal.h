/* SPDX-License-Identifier: MIT */
/* src/internal.h — ebra's internal declarations, grouped by the file that
 * defines them.  Types first, with their invariants next to the fields. */
#ifndef EBI_INTERNAL_H
#define EBI_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <ck_stack.h>

#include "ebra.h"
#include "ebra/pool_inline.h"
#include "atomics.h"

#define EBI_LIKELY(x) __builtin_expect(!!(x), 1)
#define EBI_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define EBI_INTERNAL_FN __attribute__((visibility("hidden")))

#if defined(EBRA_DEBUG_CHECKS)
#define EBI_DEBUG 1
#else
#define EBI_DEBUG 0
#endif

/* Address space is cut into 1 MiB granules; every slab covers whole
 * granules and is aligned to one, so the segment map can find the slab of
 * any pointer (segmap.c). */
#define EBI_GRANULE_SHIFT 20
#define EBI_GRANULE_SIZE ((size_t)1 << EBI_GRANULE_SHIFT)
#define EBI_SLAB_MIN_OBJECTS 16
#define EBI_SLAB_MAX_SIZE ((size_t)32 << 20)
/* Slab colouring (slab.c, S6): a slab's header sits at one of
 * EBI_SLAB_COLOURS offsets, EBI_SLAB_COLOUR_STEP (a cache line) apart, from
 * its mapping's start: a 4 KiB window, which is every set of a 32 KiB
 * 8-way L1 and 64 sets of a larger cache.  POOL_STEP is odd, so it permutes
 * the colours. */
#define EBI_SLAB_COLOUR_STEP ((size_t)64)
#define EBI_SLAB_COLOURS 64u
#define EBI_SLAB_COLOUR_POOL_STEP 37u

#define EBI_SLAB_MAGIC 0x534c4142u /* "SLAB" */
#define EBI_SLAB_PURGED (1ull << 32) /* in xcarve: the slab cannot be carved */
/* In xcarve: some slot of this incarnation of the slab has been held
 * (claimed: retired or owned by a weak handle).  Sticky until the slab is
 * purged whole or reused (S4, S5: none of its objects is held then), so a
 * free in a slab whose objects were never held skips the held bitmap
 * (ebi_object_user_free, O5). */
#define EBI_SLAB_HELD_EVER (1ull << 33)
#define EBI_SLAB_CARVED_MASK 0xffffffffull
#define EBI_POISON_BYTE 0xDB

/* ---- life.c: the lifecycle every user-created object shares ------------- */

typedef enum ebi_kind_e {
  EBI_KIND_POOL,
  EBI_KIND_DOMAIN,
  EBI_KIND_WEAK_TABLE,
  EBI_KIND_CACHE,
  EBI_KIND_SUBJECT,
  EBI_KINDS
} ebi_kind_t;

#define EBI_SERIAL_DEAD UINT64_MAX
#define EBI_ALIVE 0x6c697665u /* "live" */
#define EBI_DEAD 0x64656164u  /* "dead" */
#define EBI_NAME_MAX EBRA_POOL_NAME_MAX

/* The first member of every pool, domain, weak table, cache and subject
 * (life.c states the invariants L1-L3).  Objects are 64-byte aligned
 * (ebi_life_alloc), and serial and id come last, at 64 (EBI_LIFE_HOT), so
 * that they share a cache line with the 48 bytes that follow the struct:
 * a pool's thread-slot offset and free-marker cookie, a domain's read-side
 * slot (every alloc, free and read section reads both). */
typedef struct ebi_life_s {
  struct ebi_life_s *tomb_next; /* its kind's tombstones, once dead */
  char name[EBI_NAME_MAX];   /* as configured, truncated; or the kind's name */
  ebi_kind_t kind;
  _Atomic uint32_t state;    /* EBI_ALIVE, then EBI_DEAD; written under the
                                registry lock, read relaxed by entry checks */
  uint64_t serial;           /* unique, >= 1; EBI_SERIAL_DEAD once destroyed */
  uint32_t id;               /* index in its kind's registry; reused */
} ebi_life_t;
#define EBI_LIFE_HOT 64
_Static_assert(offsetof(ebi_life_t, serial) == EBI_LIFE_HOT && sizeof(ebi_life_t) == 80,
               "life: serial and id open the object's second cache line");

/* Birth: a registry id, a fresh serial, state EBI_ALIVE; 0 or ENOMEM (then
 * l is not registered).  Registry lock held. */
EBI_INTERNAL_FN int ebi_life_begin_locked(ebi_life_t *l, ebi_kind_t kind, const char *name);
/* Death: out of the registry, serial and state dead, kept as a tombstone.
 * Registry lock held. */
EBI_INTERNAL_FN void ebi_life_end_locked(ebi_life_t *l);
/* Undo a birth whose object is freed right away (its create failed later
 * on).  Registry lock held. */
EBI_INTERNAL_FN void ebi_life_abort_locked(ebi_life_t *l);
/* The same three, each taking the registry lock itself.  ebi_life_end
 * refuses (reported, -EBADF) an object a racing destroy already ended. */
EBI_INTERNAL_FN int ebi_life_begin(ebi_life_t *l, ebi_kind_t kind, const char *name);
EBI_INTERNAL_FN int ebi_life_end(ebi_life_t *l, ebi_kind_t kind, const char *call);
/* Zeroed, cache-line aligned memory for a new object; NULL with errno ENOMEM. */
EBI_INTERNAL_FN void *ebi_life_alloc(size_t size);
/* The live object of a kind at id, or NULL; the registry's length.
 * Registry lock held. */
EBI_INTERNAL_FN ebi_life_t *ebi_life_at_locked(ebi_kind_t kind, uint32_t id);
EBI_INTERNAL_FN uint32_t ebi_life_capacity_locked(ebi_kind_t kind);
/* fn(l) for every live object of a kind, in id order.  Registry lock held. */
EBI_INTERNAL_FN void ebi_life_each_locked(ebi_kind_t kind, void (*fn)(ebi_life_t *l));
EBI_INTERNAL_FN int ebi_life_check_slow(const ebi_life_t *l, ebi_kind_t kind, const char *call);

/* Relaxed: see life.c, "Readers outside the lock". */
static inline uint32_t ebi_life_state(const ebi_life_t *l) {
  return ebi_atomic_load_relaxed(&((ebi_life_t *)l)->state);
}
static inline bool ebi_life_is_alive(const ebi_life_t *l) { return ebi_life_state(l) == EBI_ALIVE; }

/* The entry check of every public call on an object: 0 for a live object
 * of the kind; else a report naming `call` and -EINVAL (NULL, or not an
 * object of that kind: EBRA_ERR_BAD_CALL) or -EBADF (destroyed:
 * EBRA_ERR_USE_AFTER_DESTROY).  `obj` is a pointer to a struct whose first
 * member is its ebi_life_t. */
#define EBI_LIFE_CHECK(obj, k, call)                                        \
  (EBI_LIKELY((obj) != NULL && ebi_life_is_alive((const ebi_life_t *)(obj))) && \
           ((const ebi_life_t *)(obj))->kind == (k)                          \
       ? 0                                                                     \
       : ebi_life_check_slow((const ebi_life_t *)(obj), (k), (call)))

/* ---- types -------------------------------------------------------------- */

/* A slab: one mapping from the OS, cut into `count` slots of `stride` bytes.
 * The header sits at a colour offset inside the mapping's first granule
 * (slab.c, S6), the slots after it; `base` is the mapping's start, the
 * one address that unmapping, purging and the segment map use.
 * Invariants: base is granule-aligned; base <= header < first;
 *             first + count*stride <= base + map_size;
 *             slots [0, carved) have been handed to magazines since the
 *             slab was last purged, the others have not (carving is
 *             bump-only within one incarnation);
 *             a slot whose free bit is set is free and in no magazine;
 *             nfree == popcount(free bits) <= carved;
 *             a purged slab has carved == 0, nfree == 0, and its object
 *             pages were given back to the OS (slab.c). */
typedef struct ebi_slab_s {
  /* The first cache line: what every free reads (pool, first, stride_inv,
   * stride_tz, xcarve; ebra/pool_inline.h has their offsets), with
   * constants, and written only by a carve or a tail give-back (xcarve,
   * xlimit).  The bookkeeping of trimmed objects, written on every take
   * and return under grow_lock, is in the second line (slab.c asserts it). */
  uint32_t magic;           /* EBI_SLAB_MAGIC */
  uint32_t count;           /* slots; constant */
  ebra_pool_t *pool;        /* owner; constant */
  char *first;              /* first slot; constant */
  size_t stride;            /* constant */
  uint64_t stride_inv;      /* inverse of stride's odd part mod 2^64 */
  uint32_t stride_tz;       /* stride == odd part << stride_tz */
  _Atomic uint32_t xlimit;  /* slots carvable without a lock: count, or the
                               start of a tail given back (slab.c, S8) */
  _Atomic uint64_t xcarve;  /* carved slots (bits 0..31) | EBI_SLAB_PURGED
                               | EBI_SLAB_HELD_EVER; the count moves by CAS
                               only, never past count */
  size_t map_size;          /* bytes mapped from base, header included */
  struct ebi_slab_s *next; /* pool->slabs list, under pool->grow_lock */
  /* Free objects returned by depot trimming; all under pool->grow_lock. */
  uint64_t *free_bits;      /* bit i set <=> slot i is free, in this slab */
  uint32_t free_hint;       /* every free_bits word below it is 0 */
  uint32_t nfree;           /* > 0 <=> on pool->partial */
  struct ebi_slab_s *lnext, *lprev; /* pool->partial, or pool->purged when
                                        xcarve has EBI_SLAB_PURGED */
  /* The held bits follow the header (ebi_slab_held_bits): bit i set <=>
   * slot i is held by the reclamation layer: retired and awaiting a grace
   * period, or owned by a weak handle. */
  _Atomic uint64_t *xlive_bits; /* bit i set <=> slot i is with a user or
                                   held; kept only by pools that track it
                                   (ebi_object_tracks_live) */
  char *base;               /* the mapping's start (granule-aligned); constant */
  size_t released;          /* bytes of tail give-backs not counted as
                               committed (S8); grow_lock */
} ebi_slab_t;

/* A magazine: a stack of up to `capacity` free objects (Bonwick's rounds).
 * Owned by exactly one party at a time: a thread cache, or the depot.
 * Magazines are type-stable: freed only when their pool is destroyed, since
 * a concurrent ck_stack pop may still read `link.next` of one just taken. */
typedef struct ebi_magazine_s {
  ck_stack_entry_t link;            /* depot stack link (ck) */
  struct ebi_magazine_s *all_next; /* pool->xall_mags list; constant once set */
  uint32_t rounds;                  /* 0 <= rounds <= capacity */
  uint32_t capacity;                /* rounds it takes now: <= size; set
                                       while it is empty (magazine.c, MC3) */
  uint32_t size;                    /* slots allocated in objs[]; constant */
  void *objs[];
} ebi_magazine_t;

/* The depot: lock-free stacks of non-empty ("full") and empty magazines.
 * ck_stack's *_mpmc operations pair the head with a generation in a
 * double-width CAS, which makes them ABA-safe; cmpxchg16b needs the stack
 * 16-byte aligned (lockfree/stack.h, S3; docs/DESIGN.md, "ck_stack
 * alignment"). */
typedef struct ebi_depot_s {
  ck_stack_t full CK_CC_ALIGN(16);
  ck_stack_t empty CK_CC_ALIGN(16);
  ck_stack_t parked CK_CC_ALIGN(16); /* empty magazines whose capacity is
                                        not the pool's current one (D4) */
  _Atomic int64_t xnfull;  /* approximate counts, for stats */
  _Atomic int64_t xnempty;
  _Atomic int64_t xnparked;
} ebi_depot_t;

/* Counters of one thread cache.  Single writer (the owner thread, with
 * ebi_counter_add_owner), relaxed readers (stats). */
typedef struct ebi_counters_s {
  _Atomic uint64_t allocs;
  _Atomic uint64_t frees;
  _Atomic uint64_t misses;           /* allocs+frees not served by magazines */
  _Atomic uint64_t depot_exchanges;
  _Atomic uint64_t depot_contention;
  _Atomic uint64_t depot_rounds;     /* objects in the full magazines moved */
} ebi_counters_t;

typedef struct ebi_thread_s ebi_thread_t;

/* One thread's cache for one pool.  Touched only by the owner thread (or,
 * with the owner stopped, by destroy/exit/fork/audit under the registry
 * lock).  Invariant: previous->rounds is 0 or previous->capacity.
 *
 * The loaded magazine's stack is cached as three pointers, so the fast
 * paths need no load of the magazine itself:
 *   base == loaded->objs, limit == base + loaded->capacity,
 *   top - base == the loaded magazine's true round count.
 * loaded->rounds is stale while the owner runs; ebi_tcache_sync_out()
 * writes it back before any slow path looks at the magazine, and
 * ebi_tcache_sync_in() reloads the pointers after `loaded` changes.
 * A bypass cache instead keeps top == base == limit == &bypass (an empty
 * window no fast path can use), and loaded->rounds is always true. */
typedef struct ebi_tcache_s {
  void **top;
  void **base;
  void **limit;
  ebi_counters_t c;  /* allocs and frees: the fast paths', beside top */
  bool embedded; /* lives in its thread's inline pool slot (ebi_pool_slot_t),
                    not on the heap: never freed; constant for its life */
  bool bypass;  /* the pool has object hooks (ebi_pool_has_object_hooks):
                   the cached pointers are an empty window, so both fast
                   paths miss, and the slow paths move `loaded`'s rounds
                   themselves; constant for the cache's life */
  ebi_magazine_t *loaded;
  ebi_magazine_t *previous;
  ebra_pool_t *pool;
  ebi_thread_t *thread;
  struct ebi_tcache_s *pool_next, *pool_prev; /* pool->tcaches, registry lock */
  /* The drainer's (registry lock): activity last seen, steps idle since,
   * and whether this drain asked for the cache. */
  uint64_t drain_seen;
  uint32_t idle_steps;
  bool draining;
  /* The capacity policy's window (magazine.c, MC5), the owner's: full
   * magazines moved through the depot since the window opened, and the
   * owner's operation and depot-round counts when it opened. */
  uint32_t win_moves, win_capacity; /* moves, and the biggest moved */
  uint64_t win_ops, win_rounds;
} ebi_tcache_t;

/* ---- per-thread state: one slot table per kind of object ------------------
 * A thread keeps, for each kind of object that has per-thread state (pools:
 * a thread cache; domains: the thread's registration), a table indexed by
 * the object's registry id.  Slot i is valid iff its serial equals the
 * serial of the object now at id i: destroying the object (serial :=
 * EBI_SERIAL_DEAD) or reusing its id (fresh serial) makes every thread's
 * stale slot miss on its next use without touching that thread, and an
 * empty slot (serial 0) matches nothing. */
typedef struct ebi_slot_s {
  _Atomic uint64_t serial;     /* the owner's reads and the registry-lock
                                  holders' writes; a drainer may zero it
                                  (ebi_tcache_drain_idle_locked) */
  void *state;                 /* non-NULL in every valid slot */
} ebi_slot_t;

/* Ids below this have their slot inside the thread struct, one load closer
 * to the fast path, at an offset a pool computes once (tslot_off); higher
 * ids use the growable more[] array, which only slow paths search. */
#define EBI_INLINE_SLOTS 64

/* A pool's inline slot carries the thread's cache for that pool in place:
 * slot.state == &tc whenever slot.serial matches, so the fast paths reach
 * the cache's top at a constant offset from the serial they just compared,
 * with no load of `state` between them (one link less in the chain of
 * dependent loads of every alloc and free).  The serial, top, base, limit
 * and the two owner counters share the first cache line. */
typedef struct ebi_pool_slot_s {
  _Alignas(64) ebi_slot_t slot;
  ebi_tcache_t tc; /* valid while slot.serial matches a live pool */
} ebi_pool_slot_t;

typedef struct ebi_slots_s {
  ebi_slot_t inl[EBI_INLINE_SLOTS]; /* ids 0..EBI_INLINE_SLOTS-1 (domains;
                                        pools use ebi_thread_t.pool_inl) */
  uint32_t nmore;                     /* length of more[] */
  ebi_slot_t *more;                  /* id i >= EBI_INLINE_SLOTS at more[i -
                                        EBI_INLINE_SLOTS];
                                         owner + registry lock */
} ebi_slots_t;

typedef enum {
  EBI_SLOTS_POOL,   /* state: ebi_tcache_t (thread.c) */
  EBI_SLOTS_DOMAIN, /* state: ebi_dthread_t (reclaim/domain.c) */
  EBI_SLOT_KINDS
} ebi_slot_kind_t;

struct ebi_thread_s {
  ebi_pool_slot_t pool_inl[EBI_INLINE_SLOTS]; /* pool ids 0..EBI_INLINE_SLOTS-1 */
  ebi_slots_t slots[EBI_SLOT_KINDS];
  ebi_pool_slot_t no_slot; /* serial 0, matches nothing: where the fast path of
                         a pool with no inline slot looks (tslot_off) */
  /* The smallest number below EBI_THREAD_NUMBERS that no other live thread
   * state holds, or EBI_THREAD_UNNUMBERED; given and taken back under the
   * registry lock, so a thread that gets a number released by an exited
   * one happens after everything that one did.  Lets per-thread counters
   * (weak/cache.c) have one writer per slot and reuse slots as threads come
   * and go. */
  uint32_t number;
  ebi_thread_t *next, *prev;  /* all threads, registry lock */
  ebra__tls_t *tls;           /* the thread's EBRA__TLS, whose busy and nested
                                 a drainer reads */
  void *block;                /* the heap block this state sits in (thread.c) */
};
#define EBI_THREAD_NUMBERS 64
#define EBI_THREAD_UNNUMBERED UINT32_MAX

/* Thread t's slot for id in one kind's table, or NULL if t has none that far. */
static inline ebi_slot_t *ebi_thread_slot(const ebi_thread_t *t, ebi_slot_kind_t kind,
                                            uint32_t id) {
  const ebi_slots_t *s = &t->slots[kind];
  if (EBI_LIKELY(id < EBI_INLINE_SLOTS))
    return kind == EBI_SLOTS_POOL ? (ebi_slot_t *)&t->pool_inl[id].slot : (ebi_slot_t *)&s->inl[id];
  id -= EBI_INLINE_SLOTS;
  return id < s->nmore ? &s->more[id] : NULL;
}

static inline uint32_t ebi_thread_nslots(const ebi_thread_t *t, ebi_slot_kind_t kind) {
  return EBI_INLINE_SLOTS + t->slots[kind].nmore;
}

/* A fork can stop a thread anywhere in a slow path.  The compiler barriers
 * (lockfree/atomics.h) fix the order of its stores so that a child whose
 * copy shows them in program order can tell a consistent cache from one
 * caught between magazines (ebi_tcache_sync_out_after_fork): sync_out
 * writes the rounds before the slow path touches `loaded`, and sync_in
 * clears `top` before it moves base and limit, then sets it last.  A copy
 * that shows them out of order (src/depot.c: measured) is what the fork
 * child's dedupe is for.  They cost no instruction. */

static inline void ebi_tcache_sync_out(ebi_tcache_t *tc) {
  if (!tc->bypass)
    tc->loaded->rounds = (uint32_t)(tc->top - tc->base);
  EBI_COMPILER_BARRIER();
}

static inline void ebi_tcache_sync_in(ebi_tcache_t *tc) {
  tc->top = NULL; /* "between magazines" for a fork child */
  EBI_COMPILER_BARRIER();
  if (tc->bypass) {
    tc->base = tc->limit = (void **)&tc->bypass;
    EBI_COMPILER_BARRIER();
    tc->top = tc->base;
    return;
  }
  tc->base = tc->loaded->objs;
  tc->limit = tc->base + tc->loaded->capacity;
  EBI_COMPILER_BARRIER();
  tc->top = tc->base + tc->loaded->rounds;
}

/* Fork child, for the cache of a thread that did not cross the fork: write
 * the loaded magazine's rounds back only if the cached pointers are those
 * of `loaded`.  Otherwise the thread was stopped between magazines, after
 * its slow path's sync_out had written the rounds of the magazine they
 * name. */
static inline void ebi_tcache_sync_out_after_fork(ebi_tcache_t *tc) {
  if (tc->top && tc->base == tc->loaded->objs && tc->top >= tc->base && tc->top <= tc->limit)
    ebi_tcache_sync_out(tc);
}

/* Internal pool flags, in ebra_pool_t.flags beside EBRA_POOL_* (a config
 * never carries them: ebra_pool_create refuses unknown flags).
 * EBI_POOL_MALLOC_CLASS marks a size class of the malloc floor; set at
 * creation, before the pool is registered, and constant, so the malloc
 * floor's free tells a class block from a user pool's object with one test
 * of a line it reads anyway (malloc/malloc_internal.h, M1). */
#define EBI_POOL_MALLOC_CLASS 0x80000000u
/* ebra_pool_create with internal flags added (EBI_POOL_*). */
EBI_INTERNAL_FN ebra_pool_t *ebi_pool_create_flagged(const ebra_pool_config_t *cfg,
                                                     uint32_t internal_flags);

struct ebra_pool_s {
  ebi_life_t life;      /* serial and id are read by every alloc and free;
                           constant while the pool lives (life.c) */
  uint32_t tslot_off;   /* offset in ebi_thread_t of the inline slot for
                           life.id, or of no_slot; constant (pool.c) */
  uint32_t flags;       /* EBRA_POOL_* and EBI_POOL_*; constant */
  size_t object_size;
  size_t stride;
  uint64_t cookie;      /* free-marker key: marker(p) = p ^ cookie */
  /* Magazine capacity (magazine.c's policy owns both words, MC1-MC6):
   * rounds for magazines taken now (bits 0-31) and the most the strategy
   * allows (bits 32-63), one word so that a change of either is one CAS. */
  _Atomic uint64_t xmag_shape;
  uint32_t mag_capacity_base;     /* as configured; constant */
  uint32_t mag_capacity_max;      /* the growth cap (MC2); constant */
  bool mag_pinned;                /* magazine_capacity was configured: no
                                     growth but under high-throughput */
  _Atomic uint64_t xmag_bytes;    /* bytes of every magazine made (stats) */
  size_t alignment;
  size_t max_objects;   /* 0 = no cap */
  size_t slab_size;
  uint32_t colours;     /* header offsets a slab may take (slab.c, S6);
                           constant */
  ebi_depot_t depot;

  /* Slab layer.  xcurrent: the slab being carved; replaced under grow_lock
   * (store release, paired with the load acquire in slab_carve). */
  _Atomic(ebi_slab_t *) xcurrent;
  pthread_mutex_t grow_lock;      /* the slab layer's lock: held while the
                                     OS maps or purges a slab, and while
                                     trimmed objects move to or from the
                                     slabs' free bits; never on a fast path */
  ebi_slab_t *slabs;             /* all slabs, under grow_lock */
  ebi_slab_t *partial;           /* slabs with free objects, grow_lock */
  ebi_slab_t *purged;            /* slabs given back to the OS, grow_lock */
  _Atomic uint64_t xslab_free;    /* objects free in slabs (stats) */
  _Atomic uint64_t xbytes_purged; /* bytes of purged slabs (stats, limit) */
  _Atomic uint64_t xpurges;       /* slabs purged, ever */
  _Atomic uint64_t xtrimmed;      /* magazines trimmed from the depot, ever */
  _Atomic uint64_t xcarved;       /* objects carved, <= max_objects if capped */
  _Atomic uint64_t xslabs;
  _Atomic uint64_t xbytes_reserved;

  /* Every magazine of the pool, push-only (CAS), for destroy and audit. */
  _Atomic(ebi_magazine_t *) xall_mags;

  /* Objects freed while the OS refused memory for a magazine: a list
   * linked through each object's first word, under overflow_lock. */
  pthread_mutex_t overflow_lock;
  void *overflow;
  _Atomic uint64_t xnoverflow;

  /* Thread caches attached to this pool, and the summed counters of caches
   * already detached; both under the registry lock. */
  ebi_tcache_t *tcaches;
  uint32_t ntcaches;
  ebi_counters_t detached;
  _Atomic uint64_t xerrors;

  /* Delayed give-back (giveback.c), under the registry lock: the
   * activity seen by the last pass and how many passes in a row saw none. */
  uint64_t gb_seen;
  uint32_t gb_quiet;

};

/* ---- report.c ------------------------------------------------------------ */
EBI_INTERNAL_FN void ebi_report(ebra_error_kind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
EBI_INTERNAL_FN void ebi_report_pool(ebra_pool_t *pool, ebra_error_kind_t kind,
                                       const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Deliver the reports that waited for the registry lock (R1 in
 * report.c); ebi_registry_unlock calls it. */
EBI_INTERNAL_FN void ebi_report_deliver_deferred(void);
/* Is this thread delivering a report (in the hook, or writing to stderr)? */
EBI_INTERNAL_FN bool ebi_report_emitting(void);
/* Fork prepare takes report_lock last; parent and child release it first. */
EBI_INTERNAL_FN void ebi_report_fork_lock(void);
EBI_INTERNAL_FN void ebi_report_fork_unlock(void);
EBI_INTERNAL_FN void ebi_die(const char *file, int line, const char *why)
    __attribute__((noreturn));
#define EBI_DIE(why) ebi_die(__FILE__, __LINE__, (why))
/* Report a bad argument (EBRA_ERR_BAD_CALL, the message as given) and
 * return -EINVAL, for `if (bad) return ebi_bad_call("fn: what");`. */
EBI_INTERNAL_FN int ebi_bad_call(const char *msg);

/* ---- options.c ----------------------------------------------------------- */
EBI_INTERNAL_FN bool ebi_option_is_on(ebra_option_t opt);
/* The value of a known option (ebra_option_get without the checks). */
EBI_INTERNAL_FN long ebi_option_value(ebra_option_t opt);
/* The one spelling of each strategy, indexed by ebra_strategy_t, NULL-ended:
 * EBRA_STRATEGY parses it, ebra_strategy_name and the monitor print it. */
#define EBI_STRATEGY_COUNT (EBRA_STRATEGY_MEMORY_EFFICIENT + 1)
EBI_INTERNAL_FN extern const char *const ebi_strategy_names[EBI_STRATEGY_COUNT + 1];
/* The same for ebra_reclaim_backend_t: EBRA_RECLAIM parses it,
 * ebra_reclaim_backend_name prints it. */
EBI_INTERNAL_FN extern const char *const ebi_reclaim_names[EBRA_RECLAIM_CK_EPOCH + 2];

/* ---- os.c: the only file that talks to the OS about memory --------------- */
EBI_INTERNAL_FN int ebi_os_map_aligned(size_t size, size_t align, void **out);
EBI_INTERNAL_FN int ebi_os_reserve(size_t size, void **out); /* MAP_NORESERVE */
EBI_INTERNAL_FN int ebi_os_unmap(void *p, size_t size);
EBI_INTERNAL_FN int ebi_os_purge(void *p, size_t size); /* madvise DONTNEED */
EBI_INTERNAL_FN uint64_t ebi_os_random(void);
EBI_INTERNAL_FN int ebi_os_resident_bytes(uint64_t *out); /* /proc/self/statm */
EBI_INTERNAL_FN uint64_t ebi_now_ns(void);                 /* CLOCK_MONOTONIC */

/* ---- segmap.c: pointer -> slab, lock-free reads -------------------------- */
/* One entry per 1 MiB granule of the 47-bit user address space: 2^27
 * entries, 1 GiB of address space reserved once (no commit; a page of it
 * is touched per 512 MiB of address space that holds a slab). */
#define EBI_SEGMAP_BITS (47 - EBI_GRANULE_SHIFT)
#define EBI_SEGMAP_LEN ((size_t)1 << EBI_SEGMAP_BITS)

/* Before the table exists, xtable is a one-entry array holding NULL and
 * xmask is 0, so every lookup reads that entry; segmap.c stores the real
 * table, then the mask (both release).  Exported under its layout name for
 * ebra/pool_inline.h, which reads the same two words. */
typedef struct ebi_segmap_s {
  _Atomic uintptr_t xmask;               /* 0, then EBI_SEGMAP_LEN - 1 */
  _Atomic(_Atomic(ebi_slab_t *) *) xtable; /* the one-entry boot table, then the table */
} ebi_segmap_t;
#define ebi_segmap EBRA__SEGMAP
EBRA_API extern ebi_segmap_t ebi_segmap;
EBI_INTERNAL_FN int ebi_segmap_insert(ebi_slab_t *slab);
EBI_INTERNAL_FN void ebi_segmap_remove(ebi_slab_t *slab);

/* The slab covering p, or NULL.  Wait-free; never reads *p. */
static inline ebi_slab_t *ebi_segmap_lookup(const void *p) {
  /* A pointer outside the 47-bit user space aliases a lower one here; the
   * slab it may find does not contain it, which every caller's slot check
   * (ebi_slab_slot_of) rejects, so a mask does what a bounds test would.
   * The mask is loaded first: paired with its store release in segmap.c,
   * a mask that covers the table comes with that table's pointer. */
  const uintptr_t g = ((uintptr_t)p >> EBI_GRANULE_SHIFT) & ebi_atomic_load_acquire(&ebi_segmap.xmask);
  _Atomic(ebi_slab_t *) *table = ebi_atomic_load_acquire(&ebi_segmap.xtable);
  /* Paired with the store release in ebi_segmap_insert. */
  return ebi_atomic_load_acquire(&table[g]);
}

/* ---- slab.c -------------------------------------------------------------- */
/* Set pool->slab_size and pool->colours from its stride and alignment. */
EBI_INTERNAL_FN void ebi_slab_geometry(ebra_pool_t *pool);
EBI_INTERNAL_FN uint32_t ebi_slab_fill(ebra_pool_t *pool, void **out, uint32_t want,
                                        ebra_error_kind_t *why);
EBI_INTERNAL_FN void ebi_slab_release_all(ebra_pool_t *pool);
/* Free objects back to their slabs' free bits (depot trimming). */
EBI_INTERNAL_FN void ebi_slab_return(ebra_pool_t *pool, void *const *objs, uint32_t n);
/* Give every wholly free slab but the current one back to the OS;
 * returns the bytes purged. */
EBI_INTERNAL_FN uint64_t ebi_slab_purge_free(ebra_pool_t *pool);

/* ---- giveback.c ------------------------------------------------------------ */
/* A pool slow path's chance to run the delayed give-back pass; call it
 * outside any pool operation and with no pool lock held. */
EBI_INTERNAL_FN void ebi_giveback_tick(void);
EBI_INTERNAL_FN void ebi_giveback_stats(uint64_t *passes, uint64_t *pools, uint64_t *bytes);
/* Bytes that every pool's slabs hold from the OS (mapped minus purged),
 * and the hard limit on it (EBRA_HARD_LIMIT, 0 = none), checked before a
 * slab is mapped or reused; refusals counted. */
EBI_INTERNAL_FN uint64_t ebi_slab_committed_bytes(void);
EBI_INTERNAL_FN uint64_t ebi_slab_hard_limit(void);
EBI_INTERNAL_FN uint64_t ebi_slab_limit_refusals(void);

/* The slot number of p in slab, or a number >= the slab's carved count if
 * p is not the start of a carved slot (exact, any p).  stride = odd << tz
 * and inv * odd == 1 (mod 2^64): when off = k * stride, off * inv ==
 * k << tz, which the rotation turns into k; an off with a low tz bit set
 * keeps it through the odd multiply, and the rotation moves it to the top;
 * an off that is a multiple of 1 << tz but not of stride maps (the multiply
 * is a bijection mod 2^(64-tz)) to a value above every k < 2^(64-tz) /
 * odd, hence above the carved count.  Negative offsets wrap and fall in
 * the same cases.  One multiply, one rotate; no division. */
static inline uint64_t ebi_slab_slot_of(const ebi_slab_t *slab, const void *p) {
  const uint64_t off = (uint64_t)((uintptr_t)p - (uintptr_t)slab->first);
  const uint64_t x = off * slab->stride_inv;
  const unsigned r = slab->stride_tz;
  return r ? (x >> r) | (x << (64 - r)) : x;
}

/* The carved count.  Relaxed: a slot is carved before it reaches any user,
 * and that carve happens before the user's free through the magazine
 * hand-offs. */
static inline uint64_t ebi_slab_carved(const ebi_slab_t *slab) {
  return ebi_atomic_load_relaxed(&slab->xcarve) & EBI_SLAB_CARVED_MASK;
}

/* True iff p is the start of a slot of slab that has been carved (handed to
 * a magazine at some point). */
static inline bool ebi_slab_slot_valid(const ebi_slab_t *slab, const void *p) {
  return ebi_slab_slot_of(slab, p) < ebi_slab_carved(slab);
}

/* Slot index of p, a valid slot start. */
static inline size_t ebi_slab_slot_index(const ebi_slab_t *slab, const void *p) {
  return (size_t)ebi_slab_slot_of(slab, p);
}

/* ---- magazine.c ---------------------------------------------------------- */
/* The capacity policy (magazine.c, MC1-MC6). */
typedef enum {
  EBI_MAG_LEAN,   /* memory-efficient or soft-limit pressure: shrink */
  EBI_MAG_NORMAL, /* default: pools that were not pinned grow on depot traffic */
  EBI_MAG_GROW    /* high-throughput: pinned pools may grow too */
} ebi_mag_mode_t;
EBI_INTERNAL_FN void ebi_magazine_policy_init(ebra_pool_t *pool, uint32_t base, bool pinned);
typedef struct ebi_mag_shape_s {
  uint32_t capacity, ceiling;
} ebi_mag_shape_t;
/* Set the mode's bounds; true if the shape changed (*was -> *now). */
EBI_INTERNAL_FN bool ebi_magazine_set_mode(ebra_pool_t *pool, ebi_mag_mode_t mode,
                                            ebi_mag_shape_t *was, ebi_mag_shape_t *now);
/* The owner of tc moved a full magazine of `capacity` through the depot. */
EBI_INTERNAL_FN void ebi_magazine_note_move(ebra_pool_t *pool, ebi_tcache_t *tc,
                                             uint32_t capacity);
/* *mp, empty and owned by the caller, made to take the pool's capacity:
 * its capacity set if its size allows, else swapped for one that fits
 * (the old one parked); left as it is if memory is short. */
EBI_INTERNAL_FN void ebi_magazine_refit(ebra_pool_t *pool, ebi_magazine_t **mp,
                                         ebi_counters_t *c);
/* A departing cache's magazines, synced out and owned by the caller (its
 * thread exits or a drainer took it): its rounds to their slabs' free
 * bits or with the magazines to the depot (MC7); grow_lock not held. */
EBI_INTERNAL_FN void ebi_magazine_give_departing(ebra_pool_t *pool, ebi_tcache_t *tc);
/* Magazine bytes of every pool (the limits). */
EBI_INTERNAL_FN uint64_t ebi_magazine_bytes_all(void);
static inline uint32_t ebi_magazine_capacity(const ebra_pool_t *pool) {
  return (uint32_t)ebi_atomic_load_relaxed(&((ebra_pool_t *)pool)->xmag_shape);
}
EBI_INTERNAL_FN ebi_magazine_t *ebi_magazine_new(ebra_pool_t *pool);
EBI_INTERNAL_FN ebi_magazine_t *ebi_magazine_get_empty(ebra_pool_t *pool,
                                                          ebi_counters_t *c);
EBI_INTERNAL_FN void ebi_magazine_give(ebra_pool_t *pool, ebi_magazine_t *m,
                                         ebi_counters_t *c);
EBI_INTERNAL_FN void ebi_magazine_free_all(ebra_pool_t *pool);
EBI_INTERNAL_FN bool ebi_magazine_is_valid(const ebra_pool_t *pool,
                                             const ebi_magazine_t *m);

/* ---- depot.c ------------------------------------------------------------ */
EBI_INTERNAL_FN void ebi_depot_init(ebi_depot_t *d);
EBI_INTERNAL_FN void ebi_depot_push_full(ebi_depot_t *d, ebi_magazine_t *m,
                                           ebi_counters_t *c);
EBI_INTERNAL_FN void ebi_depot_push_empty(ebi_depot_t *d, ebi_magazine_t *m,
                                            ebi_counters_t *c);
EBI_INTERNAL_FN ebi_magazine_t *ebi_depot_pop_full(ebi_depot_t *d,
                                                      ebi_counters_t *c);
EBI_INTERNAL_FN ebi_magazine_t *ebi_depot_pop_empty(ebi_depot_t *d,
                                                       ebi_counters_t *c);
EBI_INTERNAL_FN void ebi_depot_park(ebi_depot_t *d, ebi_magazine_t *m, ebi_counters_t *c);
EBI_INTERNAL_FN ebi_magazine_t *ebi_depot_unpark(ebi_depot_t *d, ebi_counters_t *c);
/* Fork child, single-threaded, pool locks held: rebuild the depot from
 * the pool's list of every magazine.  Each magazine that is on no empty or
 * parked stack and is not the surviving thread's (self, may be NULL) is
 * given to the depot once, and every cached object is kept once (depot.c
 * says why the child's copy can hold one twice). */
EBI_INTERNAL_FN void ebi_depot_reconcile_after_fork(ebra_pool_t *pool, ebi_tcache_t *self);
/* Pop full magazines while more than `keep` remain, return their objects
 * to the slabs and the magazines to the empty stack; returns how many. */
EBI_INTERNAL_FN uint64_t ebi_depot_trim(ebra_pool_t *pool, uint64_t keep);

/* ---- thread.c ------------------------------------------------------------ */
/* The calling thread's state (never NULL: an empty one until the thread
 * first needs state).  Exported under its layout name for
 * ebra/pool_inline.h, as void *; written only by thread.c. */
#define ebi_tls_thread ((ebi_thread_t *)EBRA__TLS.thread)

/* A pool operation of the calling thread: from before it looks up its
 * cache to after it last touches it (ebra/pool_inline.h; the handshake of
 * ebi_tcache_drain_idle_locked).  A flag, not a count: slow paths, which
 * may call out to code that enters another operation, are bracketed by
 * ebi_pool_slow_enter/leave as well. */
#define ebi_pool_op_enter() ebra__op_enter()
#define ebi_pool_op_leave() ebra__op_leave()
/* Owner-only read-modify-writes of its own `nested`; atomic so that a
 * drainer's read is no data race (slow paths: the cost does not matter).
 * Paired with the drainer's load in ebi_thread_in_pool_op_drain. */
static inline void ebi_pool_slow_enter(void) {
  ebi_word_add_handshake(&EBRA__TLS.nested, 1u);
}
static inline void ebi_pool_slow_leave(void) {
  ebi_word_sub_handshake(&EBRA__TLS.nested, 1u);
}
EBI_INTERNAL_FN void ebi_registry_lock(void);
/* The registry lock if free, else false at once (released by
 * ebi_registry_unlock). */
EBI_INTERNAL_FN bool ebi_registry_trylock(void);
/* Also delivers the reports made while the lock was held (report.c, R1). */
EBI_INTERNAL_FN void ebi_registry_unlock(void);
/* Does the calling thread hold the registry lock? */
EBI_INTERNAL_FN bool ebi_registry_held(void);
/* The live pool at registry id, or NULL; the registry's length.  Registry
 * lock held. */
static inline ebra_pool_t *ebi_registry_at(uint32_t id) {
  return (ebra_pool_t *)ebi_life_at_locked(EBI_KIND_POOL, id);
}
static inline uint32_t ebi_registry_capacity(void) { return ebi_life_capacity_locked(EBI_KIND_POOL); }
EBI_INTERNAL_FN ebi_tcache_t *ebi_tcache_attach(ebra_pool_t *pool);
EBI_INTERNAL_FN void ebi_tcache_flush(ebra_pool_t *pool, ebi_tcache_t *tc);
/* Take the caches of pool whose threads did no operation on them in the
 * last min_idle calls (each call is one observation), through the
 * handshake in thread.c, and give their magazines to the depot; how many
 * were taken.  Never the caller's own; never waits for an owner.
 * Registry lock held. */
EBI_INTERNAL_FN uint32_t ebi_tcache_drain_idle_locked(ebra_pool_t *pool, uint32_t min_idle);
static inline void ebi_slot_serial_store_drain(ebi_slot_t *slot, uint64_t v) {
  /* Paired with the owner's load in ebi_tcache_of_fast, through the
   * drainer's membarrier (or sequential consistency under TSan). */
  ebi_atomic_store_handshake(&slot->serial, v);
}
/* Is another thread inside a pool operation (the drainer, after its
 * barrier)?  Its fast path's flag, or its slow paths' depth. */
static inline bool ebi_thread_in_pool_op_drain(const ebi_thread_t *t) {
  /* After the membarrier: sees the owner's busy := 1 (or its load of the
   * serial saw 0); see thread.c. */
  return ebi_word_load_seq_cst(&t->tls->busy) != 0 ||
         ebi_word_load_seq_cst(&t->tls->nested) != 0;
}
EBI_INTERNAL_FN void ebi_tcache_detach_all(ebra_pool_t *pool); /* registry lock held */
EBI_INTERNAL_FN ebi_thread_t *ebi_thread_get_locked(void);     /* registry lock held */
/* Make t's table of one kind reach id; 0 or ENOMEM.  Registry lock held. */
EBI_INTERNAL_FN int ebi_thread_reserve_slot(ebi_thread_t *t, ebi_slot_kind_t kind, uint32_t id);
EBI_INTERNAL_FN void ebi_thread_flush_caches(void); /* the caller's, to the depots */

/* The calling thread's state for the object at id of one kind, or NULL
 * (the slow path attaches state).  A match implies state (see ebi_slot_t). */
static inline void *ebi_thread_state_of(ebi_slot_kind_t kind, uint32_t id, uint64_t serial) {
  const ebi_thread_t *t = ebi_tls_thread;
  const ebi_slots_t *s = &t->slots[kind];
  const ebi_slot_t *slot;
  if (EBI_LIKELY(id < EBI_INLINE_SLOTS))
    slot = kind == EBI_SLOTS_POOL ? &t->pool_inl[id].slot : &s->inl[id];
  else if (id - EBI_INLINE_SLOTS < s->nmore)
    slot = &s->more[id - EBI_INLINE_SLOTS];
  else
    return NULL;
  if (EBI_LIKELY(slot->serial == serial)) {
    if (slot->state == NULL) /* a matching slot always has state */
      __builtin_unreachable();
    return slot->state;
  }
  return NULL;
}

/* The calling thread's cache for pool, or NULL (slow path attaches one). */
static inline ebi_tcache_t *ebi_tcache_of(const ebra_pool_t *pool) {
  return (ebi_tcache_t *)ebi_thread_state_of(EBI_SLOTS_POOL, pool->life.id, pool->life.serial);
}

/* The fast paths' lookup: the cache in the pool's inline slot, or NULL
 * (also for a pool whose id has none: slow paths then use ebi_tcache_of).
 * No bounds test: tslot_off always names the slot field of a pool_inl[]
 * entry or no_slot, whose serial 0 matches nothing (so the cache address
 * computed for no_slot is never used). */
static inline ebi_tcache_t *ebi_tcache_of_fast(const ebra_pool_t *pool) {
  ebi_pool_slot_t *ps =
      (ebi_pool_slot_t *)((char *)ebi_tls_thread + pool->tslot_off);
  /* The owner's load in the drain handshake (thread.c). */
  if (EBI_LIKELY(ebi_atomic_load_handshake(&ps->slot.serial) == pool->life.serial))
    return &ps->tc; /* == ps->slot.state (ebi_tcache_attach) */
  return NULL;
}

/* Hooks through which the floors above reach thread exit and fork: a floor
 * registers one set from a constructor (at most EBI_MAX_HOOKS in all),
 * and thread.c calls them in registration order (releases in reverse).
 *   thread_release_locked: thread t (the caller, or in a fork child one
 *       that did not survive) is going away; release the floor's state in
 *       t's slots.  Registry lock held; runs before t's pool caches go.
 *   fork_prepare / fork_parent: take / release the floor's locks.  Floors
 *       whose locks rank above the registry lock (`above_registry`) are
 *       prepared before the registry lock is taken; the others after it.
 *   fork_child: in the child, after fork_parent released the floor's locks
 *       and every dead thread's state was released: reset what did not
 *       cross the fork (conditions, counters, flags).  Runs with the
 *       registry lock held for floors below it, after it was released for
 *       floors above it; it must not start a thread, report, or allocate
 *       through anything but the floors' own malloc.
 *   fork_restart: in the child, last, once every ebra lock is released
 *       (every floor's, the registry lock, every pool's): start the threads
 *       that did not cross the fork and report what failed.  pthread_create
 *       allocates the new thread's TLS vector with calloc, which in
 *       libebra-malloc.so is a class pool's, whose slow path takes the
 *       registry lock or a pool's grow_lock; so does a report hook that
 *       allocates.  Under those locks the child deadlocked on itself. */
typedef struct ebi_thread_hooks_s {
  bool above_registry;
  void (*thread_release_locked)(ebi_thread_t *t);
  void (*fork_prepare)(void);
  void (*fork_parent)(void);
  void (*fork_child)(void);
  void (*fork_restart)(void);
} ebi_thread_hooks_t;
#define EBI_MAX_HOOKS 8
EBI_INTERNAL_FN void ebi_thread_hooks_add(const ebi_thread_hooks_t *h);

/* ---- object.c: the state of one object ------------------------------------
 * object.c owns every per-object state bit; other files only call the
 * functions below (pool.c's overflow list borrows a free object's first
 * word as its link and writes the marker back when it takes the object
 * off the list).  A slot is in exactly one of these states:
 *   free    in a magazine or a slab's free bits, freshly carved, or on the
 *           overflow list; its first word holds marker(p) = p ^ cookie
 *           (the link, while on the overflow list); debug builds: its live
 *           bit is clear, [8, object_size) poisoned
 *   user    handed out by alloc; the first word is the user's;
 *           debug builds: its live bit is set
 *   held    a user object claimed by the reclamation layer (retired, or
 *           owned by a weak handle): its held bit is set; only the holder's
 *           ebi_object_return or ebi_object_unclaim ends it
 * Transitions: carve -> free; alloc: free -> user; user free: user -> free;
 * claim: user -> held; unclaim: held -> user; return: held -> free.
 *
 * The checks of a pointer (foreign, wrong pool, interior or misaligned,
 * never carved, free, held) live here too: the user's free runs all of
 * them; claim runs them once; return runs none, since the holder's claim
 * made them and a held object cannot change state under it. */

#if defined(EBRA_ASAN)
#include <sanitizer/asan_interface.h>
#define EBI_ASAN_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define EBI_ASAN_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define EBI_ASAN_POISON(p, n) ((void)(p), (void)(n))
#define EBI_ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* A claimed (held) object: what its holder needs to give it back without
 * looking it up again.  `pool` is read first on return: pools are never
 * freed (tombstones), while `slab` is unmapped when its pool is destroyed
 * and may be touched only while `pool` is alive.  pool == NULL: a ref of
 * nothing (the object was not found), whose return does nothing. */
typedef struct ebi_objref_s {
  ebra_pool_t *pool;
  ebi_slab_t *slab;
  void *obj;
} ebi_objref_t;

static inline uint64_t ebi_object_free_marker(const ebra_pool_t *pool, const void *p) {
  return (uint64_t)(uintptr_t)p ^ pool->cookie;
}

/* Slot p's bit in one of a slab's per-slot bitmaps (held, live). */
typedef struct ebi_objbit_s {
  _Atomic uint64_t *word;
  uint64_t mask;
} ebi_objbit_t;

static inline ebi_objbit_t ebi_object_bit(_Atomic uint64_t *bits, const ebi_slab_t *s,
                                            const void *p) {
  const size_t i = ebi_slab_slot_index(s, p);
  return (ebi_objbit_t){.word = &bits[i / 64], .mask = 1ull << (i % 64)};
}

/* The held bitmap, right after the header, where free reads it with no
 * pointer load. */
static inline _Atomic uint64_t *ebi_slab_held_bits(const ebi_slab_t *s) {
  return (_Atomic uint64_t *)((char *)s + EBRA__SLAB_HELD);
}

/* Is p held (see ebi_slab_held_bits)?  Relaxed: the bit is set by the thread that
 * owns the object when it claims it; a free racing with that is the user's
 * bug, caught when the free comes after. */
static inline bool ebi_object_is_held(const ebi_slab_t *s, const void *p) {
  const ebi_objbit_t b = ebi_object_bit(ebi_slab_held_bits(s), s, p);
  return (ebi_atomic_load_relaxed(b.word) & b.mask) != 0;
}

/* Does pool keep its objects' live bits (O3)?  Debug builds and pools at
 * the strict check level. */
static inline bool ebi_object_tracks_live(const ebra_pool_t *pool) {
  return EBI_DEBUG || (pool->flags & EBRA_POOL_STRICT_CHECKS);
}

/* Does every alloc and free of pool do more than the fast paths do (live
 * bits, secure clearing, debug poison, ASan poisoning)?  Such pools'
 * thread caches bypass the fast paths (ebi_tcache_t), which therefore
 * test no flag, and so do ebra/pool_inline.h's copies of them. */
static inline bool ebi_pool_has_object_hooks(const ebra_pool_t *pool) {
#if defined(EBRA_ASAN)
  (void)pool;
  return true;
#else
  return ebi_object_tracks_live(pool) || (pool->flags & EBRA_POOL_SECURE_CLEAR);
#endif
}

/* Move p's live bit (pools that track it); false (nothing changed) if it
 * already had that value. */
EBI_INTERNAL_FN bool ebi_object_set_live(const ebi_slab_t *s, const void *p, bool live);
/* Debug builds: poison a free object, check the poison. */
EBI_INTERNAL_FN void ebi_object_debug_poison(ebra_pool_t *pool, void *p);
EBI_INTERNAL_FN void ebi_object_debug_check_poison(ebra_pool_t *pool, const void *p);
/* alloc's and free's extra work in pools with object hooks (slow paths
 * only): check the poison (debug), set the live bit and report an object
 * handed out twice; secure clearing and poisoning on free. */
EBI_INTERNAL_FN void ebi_object_on_alloc_hooked(ebra_pool_t *pool, void *p);
EBI_INTERNAL_FN void ebi_object_on_free_hooked(ebra_pool_t *pool, void *p);

/* A slot just carved from a slab enters the free state. */
EBI_INTERNAL_FN void ebi_object_on_carve(ebra_pool_t *pool, void *p);

/* alloc: free -> user (after ebi_object_on_alloc_hooked, in pools with
 * object hooks). */
static inline void ebi_object_on_alloc(ebra_pool_t *pool, void *p) {
  EBI_ASAN_UNPOISON(p, pool->stride);
  *(uint64_t *)p = 0; /* clears the free marker */
}

/* Any free (the user's, or a holder's return): -> free (after
 * ebi_object_on_free_hooked, in pools with object hooks). */
static inline void ebi_object_on_free_marked(ebra_pool_t *pool, void *p, uint64_t marker) {
  *(uint64_t *)p = marker; /* == ebi_object_free_marker(pool, p) */
  EBI_ASAN_POISON((char *)p + 8, pool->stride - 8);
}
static inline void ebi_object_on_free(ebra_pool_t *pool, void *p) {
  ebi_object_on_free_marked(pool, p, ebi_object_free_marker(pool, p));
}

/* The user frees p to pool, s = ebi_segmap_lookup(p): true (and *marker,
 * p's free marker, which the free then stores) iff p is a
 * user object of pool, as far as the default check level can tell.  Every
 * check is one compare on data constant while the pool lives, except the
 * carved count (one load, which also brings the held-ever flag) and, in a
 * slab that has had a held object, the held bit.  On false, the caller
 * returns ebi_object_free_refused().  Pools that track live bits then move
 * it too (ebi_object_user_free_tracked), which makes the double-free check
 * exact. */
static inline bool ebi_object_user_free(ebra_pool_t *pool, const ebi_slab_t *s, void *p,
                                         uint64_t *marker) {
  if (EBI_UNLIKELY(s == NULL || s->pool != pool))
    return false;
  const uint64_t i = ebi_slab_slot_of(s, p);
  /* The carved count and the held-ever flag, one relaxed load (see
   * ebi_slab_carved and O5). */
  const uint64_t w = ebi_atomic_load_relaxed(&s->xcarve);
  *marker = ebi_object_free_marker(pool, p); /* the caller stores it */
  if (EBI_UNLIKELY(i >= (w & EBI_SLAB_CARVED_MASK) || *(const uint64_t *)p == *marker))
    return false;
  /* The held bit, only in a slab that has had a held object; relaxed, see
   * ebi_object_is_held. */
  if (EBI_UNLIKELY(w & EBI_SLAB_HELD_EVER) &&
      ((ebi_atomic_load_relaxed(&ebi_slab_held_bits(s)[i / 64]) >> (i % 64)) & 1))
    return false;
  return true;
}

/* Why the user's free of p was refused, most specific first, reported;
 * a negative errno.  Never writes to p. */
EBI_INTERNAL_FN int ebi_object_free_refused(ebra_pool_t *pool, const ebi_slab_t *s,
                                              const void *p);

/* user -> held, with one segment-map lookup: 0 and *ref, or a negative
 * errno, reported: -EFAULT (no pool's object), -EINVAL (not the start of an
 * object handed out), -EALREADY (a free object; or already held: a double
 * retire, a retire or second handle of an object a weak handle owns).
 * Any thread that may use obj. */
EBI_INTERNAL_FN int ebi_object_claim(void *obj, ebi_objref_t *ref);
/* held -> user: the claim is undone (the holder's error paths). */
EBI_INTERNAL_FN void ebi_object_unclaim(const ebi_objref_t *ref);
/* held -> free: give the object back to its pool, with no lookup and no
 * user check.  Only the holder, once.  Skipped if the pool was destroyed
 * (its memory went with it). */
EBI_INTERNAL_FN void ebi_object_return(const ebi_objref_t *ref);
/* The ref of obj, which the caller holds but whose ref it did not keep:
 * one lookup; false and a ref of nothing if obj's pool is gone. */
EBI_INTERNAL_FN bool ebi_object_ref_of_held(void *obj, ebi_objref_t *ref);

/* ---- pool.c -------------------------------------------------------------- */
/* Bonwick's first step, taken inside the operation by the fast paths'
 * miss branches: loaded is empty (pop) or full (push) and previous is the
 * opposite, so the two trade places and the operation completes, with no
 * call and no shared write.  NULL / false otherwise (the slow path
 * decides: the depot, a refit, a bypass cache).  The push swap takes an
 * empty previous only at the pool's current capacity, since the slow path
 * refits one of another size first (MC3).  The rounds and the cached
 * pointers move as in the slow paths (ebi_tcache_sync_out, _sync_in), so a
 * drainer or a fork child sees the same states.  Inline, out of the hit
 * path: a call there would make the fast paths save registers. */
static inline void *ebi_tcache_pop_swap(ebi_tcache_t *tc) {
  ebi_magazine_t *const full = tc->previous;
  if (tc->bypass || full->rounds == 0)
    return NULL;
  ebi_tcache_sync_out(tc);
  tc->previous = tc->loaded;
  tc->loaded = full;
  ebi_tcache_sync_in(tc);
  void *p = *--tc->top;
  ebi_counter_add_owner(&tc->c.allocs, 1);
  return p;
}

static inline bool ebi_tcache_push_swap(ebra_pool_t *pool, ebi_tcache_t *tc, void *p,
                                        uint64_t marker) {
  ebi_magazine_t *const empty = tc->previous;
  if (tc->bypass || empty->rounds != 0 || empty->capacity != ebi_magazine_capacity(pool))
    return false;
  ebi_tcache_sync_out(tc);
  tc->previous = tc->loaded;
  tc->loaded = empty;
  ebi_tcache_sync_in(tc);
  ebi_object_on_free_marked(pool, p, marker);
  *tc->top++ = p;
  ebi_counter_add_owner(&tc->c.frees, 1);
  return true;
}

/* The magazine steps of the fast paths, for every caller inside a pool
 * operation (between ebi_pool_op_enter and _leave): the pool's own alloc
 * and free (pool.c) and the malloc floor's (malloc/malloc_internal.h).
 * *tcp is the thread's cache or NULL, for the caller's slow path.  Pop
 * returns the object (never NULL on a hit) or NULL on a miss; push stores
 * the free marker the caller's checks computed and returns false on a
 * miss, leaving p untouched.  A hit includes the swap above.  Neither
 * leaves the operation. */
static inline void *ebi_tcache_pop_in_op(const ebra_pool_t *pool, ebi_tcache_t **tcp) {
  ebi_tcache_t *tc = *tcp = ebi_tcache_of_fast(pool);
  if (EBI_LIKELY(tc != NULL)) {
    void **top = tc->top;
    if (EBI_LIKELY(top != tc->base)) {
      void *p = *--top;
      if (p == NULL) /* magazines hold objects only */
        __builtin_unreachable();
      tc->top = top;
      ebi_counter_add_owner(&tc->c.allocs, 1);
      return p;
    }
    return ebi_tcache_pop_swap(tc);
  }
  return NULL;
}

static inline bool ebi_tcache_push_in_op(ebra_pool_t *pool, ebi_tcache_t **tcp, void *p,
                                         uint64_t marker) {
  ebi_tcache_t *tc = *tcp = ebi_tcache_of_fast(pool);
  if (EBI_LIKELY(tc != NULL)) {
    void **top = tc->top;
    if (EBI_LIKELY(top != tc->limit)) {
      ebi_object_on_free_marked(pool, p, marker);
      *top = p;
      tc->top = top + 1;
      ebi_counter_add_owner(&tc->c.frees, 1);
      return true;
    }
    return ebi_tcache_push_swap(pool, tc, p, marker);
  }
  return false;
}


static inline bool ebi_pool_is_alive(const ebra_pool_t *pool) {
  return ebi_life_is_alive(&pool->life);
}
/* Free p, an object the library owns (a holder's return): the free-state
 * transition and the thread cache, without the user's checks. */
EBI_INTERNAL_FN void ebi_pool_free_owned(ebra_pool_t *pool, void *p);

/* ---- stats.c ------------------------------------------------------------- */
EBI_INTERNAL_FN void ebi_counters_add(ebi_counters_t *into, const ebi_counters_t *from);
EBI_INTERNAL_FN uint64_t ebi_pool_live_locked(ebra_pool_t *pool);   /* registry lock held */
EBI_INTERNAL_FN void ebi_pool_stats_locked(const ebra_pool_t *pool,
                                             ebra_pool_stats_t *out); /* registry lock held */
EBI_INTERNAL_FN int ebi_pool_audit_locked(ebra_pool_t *pool, ebra_pool_audit_t *out);

#endif /* EBI_INTERNAL_H */

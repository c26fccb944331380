/* src/internal.h — ebra's internal declarations, grouped by the file that
 * defines them.  Types first, with their invariants next to the fields. */
#ifndef EBRA_INTERNAL_H
#define EBRA_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ck_stack.h>

#include "ebra.h"
#include "atomics.h"

#define EBRA_LIKELY(x) __builtin_expect(!!(x), 1)
#define EBRA_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define EBRA_INTERNAL_FN __attribute__((visibility("hidden")))

#if defined(EBRA_DEBUG_CHECKS)
#define EBRA_DEBUG 1
#else
#define EBRA_DEBUG 0
#endif

/* Address space is cut into 1 MiB granules; every slab covers whole
 * granules and is aligned to one, so the segment map can find the slab of
 * any pointer (segmap.c). */
#define EBRA_GRANULE_SHIFT 20
#define EBRA_GRANULE_SIZE ((size_t)1 << EBRA_GRANULE_SHIFT)
#define EBRA_SLAB_MIN_OBJECTS 16
#define EBRA_SLAB_MAX_SIZE ((size_t)32 << 20)

#define EBRA_SLAB_MAGIC 0x65627261534c4142ull /* "ebraSLAB" */
#define EBRA_SLAB_PURGED (1ull << 32) /* in xcarve: the slab cannot be carved */
#define EBRA_SLAB_CARVED_MASK 0xffffffffull
#define EBRA_POISON_BYTE 0xDB

/* ---- types -------------------------------------------------------------- */

/* A slab: one mapping from the OS, cut into `count` slots of `stride` bytes.
 * The header sits at the start of the mapping, the slots after it.
 * Invariants: first + count*stride <= base + map_size;
 *             slots [0, carved) have been handed to magazines since the
 *             slab was last purged, the others have not (carving is
 *             bump-only within one incarnation);
 *             a slot whose free bit is set is free and in no magazine;
 *             nfree == popcount(free bits) <= carved;
 *             a purged slab has carved == 0, nfree == 0, and its object
 *             pages were given back to the OS (slab.c). */
typedef struct ebra_slab_s {
  uint64_t magic;           /* EBRA_SLAB_MAGIC */
  ebra_pool_t *pool;        /* owner; constant */
  char *first;              /* first slot; constant */
  size_t stride;            /* constant */
  size_t span;              /* count * stride; constant */
  uint64_t stride_div;      /* UINT64_MAX / stride + 1: divisibility test */
  uint32_t count;           /* slots; constant */
  _Atomic uint64_t xcarve;  /* carved slots (bits 0..31) | EBRA_SLAB_PURGED;
                               CAS only, never past count */
  size_t map_size;          /* bytes mapped, header included */
  struct ebra_slab_s *next; /* pool->slabs list, under pool->grow_lock */
  /* Free objects returned by depot trimming; all under pool->grow_lock. */
  uint64_t *free_bits;      /* bit i set <=> slot i is free, in this slab */
  uint32_t nfree;           /* > 0 <=> on pool->partial */
  struct ebra_slab_s *lnext, *lprev; /* pool->partial, or pool->purged when
                                        xcarve has EBRA_SLAB_PURGED */
  _Atomic uint64_t *xheld_bits; /* bit i set <=> slot i is held by the
                                   reclamation layer: retired and awaiting a
                                   grace period, or owned by a weak handle */
#if EBRA_DEBUG
  _Atomic uint64_t *xlive_bits; /* bit i set <=> slot i is with a user */
#endif
} ebra_slab_t;

/* A magazine: a stack of up to `capacity` free objects (Bonwick's rounds).
 * Owned by exactly one party at a time: a thread cache, or the depot.
 * Magazines are type-stable: freed only when their pool is destroyed, since
 * a concurrent ck_stack pop may still read `link.next` of one just taken. */
typedef struct ebra_magazine_s {
  ck_stack_entry_t link;            /* depot stack link (ck) */
  struct ebra_magazine_s *all_next; /* pool->xall_mags list; constant once set */
  uint32_t rounds;                  /* 0 <= rounds <= capacity */
  uint32_t capacity;
  void *objs[];
} ebra_magazine_t;

/* The depot: lock-free stacks of non-empty ("full") and empty magazines.
 * ck_stack's *_mpmc operations pair the head with a generation in a
 * double-width CAS, which makes them ABA-safe; cmpxchg16b needs the stack
 * 16-byte aligned (lockfree/stack.h, S3). */
typedef struct ebra_depot_s {
  ck_stack_t full CK_CC_ALIGN(16);
  ck_stack_t empty CK_CC_ALIGN(16);
  ck_stack_t parked CK_CC_ALIGN(16); /* empty magazines whose capacity is
                                        not the pool's current one (D4) */
  _Atomic int64_t xnfull;  /* approximate counts, for stats */
  _Atomic int64_t xnempty;
  _Atomic int64_t xnparked;
} ebra_depot_t;

/* Counters of one thread cache.  Single writer (the owner thread, with
 * ebra_counter_add_owner), relaxed readers (stats). */
typedef struct ebra_counters_s {
  _Atomic uint64_t allocs;
  _Atomic uint64_t frees;
  _Atomic uint64_t misses;           /* allocs+frees not served by magazines */
  _Atomic uint64_t depot_exchanges;
  _Atomic uint64_t depot_contention;
  _Atomic uint64_t depot_rounds;     /* objects in the full magazines moved */
} ebra_counters_t;

typedef struct ebra_thread_s ebra_thread_t;

/* One thread's cache for one pool.  Touched only by the owner thread (or,
 * with the owner stopped, by destroy/exit/fork/audit under the registry
 * lock).  Invariant: previous->rounds is 0 or previous->capacity.
 *
 * The loaded magazine's stack is cached as three pointers, so the fast
 * paths need no load of the magazine itself:
 *   base == loaded->objs, limit == base + loaded->capacity,
 *   top - base == the loaded magazine's true round count.
 * loaded->rounds is stale while the owner runs; ebra_tcache_sync_out()
 * writes it back before any slow path looks at the magazine, and
 * ebra_tcache_sync_in() reloads the pointers after `loaded` changes. */
typedef struct ebra_tcache_s {
  void **top;
  void **base;
  void **limit;
  ebra_magazine_t *loaded;
  ebra_magazine_t *previous;
  ebra_counters_t c;
  ebra_pool_t *pool;
  ebra_thread_t *thread;
  struct ebra_tcache_s *pool_next, *pool_prev; /* pool->tcaches, registry lock */
} ebra_tcache_t;

/* ---- per-thread state: one slot table per kind of object ------------------
 * A thread keeps, for each kind of object that has per-thread state (pools:
 * a thread cache; domains: the thread's registration), a table indexed by
 * the object's registry id.  Slot i is valid iff its serial equals the
 * serial of the object now at id i: destroying the object (serial :=
 * EBRA_SERIAL_DEAD) or reusing its id (fresh serial) makes every thread's
 * stale slot miss on its next use without touching that thread, and an
 * empty slot (serial 0) matches nothing. */
typedef struct ebra_slot_s {
  uint64_t serial;
  void *state;                 /* non-NULL in every valid slot */
} ebra_slot_t;

/* Ids below this have their slot inside the thread struct, one load closer
 * to the fast path; higher ids use the growable more[] array. */
#define EBRA_INLINE_SLOTS 16

typedef struct ebra_slots_s {
  ebra_slot_t inl[EBRA_INLINE_SLOTS]; /* ids 0..15 */
  uint32_t nmore;                     /* length of more[] */
  ebra_slot_t *more;                  /* id i >= 16 at more[i - 16];
                                         owner + registry lock */
} ebra_slots_t;

typedef enum {
  EBRA_SLOTS_POOL,   /* state: ebra_tcache_t (thread.c) */
  EBRA_SLOTS_DOMAIN, /* state: ebra_dthread_t (reclaim/domain.c) */
  EBRA_SLOT_KINDS
} ebra_slot_kind_t;

struct ebra_thread_s {
  ebra_slots_t slots[EBRA_SLOT_KINDS];
  /* The smallest number below EBRA_THREAD_NUMBERS that no other live thread
   * state holds, or EBRA_THREAD_UNNUMBERED; given and taken back under the
   * registry lock, so a thread that gets a number released by an exited
   * one happens after everything that one did.  Lets per-thread counters
   * (weak/cache.c) have one writer per slot and reuse slots as threads come
   * and go. */
  uint32_t number;
  ebra_thread_t *next, *prev;  /* all threads, registry lock */
};
#define EBRA_THREAD_NUMBERS 64
#define EBRA_THREAD_UNNUMBERED UINT32_MAX

/* Thread t's slot for id in one kind's table, or NULL if t has none that far. */
static inline ebra_slot_t *ebra_thread_slot(const ebra_thread_t *t, ebra_slot_kind_t kind,
                                            uint32_t id) {
  const ebra_slots_t *s = &t->slots[kind];
  if (EBRA_LIKELY(id < EBRA_INLINE_SLOTS))
    return (ebra_slot_t *)&s->inl[id];
  id -= EBRA_INLINE_SLOTS;
  return id < s->nmore ? &s->more[id] : NULL;
}

static inline uint32_t ebra_thread_nslots(const ebra_thread_t *t, ebra_slot_kind_t kind) {
  return EBRA_INLINE_SLOTS + t->slots[kind].nmore;
}

static inline void ebra_tcache_sync_out(ebra_tcache_t *tc) {
  tc->loaded->rounds = (uint32_t)(tc->top - tc->base);
}

static inline void ebra_tcache_sync_in(ebra_tcache_t *tc) {
  tc->base = tc->loaded->objs;
  tc->top = tc->base + tc->loaded->rounds;
  tc->limit = tc->base + tc->loaded->capacity;
}

#define EBRA_SERIAL_DEAD UINT64_MAX
#define EBRA_POOL_ALIVE 0x6c697665u /* "live" */
#define EBRA_POOL_DEAD 0x64656164u  /* "dead" */

struct ebra_pool_s {
  /* Read by every alloc and free: constant while the pool lives. */
  uint64_t serial;      /* unique, >= 1, never reused; EBRA_SERIAL_DEAD once
                           destroyed, which no slot holds (empty slots hold 0) */
  uint32_t id;          /* registry index; may be reused after destroy */
  uint32_t flags;       /* EBRA_POOL_* */
  size_t object_size;
  size_t stride;
  uint64_t cookie;      /* free-marker key: marker(p) = p ^ cookie */
  uint32_t state;       /* EBRA_POOL_ALIVE / EBRA_POOL_DEAD */
  _Atomic uint32_t xmag_capacity; /* rounds for new magazines; the
                                     strategy engine moves it */
  uint32_t mag_capacity_base;     /* as configured; constant */
  size_t alignment;
  size_t max_objects;   /* 0 = no cap */
  size_t slab_size;
  char name[EBRA_POOL_NAME_MAX];

  ebra_depot_t depot;

  /* Slab layer.  xcurrent: the slab being carved; replaced under grow_lock
   * (store release, paired with the load acquire in slab_carve). */
  _Atomic(ebra_slab_t *) xcurrent;
  pthread_mutex_t grow_lock;      /* the slab layer's lock: held while the
                                     OS maps or purges a slab, and while
                                     trimmed objects move to or from the
                                     slabs' free bits; never on a fast path */
  ebra_slab_t *slabs;             /* all slabs, under grow_lock */
  ebra_slab_t *partial;           /* slabs with free objects, grow_lock */
  ebra_slab_t *purged;            /* slabs given back to the OS, grow_lock */
  _Atomic uint64_t xslab_free;    /* objects free in slabs (stats) */
  _Atomic uint64_t xbytes_purged; /* bytes of purged slabs (stats, limit) */
  _Atomic uint64_t xpurges;       /* slabs purged, ever */
  _Atomic uint64_t xtrimmed;      /* magazines trimmed from the depot, ever */
  _Atomic uint64_t xcarved;       /* objects carved, <= max_objects if capped */
  _Atomic uint64_t xslabs;
  _Atomic uint64_t xbytes_reserved;

  /* Every magazine of the pool, push-only (CAS), for destroy and audit. */
  _Atomic(ebra_magazine_t *) xall_mags;

  /* Objects freed while the OS refused memory for a magazine: a list
   * linked through each object's first word, under overflow_lock. */
  pthread_mutex_t overflow_lock;
  void *overflow;
  _Atomic uint64_t xnoverflow;

  /* Thread caches attached to this pool, and the summed counters of caches
   * already detached; both under the registry lock. */
  ebra_tcache_t *tcaches;
  uint32_t ntcaches;
  ebra_counters_t detached;
  _Atomic uint64_t xerrors;

  ebra_pool_t *tomb_next; /* destroyed pools, kept as tombstones */

  /* The strategy engine's view at its previous step (engine lock). */
  uint64_t eng_prev_ops, eng_prev_exchanges, eng_prev_contention, eng_prev_objects;
};

/* ---- report.c ------------------------------------------------------------ */
EBRA_INTERNAL_FN void ebra_report(ebra_error_kind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
EBRA_INTERNAL_FN void ebra_report_pool(ebra_pool_t *pool, ebra_error_kind_t kind,
                                       const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
EBRA_INTERNAL_FN void ebra_die(const char *file, int line, const char *why)
    __attribute__((noreturn));
#define EBRA_DIE(why) ebra_die(__FILE__, __LINE__, (why))

/* ---- options.c ----------------------------------------------------------- */
EBRA_INTERNAL_FN bool ebra_option_is_on(ebra_option_t opt);

/* ---- os.c: the only file that talks to the OS about memory --------------- */
EBRA_INTERNAL_FN int ebra_os_map_aligned(size_t size, size_t align, void **out);
EBRA_INTERNAL_FN int ebra_os_unmap(void *p, size_t size);
EBRA_INTERNAL_FN int ebra_os_purge(void *p, size_t size); /* madvise DONTNEED */
EBRA_INTERNAL_FN uint64_t ebra_os_random(void);
EBRA_INTERNAL_FN int ebra_os_resident_bytes(uint64_t *out); /* /proc/self/statm */
EBRA_INTERNAL_FN uint64_t ebra_now_ns(void);                 /* CLOCK_MONOTONIC */

/* ---- segmap.c: pointer -> slab, lock-free reads -------------------------- */
#define EBRA_SEGMAP_LEAF_BITS 14
#define EBRA_SEGMAP_TOP_BITS (47 - EBRA_GRANULE_SHIFT - EBRA_SEGMAP_LEAF_BITS)
#define EBRA_SEGMAP_LEAF_LEN ((size_t)1 << EBRA_SEGMAP_LEAF_BITS)
#define EBRA_SEGMAP_TOP_LEN ((size_t)1 << EBRA_SEGMAP_TOP_BITS)

typedef struct ebra_segmap_leaf_s {
  _Atomic(ebra_slab_t *) xslab[EBRA_SEGMAP_LEAF_LEN];
} ebra_segmap_leaf_t;

EBRA_INTERNAL_FN extern _Atomic(ebra_segmap_leaf_t *) ebra_segmap_top[EBRA_SEGMAP_TOP_LEN];
EBRA_INTERNAL_FN int ebra_segmap_insert(ebra_slab_t *slab);
EBRA_INTERNAL_FN void ebra_segmap_remove(ebra_slab_t *slab);

/* The slab covering p, or NULL.  Wait-free; never reads *p. */
static inline ebra_slab_t *ebra_segmap_lookup(const void *p) {
  const uintptr_t g = (uintptr_t)p >> EBRA_GRANULE_SHIFT;
  const uintptr_t hi = g >> EBRA_SEGMAP_LEAF_BITS;
  if (EBRA_UNLIKELY(hi >= EBRA_SEGMAP_TOP_LEN))
    return NULL;
  /* Paired with the CAS (acq_rel) that installs a leaf in segmap.c. */
  ebra_segmap_leaf_t *leaf = ebra_atomic_load_acquire(&ebra_segmap_top[hi]);
  if (EBRA_UNLIKELY(!leaf))
    return NULL;
  /* Paired with the store release in ebra_segmap_insert. */
  return ebra_atomic_load_acquire(&leaf->xslab[g & (EBRA_SEGMAP_LEAF_LEN - 1)]);
}

/* ---- slab.c -------------------------------------------------------------- */
EBRA_INTERNAL_FN size_t ebra_slab_size_for(size_t stride, size_t alignment);
EBRA_INTERNAL_FN uint32_t ebra_slab_fill(ebra_pool_t *pool, void **out, uint32_t want,
                                        ebra_error_kind_t *why);
EBRA_INTERNAL_FN void ebra_slab_release_all(ebra_pool_t *pool);
/* Free objects back to their slabs' free bits (depot trimming). */
EBRA_INTERNAL_FN void ebra_slab_return(ebra_pool_t *pool, void *const *objs, uint32_t n);
/* Give every wholly free slab but the current one back to the OS;
 * returns the bytes purged. */
EBRA_INTERNAL_FN uint64_t ebra_slab_purge_free(ebra_pool_t *pool);
/* Bytes that every pool's slabs hold from the OS (mapped minus purged),
 * and the hard limit on it (EBRA_HARD_LIMIT, 0 = none), checked before a
 * slab is mapped or reused; refusals counted. */
EBRA_INTERNAL_FN uint64_t ebra_slab_committed_bytes(void);
EBRA_INTERNAL_FN uint64_t ebra_slab_hard_limit(void);
EBRA_INTERNAL_FN uint64_t ebra_slab_limit_refusals(void);

/* True iff p is the start of a slot of slab that has been carved (handed to
 * a magazine at some point).  Offsets are < 2^32 (slabs <= 32 MiB), so the
 * divisibility test is Lemire's: n % d == 0 <=> n * (2^64/d + 1) <= 2^64/d. */
static inline bool ebra_slab_slot_valid(const ebra_slab_t *slab, const void *p) {
  const uint64_t off = (uint64_t)((uintptr_t)p - (uintptr_t)slab->first);
  if (EBRA_UNLIKELY(off >= slab->span))
    return false;
  if (EBRA_UNLIKELY(off * slab->stride_div > slab->stride_div - 1))
    return false;
  /* Relaxed: a slot is carved before it reaches any user, and that carve
   * happens before the user's free through the magazine hand-offs. */
  const uint64_t carved = ebra_atomic_load_relaxed(&slab->xcarve) & EBRA_SLAB_CARVED_MASK;
  return off < carved * slab->stride;
}

/* Slot index of p (a valid slot start): Lemire's fastdiv, exact for
 * offsets below 2^32: n / d == (n * (2^64/d + 1)) >> 64 in 128 bits. */
static inline size_t ebra_slab_slot_index(const ebra_slab_t *slab, const void *p) {
  const uint64_t off = (uint64_t)((uintptr_t)p - (uintptr_t)slab->first);
  return (size_t)(((unsigned __int128)off * slab->stride_div) >> 64);
}

/* Is slot p held by the reclamation layer (see xheld_bits)?  Relaxed: the
 * bit is set by the thread that owns the object when it retires it or gives
 * it a handle; a free racing with that is the user's bug, caught when the
 * free comes after. */
static inline bool ebra_slab_slot_held(const ebra_slab_t *slab, const void *p) {
  const size_t i = ebra_slab_slot_index(slab, p);
  return (ebra_atomic_load_relaxed(&slab->xheld_bits[i / 64]) >> (i % 64)) & 1;
}

/* ---- magazine.c ---------------------------------------------------------- */
EBRA_INTERNAL_FN ebra_magazine_t *ebra_magazine_new(ebra_pool_t *pool);
EBRA_INTERNAL_FN ebra_magazine_t *ebra_magazine_get_empty(ebra_pool_t *pool,
                                                          ebra_counters_t *c);
EBRA_INTERNAL_FN void ebra_magazine_give(ebra_pool_t *pool, ebra_magazine_t *m,
                                         ebra_counters_t *c);
EBRA_INTERNAL_FN void ebra_magazine_free_all(ebra_pool_t *pool);
EBRA_INTERNAL_FN bool ebra_magazine_is_valid(const ebra_pool_t *pool,
                                             const ebra_magazine_t *m);

/* ---- depot.c ------------------------------------------------------------ */
EBRA_INTERNAL_FN void ebra_depot_init(ebra_depot_t *d);
EBRA_INTERNAL_FN void ebra_depot_push_full(ebra_depot_t *d, ebra_magazine_t *m,
                                           ebra_counters_t *c);
EBRA_INTERNAL_FN void ebra_depot_push_empty(ebra_depot_t *d, ebra_magazine_t *m,
                                            ebra_counters_t *c);
EBRA_INTERNAL_FN ebra_magazine_t *ebra_depot_pop_full(ebra_depot_t *d,
                                                      ebra_counters_t *c);
EBRA_INTERNAL_FN ebra_magazine_t *ebra_depot_pop_empty(ebra_depot_t *d,
                                                       ebra_counters_t *c);
EBRA_INTERNAL_FN void ebra_depot_park(ebra_depot_t *d, ebra_magazine_t *m, ebra_counters_t *c);
EBRA_INTERNAL_FN ebra_magazine_t *ebra_depot_unpark(ebra_depot_t *d, ebra_counters_t *c);
/* Pop full magazines while more than `keep` remain, return their objects
 * to the slabs and the magazines to the empty stack; returns how many. */
EBRA_INTERNAL_FN uint64_t ebra_depot_trim(ebra_pool_t *pool, uint64_t keep);

/* ---- thread.c ------------------------------------------------------------ */
EBRA_INTERNAL_FN extern __thread ebra_thread_t *ebra_tls_thread
    __attribute__((tls_model("initial-exec")));
EBRA_INTERNAL_FN void ebra_registry_lock(void);
EBRA_INTERNAL_FN void ebra_registry_unlock(void);
/* A growable table of pointers indexed by small ids (pools, domains);
 * callers hold the registry lock.  Freed ids are reused, lowest first. */
typedef struct ebra_idtable_s {
  void **items;
  uint32_t cap;
} ebra_idtable_t;
EBRA_INTERNAL_FN int ebra_idtable_put(ebra_idtable_t *t, void *item, uint32_t min_cap,
                                      uint32_t *id);
static inline void *ebra_idtable_at(const ebra_idtable_t *t, uint32_t id) {
  return id < t->cap ? t->items[id] : NULL;
}
EBRA_INTERNAL_FN int ebra_registry_add(ebra_pool_t *pool);    /* registry lock held */
EBRA_INTERNAL_FN void ebra_registry_remove(ebra_pool_t *pool); /* registry lock held */
EBRA_INTERNAL_FN ebra_pool_t *ebra_registry_at(uint32_t id);   /* registry lock held */
EBRA_INTERNAL_FN uint32_t ebra_registry_capacity(void);        /* registry lock held */
EBRA_INTERNAL_FN ebra_tcache_t *ebra_tcache_attach(ebra_pool_t *pool);
EBRA_INTERNAL_FN void ebra_tcache_flush(ebra_pool_t *pool, ebra_tcache_t *tc);
EBRA_INTERNAL_FN void ebra_tcache_detach_all(ebra_pool_t *pool); /* registry lock held */
EBRA_INTERNAL_FN ebra_thread_t *ebra_thread_get_locked(void);     /* registry lock held */
/* Make t's table of one kind reach id; 0 or ENOMEM.  Registry lock held. */
EBRA_INTERNAL_FN int ebra_thread_reserve_slot(ebra_thread_t *t, ebra_slot_kind_t kind, uint32_t id);
EBRA_INTERNAL_FN void ebra_thread_flush_caches(void); /* the caller's, to the depots */

/* The calling thread's state for the object at id of one kind, or NULL
 * (the slow path attaches state).  A match implies state (see ebra_slot_t). */
static inline void *ebra_thread_state_of(ebra_slot_kind_t kind, uint32_t id, uint64_t serial) {
  const ebra_slots_t *s = &ebra_tls_thread->slots[kind];
  const ebra_slot_t *slot;
  if (EBRA_LIKELY(id < EBRA_INLINE_SLOTS))
    slot = &s->inl[id];
  else if (id - EBRA_INLINE_SLOTS < s->nmore)
    slot = &s->more[id - EBRA_INLINE_SLOTS];
  else
    return NULL;
  if (EBRA_LIKELY(slot->serial == serial)) {
    if (slot->state == NULL) /* a matching slot always has state */
      __builtin_unreachable();
    return slot->state;
  }
  return NULL;
}

/* The calling thread's cache for pool, or NULL (slow path attaches one). */
static inline ebra_tcache_t *ebra_tcache_of(const ebra_pool_t *pool) {
  return (ebra_tcache_t *)ebra_thread_state_of(EBRA_SLOTS_POOL, pool->id, pool->serial);
}

/* Hooks through which the floors above reach thread exit and fork: a floor
 * registers one set from a constructor (at most EBRA_MAX_HOOKS in all),
 * and thread.c calls them in registration order (releases in reverse).
 *   thread_release_locked: thread t (the caller, or in a fork child one
 *       that did not survive) is going away; release the floor's state in
 *       t's slots.  Registry lock held; runs before t's pool caches go.
 *   fork_prepare / fork_parent: take / release the floor's locks.  Floors
 *       whose locks rank above the registry lock (`above_registry`) are
 *       prepared before the registry lock is taken; the others after it.
 *   fork_child: in the child, after fork_parent released the floor's locks
 *       and every dead thread's state was released: restart what did not
 *       cross the fork.  Runs with the registry lock held for floors below
 *       it, after it was released for floors above it. */
typedef struct ebra_thread_hooks_s {
  bool above_registry;
  void (*thread_release_locked)(ebra_thread_t *t);
  void (*fork_prepare)(void);
  void (*fork_parent)(void);
  void (*fork_child)(void);
} ebra_thread_hooks_t;
#define EBRA_MAX_HOOKS 4
EBRA_INTERNAL_FN void ebra_thread_hooks_add(const ebra_thread_hooks_t *h);

/* ---- pool.c -------------------------------------------------------------- */
EBRA_INTERNAL_FN void ebra_object_on_carve(ebra_pool_t *pool, void *p);
EBRA_INTERNAL_FN int ebra_object_check_live(const void *obj, ebra_pool_t **pool_out);
EBRA_INTERNAL_FN int ebra_object_hold(ebra_pool_t *pool, const void *obj);
EBRA_INTERNAL_FN bool ebra_object_release_hold(const void *obj);
EBRA_INTERNAL_FN bool ebra_pool_is_alive(const ebra_pool_t *pool);

/* ---- stats.c ------------------------------------------------------------- */
EBRA_INTERNAL_FN void ebra_counters_add(ebra_counters_t *into, const ebra_counters_t *from);
EBRA_INTERNAL_FN uint64_t ebra_pool_live_locked(ebra_pool_t *pool);   /* registry lock held */
EBRA_INTERNAL_FN void ebra_pool_stats_locked(const ebra_pool_t *pool,
                                             ebra_pool_stats_t *out); /* registry lock held */
EBRA_INTERNAL_FN int ebra_pool_audit_locked(ebra_pool_t *pool, ebra_pool_audit_t *out);

#endif /* EBRA_INTERNAL_H */

/* SPDX-License-Identifier: MIT */
/* weak/weak.c — weak handles: a segmented table of slots, resolved by
 * readers inside a domain's read section without any shared write.
 *
 * Handle:  [63:56] table tag  [55:28] generation  [27:0] slot index.
 * Slot (32 bytes): xkey = the handle itself while the object is alive,
 *          else dead_key(generation, index) (tag 0, which no handle has),
 *          so one compare with a handle checks tag, generation, index and
 *          life, and xkey is never 0; xrefs = strong references; xlink =
 *          the next slot's index + 1 on the free list or the orphan list;
 *          xobj = the object (kept until reclaimed); xcleanups = callbacks,
 *          or CLOSED once they were taken to run.  The resolve
 *          (ebra__weak_get, ebra/weak.h) is shared with the inline copy
 *          applications compile.
 * Zero region: one read-only mapping per process (zero_region below)
 *          that every absent segment's head.base[k] points into, so a
 *          resolve of an index whose segment does not exist, or on a
 *          destroyed table, reads key 0 and misses through the same
 *          compare as a stale handle.
 *
 * Life of a slot (generation g):
 *   free(g)  --create-->  alive(g, refs>=1)  --kill / last release-->
 *   dead(g, refs>=0)  --refs reach 0: retire-->  [grace period]
 *   --reclaim: cleanups, object to its pool-->  free(g+1), or retired for
 *   good if g+1 would pass the table's last generation.
 *
 * Invariants
 *   W1  weak_get(h) returns non-NULL only if slot(h).xkey == h when it
 *       was read, inside the caller's section.
 *   W2  a slot's object is returned to its pool, and the slot reused, only
 *       by the reclaimer, after a grace period that began after the slot
 *       became dead and unreferenced; so no section that saw it alive is
 *       still running (the readers' memory-ordering argument is in
 *       docs/DESIGN.md).
 *   W3  xrefs never goes 0 -> 1 (upgrade is increment-if-not-zero), so a
 *       dead, unreferenced object is never resurrected.
 *   W4  the cleanup list is taken exactly once (exchange with CLOSED); an
 *       add that finds CLOSED fails, so each cleanup runs exactly once or
 *       is refused.
 *   W5  tags are unique among live tables, and a reused tag starts above
 *       every generation its previous table issued: a stale or foreign
 *       handle never matches a live slot.
 *   W6  a slot's object is claimed (src/object.c) from create until the
 *       reclaimer returns it: the user cannot free it, retire it or give it
 *       a second handle meanwhile, and only slot_reclaim gives it back.
 *   W7  retiring a dead slot needs no memory: when the domain has none for
 *       a batch entry, the slot itself goes on the table's orphan list
 *       (its xlink, unused while it is dead), which the domain's
 *       reclaimer takes before a grace period and reclaims after it.  So a
 *       kill under ENOMEM never leaks, and xlive counts orphans.
 *   W8  destroy frees the segments only after a grace period that began
 *       after every head.base[k] was pointed at the zero region: a reader
 *       still resolving a stale handle in a section that began before the
 *       destroy reads live memory, and one that begins after reads key 0
 *       and misses.  xlive
 *       is decremented last in slot_reclaim (release; destroy's load
 *       acquire), so no reclaim still touches a slot when destroy starts.
 *   W9  a fresh index is used only once its segment is published in
 *       head.base[k], the word every slot lookup reads: slot_alloc tests
 *       that word, and grows (or waits on grow_lock for the thread growing
 *       it) only when it still points into the zero region.  A segment
 *       half-published (xseg[k] set, base[k] not yet) is never taken for
 *       a missing slot.
 *   W10 the free list is a stack of slot indices through xlink, its head
 *       one word {pops and pushes so far : top index + 1}, changed only by
 *       CAS: a pop that read a top which was popped and pushed back meanwhile
 *       sees a new count and fails (no ABA, unless 2^32 changes fit
 *       between one popper's load and its CAS).  A popper may read xlink of a
 *       slot another thread just took; its CAS then fails and the value is
 *       discarded (segments never move while the table lives).
 *
 * Ordering (acquire -> the release it pairs with)
 *   weak_get: load acquire of base[k]    -> store release in seg_grow
 *   free list: pop's CAS acquire          -> push's CAS release (the slot's
 *                                           dead key and xlink, W10)
 *   slot_alloc: load acquire of base[k]  -> store release in seg_grow,
 *             or grow_lock, taken after the grower's unlock (W9)
 *             load acquire of xkey       -> store release of xkey in create,
 *                                           which follows create's xobj store
 *             xobj: a relaxed load, after the xkey acquire
 *   reclaimer: xkey/xobj stores of reuse happen after the grace period.
 *   add_cleanup's CAS release -> reclaim's exchange acq_rel.
 *
 * Progress: weak_get is wait-free (a bounded number of loads).  create,
 * upgrade, release, kill and add_cleanup are lock-free (the free list's and
 * the slots' CAS loops), except growing the table, which takes grow_lock while it
 * allocates a segment.  Segments never move or shrink.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef EBI_TEST_GROW_WINDOW_US
#include <unistd.h>
#endif

#include "weak_internal.h"
#include "tsan.h"

#define IDX_BITS 28
#define GEN_BITS 28
#define IDX_MASK ((1ull << IDX_BITS) - 1)
#define GEN_MASK ((1ull << GEN_BITS) - 1)
#define GEN_LIMIT ((uint32_t)GEN_MASK) /* last generation a slot may use */
#define SEG_BASE 64u
#define NSEG 23 /* SEG_BASE * (2^NSEG - 1) >= 2^IDX_BITS */
#define NTAGS 256

typedef struct cleanup_s {
  struct cleanup_s *next;
  ebra_cleanup_fn *fn;
  void *arg;
} cleanup_t;

#define CLOSED ((cleanup_t *)1)

/* The first two members are ebra__weak_slot_t (ebra/weak.h); 32 bytes,
 * the stride the resolve shifts by. */
typedef struct wslot_s {
  _Atomic uint64_t xkey;
  _Atomic(void *) xobj;
  _Atomic uint32_t xrefs;
  _Atomic uint32_t xlink; /* next index + 1 on the free or orphan list; 0 = end */
  _Atomic(cleanup_t *) xcleanups;
} wslot_t;

struct ebra_weak_table_s {
  ebi_life_t life;    /* first member (src/life.c) */
  /* head.base[k] = address of segment k minus the bytes of the slots before
   * it (SEG_BASE * (2^k - 1) of them), so slot idx of segment k is at
   * base[k] + idx * sizeof(wslot_t): one add on the resolve path.  While
   * segment k is absent, absent_base(k): the same sum into the zero region
   * (an integer, never dereferenced outside the region).  At
   * EBRA__WEAK_HEAD_OFFSET, on a cache line of its own start, for the
   * inline resolve; written only by create, seg_grow and destroy. */
  ebra__weak_head_t head __attribute__((aligned(64)));
  uint32_t tag;       /* 1..255 while alive; 0 once destroyed */
  uint32_t gen_first; /* generation of fresh slots */
  uint32_t gen_last;  /* a slot past this generation is retired for good */
  ebra_domain_t *domain;
  _Atomic(wslot_t *) xseg[NSEG];
  _Atomic uint32_t xnext; /* fresh slot indices handed out */
  _Atomic uint64_t xfree; /* the free list's head: count << 32 | top index + 1 (W10) */
  pthread_mutex_t grow_lock;
  /* Dead slots whose retire found no memory (slot_retire): retired through
   * the domain source below, which needs none (W7). */
  pthread_mutex_t orphan_lock;
  uint32_t orphans;             /* first index + 1, through xlink; orphan_lock */
  _Atomic uint32_t xsegs_to_free; /* set by destroy; the source frees them (W8) */
  ebi_reclaim_source_t source;
  _Atomic uint64_t xlive, xcreated, xkilled, xcleanups_run, xretired_slots, xslots;
};

/* Per tag: in use, and the first generation a new table may use. */
static bool tag_used[NTAGS];       /* registry lock */
static uint32_t tag_floor[NTAGS];  /* registry lock; 0 means 1 */

static inline ebra_weak_t make_handle(uint32_t tag, uint32_t gen, uint32_t idx) {
  return ((uint64_t)tag << (IDX_BITS + GEN_BITS)) | ((uint64_t)gen << IDX_BITS) | idx;
}
static inline uint32_t h_tag(ebra_weak_t h) { return (uint32_t)(h >> (IDX_BITS + GEN_BITS)); }
static inline uint32_t h_gen(ebra_weak_t h) { return (uint32_t)((h >> IDX_BITS) & GEN_MASK); }
static inline uint32_t h_idx(ebra_weak_t h) { return (uint32_t)(h & IDX_MASK); }
/* A slot's key while dead or free at generation g (>= 1): tag 0, never a
 * handle, never 0 (the zero region's key). */
static inline uint64_t dead_key(uint32_t g, uint32_t idx) { return make_handle(0, g, idx); }
static inline uint32_t key_gen(uint64_t key) { return (uint32_t)((key >> IDX_BITS) & GEN_MASK); }
/* The index of a slot, from its key (alive or dead, the low bits). */
static inline uint32_t key_idx(uint64_t key) { return (uint32_t)(key & IDX_MASK); }

_Static_assert(offsetof(struct ebra_weak_table_s, head) == EBRA__WEAK_HEAD_OFFSET &&
                   NSEG == EBRA__WEAK_NSEG && SEG_BASE == EBRA__WEAK_SEG_BASE &&
                   (1u << EBRA__WEAK_SEG_SHIFT) == EBRA__WEAK_SEG_BASE &&
                   IDX_MASK == EBRA__WEAK_IDX_MASK &&
                   sizeof(wslot_t) == (1u << EBRA__WEAK_SLOT_SHIFT) &&
                   offsetof(wslot_t, xkey) == offsetof(ebra__weak_slot_t, key) &&
                   offsetof(wslot_t, xobj) == offsetof(ebra__weak_slot_t, obj) &&
                   sizeof(_Atomic uint64_t) == sizeof(uint64_t) &&
                   sizeof(_Atomic uintptr_t) == sizeof(uintptr_t),
               "the weak table no longer matches ebra/weak.h's ebra__ layout: change "
               "it and the version in every ebra__ name");

/* The word of head.base[k], which the library accesses as an atomic (the
 * header's inline copy with __atomic builtins: the same representation). */
static inline _Atomic uintptr_t *seg_base_word(const ebra_weak_table_t *t, uint32_t k) {
  return (_Atomic uintptr_t *)&((ebra_weak_table_t *)t)->head.base[k];
}

/* Segment k holds SEG_BASE << k slots, starting at SEG_BASE * (2^k - 1). */
static inline uint32_t seg_of(uint32_t idx, uint32_t *off) {
  const uint32_t q = idx / SEG_BASE + 1;
  const uint32_t k = 31 - (uint32_t)__builtin_clz(q);
  *off = idx - SEG_BASE * ((1u << k) - 1);
  return k;
}

static inline uintptr_t seg_base(const void *seg, uint32_t k) {
  return (uintptr_t)seg - (uintptr_t)SEG_BASE * ((1u << k) - 1) * sizeof(wslot_t);
}

/* ---- the zero region ---------------------------------------------------------
 * The slots an absent segment k would hold, read through absent_base(k):
 * a private anonymous mapping, read-only, never written, so every read
 * sees the kernel's zero page: key 0, which no slot of a segment has
 * (dead keys carry a generation >= 1, live ones a tag >= 1).  It spans the
 * largest segment an index of IDX_BITS can reach (segment NSEG - 2, 2^27
 * slots: 4 GiB of address space).  Read-only private memory is not
 * charged against the commit limit and takes no RAM; a page a resolve
 * reads costs one page-table entry.  Mapped once, at the first table
 * create, and never unmapped (stale table pointers and stale handles keep
 * reading it). */
static uintptr_t zero_region; /* written once under zero_once */
static int zero_region_err;
static pthread_once_t zero_once = PTHREAD_ONCE_INIT;

/* Slots of the largest segment an index can reach. */
static size_t zero_region_slots(void) {
  size_t most = 0;
  for (uint32_t k = 0; k < NSEG; k++) {
    const uint64_t first = (uint64_t)SEG_BASE * ((1ull << k) - 1);
    const uint64_t n = first > IDX_MASK ? 0
                       : ((uint64_t)SEG_BASE << k) < IDX_MASK + 1 - first
                           ? (uint64_t)SEG_BASE << k
                           : IDX_MASK + 1 - first;
    most = n > most ? (size_t)n : most;
  }
  return most;
}

static void zero_region_map(void) {
  const size_t len = zero_region_slots() * sizeof(wslot_t);
  void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    zero_region_err = errno;
  else
    zero_region = (uintptr_t)p;
}

/* head.base[k] while segment k is absent. */
static inline uintptr_t absent_base(uint32_t k) { return seg_base((void *)zero_region, k); }

/* A destroyed table's segment 0: keys of EBRA__WEAK_KEY_MISS (1), no
 * slot's key (dead keys carry a generation >= 1 in bits above the index),
 * so EBRA_WEAK_NONE, which would match the zero region's key 0, misses
 * there too and the miss path reports the use after destroy.  Shared by
 * every destroyed table; never written. */
static const struct {
  uint64_t key, words[3];
} grave_seg0[SEG_BASE] = {[0 ... SEG_BASE - 1] = {.key = EBRA__WEAK_KEY_MISS}};
_Static_assert(sizeof grave_seg0[0] == sizeof(wslot_t), "grave_seg0 is a segment 0 of slots");

/* head.base[k] of a destroyed table. */
static inline uintptr_t destroyed_base(uint32_t k) {
  return k == 0 ? (uintptr_t)grave_seg0 : absent_base(k);
}

/* The slot of an index whose segment the caller knows to be published
 * (a slot it took from the free or orphan list). */
static inline wslot_t *slot_in_segment(const ebra_weak_table_t *t, uint32_t idx) {
  const uint32_t k = 31 - (uint32_t)__builtin_clz(idx / SEG_BASE + 1);
  /* Paired with the store release in seg_grow. */
  return (wslot_t *)(ebi_atomic_load_acquire(seg_base_word(t, k)) +
                     (uintptr_t)idx * sizeof(wslot_t));
}

static inline wslot_t *slot_at(const ebra_weak_table_t *t, uint32_t idx) {
  const uint32_t k = 31 - (uint32_t)__builtin_clz(idx / SEG_BASE + 1);
  /* Paired with the store release in seg_grow. */
  const uintptr_t base = ebi_atomic_load_acquire(seg_base_word(t, k));
  return base != absent_base(k) ? (wslot_t *)(base + (uintptr_t)idx * sizeof(wslot_t)) : NULL;
}

/* ---- slots ------------------------------------------------------------------ */

static int seg_grow(ebra_weak_table_t *t, uint32_t k) {
  int err = 0;
  pthread_mutex_lock(&t->grow_lock);
  if (!ebi_atomic_load_relaxed(&t->xseg[k])) {
    const size_t n = (size_t)SEG_BASE << k;
    const uint32_t first = SEG_BASE * ((1u << k) - 1);
    /* Line-aligned, so no slot straddles two cache lines. */
    wslot_t *seg = aligned_alloc(64, n * sizeof *seg);
    if (!seg) {
      err = ENOMEM;
    } else {
      memset(seg, 0, n * sizeof *seg);
      for (size_t i = 0; i < n; i++)
        ebi_atomic_store_relaxed(&seg[i].xkey, dead_key(t->gen_first, first + (uint32_t)i));
      ebi_atomic_add_relaxed(&t->xslots, n);
      /* Publishes the initialised slots; paired with slot_at's and the
       * resolve's acquire (head.base, which slot_alloc reads through
       * slot_at: W9) and slot_index's (xseg). */
      ebi_atomic_store_release(&t->xseg[k], seg);
#ifdef EBI_TEST_GROW_WINDOW_US
      /* Test builds only (tests/CMakeLists.txt, test_weak_grow_window):
       * hold the grower between its two stores, as a preemption would. */
      usleep(EBI_TEST_GROW_WINDOW_US);
#endif
      ebi_atomic_store_release(seg_base_word(t, k), seg_base(seg, k));
    }
  }
  pthread_mutex_unlock(&t->grow_lock);
  return err;
}

/* ---- the free list (W10) ------------------------------------------------------ */

static inline uint64_t free_head(uint64_t old, uint32_t top) {
  return (((old >> 32) + 1) << 32) | top;
}

static void slot_push_free(ebra_weak_table_t *t, wslot_t *s, uint32_t idx) {
  uint64_t old = ebi_atomic_load_relaxed(&t->xfree);
  do {
    ebi_atomic_store_relaxed(&s->xlink, (uint32_t)old);
    /* Release: publishes the slot's dead key and xlink; paired with the
     * pop's CAS acquire. */
  } while (!ebi_atomic_cas_acq_rel(&t->xfree, &old, free_head(old, idx + 1)));
}

static wslot_t *slot_pop_free(ebra_weak_table_t *t, uint32_t *idx_out) {
  /* Acquire: paired with the push's CAS release. */
  uint64_t old = ebi_atomic_load_acquire(&t->xfree);
  for (;;) {
    const uint32_t top = (uint32_t)old;
    if (top == 0)
      return NULL;
    wslot_t *s = slot_in_segment(t, top - 1); /* pushed: its segment is published */
    const uint32_t next = ebi_atomic_load_relaxed(&s->xlink); /* stale if the CAS fails */
    if (ebi_atomic_cas_acq_rel(&t->xfree, &old, free_head(old, next))) {
      *idx_out = top - 1;
      return s;
    }
  }
}

/* ---- slots ------------------------------------------------------------------- */

/* A free slot: recycled from the free list, else a fresh index. */
static wslot_t *slot_alloc(ebra_weak_table_t *t, uint32_t *idx) {
  wslot_t *s = slot_pop_free(t, idx);
  if (s)
    return s;
  const uint32_t i = ebi_atomic_add_relaxed(&t->xnext, 1);
  if (i > IDX_MASK) {
    ebi_atomic_sub_relaxed(&t->xnext, 1);
    errno = ENOMEM;
    return NULL;
  }
  /* The test is on head.base[k], the word slot_at reads, not on xseg[k]:
   * seg_grow publishes xseg[k] before base[k], so a thread that saw xseg
   * set while the grower sat between the two stores used to find base 0
   * and fail with ENOMEM (W9).  seg_grow returns only after base[k] is set,
   * by itself or by the grower whose grow_lock it waited for. */
  s = slot_at(t, i);
  if (!s) {
    uint32_t off;
    if (seg_grow(t, seg_of(i, &off)) != 0 || !(s = slot_at(t, i))) {
      errno = ENOMEM; /* index i is lost; the table stays usable */
      return NULL;
    }
  }
  *idx = i;
  return s;
}

/* ---- death and reclamation ----------------------------------------------------- */

static void run_cleanups(ebra_weak_table_t *t, wslot_t *s, ebra_weak_t h) {
  /* acq_rel: paired with the CAS release in ebra_weak_add_cleanup. */
  cleanup_t *c = ebi_atomic_exchange_acq_rel(&s->xcleanups, CLOSED);
  cleanup_t *ordered = NULL; /* the list is newest-first: reverse it */
  while (c && c != CLOSED) {
    cleanup_t *next = c->next;
    c->next = ordered;
    ordered = c;
    c = next;
  }
  uint64_t n = 0;
  while (ordered) {
    cleanup_t *next = ordered->next;
    ordered->fn(ordered->arg, h);
    free(ordered);
    ordered = next;
    n++;
  }
  if (n)
    ebi_atomic_add_relaxed(&t->xcleanups_run, n);
}

/* Reclaimer, after the grace period (W2).  The object goes back to its
 * pool through the ref slot_retire put in the entry: no lookup, no check
 * (W6). */
static void slot_reclaim(const ebi_retired_t *e) {
  ebra_weak_table_t *t = e->ctx;
  const ebra_weak_t h = e->aux;
  wslot_t *s = slot_at(t, h_idx(h)); /* the table lives: xlive counts s */
  run_cleanups(t, s, h);
  ebi_object_return(&e->ref);
  ebi_atomic_store_relaxed(&s->xobj, NULL);
  const uint32_t g = h_gen(h);
  if (g >= t->gen_last) { /* the next generation would wrap: retire for good */
    ebi_atomic_store_release(&s->xkey, dead_key(g, h_idx(h)));
    ebi_atomic_add_relaxed(&t->xretired_slots, 1);
  } else {
    ebi_atomic_store_release(&s->xkey, dead_key(g + 1, h_idx(h)));
    slot_push_free(t, s, h_idx(h));
  }
  /* Last (W8); release: paired with the load acquire in destroy. */
  ebi_atomic_sub_acq_rel(&t->xlive, 1);
}

/* ---- the table's domain source: orphans and the segments (W7, W8) ---------- */

/* The orphans are taken as their first slot; the others follow through
 * xlink. */
static void *source_take(void *ctx) {
  ebra_weak_table_t *t = ctx;
  pthread_mutex_lock(&t->orphan_lock);
  const uint32_t first = t->orphans;
  t->orphans = 0;
  pthread_mutex_unlock(&t->orphan_lock);
  if (first)
    return slot_in_segment(t, first - 1);
  /* The segments only once no orphan is left (xlive was 0 at destroy). */
  return ebi_atomic_exchange_acq_rel(&t->xsegs_to_free, 0) ? (void *)t : NULL;
}

static void segments_free(ebra_weak_table_t *t) {
  ebi_tsan_after_grace_period(t); /* readers noted t in weak_resolve */
  for (uint32_t k = 0; k < NSEG; k++) {
    free(ebi_atomic_load_relaxed(&t->xseg[k]));
    ebi_atomic_store_relaxed(&t->xseg[k], NULL);
  }
  ebi_domain_remove_source(t->domain, &t->source);
  pthread_mutex_destroy(&t->grow_lock);
  pthread_mutex_destroy(&t->orphan_lock);
}

/* After the grace period: reclaim each orphan as its batch entry would. */
static uint64_t source_run(void *ctx, void *taken) {
  ebra_weak_table_t *t = ctx;
  if (taken == (void *)t) {
    segments_free(t);
    return 0;
  }
  uint64_t n = 0;
  for (wslot_t *s = taken; s; n++) {
    const uint32_t next = ebi_atomic_load_relaxed(&s->xlink); /* before the reclaim reuses it */
    const uint64_t key = ebi_atomic_load_relaxed(&s->xkey); /* dead_key(g, idx) */
    ebi_retired_t r = {.run = slot_reclaim, .ctx = t,
                       .aux = make_handle(t->tag, key_gen(key), key_idx(key))};
    ebi_object_ref_of_held(ebi_atomic_load_relaxed(&s->xobj), &r.ref);
    ebi_tsan_after_grace_period(r.ref.obj);
    slot_reclaim(&r);
    s = next ? slot_in_segment(t, next - 1) : NULL;
  }
  return n;
}

/* The last strong reference is gone and the object is dead: retire it.
 * The slot keeps only the object, so its ref (pool, slab) is looked up
 * once here; the slot stays 40 bytes. */
static void slot_retire(ebra_weak_table_t *t, wslot_t *s, ebra_weak_t h) {
  ebi_retired_t e = {.run = slot_reclaim, .ctx = t, .aux = h};
  ebi_object_ref_of_held(ebi_atomic_load_relaxed(&s->xobj), &e.ref); /* held since create */
  if (ebi_retire_entry(t->domain, &e) == 0)
    return;
  pthread_mutex_lock(&t->orphan_lock); /* W7 */
  ebi_atomic_store_relaxed(&s->xlink, t->orphans);
  t->orphans = h_idx(h) + 1;
  pthread_mutex_unlock(&t->orphan_lock);
  ebi_domain_kick(t->domain);
}

/* Drop one strong reference of generation g.  Caller is inside a section,
 * so the slot cannot be reused meanwhile. */
static int slot_put_ref(ebra_weak_table_t *t, wslot_t *s, ebra_weak_t h) {
  uint32_t r = ebi_atomic_load_relaxed(&s->xrefs);
  do {
    if (r == 0)
      return -ESTALE;
    /* acq_rel: the references form one release sequence, so the thread
     * that drops the last one sees every holder's accesses (W3). */
  } while (!ebi_atomic_cas_acq_rel(&s->xrefs, &r, r - 1));
  if (r - 1 > 0)
    return 0;
  uint64_t alive = h;
  /* The death CAS: its modification-order position is what the argument
   * in docs/DESIGN.md ("Why ebra_weak_get never returns recycled memory")
   * relies on; readers' acquires of xkey pair with creation's release. */
  if (ebi_atomic_cas_acq_rel(&s->xkey, &alive, dead_key(h_gen(h), h_idx(h)))) /* dies now */
    ebi_atomic_add_relaxed(&t->xkilled, 1);
  slot_retire(t, s, h);
  return 0;
}

/* ---- the API ---------------------------------------------------------------- */

static wslot_t *slot_of_handle(const ebra_weak_table_t *t, ebra_weak_t h) {
  if (EBI_UNLIKELY(h_tag(h) != t->tag))
    return NULL;
  return slot_at(t, h_idx(h));
}

/* The miss path of ebra_weak_get (a NULL table, or key 0: the segment is
 * absent or the table destroyed): a handle never issued is a plain miss; a
 * NULL or destroyed table is misuse, reported. */
static __attribute__((noinline)) void *weak_get_miss(const ebra_weak_table_t *t, ebra_weak_t h) {
  (void)h;
  if (!t || !ebi_life_is_alive(&t->life))
    EBI_LIFE_CHECK(t, EBI_KIND_WEAK_TABLE, "ebra_weak_get");
  return NULL;
}

/* The resolve: ebra__weak_get (ebra/weak.h), the body the inline copy
 * shares; xkey's acquire pairs with the store release of xkey in
 * ebra_weak_create, head.base's with seg_grow's (or create's, destroy's:
 * the zero region).  Under TSan the object is
 * noted for the reclaimer's happens-before (reclaim/tsan.h). */
static inline __attribute__((always_inline)) void *weak_resolve(const ebra_weak_table_t *t,
                                                                 ebra_weak_t h) {
  void *obj = ebra__weak_get(t, h, weak_get_miss);
#if defined(EBRA_TSAN)
  ebi_dthread_t *dt = t ? ebi_dthread_of(t->domain) : NULL;
  if (dt) {
    ebi_tsan_note(dt, (void *)t); /* the segment read is freed after a grace period (W8) */
    if (obj)
      ebi_tsan_note(dt, obj);
  }
#endif
  return obj;
}

void *ebra_weak_get(const ebra_weak_table_t *t, ebra_weak_t h) { return weak_resolve(t, h); }

void *ebi_weak_resolve(const ebra_weak_table_t *t, ebra_weak_t h) { return weak_resolve(t, h); }

/* The inline resolve's miss path (ebra/weak.h): ebra_weak_get itself. */
void *EBRA__WEAK_MISS(const ebra_weak_table_t *t, ebra_weak_t h) { return weak_resolve(t, h); }

int ebra_weak_create(ebra_weak_table_t *t, void *obj, ebra_weak_t *out) {
  if (out)
    *out = EBRA_WEAK_NONE; /* what a failed call leaves (ebra/error.h) */
  int rc = EBI_LIFE_CHECK(t, EBI_KIND_WEAK_TABLE, "ebra_weak_create");
  if (rc)
    return rc;
  if (!out)
    return ebi_bad_call("ebra_weak_create: NULL out");
  ebi_objref_t ref;
  rc = ebi_object_claim(obj, &ref); /* W6: one owner */
  if (rc)
    return rc;
  uint32_t idx;
  wslot_t *s = slot_alloc(t, &idx);
  if (!s) {
    ebi_object_unclaim(&ref);
    ebi_report(EBRA_ERR_NOMEM, "weak table: no free slot");
    return -ENOMEM;
  }
  const uint32_t g = key_gen(ebi_atomic_load_relaxed(&s->xkey));
  const ebra_weak_t h = make_handle(t->tag, g, idx);
  ebi_atomic_store_relaxed(&s->xrefs, 1);
  ebi_atomic_store_relaxed(&s->xcleanups, NULL);
  ebi_atomic_store_relaxed(&s->xobj, obj);   /* published by the next store */
  ebi_atomic_store_release(&s->xkey, h);     /* paired with weak_get */
  ebi_atomic_add_relaxed(&t->xcreated, 1);
  ebi_atomic_add_relaxed(&t->xlive, 1);
  *out = h;
  return 0;
}

/* The start of every table call that works inside a section: the entry
 * check, then the read lock of the table's domain (the library's own,
 * ebi_read_lock: no PLT call); 0 or the error. */
static int table_section_begin(ebra_weak_table_t *t, const char *call) {
  int rc = EBI_LIFE_CHECK(t, EBI_KIND_WEAK_TABLE, call);
  return rc ? rc : ebi_read_lock(t->domain);
}

int ebra_weak_upgrade(ebra_weak_table_t *t, ebra_weak_t h, void **out) {
  if (out)
    *out = NULL; /* what a failed call leaves (ebra/error.h) */
  if (!out) {
    int rc = EBI_LIFE_CHECK(t, EBI_KIND_WEAK_TABLE, "ebra_weak_upgrade");
    if (!rc)
      ebi_report(EBRA_ERR_BAD_CALL, "ebra_weak_upgrade: NULL out");
    return rc ? rc : -EINVAL;
  }
  int rc = table_section_begin(t, "ebra_weak_upgrade");
  if (rc)
    return rc;
  void *obj = NULL;
  wslot_t *s = slot_of_handle(t, h);
  /* Acquires pair with the store release of xkey in create (which orders
   * xobj); the refs CAS (increment-if-not-zero, W3) joins the refs release
   * sequence. */
  if (s && ebi_atomic_load_acquire(&s->xkey) == h) {
    uint32_t r = ebi_atomic_load_relaxed(&s->xrefs);
    while (r > 0 && !ebi_atomic_cas_acq_rel(&s->xrefs, &r, r + 1)) {
    }
    if (r > 0) {
      if (ebi_atomic_load_acquire(&s->xkey) == h)
        obj = ebi_atomic_load_relaxed(&s->xobj);
      else /* killed meanwhile: give the reference back */
        slot_put_ref(t, s, h);
    }
  }
  ebi_read_unlock(t->domain);
  *out = obj;
  return obj ? 0 : -ENOENT;
}

int ebra_weak_release(ebra_weak_table_t *t, ebra_weak_t h) {
  int rc = table_section_begin(t, "ebra_weak_release");
  if (rc)
    return rc;
  rc = -ESTALE;
  wslot_t *s = slot_of_handle(t, h);
  /* Paired with the store release of xkey in create or reclaim: alive or
   * dead, the slot is still at h's generation. */
  if (s && key_gen(ebi_atomic_load_acquire(&s->xkey)) == h_gen(h))
    rc = slot_put_ref(t, s, h);
  ebi_read_unlock(t->domain);
  ebi_domain_throttle(t->domain); /* the retire was inside the section */
  return rc;
}

int ebra_weak_kill(ebra_weak_table_t *t, ebra_weak_t h) {
  int rc = table_section_begin(t, "ebra_weak_kill");
  if (rc)
    return rc;
  rc = -ESTALE;
  wslot_t *s = slot_of_handle(t, h);
  uint64_t alive = h;
  /* The death CAS (see slot_put_ref); acquire pairs with create's release. */
  if (s && ebi_atomic_cas_acq_rel(&s->xkey, &alive, dead_key(h_gen(h), h_idx(h)))) {
    ebi_atomic_add_relaxed(&t->xkilled, 1);
    rc = slot_put_ref(t, s, h);
  }
  ebi_read_unlock(t->domain);
  ebi_domain_throttle(t->domain); /* the retire was inside the section */
  return rc;
}

int ebra_weak_add_cleanup(ebra_weak_table_t *t, ebra_weak_t h, ebra_cleanup_fn *fn, void *arg) {
  int rc = EBI_LIFE_CHECK(t, EBI_KIND_WEAK_TABLE, "ebra_weak_add_cleanup");
  if (rc)
    return rc;
  if (!fn)
    return ebi_bad_call("ebra_weak_add_cleanup: NULL function");
  cleanup_t *c = malloc(sizeof *c);
  if (!c)
    return -ENOMEM;
  c->fn = fn;
  c->arg = arg;
  if ((rc = ebi_read_lock(t->domain)) != 0) {
    free(c);
    return rc;
  }
  rc = -ESTALE;
  wslot_t *s = slot_of_handle(t, h);
  /* Paired with the store release of xkey in create. */
  if (s && ebi_atomic_load_acquire(&s->xkey) == h) {
    cleanup_t *head = ebi_atomic_load_relaxed(&s->xcleanups);
    do {
      if (head == CLOSED)
        break;
      c->next = head;
      /* Release: paired with the exchange in run_cleanups. */
    } while (!ebi_atomic_cas_acq_rel(&s->xcleanups, &head, c));
    if (head != CLOSED)
      rc = 0;
  }
  ebi_read_unlock(t->domain);
  if (rc)
    free(c);
  return rc;
}

/* ---- tables ------------------------------------------------------------------ */

ebra_weak_table_t *ebra_weak_table_create(ebra_domain_t *d, const ebra_weak_table_config_t *cfg) {
  int rc = EBI_LIFE_CHECK(d, EBI_KIND_DOMAIN, "ebra_weak_table_create");
  if (rc) {
    errno = -rc;
    return NULL;
  }
  if (cfg && cfg->max_generation > GEN_LIMIT) {
    ebi_report(EBRA_ERR_BAD_CONFIG, "ebra_weak_table_create: max_generation %u is above %u",
               cfg->max_generation, (unsigned)GEN_LIMIT);
    errno = EINVAL;
    return NULL;
  }
  pthread_once(&zero_once, zero_region_map);
  if (!zero_region) {
    ebi_report(EBRA_ERR_NOMEM,
               "ebra_weak_table_create: the %zu MiB read-only zero region could not be "
               "mapped (errno %d; an address-space limit?)",
               zero_region_slots() * sizeof(wslot_t) >> 20, zero_region_err);
    errno = ENOMEM;
    return NULL;
  }
  ebra_weak_table_t *t = ebi_life_alloc(sizeof *t);
  if (!t)
    return NULL;
  for (uint32_t k = 0; k < NSEG; k++) /* every segment absent; published with t */
    ebi_atomic_store_relaxed(seg_base_word(t, k), absent_base(k));
  const uint32_t span = cfg && cfg->max_generation ? cfg->max_generation : GEN_LIMIT;
  ebi_registry_lock();
  for (uint32_t tag = 1; tag < NTAGS && !t->tag; tag++) {
    const uint32_t floor = tag_floor[tag] ? tag_floor[tag] : 1;
    if (!tag_used[tag] && floor <= GEN_LIMIT - 1) {
      tag_used[tag] = true;
      t->tag = tag;
      t->gen_first = floor;
      t->gen_last = GEN_LIMIT - floor + 1 > span ? floor + span - 1 : GEN_LIMIT;
    }
  }
  int err = t->tag ? ebi_life_begin_locked(&t->life, EBI_KIND_WEAK_TABLE,
                                           cfg ? cfg->name : NULL)
                   : EMFILE;
  if (err && t->tag)
    tag_used[t->tag] = false;
  ebi_registry_unlock();
  if (err) {
    free(t);
    if (err == EMFILE)
      ebi_report(EBRA_ERR_BAD_CALL, "ebra_weak_table_create: all 255 table tags in use");
    else
      ebi_report(EBRA_ERR_NOMEM, "ebra_weak_table_create: no memory for the registry");
    errno = err;
    return NULL;
  }
  t->domain = d;
  pthread_mutex_init(&t->grow_lock, NULL);
  pthread_mutex_init(&t->orphan_lock, NULL);
  t->source = (ebi_reclaim_source_t){.take = source_take, .run = source_run, .ctx = t};
  ebi_domain_add_source(d, &t->source);
  ebi_atomic_add_relaxed(&d->xweak_tables, 1);
  return t;
}

int ebra_weak_table_destroy(ebra_weak_table_t *t) {
  int rc = EBI_LIFE_CHECK(t, EBI_KIND_WEAK_TABLE, "ebra_weak_table_destroy");
  if (rc)
    return rc;
  /* Acquire: paired with slot_reclaim's release (W8). */
  const uint64_t live = ebi_atomic_load_acquire(&t->xlive);
  if (live) {
    ebi_report(EBRA_ERR_BAD_CALL,
               "ebra_weak_table_destroy: table '%s' has %llu objects alive or awaiting "
               "reclamation", t->life.name, (unsigned long long)live);
    return -EBUSY;
  }
  uint32_t top = t->gen_first; /* highest generation any slot reached */
  for (uint32_t k = 0; k < NSEG; k++) {
    wslot_t *seg = ebi_atomic_load_acquire(&t->xseg[k]); /* paired with seg_grow */
    if (!seg)
      continue;
    for (size_t i = 0; i < ((size_t)SEG_BASE << k); i++) {
      const uint32_t g = key_gen(ebi_atomic_load_relaxed(&seg[i].xkey));
      top = g > top ? g : top;
    }
  }
  ebi_registry_lock();
  tag_used[t->tag] = false;
  tag_floor[t->tag] = top + 1; /* W5; a tag past GEN_LIMIT - 1 is never reused */
  ebi_life_end_locked(&t->life); /* kept, so stale table pointers stay safe */
  ebi_registry_unlock();
  /* New resolves miss (W8).  Release, after the life ends: a reader whose
   * acquire of head.base sees the zero region or grave_seg0 reads key 0 or
   * 1 and goes to the miss path, which reads the life state; this orders that read after
   * the end. */
  for (uint32_t k = 0; k < NSEG; k++)
    ebi_atomic_store_release(seg_base_word(t, k), destroyed_base(k));
  /* The segments go after a grace period, on the domain's reclaimer (W8);
   * ebra_domain_destroy runs that round before it returns. */
  ebi_atomic_store_release(&t->xsegs_to_free, 1);
  ebi_domain_kick(t->domain);
  ebi_atomic_sub_relaxed(&t->domain->xweak_tables, 1);
  return 0;
}

const char *ebi_weak_table_name(const ebra_weak_table_t *t) { return t->life.name; }

ebra_domain_t *ebi_weak_table_domain(const ebra_weak_table_t *t) {
  return t && ebi_life_is_alive(&t->life) ? t->domain : NULL;
}

int ebra_weak_table_stats(ebra_weak_table_t *t, ebra_weak_stats_t *out) {
  int rc = EBI_LIFE_CHECK(t, EBI_KIND_WEAK_TABLE, "ebra_weak_table_stats");
  if (rc)
    return rc;
  if (!out)
    return ebi_bad_call("ebra_weak_table_stats: NULL out");
  out->live = ebi_atomic_load_relaxed(&t->xlive);
  out->slots = ebi_atomic_load_relaxed(&t->xslots);
  out->retired_slots = ebi_atomic_load_relaxed(&t->xretired_slots);
  out->created = ebi_atomic_load_relaxed(&t->xcreated);
  out->killed = ebi_atomic_load_relaxed(&t->xkilled);
  out->cleanups_run = ebi_atomic_load_relaxed(&t->xcleanups_run);
  return 0;
}

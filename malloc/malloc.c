/* SPDX-License-Identifier: MIT */
/* malloc/malloc.c — ebra_malloc and friends: size classes over ebra pools,
 * direct mappings above the largest class, and the per-thread state that
 * lets the fast paths skip every check but one.
 *
 * Invariants M1-M3 are stated in malloc_internal.h.  Here:
 *  M4  A large block's header (ebi_large_t) sits at the start of its
 *      mapping (not coloured: its pseudo-slab's base is the header),
 *      which is aligned to a 1 MiB granule and covers whole granules, so
 *      the segment map finds it from the user pointer (the user pointer
 *      lies in the first granule).  Its pseudo-slab has no
 *      slot and nothing carved, so no pool check ever takes a large block
 *      for a pool object.
 *  M5  A large block's header is complete before ebi_segmap_insert
 *      publishes it (store release there, load acquire in the lookup);
 *      its entries are removed before the mapping goes back to the OS.
 *  M6  A freed large block is kept mapped, with its segment-map entries
 *      and its state EBI_LARGE_FREED, while it is in `kept` (at most
 *      EBI_LARGE_KEEP, oldest first, under keep_lock); its whole pages past
 *      the header are given back to the OS when it enters.  So a double
 *      free of it finds the state and is reported, even one racing with
 *      the first free, and a large request can reuse it without an mmap.
 *      Only a block evicted from `kept` is unmapped (M5).
 *
 * Thread exit: ebra's thread state is released by its own key destructor
 * (src/thread.c).  A free from a later TLS destructor, or from the C
 * library after every destructor ran, would attach a fresh state that no
 * destructor releases, leaking its magazines.  So the first call of each
 * thread sets this file's exit key; its destructor marks the thread
 * EBI_MT_EXITING and releases ebra's state, and from then on every call of
 * the thread ends by releasing it again (ebra_thread_exit), whatever runs
 * after.  Since the key is created after src/thread.c's, it runs after
 * that key's destructor in each round.
 *
 * Progress: the fast paths (malloc_internal.h) are the pool's own, inlined
 * (wait-free, thread-local), plus one table load on malloc and, on free,
 * the segment-map lookup and the class check.  A class pool is
 * created once, lock-free (CAS publication; a loser destroys its copy).
 * Large blocks cost an mmap and a munmap each.
 */
#define _GNU_SOURCE /* mremap */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "malloc_internal.h"

/* ---- classes -------------------------------------------------------------- */

const uint32_t ebi_malloc_class_size[EBI_MALLOC_NCLASSES] = {
    16,     32,     48,     64,     80,     96,     112,    128,    160,    192,    224,
    256,    320,    384,    448,    512,    640,    768,    896,    1024,   1280,   1536,
    1792,   2048,   2560,   3072,   3584,   4096,   5120,   6144,   7168,   8192,   10240,
    12288,  14336,  16384,  20480,  24576,  28672,  32768,  40960,  49152,  57344,  65536,
    81920,  98304,  114688, 131072, 163840, 196608, 229376, 262144};

/* Class of n for n <= EBI_MALLOC_SMALL_MAX (4 KiB), indexed by (n + 15) / 16
 * (test_malloc checks every size against the class sizes). */
const uint8_t ebi_malloc_small_class[EBI_MALLOC_SMALL_LEN] = {
    0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14,
    14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 17, 17,
    18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21,
    21, 21, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 23, 23, 23, 23, 23,
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24,
    24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 25, 25, 25,
    25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25,
    25, 25, 25, 25, 25, 25, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26,
    26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 27, 27, 27, 27, 27, 27, 27, 27,
    27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27,
    27};

_Static_assert(EBRA_MALLOC_CLASS_MAX == 262144, "the last class is the largest");

_Atomic(ebra_pool_t *) ebi_malloc_pools[EBI_MALLOC_NCLASSES];
ebra_pool_t ebi_malloc_unborn = {.life = {.serial = EBI_SERIAL_DEAD},
                                 .tslot_off = offsetof(ebi_thread_t, no_slot)};
_Atomic(ebra_pool_t *) ebi_malloc_small_pools[EBI_MALLOC_SMALL_LEN] = {
    [0 ... EBI_MALLOC_SMALL_LEN - 1] = &ebi_malloc_unborn};
_Atomic bool ebi_malloc_ready;
__thread uint8_t ebi_malloc_tls_state __attribute__((tls_model("initial-exec")));

static size_t class_alignment(uint32_t c) {
  const size_t size = ebi_malloc_class_size[c];
  const size_t a = size & (~size + 1);
  return a < 16 ? 16 : a > EBRA_MAX_ALIGNMENT ? EBRA_MAX_ALIGNMENT : a;
}

/* Rounds per magazine: about EBI_MALLOC_MAG_BYTES of blocks, 2 to 512
 * (512 at 16 and 32 B, 256 at 64 B, 64 at 256 B, 16 at 1 KiB, 4 at 4 KiB).
 * A thread's two magazines of a class then hold at most about 32 KiB of
 * blocks below 16 KiB, and the first allocation of a class carves
 * (touches) one magazine's worth.  With 256 KiB per magazine (before
 * 2026-11-30) every class of 1 KiB and up touched 64 KiB to 256 KiB on its
 * first use, and a thread could keep 512 KiB per class: about 1 MiB more
 * resident than mimalloc in a program that had barely started.  With at
 * most 64 rounds (before 2026-12-01) the small classes' magazines went
 * through the depot often enough that blocks of two threads came to share
 * cache lines, and a free's read of its block missed (docs/DESIGN.md,
 * "Classes and the waste bound", has the figures). */
#define EBI_MALLOC_MAG_BYTES ((size_t)16 << 10)
#define EBI_MALLOC_MAG_ROUNDS_MAX 512u
static unsigned class_magazine(uint32_t c) {
  const size_t by_bytes = EBI_MALLOC_MAG_BYTES / ebi_malloc_class_size[c];
  return by_bytes > EBI_MALLOC_MAG_ROUNDS_MAX ? EBI_MALLOC_MAG_ROUNDS_MAX
         : by_bytes < 2                       ? 2
                                              : (unsigned)by_bytes;
}

/* Publish pool as class c (M1): the class, then the small sizes that map
 * to it (until then their fast path misses and asks class_pool). */
static ebra_pool_t *class_publish(uint32_t c, ebra_pool_t *pool) {
  ebra_pool_t *expected = NULL;
  /* acq_rel pairs with the acquire loads of ebi_malloc_pools (fast paths). */
  if (ebi_atomic_cas_acq_rel(&ebi_malloc_pools[c], &expected, pool)) {
    for (uint32_t i = 0; i < EBI_MALLOC_SMALL_LEN; i++)
      if (ebi_malloc_small_class[i] == c) /* paired with ebi_malloc_pool_for's acquire */
        ebi_atomic_store_release(&ebi_malloc_small_pools[i], pool);
    return pool;
  }
  ebra_pool_destroy(pool); /* lost the race: nothing was handed out (M1) */
  return expected;
}

/* The pool of class c, created on first use; NULL with errno ENOMEM. */
static ebra_pool_t *class_pool(uint32_t c) {
  /* Paired with the CAS (acq_rel) in class_publish. */
  ebra_pool_t *pool = ebi_atomic_load_acquire(&ebi_malloc_pools[c]);
  if (EBI_LIKELY(pool != NULL))
    return pool;
  char name[32];
  snprintf(name, sizeof name, "malloc-%u", (unsigned)ebi_malloc_class_size[c]);
  pool = ebi_pool_create_flagged(&(ebra_pool_config_t){.name = name,
                                                        .object_size = ebi_malloc_class_size[c],
                                                        .alignment = class_alignment(c),
                                                        .magazine_capacity = class_magazine(c)},
                                 EBI_POOL_MALLOC_CLASS);
  if (!pool) {
    errno = ENOMEM;
    return NULL;
  }
  return class_publish(c, pool);
}

static void *class_alloc(uint32_t c) {
  ebra_pool_t *pool = class_pool(c);
  return pool ? ebra_pool_alloc(pool) : NULL;
}

/* ---- thread state ---------------------------------------------------------- */

static pthread_key_t exit_key;

static void exit_key_destructor(void *arg) {
  (void)arg;
  ebi_malloc_tls_state = EBI_MT_EXITING;
  ebra_thread_exit();
}

/* Before a slow path's work, which may attach a class cache (M3): a new
 * thread becomes RUNNING (set first, since pthread_setspecific may itself
 * allocate). */
static inline void thread_enter(void) {
  if (EBI_UNLIKELY(ebi_malloc_tls_state == EBI_MT_NEW)) {
    ebi_malloc_tls_state = EBI_MT_RUNNING;
    pthread_setspecific(exit_key, (void *)1);
  }
}

/* After it: an exiting thread gives back the state the call attached. */
static inline void thread_leave(void) {
  if (EBI_UNLIKELY(ebi_malloc_tls_state == EBI_MT_EXITING)) {
    const int saved = errno;
    ebra_thread_exit();
    errno = saved;
  }
}

/* ---- foreign pointers ------------------------------------------------------- */

static const ebi_malloc_foreign_t *foreign; /* set once, by a constructor */
static _Atomic uint64_t foreign_frees;

void ebi_malloc_set_foreign(const ebi_malloc_foreign_t *f) { foreign = f; }

static void foreign_free(void *p, const char *call) {
  if (foreign && foreign->free(p))
    return;
  ebi_atomic_add_relaxed(&foreign_frees, 1);
  ebi_report(EBRA_ERR_FOREIGN_PTR, "%s(%p): not memory that ebra_malloc handed out; left alone",
             call, p);
}

/* A slot of a pool that is not a class: a user pool's object. */
static void user_pool_object(const ebi_slab_t *s, const void *p, const char *call) {
  ebi_atomic_add_relaxed(&foreign_frees, 1);
  ebi_report(EBRA_ERR_FOREIGN_PTR,
             "%s(%p): the memory belongs to pool '%s', not to ebra_malloc; left alone", call, p,
             s->pool->life.name);
}

/* ---- large blocks: direct mappings (M4, M5) ---------------------------------- */

#define EBI_LARGE_MAGIC 0x4c524745u /* "LRGE" */
#define EBI_LARGE_LIVE 0x6c697665u
#define EBI_LARGE_FREED 0x64656164u

typedef struct ebi_large_s {
  ebi_slab_t slab;  /* pseudo-slab: pool = the sentinel, no slot */
  char *user;       /* the block handed out */
  size_t usable;    /* bytes from user to the end of the mapping */
  _Atomic uint32_t xstate; /* EBI_LARGE_LIVE until freed */
} ebi_large_t;

static _Atomic(ebra_pool_t *) large_owner; /* the sentinel pool "malloc-large" */
static _Atomic uint64_t large_allocs, large_frees, large_bytes;

/* Freed large blocks kept for reuse (M6). */
#define EBI_LARGE_KEEP 16
static pthread_mutex_t keep_lock = PTHREAD_MUTEX_INITIALIZER; /* a leaf lock */
static ebi_large_t *kept[EBI_LARGE_KEEP];                     /* keep_lock */
static unsigned nkept;                                        /* keep_lock */
static void keep_put(ebi_large_t *h);

static size_t align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

static ebra_pool_t *large_sentinel(void) {
  /* Paired with the CAS (acq_rel) below, by whoever published it. */
  ebra_pool_t *pool = ebi_atomic_load_acquire(&large_owner);
  if (EBI_LIKELY(pool != NULL))
    return pool;
  pool = ebra_pool_create(&(ebra_pool_config_t){.name = "malloc-large", .object_size = 16});
  if (!pool)
    return NULL;
  ebra_pool_t *expected = NULL;
  /* acq_rel pairs with the acquire load above. */
  if (ebi_atomic_cas_acq_rel(&large_owner, &expected, pool))
    return pool;
  ebra_pool_destroy(pool);
  return expected;
}

/* The hard limit covers slabs and large mappings together; the slab layer
 * counts its own bytes, this adds the mappings'. */
static bool large_limit_quiet(size_t bytes) {
  const uint64_t limit = ebi_slab_hard_limit();
  return !limit ||
         ebi_slab_committed_bytes() + ebi_atomic_load_relaxed(&large_bytes) + bytes <= limit;
}

static bool large_limit_allows(size_t bytes) {
  if (large_limit_quiet(bytes))
    return true;
  const uint64_t limit = ebi_slab_hard_limit();
  ebi_report(EBRA_ERR_MEMORY_LIMIT,
             "ebra_malloc: the hard memory limit (%llu bytes) refused a mapping of %zu bytes",
             (unsigned long long)limit, bytes);
  return false;
}

/* The smallest kept block whose mapping holds total bytes without
 * wasting more than as much again, taken out of `kept`; NULL if none. */
static ebi_large_t *keep_take(size_t total) {
  ebi_large_t *h = NULL;
  pthread_mutex_lock(&keep_lock);
  unsigned best = nkept;
  for (unsigned i = 0; i < nkept; i++) {
    const size_t size = kept[i]->slab.map_size;
    if (size >= total && size / 2 <= total &&
        (best == nkept || size < kept[best]->slab.map_size))
      best = i;
  }
  if (best < nkept) {
    h = kept[best];
    memmove(&kept[best], &kept[best + 1], (nkept - best - 1) * sizeof kept[0]);
    nkept--;
  }
  pthread_mutex_unlock(&keep_lock);
  return h;
}

/* Hand out a kept block again (its header, slab and map entries stand). */
static void *large_reuse(ebi_large_t *h, size_t offset) {
  h->user = (char *)h + offset;
  h->usable = h->slab.map_size - offset;
  h->slab.first = h->user;
  /* The page the header shares with the block was not given back: zero
   * the block's part of it, so a reused block reads as zero like a fresh
   * one (calloc relies on it). */
  const uintptr_t page_end = ((uintptr_t)h->user + 4095) & ~(uintptr_t)4095;
  memset(h->user, 0, (size_t)(page_end - (uintptr_t)h->user));
  ebi_atomic_store_relaxed(&h->xstate, EBI_LARGE_LIVE);
  ebi_atomic_add_relaxed(&large_allocs, 1);
  ebi_atomic_add_relaxed(&large_bytes, h->slab.map_size);
  return h->user;
}

static void *large_alloc(size_t n, size_t alignment) {
  if (alignment < 64)
    alignment = 64;
  const size_t offset = align_up(sizeof(ebi_large_t), alignment);
  if (n > ((size_t)1 << 46) || alignment > ((size_t)1 << 40)) {
    errno = ENOMEM;
    return NULL;
  }
  const size_t total = align_up(offset + n, EBI_GRANULE_SIZE);
  if (alignment <= EBI_GRANULE_SIZE) { /* kept blocks are granule-aligned */
    ebi_large_t *h = keep_take(total);
    if (h && large_limit_quiet(h->slab.map_size))
      return large_reuse(h, offset);
    if (h) /* over the hard limit: back; a mapping of the size may fit */
      keep_put(h);
  }
  ebra_pool_t *owner = large_sentinel();
  void *mem;
  if (!owner || !large_limit_allows(total) ||
      ebi_os_map_aligned(total, alignment > EBI_GRANULE_SIZE ? alignment : EBI_GRANULE_SIZE,
                         &mem) != 0) {
    errno = ENOMEM;
    return NULL;
  }
  ebi_large_t *h = mem;
  h->slab.magic = EBI_LARGE_MAGIC;
  h->slab.pool = owner;
  h->slab.base = mem; /* M4: the header is the mapping's start */
  h->slab.first = (char *)mem + offset;
  h->slab.stride = 1;
  h->slab.stride_inv = 1;
  h->slab.stride_tz = 0;
  h->slab.count = 0;
  ebi_atomic_store_relaxed(&h->slab.xcarve, 0); /* nothing carved: no slot is valid (M4) */
  h->slab.map_size = total;
  h->user = (char *)mem + offset;
  h->usable = total - offset;
  ebi_atomic_store_relaxed(&h->xstate, EBI_LARGE_LIVE);
  if (ebi_segmap_insert(&h->slab) != 0) { /* M5: publishes the header */
    ebi_os_unmap(mem, total);
    errno = ENOMEM;
    return NULL;
  }
  ebi_atomic_add_relaxed(&large_allocs, 1);
  ebi_atomic_add_relaxed(&large_bytes, total);
  return h->user;
}

static bool large_check(ebi_large_t *h, const void *p, const char *call) {
  if (p == h->user)
    return true;
  ebi_report(EBRA_ERR_MISALIGNED, "%s(%p): inside the block of %zu bytes at %p, not its start",
             call, p, h->usable, (void *)h->user);
  return false;
}

static bool large_is_live(const ebi_large_t *h) {
  return ebi_atomic_load_relaxed(&h->xstate) == EBI_LARGE_LIVE;
}

static void large_unmap(ebi_large_t *h) {
  const size_t total = h->slab.map_size;
  ebi_segmap_remove(&h->slab); /* M5: before the unmap */
  ebi_os_unmap(h, total);
}

/* Keep freed block h (M6); the oldest kept block goes if there are too
 * many. */
static void keep_put(ebi_large_t *h) {
  ebi_large_t *evict = NULL;
  pthread_mutex_lock(&keep_lock);
  if (nkept == EBI_LARGE_KEEP) {
    evict = kept[0];
    memmove(&kept[0], &kept[1], (EBI_LARGE_KEEP - 1) * sizeof kept[0]);
    nkept--;
  }
  kept[nkept++] = h;
  pthread_mutex_unlock(&keep_lock);
  if (evict)
    large_unmap(evict);
}

static void large_free(ebi_large_t *h, void *p, const char *call) {
  if (!large_check(h, p, call))
    return;
  uint32_t live = EBI_LARGE_LIVE;
  if (!ebi_atomic_cas_relaxed(&h->xstate, &live, EBI_LARGE_FREED)) {
    ebi_report(EBRA_ERR_DOUBLE_FREE, "%s(%p): double free of a mapped block", call, p);
    return;
  }
  const size_t total = h->slab.map_size;
  ebi_atomic_sub_relaxed(&large_bytes, total);
  ebi_atomic_add_relaxed(&large_frees, 1);
  /* M6: keep it, its pages given back. */
  ebi_os_purge(h->user, total - (size_t)(h->user - (char *)h));
  keep_put(h);
}

/* Grow h's mapping in place to hold n bytes; false if the pages after it
 * are taken (the caller moves the block). */
static bool large_grow_in_place(ebi_large_t *h, size_t n) {
  const size_t offset = (size_t)(h->user - (char *)h);
  if (n > ((size_t)1 << 46))
    return false;
  const size_t old_total = h->slab.map_size;
  const size_t total = align_up(offset + n, EBI_GRANULE_SIZE);
  if (!large_limit_allows(total - old_total))
    return false;
  if (mremap(h, old_total, total, 0) == MAP_FAILED)
    return false;
  h->slab.map_size = total;
  if (ebi_segmap_insert(&h->slab) != 0) { /* the new granules */
    h->slab.map_size = old_total;
    ebi_segmap_remove(&h->slab);
    ebi_segmap_insert(&h->slab); /* leaves existed for these: cannot fail */
    mremap(h, total, old_total, 0);
    return false;
  }
  h->usable = total - offset;
  ebi_atomic_add_relaxed(&large_bytes, total - old_total);
  return true;
}

/* Relaxed: s came from the segment map (load acquire), whose entry the
 * large block's maker published after it had seen large_owner, so the
 * owner is visible here (M5). */
static ebi_large_t *as_large(const ebi_slab_t *s) {
  return s && s->pool == ebi_atomic_load_relaxed(&large_owner) && s->magic == EBI_LARGE_MAGIC
             ? (ebi_large_t *)s
             : NULL;
}

/* ---- slow paths -------------------------------------------------------------- */

/* Every load of ebi_malloc_ready pairs with the store release at the end
 * of malloc_init: a thread that sees it true sees ebra's thread key and
 * this floor's exit key created. */
void *ebi_malloc_slow(size_t n) {
  if (EBI_UNLIKELY(!ebi_atomic_load_acquire(&ebi_malloc_ready)))
    return ebi_boot_alloc(n, 16);
  thread_enter();
  void *p = n <= EBRA_MALLOC_CLASS_MAX ? class_alloc(ebi_malloc_class_of(n)) : large_alloc(n, 16);
  thread_leave();
  return p;
}

void ebi_free_slow(void *p, const ebi_slab_t *s, const char *call) {
  if (!p)
    return;
  if (s) {
    ebi_large_t *h = as_large(s);
    if (h) {
      large_free(h, p, call);
    } else if (ebi_malloc_is_class(s->pool)) {
      thread_enter();
      (void)ebra_pool_free(s->pool, p);
      thread_leave();
    } else {
      user_pool_object(s, p, call);
    }
    return;
  }
  if (ebi_boot_owns(p)) /* never reused: nothing to do */
    return;
  foreign_free(p, call);
}

/* Zero the first total bytes of p, a block of a class of at least total
 * bytes (at least 16).  Up to 128 bytes inline, in 16-byte stores over
 * the length rounded up to 16, which stays inside the block (every class
 * size is a multiple of 16; the two halves may overlap); above, the C
 * library's memset. */
static inline void zero_block(void *p, size_t total) {
  char *c = p;
  const size_t r = (total + 15) & ~(size_t)15;
  if (EBI_LIKELY(r <= 32)) {
    memset(c, 0, 16);
    if (r > 16)
      memset(c + 16, 0, 16);
  } else if (r <= 128) {
    memset(c, 0, 32);
    memset(c + r - 32, 0, 32);
    if (r > 64) {
      memset(c + 32, 0, 32);
      memset(c + r - 64, 0, 32);
    }
  } else {
    memset(c, 0, total);
  }
}

/* calloc's slow path: the bootstrap arena, a mapping, or a class block
 * from the pool's exported alloc. */
__attribute__((noinline)) static void *calloc_slow(size_t total) {
  if (EBI_UNLIKELY(!ebi_atomic_load_acquire(&ebi_malloc_ready)))
    return ebi_boot_alloc(total, 16); /* never reused: zero */
  thread_enter();
  void *p;
  if (total > EBRA_MALLOC_CLASS_MAX) {
    p = large_alloc(total, 16); /* fresh pages: zero, not written */
  } else {
    const uint32_t c = ebi_malloc_class_of(total);
    p = class_alloc(c);
    /* Secure pools zero every object on free (ebra/pool.h).  A block came
     * from the published class pool (class_alloc); acquire as in
     * class_pool. */
    if (p && !(ebi_atomic_load_acquire(&ebi_malloc_pools[c])->flags & EBRA_POOL_SECURE_CLEAR))
      zero_block(p, total);
  }
  thread_leave();
  return p;
}

/* The fast path is malloc's (ebi_malloc_inline) plus the zeroing: a hit
 * comes from a cache that is not a bypass cache, so the pool has no object
 * hooks and is not a secure pool (its caches bypass the fast paths); the
 * slow path asks.  A class pool is published only once the library is
 * ready (M3), so a hit needs no readiness test. */
void *ebi_malloc_calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = ebi_malloc_pop(ebi_malloc_pool_for(total));
  if (EBI_LIKELY(p != NULL)) {
    zero_block(p, total);
    return p;
  }
  return calloc_slow(total);
}

/* Bytes usable at p and whether it is ebra's; 0 for a foreign pointer. */
static size_t usable_of(const void *p, const ebi_slab_t *s, bool *ours) {
  *ours = true;
  if (s) {
    const ebi_large_t *h = as_large(s);
    if (h && large_is_live(h) && p == h->user)
      return h->usable;
    if (h) {
      *ours = false; /* freed, or inside the block: not a block ebra handed out */
      return 0;
    }
    if (ebi_malloc_is_class(s->pool))
      return s->pool->object_size;
  } else if (ebi_boot_owns(p)) {
    return ebi_boot_usable(p);
  }
  *ours = false;
  return 0;
}

static void *realloc_move(void *p, size_t old, size_t n, const char *call) {
  void *q = ebi_malloc_inline(n);
  if (!q)
    return NULL;
  memcpy(q, p, old < n ? old : n);
  ebi_free_inline(p, call);
  return q;
}

static void *realloc_foreign(void *p, size_t n, const char *call) {
  const size_t old = foreign ? foreign->usable(p) : 0;
  if (!old) {
    ebi_atomic_add_relaxed(&foreign_frees, 1);
    ebi_report(EBRA_ERR_FOREIGN_PTR,
               "%s(%p): not memory that ebra_malloc handed out; left alone", call, p);
    errno = EINVAL;
    return NULL;
  }
  void *q = ebi_malloc_inline(n);
  if (q) {
    memcpy(q, p, old < n ? old : n);
    foreign->free(p);
  }
  return q;
}

void *ebi_malloc_realloc(void *p, size_t n, const char *call) {
  if (!p)
    return ebi_malloc_inline(n);
  if (n == 0) {
    ebi_free_inline(p, call);
    return NULL;
  }
  const ebi_slab_t *s = ebi_segmap_lookup(p);
  ebi_large_t *h = as_large(s);
  if (h) {
    if (!large_check(h, p, call)) {
      errno = EINVAL;
      return NULL;
    }
    if (!large_is_live(h)) {
      ebi_report(EBRA_ERR_DOUBLE_FREE, "%s(%p): the mapped block was freed", call, p);
      errno = EINVAL;
      return NULL;
    }
    if (n > EBRA_MALLOC_CLASS_MAX && n <= h->usable && (n > h->usable / 2 || h->usable <= 2 * EBI_GRANULE_SIZE))
      return p;
    if (n > h->usable && large_grow_in_place(h, n))
      return p;
    return realloc_move(p, h->usable, n, call);
  }
  bool ours;
  const size_t old = usable_of(p, s, &ours);
  if (!ours)
    return s ? (user_pool_object(s, p, call), errno = EINVAL, NULL) : realloc_foreign(p, n, call);
  if (s && n <= old && ebi_malloc_class_of(n) == ebi_malloc_class_of(old))
    return p; /* the same class: in place */
  return realloc_move(p, old, n, call);
}

void *ebi_malloc_aligned(size_t alignment, size_t n) {
  if (alignment == 0 || (alignment & (alignment - 1))) {
    errno = EINVAL;
    return NULL;
  }
  if (alignment <= 16)
    return ebi_malloc_inline(n);
  if (EBI_UNLIKELY(!ebi_atomic_load_acquire(&ebi_malloc_ready)))
    return ebi_boot_alloc(n, alignment);
  void *p = NULL;
  thread_enter();
  const size_t want = n > alignment ? n : alignment;
  if (alignment <= EBRA_MAX_ALIGNMENT && want <= EBRA_MALLOC_CLASS_MAX) {
    /* The first class at least this big whose blocks are aligned enough:
     * with four classes per doubling it is at most 2x the size asked. */
    uint32_t c = ebi_malloc_class_of(want);
    while (c < EBI_MALLOC_NCLASSES && class_alignment(c) < alignment)
      c++;
    p = c < EBI_MALLOC_NCLASSES ? class_alloc(c) : large_alloc(n, alignment);
  } else {
    p = large_alloc(n, alignment);
  }
  thread_leave();
  return p;
}

size_t ebi_malloc_usable(const void *p, const char *call) {
  if (!p)
    return 0;
  const ebi_slab_t *s = ebi_segmap_lookup(p);
  bool ours;
  const size_t n = usable_of(p, s, &ours);
  if (ours)
    return n;
  const size_t f = !s && foreign ? foreign->usable(p) : 0;
  if (!f)
    ebi_report(EBRA_ERR_FOREIGN_PTR, "%s(%p): not memory that ebra_malloc handed out", call, p);
  return f;
}

void ebi_malloc_free_sized(void *p, size_t n, const char *call) {
  if (!p)
    return;
  const ebi_slab_t *s = ebi_segmap_lookup(p);
  bool ours;
  const size_t usable = usable_of(p, s, &ours);
  if (ours && n > usable)
    ebi_report(EBRA_ERR_BAD_CALL, "%s(%p, %zu): the block holds only %zu bytes; freed anyway",
               call, p, n, usable);
  ebi_free_inline(p, call);
}

/* ---- the public API ------------------------------------------------------------ */

void *ebra_malloc(size_t size) { return ebi_malloc_inline(size); }
void *ebra_calloc(size_t n, size_t size) { return ebi_malloc_calloc(n, size); }
void *ebra_realloc(void *p, size_t size) { return ebi_malloc_realloc(p, size, "ebra_realloc"); }
void ebra_free(void *p) { ebi_free_inline(p, "ebra_free"); }
void ebra_free_sized(void *p, size_t size) { ebi_free_sized_inline(p, size, "ebra_free_sized"); }
void *ebra_aligned_alloc(size_t alignment, size_t size) {
  return ebi_malloc_aligned(alignment, size);
}
size_t ebra_usable_size(const void *p) { return ebi_malloc_usable(p, "ebra_usable_size"); }

void *ebra_reallocarray(void *p, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return ebi_malloc_realloc(p, total, "ebra_reallocarray");
}

int ebra_posix_memalign(void **out, size_t alignment, size_t size) {
  if (!out || alignment < sizeof(void *) || (alignment & (alignment - 1)))
    return EINVAL;
  const int saved = errno;
  void *p = ebi_malloc_aligned(alignment, size);
  const int err = p ? 0 : errno;
  errno = saved;
  if (p)
    *out = p;
  return err;
}

int ebra_malloc_stats(ebra_malloc_stats_t *out) {
  if (!out)
    return ebi_bad_call("ebra_malloc_stats: out is NULL");
  const uint64_t a = ebi_atomic_load_relaxed(&large_allocs);
  const uint64_t f = ebi_atomic_load_relaxed(&large_frees);
  *out = (ebra_malloc_stats_t){.large_allocs = a,
                               .large_frees = f,
                               .large_live = a >= f ? a - f : 0,
                               .large_bytes = ebi_atomic_load_relaxed(&large_bytes),
                               .foreign_frees = ebi_atomic_load_relaxed(&foreign_frees)};
  for (uint32_t c = 0; c < EBI_MALLOC_NCLASSES; c++)
    out->classes_in_use += ebi_atomic_load_relaxed(&ebi_malloc_pools[c]) != NULL;
  return 0;
}

/* EBRA_SHOW_STATS: the classes print as pools (control/monitor.c); this adds
 * what no pool holds. */
static void print_at_exit(void) {
  ebra_malloc_stats_t st;
  ebra_malloc_stats(&st);
  /* Only a process that used ebra_malloc, and only then the option: read
   * at load time, it would report a bad EBRA_* variable before the
   * program could install its report hook. */
  if ((st.classes_in_use == 0 && st.large_allocs == 0) || !ebi_option_is_on(EBRA_OPT_SHOW_STATS))
    return;
  fprintf(stderr,
          "ebra malloc: %lu size classes in use; mapped blocks: %llu live (%llu bytes), "
          "%llu made, %llu freed; %llu foreign pointers reported\n",
          st.classes_in_use, st.large_live, st.large_bytes, st.large_allocs, st.large_frees,
          st.foreign_frees);
}

/* Runs after src/thread.c's constructor (this floor's objects are linked
 * after src/'s), so ebra's thread key exists before any class is used. */
static void keep_fork_prepare(void) { pthread_mutex_lock(&keep_lock); }
static void keep_fork_release(void) { pthread_mutex_unlock(&keep_lock); }

__attribute__((constructor)) static void malloc_init(void) {
  if (pthread_key_create(&exit_key, exit_key_destructor) != 0)
    EBI_DIE("pthread_key_create failed");
  /* keep_lock is a leaf: no other lock is taken while it is held. */
  pthread_atfork(keep_fork_prepare, keep_fork_release, keep_fork_release);
  atexit(print_at_exit);
  ebi_atomic_store_release(&ebi_malloc_ready, true);
}

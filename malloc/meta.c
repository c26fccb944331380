/* SPDX-License-Identifier: MIT */
/* malloc/meta.c — the allocator of ebra's own bookkeeping inside
 * libebra-malloc.so.
 *
 * In the preload library, malloc is ebra.  The floors below call malloc,
 * calloc, realloc, aligned_alloc and free for their own structures (thread
 * state, thread caches, magazines, pools, registries); served by the class
 * pools those calls would recurse (a thread cache's first allocation needs
 * a thread cache).  The library is linked with --wrap for those names, so
 * the floors' calls land here (__wrap_malloc, ...) while everyone else's
 * reach malloc.c.
 *
 * Design: power-of-two blocks of 32 B .. 64 KiB carved from 1 MiB mmap'd
 * chunks, one free list per size under one mutex (these calls are on slow
 * paths only); above that, one mapping per block.  Each block begins with
 * a 16-byte header; the pointer handed out follows it (or, for a larger
 * alignment, sits further in, with the header right before it).
 *
 * Invariants:
 *  T1  The header before every pointer handed out holds EBI_META_MAGIC, the
 *      block's size index (or EBI_META_MAPPED) and the block's start.
 *  T2  A block on a free list is in no one's hands; lists, chunk and
 *      chunk_left are under meta_lock.
 *  T3  meta_lock is the innermost lock of the library: it is taken with
 *      ebra's registry and pool locks held, never the other way round.  Its
 *      fork handlers are registered before src/thread.c's (a constructor
 *      of priority 101), so fork takes it last and the child releases it
 *      first, before ebra's child handler frees dead threads' state.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "malloc_internal.h"

#define EBI_META_MAGIC 0x6d657461u /* "meta" */
#define EBI_META_MAPPED 0xffu
#define EBI_META_MIN_SHIFT 5  /* 32 B */
#define EBI_META_MAX_SHIFT 16 /* 64 KiB */
#define EBI_META_CHUNK ((size_t)1 << 20)

typedef struct meta_hdr_s {
  uint32_t magic;
  uint32_t index;   /* size shift, or EBI_META_MAPPED */
  char *block;      /* start of the block (its mapping, if mapped) */
} meta_hdr_t;
_Static_assert(sizeof(meta_hdr_t) == 16, "one 16-byte header");

static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;
static void *meta_free_list[EBI_META_MAX_SHIFT + 1]; /* T2 */
static char *chunk;                                  /* T2 */
static size_t chunk_left;                            /* T2 */

static void *meta_carve(size_t size) {
  if (chunk_left < size) {
    void *m = mmap(NULL, EBI_META_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (m == MAP_FAILED)
      return NULL;
    chunk = m; /* the old chunk's tail is dropped: at most 64 KiB per MiB */
    chunk_left = EBI_META_CHUNK;
  }
  void *b = chunk;
  chunk += size;
  chunk_left -= size;
  return b;
}

static void *meta_alloc(size_t n, size_t alignment) {
  if (alignment < 16)
    alignment = 16;
  if (n > ((size_t)1 << 46) || alignment > ((size_t)1 << 30)) {
    errno = ENOMEM;
    return NULL;
  }
  const size_t need = n + 16 + (alignment - 16); /* header + worst-case padding */
  char *block;
  uint32_t index;
  size_t size;
  if (need <= ((size_t)1 << EBI_META_MAX_SHIFT)) {
    index = EBI_META_MIN_SHIFT;
    while (((size_t)1 << index) < need)
      index++;
    size = (size_t)1 << index;
    pthread_mutex_lock(&meta_lock);
    block = meta_free_list[index];
    if (block)
      meta_free_list[index] = *(void **)block;
    else
      block = meta_carve(size);
    pthread_mutex_unlock(&meta_lock);
  } else {
    index = EBI_META_MAPPED;
    size = (need + 4095) & ~(size_t)4095;
    block = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED)
      block = NULL;
    else
      *(size_t *)block = size; /* the mapping's length, before the header */
  }
  if (!block) {
    errno = ENOMEM;
    return NULL;
  }
  const size_t min_off = index == EBI_META_MAPPED ? 32 : 16;
  char *p = (char *)(((uintptr_t)block + min_off + alignment - 1) & ~(uintptr_t)(alignment - 1));
  meta_hdr_t *h = (meta_hdr_t *)(p - 16);
  *h = (meta_hdr_t){.magic = EBI_META_MAGIC, .index = index, .block = block};
  return p;
}

static meta_hdr_t *meta_header(void *p) {
  meta_hdr_t *h = (meta_hdr_t *)((char *)p - 16);
  return h->magic == EBI_META_MAGIC ? h : NULL;
}

static size_t meta_usable(const meta_hdr_t *h, const void *p) {
  const size_t size = h->index == EBI_META_MAPPED ? *(const size_t *)h->block
                                                  : (size_t)1 << h->index;
  return (size_t)(h->block + size - (const char *)p);
}

/* The floors free only what they allocated here; a pointer from the public
 * malloc (none today) goes there instead of being misread. */
void __wrap_free(void *p) {
  if (!p)
    return;
  if (ebi_segmap_lookup(p) || ebi_boot_owns(p)) {
    ebra_free(p);
    return;
  }
  meta_hdr_t *h = meta_header(p);
  if (!h) {
    ebi_report(EBRA_ERR_INTERNAL, "ebra's own allocator: free(%p) of a block it never made", p);
    return;
  }
  h->magic = 0;
  if (h->index == EBI_META_MAPPED) {
    munmap(h->block, *(size_t *)h->block);
    return;
  }
  pthread_mutex_lock(&meta_lock);
  *(void **)h->block = meta_free_list[h->index];
  meta_free_list[h->index] = h->block;
  pthread_mutex_unlock(&meta_lock);
}

void *__wrap_malloc(size_t n) { return meta_alloc(n, 16); }

void *__wrap_aligned_alloc(size_t alignment, size_t n) {
  if (alignment == 0 || (alignment & (alignment - 1))) {
    errno = EINVAL;
    return NULL;
  }
  return meta_alloc(n, alignment);
}

int __wrap_posix_memalign(void **out, size_t alignment, size_t n) {
  if (alignment < sizeof(void *) || (alignment & (alignment - 1)))
    return EINVAL;
  void *p = meta_alloc(n, alignment);
  if (!p)
    return ENOMEM;
  *out = p;
  return 0;
}

void *__wrap_calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = meta_alloc(total, 16);
  if (p)
    memset(p, 0, total); /* blocks are reused */
  return p;
}

void *__wrap_realloc(void *p, size_t n) {
  if (!p)
    return meta_alloc(n, 16);
  meta_hdr_t *h = meta_header(p);
  if (!h) {
    ebi_report(EBRA_ERR_INTERNAL, "ebra's own allocator: realloc(%p) of a block it never made", p);
    errno = EINVAL;
    return NULL;
  }
  const size_t old = meta_usable(h, p);
  if (n <= old)
    return p;
  void *q = meta_alloc(n, 16);
  if (q) {
    memcpy(q, p, old);
    __wrap_free(p);
  }
  return q;
}

/* ---- qsort ------------------------------------------------------------------
 * The C library's qsort allocates a scratch buffer (through malloc, that
 * is, the classes) for arrays above a few hundred bytes, and the floors
 * sort while holding the registry lock (stats, the fork child's depot
 * rebuild), which a class's slow path may take: a self-deadlock.  The
 * floors' qsort calls land here instead: an in-place heapsort, which never
 * allocates.  O(n log n), not stable (qsort promises neither more). */
typedef int cmp_fn(const void *, const void *);

static void swap_bytes(char *a, char *b, size_t size) {
  for (size_t i = 0; i < size; i++) {
    const char t = a[i];
    a[i] = b[i];
    b[i] = t;
  }
}

static void sift_down(char *base, size_t root, size_t n, size_t size, cmp_fn *cmp) {
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n)
      return;
    if (child + 1 < n && cmp(base + child * size, base + (child + 1) * size) < 0)
      child++;
    if (cmp(base + root * size, base + child * size) >= 0)
      return;
    swap_bytes(base + root * size, base + child * size, size);
    root = child;
  }
}

void __wrap_qsort(void *base, size_t n, size_t size, cmp_fn *cmp) {
  char *b = base;
  if (n < 2 || size == 0)
    return;
  for (size_t i = n / 2; i-- > 0;)
    sift_down(b, i, n, size, cmp);
  for (size_t end = n - 1; end > 0; end--) {
    swap_bytes(b, b + end * size, size);
    sift_down(b, 0, end, size, cmp);
  }
}

/* ---- fork (T3) -------------------------------------------------------------- */
static void meta_fork_prepare(void) { pthread_mutex_lock(&meta_lock); }
static void meta_fork_release(void) { pthread_mutex_unlock(&meta_lock); }

__attribute__((constructor(101))) static void meta_init(void) {
  pthread_atfork(meta_fork_prepare, meta_fork_release, meta_fork_release);
}

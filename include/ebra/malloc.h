/* SPDX-License-Identifier: MIT */
/** @file ebra/malloc.h
 * @brief a general-purpose allocator over ebra pools.
 *
 * Each size class is an ebra pool ("malloc-48", "malloc-320", ...), so
 * magazines, the depot, slabs, trimming, purging, the strategy engine, the
 * memory limits and the monitor all apply to malloc memory.  Requests above
 * the largest class (256 KiB) are mapped directly.  docs/DESIGN.md
 * ("malloc") gives the classes and the bound on internal waste.
 *
 * These functions live beside the system malloc in the same process: memory
 * from one must be given back to the same one.  A pointer these functions
 * did not hand out, passed to ebra_free, ebra_free_sized, ebra_realloc or
 * ebra_usable_size, is reported (EBRA_ERR_FOREIGN_PTR through the report
 * hook) and left alone: never a crash or a corruption.  A double free is
 * reported the same way (EBRA_ERR_DOUBLE_FREE).
 *
 * To run a whole program on ebra, preload or link libebra-malloc.so
 * (CMake ebra::malloc, pkg-config ebra-malloc): it provides malloc, free
 * and the rest, and every C++ operator new and delete, on these functions.
 *
 * Calling context: any thread, any time, including from TLS destructors
 * and in the child of a fork.  Errors follow malloc's convention (the
 * "allocation" row of ebra/error.h): NULL with errno ENOMEM, or EINVAL for
 * a bad alignment.
 */
#ifndef EBRA_MALLOC_H
#define EBRA_MALLOC_H

#include <stddef.h>

#include "ebra/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Size of the largest class; larger requests are mapped directly. */
#define EBRA_MALLOC_CLASS_MAX ((size_t)256 << 10)

/** size bytes, aligned to 16; size 0 gives a unique pointer.  NULL with
 * errno ENOMEM if the OS or the hard memory limit refuses. */
EBRA_API void *ebra_malloc(size_t size);

/** n * size zeroed bytes; NULL with ENOMEM if the product overflows. */
EBRA_API void *ebra_calloc(size_t n, size_t size);

/** Resize p (NULL: as ebra_malloc).  Stays in place while the new size fits
 * p's size class (or, for a mapped block, its mapping).  size 0 frees p and
 * returns NULL, as glibc does.  On failure NULL with errno, p untouched. */
EBRA_API void *ebra_realloc(void *p, size_t size);

/** ebra_realloc(p, n * size), NULL with ENOMEM if the product overflows. */
EBRA_API void *ebra_reallocarray(void *p, size_t n, size_t size);

/** Free p (NULL: nothing).  Misuse is reported, never fatal. */
EBRA_API void ebra_free(void *p);

/** Free p, allocated with this size (C23 free_sized).  A size that does not
 * match p's block is reported (EBRA_ERR_BAD_CALL) and p is freed anyway. */
EBRA_API void ebra_free_sized(void *p, size_t size);

/** size bytes aligned to `alignment`, a power of two (any size, C17).
 * NULL with EINVAL for a bad alignment, ENOMEM when memory is short.
 * Alignments up to 4096 come from a size class whose blocks are naturally
 * aligned to them; larger ones are mapped. */
EBRA_API void *ebra_aligned_alloc(size_t alignment, size_t size);

/** POSIX: returns 0 and sets *out, or EINVAL (alignment not a power of two multiple of
 * sizeof(void *)) or ENOMEM; *out is untouched on failure. */
EBRA_API int ebra_posix_memalign(void **out, size_t alignment, size_t size);

/** Bytes usable at p (>= the size asked for); 0 for NULL or (reported) a
 * pointer ebra did not hand out. */
EBRA_API size_t ebra_usable_size(const void *p);

/** Counters of the direct mappings above the largest class.  The classes
 * are pools: ebra_snapshot and ebra_pool_stats report them. */
typedef struct ebra_malloc_stats_s {
  unsigned long long large_allocs;     /**< mappings made, ever */
  unsigned long long large_frees;      /**< mappings released, ever */
  unsigned long long large_live;       /**< mappings live now */
  unsigned long long large_bytes;      /**< bytes mapped for the live ones (up
                                          to 16 freed mappings are kept for
                                          reuse, their pages given back, and
                                          not counted) */
  unsigned long long foreign_frees;    /**< pointers not ebra's, reported */
  unsigned long classes_in_use;        /**< size classes with a pool */
} ebra_malloc_stats_t;

/** Fill *out: 0, or -EINVAL for NULL. */
EBRA_API int ebra_malloc_stats(ebra_malloc_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* EBRA_MALLOC_H */

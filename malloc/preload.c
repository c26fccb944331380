/* SPDX-License-Identifier: MIT */
/* malloc/preload.c — libebra-malloc.so: the C library's allocation
 * functions on ebra_malloc, for LD_PRELOAD and for linking.
 *
 * Early calls: until the library's constructors have run, every request
 * is served by the bootstrap arena (boot.c), which needs no initialisation;
 * the floors' own bookkeeping never reaches these functions (meta.c).  So
 * nothing here recurses, before constructors, inside dlsym, or anywhere.
 *
 * Foreign pointers (M2): a pointer ebra never handed out that lies in the
 * program break's heap, which ebra never uses, can only come from the C
 * library's own malloc (called directly, or before this library took
 * over); it goes to the C library's free, resolved once by dlsym(RTLD_NEXT)
 * in the constructor (dlsym's own allocations are served by ebra or the
 * arena).  Anything else is reported and left alone.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "malloc_internal.h"

#define EBI_OVERRIDE __attribute__((visibility("default")))

/* ---- the C library's allocator, for its own pointers ------------------------ */

static void (*libc_free)(void *);
static size_t (*libc_usable)(void *);
static uintptr_t brk_start; /* the program break at exec, or 0 if unknown */

/* start_brk, field 47 of /proc/self/stat, read without stdio (no malloc). */
static uintptr_t read_start_brk(void) {
  char buf[2048];
  const int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  char *s = strrchr(buf, ')'); /* the command name may hold spaces */
  if (!s)
    return 0;
  int field = 2;
  for (; *s && field < 47; s++)
    if (*s == ' ')
      field++;
  return field == 47 ? (uintptr_t)strtoull(s, NULL, 10) : 0;
}

static bool libc_owns(const void *p) {
  const uintptr_t a = (uintptr_t)p;
  return brk_start && a >= brk_start && a < (uintptr_t)sbrk(0) && (a & 15) == 0;
}

static bool libc_take(void *p) {
  if (!libc_free || !libc_owns(p))
    return false;
  libc_free(p);
  return true;
}

static size_t libc_size(const void *p) {
  return libc_usable && libc_owns(p) ? libc_usable((void *)p) : 0;
}

static const ebi_malloc_foreign_t libc_foreign = {.free = libc_take, .usable = libc_size};

/* Linked after the floors and malloc.c, so it runs after their
 * constructors: malloc is ready, and dlsym's allocations are served. */
__attribute__((constructor)) static void preload_init(void) {
  brk_start = read_start_brk();
  libc_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
  libc_usable = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
  ebi_malloc_set_foreign(&libc_foreign);
  /* A program on this library does not call ebra_maintain; with a soft
   * limit set, the engine's own thread does, so the limit trims and
   * purges.  A fork child has no engine thread (control/engine.c). */
  long soft = 0;
  if (ebra_option_get(EBRA_OPT_SOFT_LIMIT, &soft) == 0 && soft > 0)
    (void)ebra_engine_init(&(ebra_engine_config_t){.background = true});
}

/* ---- the overrides --------------------------------------------------------------- */

EBI_OVERRIDE void *malloc(size_t n) { return ebi_malloc_inline(n); }
EBI_OVERRIDE void free(void *p) { ebi_free_inline(p, "free"); }
EBI_OVERRIDE void *calloc(size_t n, size_t size) { return ebi_malloc_calloc(n, size); }
EBI_OVERRIDE void *realloc(void *p, size_t n) { return ebi_malloc_realloc(p, n, "realloc"); }

EBI_OVERRIDE void *reallocarray(void *p, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return ebi_malloc_realloc(p, total, "reallocarray");
}

EBI_OVERRIDE void *aligned_alloc(size_t alignment, size_t n) {
  return ebi_malloc_aligned(alignment, n);
}

EBI_OVERRIDE int posix_memalign(void **out, size_t alignment, size_t n) {
  return ebra_posix_memalign(out, alignment, n);
}

/* The obsolete memalign, like glibc's, takes any alignment and rounds it
 * up to a power of two. */
EBI_OVERRIDE void *memalign(size_t alignment, size_t n) {
  if (alignment & (alignment - 1)) {
    if (alignment > ((size_t)1 << 62)) {
      errno = EINVAL;
      return NULL;
    }
    alignment = (size_t)1 << (64 - __builtin_clzll((unsigned long long)alignment));
  }
  return ebi_malloc_aligned(alignment ? alignment : 16, n);
}

EBI_OVERRIDE void *valloc(size_t n) { return ebi_malloc_aligned(4096, n); }

EBI_OVERRIDE void *pvalloc(size_t n) {
  if (n > SIZE_MAX - 4095) {
    errno = ENOMEM;
    return NULL;
  }
  return ebi_malloc_aligned(4096, n ? (n + 4095) & ~(size_t)4095 : 4096);
}

EBI_OVERRIDE size_t malloc_usable_size(void *p) {
  return ebi_malloc_usable(p, "malloc_usable_size");
}

/* C23. */
EBI_OVERRIDE void free_sized(void *p, size_t n) { ebi_free_sized_inline(p, n, "free_sized"); }

EBI_OVERRIDE void free_aligned_sized(void *p, size_t alignment, size_t n) {
  (void)alignment;
  ebi_free_sized_inline(p, n, "free_aligned_sized");
}

/* ---- for the C++ operators (preload_new.cc) ------------------------------------ */

EBI_INTERNAL_FN void *ebi_cxx_alloc(size_t n, size_t alignment) {
  return alignment <= 16 ? ebi_malloc_inline(n) : ebi_malloc_aligned(alignment, n);
}

EBI_INTERNAL_FN void ebi_cxx_free(void *p) { ebi_free_inline(p, "operator delete"); }

EBI_INTERNAL_FN void ebi_cxx_free_sized(void *p, size_t n) {
  ebi_free_sized_inline(p, n, "operator delete");
}

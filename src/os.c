/* SPDX-License-Identifier: MIT */
/* src/os.c — the OS boundary.  Every function returns 0 or an errno code;
 * nothing else in ebra calls mmap or munmap. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#if defined(EBRA_ASAN)
#include <sanitizer/asan_interface.h>
#endif

/* Map `size` bytes aligned to `align` (a power of two >= the page size) by
 * over-mapping and trimming the ends. */
int ebi_os_map_aligned(size_t size, size_t align, void **out) {
  const size_t over = size + align;
  if (over < size)
    return ENOMEM;
  char *raw = mmap(NULL, over, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED)
    return errno ? errno : ENOMEM;
  const uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
  char *p = (char *)start;
  const size_t head = (size_t)(p - raw);
  const size_t tail = over - head - size;
  if (head > 0)
    munmap(raw, head);
  if (tail > 0)
    munmap(p + size, tail);
  *out = p;
  return 0;
}

/* Reserve `size` bytes of zero pages that commit nothing until touched
 * (MAP_NORESERVE; a system that accounts every mapping, overcommit mode 2,
 * counts them anyway and may refuse). */
int ebi_os_reserve(size_t size, void **out) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED)
    return errno ? errno : ENOMEM;
  *out = p;
  return 0;
}

int ebi_os_unmap(void *p, size_t size) {
#if defined(EBRA_ASAN)
  /* Free objects are ASan-poisoned; the next mapping at this address must
   * not inherit that. */
  ASAN_UNPOISON_MEMORY_REGION(p, size);
#endif
  return munmap(p, size) == 0 ? 0 : errno;
}

/* Give the whole pages inside [p, p + size) back to the OS; the mapping
 * stays, and reads there see zeros until written again. */
int ebi_os_purge(void *p, size_t size) {
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  const uintptr_t from = ((uintptr_t)p + page - 1) & ~(page - 1);
  const uintptr_t to = ((uintptr_t)p + size) & ~(page - 1);
  if (to <= from)
    return 0;
  return madvise((void *)from, to - from, MADV_DONTNEED) == 0 ? 0 : errno;
}

/* A random 64-bit value for cookies; never 0.  Not for cryptography. */
uint64_t ebi_os_random(void) {
  uint64_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ (uintptr_t)&r;
  }
  r ^= r >> 33; /* splitmix finaliser */
  r *= 0xff51afd7ed558ccdull;
  r ^= r >> 33;
  return r ? r : 0x9e3779b97f4a7c15ull;
}

/* Resident bytes of the process: /proc/self/statm's second field (resident
 * pages) times the page size.  Plain read(2), so no stdio lock or buffer. */
int ebi_os_resident_bytes(uint64_t *out) {
  char buf[128];
  const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno ? errno : ENOENT;
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  const int err = n < 0 ? errno : 0;
  close(fd);
  if (n <= 0)
    return err ? err : EIO;
  buf[n] = '\0';
  unsigned long long size_pages, resident_pages;
  const long page = sysconf(_SC_PAGESIZE);
  if (sscanf(buf, "%llu %llu", &size_pages, &resident_pages) != 2 || page <= 0)
    return EIO;
  *out = (uint64_t)resident_pages * (uint64_t)page;
  return 0;
}

uint64_t ebi_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

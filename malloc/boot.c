/* SPDX-License-Identifier: MIT */
/* malloc/boot.c — the bootstrap arena: memory for requests made before the
 * library's constructors have run (malloc_internal.h).
 *
 * Invariants:
 *  B1  boot_used only grows (CAS), so a block is handed out once and never
 *      reused; the arena is static (zero) memory, so every block is zero.
 *  B2  A block is preceded by one 16-byte header holding its size.
 * Progress: lock-free (a CAS loop that fails only when another thread
 * allocated).  No lock, no call into libc: safe in the dynamic loader's
 * callbacks, in dlsym, and in a fork child.
 */
#include <errno.h>

#include "malloc_internal.h"

#define EBI_BOOT_SIZE ((size_t)4 << 20)

static char boot_arena[EBI_BOOT_SIZE] __attribute__((aligned(4096)));
static _Atomic size_t boot_used;

void *ebi_boot_alloc(size_t n, size_t alignment) {
  if (alignment < 16)
    alignment = 16;
  size_t used = ebi_atomic_load_relaxed(&boot_used);
  size_t start, end;
  do {
    start = (used + 16 + alignment - 1) & ~(alignment - 1); /* room for B2 */
    if (n > EBI_BOOT_SIZE || alignment > EBI_BOOT_SIZE || start + n > EBI_BOOT_SIZE) {
      errno = ENOMEM; /* no report: this runs before the reporter may */
      return NULL;
    }
    end = (start + (n ? n : 1) + 15) & ~(size_t)15;
  } while (!ebi_atomic_cas_relaxed(&boot_used, &used, end));
  *(size_t *)(boot_arena + start - 16) = n;
  return boot_arena + start;
}

bool ebi_boot_owns(const void *p) {
  return (const char *)p >= boot_arena && (const char *)p < boot_arena + EBI_BOOT_SIZE;
}

size_t ebi_boot_usable(const void *p) { return *(const size_t *)((const char *)p - 16); }

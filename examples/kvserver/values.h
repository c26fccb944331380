/* SPDX-License-Identifier: MIT */
/* values.h — where the server's value storage comes from: the one
 * interface between the keyspace and an allocator.
 *
 * Two implementations, chosen at configure time (CMake KV_VALUES):
 *   values_pools.c   one ebra pool per size class, blocks above the
 *                    largest class from malloc;
 *   values_malloc.c  ebra_malloc (include/ebra/malloc.h), used when the
 *                    library has it.
 * Nothing else in the server changes between them.
 *
 * Calling context: any thread.  value_free only for a block no reader can
 * reach; value_retire for a block a reader of domain d may still hold.
 */
#ifndef KV_VALUES_H
#define KV_VALUES_H

#include <ebra.h>
#include <stddef.h>
#include <stdint.h>

/* Create the size-class pools.  0 or a negative errno. */
int values_init(void);
/* Destroy them: every block must have been freed or reclaimed. */
void values_fini(void);

/* len bytes, 16-byte aligned.  NULL with errno ENOMEM when the hard memory
 * limit (ebra_set_memory_limits) or the OS refuses. */
void *value_alloc(size_t len);
/* Free now. */
void value_free(void *p);
/* Free after a grace period of d.  0 or a negative errno. */
int value_retire(ebra_domain_t *d, void *p);

/* Bytes held outside ebra's pools (blocks above the largest class). */
uint64_t values_large_bytes(void);

#endif

/* SPDX-License-Identifier: MIT */
/* lockfree/stack.h — the multi-producer, multi-consumer stack every lock-free
 * free list in ebra uses (the depot's magazines, the weak table's free
 * slots): Concurrency Kit's ck_stack, with ThreadSanitizer annotations.
 *
 * Invariants
 *   S1  push is a single-word CAS on the head; pop is ck's double-width CAS
 *       on {head, generation}, so an entry popped and pushed back between
 *       another popper's read of head and its CAS changes the generation and
 *       fails that CAS: pops are ABA-safe.
 *   S2  a popper may read `next` of an entry another popper just took; the
 *       generation CAS then fails and the value is discarded.  Entries must
 *       therefore stay mapped (type-stable) while the stack is in use.
 *   S3  the stack is 16-byte aligned: cmpxchg16b faults otherwise
 *       (docs/DESIGN.md, "ck_stack alignment").
 *
 * Ordering: ck's CAS is a full barrier on x86, so a push releases the
 * pusher's writes to the entry (and what it points to) and the pop that
 * returns the entry acquires them.  annotate.h states the same edge per
 * entry for TSan, which cannot see ck's assembly.
 *
 * Progress: lock-free.  A try fails only when another thread's CAS on the
 * same stack succeeded; callers get that count back as contention. */
#ifndef EBI_LOCKFREE_STACK_H
#define EBI_LOCKFREE_STACK_H

#include <stdint.h>

#include <ck_stack.h>

/* Push e until it lands; returns the CAS attempts lost to other threads. */
__attribute__((visibility("hidden"))) uint64_t ebi_stack_push_mpmc(ck_stack_t *st,
                                                                   ck_stack_entry_t *e);
/* Pop an entry, or NULL when the stack is empty; *lost counts CAS attempts
 * lost to other threads. */
__attribute__((visibility("hidden"))) ck_stack_entry_t *ebi_stack_pop_mpmc(ck_stack_t *st,
                                                                           uint64_t *lost);

#endif /* EBI_LOCKFREE_STACK_H */

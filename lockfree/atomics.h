/* SPDX-License-Identifier: MIT */
/* lockfree/atomics.h — the only place ebra names C11 atomic operations.
 *
 * Every helper carries its memory order in its name, as in mimalloc's
 * mi_atomic_*_acquire/_release.  Code elsewhere calls these helpers, never
 * bare atomic_* functions, so each ordering choice is visible at the call
 * site, where a comment names the operation it pairs with.
 *
 * No standalone fences: ThreadSanitizer does not model atomic_thread_fence
 * (measured: docs/DESIGN.md, "Dependency facts", "TSan and fences"), so
 * ordering sits on the accesses.
 */
#ifndef EBI_LOCKFREE_ATOMICS_H
#define EBI_LOCKFREE_ATOMICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define ebi_atomic_load_relaxed(p)   atomic_load_explicit((p), memory_order_relaxed)
#define ebi_atomic_load_acquire(p)   atomic_load_explicit((p), memory_order_acquire)
#define ebi_atomic_store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define ebi_atomic_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)

#define ebi_atomic_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define ebi_atomic_sub_relaxed(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)
#define ebi_atomic_sub_release(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_release)
#define ebi_atomic_sub_acq_rel(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_acq_rel)
#define ebi_atomic_or_relaxed(p, v)  atomic_fetch_or_explicit((p), (v), memory_order_relaxed)
#define ebi_atomic_or_acq_rel(p, v)  atomic_fetch_or_explicit((p), (v), memory_order_acq_rel)
#define ebi_atomic_and_acq_rel(p, v) atomic_fetch_and_explicit((p), (v), memory_order_acq_rel)

#define ebi_atomic_exchange_relaxed(p, v) atomic_exchange_explicit((p), (v), memory_order_relaxed)
#define ebi_atomic_exchange_acq_rel(p, v) atomic_exchange_explicit((p), (v), memory_order_acq_rel)

/* Strong CAS; on failure *expected is reloaded (relaxed). */
#define ebi_atomic_cas_relaxed(p, expected, desired)                        \
  atomic_compare_exchange_strong_explicit((p), (expected), (desired),        \
                                          memory_order_relaxed,              \
                                          memory_order_relaxed)
#define ebi_atomic_cas_acq_rel(p, expected, desired)                        \
  atomic_compare_exchange_strong_explicit((p), (expected), (desired),        \
                                          memory_order_acq_rel,              \
                                          memory_order_acquire)

/* The idle-cache handshake (src/thread.c, "taking an idle thread's
 * cache"): its owner-side and drainer-side accesses are ordered by the
 * drainer's membarrier, so they are relaxed (plain moves); ThreadSanitizer
 * cannot see that barrier, so under it they are sequentially consistent,
 * which is the same argument without the barrier.  The _word variants are
 * for plain (not _Atomic) words that a public header's inline code also
 * writes (ebra/pool_inline.h). */
#if defined(EBRA_TSAN)
#define EBI_HANDSHAKE_ORDER memory_order_seq_cst
#define EBI_HANDSHAKE_ORDER_WORD __ATOMIC_SEQ_CST
#else
#define EBI_HANDSHAKE_ORDER memory_order_relaxed
#define EBI_HANDSHAKE_ORDER_WORD __ATOMIC_RELAXED
#endif
#define ebi_atomic_load_handshake(p) atomic_load_explicit((p), EBI_HANDSHAKE_ORDER)
#define ebi_atomic_store_handshake(p, v) atomic_store_explicit((p), (v), EBI_HANDSHAKE_ORDER)
#define ebi_word_load_seq_cst(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ebi_word_add_handshake(p, v) __atomic_fetch_add((p), (v), EBI_HANDSHAKE_ORDER_WORD)
#define ebi_word_sub_handshake(p, v) __atomic_fetch_sub((p), (v), EBI_HANDSHAKE_ORDER_WORD)

/* Orders the compiler's stores, not the CPU's, and costs no instruction.
 * For one thread's stores as another process sees them: x86-64's stores
 * become visible in program order (TSO), so program order is what a fork
 * child's copy can show a prefix of (src/internal.h, ebi_tcache_sync_in).
 * Never a synchronisation between threads: that is what the atomics above
 * are for. */
#define EBI_COMPILER_BARRIER() __asm__ volatile("" ::: "memory")

/* A counter with exactly one writer (its owner thread) and any number of
 * relaxed readers (stats).  No lock prefix on the fast path: on x86-64 the
 * increment is one unlocked `add` to memory, whose store is a single
 * aligned 8-byte write, so a concurrent reader sees the old or the new
 * value, never a torn one; only the owner writes, so no increment is lost.
 * Elsewhere, and under ThreadSanitizer (which cannot see inside the asm),
 * it is a relaxed load and store: the same contract, one instruction more.
 * The reader sees some recent value. */
static inline void ebi_counter_add_owner(_Atomic uint64_t *c, uint64_t n) {
#if defined(__x86_64__) && !defined(EBRA_TSAN)
  __asm__("addq %1, %0" : "+m"(*(uint64_t *)c) : "er"(n));
#else
  ebi_atomic_store_relaxed(c, ebi_atomic_load_relaxed(c) + n);
#endif
}

#endif /* EBI_LOCKFREE_ATOMICS_H */

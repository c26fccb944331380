/* SPDX-License-Identifier: MIT */
/* lockfree/annotate.h — ThreadSanitizer annotations for Concurrency Kit's
 * ck_stack, which the depot uses.  Empty unless built with EBRA_TSAN.
 *
 * Why they are needed (measured: docs/DESIGN.md, "Dependency facts", "TSan
 * and the dependencies" and "TSan annotation scheme"): ck 0.7.1 implements its CAS
 * and loads in inline assembly that TSan does not see.  TSan therefore sees
 * neither the happens-before edge from a push to the pop that takes the same
 * node, nor that the pop's read of `node->next` is a benign speculative read
 * (it is validated by the double-width CAS on {head, generation}).
 *
 * What they do, precisely and per node (never one global sync object, which
 * was measured to hide real bugs):
 *   push:  __tsan_release(node) after the pusher's last access to the node,
 *          then the ck push with TSan ignoring ck's write of node->next;
 *   pop:   the ck pop with TSan ignoring ck's reads of node->next, then
 *          __tsan_acquire(node) on the node it returned.
 * The pusher's accesses to the magazine (rounds, objs[]) and, transitively,
 * to the objects in it, therefore happen before the popper's.  A pusher that
 * touches the node after the push is still reported (seeded in
 * stress/stress_broken.c, which must fail under TSan and ASan).
 */
#ifndef EBI_LOCKFREE_ANNOTATE_H
#define EBI_LOCKFREE_ANNOTATE_H

#if defined(EBRA_TSAN)
#include <sanitizer/tsan_interface.h>
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);

#define EBI_TSAN_PUSH_BEGIN(node)                                            \
  do {                                                                       \
    __tsan_release(node);                                                    \
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);                           \
  } while (0)
#define EBI_TSAN_PUSH_END(node) AnnotateIgnoreWritesEnd(__FILE__, __LINE__)
#define EBI_TSAN_POP_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define EBI_TSAN_POP_END(node)                                               \
  do {                                                                       \
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);                              \
    if (node)                                                                \
      __tsan_acquire(node);                                                  \
  } while (0)
#else
#define EBI_TSAN_PUSH_BEGIN(node) ((void)(node))
#define EBI_TSAN_PUSH_END(node) ((void)(node))
#define EBI_TSAN_POP_BEGIN() ((void)0)
#define EBI_TSAN_POP_END(node) ((void)(node))
#endif

#endif /* EBI_LOCKFREE_ANNOTATE_H */

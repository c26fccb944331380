/* SPDX-License-Identifier: MIT */
/* lockfree/stack.c — push and pop of the annotated mpmc stack (stack.h).
 * Invariants S1-S3 and the ordering argument are in stack.h. */
#include "stack.h"
#include "annotate.h"

uint64_t ebi_stack_push_mpmc(ck_stack_t *st, ck_stack_entry_t *e) {
  uint64_t lost = 0;
  EBI_TSAN_PUSH_BEGIN(e); /* the pusher's last access to e is above */
  while (!ck_stack_trypush_mpmc(st, e))
    lost++;
  EBI_TSAN_PUSH_END(e);
  return lost;
}

ck_stack_entry_t *ebi_stack_pop_mpmc(ck_stack_t *st, uint64_t *lost) {
  ck_stack_entry_t *e = NULL;
  EBI_TSAN_POP_BEGIN();
  while (!ck_stack_trypop_mpmc(st, &e)) {
    if (ck_pr_load_ptr(&st->head) == NULL) { /* empty, not contended */
      e = NULL;
      break;
    }
    ++*lost;
  }
  EBI_TSAN_POP_END(e); /* acquires what the pusher of e released (S1) */
  return e;
}

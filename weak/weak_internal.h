/* SPDX-License-Identifier: MIT */
/* weak/weak_internal.h — the weak floor's internal declarations (weak
 * handles, the weak cache, observers), for this floor and the control floor
 * above it. */
#ifndef EBI_WEAK_INTERNAL_H
#define EBI_WEAK_INTERNAL_H

#include "reclaim_internal.h"

/* ---- weak.c -------------------------------------------------------- */
EBI_INTERNAL_FN ebra_domain_t *ebi_weak_table_domain(const ebra_weak_table_t *t);
/* ebra_weak_get for the floor's own callers, whose table is never NULL: a
 * direct call, no NULL test. */
EBI_INTERNAL_FN void *ebi_weak_resolve(const ebra_weak_table_t *t, ebra_weak_t h);

/* ---- cache.c ------------------------------------------------------- */
/* The live cache at registry id, or NULL; the registry's length.  Registry
 * lock held. */
static inline ebra_cache_t *ebi_cache_registry_at(uint32_t id) {
  return (ebra_cache_t *)ebi_life_at_locked(EBI_KIND_CACHE, id);
}
static inline uint32_t ebi_cache_registry_capacity(void) {
  return ebi_life_capacity_locked(EBI_KIND_CACHE);
}
EBI_INTERNAL_FN const char *ebi_cache_name(const ebra_cache_t *c);

/* ---- weak.c and observer.c: the snapshot's view ------------------------------ */
/* The live weak table / subject at registry id, or NULL; the registries'
 * lengths.  Registry lock held. */
static inline ebra_weak_table_t *ebi_weak_table_registry_at(uint32_t id) {
  return (ebra_weak_table_t *)ebi_life_at_locked(EBI_KIND_WEAK_TABLE, id);
}
static inline uint32_t ebi_weak_table_registry_capacity(void) {
  return ebi_life_capacity_locked(EBI_KIND_WEAK_TABLE);
}
static inline ebra_subject_t *ebi_subject_registry_at(uint32_t id) {
  return (ebra_subject_t *)ebi_life_at_locked(EBI_KIND_SUBJECT, id);
}
static inline uint32_t ebi_subject_registry_capacity(void) {
  return ebi_life_capacity_locked(EBI_KIND_SUBJECT);
}
EBI_INTERNAL_FN const char *ebi_subject_name(const ebra_subject_t *s);
/* A table's name, as configured (its life name). */
EBI_INTERNAL_FN const char *ebi_weak_table_name(const ebra_weak_table_t *t);


#endif /* EBI_WEAK_INTERNAL_H */

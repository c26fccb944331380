/* weak/weak_internal.h — the weak floor's internal declarations (weak
 * handles, the weak cache, observers), for this floor and the control floor
 * above it. */
#ifndef EBRA_WEAK_INTERNAL_H
#define EBRA_WEAK_INTERNAL_H

#include "reclaim_internal.h"

/* ---- weak.c -------------------------------------------------------- */
EBRA_INTERNAL_FN ebra_domain_t *ebra_weak_table_domain(const ebra_weak_table_t *t);

/* ---- cache.c ------------------------------------------------------- */
EBRA_INTERNAL_FN ebra_cache_t *ebra_cache_registry_at(uint32_t id); /* registry lock held */
EBRA_INTERNAL_FN uint32_t ebra_cache_registry_capacity(void);       /* registry lock held */
EBRA_INTERNAL_FN const char *ebra_cache_name(const ebra_cache_t *c);


#endif /* EBRA_WEAK_INTERNAL_H */

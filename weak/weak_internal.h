/* weak/weak_internal.h — the weak floor's internal declarations (weak
 * handles, the weak cache, observers), for this floor and the control floor
 * above it. */
#ifndef EBI_WEAK_INTERNAL_H
#define EBI_WEAK_INTERNAL_H

#include "reclaim_internal.h"

/* ---- weak.c -------------------------------------------------------- */
EBI_INTERNAL_FN ebra_domain_t *ebi_weak_table_domain(const ebra_weak_table_t *t);

/* ---- cache.c ------------------------------------------------------- */
EBI_INTERNAL_FN ebra_cache_t *ebi_cache_registry_at(uint32_t id); /* registry lock held */
EBI_INTERNAL_FN uint32_t ebi_cache_registry_capacity(void);       /* registry lock held */
EBI_INTERNAL_FN const char *ebi_cache_name(const ebra_cache_t *c);


#endif /* EBI_WEAK_INTERNAL_H */

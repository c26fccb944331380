/* SPDX-License-Identifier: MIT */
/** @file ebra.h
 * @brief umbrella header: a lock-free concurrent allocator with
 * epoch-based weak reclamation.  Each API area has its own header. */
#ifndef EBRA_H
#define EBRA_H

#include "ebra/version.h"
#include "ebra/error.h"
#include "ebra/options.h"
#include "ebra/pool.h"
#include "ebra/pool_inline.h"
#include "ebra/reclaim.h"
#include "ebra/weak.h"
#include "ebra/cache.h"
#include "ebra/observer.h"
#include "ebra/monitor.h"
#include "ebra/engine.h"
#include "ebra/malloc.h"

#endif /* EBRA_H */

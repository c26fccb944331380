/* SPDX-License-Identifier: MIT */
/** @file ebra/version.h
 * @brief the version of the headers (compile time) and of the
 * library (run time, ebra_version()).  CMake reads the version from this
 * file, so the package, the shared library's name and these agree. */
#ifndef EBRA_VERSION_H
#define EBRA_VERSION_H

#include "ebra/export.h"

#define EBRA_VERSION_MAJOR 0         /**< incompatible API or ABI changes */
#define EBRA_VERSION_MINOR 2         /**< compatible additions */
#define EBRA_VERSION_PATCH 0         /**< fixes */
#define EBRA_VERSION_STRING "0.2.0" /**< "MAJOR.MINOR.PATCH" */
/** One number that orders versions: major * 10000 + minor * 100 + patch. */
#define EBRA_VERSION \
  (EBRA_VERSION_MAJOR * 10000 + EBRA_VERSION_MINOR * 100 + EBRA_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/** Returns the library's version string ("0.2.0"), which may differ from
 * EBRA_VERSION_STRING when a program runs against another build of the
 * shared library than it was compiled with.  Never NULL; thread-safe. */
EBRA_API const char *ebra_version(void);

/** Returns the library's EBRA_VERSION number.  Thread-safe. */
EBRA_API unsigned ebra_version_number(void);

#ifdef __cplusplus
}
#endif
#endif /* EBRA_VERSION_H */

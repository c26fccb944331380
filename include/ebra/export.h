/* SPDX-License-Identifier: MIT */
/** @file ebra/export.h
 * @brief symbol visibility.  The library is built with
 * -fvisibility=hidden; only declarations marked EBRA_API are exported. */
#ifndef EBRA_EXPORT_H
#define EBRA_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define EBRA_API __attribute__((visibility("default"))) /**< exported from libebra.so */
#else
#define EBRA_API /**< exported from libebra.so */
#endif

#endif /* EBRA_EXPORT_H */

/* SPDX-License-Identifier: MIT */
/* clock.h — the monotonic clock of the unit tests, stress tests and
 * benchmarks (C and C++).
 *
 * Every time here is CLOCK_MONOTONIC in nanoseconds (or milliseconds where
 * the name says so): deadlines are computed as now_ns() + span and compared
 * with now_ns(), never with the wall clock.  The sleeps restart after a
 * signal and sleep at least as long as asked.
 */
#ifndef EBRA_TEST_CLOCK_H
#define EBRA_TEST_CLOCK_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t now_ms(void) { return now_ns() / 1000000u; }

/* Sleep until now_ns() >= deadline_ns. */
static inline void sleep_until_ns(uint64_t deadline_ns) {
  struct timespec ts;
  ts.tv_sec = (time_t)(deadline_ns / 1000000000u);
  ts.tv_nsec = (long)(deadline_ns % 1000000000u);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static inline void sleep_ns(uint64_t ns) { sleep_until_ns(now_ns() + ns); }
static inline void sleep_us(uint64_t us) { sleep_ns(us * 1000u); }
static inline void sleep_ms(uint64_t ms) { sleep_ns(ms * 1000000u); }

#endif /* EBRA_TEST_CLOCK_H */

# SPDX-License-Identifier: MIT
# stress/reclaim.cmake — stress tests of reclamation domains and weak
# handles (label "stress").  Included from stress/CMakeLists.txt.
#
# stress_weak runs one mode per test, for each backend:
#   readers    objects reached in a section stay intact until the outermost
#              unlock; nested sections; stale handles resolve to NULL
#   callbacks  K cleanups per object, each exactly once, after the kill
#   leaks      everything drains; pool audit clean; nothing leaks (LSan)
#   stall      a reader holding a section stalls reclamation only
#   churn      short threads auto-register and unregister at exit
# Each test uses 8 threads (2 writers, 6 readers) on this 2-core machine;
# durations shrink under TSan/ASan inside the program (ebra_build_features).
#
# Under TSan (EBRA_TSAN) the same program is also built with a seeded bug
# per backend, and passes only if TSan reports the data race:
#   STRESS_BROKEN=1  free without a grace period (ebra_pool_free of an
#                    object readers still read through ebra_deref)
#   STRESS_BROKEN=2  use after unlock (reads after ebra_read_unlock)
# Every test gets the TSan suppressions of dependency internals
# (reclaim/tsan.supp); the variable is ignored by non-TSan builds.

# Failure reporting, options, RNG and threads shared with the pool stress tests.
set(_ebra_stress_util ${CMAKE_CURRENT_SOURCE_DIR}/stress_util.c)

set(EBRA_RECLAIM_TSAN_ENV
    "TSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/reclaim/tsan.supp halt_on_error=0")

set(_ebra_stress_weak_modes readers callbacks leaks stall churn)
set(_ebra_stress_weak_backends memb qsbr ck)

foreach(_be ${_ebra_stress_weak_backends})
  foreach(_mode ${_ebra_stress_weak_modes})
    set(_name stress_weak_${_mode}_${_be})
    ebra_add_test(NAME ${_name} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/stress_weak.c ${_ebra_stress_util}
                  LABELS stress reclaim
                  ARGS -b ${_be} -m ${_mode} -t 8 -w 2 -d 2500 -s 1
                  TIMEOUT 120)
    set_tests_properties(${_name} PROPERTIES ENVIRONMENT "${EBRA_RECLAIM_TSAN_ENV}")
  endforeach()
endforeach()

if(EBRA_TSAN)
  foreach(_be ${_ebra_stress_weak_backends})
    foreach(_bug 1 2)
      set(_name stress_weak_broken${_bug}_${_be})
      ebra_add_test(NAME ${_name} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/stress_weak.c ${_ebra_stress_util}
                    LABELS stress reclaim broken
                    ARGS -b ${_be} -m readers -t 8 -w 2 -d 2500 -s 1
                    DEFINES STRESS_BROKEN=${_bug}
                    TIMEOUT 120)
      # Passes only if TSan names a data race (not on any other failure).
      set_tests_properties(${_name} PROPERTIES ENVIRONMENT "${EBRA_RECLAIM_TSAN_ENV}"
                           PASS_REGULAR_EXPRESSION "WARNING: ThreadSanitizer: data race")
    endforeach()
  endforeach()
endif()

# Weak cache and weak observers (weak/cache.c, weak/observer.c), 8
# threads each (see the comment at the top of each file for the properties
# checked):
#   stress_cache     3 writers (store, erase, kill, maintain) against 5
#                    readers: canary and key of every object looked up, no
#                    erased key found, on_evict exactly once per entry with
#                    the right reason, size <= max_entries.  liburcu
#                    backends only (the cache refuses ck-epoch).
#   stress_observer  5 churners (subscribe, unsubscribe, kill) against 3
#                    notifiers: no callback after the observer's cleanup,
#                    at most once per notify, every observer subscribed
#                    before a notify and alive after it called by it.
foreach(_be memb qsbr)
  ebra_add_test(NAME stress_cache_${_be}
                SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/stress_cache.c ${_ebra_stress_util}
                LABELS stress reclaim ARGS -b ${_be} -t 8 -w 3 -d 2500 -s 1 TIMEOUT 120)
  set_tests_properties(stress_cache_${_be} PROPERTIES ENVIRONMENT "${EBRA_RECLAIM_TSAN_ENV}")
endforeach()
foreach(_be ${_ebra_stress_weak_backends})
  ebra_add_test(NAME stress_observer_${_be}
                SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/stress_observer.c ${_ebra_stress_util}
                LABELS stress reclaim ARGS -b ${_be} -t 8 -c 5 -d 2500 -s 1 TIMEOUT 120)
  set_tests_properties(stress_observer_${_be} PROPERTIES ENVIRONMENT "${EBRA_RECLAIM_TSAN_ENV}")
endforeach()
if(EBRA_TSAN)
  # Seeded bug: a reader reads looked-up objects after ebra_read_unlock.
  # Passes only if TSan names the race with the object's reuse.  Whether
  # TSan sees the workload's stale reads depends on the scheduling (it keeps
  # a few recent accesses per 8 bytes, and two CI runs on a loaded machine
  # missed them), so the program ends with one stale read in a fixed order
  # that TSan reports every time (seeded_stale_read in stress_cache.c).
  ebra_add_test(NAME stress_cache_broken_memb
                SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/stress_cache.c ${_ebra_stress_util}
                LABELS stress reclaim broken ARGS -b memb -t 8 -w 3 -d 2500 -s 1
                DEFINES STRESS_BROKEN=1 TIMEOUT 120)
  set_tests_properties(stress_cache_broken_memb PROPERTIES ENVIRONMENT "${EBRA_RECLAIM_TSAN_ENV}"
                       PASS_REGULAR_EXPRESSION "WARNING: ThreadSanitizer: data race")
endif()

# Reclamation under pressure and at its edges (stress_edges.c; see the
# comment at its top for each mode's property): the backlog bound at 2, 4
# and 8 threads, a stall reported within 2x its threshold, destroy after
# chains of deferred calls and cleanups that call into the domain, table
# destroy while readers resolve stale handles, kills and retires with
# allocation failing.  Every backend.
foreach(_be ${_ebra_stress_weak_backends})
  foreach(_t 2 4 8)
    ebra_add_test(NAME stress_edges_backlog${_t}_${_be}
                  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/stress_edges.c ${_ebra_stress_util}
                  LABELS stress reclaim ARGS -b ${_be} -m backlog -t ${_t} -d 1000 -s 1
                  TIMEOUT 120)
    set_tests_properties(stress_edges_backlog${_t}_${_be} PROPERTIES ENVIRONMENT
                         "${EBRA_RECLAIM_TSAN_ENV}")
  endforeach()
  foreach(_mode stall chain tdestroy nomem)
    ebra_add_test(NAME stress_edges_${_mode}_${_be}
                  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/stress_edges.c ${_ebra_stress_util}
                  LABELS stress reclaim ARGS -b ${_be} -m ${_mode} -t 8 -d 1000 -s 1
                  TIMEOUT 120)
    set_tests_properties(stress_edges_${_mode}_${_be} PROPERTIES ENVIRONMENT
                         "${EBRA_RECLAIM_TSAN_ENV}")
  endforeach()
endforeach()

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

set(EBRA_RECLAIM_TSAN_ENV
    "TSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/reclaim/tsan.supp halt_on_error=0")

set(_ebra_stress_weak_modes readers callbacks leaks stall churn)
set(_ebra_stress_weak_backends memb qsbr ck)

foreach(_be ${_ebra_stress_weak_backends})
  foreach(_mode ${_ebra_stress_weak_modes})
    set(_name stress_weak_${_mode}_${_be})
    ebra_add_test(NAME ${_name} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/stress_weak.c
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
      ebra_add_test(NAME ${_name} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/stress_weak.c
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

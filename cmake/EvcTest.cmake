# evc_add_criterion_test(<name> SOURCES ... [LIBS ...] [LABELS ...] [TIMEOUT s]
#                        [ENV VAR=value ...] [INTERNAL])
#
# INTERNAL links the static evc_core_internal (same objects as libevc_core.so,
# with core/src on the include path) instead of libevc_core.so: for white-box
# tests of functions that libevc_core.so does not export.
#
# Builds a Criterion test executable and registers it with ctest. Criterion
# runs each test in a forked child of a fresh exec; --jobs is left to the
# default (one worker per core) unless a suite sets EVC_TEST_JOBS.
function(evc_add_criterion_test name)
  cmake_parse_arguments(T "INTERNAL" "TIMEOUT;JOBS" "SOURCES;LIBS;LABELS;ENV" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  if(T_INTERNAL)
    target_link_libraries(${name} PRIVATE evc_core_internal PkgConfig::CRITERION ${T_LIBS})
  else()
    target_link_libraries(${name} PRIVATE evc_core PkgConfig::CRITERION ${T_LIBS})
  endif()
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_compile_definitions(${name} PRIVATE
    EVC_TEST_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    EVC_TEST_BINARY_DIR="${CMAKE_BINARY_DIR}")
  set(args --short-filename)
  if(T_JOBS)
    list(APPEND args --jobs ${T_JOBS})
  endif()
  add_test(NAME ${name} COMMAND ${name} ${args})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
  # Criterion's runner itself leaks a few bytes at exit under LeakSanitizer;
  # tests/lsan.supp suppresses frames of libcriterion only.
  list(APPEND T_ENV "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp")
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${T_ENV}")
  if(EVC_SANITIZE)
    # Criterion counts a test as passed before the sanitizers report at the
    # child's exit, so a leak or UB report would not fail it: ctest does.
    set_tests_properties(${name} PROPERTIES FAIL_REGULAR_EXPRESSION
      "ERROR: LeakSanitizer|ERROR: AddressSanitizer|runtime error:")
  endif()
endfunction()

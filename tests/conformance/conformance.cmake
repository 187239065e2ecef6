# Helpers of the conformance tests, which run the evc-conformance program
# (tools/evc_conformance: the one copy of the checks) against the in-tree
# plugins, each with its fixture module.

# evc_add_conformance_fixture(<name> SOURCES ... [LIBS ...] [INCS ...])
# builds build/tests/fixtures/evc_fixture_<name>.so, the --fixture module.
function(evc_add_conformance_fixture name)
  cmake_parse_arguments(F "" "" "SOURCES;LIBS;INCS" ${ARGN})
  set(t evc_fixture_${name})
  add_library(${t} MODULE ${F_SOURCES})
  set_target_properties(${t} PROPERTIES PREFIX "" OUTPUT_NAME ${t}
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/fixtures)
  target_include_directories(${t} PRIVATE ${F_INCS})
  target_link_libraries(${t} PRIVATE ${F_LIBS})
endfunction()

# evc_add_conformance_run(<test> [EXPECT_EXIT n] [EXPECT_FAIL check] [TIMEOUT s]
#                         [LABELS ...] [WRAP command...]
#                         ARGS <evc-conformance arguments>...)
# registers ctest <test>: [WRAP] evc-conformance ARGS, checked by
# conformance_run.sh (exit code, table rows, PASS everywhere, SKIPs with
# reasons for exit 3, or FAIL of the named check). With NO_TOOL the WRAP
# command runs an evc-conformance of its own (an installed one) and takes no
# ARGS.
function(evc_add_conformance_run name)
  cmake_parse_arguments(R "NO_TOOL" "EXPECT_EXIT;EXPECT_FAIL;TIMEOUT" "ARGS;LABELS;WRAP" ${ARGN})
  if(NOT DEFINED R_EXPECT_EXIT)
    set(R_EXPECT_EXIT 0)
  endif()
  if(NOT R_EXPECT_FAIL)
    set(R_EXPECT_FAIL -)
  endif()
  if(NOT R_TIMEOUT)
    set(R_TIMEOUT 600)
  endif()
  if(NOT R_LABELS)
    set(R_LABELS conformance)
  endif()
  if(R_NO_TOOL)
    set(_tool)
  else()
    set(_tool $<TARGET_FILE:evc_conformance>)
  endif()
  add_test(NAME ${name}
    COMMAND sh ${CMAKE_SOURCE_DIR}/tests/conformance/conformance_run.sh
            ${R_EXPECT_EXIT} ${R_EXPECT_FAIL} -- ${R_WRAP} ${_tool} ${R_ARGS})
  set_tests_properties(${name} PROPERTIES LABELS "${R_LABELS}" TIMEOUT ${R_TIMEOUT})
endfunction()

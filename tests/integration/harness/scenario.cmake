# The multi-process scenario harness shared by tests/integration/*: spawn the
# programs, wait on conditions with deadlines, Central's HTTP API, the DB.
# Included by every scenario folder (they may be configured before this one).
include_guard(GLOBAL)
add_library(evc_it_harness STATIC
  ${CMAKE_CURRENT_LIST_DIR}/h_proc.c ${CMAKE_CURRENT_LIST_DIR}/h_net.c
  ${CMAKE_CURRENT_LIST_DIR}/h_env.c ${CMAKE_CURRENT_LIST_DIR}/h_db.c
  ${CMAKE_CURRENT_LIST_DIR}/h_expect.c
  ${CMAKE_CURRENT_LIST_DIR}/h_pty.c ${CMAKE_CURRENT_LIST_DIR}/h_http.c
  ${CMAKE_SOURCE_DIR}/tests/common/proc.c)
target_include_directories(evc_it_harness PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(evc_it_harness PUBLIC PkgConfig::CRITERION PkgConfig::JANSSON
  PkgConfig::SQLITE util)
target_compile_definitions(evc_it_harness PRIVATE
  EVC_TEST_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
  EVC_TEST_BINARY_DIR="${CMAKE_BINARY_DIR}")

# evc_add_scenario_suite(<name> SOURCES ... [TIMEOUT s] [BUS_PUBLISH]
# [SUPPLY_CHECKS]): the suite once per transport, <name>_zmq and <name>_kafka
# (label integration), compiled with H_BUS set. BUS_PUBLISH adds
# h_bus_publish (h_buspub.c, linking evc_core: messages written on the bus
# through the project's own plugin); SUPPLY_CHECKS the ledger checks of
# tests/integration/supply. One Criterion worker: each scenario already runs
# several processes on the machine's two cores.
function(evc_add_scenario_suite name)
  cmake_parse_arguments(S "BUS_PUBLISH;SUPPLY_CHECKS" "TIMEOUT" "SOURCES" ${ARGN})
  if(NOT S_TIMEOUT)
    set(S_TIMEOUT 300)
  endif()
  set(extra "")
  if(S_BUS_PUBLISH)
    list(APPEND extra ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/h_buspub.c)
  endif()
  if(S_SUPPLY_CHECKS)
    list(APPEND extra ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../supply/supply_checks.c)
  endif()
  foreach(bus zmq kafka)
    string(TOUPPER ${bus} BUS)
    evc_add_criterion_test(${name}_${bus} SOURCES ${S_SOURCES} ${extra} LIBS evc_it_harness
      LABELS integration TIMEOUT ${S_TIMEOUT} JOBS 1)
    if(S_BUS_PUBLISH)
      target_link_libraries(${name}_${bus} PRIVATE evc_core)
    endif()
    if(S_SUPPLY_CHECKS)
      target_include_directories(${name}_${bus} PRIVATE
        ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../supply)
    endif()
    # Alone on the machine: a scenario's timeouts (heartbeats, Kafka group
    # joins) are real ones, and two scenario suites side by side on two cores
    # made them miss.
    set_tests_properties(${name}_${bus} PROPERTIES RUN_SERIAL TRUE)
    target_compile_definitions(${name}_${bus} PRIVATE H_BUS=H_${BUS} H_BUS_${BUS}=1
      H_BUS_NAME="${bus}")
    # The programs and plugins the scenarios run.
    foreach(dep EV_Central EV_CP_E EV_CP_M EV_Driver evc_zmq_proxy evc_kafka_mock evc-it-bustap
                evc_transport_zmq evc_transport_kafka evc_store_sqlite)
      if(TARGET ${dep})
        add_dependencies(${name}_${bus} ${dep})
      endif()
    endforeach()
  endforeach()
endfunction()

# evc-it-bustap: records a ZeroMQ bus for assertions on what was published.
add_executable(evc-it-bustap ${CMAKE_CURRENT_LIST_DIR}/bustap.c)
target_link_libraries(evc-it-bustap PRIVATE PkgConfig::ZMQ)
set_target_properties(evc-it-bustap PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

# Manual pages (section 1) for the installed programs, made from each one's
# --help by help2man, so that a page never says something --help does not
# (docs/OPERATIONS.md "Packages"). Off by default: `make package` turns it on
# (-DEVC_MAN_PAGES=ON), and then help2man is required (scripts/install-deps.sh
# installs it). help2man runs the freshly built program, so the pages follow
# the build's options.
option(EVC_MAN_PAGES "Build manual pages from --help with help2man" OFF)
if(NOT EVC_MAN_PAGES)
  return()
endif()
find_program(EVC_HELP2MAN help2man REQUIRED)

# evc_man_page(<target> <install component> <one-line summary>)
function(evc_man_page target component summary)
  if(NOT TARGET ${target})
    return()  # a program this configuration does not build (e.g. -DEVC_OCPP=OFF)
  endif()
  get_target_property(name ${target} OUTPUT_NAME)
  if(NOT name)
    set(name ${target})
  endif()
  set(page ${CMAKE_BINARY_DIR}/man/${name}.1)
  # --version-string: the tools have no --version; one version for all.
  add_custom_command(
    OUTPUT ${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
    COMMAND ${EVC_HELP2MAN} --no-info --no-discard-stderr
            --version-string=${PROJECT_VERSION} --name=${summary}
            --output=${page} $<TARGET_FILE:${target}>
    COMMAND gzip -9nf ${page}
    DEPENDS ${target}
    COMMENT "Manual page ${name}(1)"
    VERBATIM)
  add_custom_target(man_${target} ALL DEPENDS ${page}.gz)
  install(FILES ${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT ${component})
endfunction()

evc_man_page(EV_Central programs "EVCharging control centre")
evc_man_page(EV_CP_E programs "EVCharging charging point engine")
evc_man_page(EV_CP_M programs "EVCharging charging point health monitor")
evc_man_page(EV_Driver programs "EVCharging driver application")
evc_man_page(EV_OCPP_GW programs "EVCharging OCPP 1.6J gateway for real chargers")
evc_man_page(evc_zmq_proxy tools "EVCharging standalone ZeroMQ bus proxy")
evc_man_page(evc_kafka_mock tools "librdkafka mock Kafka cluster for EVCharging tests")
evc_man_page(evc_loadgen tools "EVCharging load generator")
evc_man_page(evc_conformance dev "conformance checks for EVCharging plugins")

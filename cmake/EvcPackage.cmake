# Debian packages with CPack (`make package`, docs/OPERATIONS.md "Packages").
#
# Why CPack and not debhelper: the install rules already say which file goes to
# which component (COMPONENT core, programs, dev, web, tools, transport-zmq, ...),
# so one `cpack -G DEB` from the same build dir turns each component into one
# .deb without a second description of the file lists in debian/*.install, and
# without building the tree a second time under dpkg-buildpackage. Depends are
# still computed from the binaries by dpkg-shlibdeps (SHLIBDEPS ON below); only
# the links between our own packages are written here.
#
# The version is project(VERSION) and nothing else; the packages are meant to
# be built from a tree configured with CMAKE_INSTALL_PREFIX=/usr (the Makefile's
# `package` target does), so GNUInstallDirs gives Debian's multiarch libdir and
# /etc for the conffiles.

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME evcharging)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "EVCharging")
set(CPACK_PACKAGE_CONTACT "EVCharging maintainers <evcharging@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.org/evcharging")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Our programs and plugins need libevc_core.so.0 from the core package:
# dpkg-shlibdeps finds it in that package's staging dir through this.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS
    ${CMAKE_BINARY_DIR}/_CPack_Packages/Linux/DEB/${CPACK_PACKAGE_NAME}-${PROJECT_VERSION}-Linux/core${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR})
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# Files under /etc are conffiles (kept over an upgrade when the admin edited them).
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Strip the binaries of the package build (the debug info stays in the build dir).
set(CPACK_STRIP_FILES ON)

# A native version (no Debian revision): the packages are built from this tree.
set(_v "${PROJECT_VERSION}")
set(_core "libevc-core${PROJECT_VERSION_MAJOR}")

set(_pkgdir ${CMAKE_BINARY_DIR}/packaging)
set(_deb ${CMAKE_SOURCE_DIR}/packaging/debian)
# Every package's copyright and changelog (Debian policy 12.5, 12.7).
string(TIMESTAMP EVC_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${_deb}/changelog.in ${_pkgdir}/changelog @ONLY)
execute_process(COMMAND gzip -9nc ${_pkgdir}/changelog OUTPUT_FILE ${_pkgdir}/changelog.gz
                COMMAND_ERROR_IS_FATAL ANY)

# evc_deb(<component> <package> <description> [DEPENDS ...] [RECOMMENDS ...]
#         [SUGGESTS ...] [EXTRA <control files>] [OVERRIDES <lintian overrides file>])
function(evc_deb comp pkg summary)
  cmake_parse_arguments(D "" "OVERRIDES" "DEPENDS;RECOMMENDS;SUGGESTS;EXTRA" ${ARGN})
  string(TOUPPER ${comp} C)
  set(CPACK_DEBIAN_${C}_PACKAGE_NAME ${pkg} PARENT_SCOPE)
  set(CPACK_COMPONENT_${C}_DESCRIPTION "${summary}" PARENT_SCOPE)
  string(REPLACE ";" ", " deps "${D_DEPENDS}")
  set(CPACK_DEBIAN_${C}_PACKAGE_DEPENDS "${deps}" PARENT_SCOPE)
  string(REPLACE ";" ", " rec "${D_RECOMMENDS}")
  set(CPACK_DEBIAN_${C}_PACKAGE_RECOMMENDS "${rec}" PARENT_SCOPE)
  string(REPLACE ";" ", " sug "${D_SUGGESTS}")
  set(CPACK_DEBIAN_${C}_PACKAGE_SUGGESTS "${sug}" PARENT_SCOPE)
  if(D_EXTRA)
    set(CPACK_DEBIAN_${C}_PACKAGE_CONTROL_EXTRA "${D_EXTRA}" PARENT_SCOPE)
  endif()
  install(FILES ${_deb}/copyright.in RENAME copyright
          DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${pkg} COMPONENT ${comp})
  install(FILES ${_pkgdir}/changelog.gz
          DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${pkg} COMPONENT ${comp})
  if(D_OVERRIDES)
    install(FILES ${D_OVERRIDES} RENAME ${pkg}
            DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides COMPONENT ${comp})
  endif()
endfunction()

evc_deb(core ${_core}
  "EV charging network middleware - core library\n The runtime of EVCharging: configuration, logging, the event loop\n glue and the plugin loader that every program and plugin links against."
  EXTRA "${_deb}/triggers" OVERRIDES ${_deb}/core-lintian-overrides)
set(CPACK_DEBIAN_CORE_PACKAGE_SECTION libs)
evc_deb(programs evcharging
  "EV charging network middleware - programs\n EV_Central, EV_CP_E (charging point engine), EV_CP_M (charging point\n monitor) and EV_Driver, with systemd units and the configuration in\n /etc/evcharging.  Needs one transport plugin (ZeroMQ or Kafka) and the\n SQLite store plugin."
  DEPENDS "${_core} (= ${_v})" "evcharging-store-sqlite (= ${_v})"
          "evcharging-transport-zmq (= ${_v}) | evcharging-transport-kafka (= ${_v})"
  RECOMMENDS "evcharging-web (= ${_v})"
  SUGGESTS "evcharging-tools"
  EXTRA "${_pkgdir}/conffiles;${_pkgdir}/postinst;${_pkgdir}/postrm")
evc_deb(transport-zmq evcharging-transport-zmq
  "EV charging network middleware - ZeroMQ transport plugin\n The bus over ZeroMQ (XSUB/XPUB proxy in EV_Central or evc-zmq-proxy)."
  DEPENDS "${_core} (= ${_v})")
evc_deb(transport-kafka evcharging-transport-kafka
  "EV charging network middleware - Kafka transport plugin\n The bus over Apache Kafka (librdkafka)."
  DEPENDS "${_core} (= ${_v})")
evc_deb(store-sqlite evcharging-store-sqlite
  "EV charging network middleware - SQLite store plugin\n EV_Central's database and the engines' journals in SQLite."
  DEPENDS "${_core} (= ${_v})")
evc_deb(dev libevc-dev
  "EV charging network middleware - plugin SDK\n Headers, pkg-config file and CMake package to build EVCharging plugins\n out of tree, and evc-conformance, the conformance checks to run on\n any plugin."
  DEPENDS "${_core} (= ${_v})" "libuv1-dev")
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
if(EVC_WEB)  # without the dashboards' build there is nothing to ship
evc_deb(web evcharging-web
  "EV charging network middleware - web dashboards\n The static files of the Central, driver and monitor dashboards.")
set(CPACK_DEBIAN_WEB_PACKAGE_ARCHITECTURE all)
endif()
evc_deb(tools evcharging-tools
  "EV charging network middleware - tools\n evc-zmq-proxy (standalone ZeroMQ bus proxy, with a systemd unit),\n evc-kafka-mock (librdkafka's mock cluster, for tests) and evc-loadgen."
  DEPENDS
  EXTRA "${_pkgdir}/tools/postinst;${_pkgdir}/tools/conffiles")

# The maintainer scripts and the conffiles list, with the paths of this build.
set(EVC_SYSCONF ${CMAKE_INSTALL_FULL_SYSCONFDIR}/evcharging)
configure_file(${CMAKE_SOURCE_DIR}/packaging/debian/conffiles.in ${_pkgdir}/conffiles @ONLY)
configure_file(${CMAKE_SOURCE_DIR}/packaging/debian/tools-conffiles.in ${_pkgdir}/tools/conffiles @ONLY)
foreach(s postinst postrm)
  configure_file(${CMAKE_SOURCE_DIR}/packaging/debian/${s}.in ${_pkgdir}/${s} @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                  WORLD_READ WORLD_EXECUTE)
endforeach()
configure_file(${CMAKE_SOURCE_DIR}/packaging/debian/tools-postinst.in ${_pkgdir}/tools/postinst @ONLY
               FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                WORLD_READ WORLD_EXECUTE)

# The systemd units and the configuration under /etc (conffiles).
set(EVC_UNIT_DIR "lib/systemd/system" CACHE STRING "systemd unit directory (relative to the prefix)")
install(FILES ${CMAKE_SOURCE_DIR}/packaging/systemd/evcharging-central.service
              ${CMAKE_SOURCE_DIR}/packaging/systemd/evcharging-cp-engine@.service
              ${CMAKE_SOURCE_DIR}/packaging/systemd/evcharging-cp-monitor@.service
        DESTINATION ${EVC_UNIT_DIR} COMPONENT programs)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/systemd/evcharging-zmq-proxy.service
        DESTINATION ${EVC_UNIT_DIR} COMPONENT tools)
if(TARGET EV_OCPP_GW)  # -DEVC_OCPP=OFF builds no gateway
  install(FILES ${CMAKE_SOURCE_DIR}/packaging/systemd/evcharging-ocpp-gateway.service
          DESTINATION ${EVC_UNIT_DIR} COMPONENT programs)
  install(FILES ${CMAKE_SOURCE_DIR}/packaging/etc/ocpp-gateway.env
          DESTINATION ${EVC_SYSCONF} COMPONENT programs)
endif()
install(FILES ${CMAKE_SOURCE_DIR}/config/evcharging.yaml ${CMAKE_SOURCE_DIR}/config/kafka.yaml
              ${CMAKE_SOURCE_DIR}/config/services.txt ${CMAKE_SOURCE_DIR}/packaging/etc/central.env
        DESTINATION ${EVC_SYSCONF} COMPONENT programs)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/etc/cp/example.env
        DESTINATION ${EVC_SYSCONF}/cp COMPONENT programs)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/etc/zmq-proxy.env
        DESTINATION ${EVC_SYSCONF} COMPONENT tools)

include(CPack)

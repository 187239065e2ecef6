# The SDK's install rules, included from core/CMakeLists.txt (after the
# evc_core target exists). Components, for packaging:
#   core  libevc_core.so.<major> and its versioned file (the runtime)
#   dev   headers, the libevc_core.so link, evc.pc, the CMake package
#         (evcConfig.cmake, evcConfigVersion.cmake, evcTargets*.cmake,
#         EvcPlugin.cmake)
# Plugins install in their own components (cmake/EvcPlugin.cmake).
include(CMakePackageConfigHelpers)

# The plugin ABI is defined once, in evc/plugin.h; the .pc and the CMake
# package repeat it for build scripts that want to check it.
file(STRINGS ${CMAKE_CURRENT_SOURCE_DIR}/include/evc/plugin.h _abi_lines
     REGEX "^#define EVC_ABI_(MAJOR|MINOR) [0-9]+")
foreach(_l IN LISTS _abi_lines)
  string(REGEX MATCH "EVC_ABI_(MAJOR|MINOR) ([0-9]+)" _m "${_l}")
  set(EVC_ABI_${CMAKE_MATCH_1} ${CMAKE_MATCH_2})
endforeach()
if(NOT DEFINED EVC_ABI_MAJOR OR NOT DEFINED EVC_ABI_MINOR)
  message(FATAL_ERROR "cannot read EVC_ABI_MAJOR/MINOR from evc/plugin.h")
endif()

set(EVC_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/evc)

install(TARGETS evc_core EXPORT evcTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT core NAMELINK_COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/evc
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev
  PATTERN "*.in" EXCLUDE)
install(FILES ${EVC_GENERATED_INCLUDE_DIR}/evc/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/evc COMPONENT dev)

install(EXPORT evcTargets NAMESPACE evc:: DESTINATION ${EVC_CMAKE_INSTALL_DIR} COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/evcConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/evcConfig.cmake
  INSTALL_DESTINATION ${EVC_CMAKE_INSTALL_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR EVC_INSTALL_PLUGIN_DIR)
# SameMajorVersion: the SONAME carries the major, so any 0.x asks for 0.y >= x.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/evcConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/evcConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/evcConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/EvcPlugin.cmake
  DESTINATION ${EVC_CMAKE_INSTALL_DIR} COMPONENT dev)

# evc.pc finds its prefix from its own location (${pcfiledir}), so an install
# moved elsewhere, or made with `cmake --install --prefix`, stays correct.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(EVC_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(EVC_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  # <prefix>/<libdir>/pkgconfig -> one ".." per component of libdir, plus one.
  string(REGEX REPLACE "[^/]+" ".." _up "${CMAKE_INSTALL_LIBDIR}")
  set(EVC_PC_PREFIX "\${pcfiledir}/../${_up}")
  set(EVC_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(EVC_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(EVC_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# See core/CMakeLists.txt: a sanitized core's users link the runtimes.
set(EVC_PC_EXTRA_LIBS "")
if(EVC_SANITIZE)
  set(EVC_PC_EXTRA_LIBS " -fsanitize=address,undefined")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/evc.pc.in ${CMAKE_CURRENT_BINARY_DIR}/evc.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/evc.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# evc_add_plugin(<kind> <name> SOURCES ... [LIBS ...] [COMPONENT <component>])
#
# Turns a plugin folder into <build>/plugins/evc_<kind>_<name>.so: a MODULE
# library with hidden visibility (only EVC_PLUGIN_EXPORT symbols leave it),
# linked against libevc_core.so (target evc::core) with --no-undefined so a
# missing symbol fails the build instead of the dlopen, installed to
# <libdir>/evc/plugins in the install component <kind>-<name>
# ("transport-zmq", "store-sqlite") unless COMPONENT says otherwise, so that
# each plugin can be packaged on its own.
#
# The same file serves the source tree (included by the top CMakeLists.txt)
# and plugin authors out of tree (installed with the SDK and included by
# find_package(evc)); it only needs the target evc::core to exist.
include_guard(GLOBAL)
include(GNUInstallDirs)

function(evc_add_plugin kind name)
  cmake_parse_arguments(P "" "COMPONENT" "SOURCES;LIBS" ${ARGN})
  if(NOT kind MATCHES "^(transport|store)$")
    message(FATAL_ERROR "evc_add_plugin: kind must be transport or store, not '${kind}'")
  endif()
  if(NOT name MATCHES "^[a-z0-9_]+$")
    message(FATAL_ERROR "evc_add_plugin: name '${name}' must match [a-z0-9_]+ "
                        "(it is the file name and the config value that selects the plugin)")
  endif()
  if(NOT TARGET evc::core)
    message(FATAL_ERROR "evc_add_plugin: target evc::core is missing: call find_package(evc) first")
  endif()
  if(NOT P_COMPONENT)
    set(P_COMPONENT ${kind}-${name})
  endif()
  # In the source tree the top CMakeLists.txt sets both; out of tree the
  # defaults match what the loader searches (docs/PLUGINS.md).
  set(out_dir ${EVC_PLUGIN_OUTPUT_DIR})
  if(NOT out_dir)
    set(out_dir ${CMAKE_BINARY_DIR}/plugins)
  endif()
  set(install_dir ${EVC_INSTALL_PLUGIN_DIR})
  if(NOT install_dir)
    set(install_dir ${CMAKE_INSTALL_LIBDIR}/evc/plugins)
  endif()
  # $ORIGIN/../.. is <libdir> when the plugin sits in <libdir>/evc/plugins of
  # the prefix holding libevc_core; EVC_LIBRARY_DIR (set by find_package(evc))
  # covers a plugin installed elsewhere. The host has the core loaded before
  # it dlopens a plugin, so the RPATH matters only to tools such as ldd.
  set(rpath "$ORIGIN/../..")
  if(EVC_LIBRARY_DIR)
    list(APPEND rpath ${EVC_LIBRARY_DIR})
  endif()

  set(target evc_${kind}_${name})
  add_library(${target} MODULE ${P_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${target}
    LIBRARY_OUTPUT_DIRECTORY ${out_dir}
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    INSTALL_RPATH "${rpath}")
  target_link_libraries(${target} PRIVATE evc::core ${P_LIBS})
  if(NOT EVC_SANITIZE)
    # ASan leaves its runtime symbols undefined in shared objects on purpose.
    target_link_options(${target} PRIVATE -Wl,--no-undefined)
  endif()
  install(TARGETS ${target} LIBRARY DESTINATION ${install_dir} COMPONENT ${P_COMPONENT})
endfunction()

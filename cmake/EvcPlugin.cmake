# evc_add_plugin(<kind> <name> SOURCES ... [LIBS ...])
#
# Turns a plugin folder into build/plugins/evc_<kind>_<name>.so: a MODULE
# library with hidden visibility (only EVC_PLUGIN_EXPORT symbols leave it),
# linked against libevc_core.so with --no-undefined so a missing symbol fails
# the build instead of the dlopen, installed to lib/evc/plugins.
function(evc_add_plugin kind name)
  cmake_parse_arguments(P "" "" "SOURCES;LIBS" ${ARGN})
  set(target evc_${kind}_${name})
  add_library(${target} MODULE ${P_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${target}
    LIBRARY_OUTPUT_DIRECTORY ${EVC_PLUGIN_OUTPUT_DIR}
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    INSTALL_RPATH "$ORIGIN/../..")
  target_link_libraries(${target} PRIVATE evc_core ${P_LIBS})
  if(NOT EVC_SANITIZE)
    # ASan leaves its runtime symbols undefined in shared objects on purpose.
    target_link_options(${target} PRIVATE -Wl,--no-undefined)
  endif()
  install(TARGETS ${target} LIBRARY DESTINATION ${EVC_INSTALL_PLUGIN_DIR}
          COMPONENT ${kind}-${name})
endfunction()

# provhost_add_plugin(<name> SOURCES <file>... [OUTPUT_DIRECTORY <dir>])
#
# Builds the provider plugin `provhost-<name>.so` against the SDK: a MODULE library with hidden
# visibility and a version script, so that `provhost_plugin_entry` is its only exported symbol.
# The target is called `provhost-<name>`; link further header-only libraries to it as usual.
include_guard(GLOBAL)

function(provhost_add_plugin name)
  # Resolved here, not at include time: a variable set when this file is included would be
  # invisible to calls made from other directories.
  set(map "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/provhost-plugin.map")
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "OUTPUT_DIRECTORY" "SOURCES")
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "provhost_add_plugin(${name}): SOURCES is required")
  endif()
  set(target "provhost-${name}")
  add_library(${target} MODULE ${arg_SOURCES})
  target_link_libraries(${target} PRIVATE ProvHost::sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "provhost-${name}"
    SUFFIX ".so"
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS "${map}")
  target_link_options(${target} PRIVATE
    "LINKER:--version-script=${map}"
    "LINKER:--no-undefined")
  if(arg_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${arg_OUTPUT_DIRECTORY}")
  endif()
endfunction()

# provhost_add_plugin(<name> SOURCES <file>... [OUTPUT_DIRECTORY <dir>] [SHARED_CXX_RUNTIME])
#
# Builds the provider plugin `provhost-<name>` with the system's library suffix (`.so` on Linux)
# against the SDK: a MODULE library with hidden visibility whose only exported symbol is
# `provhost_plugin_entry`. The target is called `provhost-<name>`; link further header-only
# libraries to it as usual.
#
# On Linux the C++ library is linked into the plugin (-static-libstdc++) unless SHARED_CXX_RUNTIME is
# given: loading libstdc++.so and binding its symbols (2,700 lookups, most of them its own) cost more
# than the rest of loading a plugin, in every worker that loads one and in the host with
# --isolation none. The copy is the plugin's own, which is safe because only the entry symbol is
# exported and nothing of C++ crosses the C ABI; the plugin also loads on a system whose libstdc++.so
# is older than the compiler's. SHARED_CXX_RUNTIME is for a plugin that links a shared C++ library
# with which it exchanges C++ objects (those must share one runtime). A sanitized build keeps the
# shared library, whose allocation functions the sanitizer replaces.
#
# Only the entry symbol may be visible, so that two plugins bundling different versions of a
# library cannot bind to each other's copies. Each linker is told so in its own way: a version
# script for GNU ld and lld (Linux), an exported-symbols list for Apple's ld, and a module
# definition file on Windows (where PH_EXPORT is also __declspec(dllexport)).
include_guard(GLOBAL)

function(provhost_add_plugin name)
  # Resolved here, not at include time: a variable set when this file is included would be
  # invisible to calls made from other directories.
  set(sdk_cmake_dir "${CMAKE_CURRENT_FUNCTION_LIST_DIR}")
  cmake_parse_arguments(PARSE_ARGV 1 arg "SHARED_CXX_RUNTIME" "OUTPUT_DIRECTORY" "SOURCES")
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "provhost_add_plugin(${name}): SOURCES is required")
  endif()
  set(target "provhost-${name}")
  add_library(${target} MODULE ${arg_SOURCES})
  target_link_libraries(${target} PRIVATE ProvHost::sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "provhost-${name}"
    SUFFIX "${CMAKE_SHARED_LIBRARY_SUFFIX}"
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(WIN32)
    set(exports "${sdk_cmake_dir}/provhost-plugin.def")
    target_sources(${target} PRIVATE "${exports}")
  elseif(APPLE)
    set(exports "${sdk_cmake_dir}/provhost-plugin.exports")
    target_link_options(${target} PRIVATE
      "LINKER:-exported_symbols_list,${exports}"
      "LINKER:-undefined,error")
  else()
    set(exports "${sdk_cmake_dir}/provhost-plugin.map")
    # --gc-sections: what nothing reachable from the entry uses (of the C++ library linked in, most)
    # is left out of the file.
    target_link_options(${target} PRIVATE "LINKER:--version-script=${exports}" "LINKER:--gc-sections")
    # A sanitized plugin (-fsanitize=... in the compiler flags) calls into a runtime that only the
    # executable loading it links, so its undefined symbols are expected there and nowhere else.
    if(NOT "${CMAKE_C_FLAGS} ${CMAKE_CXX_FLAGS}" MATCHES "-fsanitize=")
      target_link_options(${target} PRIVATE "LINKER:--no-undefined")
      if(NOT arg_SHARED_CXX_RUNTIME)
        # Only where C++ links the plugin: a C plugin has no C++ library to link in.
        target_link_options(${target} PRIVATE "$<$<LINK_LANGUAGE:CXX>:-static-libstdc++>")
      endif()
    endif()
  endif()
  set_target_properties(${target} PROPERTIES LINK_DEPENDS "${exports}")
  if(arg_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${arg_OUTPUT_DIRECTORY}")
  endif()
endfunction()

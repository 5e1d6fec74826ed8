# Sanitizer and fuzzer builds (clang). Both are off by default; scripts/test-sanitized and
# scripts/fuzz turn them on in build folders of their own.
#
#   -DPROVHOST_SANITIZE=address,undefined   instrument everything built here; any report aborts
#                                           (-fno-sanitize-recover=all), so a test cannot pass past one
#   -DPROVHOST_FUZZ=ON                      also build the libFuzzer targets of tests/fuzz/
#
# The flags go into CMAKE_<LANG>_FLAGS rather than add_compile_options() so that provhost_add_plugin
# (sdk/cmake/ProvHostPlugin.cmake) sees them: a sanitized plugin leaves the runtime's symbols to the
# executable that loads it, so it cannot be linked with --no-undefined.
include_guard(GLOBAL)

set(PROVHOST_SANITIZE "" CACHE STRING "Comma-separated -fsanitize= list (clang), e.g. address,undefined; empty: none")
option(PROVHOST_FUZZ "Build the libFuzzer targets in tests/fuzz (clang; implies PROVHOST_SANITIZE=address,undefined)" OFF)

if(PROVHOST_FUZZ AND NOT PROVHOST_SANITIZE)
  set(PROVHOST_SANITIZE "address,undefined" CACHE STRING "" FORCE)
endif()

if(PROVHOST_SANITIZE)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PROVHOST_SANITIZE and PROVHOST_FUZZ need clang (configure with CC=clang CXX=clang++)")
  endif()
  # -fno-omit-frame-pointer: readable stacks in reports at -O1.
  set(provhost_sanitize_flags "-fsanitize=${PROVHOST_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer")
  # Narrow exceptions for third-party headers, each with its reason there.
  string(APPEND provhost_sanitize_flags " -fsanitize-ignorelist=${CMAKE_CURRENT_LIST_DIR}/sanitizer-ignorelist.txt")
  # Fuzz targets link -fsanitize=fuzzer themselves; everything else only needs the coverage hooks.
  if(PROVHOST_FUZZ)
    string(APPEND provhost_sanitize_flags " -fsanitize=fuzzer-no-link")
  endif()
  # Debian's RapidJSON 1.1.0 predates C++20's rewritten comparisons: clang warns on every iterator
  # comparison of its documents (fixed upstream after 1.1.0), which would drown the warnings that matter.
  set(provhost_cxx_only_flags "-Wno-ambiguous-reversed-operator")
  string(APPEND CMAKE_CXX_FLAGS " ${provhost_cxx_only_flags}")
  foreach(lang C CXX)
    string(APPEND CMAKE_${lang}_FLAGS " ${provhost_sanitize_flags}")
  endforeach()
  foreach(kind EXE SHARED MODULE)
    string(APPEND CMAKE_${kind}_LINKER_FLAGS " -fsanitize=${PROVHOST_SANITIZE}")
  endforeach()
endif()

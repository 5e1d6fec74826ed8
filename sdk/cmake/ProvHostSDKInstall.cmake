# provhost_sdk_install(): installs the SDK as the CMake package ProvHostSDK (install component `sdk`).
#
# ProvHost::sdk is always there. Each optional component, `testing` and `openai`, is the library target
# provhost_<component> that the folder sdk/<component>/ makes (ProvHost::<component> to its users), with
# its public headers under sdk/<component>/include/. A component is packaged when its target exists, each
# in an export file of its own, so that the package says which components it holds and
# find_package(ProvHostSDK COMPONENTS <component>) fails with a reason when one was not built.
include_guard(GLOBAL)
include(CMakePackageConfigHelpers)

set(PROVHOST_SDK_OPTIONAL_COMPONENTS testing openai)

# A component's own include directory given as a plain path would point every user of the installed
# package at this source tree (and install(EXPORT) refuses it): such paths are kept for this build only.
function(provhost_sdk_build_only_includes target source_dir)
  get_target_property(includes ${target} INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT includes)
    return()
  endif()
  set(kept "")
  foreach(include IN LISTS includes)
    cmake_path(IS_PREFIX source_dir "${include}" NORMALIZE in_source)
    if(in_source AND NOT include MATCHES "^\\$<")
      list(APPEND kept "$<BUILD_INTERFACE:${include}>")
    else()
      list(APPEND kept "${include}")
    endif()
  endforeach()
  set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${kept}")
endfunction()

function(provhost_sdk_install)
  cmake_path(GET CMAKE_CURRENT_FUNCTION_LIST_DIR PARENT_PATH sdk_dir)
  set(package_dir ${CMAKE_INSTALL_LIBDIR}/cmake/ProvHostSDK)
  # Named for the package, not the project, so that the host's build and the SDK's own install alike.
  set(doc_dir ${CMAKE_INSTALL_DATAROOTDIR}/doc/ProvHostSDK)
  install(DIRECTORY ${sdk_dir}/include/provhost DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT sdk)
  install(TARGETS provhost_sdk EXPORT ProvHostSDKTargets COMPONENT sdk)
  install(EXPORT ProvHostSDKTargets NAMESPACE ProvHost:: DESTINATION ${package_dir} COMPONENT sdk)

  set(PROVHOST_SDK_INSTALLED_COMPONENTS "")
  foreach(component IN LISTS PROVHOST_SDK_OPTIONAL_COMPONENTS)
    set(target provhost_${component})
    if(NOT TARGET ${target})
      continue()
    endif()
    list(APPEND PROVHOST_SDK_INSTALLED_COMPONENTS ${component})
    set_target_properties(${target} PROPERTIES EXPORT_NAME ${component})
    provhost_sdk_build_only_includes(${target} "${sdk_dir}/${component}")
    if(IS_DIRECTORY ${sdk_dir}/${component}/include)
      install(DIRECTORY ${sdk_dir}/${component}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT sdk)
    endif()
    install(TARGETS ${target} EXPORT ProvHostSDK-${component} COMPONENT sdk
            INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
    install(EXPORT ProvHostSDK-${component} NAMESPACE ProvHost:: FILE ProvHostSDK-${component}Targets.cmake
            DESTINATION ${package_dir} COMPONENT sdk)
  endforeach()

  configure_package_config_file(${sdk_dir}/cmake/ProvHostSDKConfig.cmake.in
    ${CMAKE_CURRENT_BINARY_DIR}/ProvHostSDKConfig.cmake
    INSTALL_DESTINATION ${package_dir})
  write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/ProvHostSDKConfigVersion.cmake
    VERSION ${PROVHOST_SDK_VERSION} COMPATIBILITY SameMajorVersion)
  install(FILES
    ${CMAKE_CURRENT_BINARY_DIR}/ProvHostSDKConfig.cmake
    ${CMAKE_CURRENT_BINARY_DIR}/ProvHostSDKConfigVersion.cmake
    ${sdk_dir}/cmake/ProvHostPlugin.cmake
    ${sdk_dir}/cmake/provhost-plugin.map
    ${sdk_dir}/cmake/provhost-plugin.exports
    ${sdk_dir}/cmake/provhost-plugin.def
    DESTINATION ${package_dir} COMPONENT sdk)
  install(DIRECTORY ${sdk_dir}/examples/ DESTINATION ${doc_dir}/examples COMPONENT sdk)
  install(FILES ${sdk_dir}/README.md DESTINATION ${doc_dir} COMPONENT sdk)
endfunction()

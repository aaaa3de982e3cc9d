# Finds SystemC and provides the imported target iovsim::SystemC.
# An Accellera install's SystemCLanguage CMake package wins when present; otherwise Debian's
# libsystemc-dev through pkg-config. Used by the build and by the installed iovsimConfig.cmake.
if(NOT TARGET iovsim::SystemC)
  find_package(SystemCLanguage CONFIG QUIET)
  if(SystemCLanguage_FOUND)
    add_library(iovsim::SystemC INTERFACE IMPORTED)
    set_target_properties(iovsim::SystemC PROPERTIES INTERFACE_LINK_LIBRARIES SystemC::systemc)
    set(IOVSIM_SYSTEMC_SOURCE "SystemCLanguage ${SystemCLanguage_VERSION}")
  else()
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(IOVSIM_SYSTEMC REQUIRED IMPORTED_TARGET systemc)
    add_library(iovsim::SystemC INTERFACE IMPORTED)
    set_target_properties(iovsim::SystemC PROPERTIES INTERFACE_LINK_LIBRARIES PkgConfig::IOVSIM_SYSTEMC)
    set(IOVSIM_SYSTEMC_SOURCE "pkg-config systemc ${IOVSIM_SYSTEMC_VERSION}")
  endif()
endif()

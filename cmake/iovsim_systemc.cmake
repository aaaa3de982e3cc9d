# Finds SystemC and provides the imported target iovsim::SystemC.
# An Accellera install's SystemCLanguage CMake package wins when present; otherwise Debian's
# libsystemc-dev through pkg-config. Used by the build and by the installed iovsimConfig.cmake, which
# is why it never stops with an error itself: when SystemC is missing, iovsim::SystemC is simply not
# defined and the caller reports it (the build fails; find_package(iovsim) sets iovsim_FOUND to FALSE).
if(NOT TARGET iovsim::SystemC)
  find_package(SystemCLanguage CONFIG QUIET)
  if(SystemCLanguage_FOUND)
    add_library(iovsim::SystemC INTERFACE IMPORTED)
    set_target_properties(iovsim::SystemC PROPERTIES INTERFACE_LINK_LIBRARIES SystemC::systemc)
    set(IOVSIM_SYSTEMC_SOURCE "SystemCLanguage ${SystemCLanguage_VERSION}")
  else()
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
      pkg_check_modules(IOVSIM_SYSTEMC IMPORTED_TARGET systemc)
    endif()
    if(IOVSIM_SYSTEMC_FOUND)
      add_library(iovsim::SystemC INTERFACE IMPORTED)
      set_target_properties(iovsim::SystemC PROPERTIES INTERFACE_LINK_LIBRARIES PkgConfig::IOVSIM_SYSTEMC)
      set(IOVSIM_SYSTEMC_SOURCE "pkg-config systemc ${IOVSIM_SYSTEMC_VERSION}")
    endif()
  endif()
endif()

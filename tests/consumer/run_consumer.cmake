# Drives the out-of-tree consumer test: configures, builds and runs tests/consumer/project against
# the iovsim package, either straight from the build tree or from an install into a staging prefix.
#
#   cmake -DMODE=build-tree|install -DIOVSIM_BUILD_DIR=<iovsim build> -DCONSUMER_SOURCE_DIR=<project>
#         -DWORK_DIR=<scratch dir> [-DGENERATOR=...] [-DMAKE_PROGRAM=...] [-DCXX_COMPILER=...]
#         [-DCONFIG=Release] -P run_consumer.cmake
#
# Every step runs with execute_process; the first non-zero exit stops the test with a message naming
# the step. WORK_DIR is wiped first, so every run configures from scratch.
cmake_minimum_required(VERSION 3.25)

foreach(var MODE IOVSIM_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT MODE MATCHES "^(build-tree|install)$")
  message(FATAL_ERROR "run_consumer.cmake: MODE must be build-tree or install, not '${MODE}'")
endif()
if(NOT CONFIG)
  set(CONFIG Release)
endif()

# run_step(NAME COMMAND...): runs the command, echoing it; fails the test on a non-zero exit.
function(run_step name)
  message(STATUS "consumer (${MODE}): ${name}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc COMMAND_ECHO STDOUT)
  if(NOT rc STREQUAL "0")
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "consumer (${MODE}): step '${name}' failed (exit ${rc})\n  command: ${cmd}")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(consumer_build "${WORK_DIR}/build")

# The package registries could hand find_package() some other iovsim: use only what we point at.
set(configure_args
  -S "${CONSUMER_SOURCE_DIR}" -B "${consumer_build}"
  -DCMAKE_BUILD_TYPE=${CONFIG}
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if(GENERATOR)
  list(APPEND configure_args -G "${GENERATOR}")
endif()
if(MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CXX_COMPILER)
  list(APPEND configure_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()

if(MODE STREQUAL "build-tree")
  set(expected_dir "${IOVSIM_BUILD_DIR}")
  list(APPEND configure_args "-Diovsim_DIR=${IOVSIM_BUILD_DIR}")
else()
  set(stage "${WORK_DIR}/stage")
  run_step("install iovsim into ${stage}"
    "${CMAKE_COMMAND}" --install "${IOVSIM_BUILD_DIR}" --prefix "${stage}" --config ${CONFIG})
  set(expected_dir "${stage}")
  list(APPEND configure_args "-DCMAKE_PREFIX_PATH=${stage}")
endif()

run_step("configure" "${CMAKE_COMMAND}" ${configure_args})

# The package must have come from where this test pointed, not from anywhere else on the system.
file(STRINGS "${consumer_build}/CMakeCache.txt" found REGEX "^iovsim_DIR:")
string(REGEX REPLACE "^iovsim_DIR:[A-Z]+=" "" found "${found}")
file(REAL_PATH "${found}" found_real)
file(REAL_PATH "${expected_dir}" expected_real)
string(FIND "${found_real}/" "${expected_real}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "consumer (${MODE}): find_package(iovsim) used '${found}', not a package under '${expected_dir}'")
endif()

run_step("build" "${CMAKE_COMMAND}" --build "${consumer_build}" --config ${CONFIG})

find_program(app NAMES app PATHS "${consumer_build}" "${consumer_build}/${CONFIG}" NO_DEFAULT_PATH REQUIRED)
run_step("run ${app}" "${app}")
message(STATUS "consumer (${MODE}): passed")

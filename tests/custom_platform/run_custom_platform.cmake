# Configures, builds and runs examples/custom_platform against an iovsim build tree, then checks
# what it printed. Same approach as tests/consumer/run_consumer.cmake (build-tree mode).
#
#   cmake -DIOVSIM_BUILD_DIR=<iovsim build> -DSOURCE_DIR=<examples/custom_platform>
#         -DWORK_DIR=<scratch dir> [-DGENERATOR=...] [-DMAKE_PROGRAM=...] [-DCXX_COMPILER=...]
#         [-DCONFIG=Release] -P run_custom_platform.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var IOVSIM_BUILD_DIR SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_custom_platform.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT CONFIG)
  set(CONFIG Release)
endif()

# run_step(NAME OUTPUT_VAR COMMAND...): runs the command; fails the test on a non-zero exit.
function(run_step name out_var)
  message(STATUS "custom_platform: ${name}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  COMMAND_ECHO STDOUT)
  message("${out}${err}")
  if(NOT rc STREQUAL "0")
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "custom_platform: step '${name}' failed (exit ${rc})\n  command: ${cmd}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(build "${WORK_DIR}/build")
# Only the package this test points at: no package registries.
set(configure_args -S "${SOURCE_DIR}" -B "${build}" -DCMAKE_BUILD_TYPE=${CONFIG}
    "-Diovsim_DIR=${IOVSIM_BUILD_DIR}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if(GENERATOR)
  list(APPEND configure_args -G "${GENERATOR}")
endif()
if(MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CXX_COMPILER)
  list(APPEND configure_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()

run_step("configure" ignored "${CMAKE_COMMAND}" ${configure_args})
run_step("build" ignored "${CMAKE_COMMAND}" --build "${build}" --config ${CONFIG})
find_program(app NAMES custom_platform PATHS "${build}" "${build}/${CONFIG}" NO_DEFAULT_PATH
             REQUIRED)

# Its own policy, by default: three devices, and every eviction chosen by lfu (the program checks
# that victims == evictions and exits 1 otherwise).
run_step("run with the study's lfu policy" out "${app}" --set rc.ports=3
         --set workload.requests=5000)
foreach(expected "3 devices, one IOMMU" "policy lfu" "dev2  5000 requests"
                 "lfu policy   [1-9][0-9]* victims chosen" "custom_platform: OK")
  if(NOT out MATCHES "${expected}")
    message(FATAL_ERROR "custom_platform: the output lacks '${expected}'")
  endif()
endforeach()

# A built-in chosen the same way, and a name nobody registered: bad input, exit 2.
run_step("run with a built-in policy" out "${app}" --set iommu.iotlb.policy=fifo
         --set workload.requests=2000)
if(NOT out MATCHES "policy fifo" OR out MATCHES "lfu policy")
  message(FATAL_ERROR "custom_platform: --set iommu.iotlb.policy=fifo did not select fifo")
endif()
execute_process(COMMAND "${app}" --set iommu.iotlb.policy=mru RESULT_VARIABLE rc
                ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc STREQUAL "2" OR NOT err MATCHES "iommu.iotlb.policy")
  message(FATAL_ERROR "custom_platform: an unknown policy gave exit ${rc}: ${err}")
endif()
message(STATUS "custom_platform: passed")

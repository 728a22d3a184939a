# Configures, builds and runs tests/cmake/consumer in a fresh directory,
# taking hills in one of two ways:
#   cmake -DMODE=subdirectory -DHILLS_SOURCE_DIR=... -DWORK_DIR=... -P run_consumer.cmake
#   cmake -DMODE=package -DHILLS_SOURCE_DIR=... -DHILLS_BUILD_DIR=... -DWORK_DIR=... -P ...
# The package mode first installs the component "dev" of the hills build in
# HILLS_BUILD_DIR into a prefix inside WORK_DIR.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(consumer "${HILLS_SOURCE_DIR}/tests/cmake/consumer")
if(MODE STREQUAL "subdirectory")
  set(how "-DHILLS_SOURCE_DIR=${HILLS_SOURCE_DIR}")
elseif(MODE STREQUAL "package")
  execute_process(
    COMMAND "${CMAKE_COMMAND}" --install "${HILLS_BUILD_DIR}" --prefix "${WORK_DIR}/prefix"
            --component dev
    RESULT_VARIABLE installed OUTPUT_QUIET)
  if(NOT installed EQUAL 0)
    message(FATAL_ERROR "installing hills into ${WORK_DIR}/prefix failed")
  endif()
  if(EXISTS "${WORK_DIR}/prefix/etc" OR EXISTS "${WORK_DIR}/prefix/lib/systemd")
    message(FATAL_ERROR "the component dev installed system files")
  endif()
  set(how "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
else()
  message(FATAL_ERROR "MODE must be subdirectory or package, not '${MODE}'")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" -S "${consumer}" -B "${WORK_DIR}/build" "${how}"
  RESULT_VARIABLE configured)
if(NOT configured EQUAL 0)
  message(FATAL_ERROR "configuring the consumer project (${MODE}) failed")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" --target consumer consumer-sync -j 2
  RESULT_VARIABLE built)
if(NOT built EQUAL 0)
  message(FATAL_ERROR "building the consumer project (${MODE}) failed")
endif()
foreach(program consumer consumer-sync)
  file(MAKE_DIRECTORY "${WORK_DIR}/${program}-db")
  execute_process(COMMAND "${WORK_DIR}/build/${program}" "${WORK_DIR}/${program}-db"
                  RESULT_VARIABLE ran)
  if(NOT ran EQUAL 0)
    message(FATAL_ERROR "the consumer program ${program} (${MODE}) failed (${ran})")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK_DIR}")
message("consumer project (${MODE}): ok")

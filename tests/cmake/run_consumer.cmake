# Configures, builds and runs tests/cmake/consumer against the hills source
# tree in a fresh directory: cmake -DHILLS_SOURCE_DIR=... -DWORK_DIR=... -P
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
execute_process(
  COMMAND "${CMAKE_COMMAND}" -S "${HILLS_SOURCE_DIR}/tests/cmake/consumer" -B "${WORK_DIR}/build"
          "-DHILLS_SOURCE_DIR=${HILLS_SOURCE_DIR}"
  RESULT_VARIABLE configured)
if(NOT configured EQUAL 0)
  message(FATAL_ERROR "configuring the consumer project failed")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" --target consumer -j 2
  RESULT_VARIABLE built)
if(NOT built EQUAL 0)
  message(FATAL_ERROR "building the consumer project failed")
endif()
execute_process(COMMAND "${WORK_DIR}/build/consumer" "${WORK_DIR}/db" RESULT_VARIABLE ran)
if(NOT ran EQUAL 0)
  message(FATAL_ERROR "the consumer program failed (${ran})")
endif()
file(REMOVE_RECURSE "${WORK_DIR}")

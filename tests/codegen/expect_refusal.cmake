# Runs capnpc-hills on one bad schema and prints "REFUSED: <its message>"
# only when it fails; the test's PASS_REGULAR_EXPRESSION then checks the
# message, so a schema that is accepted, or refused for another reason,
# fails the test.
#   cmake -DCAPNP=... -DPLUGIN=... -DSCHEMA_DIR=... -DSCHEMA=... -DOUT=... -P expect_refusal.cmake
file(MAKE_DIRECTORY "${OUT}")
# capnp warns when PWD is not its working directory; keep its output to the point.
set(ENV{PWD} "${OUT}")
get_filename_component(src_dir "${SCHEMA}" DIRECTORY)
execute_process(
  COMMAND "${CAPNP}" compile -o "${PLUGIN}:${OUT}" --src-prefix "${src_dir}" -I "${SCHEMA_DIR}" "${SCHEMA}"
  WORKING_DIRECTORY "${OUT}"
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "ACCEPTED: capnpc-hills generated code for ${SCHEMA}\n${out}${err}")
endif()
message("REFUSED: ${err}")

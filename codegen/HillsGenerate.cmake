# hills_generate(TARGET <target> SCHEMAS <file.capnp>... [IMPORT_DIRS <dir>...])
#
# Compiles the schemas with Cap'n Proto's C++ plugin and with capnpc-hills in
# one `capnp compile` run, into ${CMAKE_CURRENT_BINARY_DIR}/hills_gen/:
#   <name>.capnp.h, <name>.capnp.c++   Cap'n Proto's classes
#   <name>.hills.h                     the record structs and RecordTraits
# The .c++ files become sources of <target>; the directory becomes a PUBLIC
# include directory of <target>, and <target> links hills::core (PUBLIC), so
# code that links <target> writes `#include "plm.hills.h"`.
#
# Schemas import the hills annotations as "/hills/hills.capnp" (found in
# hills' schema directory, or in HILLS_SCHEMA_DIR when the caller sets it);
# other absolute imports are searched in IMPORT_DIRS.
# Each schema's own directory is a --src-prefix, so outputs are named after
# the file alone: two schemas of one name cannot share a target directory.
#
# All schemas of one call go through ONE capnp run, not one run each: capnp
# hands a plugin only the nodes of an imported file that the importer uses as
# types, so a `$Hills.ref("parts")` into another file finds its tree only when
# that file is compiled in the same run. Schemas that refer to each other's
# trees therefore belong in one call. A schema whose structs another schema
# uses must be generated too (in the same call, or by a target that is linked).
#
# This file is included before the capnpc-hills target exists, so the
# plugin is named through generator expressions, resolved at generate time.
# An installed hills (find_package) names it hills::capnpc-hills and sets
# HILLS_SCHEMA_DIR to the installed schemas.

# Where hills' own schemas are, for callers in any directory: a function sees
# its caller's variables, not those of the file that defined it.
if(NOT DEFINED HILLS_SCHEMA_DIR)
  set(HILLS_SCHEMA_DIR "${CMAKE_CURRENT_LIST_DIR}/../schemas")
endif()
get_filename_component(_hills_schema_dir "${HILLS_SCHEMA_DIR}" ABSOLUTE)
set_property(GLOBAL PROPERTY HILLS_SCHEMA_DIR "${_hills_schema_dir}")

function(hills_generate)
  cmake_parse_arguments(PARSE_ARGV 0 HG "" "TARGET" "SCHEMAS;IMPORT_DIRS")
  if(HG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "hills_generate: unknown arguments: ${HG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT HG_TARGET OR NOT TARGET "${HG_TARGET}")
    message(FATAL_ERROR "hills_generate: TARGET must name an existing target (got '${HG_TARGET}')")
  endif()
  if(NOT HG_SCHEMAS)
    message(FATAL_ERROR "hills_generate(TARGET ${HG_TARGET}): no SCHEMAS given")
  endif()
  if(NOT HILLS_SCHEMA_DIR)
    get_property(HILLS_SCHEMA_DIR GLOBAL PROPERTY HILLS_SCHEMA_DIR)
  endif()
  if(NOT EXISTS "${HILLS_SCHEMA_DIR}/hills/hills.capnp")
    message(FATAL_ERROR "hills_generate: no hills/hills.capnp in HILLS_SCHEMA_DIR (${HILLS_SCHEMA_DIR})")
  endif()

  # Cap'n Proto's own C++ plugin, as its CMake package names it.
  set(capnpc_cxx "${CAPNPC_CXX_EXECUTABLE}")
  if(NOT capnpc_cxx AND TARGET CapnProto::capnpc_cpp)
    set(capnpc_cxx "$<TARGET_FILE:CapnProto::capnpc_cpp>")
  endif()
  if(NOT capnpc_cxx OR NOT CAPNP_EXECUTABLE)
    message(FATAL_ERROR "hills_generate: capnp or capnpc-c++ not found; find_package(CapnProto) first")
  endif()

  # capnpc-hills: built here (hills is part of this build), or installed
  # (find_package(hills)).
  if(TARGET capnpc-hills)
    set(plugin "$<TARGET_FILE:capnpc-hills>")
    set(plugin_dependency capnpc-hills)
  elseif(TARGET hills::capnpc-hills)
    set(plugin "$<TARGET_FILE:hills::capnpc-hills>")
    set(plugin_dependency "$<TARGET_FILE:hills::capnpc-hills>")
  else()
    message(FATAL_ERROR "hills_generate: no capnpc-hills target; add hills with add_subdirectory or find_package(hills)")
  endif()

  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/hills_gen")
  file(MAKE_DIRECTORY "${out_dir}")

  set(import_flags -I "${HILLS_SCHEMA_DIR}")
  foreach(dir IN LISTS HG_IMPORT_DIRS)
    get_filename_component(dir "${dir}" ABSOLUTE)
    list(APPEND import_flags -I "${dir}")
  endforeach()

  set(schemas "")
  set(dirs "")
  set(outputs "")
  set(names "")
  foreach(schema IN LISTS HG_SCHEMAS)
    get_filename_component(schema "${schema}" ABSOLUTE)
    get_filename_component(dir "${schema}" DIRECTORY)
    get_filename_component(name "${schema}" NAME)
    if(name IN_LIST names)
      message(FATAL_ERROR "hills_generate(TARGET ${HG_TARGET}): two schemas are named ${name}; their outputs would collide")
    endif()
    list(APPEND names "${name}")
    string(REGEX REPLACE "\\.capnp$" "" stem "${name}")
    list(APPEND schemas "${schema}")
    list(APPEND dirs "${dir}")
    list(APPEND outputs "${out_dir}/${name}.c++" "${out_dir}/${name}.h" "${out_dir}/${stem}.hills.h")
  endforeach()
  list(REMOVE_DUPLICATES dirs)
  set(prefixes "")
  foreach(dir IN LISTS dirs)
    list(APPEND prefixes --src-prefix "${dir}")
  endforeach()
  list(JOIN names ", " listed)

  # capnp writes no dependency file: imports outside SCHEMAS are not tracked.
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND "${CAPNP_EXECUTABLE}" compile
            -o "${capnpc_cxx}:${out_dir}"
            -o "${plugin}:${out_dir}"
            ${prefixes}
            ${import_flags}
            ${schemas}
    DEPENDS ${schemas} ${plugin_dependency} "${HILLS_SCHEMA_DIR}/hills/hills.capnp"
    COMMENT "Generating record headers and Cap'n Proto code from ${listed}"
    VERBATIM)

  target_sources(${HG_TARGET} PRIVATE ${outputs})
  target_include_directories(${HG_TARGET} PUBLIC "${out_dir}")
  target_link_libraries(${HG_TARGET} PUBLIC hills::core)
endfunction()

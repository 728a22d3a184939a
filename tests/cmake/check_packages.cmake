# Builds the Debian packages of the hills build in BUILD_DIR with cpack into
# WORK_DIR and checks what dpkg-deb says of each:
#   cmake -DBUILD_DIR=... -DWORK_DIR=... -DWITH_TOOLS=ON|OFF -DWITH_VIEWER=ON|OFF -P check_packages.cmake
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
execute_process(
  COMMAND cpack -G DEB --config "${BUILD_DIR}/CPackConfig.cmake" -B "${WORK_DIR}"
  RESULT_VARIABLE packed OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT packed EQUAL 0)
  message(FATAL_ERROR "cpack failed:\n${out}")
endif()

function(expect package text what)
  string(FIND "${text}" "${what}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${package}: expected '${what}' in:\n${text}")
  endif()
endfunction()

set(packages libhills-dev hills-server)
if(WITH_TOOLS)
  list(APPEND packages hills-tools)
endif()
if(WITH_VIEWER)
  list(APPEND packages hills-viewer)
endif()
foreach(package IN LISTS packages)
  file(GLOB deb "${WORK_DIR}/${package}_*.deb")
  list(LENGTH deb count)
  if(NOT count EQUAL 1)
    message(FATAL_ERROR "no single ${package}_*.deb in ${WORK_DIR}")
  endif()
  execute_process(COMMAND dpkg-deb --info "${deb}" OUTPUT_VARIABLE info RESULT_VARIABLE rc1)
  execute_process(COMMAND dpkg-deb --contents "${deb}" OUTPUT_VARIABLE contents RESULT_VARIABLE rc2)
  if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0)
    message(FATAL_ERROR "dpkg-deb cannot read ${deb}")
  endif()
  expect(${package} "${info}" "Package: ${package}")
  expect(${package} "${info}" "Architecture: ")
  set(${package}_info "${info}")
  set(${package}_contents "${contents}")
endforeach()

# The developers' package: libraries, headers, schemas, the plugin, the
# CMake package.
set(c "${libhills-dev_contents}")
foreach(file ./usr/include/hills/database.h ./usr/include/hills/client.h
             ./usr/include/hills/server.h ./usr/include/hills/record.capnp.h
             ./usr/include/hills/hills.capnp ./usr/bin/capnpc-hills
             /cmake/hills/hillsConfig.cmake /cmake/hills/hillsConfigVersion.cmake
             /cmake/hills/HillsGenerate.cmake /libhills-core.a /libhills-client.a
             /libhills-server.a)
  expect(libhills-dev "${c}" "${file}")
endforeach()
expect(libhills-dev "${libhills-dev_info}" "Depends: libcapnp-dev")

if(WITH_VIEWER)
  expect(hills-viewer "${hills-viewer_contents}" "./usr/bin/hills-viewer")
  expect(hills-viewer "${hills-viewer_info}" "libqt6widgets6")
endif()

# The server's package: the program, a unit that runs it as its own user,
# the default configuration (a conffile), the database directory made by
# the maintainer script.
set(c "${hills-server_contents}")
foreach(file ./usr/bin/hills-server ./lib/systemd/system/hills-server.service
             ./etc/hills/hills-server.json ./usr/share/doc/hills-server/OPERATIONS.md)
  expect(hills-server "${c}" "${file}")
endforeach()
set(i "${hills-server_info}")
foreach(what "postinst" "conffiles" "Depends: " "adduser" "libcapnp")
  expect(hills-server "${i}" "${what}")
endforeach()
file(MAKE_DIRECTORY "${WORK_DIR}/control")
file(GLOB deb "${WORK_DIR}/hills-server_*.deb")
execute_process(COMMAND dpkg-deb --control "${deb}" "${WORK_DIR}/control" RESULT_VARIABLE rc)
file(READ "${WORK_DIR}/control/conffiles" conffiles)
expect(hills-server "${conffiles}" "/etc/hills/hills-server.json")
file(READ "${WORK_DIR}/control/postinst" postinst)
expect(hills-server "${postinst}" "adduser --system")
expect(hills-server "${postinst}" "/var/lib/hills")
execute_process(COMMAND dpkg-deb --fsys-tarfile "${deb}" OUTPUT_FILE "${WORK_DIR}/server.tar")
file(ARCHIVE_EXTRACT INPUT "${WORK_DIR}/server.tar" DESTINATION "${WORK_DIR}/server"
     PATTERNS ./lib/systemd/system/hills-server.service)
file(READ "${WORK_DIR}/server/lib/systemd/system/hills-server.service" unit)
foreach(what "User=hills" "--db /var/lib/hills" "--config /etc/hills/hills-server.json"
             "WantedBy=multi-user.target" "ExecReload=/bin/kill -HUP $MAINPID")
  expect(hills-server "${unit}" "${what}")
endforeach()

if(WITH_TOOLS)
  expect(hills-tools "${hills-tools_contents}" "./usr/bin/hills")
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
message("packages: ok")

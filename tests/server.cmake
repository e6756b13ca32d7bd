# Control socket server: real UNIX socket in a temp dir, loop pumped by the test.
fwup_add_check_test(test_server
  SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_server.c ${CMAKE_SOURCE_DIR}/daemon/api/server.c
    ${CMAKE_SOURCE_DIR}/daemon/log.c
  LIBS fwup_jsonl fwup_util PkgConfig::UV PkgConfig::JANSSON
  LABELS unit)
target_include_directories(test_server PRIVATE ${CMAKE_SOURCE_DIR}/daemon ${CMAKE_SOURCE_DIR}/daemon/api)
# Exit 77: passed, but the root-only test could not run (said on stderr).
set_tests_properties(test_server PROPERTIES SKIP_RETURN_CODE 77)

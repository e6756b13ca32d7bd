# The daemon's core state and its injectable clock (daemon/core.c).
fwup_add_check_test(test_core
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_core.c ${CMAKE_SOURCE_DIR}/daemon/core.c
  LIBS fwup_config fwup_store PkgConfig::UV
  LABELS unit)
target_link_libraries(test_core PRIVATE fwup_daemon_headers)

# Outcome records (daemon/outcomes.c) on a real state directory and store,
# and a full disk under a running daemon (a real tmpfs; needs root).
if(TARGET fwup_store)
  fwup_add_check_test(test_outcomes
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_outcomes.c ${CMAKE_SOURCE_DIR}/daemon/outcomes.c
    LIBS fwup_store
    LABELS unit store)
  target_include_directories(test_outcomes PRIVATE ${CMAKE_SOURCE_DIR}/daemon)
endif()
add_test(NAME integration_diskfull COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_diskfull.sh)
set_tests_properties(integration_diskfull PROPERTIES LABELS integration TIMEOUT 300
  ENVIRONMENT "FWUP_BINARY_DIR=${CMAKE_BINARY_DIR}")

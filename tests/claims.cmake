# Resource claims: ports, CAN buses shared by id sets, exclusive protocols,
# per-bus caps.
fwup_add_check_test(test_claims
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_claims.c ${CMAKE_SOURCE_DIR}/daemon/sched/claims.c
  LABELS unit)
target_include_directories(test_claims PRIVATE ${CMAKE_SOURCE_DIR}/daemon/sched)

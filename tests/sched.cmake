# The scheduler's rules end to end (back-off schedule, attempts, one job per
# link, max_concurrent_jobs, batch states), on the times the store records.
add_test(NAME integration_sched COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_sched.sh)
set_tests_properties(integration_sched PROPERTIES LABELS integration TIMEOUT 300
  ENVIRONMENT "FWUP_BINARY_DIR=${CMAKE_BINARY_DIR}")

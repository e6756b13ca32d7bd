# Chaos: random kill -9 of fwupgwd during a paced batch (tools/chaos runs
# the long version: 100 kills across 64 devices).
add_test(NAME chaos COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/chaos.sh
  --kills 20 --devices 24)
set_tests_properties(chaos PROPERTIES LABELS chaos TIMEOUT 300
  ENVIRONMENT "FWUP_BINARY_DIR=${CMAKE_BINARY_DIR}")

# Resource limits against hostile local clients: a real daemon, its RSS and
# CPU time measured while tests/integration/hog.c floods it.
add_executable(fwuphog ${CMAKE_CURRENT_SOURCE_DIR}/integration/hog.c)
foreach(t limits)
  add_test(NAME integration_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_${t}.sh)
  set_tests_properties(integration_${t} PROPERTIES LABELS integration TIMEOUT 300
    ENVIRONMENT "FWUP_BINARY_DIR=${CMAKE_BINARY_DIR};FWUPHOG=$<TARGET_FILE:fwuphog>")
endforeach()

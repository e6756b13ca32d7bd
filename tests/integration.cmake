# Integration tests: fwupgwd + fwupsim on real pseudo-terminals + fwupctl.
add_library(abi_v0_plugin MODULE ${CMAKE_CURRENT_SOURCE_DIR}/integration/abi_v0_plugin.c)
set_target_properties(abi_v0_plugin PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

foreach(t queue cancel retry restart reload config interop_rx lines mixed cli formats link install)
  add_test(NAME integration_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_${t}.sh)
  set_tests_properties(integration_${t} PROPERTIES LABELS integration TIMEOUT 300
    ENVIRONMENT "FWUP_BINARY_DIR=${CMAKE_BINARY_DIR}")
endforeach()
add_test(NAME integration_demo COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/demo.sh
  ${CMAKE_BINARY_DIR} ${CMAKE_BINARY_DIR}/demo-test)
set_tests_properties(integration_demo PROPERTIES LABELS integration TIMEOUT 300)

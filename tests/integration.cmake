# Integration tests: fwupgwd + fwupsim on real pseudo-terminals + fwupctl.
# Plugins claiming the ABI before the oldest loaded (0), the oldest (1) and
# the one after this daemon's (3): refused, loaded, refused.
foreach(abi 0 1 3)
  add_library(abi_v${abi}_plugin MODULE ${CMAKE_CURRENT_SOURCE_DIR}/integration/abi_plugin.c)
  target_compile_definitions(abi_v${abi}_plugin PRIVATE TEST_ABI=${abi})
  set_target_properties(abi_v${abi}_plugin PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endforeach()

foreach(t queue cancel retry restart reload config interop_rx lines mixed cli order formats link install manifest idle_start state idempotent plugin_guide bounds)
  add_test(NAME integration_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_${t}.sh)
  set_tests_properties(integration_${t} PROPERTIES LABELS integration TIMEOUT 300
    ENVIRONMENT "FWUP_BINARY_DIR=${CMAKE_BINARY_DIR}")
endforeach()
add_test(NAME integration_demo COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/demo.sh
  ${CMAKE_BINARY_DIR} ${CMAKE_BINARY_DIR}/demo-test)
set_tests_properties(integration_demo PROPERTIES LABELS integration TIMEOUT 300)

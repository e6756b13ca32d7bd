# Integration tests: fwupgwd + fwupsim on real pseudo-terminals + fwupctl.
# Plugins for the loader (integration/abi_plugin.c): ABI 2 and 4 through
# the ABI 3 symbol (refused), ABI 3 (loaded), an ABI 3 descriptor one field
# short and an ABI 2 plugin with its old symbol (refused, told to rebuild).
foreach(p v2:current:2 v3:current:3 v4:current:4 short:short:3 old:old:2)
  string(REPLACE ":" ";" p "${p}")
  list(GET p 0 name)
  list(GET p 1 kind)
  list(GET p 2 abi)
  string(TOUPPER "${kind}" kind)
  add_library(abi_${name}_plugin MODULE ${CMAKE_CURRENT_SOURCE_DIR}/integration/abi_plugin.c)
  target_compile_definitions(abi_${name}_plugin PRIVATE TEST_ABI=${abi} TEST_KIND=KIND_${kind})
  set_target_properties(abi_${name}_plugin PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
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

# Interop test binaries whose tests fail leave no temporary files behind
# (each run on a private, empty /tmp).
if(TARGET test_lrzsz_rx)
  add_test(NAME interop_leftovers_lrzsz COMMAND bash
    ${CMAKE_CURRENT_SOURCE_DIR}/interop/leftovers.sh FWUPSEND=$<TARGET_FILE:fwupsend>
    FWUP_XMODEM_PLUGIN= $<TARGET_FILE:test_lrzsz_rx>)
  set_tests_properties(interop_leftovers_lrzsz PROPERTIES LABELS interop TIMEOUT 120 SKIP_RETURN_CODE 77)
endif()
if(TARGET test_stm32flash)
  add_test(NAME interop_leftovers_stm32flash COMMAND bash
    ${CMAKE_CURRENT_SOURCE_DIR}/interop/leftovers.sh FWUPSIM=/bin/false
    $<TARGET_FILE:test_stm32flash>)
  set_tests_properties(interop_leftovers_stm32flash PROPERTIES LABELS interop TIMEOUT 120 SKIP_RETURN_CODE 77)
endif()

# STM32 AN3155 engine against the simulated bootloader on a virtual clock.
fwup_add_check_test(test_stm32uart
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_stm32uart.c
  LIBS fwup_proto_stm32uart fwup_testjob fwup_failalloc
  LABELS unit stm32)

# The reference host stm32flash against the simulated bootloader behind a
# fwupsim pty, and our engine's result read back by stm32flash.
if(TARGET fwupsim AND TARGET fwupsend)
  fwup_add_check_test(test_stm32flash
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_stm32flash.c
    LIBS fwup_simtty
    LABELS interop stm32)
  add_dependencies(test_stm32flash fwupsim fwupsend stm32uart)
  set_property(TEST test_stm32flash APPEND PROPERTY ENVIRONMENT
    "FWUPSIM=$<TARGET_FILE:fwupsim>"
    "FWUPSEND=$<TARGET_FILE:fwupsend>"
    "FWUP_STM32_PLUGIN=$<TARGET_FILE:stm32uart>")
endif()

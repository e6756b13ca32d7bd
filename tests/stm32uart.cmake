# STM32 AN3155 engine against the simulated bootloader on a virtual clock.
fwup_add_check_test(test_stm32uart
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_stm32uart.c
  LIBS fwup_proto_stm32uart fwup_sim
  LABELS unit stm32)

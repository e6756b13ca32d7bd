# PIC32CX-BZ serial DFU engine against the simulated bootloader on a virtual clock.
fwup_add_check_test(test_pic32cxbz
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_pic32cxbz.c
  LIBS fwup_proto_pic32cxbz fwup_sim
  LABELS unit pic32cxbz)

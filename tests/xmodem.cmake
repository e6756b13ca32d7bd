# XMODEM engine against the simulated receiver on a virtual clock.
fwup_add_check_test(test_xmodem
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_xmodem.c
  LIBS fwup_proto_xmodem fwup_testjob
  LABELS unit xmodem)

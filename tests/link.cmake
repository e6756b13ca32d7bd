# The daemon's link layer: the serial module on real pseudo-terminals, the
# choice of link kind per protocol.
if(TARGET fwup_link)
  fwup_add_check_test(test_link_serial
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_link_serial.c
    LIBS fwup_link util
    LABELS unit link)
endif()

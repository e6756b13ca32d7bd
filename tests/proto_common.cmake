# The image walker and CRC-16 shared by the protocol engines.
fwup_add_check_test(test_proto_common
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_proto_common.c
  LIBS fwup_proto_common
  LABELS unit)

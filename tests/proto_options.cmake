# The option reader shared by the protocol engines and the daemon's validator.
fwup_add_check_test(test_proto_options
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_proto_options.c
  LIBS fwup_proto_common fwup_failalloc
  LABELS unit)

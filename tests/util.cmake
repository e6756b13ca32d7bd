# Small shared helpers (lib/util): files on a real file system, hex digests, clocks.
fwup_add_check_test(test_util
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_util.c
  LIBS fwup_util
  LABELS unit)

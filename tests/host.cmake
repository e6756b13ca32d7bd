# The host core (lib/host) on a virtual clock with a scripted engine.
fwup_add_check_test(test_host
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_host.c
  LIBS fwup_host
  LABELS unit)

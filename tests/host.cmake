# The host core (lib/host) on a virtual clock with a scripted engine, alone
# and behind simlink (fwup_sim, from tests/sim.cmake).
fwup_add_check_test(test_host
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_host.c
  LIBS fwup_host fwup_sim
  LABELS unit)

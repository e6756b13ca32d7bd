# Simulation tools: fwupsim (devices behind pseudo-terminals), fwupsend (one
# engine over one tty), the lrzsz interop tests and the XMODEM benchmark.
# fwup_sim (device models) comes from tests/sim.cmake, included before us.
add_library(fwup_simtty STATIC ${CMAKE_CURRENT_SOURCE_DIR}/sim/simtty.c)
target_include_directories(fwup_simtty PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/sim)
target_link_libraries(fwup_simtty PUBLIC fwup_util)

add_executable(fwupsend ${CMAKE_CURRENT_SOURCE_DIR}/sim/fwupsend.c)
target_link_libraries(fwupsend PRIVATE fwup_simtty fwup_host ${CMAKE_DL_LIBS})

set(_lrzsz_env
  "FWUPSEND=$<TARGET_FILE:fwupsend>"
  "FWUP_XMODEM_PLUGIN=$<TARGET_FILE:xmodem>")

# Our XMODEM sender into lrzsz's rx.
fwup_add_check_test(test_lrzsz_rx
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_lrzsz.c
  LIBS fwup_simtty
  LABELS interop)
target_compile_definitions(test_lrzsz_rx PRIVATE LRZSZ_SUITE_RX=1)
add_dependencies(test_lrzsz_rx fwupsend xmodem)
set_property(TEST test_lrzsz_rx APPEND PROPERTY ENVIRONMENT ${_lrzsz_env})

if(TARGET fwup_sim)
  add_executable(fwupsim ${CMAKE_CURRENT_SOURCE_DIR}/sim/fwupsim.c)
  target_link_libraries(fwupsim PRIVATE fwup_sim fwup_simtty)

  # lrzsz's sx into a fwupsim XMODEM device model.
  fwup_add_check_test(test_lrzsz_sx
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_lrzsz.c
    LIBS fwup_simtty
    LABELS interop)
  target_compile_definitions(test_lrzsz_sx PRIVATE LRZSZ_SUITE_SX=1)
  add_dependencies(test_lrzsz_sx fwupsim)
  set_property(TEST test_lrzsz_sx APPEND PROPERTY ENVIRONMENT
    "FWUPSIM=$<TARGET_FILE:fwupsim>")

  # Benchmark driver: not a test (its figures depend on the machine); run it
  # through tests/bench/run.
  add_executable(xmodem_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench/xmodem_bench.c)
  target_link_libraries(xmodem_bench PRIVATE fwup_simtty)
  add_dependencies(xmodem_bench fwupsend fwupsim xmodem)
endif()

# Simulated device models (simdev.h) and the virtual-clock engine<->device
# harness (simlink.h). Engines are passed in as `const struct fwup_protocol *`,
# so this library does not link any protocol.
add_library(fwup_sim STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/sim/simdev.c
  ${CMAKE_CURRENT_SOURCE_DIR}/sim/xmodem_dev.c
  ${CMAKE_CURRENT_SOURCE_DIR}/sim/pic32_dev.c
  ${CMAKE_CURRENT_SOURCE_DIR}/sim/stm32_dev.c
  ${CMAKE_CURRENT_SOURCE_DIR}/sim/simlink.c)
target_include_directories(fwup_sim PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/sim)
target_link_libraries(fwup_sim PRIVATE fwup_host)

# Job builder and step-by-step host for the engine unit tests (testjob.h,
# mockhost.h). They assert with Check, so they are a library of their own:
# fwupsim and the benchmarks link fwup_sim alone.
add_library(fwup_testjob STATIC ${CMAKE_CURRENT_SOURCE_DIR}/sim/testjob.c
  ${CMAKE_CURRENT_SOURCE_DIR}/sim/mockhost.c)
target_link_libraries(fwup_testjob PUBLIC fwup_sim fwup_simtty PkgConfig::CHECK)

# Allocation failures on demand (failalloc.h) for the tests that link it.
add_library(fwup_failalloc STATIC ${CMAKE_CURRENT_SOURCE_DIR}/sim/failalloc.c)
target_include_directories(fwup_failalloc PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/sim)
target_link_options(fwup_failalloc INTERFACE "LINKER:--wrap=calloc,--wrap=realloc")

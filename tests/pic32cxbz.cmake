# PIC32CX-BZ serial DFU engine against the simulated bootloader on a virtual clock.
fwup_add_check_test(test_pic32cxbz
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_pic32cxbz.c
  LIBS fwup_proto_pic32cxbz fwup_testjob
  LABELS unit pic32cxbz)

# Benchmark driver (virtual clock, deterministic); not a test. See
# tests/bench/README.md, section "PIC32CX-BZ serial DFU".
add_executable(pic32_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench/pic32_bench.c)
target_link_libraries(pic32_bench PRIVATE fwup_proto_pic32cxbz fwup_sim)

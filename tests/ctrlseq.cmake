# Entry/exit control-line sequences and the job run that orders them.
fwup_add_check_test(test_ctrlseq
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_ctrlseq.c
          ${CMAKE_SOURCE_DIR}/daemon/jobrun.c
          ${CMAKE_SOURCE_DIR}/daemon/ctrlrun.c ${CMAKE_SOURCE_DIR}/daemon/ctrlline_hw.c
          ${CMAKE_SOURCE_DIR}/daemon/log.c
  LIBS fwup_link fwup_host fwup_config PkgConfig::UV PkgConfig::GPIOD
  LABELS unit)
target_include_directories(test_ctrlseq PRIVATE ${CMAKE_SOURCE_DIR}/daemon)

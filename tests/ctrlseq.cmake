# Entry/exit control-line sequences and the job run that orders them.
fwup_add_check_test(test_ctrlseq
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_ctrlseq.c
          ${CMAKE_SOURCE_DIR}/daemon/run/jobrun.c
          ${CMAKE_SOURCE_DIR}/daemon/run/ctrlrun.c ${CMAKE_SOURCE_DIR}/daemon/run/ctrlline_hw.c
          ${CMAKE_SOURCE_DIR}/daemon/log.c
  LIBS fwup_link fwup_host fwup_config PkgConfig::UV PkgConfig::GPIOD
  LABELS unit)
target_link_libraries(test_ctrlseq PRIVATE fwup_daemon_headers)

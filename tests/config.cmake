# Config and manifest parsers (YAML).
if(TARGET fwup_config)
  fwup_add_check_test(test_config
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_config.c
    LIBS fwup_config
    LABELS unit config)
endif()
if(TARGET fwup_manifest)
  fwup_add_check_test(test_manifest
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_manifest.c
    LIBS fwup_manifest
    LABELS unit manifest)
endif()

# Typed links in the config (serial, can, usb) and a device's CAN ids.
if(TARGET fwup_config)
  fwup_add_check_test(test_config_links
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_config_links.c
    LIBS fwup_config
    LABELS unit config)
endif()

# Image format parsers (lib/image).
fwup_add_check_test(test_image
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_image.c
  LIBS fwup_image
  LABELS unit image)

# Image files in the state directory (daemon/store/blobstore.c), on real files.
fwup_add_check_test(test_blobstore
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_blobstore.c
  LIBS fwup_blobstore
  LABELS unit blobstore)

# ABI 3's link types: CAN length codes, frame validity and filters, the USB
# setup packet and DFU functional descriptor, structure growth.
fwup_add_check_test(test_linktypes
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_linktypes.c
  LABELS unit)

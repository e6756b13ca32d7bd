# JSON-lines framing of the control socket (lib/jsonl).
fwup_add_check_test(test_jsonl
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_jsonl.c
  LIBS fwup_jsonl
  LABELS unit)

# SQLite job store (daemon/store/store*.c): every test on a real database file.
if(TARGET fwup_store)
  fwup_add_check_test(test_store
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store.c
    LIBS fwup_store
    LABELS unit store)
  # Lets the test inspect the store's own connection (per-connection pragmas).
  target_link_options(test_store PRIVATE -Wl,--wrap=sqlite3_open_v2)
endif()

# fwupctl's formatting helpers and socket client (the pure parts and a
# socketpair round trip); end-to-end runs are in integration/.
fwup_add_check_test(test_cli_output
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cli_output.c
          ${CMAKE_SOURCE_DIR}/cli/output.c ${CMAKE_SOURCE_DIR}/cli/client.c
  LIBS fwup_jsonl fwup_util PkgConfig::JANSSON PkgConfig::SODIUM m
  LABELS unit cli)
target_include_directories(test_cli_output PRIVATE ${CMAKE_SOURCE_DIR}/cli)

# tools/mutate's operators on a fixture (the tool itself runs outside ctest).
find_program(FWUP_PYTHON3 python3 REQUIRED)
add_test(NAME test_mutate_operators
  COMMAND ${FWUP_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/mutation/test_operators.py)
set_tests_properties(test_mutate_operators PROPERTIES LABELS unit)

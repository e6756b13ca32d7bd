# Kernel test tier: tests that need SocketCAN or USB run inside a real Debian
# kernel under QEMU through tests/vm/run (see tests/vm/README.md). Each test
# below is one boot; checks that can share a boot share it.
set(FWUP_VM ${CMAKE_CURRENT_SOURCE_DIR}/vm)

add_executable(vm_can_smoke ${FWUP_VM}/can_smoke.c)
target_link_libraries(vm_can_smoke PRIVATE PkgConfig::SOCKETCAN)
add_executable(vm_usb_gadget ${FWUP_VM}/usb_gadget.c)
add_executable(vm_usb_smoke ${FWUP_VM}/usb_smoke.c)
target_link_libraries(vm_usb_smoke PRIVATE PkgConfig::USB)

# fwup_add_vm_test(NAME [RUN_ARGS args...] COMMAND cmd...): run cmd in the guest.
function(fwup_add_vm_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "RUN_ARGS;COMMAND;DEPENDS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 240)
  endif()
  add_test(NAME ${name} COMMAND bash ${FWUP_VM}/run ${T_RUN_ARGS} -- ${T_COMMAND})
  set_tests_properties(${name} PROPERTIES LABELS kernel TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "FWUP_SOURCE_DIR=${CMAKE_SOURCE_DIR};FWUP_BINARY_DIR=${CMAKE_BINARY_DIR}")
endfunction()

fwup_add_vm_test(vm_can RUN_ARGS --can 2
  COMMAND sh ${FWUP_VM}/can_checks.sh ${CMAKE_BINARY_DIR})
fwup_add_vm_test(vm_usb RUN_ARGS --usb
  COMMAND sh ${FWUP_VM}/usb_checks.sh ${CMAKE_BINARY_DIR})

# The tier's own failure modes: exit status and output, a hung guest, a
# panic, a guest that stops before the command, no QEMU on the machine.
foreach(m status timeout panic bootfail noqemu)
  add_test(NAME vm_selftest_${m} COMMAND bash ${FWUP_VM}/selftest.sh ${m})
endforeach()
# The timeout test mostly waits: start it first so others overlap it.
set_tests_properties(vm_selftest_timeout PROPERTIES COST 1000)
set_tests_properties(vm_selftest_status vm_selftest_timeout vm_selftest_panic
  vm_selftest_bootfail vm_selftest_noqemu PROPERTIES
  LABELS kernel TIMEOUT 240
  ENVIRONMENT "FWUP_SOURCE_DIR=${CMAKE_SOURCE_DIR};FWUP_BINARY_DIR=${CMAKE_BINARY_DIR}")

# The scheduler's rules end to end (back-off schedule, attempts, one job per
# link, max_concurrent_jobs, batch states), on the times the store records.
add_test(NAME integration_sched COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_sched.sh)
set_tests_properties(integration_sched PROPERTIES LABELS integration TIMEOUT 300
  ENVIRONMENT "FWUP_BINARY_DIR=${CMAKE_BINARY_DIR}")

# The scheduler and the API on a virtual clock: a real store file, real
# plugins that only state link requirements (unit/sched_plugin.c: "test" on
# serial, raw CAN and USB, "isotp" on ISO-TP), runs faked at the run ops.
set(_sched_plugins ${CMAKE_CURRENT_BINARY_DIR}/sched-plugins)
foreach(p test isotp)
  add_library(sched_${p}_plugin MODULE ${CMAKE_CURRENT_SOURCE_DIR}/unit/sched_plugin.c)
  set_target_properties(sched_${p}_plugin PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${_sched_plugins})
  target_include_directories(sched_${p}_plugin PRIVATE ${CMAKE_SOURCE_DIR}/include)
endforeach()
target_compile_definitions(sched_test_plugin PRIVATE SCHED_NAME="test"
  "SCHED_TRANSPORTS=FWUP_TRANSPORT_SERIAL|FWUP_TRANSPORT_CAN|FWUP_TRANSPORT_USB")
target_compile_definitions(sched_isotp_plugin PRIVATE SCHED_NAME="isotp"
  SCHED_TRANSPORTS=FWUP_TRANSPORT_ISOTP)
if(TARGET fwup_store AND TARGET fwup_link)
  # The daemon's core for both (unit/vcore.c): the scheduler and what it
  # runs on, runs faked.
  set(_d ${CMAKE_SOURCE_DIR}/daemon)
  add_library(fwup_vcore STATIC ${CMAKE_CURRENT_SOURCE_DIR}/unit/vcore.c ${_d}/sched/scheduler.c
    ${_d}/sched/claims.c ${_d}/core.c ${_d}/outcomes.c ${_d}/log.c ${_d}/run/plugins.c
    ${_d}/run/jobrun.c ${_d}/run/ctrlrun.c ${_d}/run/ctrlline_hw.c)
  target_include_directories(fwup_vcore PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/unit)
  target_link_libraries(fwup_vcore PUBLIC fwup_store fwup_config fwup_image fwup_blobstore fwup_host
    fwup_link fwup_proto_common fwup_util fwup_daemon_headers PkgConfig::UV PkgConfig::GPIOD PkgConfig::CHECK
    ${CMAKE_DL_LIBS})
  target_compile_definitions(fwup_vcore PUBLIC SCHED_PLUGIN_DIR="${_sched_plugins}")

  fwup_add_check_test(test_sched
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sched.c
    LIBS fwup_vcore
    LABELS unit)
  add_dependencies(test_sched sched_test_plugin sched_isotp_plugin)

  # The socket API's methods called directly (unit/test_api.c): requests
  # from a connection the test stands in for, on the same core.
  fwup_add_check_test(test_api
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_api.c ${_d}/api/api.c
    LIBS fwup_vcore fwup_jsonl
    LABELS unit)
  target_compile_definitions(test_api PRIVATE FWUP_VERSION="test")
  add_dependencies(test_api sched_test_plugin sched_isotp_plugin)
endif()

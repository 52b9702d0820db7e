# The BLCR-style single-process tools.
set(_t ${CMAKE_CURRENT_SOURCE_DIR}/libcr_tools)
include_directories(${CMAKE_CURRENT_SOURCE_DIR}/common)
add_executable(cr_run ${_t}/cr_run.cpp)
add_executable(cr_checkpoint ${_t}/cr_checkpoint.cpp ${_t}/cr_checkpoint_job.cpp)
# Job mode speaks crmpirun's job control socket (crmpi/job_control.h).
target_include_directories(cr_checkpoint PRIVATE ${PROJECT_SOURCE_DIR}/coordinator/include)
# The requester speaks the control channel itself: it must not load libcr
# (which would start a runtime and a control socket of its own).
target_link_libraries(cr_checkpoint PRIVATE crcontrol)
add_executable(cr_restart ${_t}/cr_restart.cpp)
target_link_libraries(cr_restart PRIVATE crrestore)
# cr_restart must stay single-threaded and unaffected by a preloaded libcr.
add_executable(cr_info ${_t}/cr_info.cpp ${_t}/cr_info_job.cpp)
target_link_libraries(cr_info PRIVATE crimage crmanifest)

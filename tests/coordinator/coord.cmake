# crcoord's tests: fake agents drive the coordinator over TCP (no MPI), and
# the job control socket's peer checks with another user.
if(NOT TARGET crcoord OR NOT TARGET crmanifest)
  return()
endif()
add_executable(coord_test ${CMAKE_CURRENT_LIST_DIR}/coord_test.cpp)
target_include_directories(coord_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(coord_test PRIVATE crcoord crmanifest GTest::gtest GTest::gtest_main Threads::Threads)
include(GoogleTest)
gtest_discover_tests(coord_test TEST_PREFIX coord. PROPERTIES LABELS unit TIMEOUT 60)

# MPI tools: crmpirun (wraps mpirun) and cr_agent (one rank's real MPI process).
if(NOT MPI_C_FOUND)
  return()
endif()
# cr_agent: the life of a rank's real MPI process; what it executes is
# pmpi_layer's crmpi_agent library.
add_executable(cr_agent ${CMAKE_CURRENT_LIST_DIR}/cr_agent/agent_main.cpp)
target_link_libraries(cr_agent PRIVATE crmpi_agent crmanifest)
target_include_directories(cr_agent PRIVATE ${CMAKE_CURRENT_LIST_DIR}/common)

# crmpirun: mpirun's wrapper, with the job checkpoint coordinator (crcoord).
add_executable(crmpirun ${CMAKE_CURRENT_LIST_DIR}/crmpirun/crmpirun.cpp
  ${CMAKE_CURRENT_LIST_DIR}/crmpirun/job.cpp ${CMAKE_CURRENT_LIST_DIR}/crmpirun/restart.cpp)
target_include_directories(crmpirun PRIVATE ${CMAKE_CURRENT_LIST_DIR}/common
  ${PROJECT_SOURCE_DIR}/pmpi_layer/include)
target_link_libraries(crmpirun PRIVATE crcoord crmanifest)
target_compile_definitions(crmpirun PRIVATE CRMPI_MPIRUN="${MPIEXEC_EXECUTABLE}")

# crmpicc: mpicc that links libcrpmpi (relink use).
configure_file(${CMAKE_CURRENT_LIST_DIR}/crmpirun/crmpicc.in ${CMAKE_BINARY_DIR}/bin/crmpicc @ONLY
               FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# MPI tools: crmpirun (wraps mpirun) and cr_agent (one rank's real MPI process).
if(NOT MPI_C_FOUND)
  return()
endif()
add_executable(cr_agent ${CMAKE_CURRENT_LIST_DIR}/cr_agent/agent_main.cpp ${CMAKE_CURRENT_LIST_DIR}/cr_agent/agent_exec.cpp
                        ${CMAKE_CURRENT_LIST_DIR}/cr_agent/agent_coll.cpp
                        ${CMAKE_CURRENT_LIST_DIR}/cr_agent/agent_p2p.cpp ${CMAKE_CURRENT_LIST_DIR}/cr_agent/agent_rndv.cpp
                        ${CMAKE_CURRENT_LIST_DIR}/cr_agent/agent_coll_direct.cpp)
target_include_directories(cr_agent PRIVATE ${CRMPI_GEN_DIR} ${CMAKE_CURRENT_LIST_DIR}/cr_agent)
target_link_libraries(cr_agent PRIVATE crmpi_channel MPI::MPI_C)
target_compile_definitions(cr_agent PRIVATE OMPI_SKIP_MPICXX=1)
add_dependencies(cr_agent crmpi_generated)

add_executable(crmpirun ${CMAKE_CURRENT_LIST_DIR}/crmpirun/crmpirun.cpp)
target_compile_definitions(crmpirun PRIVATE CRMPI_MPIRUN="${MPIEXEC_EXECUTABLE}")

# crmpicc: mpicc that links libcrpmpi (relink use).
configure_file(${CMAKE_CURRENT_LIST_DIR}/crmpirun/crmpicc.in ${CMAKE_BINARY_DIR}/bin/crmpicc @ONLY
               FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# crcoord: the job checkpoint coordinator (crmpi/coordinator.h), the agents'
# link to it (crmpi/coord_client.h), their framing and MACs
# (crmpi/coord_wire.h) and the job control socket (crmpi/job_control.h).
# Linked into crmpirun, cr_agent and cr_checkpoint; static and PIC.
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
set(_c ${CMAKE_CURRENT_LIST_DIR})
add_library(crcoord STATIC
  ${_c}/src/coord_wire.cpp
  ${_c}/src/coord_client.cpp
  ${_c}/src/coordinator.cpp
  ${_c}/src/checkpoint.cpp
  ${_c}/src/job_control.cpp)
set_target_properties(crcoord PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(crcoord PUBLIC ${_c}/include ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(crcoord PUBLIC OpenSSL::Crypto crcontrol)
if(TARGET crmanifest)
  target_link_libraries(crcoord PUBLIC crmanifest)
endif()

# crmanifest: job.manifest.json (crmpi/manifest.h) -- its JSON, its durable
# writing, and the checks of the images it names (with crimage's reader).
# Linked into crmpirun, cr_agent, cr_restart and cr_info.
add_library(crmanifest STATIC ${CMAKE_CURRENT_SOURCE_DIR}/src/manifest.cpp)
set_target_properties(crmanifest PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(crmanifest PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(crmanifest PRIVATE nlohmann_json::nlohmann_json crimage Threads::Threads)

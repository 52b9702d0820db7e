# crmanifest (crmpi/manifest.h): unit tests, a job checkpoint folder made
# with cr_run + cr_checkpoint for the image checks and cr_info, write() on a
# full and a read-only tmpfs, and a libFuzzer run of parse().
set(_m ${CMAKE_CURRENT_SOURCE_DIR})
set(_w ${CMAKE_CURRENT_BINARY_DIR}/work)
set(_b ${CMAKE_BINARY_DIR}/bin)

add_executable(manifest_tool ${_m}/manifest_tool.cpp)
target_link_libraries(manifest_tool PRIVATE crmanifest crimage)

# The job folder (3 ranks of ckpt_heap): a fixture the tests below share.
add_test(NAME coordinator.manifest_job
  COMMAND ${_m}/manifest_job.sh ${_b} $<TARGET_FILE:manifest_tool> ${_w}/manifest_job 3)
set_tests_properties(coordinator.manifest_job PROPERTIES
  FIXTURES_SETUP manifest_job TIMEOUT 120 LABELS checkpoint)

add_executable(manifest_test ${_m}/manifest_test.cpp)
target_link_libraries(manifest_test PRIVATE crmanifest crimage nlohmann_json::nlohmann_json
                      GTest::gtest_main)
add_test(NAME coordinator.manifest COMMAND manifest_test --gtest_filter=-ManifestImages.*)
set_tests_properties(coordinator.manifest PROPERTIES LABELS unit)
# validate_images() on the fixture's real images.
add_test(NAME coordinator.manifest_images COMMAND manifest_test --gtest_filter=ManifestImages.*)
set_tests_properties(coordinator.manifest_images PROPERTIES LABELS unit
  FIXTURES_REQUIRED manifest_job ENVIRONMENT CRMPI_TEST_JOB=${_w}/manifest_job/job)

add_test(NAME coordinator.manifest_cr_info
  COMMAND ${_m}/manifest_cr_info.sh ${_b} ${_w}/manifest_job/job ${_w}/manifest_cr_info)
set_tests_properties(coordinator.manifest_cr_info PROPERTIES
  FIXTURES_REQUIRED manifest_job TIMEOUT 120 LABELS checkpoint)

# Needs root for the tmpfs (CI has it): skipped otherwise.
add_test(NAME coordinator.manifest_write_full
  COMMAND ${_m}/manifest_write_full.sh $<TARGET_FILE:manifest_tool> ${_w}/manifest_write_full)
set_tests_properties(coordinator.manifest_write_full PROPERTIES
  SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS unit)

# libFuzzer on parse() (label fuzz), built by clang++ directly like the image
# fuzzers (tests/libcr/fuzz), and only where those could be built.
if(TARGET image_fuzzers)
  set(_img ${PROJECT_SOURCE_DIR}/libcr/src/image)
  set(_src ${_m}/manifest_parse_fuzz.cpp ${PROJECT_SOURCE_DIR}/coordinator/src/manifest.cpp
           ${_img}/reader.cpp ${_img}/validate.cpp ${_img}/common.cpp)
  set(_out ${CMAKE_BINARY_DIR}/bin/fuzz_manifest_parse)
  list(TRANSFORM ZSTD_INCLUDE_DIRS PREPEND -I OUTPUT_VARIABLE _zinc)
  list(TRANSFORM XXHASH_INCLUDE_DIRS PREPEND -I OUTPUT_VARIABLE _xinc)
  add_custom_command(OUTPUT ${_out}
    COMMAND ${CRMPI_CLANGXX} -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=undefined -fno-omit-frame-pointer
            -I${PROJECT_SOURCE_DIR}/coordinator/include -I${_img} -I${PROJECT_SOURCE_DIR}/include
            ${_zinc} ${_xinc} ${_src} ${ZSTD_LINK_LIBRARIES} ${XXHASH_LINK_LIBRARIES} -o ${_out}
    DEPENDS ${_src} ${PROJECT_SOURCE_DIR}/coordinator/include/crmpi/manifest.h
    COMMENT "Building fuzzer fuzz_manifest_parse with ${CRMPI_CLANGXX}"
    VERBATIM)
  # Seeds: a valid manifest (manifest_tool sample), written at build time.
  set(_seeds ${CMAKE_CURRENT_BINARY_DIR}/manifest_seeds)
  add_custom_command(OUTPUT ${_seeds}/job.manifest.json
    COMMAND ${CMAKE_COMMAND} -E make_directory ${_seeds}
    COMMAND manifest_tool sample ${_seeds} 3
    DEPENDS manifest_tool
    COMMENT "Writing the manifest fuzzer's seed")
  add_custom_target(manifest_fuzzer ALL DEPENDS ${_out} ${_seeds}/job.manifest.json)
  add_test(NAME fuzz.manifest_parse
    COMMAND ${PROJECT_SOURCE_DIR}/tests/libcr/fuzz/run_fuzz.sh ${_out} ${_w}/fuzz_manifest_parse ${_seeds} 30)
  set_tests_properties(fuzz.manifest_parse PROPERTIES LABELS fuzz TIMEOUT 120)
endif()

# Security of crmpirun's job control socket (job.<pid>, issue 8's rules for
# the job): another user can neither checkpoint a job nor reach its socket,
# the owner can (folder 0700, files 0600), and impostor sockets are never
# sent a request.  Runs as root and creates two throwaway users; skipped
# (77) when not root or when the build's binaries are not reachable by an
# unprivileged user.
set(_js ${CMAKE_CURRENT_SOURCE_DIR})
add_test(NAME coordinator.security_job_socket
  COMMAND ${_js}/job_socket_security.sh ${CMAKE_BINARY_DIR}/bin ${CMAKE_CURRENT_BINARY_DIR}/work/job_socket_security)
set_tests_properties(coordinator.security_job_socket PROPERTIES
  SKIP_RETURN_CODE 77 TIMEOUT 120 RUN_SERIAL ON LABELS "security;checkpoint"
  FAIL_REGULAR_EXPRESSION "FAIL:")

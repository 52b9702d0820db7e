# Real applications that no one here wrote, run unmodified under crmpirun
# (LD_PRELOAD). Installed by scripts/setup: hpcc, lammps, python3-mpi4py.
find_program(CRMPI_HPCC hpcc)
find_program(CRMPI_LMP lmp)
# Debian's python3-mpi4py is built for Debian's python3, not for whatever
# python3 comes first on PATH (pyenv, conda): use that one.
find_program(CRMPI_PY python3 PATHS /usr/bin NO_DEFAULT_PATH)
foreach(app hpcc lammps mpi4py hpcc_ckpt lammps_ckpt mpi4py_ckpt)
  add_test(NAME app_${app} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/apps/run_app.sh ${app} $<TARGET_FILE:crmpirun>
                                   ${CRMPI_MPIRUN} ${CMAKE_CURRENT_SOURCE_DIR} ${CRMPI_PY})
  set_tests_properties(app_${app} PROPERTIES TIMEOUT 180 ENVIRONMENT "${CRMPI_TEST_ENV}")
endforeach()
if(NOT CRMPI_HPCC OR NOT CRMPI_LMP)
  message(WARNING "hpcc or lmp not installed (scripts/setup installs them); app tests will fail")
endif()

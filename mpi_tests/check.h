/* Shared helper of the mpi_tests programs: abort the job on a failed check. */
#ifndef CRMPI_MPI_TESTS_CHECK_H
#define CRMPI_MPI_TESTS_CHECK_H
#include <mpi.h>
#include <stdio.h>
#define CHECK(c, what)                                                               \
  do {                                                                               \
    if (!(c)) {                                                                      \
      int r_;                                                                        \
      MPI_Comm_rank(MPI_COMM_WORLD, &r_);                                            \
      fprintf(stderr, "rank %d: FAILED %s (%s:%d)\n", r_, what, __FILE__, __LINE__); \
      MPI_Abort(MPI_COMM_WORLD, 2);                                                  \
    }                                                                                \
  } while (0)
#endif

/* Deliberate failures, for the launcher tests. argv[1]:
 *   segv      rank 1 dies of SIGSEGV after MPI_Init
 *   abort     rank 1 calls MPI_Abort(MPI_COMM_WORLD, 7)
 *   nofinal   rank 1 exits 3 without MPI_Finalize
 *   unsupp    every rank calls MPI_Win_create (not supported)
 *   sleep     all ranks sleep in a barrier-free loop (for signal tests)
 *   stdin     rank 0 echoes its stdin to stdout */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

int main(int argc, char** argv) {
  int rank;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const char* mode = argc > 1 ? argv[1] : "";
  MPI_Barrier(MPI_COMM_WORLD);
  if (!strcmp(mode, "segv") && rank == 1) raise(SIGSEGV);
  if (!strcmp(mode, "abort") && rank == 1) MPI_Abort(MPI_COMM_WORLD, 7);
  if (!strcmp(mode, "nofinal") && rank == 1) exit(3);
  if (!strcmp(mode, "unsupp")) {
    MPI_Win w;
    static int mem[4];
    MPI_Win_create(mem, sizeof mem, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &w);
  }
  if (!strcmp(mode, "sleep")) {
    printf("rank %d: sleeping\n", rank);
    fflush(stdout);
    for (;;) sleep(1);
  }
  if (!strcmp(mode, "stdin") && rank == 0) {
    char line[256];
    while (fgets(line, sizeof line, stdin)) printf("echo: %s", line);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Finalize();
  return 0;
}

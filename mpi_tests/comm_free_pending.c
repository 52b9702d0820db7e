/* Communicators freed while operations on them are pending: MPI_Comm_free
 * only marks a communicator for deallocation, and the operations complete
 * normally (MPI-3.1 6.4.3), as in MPICH's cmfree test.
 * The last rank posts a receive from rank 0 on a duplicate of the world,
 * frees the duplicate, and waits for the message only after a run of
 * collectives and a handshake with rank 0, which sends it then.  Under
 * ckpt_any.sh the job checkpoints (at rank 0's 3rd, 5th, 12th, 40th call)
 * fall between the free and the wait: the pending receive is cancelled and
 * posted again on the freed communicator, which a restart rebuilds.
 * (Not a nonblocking collective on a freed communicator: Open MPI 4.1's
 * libnbc crashes on it under plain mpirun, so it cannot be compared.) */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

#define N 128
#define ROUNDS 30

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  CHECK(size >= 2, "at least 2 ranks");
  const int dest = size - 1;

  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  int buf[N];
  MPI_Request recv = MPI_REQUEST_NULL;
  if (rank == dest) {
    for (int i = 0; i < N; ++i) buf[i] = -1;
    MPI_Irecv(buf, N, MPI_INT, 0, 7, comm, &recv);
    MPI_Comm_free(&comm);
    CHECK(comm == MPI_COMM_NULL, "a freed communicator is MPI_COMM_NULL");
  }

  long acc = 0;
  for (int r = 0; r < ROUNDS; ++r) {
    long v = rank * r, s = 0;
    MPI_Allreduce(&v, &s, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    acc += s;
  }

  if (rank == 0 || rank == dest) { /* the handshake: now rank 0 sends */
    int other = rank == 0 ? dest : 0;
    MPI_Sendrecv(NULL, 0, MPI_INT, other, 1, NULL, 0, MPI_INT, other, 1, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
  }
  if (rank == 0) {
    for (int i = 0; i < N; ++i) buf[i] = 3 * i;
    MPI_Send(buf, N, MPI_INT, dest, 7, comm);
    MPI_Comm_free(&comm);
  }
  if (rank == dest) {
    MPI_Status st;
    MPI_Wait(&recv, &st);
    CHECK(st.MPI_SOURCE == 0 && st.MPI_TAG == 7, "the receive's status");
    for (int i = 0; i < N; ++i) CHECK(buf[i] == 3 * i, "the message on the freed communicator");
  } else if (rank != 0) {
    MPI_Comm_free(&comm);
  }
  printf("comm_free_pending: rank %d: rounds %ld%s\n", rank, acc,
         rank == dest ? ", message received" : "");
  MPI_Finalize();
  return 0;
}

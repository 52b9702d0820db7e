/* Messages in flight on an intercommunicator while the receiving group is
 * busy elsewhere: a small and a large (rendezvous-sized) message from every
 * even world rank to every remote (odd) rank, received late with
 * MPI_ANY_SOURCE.  Under ckpt_any.sh the job checkpoints while they are in
 * flight: the drain must hand them back with remote-rank sources. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int w, n;
  MPI_Comm_rank(MPI_COMM_WORLD, &w);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  CHECK(n >= 2, "at least 2 ranks");
  int color = w % 2, lr, rs, big = 100000;
  MPI_Comm local, ic;
  MPI_Comm_split(MPI_COMM_WORLD, color, w, &local);
  MPI_Intercomm_create(local, 0, MPI_COMM_WORLD, color ? 0 : 1, 5, &ic);
  MPI_Comm_rank(ic, &lr);
  MPI_Comm_remote_size(ic, &rs);
  int* buf = malloc(sizeof(int) * big);
  if (!color) {
    for (int j = 0; j < rs; ++j) {
      int v = w * 10 + j;
      MPI_Send(&v, 1, MPI_INT, j, 1, ic);
      for (int i = 0; i < big; ++i) buf[i] = w + i + j;
      MPI_Request r;
      MPI_Isend(buf, big, MPI_INT, j, 2, ic, &r);
      MPI_Wait(&r, MPI_STATUS_IGNORE);
    }
    for (int k = 0; k < 20; ++k) MPI_Barrier(local);
  } else {
    for (int k = 0; k < 20; ++k) {
      usleep(10000);
      MPI_Barrier(local);
    }
    for (int j = 0; j < rs; ++j) {
      MPI_Status st;
      int v = -1;
      MPI_Recv(&v, 1, MPI_INT, MPI_ANY_SOURCE, 1, ic, &st);
      int src = st.MPI_SOURCE;
      CHECK(src >= 0 && src < rs, "source is a remote rank");
      CHECK(v == 2 * src * 10 + lr, "small message from that remote rank");
      MPI_Recv(buf, big, MPI_INT, src, 2, ic, &st);
      CHECK(st.MPI_SOURCE == src, "large source");
      for (int i = 0; i < big; i += 101) CHECK(buf[i] == 2 * src + i + lr, "large payload");
      printf("rank %d: got both from remote %d\n", w, src);
    }
  }
  MPI_Barrier(ic);
  printf("rank %d: drain test done\n", w);
  free(buf);
  MPI_Comm_free(&ic);
  MPI_Comm_free(&local);
  MPI_Finalize();
  return 0;
}

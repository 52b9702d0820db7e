/* The MPI_ERROR field of a status (MPI-3.1 3.2.5): calls that return one
 * status never write it -- the error is their return value -- so a value
 * the program put there survives MPI_Probe, MPI_Iprobe, MPI_Recv,
 * MPI_Mprobe, MPI_Mrecv, MPI_Improbe, MPI_Imrecv + MPI_Wait, MPI_Irecv +
 * MPI_Wait / MPI_Test / MPI_Waitany and MPI_Sendrecv; MPI_Waitall writes
 * MPI_SUCCESS into every status.  Rank 0 sends, the last rank receives;
 * source, tag and count are checked too. */
#include "check.h"

#define KEPT(what, call)                                           \
  do {                                                             \
    s.MPI_ERROR = MPI_ERR_DIMS;                                    \
    call;                                                          \
    CHECK(s.MPI_ERROR == MPI_ERR_DIMS, what " keeps MPI_ERROR");   \
    CHECK(s.MPI_SOURCE == 0, what " source");                      \
  } while (0)

int main(int argc, char** argv) {
  int rank, size, v = 0, flag = 0, idx, n;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int last = size - 1;
  if (size < 2) {
    printf("needs two ranks\n");
    MPI_Finalize();
    return 0;
  }
  if (rank == 0) {
    for (int t = 0; t < 10; ++t) MPI_Send(&t, 1, MPI_INT, last, t, MPI_COMM_WORLD);
  } else if (rank == last) {
    MPI_Status s, ss[2];
    MPI_Message m;
    MPI_Request r, rs[2];
    KEPT("MPI_Probe", MPI_Probe(0, 0, MPI_COMM_WORLD, &s));
    KEPT("MPI_Iprobe", do MPI_Iprobe(0, 0, MPI_COMM_WORLD, &flag, &s); while (!flag));
    KEPT("MPI_Recv", MPI_Recv(&v, 1, MPI_INT, 0, 0, MPI_COMM_WORLD, &s));
    MPI_Get_count(&s, MPI_INT, &n);
    CHECK(v == 0 && n == 1 && s.MPI_TAG == 0, "MPI_Recv data");
    KEPT("MPI_Mprobe", MPI_Mprobe(0, 1, MPI_COMM_WORLD, &m, &s));
    KEPT("MPI_Mrecv", MPI_Mrecv(&v, 1, MPI_INT, &m, &s));
    CHECK(v == 1, "MPI_Mrecv data");
    KEPT("MPI_Improbe", do MPI_Improbe(0, 2, MPI_COMM_WORLD, &flag, &m, &s); while (!flag));
    MPI_Imrecv(&v, 1, MPI_INT, &m, &r);
    KEPT("MPI_Imrecv + MPI_Wait", MPI_Wait(&r, &s));
    CHECK(v == 2, "MPI_Imrecv data");
    MPI_Irecv(&v, 1, MPI_INT, 0, 3, MPI_COMM_WORLD, &r);
    KEPT("MPI_Wait", MPI_Wait(&r, &s));
    MPI_Irecv(&v, 1, MPI_INT, 0, 4, MPI_COMM_WORLD, &r);
    KEPT("MPI_Test", do MPI_Test(&r, &flag, &s); while (!flag));
    MPI_Irecv(&v, 1, MPI_INT, 0, 5, MPI_COMM_WORLD, &r);
    KEPT("MPI_Waitany", MPI_Waitany(1, &r, &idx, &s));
    CHECK(v == 5 && idx == 0, "MPI_Waitany data");
    int five = 5;
    KEPT("MPI_Sendrecv",
         MPI_Sendrecv(&five, 1, MPI_INT, last, 99, &v, 1, MPI_INT, 0, 6, MPI_COMM_WORLD, &s));
    MPI_Recv(&n, 1, MPI_INT, last, 99, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    CHECK(v == 6 && n == 5, "MPI_Sendrecv data");
    MPI_Irecv(&v, 1, MPI_INT, 0, 7, MPI_COMM_WORLD, &rs[0]);
    MPI_Irecv(&n, 1, MPI_INT, 0, 8, MPI_COMM_WORLD, &rs[1]);
    ss[0].MPI_ERROR = ss[1].MPI_ERROR = MPI_ERR_DIMS;
    MPI_Waitall(2, rs, ss);
    CHECK(ss[0].MPI_ERROR == MPI_SUCCESS && ss[1].MPI_ERROR == MPI_SUCCESS,
          "MPI_Waitall writes MPI_SUCCESS");
    MPI_Recv(&v, 1, MPI_INT, 0, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    CHECK(v == 9, "last message");
  }
  printf("rank %d: status fields ok\n", rank);
  MPI_Finalize();
  return 0;
}

/* Collectives: every blocking collective and its nonblocking form, in-place
 * variants, v-variants; results checked against closed forms. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int rank, size;

static void blocking(void) {
  MPI_Barrier(MPI_COMM_WORLD);
  int v[3] = {0, 0, 0};
  if (rank == 1 % size) v[0] = 42, v[1] = 43, v[2] = 44;
  MPI_Bcast(v, 3, MPI_INT, 1 % size, MPI_COMM_WORLD);
  CHECK(v[0] == 42 && v[2] == 44, "bcast");
  double big[100000];
  for (int i = 0; i < 100000; ++i) big[i] = rank == 0 ? i : -1;
  MPI_Bcast(big, 100000, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  CHECK(big[99999] == 99999, "bcast large");

  int x = rank + 1, sum = 0, mx = 0;
  MPI_Reduce(&x, &sum, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) CHECK(sum == size * (size + 1) / 2, "reduce");
  MPI_Allreduce(&x, &mx, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  CHECK(mx == size, "allreduce max");
  int ip = rank + 1;
  MPI_Allreduce(MPI_IN_PLACE, &ip, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  CHECK(ip == size * (size + 1) / 2, "allreduce in place");
  double d[2] = {rank * 1.5, -rank}, dr[2];
  MPI_Allreduce(d, dr, 2, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
  CHECK(dr[0] == 0 && dr[1] == -(size - 1), "allreduce double min");
  struct {
    double v;
    int r;
  } in = {(double)((rank * 7) % size), rank}, out;
  MPI_Allreduce(&in, &out, 1, MPI_DOUBLE_INT, MPI_MAXLOC, MPI_COMM_WORLD);
  CHECK(out.v == size - 1, "maxloc");
  int sc = 0;
  MPI_Scan(&x, &sc, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  CHECK(sc == (rank + 1) * (rank + 2) / 2, "scan");
  int ex = -7;
  MPI_Exscan(&x, &ex, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank > 0)
    CHECK(ex == rank * (rank + 1) / 2, "exscan");
  else
    CHECK(ex == -7, "exscan leaves rank 0's buffer (as Open MPI does)");

  int* all = malloc(size * sizeof(int) * 4);
  int* all2 = malloc(size * sizeof(int) * 4);
  for (int i = 0; i < size; ++i) all[i] = rank * 100 + i;
  int rsb = 0;
  MPI_Reduce_scatter_block(all, &rsb, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  CHECK(rsb == 100 * size * (size - 1) / 2 + size * rank, "reduce_scatter_block");
  int* counts = malloc(size * sizeof(int));
  for (int i = 0; i < size; ++i) counts[i] = 1;
  MPI_Reduce_scatter(all, &rsb, counts, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  CHECK(rsb == 100 * size * (size - 1) / 2 + size * rank, "reduce_scatter");

  int me = rank * 3;
  MPI_Gather(&me, 1, MPI_INT, all, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (rank == 0)
    for (int i = 0; i < size; ++i) CHECK(all[i] == 3 * i, "gather");
  MPI_Allgather(&me, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
  for (int i = 0; i < size; ++i) CHECK(all[i] == 3 * i, "allgather");
  for (int i = 0; i < size; ++i) all[i] = (i == rank) ? 5 * rank : -1;
  MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all, 1, MPI_INT, MPI_COMM_WORLD);
  for (int i = 0; i < size; ++i) CHECK(all[i] == 5 * i, "allgather in place");
  for (int i = 0; i < size; ++i) all[i] = 10 * i;
  int got = -1;
  MPI_Scatter(all, 1, MPI_INT, &got, 1, MPI_INT, 0, MPI_COMM_WORLD);
  CHECK(got == 10 * rank, "scatter");

  /* v-variants: rank i contributes i+1 ints; displacements leave gaps. */
  int* displs = malloc(size * sizeof(int));
  int tot = 0;
  for (int i = 0; i < size; ++i) counts[i] = i + 1, displs[i] = tot + i, tot += i + 1 + i;
  int* mine = malloc((rank + 1) * sizeof(int));
  for (int k = 0; k <= rank; ++k) mine[k] = rank * 1000 + k;
  int* gv = malloc(tot * sizeof(int));
  for (int k = 0; k < tot; ++k) gv[k] = -5;
  MPI_Allgatherv(mine, rank + 1, MPI_INT, gv, counts, displs, MPI_INT, MPI_COMM_WORLD);
  for (int i = 0; i < size; ++i) {
    for (int k = 0; k <= i; ++k) CHECK(gv[displs[i] + k] == i * 1000 + k, "allgatherv");
    if (i > 0) CHECK(gv[displs[i] - 1] == -5, "allgatherv gap kept");
  }
  for (int k = 0; k < tot; ++k) gv[k] = -5;
  MPI_Gatherv(mine, rank + 1, MPI_INT, gv, counts, displs, MPI_INT, size - 1, MPI_COMM_WORLD);
  if (rank == size - 1)
    for (int i = 0; i < size; ++i) CHECK(gv[displs[i] + i] == i * 1000 + i, "gatherv");
  int* sv = malloc((rank + 1) * sizeof(int));
  MPI_Scatterv(gv, counts, displs, MPI_INT, sv, rank + 1, MPI_INT, size - 1, MPI_COMM_WORLD);
  CHECK(sv[rank] == rank * 1000 + rank, "scatterv");

  for (int i = 0; i < size; ++i) all[i] = rank * 10 + i;
  MPI_Alltoall(all, 1, MPI_INT, all2, 1, MPI_INT, MPI_COMM_WORLD);
  for (int i = 0; i < size; ++i) CHECK(all2[i] == i * 10 + rank, "alltoall");
  int *sc2 = malloc(size * sizeof(int)), *sd2 = malloc(size * sizeof(int));
  for (int i = 0; i < size; ++i) sc2[i] = 1, sd2[i] = size - 1 - i;
  MPI_Alltoallv(all, sc2, sd2, MPI_INT, all2, sc2, sd2, MPI_INT, MPI_COMM_WORLD);
  for (int i = 0; i < size; ++i)
    CHECK(all2[size - 1 - i] == i * 10 + (size - 1 - rank), "alltoallv");
  free(all), free(all2), free(counts), free(displs), free(mine), free(gv), free(sv), free(sc2),
      free(sd2);
  printf("rank %d: blocking collectives ok\n", rank);
}

static void nonblocking(void) {
  MPI_Request r[6];
  int x = rank + 1, sum = 0, b = rank == 0 ? 77 : 0, g[64], me = rank * 2;
  double big[50000], bigr[50000];
  for (int i = 0; i < 50000; ++i) big[i] = rank + i;
  MPI_Ibarrier(MPI_COMM_WORLD, &r[0]);
  MPI_Iallreduce(&x, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD, &r[1]);
  MPI_Ibcast(&b, 1, MPI_INT, 0, MPI_COMM_WORLD, &r[2]);
  MPI_Iallgather(&me, 1, MPI_INT, g, 1, MPI_INT, MPI_COMM_WORLD, &r[3]);
  MPI_Iallreduce(big, bigr, 50000, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &r[4]);
  int red = 0;
  MPI_Ireduce(&x, &red, 1, MPI_INT, MPI_PROD, 0, MPI_COMM_WORLD, &r[5]);
  MPI_Waitall(6, r, MPI_STATUSES_IGNORE);
  CHECK(sum == size * (size + 1) / 2, "iallreduce");
  CHECK(b == 77, "ibcast");
  for (int i = 0; i < size; ++i) CHECK(g[i] == 2 * i, "iallgather");
  CHECK(bigr[49999] == size * 49999.0 + size * (size - 1) / 2.0, "iallreduce large");
  if (rank == 0) {
    int f = 1;
    for (int i = 1; i <= size; ++i) f *= i;
    CHECK(red == f, "ireduce prod");
  }
  int sc = 0, a2[64], a3[64];
  MPI_Iscan(&x, &sc, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD, &r[0]);
  for (int i = 0; i < size; ++i) a2[i] = rank * 10 + i;
  MPI_Ialltoall(a2, 1, MPI_INT, a3, 1, MPI_INT, MPI_COMM_WORLD, &r[1]);
  int gt[64];
  MPI_Igather(&me, 1, MPI_INT, gt, 1, MPI_INT, 0, MPI_COMM_WORLD, &r[2]);
  int got = -1;
  MPI_Iscatter(a2, 1, MPI_INT, &got, 1, MPI_INT, 0, MPI_COMM_WORLD, &r[3]);
  int flag = 0;
  while (!flag) MPI_Testall(4, r, &flag, MPI_STATUSES_IGNORE);
  CHECK(sc == (rank + 1) * (rank + 2) / 2, "iscan");
  for (int i = 0; i < size; ++i) CHECK(a3[i] == i * 10 + rank, "ialltoall");
  if (rank == 0)
    for (int i = 0; i < size; ++i) CHECK(gt[i] == 2 * i, "igather");
  CHECK(got == rank, "iscatter");
  /* Nonblocking v-variant: libcrpmpi passes the counts in the channel, which
   * the next call (MPI_Wait) reuses, so the agent must keep its own copy. */
  int vc[64], vd[64], vout[64 * 2], vin[2] = {rank, rank};
  for (int i = 0; i < size; ++i) vc[i] = 2, vd[i] = 2 * (size - 1 - i);
  MPI_Request vr;
  MPI_Iallgatherv(vin, 2, MPI_INT, vout, vc, vd, MPI_INT, MPI_COMM_WORLD, &vr);
  MPI_Wait(&vr, MPI_STATUS_IGNORE);
  for (int i = 0; i < size; ++i) CHECK(vout[2 * (size - 1 - i)] == i, "iallgatherv");
  /* Alltoallw: predefined types on the send side, a derived type on the
   * receive side, byte displacements in reverse order. */
  {
    int ws[128], wr[128], wsc[64], wsd[64], wrc[64], wrd[64];
    MPI_Datatype wst[64], wrt[64], pair;
    MPI_Type_contiguous(2, MPI_INT, &pair);
    MPI_Type_commit(&pair);
    for (int i = 0; i < size; ++i) {
      ws[2 * i] = rank * 100 + i, ws[2 * i + 1] = -(rank * 100 + i);
      wsc[i] = 2, wsd[i] = 8 * i, wst[i] = MPI_INT;
      wrc[i] = 1, wrd[i] = 8 * (size - 1 - i), wrt[i] = pair;
    }
    MPI_Alltoallw(ws, wsc, wsd, wst, wr, wrc, wrd, wrt, MPI_COMM_WORLD);
    for (int i = 0; i < size; ++i)
      CHECK(wr[2 * (size - 1 - i)] == i * 100 + rank &&
                wr[2 * (size - 1 - i) + 1] == -(i * 100 + rank),
            "alltoallw");
    MPI_Request wq;
    for (int i = 0; i < 2 * size; ++i) wr[i] = 0;
    MPI_Ialltoallw(ws, wsc, wsd, wst, wr, wrc, wrd, wrt, MPI_COMM_WORLD, &wq);
    MPI_Wait(&wq, MPI_STATUS_IGNORE);
    CHECK(wr[2 * (size - 1)] == rank, "ialltoallw");
    MPI_Type_free(&pair);
  }
  printf("rank %d: nonblocking collectives ok\n", rank);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  blocking();
  nonblocking();
  MPI_Finalize();
  return 0;
}

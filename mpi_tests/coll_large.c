/* Large collectives (crmpi copies their blocks directly between the ranks
 * of a node): bcast, gather, scatter, allgather, alltoall with blocks below
 * and above the threshold, in place where MPI allows it, on a derived type,
 * on a sub-communicator, and a pending large receive across them. Every
 * received byte is checked; the output is compared with plain mpirun's. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int rank, size;

static double val(int owner, int to, size_t i) {
  return owner * 1e9 + to * 1e6 + (double)(i % 100003);
}

static void run(MPI_Comm c, size_t n /* doubles per block */, const char* what) {
  int me, np;
  MPI_Comm_rank(c, &me);
  MPI_Comm_size(c, &np);
  double* s = malloc(n * np * sizeof(double));
  double* r = malloc(n * np * sizeof(double));
  int root = np - 1;
  /* bcast */
  for (size_t i = 0; i < n; ++i) r[i] = me == root ? val(root, 0, i) : -1;
  MPI_Bcast(r, (int)n, MPI_DOUBLE, root, c);
  for (size_t i = 0; i < n; ++i) CHECK(r[i] == val(root, 0, i), "bcast");
  /* scatter, and in place at the root */
  for (int j = 0; j < np; ++j)
    for (size_t i = 0; i < n; ++i) s[j * n + i] = val(root, j, i);
  MPI_Scatter(s, (int)n, MPI_DOUBLE, r, (int)n, MPI_DOUBLE, root, c);
  for (size_t i = 0; i < n; ++i) CHECK(r[i] == val(root, me, i), "scatter");
  if (me == root)
    MPI_Scatter(s, (int)n, MPI_DOUBLE, MPI_IN_PLACE, (int)n, MPI_DOUBLE, root, c);
  else
    MPI_Scatter(NULL, 0, MPI_DOUBLE, r, (int)n, MPI_DOUBLE, root, c);
  for (size_t i = 0; i < n; ++i)
    CHECK((me == root ? s[me * n + i] : r[i]) == val(root, me, i), "scatter in place");
  /* gather, and in place at the root */
  for (size_t i = 0; i < n; ++i) s[i] = val(me, 0, i);
  MPI_Gather(s, (int)n, MPI_DOUBLE, r, (int)n, MPI_DOUBLE, root, c);
  if (me == root)
    for (int j = 0; j < np; ++j)
      for (size_t i = 0; i < n; ++i) CHECK(r[j * n + i] == val(j, 0, i), "gather");
  if (me == root) {
    for (size_t i = 0; i < n * np; ++i) r[i] = -1;
    for (size_t i = 0; i < n; ++i) r[me * n + i] = val(me, 1, i);
    MPI_Gather(MPI_IN_PLACE, (int)n, MPI_DOUBLE, r, (int)n, MPI_DOUBLE, root, c);
    for (int j = 0; j < np; ++j)
      for (size_t i = 0; i < n; ++i) CHECK(r[j * n + i] == val(j, j == me, i), "gather in place");
  } else {
    MPI_Gather(s, (int)n, MPI_DOUBLE, NULL, 0, MPI_DOUBLE, root, c);
  }
  /* allgather, and in place */
  MPI_Allgather(s, (int)n, MPI_DOUBLE, r, (int)n, MPI_DOUBLE, c);
  for (int j = 0; j < np; ++j)
    for (size_t i = 0; i < n; ++i) CHECK(r[j * n + i] == val(j, 0, i), "allgather");
  for (size_t i = 0; i < n * np; ++i) r[i] = -1;
  for (size_t i = 0; i < n; ++i) r[me * n + i] = val(me, 2, i);
  MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, r, (int)n, MPI_DOUBLE, c);
  for (int j = 0; j < np; ++j)
    for (size_t i = 0; i < n; ++i) CHECK(r[j * n + i] == val(j, 2, i), "allgather in place");
  /* alltoall */
  for (int j = 0; j < np; ++j)
    for (size_t i = 0; i < n; ++i) s[j * n + i] = val(me, j, i);
  MPI_Alltoall(s, (int)n, MPI_DOUBLE, r, (int)n, MPI_DOUBLE, c);
  for (int j = 0; j < np; ++j)
    for (size_t i = 0; i < n; ++i) CHECK(r[j * n + i] == val(j, me, i), "alltoall");
  /* bcast of every other double (a derived, non-contiguous type) */
  MPI_Datatype every2;
  MPI_Type_vector((int)n / 2, 1, 2, MPI_DOUBLE, &every2);
  MPI_Type_commit(&every2);
  for (size_t i = 0; i < n; ++i) r[i] = me == root ? val(root, 3, i) : -1;
  MPI_Bcast(r, 1, every2, root, c);
  for (size_t i = 0; i + 1 < n; i += 2)
    CHECK(r[i] == val(root, 3, i) && (me == root || r[i + 1] == -1), "bcast vector");
  MPI_Type_free(&every2);
  /* a predefined type with padding (12 bytes of data in a 16-byte extent) */
  struct {
    double d;
    int i;
  }* di = calloc(n, 16);
  for (size_t i = 0; i < n; ++i) di[i].d = me == root ? (double)i : -1, di[i].i = me == root ? (int)i : -1;
  MPI_Bcast(di, (int)n, MPI_DOUBLE_INT, root, c);
  for (size_t i = 0; i < n; ++i) CHECK(di[i].d == (double)i && di[i].i == (int)i, "bcast double_int");
  free(di);
  if (me == 0) printf("%s: %zu doubles per block on %d ranks ok\n", what, n, np);
  free(s);
  free(r);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  run(MPI_COMM_WORLD, 1000, "world small");
  run(MPI_COMM_WORLD, 8192, "world 64 KiB");
  run(MPI_COMM_WORLD, 1 << 18, "world 2 MiB");
  MPI_Comm half;
  MPI_Comm_split(MPI_COMM_WORLD, rank % 2, -rank, &half);
  run(half, 1 << 17, rank % 2 ? "odd 1 MiB" : "even 1 MiB");
  MPI_Comm_free(&half);
  /* A large receive pending across collectives, its sender waiting first. */
  size_t n = 1 << 20;
  char* b = malloc(n);
  MPI_Request rq = MPI_REQUEST_NULL;
  if (rank == 0) {
    memset(b, 7, n);
    MPI_Isend(b, (int)n, MPI_CHAR, size - 1, 1, MPI_COMM_WORLD, &rq);
    MPI_Wait(&rq, MPI_STATUS_IGNORE);
  } else if (rank == size - 1) {
    MPI_Irecv(b, (int)n, MPI_CHAR, 0, 1, MPI_COMM_WORLD, &rq);
  }
  double* big = calloc(1 << 18, sizeof(double));
  MPI_Bcast(big, 1 << 18, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  MPI_Alltoall(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, big, (1 << 18) / size, MPI_DOUBLE,
               MPI_COMM_WORLD);
  if (rank == size - 1) {
    MPI_Wait(&rq, MPI_STATUS_IGNORE);
    for (size_t i = 0; i < n; ++i) CHECK(b[i] == 7, "pending receive");
    printf("pending receive across collectives ok\n");
  }
  free(big);
  free(b);
  MPI_Finalize();
  return 0;
}

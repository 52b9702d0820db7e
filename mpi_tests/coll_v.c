/* Vector collectives with varied layouts: MPI_Alltoallv, MPI_Allgatherv,
 * MPI_Gatherv and MPI_Scatterv with zero counts, displacements in decreasing
 * order, gaps between blocks (which must be left untouched), a rank that
 * sends nothing at all, and counts large enough to leave the channel's
 * inline area; predefined and derived (resized vector) element types.
 * Checked against closed forms; any number of ranks. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int rank, size;

/* Elements rank `from` sends to rank `to` in pattern p. */
static int cnt(int p, int from, int to) {
  switch (p) {
    case 0: return (from + 2 * to) % 4;          /* many zeros */
    case 1: return from == 0 ? 0 : to + 1;       /* rank 0 sends nothing */
    case 2: return 3000 + 17 * from + 5 * to;    /* large: beyond inline */
    default: return (from * to) % 3 == 1 ? 0 : 1;
  }
}
static double value(int from, int to, int i) { return from * 1e6 + to * 1e3 + i; }

/* Send displacements: blocks in decreasing rank order with a gap of 3 elements. */
static int layout(int p, int me, int sending, int* counts, int* displs) {
  int off = 0;
  for (int j = size - 1; j >= 0; --j) {
    counts[j] = sending ? cnt(p, me, j) : cnt(p, j, me);
    displs[j] = off;
    off += counts[j] + 3;
  }
  return off;
}

static void alltoallv(int p, MPI_Datatype t, int stride) {
  int *sc = malloc(4 * size * sizeof(int)), *sd = sc + size, *rc = sc + 2 * size, *rd = sc + 3 * size;
  int sn = layout(p, rank, 1, sc, sd), rn = layout(p, rank, 0, rc, rd);
  double* s = malloc((size_t)(sn + 1) * stride * sizeof(double));
  double* r = malloc((size_t)(rn + 1) * stride * sizeof(double));
  for (int i = 0; i < (sn + 1) * stride; ++i) s[i] = -1;
  for (int i = 0; i < (rn + 1) * stride; ++i) r[i] = -2;
  for (int j = 0; j < size; ++j)
    for (int i = 0; i < sc[j]; ++i) s[(sd[j] + i) * stride] = value(rank, j, i);
  MPI_Alltoallv(s, sc, sd, t, r, rc, rd, t, MPI_COMM_WORLD);
  for (int j = 0; j < size; ++j) {
    for (int i = 0; i < rc[j]; ++i)
      CHECK(r[(rd[j] + i) * stride] == value(j, rank, i), "alltoallv data");
    for (int i = rc[j] * stride; i < (rc[j] + 3) * stride; ++i)
      CHECK(r[rd[j] * stride + i] == -2, "alltoallv gap untouched");
  }
  for (int i = 1; i < stride; ++i) CHECK(r[i] == -2, "alltoallv holes of the type untouched");
  free(sc), free(s), free(r);
}

/* Allgatherv (and gatherv/scatterv at every root): rank j contributes
 * cnt(p, j, 0) elements, placed in decreasing rank order with gaps. */
static void gathers(int p, MPI_Datatype t, int stride) {
  int *rc = malloc(2 * size * sizeof(int)), *rd = rc + size;
  int off = 0;
  for (int j = size - 1; j >= 0; --j) rc[j] = cnt(p, j, 0), rd[j] = off, off += rc[j] + 3;
  int mine = rc[rank];
  double* s = malloc((size_t)(mine + 1) * stride * sizeof(double));
  double* r = malloc((size_t)(off + 1) * stride * sizeof(double));
  for (int i = 0; i < (mine + 1) * stride; ++i) s[i] = -1;
  for (int i = 0; i < mine; ++i) s[i * stride] = value(rank, 0, i);
  for (int i = 0; i < (off + 1) * stride; ++i) r[i] = -2;
  MPI_Allgatherv(s, mine, t, r, rc, rd, t, MPI_COMM_WORLD);
  for (int j = 0; j < size; ++j) {
    for (int i = 0; i < rc[j]; ++i) CHECK(r[(rd[j] + i) * stride] == value(j, 0, i), "allgatherv");
    CHECK(r[(rd[j] + rc[j]) * stride] == -2, "allgatherv gap untouched");
  }
  for (int root = 0; root < size; ++root) {
    for (int i = 0; i < (off + 1) * stride; ++i) r[i] = -2;
    MPI_Gatherv(s, mine, t, r, rc, rd, t, root, MPI_COMM_WORLD);
    if (rank == root)
      for (int j = 0; j < size; ++j) {
        for (int i = 0; i < rc[j]; ++i) CHECK(r[(rd[j] + i) * stride] == value(j, 0, i), "gatherv");
        CHECK(r[(rd[j] + rc[j]) * stride] == -2, "gatherv gap untouched");
      }
    /* scatterv back from the gathered layout (root's r holds it) */
    if (rank == root)
      for (int j = 0; j < size; ++j)
        for (int i = 0; i < rc[j]; ++i) r[(rd[j] + i) * stride] = value(j, 1, i);
    for (int i = 0; i < (mine + 1) * stride; ++i) s[i] = -1;
    MPI_Scatterv(r, rc, rd, t, s, mine, t, root, MPI_COMM_WORLD);
    for (int i = 0; i < mine; ++i) CHECK(s[i * stride] == value(rank, 1, i), "scatterv");
    CHECK(s[mine * stride] == -1, "scatterv past count untouched");
    for (int i = 0; i < mine; ++i) s[i * stride] = value(rank, 0, i);
  }
  free(rc), free(s), free(r);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  /* Every other double: a vector resized to two doubles. */
  MPI_Datatype v, every2;
  MPI_Type_vector(1, 1, 2, MPI_DOUBLE, &v);
  MPI_Type_create_resized(v, 0, 2 * sizeof(double), &every2);
  MPI_Type_commit(&every2);
  MPI_Type_free(&v);
  for (int p = 0; p < 4; ++p) {
    alltoallv(p, MPI_DOUBLE, 1);
    alltoallv(p, every2, 2);
    gathers(p, MPI_DOUBLE, 1);
    gathers(p, every2, 2);
    if (rank == 0) printf("pattern %d ok\n", p);
  }
  MPI_Type_free(&every2);
  printf("rank %d: v-collectives ok\n", rank);
  MPI_Finalize();
  return 0;
}

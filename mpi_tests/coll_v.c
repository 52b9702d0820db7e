/* Vector collectives with varied layouts: MPI_Alltoallv, MPI_Allgatherv,
 * MPI_Gatherv and MPI_Scatterv with zero counts, displacements in decreasing
 * order, gaps between blocks (which must be left untouched), a rank that
 * sends nothing at all, and counts large enough to leave the channel's
 * inline area; predefined and derived (resized vector) element types;
 * buffers that together just fill (or just overflow) 1 MiB, so that the
 * count arrays must still find room (MPI_Allgatherv, MPI_Alltoallv).
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

/* In place (MPI_IN_PLACE as the send buffer, send arrays not given): the
 * data for peer j are taken from receive block j and replaced by j's. */
static void inplace(void) {
  int *c = malloc(3 * size * sizeof(int)), *d = c + size, *bd = c + 2 * size;
  MPI_Datatype* t = malloc(size * sizeof(MPI_Datatype));
  int n = 0;
  for (int j = 0; j < size; ++j) c[j] = (j + rank) % 3 + 1, d[j] = 4 * (size - 1 - j), n = 4 * size;
  for (int j = 0; j < size; ++j) bd[j] = d[j] * (int)sizeof(int), t[j] = MPI_INT;
  int* b = malloc(n * sizeof(int));
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < n; ++i) b[i] = -1;
    for (int j = 0; j < size; ++j)
      for (int i = 0; i < c[j]; ++i) b[d[j] + i] = 1000 * rank + 10 * j + i;
    if (round == 0)
      MPI_Alltoallv(MPI_IN_PLACE, NULL, NULL, MPI_DATATYPE_NULL, b, c, d, MPI_INT, MPI_COMM_WORLD);
    else
      MPI_Alltoallw(MPI_IN_PLACE, NULL, NULL, NULL, b, c, bd, t, MPI_COMM_WORLD);
    for (int j = 0; j < size; ++j) {
      for (int i = 0; i < c[j]; ++i)
        CHECK(b[d[j] + i] == 1000 * j + 10 * rank + i, round ? "alltoallw in place" : "alltoallv in place");
      for (int i = c[j]; i < 4; ++i) CHECK(b[d[j] + i] == -1, "in place gap untouched");
    }
  }
  free(c), free(t), free(b);
}

/* Negative displacements: the buffer arguments point into the middle of
 * the arrays, blocks lie on both sides of them. */
static void negative(void) {
  int *c = malloc(2 * size * sizeof(int)), *d = c + size;
  int *s = malloc((4 * size + 1) * sizeof(int)), *r = malloc((4 * size + 1) * sizeof(int));
  int mid = 2 * size;
  for (int j = 0; j < size; ++j) c[j] = 2, d[j] = 4 * j - mid + 1;
  for (int i = 0; i <= 4 * size; ++i) s[i] = 100 * rank + i, r[i] = -1;
  MPI_Alltoallv(s + mid, c, d, MPI_INT, r + mid, c, d, MPI_INT, MPI_COMM_WORLD);
  for (int j = 0; j < size; ++j)
    for (int i = 0; i < 4; ++i)
      CHECK(r[4 * j + 1 + i] == (i < 2 ? 100 * j + 4 * rank + 1 + i : -1), "alltoallv negative displacements");
  CHECK(r[0] == -1, "before the first block untouched");
  int mine = rank % 3;
  for (int j = 0; j < size; ++j) c[j] = j % 3, d[j] = -3 * (j + 1);
  for (int i = 0; i <= 4 * size; ++i) r[i] = -1;
  MPI_Allgatherv(s + 1, mine, MPI_INT, r + 3 * size + 1, c, d, MPI_INT, MPI_COMM_WORLD);
  for (int j = 0; j < size; ++j)
    for (int i = 0; i < j % 3; ++i)
      CHECK(r[3 * size + 1 - 3 * (j + 1) + i] == 100 * j + 1 + i, "allgatherv negative displacements");
  free(c), free(s), free(r);
}

/* Per-rank byte counts c from just over 1 MiB / (size + 1) down, 130
 * sizes: the send and receive buffers together cross every fill level of a
 * 1 MiB area around its end. */
static void near_full(void) {
  int c0 = (1 << 20) / (size + 1) + 20;
  char* s = malloc(c0);
  char* r = malloc((size_t)c0 * size);
  int *counts = malloc(sizeof(int) * size), *displs = malloc(sizeof(int) * size);
  for (int c = c0; c > c0 - 130; --c) {
    for (int i = 0; i < c; ++i) s[i] = (char)(rank * 7 + i + c);
    for (int j = 0; j < size; ++j) counts[j] = c, displs[j] = j * c;
    MPI_Allgatherv(s, c, MPI_BYTE, r, counts, displs, MPI_BYTE, MPI_COMM_WORLD);
    for (int j = 0; j < size; ++j)
      for (int i = 0; i < c; i += 97) CHECK(r[j * c + i] == (char)(j * 7 + i + c), "near-full allgatherv");
    int cs = c / size;  /* alltoallv: c / size bytes to each rank */
    for (int j = 0; j < size; ++j) counts[j] = cs, displs[j] = j * cs;
    for (int i = 0; i < cs * size; ++i) s[i] = (char)(rank + i / (cs ? cs : 1));
    MPI_Alltoallv(s, counts, displs, MPI_BYTE, r, counts, displs, MPI_BYTE, MPI_COMM_WORLD);
    for (int j = 0; j < size && cs; ++j) CHECK(r[j * cs] == (char)(j + rank), "near-full alltoallv");
  }
  free(s), free(r), free(counts), free(displs);
  if (rank == 0) printf("near-full buffers ok\n");
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
  inplace();
  negative();
  near_full();
  printf("rank %d: v-collectives ok\n", rank);
  MPI_Finalize();
  return 0;
}

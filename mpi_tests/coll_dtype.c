/* Scatter, gather, allgather and alltoall with derived datatypes, where the
 * two sides describe the same type signature differently: the root sends a
 * vector (every other int), the others receive a contiguous type or plain
 * ints, and a resized type interleaves the blocks of the gathered buffer.
 * Arguments that the standard says are not significant on a rank (the send
 * type at a scatter's non-root, the receive side at a gather's non-root) are
 * given as MPI_DATATYPE_NULL, NULL and 0. Every root takes its turn. Then
 * a type of size 0 with nonzero counts, and MPI_MAXLOC on a derived type of
 * MPI_DOUBLE_INT pairs: an error of class MPI_ERR_OP (MPI-3.1 5.9.1 defines
 * predefined ops on basic types; Open MPI refuses every derived type there,
 * crmpi takes those made of one basic type but not these). */
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int rank, size;
#define B 4 /* ints per rank block */

/* A type of size 0 (a contiguous type of no elements): collectives with
 * nonzero counts of it move nothing and leave every buffer as it was. */
static void zero_size(void) {
  MPI_Datatype z;
  MPI_Type_contiguous(0, MPI_INT, &z);
  MPI_Type_commit(&z);
  int* b = malloc(8 * size * sizeof(int));
  int* c = malloc(2 * size * sizeof(int));
  for (int i = 0; i < 8 * size; ++i) b[i] = rank + i;
  for (int i = 0; i < size; ++i) c[i] = 2, c[size + i] = 3 * i;
  MPI_Request q;
  MPI_Bcast(b, 10, z, 0, MPI_COMM_WORLD);
  MPI_Gather(b, 3, z, b + size, 3, z, size - 1, MPI_COMM_WORLD);
  MPI_Allgatherv(b, 2, z, b + size, c, c + size, z, MPI_COMM_WORLD);
  MPI_Ialltoall(b, 2, z, b + 4 * size, 2, z, MPI_COMM_WORLD, &q);
  MPI_Wait(&q, MPI_STATUS_IGNORE);
  /* alltoallw: the zero-size type to odd peers, a zero count to even ones */
  int* wc = malloc(2 * size * sizeof(int));
  MPI_Datatype* wt = malloc(size * sizeof(MPI_Datatype));
  for (int i = 0; i < size; ++i) wc[i] = i % 2 ? 5 : 0, wc[size + i] = 0, wt[i] = i % 2 ? z : MPI_INT;
  int* rc = malloc(size * sizeof(int));
  MPI_Datatype* rt = malloc(size * sizeof(MPI_Datatype));
  for (int i = 0; i < size; ++i) rc[i] = rank % 2 ? 5 : 0, rt[i] = rank % 2 ? z : MPI_INT;
  MPI_Alltoallw(b, wc, wc + size, wt, b + 4 * size, rc, wc + size, rt, MPI_COMM_WORLD);
  free(wc), free(wt), free(rc), free(rt);
  for (int i = 0; i < 8 * size; ++i) CHECK(b[i] == rank + i, "zero-size type moves nothing");
  MPI_Type_free(&z);
  free(b), free(c);
}

static void derived_reductions(void) {
  MPI_Datatype p2;
  MPI_Type_contiguous(2, MPI_DOUBLE_INT, &p2);
  MPI_Type_commit(&p2);
  struct { double v; int i; } a[2] = {{1.0 * rank, rank}, {-1.0 * rank, rank}}, b[2];
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rc = MPI_Allreduce(a, b, 1, p2, MPI_MAXLOC, MPI_COMM_WORLD), cls = MPI_SUCCESS;
  MPI_Error_class(rc, &cls);
  CHECK(cls == MPI_ERR_OP, "MAXLOC on a derived type of pairs: MPI_ERR_OP");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
  MPI_Allreduce(a, b, 2, MPI_DOUBLE_INT, MPI_MAXLOC, MPI_COMM_WORLD);
  CHECK(b[0].v == size - 1 && b[0].i == size - 1 && b[1].v == 0 && b[1].i == 0, "MAXLOC on pairs");
  MPI_Type_free(&p2);
  if (rank == 0) printf("derived reductions ok\n");
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Datatype vec, vec_blk, cont, col, col_r;
  /* B ints taken every other int; resized so that consecutive blocks follow
   * one another (extent 2*B ints). */
  MPI_Type_vector(B, 1, 2, MPI_INT, &vec);
  MPI_Type_create_resized(vec, 0, 2 * B * sizeof(int), &vec_blk);
  MPI_Type_commit(&vec_blk);
  MPI_Type_contiguous(B, MPI_INT, &cont);
  MPI_Type_commit(&cont);
  /* One int resized to extent 1 int less than its stride: a column of a
   * size x B matrix, so that rank i's block is column i. */
  MPI_Type_vector(B, 1, size, MPI_INT, &col);
  MPI_Type_create_resized(col, 0, sizeof(int), &col_r);
  MPI_Type_commit(&col_r);

  int* big = malloc(2 * B * size * sizeof(int));
  int* mat = malloc(B * size * sizeof(int));
  int mine[B], got[2 * B];
  for (int root = 0; root < size; ++root) {
    /* scatter: root sends vec_blk, the others receive cont or B ints */
    if (rank == root)
      for (int i = 0; i < 2 * B * size; ++i) big[i] = i % 2 ? -1 : 1000 * root + i / 2;
    for (int i = 0; i < 2 * B; ++i) got[i] = -7;
    if (rank == root)
      MPI_Scatter(big, 1, vec_blk, got, B, MPI_INT, root, MPI_COMM_WORLD);
    else if (rank % 2)
      MPI_Scatter(NULL, 0, MPI_DATATYPE_NULL, got, 1, cont, root, MPI_COMM_WORLD);
    else
      MPI_Scatter(NULL, 0, MPI_DATATYPE_NULL, got, B, MPI_INT, root, MPI_COMM_WORLD);
    for (int i = 0; i < B; ++i) CHECK(got[i] == 1000 * root + B * rank + i, "scatter vector");
    CHECK(got[B] == -7, "scatter past block untouched");

    /* scatter of matrix columns: root sends col_r, others receive cont */
    if (rank == root)
      for (int i = 0; i < B * size; ++i) mat[i] = 100 * (i % size) + i / size + root;
    MPI_Scatter(mat, 1, col_r, mine, 1, cont, root, MPI_COMM_WORLD);
    for (int i = 0; i < B; ++i) CHECK(mine[i] == 100 * rank + i + root, "scatter columns");

    /* gather into columns: non-roots send cont, root receives col_r */
    for (int i = 0; i < B; ++i) mine[i] = 10 * rank + i + root;
    if (rank == root) memset(mat, 0, B * size * sizeof(int));
    if (rank == root)
      MPI_Gather(mine, B, MPI_INT, mat, 1, col_r, root, MPI_COMM_WORLD);
    else
      MPI_Gather(mine, 1, cont, NULL, 0, MPI_DATATYPE_NULL, root, MPI_COMM_WORLD);
    if (rank == root)
      for (int i = 0; i < B * size; ++i) CHECK(mat[i] == 10 * (i % size) + i / size + root, "gather columns");

    /* gather into every other int: root receives vec_blk */
    if (rank == root)
      for (int i = 0; i < 2 * B * size; ++i) big[i] = -3;
    MPI_Gather(mine, B, MPI_INT, big, 1, vec_blk, root, MPI_COMM_WORLD);
    if (rank == root)
      for (int i = 0; i < 2 * B * size; ++i)
        CHECK(big[i] == (i % 2 ? -3 : 10 * (i / (2 * B)) + (i / 2) % B + root), "gather vector");

    /* in place at the root, with a derived receive type */
    if (rank == root) {
      for (int i = 0; i < B * size; ++i) mat[i] = i % size == root ? 10 * root + i / size + root : 0;
      MPI_Gather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, mat, 1, col_r, root, MPI_COMM_WORLD);
      for (int i = 0; i < B * size; ++i) CHECK(mat[i] == 10 * (i % size) + i / size + root, "gather in place");
      MPI_Scatter(mat, 1, col_r, MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, root, MPI_COMM_WORLD);
    } else {
      MPI_Gather(mine, 1, cont, NULL, 0, MPI_DATATYPE_NULL, root, MPI_COMM_WORLD);
      for (int i = 0; i < B; ++i) mine[i] = -1;
      MPI_Scatter(NULL, 0, MPI_DATATYPE_NULL, mine, B, MPI_INT, root, MPI_COMM_WORLD);
      for (int i = 0; i < B; ++i) CHECK(mine[i] == 10 * rank + i + root, "scatter in place");
    }
  }
  /* allgather and alltoall: send cont, receive columns */
  for (int i = 0; i < B; ++i) mine[i] = 10 * rank + i;
  memset(mat, 0, B * size * sizeof(int));
  MPI_Allgather(mine, 1, cont, mat, 1, col_r, MPI_COMM_WORLD);
  for (int i = 0; i < B * size; ++i) CHECK(mat[i] == 10 * (i % size) + i / size, "allgather columns");
  int* a2a = malloc(B * size * sizeof(int));
  for (int i = 0; i < B * size; ++i) a2a[i] = 1000 * rank + i;
  MPI_Alltoall(a2a, 1, cont, mat, 1, col_r, MPI_COMM_WORLD);
  for (int i = 0; i < B * size; ++i)
    CHECK(mat[i] == 1000 * (i % size) + B * rank + i / size, "alltoall columns");
  MPI_Type_free(&vec), MPI_Type_free(&vec_blk), MPI_Type_free(&cont);
  MPI_Type_free(&col), MPI_Type_free(&col_r);
  free(big), free(mat), free(a2a);
  zero_size();
  derived_reductions();
  printf("rank %d: derived-type scatter/gather ok\n", rank);
  MPI_Finalize();
  return 0;
}

/* User reduction ops (MPI_Op_create), called back into the application:
 * on predefined types, on a derived struct type, commutative or not, in
 * blocking and nonblocking collectives, and large enough to be chunked. */
#include <stdlib.h>

#include "check.h"

typedef struct {
  double val;
  int count;
} acc_t;

static void acc_sum(void* in, void* inout, int* len, MPI_Datatype* dt) {
  (void)dt;
  acc_t *a = in, *b = inout;
  for (int i = 0; i < *len; ++i) b[i].val += a[i].val, b[i].count += a[i].count;
}

static void absmax(void* in, void* inout, int* len, MPI_Datatype* dt) {
  CHECK(*dt == MPI_DOUBLE, "datatype passed to user op");
  double *a = in, *b = inout;
  for (int i = 0; i < *len; ++i) {
    double x = a[i] < 0 ? -a[i] : a[i], y = b[i] < 0 ? -b[i] : b[i];
    b[i] = x > y ? x : y;
  }
}

/* Non-commutative: 2x2 matrix product keeps rank order. */
static void matmul(void* in, void* inout, int* len, MPI_Datatype* dt) {
  (void)dt;
  int *a = in, *b = inout;
  for (int k = 0; k < *len; ++k, a += 4, b += 4) {
    int c[4] = {a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2],
                a[2] * b[1] + a[3] * b[3]};
    for (int i = 0; i < 4; ++i) b[i] = c[i];
  }
}

int main(int argc, char** argv) {
  int rank, size;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  MPI_Op op_abs, op_acc, op_mat;
  MPI_Op_create(absmax, 1, &op_abs);
  MPI_Op_create(acc_sum, 1, &op_acc);
  MPI_Op_create(matmul, 0, &op_mat);
  int commute;
  MPI_Op_commutative(op_mat, &commute);
  CHECK(!commute, "op_commutative");

  int n = 200000; /* 1.6 MB: more than one callback chunk */
  double* x = malloc(n * sizeof(double));
  double* y = malloc(n * sizeof(double));
  for (int i = 0; i < n; ++i) x[i] = (rank % 2 ? -1 : 1) * (double)(rank + i % 7);
  MPI_Allreduce(x, y, n, MPI_DOUBLE, op_abs, MPI_COMM_WORLD);
  for (int i = 0; i < n; ++i) CHECK(y[i] == size - 1 + i % 7, "absmax");

  MPI_Datatype acc_type, tmp;
  int bl[2] = {1, 1};
  MPI_Aint d[2] = {0, sizeof(double)};
  MPI_Datatype ts[2] = {MPI_DOUBLE, MPI_INT};
  MPI_Type_create_struct(2, bl, d, ts, &tmp);
  MPI_Type_create_resized(tmp, 0, sizeof(acc_t), &acc_type);
  MPI_Type_commit(&acc_type);
  acc_t a[3], r[3];
  for (int i = 0; i < 3; ++i) a[i].val = rank * 0.5 + i, a[i].count = 1;
  MPI_Allreduce(a, r, 3, acc_type, op_acc, MPI_COMM_WORLD);
  for (int i = 0; i < 3; ++i)
    CHECK(r[i].count == size && r[i].val == 0.25 * size * (size - 1) + i * size, "struct op");
  MPI_Reduce(a, r, 3, acc_type, op_acc, 0, MPI_COMM_WORLD);
  if (rank == 0) CHECK(r[2].count == size, "reduce struct op");

  int m[4] = {1, rank + 1, 0, 1}, p[4];

  MPI_Datatype mat;
  MPI_Type_contiguous(4, MPI_INT, &mat);
  MPI_Type_commit(&mat);
  MPI_Scan(m, p, 1, mat, op_mat, MPI_COMM_WORLD);
  CHECK(p[0] == 1 && p[1] == (rank + 1) * (rank + 2) / 2 && p[3] == 1, "non-commutative scan");

  MPI_Request q;
  double s = rank, smax;
  MPI_Iallreduce(&s, &smax, 1, MPI_DOUBLE, op_abs, MPI_COMM_WORLD, &q);
  MPI_Wait(&q, MPI_STATUS_IGNORE);
  CHECK(smax == size - 1, "iallreduce user op");
  /* A pending nonblocking reduction with a user op while other traffic
   * runs: Open MPI may apply the op inside the progress of those later
   * calls (sends to self, ring exchanges with inline buffers, a barrier). */
  enum { V = 20000 };
  double* big_in = malloc(V * sizeof(double));
  double* big_out = malloc(V * sizeof(double));
  for (int i = 0; i < V; ++i) big_in[i] = (i % 2 ? -1 : 1) * (double)(rank * V + i);
  MPI_Iallreduce(big_in, big_out, V, MPI_DOUBLE, op_abs, MPI_COMM_WORLD, &q);
  int right = (rank + 1) % size, left = (rank + size - 1) % size;
  for (int k = 0; k < 50; ++k) {
    int token[64], got[64];
    for (int i = 0; i < 64; ++i) token[i] = rank * 1000 + k + i;
    MPI_Sendrecv(token, 64, MPI_INT, right, k, got, 64, MPI_INT, left, k, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    CHECK(got[0] == left * 1000 + k && got[63] == left * 1000 + k + 63, "traffic during iallreduce");
    MPI_Send(token, 64, MPI_INT, rank, 99, MPI_COMM_WORLD);
    MPI_Recv(got, 64, MPI_INT, rank, 99, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    CHECK(got[5] == token[5], "self traffic during iallreduce");
  }
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Wait(&q, MPI_STATUS_IGNORE);
  for (int i = 0; i < V; ++i) CHECK(big_out[i] == (double)((size - 1) * V + i), "iallreduce with traffic");
  free(big_in), free(big_out);
  double l_in[3] = {-5, 2, -1}, l_io[3] = {1, -3, 0};
  MPI_Reduce_local(l_in, l_io, 3, MPI_DOUBLE, op_abs);
  CHECK(l_io[0] == 5 && l_io[1] == 3 && l_io[2] == 1, "reduce_local user op");
  int s_in[2] = {1, 2}, s_io[2] = {10, 20};
  MPI_Reduce_local(s_in, s_io, 2, MPI_INT, MPI_SUM);
  CHECK(s_io[0] == 11 && s_io[1] == 22, "reduce_local sum");
  printf("rank %d: user ops ok (%g)\n", rank, p[1] + 0.0);

  MPI_Op_free(&op_abs), MPI_Op_free(&op_acc), MPI_Op_free(&op_mat);
  CHECK(op_abs == MPI_OP_NULL, "op free");
  MPI_Type_free(&acc_type), MPI_Type_free(&tmp), MPI_Type_free(&mat);
  free(x), free(y);
  MPI_Finalize();
  return 0;
}

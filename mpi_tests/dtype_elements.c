/* MPI_Get_elements / MPI_Get_elements_x / MPI_Get_count after a receive of
 * fewer bytes than count * size of a derived type (MPI-3.1 3.2.5, 4.1.11):
 * the number of basic elements received, MPI_UNDEFINED for the count of
 * whole elements when one is partial; and MPI_Status_set_elements. */
#include <string.h>

#include "check.h"

static void report(const char* what, MPI_Status* st, MPI_Datatype t) {
  int n, c;
  MPI_Count nx;
  MPI_Get_elements(st, t, &n);
  MPI_Get_elements_x(st, t, &nx);
  MPI_Get_count(st, t, &c);
  CHECK(n == nx, "get_elements and get_elements_x agree");
  printf("%s: elements %d count %d\n", what, n, c);
}

int main(int argc, char** argv) {
  int rank, size;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  CHECK(size >= 2, "needs 2 ranks");
  /* {double, char} and a vector of ints. */
  int bl[2] = {1, 1};
  MPI_Aint d[2] = {0, 8};
  MPI_Datatype ts[2] = {MPI_DOUBLE, MPI_CHAR}, dc, vec, ci;
  MPI_Type_create_struct(2, bl, d, ts, &dc);
  MPI_Type_commit(&dc);
  MPI_Type_vector(4, 2, 3, MPI_INT, &vec);
  MPI_Type_commit(&vec);
  MPI_Type_contiguous(2, MPI_DOUBLE_INT, &ci);
  MPI_Type_commit(&ci);
  char bytes[256];
  for (int i = 0; i < 256; ++i) bytes[i] = (char)i;
  /* Byte counts sent as MPI_BYTE, received as the derived types. */
  const int dc_bytes[] = {0, 8, 9, 17, 18, 27, 4, 16};
  const int vec_bytes[] = {4, 12, 24, 32, 36, 6};
  const int ci_bytes[] = {8, 12, 20, 24, 16};
  if (rank == 0) {
    for (unsigned i = 0; i < sizeof dc_bytes / sizeof *dc_bytes; ++i)
      MPI_Send(bytes, dc_bytes[i], MPI_BYTE, 1, 1, MPI_COMM_WORLD);
    for (unsigned i = 0; i < sizeof vec_bytes / sizeof *vec_bytes; ++i)
      MPI_Send(bytes, vec_bytes[i], MPI_BYTE, 1, 2, MPI_COMM_WORLD);
    for (unsigned i = 0; i < sizeof ci_bytes / sizeof *ci_bytes; ++i)
      MPI_Send(bytes, ci_bytes[i], MPI_BYTE, 1, 3, MPI_COMM_WORLD);
  } else if (rank == 1) {
    MPI_Status st;
    char what[64];
    struct {
      double d;
      char c;
    } in[3];
    for (unsigned i = 0; i < sizeof dc_bytes / sizeof *dc_bytes; ++i) {
      MPI_Recv(in, 3, dc, 0, 1, MPI_COMM_WORLD, &st);
      snprintf(what, sizeof what, "{double,char} x3, %d bytes", dc_bytes[i]);
      report(what, &st, dc);
      if (dc_bytes[i] == 18)
        CHECK(!memcmp(&in[1].d, bytes + 9, 8) && in[1].c == 17, "partial data");
    }
    int v[4 * 3 * 2];
    for (unsigned i = 0; i < sizeof vec_bytes / sizeof *vec_bytes; ++i) {
      MPI_Recv(v, 2, vec, 0, 2, MPI_COMM_WORLD, &st);
      snprintf(what, sizeof what, "vector(4,2,3,int) x2, %d bytes", vec_bytes[i]);
      report(what, &st, vec);
      int n;
      MPI_Get_elements(&st, MPI_INT, &n);
      printf("  as MPI_INT: %d\n", n);
    }
    char pairs[64];
    for (unsigned i = 0; i < sizeof ci_bytes / sizeof *ci_bytes; ++i) {
      MPI_Recv(pairs, 1, ci, 0, 3, MPI_COMM_WORLD, &st);
      snprintf(what, sizeof what, "contiguous(2,DOUBLE_INT), %d bytes", ci_bytes[i]);
      report(what, &st, ci);
      report("  as DOUBLE_INT", &st, MPI_DOUBLE_INT);
    }
    /* MPI_Status_set_elements: n basic elements of the type. */
    MPI_Status s2;
    int c;
    MPI_Status_set_elements(&s2, dc, 3);
    MPI_Get_count(&s2, MPI_BYTE, &c);
    printf("set_elements({double,char}, 3): %d bytes\n", c);
    report("  read back", &s2, dc);
    MPI_Status_set_elements_x(&s2, vec, 10);
    MPI_Get_count(&s2, MPI_BYTE, &c);
    printf("set_elements_x(vector, 10): %d bytes\n", c);
    MPI_Status_set_elements(&s2, MPI_DOUBLE_INT, 2);
    MPI_Get_count(&s2, MPI_BYTE, &c);
    printf("set_elements(DOUBLE_INT, 2): %d bytes\n", c);
  }
  MPI_Type_free(&dc);
  MPI_Type_free(&vec);
  MPI_Type_free(&ci);
  MPI_Finalize();
  return 0;
}

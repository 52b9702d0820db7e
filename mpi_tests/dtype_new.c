/* MPI_Type_create_darray (every distribution, C and Fortran order) used to
 * scatter a global array from rank 0; MPI_Type_create_subarray; the Fortran
 * 90 parameterised types and MPI_Type_match_size; external32 packing,
 * whose bytes the standard defines (big-endian), printed to be compared. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void envelope(const char* what, MPI_Datatype t) {
  int ni, na, nt, comb, size, ints[4] = {0, 0, 0, 0};
  MPI_Aint lb, ext;
  MPI_Type_get_envelope(t, &ni, &na, &nt, &comb);
  if (comb != MPI_COMBINER_NAMED && ni <= 4) MPI_Type_get_contents(t, ni, 0, 0, ints, NULL, NULL);
  MPI_Type_size(t, &size);
  MPI_Type_get_extent(t, &lb, &ext);
  printf("%s: size %d extent %ld combiner %d ints %d %d %d\n", what, size, (long)ext, comb, ni,
         ints[0], ints[1]);
}

/* Rank 0 sends each rank its darray piece of a global array; each rank
 * receives it contiguously and prints which global indices it got. */
static void darray_case(const char* what, int nd, const int* gs, const int* dist, const int* dargs,
                        const int* ps, int order) {
  int rank, size, total = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  for (int i = 0; i < nd; ++i) total *= gs[i];
  int* global = malloc(total * sizeof(int));
  for (int i = 0; i < total; ++i) global[i] = i;
  MPI_Datatype mine;
  MPI_Type_create_darray(size, rank, nd, gs, dist, dargs, ps, order, MPI_INT, &mine);
  MPI_Type_commit(&mine);
  int n;
  MPI_Aint lb, ext;
  MPI_Type_size(mine, &n);
  MPI_Type_get_extent(mine, &lb, &ext);
  CHECK(lb == 0 && ext == total * (MPI_Aint)sizeof(int), "darray extent is the whole array");
  n /= (int)sizeof(int);
  int* got = malloc((n + 1) * sizeof(int));
  MPI_Request r;
  MPI_Irecv(got, n, MPI_INT, 0, 7, MPI_COMM_WORLD, &r);
  if (rank == 0)
    for (int p = 0; p < size; ++p) {
      MPI_Datatype theirs;
      MPI_Type_create_darray(size, p, nd, gs, dist, dargs, ps, order, MPI_INT, &theirs);
      MPI_Type_commit(&theirs);
      MPI_Send(global, 1, theirs, p, 7, MPI_COMM_WORLD);
      MPI_Type_free(&theirs);
    }
  MPI_Wait(&r, MPI_STATUS_IGNORE);
  /* Receiving into the darray type puts them back where they were. */
  int* back = malloc(total * sizeof(int));
  for (int i = 0; i < total; ++i) back[i] = -1;
  MPI_Sendrecv(got, n, MPI_INT, rank, 8, back, 1, mine, rank, 8, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  for (int i = 0; i < total; ++i) CHECK(back[i] == -1 || back[i] == i, "darray round trip");
  char line[4096];
  int len = snprintf(line, sizeof line, "%s rank %d:", what, rank);
  for (int i = 0; i < n && len < (int)sizeof line - 16; ++i)
    len += snprintf(line + len, sizeof line - len, " %d", got[i]);
  printf("%s\n", line);
  int ni, na, nt, comb;
  MPI_Type_get_envelope(mine, &ni, &na, &nt, &comb);
  CHECK(comb == MPI_COMBINER_DARRAY && ni == 4 * nd + 4 && na == 0 && nt == 1, "darray envelope");
  MPI_Type_free(&mine);
  free(global), free(got), free(back);
}

/* Subarray, both orders, in a send. */
static void subarrays(int rank) {
  {
    int sizes[2] = {4, 6}, subs[2] = {2, 3}, starts[2] = {1, 2}, a[24], b[6];
    for (int i = 0; i < 24; ++i) a[i] = i;
    for (int order = 0; order < 2; ++order) {
      MPI_Datatype sub;
      MPI_Type_create_subarray(2, sizes, subs, starts, order ? MPI_ORDER_FORTRAN : MPI_ORDER_C,
                               MPI_INT, &sub);
      MPI_Type_commit(&sub);
      MPI_Sendrecv(a, 1, sub, rank, 0, b, 6, MPI_INT, rank, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      if (rank == 0)
        printf("subarray %s: %d %d %d %d %d %d\n", order ? "Fortran" : "C", b[0], b[1], b[2], b[3],
               b[4], b[5]);
      MPI_Type_free(&sub);
    }
  }
}

/* Fortran 90 parameterised types (the same handle for the same arguments),
 * and MPI_Type_match_size. */
static void f90_types(int rank) {
  if (rank == 0) {
    MPI_Datatype t, t2;
    const int rs[] = {2, 4, 9, 18};
    for (int i = 0; i < 4; ++i) {
      char w[32];
      MPI_Type_create_f90_integer(rs[i], &t);
      MPI_Type_create_f90_integer(rs[i], &t2);
      CHECK(t == t2, "f90 integer handle is predefined");
      snprintf(w, sizeof w, "f90_integer(%d)", rs[i]);
      envelope(w, t);
    }
    const int pr[][2] = {{6, 37},           {7, 30}, {15, 307}, {16, 200}, {MPI_UNDEFINED, 300},
                         {6, MPI_UNDEFINED}};
    for (int i = 0; i < 6; ++i) {
      char w[48];
      MPI_Type_create_f90_real(pr[i][0], pr[i][1], &t);
      snprintf(w, sizeof w, "f90_real(%d,%d)", pr[i][0], pr[i][1]);
      envelope(w, t);
      MPI_Type_create_f90_complex(pr[i][0], pr[i][1], &t);
      snprintf(w, sizeof w, "f90_complex(%d,%d)", pr[i][0], pr[i][1]);
      envelope(w, t);
    }
    MPI_Type_create_f90_real(15, 307, &t);
    double x[3] = {1.5, -2.25, 3}, y[3] = {0, 0, 0};
    MPI_Sendrecv(x, 3, t, 0, 1, y, 3, t, 0, 1, MPI_COMM_SELF, MPI_STATUS_IGNORE);
    CHECK(y[0] == 1.5 && y[1] == -2.25 && y[2] == 3, "f90 real moves doubles");
    MPI_Type_create_f90_integer(9, &t);
    int v = rank + 1, sum = 0;
    MPI_Allreduce(&v, &sum, 1, t, MPI_SUM, MPI_COMM_SELF);
    CHECK(sum == 1, "f90 integer in a reduction");
    /* Type_match_size: the Fortran type of each size, or an error. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    const int cls[3] = {MPI_TYPECLASS_INTEGER, MPI_TYPECLASS_REAL, MPI_TYPECLASS_COMPLEX};
    for (int c = 0; c < 3; ++c)
      for (int s = 1; s <= 32; s *= 2) {
        char name[MPI_MAX_OBJECT_NAME] = "";
        int len = 0, got = 0;
        int rc = MPI_Type_match_size(cls[c], s, &t);
        if (rc == MPI_SUCCESS) {
          MPI_Type_get_name(t, name, &len);
          MPI_Type_size(t, &got);
        }
        printf("match_size(%d, %d): %s %s size %d\n", cls[c], s, rc == MPI_SUCCESS ? "ok" : "error",
               name, got);
      }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
  }
}

/* external32: sizes and the packed bytes, then unpacked back. */
static void external32(int rank) {
  if (rank == 0) {
    struct rec {
      int i;
      short s;
      double d;
      char c[3];
      float f;
      long l;
      unsigned long long u;
    } in[2] = {{0x01020304, 0x0506, 1.0, {'x', 'y', 'z'}, -2.5f, -3, 0x1122334455667788ull},
               {-1, -2, -0.125, {'a', 'b', 'c'}, 1e10f, 123456789, 42}},
      out[2];
    int bl[7] = {1, 1, 1, 3, 1, 1, 1};
    MPI_Aint d[7];
    MPI_Datatype ts[7] = {
        MPI_INT, MPI_SHORT, MPI_DOUBLE, MPI_CHAR, MPI_FLOAT, MPI_LONG, MPI_UNSIGNED_LONG_LONG};
    MPI_Get_address(&in[0].i, &d[0]);
    MPI_Get_address(&in[0].s, &d[1]);
    MPI_Get_address(&in[0].d, &d[2]);
    MPI_Get_address(&in[0].c, &d[3]);
    MPI_Get_address(&in[0].f, &d[4]);
    MPI_Get_address(&in[0].l, &d[5]);
    MPI_Get_address(&in[0].u, &d[6]);
    for (int i = 6; i >= 0; --i) d[i] -= d[0];
    MPI_Datatype t;
    MPI_Type_create_struct(7, bl, d, ts, &t);
    MPI_Type_commit(&t);
    MPI_Aint xs, pos = 0;
    MPI_Pack_external_size("external32", 2, t, &xs);
    printf("external32 size of 2 records: %ld\n", (long)xs);
    unsigned char* buf = malloc(xs);
    MPI_Pack_external("external32", in, 2, t, buf, xs, &pos);
    printf("external32 packed %ld bytes (at most %ld)\n", (long)pos, (long)xs);
    CHECK(pos <= xs, "pack_external_size is an upper bound");
    char hex[512];
    int len = 0;
    for (MPI_Aint i = 0; i < pos; ++i) len += snprintf(hex + len, sizeof hex - len, "%02x", buf[i]);
    printf("external32 bytes: %s\n", hex);
    memset(out, 0, sizeof out);
    MPI_Aint upos = 0;
    MPI_Unpack_external("external32", buf, pos, &upos, out, 2, t);
    CHECK(upos == pos, "unpack_external position");
    for (int k = 0; k < 2; ++k)
      CHECK(out[k].i == in[k].i && out[k].s == in[k].s && out[k].d == in[k].d &&
                !memcmp(out[k].c, in[k].c, 3) && out[k].f == in[k].f && out[k].l == in[k].l &&
                out[k].u == in[k].u,
            "external32 round trip");
    /* A predefined type, and a pair type. */
    int ints[3] = {1, 256, -2};
    pos = 0;
    MPI_Pack_external("external32", ints, 3, MPI_INT, buf, xs, &pos);
    len = 0;
    for (MPI_Aint i = 0; i < pos; ++i) len += snprintf(hex + len, sizeof hex - len, "%02x", buf[i]);
    printf("external32 ints: %s\n", hex);
    MPI_Pack_external_size("external32", 3, MPI_DOUBLE_INT, &xs);
    printf("external32 size of 3 DOUBLE_INT: %ld\n", (long)xs);
    MPI_Type_free(&t);
    free(buf);
  }
}

int main(int argc, char** argv) {
  int rank, size;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  CHECK(size == 4, "run with 4 ranks");

  {
    int gs[1] = {10}, ps[1] = {4}, blk[1] = {MPI_DISTRIBUTE_BLOCK},
        cyc[1] = {MPI_DISTRIBUTE_CYCLIC};
    int dflt[1] = {MPI_DISTRIBUTE_DFLT_DARG}, two[1] = {2}, three[1] = {3};
    darray_case("1d block", 1, gs, blk, dflt, ps, MPI_ORDER_C);
    darray_case("1d block(3)", 1, gs, blk, three, ps, MPI_ORDER_C);
    darray_case("1d cyclic", 1, gs, cyc, dflt, ps, MPI_ORDER_C);
    darray_case("1d cyclic(2)", 1, gs, cyc, two, ps, MPI_ORDER_C);
  }
  {
    int gs[2] = {5, 7}, ps[2] = {2, 2}, dist[2] = {MPI_DISTRIBUTE_BLOCK, MPI_DISTRIBUTE_CYCLIC};
    int dargs[2] = {MPI_DISTRIBUTE_DFLT_DARG, 2};
    darray_case("2d block x cyclic(2) C", 2, gs, dist, dargs, ps, MPI_ORDER_C);
    darray_case("2d block x cyclic(2) Fortran", 2, gs, dist, dargs, ps, MPI_ORDER_FORTRAN);
    int ps2[2] = {4, 1}, dist2[2] = {MPI_DISTRIBUTE_CYCLIC, MPI_DISTRIBUTE_NONE};
    int dargs2[2] = {1, MPI_DISTRIBUTE_DFLT_DARG};
    darray_case("2d cyclic x none", 2, gs, dist2, dargs2, ps2, MPI_ORDER_C);
  }
  {
    int gs[3] = {3, 4, 5}, ps[3] = {1, 2, 2};
    int dist[3] = {MPI_DISTRIBUTE_NONE, MPI_DISTRIBUTE_BLOCK, MPI_DISTRIBUTE_BLOCK};
    int dargs[3] = {MPI_DISTRIBUTE_DFLT_DARG, MPI_DISTRIBUTE_DFLT_DARG, MPI_DISTRIBUTE_DFLT_DARG};
    darray_case("3d none x block x block", 3, gs, dist, dargs, ps, MPI_ORDER_C);
  }

  subarrays(rank);
  f90_types(rank);
  external32(rank);
  printf("rank %d: done\n", rank);
  MPI_Finalize();
  return 0;
}

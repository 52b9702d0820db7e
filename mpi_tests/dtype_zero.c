/* Zero-size datatypes are legal (MPI-3.1 4.1): a type of zero blocklengths,
 * a zero-count contiguous type, used in point-to-point, broadcast, gather
 * and MPI_Alltoallw with zero counts; nothing is moved and counts are 0. */
#include <stdlib.h>

#include "check.h"

int main(int argc, char** argv) {
  int rank, size;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int right = (rank + 1) % size, left = (rank + size - 1) % size;
  int bl[2] = {0, 0};
  MPI_Aint d[2] = {0, 8};
  MPI_Datatype ts[2] = {MPI_DOUBLE, MPI_INT}, zs, zc, zi;
  MPI_Type_create_struct(2, bl, d, ts, &zs); /* zero blocklengths */
  MPI_Type_contiguous(0, MPI_INT, &zc);      /* zero count */
  int ibl[2] = {0, 0}, idisp[2] = {1, 5};
  MPI_Type_indexed(2, ibl, idisp, MPI_INT, &zi);
  MPI_Type_commit(&zs);
  MPI_Type_commit(&zc);
  MPI_Type_commit(&zi);
  MPI_Datatype all[3] = {zs, zc, zi};
  const char* names[3] = {"struct", "contiguous", "indexed"};
  for (int k = 0; k < 3; ++k) {
    int s;
    MPI_Aint lb, ext;
    MPI_Type_size(all[k], &s);
    MPI_Type_get_extent(all[k], &lb, &ext);
    if (rank == 0) printf("zero %s: size %d lb %ld extent %ld\n", names[k], s, (long)lb, (long)ext);
    CHECK(s == 0, "zero size");
  }
  int buf[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8] = {0};
  MPI_Status st;
  for (int k = 0; k < 3; ++k) {
    MPI_Sendrecv(buf, 4, all[k], right, k, out, 4, all[k], left, k, MPI_COMM_WORLD, &st);
    int c, e;
    MPI_Get_count(&st, all[k], &c);
    MPI_Get_elements(&st, all[k], &e);
    CHECK(st.MPI_SOURCE == left && c == 0 && e == 0, "zero-size message status");
    for (int i = 0; i < 8; ++i) CHECK(out[i] == 0, "nothing written");
    /* Collectives with a zero-size element. */
    MPI_Bcast(buf, 3, all[k], 0, MPI_COMM_WORLD);
    MPI_Gather(buf, 2, all[k], out, 2, all[k], size - 1, MPI_COMM_WORLD);
    MPI_Allgather(buf, 1, all[k], out, 1, all[k], MPI_COMM_WORLD);
    MPI_Alltoall(buf, 1, all[k], out, 1, all[k], MPI_COMM_WORLD);
    for (int i = 0; i < 8; ++i) CHECK(out[i] == 0 && buf[i] == i + 1, "collectives moved nothing");
    MPI_Request r;
    MPI_Ibcast(buf, 2, all[k], 0, MPI_COMM_WORLD, &r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
  /* Alltoallw: zero counts and zero-size types mixed with real data. */
  int* sc = calloc(size, sizeof(int));
  int* rc = calloc(size, sizeof(int));
  int* sdsp = calloc(size, sizeof(int));
  int* rdsp = calloc(size, sizeof(int));
  MPI_Datatype* st_ = malloc(size * sizeof(MPI_Datatype));
  MPI_Datatype* rt_ = malloc(size * sizeof(MPI_Datatype));
  int* sb = malloc(size * sizeof(int));
  int* rb = malloc(size * sizeof(int));
  for (int i = 0; i < size; ++i) {
    sb[i] = rank * 100 + i, rb[i] = -1;
    sdsp[i] = rdsp[i] = i * (int)sizeof(int);
    /* Even peers get one int; odd peers a zero count of MPI_INT or a zero-size type. */
    int real_s = (i % 2 == 0), real_r = (rank % 2 == 0);
    sc[i] = real_s ? 1 : (i % 4 == 1 ? 0 : 3);
    st_[i] = real_s ? MPI_INT : (i % 4 == 1 ? MPI_INT : zs);
    rc[i] = real_r ? 1 : (rank % 4 == 1 ? 0 : 3);
    rt_[i] = real_r ? MPI_INT : (rank % 4 == 1 ? MPI_INT : zs);
  }
  MPI_Alltoallw(sb, sc, sdsp, st_, rb, rc, rdsp, rt_, MPI_COMM_WORLD);
  for (int i = 0; i < size; ++i)
    CHECK(rb[i] == (rank % 2 == 0 ? i * 100 + rank : -1), "alltoallw with zero counts");
  for (int i = 0; i < size; ++i) sc[i] = rc[i] = 0;
  MPI_Alltoallw(sb, sc, sdsp, st_, rb, rc, rdsp, rt_, MPI_COMM_WORLD); /* all zero */
  printf("rank %d: zero-size types ok\n", rank);
  MPI_Type_free(&zs);
  MPI_Type_free(&zc);
  MPI_Type_free(&zi);
  free(sc), free(rc), free(sdsp), free(rdsp), free(st_), free(rt_), free(sb), free(rb);
  MPI_Finalize();
  return 0;
}

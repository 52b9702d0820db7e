/* mpibench: two-rank micro-benchmarks. Prints one "key value" line per
 * figure (rank 0): ping-pong half round-trip latency (us) at several sizes,
 * streaming bandwidth (MB/s) at 4 MiB, allreduce latency (us, 8 B). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank;

static double pingpong(char* buf, int n, int iters) {
  int peer = 1 - rank;
  for (int w = 0; w < 2; ++w) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime();
    for (int i = 0; i < iters; ++i) {
      if (rank == 0) {
        MPI_Send(buf, n, MPI_BYTE, peer, 0, MPI_COMM_WORLD);
        MPI_Recv(buf, n, MPI_BYTE, peer, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      } else {
        MPI_Recv(buf, n, MPI_BYTE, peer, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(buf, n, MPI_BYTE, peer, 0, MPI_COMM_WORLD);
      }
    }
    t = MPI_Wtime() - t;
    if (w == 1) return t / iters / 2 * 1e6;
  }
  return 0;
}

static double bandwidth(char* buf, int n, int iters) {
  int window = 8, peer = 1 - rank, ack = 0;
  MPI_Request r[8];
  MPI_Barrier(MPI_COMM_WORLD);
  double t = MPI_Wtime();
  for (int i = 0; i < iters; ++i) {
    for (int k = 0; k < window; ++k) {
      if (rank == 0)
        MPI_Isend(buf + (size_t)k * n, n, MPI_BYTE, peer, k, MPI_COMM_WORLD, &r[k]);
      else
        MPI_Irecv(buf + (size_t)k * n, n, MPI_BYTE, peer, k, MPI_COMM_WORLD, &r[k]);
    }
    MPI_Waitall(window, r, MPI_STATUSES_IGNORE);
    if (rank == 0)
      MPI_Recv(&ack, 1, MPI_INT, peer, 99, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    else
      MPI_Send(&ack, 1, MPI_INT, peer, 99, MPI_COMM_WORLD);
  }
  t = MPI_Wtime() - t;
  return (double)n * window * iters / t / 1e6;
}

int main(int argc, char** argv) {
  int size;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size == 1) { /* the lower half's own cost, with a core to spare (tags vary: see below) */
    int flag, it = 200000;
    for (int w = 0; w < 2; ++w) {
      double t = MPI_Wtime();
      for (int i = 0; i < it; ++i)
        MPI_Iprobe(MPI_ANY_SOURCE, 12345 + i % 64, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
      t = MPI_Wtime() - t;
      if (w == 1) printf("iprobe_us_1rank_spare_core %.3f\n", t / it * 1e6);
    }
    MPI_Finalize();
    return 0;
  }
  if (size != 2) {
    if (rank == 0) fprintf(stderr, "mpibench needs 1 or 2 ranks\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  char* buf = malloc((size_t)8 << 22);
  memset(buf, 1, (size_t)8 << 22);
  int sizes[] = {8, 1024, 65536, 4 << 20};
  int iters[] = {20000, 10000, 2000, 100};
  for (int i = 0; i < 4; ++i) {
    double us = pingpong(buf, sizes[i], iters[i]);
    if (rank == 0) printf("latency_us_%d %.3f\n", sizes[i], us);
  }
  double bw = bandwidth(buf, 4 << 20, 20);
  if (rank == 0) printf("bandwidth_MBps_4M %.1f\n", bw);
  /* A call that must reach the MPI library but does no communication: the
   * round-trip cost of the lower half itself. (The tag changes from call to
   * call so that crmpi's paced polling never answers a repeated poll
   * locally: every call is a real round trip.) */
  for (int w = 0; w < 2; ++w) {
    int it = 20000, flag;
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime();
    for (int i = 0; i < it; ++i)
      MPI_Iprobe(MPI_ANY_SOURCE, 12345 + i % 64, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    t = MPI_Wtime() - t;
    if (w == 1 && rank == 0) printf("iprobe_us %.3f\n", t / it * 1e6);
  }
  double x = rank, y;
  for (int w = 0; w < 2; ++w) {
    int it = 20000;
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime();
    for (int i = 0; i < it; ++i) MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    t = MPI_Wtime() - t;
    if (w == 1 && rank == 0) printf("allreduce_us_8 %.3f\n", t / it * 1e6);
  }
  free(buf);
  MPI_Finalize();
  return 0;
}

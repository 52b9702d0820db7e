/* ckpt_bench MIB MODE GATES GO_PREFIX: workload for run_ckpt_bench.sh (job
 * checkpoint and restart timing, issue 10 item 7).
 *
 * Every rank fills MIB MiB of private memory with pseudo-random words
 * (xorshift seeded by the rank: no zero pages, incompressible), then meets
 * GATES gates.  At gate k:
 *   MODE quiet     nothing is in flight: rank 0 computes (polls the file
 *                  GO_PREFIX<k> every 200 us, no MPI call), ranks > 0 are
 *                  blocked in MPI_Recv from rank 0, which has not sent yet;
 *   MODE inflight  the same, after each rank has posted to its right
 *                  neighbour 50 small (eager) Isends and 2 of 1 MiB
 *                  (rendezvous size), none of them received yet.
 * Rank 0 prints "GATE k" when it starts waiting; when the file exists it
 * prints "open k T" (T = CLOCK_REALTIME seconds: after a restart with the
 * file already there, this is the job's first output) and releases the
 * others, which each print "resumed r k T".  Then every in-flight message is
 * received and checked, and every rank checks its whole memory ("memory r k
 * ok"; MPI_Abort on damage).  Rank 0 prints "start T" right after MPI_Init
 * (the baseline: a fresh start's first output).  Timestamps are taken by the
 * program, so the launcher's output forwarding is not in them. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int rank, size;

static double wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fail(const char* what) {
  fprintf(stderr, "rank %d: FAILED %s\n", rank, what);
  MPI_Abort(MPI_COMM_WORLD, 2);
}

/* Fills (check == 0) or checks (check == 1) the memory: returns 0 if equal. */
static int pattern(uint64_t* m, size_t words, int check) {
  uint64_t x = 0x9E3779B97F4A7C15ull ^ ((uint64_t)(rank + 1) * 0x100000001b3ull);
  for (size_t i = 0; i < words; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    if (!check)
      m[i] = x;
    else if (m[i] != x)
      return 1;
  }
  return 0;
}

enum { NSMALL = 50, NBIG = 2, BIG = 1 << 17 /* doubles: 1 MiB */ };

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: ckpt_bench MIB quiet|inflight GATES GO_PREFIX\n");
    return 2;
  }
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (rank == 0) {
    printf("start %.6f\n", wall());
    fflush(stdout);
  }
  const size_t bytes = strtoull(argv[1], NULL, 10) << 20;
  const int inflight = !strcmp(argv[2], "inflight");
  if (!inflight && strcmp(argv[2], "quiet")) fail("MODE is quiet or inflight");
  const int gates = atoi(argv[3]);
  const char* go = argv[4];
  uint64_t* mem = NULL;
  if (bytes) {
    mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) fail("mmap");
    pattern(mem, bytes / 8, 0);
  }
  const int right = (rank + 1) % size, left = (rank + size - 1) % size;
  int small_out[NSMALL], small_in[NSMALL];
  double* big_out = malloc(sizeof(double) * NBIG * BIG);
  double* big_in = malloc(sizeof(double) * NBIG * BIG);
  if (!big_out || !big_in) fail("malloc");
  MPI_Barrier(MPI_COMM_WORLD);
  for (int g = 1; g <= gates; ++g) {
    MPI_Request sr[NSMALL + NBIG];
    int nsr = 0;
    if (inflight) {
      for (int i = 0; i < NSMALL; ++i) {
        small_out[i] = rank * 100000 + g * 1000 + i;
        MPI_Isend(&small_out[i], 1, MPI_INT, right, 100, MPI_COMM_WORLD, &sr[nsr++]);
      }
      for (int j = 0; j < NBIG; ++j) {
        for (int i = 0; i < BIG; i += 512) big_out[j * BIG + i] = rank * 1e6 + g * 100 + j + i;
        MPI_Isend(big_out + j * BIG, BIG, MPI_DOUBLE, right, 200 + j, MPI_COMM_WORLD, &sr[nsr++]);
      }
    }
    if (rank == 0) {
      char path[4096];
      snprintf(path, sizeof path, "%s%d", go, g);
      printf("GATE %d\n", g);
      fflush(stdout);
      while (access(path, F_OK) != 0) usleep(200); /* computing: no MPI call */
      printf("open %d %.6f\n", g, wall());
      fflush(stdout);
      int one = 1;
      for (int r = 1; r < size; ++r) MPI_Send(&one, 1, MPI_INT, r, 999, MPI_COMM_WORLD);
    } else {
      int x;
      MPI_Recv(&x, 1, MPI_INT, 0, 999, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      printf("resumed %d %d %.6f\n", rank, g, wall());
      fflush(stdout);
    }
    if (inflight) {
      for (int i = 0; i < NSMALL; ++i) {
        MPI_Recv(&small_in[i], 1, MPI_INT, left, 100, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (small_in[i] != left * 100000 + g * 1000 + i) fail("eager message order/content");
      }
      for (int j = 0; j < NBIG; ++j) {
        MPI_Recv(big_in + j * BIG, BIG, MPI_DOUBLE, left, 200 + j, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        for (int i = 0; i < BIG; i += 512)
          if (big_in[j * BIG + i] != left * 1e6 + g * 100 + j + i) fail("large message content");
      }
      MPI_Waitall(nsr, sr, MPI_STATUSES_IGNORE);
    }
    if (bytes && pattern(mem, bytes / 8, 1)) fail("memory damaged");
    printf("memory %d %d ok\n", rank, g);
    fflush(stdout);
    MPI_Barrier(MPI_COMM_WORLD);
  }
  MPI_Finalize();
  return 0;
}

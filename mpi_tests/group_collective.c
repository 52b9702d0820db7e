/* Group collectives entered while the other members are still busy among
 * themselves: MPI_Comm_create_group (collective over its group only) and
 * MPI_Intercomm_create (collective across two groups).  In each round rank
 * 0 enters at once; the others first compute for a while and then meet on
 * a communicator that rank 0 is not in.
 *
 * Under ckpt_any.sh, rank 0 asks for the job checkpoints at its own calls,
 * so most land while it waits inside one of these calls and the others are
 * at the collective that excludes it.  Such a call cannot be paused, and
 * no single communicator's count orders it: the checkpoint must let the
 * others reach it (agent_ckpt.cpp, "group collective").
 *
 * Usage: mt_group_collective [rounds]  (at least 3 ranks) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"

/* About `ms` milliseconds of work, with no MPI call. */
static double busy(int ms) {
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  double x = 1.0;
  do {
    for (int i = 0; i < 10000; ++i) x = x * 1.0000001 + 1e-9;
    clock_gettime(CLOCK_MONOTONIC, &t);
  } while ((t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L < ms);
  return x;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  CHECK(size >= 3, "at least 3 ranks");
  const int rounds = argc > 1 ? atoi(argv[1]) : 12;

  /* Every rank but 0, and the world's group. */
  MPI_Comm rest;
  MPI_Comm_split(MPI_COMM_WORLD, rank == 0 ? MPI_UNDEFINED : 1, rank, &rest);
  MPI_Group world;
  MPI_Comm_group(MPI_COMM_WORLD, &world);
  long rest_sum = 0, checks = 0;

  for (int r = 0; r < rounds; ++r) {
    /* create_group over the world's group, rank 0 first. */
    if (rank != 0) {
      busy(20);
      long v = rank + r, s = 0;
      MPI_Allreduce(&v, &s, 1, MPI_LONG, MPI_SUM, rest);
      rest_sum += s;
    }
    MPI_Comm cg;
    MPI_Comm_create_group(MPI_COMM_WORLD, world, r, &cg);
    int cs, cr;
    MPI_Comm_size(cg, &cs);
    MPI_Comm_rank(cg, &cr);
    CHECK(cs == size && cr == rank, "create_group's size and rank");
    MPI_Comm_free(&cg);

    /* An intercommunicator between {0} and the rest, rank 0 first. */
    if (rank != 0) {
      busy(20);
      MPI_Barrier(rest);
    }
    MPI_Comm ic;
    MPI_Intercomm_create(rank == 0 ? MPI_COMM_SELF : rest, 0, MPI_COMM_WORLD, rank == 0 ? 1 : 0,
                         100 + r, &ic);
    int rs;
    MPI_Comm_remote_size(ic, &rs);
    CHECK(rs == (rank == 0 ? size - 1 : 1), "intercomm's remote size");
    MPI_Comm_free(&ic);
    checks += 2;
  }

  /* What every rank saw, checked once by all. */
  long all = 0;
  MPI_Allreduce(&checks, &all, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  CHECK(all == 2L * rounds * size, "every round everywhere");
  long expect = 0;
  for (int r = 0; r < rounds; ++r) expect += (long)size * (size - 1) / 2 + (long)(size - 1) * r;
  CHECK(rank == 0 || rest_sum == expect, "the rest's sums");
  printf("group_collective: rank %d: %d rounds, rest sum %ld\n", rank, rounds, rest_sum);
  MPI_Group_free(&world);
  if (rest != MPI_COMM_NULL) MPI_Comm_free(&rest);
  MPI_Finalize();
  return 0;
}

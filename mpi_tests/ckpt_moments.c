/* ckpt_moments MOMENT GATES GO_PREFIX: a self-checking MPI program for job
 * checkpoint tests.  It runs a few rounds of work (ring exchanges and
 * reductions, every value checked), then GATES times: sets up MOMENT -- a
 * state with MPI traffic in flight -- prints "GATE k" and waits there,
 * rank 0 computing (polling for the file GO_PREFIX<k>, no MPI call) while
 * the others are blocked in MPI, until that file exists; then completes the
 * moment's traffic, checking every value, and works a few rounds more.  It
 * prints one checksum line per rank per gate and at the end, the same for
 * any run: a test checkpoints the job at the gate (continue, or kill and
 * restart) and compares the output with an uninterrupted run's.
 *
 * Moments:
 *   eager  50 small Isends to each neighbour, unreceived; ranks > 0 blocked
 *          in MPI_Recv from rank 0, which has not sent yet
 *   rndv   large Isends (rendezvous size), two of four with their Irecvs
 *          pending; ranks > 0 blocked in MPI_Recv(ANY_SOURCE)
 *   coll   a pending MPI_Iallreduce on every rank; ranks > 0 blocked inside
 *          an MPI_Allreduce that rank 0 has not entered
 *   sync   rank 1 blocked in MPI_Ssend to rank 0; the others in MPI_Probe
 *   dtype  vector-typed messages in flight, received later as contiguous
 *          doubles; ranks > 0 blocked in MPI_Wait on an Irecv */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "libcr.h"

/* CKPT_THREADS=N: N worker threads compute (no MPI) for the whole run,
 * across every checkpoint, under MPI_THREAD_SERIALIZED; at the end each
 * checks its own state (a running hash of the steps it made, recomputed). */
static atomic_int stop_workers;
typedef struct {
  uint64_t steps, hash;
} Worker;

static uint64_t step_hash(uint64_t h, uint64_t i) {
  return (h ^ (i * 0x9e3779b97f4a7c15ull)) * 0x100000001b3ull;
}

static void* worker(void* arg) {
  Worker* w = arg;
  while (!atomic_load(&stop_workers)) {
    w->hash = step_hash(w->hash, w->steps);
    w->steps++;
  }
  return NULL;
}

static int check_worker(const Worker* w) {
  uint64_t h = 0;
  for (uint64_t i = 0; i < w->steps; ++i) h = step_hash(h, i);
  return h == w->hash && w->steps > 0;
}

static int rank, size;
static uint64_t sum;

static void mix(uint64_t v) {
  sum = (sum ^ v) * 0x100000001b3ull;
}

static double val(int from, int k, int i) {
  return from * 1000003.0 + k * 17.0 + i;
}

static void work(int rounds, int salt) {
  int right = (rank + 1) % size, left = (rank + size - 1) % size;
  for (int k = 0; k < rounds; ++k) {
    double out[64], in[64];
    for (int i = 0; i < 64; ++i) out[i] = val(rank, k + salt, i);
    MPI_Sendrecv(out, 64, MPI_DOUBLE, right, 7, in, 64, MPI_DOUBLE, left, 7, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    for (int i = 0; i < 64; ++i) CHECK(in[i] == val(left, k + salt, i), "ring value");
    long x = rank + k, tot = 0;
    MPI_Allreduce(&x, &tot, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    CHECK(tot == (long)size * (size - 1) / 2 + (long)size * k, "allreduce value");
    mix((uint64_t)tot);
    mix((uint64_t)in[63]);
  }
}

static void wait_go(const char* prefix, int k) {
  char path[4096];
  snprintf(path, sizeof path, "%s%d", prefix, k);
  /* CKPT_SELF_REQUEST=1: the application itself asks for the job
   * checkpoint at each gate (crmpi/crmpi_ext.h; looked up at run time, so
   * that the program still runs under plain mpirun). */
  const char* self = getenv("CKPT_SELF_REQUEST");
  if (self && !strcmp(self, "libcr")) { /* libcr's API, scope CR_SCOPE_JOB */
    int (*request)(const cr_checkpoint_args_t*, cr_checkpoint_handle_t*) =
        dlsym(RTLD_DEFAULT, "cr_request_checkpoint");
    int (*poll)(cr_checkpoint_handle_t*, struct timeval*) =
        dlsym(RTLD_DEFAULT, "cr_poll_checkpoint");
    CHECK(request && poll, "libcr loaded");
    cr_checkpoint_args_t a;
    memset(&a, 0, sizeof a);
    a.cr_version = CR_CHECKPOINT_ARGS_VERSION;
    a.cr_scope = CR_SCOPE_JOB;
    a.cr_fd = -1;
    cr_checkpoint_handle_t h;
    CHECK(request(&a, &h) == 0 && poll(&h, NULL) == 1, "cr_request_checkpoint(CR_SCOPE_JOB)");
  } else if (self) {
    int (*request)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "crmpi_request_checkpoint");
    CHECK(request != NULL && request() == MPI_SUCCESS, "crmpi_request_checkpoint");
  }
  printf("GATE %d\n", k);
  fflush(stdout);
  while (access(path, F_OK) != 0) usleep(2000); /* computing: no MPI call */
}

/* Rank 0 waits at the gate, then releases the others (tag 999). */
static void release(void) {
  int one = 1;
  for (int r = 1; r < size; ++r) MPI_Send(&one, 1, MPI_INT, r, 999, MPI_COMM_WORLD);
}

static void moment_eager(const char* go, int g) {
  enum { N = 50 };
  int right = (rank + 1) % size, left = (rank + size - 1) % size;
  MPI_Request sr[N];
  int out[N], in[N];
  for (int i = 0; i < N; ++i) {
    out[i] = rank * 100000 + g * 1000 + i;
    MPI_Isend(&out[i], 1, MPI_INT, right, 100 + (i % 3), MPI_COMM_WORLD, &sr[i]);
  }
  if (rank == 0) {
    wait_go(go, g);
    release();
  } else {
    int x;
    MPI_Recv(&x, 1, MPI_INT, 0, 999, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  for (int i = 0; i < N; ++i) { /* in order per tag: non-overtaking */
    MPI_Recv(&in[i], 1, MPI_INT, left, 100 + (i % 3), MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    CHECK(in[i] == left * 100000 + g * 1000 + i, "eager message order/content");
    mix((uint64_t)in[i]);
  }
  MPI_Waitall(N, sr, MPI_STATUSES_IGNORE);
}

static void moment_rndv(const char* go, int g) {
  enum { N = 4, LEN = 1 << 18 }; /* 2 MiB of doubles each */
  int right = (rank + 1) % size, left = (rank + size - 1) % size;
  double* out = malloc(sizeof(double) * N * LEN);
  double* in = malloc(sizeof(double) * N * LEN);
  MPI_Request sr[N], rr[N];
  for (int j = 0; j < N; ++j) {
    for (int i = 0; i < LEN; i += 1024) out[j * LEN + i] = val(rank, g * 10 + j, i);
    MPI_Isend(out + j * LEN, LEN, MPI_DOUBLE, right, 200 + j, MPI_COMM_WORLD, &sr[j]);
  }
  for (int j = 0; j < 2; ++j)
    MPI_Irecv(in + j * LEN, LEN, MPI_DOUBLE, left, 200 + j, MPI_COMM_WORLD, &rr[j]);
  if (rank == 0) {
    wait_go(go, g);
    release();
  } else {
    int x;
    MPI_Status st;
    MPI_Recv(&x, 1, MPI_INT, MPI_ANY_SOURCE, 999, MPI_COMM_WORLD, &st);
    CHECK(st.MPI_SOURCE == 0, "release source");
  }
  for (int j = 2; j < N; ++j)
    MPI_Irecv(in + j * LEN, LEN, MPI_DOUBLE, left, 200 + j, MPI_COMM_WORLD, &rr[j]);
  MPI_Waitall(N, rr, MPI_STATUSES_IGNORE);
  MPI_Waitall(N, sr, MPI_STATUSES_IGNORE);
  for (int j = 0; j < N; ++j)
    for (int i = 0; i < LEN; i += 1024) {
      CHECK(in[j * LEN + i] == val(left, g * 10 + j, i), "large message content");
      mix((uint64_t)in[j * LEN + i]);
    }
  free(out);
  free(in);
}

static void moment_coll(const char* go, int g) {
  long a = rank + g, atot = 0, b = rank * 3 + g, btot = 0;
  MPI_Request r;
  MPI_Iallreduce(&a, &atot, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD, &r);
  if (rank == 0) wait_go(go, g);
  MPI_Allreduce(&b, &btot, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  MPI_Wait(&r, MPI_STATUS_IGNORE);
  CHECK(atot == (long)size * (size - 1) / 2 + (long)size * g, "iallreduce value");
  CHECK(btot == 3L * size * (size - 1) / 2 + (long)size * g, "allreduce value at the gate");
  mix((uint64_t)atot);
  mix((uint64_t)btot);
}

static void moment_sync(const char* go, int g) {
  int v = 4242 + g, x = 0;
  if (rank == 0) {
    wait_go(go, g);
    if (size > 1) {
      MPI_Recv(&x, 1, MPI_INT, 1, 300, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      CHECK(x == v, "ssend value");
    }
    release();
  } else if (rank == 1) {
    MPI_Ssend(&v, 1, MPI_INT, 0, 300, MPI_COMM_WORLD);
    MPI_Recv(&x, 1, MPI_INT, 0, 999, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  } else {
    MPI_Status st;
    MPI_Probe(0, 999, MPI_COMM_WORLD, &st);
    CHECK(st.MPI_TAG == 999, "probe tag");
    MPI_Recv(&x, 1, MPI_INT, 0, 999, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  mix((uint64_t)v);
}

static void moment_dtype(const char* go, int g) {
  enum { COUNT = 100 };
  int right = (rank + 1) % size, left = (rank + size - 1) % size;
  double grid[COUNT * 3], in[COUNT];
  for (int i = 0; i < COUNT * 3; ++i) grid[i] = val(rank, g, i);
  MPI_Datatype col;
  MPI_Type_vector(COUNT, 1, 3, MPI_DOUBLE, &col);
  MPI_Type_commit(&col);
  MPI_Request s;
  MPI_Isend(grid + 1, 1, col, right, 400, MPI_COMM_WORLD, &s);
  MPI_Type_free(&col); /* allowed while the send is pending */
  if (rank == 0) {
    wait_go(go, g);
    release();
  } else {
    int x;
    MPI_Request rr;
    MPI_Irecv(&x, 1, MPI_INT, 0, 999, MPI_COMM_WORLD, &rr);
    MPI_Wait(&rr, MPI_STATUS_IGNORE);
  }
  MPI_Recv(in, COUNT, MPI_DOUBLE, left, 400, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  for (int i = 0; i < COUNT; ++i) {
    CHECK(in[i] == val(left, g, 1 + 3 * i), "vector element");
    mix((uint64_t)in[i]);
  }
  MPI_Wait(&s, MPI_STATUS_IGNORE);
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: ckpt_moments eager|rndv|coll|sync|dtype GATES GO_PREFIX\n");
    return 2;
  }
  int nthreads = getenv("CKPT_THREADS") ? atoi(getenv("CKPT_THREADS")) : 0, provided;
  MPI_Init_thread(&argc, &argv, nthreads ? MPI_THREAD_SERIALIZED : MPI_THREAD_SINGLE, &provided);
  CHECK(!nthreads || provided >= MPI_THREAD_SERIALIZED, "MPI_THREAD_SERIALIZED");
  pthread_t tids[16];
  Worker workers[16] = {{0, 0}};
  if (nthreads > 16) nthreads = 16;
  for (int i = 0; i < nthreads; ++i) pthread_create(&tids[i], NULL, worker, &workers[i]);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const char* moment = argv[1];
  int gates = atoi(argv[2]);
  void (*fn)(const char*, int) = NULL;
  if (!strcmp(moment, "eager")) fn = moment_eager;
  if (!strcmp(moment, "rndv")) fn = moment_rndv;
  if (!strcmp(moment, "coll")) fn = moment_coll;
  if (!strcmp(moment, "sync")) fn = moment_sync;
  if (!strcmp(moment, "dtype")) fn = moment_dtype;
  CHECK(fn != NULL, "known moment");
  work(20, 0);
  for (int g = 1; g <= gates; ++g) {
    fn(argv[3], g);
    work(20, g * 100);
    printf("rank %d gate %d checksum %016llx\n", rank, g, (unsigned long long)sum);
    fflush(stdout);
  }
  work(10, 9999);
  atomic_store(&stop_workers, 1);
  for (int i = 0; i < nthreads; ++i) {
    pthread_join(tids[i], NULL);
    CHECK(check_worker(&workers[i]), "worker thread state");
  }
  printf("rank %d done checksum %016llx\n", rank, (unsigned long long)sum);
  MPI_Finalize();
  return 0;
}

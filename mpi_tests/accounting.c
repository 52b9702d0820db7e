/* Accounting that the coordinated checkpoint relies on (crmpi/crmpi_ext.h):
 * communicator ids agreed by all members without messages and distinct per
 * creation (dups included), collective counts equal across members, and
 * point-to-point sent == received over the job. Under plain mpirun the
 * extension is absent (looked up with dlsym) and only the MPI part runs, so
 * the outputs compare equal. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"

typedef uint64_t (*id_fn)(MPI_Comm);
typedef int (*counters_fn)(MPI_Comm, uint64_t*, uint64_t*, uint64_t*);
typedef int (*record_fn)(MPI_Request, int*, uint64_t*, uint64_t*);

static int rank, size;
static id_fn comm_id;
static counters_fn comm_counters;
static record_fn request_record;

/* Every member of c has the same id, and it differs from `other`'s. */
static void same_id(MPI_Comm c, MPI_Comm other, const char* what) {
  if (!comm_id) return;
  unsigned long long mine = comm_id(c), lo, hi;
  MPI_Allreduce(&mine, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, c);
  MPI_Allreduce(&mine, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, c);
  CHECK(mine != 0 && lo == hi, what);
  if (other != MPI_COMM_NULL) CHECK(comm_id(other) != mine, what);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  comm_id = (id_fn)dlsym(RTLD_DEFAULT, "crmpi_comm_id");
  comm_counters = (counters_fn)dlsym(RTLD_DEFAULT, "crmpi_comm_counters");
  request_record = (record_fn)dlsym(RTLD_DEFAULT, "crmpi_request_record");
  if (comm_id) CHECK(comm_id(MPI_COMM_WORLD) == 1 && comm_id(MPI_COMM_SELF) == 2, "predefined ids");

  MPI_Comm d1, d2, split, sub;
  MPI_Comm_dup(MPI_COMM_WORLD, &d1);
  MPI_Comm_dup(MPI_COMM_WORLD, &d2);
  same_id(d1, MPI_COMM_WORLD, "dup id");
  same_id(d2, d1, "second dup id differs");
  MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &split);
  same_id(split, d2, "split id");
  if (comm_id && size > 1) { /* the two colours differ */
    unsigned long long mine = comm_id(split), *all = malloc(size * sizeof *all);
    MPI_Allgather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all, 1, MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD);
    for (int i = 0; i < size; ++i) CHECK((all[i] == mine) == (i % 2 == rank % 2), "split colours");
    free(all);
  }
  MPI_Comm_dup(split, &sub);
  same_id(sub, split, "dup of split");

  /* Traffic on d1: a ring of sends (posted and not), an Isend/Irecv pair,
   * collectives; then the job-wide balance. */
  int right = (rank + 1) % size, left = (rank + size - 1) % size, x = rank, y;
  static double big[200000];
  for (int k = 0; k < 5; ++k)
    MPI_Sendrecv(&x, 1, MPI_INT, right, k, &y, 1, MPI_INT, left, k, d1, MPI_STATUS_IGNORE);
  MPI_Sendrecv(big, 200000, MPI_DOUBLE, right, 9, big, 200000, MPI_DOUBLE, left, 9, d1,
               MPI_STATUS_IGNORE);
  MPI_Request r[2];
  MPI_Irecv(&y, 1, MPI_INT, left, 7, d1, &r[0]);
  MPI_Isend(&x, 1, MPI_INT, right, 7, d1, &r[1]);
  MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
  MPI_Send(&x, 1, MPI_INT, right, 8, d1);
  MPI_Recv(&y, 1, MPI_INT, left, 8, d1, MPI_STATUS_IGNORE);
  MPI_Send(&x, 1, MPI_INT, MPI_PROC_NULL, 8, d1); /* not counted */
  MPI_Barrier(d1); /* collectives on d1: same_id's two allreduces, these two */
  MPI_Allreduce(&x, &y, 1, MPI_INT, MPI_SUM, d1);
  if (comm_counters) {
    uint64_t coll, sent, recvd;
    CHECK(comm_counters(d1, &coll, &sent, &recvd) == MPI_SUCCESS, "counters");
    if (!(sent == 8 && recvd == 8 && coll == 4))
      fprintf(stderr, "rank %d: sent %llu recvd %llu coll %llu\n", rank, (unsigned long long)sent,
              (unsigned long long)recvd, (unsigned long long)coll);
    CHECK(sent == 8 && recvd == 8 && coll == 4, "own counts");
    unsigned long long mine[2] = {sent, recvd}, tot[2], c = coll, lo, hi;
    MPI_Allreduce(mine, tot, 2, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    CHECK(tot[0] == tot[1], "job-wide sent == received");
    MPI_Allreduce(&c, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, d1);
    MPI_Allreduce(&c, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, d1);
    CHECK(lo == hi, "collective counts agree");
  }
  /* Pending requests keep a record: kind, communicator, and for
   * collectives their number on it, the same on every member. */
  MPI_Request q[3];
  int v = rank, w = 0, z = 0;
  MPI_Iallreduce(&v, &w, 1, MPI_INT, MPI_SUM, d2, &q[0]);
  MPI_Ibcast(&z, 1, MPI_INT, 0, d2, &q[1]);
  MPI_Irecv(&y, 1, MPI_INT, left, 10, d2, &q[2]);
  if (request_record) {
    int kind[3];
    uint64_t id[3], seq[3];
    for (int i = 0; i < 3; ++i)
      CHECK(request_record(q[i], &kind[i], &id[i], &seq[i]) == MPI_SUCCESS, "record");
    CHECK(kind[0] == 3 && kind[1] == 3 && kind[2] == 2, "record kinds");
    CHECK(id[0] == comm_id(d2) && id[1] == id[0] && id[2] == id[0], "record comm");
    CHECK(seq[1] == seq[0] + 1 && seq[2] == 0, "record order");
    unsigned long long s0 = seq[0], lo, hi;
    MPI_Allreduce(&s0, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&s0, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    CHECK(lo == hi, "record numbers agree");
    CHECK(request_record(MPI_REQUEST_NULL, NULL, NULL, NULL) != MPI_SUCCESS, "null request");
  }
  MPI_Send(&x, 1, MPI_INT, right, 10, d2);
  int got = 0;
  while (!got) MPI_Request_get_status(q[2], &got, MPI_STATUS_IGNORE); /* then Wait: counted once */
  MPI_Waitall(3, q, MPI_STATUSES_IGNORE);
  if (comm_counters) {
    uint64_t sent, recvd;
    comm_counters(d2, NULL, &sent, &recvd);
    CHECK(sent == 1 && recvd == 1, "get_status then wait counts one receive");
  }
  CHECK(w == size * (size - 1) / 2, "iallreduce");
  MPI_Comm_free(&sub), MPI_Comm_free(&split), MPI_Comm_free(&d2), MPI_Comm_free(&d1);
  printf("rank %d: accounting ok\n", rank);
  MPI_Finalize();
  return 0;
}

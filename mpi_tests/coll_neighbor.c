/* Neighbourhood collectives, blocking and nonblocking (all five posted at
 * once, then completed together), on Cartesian topologies (periodic and
 * not) and on a distributed graph with repeated edges. Periodic dimensions
 * of 1 or 2 ranks are avoided: a rank is then both the -1 and the +1
 * neighbour, and Open MPI 4.1 itself matches those slots the other way
 * round (MPI_ERR_TRUNCATE in its nonblocking forms), so plain mpirun could
 * not be compared with.
 * Receive slot j's data are checked against what the neighbour sent in the
 * matching send slot: for Cartesian topologies, the opposite direction of
 * the same dimension; for graphs, the same occurrence of the pair in the
 * two adjacency lists. Slots that face MPI_PROC_NULL must stay untouched. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int rank, size;
#define MAXS 16

struct Topo {
  MPI_Comm c;
  int in, out;
  int src[MAXS];   /* neighbour of receive slot j (or MPI_PROC_NULL) */
  int sslot[MAXS]; /* the send slot of src[j] whose data land in slot j */
};

static void dist_lists(int r, int* dst, int* srcs) {
  dst[0] = (r + 1) % size, dst[1] = (r + 3) % size, dst[2] = (r + 1) % size;
  srcs[0] = (r - 1 + size) % size, srcs[1] = (r - 3 + 3 * size) % size, srcs[2] = (r - 1 + size) % size;
}

static void make_graph(struct Topo* t) {
  int dst[3], srcs[3];
  dist_lists(rank, dst, srcs);
  MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 3, srcs, MPI_UNWEIGHTED, 3, dst, MPI_UNWEIGHTED,
                                 MPI_INFO_NULL, 0, &t->c);
  t->in = t->out = 3;
  for (int j = 0; j < 3; ++j) {
    int q = srcs[j], m = 0, qd[3], qs[3];
    for (int k = 0; k < j; ++k) m += srcs[k] == q;
    dist_lists(q, qd, qs);
    t->src[j] = q, t->sslot[j] = -1;
    for (int k = 0, seen = 0; k < 3; ++k)
      if (qd[k] == rank && seen++ == m) t->sslot[j] = k;
    CHECK(t->sslot[j] >= 0, "graph lists consistent");
  }
}

static void make_cart(struct Topo* t, int nd, int* dims, int* periods) {
  MPI_Cart_create(MPI_COMM_WORLD, nd, dims, periods, 0, &t->c);
  t->in = t->out = 2 * nd;
  for (int d = 0; d < nd; ++d) {
    MPI_Cart_shift(t->c, d, 1, &t->src[2 * d], &t->src[2 * d + 1]);
    t->sslot[2 * d] = 2 * d + 1, t->sslot[2 * d + 1] = 2 * d;
  }
}

static int v(int from, int slot, int k) { return 1000 * from + 10 * slot + k; }

static void check_block(const int* b, int n, int from, int slot, int len, int fill, const char* what) {
  for (int k = 0; k < n; ++k)
    CHECK(b[k] == (from == MPI_PROC_NULL || k >= len ? fill : v(from, slot, k)), what);
}

static void run(struct Topo* t, int nb) {
  int in = t->in, out = t->out;
  MPI_Datatype pair;
  MPI_Type_contiguous(2, MPI_INT, &pair);
  MPI_Type_commit(&pair);
  /* send: slot i's 4 ints at 4*i (s), or at 4*(out-1-i) (av, for alltoallv) */
  int *s = malloc(4 * out * sizeof(int)), *av = malloc(4 * out * sizeof(int));
  int ag[2] = {v(rank, 0, 0), v(rank, 0, 1)};
  for (int i = 0; i < out; ++i)
    for (int k = 0; k < 4; ++k) s[4 * i + k] = av[4 * (out - 1 - i) + k] = v(rank, i, k);
  int* r[5];
  for (int x = 0; x < 5; ++x) {
    r[x] = malloc(4 * in * sizeof(int));
    for (int i = 0; i < 4 * in; ++i) r[x][i] = -1;
  }
  int rc[MAXS], rd[MAXS], vrc[MAXS], vrd[MAXS], sc[MAXS], sd[MAXS], wrc[MAXS], wsc[MAXS];
  MPI_Aint wsd[MAXS], wrd[MAXS];
  MPI_Datatype wst[MAXS], wrt[MAXS];
  for (int j = 0; j < in; ++j) {
    int q = t->src[j];
    rc[j] = q == MPI_PROC_NULL ? 0 : q % 2 + 1, rd[j] = 4 * (in - 1 - j); /* allgatherv */
    vrc[j] = t->sslot[j] % 3, vrd[j] = 4 * j;                             /* alltoallv */
    wrc[j] = t->sslot[j] % 2 + 1, wrd[j] = (MPI_Aint)((4 * j + 1) * sizeof(int)), wrt[j] = MPI_INT;
  }
  for (int i = 0; i < out; ++i) {
    sc[i] = i % 3, sd[i] = 4 * (out - 1 - i);
    wsc[i] = 1, wsd[i] = (MPI_Aint)(4 * i * sizeof(int)), wst[i] = i % 2 ? pair : MPI_INT;
  }
  if (nb) {
    MPI_Request q[5];
    MPI_Ineighbor_allgather(ag, 2, MPI_INT, r[0], 1, pair, t->c, &q[0]);
    MPI_Ineighbor_allgatherv(ag, rank % 2 + 1, MPI_INT, r[1], rc, rd, MPI_INT, t->c, &q[1]);
    MPI_Ineighbor_alltoall(s, 4, MPI_INT, r[2], 2, pair, t->c, &q[2]);
    MPI_Ineighbor_alltoallv(av, sc, sd, MPI_INT, r[3], vrc, vrd, MPI_INT, t->c, &q[3]);
    MPI_Ineighbor_alltoallw(s, wsc, wsd, wst, r[4], wrc, wrd, wrt, t->c, &q[4]);
    MPI_Type_free(&pair); /* allowed while the operations are pending */
    int done = 0;
    while (!done) MPI_Testall(5, q, &done, MPI_STATUSES_IGNORE);
  } else {
    MPI_Neighbor_allgather(ag, 2, MPI_INT, r[0], 1, pair, t->c);
    MPI_Neighbor_allgatherv(ag, rank % 2 + 1, MPI_INT, r[1], rc, rd, MPI_INT, t->c);
    MPI_Neighbor_alltoall(s, 4, MPI_INT, r[2], 2, pair, t->c);
    MPI_Neighbor_alltoallv(av, sc, sd, MPI_INT, r[3], vrc, vrd, MPI_INT, t->c);
    MPI_Neighbor_alltoallw(s, wsc, wsd, wst, r[4], wrc, wrd, wrt, t->c);
    MPI_Type_free(&pair);
  }
  for (int j = 0; j < in; ++j) {
    int q = t->src[j], ss = t->sslot[j];
    check_block(r[0] + 2 * j, 2, q, 0, 2, -1, "neighbor_allgather");
    check_block(r[1] + rd[j], 4, q, 0, rc[j], -1, "neighbor_allgatherv");
    check_block(r[2] + 4 * j, 4, q, ss, 4, -1, "neighbor_alltoall");
    check_block(r[3] + 4 * j, 4, q, ss, vrc[j], -1, "neighbor_alltoallv");
    CHECK(r[4][4 * j] == -1, "neighbor_alltoallw: before the block untouched");
    check_block(r[4] + 4 * j + 1, 3, q, ss, wrc[j], -1, "neighbor_alltoallw");
  }
  for (int i = 2 * in; i < 4 * in; ++i) CHECK(r[0][i] == -1, "neighbor_allgather: past the blocks");
  free(s), free(av);
  for (int x = 0; x < 5; ++x) free(r[x]);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  CHECK(size <= 64, "at most 64 ranks");
  struct Topo t;
  for (int kind = 0; kind < 4; ++kind) {
    int dims[2] = {0, 0}, periods[2] = {1, 0};
    if (kind == 0) {
      make_graph(&t);
    } else if (kind == 1) { /* 2-d, periodic in the first dimension if it has 3 ranks or more */
      MPI_Dims_create(size, 2, dims);
      periods[0] = dims[0] >= 3;
      make_cart(&t, 2, dims, periods);
    } else if (kind == 2) { /* 1-d ring */
      dims[0] = size, periods[0] = size >= 3;
      make_cart(&t, 1, dims, periods);
    } else { /* 3-d, open edges */
      int d3[3] = {0, 0, 0}, p3[3] = {0, 0, 0};
      MPI_Dims_create(size, 3, d3);
      make_cart(&t, 3, d3, p3);
    }
    run(&t, 0);
    run(&t, 1);
    MPI_Comm_free(&t.c);
    if (rank == 0) printf("topology %d ok\n", kind);
  }
  printf("rank %d: neighbourhood collectives ok\n", rank);
  MPI_Finalize();
  return 0;
}

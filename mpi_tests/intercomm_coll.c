/* Collectives on an intercommunicator (MPI-3.1 5.2.2 and each operation's
 * intercommunicator paragraph), blocking and nonblocking.  Groups: world
 * ranks [0, ceil(n/2)) and the rest (uneven at odd n).  Rooted operations run
 * once with each group as the root group (root: its last member; MPI_ROOT
 * there, MPI_PROC_NULL at its other members; the other group names the
 * root's remote rank).  Every received element is checked against a value
 * computed from the sender's world rank; each operation prints a checksum. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int wrank, wsize, color, lrank, lsize, rsize, nb;
static int *rw;  /* world ranks of the remote group */
static MPI_Comm ic;

#define V(w, i) ((w) * 1000 + (i))

static void done(MPI_Request* r) {
  if (nb) MPI_Wait(r, MPI_STATUS_IGNORE);
}

static void report(const char* what, long sum) {
  printf("rank %d: %s%s sum %ld\n", wrank, nb ? "i" : "", what, sum);
}

static void bcast(int rg) {
  enum { N = 5 };
  int buf[N], root_local = rg == color ? lsize - 1 : rsize - 1;
  for (int i = 0; i < N; ++i) buf[i] = color == rg && lrank == root_local ? V(wrank, i) : -1;
  int root = color == rg ? (lrank == root_local ? MPI_ROOT : MPI_PROC_NULL) : root_local;
  MPI_Request r;
  if (nb) MPI_Ibcast(buf, N, MPI_INT, root, ic, &r); else MPI_Bcast(buf, N, MPI_INT, root, ic);
  done(&r);
  long sum = 0;
  for (int i = 0; i < N; ++i) {
    int want = color == rg ? (root == MPI_ROOT ? V(wrank, i) : -1) : V(rw[root_local], i);
    CHECK(buf[i] == want, "bcast");
    sum += buf[i];
  }
  report("bcast", sum);
}

static void reduce(int rg) {
  enum { N = 4 };
  int s[N], r[N], root_local = rg == color ? lsize - 1 : rsize - 1;
  for (int i = 0; i < N; ++i) s[i] = V(wrank, i), r[i] = -1;
  int root = color == rg ? (lrank == root_local ? MPI_ROOT : MPI_PROC_NULL) : root_local;
  MPI_Request q;
  if (nb) MPI_Ireduce(s, r, N, MPI_INT, MPI_SUM, root, ic, &q);
  else MPI_Reduce(s, r, N, MPI_INT, MPI_SUM, root, ic);
  done(&q);
  long sum = 0;
  for (int i = 0; i < N; ++i) {
    int want = -1;
    if (root == MPI_ROOT) {
      want = 0;
      for (int j = 0; j < rsize; ++j) want += V(rw[j], i);
    }
    CHECK(r[i] == want, "reduce");
    sum += r[i];
  }
  report("reduce", sum);
}

static void allreduce(void) {
  enum { N = 3 };
  int s[N], r[N];
  for (int i = 0; i < N; ++i) s[i] = V(wrank, i), r[i] = -1;
  MPI_Request q;
  if (nb) MPI_Iallreduce(s, r, N, MPI_INT, MPI_MAX, ic, &q);
  else MPI_Allreduce(s, r, N, MPI_INT, MPI_MAX, ic);
  done(&q);
  long sum = 0;
  for (int i = 0; i < N; ++i) {
    int want = V(rw[0], i);
    for (int j = 1; j < rsize; ++j) want = want > V(rw[j], i) ? want : V(rw[j], i);
    CHECK(r[i] == want, "allreduce: max over the remote group");
    sum += r[i];
  }
  report("allreduce", sum);
}

static void gather(int rg, int v) {
  enum { N = 2 };
  int root_local = rg == color ? lsize - 1 : rsize - 1;
  int root = color == rg ? (lrank == root_local ? MPI_ROOT : MPI_PROC_NULL) : root_local;
  int s[N], cap = 3 * N * rsize + 8;
  int* r = malloc(sizeof(int) * cap);
  int *cnt = malloc(sizeof(int) * rsize), *dsp = malloc(sizeof(int) * rsize);
  for (int i = 0; i < N; ++i) s[i] = V(wrank, i);
  for (int i = 0; i < cap; ++i) r[i] = -1;
  for (int j = 0; j < rsize; ++j) cnt[j] = j % 2 + 1, dsp[j] = 3 * (rsize - 1 - j);
  int sc = v ? lrank % 2 + 1 : N;
  MPI_Request q;
  if (v) {
    if (nb) MPI_Igatherv(s, sc, MPI_INT, r, cnt, dsp, MPI_INT, root, ic, &q);
    else MPI_Gatherv(s, sc, MPI_INT, r, cnt, dsp, MPI_INT, root, ic);
  } else {
    if (nb) MPI_Igather(s, N, MPI_INT, r, N, MPI_INT, root, ic, &q);
    else MPI_Gather(s, N, MPI_INT, r, N, MPI_INT, root, ic);
  }
  done(&q);
  long sum = 0;
  for (int i = 0; i < cap; ++i) {
    int want = -1;
    if (root == MPI_ROOT)
      for (int j = 0; j < rsize; ++j) {
        int off = v ? dsp[j] : N * j, n = v ? cnt[j] : N;
        if (i >= off && i < off + n) want = V(rw[j], i - off);
      }
    CHECK(r[i] == want, v ? "gatherv" : "gather");
    sum += r[i];
  }
  report(v ? "gatherv" : "gather", sum);
  free(r), free(cnt), free(dsp);
}

static void scatter(int rg, int v) {
  enum { N = 3 };
  int root_local = rg == color ? lsize - 1 : rsize - 1;
  int root = color == rg ? (lrank == root_local ? MPI_ROOT : MPI_PROC_NULL) : root_local;
  int cap = 2 * N * rsize + 4;
  int* s = malloc(sizeof(int) * cap);
  int *cnt = malloc(sizeof(int) * rsize), *dsp = malloc(sizeof(int) * rsize);
  for (int i = 0; i < cap; ++i) s[i] = V(wrank, i);
  for (int j = 0; j < rsize; ++j) cnt[j] = N - j % 2, dsp[j] = 2 * N * (rsize - 1 - j) + 1;
  int r[N] = {-1, -1, -1};
  int rc = v ? N - lrank % 2 : N;
  MPI_Request q;
  if (v) {
    if (nb) MPI_Iscatterv(s, cnt, dsp, MPI_INT, r, rc, MPI_INT, root, ic, &q);
    else MPI_Scatterv(s, cnt, dsp, MPI_INT, r, rc, MPI_INT, root, ic);
  } else {
    if (nb) MPI_Iscatter(s, N, MPI_INT, r, N, MPI_INT, root, ic, &q);
    else MPI_Scatter(s, N, MPI_INT, r, N, MPI_INT, root, ic);
  }
  done(&q);
  long sum = 0;
  for (int i = 0; i < N; ++i) {
    int want = -1;
    if (color != rg && i < rc) want = V(rw[root_local], (v ? 2 * N * (lsize - 1 - lrank) + 1 : N * lrank) + i);
    CHECK(r[i] == want, v ? "scatterv" : "scatter");
    sum += r[i];
  }
  report(v ? "scatterv" : "scatter", sum);
  free(s), free(cnt), free(dsp);
}

static void allgather(int v) {
  enum { N = 2 };
  int s[N] = {V(wrank, 0), V(wrank, 1)}, cap = 3 * rsize + 2;
  int* r = malloc(sizeof(int) * cap);
  int *cnt = malloc(sizeof(int) * rsize), *dsp = malloc(sizeof(int) * rsize);
  for (int i = 0; i < cap; ++i) r[i] = -1;
  for (int j = 0; j < rsize; ++j) cnt[j] = rw[j] % 2 + 1, dsp[j] = 3 * j + 1;
  MPI_Request q;
  if (v) {
    int sc = wrank % 2 + 1;
    if (nb) MPI_Iallgatherv(s, sc, MPI_INT, r, cnt, dsp, MPI_INT, ic, &q);
    else MPI_Allgatherv(s, sc, MPI_INT, r, cnt, dsp, MPI_INT, ic);
  } else {
    if (nb) MPI_Iallgather(s, N, MPI_INT, r, N, MPI_INT, ic, &q);
    else MPI_Allgather(s, N, MPI_INT, r, N, MPI_INT, ic);
  }
  done(&q);
  long sum = 0;
  for (int i = 0; i < cap; ++i) {
    int want = -1;
    for (int j = 0; j < rsize; ++j) {
      int off = v ? dsp[j] : N * j, n = v ? cnt[j] : N;
      if (i >= off && i < off + n) want = V(rw[j], i - off);
    }
    CHECK(r[i] == want, v ? "allgatherv" : "allgather: remote_size blocks");
    sum += r[i];
  }
  report(v ? "allgatherv" : "allgather", sum);
  free(r), free(cnt), free(dsp);
}

/* kind 0 alltoall, 1 alltoallv, 2 alltoallw.  To remote rank j I send j + 1
 * elements (v, w) of value V(wrank, 10 * j + i); from remote rank j I get
 * lrank + 1 of V(rw[j], 10 * lrank + i). */
static void alltoall(int kind) {
  enum { N = 2 };
  int cap = 8 * (rsize + lsize) + 8;
  int *s = malloc(sizeof(int) * cap), *r = malloc(sizeof(int) * cap);
  int *sc = malloc(sizeof(int) * rsize), *sd = malloc(sizeof(int) * rsize);
  int *rc = malloc(sizeof(int) * rsize), *rd = malloc(sizeof(int) * rsize);
  MPI_Datatype* ts = malloc(sizeof(MPI_Datatype) * rsize);
  int so = 0, ro = 0;
  for (int j = 0; j < rsize; ++j) {
    sc[j] = kind ? j + 1 : N, rc[j] = kind ? lrank + 1 : N, ts[j] = MPI_INT;
    sd[j] = kind ? so : N * j, rd[j] = kind ? ro + 1 : N * j;
    so += sc[j] + (kind ? 1 : 0), ro += rc[j] + (kind ? 1 : 0);
  }
  for (int i = 0; i < cap; ++i) s[i] = -2, r[i] = -1;
  for (int j = 0; j < rsize; ++j)
    for (int i = 0; i < sc[j]; ++i) s[sd[j] + i] = V(wrank, 10 * j + i);
  MPI_Request q;
  if (kind == 0) {
    if (nb) MPI_Ialltoall(s, N, MPI_INT, r, N, MPI_INT, ic, &q);
    else MPI_Alltoall(s, N, MPI_INT, r, N, MPI_INT, ic);
  } else if (kind == 1) {
    if (nb) MPI_Ialltoallv(s, sc, sd, MPI_INT, r, rc, rd, MPI_INT, ic, &q);
    else MPI_Alltoallv(s, sc, sd, MPI_INT, r, rc, rd, MPI_INT, ic);
  } else {
    int *sdb = malloc(sizeof(int) * rsize), *rdb = malloc(sizeof(int) * rsize);
    for (int j = 0; j < rsize; ++j) sdb[j] = sd[j] * 4, rdb[j] = rd[j] * 4;
    if (nb) MPI_Ialltoallw(s, sc, sdb, ts, r, rc, rdb, ts, ic, &q);
    else MPI_Alltoallw(s, sc, sdb, ts, r, rc, rdb, ts, ic);
    done(&q);
    nb = -nb; /* waited already */
    free(sdb), free(rdb);
  }
  if (nb > 0) done(&q);
  if (nb < 0) nb = -nb;
  long sum = 0;
  for (int i = 0; i < cap; ++i) {
    int want = -1;
    for (int j = 0; j < rsize; ++j)
      if (i >= rd[j] && i < rd[j] + rc[j]) want = V(rw[j], 10 * lrank + i - rd[j]);
    CHECK(r[i] == want, kind == 0 ? "alltoall" : kind == 1 ? "alltoallv" : "alltoallw");
    sum += r[i];
  }
  report(kind == 0 ? "alltoall" : kind == 1 ? "alltoallv" : "alltoallw", sum);
  free(s), free(r), free(sc), free(sd), free(rc), free(rd), free(ts);
}

/* The reduction of one group's vectors is scattered over the other group;
 * both groups' vectors have lsize * rsize elements.  v: uneven counts. */
static void reduce_scatter(int v) {
  int n = lsize * rsize;
  int *s = malloc(sizeof(int) * n), r[64], *cnt = malloc(sizeof(int) * lsize);
  for (int i = 0; i < n; ++i) s[i] = V(wrank, i);
  for (int i = 0; i < 64; ++i) r[i] = -1;
  for (int k = 0; k < lsize; ++k) cnt[k] = rsize;
  if (v && lsize > 1) cnt[0] = 2 * rsize, cnt[1] = 0;
  MPI_Request q;
  if (v) {
    if (nb) MPI_Ireduce_scatter(s, r, cnt, MPI_INT, MPI_SUM, ic, &q);
    else MPI_Reduce_scatter(s, r, cnt, MPI_INT, MPI_SUM, ic);
  } else {
    if (nb) MPI_Ireduce_scatter_block(s, r, rsize, MPI_INT, MPI_SUM, ic, &q);
    else MPI_Reduce_scatter_block(s, r, rsize, MPI_INT, MPI_SUM, ic);
  }
  done(&q);
  int first = 0;
  for (int k = 0; k < lrank; ++k) first += cnt[k];
  long sum = 0;
  for (int i = 0; i < 64; ++i) {
    int want = -1;
    if (i < cnt[lrank]) {
      want = 0;
      for (int j = 0; j < rsize; ++j) want += V(rw[j], first + i);
    }
    CHECK(r[i] == want, v ? "reduce_scatter" : "reduce_scatter_block");
    sum += r[i];
  }
  report(v ? "reduce_scatter" : "reduce_scatter_block", sum);
  free(s), free(cnt);
}

/* A derived type through an intercommunicator broadcast: every other int of
 * the root's buffer lands at the same places at the receivers, the gaps
 * stay. */
static void bcast_vector(int rg) {
  enum { N = 7 };
  MPI_Datatype vec;
  MPI_Type_vector(4, 1, 2, MPI_INT, &vec);
  MPI_Type_commit(&vec);
  int buf[N], root_local = rg == color ? lsize - 1 : rsize - 1;
  int root = color == rg ? (lrank == root_local ? MPI_ROOT : MPI_PROC_NULL) : root_local;
  for (int i = 0; i < N; ++i) buf[i] = root == MPI_ROOT ? V(wrank, i) : -1;
  MPI_Request q;
  if (nb) MPI_Ibcast(buf, 1, vec, root, ic, &q); else MPI_Bcast(buf, 1, vec, root, ic);
  done(&q);
  long sum = 0;
  for (int i = 0; i < N; ++i) {
    int want = root == MPI_ROOT ? V(wrank, i) : -1;
    if (color != rg && i % 2 == 0) want = V(rw[root_local], i);
    CHECK(buf[i] == want, "bcast of a vector type");
    sum += buf[i];
  }
  MPI_Type_free(&vec);
  report("bcast_vector", sum);
}

/* A user op (element-wise a*b mod 1009, commutative) in an allreduce. */
static void mulmod(void* in, void* inout, int* len, MPI_Datatype* t) {
  (void)t;
  for (int i = 0; i < *len; ++i)
    ((int*)inout)[i] = (int)((long)((int*)in)[i] * ((int*)inout)[i] % 1009);
}

static void allreduce_userop(void) {
  enum { N = 3 };
  MPI_Op op;
  MPI_Op_create(mulmod, 1, &op);
  int s[N], r[N];
  for (int i = 0; i < N; ++i) s[i] = wrank + i + 2, r[i] = -1;
  MPI_Request q;
  if (nb) MPI_Iallreduce(s, r, N, MPI_INT, op, ic, &q);
  else MPI_Allreduce(s, r, N, MPI_INT, op, ic);
  done(&q);
  long sum = 0;
  for (int i = 0; i < N; ++i) {
    long want = 1;
    for (int j = 0; j < rsize; ++j) want = want * (rw[j] + i + 2) % 1009;
    CHECK(r[i] == want, "allreduce with a user op over the remote group");
    sum += r[i];
  }
  MPI_Op_free(&op);
  report("allreduce_userop", sum);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
  MPI_Comm_size(MPI_COMM_WORLD, &wsize);
  CHECK(wsize >= 2, "at least 2 ranks");
  int half = (wsize + 1) / 2;
  color = wrank >= half;
  MPI_Comm local;
  MPI_Comm_split(MPI_COMM_WORLD, color, wrank, &local);
  MPI_Intercomm_create(local, 0, MPI_COMM_WORLD, color ? 0 : half, 3, &ic);
  MPI_Comm_rank(ic, &lrank);
  MPI_Comm_size(ic, &lsize);
  MPI_Comm_remote_size(ic, &rsize);
  rw = malloc(sizeof(int) * rsize);
  for (int j = 0; j < rsize; ++j) rw[j] = color ? j : half + j;
  for (nb = 0; nb < 2; ++nb) {
    MPI_Request q;
    if (nb) MPI_Ibarrier(ic, &q); else MPI_Barrier(ic);
    done(&q);
    for (int rg = 0; rg < 2; ++rg) {
      bcast(rg);
      reduce(rg);
      gather(rg, 0);
      gather(rg, 1);
      scatter(rg, 0);
      scatter(rg, 1);
    }
    bcast_vector(0);
    bcast_vector(1);
    allreduce();
    allreduce_userop();
    allgather(0);
    allgather(1);
    alltoall(0);
    alltoall(1);
    alltoall(2);
    reduce_scatter(0);
    reduce_scatter(1);
  }
  MPI_Comm_free(&ic);
  MPI_Comm_free(&local);
  free(rw);
  printf("rank %d: intercomm collectives done\n", wrank);
  MPI_Finalize();
  return 0;
}

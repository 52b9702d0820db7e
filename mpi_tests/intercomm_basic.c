/* Intercommunicators (MPI-3.1 6.6): creation, groups, point-to-point, merge,
 * dup, idup, split and create on an intercommunicator.  The world is cut into two
 * uneven groups (even and odd world ranks); every check compares with values
 * computed from the world ranks. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int wrank, wsize;

/* World ranks of the members of g. */
static void world_of(MPI_Group g, int* out) {
  MPI_Group wg;
  int n;
  MPI_Group_size(g, &n);
  MPI_Comm_group(MPI_COMM_WORLD, &wg);
  int* in = malloc(sizeof(int) * n);
  for (int i = 0; i < n; ++i) in[i] = i;
  MPI_Group_translate_ranks(g, n, in, wg, out);
  MPI_Group_free(&wg);
  free(in);
}

/* Every local rank sends to every remote rank; every rank receives from all
 * remote ranks with MPI_ANY_SOURCE: the source is a remote rank. */
static void all_pairs(MPI_Comm ic, const int* rworld, const char* what) {
  int me, rsize;
  MPI_Comm_rank(ic, &me);
  MPI_Comm_remote_size(ic, &rsize);
  MPI_Request* rq = malloc(sizeof(MPI_Request) * rsize);
  int* out = malloc(sizeof(int) * rsize);
  for (int j = 0; j < rsize; ++j) {
    out[j] = wrank * 100 + j;
    MPI_Isend(&out[j], 1, MPI_INT, j, me, ic, &rq[j]);
  }
  int seen = 0;
  for (int k = 0; k < rsize; ++k) {
    MPI_Status st;
    int v = -1, flag = 0;
    MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, ic, &st);
    CHECK(st.MPI_SOURCE >= 0 && st.MPI_SOURCE < rsize, "probe source is a remote rank");
    MPI_Iprobe(st.MPI_SOURCE, st.MPI_TAG, ic, &flag, MPI_STATUS_IGNORE);
    CHECK(flag, "iprobe finds the probed message");
    MPI_Recv(&v, 1, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, ic, &st);
    CHECK(st.MPI_SOURCE >= 0 && st.MPI_SOURCE < rsize, "source is a remote rank");
    CHECK(st.MPI_TAG == st.MPI_SOURCE, "tag is the sender's local rank");
    CHECK(v == rworld[st.MPI_SOURCE] * 100 + me, "value from that remote rank");
    CHECK(!(seen & (1 << st.MPI_SOURCE)), "each remote rank once");
    seen |= 1 << st.MPI_SOURCE;
  }
  MPI_Waitall(rsize, rq, MPI_STATUSES_IGNORE);
  MPI_Barrier(ic); /* nobody's next messages meet these wildcards */
  printf("rank %d: %s pairs ok with %d remote\n", wrank, what, rsize);
  free(rq);
  free(out);
}

/* A large message (rendezvous-sized) each way between matching ranks. */
static void large(MPI_Comm ic, const int* rworld) {
  int me, rsize;
  MPI_Comm_rank(ic, &me);
  MPI_Comm_remote_size(ic, &rsize);
  int n = 200000, peer = me % rsize;
  int* s = malloc(sizeof(int) * n);
  int* r = malloc(sizeof(int) * n);
  for (int i = 0; i < n; ++i) s[i] = wrank * 7 + i;
  /* Local rank k sends to remote rank k % rsize: I receive from every
   * remote rank j with j % my_size == me. */
  MPI_Request rq;
  MPI_Isend(s, n, MPI_INT, peer, 5, ic, &rq);
  int lsize;
  MPI_Comm_size(ic, &lsize);
  for (int j = me; j < rsize; j += lsize) {
    MPI_Status st;
    MPI_Recv(r, n, MPI_INT, j, 5, ic, &st);
    CHECK(st.MPI_SOURCE == j, "large source");
    for (int i = 0; i < n; i += 997) CHECK(r[i] == rworld[j] * 7 + i, "large payload");
    CHECK(r[n - 1] == rworld[j] * 7 + n - 1, "large payload end");
  }
  MPI_Wait(&rq, MPI_STATUS_IGNORE);
  printf("rank %d: large ok\n", wrank);
  free(s);
  free(r);
}

static void sendrecv_ring(MPI_Comm ic, const int* rworld) {
  int me, rsize;
  MPI_Comm_rank(ic, &me);
  MPI_Comm_remote_size(ic, &rsize);
  /* Pair local rank k with remote rank k where both exist. */
  int lsize;
  MPI_Comm_size(ic, &lsize);
  if (me >= rsize) return;
  int v = -1;
  MPI_Status st;
  MPI_Sendrecv(&wrank, 1, MPI_INT, me, 9, &v, 1, MPI_INT, me, 9, ic, &st);
  CHECK(v == rworld[me] && st.MPI_SOURCE == me, "sendrecv with the remote rank of my number");
  MPI_Sendrecv(&wrank, 1, MPI_INT, MPI_PROC_NULL, 9, &v, 1, MPI_INT, MPI_PROC_NULL, 9, ic, &st);
  CHECK(st.MPI_SOURCE == MPI_PROC_NULL, "proc null source");
  printf("rank %d: sendrecv ok\n", wrank);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
  MPI_Comm_size(MPI_COMM_WORLD, &wsize);
  CHECK(wsize >= 2, "at least 2 ranks");
  int color = wrank % 2, flag = -1;
  MPI_Comm local, ic;
  MPI_Comm_split(MPI_COMM_WORLD, color, wrank, &local);
  MPI_Comm_test_inter(local, &flag);
  CHECK(flag == 0, "an intracommunicator is not inter");
  /* Leaders: local rank 0 (world 0 and world 1). */
  MPI_Intercomm_create(local, 0, MPI_COMM_WORLD, color ? 0 : 1, 77, &ic);
  MPI_Comm_test_inter(ic, &flag);
  CHECK(flag == 1, "test_inter");
  int lsize, lrank, rsize, expect_r = color ? wsize / 2 + wsize % 2 : wsize / 2;
  MPI_Comm_size(ic, &lsize);
  MPI_Comm_rank(ic, &lrank);
  MPI_Comm_remote_size(ic, &rsize);
  CHECK(lsize + rsize == wsize && rsize == expect_r, "sizes");
  CHECK(lrank == wrank / 2, "local rank");
  MPI_Group lg, rg;
  MPI_Comm_group(ic, &lg);
  MPI_Comm_remote_group(ic, &rg);
  int* lw = malloc(sizeof(int) * lsize);
  int* rw = malloc(sizeof(int) * rsize);
  world_of(lg, lw);
  world_of(rg, rw);
  for (int i = 0; i < lsize; ++i) CHECK(lw[i] == 2 * i + color, "local group order");
  for (int i = 0; i < rsize; ++i) CHECK(rw[i] == 2 * i + 1 - color, "remote group order");
  MPI_Group_free(&lg);
  MPI_Group_free(&rg);
  printf("rank %d: intercomm local %d of %d, remote %d\n", wrank, lrank, lsize, rsize);

  all_pairs(ic, rw, "create");
  large(ic, rw);
  sendrecv_ring(ic, rw);

  /* Dup: congruent, its own message space. */
  MPI_Comm dup;
  int cmp;
  MPI_Comm_dup(ic, &dup);
  MPI_Comm_compare(ic, dup, &cmp);
  CHECK(cmp == MPI_CONGRUENT, "dup is congruent");
  MPI_Comm_compare(ic, local, &cmp);
  CHECK(cmp == MPI_UNEQUAL, "inter vs intra unequal");
  MPI_Comm_test_inter(dup, &flag);
  CHECK(flag, "dup is inter");
  all_pairs(dup, rw, "dup");

  /* Idup: the same, through a request (MPI_Comm_idup). */
  MPI_Comm idup;
  MPI_Request ireq;
  MPI_Comm_idup(ic, &idup, &ireq);
  MPI_Wait(&ireq, MPI_STATUS_IGNORE);
  MPI_Comm_compare(ic, idup, &cmp);
  CHECK(cmp == MPI_CONGRUENT, "idup is congruent");
  MPI_Comm_test_inter(idup, &flag);
  CHECK(flag, "idup is inter");
  all_pairs(idup, rw, "idup");
  MPI_Comm_free(&idup);

  /* Merge: the group passing high = 0 comes first. */
  MPI_Comm merged;
  MPI_Intercomm_merge(ic, color, &merged);
  int mrank, msize;
  MPI_Comm_rank(merged, &mrank);
  MPI_Comm_size(merged, &msize);
  MPI_Comm_test_inter(merged, &flag);
  CHECK(!flag && msize == wsize, "merged size");
  CHECK(mrank == (color ? (wsize + 1) / 2 : 0) + lrank, "merged rank order");
  int sum = 0;
  MPI_Allreduce(&wrank, &sum, 1, MPI_INT, MPI_SUM, merged);
  CHECK(sum == wsize * (wsize - 1) / 2, "allreduce on merged");
  printf("rank %d: merged rank %d of %d\n", wrank, mrank, msize);

  /* A second intercommunicator, over another peer communicator and with
   * leaders that are not local rank 0: merged rank 0 alone against the
   * others; leaders are each group's last member. */
  {
    int alone = mrank == 0;
    MPI_Comm part, ic2;
    MPI_Comm_split(merged, alone, mrank, &part);
    int psize, prank;
    MPI_Comm_size(part, &psize);
    MPI_Comm_rank(part, &prank);
    MPI_Intercomm_create(part, psize - 1, merged, alone ? wsize - 1 : 0, 1234, &ic2);
    int r2;
    MPI_Comm_remote_size(ic2, &r2);
    CHECK(r2 == wsize - psize, "second intercomm remote size");
    MPI_Group g2;
    MPI_Comm_remote_group(ic2, &g2);
    int* w2 = malloc(sizeof(int) * r2);
    world_of(g2, w2);
    MPI_Group_free(&g2);
    all_pairs(ic2, w2, "second");
    free(w2);
    MPI_Comm_free(&ic2);
    MPI_Comm_free(&part);
  }

  /* Split: color by local rank parity, reversed key order.  A side with no
   * partner in the remote group gets MPI_COMM_NULL. */
  MPI_Comm sp;
  MPI_Comm_split(ic, lrank % 2, -lrank, &sp);
  int partners = (rsize + (lrank % 2 ? 0 : 1)) / 2; /* remote ranks of my parity */
  if (partners == 0) {
    CHECK(sp == MPI_COMM_NULL, "split without partners is null");
    printf("rank %d: split null\n", wrank);
  } else {
    CHECK(sp != MPI_COMM_NULL, "split");
    int ss, sr, srs;
    MPI_Comm_size(sp, &ss);
    MPI_Comm_rank(sp, &sr);
    MPI_Comm_remote_size(sp, &srs);
    CHECK(srs == partners, "split remote size");
    CHECK(sr == ss - 1 - lrank / 2, "split key order reversed");
    MPI_Group g2;
    MPI_Comm_remote_group(sp, &g2);
    int* w2 = malloc(sizeof(int) * srs);
    world_of(g2, w2);
    MPI_Group_free(&g2);
    all_pairs(sp, w2, "split");
    printf("rank %d: split rank %d of %d, remote %d\n", wrank, sr, ss, srs);
    free(w2);
    MPI_Comm_free(&sp);
  }

  /* Create: each group keeps all its members but local rank 1. */
  MPI_Group mine, sub;
  MPI_Comm_group(ic, &mine);
  int drop = 1;
  if (lsize > 1)
    MPI_Group_excl(mine, 1, &drop, &sub);
  else
    MPI_Group_incl(mine, 1, &(int){0}, &sub);
  MPI_Comm cr;
  MPI_Comm_create(ic, sub, &cr);
  if (lsize > 1 && lrank == 1) {
    CHECK(cr == MPI_COMM_NULL, "create: excluded");
    printf("rank %d: create null\n", wrank);
  } else {
    CHECK(cr != MPI_COMM_NULL, "create");
    int crs;
    MPI_Comm_remote_size(cr, &crs);
    CHECK(crs == (rsize > 1 ? rsize - 1 : 1), "create remote size");
    MPI_Group g3;
    MPI_Comm_remote_group(cr, &g3);
    int* w3 = malloc(sizeof(int) * crs);
    world_of(g3, w3);
    MPI_Group_free(&g3);
    all_pairs(cr, w3, "create-sub");
    free(w3);
    MPI_Comm_free(&cr);
  }
  MPI_Group_free(&mine);
  MPI_Group_free(&sub);

  MPI_Comm_free(&merged);
  MPI_Comm_free(&dup);
  MPI_Comm_free(&ic);
  MPI_Comm_free(&local);
  free(lw);
  free(rw);
  printf("rank %d: intercomm basic done\n", wrank);
  MPI_Finalize();
  return 0;
}

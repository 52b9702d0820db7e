/* Point-to-point: blocking modes, nonblocking, probe, sendrecv, persistent,
 * cancel, wait/test families. Self-checking; prints a deterministic report. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c, what)                                                         \
  do {                                                                         \
    if (!(c)) {                                                                \
      fprintf(stderr, "rank %d: FAILED %s (line %d)\n", rank, what, __LINE__); \
      MPI_Abort(MPI_COMM_WORLD, 2);                                            \
    }                                                                          \
  } while (0)

int main(int argc, char** argv) {
  int rank, size;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int right = (rank + 1) % size, left = (rank + size - 1) % size;

  /* Blocking ring in each mode, sizes from 1 int to 1M doubles. */
  int sizes[] = {1, 100, 10000, 1 << 20};
  for (int s = 0; s < 4; ++s) {
    int n = sizes[s];
    double* out = malloc(n * sizeof(double));
    double* in = malloc(n * sizeof(double));
    for (int i = 0; i < n; ++i) out[i] = rank * 1e6 + i;
    MPI_Status st;
    if (rank % 2 == 0) {
      MPI_Send(out, n, MPI_DOUBLE, right, s, MPI_COMM_WORLD);
      MPI_Recv(in, n, MPI_DOUBLE, left, s, MPI_COMM_WORLD, &st);
    } else {
      MPI_Recv(in, n, MPI_DOUBLE, left, s, MPI_COMM_WORLD, &st);
      MPI_Send(out, n, MPI_DOUBLE, right, s, MPI_COMM_WORLD);
    }
    int cnt;
    MPI_Get_count(&st, MPI_DOUBLE, &cnt);
    CHECK(cnt == n && st.MPI_SOURCE == left && st.MPI_TAG == s, "recv status");
    for (int i = 0; i < n; ++i) CHECK(in[i] == left * 1e6 + i, "recv data");
    /* Ssend / Rsend via Irecv first */
    MPI_Request r;
    MPI_Irecv(in, n, MPI_DOUBLE, left, 100 + s, MPI_COMM_WORLD, &r);
    MPI_Barrier(MPI_COMM_WORLD);
    if (s % 2)
      MPI_Rsend(out, n, MPI_DOUBLE, right, 100 + s, MPI_COMM_WORLD);
    else
      MPI_Ssend(out, n, MPI_DOUBLE, right, 100 + s, MPI_COMM_WORLD);
    MPI_Wait(&r, &st);
    for (int i = 0; i < n; ++i) CHECK(in[i] == left * 1e6 + i, "irecv data");
    free(out);
    free(in);
  }
  printf("rank %d: blocking ok\n", rank);

  /* Nonblocking exchange with Waitall, Waitany, Testsome. */
  int sbuf[4], rbuf[4];
  MPI_Request reqs[4];
  for (int k = 0; k < 2; ++k) {
    sbuf[k] = rank * 10 + k;
    MPI_Isend(&sbuf[k], 1, MPI_INT, k ? left : right, 7, MPI_COMM_WORLD, &reqs[k]);
    MPI_Irecv(&rbuf[k], 1, MPI_INT, k ? right : left, 7, MPI_COMM_WORLD, &reqs[2 + k]);
  }
  MPI_Status sts[4];
  MPI_Waitall(4, reqs, sts);
  CHECK(rbuf[0] == left * 10 + 0 && rbuf[1] == right * 10 + 1, "waitall data");
  for (int k = 0; k < 4; ++k) CHECK(reqs[k] == MPI_REQUEST_NULL, "waitall frees");

  int done = 0, idx;
  MPI_Irecv(&rbuf[0], 1, MPI_INT, left, 8, MPI_COMM_WORLD, &reqs[0]);
  MPI_Isend(&sbuf[0], 1, MPI_INT, right, 8, MPI_COMM_WORLD, &reqs[1]);
  while (done < 2) {
    MPI_Waitany(2, reqs, &idx, MPI_STATUS_IGNORE);
    CHECK(idx == 0 || idx == 1, "waitany index");
    done++;
  }
  MPI_Waitany(2, reqs, &idx, MPI_STATUS_IGNORE);
  CHECK(idx == MPI_UNDEFINED, "waitany all null");
  CHECK(rbuf[0] == left * 10, "waitany data");

  MPI_Irecv(&rbuf[1], 1, MPI_INT, left, 9, MPI_COMM_WORLD, &reqs[0]);
  MPI_Isend(&sbuf[1], 1, MPI_INT, right, 9, MPI_COMM_WORLD, &reqs[1]);
  int got = 0, outc, ids[2];
  while (got < 2) {
    MPI_Testsome(2, reqs, &outc, ids, MPI_STATUSES_IGNORE);
    if (outc != MPI_UNDEFINED) got += outc;
  }
  CHECK(rbuf[1] == left * 10 + 1, "testsome data");
  int flag = 0;
  MPI_Irecv(&rbuf[2], 1, MPI_INT, left, 10, MPI_COMM_WORLD, &reqs[0]);
  MPI_Send(&sbuf[0], 1, MPI_INT, right, 10, MPI_COMM_WORLD);
  while (!flag) MPI_Test(&reqs[0], &flag, MPI_STATUS_IGNORE);
  CHECK(rbuf[2] == left * 10, "test data");
  /* Request_get_status leaves the request for a later Wait. */
  MPI_Irecv(&rbuf[3], 1, MPI_INT, left, 16, MPI_COMM_WORLD, &reqs[0]);
  MPI_Send(&sbuf[1], 1, MPI_INT, right, 16, MPI_COMM_WORLD);
  flag = 0;
  MPI_Status gs;
  while (!flag) MPI_Request_get_status(reqs[0], &flag, &gs);
  CHECK(reqs[0] != MPI_REQUEST_NULL && gs.MPI_SOURCE == left && rbuf[3] == left * 10 + 1,
        "get_status");
  MPI_Wait(&reqs[0], MPI_STATUS_IGNORE);
  CHECK(reqs[0] == MPI_REQUEST_NULL, "wait after get_status");
  printf("rank %d: nonblocking ok\n", rank);

  /* Probe, Iprobe, then receive of the probed size. */
  int msg[5] = {rank, rank, rank, rank, rank};
  MPI_Send(msg, rank % 5 + 1, MPI_INT, right, 11, MPI_COMM_WORLD);
  MPI_Status st;
  MPI_Probe(MPI_ANY_SOURCE, 11, MPI_COMM_WORLD, &st);
  int cnt;
  MPI_Get_count(&st, MPI_INT, &cnt);
  CHECK(cnt == left % 5 + 1 && st.MPI_SOURCE == left, "probe");
  int in5[5];
  MPI_Recv(in5, 5, MPI_INT, st.MPI_SOURCE, 11, MPI_COMM_WORLD, &st);
  CHECK(in5[0] == left, "probe recv");
  /* Matched probe, then a nonblocking matched receive. */
  MPI_Message mm;
  MPI_Send(&rank, 1, MPI_INT, right, 17, MPI_COMM_WORLD);
  MPI_Mprobe(left, 17, MPI_COMM_WORLD, &mm, &st);
  int mval = -1;
  MPI_Request mr;
  MPI_Imrecv(&mval, 1, MPI_INT, &mm, &mr);
  CHECK(mm == MPI_MESSAGE_NULL, "imrecv consumes the message");
  MPI_Wait(&mr, &st);
  CHECK(mval == left && st.MPI_SOURCE == left, "imrecv");
  flag = 0;
  MPI_Iprobe(MPI_ANY_SOURCE, 999, MPI_COMM_WORLD, &flag, &st);
  CHECK(!flag, "iprobe nothing");
  printf("rank %d: probe ok\n", rank);

  /* Sendrecv and Sendrecv_replace. */
  int x = rank, y = -1;
  MPI_Sendrecv(&x, 1, MPI_INT, right, 12, &y, 1, MPI_INT, left, 12, MPI_COMM_WORLD, &st);
  CHECK(y == left, "sendrecv");
  MPI_Sendrecv_replace(&x, 1, MPI_INT, right, 13, left, 13, MPI_COMM_WORLD, &st);
  CHECK(x == left, "sendrecv_replace");
  /* PROC_NULL */
  MPI_Recv(&y, 1, MPI_INT, MPI_PROC_NULL, 0, MPI_COMM_WORLD, &st);
  CHECK(st.MPI_SOURCE == MPI_PROC_NULL, "proc_null");
  printf("rank %d: sendrecv ok\n", rank);

  /* Persistent requests, restarted 3 times. */
  int ps = 0, pr = -1;
  MPI_Request pq[2];
  MPI_Send_init(&ps, 1, MPI_INT, right, 14, MPI_COMM_WORLD, &pq[0]);
  MPI_Recv_init(&pr, 1, MPI_INT, left, 14, MPI_COMM_WORLD, &pq[1]);
  for (int it = 0; it < 3; ++it) {
    ps = rank * 100 + it;
    MPI_Startall(2, pq);
    MPI_Waitall(2, pq, MPI_STATUSES_IGNORE);
    CHECK(pr == left * 100 + it, "persistent");
  }
  MPI_Request_free(&pq[0]);
  MPI_Request_free(&pq[1]);
  printf("rank %d: persistent ok\n", rank);

  /* Cancel an unmatched receive. */
  MPI_Request cr;
  MPI_Irecv(&y, 1, MPI_INT, MPI_ANY_SOURCE, 4242, MPI_COMM_WORLD, &cr);
  MPI_Cancel(&cr);
  MPI_Wait(&cr, &st);
  int canc;
  MPI_Test_cancelled(&st, &canc);
  CHECK(canc, "cancelled");
  printf("rank %d: cancel ok\n", rank);

  /* Many small sends in a row (libcrpmpi posts them without waiting: this
   * wraps and fills its ring), then the receives: order and content. */
  {
    enum { kMsgs = 600, kInts = 700 };
    int* out = malloc(kInts * sizeof(int));
    int* in = malloc(kInts * sizeof(int));
    for (int k = 0; k < kMsgs; ++k) {
      int n = 1 + (k * 37) % kInts;
      for (int i = 0; i < n; ++i) out[i] = rank * 100000 + k * 10 + i % 10;
      MPI_Send(out, n, MPI_INT, right, 20, MPI_COMM_WORLD);
    }
    for (int k = 0; k < kMsgs; ++k) {
      int n = 1 + (k * 37) % kInts, cnt;
      MPI_Recv(in, kInts, MPI_INT, left, 20, MPI_COMM_WORLD, &st);
      MPI_Get_count(&st, MPI_INT, &cnt);
      CHECK(cnt == n, "posted send count/order");
      for (int i = 0; i < n; ++i)
        CHECK(in[i] == left * 100000 + k * 10 + i % 10, "posted send data");
    }
    free(out);
    free(in);
    printf("rank %d: send burst ok\n", rank);
  }

  /* A small Isend (complete as soon as posted in libcrpmpi) mixed with a
   * receive that cannot complete yet: Testall is all or nothing. */
  {
    MPI_Request q[2];
    int v = rank, w = -1, f = 1, got = -1, outc, idx[2], completed = 0, gsf;
    MPI_Irecv(&w, 1, MPI_INT, left, 18, MPI_COMM_WORLD, &q[0]); /* sent after the barrier */
    MPI_Isend(&v, 1, MPI_INT, right, 19, MPI_COMM_WORLD, &q[1]);
    MPI_Testall(2, q, &f, MPI_STATUSES_IGNORE);
    CHECK(!f && q[0] != MPI_REQUEST_NULL && q[1] != MPI_REQUEST_NULL, "testall all or nothing");
    MPI_Request_get_status(q[1], &gsf, MPI_STATUS_IGNORE);
    CHECK(q[1] != MPI_REQUEST_NULL, "get_status keeps the request");
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Send(&v, 1, MPI_INT, right, 18, MPI_COMM_WORLD);
    MPI_Recv(&got, 1, MPI_INT, left, 19, MPI_COMM_WORLD, &st);
    CHECK(got == left, "isend data");
    while (completed < 2) {
      MPI_Waitsome(2, q, &outc, idx, MPI_STATUSES_IGNORE);
      CHECK(outc != MPI_UNDEFINED, "waitsome");
      completed += outc;
    }
    CHECK(w == left && q[0] == MPI_REQUEST_NULL && q[1] == MPI_REQUEST_NULL, "waitsome frees");
    printf("rank %d: posted isend ok\n", rank);
  }

  /* Bsend with an attached buffer. */
  int bsz = 1 << 16;
  void* bb = malloc(bsz);
  MPI_Buffer_attach(bb, bsz);
  MPI_Bsend(&x, 1, MPI_INT, right, 15, MPI_COMM_WORLD);
  MPI_Recv(&y, 1, MPI_INT, left, 15, MPI_COMM_WORLD, &st);
  void* back;
  MPI_Buffer_detach(&back, &bsz);
  CHECK(back == bb, "buffer detach");
  free(bb);
  printf("rank %d: bsend ok\n", rank);

  MPI_Finalize();
  return 0;
}

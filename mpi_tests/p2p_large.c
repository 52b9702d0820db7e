/* Large point-to-point messages: the sizes around crmpi's wire-format and
 * rendezvous thresholds, and the orders and waits that a rendezvous must
 * survive (each rank waiting on its own large send first, a barrier between
 * a send and its receive, probes that see a large message behind a small
 * one, matched probes, truncation, sendrecv, derived types, persistent,
 * synchronous and freed requests). Self-checking; the output is compared
 * with plain mpirun's. Needs at least 2 ranks; rank 2 and up join the
 * any-source part. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int rank, size;

static void fill(char* p, size_t n, int seed) {
  for (size_t i = 0; i < n; ++i) p[i] = (char)(seed * 31 + i * 7 + (i >> 12));
}
static int same(const char* p, size_t n, int seed) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != (char)(seed * 31 + i * 7 + (i >> 12))) return 0;
  return 1;
}

static void sizes(void) {
  static const int n[] = {0, 1, 63, 64, 65, 127, 4095, 4096, 32767, 32768, 32769, 1 << 20, 5 << 20};
  for (unsigned k = 0; k < sizeof n / sizeof n[0]; ++k) {
    char* b = malloc(n[k] + 1);
    if (rank == 0) {
      fill(b, n[k], k);
      MPI_Send(b, n[k], MPI_CHAR, 1, 100 + k, MPI_COMM_WORLD);
    } else if (rank == 1) {
      MPI_Status st;
      int c;
      memset(b, 0, n[k] + 1);
      MPI_Recv(b, n[k] + 1, MPI_CHAR, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
      MPI_Get_count(&st, MPI_CHAR, &c);
      CHECK(c == n[k] && st.MPI_TAG == (int)(100 + k) && same(b, n[k], k), "size");
      CHECK(b[n[k]] == 0, "no byte past the message");
      printf("size %d: count %d\n", n[k], c);
    }
    free(b);
  }
}

/* A predefined type with padding (MPI_DOUBLE_INT: 12 bytes of data in a
 * 16-byte extent), small and large: counts and values. */
typedef struct {
  double d;
  int i;
} dint;
static void padded(void) {
  static const int n[] = {10, 5000};
  for (int k = 0; k < 2; ++k) {
    dint* b = calloc(n[k], sizeof(dint));
    if (rank == 0) {
      for (int i = 0; i < n[k]; ++i) b[i].d = i * 0.5, b[i].i = -i;
      MPI_Send(b, n[k], MPI_DOUBLE_INT, 1, 50, MPI_COMM_WORLD);
    } else if (rank == 1) {
      MPI_Status st;
      int c, e;
      MPI_Recv(b, n[k], MPI_DOUBLE_INT, 0, 50, MPI_COMM_WORLD, &st);
      MPI_Get_count(&st, MPI_DOUBLE_INT, &c);
      MPI_Get_elements(&st, MPI_DOUBLE_INT, &e);
      CHECK(c == n[k], "double_int count");
      for (int i = 0; i < n[k]; ++i) CHECK(b[i].d == i * 0.5 && b[i].i == -i, "double_int values");
      printf("double_int %d: count %d elements %d\n", n[k], c, e);
    }
    free(b);
  }
}

/* Both ranks wait for their own large send before their receive. */
static void crossed(void) {
  if (rank > 1) return;
  int peer = 1 - rank;
  size_t n = 2 << 20;
  char *s = malloc(n), *r = malloc(n);
  fill(s, n, rank);
  MPI_Request rq[2];
  MPI_Irecv(r, n, MPI_CHAR, peer, 7, MPI_COMM_WORLD, &rq[0]);
  MPI_Isend(s, n, MPI_CHAR, peer, 7, MPI_COMM_WORLD, &rq[1]);
  MPI_Wait(&rq[1], MPI_STATUS_IGNORE);
  MPI_Wait(&rq[0], MPI_STATUS_IGNORE);
  CHECK(same(r, n, peer), "crossed");
  /* And both blocking-receive after a nonblocking send to each other. */
  MPI_Isend(s, n, MPI_CHAR, peer, 8, MPI_COMM_WORLD, &rq[1]);
  MPI_Recv(r, n, MPI_CHAR, peer, 8, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  MPI_Wait(&rq[1], MPI_STATUS_IGNORE);
  CHECK(same(r, n, peer), "crossed blocking");
  printf("crossed ok\n");
  free(s);
  free(r);
}

/* Rank 0 completes its large send before the barrier; rank 1 enters the
 * barrier with the receive still pending. */
static void barrier_between(void) {
  size_t n = 1 << 20;
  char* b = malloc(n);
  MPI_Request rq = MPI_REQUEST_NULL;
  if (rank == 0) {
    fill(b, n, 3);
    MPI_Isend(b, n, MPI_CHAR, 1, 9, MPI_COMM_WORLD, &rq);
    MPI_Wait(&rq, MPI_STATUS_IGNORE);
  } else if (rank == 1) {
    MPI_Irecv(b, n, MPI_CHAR, 0, 9, MPI_COMM_WORLD, &rq);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  double x = rank, sum;
  MPI_Allreduce(&x, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 1) {
    MPI_Wait(&rq, MPI_STATUS_IGNORE);
    CHECK(same(b, n, 3), "barrier between");
    printf("barrier between ok, sum %g\n", sum);
  }
  free(b);
}

/* A probe for tag 2 finds a large message sent after a small tag-1 one:
 * a receive for any tag must still get the small one first. */
static void probe_order(void) {
  size_t n = 3 << 20;
  char* b = malloc(n);
  if (rank == 0) {
    int small = 42;
    fill(b, n, 5);
    MPI_Send(&small, 1, MPI_INT, 1, 1, MPI_COMM_WORLD);
    MPI_Send(b, n, MPI_CHAR, 1, 2, MPI_COMM_WORLD);
    MPI_Send(b, 100, MPI_CHAR, 1, 3, MPI_COMM_WORLD);
  } else if (rank == 1) {
    MPI_Status st;
    int c, v = 0, flag = 0;
    MPI_Probe(0, 2, MPI_COMM_WORLD, &st);
    MPI_Get_count(&st, MPI_CHAR, &c);
    CHECK(c == (int)n && st.MPI_TAG == 2, "probe size");
    while (!flag) MPI_Iprobe(MPI_ANY_SOURCE, 2, MPI_COMM_WORLD, &flag, &st); /* again */
    MPI_Get_count(&st, MPI_CHAR, &c);
    CHECK(c == (int)n, "iprobe size");
    MPI_Recv(&v, 1, MPI_INT, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
    CHECK(v == 42 && st.MPI_TAG == 1, "small first");
    memset(b, 0, n);
    MPI_Recv(b, n, MPI_CHAR, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
    MPI_Get_count(&st, MPI_CHAR, &c);
    CHECK(st.MPI_TAG == 2 && c == (int)n && same(b, n, 5), "large second");
    MPI_Recv(b, 100, MPI_CHAR, 0, 3, MPI_COMM_WORLD, &st);
    CHECK(same(b, 100, 5), "then the rest");
    printf("probe order ok: %d bytes\n", c);
  }
  free(b);
}

static void matched(void) {
  size_t n = 1 << 20;
  char* b = malloc(n);
  if (rank == 0) {
    fill(b, n, 6);
    MPI_Send(b, n, MPI_CHAR, 1, 4, MPI_COMM_WORLD);
    MPI_Send(b, n / 2, MPI_CHAR, 1, 5, MPI_COMM_WORLD);
  } else if (rank == 1) {
    MPI_Message m;
    MPI_Status st;
    MPI_Request rq;
    int c, flag = 0;
    MPI_Mprobe(0, 4, MPI_COMM_WORLD, &m, &st);
    MPI_Get_count(&st, MPI_CHAR, &c);
    CHECK(c == (int)n, "mprobe size");
    memset(b, 0, n);
    MPI_Mrecv(b, c, MPI_CHAR, &m, &st);
    CHECK(same(b, n, 6), "mrecv");
    while (!flag) MPI_Improbe(0, 5, MPI_COMM_WORLD, &flag, &m, &st);
    MPI_Get_count(&st, MPI_CHAR, &c);
    memset(b, 0, n);
    MPI_Imrecv(b, c, MPI_CHAR, &m, &rq);
    MPI_Wait(&rq, &st);
    CHECK(c == (int)n / 2 && same(b, n / 2, 6), "imrecv");
    printf("matched probe ok: %d then %d\n", (int)n, c);
  }
  free(b);
}

static void truncation(void) {
  size_t n = 1 << 20;
  char* b = malloc(n);
  if (rank == 0) {
    fill(b, n, 7);
    MPI_Send(b, n, MPI_CHAR, 1, 6, MPI_COMM_WORLD);
    MPI_Send(b, 100, MPI_CHAR, 1, 6, MPI_COMM_WORLD);
  } else if (rank == 1) {
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Status st;
    int cls, rc = MPI_Recv(b, n / 2, MPI_CHAR, 0, 6, MPI_COMM_WORLD, &st);
    MPI_Error_class(rc, &cls);
    CHECK(cls == MPI_ERR_TRUNCATE, "large truncated");
    rc = MPI_Recv(b, 99, MPI_CHAR, 0, 6, MPI_COMM_WORLD, &st);
    MPI_Error_class(rc, &cls);
    CHECK(cls == MPI_ERR_TRUNCATE, "small truncated");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    printf("truncation reported\n");
  }
  free(b);
}

static void exchange(void) {
  if (rank > 1) return;
  int peer = 1 - rank, n = 1 << 18; /* doubles: 2 MiB */
  double *s = malloc(n * sizeof(double)), *r = malloc(n * sizeof(double));
  for (int i = 0; i < n; ++i) s[i] = rank * 1e6 + i;
  MPI_Status st;
  MPI_Sendrecv(s, n, MPI_DOUBLE, peer, 11, r, n, MPI_DOUBLE, peer, 11, MPI_COMM_WORLD, &st);
  for (int i = 0; i < n; ++i) CHECK(r[i] == peer * 1e6 + i, "sendrecv");
  MPI_Sendrecv_replace(s, n, MPI_DOUBLE, peer, 12, peer, 12, MPI_COMM_WORLD, &st);
  for (int i = 0; i < n; ++i) CHECK(s[i] == peer * 1e6 + i, "sendrecv_replace");
  /* A strided column of a matrix (derived, packed) into contiguous doubles. */
  MPI_Datatype col;
  int rows = 1 << 14, cols = 4;
  double* m = malloc((size_t)rows * cols * sizeof(double));
  for (int i = 0; i < rows * cols; ++i) m[i] = rank + i * 0.5;
  MPI_Type_vector(rows, 1, cols, MPI_DOUBLE, &col);
  MPI_Type_commit(&col);
  MPI_Request rq;
  MPI_Isend(m + 1, 1, col, peer, 13, MPI_COMM_WORLD, &rq);
  MPI_Recv(r, rows, MPI_DOUBLE, peer, 13, MPI_COMM_WORLD, &st);
  MPI_Wait(&rq, MPI_STATUS_IGNORE);
  for (int i = 0; i < rows; ++i) CHECK(r[i] == peer + (i * cols + 1) * 0.5, "vector column");
  MPI_Type_free(&col);
  /* Persistent and synchronous. */
  MPI_Request p[2];
  MPI_Send_init(s, n, MPI_DOUBLE, peer, 14, MPI_COMM_WORLD, &p[0]);
  MPI_Recv_init(r, n, MPI_DOUBLE, peer, 14, MPI_COMM_WORLD, &p[1]);
  for (int k = 0; k < 2; ++k) {
    s[0] = k + rank;
    MPI_Startall(2, p);
    MPI_Waitall(2, p, MPI_STATUSES_IGNORE);
    CHECK(r[0] == k + peer, "persistent");
  }
  MPI_Request_free(&p[0]);
  MPI_Request_free(&p[1]);
  int flag = 0;
  if (rank == 0) {
    MPI_Ssend(s, n, MPI_DOUBLE, 1, 15, MPI_COMM_WORLD);
    MPI_Issend(s, n, MPI_DOUBLE, 1, 16, MPI_COMM_WORLD, &rq);
    while (!flag) MPI_Test(&rq, &flag, MPI_STATUS_IGNORE);
  } else {
    MPI_Recv(r, n, MPI_DOUBLE, 0, 15, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Recv(r, n, MPI_DOUBLE, 0, 16, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  printf("exchange ok\n");
  free(s);
  free(r);
  free(m);
}

/* Every other rank sends two large messages to rank 0, which takes them in
 * whatever order they come with Waitany, Waitsome and Testall. */
static void any_source(void) {
  size_t n = 1 << 20;
  int k = size - 1;
  if (rank == 0) {
    char* b = malloc(n * 2 * k);
    MPI_Request* rq = malloc(sizeof(MPI_Request) * 2 * k);
    for (int i = 0; i < 2 * k; ++i)
      MPI_Irecv(b + i * n, n, MPI_CHAR, MPI_ANY_SOURCE, 20 + i / k, MPI_COMM_WORLD, &rq[i]);
    int got = 0, idx[64], out, flag = 0;
    MPI_Status st[64];
    while (got < k) {
      int i;
      MPI_Waitany(2 * k, rq, &i, &st[0]);
      CHECK(same(b + i * n, n, st[0].MPI_SOURCE + (i >= k ? 100 : 0)), "waitany");
      ++got;
    }
    while (got < 2 * k) {
      MPI_Waitsome(2 * k, rq, &out, idx, st);
      if (out == MPI_UNDEFINED) break;
      for (int j = 0; j < out; ++j)
        CHECK(same(b + idx[j] * n, n, st[j].MPI_SOURCE + (idx[j] >= k ? 100 : 0)), "some");
      got += out;
    }
    MPI_Testall(2 * k, rq, &flag, MPI_STATUSES_IGNORE);
    CHECK(flag && got == 2 * k, "testall");
    printf("any source ok: %d messages\n", got);
    free(b);
    free(rq);
  } else {
    char* b = malloc(n);
    fill(b, n, rank);
    MPI_Send(b, n, MPI_CHAR, 0, 20, MPI_COMM_WORLD);
    fill(b, n, rank + 100);
    MPI_Send(b, n, MPI_CHAR, 0, 21, MPI_COMM_WORLD);
    free(b);
  }
}

/* A freed active receive and a freed active send still complete (nothing
 * may hang, and the job must be able to go on and finish). */
static void freed(void) {
  size_t n = 1 << 20;
  char* b = malloc(n);
  MPI_Request rq = MPI_REQUEST_NULL;
  if (rank == 0) {
    fill(b, n, 9);
    MPI_Isend(b, n, MPI_CHAR, 1, 30, MPI_COMM_WORLD, &rq);
    MPI_Request_free(&rq);
  } else if (rank == 1) {
    MPI_Irecv(b, n, MPI_CHAR, 0, 30, MPI_COMM_WORLD, &rq);
    MPI_Request_free(&rq);
  }
  CHECK(rq == MPI_REQUEST_NULL, "freed handle is null");
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 1) printf("freed requests ok\n");
  /* b may still be in use by the freed operations until they complete:
   * MPI gives no way to know when, so it is left allocated. */
}

/* More orders a rendezvous must survive: polling with Iprobe for a message
 * sent after a large one; creating a communicator while the large receive
 * is pending and its sender waits; buffered sends that must complete
 * locally. */
static void progress_cases(void) {
  if (rank > 1) {
    MPI_Comm d;
    MPI_Comm_dup(MPI_COMM_WORLD, &d);
    MPI_Comm_free(&d);
    return;
  }
  size_t n = 1 << 20;
  char* b = malloc(n);
  int peer = 1 - rank, flag = 0;
  MPI_Request rq;
  if (rank == 1) {
    fill(b, n, 11);
    MPI_Send(b, n, MPI_CHAR, 0, 40, MPI_COMM_WORLD);
    MPI_Send(b, 1, MPI_CHAR, 0, 41, MPI_COMM_WORLD);
  } else {
    memset(b, 0, n);
    MPI_Irecv(b, n, MPI_CHAR, 1, 40, MPI_COMM_WORLD, &rq);
    while (!flag) MPI_Iprobe(1, 41, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    char c;
    MPI_Recv(&c, 1, MPI_CHAR, 1, 41, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Wait(&rq, MPI_STATUS_IGNORE);
    CHECK(same(b, n, 11), "iprobe loop");
  }
  MPI_Comm d;
  if (rank == 0) {
    MPI_Send(b, n, MPI_CHAR, 1, 42, MPI_COMM_WORLD);
    MPI_Comm_dup(MPI_COMM_WORLD, &d);
  } else {
    MPI_Irecv(b, n, MPI_CHAR, 0, 42, MPI_COMM_WORLD, &rq);
    MPI_Comm_dup(MPI_COMM_WORLD, &d);
    MPI_Wait(&rq, MPI_STATUS_IGNORE);
  }
  MPI_Comm_free(&d);
  /* (A large message into a tiny buffer is not compared: Open MPI 4.1's
   * own shared-memory path then copies the whole message past the buffer.) */
  /* Buffered: both ranks Ibsend and wait before either receives. */
  int bsize = (int)n + MPI_BSEND_OVERHEAD;
  char* bb = malloc(bsize);
  MPI_Buffer_attach(bb, bsize);
  fill(b, n, 12 + rank);
  MPI_Ibsend(b, n, MPI_CHAR, peer, 44, MPI_COMM_WORLD, &rq);
  MPI_Wait(&rq, MPI_STATUS_IGNORE);
  char* r = malloc(n);
  MPI_Recv(r, n, MPI_CHAR, peer, 44, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  CHECK(same(r, n, 12 + peer), "ibsend");
  MPI_Buffer_detach(&bb, &bsize);
  free(bb);
  free(r);
  free(b);
  /* Buffer_detach waits for buffered sends only, not for a freed ordinary
   * large send that the peer receives later. */
  b = malloc(n);
  if (rank == 0) {
    fill(b, n, 13);
    MPI_Isend(b, n, MPI_CHAR, 1, 60, MPI_COMM_WORLD, &rq);
    MPI_Request_free(&rq);
    int sz = 100 + MPI_BSEND_OVERHEAD;
    char* small = malloc(sz);
    MPI_Buffer_attach(small, sz);
    MPI_Buffer_detach(&small, &sz);
    free(small);
    MPI_Send(&flag, 1, MPI_INT, 1, 61, MPI_COMM_WORLD);
    MPI_Recv(&flag, 1, MPI_INT, 1, 62, MPI_COMM_WORLD, MPI_STATUS_IGNORE); /* b was received */
  } else {
    MPI_Recv(&flag, 1, MPI_INT, 0, 61, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Recv(b, n, MPI_CHAR, 0, 60, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    CHECK(same(b, n, 13), "freed send, then detach");
    MPI_Send(&flag, 1, MPI_INT, 0, 62, MPI_COMM_WORLD);
  }
  free(b);
  if (rank == 1) printf("progress cases ok\n");
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  CHECK(size >= 2, "at least 2 ranks");
  sizes();
  padded();
  crossed();
  barrier_between();
  probe_order();
  matched();
  truncation();
  exchange();
  any_source();
  freed();
  progress_cases();
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) printf("p2p_large done\n");
  MPI_Finalize();
  return 0;
}

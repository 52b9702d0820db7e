/* Point-to-point with derived datatypes (vector, indexed, struct, resized):
 * blocking, synchronous, buffered, nonblocking with many receives and sends
 * outstanding at once, persistent (Send_init/Recv_init/Start/Startall),
 * Sendrecv, matched probe/receive (Mprobe/Mrecv, Improbe/Imrecv), counts,
 * and types freed while operations that use them are pending (MPI-3.1
 * 4.1.9: "Any communication that is currently using this datatype will
 * complete normally").  Small counts travel inline, large ones (>= 32 KiB of
 * data) by rendezvous under crmpirun.
 *
 * Every receive lands in a buffer pre-filled with a sentinel: bytes the type
 * covers must hold the sender's pattern, every other byte the sentinel. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define NTYPES 4
#define SENTINEL 0xEE

struct rec {
  int id;
  double val;
  char c;
};

/* One test type and the byte blocks (offset, length) of ONE element,
 * written down independently of the MPI library. */
struct ttype {
  const char* name;
  MPI_Datatype t;
  MPI_Aint extent;
  int nblocks;
  MPI_Aint off[8], len[8];
};

static struct ttype types[NTYPES];

static void make_types(void) {
  /* vector: 4 blocks of 2 ints, stride 3 ints. */
  struct ttype* v = &types[0];
  v->name = "vector";
  MPI_Type_vector(4, 2, 3, MPI_INT, &v->t);
  v->extent = (3 * 3 + 2) * sizeof(int);
  v->nblocks = 4;
  for (int i = 0; i < 4; ++i) v->off[i] = i * 3 * sizeof(int), v->len[i] = 2 * sizeof(int);
  /* indexed: blocks {1 at 0, 3 at 2, 2 at 7} ints. */
  struct ttype* x = &types[1];
  x->name = "indexed";
  int bl[3] = {1, 3, 2}, dp[3] = {0, 2, 7};
  MPI_Type_indexed(3, bl, dp, MPI_INT, &x->t);
  x->extent = 9 * sizeof(int);
  x->nblocks = 3;
  for (int i = 0; i < 3; ++i) x->off[i] = dp[i] * sizeof(int), x->len[i] = bl[i] * sizeof(int);
  /* struct {int, double, char}, resized to the C struct's size. */
  struct ttype* s = &types[2];
  s->name = "struct";
  int sbl[3] = {1, 1, 1};
  MPI_Aint sdp[3] = {offsetof(struct rec, id), offsetof(struct rec, val), offsetof(struct rec, c)};
  MPI_Datatype st[3] = {MPI_INT, MPI_DOUBLE, MPI_CHAR}, raw;
  MPI_Type_create_struct(3, sbl, sdp, st, &raw);
  MPI_Type_create_resized(raw, 0, sizeof(struct rec), &s->t);
  MPI_Type_free(&raw); /* the resized type keeps what it needs */
  s->extent = sizeof(struct rec);
  s->nblocks = 3;
  s->off[0] = sdp[0], s->len[0] = sizeof(int);
  s->off[1] = sdp[1], s->len[1] = sizeof(double);
  s->off[2] = sdp[2], s->len[2] = 1;
  /* resized vector: 2 blocks of 1 double, stride 2, extent 5 doubles. */
  struct ttype* r = &types[3];
  r->name = "resized";
  MPI_Datatype vec;
  MPI_Type_vector(2, 1, 2, MPI_DOUBLE, &vec);
  MPI_Type_create_resized(vec, 0, 5 * sizeof(double), &r->t);
  MPI_Type_free(&vec);
  r->extent = 5 * sizeof(double);
  r->nblocks = 2;
  r->off[0] = 0, r->len[0] = 8, r->off[1] = 16, r->len[1] = 8;
  for (int i = 0; i < NTYPES; ++i) MPI_Type_commit(&types[i].t);
}

static size_t span(const struct ttype* t, int count) {
  return (size_t)t->extent * (size_t)count + 64;
}

static unsigned char pattern(int from, int salt, size_t i) {
  return (unsigned char)((from * 31 + salt * 7 + i * 13) % 251);
}

static unsigned char* filled(const struct ttype* t, int count, int from, int salt) {
  unsigned char* b = malloc(span(t, count));
  for (size_t i = 0; i < span(t, count); ++i) b[i] = pattern(from, salt, i);
  return b;
}

static unsigned char* blank(const struct ttype* t, int count) {
  unsigned char* b = malloc(span(t, count));
  memset(b, SENTINEL, span(t, count));
  return b;
}

/* Bytes of `got` (count elements received from `from` with `salt`) that are
 * wrong: covered bytes must hold the pattern, the others the sentinel. */
static long wrong(const struct ttype* t, int count, const unsigned char* got, int from, int salt) {
  size_t n = span(t, count);
  unsigned char* covered = calloc(n, 1);
  for (int e = 0; e < count; ++e)
    for (int k = 0; k < t->nblocks; ++k)
      memset(covered + e * t->extent + t->off[k], 1, (size_t)t->len[k]);
  long bad = 0;
  for (size_t i = 0; i < n; ++i)
    bad += got[i] != (covered[i] ? pattern(from, salt, i) : SENTINEL);
  free(covered);
  return bad;
}

static int rank, size, right, left;

static void expect(const struct ttype* t, int count, unsigned char* got, int salt,
                   const MPI_Status* st, const char* what) {
  long bad = wrong(t, count, got, left, salt);
  if (bad) fprintf(stderr, "rank %d: %s %s count %d: %ld wrong bytes\n", rank, what, t->name,
                   count, bad);
  CHECK(bad == 0, what);
  if (st) {
    int n;
    MPI_Get_count(st, t->t, &n);
    CHECK(n == count, "get_count");
    CHECK(st->MPI_SOURCE == left, "status source");
  }
}

/* Blocking modes: standard, synchronous, buffered; and Sendrecv. */
static void blocking(const struct ttype* t, int count) {
  unsigned char* s = filled(t, count, rank, 1);
  unsigned char* r = blank(t, count);
  MPI_Status st;
  MPI_Request q;
  MPI_Irecv(r, count, t->t, left, 1, MPI_COMM_WORLD, &q);
  MPI_Send(s, count, t->t, right, 1, MPI_COMM_WORLD);
  MPI_Wait(&q, &st);
  expect(t, count, r, 1, &st, "send");
  free(s);
  s = filled(t, count, rank, 2);
  memset(r, SENTINEL, span(t, count));
  MPI_Irecv(r, count, t->t, left, 2, MPI_COMM_WORLD, &q);
  MPI_Ssend(s, count, t->t, right, 2, MPI_COMM_WORLD);
  MPI_Wait(&q, &st);
  expect(t, count, r, 2, &st, "ssend");
  free(s);
  s = filled(t, count, rank, 3);
  memset(r, SENTINEL, span(t, count));
  int bsize;
  MPI_Pack_size(count, t->t, MPI_COMM_WORLD, &bsize);
  bsize += MPI_BSEND_OVERHEAD;
  void* bb = malloc(bsize);
  MPI_Buffer_attach(bb, bsize);
  MPI_Bsend(s, count, t->t, right, 3, MPI_COMM_WORLD);
  memset(s, 0, span(t, count)); /* buffered: the data were copied */
  MPI_Recv(r, count, t->t, left, 3, MPI_COMM_WORLD, &st);
  expect(t, count, r, 3, &st, "bsend");
  MPI_Buffer_detach(&bb, &bsize);
  free(bb);
  free(s);
  s = filled(t, count, rank, 4);
  memset(r, SENTINEL, span(t, count));
  MPI_Sendrecv(s, count, t->t, right, 4, r, count, t->t, left, 4, MPI_COMM_WORLD, &st);
  expect(t, count, r, 4, &st, "sendrecv");
  free(s);
  free(r);
}

/* Many receives and sends of every type outstanding at once, completed in
 * one Waitall (receives posted in reverse tag order). */
static void many(int count) {
  enum { K = 6 };
  unsigned char *s[NTYPES][K], *r[NTYPES][K];
  MPI_Request q[2 * NTYPES * K];
  MPI_Status st[2 * NTYPES * K];
  int n = 0;
  for (int i = 0; i < NTYPES; ++i)
    for (int k = K - 1; k >= 0; --k) {
      r[i][k] = blank(&types[i], count);
      MPI_Irecv(r[i][k], count, types[i].t, left, 100 + i * K + k, MPI_COMM_WORLD, &q[n++]);
    }
  for (int i = 0; i < NTYPES; ++i)
    for (int k = 0; k < K; ++k) {
      s[i][k] = filled(&types[i], count, rank, 100 + i * K + k);
      MPI_Isend(s[i][k], count, types[i].t, right, 100 + i * K + k, MPI_COMM_WORLD, &q[n++]);
    }
  MPI_Waitall(n, q, st);
  n = 0;
  for (int i = 0; i < NTYPES; ++i)
    for (int k = K - 1; k >= 0; --k) {
      expect(&types[i], count, r[i][k], 100 + i * K + k, &st[n++], "isend/irecv");
      free(r[i][k]);
    }
  for (int i = 0; i < NTYPES; ++i)
    for (int k = 0; k < K; ++k) free(s[i][k]);
}

/* Persistent requests of every type, started three times (Startall, then
 * Start one by one), in all send modes that need no buffer. */
static void persistent(int count) {
  MPI_Request q[2 * NTYPES];
  unsigned char *s[NTYPES], *r[NTYPES];
  for (int i = 0; i < NTYPES; ++i) {
    s[i] = malloc(span(&types[i], count));
    r[i] = malloc(span(&types[i], count));
    MPI_Recv_init(r[i], count, types[i].t, left, 200 + i, MPI_COMM_WORLD, &q[i]);
    if (i % 2)
      MPI_Ssend_init(s[i], count, types[i].t, right, 200 + i, MPI_COMM_WORLD, &q[NTYPES + i]);
    else
      MPI_Send_init(s[i], count, types[i].t, right, 200 + i, MPI_COMM_WORLD, &q[NTYPES + i]);
  }
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < NTYPES; ++i) {
      for (size_t b = 0; b < span(&types[i], count); ++b) s[i][b] = pattern(rank, 300 + round, b);
      memset(r[i], SENTINEL, span(&types[i], count));
    }
    if (round == 0) {
      MPI_Startall(2 * NTYPES, q);
    } else {
      for (int i = 0; i < 2 * NTYPES; ++i) MPI_Start(&q[i]);
    }
    MPI_Status st[2 * NTYPES];
    MPI_Waitall(2 * NTYPES, q, st);
    for (int i = 0; i < NTYPES; ++i) expect(&types[i], count, r[i], 300 + round, &st[i], "persistent");
  }
  for (int i = 0; i < 2 * NTYPES; ++i) {
    CHECK(q[i] != MPI_REQUEST_NULL, "persistent request stays allocated");
    MPI_Request_free(&q[i]);
  }
  for (int i = 0; i < NTYPES; ++i) free(s[i]), free(r[i]);
}

/* Matched probe and receive of every type: blocking and nonblocking. */
static void matched(int count) {
  for (int i = 0; i < NTYPES; ++i) {
    const struct ttype* t = &types[i];
    unsigned char* s = filled(t, count, rank, 400 + i);
    unsigned char* r = blank(t, count);
    MPI_Request q;
    MPI_Isend(s, count, t->t, right, 400 + i, MPI_COMM_WORLD, &q);
    MPI_Message msg;
    MPI_Status st;
    int n, flag = 0;
    if (i % 2) {
      MPI_Mprobe(left, 400 + i, MPI_COMM_WORLD, &msg, &st);
      MPI_Get_count(&st, t->t, &n);
      CHECK(n == count, "mprobe count");
      MPI_Mrecv(r, count, t->t, &msg, &st);
    } else {
      while (!flag) MPI_Improbe(left, 400 + i, MPI_COMM_WORLD, &flag, &msg, &st);
      MPI_Request rq;
      MPI_Imrecv(r, count, t->t, &msg, &rq);
      CHECK(msg == MPI_MESSAGE_NULL, "imrecv consumes the message");
      MPI_Wait(&rq, &st);
    }
    expect(t, count, r, 400 + i, &st, i % 2 ? "mrecv" : "imrecv");
    MPI_Wait(&q, MPI_STATUS_IGNORE);
    free(s);
    free(r);
  }
}

/* A type freed while a receive and a send that use it are pending. Other
 * types are created in between, so a stale record would be reused. */
static void freed_pending(int count) {
  for (int i = 0; i < NTYPES; ++i) {
    MPI_Datatype mine, theirs;
    MPI_Type_dup(types[i].t, &mine);
    MPI_Type_dup(types[i].t, &theirs);
    unsigned char* s = filled(&types[i], count, rank, 500 + i);
    unsigned char* r = blank(&types[i], count);
    MPI_Request q[2];
    MPI_Irecv(r, count, mine, left, 500 + i, MPI_COMM_WORLD, &q[0]);
    MPI_Type_free(&mine);
    CHECK(mine == MPI_DATATYPE_NULL, "type_free sets MPI_DATATYPE_NULL");
    MPI_Datatype junk[4];
    for (int j = 0; j < 4; ++j) {
      MPI_Type_vector(3 + j, 1, 7, MPI_CHAR, &junk[j]);
      MPI_Type_commit(&junk[j]);
    }
    MPI_Barrier(MPI_COMM_WORLD); /* every receive is posted before any send */
    MPI_Isend(s, count, theirs, right, 500 + i, MPI_COMM_WORLD, &q[1]);
    MPI_Type_free(&theirs);
    MPI_Status st[2];
    MPI_Waitall(2, q, st);
    expect(&types[i], count, r, 500 + i, NULL, "type freed while pending");
    for (int j = 0; j < 4; ++j) MPI_Type_free(&junk[j]);
    free(s);
    free(r);
  }
}

/* Persistent requests whose type is freed between MPI_*_init and the
 * MPI_Starts: the requests keep using it. */
static void persistent_freed(void) {
  const struct ttype* t = &types[0];
  MPI_Datatype mine;
  MPI_Type_dup(t->t, &mine);
  int count = 5;
  unsigned char* s = malloc(span(t, count));
  unsigned char* r = malloc(span(t, count));
  MPI_Request q[2];
  MPI_Recv_init(r, count, mine, left, 600, MPI_COMM_WORLD, &q[0]);
  MPI_Send_init(s, count, mine, right, 600, MPI_COMM_WORLD, &q[1]);
  MPI_Type_free(&mine);
  for (int round = 0; round < 2; ++round) {
    for (size_t b = 0; b < span(t, count); ++b) s[b] = pattern(rank, 600 + round, b);
    memset(r, SENTINEL, span(t, count));
    MPI_Startall(2, q);
    MPI_Status st[2];
    MPI_Waitall(2, q, st);
    expect(t, count, r, 600 + round, &st[0], "persistent, type freed");
  }
  MPI_Request_free(&q[0]);
  MPI_Request_free(&q[1]);
  free(s);
  free(r);
}

/* A derived type with no data (zero blocklengths): messages of zero bytes,
 * in every kind of operation. */
static void zero_size(void) {
  int bl[2] = {0, 0}, dp[2] = {0, 3};
  MPI_Datatype z;
  MPI_Type_indexed(2, bl, dp, MPI_INT, &z);
  MPI_Type_commit(&z);
  int s[4] = {1, 2, 3, 4}, r[4] = {-1, -1, -1, -1}, n;
  MPI_Request q[2];
  MPI_Status st;
  MPI_Irecv(r, 2, z, left, 700, MPI_COMM_WORLD, &q[0]);
  MPI_Send(s, 2, z, right, 700, MPI_COMM_WORLD);
  MPI_Wait(&q[0], &st);
  MPI_Get_count(&st, MPI_BYTE, &n);
  CHECK(n == 0 && st.MPI_SOURCE == left, "zero-size send");
  MPI_Isend(s, 3, z, right, 701, MPI_COMM_WORLD, &q[1]);
  MPI_Message msg;
  MPI_Mprobe(left, 701, MPI_COMM_WORLD, &msg, &st);
  MPI_Mrecv(r, 3, z, &msg, &st);
  MPI_Wait(&q[1], MPI_STATUS_IGNORE);
  MPI_Get_count(&st, MPI_BYTE, &n);
  CHECK(n == 0, "zero-size mrecv");
  MPI_Sendrecv(s, 1, z, right, 702, r, 1, z, left, 702, MPI_COMM_WORLD, &st);
  MPI_Recv_init(r, 1, z, left, 703, MPI_COMM_WORLD, &q[0]);
  MPI_Send_init(s, 1, z, right, 703, MPI_COMM_WORLD, &q[1]);
  MPI_Startall(2, q);
  MPI_Waitall(2, q, MPI_STATUSES_IGNORE);
  MPI_Request_free(&q[0]);
  MPI_Request_free(&q[1]);
  CHECK(r[0] == -1 && r[3] == -1, "zero-size receives write nothing");
  MPI_Type_free(&z);
  printf("rank %d: zero-size type ok\n", rank);
}

/* MPI_Buffer_detach with buffered sends still pending (the receives are
 * posted only after it): it returns once the data left the buffer. Bsend,
 * Ibsend and Bsend_init/Start, of a derived type. */
static void bsend_pending(void) {
  const struct ttype* t = &types[2];
  enum { K = 6, COUNT = 4 };
  int one;
  MPI_Pack_size(COUNT, t->t, MPI_COMM_WORLD, &one);
  int bsize = K * (one + MPI_BSEND_OVERHEAD);
  void* bb = malloc(bsize);
  unsigned char* s[K];
  MPI_Request q[K];
  MPI_Buffer_attach(bb, bsize);
  for (int k = 0; k < K; ++k) {
    s[k] = filled(t, COUNT, rank, 800 + k);
    if (k % 3 == 0) {
      MPI_Bsend(s[k], COUNT, t->t, right, 800 + k, MPI_COMM_WORLD);
      q[k] = MPI_REQUEST_NULL;
    } else if (k % 3 == 1) {
      MPI_Ibsend(s[k], COUNT, t->t, right, 800 + k, MPI_COMM_WORLD, &q[k]);
    } else {
      MPI_Bsend_init(s[k], COUNT, t->t, right, 800 + k, MPI_COMM_WORLD, &q[k]);
      MPI_Start(&q[k]);
    }
  }
  MPI_Buffer_detach(&bb, &bsize);
  CHECK(bsize == K * (one + MPI_BSEND_OVERHEAD), "detach returns the buffer");
  MPI_Waitall(K, q, MPI_STATUSES_IGNORE);
  for (int k = K - 1; k >= 0; --k) {
    unsigned char* r = blank(t, COUNT);
    MPI_Status st;
    MPI_Recv(r, COUNT, t->t, left, 800 + k, MPI_COMM_WORLD, &st);
    expect(t, COUNT, r, 800 + k, &st, "buffered, detached before the receive");
    free(r);
    if (q[k] != MPI_REQUEST_NULL) MPI_Request_free(&q[k]);
    free(s[k]);
  }
  free(bb);
  /* Large ones (not sent eagerly), the receiver late: rank 0 to rank 1. */
  enum { BIG = 128 * 1024 };
  unsigned char* big = malloc(2 * BIG);
  if (rank == 0) {
    bsize = 2 * (BIG + MPI_BSEND_OVERHEAD);
    bb = malloc(bsize);
    MPI_Buffer_attach(bb, bsize);
    for (int i = 0; i < 2 * BIG; ++i) big[i] = (unsigned char)(i * 7 + 1);
    MPI_Bsend(big, BIG, MPI_UNSIGNED_CHAR, 1, 810, MPI_COMM_WORLD);
    MPI_Bsend(big + BIG, BIG, MPI_UNSIGNED_CHAR, 1, 810, MPI_COMM_WORLD);
    memset(big, 0, 2 * BIG);
    MPI_Sendrecv(NULL, 0, MPI_BYTE, 1, 811, NULL, 0, MPI_BYTE, 1, 811, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    void* back;
    MPI_Buffer_detach(&back, &bsize);
    CHECK(back == bb && bsize == 2 * (BIG + MPI_BSEND_OVERHEAD), "detach of large bsends");
    free(bb);
  } else if (rank == 1) {
    MPI_Sendrecv(NULL, 0, MPI_BYTE, 0, 811, NULL, 0, MPI_BYTE, 0, 811, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    double t0 = MPI_Wtime();
    while (MPI_Wtime() - t0 < 0.2) continue; /* the sender is in MPI_Buffer_detach */
    MPI_Recv(big, BIG, MPI_UNSIGNED_CHAR, 0, 810, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Recv(big + BIG, BIG, MPI_UNSIGNED_CHAR, 0, 810, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    long bad = 0;
    for (int i = 0; i < 2 * BIG; ++i) bad += big[i] != (unsigned char)(i * 7 + 1);
    CHECK(bad == 0, "large buffered sends, detached before the receives");
  }
  free(big);
  printf("rank %d: detach with pending buffered sends ok\n", rank);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  right = (rank + 1) % size, left = (rank + size - 1) % size;
  make_types();
  int counts[3] = {1, 7, 3000}; /* 3000 elements: 24..96 KiB of data */
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < NTYPES; ++i) blocking(&types[i], counts[c]);
    many(counts[c]);
    persistent(counts[c]);
    matched(counts[c]);
    freed_pending(counts[c]);
    printf("rank %d: count %d: blocking, many, persistent, matched, freed ok\n", rank, counts[c]);
  }
  persistent_freed();
  zero_size();
  bsend_pending();
  for (int i = 0; i < NTYPES; ++i) MPI_Type_free(&types[i].t);
  MPI_Finalize();
  return 0;
}

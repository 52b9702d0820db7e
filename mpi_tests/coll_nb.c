/* Nonblocking collectives: every one of them posted together (many
 * outstanding at once on one communicator, in the same order on every rank
 * as MPI requires), then completed in three ways (MPI_Waitall, MPI_Waitany,
 * an MPI_Test loop from the last request backwards), with MPI_IN_PLACE where
 * the standard allows it and with derived as well as predefined types.
 * Results are checked against closed forms of what each operation defines.
 * Argument: none. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int rank, size;
#define NOPS 32
#define K 3 /* elements per rank block */

static int val(int r, int i) { return 1000 * r + i + 1; }

/* Every buffer of one round; checked after completion. */
struct Round {
  int bc[5], bcv[10];          /* ibcast: predefined, vector type */
  int g_s[K], *g_r, *gip_r;    /* igather, igather in place */
  int *gv_r, gv_s[16];         /* igatherv: rank r sends r%3+1, reversed displs */
  int *sc_s, sc_r[K], sc_ip;   /* iscatter, iscatter in place at root */
  int *scv_s, scv_r[16];       /* iscatterv with gaps */
  int *ag_r, *agip_r, *agc_r;  /* iallgather, in place, contiguous type */
  int *agv_r;                  /* iallgatherv */
  int *a2a_s, *a2a_r;          /* ialltoall */
  int *a2av_s, *a2av_r, *a2av_sc, *a2av_sd, *a2av_rc, *a2av_rd;
  int *a2aw_s, *a2aw_r, *a2aw_c, *a2aw_sd, *a2aw_rd;
  MPI_Datatype *a2aw_t;
  int red_s[4], red_r[4], ar[4], arv[2], sc[2], ex[2], exip;
  int *rsb_s, rsb_r[2], *rs_s, *rs_c, *rs_r, *rsbip;
};

static MPI_Datatype vec, cont2; /* vector(5,1,2) of int; contiguous(K) of int */

/* Count and displacement arrays must stay valid until completion: static
 * storage per round (scatterv 0.., allgatherv 16.., reduce_scatter 32..,
 * gatherv 48..). */
static int keep_c[4][64], keep_d[4][64];

static void post(struct Round* x, MPI_Request* q, int* nq, int round) {
  MPI_Comm w = MPI_COMM_WORLD;
  int n = 0, root = size - 1;
  MPI_Ibarrier(w, &q[n++]);
  for (int i = 0; i < 5; ++i) x->bc[i] = rank == root ? val(root, i) : -1;
  MPI_Ibcast(x->bc, 5, MPI_INT, root, w, &q[n++]);
  for (int i = 0; i < 10; ++i) x->bcv[i] = rank == 0 ? val(0, i) : -1;
  MPI_Ibcast(x->bcv, 1, vec, 0, w, &q[n++]);

  for (int i = 0; i < K; ++i) x->g_s[i] = val(rank, i);
  x->g_r = calloc(size * K, sizeof(int));
  MPI_Igather(x->g_s, K, MPI_INT, x->g_r, K, MPI_INT, 0, w, &q[n++]);
  x->gip_r = calloc(size * K, sizeof(int));
  if (rank == root)
    for (int i = 0; i < K; ++i) x->gip_r[root * K + i] = val(root, i);
  MPI_Igather(rank == root ? MPI_IN_PLACE : x->g_s, K, MPI_INT, x->gip_r, 1, cont2, root, w,
              &q[n++]);

  int* gvc = keep_c[round] + 48;
  int* gvd = keep_d[round] + 48;
  int tot = 0;
  for (int r = size - 1; r >= 0; --r) gvd[r] = tot, gvc[r] = r % 3 + 1, tot += gvc[r] + 1;
  x->gv_r = malloc((tot + 1) * sizeof(int));
  for (int i = 0; i <= tot; ++i) x->gv_r[i] = -5;
  for (int i = 0; i < rank % 3 + 1; ++i) x->gv_s[i] = val(rank, i);
  MPI_Igatherv(x->gv_s, rank % 3 + 1, MPI_INT, x->gv_r, gvc, gvd, MPI_INT, 0, w, &q[n++]);

  x->sc_s = malloc(size * K * sizeof(int));
  for (int i = 0; i < size * K; ++i) x->sc_s[i] = val(i / K, i % K) + 7;
  MPI_Iscatter(x->sc_s, K, MPI_INT, x->sc_r, 1, cont2, root, w, &q[n++]);
  x->sc_ip = -1;
  MPI_Iscatter(x->sc_s, 1, MPI_INT, rank == 0 ? MPI_IN_PLACE : &x->sc_ip, 1, MPI_INT, 0, w,
               &q[n++]);

  x->scv_s = malloc(4 * size * sizeof(int));
  for (int i = 0; i < 4 * size; ++i) x->scv_s[i] = 50000 + i;
  for (int i = 0; i < 16; ++i) x->scv_r[i] = -3;
  (void)tot;
  *nq = n;
}

static void post2(struct Round* x, MPI_Request* q, int* nq, int round) {
  MPI_Comm w = MPI_COMM_WORLD;
  int n = *nq;
  int *c = keep_c[round], *d = keep_d[round];
  /* iscatterv: rank r gets r%2 (0 or 1) + 1 elements from displ 4*(size-1-r) */
  for (int r = 0; r < size; ++r) c[r] = r % 2 + 1, d[r] = 4 * (size - 1 - r);
  MPI_Iscatterv(x->scv_s, c, d, MPI_INT, x->scv_r, rank % 2 + 1, MPI_INT, 1 % size, w, &q[n++]);

  x->ag_r = calloc(size * K, sizeof(int));
  MPI_Iallgather(x->g_s, K, MPI_INT, x->ag_r, K, MPI_INT, w, &q[n++]);
  x->agip_r = calloc(size * K, sizeof(int));
  for (int i = 0; i < K; ++i) x->agip_r[rank * K + i] = val(rank, i);
  MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x->agip_r, K, MPI_INT, w, &q[n++]);
  x->agc_r = calloc(size * K, sizeof(int));
  MPI_Iallgather(x->g_s, 1, cont2, x->agc_r, K, MPI_INT, w, &q[n++]);

  int* ac = c + 16;
  int* ad = d + 16;
  int tot = 0;
  for (int r = 0; r < size; ++r) ac[r] = (r * 5) % 3, ad[r] = 40 - 4 * r, tot = 41;
  x->agv_r = malloc(64 * sizeof(int));
  for (int i = 0; i < 64; ++i) x->agv_r[i] = -9;
  MPI_Iallgatherv(x->g_s, (rank * 5) % 3, MPI_INT, x->agv_r, ac, ad, MPI_INT, w, &q[n++]);
  (void)tot;

  x->a2a_s = malloc(size * 2 * sizeof(int));
  x->a2a_r = calloc(size * 2, sizeof(int));
  for (int i = 0; i < 2 * size; ++i) x->a2a_s[i] = 100 * rank + i;
  MPI_Ialltoall(x->a2a_s, 2, MPI_INT, x->a2a_r, 2, MPI_INT, w, &q[n++]);

  /* ialltoallv: rank r sends (r+j)%3 elements to j, blocks stored in
   * reverse order with gaps of one element */
  x->a2av_sc = malloc(4 * size * sizeof(int));
  x->a2av_sd = x->a2av_sc + size, x->a2av_rc = x->a2av_sc + 2 * size,
  x->a2av_rd = x->a2av_sc + 3 * size;
  for (int j = 0; j < size; ++j) {
    x->a2av_sc[j] = (rank + j) % 3, x->a2av_sd[j] = 3 * (size - 1 - j) + (size - 1 - j);
    x->a2av_rc[j] = (j + rank) % 3, x->a2av_rd[j] = 4 * j;
  }
  x->a2av_s = malloc(4 * size * sizeof(int));
  x->a2av_r = malloc(4 * size * sizeof(int));
  for (int i = 0; i < 4 * size; ++i) x->a2av_s[i] = 7 * rank + 10000 * i, x->a2av_r[i] = -1;
  MPI_Ialltoallv(x->a2av_s, x->a2av_sc, x->a2av_sd, MPI_INT, x->a2av_r, x->a2av_rc, x->a2av_rd,
                 MPI_INT, w, &q[n++]);

  /* ialltoallw: to even j one int, to odd j one cont2 (received as K ints) */
  x->a2aw_c = malloc(3 * size * sizeof(int));
  x->a2aw_sd = x->a2aw_c + size, x->a2aw_rd = x->a2aw_c + 2 * size;
  x->a2aw_t = malloc(2 * size * sizeof(MPI_Datatype));
  x->a2aw_s = malloc(size * K * sizeof(int));
  x->a2aw_r = malloc(size * K * sizeof(int) * 2);
  for (int j = 0; j < size; ++j) {
    x->a2aw_c[j] = 1;
    x->a2aw_sd[j] = (int)(j * K * sizeof(int));
    x->a2aw_rd[j] = (int)(j * K * sizeof(int));
    x->a2aw_t[j] = j % 2 ? cont2 : MPI_INT;
    x->a2aw_t[size + j] = rank % 2 ? cont2 : MPI_INT;
    for (int i = 0; i < K; ++i) x->a2aw_s[j * K + i] = val(rank, j * K + i);
  }
  for (int i = 0; i < size * K; ++i) x->a2aw_r[i] = -1;
  MPI_Ialltoallw(x->a2aw_s, x->a2aw_c, x->a2aw_sd, x->a2aw_t, x->a2aw_r, x->a2aw_c, x->a2aw_rd,
                 x->a2aw_t + size, w, &q[n++]);

  for (int i = 0; i < 4; ++i) x->red_s[i] = rank + i, x->red_r[i] = -1, x->ar[i] = rank * i;
  MPI_Ireduce(x->red_s, x->red_r, 4, MPI_INT, MPI_SUM, size / 2, w, &q[n++]);
  MPI_Iallreduce(MPI_IN_PLACE, x->ar, 4, MPI_INT, MPI_MAX, w, &q[n++]);
  MPI_Iallreduce(x->red_s, x->arv, 1, MPI_INT, MPI_MIN, w, &q[n++]);
  MPI_Iscan(x->red_s, x->sc, 2, MPI_INT, MPI_SUM, w, &q[n++]);
  x->ex[0] = x->ex[1] = -7;
  MPI_Iexscan(x->red_s, x->ex, 2, MPI_INT, MPI_PROD, w, &q[n++]);
  x->exip = rank + 2;
  MPI_Iexscan(MPI_IN_PLACE, &x->exip, 1, MPI_INT, MPI_SUM, w, &q[n++]);

  x->rsb_s = malloc(2 * size * sizeof(int));
  x->rsbip = malloc(2 * size * sizeof(int));
  for (int i = 0; i < 2 * size; ++i) x->rsb_s[i] = x->rsbip[i] = rank * i;
  MPI_Ireduce_scatter_block(x->rsb_s, x->rsb_r, 2, MPI_INT, MPI_SUM, w, &q[n++]);
  MPI_Ireduce_scatter_block(MPI_IN_PLACE, x->rsbip, 2, MPI_INT, MPI_SUM, w, &q[n++]);
  x->rs_c = c + 32;
  int rt = 0;
  for (int r = 0; r < size; ++r) x->rs_c[r] = r % 3, rt += r % 3;
  x->rs_s = malloc((rt + 1) * sizeof(int));
  x->rs_r = malloc(4 * sizeof(int));
  for (int i = 0; i < rt; ++i) x->rs_s[i] = i + rank;
  for (int i = 0; i < 4; ++i) x->rs_r[i] = -2;
  MPI_Ireduce_scatter(x->rs_s, x->rs_r, x->rs_c, MPI_INT, MPI_SUM, w, &q[n++]);
  *nq = n;
}

static void check_round(struct Round* x, int round) {
  int root = size - 1;
  for (int i = 0; i < 5; ++i) CHECK(x->bc[i] == val(root, i), "ibcast");
  for (int i = 0; i < 10; ++i)
    CHECK(x->bcv[i] == (i % 2 == 0 || rank == 0 ? val(0, i) : -1), "ibcast vector type");
  if (rank == 0)
    for (int i = 0; i < size * K; ++i) CHECK(x->g_r[i] == val(i / K, i % K), "igather");
  if (rank == root)
    for (int i = 0; i < size * K; ++i) CHECK(x->gip_r[i] == val(i / K, i % K), "igather in place");
  if (rank == 0) {
    int d = 0;
    for (int r = size - 1; r >= 0; --r) {
      for (int i = 0; i < r % 3 + 1; ++i) CHECK(x->gv_r[d + i] == val(r, i), "igatherv data");
      CHECK(x->gv_r[d + r % 3 + 1] == -5, "igatherv gap untouched");
      d += r % 3 + 2;
    }
  }
  for (int i = 0; i < K; ++i) CHECK(x->sc_r[i] == val(rank, i) + 7, "iscatter");
  if (rank != 0) CHECK(x->sc_ip == val(rank / K, rank % K) + 7, "iscatter in place");
  for (int i = 0; i < rank % 2 + 1; ++i)
    CHECK(x->scv_r[i] == 50000 + 4 * (size - 1 - rank) + i, "iscatterv");
  CHECK(x->scv_r[rank % 2 + 1] == -3, "iscatterv past count");
  for (int i = 0; i < size * K; ++i) {
    CHECK(x->ag_r[i] == val(i / K, i % K), "iallgather");
    CHECK(x->agip_r[i] == val(i / K, i % K), "iallgather in place");
    CHECK(x->agc_r[i] == val(i / K, i % K), "iallgather contiguous type");
  }
  for (int i = 0; i < 64; ++i) {
    int want = -9;
    for (int r = 0; r < size; ++r)
      if (i >= 40 - 4 * r && i < 40 - 4 * r + (r * 5) % 3) want = val(r, i - (40 - 4 * r));
    CHECK(x->agv_r[i] == want, "iallgatherv");
  }
  for (int j = 0; j < size; ++j)
    for (int i = 0; i < 2; ++i)
      CHECK(x->a2a_r[2 * j + i] == 100 * j + 2 * rank + i, "ialltoall");
  for (int j = 0; j < size; ++j) {
    int sd = 3 * (size - 1 - rank) + (size - 1 - rank); /* j's send displ to me */
    for (int i = 0; i < (j + rank) % 3; ++i)
      CHECK(x->a2av_r[4 * j + i] == 7 * j + 10000 * (sd + i), "ialltoallv");
    for (int i = (j + rank) % 3; i < 4; ++i) CHECK(x->a2av_r[4 * j + i] == -1, "ialltoallv gap");
  }
  for (int j = 0; j < size; ++j) {
    int cnt = rank % 2 ? K : 1;
    for (int i = 0; i < cnt; ++i)
      CHECK(x->a2aw_r[j * K + i] == val(j, rank * K + i), "ialltoallw");
  }
  if (rank == size / 2)
    for (int i = 0; i < 4; ++i)
      CHECK(x->red_r[i] == size * (size - 1) / 2 + size * i, "ireduce");
  for (int i = 0; i < 4; ++i) CHECK(x->ar[i] == (size - 1) * i, "iallreduce in place");
  CHECK(x->arv[0] == 0, "iallreduce min");
  for (int i = 0; i < 2; ++i) CHECK(x->sc[i] == rank * (rank + 1) / 2 + (rank + 1) * i, "iscan");
  if (rank > 0) {
    int p0 = 1, p1 = 1;
    for (int r = 0; r < rank; ++r) p0 *= r, p1 *= r + 1;
    CHECK(x->ex[0] == p0 && x->ex[1] == p1, "iexscan prod");
    CHECK(x->exip == rank * (rank - 1) / 2 + 2 * rank, "iexscan in place");
  }
  int s = size * (size - 1) / 2;
  for (int i = 0; i < 2; ++i) {
    CHECK(x->rsb_r[i] == s * (2 * rank + i), "ireduce_scatter_block");
    CHECK(x->rsbip[i] == s * (2 * rank + i), "ireduce_scatter_block in place");
  }
  int off = 0;
  for (int r = 0; r < rank; ++r) off += r % 3;
  for (int i = 0; i < rank % 3; ++i)
    CHECK(x->rs_r[i] == size * (off + i) + s, "ireduce_scatter");
  CHECK(x->rs_r[rank % 3] == -2, "ireduce_scatter past count");
  free(x->g_r), free(x->gip_r), free(x->gv_r), free(x->sc_s), free(x->scv_s), free(x->ag_r);
  free(x->agip_r), free(x->agc_r), free(x->agv_r), free(x->a2a_s), free(x->a2a_r);
  free(x->a2av_s), free(x->a2av_r), free(x->a2av_sc), free(x->a2aw_c), free(x->a2aw_t);
  free(x->a2aw_s), free(x->a2aw_r), free(x->rsb_s), free(x->rsbip), free(x->rs_s), free(x->rs_r);
  if (rank == 0) printf("round %d ok\n", round);
}

static void complete(MPI_Request* q, int n, int how) {
  if (how == 0) {
    MPI_Waitall(n, q, MPI_STATUSES_IGNORE);
  } else if (how == 1) {
    for (int k = 0; k < n; ++k) {
      int idx = -1;
      MPI_Waitany(n, q, &idx, MPI_STATUS_IGNORE);
      CHECK(idx >= 0 && idx < n && q[idx] == MPI_REQUEST_NULL, "waitany index");
    }
    int idx = 0;
    MPI_Waitany(n, q, &idx, MPI_STATUS_IGNORE);
    CHECK(idx == MPI_UNDEFINED, "waitany on all-null");
  } else {
    int left = n;
    while (left > 0)
      for (int k = n - 1; k >= 0; --k) {
        if (q[k] == MPI_REQUEST_NULL) continue;
        int f = 0;
        MPI_Test(&q[k], &f, MPI_STATUS_IGNORE);
        if (f) {
          --left;
          CHECK(q[k] == MPI_REQUEST_NULL, "test frees");
        }
      }
  }
}

/* A derived type freed while operations that use it are pending (MPI
 * allows it: the operations keep the type alive); an in-place alltoallv
 * with no send arrays. */
static void freed_type(void) {
  MPI_Datatype t, st;
  MPI_Type_vector(3, 1, 2, MPI_INT, &t);
  MPI_Type_commit(&t);
  MPI_Type_dup(t, &st);
  int* r = malloc(6 * size * sizeof(int));
  int s[6], b[6], *ip = malloc(size * sizeof(int)), *c = malloc(2 * size * sizeof(int));
  for (int i = 0; i < 6 * size; ++i) r[i] = -1;
  for (int i = 0; i < 6; ++i) s[i] = i % 2 ? -2 : 10 * rank + i, b[i] = rank == 0 ? 7 * i : -1;
  for (int j = 0; j < size; ++j) ip[j] = 10 * rank + j, c[j] = 1, c[size + j] = j;
  MPI_Request q[3];
  MPI_Iallgather(s, 1, st, r, 1, t, MPI_COMM_WORLD, &q[0]);
  MPI_Ibcast(b, 1, t, 0, MPI_COMM_WORLD, &q[1]);
  MPI_Ialltoallv(MPI_IN_PLACE, NULL, NULL, MPI_DATATYPE_NULL, ip, c, c + size, MPI_INT,
                 MPI_COMM_WORLD, &q[2]);
  MPI_Type_free(&t);
  MPI_Type_free(&st);
  MPI_Waitall(3, q, MPI_STATUSES_IGNORE);
  for (int i = 0; i < 6 * size; ++i)
    CHECK(r[i] == (i >= 5 * size || i % 5 % 2 ? -1 : 10 * (i / 5) + i % 5),
          "iallgather, type freed while pending"); /* extent 5 ints */
  for (int i = 0; i < 6; ++i) CHECK(b[i] == (i % 2 && rank ? -1 : 7 * i), "ibcast, type freed");
  for (int j = 0; j < size; ++j) CHECK(ip[j] == 10 * j + rank, "ialltoallv in place");
  free(r), free(ip), free(c);
}

/* A user-defined op (called back into this process while the request is
 * pending), freed before the requests complete (MPI-3.1 5.9.5 allows it),
 * and payloads far larger than the channel's inline area. */
static void add_ints(void* in, void* inout, int* len, MPI_Datatype* t) {
  (void)t;
  for (int i = 0; i < *len; ++i) ((int*)inout)[i] += ((int*)in)[i];
}

static void large_and_user_op(void) {
  enum { N = 150000 };
  MPI_Op op;
  MPI_Op_create(add_ints, 1, &op);
  int *a = malloc(N * sizeof(int)), *b = malloc(N * sizeof(int));
  int *g = malloc((size_t)N * size * sizeof(int)), x = rank + 1, y = 0;
  for (int i = 0; i < N; ++i) a[i] = rank + i, b[i] = rank == 0 ? 3 * i : -1;
  MPI_Request q[4];
  MPI_Iallreduce(&x, &y, 1, MPI_INT, op, MPI_COMM_WORLD, &q[0]);
  MPI_Ibcast(b, N, MPI_INT, 0, MPI_COMM_WORLD, &q[1]);
  MPI_Iallgather(a, N, MPI_INT, g, N, MPI_INT, MPI_COMM_WORLD, &q[2]);
  MPI_Iallreduce(MPI_IN_PLACE, a, N, MPI_INT, op, MPI_COMM_WORLD, &q[3]);
  MPI_Op_free(&op);
  CHECK(op == MPI_OP_NULL, "op freed");
  MPI_Waitall(4, q, MPI_STATUSES_IGNORE);
  CHECK(y == size * (size + 1) / 2, "iallreduce user op");
  for (int i = 0; i < N; i += 997) {
    CHECK(b[i] == 3 * i, "ibcast large");
    CHECK(a[i] == size * i + size * (size - 1) / 2, "iallreduce large, user op, in place");
    for (int j = 0; j < size; ++j) CHECK(g[(size_t)j * N + i] == j + i, "iallgather large");
  }
  free(a), free(b), free(g);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  CHECK(size <= 10, "at most 10 ranks");
  MPI_Type_vector(5, 1, 2, MPI_INT, &vec);
  MPI_Type_commit(&vec);
  MPI_Type_contiguous(K, MPI_INT, &cont2);
  MPI_Type_commit(&cont2);
  /* Two rounds outstanding at once, then each completed its own way. */
  for (int pair = 0; pair < 2; ++pair) {
    struct Round a, b;
    MPI_Request qa[NOPS], qb[NOPS];
    int na, nb;
    memset(&a, 0, sizeof a), memset(&b, 0, sizeof b);
    post(&a, qa, &na, 2 * pair);
    post2(&a, qa, &na, 2 * pair);
    post(&b, qb, &nb, 2 * pair + 1);
    post2(&b, qb, &nb, 2 * pair + 1);
    CHECK(na <= NOPS && nb <= NOPS, "request array size");
    complete(qb, nb, pair == 0 ? 2 : 0);
    complete(qa, na, pair == 0 ? 1 : 2);
    check_round(&b, 2 * pair + 1);
    check_round(&a, 2 * pair);
  }
  MPI_Type_free(&vec);
  MPI_Type_free(&cont2);
  freed_type();
  large_and_user_op();
  printf("rank %d: nonblocking collectives ok\n", rank);
  MPI_Finalize();
  return 0;
}

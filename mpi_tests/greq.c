/* Generalized requests (MPI-3.1 12.2): MPI_Grequest_start/complete, and the
 * callbacks called as the standard says -- query_fn fills the status of the
 * Wait/Test that completes the request (and of MPI_Request_get_status),
 * free_fn runs after it, or at MPI_Request_free / MPI_Grequest_complete
 * (whichever is last), cancel_fn is told whether the request is complete.
 * A second thread completes one request while the main thread waits; the
 * lists mix generalized requests with point-to-point ones. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static int rank;

struct state {
  int id;
  int queried, freed, cancelled_with; /* cancelled_with: -1 never */
  int error;                         /* what query_fn returns */
};

static int query(void* extra, MPI_Status* st) {
  struct state* s = extra;
  s->queried++;
  MPI_Status_set_elements(st, MPI_INT, 10 + s->id);
  MPI_Status_set_cancelled(st, 0);
  st->MPI_SOURCE = 1000 + s->id;
  st->MPI_TAG = 2000 + s->id;
  return s->error;
}
static int release(void* extra) {
  struct state* s = extra;
  CHECK(s->queried > 0 || s->cancelled_with >= 0 || s->id >= 50, "free_fn after query_fn");
  s->freed++;
  return MPI_SUCCESS;
}
static int cancel(void* extra, int complete) {
  ((struct state*)extra)->cancelled_with = complete;
  return MPI_SUCCESS;
}

static MPI_Request start(struct state* s, int id) {
  memset(s, 0, sizeof *s);
  s->id = id;
  s->cancelled_with = -1;
  MPI_Request r;
  MPI_Grequest_start(query, release, cancel, s, &r);
  return r;
}

static void* completer(void* arg) {
  usleep(20000);
  MPI_Grequest_complete(*(MPI_Request*)arg);
  return NULL;
}

int main(int argc, char** argv) {
  int provided;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  struct state s[4];
  MPI_Status st;
  int flag, n;

  /* Test before and after completion; get_status queries without freeing. */
  MPI_Request r = start(&s[0], 0);
  MPI_Test(&r, &flag, &st);
  CHECK(!flag && r != MPI_REQUEST_NULL && s[0].queried == 0, "test of an incomplete grequest");
  MPI_Grequest_complete(r);
  MPI_Request_get_status(r, &flag, &st);
  CHECK(flag && s[0].queried == 1 && s[0].freed == 0 && r != MPI_REQUEST_NULL, "get_status");
  MPI_Test(&r, &flag, &st);
  MPI_Get_count(&st, MPI_INT, &n);
  CHECK(flag && r == MPI_REQUEST_NULL && s[0].queried == 2 && s[0].freed == 1, "test completes");
  CHECK(n == 10 && st.MPI_SOURCE == 1000 && st.MPI_TAG == 2000, "status from query_fn");
  printf("rank %d: test and get_status ok\n", rank);

  /* Wait in one thread, complete in another. */
  if (provided == MPI_THREAD_MULTIPLE) {
    r = start(&s[1], 1);
    pthread_t th;
    pthread_create(&th, NULL, completer, &r);
    MPI_Request mine = r;
    MPI_Wait(&mine, &st);
    pthread_join(th, NULL);
    MPI_Get_count(&st, MPI_INT, &n);
    CHECK(mine == MPI_REQUEST_NULL && n == 11 && s[1].freed == 1, "wait for another thread");
  }
  printf("rank %d: wait across threads ok\n", rank);

  /* Waitall over generalized and point-to-point requests. */
  int peer = rank ^ 1, x = rank, y = -1;
  MPI_Request list[4];
  list[0] = start(&s[2], 2);
  list[1] = MPI_REQUEST_NULL;
  list[2] = start(&s[3], 3);
  list[3] = MPI_REQUEST_NULL;
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (peer < size) {
    MPI_Irecv(&y, 1, MPI_INT, peer, 5, MPI_COMM_WORLD, &list[1]);
    MPI_Isend(&x, 1, MPI_INT, peer, 5, MPI_COMM_WORLD, &list[3]);
  }
  MPI_Testall(4, list, &flag, MPI_STATUSES_IGNORE);
  CHECK(!flag && s[2].queried == 0, "testall waits for every request");
  MPI_Grequest_complete(list[0]);
  MPI_Grequest_complete(list[2]);
  MPI_Status sts[4];
  MPI_Waitall(4, list, sts);
  CHECK(s[2].freed == 1 && s[3].freed == 1 && list[0] == MPI_REQUEST_NULL, "waitall frees");
  CHECK(sts[2].MPI_TAG == 2003, "waitall status of a grequest");
  CHECK(peer >= size || y == peer, "waitall p2p data");
  printf("rank %d: waitall mixed ok\n", rank);

  /* Waitany picks the completed one. */
  list[0] = start(&s[0], 4);
  list[1] = start(&s[1], 5);
  MPI_Grequest_complete(list[1]);
  int idx;
  MPI_Waitany(2, list, &idx, &st);
  CHECK(idx == 1 && st.MPI_TAG == 2005 && s[0].queried == 0, "waitany");
  MPI_Grequest_complete(list[0]);
  MPI_Waitsome(2, list, &n, &idx, sts);
  CHECK(n == 1 && idx == 0 && sts[0].MPI_TAG == 2004, "waitsome");
  printf("rank %d: waitany and waitsome ok\n", rank);

  /* Cancel is told whether complete; Request_free before completion:
   * free_fn at MPI_Grequest_complete, and no query. */
  r = start(&s[0], 50);
  MPI_Cancel(&r);
  CHECK(s[0].cancelled_with == 0, "cancel of an incomplete grequest");
  MPI_Request keep = r;
  MPI_Request_free(&r);
  CHECK(r == MPI_REQUEST_NULL && s[0].freed == 0, "request_free defers free_fn");
  MPI_Grequest_complete(keep);
  CHECK(s[0].freed == 1 && s[0].queried == 0, "free_fn at grequest_complete");
  r = start(&s[1], 51);
  MPI_Grequest_complete(r);
  MPI_Cancel(&r);
  CHECK(s[1].cancelled_with == 1, "cancel of a complete grequest");
  MPI_Request_free(&r);
  CHECK(s[1].freed == 1 && s[1].queried == 0, "request_free of a complete grequest");
  printf("rank %d: cancel and request_free ok\n", rank);

  /* query_fn's error is the Wait's. */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  r = start(&s[2], 6);
  s[2].error = MPI_ERR_OTHER;
  MPI_Grequest_complete(r);
  int rc = MPI_Wait(&r, &st);
  CHECK(rc == MPI_ERR_OTHER && r == MPI_REQUEST_NULL && s[2].freed == 1, "query error returned");
  printf("rank %d: query_fn error returned\n", rank);

  MPI_Finalize();
  return 0;
}

/* User error classes and codes (MPI-3.1 8.5), info objects (9),
 * communicator hints (6.4.4) and MPI_Comm_idup (5.12 / 6.4.2).
 * - MPI_Add_error_class/code number after MPI_LASTUSEDCODE, which follows
 *   them; MPI_Error_class of a new code is its class; MPI_Add_error_string
 *   sets what MPI_Error_string reports (empty before); an error handler
 *   receives a new code;
 * - MPI_Info: set/replace/delete/dup, nkeys/nthkey, get with a short
 *   valuelen (truncated), get_valuelen, MPI_INFO_ENV;
 * - MPI_Comm_dup_with_info / set_info / get_info: the hints given;
 * - MPI_Comm_get_parent: MPI_COMM_NULL (not spawned);
 * - MPI_Comm_idup: a working duplicate once the request completes, with
 *   attributes copied, several outstanding at once; and it really is
 *   nonblocking: rank 0 completes its idup and only then sends to the
 *   last rank, which calls idup, receives that message, and only then
 *   waits (an idup that waited for every member at the call would hang);
 *   a message sent between idup and its Wait arrives. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int rank, size, seen_code;

static void handler(MPI_Comm* c, int* code, ...) {
  (void)c;
  seen_code = *code;
}

static int last_used(void) {
  int* v;
  int flag;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_LASTUSEDCODE, &v, &flag);
  CHECK(flag, "MPI_LASTUSEDCODE");
  return *v;
}

static void errors(void) {
  int base = last_used();
  CHECK(base >= MPI_ERR_LASTCODE, "lastusedcode >= MPI_ERR_LASTCODE");
  int c1, c2, e1, e2, e3, cls, len;
  MPI_Add_error_class(&c1);
  CHECK(c1 > base && last_used() >= c1, "new class after lastusedcode");
  MPI_Add_error_code(c1, &e1);
  MPI_Add_error_class(&c2);
  MPI_Add_error_code(c2, &e2);
  MPI_Add_error_code(c1, &e3);
  CHECK(e1 > c1 && c2 > e1 && e2 > c2 && e3 > e2 && last_used() == e3, "numbering");
  MPI_Error_class(e1, &cls);
  CHECK(cls == c1, "class of e1");
  MPI_Error_class(e3, &cls);
  CHECK(cls == c1, "class of e3");
  MPI_Error_class(e2, &cls);
  CHECK(cls == c2, "class of e2");
  char s[MPI_MAX_ERROR_STRING];
  MPI_Error_string(e1, s, &len);
  CHECK(len == 0 && s[0] == 0, "no string yet");
  MPI_Add_error_string(e1, "the first code of our own");
  MPI_Add_error_string(c2, "our second class");
  MPI_Error_string(e1, s, &len);
  printf("rank %d: e1 says '%s' (%d)\n", rank, s, len);
  MPI_Error_string(c2, s, &len);
  printf("rank %d: c2 says '%s' (%d)\n", rank, s, len);
  MPI_Add_error_string(e1, "replaced");
  MPI_Error_string(e1, s, &len);
  CHECK(strcmp(s, "replaced") == 0 && len == 8, "string replaced");
  /* A predefined code keeps its own string. */
  MPI_Error_string(MPI_ERR_TRUNCATE, s, &len);
  CHECK(len > 0, "predefined string");
  /* A user code through an error handler. */
  MPI_Errhandler eh;
  MPI_Comm_create_errhandler(handler, &eh);
  MPI_Comm dup;
  MPI_Comm_dup(MPI_COMM_WORLD, &dup);
  MPI_Comm_set_errhandler(dup, eh);
  MPI_Comm_call_errhandler(dup, e2);
  CHECK(seen_code == e2, "handler sees the user code");
  MPI_Comm_free(&dup);
  MPI_Errhandler_free(&eh);
  /* Adding a code to a class that does not exist is an error. */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int bogus, rc = MPI_Add_error_code(last_used() + 1000, &bogus);
  CHECK(rc != MPI_SUCCESS, "code of an unknown class");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
  printf("rank %d: %d classes and codes added\n", rank, last_used() - base);
}

static void infos(void) {
  MPI_Info i, d;
  char v[64], k[MPI_MAX_INFO_KEY];
  int flag, n, len;
  MPI_Info_create(&i);
  MPI_Info_set(i, "zeta", "one");
  MPI_Info_set(i, "alpha", "twotwo");
  MPI_Info_set(i, "mid", "3");
  MPI_Info_set(i, "zeta", "four"); /* replaces, keeps its place */
  MPI_Info_get_nkeys(i, &n);
  CHECK(n == 3, "nkeys");
  for (int j = 0; j < n; ++j) {
    MPI_Info_get_nthkey(i, j, k);
    MPI_Info_get(i, k, sizeof v - 1, v, &flag);
    printf("rank %d: info key %d: %s=%s\n", rank, j, k, v);
  }
  MPI_Info_get(i, "alpha", 3, v, &flag);
  CHECK(flag && strcmp(v, "two") == 0, "get truncates to valuelen");
  MPI_Info_get_valuelen(i, "alpha", &len, &flag);
  CHECK(flag && len == 6, "valuelen");
  MPI_Info_get(i, "nothere", sizeof v - 1, v, &flag);
  CHECK(!flag, "missing key");
  MPI_Info_dup(i, &d);
  MPI_Info_delete(i, "alpha");
  MPI_Info_get_nkeys(i, &n);
  CHECK(n == 2, "delete");
  MPI_Info_get_nkeys(d, &n);
  MPI_Info_get(d, "alpha", sizeof v - 1, v, &flag);
  CHECK(n == 3 && flag && strcmp(v, "twotwo") == 0, "dup is independent");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rc = MPI_Info_delete(i, "alpha");
  CHECK(rc != MPI_SUCCESS, "deleting a missing key fails");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
  MPI_Info_get_nkeys(MPI_INFO_ENV, &n);
  CHECK(n >= 0, "MPI_INFO_ENV");
  MPI_Info_free(&d);
  CHECK(d == MPI_INFO_NULL, "info_free");

  /* Communicator hints. */
  MPI_Comm c;
  MPI_Comm_dup_with_info(MPI_COMM_WORLD, i, &c);
  MPI_Info got;
  MPI_Comm_get_info(c, &got);
  MPI_Info_get(got, "zeta", sizeof v - 1, v, &flag);
  CHECK(flag && strcmp(v, "four") == 0, "dup_with_info hints");
  MPI_Info_free(&got);
  MPI_Info_set(i, "mpi_assert_no_any_tag", "false");
  MPI_Comm_set_info(c, i);
  MPI_Comm_get_info(c, &got);
  CHECK(got != MPI_INFO_NULL, "get_info returns an info");
  MPI_Info_free(&got);
  int sum = 0, one = 1;
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, c);
  CHECK(sum == size, "communicator with hints works");
  MPI_Comm_free(&c);
  MPI_Info_free(&i);
  printf("rank %d: info and communicator hints ok\n", rank);
}

static int copies;
static int count_copy(MPI_Comm c, int k, void* extra, void* in, void* out, int* flag) {
  (void)c, (void)k, (void)extra;
  copies++;
  *(void**)out = in;
  *flag = 1;
  return MPI_SUCCESS;
}

static void idup(void) {
  int key;
  MPI_Comm_create_keyval(count_copy, MPI_COMM_NULL_DELETE_FN, &key, NULL);
  MPI_Comm base;
  MPI_Comm_split(MPI_COMM_WORLD, 0, size - rank, &base); /* reversed ranks */
  MPI_Comm_set_attr(base, key, (void*)42);
  MPI_Comm d[3];
  MPI_Request r[3];
  for (int j = 0; j < 3; ++j) MPI_Comm_idup(base, &d[j], &r[j]);
  MPI_Waitall(3, r, MPI_STATUSES_IGNORE);
  CHECK(copies == 3, "idup copies attributes");
  for (int j = 0; j < 3; ++j) {
    int res, br, val = -1;
    MPI_Comm_compare(base, d[j], &res);
    CHECK(res == MPI_CONGRUENT, "idup is congruent");
    MPI_Comm_rank(d[j], &br);
    if (br == 0) val = 100 + j;
    MPI_Bcast(&val, 1, MPI_INT, 0, d[j]);
    CHECK(val == 100 + j, "idup communicator works");
    void* v;
    int flag;
    MPI_Comm_get_attr(d[j], key, &v, &flag);
    CHECK(flag && (long)v == 42, "idup attribute");
  }
  for (int j = 0; j < 3; ++j) MPI_Comm_free(&d[j]);
  MPI_Comm_free(&base);
  MPI_Comm_free_keyval(&key);
  printf("rank %d: idup ok\n", rank);
}

/* Progress: rank 0 tests its idup to completion before it sends the
 * message that the last rank receives between its idup and its Wait. */
static void idup_progress(void) {
  MPI_Comm d;
  MPI_Request r;
  int last = size - 1, msg = -1;
  if (size < 2) return;
  MPI_Comm_idup(MPI_COMM_WORLD, &d, &r);
  if (rank == 0) {
    int flag = 0;
    while (!flag) MPI_Test(&r, &flag, MPI_STATUS_IGNORE);
    msg = 77;
    MPI_Ssend(&msg, 1, MPI_INT, last, 5, MPI_COMM_WORLD);
  } else if (rank == last) {
    MPI_Recv(&msg, 1, MPI_INT, 0, 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    CHECK(msg == 77, "message received while the idup was pending");
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  } else {
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
  int sum = 0, one = 1;
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, d);
  CHECK(sum == size, "idup communicator after progress");
  MPI_Comm_free(&d);
  printf("rank %d: idup progress ok\n", rank);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm parent;
  MPI_Comm_get_parent(&parent);
  CHECK(parent == MPI_COMM_NULL, "no parent: not spawned");
  errors();
  infos();
  idup();
  idup_progress();
  MPI_Finalize();
  return 0;
}

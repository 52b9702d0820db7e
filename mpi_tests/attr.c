/* Attribute callbacks, as MPI-3.1 6.7 and 8.7.1 define them:
 * - communicators: copy at MPI_Comm_dup (MPI_COMM_DUP_FN, NULL_COPY_FN, a
 *   user function that declines), delete when replaced, deleted, and at
 *   MPI_Comm_free; a keyval freed while in use keeps its callbacks;
 * - datatypes: the same with Type_create_keyval, Type_set_attr, Type_dup,
 *   Type_delete_attr and Type_free, on derived and predefined types;
 * - errors returned by callbacks are returned by the call, which changes
 *   nothing more (the attribute stays; the communicator is not freed or
 *   made);
 * - MPI_Finalize deletes the attributes of MPI_COMM_SELF first, newest
 *   first, with MPI still usable in the callbacks (a barrier runs in one).
 * Each callback prints a line with a sequence number, so the sorted
 * comparison with plain mpirun checks the order too. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int rank, seq;

static void say(const char* what, long key, long val) {
  printf("rank %d: %02d %s key %ld val %ld\n", rank, seq++, what, key, val);
}

static int comm_copy(MPI_Comm c, int k, void* extra, void* in, void* out, int* flag) {
  (void)c, (void)k;
  say("comm copy", (long)extra, (long)in);
  *(void**)out = (void*)((long)in + 100);
  *flag = 1;
  return MPI_SUCCESS;
}
static int comm_decline(MPI_Comm c, int k, void* extra, void* in, void* out, int* flag) {
  (void)c, (void)k, (void)out;
  say("comm decline", (long)extra, (long)in);
  *flag = 0;
  return MPI_SUCCESS;
}
static int comm_del(MPI_Comm c, int k, void* val, void* extra) {
  (void)c, (void)k;
  say("comm delete", (long)extra, (long)val);
  return MPI_SUCCESS;
}
static int type_copy(MPI_Datatype t, int k, void* extra, void* in, void* out, int* flag) {
  (void)t, (void)k;
  say("type copy", (long)extra, (long)in);
  *(void**)out = (void*)((long)in + 1000);
  *flag = 1;
  return MPI_SUCCESS;
}
static int type_del(MPI_Datatype t, int k, void* val, void* extra) {
  (void)k;
  int size;
  MPI_Type_size(t, &size); /* the type is still valid in its delete callback */
  say("type delete", (long)extra, (long)val * 100 + size);
  return MPI_SUCCESS;
}
/* Fails for values 666 (a distinct error class of our own). */
static int failing_class;
static int comm_del_fails(MPI_Comm c, int k, void* val, void* extra) {
  (void)c, (void)k, (void)extra;
  say("comm delete (may fail)", 0, (long)val);
  return (long)val == 666 ? failing_class : MPI_SUCCESS;
}
static int comm_copy_fails(MPI_Comm c, int k, void* extra, void* in, void* out, int* flag) {
  (void)c, (void)k, (void)extra, (void)in, (void)out;
  say("comm copy (fails)", 0, 0);
  *flag = 0;
  return failing_class;
}
static int type_del_fails(MPI_Datatype t, int k, void* val, void* extra) {
  (void)t, (void)k, (void)extra;
  say("type delete (may fail)", 0, (long)val);
  return (long)val == 666 ? failing_class : MPI_SUCCESS;
}
/* At MPI_Finalize: MPI still works (collectives included). */
static int self_del(MPI_Comm c, int k, void* val, void* extra) {
  (void)k;
  int flag;
  MPI_Finalized(&flag);
  CHECK(!flag && c == MPI_COMM_SELF, "self attributes deleted inside MPI_Finalize, first");
  if ((long)extra == 2) MPI_Barrier(MPI_COMM_WORLD);
  say("self delete", (long)extra, (long)val);
  fflush(stdout);
  return MPI_SUCCESS;
}

static void comm_attrs(void) {
  int k[4];
  MPI_Comm_create_keyval(comm_copy, comm_del, &k[0], (void*)0);
  MPI_Comm_create_keyval(comm_decline, comm_del, &k[1], (void*)1);
  MPI_Comm_create_keyval(MPI_COMM_DUP_FN, comm_del, &k[2], (void*)2);
  MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, comm_del, &k[3], (void*)3);
  MPI_Comm a, b;
  MPI_Comm_dup(MPI_COMM_WORLD, &a);
  MPI_Comm_set_attr(a, k[2], (void*)20);
  MPI_Comm_set_attr(a, k[0], (void*)10);
  MPI_Comm_set_attr(a, k[3], (void*)30);
  MPI_Comm_set_attr(a, k[1], (void*)11);
  MPI_Comm_set_attr(a, k[0], (void*)12); /* replaces: deletes 10 */
  MPI_Comm_dup(a, &b);                   /* copies in keyval order */
  void* v;
  int flag;
  long got[4];
  for (int i = 0; i < 4; ++i) {
    MPI_Comm_get_attr(b, k[i], &v, &flag);
    got[i] = flag ? (long)v : -1;
  }
  printf("rank %d: dup has %ld %ld %ld %ld\n", rank, got[0], got[1], got[2], got[3]);
  CHECK(got[0] == 112 && got[1] == -1 && got[2] == 20 && got[3] == -1, "copied attributes");
  MPI_Comm_delete_attr(a, k[3]);
  MPI_Comm_free_keyval(&k[0]); /* still in use: its delete callback still runs */
  CHECK(k[0] == MPI_KEYVAL_INVALID, "free_keyval resets the key");
  say("free a", 0, 0);
  MPI_Comm_free(&a); /* newest setting first: 12, 11, 20 */
  say("free b", 0, 0);
  MPI_Comm_free(&b);
  for (int i = 1; i < 4; ++i) MPI_Comm_free_keyval(&k[i]);
}

static void type_attrs(void) {
  int k[3];
  for (int i = 0; i < 3; ++i) MPI_Type_create_keyval(type_copy, type_del, &k[i], (void*)(long)i);
  MPI_Datatype t, d;
  MPI_Type_contiguous(3, MPI_INT, &t);
  MPI_Type_commit(&t);
  MPI_Type_set_attr(t, k[1], (void*)1);
  MPI_Type_set_attr(t, k[0], (void*)2);
  MPI_Type_set_attr(t, k[2], (void*)3);
  MPI_Type_set_attr(t, k[1], (void*)4); /* replaces 1 */
  say("type dup", 0, 0);
  MPI_Type_dup(t, &d);
  void* v;
  int flag;
  MPI_Type_get_attr(d, k[1], &v, &flag);
  CHECK(flag && (long)v == 1004, "type attribute copied");
  MPI_Type_delete_attr(d, k[2]);
  MPI_Type_get_attr(d, k[2], &v, &flag);
  CHECK(!flag, "type attribute deleted");
  /* The duplicate first: Open MPI keeps a type its duplicate was made from
   * until the duplicate goes, which would move the callbacks. */
  say("type free d", 0, 0);
  MPI_Type_free(&d);
  say("type free t", 0, 0);
  MPI_Type_free(&t);
  /* A predefined type carries attributes too. */
  MPI_Type_set_attr(MPI_DOUBLE, k[0], (void*)7);
  MPI_Type_get_attr(MPI_DOUBLE, k[0], &v, &flag);
  CHECK(flag && (long)v == 7, "predefined type attribute");
  MPI_Type_delete_attr(MPI_DOUBLE, k[0]);
  for (int i = 0; i < 3; ++i) MPI_Type_free_keyval(&k[i]);
}

static void callback_errors(void) {
  MPI_Add_error_class(&failing_class);
  int ek, ck, tk, rc, cls;
  MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, comm_del_fails, &ek, NULL);
  MPI_Comm_create_keyval(comm_copy_fails, MPI_COMM_NULL_DELETE_FN, &ck, NULL);
  MPI_Type_create_keyval(MPI_TYPE_NULL_COPY_FN, type_del_fails, &tk, NULL);
  MPI_Comm c;
  MPI_Comm_dup(MPI_COMM_WORLD, &c);
  MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_set_attr(c, ek, (void*)666);
  rc = MPI_Comm_set_attr(c, ek, (void*)1);
  CHECK(rc != MPI_SUCCESS, "set_attr returns the delete callback's error");
  rc = MPI_Comm_delete_attr(c, ek);
  CHECK(rc != MPI_SUCCESS, "delete_attr returns the delete callback's error");
  void* v;
  int flag;
  MPI_Comm_get_attr(c, ek, &v, &flag);
  CHECK(flag && (long)v == 666, "a failed delete keeps the attribute");
  MPI_Comm_set_attr(c, ck, (void*)5);
  MPI_Comm d = MPI_COMM_NULL;
  rc = MPI_Comm_dup(c, &d);
  MPI_Error_class(rc, &cls);
  CHECK(rc != MPI_SUCCESS && d == MPI_COMM_NULL, "dup returns the copy callback's error");
  rc = MPI_Comm_free(&c);
  CHECK(rc != MPI_SUCCESS && c != MPI_COMM_NULL, "free returns the delete callback's error");
  MPI_Datatype t;
  MPI_Type_contiguous(2, MPI_INT, &t);
  MPI_Type_set_attr(t, tk, (void*)666);
  rc = MPI_Type_delete_attr(t, tk);
  CHECK(rc != MPI_SUCCESS, "type delete_attr returns the callback's error");
  MPI_Type_get_attr(t, tk, &v, &flag);
  CHECK(flag, "a failed type delete keeps the attribute");
  printf("rank %d: callback errors returned\n", rank);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  comm_attrs();
  type_attrs();
  callback_errors();
  /* MPI_COMM_SELF: set 1, 0, 2, then 1 again: deleted 1, 2, 0. */
  int k[3];
  for (int i = 0; i < 3; ++i)
    MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, self_del, &k[i], (void*)(long)i);
  MPI_Comm_set_attr(MPI_COMM_SELF, k[1], (void*)1);
  MPI_Comm_set_attr(MPI_COMM_SELF, k[0], (void*)2);
  MPI_Comm_set_attr(MPI_COMM_SELF, k[2], (void*)3);
  MPI_Comm_set_attr(MPI_COMM_SELF, k[1], (void*)4); /* replaces: self_del deletes 1 now */
  /* A library's usual finalize hook: the keyval is freed at once, the
   * callback must still run at MPI_Finalize. */
  MPI_Comm_free_keyval(&k[0]);
  say("finalize", 0, 0);
  fflush(stdout);
  MPI_Finalize();
  return 0;
}

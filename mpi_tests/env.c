/* Environment: init_thread levels, initialized/finalized, Wtime/Wtick,
 * processor name, version, error handlers and error strings. */
#include <string.h>

#include "check.h"

static int handler_calls;
static void handler(MPI_Comm* c, int* code, ...) {
  (void)c;
  handler_calls++;
  int cls;
  MPI_Error_class(*code, &cls);
  CHECK(cls == MPI_ERR_RANK, "handler error class");
}

int main(int argc, char** argv) {
  int flag, provided, rank, size;
  MPI_Initialized(&flag);
  CHECK(!flag, "not initialized yet");
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  CHECK(provided == MPI_THREAD_FUNNELED, "thread level funneled");
  MPI_Query_thread(&provided);
  CHECK(provided == MPI_THREAD_FUNNELED, "query_thread");
  MPI_Is_thread_main(&flag);
  CHECK(flag, "is_thread_main");
  MPI_Initialized(&flag);
  CHECK(flag, "initialized");
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  double t0 = MPI_Wtime(), tick = MPI_Wtick();
  CHECK(tick > 0 && tick < 1, "wtick");
  MPI_Barrier(MPI_COMM_WORLD);
  CHECK(MPI_Wtime() >= t0, "wtime monotonic");
  char name[MPI_MAX_PROCESSOR_NAME];
  int len, v, sv;
  MPI_Get_processor_name(name, &len);
  CHECK(len > 0 && (int)strlen(name) == len, "processor name");
  MPI_Get_version(&v, &sv);
  CHECK(v == 3 && sv == 1, "version");

  /* Errors: return, user handler, strings. */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int x = 0;
  int rc = MPI_Send(&x, 1, MPI_INT, size + 5, 0, MPI_COMM_WORLD);
  CHECK(rc != MPI_SUCCESS, "error returned");
  int cls;
  MPI_Error_class(rc, &cls);
  CHECK(cls == MPI_ERR_RANK, "error class rank");
  char s[MPI_MAX_ERROR_STRING];
  MPI_Error_string(rc, s, &len);
  printf("rank %d: error string: %s\n", rank, s);
  MPI_Errhandler eh, cur;
  MPI_Comm_create_errhandler(handler, &eh);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, eh);
  MPI_Comm_get_errhandler(MPI_COMM_WORLD, &cur);
  CHECK(cur == eh, "get errhandler");
  MPI_Send(&x, 1, MPI_INT, size + 5, 0, MPI_COMM_WORLD);
  CHECK(handler_calls == 1, "user handler called");
  MPI_Comm_call_errhandler(MPI_COMM_WORLD, MPI_ERR_RANK);
  CHECK(handler_calls == 2, "call_errhandler");
  MPI_Errhandler_free(&eh);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
  MPI_Error_string(MPI_ERR_TRUNCATE, s, &len);
  printf("rank %d: truncate string: %s\n", rank, s);

  double* mem;
  MPI_Alloc_mem(1000 * sizeof(double), MPI_INFO_NULL, &mem);
  mem[999] = 1.0;
  MPI_Free_mem(mem);

  MPI_Finalized(&flag);
  CHECK(!flag, "not finalized");
  printf("rank %d: environment ok\n", rank);
  MPI_Finalize();
  MPI_Finalized(&flag);
  CHECK(flag, "finalized");
  return 0;
}

/* A large message into a 10-byte buffer: the receiver gets MPI_ERR_TRUNCATE
 * and the first 10 bytes, and the sender completes (under crmpi the message
 * is a rendezvous: the header must still be acknowledged). Run under
 * crmpirun only: Open MPI 4.1's own shared-memory path copies the whole
 * message past such a buffer. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

int main(int argc, char** argv) {
  int rank;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  size_t n = 1 << 20;
  char* b = malloc(n);
  for (size_t i = 0; i < n; ++i) b[i] = (char)(i * 7);
  if (rank == 0) {
    MPI_Send(b, (int)n, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
    MPI_Request rq;
    MPI_Isend(b, (int)n, MPI_CHAR, 1, 2, MPI_COMM_WORLD, &rq);
    MPI_Wait(&rq, MPI_STATUS_IGNORE);
    printf("sender completed\n");
  } else if (rank == 1) {
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    char small[10] = {0};
    MPI_Status st;
    int cls, count, rc = MPI_Recv(small, 10, MPI_CHAR, 0, 1, MPI_COMM_WORLD, &st);
    MPI_Error_class(rc, &cls);
    MPI_Get_count(&st, MPI_CHAR, &count);
    CHECK(cls == MPI_ERR_TRUNCATE && count == 10 && memcmp(small, b, 10) == 0, "blocking");
    MPI_Request rq;
    memset(small, 0, sizeof small);
    MPI_Irecv(small, 5, MPI_CHAR, 0, 2, MPI_COMM_WORLD, &rq);
    rc = MPI_Wait(&rq, &st);
    MPI_Error_class(rc, &cls);
    CHECK(cls == MPI_ERR_TRUNCATE && memcmp(small, b, 5) == 0 && small[5] == 0, "nonblocking");
    printf("truncated ok\n");
  }
  MPI_Barrier(MPI_COMM_WORLD);
  free(b);
  MPI_Finalize();
  return 0;
}

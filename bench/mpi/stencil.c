/* stencil: 2-D Jacobi heat diffusion, rows split over the ranks, halo rows
 * exchanged with Sendrecv each step and a residual Allreduce every 10 steps.
 * Usage: stencil [N] [STEPS]. Prints steps/s and a checksum (rank 0). */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  int rank, size;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int n = argc > 1 ? atoi(argv[1]) : 1024, steps = argc > 2 ? atoi(argv[2]) : 400;
  int rows = n / size + (rank < n % size);
  double* a = calloc((size_t)(rows + 2) * n, sizeof(double));
  double* b = calloc((size_t)(rows + 2) * n, sizeof(double));
  if (rank == 0)
    for (int j = 0; j < n; ++j) a[j] = b[j] = 100.0; /* hot top edge */
  int up = rank > 0 ? rank - 1 : MPI_PROC_NULL, down = rank < size - 1 ? rank + 1 : MPI_PROC_NULL;
  double res = 0;
  MPI_Barrier(MPI_COMM_WORLD);
  double t = MPI_Wtime();
  for (int s = 0; s < steps; ++s) {
    MPI_Sendrecv(&a[1 * n], n, MPI_DOUBLE, up, 0, &a[(rows + 1) * n], n, MPI_DOUBLE, down, 0,
                 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Sendrecv(&a[rows * n], n, MPI_DOUBLE, down, 1, &a[0], n, MPI_DOUBLE, up, 1, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    if (rank == 0)
      for (int j = 0; j < n; ++j) a[j] = 100.0;
    double local = 0;
    for (int i = 1; i <= rows; ++i)
      for (int j = 1; j < n - 1; ++j) {
        double v =
            0.25 * (a[(i - 1) * n + j] + a[(i + 1) * n + j] + a[i * n + j - 1] + a[i * n + j + 1]);
        local += fabs(v - a[i * n + j]);
        b[i * n + j] = v;
      }
    double* tmp = a;
    a = b;
    b = tmp;
    if (s % 10 == 0) MPI_Allreduce(&local, &res, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  }
  t = MPI_Wtime() - t;
  double sum = 0, tot;
  for (int i = 1; i <= rows; ++i)
    for (int j = 0; j < n; ++j) sum += a[i * n + j];
  MPI_Reduce(&sum, &tot, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) printf("stencil_steps_per_s %.2f\nstencil_checksum %.6e\n", steps / t, tot);
  free(a), free(b);
  MPI_Finalize();
  return 0;
}

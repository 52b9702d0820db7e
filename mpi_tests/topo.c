/* Cartesian and graph topologies: create, coords, rank, shift, sub, dims. */
#include "check.h"

int main(int argc, char** argv) {
  int rank, size;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int dims[2] = {0, 0}, periods[2] = {1, 0};
  MPI_Dims_create(size, 2, dims);
  CHECK(dims[0] * dims[1] == size && dims[0] >= dims[1], "dims_create");
  MPI_Comm cart;
  MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, 0, &cart);
  int status, nd, crank, coords[2], d2[2], p2[2], c2[2];
  MPI_Topo_test(cart, &status);
  CHECK(status == MPI_CART, "topo_test");
  MPI_Cartdim_get(cart, &nd);
  CHECK(nd == 2, "cartdim");
  MPI_Comm_rank(cart, &crank);
  MPI_Cart_coords(cart, crank, 2, coords);
  MPI_Cart_get(cart, 2, d2, p2, c2);
  CHECK(c2[0] == coords[0] && c2[1] == coords[1] && d2[0] == dims[0] && p2[0] == 1, "cart_get");
  int back;
  MPI_Cart_rank(cart, coords, &back);
  CHECK(back == crank, "cart_rank");
  int src, dst;
  MPI_Cart_shift(cart, 0, 1, &src, &dst);
  int token = crank, got = -1;
  MPI_Sendrecv(&token, 1, MPI_INT, dst, 0, &got, 1, MPI_INT, src, 0, cart, MPI_STATUS_IGNORE);
  CHECK(got == src, "shift exchange");
  MPI_Cart_shift(cart, 1, 1, &src, &dst);
  if (coords[1] == dims[1] - 1) CHECK(dst == MPI_PROC_NULL, "non-periodic edge");
  printf("rank %d: dims %dx%d coords (%d,%d) shift1 %d %d\n", rank, dims[0], dims[1], coords[0],
         coords[1], src, dst);
  MPI_Comm row;
  int remain[2] = {0, 1}, rs;
  MPI_Cart_sub(cart, remain, &row);
  MPI_Comm_size(row, &rs);
  CHECK(rs == dims[1], "cart_sub size");
  int sum = 0;
  MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, row);
  printf("rank %d: row sum %d\n", rank, sum);

  /* Ring graph. */
  int index[64], edges[128];
  for (int i = 0; i < size; ++i) {
    index[i] = 2 * (i + 1);
    edges[2 * i] = (i + size - 1) % size;
    edges[2 * i + 1] = (i + 1) % size;
  }
  MPI_Comm graph;
  MPI_Graph_create(MPI_COMM_WORLD, size, index, edges, 0, &graph);
  MPI_Topo_test(graph, &status);
  CHECK(status == MPI_GRAPH, "graph topo");
  int nn, ne, nc, nb[2];
  MPI_Graphdims_get(graph, &nn, &ne);
  CHECK(nn == size && ne == 2 * size, "graphdims");
  MPI_Graph_neighbors_count(graph, rank, &nc);
  MPI_Graph_neighbors(graph, rank, 2, nb);
  CHECK(nc == 2 && nb[1] == (rank + 1) % size, "neighbors");
  MPI_Comm_free(&graph), MPI_Comm_free(&row), MPI_Comm_free(&cart);
  printf("rank %d: topologies ok\n", rank);
  MPI_Finalize();
  return 0;
}

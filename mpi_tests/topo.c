/* Cartesian and graph topologies: create, coords, rank, shift, sub, dims. */
#include <stdlib.h>

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
  /* Neighbour collectives on the Cartesian grid (periodic in dim 0 only). */
  int nbr[4] = {-7, -7, -7, -7}, sendv[4], recvv[4] = {-7, -7, -7, -7};
  MPI_Neighbor_allgather(&crank, 1, MPI_INT, nbr, 1, MPI_INT, cart);
  for (int k = 0; k < 4; ++k) sendv[k] = crank * 10 + k;
  MPI_Neighbor_alltoall(sendv, 1, MPI_INT, recvv, 1, MPI_INT, cart);
  printf("rank %d: neighbours %d %d %d %d alltoall %d %d %d %d\n", rank, nbr[0], nbr[1], nbr[2],
         nbr[3], recvv[0], recvv[1], recvv[2], recvv[3]);

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
  int gn[2] = {-1, -1}, gs[2] = {rank * 2, rank * 2 + 1}, gr[2] = {-1, -1}, gc[2] = {1, 1},
      gd[2] = {0, 1};
  MPI_Neighbor_allgatherv(&rank, 1, MPI_INT, gn, gc, gd, MPI_INT, graph);
  CHECK(gn[0] == (rank + size - 1) % size && gn[1] == (rank + 1) % size,
        "graph neighbor_allgatherv");
  MPI_Neighbor_alltoallv(gs, gc, gd, MPI_INT, gr, gc, gd, MPI_INT, graph);
  printf("rank %d: graph neighbours %d %d alltoallv %d %d\n", rank, gn[0], gn[1], gr[0], gr[1]);
  /* Distributed graph (adjacent): send to right then left, receive from left then right. */
  MPI_Comm dg;
  int left = (rank + size - 1) % size, right = (rank + 1) % size;
  int dsrc[2] = {left, right}, ddst[2] = {right, left}, w[2] = {1, 2};
  MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 2, dsrc, w, 2, ddst, w, MPI_INFO_NULL, 0, &dg);
  int indeg, outdeg, weighted, gsrc[2], sw[2], gdst[2], dw[2];
  MPI_Dist_graph_neighbors_count(dg, &indeg, &outdeg, &weighted);
  CHECK(indeg == 2 && outdeg == 2 && weighted, "dist graph counts");
  MPI_Dist_graph_neighbors(dg, 2, gsrc, sw, 2, gdst, dw);
  CHECK(gsrc[0] == left && gdst[0] == right && sw[1] == 2, "dist graph neighbors");
  MPI_Topo_test(dg, &status);
  CHECK(status == MPI_DIST_GRAPH, "dist graph topo");
  int dsend[2] = {rank * 10, rank * 10 + 1}, drecv[2] = {-1, -1};
  MPI_Neighbor_alltoall(dsend, 1, MPI_INT, drecv, 1, MPI_INT, dg);
  CHECK(drecv[0] == left * 10 && drecv[1] == right * 10 + 1, "dist graph alltoall");
  MPI_Comm_free(&dg);
  /* General form: rank 0 names every edge i -> i+1 (a chain). */
  int nsrc = rank == 0 ? size - 1 : 0, cs[64], cdeg[64], cd[64];
  for (int i = 0; i < size - 1; ++i) cs[i] = i, cdeg[i] = 1, cd[i] = i + 1;
  MPI_Dist_graph_create(MPI_COMM_WORLD, nsrc, cs, cdeg, cd, MPI_UNWEIGHTED, MPI_INFO_NULL, 0, &dg);
  MPI_Dist_graph_neighbors_count(dg, &indeg, &outdeg, &weighted);
  CHECK(indeg == (rank > 0) && outdeg == (rank < size - 1) && !weighted,
        "dist graph general counts");
  int up = -1, down = rank * 100;
  MPI_Neighbor_allgather(&down, 1, MPI_INT, &up, 1, MPI_INT, dg);
  CHECK(rank == 0 ? up == -1 : up == (rank - 1) * 100, "dist graph chain");
  MPI_Comm_free(&dg);
  MPI_Comm_free(&graph), MPI_Comm_free(&row), MPI_Comm_free(&cart);
  printf("rank %d: topologies ok\n", rank);
  MPI_Finalize();
  return 0;
}

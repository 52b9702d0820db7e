// MPI family: Cartesian and graph topologies. The topology lives in the
// app's VComm; the communicator itself is a split of the parent (ranks kept
// in order: reorder is allowed not to reorder), so only the split reaches
// the lower half.
#include <algorithm>
#include <cstring>

#include "api.h"

using namespace crmpi;

namespace {

int split_first(MPI_Comm c, int nodes, MPI_Comm* out, const char* fn) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, fn);
  if (nodes > vc->size || nodes < 0) return check(vc, c, MPI_ERR_ARG, fn);
  return PMPI_Comm_split(c, vc->rank < nodes ? 0 : MPI_UNDEFINED, vc->rank, out);
}

VComm* cart(MPI_Comm c) {
  VComm* vc = comm(c);
  return vc && vc->topo.kind == MPI_CART ? vc : nullptr;
}

void coords_of(const Topo& t, int rank, int* coords) {
  for (int i = static_cast<int>(t.dims.size()) - 1; i >= 0; --i) {
    coords[i] = rank % t.dims[i];
    rank /= t.dims[i];
  }
}

}  // namespace

CRMPI_API int PMPI_Cart_create(MPI_Comm c, int nd, const int* dims, const int* periods, int,
                               MPI_Comm* out) {
  int nodes = 1;
  for (int i = 0; i < nd; ++i) nodes *= dims[i];
  int rc = split_first(c, nodes, out, CRMPI_NAME);
  if (rc != MPI_SUCCESS || *out == MPI_COMM_NULL) return rc;
  VComm* n = comm(*out);
  n->topo.kind = MPI_CART;
  n->topo.dims.assign(dims, dims + nd);
  n->topo.periods.assign(periods, periods + nd);
  n->rec.how = CommRecord::kCart;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Dims_create(int nnodes, int nd, int* dims) {
  // Fill the zero entries with a balanced factorisation, largest first.
  int fixed = 1, free_dims = 0;
  for (int i = 0; i < nd; ++i) {
    if (dims[i] > 0)
      fixed *= dims[i];
    else
      ++free_dims;
  }
  if (fixed == 0 || nnodes % fixed) return check_world(MPI_ERR_DIMS, CRMPI_NAME);
  int rest = nnodes / fixed;
  std::vector<int> f(free_dims, 1);
  std::vector<int> primes;
  for (int p = 2; rest > 1;) {
    if (rest % p == 0) {
      primes.push_back(p);
      rest /= p;
    } else {
      ++p;
    }
  }
  std::sort(primes.rbegin(), primes.rend());
  for (int p : primes) {
    if (f.empty()) break;
    *std::min_element(f.begin(), f.end()) *= p;
  }
  std::sort(f.rbegin(), f.rend());
  for (int i = 0, k = 0; i < nd; ++i)
    if (dims[i] <= 0) dims[i] = f[k++];
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Topo_test(MPI_Comm c, int* status) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  *status = vc->topo.kind;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Cartdim_get(MPI_Comm c, int* nd) {
  VComm* vc = cart(c);
  if (!vc) return check_world(MPI_ERR_TOPOLOGY, CRMPI_NAME);
  *nd = static_cast<int>(vc->topo.dims.size());
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Cart_get(MPI_Comm c, int maxd, int* dims, int* periods, int* coords) {
  VComm* vc = cart(c);
  if (!vc) return check_world(MPI_ERR_TOPOLOGY, CRMPI_NAME);
  int nd = std::min<int>(maxd, static_cast<int>(vc->topo.dims.size()));
  std::vector<int> co(vc->topo.dims.size());
  coords_of(vc->topo, vc->rank, co.data());
  for (int i = 0; i < nd; ++i)
    dims[i] = vc->topo.dims[i], periods[i] = vc->topo.periods[i], coords[i] = co[i];
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Cart_rank(MPI_Comm c, const int* coords, int* rank) {
  VComm* vc = cart(c);
  if (!vc) return check_world(MPI_ERR_TOPOLOGY, CRMPI_NAME);
  int r = 0;
  for (size_t i = 0; i < vc->topo.dims.size(); ++i) {
    int d = vc->topo.dims[i], x = coords[i];
    if (vc->topo.periods[i])
      x = ((x % d) + d) % d;
    else if (x < 0 || x >= d)
      return check(vc, c, MPI_ERR_ARG, CRMPI_NAME);
    r = r * d + x;
  }
  *rank = r;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Cart_coords(MPI_Comm c, int rank, int maxd, int* coords) {
  VComm* vc = cart(c);
  if (!vc) return check_world(MPI_ERR_TOPOLOGY, CRMPI_NAME);
  std::vector<int> co(vc->topo.dims.size());
  coords_of(vc->topo, rank, co.data());
  for (int i = 0; i < maxd && i < static_cast<int>(co.size()); ++i) coords[i] = co[i];
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Cart_shift(MPI_Comm c, int dir, int disp, int* src, int* dst) {
  VComm* vc = cart(c);
  if (!vc || dir < 0 || dir >= static_cast<int>(vc->topo.dims.size()))
    return check_world(MPI_ERR_TOPOLOGY, CRMPI_NAME);
  std::vector<int> co(vc->topo.dims.size());
  auto neighbour = [&](int delta) {
    coords_of(vc->topo, vc->rank, co.data());
    int d = vc->topo.dims[dir];
    int x = co[dir] + delta;
    if (vc->topo.periods[dir])
      x = ((x % d) + d) % d;
    else if (x < 0 || x >= d)
      return static_cast<int>(MPI_PROC_NULL);
    co[dir] = x;
    int r;
    PMPI_Cart_rank(c, co.data(), &r);
    return r;
  };
  *src = neighbour(-disp);
  *dst = neighbour(disp);
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Cart_sub(MPI_Comm c, const int* remain, MPI_Comm* out) {
  VComm* vc = cart(c);
  if (!vc) return check_world(MPI_ERR_TOPOLOGY, CRMPI_NAME);
  size_t nd = vc->topo.dims.size();
  std::vector<int> co(nd);
  coords_of(vc->topo, vc->rank, co.data());
  int color = 0, key = 0;
  Topo t;
  t.kind = MPI_CART;
  for (size_t i = 0; i < nd; ++i) {
    if (remain[i]) {
      key = key * vc->topo.dims[i] + co[i];
      t.dims.push_back(vc->topo.dims[i]);
      t.periods.push_back(vc->topo.periods[i]);
    } else {
      color = color * vc->topo.dims[i] + co[i];
    }
  }
  if (t.dims.empty()) {  // MPI: a 0-dimensional Cartesian communicator of one process
    t.dims.clear();
  }
  int rc = PMPI_Comm_split(c, color, key, out);
  if (rc != MPI_SUCCESS) return rc;
  VComm* n = comm(*out);
  n->topo = t;
  n->rec.how = CommRecord::kCartSub;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Cart_map(MPI_Comm c, int nd, const int* dims, const int*, int* newrank) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  int nodes = 1;
  for (int i = 0; i < nd; ++i) nodes *= dims[i];
  *newrank = vc->rank < nodes ? vc->rank : MPI_UNDEFINED;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Graph_create(MPI_Comm c, int nnodes, const int* index, const int* edges, int,
                                MPI_Comm* out) {
  int rc = split_first(c, nnodes, out, CRMPI_NAME);
  if (rc != MPI_SUCCESS || *out == MPI_COMM_NULL) return rc;
  VComm* n = comm(*out);
  n->topo.kind = MPI_GRAPH;
  n->topo.index.assign(index, index + nnodes);
  n->topo.edges.assign(edges, edges + (nnodes ? index[nnodes - 1] : 0));
  n->rec.how = CommRecord::kGraph;
  return MPI_SUCCESS;
}

static VComm* graph(MPI_Comm c) {
  VComm* vc = comm(c);
  return vc && vc->topo.kind == MPI_GRAPH ? vc : nullptr;
}

CRMPI_API int PMPI_Graphdims_get(MPI_Comm c, int* nnodes, int* nedges) {
  VComm* vc = graph(c);
  if (!vc) return check_world(MPI_ERR_TOPOLOGY, CRMPI_NAME);
  *nnodes = static_cast<int>(vc->topo.index.size());
  *nedges = static_cast<int>(vc->topo.edges.size());
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Graph_get(MPI_Comm c, int maxindex, int maxedges, int* index, int* edges) {
  VComm* vc = graph(c);
  if (!vc) return check_world(MPI_ERR_TOPOLOGY, CRMPI_NAME);
  for (int i = 0; i < maxindex && i < static_cast<int>(vc->topo.index.size()); ++i)
    index[i] = vc->topo.index[i];
  for (int i = 0; i < maxedges && i < static_cast<int>(vc->topo.edges.size()); ++i)
    edges[i] = vc->topo.edges[i];
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Graph_neighbors_count(MPI_Comm c, int rank, int* n) {
  VComm* vc = graph(c);
  if (!vc) return check_world(MPI_ERR_TOPOLOGY, CRMPI_NAME);
  *n = vc->topo.index[rank] - (rank ? vc->topo.index[rank - 1] : 0);
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Graph_neighbors(MPI_Comm c, int rank, int max, int* out) {
  VComm* vc = graph(c);
  if (!vc) return check_world(MPI_ERR_TOPOLOGY, CRMPI_NAME);
  int b = rank ? vc->topo.index[rank - 1] : 0, e = vc->topo.index[rank];
  for (int i = b, k = 0; i < e && k < max; ++i, ++k) out[k] = vc->topo.edges[i];
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Graph_map(MPI_Comm c, int nnodes, const int*, const int*, int* newrank) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  *newrank = vc->rank < nnodes ? vc->rank : MPI_UNDEFINED;
  return MPI_SUCCESS;
}

// ---------------------------------------------------------------- neighbour collectives
//
// Algorithm: a neighbourhood collective is an all-to-all of typed blocks on
// the topology communicator (alltoall_blocks, api_coll.cpp: one
// MPI_(I)alltoallw in the agent, so that it counts as one collective of the
// communicator and has a real request when nonblocking). Neighbours are, for
// a Cartesian topology, the -1 then +1 neighbour of each dimension
// (MPI_PROC_NULL at open edges: nothing moves, the receive block stays as it
// was); for a graph, the adjacency list. Every block sent to one peer
// travels in one run, ordered by the slot it lands in on the receiver, and
// the receiver orders its slots from that peer the same way: for a
// Cartesian topology the slot on the other side is known (what goes to my
// -1 neighbour arrives in its +1 slot), which keeps a rank that is both the
// -1 and the +1 neighbour (periodic dimension of size 1 or 2) right; for
// graphs, several edges between the same pair match in the order of the
// adjacency lists.
namespace {

struct Neighbours {
  std::vector<int> recv_peer;  // neighbour rank per receive slot
  std::vector<int> send_peer;  // neighbour rank per send slot
  std::vector<int> send_order;  // receiver's slot of send slot i (Cartesian), else 0
  std::vector<int> recv_order;  // receive slot i's own number (Cartesian), else 0
};

bool neighbours(VComm* vc, Neighbours& n) {
  if (vc->topo.kind == MPI_CART) {
    MPI_Comm h = reinterpret_cast<MPI_Comm>(vc);
    for (size_t d = 0; d < vc->topo.dims.size(); ++d) {
      int src, dst;
      PMPI_Cart_shift(h, static_cast<int>(d), 1, &src, &dst);
      for (int p : {src, dst}) {  // slot 2d: negative direction, 2d+1: positive
        n.recv_peer.push_back(p);
        n.send_peer.push_back(p);
      }
      n.send_order.push_back(static_cast<int>(2 * d + 1));
      n.send_order.push_back(static_cast<int>(2 * d));
      n.recv_order.push_back(static_cast<int>(2 * d));
      n.recv_order.push_back(static_cast<int>(2 * d + 1));
    }
    return true;
  }
  if (vc->topo.kind == MPI_GRAPH) {
    int r = vc->rank, b = r ? vc->topo.index[r - 1] : 0, e = vc->topo.index[r];
    n.recv_peer.assign(vc->topo.edges.begin() + b, vc->topo.edges.begin() + e);
    n.send_peer = n.recv_peer;
  } else if (vc->topo.kind == MPI_DIST_GRAPH) {
    n.recv_peer = vc->topo.sources;
    n.send_peer = vc->topo.destinations;
  } else {
    return false;
  }
  n.recv_order.assign(n.recv_peer.size(), 0);
  n.send_order.assign(n.send_peer.size(), 0);
  return true;
}

// One side of an exchange: slot i holds count[i] elements of type[i] at
// buf + displ[i] bytes.
struct Side {
  char* buf;
  const int* count;
  const MPI_Aint* displ;
  const MPI_Datatype* type;
};

// Blocks per peer, in (order, slot) order; MPI_PROC_NULL slots move nothing.
std::vector<std::vector<TypedBlock>> per_peer(int n, const std::vector<int>& peer,
                                              const std::vector<int>& order, const Side& s) {
  std::vector<size_t> slots(peer.size());
  for (size_t i = 0; i < slots.size(); ++i) slots[i] = i;
  std::stable_sort(slots.begin(), slots.end(),
                   [&order](size_t a, size_t b) { return order[a] < order[b]; });
  std::vector<std::vector<TypedBlock>> out(static_cast<size_t>(n));
  for (size_t i : slots)
    if (peer[i] != MPI_PROC_NULL)
      out[static_cast<size_t>(peer[i])].push_back({s.buf + s.displ[i], s.count[i], s.type[i]});
  return out;
}

int neighbour_exchange(MPI_Comm c, const Side& snd, const Side& rcv, MPI_Request* req,
                       const char* fn) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, fn);
  Neighbours nb;
  if (!neighbours(vc, nb)) return check(vc, c, MPI_ERR_TOPOLOGY, fn);
  BlockPlan p;
  p.send = per_peer(vc->size, nb.send_peer, nb.send_order, snd);
  p.recv = per_peer(vc->size, nb.recv_peer, nb.recv_order, rcv);
  return alltoall_blocks(c, p, req, fn);
}

// Receive and send slot counts (in-degree, out-degree) of a topology.
std::pair<size_t, size_t> slots(MPI_Comm c) {
  VComm* vc = comm(c);
  Neighbours nb;
  if (vc) neighbours(vc, nb);
  return {nb.recv_peer.size(), nb.send_peer.size()};
}

MPI_Aint extent_of(MPI_Datatype t) {
  const TypeMap* tm = typemap(t);
  return tm ? tm->extent() : 0;
}

// The per-slot arrays of the regular and v forms, built from their
// arguments (alltoallw's are the caller's own).
struct Slots {
  std::vector<int> count;
  std::vector<MPI_Aint> displ;
  std::vector<MPI_Datatype> type;
  Side side(const void* buf) const {
    return {static_cast<char*>(const_cast<void*>(buf)), count.data(), displ.data(), type.data()};
  }
};

// n slots of `count` elements each: every slot the same block (same_block,
// an allgather's send side) or consecutive blocks.
Slots regular(size_t n, int count, MPI_Datatype t, bool same_block) {
  Slots s{std::vector<int>(n, count), std::vector<MPI_Aint>(n, 0), std::vector<MPI_Datatype>(n, t)};
  if (!same_block)
    for (size_t i = 0; i < n; ++i) s.displ[i] = static_cast<MPI_Aint>(i) * count * extent_of(t);
  return s;
}

Slots varying(size_t n, const int* counts, const int* displs, MPI_Datatype t) {
  Slots s{std::vector<int>(counts, counts + n), std::vector<MPI_Aint>(n),
          std::vector<MPI_Datatype>(n, t)};
  for (size_t i = 0; i < n; ++i) s.displ[i] = static_cast<MPI_Aint>(displs[i]) * extent_of(t);
  return s;
}

int allgather(const void* s, int sc, MPI_Datatype st, void* r, int rc, MPI_Datatype rt,
              MPI_Comm c, MPI_Request* q, const char* fn) {
  auto [in, out] = slots(c);
  Slots snd = regular(out, sc, st, true), rcv = regular(in, rc, rt, false);
  return neighbour_exchange(c, snd.side(s), rcv.side(r), q, fn);
}

int allgatherv(const void* s, int sc, MPI_Datatype st, void* r, const int* rc, const int* rd,
               MPI_Datatype rt, MPI_Comm c, MPI_Request* q, const char* fn) {
  auto [in, out] = slots(c);
  Slots snd = regular(out, sc, st, true), rcv = varying(in, rc, rd, rt);
  return neighbour_exchange(c, snd.side(s), rcv.side(r), q, fn);
}

int alltoall(const void* s, int sc, MPI_Datatype st, void* r, int rc, MPI_Datatype rt, MPI_Comm c,
             MPI_Request* q, const char* fn) {
  auto [in, out] = slots(c);
  Slots snd = regular(out, sc, st, false), rcv = regular(in, rc, rt, false);
  return neighbour_exchange(c, snd.side(s), rcv.side(r), q, fn);
}

int alltoallv(const void* s, const int* sc, const int* sd, MPI_Datatype st, void* r, const int* rc,
              const int* rd, MPI_Datatype rt, MPI_Comm c, MPI_Request* q, const char* fn) {
  auto [in, out] = slots(c);
  Slots snd = varying(out, sc, sd, st), rcv = varying(in, rc, rd, rt);
  return neighbour_exchange(c, snd.side(s), rcv.side(r), q, fn);
}

int alltoallw(const void* s, const int* sc, const MPI_Aint* sd, const MPI_Datatype* st, void* r,
              const int* rc, const MPI_Aint* rd, const MPI_Datatype* rt, MPI_Comm c,
              MPI_Request* q, const char* fn) {
  Side snd{static_cast<char*>(const_cast<void*>(s)), sc, sd, st}, rcv{static_cast<char*>(r), rc, rd, rt};
  return neighbour_exchange(c, snd, rcv, q, fn);
}

}  // namespace

CRMPI_API int PMPI_Neighbor_allgather(const void* s, int sc, MPI_Datatype st, void* r, int rc,
                                      MPI_Datatype rt, MPI_Comm c) {
  return allgather(s, sc, st, r, rc, rt, c, nullptr, CRMPI_NAME);
}
CRMPI_API int PMPI_Ineighbor_allgather(const void* s, int sc, MPI_Datatype st, void* r, int rc,
                                       MPI_Datatype rt, MPI_Comm c, MPI_Request* q) {
  return allgather(s, sc, st, r, rc, rt, c, q, CRMPI_NAME);
}
CRMPI_API int PMPI_Neighbor_allgatherv(const void* s, int sc, MPI_Datatype st, void* r,
                                       const int* rc, const int* rd, MPI_Datatype rt, MPI_Comm c) {
  return allgatherv(s, sc, st, r, rc, rd, rt, c, nullptr, CRMPI_NAME);
}
CRMPI_API int PMPI_Ineighbor_allgatherv(const void* s, int sc, MPI_Datatype st, void* r,
                                        const int* rc, const int* rd, MPI_Datatype rt, MPI_Comm c,
                                        MPI_Request* q) {
  return allgatherv(s, sc, st, r, rc, rd, rt, c, q, CRMPI_NAME);
}
CRMPI_API int PMPI_Neighbor_alltoall(const void* s, int sc, MPI_Datatype st, void* r, int rc,
                                     MPI_Datatype rt, MPI_Comm c) {
  return alltoall(s, sc, st, r, rc, rt, c, nullptr, CRMPI_NAME);
}
CRMPI_API int PMPI_Ineighbor_alltoall(const void* s, int sc, MPI_Datatype st, void* r, int rc,
                                      MPI_Datatype rt, MPI_Comm c, MPI_Request* q) {
  return alltoall(s, sc, st, r, rc, rt, c, q, CRMPI_NAME);
}
CRMPI_API int PMPI_Neighbor_alltoallv(const void* s, const int* sc, const int* sd, MPI_Datatype st,
                                      void* r, const int* rc, const int* rd, MPI_Datatype rt,
                                      MPI_Comm c) {
  return alltoallv(s, sc, sd, st, r, rc, rd, rt, c, nullptr, CRMPI_NAME);
}
CRMPI_API int PMPI_Ineighbor_alltoallv(const void* s, const int* sc, const int* sd,
                                       MPI_Datatype st, void* r, const int* rc, const int* rd,
                                       MPI_Datatype rt, MPI_Comm c, MPI_Request* q) {
  return alltoallv(s, sc, sd, st, r, rc, rd, rt, c, q, CRMPI_NAME);
}
CRMPI_API int PMPI_Neighbor_alltoallw(const void* s, const int* sc, const MPI_Aint* sd,
                                      const MPI_Datatype* st, void* r, const int* rc,
                                      const MPI_Aint* rd, const MPI_Datatype* rt, MPI_Comm c) {
  return alltoallw(s, sc, sd, st, r, rc, rd, rt, c, nullptr, CRMPI_NAME);
}
CRMPI_API int PMPI_Ineighbor_alltoallw(const void* s, const int* sc, const MPI_Aint* sd,
                                       const MPI_Datatype* st, void* r, const int* rc,
                                       const MPI_Aint* rd, const MPI_Datatype* rt, MPI_Comm c,
                                       MPI_Request* q) {
  return alltoallw(s, sc, sd, st, r, rc, rd, rt, c, q, CRMPI_NAME);
}

// ---------------------------------------------------------------- distributed graphs (adjacent)

CRMPI_API int PMPI_Dist_graph_create_adjacent(MPI_Comm c, int indegree, const int* sources,
                                              const int* sweights, int outdegree,
                                              const int* destinations, const int* dweights,
                                              MPI_Info, int, MPI_Comm* out) {
  // Never reorders: the communicator is a dup carrying the adjacency.
  int rc = PMPI_Comm_dup(c, out);
  if (rc != MPI_SUCCESS) return rc;
  VComm* n = comm(*out);
  n->topo = Topo{};
  n->topo.kind = MPI_DIST_GRAPH;
  n->topo.sources.assign(sources, sources + indegree);
  n->topo.destinations.assign(destinations, destinations + outdegree);
  n->topo.weighted = sweights != MPI_UNWEIGHTED && dweights != MPI_UNWEIGHTED;
  if (n->topo.weighted) {
    n->topo.sweights.assign(sweights, sweights + indegree);
    n->topo.dweights.assign(dweights, dweights + outdegree);
  }
  n->rec.how = CommRecord::kGraph;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Dist_graph_neighbors_count(MPI_Comm c, int* indegree, int* outdegree,
                                              int* weighted) {
  VComm* vc = comm(c);
  if (!vc || vc->topo.kind != MPI_DIST_GRAPH) return check_world(MPI_ERR_TOPOLOGY, CRMPI_NAME);
  *indegree = static_cast<int>(vc->topo.sources.size());
  *outdegree = static_cast<int>(vc->topo.destinations.size());
  *weighted = vc->topo.weighted;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Dist_graph_neighbors(MPI_Comm c, int maxin, int* sources, int* sweights,
                                        int maxout, int* destinations, int* dweights) {
  VComm* vc = comm(c);
  if (!vc || vc->topo.kind != MPI_DIST_GRAPH) return check_world(MPI_ERR_TOPOLOGY, CRMPI_NAME);
  const Topo& t = vc->topo;
  for (int i = 0; i < maxin && i < static_cast<int>(t.sources.size()); ++i) {
    sources[i] = t.sources[i];
    if (t.weighted && sweights != MPI_UNWEIGHTED) sweights[i] = t.sweights[i];
  }
  for (int i = 0; i < maxout && i < static_cast<int>(t.destinations.size()); ++i) {
    destinations[i] = t.destinations[i];
    if (t.weighted && dweights != MPI_UNWEIGHTED) dweights[i] = t.dweights[i];
  }
  return MPI_SUCCESS;
}

// Algorithm (general distributed graph): every rank may name any edge s->d.
// Each edge becomes two records, (d, weight) for rank s's destinations and
// (s, weight) for rank d's sources, exchanged with one alltoall of counts and
// one alltoallv of records on the parent communicator. Neighbour order is
// the order of arrival (rank order of the naming process, then its order),
// which MPI leaves to the implementation.
CRMPI_API int PMPI_Dist_graph_create(MPI_Comm c, int n, const int* sources, const int* degrees,
                                     const int* destinations, const int* weights, MPI_Info info,
                                     int reorder, MPI_Comm* out) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  int size = vc->size;
  bool weighted = weights != MPI_UNWEIGHTED;
  // Records: {kind (0 = you have a source, 1 = you have a destination), peer, weight}.
  std::vector<std::vector<int>> to(size);
  for (int i = 0, e = 0; i < n; ++i)
    for (int k = 0; k < degrees[i]; ++k, ++e) {
      int s = sources[i], d = destinations[e], w = weighted ? weights[e] : 1;
      to[d].insert(to[d].end(), {0, s, w});
      to[s].insert(to[s].end(), {1, d, w});
    }
  std::vector<int> scount(size), sdisp(size), rcount(size), rdisp(size), sendbuf;
  for (int r = 0; r < size; ++r) {
    scount[r] = static_cast<int>(to[r].size());
    sdisp[r] = static_cast<int>(sendbuf.size());
    sendbuf.insert(sendbuf.end(), to[r].begin(), to[r].end());
  }
  int rc = PMPI_Alltoall(scount.data(), 1, MPI_INT, rcount.data(), 1, MPI_INT, c);
  if (rc != MPI_SUCCESS) return rc;
  int total = 0;
  for (int r = 0; r < size; ++r) rdisp[r] = total, total += rcount[r];
  std::vector<int> recvbuf(total + 1);
  rc = PMPI_Alltoallv(sendbuf.data(), scount.data(), sdisp.data(), MPI_INT, recvbuf.data(),
                      rcount.data(), rdisp.data(), MPI_INT, c);
  if (rc != MPI_SUCCESS) return rc;
  std::vector<int> src, sw, dst, dw;
  for (int i = 0; i + 2 < total + 1; i += 3) {
    if (recvbuf[i] == 0)
      src.push_back(recvbuf[i + 1]), sw.push_back(recvbuf[i + 2]);
    else
      dst.push_back(recvbuf[i + 1]), dw.push_back(recvbuf[i + 2]);
  }
  return PMPI_Dist_graph_create_adjacent(c, static_cast<int>(src.size()), src.data(),
                                         weighted ? sw.data() : MPI_UNWEIGHTED,
                                         static_cast<int>(dst.size()), dst.data(),
                                         weighted ? dw.data() : MPI_UNWEIGHTED, info, reorder, out);
}

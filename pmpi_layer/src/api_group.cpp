// MPI family: groups. Groups live entirely in the app as lists of world
// ranks, so they need no lower half at all and survive a restart as they are.
#include <algorithm>

#include "api.h"

using namespace crmpi;

namespace {

VGroup g_empty;

VGroup* grp(MPI_Group h) {
  if (h == MPI_GROUP_EMPTY) return &g_empty;
  return is_virtual(h, kMagicGroup) ? reinterpret_cast<VGroup*>(h) : nullptr;
}

int make(std::vector<int> w, MPI_Group* out) {
  if (w.empty()) {
    *out = MPI_GROUP_EMPTY;
    return MPI_SUCCESS;
  }
  auto* n = new VGroup;
  n->world = std::move(w);
  *out = reinterpret_cast<MPI_Group>(n);
  return MPI_SUCCESS;
}

int index_of(const VGroup* x, int w) {
  auto it = std::find(x->world.begin(), x->world.end(), w);
  return it == x->world.end() ? MPI_UNDEFINED : static_cast<int>(it - x->world.begin());
}

#define GET(v, h, fn) \
  VGroup* v = grp(h); \
  if (!v) return check_world(MPI_ERR_GROUP, fn);

}  // namespace

CRMPI_API int PMPI_Group_size(MPI_Group h, int* size) {
  GET(x, h, CRMPI_NAME);
  *size = static_cast<int>(x->world.size());
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Group_rank(MPI_Group h, int* rank) {
  GET(x, h, CRMPI_NAME);
  *rank = index_of(x, g.rank);
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Group_free(MPI_Group* h) {
  if (is_virtual(*h, kMagicGroup)) delete reinterpret_cast<VGroup*>(*h);
  *h = MPI_GROUP_NULL;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Group_translate_ranks(MPI_Group a, int n, const int* ranks, MPI_Group b,
                                         int* out) {
  GET(x, a, CRMPI_NAME);
  GET(y, b, CRMPI_NAME);
  for (int i = 0; i < n; ++i) {
    if (ranks[i] == MPI_PROC_NULL)
      out[i] = MPI_PROC_NULL;
    else if (ranks[i] < 0 || ranks[i] >= static_cast<int>(x->world.size()))
      return check_world(MPI_ERR_RANK, CRMPI_NAME);
    else
      out[i] = index_of(y, x->world[ranks[i]]);
  }
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Group_compare(MPI_Group a, MPI_Group b, int* result) {
  GET(x, a, CRMPI_NAME);
  GET(y, b, CRMPI_NAME);
  if (x->world == y->world)
    *result = MPI_IDENT;
  else {
    std::vector<int> p = x->world, q = y->world;
    std::sort(p.begin(), p.end());
    std::sort(q.begin(), q.end());
    *result = p == q ? MPI_SIMILAR : MPI_UNEQUAL;
  }
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Group_union(MPI_Group a, MPI_Group b, MPI_Group* out) {
  GET(x, a, CRMPI_NAME);
  GET(y, b, CRMPI_NAME);
  std::vector<int> w = x->world;
  for (int r : y->world)
    if (index_of(x, r) == MPI_UNDEFINED) w.push_back(r);
  return make(w, out);
}

CRMPI_API int PMPI_Group_intersection(MPI_Group a, MPI_Group b, MPI_Group* out) {
  GET(x, a, CRMPI_NAME);
  GET(y, b, CRMPI_NAME);
  std::vector<int> w;
  for (int r : x->world)
    if (index_of(y, r) != MPI_UNDEFINED) w.push_back(r);
  return make(w, out);
}

CRMPI_API int PMPI_Group_difference(MPI_Group a, MPI_Group b, MPI_Group* out) {
  GET(x, a, CRMPI_NAME);
  GET(y, b, CRMPI_NAME);
  std::vector<int> w;
  for (int r : x->world)
    if (index_of(y, r) == MPI_UNDEFINED) w.push_back(r);
  return make(w, out);
}

CRMPI_API int PMPI_Group_incl(MPI_Group a, int n, const int* ranks, MPI_Group* out) {
  GET(x, a, CRMPI_NAME);
  std::vector<int> w;
  for (int i = 0; i < n; ++i) {
    if (ranks[i] < 0 || ranks[i] >= static_cast<int>(x->world.size()))
      return check_world(MPI_ERR_RANK, CRMPI_NAME);
    w.push_back(x->world[ranks[i]]);
  }
  return make(w, out);
}

CRMPI_API int PMPI_Group_excl(MPI_Group a, int n, const int* ranks, MPI_Group* out) {
  GET(x, a, CRMPI_NAME);
  std::vector<bool> drop(x->world.size());
  for (int i = 0; i < n; ++i) {
    if (ranks[i] < 0 || ranks[i] >= static_cast<int>(x->world.size()))
      return check_world(MPI_ERR_RANK, CRMPI_NAME);
    drop[ranks[i]] = true;
  }
  std::vector<int> w;
  for (size_t i = 0; i < x->world.size(); ++i)
    if (!drop[i]) w.push_back(x->world[i]);
  return make(w, out);
}

static std::vector<int> expand(int n, int ranges[][3]) {
  std::vector<int> r;
  for (int i = 0; i < n; ++i) {
    int first = ranges[i][0], last = ranges[i][1], stride = ranges[i][2];
    if (stride == 0) break;
    for (int k = first; stride > 0 ? k <= last : k >= last; k += stride) r.push_back(k);
  }
  return r;
}

CRMPI_API int PMPI_Group_range_incl(MPI_Group a, int n, int ranges[][3], MPI_Group* out) {
  std::vector<int> r = expand(n, ranges);
  return PMPI_Group_incl(a, static_cast<int>(r.size()), r.data(), out);
}

CRMPI_API int PMPI_Group_range_excl(MPI_Group a, int n, int ranges[][3], MPI_Group* out) {
  std::vector<int> r = expand(n, ranges);
  return PMPI_Group_excl(a, static_cast<int>(r.size()), r.data(), out);
}

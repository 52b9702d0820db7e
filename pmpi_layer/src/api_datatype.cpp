// MPI family: derived datatypes. Every constructor records its arguments
// (which is also what MPI_Type_get_contents returns, and what a restart
// replays) and builds the typemap with the engine in typemap.cpp.
#include <cstring>

#include "api.h"

using namespace crmpi;

namespace {

const TypeMap* tmap(MPI_Datatype t) {
  return typemap(t);
}

int make(MPI_Datatype* out, TypeMap tm, int combiner, std::vector<int> ints,
         std::vector<MPI_Aint> aints, std::vector<MPI_Datatype> types) {
  auto* v = new VType;
  v->tm = std::move(tm);
  v->combiner = combiner;
  v->ints = std::move(ints);
  v->aints = std::move(aints);
  v->types = std::move(types);
  *out = reinterpret_cast<MPI_Datatype>(v);
  return MPI_SUCCESS;
}

#define OLD(t, fn)              \
  const TypeMap* old = tmap(t); \
  if (!old) return check_world(MPI_ERR_TYPE, fn);

}  // namespace

CRMPI_API int PMPI_Type_contiguous(int n, MPI_Datatype t, MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  return make(out, TypeMap::contiguous(n, *old), MPI_COMBINER_CONTIGUOUS, {n}, {}, {t});
}

CRMPI_API int PMPI_Type_vector(int n, int bl, int stride, MPI_Datatype t, MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  return make(out, TypeMap::hvector(n, bl, static_cast<int64_t>(stride) * old->extent(), *old),
              MPI_COMBINER_VECTOR, {n, bl, stride}, {}, {t});
}

CRMPI_API int PMPI_Type_create_hvector(int n, int bl, MPI_Aint stride, MPI_Datatype t,
                                       MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  return make(out, TypeMap::hvector(n, bl, stride, *old), MPI_COMBINER_HVECTOR, {n, bl}, {stride},
              {t});
}

CRMPI_API int PMPI_Type_indexed(int n, const int* bl, const int* d, MPI_Datatype t,
                                MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  std::vector<int64_t> b(bl, bl + n), disp(n);
  std::vector<int> ints{n};
  for (int i = 0; i < n; ++i) disp[i] = static_cast<int64_t>(d[i]) * old->extent();
  ints.insert(ints.end(), bl, bl + n);
  ints.insert(ints.end(), d, d + n);
  return make(out, TypeMap::hindexed(b, disp, *old), MPI_COMBINER_INDEXED, ints, {}, {t});
}

CRMPI_API int PMPI_Type_create_hindexed(int n, const int* bl, const MPI_Aint* d, MPI_Datatype t,
                                        MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  std::vector<int64_t> b(bl, bl + n), disp(d, d + n);
  std::vector<int> ints{n};
  ints.insert(ints.end(), bl, bl + n);
  return make(out, TypeMap::hindexed(b, disp, *old), MPI_COMBINER_HINDEXED, ints, {d, d + n}, {t});
}

CRMPI_API int PMPI_Type_create_indexed_block(int n, int bl, const int* d, MPI_Datatype t,
                                             MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  std::vector<int64_t> b(n, bl), disp(n);
  for (int i = 0; i < n; ++i) disp[i] = static_cast<int64_t>(d[i]) * old->extent();
  std::vector<int> ints{n, bl};
  ints.insert(ints.end(), d, d + n);
  return make(out, TypeMap::hindexed(b, disp, *old), MPI_COMBINER_INDEXED_BLOCK, ints, {}, {t});
}

CRMPI_API int PMPI_Type_create_hindexed_block(int n, int bl, const MPI_Aint* d, MPI_Datatype t,
                                              MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  std::vector<int64_t> b(n, bl), disp(d, d + n);
  return make(out, TypeMap::hindexed(b, disp, *old), MPI_COMBINER_HINDEXED_BLOCK, {n, bl},
              {d, d + n}, {t});
}

CRMPI_API int PMPI_Type_create_struct(int n, const int* bl, const MPI_Aint* d,
                                      const MPI_Datatype* ts, MPI_Datatype* out) {
  std::vector<const TypeMap*> maps(n);
  for (int i = 0; i < n; ++i)
    if (!(maps[i] = tmap(ts[i]))) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  std::vector<int64_t> b(bl, bl + n), disp(d, d + n);
  std::vector<int> ints{n};
  ints.insert(ints.end(), bl, bl + n);
  return make(out, TypeMap::structure(b, disp, maps), MPI_COMBINER_STRUCT, ints, {d, d + n},
              {ts, ts + n});
}

CRMPI_API int PMPI_Type_create_subarray(int nd, const int* sizes, const int* subs,
                                        const int* starts, int order, MPI_Datatype t,
                                        MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  std::vector<int64_t> a(sizes, sizes + nd), b(subs, subs + nd), c(starts, starts + nd);
  std::vector<int> ints{nd};
  ints.insert(ints.end(), sizes, sizes + nd);
  ints.insert(ints.end(), subs, subs + nd);
  ints.insert(ints.end(), starts, starts + nd);
  ints.push_back(order);
  return make(out, TypeMap::subarray(a, b, c, order == MPI_ORDER_FORTRAN ? 1 : 0, *old),
              MPI_COMBINER_SUBARRAY, ints, {}, {t});
}

CRMPI_API int PMPI_Type_create_resized(MPI_Datatype t, MPI_Aint lb, MPI_Aint ext,
                                       MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  return make(out, TypeMap::resized(*old, lb, ext), MPI_COMBINER_RESIZED, {}, {lb, ext}, {t});
}

CRMPI_API int PMPI_Type_dup(MPI_Datatype t, MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  int rc = make(out, *old, MPI_COMBINER_DUP, {}, {}, {t});
  reinterpret_cast<VType*>(*out)->committed = true;
  if (rc == MPI_SUCCESS) {  // attribute copy callbacks (api_attr.cpp); a failure fails the dup
    int arc = crmpi::type_copy_attrs(t, *out);
    if (arc != MPI_SUCCESS) {
      crmpi::type_free(out);
      *out = MPI_DATATYPE_NULL;
      return check_world(arc, CRMPI_NAME);
    }
  }
  return rc;
}

CRMPI_API int PMPI_Type_commit(MPI_Datatype* t) {
  if (is_virtual(*t, kMagicType))
    reinterpret_cast<VType*>(*t)->committed = true;
  else if (!tmap(*t))
    return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Type_free(MPI_Datatype* t) {
  if (!is_virtual(*t, kMagicType)) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  // Attribute delete callbacks; pending operations keep the record (api_attr.cpp).
  return check_world(crmpi::type_free(t), CRMPI_NAME);
}

CRMPI_API int PMPI_Type_size_x(MPI_Datatype t, MPI_Count* size) {
  OLD(t, CRMPI_NAME);
  *size = old->size;
  return MPI_SUCCESS;
}
CRMPI_API int PMPI_Type_size(MPI_Datatype t, int* size) {
  OLD(t, CRMPI_NAME);
  *size = static_cast<int>(old->size);
  return MPI_SUCCESS;
}
CRMPI_API int PMPI_Type_get_extent(MPI_Datatype t, MPI_Aint* lb, MPI_Aint* ext) {
  OLD(t, CRMPI_NAME);
  *lb = old->lb;
  *ext = old->extent();
  return MPI_SUCCESS;
}
CRMPI_API int PMPI_Type_get_extent_x(MPI_Datatype t, MPI_Count* lb, MPI_Count* ext) {
  OLD(t, CRMPI_NAME);
  *lb = old->lb;
  *ext = old->extent();
  return MPI_SUCCESS;
}
CRMPI_API int PMPI_Type_get_true_extent(MPI_Datatype t, MPI_Aint* lb, MPI_Aint* ext) {
  OLD(t, CRMPI_NAME);
  *lb = old->true_lb;
  *ext = old->true_extent();
  return MPI_SUCCESS;
}
CRMPI_API int PMPI_Type_get_true_extent_x(MPI_Datatype t, MPI_Count* lb, MPI_Count* ext) {
  OLD(t, CRMPI_NAME);
  *lb = old->true_lb;
  *ext = old->true_extent();
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Get_address(const void* p, MPI_Aint* a) {
  *a = reinterpret_cast<MPI_Aint>(p);
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Type_get_envelope(MPI_Datatype t, int* ni, int* na, int* nt, int* comb) {
  if (!is_virtual(t, kMagicType)) {
    if (!tmap(t)) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
    *ni = *na = *nt = 0;
    *comb = MPI_COMBINER_NAMED;
    return MPI_SUCCESS;
  }
  auto* v = reinterpret_cast<VType*>(t);
  *ni = static_cast<int>(v->ints.size());
  *na = static_cast<int>(v->aints.size());
  *nt = static_cast<int>(v->types.size());
  *comb = v->combiner;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Type_get_contents(MPI_Datatype t, int ni, int na, int nt, int* ints,
                                     MPI_Aint* aints, MPI_Datatype* types) {
  if (!is_virtual(t, kMagicType)) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  auto* v = reinterpret_cast<VType*>(t);
  if (ni < static_cast<int>(v->ints.size()) || na < static_cast<int>(v->aints.size()) ||
      nt < static_cast<int>(v->types.size()))
    return check_world(MPI_ERR_ARG, CRMPI_NAME);
  std::copy(v->ints.begin(), v->ints.end(), ints);
  std::copy(v->aints.begin(), v->aints.end(), aints);
  for (size_t i = 0; i < v->types.size(); ++i) {
    // Derived types come back as new handles (MPI: the caller frees them).
    MPI_Datatype s = v->types[i];
    if (is_virtual(s, kMagicType))
      PMPI_Type_dup(s, &types[i]);
    else
      types[i] = s;
  }
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Pack_size(int n, MPI_Datatype t, MPI_Comm, int* size) {
  OLD(t, CRMPI_NAME);
  *size = static_cast<int>(n * old->size);
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Pack(const void* in, int n, MPI_Datatype t, void* out, int outsize, int* pos,
                        MPI_Comm) {
  OLD(t, CRMPI_NAME);
  if (*pos + n * old->size > outsize) return check_world(MPI_ERR_TRUNCATE, CRMPI_NAME);
  *pos += static_cast<int>(old->pack(in, n, static_cast<char*>(out) + *pos));
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Unpack(const void* in, int insize, int* pos, void* out, int n, MPI_Datatype t,
                          MPI_Comm) {
  OLD(t, CRMPI_NAME);
  size_t want = static_cast<size_t>(n) * old->size;
  if (*pos + static_cast<int64_t>(want) > insize) return check_world(MPI_ERR_TRUNCATE, CRMPI_NAME);
  *pos += static_cast<int>(old->unpack(static_cast<const char*>(in) + *pos, want, n, out));
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Type_set_name(MPI_Datatype t, const char* name) {
  if (is_virtual(t, kMagicType)) reinterpret_cast<VType*>(t)->name = name;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Type_get_name(MPI_Datatype t, char* name, int* len) {
  if (is_virtual(t, kMagicType)) {
    snprintf(name, MPI_MAX_OBJECT_NAME, "%s", reinterpret_cast<VType*>(t)->name.c_str());
  } else {
    const Predef* p = predef(t);
    snprintf(name, MPI_MAX_OBJECT_NAME, "%s", p ? p->name : "");
  }
  *len = static_cast<int>(strlen(name));
  return MPI_SUCCESS;
}

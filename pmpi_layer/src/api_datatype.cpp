// MPI family: derived datatypes. Every constructor records its arguments
// (which is also what MPI_Type_get_contents returns, and what a restart
// replays) and builds the typemap with the engine in typemap.cpp.
#include "api_datatype.h"

#include <algorithm>
#include <cstring>

#include "api.h"

using namespace crmpi;

namespace {

const TypeMap* tmap(MPI_Datatype t) {
  return typemap(t);
}

}  // namespace

int crmpi::make_type(MPI_Datatype* out, TypeMap tm, int combiner, std::vector<int> ints,
                     std::vector<MPI_Aint> aints, std::vector<MPI_Datatype> types) {
  auto* v = new VType;
  v->tm = std::move(tm);
  v->combiner = combiner;
  v->ints = std::move(ints);
  v->aints = std::move(aints);
  v->types = std::move(types);
  for (MPI_Datatype t : v->types)
    if (is_virtual(t, kMagicType)) ++reinterpret_cast<VType*>(t)->refs;
  *out = reinterpret_cast<MPI_Datatype>(v);
  return MPI_SUCCESS;
}

namespace {

// Largest power of two, at most 16, dividing n (x86-64 scalar alignment).
int64_t pow2_align(int64_t n) {
  int64_t a = 1;
  while (a < 16 && n > 0 && n % (a * 2) == 0) a *= 2;
  return a;
}

// Types without handles that pending collectives' records still name
// (MPI-3.1 4.1.9: a freed type stays valid for the operations already
// posted with it).  A point-to-point request holds its type itself
// (VRequest::type_ref counts in refs), so only the records are looked at.
std::vector<VType*> g_unreferenced;

bool in_use(MPI_Datatype h) {
  for (const VRequest* r : g.requests) {
    const CollRecord& c = r->coll;
    if (c.stype == h || c.rtype == h) return true;
    for (const auto* v : {&c.stypes, &c.rtypes})
      if (std::find(v->begin(), v->end(), h) != v->end()) return true;
  }
  return false;
}

void destroy(VType* v);

// Drop one handle to v; the last one frees it and its hold on its parts,
// once no pending operation names it.
void release(VType* v) {
  if (--v->refs > 0) return;
  if (in_use(reinterpret_cast<MPI_Datatype>(v)))
    g_unreferenced.push_back(v);
  else
    destroy(v);
}

void destroy(VType* v) {
  for (MPI_Datatype t : v->types)
    if (is_virtual(t, kMagicType)) release(reinterpret_cast<VType*>(t));
  v->magic = 0;
  delete v;
}

// Free the unreferenced types whose operations have completed.
void sweep() {
  std::vector<VType*> keep, done;
  for (VType* v : g_unreferenced)
    (in_use(reinterpret_cast<MPI_Datatype>(v)) ? keep : done).push_back(v);
  g_unreferenced = std::move(keep);
  for (VType* v : done) destroy(v);
}

#define OLD(t, fn)              \
  const TypeMap* old = tmap(t); \
  if (!old) return check_world(MPI_ERR_TYPE, fn);

}  // namespace

void crmpi::type_release(VType* v) {
  release(v);
}

// Predefined layouts. Open MPI reports size and extent; the alignment (the
// struct epsilon) and the basic elements follow from the kind of type:
// pair types are a value then an int; MPI_2INT, MPI_2REAL ... are two of
// a kind; a complex is aligned like one of its two parts.
TypeMap crmpi::predef_typemap(const char* name, uint64_t id, int64_t size, int64_t ext) {
  static const char* const kPairs[] = {"MPI_FLOAT_INT", "MPI_DOUBLE_INT",      "MPI_LONG_INT",
                                       "MPI_SHORT_INT", "MPI_LONG_DOUBLE_INT", "MPI_2INT"};
  for (const char* p : kPairs)
    if (strcmp(name, p) == 0) {
      int64_t first = size - 4, second = (first + 3) & ~int64_t{3};
      TypeMap t = TypeMap::pair(id, first, second, ext, std::max<int64_t>(4, pow2_align(first)));
      if (strcmp(p, "MPI_LONG_INT") == 0) t.prims[0].xword = 4, t.prims[0].sign = true;
      if (strcmp(p, "MPI_LONG_DOUBLE_INT") == 0 && first == 16) t.prims[0].x87 = true;
      return t;
    }
  bool two = strncmp(name, "MPI_2", 5) == 0;
  int64_t part = two ? size / 2 : size;
  int64_t align = pow2_align(strstr(name, "COMPLEX") ? part / 2 : part);
  TypeMap t = TypeMap::primitive(id, size, ext, align);
  if (t.prims.empty()) return t;
  if (two) t.prims = {{part, 2, part, part}};
  PrimRun& q = t.prims.back();
  if (strstr(name, "COMPLEX")) q.word = q.xword = q.word / 2;  // byte order per part
  // A long double (x86-64: x87 extended in 16 bytes) is binary128 there.
  if (strstr(name, "LONG_DOUBLE") && q.word == 16) q.x87 = true;
  // external32 has 4-byte longs (MPI-3.1 table 13.2).
  if (strcmp(name, "MPI_LONG") == 0 || strcmp(name, "MPI_UNSIGNED_LONG") == 0) {
    q.xword = 4;
    q.sign = name[4] == 'L';
  }
  return t;
}

CRMPI_API int PMPI_Type_contiguous(int n, MPI_Datatype t, MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  return make_type(out, BUILD(TypeMap::contiguous(n, *old)), MPI_COMBINER_CONTIGUOUS, {n}, {}, {t});
}

CRMPI_API int PMPI_Type_vector(int n, int bl, int stride, MPI_Datatype t, MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  return make_type(
      out, BUILD(TypeMap::hvector(n, bl, static_cast<int64_t>(stride) * old->extent(), *old)),
      MPI_COMBINER_VECTOR, {n, bl, stride}, {}, {t});
}

CRMPI_API int PMPI_Type_create_hvector(int n, int bl, MPI_Aint stride, MPI_Datatype t,
                                       MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  return make_type(out, BUILD(TypeMap::hvector(n, bl, stride, *old)), MPI_COMBINER_HVECTOR, {n, bl},
                   {stride}, {t});
}

CRMPI_API int PMPI_Type_indexed(int n, const int* bl, const int* d, MPI_Datatype t,
                                MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  std::vector<int64_t> b(bl, bl + n), disp(n);
  std::vector<int> ints{n};
  for (int i = 0; i < n; ++i) disp[i] = static_cast<int64_t>(d[i]) * old->extent();
  ints.insert(ints.end(), bl, bl + n);
  ints.insert(ints.end(), d, d + n);
  return make_type(out, BUILD(TypeMap::hindexed(b, disp, *old)), MPI_COMBINER_INDEXED, ints, {},
                   {t});
}

CRMPI_API int PMPI_Type_create_hindexed(int n, const int* bl, const MPI_Aint* d, MPI_Datatype t,
                                        MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  std::vector<int64_t> b(bl, bl + n), disp(d, d + n);
  std::vector<int> ints{n};
  ints.insert(ints.end(), bl, bl + n);
  return make_type(out, BUILD(TypeMap::hindexed(b, disp, *old)), MPI_COMBINER_HINDEXED, ints,
                   {d, d + n}, {t});
}

CRMPI_API int PMPI_Type_create_indexed_block(int n, int bl, const int* d, MPI_Datatype t,
                                             MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  std::vector<int64_t> b(n, bl), disp(n);
  for (int i = 0; i < n; ++i) disp[i] = static_cast<int64_t>(d[i]) * old->extent();
  std::vector<int> ints{n, bl};
  ints.insert(ints.end(), d, d + n);
  return make_type(out, BUILD(TypeMap::hindexed(b, disp, *old)), MPI_COMBINER_INDEXED_BLOCK, ints,
                   {}, {t});
}

CRMPI_API int PMPI_Type_create_hindexed_block(int n, int bl, const MPI_Aint* d, MPI_Datatype t,
                                              MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  std::vector<int64_t> b(n, bl), disp(d, d + n);
  return make_type(out, BUILD(TypeMap::hindexed(b, disp, *old)), MPI_COMBINER_HINDEXED_BLOCK,
                   {n, bl}, {d, d + n}, {t});
}

CRMPI_API int PMPI_Type_create_struct(int n, const int* bl, const MPI_Aint* d,
                                      const MPI_Datatype* ts, MPI_Datatype* out) {
  std::vector<const TypeMap*> maps(n);
  for (int i = 0; i < n; ++i)
    if (!(maps[i] = tmap(ts[i]))) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  std::vector<int64_t> b(bl, bl + n), disp(d, d + n);
  std::vector<int> ints{n};
  ints.insert(ints.end(), bl, bl + n);
  return make_type(out, BUILD(TypeMap::structure(b, disp, maps)), MPI_COMBINER_STRUCT, ints,
                   {d, d + n}, {ts, ts + n});
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
  return make_type(out, BUILD(TypeMap::subarray(a, b, c, order == MPI_ORDER_FORTRAN ? 1 : 0, *old)),
                   MPI_COMBINER_SUBARRAY, ints, {}, {t});
}

CRMPI_API int PMPI_Type_create_resized(MPI_Datatype t, MPI_Aint lb, MPI_Aint ext,
                                       MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  return make_type(out, BUILD(TypeMap::resized(*old, lb, ext)), MPI_COMBINER_RESIZED, {}, {lb, ext},
                   {t});
}

CRMPI_API int PMPI_Type_dup(MPI_Datatype t, MPI_Datatype* out) {
  OLD(t, CRMPI_NAME);
  int rc = make_type(out, *old, MPI_COMBINER_DUP, {}, {}, {t});
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
  // Attribute delete callbacks first (an error keeps the type); then the
  // app's handle goes: types built from it and pending operations that use
  // it keep the record alive (api_attr.cpp, type_free).
  Lock l;
  sweep();
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
    // A derived type comes back as a handle to the very type it was built
    // from (its envelope and contents, not a dup's); the caller frees it.
    MPI_Datatype s = v->types[i];
    if (is_virtual(s, kMagicType)) ++reinterpret_cast<VType*>(s)->refs;
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

// MPI family: derived datatypes, continued. Distributed arrays, the
// Fortran 90 parameterised types, MPI_Type_match_size, and the external32
// data representation (MPI-3.1 4.1.4, 17.1.9, 17.1.10, 13.5.2).
#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "api.h"
#include "api_datatype.h"

using namespace crmpi;

namespace {

// The predefined type named by a handle, if the agent's MPI has it (size > 0).
bool available(MPI_Datatype t, int64_t size) {
  const TypeMap* tm = typemap(t);
  return tm && tm->size == size;
}

// MPI_Type_create_f90_*: a type is "predefined" (MPI-3.1 17.1.9): the same
// (combiner, p, r) gives the same handle, which the app must not free. It
// is a named C type's layout with the F90 combiner and (p, r) as contents.
int f90_type(int combiner, MPI_Datatype base, std::vector<int> pr, MPI_Datatype* out) {
  static std::map<std::tuple<int, int, int>, MPI_Datatype> cache;
  auto key = std::make_tuple(combiner, pr[0], pr.size() > 1 ? pr[1] : 0);
  auto it = cache.find(key);
  if (it == cache.end()) {
    MPI_Datatype t;
    make_type(&t, *typemap(base), combiner, std::move(pr), {}, {});
    reinterpret_cast<VType*>(t)->committed = true;
    ++reinterpret_cast<VType*>(t)->refs;  // the cache's: an erroneous free cannot end it
    it = cache.emplace(key, t).first;
  }
  *out = it->second;
  return MPI_SUCCESS;
}

// The C real type of at least precision p and exponent range r (MPI_UNDEFINED:
// no requirement), from the IEEE formats: float, double, x87 extended.
MPI_Datatype real_for(int p, int r) {
  if (p <= 6 && r <= 37) return MPI_FLOAT;
  if (p <= 15 && r <= 307) return MPI_DOUBLE;
  if (p <= 18 && r <= 4931) return MPI_LONG_DOUBLE;
  return MPI_DATATYPE_NULL;
}

bool external32(const char* rep) {
  return rep && strcmp(rep, "external32") == 0;
}

}  // namespace

CRMPI_API int PMPI_Type_create_darray(int size, int rank, int nd, const int* gsizes,
                                      const int* distribs, const int* dargs, const int* psizes,
                                      int order, MPI_Datatype t, MPI_Datatype* out) {
  const TypeMap* old = typemap(t);
  if (!old) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  int64_t procs = 1;
  for (int i = 0; i < nd; ++i) procs *= psizes[i];
  if (nd < 0 || rank < 0 || rank >= size || procs != size)
    return check_world(MPI_ERR_ARG, CRMPI_NAME);
  std::vector<int64_t> g(gsizes, gsizes + nd), a(dargs, dargs + nd), p(psizes, psizes + nd);
  std::vector<int> dist(nd);
  for (int i = 0; i < nd; ++i) {
    dist[i] = distribs[i] == MPI_DISTRIBUTE_BLOCK    ? 0
              : distribs[i] == MPI_DISTRIBUTE_CYCLIC ? 1
                                                     : 2;
    if (dargs[i] == MPI_DISTRIBUTE_DFLT_DARG) a[i] = 0;
    // A block distribution must cover the dimension (MPI-3.1 4.1.4).
    if (dist[i] == 0 && a[i] > 0 && a[i] * p[i] < g[i]) return check_world(MPI_ERR_ARG, CRMPI_NAME);
  }
  std::vector<int> ints{size, rank, nd};
  for (const int* v : {gsizes, distribs, dargs, psizes}) ints.insert(ints.end(), v, v + nd);
  ints.push_back(order);
  return make_type(
      out, BUILD(TypeMap::darray(rank, g, dist, a, p, order == MPI_ORDER_FORTRAN ? 1 : 0, *old)),
      MPI_COMBINER_DARRAY, ints, {}, {t});
}

CRMPI_API int PMPI_Type_create_f90_integer(int r, MPI_Datatype* out) {
  // Decimal range r: 10^r fits in 1, 2, 4 or 8 bytes up to r = 2, 4, 9, 18.
  MPI_Datatype base = r <= 2    ? MPI_SIGNED_CHAR
                      : r <= 4  ? MPI_SHORT
                      : r <= 9  ? MPI_INT
                      : r <= 18 ? MPI_LONG_LONG
                                : MPI_DATATYPE_NULL;
  if (base == MPI_DATATYPE_NULL) return check_world(MPI_ERR_ARG, CRMPI_NAME);
  return f90_type(MPI_COMBINER_F90_INTEGER, base, {r}, out);
}

CRMPI_API int PMPI_Type_create_f90_real(int p, int r, MPI_Datatype* out) {
  MPI_Datatype base = real_for(p, r);
  if (base == MPI_DATATYPE_NULL) return check_world(MPI_ERR_ARG, CRMPI_NAME);
  return f90_type(MPI_COMBINER_F90_REAL, base, {p, r}, out);
}

CRMPI_API int PMPI_Type_create_f90_complex(int p, int r, MPI_Datatype* out) {
  MPI_Datatype base = real_for(p, r);
  if (base == MPI_DATATYPE_NULL) return check_world(MPI_ERR_ARG, CRMPI_NAME);
  base = base == MPI_FLOAT    ? MPI_C_FLOAT_COMPLEX
         : base == MPI_DOUBLE ? MPI_C_DOUBLE_COMPLEX
                              : MPI_C_LONG_DOUBLE_COMPLEX;
  return f90_type(MPI_COMBINER_F90_COMPLEX, base, {p, r}, out);
}

CRMPI_API int PMPI_Type_match_size(int typeclass, int size, MPI_Datatype* out) {
  // The Fortran types of the class, default kind first, then sized kinds
  // (MPI-3.1 17.1.9 leaves the choice to the implementation).
  static const MPI_Datatype kInts[] = {MPI_INTEGER, MPI_INTEGER1, MPI_INTEGER2, MPI_INTEGER4,
                                       MPI_INTEGER8};
  static const MPI_Datatype kReals[] = {MPI_REAL, MPI_REAL4, MPI_REAL8, MPI_REAL16,
                                        MPI_DOUBLE_PRECISION};
  static const MPI_Datatype kComplex[] = {MPI_COMPLEX, MPI_COMPLEX8, MPI_COMPLEX16, MPI_COMPLEX32,
                                          MPI_DOUBLE_COMPLEX};
  const MPI_Datatype* set = typeclass == MPI_TYPECLASS_INTEGER   ? kInts
                            : typeclass == MPI_TYPECLASS_REAL    ? kReals
                            : typeclass == MPI_TYPECLASS_COMPLEX ? kComplex
                                                                 : nullptr;
  if (!set) return check_world(MPI_ERR_ARG, CRMPI_NAME);
  for (int i = 0; i < 5; ++i)
    if (available(set[i], size)) {
      *out = set[i];
      return MPI_SUCCESS;
    }
  return check_world(MPI_ERR_ARG, CRMPI_NAME);
}

// external32 (MPI-3.1 13.5.2): big-endian, and with the standard's sizes
// (MPI_LONG is 4 bytes there). The size is an upper bound: the native
// packed size, as Open MPI reports it.
CRMPI_API int PMPI_Pack_external_size(const char* rep, int n, MPI_Datatype t, MPI_Aint* size) {
  const TypeMap* tm = typemap(t);
  if (!tm) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  if (!external32(rep)) return check_world(MPI_ERR_ARG, CRMPI_NAME);
  *size = static_cast<MPI_Aint>(n) * std::max(tm->size, tm->external_size());
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Pack_external(const char* rep, const void* in, int n, MPI_Datatype t, void* out,
                                 MPI_Aint outsize, MPI_Aint* pos) {
  const TypeMap* tm = typemap(t);
  if (!tm) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  if (!external32(rep) || n < 0) return check_world(MPI_ERR_ARG, CRMPI_NAME);
  int64_t bytes = static_cast<int64_t>(n) * tm->external_size();
  if (*pos + bytes > outsize) return check_world(MPI_ERR_TRUNCATE, CRMPI_NAME);
  std::vector<char> native(static_cast<size_t>(n) * tm->size);
  tm->pack(in, n, native.data());
  tm->to_external(native.data(), n, static_cast<char*>(out) + *pos);
  *pos += bytes;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Unpack_external(const char* rep, const void* in, MPI_Aint insize, MPI_Aint* pos,
                                   void* out, int n, MPI_Datatype t) {
  const TypeMap* tm = typemap(t);
  if (!tm) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  if (!external32(rep) || n < 0) return check_world(MPI_ERR_ARG, CRMPI_NAME);
  int64_t bytes = static_cast<int64_t>(n) * tm->external_size();
  if (*pos + bytes > insize) return check_world(MPI_ERR_TRUNCATE, CRMPI_NAME);
  std::vector<char> native(static_cast<size_t>(n) * tm->size);
  tm->from_external(static_cast<const char*>(in) + *pos, n, native.data());
  tm->unpack(native.data(), native.size(), n, out);
  *pos += bytes;
  return MPI_SUCCESS;
}

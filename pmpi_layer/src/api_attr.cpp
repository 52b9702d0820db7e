// MPI family: attributes and keyvals, on communicators and datatypes.
// Kept entirely in the app (values are app pointers); the predefined
// attributes of MPI_COMM_WORLD come from the agent at MPI_Init.
#include "api.h"

using namespace crmpi;

namespace {

Attrs* type_attrs(MPI_Datatype t) {
  return is_virtual(t, kMagicType) ? &reinterpret_cast<VType*>(t)->attrs : nullptr;
}

int predefined_attr(VComm* c, int key, void* out, int* flag) {
  static int vals[8];
  int* v = nullptr;
  switch (key) {
    case MPI_TAG_UB:
      v = &(vals[0] = g.tag_ub);
      break;
    case MPI_HOST:
      v = &(vals[1] = g.host);
      break;
    case MPI_IO:
      v = &(vals[2] = g.io);
      break;
    case MPI_WTIME_IS_GLOBAL:
      v = &(vals[3] = g.wtime_global);
      break;
    case MPI_APPNUM:
      v = &(vals[4] = g.appnum);
      break;
    case MPI_UNIVERSE_SIZE:
      v = &(vals[5] = g.universe);
      break;
    case MPI_LASTUSEDCODE:
      v = &(vals[6] = g.lastcode);
      break;
    default:
      return 0;
  }
  *flag = c == &g.world || c == &g.self;
  if (*flag) *static_cast<void**>(out) = v;
  return 1;
}

}  // namespace

void crmpi_copy_attrs(VComm* from, MPI_Comm fromh, VComm* to, MPI_Comm) {
  for (auto& [key, val] : from->attrs.values) {
    auto it = g.keyvals.find(key);
    if (it == g.keyvals.end() || !it->second.copy) continue;
    void* out = nullptr;
    int flag = 0;
    it->second.copy(fromh, key, it->second.extra, val, &out, &flag);
    if (flag) to->attrs.values[key] = out;
  }
}

void crmpi_delete_all_attrs(VComm* c, MPI_Comm h) {
  auto vals = c->attrs.values;
  for (auto& [key, val] : vals) {
    auto it = g.keyvals.find(key);
    if (it != g.keyvals.end() && it->second.del) it->second.del(h, key, val, it->second.extra);
  }
  c->attrs.values.clear();
}

CRMPI_API int PMPI_Comm_create_keyval(MPI_Comm_copy_attr_function* copy,
                                      MPI_Comm_delete_attr_function* del, int* key, void* extra) {
  Keyval k;
  k.copy = copy;
  k.del = del;
  k.extra = extra;
  *key = g.next_keyval++;
  g.keyvals[*key] = k;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_free_keyval(int* key) {
  g.keyvals.erase(*key);
  *key = MPI_KEYVAL_INVALID;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_set_attr(MPI_Comm c, int key, void* val) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  auto it = g.keyvals.find(key);
  if (it == g.keyvals.end()) return check(vc, c, MPI_ERR_KEYVAL, CRMPI_NAME);
  auto old = vc->attrs.values.find(key);
  if (old != vc->attrs.values.end() && it->second.del)
    it->second.del(c, key, old->second, it->second.extra);
  vc->attrs.values[key] = val;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_get_attr(MPI_Comm c, int key, void* out, int* flag) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  if (predefined_attr(vc, key, out, flag)) return MPI_SUCCESS;
  auto it = vc->attrs.values.find(key);
  *flag = it != vc->attrs.values.end();
  if (*flag) *static_cast<void**>(out) = it->second;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_delete_attr(MPI_Comm c, int key) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  auto old = vc->attrs.values.find(key);
  if (old == vc->attrs.values.end()) return check(vc, c, MPI_ERR_KEYVAL, CRMPI_NAME);
  auto it = g.keyvals.find(key);
  if (it != g.keyvals.end() && it->second.del)
    it->second.del(c, key, old->second, it->second.extra);
  vc->attrs.values.erase(old);
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Attr_get(MPI_Comm c, int key, void* out, int* flag) {
  return PMPI_Comm_get_attr(c, key, out, flag);
}
CRMPI_API int PMPI_Attr_put(MPI_Comm c, int key, void* val) {
  return PMPI_Comm_set_attr(c, key, val);
}
CRMPI_API int PMPI_Attr_delete(MPI_Comm c, int key) {
  return PMPI_Comm_delete_attr(c, key);
}

CRMPI_API int PMPI_Type_create_keyval(MPI_Type_copy_attr_function* copy,
                                      MPI_Type_delete_attr_function* del, int* key, void* extra) {
  Keyval k;
  k.tcopy = copy;
  k.tdel = del;
  k.extra = extra;
  k.for_type = true;
  *key = g.next_keyval++;
  g.keyvals[*key] = k;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Type_free_keyval(int* key) {
  g.keyvals.erase(*key);
  *key = MPI_KEYVAL_INVALID;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Type_set_attr(MPI_Datatype t, int key, void* val) {
  Attrs* a = type_attrs(t);
  if (!a) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  a->values[key] = val;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Type_get_attr(MPI_Datatype t, int key, void* out, int* flag) {
  Attrs* a = type_attrs(t);
  *flag = 0;
  if (!a) return MPI_SUCCESS;
  auto it = a->values.find(key);
  *flag = it != a->values.end();
  if (*flag) *static_cast<void**>(out) = it->second;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Type_delete_attr(MPI_Datatype t, int key) {
  Attrs* a = type_attrs(t);
  if (!a || !a->values.count(key)) return check_world(MPI_ERR_KEYVAL, CRMPI_NAME);
  auto it = g.keyvals.find(key);
  if (it != g.keyvals.end() && it->second.tdel)
    it->second.tdel(t, key, a->values[key], it->second.extra);
  a->values.erase(key);
  return MPI_SUCCESS;
}

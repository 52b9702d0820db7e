// MPI family: attributes and keyvals, on communicators and datatypes.
// Kept entirely in the app (values are app pointers); the predefined
// attributes of MPI_COMM_WORLD come from the agent at MPI_Init.
//
// The callbacks run as MPI-3.1 6.7 says: copy at MPI_Comm_dup/MPI_Type_dup
// (in keyval order), delete when an attribute is replaced or deleted and when
// its object is freed.  Several deletions run in reverse order of setting
// (8.7.1 requires it for MPI_COMM_SELF at MPI_Finalize and is silent
// elsewhere; Open MPI does the same on every object).  A callback's error is
// the call's error, and the call then changes nothing more: the attribute
// that failed and those not reached yet stay.
#include <algorithm>

#include "api.h"

using namespace crmpi;

namespace {

uint64_t g_set_seq = 0;  // Attrs::set_seq clock

// Predefined datatypes can carry attributes too.
std::map<const void*, Attrs> g_predef_type_attrs;

Attrs* type_attrs(MPI_Datatype t) {
  if (is_virtual(t, kMagicType)) return &reinterpret_cast<VType*>(t)->attrs;
  if (t != MPI_DATATYPE_NULL && typemap(t)) return &g_predef_type_attrs[t];
  return nullptr;
}

void put(Attrs& a, int key, void* val) {
  a.values[key] = val;
  a.set_seq[key] = ++g_set_seq;
}

void drop(Attrs& a, int key) {
  a.values.erase(key);
  a.set_seq.erase(key);
}

// The keyval for an attribute of an object of this kind, or nullptr.
Keyval* keyval(int key, bool for_type) {
  auto it = g.keyvals.find(key);
  return it == g.keyvals.end() || it->second.for_type != for_type ? nullptr : &it->second;
}

// Run the delete callback of `key` (value `val`) on a communicator or type.
int run_delete(MPI_Comm c, MPI_Datatype t, int key, void* val) {
  Keyval* k = keyval(key, t != MPI_DATATYPE_NULL);
  if (!k) return MPI_SUCCESS;
  if (t != MPI_DATATYPE_NULL) return k->tdel ? k->tdel(t, key, val, k->extra) : MPI_SUCCESS;
  return k->del ? k->del(c, key, val, k->extra) : MPI_SUCCESS;
}

// Delete every attribute, newest setting first; stop at a failing callback.
int delete_all(Attrs& a, MPI_Comm c, MPI_Datatype t) {
  std::vector<std::pair<uint64_t, int>> order;
  for (auto& [key, seq] : a.set_seq) order.emplace_back(seq, key);
  std::sort(order.rbegin(), order.rend());
  for (auto& [seq, key] : order) {
    int rc = run_delete(c, t, key, a.values[key]);
    if (rc != MPI_SUCCESS) return rc;
    drop(a, key);
  }
  return MPI_SUCCESS;
}

int set_attr(Attrs& a, MPI_Comm c, MPI_Datatype t, int key, void* val) {
  Keyval* k = keyval(key, t != MPI_DATATYPE_NULL);
  if (!k || k->freed) return MPI_ERR_KEYVAL;
  auto old = a.values.find(key);
  if (old != a.values.end()) {
    int rc = run_delete(c, t, key, old->second);
    if (rc != MPI_SUCCESS) return rc;
  }
  put(a, key, val);
  return MPI_SUCCESS;
}

int delete_attr(Attrs& a, MPI_Comm c, MPI_Datatype t, int key) {
  if (!keyval(key, t != MPI_DATATYPE_NULL)) return MPI_ERR_KEYVAL;
  auto old = a.values.find(key);
  if (old == a.values.end()) return MPI_ERR_KEYVAL;
  int rc = run_delete(c, t, key, old->second);
  if (rc == MPI_SUCCESS) drop(a, key);
  return rc;
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

int create_keyval(Keyval k, int* key) {
  *key = g.next_keyval++;
  g.keyvals[*key] = k;
  return MPI_SUCCESS;
}

int free_keyval(int* key, bool for_type, const char* fn) {
  Keyval* k = keyval(*key, for_type);
  if (!k || k->freed) return check_world(MPI_ERR_KEYVAL, fn);
  k->freed = true;  // kept: attributes set with it still need its callbacks
  *key = MPI_KEYVAL_INVALID;
  return MPI_SUCCESS;
}

}  // namespace

// MPI_Comm_dup: the copy callbacks, in keyval order.  An error stops it.
int crmpi_copy_attrs(VComm* from, MPI_Comm fromh, VComm* to, MPI_Comm) {
  for (auto& [key, val] : from->attrs.values) {
    Keyval* k = keyval(key, false);
    if (!k || !k->copy) continue;
    void* out = nullptr;
    int flag = 0;
    int rc = k->copy(fromh, key, k->extra, val, &out, &flag);
    if (rc != MPI_SUCCESS) return rc;
    if (flag) put(to->attrs, key, out);
  }
  return MPI_SUCCESS;
}

// MPI_Comm_free and MPI_Finalize: every delete callback, newest first.
int crmpi_delete_all_attrs(VComm* c, MPI_Comm h) {
  return delete_all(c->attrs, h, MPI_DATATYPE_NULL);
}

namespace crmpi {

// MPI_Type_dup (api_datatype.cpp): the type copy callbacks, in keyval order.
int type_copy_attrs(MPI_Datatype from, MPI_Datatype to) {
  Attrs* a = type_attrs(from);
  Attrs* b = type_attrs(to);
  if (!a || !b) return MPI_SUCCESS;
  for (auto& [key, val] : a->values) {
    Keyval* k = keyval(key, true);
    if (!k || !k->tcopy) continue;
    void* out = nullptr;
    int flag = 0;
    int rc = k->tcopy(from, key, k->extra, val, &out, &flag);
    if (rc != MPI_SUCCESS) return rc;
    if (flag) put(*b, key, out);
  }
  return MPI_SUCCESS;
}

// MPI_Type_free (api_datatype.cpp): delete the attributes (an error keeps
// the type), then drop the app's handle -- types built from it and pending
// operations (TypeRef) may still hold the record; the last holder frees it.
int type_free(MPI_Datatype* t) {
  auto* v = reinterpret_cast<VType*>(*t);
  int rc = delete_all(v->attrs, MPI_COMM_NULL, *t);
  if (rc != MPI_SUCCESS) return rc;
  type_release(v);
  *t = MPI_DATATYPE_NULL;
  return MPI_SUCCESS;
}

}  // namespace crmpi

CRMPI_API int PMPI_Comm_create_keyval(MPI_Comm_copy_attr_function* copy,
                                      MPI_Comm_delete_attr_function* del, int* key, void* extra) {
  Keyval k;
  k.copy = copy;
  k.del = del;
  k.extra = extra;
  return create_keyval(k, key);
}

CRMPI_API int PMPI_Comm_free_keyval(int* key) {
  return free_keyval(key, false, CRMPI_NAME);
}

CRMPI_API int PMPI_Comm_set_attr(MPI_Comm c, int key, void* val) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  return check(vc, c, set_attr(vc->attrs, c, MPI_DATATYPE_NULL, key, val), CRMPI_NAME);
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
  return check(vc, c, delete_attr(vc->attrs, c, MPI_DATATYPE_NULL, key), CRMPI_NAME);
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
  return create_keyval(k, key);
}

CRMPI_API int PMPI_Type_free_keyval(int* key) {
  return free_keyval(key, true, CRMPI_NAME);
}

CRMPI_API int PMPI_Type_set_attr(MPI_Datatype t, int key, void* val) {
  Attrs* a = type_attrs(t);
  if (!a) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  return check_world(set_attr(*a, MPI_COMM_NULL, t, key, val), CRMPI_NAME);
}

CRMPI_API int PMPI_Type_get_attr(MPI_Datatype t, int key, void* out, int* flag) {
  Attrs* a = type_attrs(t);
  if (!a) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  auto it = a->values.find(key);
  *flag = it != a->values.end();
  if (*flag) *static_cast<void**>(out) = it->second;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Type_delete_attr(MPI_Datatype t, int key) {
  Attrs* a = type_attrs(t);
  if (!a) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  return check_world(delete_attr(*a, MPI_COMM_NULL, t, key), CRMPI_NAME);
}

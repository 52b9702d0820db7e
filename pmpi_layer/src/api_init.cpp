// MPI family: environment. Init/finalize, thread level, abort, time,
// processor name, version, error strings, error handlers, info objects.
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "api.h"

using namespace crmpi;

int crmpi_delete_all_attrs(VComm*, MPI_Comm);  // api_attr.cpp
namespace crmpi {
void hello(int required);
static int last_used_code(int agent_last);  // MPI_Add_error_class's codes count
}

namespace {

// Build the predefined handle table: app address (identity) -> index, and
// from the agent's hello reply the agent's handle and the datatype layouts.
void load_predefined(const Call& m) {
  size_t n = m.a.hello_out.npredefined;
  auto* h = reinterpret_cast<const uint64_t*>(m.arena.at(0));
  auto* info = reinterpret_cast<const int64_t*>(h + n);
  g.predef.clear();
  size_t i = 0;
#define X(KIND, NAME, SYM)                                                \
  {                                                                       \
    Predef p;                                                             \
    p.name = #NAME;                                                       \
    p.kind = #KIND;                                                       \
    p.agent = i < n ? h[i] : 0;                                           \
    g.predef_index[static_cast<const void*>(NAME)] = static_cast<int>(i); \
    g.predef.push_back(p);                                                \
    ++i;                                                                  \
  }
#include "predefined.inc"
#undef X
  if (i != n) fatal("agent and libcrpmpi disagree on the predefined handles (%zu vs %zu)", n, i);
  for (size_t k = 0; k < n; ++k) {
    if (strcmp(g.predef[k].kind, "Datatype") != 0) continue;
    const int64_t* e = info + 5 * k;
    g.predef[k].tm = predef_typemap(g.predef[k].name, k, e[0], e[2]);
  }
  g.processor = reinterpret_cast<const char*>(info + 5 * n);
}

int do_init(int required, int* provided, const char* fn) {
  Lock l;
  if (g.initialized) return check_world(MPI_ERR_OTHER, fn);
  LowerHalf& lh = lower_half();
  if (!lh.attach())
    fatal(
        "this program uses libcrpmpi but is not running under crmpirun (no channel in "
        "$CRMPI_CHANNEL_FD)");
  lh.set_callback(lower_half_callback);
  if (const char* v = getenv("CRMPI_RNDV_MIN")) g.rndv_min = strtoull(v, nullptr, 0);
  if (const char* v = getenv("CRMPI_TEST_PACE_NS")) g.test_pace_ns = atol(v);
  // Peers on this node copy our large send buffers with process_vm_readv;
  // under Yama's ptrace_scope 1 that needs our consent (Open MPI's CMA does
  // the same). Harmless where Yama is absent.
  prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
  // The checkpoint callback first: once the agent has our hello it may ask
  // our libcr for a job checkpoint at any moment (ckpt.cpp waits for the
  // rest of MPI_Init).
  g.initializing = true;
  ckpt_init();
  hello(required);

  g.world.id = 1;
  g.world.rank = g.rank;
  g.world.size = g.size;
  g.world.world.resize(g.size);
  for (int i = 0; i < g.size; ++i) g.world.world[i] = i;
  g.world.name = "MPI_COMM_WORLD";
  g.world.rec.how = CommRecord::kWorld;
  g.self.id = 2;
  g.self.rank = 0;
  g.self.size = 1;
  g.self.world = {g.rank};
  g.self.name = "MPI_COMM_SELF";
  g.self.rec.how = CommRecord::kSelf;

  g.thread_level = required > MPI_THREAD_SERIALIZED ? MPI_THREAD_SERIALIZED : required;
  if (g.thread_level < MPI_THREAD_SINGLE) g.thread_level = MPI_THREAD_SINGLE;
  if (provided) *provided = g.thread_level;
  g.initialized = true;
  g.initializing = false;
  return MPI_SUCCESS;
}

}  // namespace

namespace crmpi {

// The hello call: what the lower half says about MPI_COMM_WORLD, its
// predefined handles and limits (MPI_Init, and a restart's new agent).
void hello(int required) {
  Call& m = begin(chan::kOpHello);
  m.a.hello.required = static_cast<uint64_t>(required);
  if (execute(m) != MPI_SUCCESS) fatal("the agent refused the hello");
  g.rank = static_cast<int>(m.a.hello_out.rank);
  g.size = static_cast<int>(m.a.hello_out.size);
  g.tag_ub = static_cast<int>(m.a.hello_out.tag_ub);
  g.wtime_global = static_cast<int>(m.a.hello_out.wtime_global);
  g.universe = static_cast<int>(m.a.hello_out.universe);
  g.appnum = static_cast<int>(m.a.hello_out.appnum);
  g.host = static_cast<int>(m.a.hello_out.host);
  g.io = static_cast<int>(m.a.hello_out.io);
  g.lastcode = last_used_code(static_cast<int>(m.a.hello_out.lastusedcode));
  g.version = static_cast<int>(m.a.hello_out.version);
  uint64_t world_real = m.a.hello_out.world, self_real = m.a.hello_out.self;
  int rank = g.rank, size = g.size;
  load_predefined(m);
  g.world.real = world_real;
  g.self.real = self_real;
  if (g.initialized && (rank != g.world.rank || size != g.world.size))
    fatal("restart: this image is rank %d of %d, the new job gives it rank %d of %d",
          g.world.rank, g.world.size, rank, size);
}

void rehello() {
  hello(g.thread_level);
}

}  // namespace crmpi


CRMPI_API int PMPI_Init(int*, char***) {
  return do_init(MPI_THREAD_SINGLE, nullptr, CRMPI_NAME);
}

CRMPI_API int PMPI_Init_thread(int*, char***, int required, int* provided) {
  return do_init(required, provided, CRMPI_NAME);
}

CRMPI_API int PMPI_Initialized(int* flag) {
  *flag = g.initialized;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Finalized(int* flag) {
  *flag = g.finalized;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Finalize(void) {
  Lock l;
  if (!g.initialized || g.finalized) return check_world(MPI_ERR_OTHER, CRMPI_NAME);
  // Delete attributes on MPI_COMM_SELF first, as the standard requires
  // (MPI-3.1 8.7.1: the finalize hook of libraries; MPI is still fully
  // usable in the callbacks), then those on MPI_COMM_WORLD, as Open MPI
  // does.  A failing callback is MPI_Finalize's error.
  int arc = crmpi_delete_all_attrs(&g.self, MPI_COMM_SELF);
  int wrc = crmpi_delete_all_attrs(&g.world, MPI_COMM_WORLD);
  if (arc == MPI_SUCCESS) arc = wrc;
  int rc;
  do  // kRcPaused: a job checkpoint came while we waited for the other ranks
    rc = execute(begin(chan::kOpFinalize));
  while (rc == chan::kRcPaused);
  g.finalized = true;
  g.freed_buffers.clear();  // the agent completed every freed request
  lower_half().detach();
  return rc != MPI_SUCCESS ? rc : arc;
}

CRMPI_API int PMPI_Query_thread(int* provided) {
  *provided = g.thread_level;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Is_thread_main(int* flag) {
  *flag = getpid() == gettid();
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Abort(MPI_Comm c, int code) {
  fflush(stdout);
  fflush(stderr);
  if (!g.initialized || g.finalized) _exit(code);
  VComm* vc = comm(c);
  Call& m = begin(chan::kOpAbort);
  m.a.abort.comm = vc ? vc->real : g.world.real;
  m.a.abort.code = static_cast<uint64_t>(code);
  execute(m);
  _exit(code);
}

CRMPI_API double PMPI_Wtime(void) {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

CRMPI_API double PMPI_Wtick(void) {
  return 1e-9;
}

CRMPI_API int PMPI_Get_processor_name(char* name, int* len) {
  if (g.processor.empty()) {
    char h[MPI_MAX_PROCESSOR_NAME];
    gethostname(h, sizeof h);
    g.processor = h;
  }
  snprintf(name, MPI_MAX_PROCESSOR_NAME, "%s", g.processor.c_str());
  *len = static_cast<int>(strlen(name));
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Get_version(int* version, int* subversion) {
  *version = MPI_VERSION;
  *subversion = MPI_SUBVERSION;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Get_library_version(char* version, int* len) {
  snprintf(version, MPI_MAX_LIBRARY_VERSION_STRING,
           "crmpi libcrpmpi 0.1 (agent lower half) over Open MPI v%d.%d.%d", OMPI_MAJOR_VERSION,
           OMPI_MINOR_VERSION, OMPI_RELEASE_VERSION);
  *len = static_cast<int>(strlen(version));
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Pcontrol(const int, ...) {
  return MPI_SUCCESS;
}

// ---------------------------------------------------------------- errors

// Error classes and codes the program added (MPI_Add_error_class/code),
// numbered after MPI_LASTUSEDCODE as Open MPI numbers them (classes and
// codes share one counter), kept here rather than in the agent: a restart's
// fresh agent would not know them.
namespace {
struct UserError {
  int cls;
  std::string text;
};
std::map<int, UserError> g_user_errors;
}  // namespace

namespace crmpi {
// hello(): the lower half's MPI_LASTUSEDCODE, past our own codes.
static int last_used_code(int agent_last) {
  return g_user_errors.empty() ? agent_last : std::max(agent_last, g_user_errors.rbegin()->first);
}
}  // namespace crmpi

CRMPI_API int PMPI_Add_error_class(int* cls) {
  Lock l;
  *cls = ++g.lastcode;
  g_user_errors[*cls] = {*cls, ""};
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Add_error_code(int cls, int* code) {
  Lock l;
  auto it = g_user_errors.find(cls);
  bool user_class = it != g_user_errors.end() && it->second.cls == cls;
  if (!user_class && (cls < MPI_SUCCESS || cls > MPI_ERR_LASTCODE))
    return check_world(MPI_ERR_ARG, CRMPI_NAME);
  *code = ++g.lastcode;
  g_user_errors[*code] = {cls, ""};
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Add_error_string(int code, const char* text) {
  Lock l;
  auto it = g_user_errors.find(code);
  // Only added codes and classes (MPI-3.1 8.5: predefined ones are erroneous).
  if (it == g_user_errors.end() || strlen(text) >= MPI_MAX_ERROR_STRING)
    return check_world(MPI_ERR_ARG, CRMPI_NAME);
  it->second.text = text;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Error_string(int code, char* s, int* len) {
  Lock l;
  auto user = g_user_errors.find(code);
  if (user != g_user_errors.end()) {
    snprintf(s, MPI_MAX_ERROR_STRING, "%s", user->second.text.c_str());
    *len = static_cast<int>(strlen(s));
    return MPI_SUCCESS;
  }
  if (!g.initialized || g.finalized) {
    *len = snprintf(s, MPI_MAX_ERROR_STRING, "MPI error code %d", code);
    return MPI_SUCCESS;
  }
  Call& m = begin(chan::kOpErrorString);
  m.a.error.code = static_cast<uint64_t>(code);
  int rc = execute(m);
  snprintf(s, MPI_MAX_ERROR_STRING, "%s", m.arena.at(0));
  *len = static_cast<int>(strlen(s));
  return rc;
}

CRMPI_API int PMPI_Error_class(int code, int* cls) {
  Lock l;
  auto user = g_user_errors.find(code);
  if (user != g_user_errors.end()) {
    *cls = user->second.cls;
    return MPI_SUCCESS;
  }
  if (!g.initialized || g.finalized) {
    *cls = code;
    return MPI_SUCCESS;
  }
  Call& m = begin(chan::kOpErrorClass);
  m.a.error.code = static_cast<uint64_t>(code);
  int rc = execute(m);
  *cls = static_cast<int>(m.a.error.error_class);
  return rc;
}

CRMPI_API int PMPI_Comm_create_errhandler(MPI_Comm_errhandler_function* fn, MPI_Errhandler* e) {
  auto* v = new VErrh;
  v->fn = fn;
  *e = reinterpret_cast<MPI_Errhandler>(v);
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Errhandler_free(MPI_Errhandler* e) {
  if (is_virtual(*e, kMagicErrh)) {
    // Communicators may still use it; records are tiny, keep them alive.
  }
  *e = MPI_ERRHANDLER_NULL;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_set_errhandler(MPI_Comm c, MPI_Errhandler e) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  vc->errh = e;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_get_errhandler(MPI_Comm c, MPI_Errhandler* e) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  *e = vc->errh;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_call_errhandler(MPI_Comm c, int code) {
  VComm* vc = comm(c);
  check(vc, c, code, CRMPI_NAME);
  return MPI_SUCCESS;
}

// ---------------------------------------------------------------- info (app side)
//
// Keys keep the order they were first set in (MPI_Info_get_nthkey), as in
// Open MPI; MPI-3.1 9 leaves the order to the implementation.

namespace {

VInfo* info(MPI_Info i) {
  if (i == MPI_INFO_ENV) {  // what the program was started with (MPI-3.1 10.3.4)
    static VInfo env;
    if (env.kv.empty()) {
      char exe[4096];
      ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
      exe[n > 0 ? n : 0] = 0;
      env.kv = {{"command", exe}, {"maxprocs", std::to_string(g.size)}};
    }
    return &env;
  }
  return is_virtual(i, kMagicInfo) ? reinterpret_cast<VInfo*>(i) : nullptr;
}

std::vector<std::pair<std::string, std::string>>::iterator find_key(VInfo* vi, const char* k) {
  auto it = vi->kv.begin();
  while (it != vi->kv.end() && it->first != k) ++it;
  return it;
}

// Keys and values as MPI-3.1 9 bounds them.
bool valid_key(const char* k) {
  size_t n = k ? strlen(k) : 0;
  return n > 0 && n < MPI_MAX_INFO_KEY;
}

}  // namespace

CRMPI_API int PMPI_Info_create(MPI_Info* i) {
  *i = reinterpret_cast<MPI_Info>(new VInfo);
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Info_free(MPI_Info* i) {
  if (!is_virtual(*i, kMagicInfo)) return check_world(MPI_ERR_INFO, CRMPI_NAME);
  delete info(*i);
  *i = MPI_INFO_NULL;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Info_set(MPI_Info i, const char* k, const char* v) {
  VInfo* vi = info(i);
  if (!vi || i == MPI_INFO_ENV) return check_world(MPI_ERR_INFO, CRMPI_NAME);
  if (!valid_key(k)) return check_world(MPI_ERR_INFO_KEY, CRMPI_NAME);
  if (!v || strlen(v) >= MPI_MAX_INFO_VAL) return check_world(MPI_ERR_INFO_VALUE, CRMPI_NAME);
  auto it = find_key(vi, k);
  if (it != vi->kv.end())
    it->second = v;
  else
    vi->kv.emplace_back(k, v);
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Info_get(MPI_Info i, const char* k, int len, char* v, int* flag) {
  VInfo* vi = info(i);
  if (!vi) return check_world(MPI_ERR_INFO, CRMPI_NAME);
  if (!valid_key(k)) return check_world(MPI_ERR_INFO_KEY, CRMPI_NAME);
  if (len < 0) return check_world(MPI_ERR_ARG, CRMPI_NAME);
  *flag = 0;
  auto it = find_key(vi, k);
  if (it == vi->kv.end()) return MPI_SUCCESS;
  // At most valuelen characters, then the terminator (v holds valuelen + 1).
  size_t n = std::min(it->second.size(), static_cast<size_t>(len));
  memcpy(v, it->second.data(), n);
  v[n] = 0;
  *flag = 1;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Info_get_nkeys(MPI_Info i, int* n) {
  VInfo* vi = info(i);
  if (!vi) return check_world(MPI_ERR_INFO, CRMPI_NAME);
  *n = static_cast<int>(vi->kv.size());
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Info_get_nthkey(MPI_Info i, int n, char* k) {
  VInfo* vi = info(i);
  if (!vi) return check_world(MPI_ERR_INFO, CRMPI_NAME);
  if (n < 0 || n >= static_cast<int>(vi->kv.size())) return check_world(MPI_ERR_ARG, CRMPI_NAME);
  snprintf(k, MPI_MAX_INFO_KEY, "%s", vi->kv[n].first.c_str());
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Info_get_valuelen(MPI_Info i, const char* k, int* len, int* flag) {
  VInfo* vi = info(i);
  if (!vi) return check_world(MPI_ERR_INFO, CRMPI_NAME);
  if (!valid_key(k)) return check_world(MPI_ERR_INFO_KEY, CRMPI_NAME);
  *flag = 0;
  auto it = find_key(vi, k);
  if (it == vi->kv.end()) return MPI_SUCCESS;
  *len = static_cast<int>(it->second.size());
  *flag = 1;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Info_delete(MPI_Info i, const char* k) {
  VInfo* vi = info(i);
  if (!vi || i == MPI_INFO_ENV) return check_world(MPI_ERR_INFO, CRMPI_NAME);
  if (!valid_key(k)) return check_world(MPI_ERR_INFO_KEY, CRMPI_NAME);
  auto it = find_key(vi, k);
  if (it == vi->kv.end()) return check_world(MPI_ERR_INFO_NOKEY, CRMPI_NAME);
  vi->kv.erase(it);
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Info_dup(MPI_Info i, MPI_Info* out) {
  VInfo* vi = info(i);
  if (!vi) return check_world(MPI_ERR_INFO, CRMPI_NAME);
  auto* n = new VInfo;
  n->kv = vi->kv;
  *out = reinterpret_cast<MPI_Info>(n);
  return MPI_SUCCESS;
}

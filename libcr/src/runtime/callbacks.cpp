// callbacks.cpp -- the callback registry, the two callback chains, and
// cr_checkpoint(), the point where a callback lets the checkpoint happen.
//
// Each chain is a recursion: the newest callback runs first; its call to
// cr_checkpoint() runs the next older one, and so on; the innermost call
// does the real work (capture for the thread chain, stopping for the signal
// chain).  Returns unwind in registration order, so every callback resumes
// after its cr_checkpoint() with CONTINUE, RESTART or failure.
#include <errno.h>
#include <pthread.h>

#include "internal.h"

namespace crrt {
namespace {

struct Callback {
  cr_callback_t fn;
  void* arg;
  int context;  // CR_THREAD_CONTEXT or CR_SIGNAL_CONTEXT
  pid_t owner;  // registering thread (signal-context callbacks run there)
};

Callback g_cbs[kMaxCallbacks];
std::atomic<int> g_ncbs{0};
pthread_mutex_t g_reg_lock = PTHREAD_MUTEX_INITIALIZER;

// Per-thread chain position.  initial-exec: safe in signal handlers.
struct ChainState {
  int context = 0;      // 0 = not inside a callback
  int level = 0;        // callbacks still to run below this one
  bool called = false;  // cr_checkpoint already called at this level
  int rc = 0;
  const Callback* const* list = nullptr;
  ThreadSlot* slot = nullptr;
};
__thread ChainState tl_chain __attribute__((tls_model("initial-exec")));
__thread int tl_inited __attribute__((tls_model("initial-exec")));

int chain(int k);

// The bottom of a chain.
int bottom() {
  if (tl_chain.context == CR_THREAD_CONTEXT) return checkpoint_now();
  return thread_park(tl_chain.slot);
}

int chain(int k) {
  if (k == 0) return bottom();
  const Callback* cb = tl_chain.list[k - 1];
  ChainState saved = tl_chain;
  tl_chain.level = k - 1;
  tl_chain.called = false;
  cb->fn(cb->arg);
  int rc = tl_chain.called ? tl_chain.rc : chain(k - 1);  // implicit cr_checkpoint(0)
  tl_chain = saved;
  return rc;
}

}  // namespace

int run_thread_chain() {
  static const Callback* list[kMaxCallbacks];
  int n = 0;
  for (int i = 0; i < g_ncbs.load(); ++i)
    if (g_cbs[i].context == CR_THREAD_CONTEXT) list[n++] = &g_cbs[i];
  ChainState saved = tl_chain;
  tl_chain.context = CR_THREAD_CONTEXT;
  tl_chain.list = list;
  int rc = chain(n);
  tl_chain = saved;
  return rc;
}

int run_signal_chain(ThreadSlot* slot) {
  const Callback* list[kMaxCallbacks];
  int n = 0;
  const pid_t me = gettid_raw();
  for (int i = 0; i < g_ncbs.load(); ++i)
    if (g_cbs[i].context == CR_SIGNAL_CONTEXT && g_cbs[i].owner == me) list[n++] = &g_cbs[i];
  ChainState saved = tl_chain;
  tl_chain.context = CR_SIGNAL_CONTEXT;
  tl_chain.list = list;
  tl_chain.slot = slot;
  int rc = chain(n);
  tl_chain = saved;
  return rc;
}

}  // namespace crrt

using namespace crrt;

extern "C" {

cr_client_id_t cr_init(void) {
  ensure_started();
  if (!started_ok()) {
    errno = ENOSYS;
    return -1;
  }
  tl_inited = 1;
  return 1;
}

cr_callback_id_t cr_register_callback(cr_callback_t func, void* arg, int flags) {
  if (!func || (flags != CR_THREAD_CONTEXT && flags != CR_SIGNAL_CONTEXT) || !tl_inited ||
      tl_chain.context) {
    errno = EINVAL;
    return -1;
  }
  pthread_mutex_lock(&g_reg_lock);
  int id = g_ncbs.load();
  if (id >= kMaxCallbacks) {
    pthread_mutex_unlock(&g_reg_lock);
    errno = ENOMEM;
    return -1;
  }
  g_cbs[id] = {func, arg, flags, gettid_raw()};
  g_ncbs.store(id + 1);
  pthread_mutex_unlock(&g_reg_lock);
  return id;
}

int cr_checkpoint(int flags) {
  if (!tl_chain.context || tl_chain.called) {
    errno = EINVAL;
    return -1;
  }
  tl_chain.called = true;
  int rc;
  if (flags & (CR_CHECKPOINT_TEMP_FAILURE | CR_CHECKPOINT_PERM_FAILURE)) {
    int e = (flags & CR_CHECKPOINT_PERM_FAILURE) ? CR_EPERMFAIL : CR_ETEMPFAIL;
    int expected = 0;
    g().fail_errno.compare_exchange_strong(expected, e);
    // A thread-context callback stops the chain here.  A signal-context one
    // must still stop its thread so the manager can release everybody.
    rc = tl_chain.context == CR_THREAD_CONTEXT ? -1 : chain(tl_chain.level);
    if (rc >= 0) rc = -1;
  } else {
    rc = chain(tl_chain.level);
  }
  tl_chain.rc = rc;
  if (rc < 0) errno = g().result_errno ? g().result_errno : g().fail_errno.load();
  return rc;
}

}  // extern "C"

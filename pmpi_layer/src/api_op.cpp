// MPI family: reduction operations. Predefined ops run in the agent on the
// real types. User ops get a real op in the agent whose function calls back
// into this process (kCallback), where user_op_callback unpacks derived
// elements, calls the user's function and packs the result.
#include <cstring>
#include <vector>

#include "api.h"

using namespace crmpi;

namespace crmpi {

// kCbUserOp: a0 op, a1 type, a2 count, a3 agent pid, a4/a5 the agent's
// invec/inoutvec, a6 element size there (packed for derived types) -> a7 = 1.
// The vectors are copied in and the result out with CMA (never through the
// channel's data area, which the agent's current call may be using).
void user_op_callback(Call& m) {
  auto* op = reinterpret_cast<VOp*>(m.a.user_op.app_op);
  auto type = reinterpret_cast<MPI_Datatype>(m.a.user_op.app_type);
  int n = static_cast<int>(m.a.user_op.count);
  auto pid = static_cast<pid_t>(m.a.user_op.agent_pid);
  size_t bytes = static_cast<size_t>(n) * m.a.user_op.elem_bytes;
  std::vector<char> in(bytes + 1), inout(bytes + 1);
  m.a.user_op.done = 0;
  if (!vm_copy(pid, false, m.a.user_op.invec, in.data(), bytes) ||
      !vm_copy(pid, false, m.a.user_op.inoutvec, inout.data(), bytes))
    return;
  if (!type_derived(type)) {
    op->fn(in.data(), inout.data(), &n, &type);
  } else {
    const TypeMap* tm = typemap(type);
    size_t span = static_cast<size_t>(n) * tm->extent() + (tm->true_ub - tm->lb);
    std::vector<char> a(span), b(span);
    char* abase = a.data() - tm->lb;
    char* bbase = b.data() - tm->lb;
    tm->unpack(in.data(), n * tm->size, n, abase);
    tm->unpack(inout.data(), n * tm->size, n, bbase);
    op->fn(abase, bbase, &n, &type);
    tm->pack(bbase, n, inout.data());
  }
  m.a.user_op.done = vm_copy(pid, true, m.a.user_op.inoutvec, inout.data(), bytes) ? 1 : 0;
}

}  // namespace crmpi

CRMPI_API int PMPI_Op_create(MPI_User_function* fn, int commute, MPI_Op* out) {
  Lock l;
  auto* v = new VOp;
  v->fn = fn;
  v->commute = commute;
  Call& m = begin(chan::kOpOpCreate);
  m.a.op_create.commute = static_cast<uint64_t>(commute);
  int rc = execute(m);
  v->real = m.a.op.op;
  g.ops.insert(v);
  *out = reinterpret_cast<MPI_Op>(v);
  return check_world(rc, CRMPI_NAME);
}

void crmpi::op_release(VOp* v) {
  if (--v->refs == 0) delete v;
}

// The agent's op goes at once (Open MPI keeps it for its pending
// collectives); ours stays while a pending request may call it back, but
// is no longer rebuilt at a restart (a checkpoint completes those requests).
CRMPI_API int PMPI_Op_free(MPI_Op* op) {
  Lock l;
  if (!is_virtual(*op, kMagicOp)) return check_world(MPI_ERR_OP, CRMPI_NAME);
  auto* v = reinterpret_cast<VOp*>(*op);
  Call& m = begin(chan::kOpOpFree);
  m.a.op.op = v->real;
  int rc = execute(m);
  g.ops.erase(v);
  v->magic = 0;  // no longer a valid handle
  op_release(v);
  *op = MPI_OP_NULL;
  return check_world(rc, CRMPI_NAME);
}

CRMPI_API int PMPI_Op_commutative(MPI_Op op, int* commute) {
  *commute = is_virtual(op, kMagicOp) ? reinterpret_cast<VOp*>(op)->commute : 1;
  return MPI_SUCCESS;
}
